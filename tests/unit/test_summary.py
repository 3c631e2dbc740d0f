"""The daily summary and its chart show the pipeline forecast beside the
run-rate projection, and say which is which (monitor/summary.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.dates import num2date

from monitor import summary
from monitor.config.file import Config
from monitor.evaluate import Evaluation
from monitor.facts import CohortTable, FunnelFacts
from monitor.findings import Alert
from monitor.interfaces import Severity
from monitor.judge.reconciler import evaluate_goal
from tests.unit.judge.test_forecast import FRIDAY, PERIOD, learnable, midnight

GOAL = {
    "name": "q1",
    "source": "crm",
    "period": {"start": "2026-03-01", "end": "2026-03-10"},
    "closes": 40,
    "rates": {"sql_to_won": 0.4, "mql_to_sql": 0.4, "lead_to_mql": 0.5},
}
CONFIG = Config.model_validate(
    {
        "timezone": "UTC",
        "database": "sqlite:///:memory:",
        "sources": {"crm": {"kind": "demo"}},
        "goals": [GOAL],
    }
)


def evaluation(as_of: datetime, *, linked: bool = True) -> Evaluation:
    """The goal on Friday 03-06 (half of it gone): 7 won so far and 50 SQLs
    of eight days ago about to close at 40% (the hand-worked table of
    tests/unit/judge/test_forecast.py): won forecast 27 (21–33) against a
    run rate of 14. ``linked=False``: a CRM that links no persons to won
    deals, so no SQL→won cohorts."""
    tables = {
        "lead_to_mql": learnable(FRIDAY, 2, 0.5, {}),
        "mql_to_sql": learnable(FRIDAY, 1, 0.4, {}),
    }
    if linked:
        tables["sql_to_won"] = learnable(FRIDAY, 10, 0.4, {8: 50, 3: 50})
    daily = {
        "lead": {date(2026, 3, 2): 400},
        "mql": {date(2026, 3, 2): 100},
        "sql": {date(2026, 3, 2): 30},
        "won": {date(2026, 3, 2): 7},
    }
    facts = FunnelFacts(as_of=as_of, period=PERIOD, daily=daily, tables=tables)  # type: ignore[arg-type]
    report = evaluate_goal(CONFIG.goals[0], facts)
    return Evaluation(as_of, goals=[report], facts={"q1": facts})


def test_the_table_shows_the_pipeline_forecast_beside_the_run_rate() -> None:
    table = summary.goal_table(evaluation(midnight(FRIDAY)).goals[0])
    header, *rows = table.splitlines()
    assert header.split()[-3:] == ["projected", "pipeline", "(80%)"]
    won = next(r for r in rows if r.startswith("won"))
    assert won.split()[-3:] == ["14", "27", "(21–33)"]


def test_the_summary_says_which_forecast_is_which() -> None:
    payload = summary.build_payload(CONFIG, evaluation(midnight(FRIDAY)), [])
    text = payload["lines"][0]["text"]
    assert "projected = run rate (actual ÷ share of the period gone)" in text
    assert "pipeline = what has arrived plus open records and expected new leads" in text
    assert "80% interval" in text


def test_the_summary_says_why_a_stage_has_no_pipeline_forecast() -> None:
    report = evaluation(midnight(FRIDAY), linked=False).goals[0]
    assert report.stage("won").forecast is None
    won = next(r for r in summary.goal_table(report).splitlines() if r.startswith("won"))
    assert won.split()[-1] == "—"
    assert (
        "No pipeline forecast for won deals: the CRM does not link SQLs to won deals."
        in summary.forecast_line(report)
    )


def band(axes: object) -> PolyCollection:
    (poly,) = [c for c in axes.collections if isinstance(c, PolyCollection)]  # type: ignore[attr-defined]
    return poly


def test_the_chart_draws_the_band_from_now_to_the_period_end() -> None:
    figure = summary.draw(CONFIG, evaluation(midnight(FRIDAY)))
    panels = {a.get_title(): a for a in figure.axes}
    assert set(panels) == {f"q1: {noun}" for noun in ("leads", "MQLs", "SQLs", "won deals")}
    vertices = band(panels["q1: won deals"]).get_paths()[0].vertices
    xs = sorted({num2date(x).replace(tzinfo=UTC) for x in vertices[:, 0]})
    # From the end of today (the last actual point) to the period's end.
    assert (xs[0], xs[-1]) == (midnight(FRIDAY) + timedelta(days=1), PERIOD.ends_at)
    at_end = sorted(y for x, y in vertices if num2date(x) == PERIOD.ends_at)
    assert (at_end[0], at_end[-1]) == (21, 33)
    run_rate = next(
        line for line in panels["q1: won deals"].lines if line.get_label() == "run rate"
    )
    assert list(run_rate.get_ydata()) == pytest.approx([7, 14])
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["expected", "actual", "pipeline forecast (80%)", "run rate"]


def test_no_band_once_the_period_is_over() -> None:
    figure = summary.draw(CONFIG, evaluation(midnight(date(2026, 3, 12))))
    assert all(
        not any(isinstance(c, PolyCollection) for c in axes.collections) for axes in figure.axes
    )


def test_the_chart_is_a_png() -> None:
    assert summary.chart(CONFIG, evaluation(midnight(FRIDAY)))[:8] == b"\x89PNG\r\n\x1a\n"


def test_open_alerts_are_listed_under_their_goal() -> None:
    """Two goals' alerts with the same title can be told apart; SLA and
    source alerts are named as such; the most severe group comes first."""
    now = midnight(FRIDAY)

    def firing(rule: str, subject: str, title: str, severity: Severity) -> Alert:
        return Alert(
            fingerprint=f"{rule}/{subject}",
            rule=rule,  # type: ignore[arg-type]
            subject=subject,
            source="crm",
            severity=severity,
            state="firing",
            consecutive=1,
            title=title,
            text="",
            channel=None,
            first_seen_at=now,
            last_seen_at=now,
        )

    alerts = [
        firing("pacing", "q1-emea", "MQLs 30% behind pace", Severity.WARNING),
        firing("pacing", "q1-us", "MQLs 30% behind pace", Severity.CRITICAL),
        firing("sla-breach", "mql-follow-up", "Ines: 1 MQL late", Severity.CRITICAL),
        firing("source-stale", "hubspot", "Source hubspot is stale", Severity.WARNING),
    ]
    payload = summary.build_payload(CONFIG, evaluation(now), alerts)
    (line,) = [x for x in payload["lines"] if x["fingerprint"] == "summary/alerts"]
    assert line["text"] == (
        "SLA mql-follow-up:\n• [critical] Ines: 1 MQL late\n"
        "q1-us:\n• [critical] MQLs 30% behind pace\n"
        "q1-emea:\n• [warning] MQLs 30% behind pace\n"
        "source hubspot:\n• [warning] Source hubspot is stale"
    )


def test_a_rate_goal_has_its_line_and_no_chart() -> None:
    """The rate goal's verdict is a line of its goal's block; a goal that
    is only a rate has no volumes to chart."""
    rate_only = {
        "name": "lead-quality",
        "source": "crm",
        "period": GOAL["period"],
        "rate": {"stage": "lead_to_mql", "target": 0.6},
        "auto_rates": {"maturity_days": 0},
    }
    config = CONFIG.model_copy(
        update={
            "goals": [
                CONFIG.goals[0],
                Config.model_validate(
                    {"timezone": "UTC", "sources": {"crm": {"kind": "demo"}}, "goals": [rate_only]}
                ).goals[0],
            ]
        }
    )
    base = evaluation(midnight(FRIDAY))
    facts = base.facts["q1"]
    cohorts = CohortTable(FRIDAY, {date(2026, 3, 1): 200}, {(date(2026, 3, 1), 0): 100})
    rate_facts = FunnelFacts(as_of=facts.as_of, period=PERIOD, daily={}, rate_goal=cohorts)
    report = evaluate_goal(config.goals[1], rate_facts)
    both = Evaluation(
        base.as_of, goals=[*base.goals, report], facts={**base.facts, "lead-quality": rate_facts}
    )
    text = summary.build_payload(config, both, [])["lines"][1]["text"]
    assert (
        "Rate goal: lead→MQL goal 60%: 50% observed (90% interval 44.2%–55.8%, 200 leads); behind"
        in text
    )
    titles = {axes.get_title().split(":")[0] for axes in summary.draw(config, both).axes}
    assert titles == {"q1"}
