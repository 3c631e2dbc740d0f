"""Partial data is never judged: while a source's first sync runs, the
service evaluates every minute on what is stored so far, posts nothing
from it, and says "Now watching" once per channel when the sync completes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.interfaces import Batch, FunnelRecord
from monitor.service.app import App
from tests.fakes.slack import TOKEN, FakeSlack

START = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # a Monday, mid-period


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_app(tmp_path: Path, slack: FakeSlack) -> App:
    config = Config.model_validate(
        {
            "database": f"sqlite:///{tmp_path / 'ready.db'}",
            "sources": {"crm": {"kind": "demo"}},
            "slack": {"token": TOKEN, "api_url": slack.api_url, "channel": "#revenue"},
            "alerts": {"for": 1},
            "goals": [
                {
                    "name": "q4",
                    "source": "crm",
                    "closes": 40,
                    "rates": {"sql_to_won": 0.25, "mql_to_sql": 0.4, "lead_to_mql": 0.25},
                    "commitments": {"mql": 300},
                    "channel": "#sales",
                }
            ],
            "sla": [{"name": "mql-follow-up", "source": "crm", "within": "4h"}],
        }
    )
    return App(LoadedConfig(config, "ready.yaml"), clock=Clock(START))


def person(i: int) -> FunnelRecord:
    """A lead of a month ago that became an MQL nobody followed up."""
    at = START - timedelta(days=30) + timedelta(minutes=i)
    return FunnelRecord(
        "persons", f"P{i}", at, lead_at=at, mql_at=at, owner_email="sam@example.com"
    )


def posted(slack: FakeSlack) -> list[str]:
    return [call.params.get("text", "") for call in slack.calls_to("chat.postMessage")]


def step(app: App, minutes: int = 1) -> None:
    """One every-minute evaluation of the service, and its delivery."""
    app.clock.now += timedelta(minutes=minutes)  # type: ignore[attr-defined]
    app.record(app.evaluate())
    app.deliver()


def test_nothing_is_posted_from_a_first_sync_until_it_completes(
    tmp_path: Path, slack: FakeSlack
) -> None:
    app = make_app(tmp_path, slack)
    step(app)
    evaluation = app.evaluate()
    assert evaluation.waiting == {"crm": "no data for this source: its first sync has not run yet"}

    # The first sync pages in over several evaluations; it has not ended.
    for page in range(3):
        records = [person(page * 100 + i) for i in range(100)]
        app.store.write_batch("crm", "persons", Batch(records), app.clock())  # type: ignore[arg-type]
        step(app)
    evaluation = app.evaluate()
    assert evaluation.waiting == {"crm": "first sync in progress: 300 records so far"}
    (report,) = evaluation.goals
    assert report.waiting == evaluation.waiting["crm"]
    assert evaluation.sla == [] and [r.name for r, _ in evaluation.sla_waiting] == ["mql-follow-up"]
    # The commitment gap needs no data: it is the one thing said meanwhile.
    assert [f.rule for f in evaluation.findings if f.source == "crm"] == ["commitment-gap"]
    assert all("commitment" in text for text in posted(slack) if "Now watching" not in text)
    assert not any("behind pace" in t or "follow-up window" in t for t in posted(slack))

    app.store.record_sync("crm", app.clock(), ok=True, records_seen=300)  # type: ignore[arg-type]
    step(app)
    watching = [t for t in posted(slack) if t.startswith("Now watching")]
    channels = sorted(
        call.params["channel"]
        for call in slack.calls_to("chat.postMessage")
        if call.params.get("text", "").startswith("Now watching")
    )
    assert channels == ["#revenue", "#sales"]  # the goal's channel and the SLA rule's
    assert any("q4" in t for t in watching) and any("mql-follow-up" in t for t in watching)
    # Now the data is judged: the untouched MQLs are breaches, leads behind pace.
    assert any("follow-up window" in t for t in posted(slack))

    before = len(watching)
    step(app)
    step(app, minutes=60)
    assert len([t for t in posted(slack) if t.startswith("Now watching")]) == before
    app.close()


def test_a_source_that_synced_but_holds_nothing_is_not_judged(
    tmp_path: Path, slack: FakeSlack
) -> None:
    app = make_app(tmp_path, slack)
    app.store.record_sync("crm", START, ok=True, records_seen=0)
    step(app)
    assert app.evaluate().waiting == {"crm": "no data for this source"}
    assert not any("Now watching" in t or "behind pace" in t for t in posted(slack))
    app.close()


def test_status_json_says_why_a_goal_is_not_judged(tmp_path: Path, slack: FakeSlack) -> None:
    from monitor.cli import views

    app = make_app(tmp_path, slack)
    app.store.write_batch("crm", "persons", Batch([person(1)]), START)
    payload = views.status_json(app.evaluate())
    assert payload["waiting"] == {"crm": "first sync in progress: 1 records so far"}
    assert payload["goals"][0]["waiting"] == payload["waiting"]["crm"]
    app.close()
