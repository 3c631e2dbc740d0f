"""``alignmon plan`` as tables and JSON: the plan backward from the goal,
what it costs and needs against the limits, and forward from each limit to
the revenue it can reach."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.cli import views
from monitor.interfaces import RATE_FROM, STAGES
from monitor.judge.format import amount, count, percent, price, stage_noun
from monitor.planner import Plan


def plan_json(plans: Sequence[Plan]) -> dict[str, Any]:
    return {"plans": [p.to_dict() for p in plans]}


def print_plan(plan: Plan, console: Console) -> None:
    if plan.targets:
        console.print(backward_table(plan))
        for c in plan.commitments:
            console.print(Text(f"Commitment: {c.text}", style="yellow" if c.short else "green"))
        for line in views.plan_limits(plan.spend, plan.capacity, ()):
            console.print(line)
    if plan.reach:
        console.print(forward_table(plan))
        console.print(fit_line(plan))
    if not plan.targets and not plan.reach:
        console.print(
            Text(
                f"{plan.name}: nothing to plan: give a goal (--revenue with --deal-size, or "
                "--closes), a --budget with --cost, or a --capacity",
                style="yellow",
            )
        )


def _goal(plan: Plan) -> str:
    won = plan.targets.get("won")
    if plan.revenue is not None and plan.deal_size is not None:
        return (
            f"{amount(plan.revenue)} at {amount(plan.deal_size)} a deal → "
            f"{count(won or 0)} won deals"
        )
    return f"{count(won or 0)} won deals"


def backward_table(plan: Plan) -> Table:
    title = f"{plan.name}: {_goal(plan)} per {plan.period} ({plan.months:g} month{'' if plan.months == 1 else 's'})"
    table = Table(title=title, title_justify="left")
    columns = ["stage", "needed", "rate to next stage"]
    columns += ["cost"] if plan.costs.cost else []
    columns += ["capacity"] if plan.capacity else []
    columns += ["commitment"] if plan.commitments else []
    for column in columns:
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, target in plan.targets.items():
        rate = ""
        if stage in RATE_FROM and RATE_FROM[stage] in plan.rates:
            value, origin = plan.rates[RATE_FROM[stage]]
            rate = f"{percent(value)} ({origin})"
        cells: list[str | Text] = [stage, count(target), rate]
        if plan.costs.cost:
            cost = plan.costs.cost.get(stage)
            cells.append("" if cost is None else f"{price(cost)} → {amount(cost * target)}")
        if plan.capacity:
            cells.append(_capacity(plan, stage))
        if plan.commitments:
            cells.append(views.commitment_cell([c for c in plan.commitments if c.stage == stage]))
        table.add_row(*cells)
    return table


def _capacity(plan: Plan, stage: str) -> Text:
    line = next((c for c in plan.capacity if c.stage == stage), None)
    if line is None:
        return Text("")
    text = f"{count(line.available)} ({count(line.per_month)}/month)"
    return Text(text, style="red" if line.over > 0 else "")


def forward_table(plan: Plan) -> Table:
    table = Table(
        title=f"{plan.name}: what each limit reaches per {plan.period}", title_justify="left"
    )
    table.add_column("limit")
    shown = [s for s in STAGES if any(s in r.volumes for r in plan.reach)]
    for stage in shown:
        table.add_column(stage_noun(stage), justify="right")
    table.add_column("revenue", justify="right")
    fits = plan.fits
    for reach in plan.reach:
        label = (
            f"budget {amount(plan.costs.budget or 0)}"
            if reach.limit == "budget"
            else f"{stage_noun(reach.stage, 1)} capacity"
        )
        table.add_row(
            Text(label, style="bold" if reach is fits else ""),
            *(count(reach.volumes[s]) if s in reach.volumes else "" for s in shown),
            "" if reach.revenue is None else amount(reach.revenue),
        )
    return table


def fit_line(plan: Plan) -> Text:
    """``To fit the budget, the revenue goal becomes 1,250,000``, or that
    the limits cover the goal."""
    fits = plan.fits
    if fits is None:
        return Text("")
    what = "the budget" if fits.limit == "budget" else f"{stage_noun(fits.stage, 1)} capacity"
    goal = (
        f"{count(fits.won)} won deals"
        if fits.revenue is None
        else f"{amount(fits.revenue)} of revenue ({count(fits.won)} won deals)"
    )
    won = plan.targets.get("won")
    if won is None:
        return Text(f"Within {what}, the funnel reaches {goal}.")
    if fits.won >= won:
        return Text(f"The limits cover the goal: {what}, the tightest, reaches {goal}.", "green")
    target = (
        f"the revenue goal becomes {amount(fits.revenue)}"
        if fits.revenue is not None and plan.revenue is not None
        else f"the goal becomes {count(fits.won)} closes"
    )
    return Text(f"To fit {what}, {target} (from {_goal(plan)}).", "yellow")
