"""Message → Block Kit rendering: escaping from one table, Slack's limits,
and the "…and N more" overflow (monitor/notifiers/render.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.interfaces import Message, MessageLine, Severity
from monitor.notifiers.render import SLACK_LIMITS, clip, escape, fit, link, render


def no_users(email: str) -> str | None:
    return None


def line(number: int = 1, **fields: object) -> MessageLine:
    values: dict[str, object] = {
        "fingerprint": f"sla-breach/mql/{number}",
        "severity": Severity.CRITICAL,
        "title": f"Follow-up overdue ({number})",
        "text": "Untouched 5h after assignment.",
    }
    return MessageLine(**(values | fields))  # type: ignore[arg-type]


def message(*lines: MessageLine, title: str = "SLA breaches") -> Message:
    return Message(channel="#revenue-alignment", kind="post", title=title, lines=lines)


def texts(blocks: list[dict[str, object]]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if block["type"] == "context":
            out.extend(e["text"] for e in block["elements"])  # type: ignore[attr-defined]
        else:
            out.append(block["text"]["text"])  # type: ignore[index]
    return out


def assert_within_limits(rendered_blocks: list[dict[str, object]], text: str) -> None:
    assert len(rendered_blocks) <= SLACK_LIMITS.blocks
    for block in rendered_blocks:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= SLACK_LIMITS.header_text  # type: ignore[index]
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= SLACK_LIMITS.section_text  # type: ignore[index]
    assert sum(map(len, texts(rendered_blocks))) <= SLACK_LIMITS.total_block_text
    assert len(text) <= SLACK_LIMITS.fallback_text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel> & <@U123>", "&lt;!channel&gt; &amp; &lt;@U123&gt;"),
        ("&amp; already", "&amp;amp; already"),  # escaped once, literally
        ("AT&T <b>", "AT&amp;T &lt;b&gt;"),
        ("*bold* _it_ `code`", "*bold* _it_ `code`"),  # not control characters in Slack
    ],
)
def test_escape_replaces_only_slacks_three_control_characters(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_clip_never_cuts_an_entity_in_half() -> None:
    for limit in range(2, 12):
        clipped = clip(escape("a&&&&&&&&"), limit)
        assert len(clipped) <= limit and clipped.endswith("…")
        assert re.fullmatch(r"a(&amp;)*…", clipped), clipped


def test_everything_fits_without_an_overflow_note() -> None:
    rendered = render(message(*(line(n) for n in range(49))), no_users)

    assert (rendered.shown, rendered.omitted) == (49, 0)
    assert len(rendered.blocks) == 50 and "more" not in rendered.text


def test_one_line_too_many_makes_room_for_the_note() -> None:
    rendered = render(message(*(line(n) for n in range(50))), no_users)

    assert (rendered.shown, rendered.omitted) == (48, 2)
    assert rendered.blocks[-1]["elements"][0]["text"] == "…and 2 more"
    assert rendered.text.endswith("\n…and 2 more")


def test_400_lines_respect_every_limit_and_say_how_many_more() -> None:
    lines = [line(n, links=[(f"Lead {n}", f"https://crm.test/{n}")]) for n in range(400)]
    rendered = render(message(*lines), no_users)

    assert_within_limits(rendered.blocks, rendered.text)
    assert rendered.shown + rendered.omitted == 400
    assert rendered.blocks[-1]["elements"][0]["text"] == f"…and {rendered.omitted} more"


def test_long_texts_are_bounded_by_the_total_size() -> None:
    rendered = render(message(*(line(n, text="word " * 2000) for n in range(20))), no_users)

    assert_within_limits(rendered.blocks, rendered.text)
    assert 0 < rendered.shown < 20 and rendered.omitted == 20 - rendered.shown


def test_long_title_is_clipped_for_the_header() -> None:
    rendered = render(message(line(), title="Q1 " + "&" * 400), no_users)

    header = rendered.blocks[0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…") and "&amp" not in header[-5:-1]


def test_many_links_in_one_line_end_with_and_n_more() -> None:
    links = [(f"Lead {n}", f"https://app.hubspot.com/record/0-1/{n}") for n in range(300)]
    rendered = render(message(line(links=links)), no_users)

    section = rendered.blocks[1]["text"]["text"]
    assert len(section) <= 3000
    shown = section.count("<https://")
    assert 0 < shown < 300 and section.endswith(f"…and {300 - shown} more")


def test_mentions_are_resolved_only_for_shown_lines_and_fall_back_to_escaped_email() -> None:
    asked: list[str] = []

    def resolve(email: str) -> str | None:
        asked.append(email)
        return "U0JANE" if email == "jane@acme.test" else None

    lines = [line(n, mentions=[f"rep{n}@acme.test"]) for n in range(100)]
    lines[0] = line(0, mentions=["jane@acme.test", "<b>&c@acme.test"])
    rendered = render(message(*lines), resolve)

    assert "cc <@U0JANE>, &lt;b&gt;&amp;c@acme.test" in rendered.blocks[1]["text"]["text"]
    # Lines past the cut are never looked up (bar one that made room for the note).
    assert {f"rep{n}@acme.test" for n in range(rendered.shown + 1, 100)}.isdisjoint(asked)


@pytest.mark.parametrize(
    ("label", "url", "expected"),
    [
        ("A <Co>", "https://crm.test/?x=1&y=2", "<https://crm.test/?x=1&amp;y=2|A &lt;Co&gt;>"),
        ("pipe", "https://crm.test/a|b c", "<https://crm.test/a%7Cb%20c|pipe>"),
        ("Evil", "javascript:alert(1)", "Evil"),
        ("", "https://crm.test/1", "<https://crm.test/1|https://crm.test/1>"),
    ],
)
def test_links_escape_labels_and_only_link_web_urls(label: str, url: str, expected: str) -> None:
    assert link(label, url) == expected


def test_fit_keeps_whole_items_and_counts_the_rest() -> None:
    items = ["a" * 10, "b" * 10, "c" * 10]

    assert fit(items, ", ", 34) == f"{'a' * 10}, {'b' * 10}, {'c' * 10}"
    assert fit(items, ", ", 33) == f"{'a' * 10}, …and 2 more"
    assert fit(items, ", ", 12) == "…and 3 more"
    assert fit(items, ", ", 5) == ""


crm_text = st.text(alphabet=st.sampled_from("<>&!@#|*_ ~`aZ\n…é"), max_size=400)


@settings(max_examples=60, deadline=None)
@given(
    title=crm_text,
    rows=st.lists(
        st.tuples(
            crm_text,
            crm_text,
            st.lists(st.tuples(crm_text, st.just("https://crm.test/x")), max_size=30),
        ),
        max_size=120,
    ),
)
def test_any_crm_text_stays_within_limits_and_pings_nobody(
    title: str, rows: list[tuple[str, str, list[tuple[str, str]]]]
) -> None:
    lines = [
        line(n, title=t, text=x, links=links, mentions=["jane@acme.test"])
        for n, (t, x, links) in enumerate(rows)
    ]
    rendered = render(message(*lines, title=title or "x"), lambda email: "U0JANE")

    assert_within_limits(rendered.blocks, rendered.text)
    assert rendered.shown + rendered.omitted == len(lines)
    # Every "<" left is markup the renderer added: a mention or a link.
    for sent in [*texts(rendered.blocks), rendered.text]:
        assert re.findall(r"<(?!@U0JANE>|https://crm\.test/x\|)", sent) == []
