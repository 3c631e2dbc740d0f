"""The CLI's output layer: turning reports into terminal tables and JSON.

Nothing here computes; it only lays out what the reconciler, the SLA engine
and the store already decided. JSON keys are a public contract (docs/design.md, "Command line and
JSON"), so scripts can rely on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.cli.breakdown_views import breakdown_tables, marketing_text
from monitor.cli.json_out import document, finding_json
from monitor.evaluate import Evaluation
from monitor.findings import Finding
from monitor.interfaces import RATE_STAGES, Severity
from monitor.judge.budget import CapacityLine, Reach, Spend
from monitor.judge.commitments import Commitment
from monitor.judge.format import ago, amount, count, percent, price, rate_label, stage_noun
from monitor.judge.rate_goals import RateGoalReport
from monitor.judge.report import GoalReport, StageReport
from monitor.judge.sla import SlaResult, State
from monitor.judge.stalls import StageStall

_RATE_LABEL = {name: rate_label(*stages) for name, stages in RATE_STAGES.items()}
SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}


def dump_json(payload: Any, console: Console) -> None:
    """Every ``--format json`` output goes out here, under the shared
    conventions of ``json_out``."""
    console.print_json(json.dumps(document(payload)))


def _period(report: GoalReport) -> str:
    last = report.period.end - timedelta(days=1)
    return f"{report.period.start.isoformat()} → {last.isoformat()}"


def _rate(stage: StageReport) -> str:
    if stage.rate is None:
        return ""
    source = (
        f" ({stage.rate_source}, n={stage.sample})"
        if stage.sample is not None
        else f" ({stage.rate_source})"
    )
    return f"{percent(stage.rate)}{source}"


def targets_table(report: GoalReport) -> Table:
    deal = report.deal_size
    caption = ""
    if deal is not None and deal.value is not None:
        caption = f"average deal {amount(deal.value)} ({deal.source}, n={deal.sample})"
    if report.waiting:
        caption = f"{report.source}: {report.waiting}; planned from the configured rates"
    table = Table(title=f"{report.name}  {_period(report)}", caption=caption, title_justify="left")
    for column in ("stage", "target", "rate to next stage", "lag to next", "arrive", "commitment"):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for stage in report.stages:
        table.add_row(
            stage.stage,
            "" if stage.target is None else count(stage.target),
            _rate(stage),
            _lag(stage),
            _arrival(stage),
            _commitments(report, stage),
        )
    return table


def _commitments(report: GoalReport, stage: StageReport) -> Text:
    promised = [c for c in report.commitments if c.stage == stage.stage]
    if not promised and stage.commitment is not None:  # no plan to judge it against
        return Text(count(stage.commitment))
    return commitment_cell(promised)


def commitment_cell(promised: Sequence[Commitment]) -> Text:
    """A stage's volume commitment and the commitment to its rate to the
    next stage, each with its team; yellow where short of the plan."""
    cells = []
    for c in promised:
        shown = count(c.committed) if c.rate is None else f"{percent(c.committed)} rate"
        cells.append(Text(f"{shown} ({c.owner})", style="yellow" if c.short else ""))
    return Text("; ").join(cells)


def plan_limits(
    spend: Spend | None, capacity: Sequence[CapacityLine], reaches: Sequence[Reach]
) -> list[Text]:
    """The plan against the budget and each team's capacity, and, where it
    needs more, what the limit reaches instead."""
    lines = []
    if spend is not None:
        parts = [
            f"{count(x.volume)} {stage_noun(x.stage, x.volume)} × {price(x.unit_cost)}"
            for x in spend.lines
        ]
        if spend.per_month:
            parts.append(f"{amount(spend.per_month)}/month × {spend.months:g}")
        text = f"Spend: the plan needs {amount(spend.total)} ({' + '.join(parts)})"
        style = ""
        if spend.budget is not None and spend.over is not None:
            over = spend.over > 0
            left = f"{amount(abs(spend.over))} {'over' if over else 'left'}"
            text += f" against a budget of {amount(spend.budget)}: {left}"
            style = "red" if over else "green"
        lines.append(Text(text, style=style))
    for line in capacity:
        over = line.over > 0
        lines.append(
            Text(
                f"Capacity: {count(line.needed)} {stage_noun(line.stage, line.needed)} needed, "
                f"{count(line.available)} can be handled ({count(line.per_month)}/month)"
                + (f": {count(line.over)} over" if over else ""),
                style="red" if over else "green",
            )
        )
    short = {"budget"} if spend is not None and (spend.over or 0) > 0 else set()
    short |= {f"capacity/{line.stage}" for line in capacity if line.over > 0}
    for reach in reaches:
        key = reach.limit if reach.limit == "budget" else f"capacity/{reach.stage}"
        if key in short:
            lines.append(Text(f"  {reach_text(reach)}", style="yellow"))
    return lines


def rate_goal_line(goal: RateGoalReport) -> Text:
    """``Rate goal: Lead→MQL goal 30% …; behind: …``, coloured by verdict."""
    style = {"reached": "green", "behind": "red", "undecided": "yellow"}[goal.verdict]
    return Text(f"Rate goal: {goal.text}", style=style)


def reach_text(reach: Reach) -> str:
    """``the budget reaches 1,250 lead → 312 mql → … → 25 won (1,250,000)``."""
    path = " → ".join(f"{count(v)} {stage_noun(s, v)}" for s, v in reach.volumes.items())
    what = "the budget" if reach.limit == "budget" else f"{stage_noun(reach.stage, 1)} capacity"
    revenue = "" if reach.revenue is None else f" ({amount(reach.revenue)})"
    return f"{what} reaches {path}{revenue}"


def _lag(stage: StageReport) -> str:
    """``median 4d, p90 11d → 40%``: how long the conversion to the next
    stage takes and the share it levels off at."""
    if stage.lag is None:
        return "" if stage.stage in ("won", "visit") else "not learned yet"
    lag = stage.lag
    return f"median {lag.median}d, p90 {lag.p90}d → {percent(lag.plateau)}"


def _arrival(stage: StageReport) -> str:
    """The days a stage's volume must arrive on to close in the period."""
    if stage.arrival is None:
        return ""
    arrival = stage.arrival
    return f"{arrival.first:%m-%d} → {arrival.last:%m-%d}"


def _lags_caption(report: GoalReport) -> str:
    parts = [
        f"{_RATE_LABEL[name]} median {curve.median}d, p90 {curve.p90}d, levels at "
        f"{percent(curve.plateau)}"
        for name, curve in report.lags.items()
    ]
    return "lags: " + "; ".join(parts) if parts else ""


def status_table(report: GoalReport) -> Table:
    title = (
        f"{report.name}  {_period(report)}  ({percent(report.elapsed)} elapsed, {report.pacing})"
    )
    table = Table(title=title, title_justify="left")
    for column in (
        "stage",
        "target",
        "expected",
        "actual",
        "attainment",
        "projection",
        "forecast (80%)",
        "needed/day",
    ):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for s in report.stages:
        style = ""
        if s.drift is not None and s.drift < 0:
            style = "red" if s.drift <= -0.30 else ("yellow" if s.drift <= -0.15 else "")
        table.add_row(
            s.stage,
            "" if s.target is None else count(s.target),
            "" if s.expected is None else count(round(s.expected)),
            "—" if s.actual is None else count(s.actual),
            Text("" if s.attainment is None else percent(s.attainment), style=style),
            "" if s.projection is None else count(round(s.projection)),
            _forecast(s),
            "" if s.needed_per_day is None else f"{s.needed_per_day:,.1f}",
        )
    _caption_waiting(table, report)
    return table


def _forecast(stage: StageReport) -> str:
    """``412 (380–445)``: the pipeline forecast and its 80% interval; ``—``
    for a stage that has none (visits show nothing)."""
    if stage.stage == "visit":
        return ""
    f = stage.forecast
    if f is None:
        return "—"
    return f"{count(f.expected)} ({count(f.low)}–{count(f.high)})"


def forecast_legend(report: GoalReport) -> str:
    """Which forecast is which, and why a stage has no pipeline forecast."""
    legend = (
        "projection: run rate (actual ÷ share of the period gone); forecast: pipeline "
        "(what has arrived, plus open records and expected new leads converting on the "
        "learned lags before the period ends), 80% interval"
    )
    return f"{legend}; {report.forecast_note}" if report.forecast_note else legend


def _caption_waiting(table: Table, report: GoalReport) -> None:
    if report.waiting:
        table.caption = f"{report.source}: {report.waiting}; only commitments are checked"
    else:
        table.caption = "\n".join(x for x in (_lags_caption(report), forecast_legend(report)) if x)
    table.caption_justify = "left"


def print_status(evaluation: Evaluation, console: Console) -> None:
    """``status`` as text: each goal's pace, each SLA rule's compliance (or
    why it waits), and the findings."""
    for report in evaluation.goals:
        console.print(status_table(report))
        if report.rate_goal is not None:
            console.print(rate_goal_line(report.rate_goal))
        for line in plan_limits(report.spend, report.capacity, report.reach):
            console.print(line)
        for table in breakdown_tables(report):
            console.print(table)
        marketing = marketing_text(report)
        if marketing is not None:
            console.print(marketing)
        stalled = evaluation.stalls.get(report.name, [])
        if stalled:
            console.print(stalls_table(report.name, stalled))
    for rule, result in evaluation.sla:
        console.print(sla_table(rule.name, result))
    for rule, reason in evaluation.sla_waiting:
        console.print(Text(f"SLA {rule.name}: {rule.source}: {reason}", style="yellow"))
    print_findings(evaluation.findings, console)


def print_findings(
    findings: Sequence[Finding], console: Console, heading: str = "Findings"
) -> None:
    if not findings:
        console.print(f"[green]{heading}: none — every goal is on pace.[/green]")
        return
    console.print(f"[bold]{heading} ({len(findings)})[/bold]")
    for finding in sorted(findings, key=lambda f: (-f.severity, f.fingerprint)):
        style = SEVERITY_STYLE[finding.severity]
        console.print(
            Text.assemble((f"  {str(finding.severity).upper():9}", style), (finding.title, "bold"))
        )
        console.print(Text(f"            {finding.subject}: {finding.text}"))


def targets_json(reports: Iterable[GoalReport], as_of: datetime) -> dict[str, Any]:
    goals = []
    for report in reports:
        data = report.to_dict()
        data.pop("findings", None)
        goals.append(data)
    return {"as_of": as_of.isoformat(), "goals": goals}


def status_json(evaluation: Evaluation, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = targets_json(evaluation.goals, evaluation.as_of)
    payload["findings"] = [finding_json(f) for f in evaluation.findings]
    payload["waiting"] = dict(evaluation.waiting)
    payload["stalls"] = [s.to_dict() for items in evaluation.stalls.values() for s in items]
    payload.update(extra or {})
    return payload


def stalls_table(goal: str, stalled: Sequence[StageStall]) -> Table:
    """Per stage, the open records and the stalled ones, by owner."""
    table = Table(title=f"{goal}: where prospects stall", title_justify="left")
    for column in ("stage", "open", "stalled", "share", "beyond", "by owner"):
        table.add_column(
            column, justify="right" if column in ("open", "stalled", "share") else "left"
        )
    for stall in stalled:
        owners = sorted(stall.counts.stalled.items(), key=lambda item: (-item[1], item[0]))
        basis = f" ({stall.basis})" if stall.basis else ""
        table.add_row(
            stall.stage,
            count(stall.open),
            count(stall.stalled),
            "—" if stall.share is None else percent(stall.share),
            f"{stall.beyond_days}d{basis}",
            Text(", ".join(f"{stall.owner_name(owner)} {n}" for owner, n in owners) or "—"),
        )
    return table


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return ago(timedelta(seconds=seconds))


def sla_table(name: str, result: SlaResult) -> Table:
    """Follow-up compliance for one rule, overall and per owner."""
    within = ago(result.within)
    table = Table(
        title=f"SLA {name}: {result.stage} follow-up within {within} (business time), last 7 days",
        title_justify="left",
    )
    for column in ("owner", "met", "late", "open", "at risk", "compliance", "median", "p90"):
        table.add_column(column, justify="left" if column == "owner" else "right")
    rows = [("everyone", result.overall)] + [
        (result.owner_names.get(owner) or owner or "(unassigned)", stats)
        for owner, stats in sorted(result.by_owner.items())
    ]
    for label, stats in rows:
        rate = stats.met_rate
        style = (
            "" if rate is None else ("red" if rate < 0.7 else ("yellow" if rate < 0.9 else "green"))
        )
        table.add_row(
            label,
            str(stats.counts[State.MET]),
            str(stats.counts[State.LATE]),
            str(stats.counts[State.OPEN]),
            str(stats.counts[State.AT_RISK]),
            Text("—" if rate is None else percent(rate), style=style),
            _minutes(stats.sla_time_median),
            _minutes(stats.sla_time_p90),
        )
    return table


def print_summary(payload: dict[str, Any], console: Console) -> None:
    """The summary payload (as it would be posted) in the terminal."""
    console.print(f"[bold]{payload['title']}[/bold]")
    for line in payload["lines"]:
        console.print(f"\n[bold]{line['title']}[/bold]")
        console.print(Text(line["text"].replace("```\n", "").replace("\n```", "")))
