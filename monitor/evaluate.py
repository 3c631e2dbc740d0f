"""Evaluation: for each goal, ask the store for its facts and hand them to
the pure reconciler.

This is the seam between I/O and math: the only code that knows both the
store and the reconciler, and the one place ``as_of`` is fixed for a whole
evaluation so every goal is judged at the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from monitor.business_time import business_calendar
from monitor.config.models import Config, Goal
from monitor.errors import ConfigError
from monitor.findings import Finding
from monitor.periods import period_for
from monitor.reconciler import GoalReport, evaluate_goal
from monitor.store import Store


@dataclass
class Evaluation:
    as_of: datetime
    goals: list[GoalReport] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for report in self.goals for f in report.findings]


def evaluate_goals(config: Config, store: Store, as_of: datetime, only: str | None = None) -> Evaluation:
    goals = select_goals(config, only)
    result = Evaluation(as_of)
    for goal in goals:
        result.goals.append(goal_report(config, store, goal, as_of))
    return result


def select_goals(config: Config, only: str | None) -> list[Goal]:
    if only is None:
        return list(config.goals)
    chosen = [g for g in config.goals if g.name == only]
    if not chosen:
        names = ", ".join(g.name for g in config.goals) or "none configured"
        raise ConfigError(f"no goal named {only!r} (goals: {names})")
    return chosen


def goal_report(config: Config, store: Store, goal: Goal, as_of: datetime) -> GoalReport:
    zone = config.zone
    period = period_for(goal.period, as_of, zone, config.fiscal_year_start)
    facts = store.funnel_facts(
        goal.source, goal.segment, period, as_of, zone, goal.auto_rates, goal.drift.recent_days
    )
    working = business_calendar(config.calendar, zone) if goal.pacing == "business_days" else None
    return evaluate_goal(goal, facts, working_days=working)


def parse_as_of(value: str, zone: ZoneInfo) -> datetime:
    """``--as-of``: an ISO date (its local midnight) or date-time; a time
    without an offset is read in the configured time zone."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), zone)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--as-of {value!r} is not a date or date-time: write e.g. 2026-11-02 or "
            "2026-11-02T09:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
