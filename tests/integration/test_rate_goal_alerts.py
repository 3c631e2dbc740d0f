"""A rate goal decided behind through the normal path: the demo CRM
synced, the goal evaluated, the finding recorded as an alert (debounced
like conversion drift) and delivered by the real slack-sdk client to the
fake Slack, on SQLite and PostgreSQL; and once the target is within
reach, resolved in the same thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fakes.slack import FakeSlack
from tests.integration.demo_goal import Clock, accepted, demo_app

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
#: The demo's leads convert to MQLs at about 16% this quarter.
GOAL = {
    "name": "lead-quality",
    "source": "crm",
    "rate": {"stage": "lead_to_mql", "target": 0.3},
}


def test_rate_goal_behind_reaches_slack_and_resolves(database: str, slack: FakeSlack) -> None:
    clock = Clock(NOW)
    app = demo_app(database, slack, clock, GOAL)
    assert all(result.ok for result in app.sync())
    for _ in range(2):  # a judgment, not a fact: it must hold for two evaluations
        evaluation = app.evaluate()
        assert [f.rule for f in evaluation.findings] == ["rate-goal-behind"]
        app.record(evaluation)
        clock.now += timedelta(minutes=5)
    assert app.deliver().sent >= 1
    posted = [m for m in accepted(slack) if "lead→MQL conversion behind its goal" in m["text"]]
    assert len(posted) == 1
    assert "have had time to convert" in posted[0]["text"]
    assert "below the goal of 30%" in posted[0]["text"]
    firing = {a.fingerprint for a in app.alert_listing().alerts if a.state == "firing"}
    assert "rate-goal-behind/lead-quality/lead/2026-10-01..2027-01-01" in firing
    app.close()

    # Marketing sets a target the quarter already beats: the alert resolves.
    app = demo_app(database, slack, clock, GOAL | {"rate": {"stage": "lead_to_mql", "target": 0.1}})
    before = len(accepted(slack))
    app.record(app.evaluate())
    app.deliver()
    replies = [m["text"] for m in accepted(slack)[before:] if m.get("thread_ts")]
    assert any("Resolved" in r and "lead→MQL conversion behind its goal" in r for r in replies)
    app.close()
