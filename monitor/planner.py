"""``alignmon plan``: the plan without a database (docs/plan.md).

Backward from a revenue or closes goal to the volume each stage needs, its
spend against the budget and its volumes against capacity, as ``targets``
does; forward from the budget and each capacity to the closes and revenue
they can reach, and the goal that fits them. From a configured goal (its
``auto`` rates and deal size at their fallbacks, since no history is read)
with what-if overrides, or from the overrides alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from monitor.config.models import (
    DEFAULT_RATES,
    MAX_CLOSES,
    MAX_REVENUE,
    MIN_DEAL_SIZE,
    ExplicitPeriod,
    Goal,
    Rate,
)
from monitor.config.plan import Commitments, PlanCosts
from monitor.errors import ConfigError
from monitor.facts import DealSample
from monitor.interfaces import RATE_NAMES, STAGES, RateName, Stage
from monitor.judge import budget
from monitor.judge.budget import CapacityLine, Reach, Spend
from monitor.judge.commitments import Commitment, commitments
from monitor.judge.funnel import back_from_won, ceil_count, resolve_deal_size, resolve_rate

RateOrigin = Literal["config", "fallback", "default", "flag", "rate goal"]
PeriodName = Literal["month", "quarter", "year"]
_MONTHS: Mapping[PeriodName, float] = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class WhatIf:
    """The command line's overrides, as typed: each replaces the goal's
    value, or builds the plan on its own without a goal. ``commit`` maps a
    stage to a committed volume or a rate name to a committed rate."""

    revenue: float | None = None
    closes: int | None = None
    deal_size: float | None = None
    rates: Mapping[str, float] = field(default_factory=dict)
    cost: Mapping[str, float] = field(default_factory=dict)
    spend_per_month: float | None = None
    budget: float | None = None
    capacity: Mapping[str, float] = field(default_factory=dict)
    commit: Mapping[str, float] = field(default_factory=dict)
    period: PeriodName | None = None

    @property
    def standalone(self) -> bool:
        """Enough to plan without a configured goal: a goal or a limit."""
        return any(x is not None for x in (self.revenue, self.closes, self.budget)) or bool(
            self.capacity
        )


@dataclass(frozen=True)
class Plan:
    """One plan both ways. ``targets`` is empty without a revenue or
    closes goal; ``fits`` is the limit that reaches the fewest closes."""

    name: str
    period: str
    months: float
    revenue: float | None
    closes: int | None
    deal_size: float | None
    deal_source: str | None
    rates: dict[RateName, tuple[float, RateOrigin]]
    targets: dict[Stage, int]
    costs: PlanCosts
    commitments: tuple[Commitment, ...]
    spend: Spend | None
    capacity: tuple[CapacityLine, ...]
    reach: tuple[Reach, ...]

    @property
    def fits(self) -> Reach | None:
        return budget.binding(self.reach)

    def to_dict(self) -> dict[str, object]:
        fits = self.fits
        return {
            "name": self.name,
            "period": self.period,
            "months": round(self.months, 4),
            "revenue": self.revenue,
            "closes": self.closes,
            "average_deal_size": None
            if self.deal_size is None
            else {"value": self.deal_size, "source": self.deal_source},
            "rates": {n: {"value": v, "source": s} for n, (v, s) in self.rates.items()},
            "stages": [
                {
                    "stage": stage,
                    "target": target,
                    "cost": self.costs.cost.get(stage),
                    "capacity_per_month": self.costs.capacity.get(stage),
                }
                for stage, target in self.targets.items()
            ],
            "commitments": [c.to_dict() for c in self.commitments],
            "spend": None if self.spend is None else self.spend.to_dict(),
            "capacity": [c.to_dict() for c in self.capacity],
            "reach": [r.to_dict() for r in self.reach],
            "fits": None
            if fits is None
            else {
                "limit": fits.limit,
                "stage": fits.stage,
                "won": fits.won,
                "revenue": None if fits.revenue is None else round(fits.revenue, 2),
                "covers_goal": None if not self.targets else fits.won >= self.targets["won"],
            },
        }


def plan(goal: Goal | None, what_if: WhatIf) -> Plan:
    """The plan of ``goal`` (None: the overrides alone) with ``what_if``
    applied. Raises ``ConfigError`` for an override out of range or a plan
    that cannot be computed."""
    revenue, closes = (goal.revenue, goal.closes) if goal else (None, None)
    if what_if.revenue is not None:
        revenue, closes = _valid("--revenue", what_if.revenue, _Revenue), None
    if what_if.closes is not None:
        revenue, closes = None, _valid("--closes", what_if.closes, _Closes)
    rates = _rates(goal, what_if)
    deal_size, deal_source = _deal_size(goal, what_if)
    period, months = _period(goal, what_if)
    costs = _costs(goal, what_if)
    promised = _commitments(goal, what_if)
    for what, stages in (("--cost", costs.cost), ("--capacity", costs.capacity)):
        if "visit" in stages and "visit_to_lead" not in rates:
            raise ConfigError(f"{what} visit needs a visit→lead rate: add --visit-to-lead")
    values = {name: value for name, (value, _) in rates.items()}
    targets: dict[Stage, int] = {}
    if closes is not None:
        targets = back_from_won(closes, values)
    elif revenue is not None:
        if deal_size is None:
            raise ConfigError(
                "a revenue goal needs an average deal size: pass --deal-size "
                "(a configured `auto` with no fallback has none without history)"
            )
        targets = back_from_won(ceil_count(revenue / deal_size), values)
    return Plan(
        name=goal.name if goal else "what-if",
        period=period,
        months=months,
        revenue=revenue,
        closes=closes,
        deal_size=deal_size,
        deal_source=deal_source,
        rates=rates,
        targets=targets,
        costs=costs,
        commitments=tuple(commitments(promised, targets, values)) if targets else (),
        spend=budget.spend_needed(costs, targets, months) if targets else None,
        capacity=budget.capacity_needed(costs, targets, months),
        reach=budget.reach(costs, values, months, deal_size),
    )


_Revenue = Annotated[float, Field(gt=0, le=MAX_REVENUE, allow_inf_nan=False)]
_Closes = Annotated[int, Field(gt=0, le=MAX_CLOSES)]
_DealSize = Annotated[float, Field(ge=MIN_DEAL_SIZE, le=MAX_REVENUE, allow_inf_nan=False)]


def _valid(option: str, value: object, kind: Any) -> Any:
    """``value`` as ``kind``, or a one-line error naming the option."""
    try:
        result = TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(f"{option} {value}: {_reason(exc)}") from None
    return result


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _rates(goal: Goal | None, what_if: WhatIf) -> dict[RateName, tuple[float, RateOrigin]]:
    """Each rate from the flags, else the goal's rate goal where its target
    needs no history, else the goal (``auto`` at its fallback), else the
    conservative default; visit→lead only where given."""
    out: dict[RateName, tuple[float, RateOrigin]] = {}
    aim = None if goal is None or goal.rate is None else goal.rate
    for name in reversed(RATE_NAMES):
        setting = getattr(goal.rates, name) if goal else None
        if name in what_if.rates:
            out[name] = (_valid(f"--rate {name}", what_if.rates[name], Rate), "flag")
        elif aim is not None and aim.stage == name and aim.fixed_target is not None:
            out[name] = (aim.fixed_target, "rate goal")
        elif goal is not None and setting is not None:
            planned = resolve_rate(setting, None, goal.auto_rates, DEFAULT_RATES[name])
            out[name] = (planned.value, "config" if planned.source == "config" else "fallback")
        elif name != "visit_to_lead":
            out[name] = (DEFAULT_RATES[name], "default")
    unknown = set(what_if.rates) - set(RATE_NAMES)
    if unknown:
        raise ConfigError(
            f"--rate {sorted(unknown)[0]}: not a rate; use one of {', '.join(RATE_NAMES)}"
        )
    return out


def _deal_size(goal: Goal | None, what_if: WhatIf) -> tuple[float | None, str | None]:
    if what_if.deal_size is not None:
        return _valid("--deal-size", what_if.deal_size, _DealSize), "flag"
    if goal is None or goal.average_deal_size is None:
        return None, None
    deal = resolve_deal_size(goal.average_deal_size, DealSample(0, 0.0), goal.auto_rates)
    return deal.value, None if deal.value is None else deal.source


def _period(goal: Goal | None, what_if: WhatIf) -> tuple[str, float]:
    setting = what_if.period or (goal.period if goal else "quarter")
    if isinstance(setting, ExplicitPeriod):
        end = setting.end + timedelta(days=1)
        label = f"{setting.start.isoformat()} → {setting.end.isoformat()}"
        return label, budget.period_months(setting.start, end)
    return setting, _MONTHS[setting]


def _costs(goal: Goal | None, what_if: WhatIf) -> PlanCosts:
    base = goal.plan if goal else PlanCosts()
    overrides = {
        "cost": base.cost | dict(what_if.cost),
        "capacity": base.capacity | dict(what_if.capacity),
        "spend_per_month": what_if.spend_per_month
        if what_if.spend_per_month is not None
        else base.spend_per_month,
        "budget": what_if.budget if what_if.budget is not None else base.budget,
    }
    return _model("--cost, --capacity, --budget, --spend-per-month", PlanCosts, overrides)


def _commitments(goal: Goal | None, what_if: WhatIf) -> Commitments:
    base = goal.commitments if goal else Commitments()
    volumes: dict[str, int | None] = {s: base.volume(s) for s in STAGES}
    rates: dict[str, float] = {str(name): value for name, value in base.rates.items()}
    for key, value in what_if.commit.items():
        if key in RATE_NAMES:
            rates[key] = value
        elif key in STAGES and float(value).is_integer():
            volumes[key] = int(value)
        else:
            raise ConfigError(
                f"--commit {key}={value}: give a stage and a whole count (mql=600) or a "
                "rate and a share (sql_to_won=0.2)"
            )
    data: dict[str, object] = {**volumes, "rates": rates, "owners": {**base.owners}}
    return _model("--commit", Commitments, data)


_M = TypeVar("_M", bound=BaseModel)


def _model(option: str, model: type[_M], data: Mapping[str, object]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{option}: {_reason(exc)}") from None


def find_goal(goals: list[Goal], name: str) -> Goal:
    """The configured goal called ``name``; an unknown name lists the others."""
    for goal in goals:
        if goal.name == name:
            return goal
    known = ", ".join(g.name for g in goals) or "none configured"
    raise ConfigError(f"--goal {name}: no such goal (goals: {known})")
