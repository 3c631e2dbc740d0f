"""A rep's untouched MQL, end to end: at-risk warning, breach notice that
mentions the rep, resolution when the touch arrives — and an --as-of
backtest that reproduces the same states."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.interfaces import Batch, FunnelRecord, Touch
from monitor.judge.sla import SlaResult, State
from monitor.service.app import App
from tests.fakes.slack import TOKEN, FakeSlack

NY = ZoneInfo("America/New_York")
MQL_AT = datetime(2026, 11, 16, 10, 0, tzinfo=NY)  # a Monday
DEADLINE = MQL_AT + timedelta(hours=4, minutes=5)  # assigned at 10:05, 4h window


class Clock:
    def __init__(self) -> None:
        self.now = MQL_AT

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(users={"sam.okafor@example.com": "U0SAM"}) as fake:
        yield fake


@pytest.fixture
def app(tmp_path: Path, slack: FakeSlack) -> Iterator[App]:
    config = Config.model_validate(
        {
            "timezone": "America/New_York",
            "database": f"sqlite:///{tmp_path / 'sla.db'}",
            "sources": {"crm": {"kind": "demo"}},
            "slack": {"token": TOKEN, "api_url": slack.api_url, "channel": "#revenue-alignment"},
            "sla": [
                {"name": "mql-follow-up", "source": "crm", "within": "4h", "warn_before": "1h"}
            ],
        }
    )
    application = App(LoadedConfig(config, "sla.yaml"), clock=Clock())
    lead = FunnelRecord(
        object_type="persons",
        crm_id="P1",
        modified_at=MQL_AT,
        lead_at=MQL_AT - timedelta(days=2),
        mql_at=MQL_AT,
        owner_email="sam.okafor@example.com",
        owner_name="Sam Okafor",
        assigned_at=MQL_AT + timedelta(minutes=5),
        name="Dana Whitfield, Northwind",
        url="https://crm.example.com/persons/P1",
    )
    application.store.write_batch("crm", "persons", Batch([lead]), MQL_AT)
    application.store.record_sync("crm", MQL_AT, ok=True, records_seen=1)
    yield application
    application.close()


def at(app: App, when: datetime) -> State:
    """Evaluate at ``when`` as the service would, right after a sync."""
    app.clock.now = when  # type: ignore[attr-defined]
    app.store.record_sync("crm", when, ok=True)
    evaluation = app.evaluate()
    app.record(evaluation)
    app.deliver()
    ((_, result),) = evaluation.sla
    return state_of(result)


def state_of(result: SlaResult) -> State:
    """The one lead's state: judged while it waits for a touch; once
    touched, its outcome is folded and counted (``monitor.sla_folding``)."""
    if result.records:
        (record,) = result.records
        return record.state
    (decided,) = [state for state, count in result.overall.counts.items() if count]
    return decided


def texts(slack: FakeSlack) -> list[str]:
    """What the channel shows about alerts (not the one "Now watching" post)."""
    every = [m["text"] for _, m in sorted(slack.messages.items(), key=lambda kv: kv[0][1])]
    return [t for t in every if not t.startswith("Now watching")]


def test_at_risk_then_breach_then_resolved_by_the_touch(app: App, slack: FakeSlack) -> None:
    assert at(app, DEADLINE - timedelta(hours=2)) == State.PENDING
    assert texts(slack) == []
    (watching,) = [m["text"] for m in slack.messages.values()]
    assert watching.startswith("Now watching crm") and "mql-follow-up" in watching

    assert at(app, DEADLINE - timedelta(minutes=30)) == State.AT_RISK
    (warning,) = texts(slack)
    assert "due for follow-up soon" in warning and "<@U0SAM>" in warning
    assert "Dana Whitfield, Northwind" in warning

    assert at(app, DEADLINE + timedelta(seconds=30)) == State.OPEN
    breach = [t for t in texts(slack) if "past the 4h follow-up window" in t]
    assert len(breach) == 1 and "<@U0SAM>" in breach[0] and "Sam Okafor" in breach[0]
    assert "At risk → breached: Dana Whitfield, Northwind" in breach[0]
    assert not [t for t in texts(slack) if "Resolved" in t or t.startswith("Cleared")], (
        "a record that breached is escalated, not resolved"
    )
    (update,) = [c.params["text"] for c in slack.calls_to("chat.update")]
    assert "⬆ Escalated — Sam Okafor: 1 MQL due for follow-up soon" in update

    touched = DEADLINE + timedelta(minutes=50)
    app.store.write_batch("crm", "tasks", Batch(touches=[Touch("persons", "P1", touched)]), touched)
    assert at(app, touched + timedelta(minutes=1)) == State.LATE
    resolved = [t for t in texts(slack) if t.startswith("Cleared") or "Resolved" in t]
    assert any("past the 4h follow-up window" in t for t in resolved)
    announced = [
        call
        for call in slack.calls_to("chat.postMessage")
        if "thread_ts" not in call.params
        and "past the 4h follow-up window" in call.params.get("text", "")
    ]
    assert len(announced) == 1  # one breach post, not repeated


def test_as_of_backtest_reproduces_the_states(app: App) -> None:
    touched = DEADLINE + timedelta(minutes=50)
    app.store.write_batch("crm", "tasks", Batch(touches=[Touch("persons", "P1", touched)]), touched)
    expected = {
        DEADLINE - timedelta(hours=2): State.PENDING,
        DEADLINE - timedelta(minutes=30): State.AT_RISK,
        DEADLINE + timedelta(seconds=30): State.OPEN,
        touched + timedelta(minutes=1): State.LATE,
    }
    for when, state in expected.items():
        ((_, result),) = app.evaluate(as_of=when).sla
        assert state_of(result) == state, when


def lead(crm_id: str, mql_at: datetime, name: str) -> FunnelRecord:
    return FunnelRecord(
        object_type="persons",
        crm_id=crm_id,
        modified_at=mql_at,
        lead_at=mql_at - timedelta(days=2),
        mql_at=mql_at,
        owner_email="sam.okafor@example.com",
        owner_name="Sam Okafor",
        assigned_at=mql_at,
        name=name,
        url=f"https://crm.example.com/persons/{crm_id}",
    )


@pytest.fixture
def two_leads(tmp_path: Path, slack: FakeSlack) -> Iterator[App]:
    """Two of Sam's MQLs, due at 14:00 and 15:00, under a rule that reports
    late touches."""
    config = Config.model_validate(
        {
            "timezone": "America/New_York",
            "database": f"sqlite:///{tmp_path / 'two.db'}",
            "sources": {"crm": {"kind": "demo"}},
            "slack": {"token": TOKEN, "api_url": slack.api_url, "channel": "#revenue-alignment"},
            "sla": [
                {
                    "name": "mql-follow-up",
                    "source": "crm",
                    "within": "4h",
                    "report_late_touch": True,
                }
            ],
        }
    )
    application = App(LoadedConfig(config, "sla.yaml"), clock=Clock())
    leads = [lead("P1", MQL_AT, "Dana Whitfield"), lead("P2", MQL_AT + HOUR, "Lee Park")]
    application.store.write_batch("crm", "persons", Batch(leads), MQL_AT)
    application.store.record_sync("crm", MQL_AT, ok=True, records_seen=2)
    yield application
    application.close()


HOUR = timedelta(hours=1)


def cycle(app: App, when: datetime) -> None:
    app.clock.now = when  # type: ignore[attr-defined]
    app.store.record_sync("crm", when, ok=True)
    app.record(app.evaluate())
    app.deliver()


def touch(app: App, crm_id: str, when: datetime) -> None:
    app.store.write_batch("crm", "tasks", Batch(touches=[Touch("persons", crm_id, when)]), when)


def test_each_breach_is_named_at_once_in_the_thread_of_the_owners_alert(
    two_leads: App, slack: FakeSlack
) -> None:
    first_due = MQL_AT + 4 * HOUR
    cycle(two_leads, first_due + timedelta(minutes=1))
    (post,) = [
        c.params for c in slack.calls_to("chat.postMessage") if "Revenue" in c.params["text"]
    ]
    assert "Dana Whitfield" in post["text"] and "Lee Park" in post["text"]  # breached; at risk

    cycle(two_leads, first_due + HOUR + timedelta(minutes=1))
    reply = slack.calls_to("chat.postMessage")[-1].params
    assert reply["thread_ts"] == slack.calls_to("chat.update")[-1].params["ts"]
    assert reply["text"].startswith("Update: 1 more record")
    assert "At risk → breached: Lee Park" in reply["text"] and "<@U0SAM>" in reply["text"]
    assert "Dana Whitfield" not in reply["text"], "only the record that is new"
    assert "⬆ Escalated" in slack.calls_to("chat.update")[-1].params["text"]
    assert not [t for t in texts(slack) if "Resolved" in t]

    sent = len(slack.calls_to("chat.postMessage"))
    cycle(two_leads, first_due + HOUR + timedelta(minutes=2))
    assert len(slack.calls_to("chat.postMessage")) == sent, "said once"


def test_a_late_touch_is_reported_once_when_configured(two_leads: App, slack: FakeSlack) -> None:
    first_due = MQL_AT + 4 * HOUR
    cycle(two_leads, first_due + timedelta(minutes=1))
    touch(two_leads, "P1", first_due + timedelta(minutes=30))
    cycle(two_leads, first_due + timedelta(minutes=31))
    late = [t for t in texts(slack) if "followed up late" in t]
    assert len(late) == 1 and "Dana Whitfield" in late[0] and "30m (business time)" in late[0]

    cycle(two_leads, first_due + HOUR + timedelta(minutes=1))  # Lee Park breached
    sent = len(slack.calls_to("chat.postMessage"))
    touch(two_leads, "P2", first_due + HOUR + timedelta(minutes=10))
    cycle(two_leads, first_due + HOUR + timedelta(minutes=11))
    new = [c.params for c in slack.calls_to("chat.postMessage")[sent:]]
    (reply,) = [p for p in new if "followed up late" in p["text"]]
    assert reply.get("thread_ts") and "Lee Park" in reply["text"]
    assert "Dana Whitfield" not in reply["text"], "only the record that is new"
    assert any(p["text"].startswith("Cleared") for p in new), "the touch resolves the breach"

    sent = len(slack.calls_to("chat.postMessage"))
    for minutes in (15, 30, 60 * 24):
        cycle(two_leads, first_due + HOUR + timedelta(minutes=minutes))
    assert len(slack.calls_to("chat.postMessage")) == sent, "reported once, never repeated"
    statuses = two_leads.evaluate().sla[0][1].overall.counts
    assert statuses[State.LATE] == 2
