"""The pipeline forecast: where each stage will stand at the period's end,
from what is already in the funnel rather than from the pace so far
(docs/signals.md, "The pipeline forecast").

The run-rate projection (``actual / elapsed share``) assumes the rest of
the period repeats its first part. The pipeline knows more: the SQLs
already open will close on the lag curve of SQL→won whatever happened last
week, and this month's closes were mostly created as SQLs weeks ago. So per
stage the forecast is

    what has happened so far
    + open records upstream × the chance they convert before the period
      ends, given how long they have been open
    + expected new leads × the chance they get down to the stage in the
      time left,

with the chances read off the learned lag curves (``lags.LagCurve``), and
an 80% interval. Three refinements, each measured on the generated months
(docs/signals.md): a weekday of entry with enough conversions of its own
gets its own curve (a Friday lead waits over the weekend); the recent
cohort, the one conversion drift judges, sets the level new entries and
recent open records convert at when it clearly departs from the curve;
and the interval is widened for the estimates the forecast rests on.

Everything is counted in whole local days, as the cohort tables are: day 0
is ``today`` (the local date of ``as_of``), which the tables do not cover
yet, so today's arrivals are modelled like any future day's and only the
part of today still to come is added to what today has already brought.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

from monitor.facts import CohortTable, FunnelFacts
from monitor.interfaces import RATE_STAGES, RECORD_STAGES, RateName, RecordStage, Stage
from monitor.judge import lags
from monitor.judge.derived import per_table
from monitor.judge.format import rate_label, stage_noun
from monitor.judge.lags import LagCurve, learn_curve
from monitor.judge.stats import poisson_quantile

#: The funnel the forecast walks: each person transition, top to bottom,
#: with the stage it feeds.
CHAIN: tuple[tuple[RateName, RecordStage], ...] = (
    ("lead_to_mql", "mql"),
    ("mql_to_sql", "sql"),
    ("sql_to_won", "won"),
)
#: New leads per day are the mean of the same weekday over this many
#: trailing whole days (four of each weekday).
NEW_LEAD_DAYS = 28
#: A weekday of entry gets its own lag curve from this many conversions of
#: its own; below, the transition's pooled curve (a curve from a few dozen
#: conversions is mostly noise in its tail).
WEEKDAY_CONVERSIONS = 100
#: The recent cohort moves the level new entries convert at only when it
#: deviates from the curve by more than this many chance deviations.
LEVEL_Z = 2.0
#: The interval: from the 10th to the 90th percentile.
INTERVAL = (0.10, 0.90)


@dataclass(frozen=True, slots=True)
class Forecast:
    """A stage's count at the period's end: ``expected``, and the 80%
    interval ``[low, high]`` around it, in whole records."""

    expected: float
    low: int
    high: int

    def to_dict(self) -> dict[str, object]:
        return {"expected": round(self.expected, 2), "low": self.low, "high": self.high}


def missing_curve(curves: Mapping[RateName, LagCurve]) -> RateName | None:
    """The highest transition without a learned lag curve: it and every
    stage below it get no pipeline forecast."""
    return next((rate for rate, _ in CHAIN if rate not in curves), None)


def gap_note(
    facts: FunnelFacts,
    curves: Mapping[RateName, LagCurve],
    forecasts: Mapping[Stage, Forecast],
    min_conversions: int,
) -> str | None:
    """Why the record stages missing from ``forecasts`` have no pipeline
    forecast, in words; None when none is missing."""
    missing = [stage for stage in RECORD_STAGES if stage not in forecasts]
    if not missing:
        return None
    rate = missing_curve(curves)
    if "lead" in missing or rate is None:
        why = "no lead history to learn the inflow from"
    else:
        upper, lower = RATE_STAGES[rate]
        label = rate_label(upper, lower)
        if rate in facts.tables:
            why = f"the {label} lag is not learned yet (fewer than {min_conversions} conversions)"
        else:
            why = f"the CRM does not link {stage_noun(upper)} to {stage_noun(lower)}"
    nouns = ", ".join(stage_noun(stage) for stage in missing)
    return f"no pipeline forecast for {nouns}: {why}"


def pipeline(
    facts: FunnelFacts,
    curves: Mapping[RateName, LagCurve],
    today_share: float = 0.0,
    min_conversions: int = 30,
    recent_days: int | str = "auto",
) -> dict[Stage, Forecast]:
    """The pipeline forecast of ``lead``, ``mql``, ``sql`` and ``won`` at
    the end of ``facts.period``. Once the period is over, its actuals.
    Before, a stage is left out when a transition above it has no learned
    curve, and all are when there is no lead table to learn the inflow
    from. ``today_share``: how much of today's arrivals have already
    happened (the share of today's working hours gone, or of the day), so
    only the rest of today is added to today's actual. ``min_conversions``:
    the fewest conversions a lag curve is learned from; ``recent_days``: the
    recent cohort whose conversions so far set the level new entries and
    recent open records convert at (``drift.recent_days``, as for
    conversion drift).
    """
    period = facts.period
    today = facts.as_of.astimezone(period.starts_at.tzinfo).date()
    horizon = (period.end - today).days  # days 0 .. horizon-1 are today and after
    if horizon <= 0:
        return {stage: _settled(facts, stage) for stage in RECORD_STAGES}
    leads = facts.tables.get("lead_to_mql")
    if leads is None:
        return {}
    first = max(0, (period.start - today).days)  # the first modelled day in the period
    rest_of_today = 1.0 - min(1.0, max(0.0, today_share))

    # The flows arriving at the current stage on each day, by origin: new
    # leads, or the open records of one stage. Each origin rests on the
    # inflow estimate and the curves of the transitions it has crossed.
    flows: dict[str, list[float]] = {"new": _new_leads(leads, horizon)}
    rests_on: dict[str, set[str]] = {"new": {"new"}}
    relative_variance = {"new": 1 / max(1, _recent_leads(leads))}
    out: dict[Stage, Forecast] = {}
    out["lead"] = _forecast(facts, "lead", flows, rests_on, relative_variance, first, rest_of_today)
    upper: RecordStage = "lead"
    for rate, lower in CHAIN:
        curve, table = curves.get(rate), facts.tables.get(rate)
        if curve is None or table is None:
            break
        week = _by_weekday(table, curve, max(min_conversions, WEEKDAY_CONVERSIONS))
        recent = lags.recent_days(recent_days, curve)
        level = _recent_level(table, week, recent, LEVEL_Z)
        steps = [[level.ratio * p for p in _pmf(c)] for c in week]
        flows = {origin: _convolve(flow, steps, today) for origin, flow in flows.items()}
        flows[upper] = list(_open_conversions(table, week, horizon, level.ratio, recent))
        rests_on[upper] = set()
        for estimates in rests_on.values():
            estimates.add(rate)
        relative_variance[rate] = 1 / max(1, curve.conversions) + level.variance
        out[lower] = _forecast(
            facts, lower, flows, rests_on, relative_variance, first, rest_of_today
        )
        upper = lower
    return out


def _settled(facts: FunnelFacts, stage: RecordStage) -> Forecast:
    actual = facts.actual(stage)
    return Forecast(float(actual), actual, actual)


def _forecast(
    facts: FunnelFacts,
    stage: RecordStage,
    flows: Mapping[str, Sequence[float]],
    rests_on: Mapping[str, set[str]],
    relative_variance: Mapping[str, float],
    first: int,
    rest_of_today: float,
) -> Forecast:
    """What has arrived, plus the flows still to come inside the period.

    The count still to come is a sum of many rare, independent conversions:
    Poisson, with the flows' total as its mean. The estimates the flows
    rest on (the inflow of new leads, each curve's level) are counted from
    a finite history, so each adds its relative variance (one over the
    count it was learned from, as for a Poisson count) times the square of
    the part of the mean that rests on it; the Poisson interval is widened
    by the square root of the ratio of the total variance to the Poisson
    one.
    """
    done = facts.actual(stage)
    horizon = len(next(iter(flows.values())))
    weights = [0.0 if j < first else 1.0 for j in range(horizon)]
    if first == 0 and horizon:
        weights[0] = rest_of_today
    by_origin = {
        origin: math.fsum(w * x for w, x in zip(weights, flow, strict=True))
        for origin, flow in flows.items()
    }
    mean = math.fsum(by_origin.values())
    if mean <= 0:
        return Forecast(float(done), done, done)
    extra = math.fsum(
        share
        * math.fsum(part for origin, part in by_origin.items() if key in rests_on[origin]) ** 2
        for key, share in relative_variance.items()
    )
    widen = math.sqrt((mean + extra) / mean)
    low_q, high_q = (poisson_quantile(mean, share) for share in INTERVAL)
    low = done + mean - (mean - low_q) * widen
    high = done + mean + (high_q - mean) * widen
    return Forecast(done + mean, max(done, _whole(low)), max(done, _whole(high)))


def _whole(x: float) -> int:
    """The nearest whole record (halves up)."""
    return math.floor(x + 0.5)


def _pmf(curve: LagCurve) -> list[float]:
    """The share of the upper stage converting at each lag: the curve's
    steps (its last value holds from there on: no conversions after)."""
    cumulative = curve.cumulative
    return [max(0.0, cumulative[0])] + [max(0.0, b - a) for a, b in pairwise(cumulative)]


@per_table
def _by_weekday(table: CohortTable, pooled: LagCurve, needed: int) -> tuple[LagCurve, ...]:
    """A lag curve per weekday of entry into the upper stage, Monday first;
    the transition's pooled curve for a weekday with fewer than ``needed``
    conversions of its own. Conversions happen on working days: a lead of
    Friday evening waits over the weekend that a lead of Tuesday does not,
    so the two convert on different days after entering, and a pooled curve
    would land part of every weekday's conversions on Saturdays."""
    entered: list[dict[date, int]] = [{} for _ in range(7)]
    converted: list[dict[tuple[date, int], int]] = [{} for _ in range(7)]
    for day, n in table.entered.items():
        entered[day.weekday()][day] = n
    for (day, lag), n in table.converted.items():
        converted[day.weekday()][day, lag] = n
    week = []
    for weekday in range(7):
        if sum(converted[weekday].values()) < needed:
            week.append(pooled)
            continue
        own = learn_curve(CohortTable(table.today, entered[weekday], converted[weekday]), needed)
        week.append(own or pooled)
    return tuple(week)


def _convolve(flow: Sequence[float], steps: Sequence[Sequence[float]], today: date) -> list[float]:
    """What arrives below on each day from ``flow`` entering above on the
    days from ``today``, on the lag pmf of each entry day's weekday."""
    horizon = len(flow)
    out = [0.0] * horizon
    weekday = today.weekday()
    for i, x in enumerate(flow):
        if x <= 0:
            continue
        for k, p in enumerate(steps[(weekday + i) % 7][: horizon - i]):
            out[i + k] += x * p
    return out


@dataclass(frozen=True, slots=True)
class _Level:
    """How the recent cohort converts against its curve (1: as the curve
    says), and the relative variance that estimate adds."""

    ratio: float
    variance: float


@per_table
def _recent_level(table: CohortTable, week: Sequence[LagCurve], days: int, z: float) -> _Level:
    """The level of the cohorts that entered in the last ``days`` whole
    days: a conversion rate that has fallen shows in them before any curve
    learned over the whole window follows.

    Their conversions so far ``O`` against the curve's expectation at their
    ages ``E`` deviate by ``d = O/E - 1``, which chance alone makes about
    ``1/sqrt(E)`` (a Poisson count). The level is ``1 + w d`` with
    ``w = max(0, 1 - (z / sqrt(E) / d)^2)``: nothing within ``z``
    (``LEVEL_Z``) chance deviations, most of it once the deviation is several
    times that, and no jump in between. Capped so no weekday's curve
    levels off above 1.
    """
    first = table.today - timedelta(days=days)
    expected = 0.0
    for day, n in table.entered.items():
        if day >= first:
            cumulative = week[day.weekday()].cumulative
            expected += n * cumulative[min(table.age(day), len(cumulative)) - 1]
    observed = sum(n for (day, _), n in table.converted.items() if day >= first)
    if expected <= 0 or observed == expected:
        return _Level(1.0, 0.0)
    deviation = observed / expected - 1
    weight = max(0.0, 1 - z**2 / (expected * deviation**2))
    top = max(curve.plateau for curve in week)
    return _Level(min(1 + weight * deviation, 1 / top), weight / max(1, observed))


@per_table
def _open_conversions(
    table: CohortTable, week: Sequence[LagCurve], horizon: int, level: float, recent: int
) -> list[float]:
    """The expected conversions, on each day from today, of the records
    still open in ``table``: a cohort aged ``A`` days has been watched at
    lags ``0 .. A-1``, and converts at lag ``A + j`` (day ``j`` from today)
    with its weekday's curve's step there over its share still
    unconverted at ``A - 1``; both scaled by the recent ``level`` for the
    cohorts of the last ``recent`` days."""
    converted: dict[date, int] = {}
    for (day, _), n in table.converted.items():
        converted[day] = converted.get(day, 0) + n
    steps = [_pmf(curve) for curve in week]
    out = [0.0] * horizon
    for day, entered in table.entered.items():
        still_open = entered - converted.get(day, 0)
        age = table.age(day)
        curve, step = week[day.weekday()], steps[day.weekday()]
        if still_open <= 0 or age < 1 or age >= len(step):
            continue
        scale = level if age <= recent else 1.0
        left = 1.0 - scale * curve.cumulative[age - 1]
        if left <= 0:
            continue
        scale *= still_open / left
        for j, p in enumerate(step[age : age + horizon]):
            out[j] += scale * p
    return out


def _new_leads(leads: CohortTable, horizon: int) -> list[float]:
    """Leads expected on each day from today: the mean of the same weekday
    over the last ``NEW_LEAD_DAYS`` whole days (fewer when the history is
    younger), so a funnel without weekend leads gets none on weekends."""
    first = _window_start(leads)
    totals, days = [0.0] * 7, [0] * 7
    day = first
    while day < leads.today:
        totals[day.weekday()] += leads.entered.get(day, 0)
        days[day.weekday()] += 1
        day += timedelta(days=1)
    if not any(days):
        return [0.0] * horizon
    overall = sum(totals) / sum(days)  # for a weekday the history has not seen yet
    means = [t / n if n else overall for t, n in zip(totals, days, strict=True)]
    return [means[(leads.today + timedelta(days=j)).weekday()] for j in range(horizon)]


def _recent_leads(leads: CohortTable) -> int:
    """How many leads the inflow estimate was counted from."""
    first = _window_start(leads)
    return sum(n for day, n in leads.entered.items() if day >= first)


def _window_start(leads: CohortTable) -> date:
    first = leads.today - timedelta(days=NEW_LEAD_DAYS)
    oldest = min(leads.entered, default=leads.today)
    return max(first, oldest)
