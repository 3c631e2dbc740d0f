"""``status`` text for a goal's breakdown: one compact table per property,
the largest values by lead volume and the rest folded into "other", and
marketing's revenue line."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from monitor.display import shown_name
from monitor.interfaces import RECORD_STAGES, RateName
from monitor.judge.breakdown import ValueLine
from monitor.judge.format import amount, count, percent
from monitor.judge.report import GoalReport

#: Values shown one per row; the rest are summed into "other".
TOP_VALUES = 5
_RATES: tuple[RateName, ...] = ("lead_to_mql", "mql_to_sql", "sql_to_won")
#: Conversion into the stage, from the one above: short, so the table fits
#: a terminal.
_RATE_HEADER = {"lead_to_mql": "mql %", "mql_to_sql": "sql %", "sql_to_won": "won %"}


def breakdown_tables(report: GoalReport) -> list[Table]:
    return [_table(report.name, attr, lines) for attr, lines in report.breakdown.items()]


def marketing_text(report: GoalReport) -> Text | None:
    line = report.marketing
    if line is None:
        return None
    return Text(line.sentence())


def _table(goal: str, attr: str, lines: Sequence[ValueLine]) -> Table:
    table = Table(
        title=f"{goal} by {attr}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column(attr, no_wrap=True, overflow="ellipsis", max_width=24)
    for stage in RECORD_STAGES:
        table.add_column(stage, justify="right", no_wrap=True)
    table.add_column("revenue", justify="right", no_wrap=True)
    for name in _RATES:
        table.add_column(_RATE_HEADER[name], justify="right", no_wrap=True)
    table.add_column("goal", justify="right", no_wrap=True)
    shown, rest = list(lines[:TOP_VALUES]), lines[TOP_VALUES:]
    for line in shown:
        table.add_row(
            shown_name(line.value),
            *(count(line.counts[s]) for s in RECORD_STAGES),
            amount(line.revenue),
            *(_percent(line.rates.get(name)) for name in _RATES),
            _percent(line.shares.get("goal")),
        )
    if rest:
        table.add_row(
            f"other ({len(rest)})",
            *(count(sum(x.counts[s] for x in rest)) for s in RECORD_STAGES),
            amount(sum(x.revenue for x in rest)),
            *("" for _ in _RATES),
            _percent(sum(x.shares.get("goal") or 0.0 for x in rest)),
        )
    table.caption = (
        "volumes and won revenue in the period; mql %, sql %, won %: conversion from the "
        "stage above over the auto-rate window's cohorts; goal: share of the goal carried"
    )
    table.caption_justify = "left"
    return table


def _percent(x: float | None) -> str:
    return "—" if x is None else percent(x)
