"""The stalled-records judge on literal counts: when a stage's stalled share
raises a warning, what it says, and how long a record may sit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.stalls import Stalls
from monitor.facts import StageOpen, StalledRecord
from monitor.interfaces import Severity
from monitor.judge.lags import LagCurve
from monitor.judge.stalls import StageStall, beyond_days, finding
from monitor.summary import stall_line

AS_OF = datetime(2026, 11, 16, 12, tzinfo=UTC)
MAYA, JO = "maya@example.com", "jo@example.com"


def stall(open_: dict[str, int], stalled: dict[str, int], oldest: int = 0) -> StageStall:
    records = tuple(
        StalledRecord(
            f"P{i}",
            f"Person {i}, Contoso",
            JO,
            "Jo Park",
            f"https://crm.example.com/p/P{i}",
            AS_OF - timedelta(days=60 - i),
        )
        for i in range(oldest)
    )
    counts = StageOpen("sql", open_, stalled, {MAYA: "Maya Chen", JO: "Jo Park"}, records)
    return StageStall("q4", "sql", 21, "p90", AS_OF, counts)


def test_a_stalled_share_beyond_the_threshold_is_a_warning_naming_owners_and_oldest() -> None:
    found = finding(
        Stalls(), stall({MAYA: 20, JO: 20, "": 4}, {JO: 12, "": 1}, oldest=5), "crm", None
    )
    assert found is not None
    assert found.rule == "stalled" and found.severity is Severity.WARNING
    assert found.fingerprint == "stalled/q4/sql"
    assert found.title == "13 SQLs stalled beyond 21 days (p90)"
    assert found.text == (
        "13 of 44 open SQLs (29.5%) have sat in the stage for more than 21 days, the p90 lag "
        "of past SQL→won conversions, without moving on or being closed. "
        "By owner: Jo Park 12, unassigned 1."
    )
    assert found.metric == pytest.approx(13 / 44)
    assert found.items[0] == (
        "Person 0, Contoso (Jo Park, 60 days)",
        "https://crm.example.com/p/P0",
    )
    assert len(found.items) == 5
    assert found.data["by_owner"] == {
        JO: {"name": "Jo Park", "open": 20, "stalled": 12},
        MAYA: {"name": "Maya Chen", "open": 20, "stalled": 0},
        "unassigned": {"name": None, "open": 4, "stalled": 1},
    }


def test_a_share_at_or_below_the_threshold_is_no_finding() -> None:
    assert finding(Stalls(), stall({MAYA: 40}, {MAYA: 10}), "crm", None) is None  # 25%
    assert finding(Stalls(threshold=0.2), stall({MAYA: 40}, {MAYA: 10}), "crm", None) is not None


def test_too_few_open_records_is_no_finding() -> None:
    assert finding(Stalls(), stall({MAYA: 19}, {MAYA: 19}), "crm", None) is None
    assert finding(Stalls(min_records=5), stall({MAYA: 19}, {MAYA: 19}), "crm", None) is not None
    assert finding(Stalls(), stall({}, {}), "crm", None) is None


def test_how_long_a_record_may_sit() -> None:
    curve = LagCurve(tuple(min(0.3, 0.01 * k) for k in range(60)), 100)
    assert beyond_days("p90", curve) == curve.quantile(0.9) == 27
    assert beyond_days("median", curve) == 15
    assert beyond_days(45, curve) == 45
    assert beyond_days(45, None) == 45
    assert beyond_days("p90", None) is None  # no lag learned: not judged
    instant = LagCurve((0.3,), 100)  # every conversion on the day
    assert beyond_days("p90", instant) == 1


def test_the_summary_line_names_the_oldest_literally() -> None:
    line = stall_line(stall({MAYA: 20, JO: 20}, {JO: 12}, oldest=5))
    assert line == (
        "12 SQLs stalled beyond 21 days (p90), 30% of 40 open, oldest: "
        "Person 0, Contoso (Jo Park, 60 days), Person 1, Contoso (Jo Park, 59 days), "
        "Person 2, Contoso (Jo Park, 58 days)"
    )
