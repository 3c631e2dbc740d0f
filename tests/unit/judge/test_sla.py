"""The SLA engine: states per record, compliance on a literal table, findings
per owner, and the next instant the scheduler must look again."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config.models import Calendar, SlaRule
from monitor.facts import SlaRecord
from monitor.interfaces import Severity
from monitor.judge.business_time import BusinessCalendar
from monitor.judge.sla import Judgement, State, _Ordered, evaluate, findings, next_deadline

NY = ZoneInfo("America/New_York")
CALENDAR = BusinessCalendar(Calendar(holidays=(date(2024, 2, 19),)), NY)
RULE = SlaRule(name="mql-follow-up", source="hs", within="4h", warn_before="1h", channel="#sales")
ANN, BOB = "ann@example.com", "bob@example.com"


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NY).astimezone(UTC)


def record(
    crm_id: str,
    entered: datetime,
    *,
    owner: str | None = ANN,
    assigned: datetime | None = None,
    touch: datetime | None = None,
    name: str | None = None,
) -> SlaRecord:
    return SlaRecord(
        crm_id=crm_id,
        name=name or f"Lead {crm_id}",
        owner_email=owner,
        owner_name=owner.split("@")[0].title() if owner else None,
        url=f"https://crm.example.com/{crm_id}",
        entered_at=entered,
        assigned_at=assigned,
        first_touch_at=touch,
    )


MON = (2024, 2, 5)

STATE_CASES: list[Any] = [
    # record, as_of, state, deadline, sla_time, speed_to_lead (hours)
    pytest.param(
        record("met", ny(*MON, 10), touch=ny(*MON, 12)),
        ny(2024, 2, 6, 12),
        State.MET,
        ny(*MON, 14),
        2,
        2,
        id="met",
    ),
    pytest.param(
        record("late", ny(*MON, 10), touch=ny(*MON, 15)),
        ny(2024, 2, 6, 12),
        State.LATE,
        ny(*MON, 14),
        5,
        5,
        id="late",
    ),
    pytest.param(
        record("open", ny(*MON, 10)),
        ny(*MON, 14),
        State.OPEN,
        ny(*MON, 14),
        None,
        None,
        id="open-at-deadline",
    ),
    pytest.param(
        record("risk", ny(*MON, 10)),
        ny(*MON, 13),
        State.AT_RISK,
        ny(*MON, 14),
        None,
        None,
        id="at-risk-at-warn-time",
    ),
    pytest.param(
        record("wait", ny(*MON, 10)),
        ny(*MON, 12, 59),
        State.PENDING,
        ny(*MON, 14),
        None,
        None,
        id="pending-clock-running",
    ),
    pytest.param(
        record("nobody", ny(*MON, 10), owner=None),
        ny(2024, 2, 6, 12),
        State.PENDING,
        None,
        None,
        None,
        id="no-owner",
    ),
    pytest.param(
        record("routed", ny(*MON, 10), assigned=ny(*MON, 13), touch=ny(*MON, 16)),
        ny(2024, 2, 6, 12),
        State.MET,
        ny(*MON, 17),
        3,
        6,
        id="assigned-after-entry",
    ),
    pytest.param(
        record("early", ny(*MON, 10), assigned=ny(*MON, 13), touch=ny(*MON, 11)),
        ny(2024, 2, 6, 12),
        State.MET,
        ny(*MON, 17),
        0,
        1,
        id="touched-before-assignment",
    ),
    pytest.param(
        record("unrouted", ny(*MON, 10), assigned=ny(*MON, 13)),
        ny(*MON, 12),
        State.PENDING,
        None,
        None,
        None,
        id="assigned-after-as-of",
    ),
    pytest.param(
        record("future", ny(*MON, 10), touch=ny(*MON, 15)),
        ny(*MON, 14, 30),
        State.OPEN,
        ny(*MON, 14),
        None,
        None,
        id="touch-after-as-of",
    ),
    pytest.param(
        record("fri", ny(2024, 2, 2, 18, 30)),
        ny(*MON, 12),
        State.AT_RISK,
        ny(*MON, 13),
        None,
        None,
        id="friday-evening",
    ),
    pytest.param(
        record("weekend", ny(2024, 2, 2, 14)),
        ny(2024, 2, 3, 10),
        State.AT_RISK,
        ny(*MON, 10),
        None,
        None,
        id="at-risk-over-weekend",
    ),
    pytest.param(
        record("holiday", ny(2024, 2, 16, 15)),
        ny(2024, 2, 20, 10, 30),
        State.AT_RISK,
        ny(2024, 2, 20, 11),
        None,
        None,
        id="holiday",
    ),
    pytest.param(
        record("spring", ny(2024, 3, 8, 15), touch=ny(2024, 3, 11, 10, 30)),
        ny(2024, 3, 12),
        State.MET,
        ny(2024, 3, 11, 11),
        3.5,
        3.5,
        id="spring-forward",
    ),
    pytest.param(
        record("fall", ny(2024, 11, 1, 15), touch=ny(2024, 11, 4, 11, 30)),
        ny(2024, 11, 5),
        State.LATE,
        ny(2024, 11, 4, 11),
        4.5,
        4.5,
        id="fall-back",
    ),
]


@pytest.mark.parametrize(
    ("rec", "as_of", "state", "deadline", "sla_hours", "speed_hours"), STATE_CASES
)
def test_record_states(
    rec: SlaRecord,
    as_of: datetime,
    state: State,
    deadline: datetime | None,
    sla_hours: float | None,
    speed_hours: float | None,
) -> None:
    (item,) = evaluate(RULE, CALENDAR, [rec], as_of).records
    assert item.state is state
    assert item.deadline == deadline
    assert item.sla_time == (None if sla_hours is None else timedelta(hours=sla_hours))
    assert item.speed_to_lead == (None if speed_hours is None else timedelta(hours=speed_hours))


def test_records_entering_after_as_of_are_left_out() -> None:
    result = evaluate(RULE, CALENDAR, [record("later", ny(*MON, 15))], ny(*MON, 15))
    assert result.records == ()
    assert result.overall.decided == 0
    assert result.overall.met_rate is None


COMPLIANCE_AS_OF = ny(2024, 2, 9, 17)
COMPLIANCE_TABLE = [
    record("a1", ny(*MON, 10), touch=ny(*MON, 10, 10)),  # 600 s
    record("a2", ny(*MON, 10), touch=ny(*MON, 10, 20)),  # 1200 s
    record("a3", ny(*MON, 10), touch=ny(*MON, 10, 30)),  # 1800 s
    record("a4", ny(*MON, 10), touch=ny(*MON, 11)),  # 3600 s
    record("a5", ny(*MON, 10), assigned=ny(*MON, 11), touch=ny(*MON, 12)),  # 3600 s, speed 7200
    record("a6", ny(*MON, 10), touch=ny(2024, 2, 6, 10)),  # late, 28800 s
    record("a7", ny(2024, 2, 7, 10)),  # open since Wed 14:00
    record("a8", ny(2024, 1, 29, 10), touch=ny(2024, 1, 29, 10, 5)),  # before the window
    record("a9", ny(2024, 2, 9, 16)),  # pending: warns Mon 11:00
    record("b1", ny(2024, 2, 8, 9), owner=BOB, touch=ny(2024, 2, 8, 9, 45)),  # 2700 s
    record("b2", ny(2024, 2, 9, 14), owner=BOB),  # at risk since Fri 17:00
    record("u1", ny(2024, 2, 9, 10), owner=None),  # waiting for routing
    record("u2", ny(2024, 2, 9, 10), owner=None, touch=ny(2024, 2, 9, 11)),  # waits for nothing
]


def test_compliance_on_a_literal_table() -> None:
    result = evaluate(RULE, CALENDAR, COMPLIANCE_TABLE, COMPLIANCE_AS_OF)
    overall = result.overall
    assert dict(overall.counts) == {
        State.MET: 6,
        State.LATE: 1,
        State.OPEN: 1,
        State.AT_RISK: 1,
        State.PENDING: 2,
    }
    assert overall.met_rate == pytest.approx(6 / 8)
    # SLA times 600 1200 1800 2700 3600 3600 28800; p90 at rank 5.4.
    assert overall.sla_time_median == 2700
    assert overall.sla_time_p90 == pytest.approx(3600 + 0.4 * (28800 - 3600))
    # Speed to lead 600 1200 1800 2700 3600 7200 28800.
    assert overall.speed_to_lead_median == 2700
    assert overall.speed_to_lead_p90 == pytest.approx(7200 + 0.4 * (28800 - 7200))

    ann, bob = result.by_owner[ANN], result.by_owner[BOB]
    assert ann.met_rate == pytest.approx(5 / 7)
    assert ann.sla_time_median == 2700  # (1800 + 3600) / 2
    assert ann.sla_time_p90 == pytest.approx(3600 + 0.5 * (28800 - 3600))
    assert ann.speed_to_lead_p90 == pytest.approx(7200 + 0.5 * (28800 - 7200))
    assert (bob.met_rate, bob.sla_time_median, bob.sla_time_p90) == (1.0, 2700, 2700)
    assert result.by_owner[""].counts[State.PENDING] == 1


def test_to_dict_is_json() -> None:
    result = evaluate(RULE, CALENDAR, COMPLIANCE_TABLE, COMPLIANCE_AS_OF)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["rule"] == "mql-follow-up"
    assert data["counts"] == {"met": 6, "late": 1, "open": 1, "at_risk": 1, "pending": 2}
    assert data["compliance"] == pytest.approx(0.75)
    assert data["sla_time_seconds"]["median"] == 2700
    assert [row["owner"] for row in data["by_owner"]] == [None, ANN, BOB]
    assert data["by_owner"][1]["name"] == "Ann"
    assert data["next_deadline"] == ny(2024, 2, 12, 10).isoformat()  # b2's deadline, Mon 10:00


FINDINGS_AS_OF = ny(*MON, 14, 30)
FINDINGS_TABLE = [
    record("late-2", ny(*MON, 10)),  # due 14:00
    record("late-1", ny(*MON, 9), name="<!channel> Acme"),  # due 13:00
    record("soon", ny(*MON, 11)),  # warns 14:00, due 15:00
    record("bob-soon", ny(*MON, 11, 15), owner=BOB),  # warns 14:15, due 15:15
    record("done", ny(*MON, 9), touch=ny(*MON, 9, 30)),
    record("unrouted", ny(*MON, 9), owner=None),
]


def test_findings_per_owner_and_state() -> None:
    result = evaluate(RULE, CALENDAR, FINDINGS_TABLE, FINDINGS_AS_OF)
    found = findings(RULE, result, source="hs")
    assert [(f.rule, f.owner, f.severity) for f in found] == [
        ("sla-at-risk", ANN, Severity.WARNING),
        ("sla-at-risk", BOB, Severity.WARNING),
        ("sla-breach", ANN, Severity.CRITICAL),
    ]
    breach = found[2]
    assert breach.fingerprint == f"sla-breach/mql-follow-up/{ANN}"
    assert breach.items == (
        ("<!channel> Acme", "https://crm.example.com/late-1"),
        ("Lead late-2", "https://crm.example.com/late-2"),
    )
    assert "2 MQLs" in breach.title
    assert "4h" in breach.title
    assert "Mon 05 Feb 13:00 EST" in breach.text
    assert breach.channel == "#sales"
    assert breach.source == "hs"
    assert breach.data["count"] == 2
    assert breach.members == ("late-1", "late-2")
    assert "1 MQL " in found[0].title
    assert "Mon 05 Feb 15:00 EST" in found[0].text
    assert "sla-late" not in [f.rule for f in found], "only when the rule asks"


def test_late_touches_are_found_per_owner_when_asked() -> None:
    rule = RULE.model_copy(update={"report_late_touch": True})
    table = [
        *FINDINGS_TABLE,
        record("slow", ny(*MON, 9), touch=ny(*MON, 14, 30)),  # due 13:00: 1h 30m late
        record("slower", ny(*MON, 9, 30), touch=ny(*MON, 16)),  # due 13:30: 2h 30m late
        record("old", ny(2024, 1, 29, 9), touch=ny(2024, 1, 29, 15)),  # outside the 7 days
    ]
    found = findings(rule, evaluate(rule, CALENDAR, table, ny(*MON, 16, 30)), source="hs")
    (late,) = [f for f in found if f.rule == "sla-late"]
    assert (late.owner, late.severity, late.members) == (ANN, Severity.INFO, ("slower", "slow"))
    assert late.title == "Ann: 2 MQLs followed up late (mql-follow-up)"
    assert "the latest 2h 30m (business time) after its deadline" in late.text


def test_next_deadline_is_the_earliest_future_change() -> None:
    result = evaluate(RULE, CALENDAR, FINDINGS_TABLE, FINDINGS_AS_OF)
    assert next_deadline(result) == ny(*MON, 15)
    quiet = evaluate(RULE, CALENDAR, [FINDINGS_TABLE[4]], FINDINGS_AS_OF)
    assert next_deadline(quiet) is None
    waiting = evaluate(RULE, CALENDAR, [FINDINGS_TABLE[0]], ny(*MON, 10, 30))
    assert next_deadline(waiting) == ny(*MON, 13)  # the warn time comes first


@settings(max_examples=100, deadline=None)
@given(
    entered=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31)),
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    steps=st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)), min_size=1),
)
def test_untouched_records_only_move_forward(
    entered: datetime, delay: timedelta, steps: list[timedelta]
) -> None:
    rec = record("x", entered.replace(tzinfo=UTC), assigned=entered.replace(tzinfo=UTC) + delay)
    order = [State.PENDING, State.AT_RISK, State.OPEN]
    as_of, seen = rec.entered_at + timedelta(microseconds=1), 0
    for step in steps:
        as_of += step
        (item,) = evaluate(RULE, CALENDAR, [rec], as_of).records
        rank = order.index(item.state)
        assert rank >= seen
        seen = rank
        if item.deadline is not None:
            assert item.start is not None
            assert CALENDAR.between(item.start, item.deadline) == RULE.within
            assert (item.state is State.OPEN) == (as_of >= item.deadline)


def _moments(records: list[SlaRecord], until: datetime) -> list[datetime]:
    """Every instant up to ``until`` at which judging ``records`` could
    change, a microsecond either side of it, and the minutes between."""
    fresh = evaluate(RULE, CALENDAR, records, until)
    found = set()
    for item in fresh.records:
        rec = item.record
        for moment in (
            rec.entered_at, rec.assigned_at, rec.first_touch_at, item.warn_at, item.deadline,
            item.decided_at and item.decided_at + timedelta(days=7),
        ):  # fmt: skip
            if moment is not None:
                found |= {moment + timedelta(microseconds=d) for d in (-1, 0, 1)}
    return sorted(found)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    count=st.integers(1, 12),
)
def test_a_judgement_reused_over_time_gives_the_fresh_results(seed: int, count: int) -> None:
    """An earlier judgement of the same records is carried forward, each
    record judged again only once its change has come: at every instant
    where a state, a count or a window membership could change (and a
    microsecond either side), the result equals judging afresh."""
    rng = random.Random(seed)
    start = ny(*MON, 8)
    records = []
    for i in range(count):
        entered = start + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))

        def later(hours: float, base: datetime = entered) -> datetime | None:
            return base + timedelta(minutes=rng.randrange(-60, int(hours * 60)))

        records.append(
            record(
                f"r{i}",
                entered,
                owner=rng.choice([ANN, BOB, None]),
                assigned=later(10) if rng.random() < 0.4 else None,
                touch=later(30) if rng.random() < 0.6 else None,
            )
        )
    end = start + timedelta(days=12)
    earlier = None
    for as_of in [m for m in _moments(records, end) if m > start]:
        earlier = _judged_as_afresh(records, as_of, earlier)
    assert earlier is not None
    # Records added, dropped, copied (another object) or changed (a sync,
    # an hourly fold): those not judged before are judged afresh.
    for step in range(1, 8):
        as_of = start + timedelta(hours=7 * step, minutes=rng.randrange(60))
        changed = [
            replace(r, owner_name="Renamed") if rng.random() < 0.2 else r
            for r in records
            if rng.random() < 0.8
        ]
        changed += [replace(r) for r in records if rng.random() < 0.2]
        rng.shuffle(changed)
        earlier = _judged_as_afresh(changed, as_of, earlier)


def _judged_as_afresh(
    records: list[SlaRecord], as_of: datetime, earlier: Judgement | None
) -> Judgement | None:
    """``records`` evaluated carrying ``earlier`` forward, asserted equal to
    judging them afresh; the judgement to carry on."""
    kept = evaluate(RULE, CALENDAR, records, as_of, earlier=earlier)
    fresh = evaluate(RULE, CALENDAR, records, as_of)
    assert kept.to_dict() == fresh.to_dict()
    assert (kept.overall, kept.by_owner, kept.judged) == (
        fresh.overall,
        fresh.by_owner,
        fresh.judged,
    )
    assert kept.records == fresh.records
    assert list(kept.by_owner) == list(fresh.by_owner)
    assert kept.owner_names == fresh.owner_names
    assert findings(RULE, kept, "hs") == findings(RULE, fresh, "hs")
    return kept.judgement


def test_a_judgement_is_reused_between_its_changes() -> None:
    waiting = record("w", ny(*MON, 10))  # warned at 13:00, due at 14:00
    first = evaluate(RULE, CALENDAR, [waiting], ny(*MON, 10, 30))
    assert first.judgement is not None and first.judgement.until == ny(*MON, 13)
    same = evaluate(RULE, CALENDAR, [waiting], ny(*MON, 12, 59), earlier=first.judgement)
    assert same.judgement is first.judgement
    warned = evaluate(RULE, CALENDAR, [waiting], ny(*MON, 13), earlier=first.judgement)
    assert warned.judgement is not first.judgement
    assert warned.records[0].state is State.AT_RISK
    assert first.judgement.slots[0].state is State.PENDING  # left as it was
    assert warned.judgement is not None and warned.judgement.until == ny(*MON, 14)
    later = evaluate(RULE, CALENDAR, [waiting], ny(*MON, 13, 30), earlier=warned.judgement)
    assert later.judgement is warned.judgement


@settings(max_examples=200, deadline=None)
@given(
    long=st.lists(st.integers(0, 30), max_size=20).map(sorted),
    short=st.lists(st.integers(0, 30), max_size=20).map(sorted),
)
def test_two_ordered_lists_are_read_by_rank_as_one(long: list[int], short: list[int]) -> None:
    ordered = _Ordered(long, short)
    assert [ordered.at(rank) for rank in range(len(ordered))] == sorted(long + short)
