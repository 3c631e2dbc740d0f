"""Stalled records through the real store and the normal alert path: the
open and stalled counts per owner and the oldest records, counted by the
database on SQLite and PostgreSQL; and the demo's stalled SQLs evaluated,
recorded as an alert and delivered by slack-sdk to the fake Slack."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config.file import Config
from monitor.evaluate import evaluate
from monitor.interfaces import Batch, FunnelRecord
from monitor.store import Store
from tests.fakes.slack import FakeSlack
from tests.integration.demo_goal import Clock, accepted, demo_app

AS_OF = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
CUT = AS_OF - timedelta(days=20)
MAYA, JO = "maya@example.com", "jo@example.com"
GOAL = {"name": "q-new-business", "source": "crm", "closes": 20}


def sql(crm_id: str, days_ago: float, owner: str | None = MAYA, **stages: Any) -> FunnelRecord:
    at = AS_OF - timedelta(days=days_ago)
    return FunnelRecord(
        object_type="persons",
        crm_id=crm_id,
        modified_at=at,
        lead_at=at - timedelta(days=10),
        mql_at=at - timedelta(days=5),
        sql_at=at,
        owner_email=owner,
        owner_name={MAYA: "Maya Chen", JO: "Jo Park"}.get(owner or ""),
        name=f"Person {crm_id}",
        url=f"https://crm.example.com/p/{crm_id}",
        **stages,
    )


def history() -> list[FunnelRecord]:
    return [
        sql("young", 5),  # open, not stalled yet
        sql("m1", 30),
        sql("m2", 40),
        sql("j1", 50, owner=JO),
        sql("nobody", 25, owner=None),
        sql("won", 60, won_at=AS_OF - timedelta(days=1)),  # moved on
        sql("lost", 60, closed_at=AS_OF - timedelta(days=2)),  # closed
        sql("later", 60, closed_at=AS_OF + timedelta(days=1)),  # closed after as_of: still open
        sql("future", -1),  # enters after as_of
        *(sql(f"old{i}", 70 + i, owner=JO) for i in range(4)),
    ]


def test_stages_open_count_per_owner_and_list_the_oldest(store: Store) -> None:
    store.write_batch("crm", "persons", Batch(history()), AS_OF)
    store.write_batch(
        "crm",
        "persons",
        Batch(
            [FunnelRecord("persons", "gone", AS_OF, sql_at=CUT - timedelta(days=9), deleted=True)]
        ),
        AS_OF,
    )
    both = store.stages_open("crm", {}, {"mql": CUT, "sql": CUT}, AS_OF)
    got = both["sql"]
    assert got.open == {MAYA: 4, JO: 5, "": 1}  # Maya: young, m1, m2, later
    assert got.stalled == {MAYA: 3, JO: 5, "": 1}
    assert got.owner_names == {MAYA: "Maya Chen", JO: "Jo Park"}
    assert [r.crm_id for r in got.oldest] == ["old3", "old2", "old1", "old0", "later"]
    assert got.oldest[0].entered_at == AS_OF - timedelta(days=73)
    assert got.oldest[0].url == "https://crm.example.com/p/old3"
    # At AS_OF every record above had moved on from MQL but "future", an
    # SQL only the day after.
    assert both["mql"].open == {MAYA: 1}
    assert both["mql"].oldest == ()  # "future" entered MQL after the cut-off
    assert store.stages_open("crm", {}, {"sql": CUT}, AS_OF)["sql"] == got
    assert store.reports_closures("crm")
    assert not store.reports_closures("other")


def stall_config(**stalls: Any) -> Config:
    goal = GOAL | {"stalls": {"beyond": 20, "min_records": 5, **stalls}}
    return Config.model_validate(
        {"timezone": "UTC", "sources": {"crm": {"kind": "demo"}}, "goals": [goal]}
    )


def test_evaluation_reports_stalls_only_for_a_source_that_closes_records(store: Store) -> None:
    records = history()
    store.write_batch("crm", "persons", Batch(records), AS_OF)
    judged = evaluate(stall_config(), store, AS_OF, waiting={})
    (stage,) = [s for s in judged.stalls["q-new-business"] if s.stage == "sql"]
    assert (stage.open, stage.stalled, stage.beyond_days) == (10, 9, 20)
    assert [f.fingerprint for f in judged.findings if f.rule == "stalled"] == [
        "stalled/q-new-business/sql"
    ]
    assert "stalled/q-new-business/sql" in judged.held
    quiet = evaluate(stall_config(threshold=0.95), store, AS_OF, waiting={})
    assert not [f for f in quiet.findings if f.rule == "stalled"]

    # The same records from a CRM that never closes one: nothing is judged.
    never = [replace(r, closed_at=None) for r in records]
    store.write_batch("crm", "persons", Batch(never), AS_OF + timedelta(seconds=1))
    assert not store.reports_closures("crm")
    assert evaluate(stall_config(), store, AS_OF, waiting={}).stalls["q-new-business"] == []


NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def test_stalled_sqls_reach_slack_and_resolve(database: str, slack: FakeSlack) -> None:
    clock = Clock(NOW)
    app = demo_app(database, slack, clock, GOAL, months=4)
    assert all(result.ok for result in app.sync())
    for _ in range(2):  # pending, then firing
        app.record(app.evaluate())
        clock.now += timedelta(minutes=5)
    assert app.deliver().sent >= 1
    posted = [m for m in accepted(slack) if "stalled beyond" in m["text"]]
    assert len(posted) == 1
    text = posted[0]["text"]
    assert "SQLs stalled beyond" in text and "(p90)" in text
    assert "Jordan Ellis" in text
    assert json.dumps(posted[0]["blocks"]).count("https://crm.example.com/persons/") == 5
    firing = {a.fingerprint for a in app.alert_listing().alerts if a.state == "firing"}
    assert "stalled/q-new-business/sql" in firing
    app.close()

    # A threshold above the stalled share: the alert resolves in its thread.
    app = demo_app(database, slack, clock, GOAL | {"stalls": {"threshold": 0.95}}, months=4)
    before = len(accepted(slack))
    app.record(app.evaluate())
    app.deliver()
    replies = [m["text"] for m in accepted(slack)[before:] if m.get("thread_ts")]
    assert any("Resolved" in reply and "stalled beyond" in reply for reply in replies)
    app.close()
