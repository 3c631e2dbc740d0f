"""The lag model: how long each person transition takes, and the cohorts
it lets the reconciler compare fairly (docs/design.md, "Lags and the
same-age comparison").

A conversion rate read off young cohorts is low only because they have
not had time: SQLs of last week have not closed yet, whatever the rate. So
each transition's conversion-by-age curve is learned from its cohort table
(``CohortTable``) with the Kaplan–Meier estimator, where a cohort still
open is *censored* at its age rather than counted as failing. The curve
then says which cohorts are old enough to plan a rate on (``maturity``),
and what share of its eventual conversions a cohort of a given age should
already show (``same_age``), so a recent cohort is compared with the plan
at its own age, not with cohorts that finished long ago.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.facts import Cohort, CohortTable
from monitor.judge.derived import per_table
from monitor.judge.periods import WorkingDays
from monitor.judge.stats import beta_binomial_lower_tail

#: The curve stops where fewer persons than this are still watched: the
#: tail of a handful of old cohorts says more about chance than about lag.
MIN_AT_RISK = 20
#: Maturity of a transition whose lag is not learned yet (too few
#: conversions): old enough for most B2B sales cycles.
FALLBACK_MATURITY_DAYS = 30
#: ``recent_days: auto`` is the 90th-percentile lag within these bounds: at
#: least two weeks of cohorts to judge, at most a quarter back.
RECENT_DAYS_BOUNDS = (14, 90)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class LagCurve:
    """One transition's conversion-by-age curve: ``cumulative[k]`` is the
    share of persons that converted within ``k`` days of entering the upper
    stage (lag 0: the same local day), flat beyond its end. ``conversions``:
    how many conversions it was learned from."""

    cumulative: tuple[float, ...]
    conversions: int

    @property
    def plateau(self) -> float:
        """The share that converts at all: where the curve levels off."""
        return self.cumulative[-1]

    @property
    def median(self) -> int:
        """Days by which half of the eventual conversions have happened."""
        return self.quantile(0.5)

    @property
    def p90(self) -> int:
        return self.quantile(0.9)

    def quantile(self, share: float) -> int:
        """The smallest lag by which ``share`` of the eventual conversions
        have happened."""
        goal = share * self.plateau
        return next(k for k, f in enumerate(self.cumulative) if f >= goal - 1e-12)

    def share_by(self, lag: int) -> float:
        """The share of the eventual conversions that happen within ``lag``
        days (0 below lag 0, 1 beyond the curve)."""
        if lag < 0 or self.plateau <= 0:
            return 0.0
        return self.cumulative[min(lag, len(self.cumulative) - 1)] / self.plateau

    def to_dict(self) -> dict[str, object]:
        return {
            "median_days": self.median,
            "p90_days": self.p90,
            "plateau": round(self.plateau, 4),
            "conversions": self.conversions,
        }


def learn_curve(
    table: CohortTable, min_conversions: int, working_days: WorkingDays | None = None
) -> LagCurve | None:
    """The Kaplan–Meier conversion-by-age curve of ``table``, or None with
    fewer than ``min_conversions`` conversions to learn it from; with
    ``working_days``, over working days (a conversion's lag is the working
    days after the entry day up to it), as ``same_age`` reads it there.

    At lag ``k`` the persons at risk are those of cohorts watched for more
    than ``k`` days that had not converted before ``k``; the hazard is the
    share of them converting at ``k``, and the curve is one minus the
    product of the survivals.
    """
    if not table.entered:
        return None
    if working_days is None:
        ages = {day: table.age(day) for day in table.entered}
    else:
        between = _working_days_between(table, working_days)
        # A cohort's age: the working days after its entry day, plus one.
        ages = {day: between(day + _DAY, table.today) + 1 for day in table.entered}
    span = max(ages.values())
    entered_older = [0] * (span + 2)  # persons in cohorts older than k
    for day, n in table.entered.items():
        entered_older[ages[day] - 1] += n
    for k in range(span - 1, -1, -1):
        entered_older[k] += entered_older[k + 1]
    events = [0] * (span + 1)
    by_day: dict[date, int] = {}
    for (day, lag), n in table.converted.items():
        if working_days is not None:
            lag = between(day + _DAY, day + timedelta(days=lag + 1))
        events[lag] += n
        by_day[day] = by_day.get(day, 0) + n
    # Converted before k, in cohorts still watched at k: a conversion at
    # lag j counts from j + 1 until its cohort's age.
    gone = [0, *events]
    for day, n in by_day.items():
        age = ages.get(day)
        if age is None:
            age = table.age(day) if working_days is None else between(day + _DAY, table.today) + 1
        gone[age] -= n
    if sum(events) < min_conversions:
        return None
    cumulative, survival, converted_before = [], 1.0, 0
    for k in range(span):
        converted_before += gone[k]
        at_risk = entered_older[k] - converted_before
        if at_risk < MIN_AT_RISK:
            break
        survival *= 1 - events[k] / at_risk
        cumulative.append(1 - survival)
    if not cumulative or cumulative[-1] <= 0:
        return None
    return LagCurve(tuple(cumulative), sum(events))


#: ``learn_curve``, once per table, threshold and calendar.
learn = per_table(learn_curve)


def _working_days_between(
    table: CohortTable, working_days: WorkingDays
) -> Callable[[date, date], int]:
    """``working_days.business_days_between``, as the difference of two
    counts from the table's first day, each counted once per date:
    ``learn_curve`` asks for it once or twice per (day, lag) pair, tens of
    thousands of them at a busy CRM's volume."""
    first = min(table.today, *table.entered, *(day for day, _ in table.converted))
    counts: dict[date, int] = {}

    def before(day: date) -> int:
        count = counts.get(day)
        if count is None:
            count = counts[day] = working_days.business_days_between(first, day)
        return count

    def between(start: date, end: date) -> int:
        return before(end) - before(start) if end > start else 0

    return between


def maturity_days(setting: int | str, curve: LagCurve | None) -> int:
    """How old a cohort must be to plan a rate on: as configured, else the
    learned 90th-percentile lag."""
    if isinstance(setting, int):
        return setting
    return curve.p90 if curve is not None else FALLBACK_MATURITY_DAYS


def recent_days(setting: int | str, curve: LagCurve) -> int:
    """How far back the recent cohort conversion drift judges reaches."""
    if isinstance(setting, int):
        return setting
    low, high = RECENT_DAYS_BOUNDS
    return min(high, max(low, curve.p90))


def visit_recent_days(setting: int | str) -> int:
    """The recent window of the visit ratio: visits convert the same day,
    so ``auto`` is the shortest recent window."""
    return setting if isinstance(setting, int) else RECENT_DAYS_BOUNDS[0]


@per_table
def matured(
    table: CohortTable,
    maturity: int,
    curve: LagCurve | None,
    first: date | None = None,
    end: date | None = None,
) -> Cohort:
    """The cohorts of ``table`` at least ``maturity`` days old (and, when
    given, of the days ``[first, end)``), with their conversions so far
    and, given a curve, their exposure: a cohort just past maturity has had
    90% of its conversions, and counting it as finished would plan on a
    rate a tenth too low."""
    last = table.today - timedelta(days=maturity)
    if end is not None:
        last = min(last, end)
    entered = converted = 0
    exposure = 0.0
    for day, n in table.entered.items():
        if day < last and (first is None or day >= first):
            entered += n
            if curve is not None:
                exposure += n * curve.share_by(table.age(day) - 1)
    for (day, _), n in table.converted.items():
        if day < last and (first is None or day >= first):
            converted += n
    return Cohort(entered, converted, exposure if curve is not None else None)


@dataclass(frozen=True, slots=True)
class SameAge:
    """The recent cohort (persons that entered the upper stage on the local
    days ``[first, last)``) against the plan at its age: ``converted`` so
    far where the planned rate and the lag curve expect ``expected``.
    ``p_value``: the chance of a count this low or lower if the plan held."""

    first: date
    last: date
    entered: int
    converted: int
    expected: float
    planned: float
    p_value: float

    @property
    def ratio(self) -> float:
        """Observed over expected: 1 on plan, 0.5 at half the plan."""
        return self.converted / self.expected if self.expected > 0 else math.inf

    @property
    def implied_rate(self) -> float:
        """The eventual rate the cohort is converting at so far."""
        return self.planned * self.ratio


@per_table
def same_age(
    table: CohortTable,
    curve: LagCurve,
    planned: float,
    days: int,
    relative_variance: float = 0.0,
    working_days: WorkingDays | None = None,
) -> SameAge:
    """Compare the persons that entered in the last ``days`` whole days with
    what ``planned`` and ``curve`` expect of them at their ages.
    ``relative_variance``: how uncertain ``planned`` itself is (learned on a
    sample), which the test allows for.

    With ``working_days``, a cohort's age counts the working days since it
    entered, and ``curve`` must be learned over working days too: people
    convert leads on working days, so on a Monday morning Friday's MQLs have
    had no day to convert in, where calendar days would expect three days'
    worth of conversions of them and report a drop every Monday."""
    first = table.today - timedelta(days=days)
    entered = converted = 0
    expected = 0.0
    for day, n in table.entered.items():
        if day >= first:
            entered += n
            if working_days is None:
                lag = table.age(day) - 1
            else:
                lag = working_days.business_days_between(day + timedelta(days=1), table.today)
            expected += n * planned * curve.share_by(lag)
    for (day, _), n in table.converted.items():
        if day >= first:
            converted += n
    p_value = (
        beta_binomial_lower_tail(
            converted, entered, expected / entered, relative_variance, mid=True
        )
        if entered
        else 1.0
    )
    return SameAge(first, table.today, entered, converted, expected, planned, p_value)
