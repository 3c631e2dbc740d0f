"""Evaluation: for each goal and SLA rule, ask the store for its facts and
hand them to the pure reconciler and SLA engine; add data-health findings.

This is the seam between I/O and math: the only code that knows both the
store and the reconcilers, and the one place ``as_of`` is fixed for a whole
evaluation so every goal and rule is judged at the same instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from monitor.config.breakdown import breakdown_properties
from monitor.config.file import Config
from monitor.config.models import FIRST_YEAR, LAST_YEAR, Goal, SlaRule
from monitor.errors import ConfigError
from monitor.facts import FactsQuery, FunnelFacts, SourceStatus
from monitor.findings import Finding, fingerprint
from monitor.interfaces import RATE_STAGES, PersonStage
from monitor.judge import breakdown, rate_goals, sla, stalls
from monitor.judge.business_time import BusinessCalendar, business_calendar
from monitor.judge.health import stale_findings, waiting_reason
from monitor.judge.lags import visit_recent_days
from monitor.judge.periods import period_for
from monitor.judge.reconciler import evaluate_goal
from monitor.judge.report import GoalReport
from monitor.sla_folding import sla_result
from monitor.store import Store


@dataclass
class Evaluation:
    as_of: datetime
    goals: list[GoalReport] = field(default_factory=list)
    sla: list[tuple[SlaRule, sla.SlaResult]] = field(default_factory=list)
    health: list[Finding] = field(default_factory=list)
    #: Sources whose data is not judged yet, with the reason, and the SLA
    #: rules left unevaluated for that reason.
    waiting: dict[str, str] = field(default_factory=dict)
    sla_waiting: list[tuple[SlaRule, str]] = field(default_factory=list)
    held: frozenset[str] = frozenset()
    held_critical: frozenset[str] = frozenset()
    facts: dict[str, FunnelFacts] = field(default_factory=dict)  # by goal name, for charts
    #: Each goal's stages with records sitting in them, and their findings.
    stalls: dict[str, list[stalls.StageStall]] = field(default_factory=dict)
    stall_findings: list[Finding] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        out = [f for report in self.goals for f in report.findings]
        out += self.stall_findings
        for rule, result in self.sla:
            out.extend(sla.findings(rule, result, rule.source))
        return out + self.health

    @property
    def stale_sources(self) -> frozenset[str]:
        return frozenset(f.source for f in self.health if f.rule == "source-stale")


def evaluate(
    config: Config,
    store: Store,
    as_of: datetime,
    *,
    goal: str | None = None,
    with_sla: bool = True,
    now: datetime | None = None,
    waiting: Mapping[str, str] | None = None,
    fold_sla: bool = True,
) -> Evaluation:
    """Judge the goals (or only ``goal``) and SLA rules at ``as_of``. Data
    health (readiness always, staleness when ``now`` is given) is judged
    from one read of the sources' sync status, as of now, not ``as_of``.
    ``waiting``: the sources not to judge, and why, in place of readiness
    from the sync status (a backtest decides it once for its window).
    ``fold_sla``: keep decided SLA outcomes folded in the store (see
    ``monitor.sla_folding``); off, every SLA record is judged afresh and
    nothing is written (a backtest)."""
    statuses = store.source_statuses()
    if waiting is None:
        waiting = waiting_sources(config, store, statuses)
    result = Evaluation(as_of, waiting=dict(waiting))
    if now is not None:
        result.health = stale_findings(config.sources, statuses, now)
    for chosen in select_goals(config, goal):
        facts = goal_facts(config, store, chosen, as_of)
        result.facts[chosen.name] = facts
        report = goal_report(config, chosen, facts, result.waiting.get(chosen.source))
        result.goals.append(report)
        judged = goal_stalls(store, chosen, facts, report)
        result.stalls[chosen.name] = judged
        if chosen.stalls is not None:
            result.stall_findings += [
                found
                for stall in judged
                if (found := stalls.finding(chosen.stalls, stall, chosen.source, chosen.channel))
            ]
    if with_sla and goal is None:
        for rule in config.sla:
            if rule.source in result.waiting:
                result.sla_waiting.append((rule, result.waiting[rule.source]))
            else:
                outcome = sla_result(config, store, rule, as_of, fold=fold_sla)
                result.sla.append((rule, outcome))
    goals = {g.name: g for g in config.goals}
    result.held = held_fingerprints(goals, result.goals, config.alerts.hysteresis)
    result.held |= held_stalls(goals, result.stalls, config.alerts.hysteresis)
    result.held_critical = held_critical(goals, result.goals, config.alerts.hysteresis)
    return result


def select_goals(config: Config, only: str | None) -> list[Goal]:
    if only is None:
        return list(config.goals)
    chosen = [g for g in config.goals if g.name == only]
    if not chosen:
        names = ", ".join(g.name for g in config.goals) or "none configured"
        raise ConfigError(f"no goal named {only!r} (goals: {names})")
    return chosen


def goal_facts(config: Config, store: Store, goal: Goal, as_of: datetime) -> FunnelFacts:
    zone = config.zone
    period = period_for(goal.period, as_of, zone, config.fiscal_year_start)
    return store.funnel_facts(
        FactsQuery(
            goal.source,
            goal.segment,
            period,
            as_of,
            zone,
            goal.auto_rates,
            visit_recent_days(goal.drift.recent_days),
            profiles=goal.pacing == "seasonal",
            rate_goal=None
            if goal.rate is None
            else (goal.rate.stage, rate_goals.history_start(goal, period) or period.start),
            breakdown=tuple(breakdown_properties(goal.breakdown, goal.marketing_sources)),
        )
    )


def working_days(config: Config, goal: Goal) -> BusinessCalendar | None:
    """The calendar business-day pacing needs; seasonal pacing falls back
    to it for a stage with too little history to learn a profile from."""
    if goal.pacing == "linear":
        return None
    return business_calendar(config.calendar, config.zone)


def goal_report(
    config: Config, goal: Goal, facts: FunnelFacts, waiting: str | None = None
) -> GoalReport:
    return evaluate_goal(goal, facts, working_days=working_days(config, goal), waiting=waiting)


def waiting_sources(
    config: Config, store: Store, statuses: Mapping[str, SourceStatus]
) -> dict[str, str]:
    """Sources whose stored data is partial or empty, and why."""
    waiting = {}
    for name in config.sources:
        status = statuses.get(name)
        if status is not None and status.last_success_at is not None and store.has_records(name):
            continue  # the common case, answered without counting
        reason = waiting_reason(status, store.record_count(name))
        if reason is not None:
            waiting[name] = reason
    return waiting


def goal_stalls(
    store: Store, goal: Goal, facts: FunnelFacts, report: GoalReport
) -> list[stalls.StageStall]:
    """The goal's stages with their open and stalled records, each stalled
    beyond its transition's usual lag. None while the source's data is
    partial, for a source that never closes a record (all its non-converters
    would look stalled), and for a transition with no learned lag or no
    cohorts (SQL→won where persons carry no won deals). A goal that is a
    rate alone is judged by its rate: the stalls of its funnel are the
    volume goals' to report."""
    settings = goal.stalls
    rate_only = goal.revenue is None and goal.closes is None
    if settings is None or rate_only or report.waiting is not None:
        return []
    if not store.reports_closures(goal.source):
        return []
    judged: dict[PersonStage, int] = {}
    for stage, rate in stalls.STALL_STAGES.items():
        days = stalls.beyond_days(settings.beyond, report.lags.get(rate))
        if rate in facts.tables and days is not None:
            judged[stage] = days
    if not judged:
        return []
    cuts = {stage: stalls.stalled_before(facts.as_of, days) for stage, days in judged.items()}
    counts = store.stages_open(goal.source, goal.segment, cuts, facts.as_of)
    basis = None if isinstance(settings.beyond, int) else settings.beyond
    return [
        stalls.StageStall(goal.name, stage, days, basis, facts.as_of, counts[stage])
        for stage, days in judged.items()
    ]


def held_stalls(
    goals: Mapping[str, Goal], judged: Mapping[str, Sequence[stalls.StageStall]], margin: float
) -> frozenset[str]:
    """Stalled stages still within the hysteresis margin of the threshold."""
    held = set()
    for name, items in judged.items():
        settings = goals[name].stalls
        for stall in items:
            share = stall.share
            if settings is None or share is None or not stalls.judged(settings, stall):
                continue
            if share > settings.threshold - margin:
                held.add(fingerprint("stalled", name, stall.stage))
    return frozenset(held)


def held_fingerprints(
    goals: Mapping[str, Goal], reports: Sequence[GoalReport], margin: float
) -> frozenset[str]:
    """Fingerprints not firing now but still within the hysteresis margin of
    their threshold: a firing alert there stays firing. Pacing holds on the
    stage's drift, conversion drift on its recent cohort's shortfall, and a
    quality gap while the lower stage stays behind and the cohort below
    plan, so an alert does not clear because one evaluation's count was
    not quite significant. A rate goal holds while its observed rate stays
    below the target."""
    held = set()
    for report in reports:
        goal, label = goals[report.name], report.period.label
        for stage in report.stages:
            if stage.drift is not None and stage.drift <= -(goal.drift.warning - margin):
                held.add(fingerprint("pacing", report.name, stage.stage, label))
        for name, cohort in report.recent.items():
            upper, lower = RATE_STAGES[name]
            if cohort.ratio <= 1 - (goal.drift.conversion_tolerance - margin):
                held.add(fingerprint("conversion-drift", report.name, upper, label))
            low = report.stage(lower).drift
            if cohort.ratio < 1 and low is not None and low <= -(goal.drift.warning - margin):
                held.add(fingerprint("quality-gap", report.name, upper, label))
        aim = report.rate_goal
        observed = None if aim is None else aim.observed
        # Still below its target, though no longer decided behind.
        if (
            aim is not None
            and aim.target is not None
            and observed is not None
            and observed < aim.target
        ):
            upper = RATE_STAGES[aim.stage][0]
            held.add(fingerprint("rate-goal-behind", report.name, upper, label))
        held |= breakdown.held(goal, report.period, report.compared, margin)
    return frozenset(held)


def held_critical(
    goals: Mapping[str, Goal], reports: Sequence[GoalReport], hysteresis: float
) -> frozenset[str]:
    """Fingerprints whose metric is still within the hysteresis margin of
    the critical line: a critical alert there stays critical, so a metric
    hovering at the line is not announced as worse, easing, worse again.
    The lines are those the checks use: a stage's drift for pacing and for
    the quality gap (the lower stage's), twice the tolerance for conversion
    drift. The margin is at least what one record moves the metric (1 /
    expected): with ten deals expected, one more deal is ten points, and a
    five-point margin would not hold."""
    held: set[str] = set()

    def margin(expected: float | None) -> float:
        return max(hysteresis, 1 / expected if expected else 0.0)

    for report in reports:
        drift, label = goals[report.name].drift, report.period.label
        near = {
            s.stage
            for s in report.stages
            if s.drift is not None and s.drift <= -(drift.critical - margin(s.expected))
        }
        held.update(fingerprint("pacing", report.name, stage, label) for stage in near)
        for name, cohort in report.recent.items():
            upper, lower = RATE_STAGES[name]
            line = 2 * drift.conversion_tolerance
            if cohort.ratio - 1 <= -(line - margin(cohort.expected)):
                held.add(fingerprint("conversion-drift", report.name, upper, label))
            if lower in near:
                held.add(fingerprint("quality-gap", report.name, upper, label))
    return frozenset(held)


def parse_as_of(value: str, zone: ZoneInfo, option: str = "--as-of") -> datetime:
    """``--as-of`` (or another ``option`` naming an instant): an ISO date
    (its local midnight) or date-time; a time without an offset is read in
    the configured time zone."""
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time(0), zone)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is not a date or date-time: write e.g. 2026-11-02 or "
            "2026-11-02T09:00"
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        # Periods, rates and instants a year around it must stay in the calendar.
        raise ConfigError(
            f"{option} {value!r} is outside the years {FIRST_YEAR}-{LAST_YEAR} alignmon plans in"
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
