"""Budget and capacity: what a plan costs against the budget, the records
each team must handle against its capacity, and the other way round, the
revenue a budget or a capacity can reach (docs/plan.md).

Backward, volumes are the plan's targets (rounded up); forward, each stage
is the starting volume times the rates down to it, rounded down: what a
budget buys is whole records, and a forward plan never promises a record
more than the rates give.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from monitor.config.plan import PlanCosts
from monitor.interfaces import RATE_FROM, STAGES, RateName, Stage
from monitor.judge.funnel import floor_count

#: The average month, for periods that are not whole calendar months.
DAYS_PER_MONTH = 365.25 / 12


def period_months(start: date, end: date) -> float:
    """Months in ``[start, end)``: whole calendar months as such (a quarter
    is 3), any other span in average months."""
    if start.day == 1 and end.day == 1:
        return float((end.year - start.year) * 12 + end.month - start.month)
    return (end - start).days / DAYS_PER_MONTH


@dataclass(frozen=True, slots=True)
class SpendLine:
    stage: Stage
    volume: int
    unit_cost: float

    @property
    def spend(self) -> float:
        return self.volume * self.unit_cost

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "volume": self.volume,
            "unit_cost": self.unit_cost,
            "spend": round(self.spend, 2),
        }


@dataclass(frozen=True, slots=True)
class Spend:
    """The spend a plan needs: per-record costs of its volumes plus the
    monthly spend over the period, against the budget when there is one."""

    lines: tuple[SpendLine, ...]
    per_month: float | None
    months: float
    budget: float | None

    @property
    def fixed(self) -> float:
        return (self.per_month or 0.0) * self.months

    @property
    def total(self) -> float:
        return sum(line.spend for line in self.lines) + self.fixed

    @property
    def over(self) -> float | None:
        """How much more than the budget the plan needs (negative: left over)."""
        return None if self.budget is None else self.total - self.budget

    def to_dict(self) -> dict[str, object]:
        over = self.over
        return {
            "lines": [line.to_dict() for line in self.lines],
            "per_month": self.per_month,
            "months": round(self.months, 4),
            "fixed": round(self.fixed, 2),
            "total": round(self.total, 2),
            "budget": self.budget,
            "over": None if over is None else round(over, 2),
        }


@dataclass(frozen=True, slots=True)
class CapacityLine:
    """A stage's volume against what its team can handle in the period."""

    stage: Stage
    per_month: int
    months: float
    needed: int

    @property
    def available(self) -> int:
        return floor_count(self.per_month * self.months)

    @property
    def over(self) -> int:
        return self.needed - self.available

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "per_month": self.per_month,
            "months": round(self.months, 4),
            "available": self.available,
            "needed": self.needed,
            "over": self.over,
        }


def spend_needed(costs: PlanCosts, targets: Mapping[Stage, int], months: float) -> Spend | None:
    """What the plan's volumes cost; None when the goal states no cost."""
    if not costs.cost and costs.spend_per_month is None:
        return None
    lines = tuple(
        SpendLine(stage, targets[stage], costs.cost[stage])
        for stage in STAGES
        if stage in costs.cost and stage in targets
    )
    return Spend(lines, costs.spend_per_month, months, costs.budget)


def capacity_needed(
    costs: PlanCosts, targets: Mapping[Stage, int], months: float
) -> tuple[CapacityLine, ...]:
    return tuple(
        CapacityLine(stage, costs.capacity[stage], months, targets[stage])
        for stage in STAGES
        if stage in costs.capacity and stage in targets
    )


@dataclass(frozen=True, slots=True)
class Reach:
    """How far one limit goes: ``volume`` records of ``stage`` (what the
    budget buys, or what the team can handle), and what they become down
    the funnel. ``revenue`` is None without a deal size."""

    limit: Literal["budget", "capacity"]
    stage: Stage
    volume: int
    volumes: dict[Stage, int]
    revenue: float | None

    @property
    def won(self) -> int:
        return self.volumes["won"]

    def to_dict(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "stage": self.stage,
            "volume": self.volume,
            "stages": [{"stage": s, "volume": v} for s, v in self.volumes.items()],
            "won": self.won,
            "revenue": None if self.revenue is None else round(self.revenue, 2),
        }


def forward(stage: Stage, volume: int, rates: Mapping[RateName, float]) -> dict[Stage, int]:
    """``volume`` records of ``stage`` and what they become at each stage
    below, each rounded down from the exact product of the rates."""
    out: dict[Stage, int] = {stage: volume}
    exact = float(volume)
    for upper in STAGES[STAGES.index(stage) : -1]:
        exact *= rates[RATE_FROM[upper]]
        out[STAGES[STAGES.index(upper) + 1]] = floor_count(exact)
    return out


def reach(
    costs: PlanCosts,
    rates: Mapping[RateName, float],
    months: float,
    deal_size: float | None,
) -> tuple[Reach, ...]:
    """What the budget and each capacity can reach, each on its own."""
    found = []
    bought = _bought(costs, rates, months)
    if bought is not None:
        found.append(_reach("budget", *bought, rates, deal_size))
    for stage, per_month in costs.capacity.items():
        if stage != "visit" or "visit_to_lead" in rates:
            volume = floor_count(per_month * months)
            found.append(_reach("capacity", stage, volume, rates, deal_size))
    return tuple(sorted(found, key=lambda r: STAGES.index(r.stage)))


def binding(reaches: tuple[Reach, ...]) -> Reach | None:
    """The limit that reaches the fewest closes: the one the plan must fit."""
    return min(reaches, key=lambda r: r.won, default=None)


def _bought(
    costs: PlanCosts, rates: Mapping[RateName, float], months: float
) -> tuple[Stage, int] | None:
    """The records of the top costed stage the budget pays for, each with
    the cost of what it becomes further down; None without a budget or a
    per-record cost."""
    priced = [s for s in STAGES if s in costs.cost and (s != "visit" or "visit_to_lead" in rates)]
    if costs.budget is None or not priced:
        return None
    top = priced[0]
    unit, share = 0.0, 1.0
    for stage in STAGES[STAGES.index(top) :]:
        unit += share * costs.cost.get(stage, 0.0)
        if stage in RATE_FROM:
            share *= rates[RATE_FROM[stage]]
    left = max(0.0, costs.budget - (costs.spend_per_month or 0.0) * months)
    records = left / unit if unit > 0 else math.inf
    if not math.isfinite(records):  # records this cheap: the budget limits nothing
        return None
    return top, floor_count(records)


def _reach(
    limit: Literal["budget", "capacity"],
    stage: Stage,
    volume: int,
    rates: Mapping[RateName, float],
    deal_size: float | None,
) -> Reach:
    volumes = forward(stage, volume, rates)
    revenue = None if deal_size is None else volumes["won"] * deal_size
    return Reach(limit, stage, volume, volumes, revenue)
