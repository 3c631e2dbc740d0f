"""Rate goals: is the period's conversion at its target (docs/rate-goals.md)?

The observed rate is read off the period's cohorts old enough to have
converted, as the planning rates are (``lags.matured``): a lead that
entered yesterday has not had time to become an MQL, and counting it
would make every young period look behind. The verdict comes from the
rate's two-sided Wilson interval at the goal's confidence:

- ``reached``: the interval's lower bound is at or above the target;
- ``behind``: its upper bound is below the target;
- ``undecided`` ("not yet decidable"): fewer matured records than
  ``auto_rates.min_sample``, no baseline to add the improvement to, or an
  interval that straddles the target.

``baseline: auto`` is the rate of the previous period of the same length
(its cohorts, matured by now), taken as a fixed number: the target is that
rate plus ``improve_by``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from monitor.config.models import Goal
from monitor.config.rate_goal import RateGoal
from monitor.facts import Cohort, FunnelFacts, Period
from monitor.interfaces import RATE_STAGES, RateName
from monitor.judge import format as fmt
from monitor.judge import lags
from monitor.judge.lags import LagCurve
from monitor.judge.periods import previous_start
from monitor.judge.stats import wilson_interval

Verdict = Literal["reached", "behind", "undecided"]
#: How each verdict reads in text.
VERDICT_TEXT: dict[Verdict, str] = {
    "reached": "reached",
    "behind": "behind",
    "undecided": "not yet decidable",
}


@dataclass(frozen=True, slots=True)
class RateGoalReport:
    """A rate goal as of one instant. ``observed``, ``low`` and ``high``:
    the rate of the period's matured cohorts and its interval (None with no
    matured record); ``sample``: the records in those cohorts, which
    entered the upper stage on the days ``cohorts`` spans (first and last,
    None when no day is old enough yet). ``baseline_sample``: the records a
    learned baseline was read from. ``reason``: why the verdict is what it
    is, in one sentence."""

    stage: RateName
    target: float | None
    baseline: float | None
    baseline_source: Literal["config", "previous period"] | None
    baseline_sample: int | None
    improve_by: float | None
    observed: float | None
    low: float | None
    high: float | None
    sample: int
    converted: int
    confidence: float
    cohorts: tuple[date, date] | None
    verdict: Verdict
    reason: str

    @property
    def label(self) -> str:
        return fmt.rate_label(*RATE_STAGES[self.stage])

    @property
    def text(self) -> str:
        """``Lead→MQL goal 30% (baseline 25% + 5 points): 24% observed
        (90% interval 21%–27%, 800 leads), behind.``"""
        goal = "unknown" if self.target is None else fmt.percent(self.target)
        if self.improve_by is not None and self.baseline is not None:
            goal += f" (baseline {fmt.percent(self.baseline)} + {_points(self.improve_by)})"
        if self.observed is None or self.low is None or self.high is None:
            seen = "nothing observed yet"
        else:
            seen = (
                f"{fmt.percent(self.observed)} observed ({fmt.percent(self.confidence)} interval "
                f"{fmt.percent(self.low)}–{fmt.percent(self.high)}, {fmt.count(self.sample)} "
                f"{fmt.stage_noun(RATE_STAGES[self.stage][0], self.sample)})"
            )
        return f"{self.label} goal {goal}: {seen}; {VERDICT_TEXT[self.verdict]}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "target": _round(self.target),
            "baseline": _round(self.baseline),
            "baseline_source": self.baseline_source,
            "baseline_sample": self.baseline_sample,
            "improve_by": self.improve_by,
            "observed": _round(self.observed),
            "low": _round(self.low),
            "high": _round(self.high),
            "sample": self.sample,
            "converted": self.converted,
            "confidence": self.confidence,
            "cohorts": None
            if self.cohorts is None
            else {"start": self.cohorts[0].isoformat(), "end": self.cohorts[1].isoformat()},
            "verdict": self.verdict,
            "reason": self.reason,
        }


def history_start(goal: Goal, period: Period) -> date | None:
    """The first day a goal's rate goal needs cohorts from: the previous
    period's start for a learned baseline, else the period's start; None
    without a rate goal."""
    if goal.rate is None:
        return None
    if goal.rate.fixed_target is None:
        return previous_start(goal.period, period)
    return period.start


def track(
    goal: Goal, facts: FunnelFacts, curves: Mapping[RateName, LagCurve]
) -> RateGoalReport | None:
    """The goal's rate goal as of ``facts.as_of``; None without one."""
    setting = goal.rate
    if setting is None:
        return None
    period, table, minimum = facts.period, facts.rate_goal, goal.auto_rates.min_sample
    target, baseline = setting.fixed_target, None
    source: Literal["config", "previous period"] | None = None
    baseline_sample = None
    if isinstance(setting.baseline, float) and setting.improve_by is not None:
        baseline, source = setting.baseline, "config"
    if table is None:
        return _report(
            setting,
            target,
            baseline,
            source,
            None,
            Cohort(0, 0),
            None,
            "undecided",
            "no cohorts of this conversion yet",
        )
    curve = curves.get(setting.stage)
    maturity = lags.maturity_days(goal.auto_rates.maturity_days, curve)
    if target is None and setting.improve_by is not None:
        before = lags.matured(
            table, maturity, curve, previous_start(goal.period, period), period.start
        )
        baseline_sample, source = before.entered, "previous period"
        if before.entered >= minimum and before.rate is not None:
            baseline = before.rate
            target = min(1.0, baseline + setting.improve_by)
    cohort = lags.matured(table, maturity, curve, period.start, period.end)
    last = min(period.end, table.today - timedelta(days=maturity)) - timedelta(days=1)
    days = (period.start, last) if last >= period.start else None
    if target is None:
        reason = (
            f"the previous period has {fmt.count(baseline_sample or 0)} "
            f"{_upper_noun(setting.stage)} old enough to learn the baseline from, "
            f"{fmt.count(minimum)} needed"
        )
        return _report(
            setting, None, None, source, baseline_sample, cohort, days, "undecided", reason
        )
    verdict, reason = decide(cohort, target, minimum, setting.confidence, setting.stage)
    return _report(
        setting, target, baseline, source, baseline_sample, cohort, days, verdict, reason
    )


def decide(
    cohort: Cohort, target: float, minimum: int, confidence: float, stage: RateName
) -> tuple[Verdict, str]:
    """The verdict on ``cohort`` against ``target``, and why."""
    if cohort.entered < minimum or cohort.rate is None:
        return "undecided", (
            f"{fmt.count(cohort.entered)} {_upper_noun(stage)} of the period are old enough "
            f"to have converted, {fmt.count(minimum)} needed"
        )
    low, high = interval(cohort, confidence)
    if low >= target:
        return "reached", "the whole interval is at or above the target"
    if high < target:
        return "behind", "the whole interval is below the target"
    return "undecided", "the interval straddles the target"


def interval(cohort: Cohort, confidence: float) -> tuple[float, float]:
    """The Wilson interval of a cohort's rate; a cohort still converting
    counts by its exposure (entrants weighted by how much of their
    conversion time has passed), as the planning rates do."""
    trials = (
        cohort.entered if cohort.exposure is None else max(cohort.converted, round(cohort.exposure))
    )
    return wilson_interval(cohort.converted, trials, confidence)


def _report(
    setting: RateGoal,
    target: float | None,
    baseline: float | None,
    source: Literal["config", "previous period"] | None,
    baseline_sample: int | None,
    cohort: Cohort,
    days: tuple[date, date] | None,
    verdict: Verdict,
    reason: str,
) -> RateGoalReport:
    low = high = None
    if cohort.entered and cohort.rate is not None:
        low, high = interval(cohort, setting.confidence)
    return RateGoalReport(
        stage=setting.stage,
        target=target,
        baseline=baseline,
        baseline_source=source,
        baseline_sample=baseline_sample,
        improve_by=setting.improve_by,
        observed=cohort.rate,
        low=low,
        high=high,
        sample=cohort.entered,
        converted=cohort.converted,
        confidence=setting.confidence,
        cohorts=days,
        verdict=verdict,
        reason=reason,
    )


def _upper_noun(stage: RateName) -> str:
    return fmt.stage_noun(RATE_STAGES[stage][0])


def _points(share: float) -> str:
    """0.05 → ``5 points``."""
    return fmt.percent(share).removesuffix("%") + " points"


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
