"""The daily summary (docs/design.md, "Daily summary"): per goal the stage table
(with the run-rate projection and the pipeline forecast, and a line saying
which is which), the rates against plan and the findings; the SLA
compliance line; the open alerts; and a chart of cumulative actual against
expected for every stage, with both forecasts drawn to the period's end.

Built from an ``Evaluation`` (no queries of its own), so the terminal
(`alignmon summary`) and Slack (`--post`, and the service's daily job) show
the same numbers.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

# Figure without pyplot: no global backend state, safe in the scheduler's threads.
from matplotlib.figure import Figure

from monitor.config.file import Config
from monitor.display import shown_name
from monitor.evaluate import Evaluation, working_days
from monitor.facts import FunnelFacts
from monitor.findings import Alert
from monitor.interfaces import STAGES, Severity
from monitor.judge.format import ago, count, percent, stage_noun
from monitor.judge.periods import linear_elapsed, local_midnight
from monitor.judge.report import GoalReport, StageReport
from monitor.judge.stalls import StageStall

ACTUAL_COLOUR, EXPECTED_COLOUR = "#1f77b4", "#888888"
PIPELINE_COLOUR, RUN_RATE_COLOUR = "#2ca02c", "#d62728"


def _cell(value: float | None, fmt: str = "count") -> str:
    if value is None:
        return "—"
    return percent(value) if fmt == "percent" else count(round(value))


def _forecast_cell(stage: StageReport) -> str:
    f = stage.forecast
    if f is None:
        return "—"
    return f"{count(f.expected)} ({count(f.low)}–{count(f.high)})"


def goal_table(report: GoalReport) -> str:
    """A fixed-width table: Slack shows it in a code block, the terminal as
    is. ``projected`` is the run rate, ``pipeline`` the pipeline forecast
    with its 80% interval (``forecast_line`` says so under the table)."""
    header = ("stage", "target", "expected", "actual", "attain.", "projected", "pipeline (80%)")
    rows = [header]
    for s in report.stages:
        rows.append(
            (
                s.stage,
                _cell(s.target),
                _cell(s.expected),
                _cell(s.actual),
                _cell(s.attainment, "percent"),
                _cell(s.projection),
                _forecast_cell(s),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def forecast_line(report: GoalReport) -> str:
    """Which forecast is which: the summary shows both."""
    line = (
        "Forecasts to the period's end: projected = run rate (actual ÷ share of the period "
        "gone); pipeline = what has arrived plus open records and expected new leads "
        "converting on the learned lags before the end, with an 80% interval."
    )
    if report.waiting:
        return line + " No pipeline forecast while the source's data is partial."
    if report.forecast_note:
        return f"{line} {report.forecast_note[0].upper()}{report.forecast_note[1:]}."
    return line


def rates_line(report: GoalReport) -> str:
    parts = []
    for name, planned in report.rates.items():
        observed = ""
        if planned.observed is not None and planned.source != "observed":
            observed = f", observed {percent(planned.observed)}"
        parts.append(
            f"{name.replace('_to_', '→')} plan {percent(planned.value)} ({planned.source}{observed})"
        )
    return "Rates: " + "; ".join(parts)


def rate_goal_line(report: GoalReport) -> str:
    """The rate goal's line with its newline, or nothing without one."""
    return "" if report.rate_goal is None else f"Rate goal: {report.rate_goal.text}\n"


#: How many of a stage's oldest stalled records the summary names.
OLDEST_NAMED = 3


def stall_line(stall: StageStall) -> str:
    """``12 SQLs stalled beyond 21 days (p90), oldest: …``: the records are
    CRM text, shown literally."""
    oldest = ", ".join(shown_name(stall.oldest_line(r)) for r in stall.counts.oldest[:OLDEST_NAMED])
    share = "" if stall.share is None else f", {percent(stall.share)} of {count(stall.open)} open"
    return f"{stall.headline()}{share}, oldest: {oldest}"


def build_payload(
    config: Config, evaluation: Evaluation, open_alerts: Sequence[Alert]
) -> dict[str, Any]:
    """The summary as an outbox payload (see monitor/messages.py)."""
    day = evaluation.as_of.astimezone(config.zone)
    lines: list[dict[str, Any]] = []
    for report in evaluation.goals:
        bullets = [f"• {f.title}" for f in report.findings]
        if report.waiting:
            bullets.insert(0, f"• {report.source}: {report.waiting}; only commitments are checked")
        stalled = [s for s in evaluation.stalls.get(report.name, []) if s.stalled]
        bullets += [f"• {stall_line(stall)}" for stall in stalled]
        findings = "\n".join(bullets) or "• on plan: nothing to flag"
        marketing = f"{report.marketing.sentence()}\n" if report.marketing else ""
        raised = [f for f in evaluation.stall_findings if f.subject == report.name]
        lines.append(
            {
                "fingerprint": f"summary/{report.name}",
                "severity": int(
                    max((f.severity for f in [*report.findings, *raised]), default=Severity.INFO)
                ),
                "title": f"{report.name} — {percent(report.elapsed)} of the period gone",
                "text": (
                    f"```\n{goal_table(report)}\n```\n{forecast_line(report)}\n"
                    f"{rates_line(report)}\n{rate_goal_line(report)}{marketing}{findings}"
                ),
                "mentions": [],
                "links": [
                    [stall.oldest_line(record), record.url]
                    for stall in stalled
                    for record in stall.counts.oldest
                    if record.url
                ],
            }
        )
    for rule, result in evaluation.sla:
        overall = result.overall
        slow = sorted(
            (
                (stats.met_rate, shown_name(result.owner_names.get(owner) or owner))
                for owner, stats in result.by_owner.items()
                if owner and stats.met_rate is not None
            ),
        )[:3]
        worst = ", ".join(f"{name} {percent(rate)}" for rate, name in slow)
        median = (
            ago(timedelta(seconds=overall.sla_time_median))
            if overall.sla_time_median is not None
            else "—"
        )
        lines.append(
            {
                "fingerprint": f"summary/sla/{rule.name}",
                "severity": int(Severity.INFO),
                "title": f"Follow-up SLA {rule.name}: {percent(overall.met_rate) if overall.met_rate is not None else '—'} met in the last 7 days",
                "text": f"{overall.decided} {stage_noun(rule.stage)} decided, median first touch {median} (business time). Lowest: {worst or '—'}.",
                "mentions": [],
                "links": [],
            }
        )
    for rule, reason in evaluation.sla_waiting:
        lines.append(
            {
                "fingerprint": f"summary/sla/{rule.name}",
                "severity": int(Severity.INFO),
                "title": f"Follow-up SLA {rule.name}: not judged yet",
                "text": f"{rule.source}: {reason}.",
                "mentions": [],
                "links": [],
            }
        )
    firing = [a for a in open_alerts if a.state == "firing"]
    lines.append(
        {
            "fingerprint": "summary/alerts",
            "severity": int(max((a.severity for a in firing), default=Severity.INFO)),
            "title": f"Open alerts: {len(firing)}",
            "text": open_alerts_text(firing),
            "mentions": [],
            "links": [],
        }
    )
    return {"title": f"Revenue alignment summary — {day:%A %d %B %Y}", "lines": lines}


def open_alerts_text(firing: Sequence[Alert]) -> str:
    """The firing alerts under what each is about (a goal, an SLA rule, a
    source), so two goals' "MQLs 30% behind pace" can be told apart; the
    most severe group first."""
    groups: dict[str, list[Alert]] = defaultdict(list)
    for alert in firing:
        groups[_about(alert)].append(alert)
    ordered = sorted(groups.items(), key=lambda g: (-max(a.severity for a in g[1]), g[0]))
    blocks = [
        "\n".join(
            [f"{about}:"]
            + [
                f"• [{a.severity}] {a.title}"
                for a in sorted(alerts, key=lambda a: (-a.severity, a.title))
            ]
        )
        for about, alerts in ordered
    ]
    return "\n".join(blocks) or "none"


def _about(alert: Alert) -> str:
    subject = shown_name(alert.subject)
    if alert.rule.startswith("sla-"):
        return f"SLA {subject}"
    if alert.rule == "source-stale":
        return f"source {subject}"
    return subject


def _series(
    config: Config, report: GoalReport, facts: FunnelFacts, stage: str
) -> tuple[list[Any], list[float], list[float]]:
    """Per local day of the period: cumulative actual (up to as_of) and expected."""
    period, zone = facts.period, config.zone
    goal = next(g for g in config.goals if g.name == report.name)
    calendar = working_days(config, goal)
    target = report.stage(stage).target or 0
    daily = facts.daily.get(stage, {})
    days: list[Any] = []  # datetimes; matplotlib converts them
    actual: list[float] = []
    expected: list[float] = []
    total = 0.0
    day = period.start
    while day < period.end:
        end = local_midnight(day + timedelta(days=1), zone)
        if calendar is not None:
            done, whole = calendar.elapsed_days(period.start, period.end, end)
            share = done / whole if whole else linear_elapsed(period, end)
        else:
            share = linear_elapsed(period, end)
        days.append(end)
        expected.append(target * share)
        if end <= facts.as_of + timedelta(days=1):
            total += daily.get(day, 0)
            actual.append(total)
        day += timedelta(days=1)
    return days, actual, expected


def chart(config: Config, evaluation: Evaluation) -> bytes:
    """PNG: one row per goal, one panel per stage with actuals."""
    buffer = io.BytesIO()
    draw(config, evaluation).savefig(buffer, format="png")
    return buffer.getvalue()


def draw(config: Config, evaluation: Evaluation) -> Figure:
    """The chart: per volume goal and stage with actuals, cumulative actual against
    expected per local day of the period, and from now to the period's end
    the pipeline forecast's 80% band (with its expectation) and the run-rate
    projection."""
    volume = {g.name for g in config.goals if not g.rate_goal_only}  # rate goals: no volumes
    reports = [r for r in evaluation.goals if r.name in evaluation.facts and r.name in volume]
    columns = max(
        1, max((sum(1 for s in r.stages if s.actual is not None) for r in reports), default=1)
    )
    figure = Figure(figsize=(3.3 * columns, 2.7 * max(1, len(reports))), dpi=100)
    for row, report in enumerate(reports):
        shown = [
            s for s in STAGES if any(x.stage == s and x.actual is not None for x in report.stages)
        ]
        for col, stage in enumerate(shown):
            axes = figure.add_subplot(len(reports), columns, row * columns + col + 1)
            days, actual, expected = _series(config, report, evaluation.facts[report.name], stage)
            axes.plot(days, expected, linestyle="--", color=EXPECTED_COLOUR, label="expected")
            axes.plot(days[: len(actual)], actual, color=ACTUAL_COLOUR, linewidth=2, label="actual")
            _forecasts(axes, report.stage(stage), days, actual)
            axes.set_title(f"{report.name}: {stage_noun(stage)}", fontsize=9)
            axes.tick_params(labelsize=7)
            axes.tick_params(axis="x", labelrotation=30)
            axes.grid(alpha=0.3)
    _legend(figure)
    figure.suptitle(
        f"Cumulative actual vs expected — as of {evaluation.as_of.astimezone(config.zone):%Y-%m-%d %H:%M}",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def _legend(figure: Figure) -> None:
    """One legend, in the first panel, naming every kind of line drawn in
    any panel (the first panel may be visits, which have no forecast)."""
    if not figure.axes:
        return
    handles: dict[str, Any] = {}
    for axes in figure.axes:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    figure.axes[0].legend(list(handles.values()), list(handles), fontsize=6, loc="upper left")


def _forecasts(axes: Any, stage: StageReport, days: list[Any], actual: list[float]) -> None:
    """From the last actual to the period's end: the pipeline forecast's 80%
    band, widening from today's count to its interval at the end, with its
    expectation; and the run-rate projection, dotted. Nothing once the
    period is over or before it has begun."""
    if not actual or len(actual) >= len(days):
        return
    span = [days[len(actual) - 1], days[-1]]
    now = actual[-1]
    f = stage.forecast
    if f is not None:
        axes.fill_between(
            span,
            [now, f.low],
            [now, f.high],
            color=PIPELINE_COLOUR,
            alpha=0.2,
            linewidth=0,
            label="pipeline forecast (80%)",
        )
        axes.plot(span, [now, f.expected], color=PIPELINE_COLOUR, linewidth=1)
    if stage.projection is not None:
        axes.plot(
            span,
            [now, stage.projection],
            color=RUN_RATE_COLOUR,
            linestyle=":",
            linewidth=1,
            label="run rate",
        )
