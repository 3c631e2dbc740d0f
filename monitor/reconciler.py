"""The reconciler: one goal's plan, pacing and alignment findings.

Sits between the store and the alert lifecycle (DESIGN §4): the store counts
a goal's records into ``FunnelFacts``; ``evaluate_goal`` turns those facts,
the goal's config and ``as_of`` into targets per stage (§2.2), pacing against
them (§2.3) and the findings that neither team sees alone (§2.4). A pure
function: no session, no HTTP, no clock, so a backtest is a literal table.

A revenue goal whose average deal size is ``auto`` with too few won deals and
no fallback has no plan: its stages show actuals with no targets, and one
``plan-incomplete`` finding says what to configure.

Longer than most modules: the report types, the pacing arithmetic and the
finding rules all read the same per-stage numbers, and the rules' wording is
most of the length.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from monitor import format as fmt
from monitor.config.models import DEFAULT_RATES, Goal
from monitor.facts import Cohort, FunnelFacts, Period
from monitor.findings import Finding, Rule
from monitor.funnel import (
    DealSize,
    PlannedRate,
    back_calculate,
    resolve_deal_size,
    resolve_rate,
)
from monitor.interfaces import (
    RATE_FROM,
    RATE_NAMES,
    RATE_STAGES,
    STAGES,
    RateName,
    Severity,
    Stage,
)
from monitor.periods import WorkingDays, calendar_days

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StageReport:
    """One stage's plan and pace. ``rate`` is the conversion from this stage
    to the next one down: the rate its target was derived with (``sql`` =
    ``won / sql_to_won``), None for ``won``. ``actual`` is None for visits
    when the source reports none; pacing numbers are None where undefined
    (nothing expected yet, no plan, the period over)."""

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

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "target": self.target,
            "expected": _round(self.expected, 2),
            "actual": self.actual,
            "attainment": _round(self.attainment, 4),
            "drift": _round(self.drift, 4),
            "projection": _round(self.projection, 2),
            "needed_per_day": _round(self.needed_per_day, 2),
            "pace_per_day": _round(self.pace_per_day, 2),
            "rate": _round(self.rate, 6),
            "rate_source": self.rate_source,
            "sample": self.sample,
            "commitment": self.commitment,
        }


@dataclass(frozen=True)
class GoalReport:
    """Everything the CLI, the summary and the alert lifecycle need about one
    goal as of one instant. ``elapsed`` is the share of the period gone, in
    calendar or working days (``elapsed_days`` of ``total_days``);
    ``deal_size`` is None for a ``closes`` goal."""

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
    stages: list[StageReport]
    findings: list[Finding] = field(default_factory=list)

    def stage(self, name: str) -> StageReport:
        return next(s for s in self.stages if s.stage == name)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (DESIGN §3.2). ``period.end`` is the period's last day,
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
            else {"value": deal.value, "source": deal.source, "sample": deal.sample},
            "stages": [s.to_dict() for s in self.stages],
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


def evaluate_goal(
    goal: Goal, facts: FunnelFacts, *, working_days: WorkingDays | None = None
) -> GoalReport:
    """Plan, pace and check one goal. ``working_days`` is required for
    ``pacing: business_days``; a period with no working days at all is
    paced by calendar days instead."""
    period, as_of = facts.period, facts.as_of
    elapsed_days, total_days = calendar_days(period, as_of)
    if goal.pacing == "business_days":
        if working_days is None:
            raise ValueError(f"goal {goal.name!r} paces by business days: pass working_days")
        work_elapsed, work_total = working_days.elapsed_days(period.start, period.end, as_of)
        if work_total > 0:
            elapsed_days, total_days = min(work_elapsed, work_total), work_total
    clock = _Clock(min(1.0, max(0.0, elapsed_days / total_days)), elapsed_days, total_days)

    rates = plan_rates(goal, facts)
    deal = None
    if goal.revenue is not None:
        deal = resolve_deal_size(goal.average_deal_size, facts.deals, goal.auto_rates)
    targets: dict[Stage, int] = {}
    if deal is None or deal.value is not None:
        plan = {name: rate.value for name, rate in rates.items()}
        targets = back_calculate(goal, plan, deal.value if deal else None)
    log.debug("goal %s as of %s: elapsed %.4f, targets %s", goal.name, as_of, clock.share, targets)

    stages = [
        _stage_report(goal, facts, stage, targets.get(stage), rates, clock)
        for stage in STAGES
        if stage != "visit" or goal.rates.visit_to_lead is not None
    ]
    report = GoalReport(
        name=goal.name,
        source=goal.source,
        period=period,
        as_of=as_of,
        pacing=goal.pacing,
        elapsed=clock.share,
        elapsed_days=elapsed_days,
        total_days=total_days,
        deal_size=deal,
        rates=rates,
        stages=stages,
    )
    report.findings.extend(_findings(goal, facts, report))
    return report


def plan_rates(goal: Goal, facts: FunnelFacts) -> dict[RateName, PlannedRate]:
    """The planning rate for each conversion the goal uses."""
    settings = {name: getattr(goal.rates, name) for name in reversed(RATE_NAMES)}
    return {
        name: resolve_rate(setting, facts.cohorts.get(name), goal.auto_rates, DEFAULT_RATES[name])
        for name, setting in settings.items()
        if setting is not None  # only visit_to_lead is optional
    }


class _Clock(NamedTuple):
    share: float  # of the period elapsed, in [0, 1]
    days: float  # calendar or working days elapsed
    total: float


def _stage_report(
    goal: Goal,
    facts: FunnelFacts,
    stage: Stage,
    target: int | None,
    rates: dict[RateName, PlannedRate],
    clock: _Clock,
) -> StageReport:
    rate = rates.get(RATE_FROM[stage]) if stage in RATE_FROM else None
    actual = None if stage == "visit" and not facts.has_visits else facts.actual(stage)
    expected = None if target is None else target * clock.share
    attainment = drift = projection = needed = pace = None
    if actual is not None:
        projection = actual / clock.share if clock.share > 0 else None
        pace = actual / clock.days if clock.days > 0 else None
        if expected:
            attainment = actual / expected
            drift = attainment - 1
        if target is not None and actual >= target:
            needed = 0.0
        elif target is not None and clock.total > clock.days:
            needed = (target - actual) / (clock.total - clock.days)
    commitment = goal.commitments.get(stage)
    return StageReport(
        stage=stage,
        target=target,
        expected=expected,
        actual=actual,
        attainment=attainment,
        drift=drift,
        projection=projection,
        needed_per_day=needed,
        pace_per_day=pace,
        rate=rate.value if rate else None,
        rate_source=rate.source if rate else None,
        sample=rate.sample if rate else None,
        commitment=commitment,
    )


# --- findings (DESIGN §2.3 pacing, §2.4 alignment) -------------------------

# Thresholds compare with a little slack: an attainment of exactly 85%
# computes as a drift of -0.15000000000000002, and a table row written as
# "15% behind fires at warning 0.15" should hold whichever way floats round.
_EPS = 1e-9
_TEAM = {
    "visit": "marketing",
    "lead": "marketing",
    "mql": "marketing",
    "sql": "sales",
    "won": "sales",
}


def _findings(goal: Goal, facts: FunnelFacts, report: GoalReport) -> list[Finding]:
    checks = _Checks(goal, facts, report)
    if report.deal_size is not None and report.deal_size.value is None:
        return [checks.plan_incomplete()]
    found = [checks.pacing(stage) for stage in report.stages]
    found += [checks.commitment_gap(stage) for stage in report.stages]
    found += [checks.conversion_drift(name) for name in report.rates]
    found += [checks.quality_gap(name) for name in report.rates]
    return [f for f in found if f is not None]


@dataclass(frozen=True, slots=True)
class _Checks:
    """The finding rules over one evaluated goal; each returns a finding or
    None."""

    goal: Goal
    facts: FunnelFacts
    report: GoalReport

    def pacing(self, s: StageReport) -> Finding | None:
        if s.drift is None or s.actual is None or s.target is None or not self._paced(s):
            return None
        severity = self._severity(s.drift)
        if severity is None:
            return None
        noun = fmt.stage_noun(s.stage)
        last_day = self.report.period.end - timedelta(days=1)
        text = (
            f"{fmt.count(s.actual)} {noun} against {fmt.count(s.expected or 0)} expected by now "
            f"({fmt.percent(s.drift + 1)} of pace); at this rate "
            f"{fmt.count(s.projection or 0)} of {fmt.count(s.target)} by {last_day.isoformat()}."
        )
        if s.needed_per_day is not None and s.pace_per_day is not None:
            needed, pace = fmt.per_day(s.needed_per_day), fmt.per_day(s.pace_per_day)
            text += f" Catching up needs {needed} against {pace} so far."
        else:
            text += f" The period ended {fmt.count(s.target - s.actual)} short."
        data = {k: v for k, v in s.to_dict().items() if isinstance(v, int | float)}
        return self._finding(
            "pacing",
            s.stage,
            severity,
            f"{_cap(noun)} {fmt.percent(-s.drift)} behind pace",
            text,
            s.drift,
            data | {"elapsed": self.report.elapsed},
        )

    def commitment_gap(self, s: StageReport) -> Finding | None:
        """Fires whatever the date, even before the period starts: the plan
        is known as soon as the goal is, and so is a promise that falls
        short of it. A commitment covers the goal's period."""
        if s.commitment is None or s.target is None or s.commitment >= s.target:
            return None
        team = _TEAM[s.stage]
        text = (
            f"{_cap(team)} commits {fmt.count(s.commitment)} "
            f"{fmt.stage_noun(s.stage, s.commitment)}, the plan needs {fmt.count(s.target)} "
            f"({fmt.count(s.target - s.commitment)} short)."
        )
        title = f"{_cap(team)}'s {fmt.stage_noun(s.stage)} commitment is below the plan"
        data = {"commitment": s.commitment, "target": s.target, "team": team}
        metric = s.commitment / s.target - 1
        return self._finding("commitment-gap", s.stage, Severity.WARNING, title, text, metric, data)

    def conversion_drift(self, name: RateName) -> Finding | None:
        """The recent cohort converts well below the planning rate: the
        plan's assumption broke, and the stage above now needs more volume
        (the plan re-run with the observed rate)."""
        planned, recent = self.report.rates[name].value, self._recent(name)
        tolerance = self.goal.drift.conversion_tolerance
        if recent is None or recent.rate is None or recent.rate >= planned * (1 - tolerance) - _EPS:
            return None
        observed, (upper, lower) = recent.rate, RATE_STAGES[name]
        target_up, target_low = self.report.stage(upper).target, self.report.stage(lower).target
        if target_up is None or target_low is None:
            return None
        label, up_noun, low_noun = fmt.rate_label(upper, lower), *_nouns(upper, lower)
        replan: dict[Stage, int] = {}
        if observed > 0:
            rates = {n: r.value for n, r in self.report.rates.items()} | {name: observed}
            deal = self.report.deal_size
            replan = back_calculate(self.goal, rates, deal.value if deal else None)
            consequence = (
                f"At that rate {fmt.count(target_low)} {low_noun} need "
                f"{fmt.count(replan[upper])} {up_noun}, not {fmt.count(target_up)}."
            )
        else:
            consequence = (
                f"At that rate no volume of {up_noun} reaches {fmt.count(target_low)} {low_noun}."
            )
        text = (
            f"{label} converted {fmt.percent(observed)} over the last "
            f"{self.goal.drift.recent_days} days ({fmt.count(recent.converted)} of "
            f"{fmt.count(recent.entered)} {up_noun}), against the plan's "
            f"{fmt.percent(planned)}. {consequence}"
        )
        shortfall = observed / planned - 1
        severity = Severity.CRITICAL if shortfall <= -2 * tolerance + _EPS else Severity.WARNING
        data = {
            "rate": name,
            "observed": observed,
            "planned": planned,
            "sample": recent.entered,
            "converted": recent.converted,
            "target": target_up,
            "needed": replan.get(upper),
            "replanned": replan,
        }
        title = f"{label} conversion below plan"
        return self._finding("conversion-drift", upper, severity, title, text, shortfall, data)

    def quality_gap(self, name: RateName) -> Finding | None:
        """Volume without fit: a stage on or over pace while the next one
        down is behind and the conversion between them dropped below plan."""
        upper, lower = RATE_STAGES[name]
        up, low = self.report.stage(upper), self.report.stage(lower)
        planned, recent = self.report.rates[name].value, self._recent(name)
        if up.attainment is None or up.attainment < 1 - _EPS or low.drift is None:
            return None
        if not (self._paced(up) and self._paced(low)) or recent is None or recent.rate is None:
            return None
        if low.drift > -self.goal.drift.warning + _EPS or recent.rate >= planned - _EPS:
            return None
        up_noun, low_noun = _nouns(upper, lower)
        text = (
            f"{_cap(up_noun)} are at {fmt.percent(up.attainment)} of pace but {low_noun} at "
            f"{fmt.percent(low.drift + 1)}: {fmt.rate_label(upper, lower)} converted "
            f"{fmt.percent(recent.rate)} over the last {self.goal.drift.recent_days} days "
            f"({fmt.count(recent.converted)} of {fmt.count(recent.entered)}), against the "
            f"plan's {fmt.percent(planned)}. The volume is arriving without the fit to convert."
        )
        data = {
            "upper_attainment": up.attainment,
            "lower_attainment": low.drift + 1,
            "observed": recent.rate,
            "planned": planned,
            "sample": recent.entered,
        }
        severity = self._severity(low.drift) or Severity.WARNING
        title = f"{_cap(up_noun)} on pace, {low_noun} behind"
        return self._finding("quality-gap", upper, severity, title, text, low.drift, data)

    def plan_incomplete(self) -> Finding:
        settings, deals = self.goal.auto_rates, self.facts.deals.count
        text = (
            f"Revenue goal of {fmt.amount(self.goal.revenue or 0)} with average_deal_size: "
            f"auto, but only {fmt.count(deals)} won deal(s) with an amount in the last "
            f"{settings.window_days} days ({settings.min_sample} needed), so there are no "
            "stage targets. Set average_deal_size to a number, or to "
            "{auto: true, fallback: <amount>}."
        )
        data = {"deals": deals, "min_sample": settings.min_sample}
        title = "No plan: average deal size unknown"
        return self._finding("plan-incomplete", "won", Severity.WARNING, title, text, None, data)

    def _recent(self, name: str) -> Cohort | None:
        """The recent cohort for a rate, if large enough to judge."""
        recent = self.facts.recent.get(name)
        return recent if recent and recent.entered >= self.goal.auto_rates.min_sample else None

    def _paced(self, s: StageReport) -> bool:
        """Past the early-period noise guards: enough of the period gone and
        enough records expected for a shortfall to mean something."""
        drift = self.goal.drift
        return (
            s.expected is not None
            and self.report.elapsed >= drift.min_elapsed - _EPS
            and s.expected >= drift.min_expected - _EPS
        )

    def _severity(self, drift: float) -> Severity | None:
        if drift <= -self.goal.drift.critical + _EPS:
            return Severity.CRITICAL
        if drift <= -self.goal.drift.warning + _EPS:
            return Severity.WARNING
        return None

    def _finding(
        self,
        rule: Rule,
        stage: Stage,
        severity: Severity,
        title: str,
        text: str,
        metric: float | None,
        data: Mapping[str, object],
    ) -> Finding:
        return Finding(
            rule=rule,
            subject=self.goal.name,
            severity=severity,
            title=title,
            text=text,
            source=self.goal.source,
            period=self.report.period.label,
            stage=stage,
            metric=metric,
            channel=self.goal.channel,
            data=dict(data),
        )


def _nouns(upper: str, lower: str) -> tuple[str, str]:
    return fmt.stage_noun(upper), fmt.stage_noun(lower)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)
