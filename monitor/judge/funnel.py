"""Funnel math: which rates to plan with, and the volume each stage needs.

The reconciler's first step (docs/design.md, "Back-calculation", "Rates"). Given a goal's config and the
observed cohorts the store counted, choose each conversion rate (configured,
observed, a conservative lower bound of the observed, or a fallback), the
average deal size, and work backwards from the revenue target to a target
for every stage. Pure functions; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from monitor.config.models import MIN_DEAL_SIZE, AutoAmount, AutoRateSettings, Goal, RateSetting
from monitor.facts import Cohort, DealSample
from monitor.interfaces import RATE_FROM, STAGES, RateName, Stage
from monitor.judge.stats import rate_relative_variance, wilson_interval

RateSource = Literal["config", "observed", "observed-lower-bound", "fallback", "rate goal"]

# Relative tolerance for float noise before rounding a volume up: 10 / 0.2
# is 50.000000000000004 in binary floating point, and the plan needs 50.
_NOISE = 1e-9


@dataclass(frozen=True, slots=True)
class PlannedRate:
    """The rate the plan uses. ``sample``: records it was observed on (None
    when configured); ``observed``: the raw observed rate, when there was a
    sample, so a fallback or lower bound can be shown next to it."""

    value: float
    source: RateSource
    sample: int | None
    observed: float | None = None
    trials: float | None = None  # the sample weighted by its exposure (still converting)

    @property
    def relative_variance(self) -> float:
        """How far the plan can trust this rate: a rate learned on a sample
        is known only to that sample's binomial variance; one configured,
        committed or set as a goal is the plan itself."""
        if self.source not in ("observed", "observed-lower-bound"):
            return 0.0
        trials = self.trials if self.trials is not None else self.sample
        return rate_relative_variance(self.observed or self.value, trials)


@dataclass(frozen=True, slots=True)
class DealSize:
    """The average deal size the plan uses. ``value`` is None when it is
    ``auto`` with too few won deals and no fallback: a revenue goal then
    has no plan (the reconciler reports ``plan-incomplete``)."""

    value: float | None
    source: Literal["config", "observed", "fallback", "missing"]
    sample: int | None


def ceil_count(x: float) -> int:
    """Round a required volume up to whole records, except that a value
    within float noise of an integer is that integer."""
    nearest = round(x)
    if abs(x - nearest) <= _NOISE * max(1.0, abs(x)):
        return int(nearest)
    return math.ceil(x)


def floor_count(x: float) -> int:
    """Round a reachable volume down to whole records, except that a value
    within float noise of an integer is that integer (0.29 × 100 is
    28.999999999999996, and 100 records at 29% reach 29)."""
    nearest = round(x)
    if abs(x - nearest) <= _NOISE * max(1.0, abs(x)):
        return int(nearest)
    return math.floor(x)


def wilson_lower(successes: int, n: int, confidence: float = 0.90) -> float:
    """Lower bound of the two-sided Wilson score interval for a proportion.
    Zero when nothing succeeded (including an empty sample)."""
    return wilson_interval(successes, n, confidence)[0]


def resolve_rate(
    setting: RateSetting, cohort: Cohort | None, settings: AutoRateSettings, default: float
) -> PlannedRate:
    """Pick the planning rate for one conversion.

    A number is used as configured. ``auto`` uses the observed cohort rate
    from ``large_sample`` records up; from ``min_sample`` up, the observed
    rate shaded toward its 90% Wilson lower bound, all the way at
    ``min_sample`` and less as the sample grows, so the plan is cautious on
    thin history without jumping when the sample crosses a line. Below
    that (or when nothing converted, which no plan can be built on) the
    ``AutoRate`` fallback, else ``default``.
    """
    if isinstance(setting, int | float):
        return PlannedRate(float(setting), "config", None)
    fallback = default if setting == "auto" else setting.fallback
    n = cohort.entered if cohort else 0
    observed = cohort.rate if cohort else None
    if cohort is None or observed is None or n < settings.min_sample or cohort.converted == 0:
        return PlannedRate(fallback, "fallback", n, observed)
    # A cohort still converting counts by its exposure, its entrants
    # weighted by how much of their conversion time has passed.
    trials = n if cohort.exposure is None else max(cohort.converted, round(cohort.exposure))
    if n >= settings.large_sample:
        return PlannedRate(observed, "observed", n, observed, trials)
    bound = min(observed, wilson_lower(cohort.converted, trials))
    span = settings.large_sample - settings.min_sample
    trust = (n - settings.min_sample) / span if span > 0 else 1.0
    shaded = bound + trust * (observed - bound)
    return PlannedRate(shaded, "observed-lower-bound", n, observed, trials)


def resolve_deal_size(
    setting: float | Literal["auto"] | AutoAmount | None,
    deals: DealSample,
    settings: AutoRateSettings,
) -> DealSize:
    """Pick the average deal size: as configured, or for ``auto`` the
    average of won deals once there are ``min_sample`` of them, else the
    ``AutoAmount`` fallback, else ``missing``. Averages of a few deals swing
    with one large win, so a small sample is not used at all."""
    if isinstance(setting, int | float):
        return DealSize(float(setting), "config", None)
    if setting is None:
        return DealSize(None, "missing", None)
    average = deals.average
    # A sum of CRM amounts can overflow to infinity, and an average of a
    # cent or less (test deals, amounts in the wrong unit) would plan an
    # impossible number of deals: neither is a deal size to plan with.
    if (
        deals.count >= settings.min_sample
        and average is not None
        and math.isfinite(average)
        and average >= MIN_DEAL_SIZE
    ):
        return DealSize(average, "observed", deals.count)
    if isinstance(setting, AutoAmount):
        return DealSize(setting.fallback, "fallback", deals.count)
    return DealSize(None, "missing", deals.count)


def back_calculate(
    goal: Goal, rates: Mapping[RateName, float], deal_size: float | None
) -> dict[Stage, int]:
    """Target per stage, top to bottom, working back from the goal.

    ``rates`` maps rate names to planning rates; ``visit`` gets a target
    only when ``visit_to_lead`` is among them. ``deal_size`` is needed for
    a revenue goal (``ValueError`` without it).
    """
    if goal.closes is not None:
        won = goal.closes
    elif deal_size is None or deal_size <= 0 or goal.revenue is None:
        raise ValueError(f"goal {goal.name!r}: a revenue goal needs a positive average deal size")
    else:
        won = ceil_count(goal.revenue / deal_size)
    return back_from_won(won, rates, f"goal {goal.name!r}")


def back_from_won(
    won: int, rates: Mapping[RateName, float], what: str = "the plan"
) -> dict[Stage, int]:
    """Target per stage, top to bottom, for ``won`` closes: each stage the
    one below divided by its rate, rounded up to whole records."""
    targets: dict[Stage, int] = {"won": won}
    below = won
    for stage in reversed(STAGES[:-1]):
        rate = rates.get(RATE_FROM[stage])
        if rate is None and stage == "visit":
            break
        if rate is None or rate <= 0:
            raise ValueError(f"{what}: no positive {RATE_FROM[stage]} rate to plan with")
        below = targets[stage] = ceil_count(below / rate)
    return {stage: targets[stage] for stage in STAGES if stage in targets}
