"""The console notifier prints what Slack would have carried
(monitor/notifiers/console.py)."""

from __future__ import annotations

import io
import logging

import pytest

from monitor.interfaces import CheckStatus, Message, MessageLine, Severity
from monitor.notifiers.console import ConsoleNotifier

LINES = (
    MessageLine(
        "sla-breach/mql/jane",
        Severity.CRITICAL,
        "3 leads past the 4h follow-up window",
        "Oldest untouched for 7h 12m.",
        mentions=["jane@acme.test"],
        links=[("Dana <Acme>", "https://app.hubspot.com/contacts/1/record/0-1/42")],
    ),
    MessageLine(
        "pacing/q1/mql",
        Severity.WARNING,
        "MQLs 32% behind plan",
        "82 against 120 expected\nneed 9.1/day, pace 6.3/day",
    ),
)


def test_prints_title_lines_mentions_and_links_and_numbers_refs() -> None:
    stream = io.StringIO()
    console = ConsoleNotifier(stream)

    first = console.send(Message("#revenue-alignment", "post", "Alignment alerts", LINES))
    second = console.send(Message("#revenue-alignment", "reply", "Resolved", ref=first))

    out = stream.getvalue()
    assert (first, second) == ("console:1", "console:2")
    for expected in (
        "#revenue-alignment",
        "Alignment alerts",
        "[CRITICAL] 3 leads past the 4h follow-up window",
        "Oldest untouched for 7h 12m.",
        "owner: @jane@acme.test",
        "- Dana <Acme>: https://app.hubspot.com/contacts/1/record/0-1/42",
        "[WARNING] MQLs 32% behind plan",
        "need 9.1/day, pace 6.3/day",
        "reply to console:1",
    ):
        assert expected in out


def test_summary_names_the_chart_file() -> None:
    stream = io.StringIO()

    ConsoleNotifier(stream).send(
        Message(
            "#revenue-alignment",
            "summary",
            "Daily summary",
            attachment=b"\x89PNG" + bytes(100),
            attachment_name="alignmon-summary-2024-03-01.png",
        )
    )

    assert "chart: alignmon-summary-2024-03-01.png (104 bytes)" in stream.getvalue()


def test_control_characters_from_the_crm_are_stripped() -> None:
    stream = io.StringIO()
    evil = MessageLine("x", Severity.INFO, "Lead \x1b[2J\x1b]0;pwned\x07Dana", "ok")

    ConsoleNotifier(stream).send(Message("#c", "post", "t", [evil]))

    assert "\x1b" not in stream.getvalue() and "\x07" not in stream.getvalue()
    assert "Lead [2J]0;pwnedDana" in stream.getvalue()


def test_check_says_where_notifications_go() -> None:
    (result,) = ConsoleNotifier(io.StringIO()).check()

    assert result.status is CheckStatus.OK and "console" in result.detail


def test_as_log_a_message_is_one_record_with_its_alerts(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    console = ConsoleNotifier(stream, as_log=True)
    with caplog.at_level(logging.INFO, logger="monitor.notifiers.console"):
        ref = console.send(Message("#revenue-alignment", "post", "Alignment alerts", LINES))
        console.send(Message("#revenue-alignment", "reply", "Resolved", LINES[1:], ref=ref))

    assert stream.getvalue() == ""
    post, reply = (vars(r) for r in caplog.records)
    assert post["message"] == "Alignment alerts" and post["ref"] == "console:1"
    assert post["channel"] == "#revenue-alignment" and post["kind"] == "post"
    assert post["alerts"] == ["sla-breach/mql/jane", "pacing/q1/mql"] and "alert" not in post
    assert post["lines"][0] == {
        "alert": "sla-breach/mql/jane",
        "severity": "critical",
        "title": "3 leads past the 4h follow-up window",
        "text": "Oldest untouched for 7h 12m.",
        "owners": ["jane@acme.test"],
        "links": [{"label": "Dana <Acme>", "url": LINES[0].links[0][1]}],
    }
    assert (reply["alert"], reply["reply_to"]) == ("pacing/q1/mql", "console:1")
