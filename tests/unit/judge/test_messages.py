"""What a message says about an alert: each message after the first says
what changed since the last one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.findings import Alert
from monitor.interfaces import Severity
from monitor.judge import messages
from monitor.judge.alerts import Notice, NoticeReason

ZONE = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
PERIOD = "2026-10-01..2026-11-01"


def alert(**changes: Any) -> Alert:
    base = Alert(
        fingerprint="pacing/q1/mql/" + PERIOD,
        rule="pacing",
        subject="q1",
        source="crm",
        severity=Severity.CRITICAL,
        state="firing",
        consecutive=3,
        title="MQLs 42% behind pace",
        text="50 MQLs against 86 expected by now.",
        channel=None,
        first_seen_at=MONDAY,
        last_seen_at=MONDAY,
        metric=-0.42,
        stage="mql",
        period=PERIOD,
        data={"actual": 54, "target": 76},
        notified_at=MONDAY,
        notified_metric=-0.38,
    )
    return replace(base, **changes)


def group(**changes: Any) -> Alert:
    return alert(
        fingerprint="sla-breach/mql-follow-up/sam@example.com",
        rule="sla-breach",
        stage="",
        period="",
        owner="sam@example.com",
        title="Sam Okafor: 3 MQLs past the 4h follow-up window",
        metric=None,
        notified_metric=None,
        members=("P1", "P2", "P3"),
        items=tuple((f"Lead {n}", f"https://crm.example.com/P{n}") for n in (1, 2, 3)),
        notified_members=("P1", "P4"),
        **changes,
    )


def line(notice: Notice) -> dict[str, Any]:
    return messages.line_payload(notice, ZONE)


@pytest.mark.parametrize(
    ("notice", "title", "text"),
    [
        (
            Notice(alert(), "repeat"),
            "Still open: MQLs 42% behind pace",
            "50 MQLs against 86 expected by now. Now 42% behind, was 38% on Mon 09:00.",
        ),
        (
            Notice(alert(notified_metric=-0.42), "repeat"),
            "Still open: MQLs 42% behind pace",
            "50 MQLs against 86 expected by now. No change since Mon 09:00.",
        ),
        (
            Notice(group(), "repeat", left=("P4",)),
            "Still open: Sam Okafor: 3 MQLs past the 4h follow-up window",
            "50 MQLs against 86 expected by now. Since Mon 09:00: 1 no longer open.",
        ),
        (
            Notice(group(), "joined", joined=("P2", "P3"), promoted=("P3",)),
            "New: Sam Okafor: 3 MQLs past the 4h follow-up window",
            "2 new since Mon 09:00, 3 in all. At risk → breached: Lead 3.",
        ),
        (
            Notice(alert(state="resolved", closed_as="ended"), "ended"),
            "Period ended: MQLs 42% behind pace",
            "Ended at 54 of 76 (71.1%).",
        ),
        (
            Notice(alert(data={}), "ended"),
            "Period ended: MQLs 42% behind pace",
            "The period is over.",
        ),
        (
            Notice(alert(notified_at=None), "firing", predecessor=alert(state="resolved")),
            "New period: MQLs 42% behind pace",
            "50 MQLs against 86 expected by now. A new alert for the new period; "
            "1 Oct – 31 Oct 2026 ended at 54 of 76 (71.1%).",
        ),
        (
            Notice(alert(), "escalated"),
            "Worse: MQLs 42% behind pace",
            "50 MQLs against 86 expected by now.",
        ),
    ],
)
def test_line_wording(notice: Notice, title: str, text: str) -> None:
    payload = line(notice)
    assert (payload["title"], payload["text"]) == (title, text)


def test_a_joined_line_links_only_the_new_records_and_mentions_the_owner() -> None:
    payload = line(Notice(group(), "joined", joined=("P3",)))
    assert payload["links"] == [["Lead 3", "https://crm.example.com/P3"]]
    assert payload["mentions"] == ["sam@example.com"]
    reply = messages.joined_payload([Notice(group(), "joined", joined=("P2", "P3"))], ZONE)
    assert reply["title"] == "Update: 2 more records"


@pytest.mark.parametrize(
    ("reasons", "title"),
    [
        (["resolved", "resolved"], "Cleared: 2 alerts"),
        (["ended"], "Period ended: 1 alert"),
        (["ended", "resolved"], "Closed: 2 alerts"),
    ],
)
def test_resolution_titles(reasons: list[NoticeReason], title: str) -> None:
    notices = [Notice(alert(state="resolved"), reason) for reason in reasons]
    assert messages.resolution_payload(notices, ZONE)["title"] == title


@pytest.mark.parametrize(
    ("closed", "marks", "title"),
    [
        ({"a": "resolved"}, ["✅ Resolved — A", "B"], "Revenue alignment: 2 findings"),
        (
            {"a": "resolved", "b": "resolved"},
            ["✅ Resolved — A", "✅ Resolved — B"],
            "✅ Revenue alignment: 2 findings — all resolved",
        ),
        (
            {"a": "ended", "b": "superseded"},
            ["⏹ Period ended — A", "⬆ Escalated — B"],
            "Revenue alignment: 2 findings — all closed",
        ),
    ],
)
def test_the_original_post_shows_how_each_line_closed(
    closed: dict[str, Any], marks: list[str], title: str
) -> None:
    original = {
        "title": "Revenue alignment: 2 findings",
        "lines": [
            {"fingerprint": fp, "severity": 2, "title": fp.upper(), "text": ""} for fp in "ab"
        ],
    }
    updated = messages.updated_payload(original, closed)
    assert [x["title"] for x in updated["lines"]] == marks
    assert updated["title"] == title


def test_period_names() -> None:
    assert messages.period_name("2026-10-01..2027-01-01") == "1 Oct – 31 Dec 2026"
    assert messages.period_name("") == ""
    assert messages.period_name(PERIOD) == "1 Oct – 31 Oct 2026"
