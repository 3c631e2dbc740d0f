"""The scenarios the tests assert on and the measurement script reports,
each with the window it is replayed over and the alert its injected
problem must raise.

The month under test is June 2026 (22 working days, starting on a Monday).
Every scenario has 50 leads per working day, 30% lead→MQL, 40% MQL→SQL,
30% SQL→won, lags with medians of 2, 4 and 28 days (σ 0.8), and a goal of
the 40 closes that truth yields in June.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from tests.scenarios import backtest
from tests.scenarios.backtest import GOAL, SLA_RULE, Backtest, Cadence
from tests.scenarios.generator import (
    FAST_REPS,
    SLOW_REP,
    ConversionDrop,
    Scenario,
    VolumeShortfall,
)

MONTH = date(2026, 6, 1)
MONTH_START = datetime(2026, 6, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 7, 1, tzinfo=UTC)
#: MQL→SQL drops from 40% to 22% four weeks before the month (a Monday), so
#: the replay from the drop to the month's end shows both the first two
#: weeks after it and the month itself.
DROP_AT = datetime(2026, 5, 4, tzinfo=UTC)
DROP_RATE = 0.22


@dataclass(frozen=True)
class Case:
    """A scenario, the window ``[start, end)`` it is replayed over, and the
    alert (fingerprint prefix ``watch``) its problem must raise after
    ``since``; no ``watch`` for a scenario with nothing wrong."""

    scenario: Scenario
    start: datetime
    end: datetime
    watch: str | None = None
    since: datetime | None = None
    note: str = ""

    @property
    def name(self) -> str:
        return self.scenario.name


def problem_case(scenario: Scenario, start: datetime, end: datetime, note: str) -> Case:
    problem = scenario.problem
    assert problem is not None
    watch = f"{problem.rule}/{GOAL}/{problem.stage}/"
    return Case(scenario, start, end, watch, problem.start, note)


ON_PLAN = Case(
    Scenario("on-plan", month=MONTH),
    MONTH_START,
    MONTH_END,
    note="nothing wrong: every count on its expectation",
)
ON_PLAN_RANDOM = replace(
    ON_PLAN,
    scenario=replace(ON_PLAN.scenario, name="on-plan-random", noise="random"),
    note="nothing wrong, with sampling noise (Poisson days, Bernoulli conversions)",
)
MQL_DROP = problem_case(
    Scenario("mql-drop", month=MONTH, drop=ConversionDrop("mql_to_sql", DROP_RATE, DROP_AT)),
    DROP_AT,
    MONTH_END,
    "MQL→SQL 40% → 22% from 2026-05-04; replayed from the drop",
)
LEAD_SHORTFALL = problem_case(
    Scenario("lead-shortfall", month=MONTH, shortfall=VolumeShortfall("lead", 0.5, MONTH_START)),
    MONTH_START,
    MONTH_END,
    "leads at 50% from the month's start",
)
MQL_SHORTFALL = problem_case(
    Scenario("mql-shortfall", month=MONTH, shortfall=VolumeShortfall("mql", 0.6, MONTH_START)),
    MONTH_START,
    MONTH_END,
    "MQLs at 60% from the month's start (leads on plan)",
)
SLOW_FOLLOW_UP = Case(
    Scenario("slow-rep", month=MONTH, reps=(*FAST_REPS, SLOW_REP)),
    MONTH_START,
    MONTH_END,
    watch=f"sla-breach/{SLA_RULE}/{SLOW_REP.email}",
    since=MONTH_START,
    note="one rep of five touches MQLs after 5–10 working hours (4h SLA)",
)

CASES: tuple[Case, ...] = (
    ON_PLAN,
    ON_PLAN_RANDOM,
    MQL_DROP,
    LEAD_SHORTFALL,
    MQL_SHORTFALL,
    SLOW_FOLLOW_UP,
)


def replay(case: Case, folder: Path, cadence: Cadence = "service") -> Backtest:
    """``case``'s window replayed at ``cadence`` in a new database in ``folder``."""
    return backtest.run(
        case.scenario, start=case.start, end=case.end, cadence=cadence, folder=folder
    )
