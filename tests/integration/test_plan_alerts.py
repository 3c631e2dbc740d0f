"""Both teams' commitments, budget and capacity through the normal path:
the demo CRM synced, the goal evaluated, the findings recorded as alerts
and delivered by the real slack-sdk client to the fake Slack, on SQLite
and PostgreSQL; and once the plan fits, resolved in the same thread."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.service.app import App
from tests.fakes.slack import TOKEN, FakeSlack

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
#: 20 closes a quarter: 100 SQLs, 250 MQLs, 1,000 leads.
GOAL = {
    "name": "q-new-business",
    "source": "crm",
    "closes": 20,
    "rates": {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25},
    "commitments": {"rates": {"sql_to_won": 0.16}},
    "plan": {"cost": {"lead": 40}, "budget": 30_000, "capacity": {"sql": 25}},
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'plan.db'}"
    return str(request.getfixturevalue("postgres").create_database())


def make_app(database: str, slack: FakeSlack, clock: Clock, goal: dict[str, Any]) -> App:
    config = Config.model_validate(
        {
            "timezone": "UTC",
            "database": database,
            "sources": {"crm": {"kind": "demo", "months": 3}},
            "slack": {"token": TOKEN, "api_url": slack.api_url, "channel": "#revenue-alignment"},
            "goals": [goal],
        }
    )
    return App(LoadedConfig(config, "plan.yaml"), clock=clock)


def accepted(slack: FakeSlack) -> list[dict[str, Any]]:
    """Messages Slack accepted, oldest first."""
    return [message for _, message in sorted(slack.messages.items(), key=lambda kv: kv[0][1])]


def test_commitment_budget_and_capacity_alerts_reach_slack(database: str, slack: FakeSlack) -> None:
    clock = Clock(NOW)
    app = make_app(database, slack, clock, GOAL)
    assert all(result.ok for result in app.sync())
    evaluation = app.evaluate()
    rules = {f.rule: f for f in evaluation.findings if f.subject == "q-new-business"}
    assert {"rate-commitment-gap", "budget-overrun", "capacity-overrun"} <= set(rules)
    app.record(evaluation)  # facts, not trends: they fire at the first evaluation
    assert app.deliver().sent >= 1
    text = "\n".join(message["text"] for message in accepted(slack))
    assert "Sales commits to 16% SQL→won, the plan needs 20%: 125 SQLs instead of 100." in text
    assert "The plan needs 40,000 (1,000 leads × 40) against a budget of 30,000" in text
    assert "The plan needs 100 SQLs; sales can handle 25 a month, 75 in the period" in text
    firing = {a.fingerprint for a in app.alert_listing().alerts if a.state == "firing"}
    period = "2026-10-01..2027-01-01"
    assert {
        f"rate-commitment-gap/q-new-business/sql/{period}",
        f"budget-overrun/q-new-business/{period}",
        f"capacity-overrun/q-new-business/sql/{period}",
    } <= firing
    app.close()

    # The teams agree a plan that fits: the same alerts resolve.
    fitted = GOAL | {
        "commitments": {"rates": {"sql_to_won": 0.2}},
        "plan": {"cost": {"lead": 40}, "budget": 40_000, "capacity": {"sql": 40}},
    }
    clock.now += timedelta(minutes=5)
    app = make_app(database, slack, clock, fitted)
    before = len(accepted(slack))
    app.record(app.evaluate())
    app.deliver()
    replies = [m["text"] for m in accepted(slack)[before:] if m.get("thread_ts")]
    for title in (
        "Sales's SQL→won commitment is below the plan",
        "The plan costs more than the marketing budget",
        "The plan needs more SQLs than sales can handle",
    ):
        assert any("Resolved" in reply and title in reply for reply in replies), title
    states = {a.fingerprint: a.state for a in app.alert_listing().alerts}
    assert not any(
        fp.startswith(("rate-commitment-gap", "budget-overrun", "capacity-overrun"))
        and state == "firing"
        for fp, state in states.items()
    )
    app.close()
