"""What the reconciler says about one goal: its plan and pace per stage,
and its findings, as values the CLI, the summary and the alert lifecycle
read. JSON keys are the public contract of ``status`` and ``targets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from monitor.facts import Period
from monitor.findings import Finding
from monitor.interfaces import RateName, Stage
from monitor.judge.breakdown import Gap, MarketingLine, ValueLine
from monitor.judge.budget import CapacityLine, Reach, Spend
from monitor.judge.commitments import Commitment
from monitor.judge.forecast import Forecast
from monitor.judge.funnel import DealSize, PlannedRate
from monitor.judge.lags import LagCurve, SameAge
from monitor.judge.rate_goals import RateGoalReport


@dataclass(frozen=True, slots=True)
class StageReport:
    """One stage's plan and pace. ``rate`` is the conversion from this stage
    to the next one down: the rate its target was derived with (``sql`` =
    ``won / sql_to_won``), None for ``won``. ``actual`` is None for visits
    when the source reports none; pacing numbers are None where undefined
    (nothing expected yet, no plan, the period over). ``projection`` is the
    run rate; ``forecast`` the pipeline forecast for the period's end
    (``monitor/judge/forecast.py``), None for visits, for a source still
    waiting, and below a transition with no learned lag."""

    stage: Stage
    target: int | None
    expected: float | None
    actual: int | None
    attainment: float | None
    drift: float | None
    projection: float | None
    needed_per_day: float | None
    pace_per_day: float | None
    rate: float | None
    rate_source: str | None
    sample: int | None
    commitment: int | None
    lag: LagCurve | None = None
    arrival: Arrival | None = None
    forecast: Forecast | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "target": self.target,
            "expected": _round(self.expected, 2),
            "actual": self.actual,
            "attainment": _round(self.attainment, 4),
            "drift": _round(self.drift, 4),
            "projection": _round(self.projection, 2),
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
            "needed_per_day": _round(self.needed_per_day, 2),
            "pace_per_day": _round(self.pace_per_day, 2),
            "rate": _round(self.rate, 6),
            "rate_source": self.rate_source,
            "sample": self.sample,
            "commitment": self.commitment,
            "lag": None if self.lag is None else self.lag.to_dict(),
            "arrival": None if self.arrival is None else self.arrival.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Arrival:
    """When a stage's volume must arrive to close in the goal's period: the
    period's local days ``[first, last]`` shifted back by the median lags
    of the transitions below it (``lag_days`` in all)."""

    first: date
    last: date
    lag_days: int

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.first.isoformat(),
            "end": self.last.isoformat(),
            "lag_days": self.lag_days,
        }


@dataclass(frozen=True)
class GoalReport:
    """Everything the CLI, the summary and the alert lifecycle need about one
    goal as of one instant. ``elapsed`` is the share of the period gone, in
    calendar or working days (``elapsed_days`` of ``total_days``);
    ``deal_size`` is None for a ``closes`` goal. ``waiting`` says why the
    source's data is not judged yet (see ``health.waiting_reason``);
    ``forecast_note`` why some stages have no pipeline forecast.
    ``commitments``, ``spend``, ``capacity`` and ``reach`` hold the plan
    against what the teams promise, cost and can handle (docs/plan.md);
    ``rate_goal`` the goal's conversion goal (docs/rate-goals.md).
    ``breakdown`` the goal per value of each breakdown property and
    ``marketing`` marketing's revenue line, ``compared`` each value's
    conversion against the rest's (docs/design.md, "Breakdown by property")."""

    name: str
    source: str
    period: Period
    as_of: datetime
    pacing: str
    elapsed: float
    elapsed_days: float
    total_days: float
    deal_size: DealSize | None
    rates: dict[RateName, PlannedRate]
    lags: dict[RateName, LagCurve]
    recent: dict[RateName, SameAge]
    stages: list[StageReport]
    findings: list[Finding] = field(default_factory=list)
    waiting: str | None = None
    forecast_note: str | None = None
    commitments: tuple[Commitment, ...] = ()
    spend: Spend | None = None
    capacity: tuple[CapacityLine, ...] = ()
    reach: tuple[Reach, ...] = ()
    rate_goal: RateGoalReport | None = None
    breakdown: dict[str, list[ValueLine]] = field(default_factory=dict)
    marketing: MarketingLine | None = None
    compared: list[Gap] = field(default_factory=list)

    def stage(self, name: str) -> StageReport:
        return next(s for s in self.stages if s.stage == name)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (docs/design.md, "Command line and JSON"). ``period.end`` is the period's last day,
        as a YAML period names it."""
        deal = self.deal_size
        return {
            "name": self.name,
            "source": self.source,
            "period": {
                "start": self.period.start.isoformat(),
                "end": (self.period.end - timedelta(days=1)).isoformat(),
            },
            "as_of": self.as_of.isoformat(),
            "pacing": self.pacing,
            "elapsed": round(self.elapsed, 4),
            "average_deal_size": None
            if deal is None
            else {"value": _round(deal.value, 2), "source": deal.source, "sample": deal.sample},
            "waiting": self.waiting,
            "forecast_note": self.forecast_note,
            "lags": {name: curve.to_dict() for name, curve in self.lags.items()},
            "stages": [s.to_dict() for s in self.stages],
            "commitments": [c.to_dict() for c in self.commitments],
            "spend": None if self.spend is None else self.spend.to_dict(),
            "capacity": [c.to_dict() for c in self.capacity],
            "reach": [r.to_dict() for r in self.reach],
            "rate_goal": None if self.rate_goal is None else self.rate_goal.to_dict(),
            "breakdown": {
                attr: [line.to_dict() for line in values] for attr, values in self.breakdown.items()
            },
            "marketing": None if self.marketing is None else self.marketing.to_dict(),
            "findings": [finding_dict(f) for f in self.findings],
        }


def finding_dict(finding: Finding) -> dict[str, object]:
    """A finding as JSON (the ``findings`` list of ``status``)."""
    return {
        "rule": finding.rule,
        "fingerprint": finding.fingerprint,
        "severity": str(finding.severity),
        "subject": finding.subject,
        "stage": finding.stage,
        "period": finding.period,
        "title": finding.title,
        "text": finding.text,
        "metric": finding.metric,
        "data": dict(finding.data),
    }


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)
