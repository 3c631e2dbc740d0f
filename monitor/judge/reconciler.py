"""The reconciler: one goal's plan, pacing and findings.

Sits between the store and the alert lifecycle: the store counts a goal's
records into ``FunnelFacts``; ``evaluate_goal`` turns those facts, the goal's
config and ``as_of`` into targets per stage (``funnel``: docs/design.md,
"Back-calculation"), pacing against them ("Pacing") and the findings neither
team sees alone (``checks``: "Alignment checks"). A pure function: no
session, no HTTP, no clock, so a backtest is a literal table.

A revenue goal whose average deal size is ``auto`` with too few won deals and
no fallback has no plan: its stages show actuals with no targets, and one
``plan-incomplete`` finding says what to configure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple

from monitor.config.models import DEFAULT_RATES, Goal
from monitor.facts import Cohort, DealSample, FunnelFacts, Period
from monitor.interfaces import RATE_FROM, RATE_NAMES, STAGES, RateName, Stage
from monitor.judge import breakdown, budget, checks, forecast, lags, rate_goals
from monitor.judge.commitments import commitments
from monitor.judge.funnel import (
    DealSize,
    PlannedRate,
    back_calculate,
    resolve_deal_size,
    resolve_rate,
)
from monitor.judge.lags import LagCurve, SameAge
from monitor.judge.periods import WorkingDays, calendar_days, seasonal_elapsed
from monitor.judge.report import Arrival, GoalReport, StageReport
from monitor.judge.stats import beta_binomial_lower_tail

log = logging.getLogger(__name__)


def evaluate_goal(
    goal: Goal,
    facts: FunnelFacts,
    *,
    working_days: WorkingDays | None = None,
    waiting: str | None = None,
) -> GoalReport:
    """Plan, pace and check one goal. ``working_days`` is required for
    ``pacing: business_days``, and is what ``seasonal`` falls back to for a
    stage with too little history (calendar days without it); a period with
    no working days at all is paced by calendar days instead. ``waiting``: why the source's data is
    partial (its first sync is still running); the plan then uses only the
    configured rates and fallbacks, and only config-only findings come out."""
    if waiting is not None:
        facts = replace(
            facts,
            tables={},
            visits=None,
            recent_visits=None,
            deals=DealSample(0, 0.0),
            rate_goal=None,
        )
    period, as_of = facts.period, facts.as_of
    elapsed_days, total_days = calendar_days(period, as_of)
    if goal.pacing == "business_days" and working_days is None:
        raise ValueError(f"goal {goal.name!r} paces by business days: pass working_days")
    if goal.pacing != "linear" and working_days is not None:
        work_elapsed, work_total = working_days.elapsed_days(period.start, period.end, as_of)
        if work_total > 0:
            elapsed_days, total_days = min(work_elapsed, work_total), work_total
    clock = _Clock(min(1.0, max(0.0, elapsed_days / total_days)), elapsed_days, total_days)

    curves = learn_lags(goal, facts)
    rate_goal = rate_goals.track(goal, facts, curves)
    rates = plan_rates(goal, facts, curves)
    if rate_goal is not None and rate_goal.target is not None and not goal.rate_goal_only:
        # The plan for the period uses the rate the goal aims at.
        learned = rates[rate_goal.stage]
        rates[rate_goal.stage] = PlannedRate(rate_goal.target, "rate goal", None, learned.observed)
    recent = recent_cohorts(goal, facts, rates, curves, working_days)
    deal = None
    if goal.revenue is not None:
        deal = resolve_deal_size(goal.average_deal_size, facts.deals, goal.auto_rates)
    targets: dict[Stage, int] = {}
    if not goal.rate_goal_only and (deal is None or deal.value is not None):
        plan = {name: rate.value for name, rate in rates.items()}
        targets = back_calculate(goal, plan, deal.value if deal else None)
    log.debug("goal %s as of %s: elapsed %.4f, targets %s", goal.name, as_of, clock.share, targets)

    arrivals = arrival_windows(period, curves)
    forecasts: dict[Stage, forecast.Forecast] = {}
    forecast_note = None
    if waiting is None:
        share = today_share(facts, working_days if goal.pacing == "business_days" else None)
        minimum = goal.auto_rates.min_sample
        forecasts = forecast.pipeline(facts, curves, share, minimum, goal.drift.recent_days)
        forecast_note = forecast.gap_note(facts, curves, forecasts, minimum)
    stages = [
        replace(
            _stage_report(
                goal,
                facts,
                stage,
                targets.get(stage),
                rates,
                _stage_clock(goal, facts, stage, clock),
            ),
            lag=curves.get(RATE_FROM[stage]) if stage in RATE_FROM else None,
            arrival=arrivals.get(stage),
            forecast=forecasts.get(stage),
        )
        for stage in STAGES
        if stage != "visit" or goal.rates.visit_to_lead is not None
    ]
    report = GoalReport(
        name=goal.name,
        source=goal.source,
        period=period,
        as_of=as_of,
        pacing=goal.pacing,
        elapsed=clock.share,
        elapsed_days=elapsed_days,
        total_days=total_days,
        deal_size=deal,
        rates=rates,
        lags=curves,
        recent=recent,
        stages=stages,
        waiting=waiting,
        forecast_note=forecast_note,
        rate_goal=rate_goal,
        breakdown={a: breakdown.lines(goal, facts.breakdown.get(a, ())) for a in goal.breakdown},
        marketing=breakdown.marketing(goal, facts),
        **_plan_limits(goal, period, targets, rates, deal),
    )
    report.findings.extend(checks.findings(goal, facts, report))
    if waiting is None:
        report.compared.extend(breakdown.compared(goal, facts))
        found = breakdown.gaps(goal, report.compared)
        report.findings.extend(breakdown.finding(goal, period, g) for g in found)
    return report


def _plan_limits(
    goal: Goal,
    period: Period,
    targets: Mapping[Stage, int],
    rates: Mapping[RateName, PlannedRate],
    deal: DealSize | None,
) -> dict[str, Any]:
    """The plan against the teams' commitments, its cost against the
    budget, its volumes against capacity, and how far the budget and each
    capacity reach; nothing without a plan."""
    if not targets:
        return {}
    plan = {name: rate.value for name, rate in rates.items()}
    months = budget.period_months(period.start, period.end)
    return {
        "commitments": tuple(commitments(goal.commitments, targets, plan)),
        "spend": budget.spend_needed(goal.plan, targets, months),
        "capacity": budget.capacity_needed(goal.plan, targets, months),
        "reach": budget.reach(goal.plan, plan, months, deal.value if deal else None),
    }


def learn_lags(goal: Goal, facts: FunnelFacts) -> dict[RateName, LagCurve]:
    """The lag curve of each person transition with enough conversions."""
    curves = {}
    for name in RATE_NAMES:
        table = facts.tables.get(name)
        curve = lags.learn(table, goal.auto_rates.min_sample) if table is not None else None
        if curve is not None:
            curves[name] = curve
    return curves


def plan_rates(
    goal: Goal, facts: FunnelFacts, curves: Mapping[RateName, LagCurve]
) -> dict[RateName, PlannedRate]:
    """The planning rate for each conversion the goal uses: ``auto`` ones
    from the cohorts old enough for their transition's lag."""
    planned = {}
    for name in reversed(RATE_NAMES):
        setting = getattr(goal.rates, name)
        if setting is None:  # only visit_to_lead is optional
            continue
        planned[name] = resolve_rate(
            setting,
            observed_cohort(goal, facts, curves, name),
            goal.auto_rates,
            DEFAULT_RATES[name],
        )
    return planned


def observed_cohort(
    goal: Goal, facts: FunnelFacts, curves: Mapping[RateName, LagCurve], name: RateName
) -> Cohort | None:
    if name == "visit_to_lead":
        return facts.visits
    table = facts.tables.get(name)
    if table is None:
        return None
    curve = curves.get(name)
    return lags.matured(table, lags.maturity_days(goal.auto_rates.maturity_days, curve), curve)


def today_share(facts: FunnelFacts, working_days: WorkingDays | None) -> float:
    """How much of today's arrivals have happened by ``as_of``: the share
    of today's working hours gone when the goal paces by business days and
    today has any, else the share of the local day."""
    zone = facts.period.starts_at.tzinfo
    as_of = facts.as_of
    today = as_of.astimezone(zone).date()
    tomorrow = today + timedelta(days=1)
    if working_days is not None:
        done, whole = working_days.elapsed_days(today, tomorrow, as_of)
        if whole > 0:
            return min(1.0, done / whole)
    # Through UTC, so a day with a DST change is its real length.
    start, end = (
        datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in (today, tomorrow)
    )
    return min(1.0, max(0.0, (as_of - start) / (end - start)))


def arrival_windows(period: Period, curves: Mapping[RateName, LagCurve]) -> dict[Stage, Arrival]:
    """For each stage, the days its volume must arrive on to close within
    the period: this month's MQLs feed next month's closes. A stage whose
    path down to won has a transition with no learned lag gets none; visits
    turn into leads the same day."""
    out: dict[Stage, Arrival] = {}
    shift = 0
    last = period.end - timedelta(days=1)
    for stage in reversed(STAGES):
        if stage in RATE_FROM and RATE_FROM[stage] != "visit_to_lead":
            curve = curves.get(RATE_FROM[stage])
            if curve is None:
                break
            shift += curve.median
        days = timedelta(days=shift)
        out[stage] = Arrival(period.start - days, last - days, shift)
    return out


def recent_cohorts(
    goal: Goal,
    facts: FunnelFacts,
    rates: Mapping[RateName, PlannedRate],
    curves: Mapping[RateName, LagCurve],
    working_days: WorkingDays | None = None,
) -> dict[RateName, SameAge]:
    """Each rate's recent cohort against the plan at its age (in working
    days, given the calendar), where the plan expects enough conversions of
    it to judge (``min_expected``)."""
    drift, out = goal.drift, {}
    for name, rate in rates.items():
        if name == "visit_to_lead":
            cohort = _visit_cohort(goal, facts, rate)
        else:
            table, curve = facts.tables.get(name), curves.get(name)
            if table is None or curve is None:
                continue  # no lag learned yet: no age to compare at
            days = lags.recent_days(drift.recent_days, curve)
            ages, by_working_days = curve, None
            if working_days is not None:
                learned = lags.learn(table, goal.auto_rates.min_sample, working_days)
                if learned is not None:
                    ages, by_working_days = learned, working_days
            cohort = lags.same_age(
                table, ages, rate.value, days, rate.relative_variance, by_working_days
            )
        if cohort is not None and cohort.expected > 0 and cohort.expected >= drift.min_expected:
            out[name] = cohort
    return out


def _visit_cohort(goal: Goal, facts: FunnelFacts, rate: PlannedRate) -> SameAge | None:
    """Visits convert on the day they happen: the recent visit ratio is its
    own same-age comparison."""
    visits = facts.recent_visits
    if visits is None or visits.entered < goal.auto_rates.min_sample:
        return None
    today = facts.as_of.astimezone(facts.period.starts_at.tzinfo).date()
    first = today - timedelta(days=lags.visit_recent_days(goal.drift.recent_days))
    planned = rate.value
    p_value = beta_binomial_lower_tail(
        visits.converted, visits.entered, planned, rate.relative_variance, mid=True
    )
    expected = planned * visits.entered
    return SameAge(first, today, visits.entered, visits.converted, expected, planned, p_value)


def _stage_clock(goal: Goal, facts: FunnelFacts, stage: Stage, clock: _Clock) -> _Clock:
    """Seasonal pacing: the share of the stage's period volume due by now,
    from its arrival profile; the goal's business-day clock where the stage
    has too little history for one."""
    profile = None
    if goal.pacing == "seasonal" and stage != "visit":  # visits are day totals
        profile = facts.profiles.get(stage)
    share = None if profile is None else seasonal_elapsed(profile, facts.period, facts.as_of)
    return clock if share is None else clock._replace(share=share)


class _Clock(NamedTuple):
    share: float  # of the period elapsed, in [0, 1]
    days: float  # calendar or working days elapsed
    total: float


def _stage_report(
    goal: Goal,
    facts: FunnelFacts,
    stage: Stage,
    target: int | None,
    rates: dict[RateName, PlannedRate],
    clock: _Clock,
) -> StageReport:
    rate = rates.get(RATE_FROM[stage]) if stage in RATE_FROM else None
    actual = None if stage == "visit" and not facts.has_visits else facts.actual(stage)
    expected = None if target is None else target * clock.share
    attainment = drift = projection = needed = pace = None
    if actual is not None:
        projection = actual / clock.share if clock.share > 0 else None
        pace = actual / clock.days if clock.days > 0 else None
        if expected:
            attainment = actual / expected
            drift = attainment - 1
        if target is not None and actual >= target:
            needed = 0.0
        elif target is not None and clock.total > clock.days:
            needed = (target - actual) / (clock.total - clock.days)
    commitment = goal.commitments.volume(stage)
    return StageReport(
        stage=stage,
        target=target,
        expected=expected,
        actual=actual,
        attainment=attainment,
        drift=drift,
        projection=projection,
        needed_per_day=needed,
        pace_per_day=pace,
        rate=rate.value if rate else None,
        rate_source=rate.source if rate else None,
        sample=rate.sample if rate else None,
        commitment=commitment,
    )
