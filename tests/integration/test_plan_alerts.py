"""Both teams' commitments, budget and capacity through the normal path:
the demo CRM synced, the goal evaluated, the findings recorded as alerts
and delivered by the real slack-sdk client to the fake Slack, on SQLite
and PostgreSQL; and once the plan fits, resolved in the same thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fakes.slack import FakeSlack
from tests.integration.demo_goal import Clock, accepted, demo_app

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


def test_commitment_budget_and_capacity_alerts_reach_slack(database: str, slack: FakeSlack) -> None:
    clock = Clock(NOW)
    app = demo_app(database, slack, clock, GOAL)
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
    app = demo_app(database, slack, clock, fitted)
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
