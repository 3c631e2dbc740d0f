"""A goal broken down by a CRM property (docs/design.md, "Breakdown by
property"): per value its volumes, conversions and share of the goal; the
values that convert far below the rest; and marketing's revenue line.

A value is reported as converting below the rest when all of these hold:
- both it and the rest have at least ``auto_rates.min_sample`` persons in
  the transition's cohorts (the trailing auto-rate window, conversions
  counted up to today, so both sides are equally young);
- it carries at least ``MIN_VOLUME_SHARE`` of those persons, so a small
  value's noise is not a finding and a finding is worth acting on;
- its rate is below the rest's by more than ``drift.conversion_tolerance``
  (the same relative tolerance conversion drift uses);
- a one-sided two-proportion z-test (pooled) puts the difference beyond
  chance at ``drift.conversion_confidence``, Bonferroni-corrected for the
  number of values and rates compared on the property (so a property with
  many values does not raise more false alarms than one with two).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from monitor.config.models import Goal
from monitor.display import shown_name
from monitor.facts import FunnelFacts, Period, ValueFacts
from monitor.findings import Finding
from monitor.interfaces import RATE_STAGES, RECORD_STAGES, RateName, RecordStage, Severity
from monitor.judge import format as fmt
from monitor.judge.format import amount, count, percent

#: The smallest share of a transition's cohort a value must carry to be
#: reported as converting below the rest.
MIN_VOLUME_SHARE = 0.10
#: What ``status`` calls records without the property.
NO_VALUE = "(none)"


@dataclass(frozen=True, slots=True)
class ValueLine:
    """One value: its period volumes and revenue, its cohort rates, its
    share of each stage's volume and of the goal."""

    value: str
    counts: Mapping[RecordStage, int]
    revenue: float
    rates: Mapping[RateName, float | None]
    shares: Mapping[str, float | None]

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            **{stage: self.counts[stage] for stage in RECORD_STAGES},
            "revenue": round(self.revenue, 2),
            "rates": {name: _round(rate) for name, rate in self.rates.items()},
            "share": {name: _round(share) for name, share in self.shares.items()},
        }


@dataclass(frozen=True, slots=True)
class Gap:
    """A value converting below the rest beyond chance."""

    attr: str
    value: str
    rate: RateName
    value_rate: float
    rest_rate: float
    entered: int
    rest_entered: int
    volume_share: float
    p_value: float
    missed: int


@dataclass(frozen=True, slots=True)
class MarketingLine:
    """Won revenue (closes for a closes goal) from marketing's sources
    against its share of the goal."""

    prop: str
    values: tuple[str, ...]
    measure: str  # revenue | closes
    actual: float
    total: float
    target: float | None

    @property
    def attainment(self) -> float | None:
        return self.actual / self.target if self.target else None

    def sentence(self) -> str:
        """``Marketing: 771,270 won revenue from lead_source paid_social,
        webinar, seo (58.9% of won) against 1,260,000 (60% of the goal):
        61.2%.``"""
        what = "won revenue" if self.measure == "revenue" else "won deals"
        shown = amount(self.actual) if self.measure == "revenue" else count(self.actual)
        values = ", ".join(shown_name(v) for v in self.values)
        text = f"Marketing: {shown} {what} from {self.prop} {values}"
        if self.total:
            text += f" ({percent(self.actual / self.total)} of won)"
        if self.target is not None:
            goal = amount(self.target) if self.measure == "revenue" else count(self.target)
            text += f" against {goal} of the goal: {percent(self.attainment or 0.0)}"
        return text + "."

    def to_dict(self) -> dict[str, object]:
        return {
            "property": self.prop,
            "values": list(self.values),
            "measure": self.measure,
            "actual": round(self.actual, 2),
            "share_of_won": _round(self.actual / self.total if self.total else None),
            "target": None if self.target is None else round(self.target, 2),
            "attainment": _round(self.attainment),
        }


def lines(goal: Goal, values: Sequence[ValueFacts]) -> list[ValueLine]:
    """Every value of one property, largest lead volume first."""
    totals = {stage: sum(v.counts[stage] for v in values) for stage in RECORD_STAGES}
    revenue = sum(v.revenue for v in values)
    out = []
    for v in values:
        shares: dict[str, float | None] = {
            stage: v.counts[stage] / totals[stage] if totals[stage] else None
            for stage in RECORD_STAGES
        }
        shares["revenue"] = v.revenue / revenue if revenue else None
        if goal.revenue is not None:
            shares["goal"] = v.revenue / goal.revenue
        else:
            shares["goal"] = v.counts["won"] / goal.closes if goal.closes else None
        rates = {name: cohort.rate for name, cohort in v.cohorts.items()}
        out.append(ValueLine(v.value or NO_VALUE, v.counts, v.revenue, rates, shares))
    return out


def marketing(goal: Goal, facts: FunnelFacts) -> MarketingLine | None:
    chosen = goal.marketing_sources
    if chosen is None or chosen.property not in facts.breakdown:
        return None
    values = facts.breakdown[chosen.property]
    ours = [v for v in values if v.value in chosen.values]
    share = goal.marketing_share
    if goal.revenue is not None:
        actual, total = sum(v.revenue for v in ours), sum(v.revenue for v in values)
        target = goal.revenue * share if share is not None else None
        measure = "revenue"
    else:
        actual = sum(v.counts["won"] for v in ours)
        total = sum(v.counts["won"] for v in values)
        target = (goal.closes or 0) * share if share is not None else None
        measure = "closes"
    return MarketingLine(chosen.property, chosen.values, measure, actual, total, target)


def compared(goal: Goal, facts: FunnelFacts) -> list[Gap]:
    """Every value of the goal's breakdown properties large enough to be
    compared with the rest, at each rate."""
    out = []
    for attr in goal.breakdown:
        values = facts.breakdown.get(attr, ())
        out += [
            gap
            for rate in RATE_STAGES
            for v in values
            if v.value and (gap := _candidate(goal, attr, v, values, rate)) is not None
        ]
    return out


def gaps(goal: Goal, tested: Sequence[Gap]) -> list[Gap]:
    """The compared values that convert below the rest (the rule in the
    module docstring)."""
    # Every tested value and rate is one more chance of a false alarm: the
    # Bonferroni share of the error rate keeps each property's at it.
    per_attr = Counter(g.attr for g in tested)
    tolerance = goal.drift.conversion_tolerance
    return [
        g
        for g in tested
        if g.value_rate < g.rest_rate * (1 - tolerance)
        and g.p_value < (1 - goal.drift.conversion_confidence) / per_attr[g.attr]
    ]


def held(goal: Goal, period: Period, tested: Sequence[Gap], margin: float) -> set[str]:
    """Fingerprints of the compared values still below the rest by more
    than the tolerance less ``margin``: a firing alert there stays firing,
    so one evaluation's noise does not resolve it."""
    line = goal.drift.conversion_tolerance - margin
    return {
        finding(goal, period, g).fingerprint
        for g in tested
        if g.value_rate < g.rest_rate * min(1.0, 1 - line)
    }


def _candidate(
    goal: Goal, attr: str, value: ValueFacts, values: Sequence[ValueFacts], rate: RateName
) -> Gap | None:
    """The comparison of one value with the rest, when both are large
    enough to judge."""
    if rate not in value.cohorts:
        return None
    n1, k1 = value.cohorts[rate].entered, value.cohorts[rate].converted
    n2 = sum(v.cohorts[rate].entered for v in values if v is not value)
    k2 = sum(v.cohorts[rate].converted for v in values if v is not value)
    minimum = goal.auto_rates.min_sample
    if n1 < minimum or n2 < minimum or n1 / (n1 + n2) < MIN_VOLUME_SHARE:
        return None
    p1, p2 = k1 / n1, k2 / n2
    p_value = two_proportion_p(k1, n1, k2, n2)
    missed = max(0, round(n1 * p2) - k1)
    return Gap(attr, value.value, rate, p1, p2, n1, n2, n1 / (n1 + n2), p_value, missed)


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided p-value that the first rate is below the second: the
    pooled two-proportion z-test."""
    pooled = (k1 + k2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    return NormalDist().cdf((k1 / n1 - k2 / n2) / spread)


def finding(goal: Goal, period: Period, gap: Gap) -> Finding:
    upper, lower = RATE_STAGES[gap.rate]
    up_noun, low_noun = fmt.stage_noun(upper), fmt.stage_noun(lower)
    value = shown_name(gap.value)
    text = (
        f"{up_noun} with {gap.attr} {value} convert to {low_noun} at "
        f"{fmt.percent(gap.value_rate)} against {fmt.percent(gap.rest_rate)} for the rest: "
        f"{fmt.percent(gap.volume_share)} of the {fmt.stage_noun(upper, 1)} volume "
        f"({fmt.count(gap.entered)} of {fmt.count(gap.entered + gap.rest_entered)} over the "
        f"last {goal.auto_rates.window_days} days). At the rest's rate they would have brought "
        f"{fmt.count(gap.missed)} more {low_noun}."
    )
    return Finding(
        rule="quality-gap",
        subject=goal.name,
        severity=Severity.WARNING,
        title=f"{fmt.rate_label(upper, lower)} of {gap.attr} {value} far below the rest",
        text=text,
        source=goal.source,
        period=period.label,
        period_end=period.ends_at,
        stage=f"{upper}:{gap.attr}={gap.value}",
        metric=gap.value_rate / gap.rest_rate - 1 if gap.rest_rate else None,
        channel=goal.channel,
        data={
            "property": gap.attr,
            "value": gap.value,
            "rate": gap.rate,
            "value_rate": round(gap.value_rate, 4),
            "rest_rate": round(gap.rest_rate, 4),
            "entered": gap.entered,
            "rest_entered": gap.rest_entered,
            "volume_share": round(gap.volume_share, 4),
            "p_value": gap.p_value,
            "missed": gap.missed,
        },
    )


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
