"""``status`` as text: the pipeline forecast beside the run-rate projection,
and a caption saying which is which (monitor/cli/views.py)."""

from __future__ import annotations

from rich.console import Console

from monitor.cli import views
from tests.unit.judge.test_forecast import FRIDAY, midnight
from tests.unit.test_summary import evaluation


def render(linked: bool = True) -> str:
    console = Console(record=True, width=200)
    console.print(views.status_table(evaluation(midnight(FRIDAY), linked=linked).goals[0]))
    return console.export_text()


def test_status_shows_the_forecast_and_its_interval() -> None:
    text = render()
    header = next(line for line in text.splitlines() if "stage" in line)
    assert header.index("projection") < header.index("forecast (80%)") < header.index("needed/day")
    won = next(line for line in text.splitlines() if "│ won" in line)
    assert "27 (21–33)" in won
    caption = " ".join(text.split())  # the caption wraps at the table's width
    assert "projection: run rate (actual ÷ share of the period gone); forecast: pipeline" in caption


def test_status_says_why_a_stage_has_no_forecast() -> None:
    text = render(linked=False)
    won = next(line for line in text.splitlines() if "│ won" in line)
    assert "—" in won
    caption = " ".join(text.split())
    assert "no pipeline forecast for won deals: the CRM does not link SQLs to won deals" in caption
