"""Rate goals as tables: the verdict from the Wilson interval, the baseline
learned from the previous period, young cohorts left out, the finding, and
the plan that uses the goal's rate (docs/rate-goals.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from monitor.config.models import ExplicitPeriod, Goal
from monitor.facts import Cohort, CohortTable, FunnelFacts
from monitor.judge.periods import period_for, previous_start
from monitor.judge.rate_goals import decide, history_start, interval
from monitor.judge.reconciler import evaluate_goal
from monitor.judge.stats import wilson_interval
from monitor.planner import WhatIf, plan

ZONE = ZoneInfo("UTC")
# Thirty days, 2026-03-01 to 2026-03-30; the previous period of the same
# length is 2026-01-30 to 2026-02-28.
PERIOD = period_for(
    ExplicitPeriod(start=date(2026, 3, 1), end=date(2026, 3, 30)),
    datetime(2026, 3, 1, tzinfo=UTC),
    ZONE,
)
TODAY = date(2026, 3, 21)  # 20 days in


def goal(rate: dict[str, object], **fields: object) -> Goal:
    base: dict[str, object] = {
        "name": "conversion",
        "source": "hs",
        "period": {"start": "2026-03-01", "end": "2026-03-30"},
        "rates": {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25},
        "auto_rates": {"maturity_days": 5, "min_sample": 30},
        "rate": rate,
    }
    return Goal.model_validate(base | fields)


def table(cohorts: dict[date, tuple[int, int]], today: date = TODAY) -> CohortTable:
    """``{day entered: (entered, converted the next day)}``."""
    entered = {day: n for day, (n, _) in cohorts.items()}
    converted = {(day, 1): c for day, (_, c) in cohorts.items() if c}
    return CohortTable(today, entered, converted)


def facts(cohorts: dict[date, tuple[int, int]], today: date = TODAY) -> FunnelFacts:
    as_of = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    return FunnelFacts(as_of=as_of, period=PERIOD, daily={}, rate_goal=table(cohorts, today))


MARCH_2, MARCH_20 = date(2026, 3, 2), date(2026, 3, 20)
FEBRUARY_10 = date(2026, 2, 10)


# --- the verdict ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entered", "converted", "target", "verdict", "reason"),
    [
        # 400 of 1,000: 90% interval 37.5%-42.6% (z = 1.645).
        (1_000, 400, 0.35, "reached", "the whole interval is at or above the target"),
        (1_000, 400, 0.45, "behind", "the whole interval is below the target"),
        (1_000, 400, 0.41, "undecided", "the interval straddles the target"),
        # 0 of 29 would be far below 30%, but 29 records are too few.
        (29, 0, 0.30, "undecided", "29 leads of the period are old enough to have converted"),
        (0, 0, 0.30, "undecided", "0 leads of the period are old enough"),
    ],
)
def test_verdict_reads_the_interval_against_the_target(
    entered: int, converted: int, target: float, verdict: str, reason: str
) -> None:
    found, why = decide(Cohort(entered, converted), target, 30, 0.90, "lead_to_mql")
    assert (found, why.startswith(reason)) == (verdict, True)


def test_interval_is_wilson_and_counts_a_young_cohort_by_its_exposure() -> None:
    low, high = interval(Cohort(1_000, 400), 0.90)
    assert (round(low, 4), round(high, 4)) == (0.3748, 0.4257)
    # 100 records that have had half their conversion time: 50 trials.
    assert interval(Cohort(100, 20, exposure=50.0), 0.90) == wilson_interval(20, 50, 0.90)
    assert wilson_interval(0, 10, 0.9)[0] == 0.0 and wilson_interval(10, 10, 0.9)[1] == 1.0
    assert wilson_interval(0, 0, 0.9) == (0.0, 1.0)


# --- tracking over the period's cohorts ---------------------------------------------


def test_young_cohorts_do_not_pull_the_rate_down() -> None:
    """Cohorts under maturity_days (5) old have not had time to convert:
    the 500 leads of 2026-03-20 are left out, not counted as failures."""
    report = evaluate_goal(
        goal({"stage": "lead_to_mql", "target": 0.30}),
        facts({MARCH_2: (1_000, 350), MARCH_20: (500, 0)}),
    )
    aim = report.rate_goal
    assert aim is not None
    assert (aim.sample, aim.converted, aim.observed) == (1_000, 350, 0.35)
    assert aim.cohorts == (date(2026, 3, 1), date(2026, 3, 15))
    assert aim.verdict == "reached"


def test_baseline_auto_is_the_previous_period_plus_the_improvement() -> None:
    cohorts = {FEBRUARY_10: (1_000, 250), MARCH_2: (1_000, 200)}
    report = evaluate_goal(goal({"stage": "lead_to_mql", "improve_by": 0.05}), facts(cohorts))
    aim = report.rate_goal
    assert aim is not None
    assert (aim.baseline, aim.baseline_source, aim.baseline_sample) == (
        0.25,
        "previous period",
        1_000,
    )
    assert aim.target == pytest.approx(0.30)
    assert (aim.observed, aim.verdict) == (0.2, "behind")
    finding = next(f for f in report.findings if f.rule == "rate-goal-behind")
    assert finding.fingerprint == "rate-goal-behind/conversion/lead/2026-03-01..2026-03-31"
    assert finding.text == (
        "Of the 1,000 leads that entered from 2026-03-01 to 2026-03-15 and have had time to "
        "convert, 200 have become MQLs so far: 20% (90% interval 18%–22.2%), below the goal of 30% (the "
        "previous period's 25% + 5 points)."
    )
    assert finding.metric == pytest.approx(0.2 / 0.3 - 1)


def test_baseline_auto_with_a_thin_previous_period_is_not_decidable() -> None:
    cohorts = {FEBRUARY_10: (20, 5), MARCH_2: (1_000, 10)}
    report = evaluate_goal(goal({"stage": "lead_to_mql", "improve_by": 0.05}), facts(cohorts))
    aim = report.rate_goal
    assert aim is not None
    assert (aim.target, aim.baseline, aim.verdict) == (None, None, "undecided")
    assert aim.reason == (
        "the previous period has 20 leads old enough to learn the baseline from, 30 needed"
    )
    assert not [f for f in report.findings if f.rule == "rate-goal-behind"]


def test_a_numeric_baseline_needs_no_history() -> None:
    g = goal({"stage": "lead_to_mql", "improve_by": 0.05, "baseline": 0.25})
    assert g.rate is not None and g.rate.fixed_target == pytest.approx(0.30)
    assert history_start(g, PERIOD) == PERIOD.start
    learned = goal({"stage": "lead_to_mql", "improve_by": 0.05})
    assert history_start(learned, PERIOD) == date(2026, 1, 30)


def test_behind_is_reported_only_past_min_elapsed() -> None:
    """Two days in (under drift.min_elapsed, 10% of 30 days), a decided
    behind is shown but not yet a finding."""
    early = date(2026, 3, 3)
    cohorts = {date(2026, 2, 20): (1_000, 200)}
    g = goal({"stage": "lead_to_mql", "target": 0.30}, auto_rates={"maturity_days": 0})
    report = evaluate_goal(g, facts(cohorts | {date(2026, 3, 1): (1_000, 200)}, early))
    assert report.rate_goal is not None and report.rate_goal.verdict == "behind"
    assert not [f for f in report.findings if f.rule == "rate-goal-behind"]
    later = evaluate_goal(g, facts(cohorts | {date(2026, 3, 1): (1_000, 200)}))
    assert [f.rule for f in later.findings if f.rule == "rate-goal-behind"] == ["rate-goal-behind"]


def test_no_cohorts_yet_is_not_decidable() -> None:
    g = goal({"stage": "sql_to_won", "target": 0.25})
    report = evaluate_goal(g, FunnelFacts(as_of=facts({}).as_of, period=PERIOD, daily={}))
    assert report.rate_goal is not None
    assert (report.rate_goal.verdict, report.rate_goal.reason) == (
        "undecided",
        "no cohorts of this conversion yet",
    )


# --- the plan ---------------------------------------------------------------------


def test_a_volume_goal_plans_with_its_rate_goal() -> None:
    g = goal({"stage": "lead_to_mql", "target": 0.5}, closes=10)
    report = evaluate_goal(g, facts({MARCH_2: (1_000, 350)}))
    lead = report.stage("lead")
    assert (lead.target, lead.rate, lead.rate_source) == (125 * 2, 0.5, "rate goal")
    # The what-if plan, with no history, takes a target that needs none.
    rates = plan(g, WhatIf()).rates
    assert rates["lead_to_mql"] == (0.5, "rate goal")
    assert plan(g, WhatIf(rates={"lead_to_mql": 0.3})).rates["lead_to_mql"] == (0.3, "flag")


def test_a_rate_goal_alone_has_no_volume_plan() -> None:
    g = goal({"stage": "lead_to_mql", "target": 0.30})
    report = evaluate_goal(g, facts({MARCH_2: (1_000, 350)}))
    assert all(s.target is None for s in report.stages)
    assert report.stage("lead").rate_source == "config"
    assert report.to_dict()["rate_goal"]["verdict"] == "reached"  # type: ignore[index]


# --- config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ({"stage": "lead_to_mql"}, "exactly one of target or improve_by"),
        ({"stage": "lead_to_mql", "target": 0.3, "improve_by": 0.05}, "exactly one"),
        ({"stage": "lead_to_mql", "target": 0.3, "baseline": 0.2}, "baseline goes with improve_by"),
        ({"stage": "lead_to_mql", "improve_by": 0.1, "baseline": 0.95}, "is above 100%"),
        ({"stage": "visit_to_lead", "target": 0.02}, "Input should be"),
        ({"sql_to_won": 0.2}, "did you mean 'rates'?"),
    ],
)
def test_bad_rate_goals_say_what_to_fix(rate: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        goal(rate)


def test_previous_period_of_the_same_length() -> None:
    def start(setting: str, first: date, end: date) -> date:
        from monitor.judge.periods import make_period

        return previous_start(setting, make_period(first, end, ZONE))  # type: ignore[arg-type]

    assert start("quarter", date(2027, 1, 1), date(2027, 4, 1)) == date(2026, 10, 1)
    assert start("month", date(2026, 3, 1), date(2026, 4, 1)) == date(2026, 2, 1)
    assert start("year", date(2026, 4, 1), date(2027, 4, 1)) == date(2025, 4, 1)
    assert previous_start(
        ExplicitPeriod(start=date(2026, 3, 1), end=date(2026, 3, 30)), PERIOD
    ) == (date(2026, 1, 30))
