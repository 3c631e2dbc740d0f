"""The scenario generator keeps the truth it states: the month's counts are
the plan's, lags have their medians, each won person has its deal, and the
same scenario gives the same records."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from tests.scenarios.generator import (
    FAST_REPS,
    SLOW_REP,
    ConversionDrop,
    Scenario,
    VolumeShortfall,
    WorkingClock,
    generate,
)

SCENARIO = Scenario("truth")
HISTORY = generate(SCENARIO)
START, END = SCENARIO.midnight(SCENARIO.month), SCENARIO.midnight(SCENARIO.month_end)


def test_same_scenario_same_records() -> None:
    assert generate(SCENARIO) == HISTORY
    assert generate(Scenario("truth", seed=2)) != HISTORY


@pytest.mark.parametrize("stage", ["lead", "mql", "sql", "won"])
def test_the_month_holds_the_planned_count(stage: str) -> None:
    expected = SCENARIO.plan().expected[stage]  # type: ignore[index]
    assert abs(HISTORY.count(stage, START, END) - expected) <= 1  # type: ignore[arg-type]


def test_every_working_day_holds_its_share() -> None:
    per_day = SCENARIO.plan().expected["won"] / 22
    for offset in range(30):
        day = START + timedelta(days=offset)
        won = HISTORY.count("won", day, day + timedelta(days=1))
        if day.weekday() < 5:
            assert abs(won - per_day) <= 1, day
        else:
            assert won == 0, day


def test_the_plan_is_the_expected_closes() -> None:
    plan = SCENARIO.plan()
    assert plan.expected["lead"] == 50 * 22
    assert plan.closes == round(50 * 22 * 0.3 * 0.4 * 0.3) == 40


@pytest.mark.parametrize(
    ("upper", "lower", "median"), [("lead", "mql", 2.0), ("mql", "sql", 4.0), ("sql", "won", 28.0)]
)
def test_lags_have_their_medians(upper: str, lower: str, median: float) -> None:
    lags = [
        (getattr(p, f"{lower}_at") - getattr(p, f"{upper}_at")) / timedelta(days=1)
        for p in HISTORY.persons
        if getattr(p, f"{lower}_at") is not None
    ]
    assert abs(statistics.median(lags) - median) <= 2.0


def test_persons_and_deals_agree() -> None:
    won = sorted(p.won_at for p in HISTORY.persons if p.won_at is not None)
    assert won == sorted(d.won_at for d in HISTORY.deals if d.won_at is not None)
    assert all(d.kind == "deal" and d.object_type == "deals" for d in HISTORY.deals)
    ids = [r.crm_id for r in HISTORY.records]
    assert len(ids) == len(set(ids))
    for person in HISTORY.persons:
        stages = [
            getattr(person, f)
            for f in ("lead_at", "mql_at", "sql_at", "won_at")
            if getattr(person, f)
        ]
        assert stages == sorted(stages)
        touched = person.first_touch_at
        assert touched is None or (person.mql_at is not None and touched > person.mql_at)
        assert person.modified_at == max([*stages, touched or stages[0]])


def test_mqls_are_assigned_on_entry_and_touched_within_the_sla() -> None:
    scenario = Scenario("slow", reps=(*FAST_REPS, SLOW_REP))
    first = scenario.first_day
    clock = WorkingClock(first - timedelta(days=first.weekday()))  # UTC: wall time is UTC
    for person in generate(scenario).persons:
        if person.mql_at is None:
            assert person.owner_email is None
            continue
        assert person.assigned_at == person.mql_at
        assert person.first_touch_at is not None
        touched, entered = (
            clock.hours(t.replace(tzinfo=None)) for t in (person.first_touch_at, person.mql_at)
        )
        if person.owner_email == SLOW_REP.email:
            assert 5 <= touched - entered <= 10
        else:
            assert 0 < touched - entered <= 2


def test_a_drop_lowers_the_rate_from_its_start() -> None:
    at = datetime(2026, 3, 2, tzinfo=UTC)
    dropped = generate(Scenario("drop", drop=ConversionDrop("mql_to_sql", 0.2, at)))

    def rate(history_persons: tuple, start: datetime, end: datetime) -> float:
        cohort = [p for p in history_persons if p.mql_at and start <= p.mql_at < end]
        return sum(1 for p in cohort if p.sql_at) / len(cohort)

    before = rate(dropped.persons, at - timedelta(days=60), at)
    after = rate(dropped.persons, at, at + timedelta(days=60))
    assert before == pytest.approx(0.4, abs=0.01)
    assert after == pytest.approx(0.2, abs=0.01)


def test_a_lead_shortfall_halves_the_leads() -> None:
    short = generate(
        Scenario("short", shortfall=VolumeShortfall("lead", 0.5, START)),
    )
    assert short.count("lead", START, END) == pytest.approx(550, abs=1)
    before = START - timedelta(days=28)
    assert short.count("lead", before, START) == HISTORY.count("lead", before, START)
