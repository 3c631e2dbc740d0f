"""A lead source converting far below the rest, through the normal path:
the demo CRM synced, the goal evaluated, the quality gap recorded as an
alert (after ``for`` evaluations, as trends are) and delivered by the real
slack-sdk client to the fake Slack, on SQLite and PostgreSQL; the daily
summary carries marketing's revenue line."""

from __future__ import annotations

from datetime import timedelta

from monitor.summary import build_payload
from tests.fakes.slack import FakeSlack
from tests.integration.demo_goal import Clock, accepted, demo_app
from tests.integration.test_plan_alerts import NOW

GOAL = {
    "name": "q-new-business",
    "source": "crm",
    "revenue": 2_000_000,
    "average_deal_size": 25_000,
    "breakdown": ["lead_source"],
    "marketing_sources": {"property": "lead_source", "values": ["paid_social", "webinar", "seo"]},
    "marketing_share": 0.6,
}
FINGERPRINT = "quality-gap/q-new-business/mql:lead_source=paid_social/2026-10-01..2027-01-01"


def test_a_weak_lead_source_reaches_slack(database: str, slack: FakeSlack) -> None:
    clock = Clock(NOW)
    app = demo_app(database, slack, clock, GOAL, months=4)
    assert all(result.ok for result in app.sync())
    first = app.evaluate()
    assert FINGERPRINT in {f.fingerprint for f in first.findings}
    app.record(first)  # pending: a trend must last `for` evaluations
    clock.now += timedelta(minutes=5)
    app.record(app.evaluate())
    assert app.deliver().sent >= 1
    text = "\n".join(message["text"] for message in accepted(slack))
    assert "MQL→SQL of lead_source paid_social far below the rest" in text
    assert "MQLs with lead_source paid_social convert to SQLs at " in text
    firing = {a.fingerprint for a in app.alert_listing().alerts if a.state == "firing"}
    assert FINGERPRINT in firing

    evaluation = app.evaluate()
    payload = build_payload(app.config, evaluation, [])
    (goal_line,) = [
        line for line in payload["lines"] if line["fingerprint"].endswith("new-business")
    ]
    assert "Marketing: " in goal_line["text"]
    assert "won revenue from lead_source paid_social, webinar, seo" in goal_line["text"]
    assert "against 1,200,000 of the goal" in goal_line["text"]
    app.close()
