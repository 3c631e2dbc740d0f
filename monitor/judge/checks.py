"""The alignment checks: the rules that turn one evaluated goal into
findings (docs/design.md, "Pacing" and "Alignment checks").

Pacing (a stage behind its pro-rated target), commitment gap (a team's
volume or rate commitment below what the plan needs), budget and capacity
overrun (the plan needs more than either), conversion drift (the recent cohort
converts well below the planning rate at its age, beyond chance), quality
gap (volume on pace, the next stage behind, the conversion between them
down) and plan-incomplete.
Each rule reads the goal's report and facts and returns one finding or
none; most of the length is the findings' wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from monitor.config.models import Goal
from monitor.config.plan import STAGE_TEAM
from monitor.facts import FunnelFacts
from monitor.findings import Finding, Rule
from monitor.interfaces import RATE_FROM, RATE_STAGES, STAGES, RateName, Severity, Stage
from monitor.judge import format as fmt
from monitor.judge.budget import CapacityLine, Reach
from monitor.judge.commitments import Commitment
from monitor.judge.funnel import back_calculate
from monitor.judge.lags import SameAge
from monitor.judge.report import GoalReport, StageReport
from monitor.judge.stats import negative_binomial_lower_tail

# Thresholds compare with a little slack: an attainment of exactly 85%
# computes as a drift of -0.15000000000000002, and a table row written as
# "15% behind fires at warning 0.15" should hold whichever way floats round.
_EPS = 1e-9


def findings(goal: Goal, facts: FunnelFacts, report: GoalReport) -> list[Finding]:
    """Every finding of one evaluated goal; a goal with no plan yields only
    ``plan-incomplete``, and one whose source is still waiting for complete
    data only the config-only checks: commitments, budget and capacity."""
    checks = _Checks(goal, facts, report)
    if report.deal_size is not None and report.deal_size.value is None:
        return [] if report.waiting else [checks.plan_incomplete(), *checks.rate_goal()]
    if report.waiting:
        return checks.plan_limits()
    found = [checks.pacing(stage) for stage in report.stages]
    found += checks.rate_goal()
    found += checks.plan_limits()
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
        """A stage behind its pro-rated target by more than the threshold,
        and by more than chance: at 2.5 won deals a day, a day without one
        is 15% behind pace and means nothing."""
        if s.drift is None or s.actual is None or s.target is None or not self._paced(s):
            return None
        severity = self._severity(s.drift)
        if severity is None or s.expected is None:
            return None
        mean, relative_variance = self._learned_expectation(s.stage, s.expected)
        p_value = negative_binomial_lower_tail(s.actual, mean, relative_variance, mid=True)
        if p_value >= 1 - self.goal.drift.pacing_confidence:
            return None
        noun = fmt.stage_noun(s.stage)
        last_day = self.report.period.end - timedelta(days=1)
        text = (
            f"{fmt.count(s.actual)} {noun} against {fmt.count(s.expected or 0)} expected by now "
            f"({fmt.percent(s.drift + 1)} of pace); at this rate "
            f"{fmt.count(s.projection or 0)} of {fmt.count(s.target)} by {last_day.isoformat()}."
        )
        left = self.report.total_days - self.report.elapsed_days
        if s.needed_per_day is not None and left < 1:  # a daily pace means nothing now
            time_left = fmt.ago(self.report.period.ends_at - self.report.as_of)
            text += f" {fmt.count(s.target - s.actual)} short with {time_left} left."
        elif s.needed_per_day is not None and s.pace_per_day is not None:
            needed, pace = fmt.per_day(s.needed_per_day), fmt.per_day(s.pace_per_day)
            text += f" Catching up needs {needed} against {pace} so far."
        else:
            text += f" The period ended {fmt.count(s.target - s.actual)} short."
        data = {k: v for k, v in s.to_dict().items() if isinstance(v, int | float)}
        data["p_value"] = round(p_value, 6)
        return self._finding(
            "pacing",
            s.stage,
            severity,
            f"{_cap(noun)} {fmt.percent(-s.drift)} behind pace",
            text,
            s.drift,
            data | {"elapsed": self.report.elapsed},
        )

    def plan_limits(self) -> list[Finding]:
        """The config-only checks: commitments below the plan, a plan that
        needs more than the budget or a team's capacity. They hold whatever
        the date, even before the period starts: the plan is known as soon
        as the goal is."""
        found = [self.commitment_gap(c) for c in self.report.commitments]
        found += [self.capacity_overrun(line) for line in self.report.capacity]
        found.append(self.budget_overrun())
        return [f for f in found if f is not None]

    def commitment_gap(self, c: Commitment) -> Finding | None:
        """A volume or a rate a team commits to for the goal's period,
        below what the plan needs; a rate's shortfall is stated as the
        volume it costs upstream."""
        if not c.short:
            return None
        team = _cap(c.owner)
        data: dict[str, object] = {"commitment": c.committed, "target": c.needed, "team": c.owner}
        metric = c.committed / c.needed - 1
        if c.rate is None:
            title = f"{team}'s {fmt.stage_noun(c.stage)} commitment is below the plan"
            return self._finding(
                "commitment-gap", c.stage, Severity.WARNING, title, c.text, metric, data
            )
        title = f"{team}'s {fmt.rate_label(*RATE_STAGES[c.rate])} commitment is below the plan"
        data |= {"rate": c.rate, "volume": c.volume, "planned": c.planned}
        return self._finding(
            "rate-commitment-gap", c.stage, Severity.WARNING, title, c.text, metric, data
        )

    def budget_overrun(self) -> Finding | None:
        """The plan's volumes cost more than the marketing budget; says
        what the budget reaches, and the goal that would fit it."""
        spend = self.report.spend
        if spend is None or spend.budget is None or spend.over is None or spend.over <= _EPS:
            return None
        parts = [
            f"{fmt.count(line.volume)} {fmt.stage_noun(line.stage, line.volume)} × "
            f"{fmt.price(line.unit_cost)}"
            for line in spend.lines
        ]
        if spend.per_month:
            parts.append(f"{fmt.amount(spend.per_month)}/month × {spend.months:g}")
        text = (
            f"The plan needs {fmt.amount(spend.total)} ({' + '.join(parts)}) against a "
            f"budget of {fmt.amount(spend.budget)}: {fmt.amount(spend.over)} over."
        )
        bought = next((r for r in self.report.reach if r.limit == "budget"), None)
        if bought is not None:
            text += f" {_fit(bought, 'the budget')}"
        data = spend.to_dict() | {"fits": None if bought is None else bought.to_dict()}
        metric = spend.budget / spend.total - 1 if spend.total > 0 else None
        title = "The plan costs more than the marketing budget"
        return self._finding("budget-overrun", "", Severity.WARNING, title, text, metric, data)

    def capacity_overrun(self, line: CapacityLine) -> Finding | None:
        """A stage's target beyond what its team can handle in the period."""
        if line.over <= 0:
            return None
        team, noun = STAGE_TEAM[line.stage], fmt.stage_noun(line.stage)
        text = (
            f"The plan needs {fmt.count(line.needed)} {noun}; {team} can handle "
            f"{fmt.count(line.per_month)} a month, {fmt.count(line.available)} in the period: "
            f"{fmt.count(line.over)} over."
        )
        limit = next(
            (r for r in self.report.reach if r.limit == "capacity" and r.stage == line.stage),
            None,
        )
        if limit is not None:
            text += f" {_fit(limit, f'{team} capacity')}"
        data = line.to_dict() | {"team": team}
        metric = line.available / line.needed - 1 if line.needed else None
        title = f"The plan needs more {noun} than {team} can handle"
        return self._finding(
            "capacity-overrun", line.stage, Severity.WARNING, title, text, metric, data
        )

    def conversion_drift(self, name: RateName) -> Finding | None:
        """The recent cohort converts well below the planning rate at its
        age, and too far below for chance: the plan's assumption broke, and
        the stage above now needs more volume (the plan re-run with the
        rate the cohort implies)."""
        cohort = self._same_age(name)
        tolerance = self.goal.drift.conversion_tolerance
        if cohort is None or cohort.ratio >= 1 - tolerance - _EPS or not self._significant(cohort):
            return None
        observed, (upper, lower) = cohort.implied_rate, RATE_STAGES[name]
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
        text = f"{_evidence(cohort, upper, lower)} {consequence}"
        shortfall = cohort.ratio - 1
        severity = Severity.CRITICAL if shortfall <= -2 * tolerance + _EPS else Severity.WARNING
        data = _cohort_data(name, cohort) | {
            "target": target_up,
            "needed": replan.get(upper),
            "replanned": replan,
        }
        title = f"{label} conversion below plan"
        return self._finding("conversion-drift", upper, severity, title, text, shortfall, data)

    def quality_gap(self, name: RateName) -> Finding | None:
        """Volume without fit: a stage on or over pace while the next one
        down is behind and the conversion between them is significantly
        below plan at the recent cohort's age."""
        upper, lower = RATE_STAGES[name]
        up, low = self.report.stage(upper), self.report.stage(lower)
        if up.attainment is None or up.attainment < 1 - _EPS or low.drift is None:
            return None
        if (
            not (self._paced(up) and self._paced(low))
            or low.drift > -self.goal.drift.warning + _EPS
        ):
            return None
        cohort = self._same_age(name)
        if cohort is None or cohort.ratio >= 1 - _EPS or not self._significant(cohort):
            return None
        up_noun, low_noun = _nouns(upper, lower)
        text = (
            f"{_cap(up_noun)} are at {fmt.percent(up.attainment)} of pace but {low_noun} at "
            f"{fmt.percent(low.drift + 1)}. {_evidence(cohort, upper, lower)} "
            "The volume is arriving without the fit to convert."
        )
        data = _cohort_data(name, cohort) | {
            "upper_attainment": up.attainment,
            "lower_attainment": low.drift + 1,
        }
        severity = self._severity(low.drift) or Severity.WARNING
        title = f"{_cap(up_noun)} on pace, {low_noun} behind"
        return self._finding("quality-gap", upper, severity, title, text, low.drift, data)

    def rate_goal(self) -> list[Finding]:
        """The rate goal decided behind: the whole interval of the period's
        matured cohorts below the target, once ``min_elapsed`` of the
        period is gone (the first cohorts to mature are few and early)."""
        goal = self.report.rate_goal
        if (
            goal is None
            or goal.verdict != "behind"
            or goal.target is None
            or goal.observed is None
            or self.report.elapsed < self.goal.drift.min_elapsed - _EPS
        ):
            return []
        upper, lower = RATE_STAGES[goal.stage]
        up_noun, low_noun = _nouns(upper, lower)
        first, last = goal.cohorts or (self.report.period.start, self.report.period.start)
        aim = f"the goal of {fmt.percent(goal.target)}"
        if goal.baseline is not None and goal.improve_by is not None:
            where = "the previous period's" if goal.baseline_source == "previous period" else "a"
            aim += (
                f" ({where} {fmt.percent(goal.baseline)} + "
                f"{fmt.percent(goal.improve_by).removesuffix('%')} points)"
            )
        text = (
            f"Of the {fmt.count(goal.sample)} {up_noun} that entered from {first.isoformat()} "
            f"to {last.isoformat()} and have had time to convert, {fmt.count(goal.converted)} "
            f"have become {low_noun} so far: {fmt.percent(goal.observed)} "
            f"({fmt.percent(goal.confidence)} interval {fmt.percent(goal.low or 0)}–"
            f"{fmt.percent(goal.high or 0)}), below {aim}."
        )
        title = f"{goal.label} conversion behind its goal"
        metric = goal.observed / goal.target - 1
        return [
            self._finding(
                "rate-goal-behind", upper, Severity.WARNING, title, text, metric, goal.to_dict()
            )
        ]

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

    def _learned_expectation(self, stage: Stage, expected: float) -> tuple[float, float]:
        """What the observed rates expect of a stage by now, and how well
        they know it (a relative variance), for the pacing test. The stage's
        target is worked back through every rate from it down to won. A rate
        learned on a thin sample is shaded toward its lower bound so the plan
        asks for enough volume: that margin is caution, not evidence against
        the funnel, so the test leaves it out. And a learned rate is known
        only to its sample: an SQL→won rate learned on 450 SQLs is ±7%, so a
        target worked back through it is too, and a count that far below it
        says nothing about the funnel (the shortfall shown is still measured
        against the plan's target)."""
        relative_variance = 0.0
        for upper in STAGES[STAGES.index(stage) :]:
            rate = self.report.rates.get(RATE_FROM[upper]) if upper in RATE_FROM else None
            if rate is None:
                continue
            relative_variance += rate.relative_variance
            if rate.source == "observed-lower-bound" and rate.observed:
                expected *= rate.value / rate.observed
        return expected, relative_variance

    def _same_age(self, name: RateName) -> SameAge | None:
        return self.report.recent.get(name)

    def _significant(self, cohort: SameAge) -> bool:
        return cohort.p_value < 1 - self.goal.drift.conversion_confidence

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
        stage: Stage | Literal[""],
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
            period_end=self.report.period.ends_at,
            stage=stage,
            metric=metric,
            channel=self.goal.channel,
            data=dict(data),
        )


def _evidence(cohort: SameAge, upper: str, lower: str) -> str:
    """What the recent cohort shows, in one sentence."""
    up_noun, low_noun = _nouns(upper, lower)
    last = cohort.last - timedelta(days=1)
    if upper == "visit":
        return (
            f"{fmt.count(cohort.entered)} visits from {cohort.first.isoformat()} to "
            f"{last.isoformat()} brought {fmt.count(cohort.converted)} leads, where the plan's "
            f"{fmt.percent(cohort.planned)} expects {fmt.count(cohort.expected)}: a rate of "
            f"{fmt.percent(cohort.implied_rate)}."
        )
    return (
        f"Of the {fmt.count(cohort.entered)} {up_noun} that entered from "
        f"{cohort.first.isoformat()} to {last.isoformat()}, {fmt.count(cohort.converted)} "
        f"have become {low_noun} so far, where the plan's {fmt.percent(cohort.planned)} "
        f"expects {fmt.count(cohort.expected)} by their age ({fmt.percent(cohort.ratio)} of "
        f"it): a rate of about {fmt.percent(cohort.implied_rate)}."
    )


def _cohort_data(name: RateName, cohort: SameAge) -> dict[str, object]:
    return {
        "rate": name,
        "observed": cohort.implied_rate,
        "planned": cohort.planned,
        "sample": cohort.entered,
        "converted": cohort.converted,
        "expected": round(cohort.expected, 2),
        "p_value": round(cohort.p_value, 6),
        "cohort": {
            "first": cohort.first.isoformat(),
            "last": (cohort.last - timedelta(days=1)).isoformat(),
        },
    }


def _nouns(upper: str, lower: str) -> tuple[str, str]:
    return fmt.stage_noun(upper), fmt.stage_noun(lower)


def _fit(limit: Reach, what: str) -> str:
    """What a budget or capacity reaches down the funnel, and the goal
    that fits it."""
    path = " → ".join(f"{fmt.count(v)} {fmt.stage_noun(s, v)}" for s, v in limit.volumes.items())
    goal = (
        f"the goal becomes {fmt.count(limit.won)} closes"
        if limit.revenue is None
        else f"the revenue goal becomes {fmt.amount(limit.revenue)}"
    )
    return f"{_cap(what)} reaches {path}: to fit it, {goal}."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
