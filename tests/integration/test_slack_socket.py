"""Buttons on alert messages, end to end below the process: findings →
outbox → a post with buttons in the fake Slack → a press sent as a real
Socket Mode envelope over the fake's WebSocket → slack-sdk's own
SocketModeClient inside ``SlackSocket`` → the store, the updated message,
the audit table. On SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor import dispatch
from monitor.cli import slash
from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.findings import Finding, fingerprint
from monitor.interfaces import Batch, FunnelRecord, Severity
from monitor.notifiers.buttons import (
    ACKNOWLEDGE,
    SILENCE_DAY,
    SILENCE_PERIOD,
    UNSILENCE,
)
from monitor.service.app import App
from monitor.service.metrics import Metrics
from monitor.service.slack_socket import SlackSocket
from tests.fakes.slack import APP_TOKEN, TOKEN, FakeSlack
from tests.fakes.slack_socket import app_home_opened, block_actions, slash_command

PERIOD = "2026-10-01..2027-01-01"
PERIOD_END = datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
FP = fingerprint("pacing", "q-new-business", "mql", PERIOD)
OPERATOR, GROUPIE, MEMBER, STRANGER = "U0OPS", "U0GROUP", "U0CHAN", "U0NOBODY"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.usergroups = {"S0OPS": [GROUPIE]}
        fake.channel_members = {"C0LEADS1": [MEMBER]}
        yield fake


def make_app(database: str, slack: FakeSlack, clock: Clock, **extra: Any) -> App:
    config = Config.model_validate(
        {
            "timezone": "UTC",
            "database": database,
            "sources": {"crm": {"kind": "demo"}},
            "slack": {
                "token": TOKEN,
                "app_token": APP_TOKEN,
                "api_url": slack.api_url,
                "channel": "#revenue-alignment",
                "operators": {
                    "users": [OPERATOR],
                    "usergroups": ["S0OPS"],
                    "channels": ["C0LEADS1"],
                },
            },
            **extra,
        }
    )
    return App(LoadedConfig(config, "test.yaml"), clock=clock)


def pacing(stage: str = "mql", severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        rule="pacing",
        subject="q-new-business",
        severity=severity,
        title=f"{stage} 20% behind pace",
        text="numbers",
        source="crm",
        period=PERIOD,
        period_end=PERIOD_END,
        stage=stage,
        metric=-0.2,
    )


@pytest.fixture
def app(database: str, slack: FakeSlack) -> Iterator[App]:
    app = make_app(database, slack, Clock(T0))
    yield app
    app.close()


@pytest.fixture
def socket(app: App) -> Iterator[SlackSocket]:
    socket = SlackSocket(app, Metrics(), ping_interval=0.2)
    socket.start()
    yield socket
    socket.stop()


def fire(app: App, *stages: str) -> tuple[str, str]:
    """Record the findings (default: mql) until their alerts fire and
    deliver the post; return its channel and ts."""
    clock = app.clock
    assert isinstance(clock, Clock)
    for _ in range(2):
        dispatch.record(app.store, app.config, [pacing(s) for s in stages or ["mql"]], clock())
        clock.now += timedelta(minutes=1)
    assert app.deliver().sent == 1
    with app.store.transaction() as tx:
        (row,) = [r for r in tx.outbox_rows() if r.kind == "post"]
    channel, _, ts = str(row.ref).partition(":")
    return channel, ts


_ACTION_TS = itertools.count(1)


class Presser:
    def __init__(self, slack: FakeSlack, channel: str, ts: str) -> None:
        self.slack, self.channel, self.ts = slack, channel, ts

    def message(self) -> dict[str, Any]:
        return self.slack.messages[(self.channel, self.ts)]

    def buttons(self) -> list[str]:
        return [
            element["text"]["text"]
            for block in self.message()["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
        ]

    def state(self) -> str:
        return " ".join(
            element["text"]
            for block in self.message()["blocks"]
            if str(block.get("block_id", "")).startswith("alignmon-state")
            for element in block["elements"]
        )

    def press(
        self, action: str, user: str = OPERATOR, *, action_ts: str | None = None, wait: bool = True
    ) -> str:
        payload = block_actions(
            action,
            FP,
            user=user,
            channel=self.channel,
            ts=self.ts,
            blocks=self.message()["blocks"],
            text=self.message()["text"],
            action_ts=action_ts or f"1700000100.{next(_ACTION_TS):06d}",
        )
        envelope = self.slack.socket.send("interactive", payload)
        if wait:
            self.slack.socket.wait_acked(envelope)
        return envelope


def eventually(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def presser(app: App, slack: FakeSlack, socket: SlackSocket) -> Presser:
    channel, ts = fire(app)
    slack.socket.wait_connected()
    eventually(socket.connected)  # the client records its session just after the handshake
    return Presser(slack, channel, ts)


def test_the_post_carries_the_buttons_only_with_an_app_token(
    app: App, slack: FakeSlack, database: str
) -> None:
    channel, ts = fire(app)
    assert Presser(slack, channel, ts).buttons() == [
        "Acknowledge",
        "Silence 1 day",
        "Silence until period end",
    ]
    (action,) = [b for b in slack.messages[(channel, ts)]["blocks"] if b["type"] == "actions"]
    assert {e["value"] for e in action["elements"]} == {FP}


def test_acknowledge_shows_who_and_when_and_stops_repeats(
    app: App, slack: FakeSlack, presser: Presser
) -> None:
    presser.press(ACKNOWLEDGE)
    eventually(lambda: "Acknowledged" in presser.state())
    assert f"<@{OPERATOR}>" in presser.state() and "Mon 16 Nov 15:02 UTC" in presser.state()
    assert presser.buttons() == ["Silence 1 day", "Silence until period end"]
    (action,) = app.slack_actions()
    assert (action.action, action.outcome, action.user_id) == ("acknowledge", "done", OPERATOR)

    # The repeat time two days on: an acknowledged alert is not posted again.
    clock = app.clock
    assert isinstance(clock, Clock)
    clock.now = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    dispatch.record(app.store, app.config, [pacing()], clock())
    assert app.deliver().sent == 0


def newest_post(app: App, slack: FakeSlack) -> Presser:
    with app.store.transaction() as tx:
        row = max((r for r in tx.outbox_rows() if r.kind == "post"), key=lambda r: r.id)
    channel, _, ts = str(row.ref).partition(":")
    return Presser(slack, channel, ts)


def test_an_escalation_clears_the_acknowledgement_and_an_easing_keeps_it(
    app: App, slack: FakeSlack, presser: Presser
) -> None:
    clock = app.clock
    assert isinstance(clock, Clock)
    presser.press(ACKNOWLEDGE)
    eventually(lambda: "Acknowledged" in presser.state())

    clock.now += timedelta(minutes=1)
    dispatch.record(app.store, app.config, [pacing(severity=Severity.CRITICAL)], clock())
    assert app.deliver().sent == 1
    escalated = newest_post(app, slack)
    assert escalated.ts != presser.ts
    assert escalated.buttons() == ["Acknowledge", "Silence 1 day", "Silence until period end"]
    assert escalated.state() == ""
    cleared = app.slack_actions()[0]
    assert (cleared.action, cleared.user_name, cleared.outcome) == (
        "unacknowledge",
        "alignmon",
        "done",
    )
    assert cleared.detail == "acknowledgement by u0ops cleared: escalated to critical"

    # Taken on again from the new post; easing back keeps that.
    escalated.press(ACKNOWLEDGE, user=GROUPIE)
    eventually(lambda: "Acknowledged" in escalated.state())
    assert app.slack_actions()[0].outcome == "done"
    clock.now += timedelta(minutes=1)
    dispatch.record(app.store, app.config, [pacing()], clock())
    assert app.deliver().sent == 1
    eased = newest_post(app, slack)
    assert eased.ts not in (presser.ts, escalated.ts)
    assert eased.buttons() == ["Silence 1 day", "Silence until period end"]
    assert eased.state() == "Acknowledged by u0group at Mon 16 Nov 15:03 UTC"


def test_silence_buttons_add_the_cli_silence_and_unsilence_lifts_it(
    app: App, slack: FakeSlack, presser: Presser
) -> None:
    presser.press(SILENCE_DAY)
    eventually(lambda: "Silenced" in presser.state())
    (silence,) = app.alert_listing().silences
    assert silence.matcher == FP and silence.created_by == f"{OPERATOR.lower()} (Slack)"
    assert silence.expires_at == app.clock() + timedelta(days=1)
    assert "until Tue 17 Nov 15:02 UTC" in presser.state()
    assert presser.buttons() == ["Unsilence"]

    presser.press(UNSILENCE)
    eventually(lambda: "Unsilenced" in presser.state())
    assert app.alert_listing().silences == []
    assert presser.buttons() == ["Acknowledge", "Silence 1 day", "Silence until period end"]

    presser.press(SILENCE_PERIOD)
    eventually(lambda: "Silenced" in presser.state())
    (silence,) = app.alert_listing().silences
    assert silence.expires_at == PERIOD_END
    assert [(a.action, a.outcome) for a in reversed(app.slack_actions())] == [
        ("silence", "done"),
        ("unsilence", "done"),
        ("silence", "done"),
    ]
    assert app.slack_actions()[0].silence_id == silence.id


def test_a_press_delivered_twice_or_pressed_twice_acts_once(
    app: App, slack: FakeSlack, presser: Presser
) -> None:
    presser.press(SILENCE_DAY, action_ts="1700000200.000001")
    presser.press(SILENCE_DAY, action_ts="1700000200.000001")  # Slack's retry of the same press
    presser.press(SILENCE_DAY)  # a second press
    assert len(app.alert_listing().silences) == 1
    outcomes = [a.outcome for a in reversed(app.slack_actions())]
    assert outcomes == ["done", "unchanged"]
    eventually(lambda: len(slack.ephemeral) == 1)
    assert "already silenced until" in slack.ephemeral[0]["text"]


def test_operators_by_user_group_and_channel_and_strangers_are_refused(
    app: App, slack: FakeSlack, presser: Presser
) -> None:
    presser.press(ACKNOWLEDGE, STRANGER)
    eventually(lambda: len(slack.ephemeral) == 1)
    assert slack.ephemeral[0]["user"] == STRANGER
    assert "only alignmon operators" in slack.ephemeral[0]["text"]
    assert presser.state() == ""
    assert app.alert_listing().silences == []

    presser.press(SILENCE_DAY, GROUPIE)
    presser.press(UNSILENCE, MEMBER)
    assert [(a.user_id, a.outcome) for a in reversed(app.slack_actions())] == [
        (STRANGER, "refused"),
        (GROUPIE, "done"),
        (MEMBER, "done"),
    ]


def test_a_dropped_socket_reconnects_and_a_press_sent_meanwhile_is_not_lost(
    app: App, slack: FakeSlack, presser: Presser, socket: SlackSocket
) -> None:
    assert socket.state() == "connected"
    slack.socket.drop()
    eventually(lambda: not socket.connected() or slack.socket.connects > 1)
    envelope = presser.press(ACKNOWLEDGE, wait=False)  # queued while nobody listens
    slack.socket.wait_acked(envelope, timeout=10)
    assert slack.socket.connects >= 2
    eventually(socket.connected)
    eventually(lambda: "Acknowledged" in presser.state())
    assert [a.outcome for a in app.slack_actions()] == ["done"]


def test_without_the_socket_connected_at_start_it_keeps_trying(app: App, slack: FakeSlack) -> None:
    slack.down()
    socket = SlackSocket(app, Metrics(), ping_interval=0.2)
    socket.start()
    try:
        time.sleep(0.5)
        assert socket.state() == "disconnected"
        slack.up()
        slack.socket.wait_connected(timeout=10)
        eventually(socket.connected)
        assert b"alignmon_slack_socket_connected 1.0" in _metrics(socket)
    finally:
        socket.stop()


def _metrics(socket: SlackSocket) -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(socket.metrics.registry)


def test_a_resolution_update_keeps_who_acknowledged(
    app: App, slack: FakeSlack, presser: Presser
) -> None:
    presser.press(ACKNOWLEDGE)
    eventually(lambda: "Acknowledged" in presser.state())

    clock = app.clock
    assert isinstance(clock, Clock)
    clock.now += timedelta(minutes=1)
    dispatch.record(app.store, app.config, [], clock())
    app.deliver()

    eventually(lambda: not presser.buttons())  # closed: nothing left to press
    note = presser.state()
    assert note == "Acknowledged by u0ops at Mon 16 Nov 15:02 UTC"
    assert "Resolved" in presser.message()["text"]


def test_an_update_shows_a_silence_and_keeps_unsilence_on_the_alert_still_open(
    app: App, slack: FakeSlack, socket: SlackSocket
) -> None:
    channel, ts = fire(app, "mql", "sql")
    slack.socket.wait_connected()
    presser = Presser(slack, channel, ts)
    presser.press(SILENCE_PERIOD)
    eventually(lambda: "Unsilence" in presser.buttons())

    clock = app.clock
    assert isinstance(clock, Clock)
    clock.now += timedelta(minutes=1)
    dispatch.record(app.store, app.config, [pacing("mql")], clock())  # sql resolves
    app.deliver()

    eventually(lambda: "✅" in presser.message()["text"] or "Resolved" in presser.message()["text"])
    assert presser.buttons() == ["Unsilence"]  # mql: still open, still silenced
    assert presser.state() == "Silenced by u0ops (Slack) until Fri 01 Jan 05:00 UTC"


def run_command(app: App, slack: FakeSlack, text: str, user: str = OPERATOR) -> str:
    """``/alignmon text`` typed by ``user``: the envelope is acknowledged,
    and the ephemeral answer POSTed to the command's response_url."""
    number = len(slack.responses)
    payload = slash_command(text, user=user, response_url=slack.response_url(number))
    envelope = slack.socket.send("slash_commands", payload, response=True)
    slack.socket.wait_acked(envelope)
    eventually(lambda: len(slack.responses) > number)
    answer = slack.responses[number]
    assert answer["response_type"] == "ephemeral" and answer["id"] == str(number)
    return str(answer["text"])


@pytest.fixture
def commanded(app: App, slack: FakeSlack) -> Iterator[SlackSocket]:
    socket = SlackSocket(
        app, Metrics(), ping_interval=0.2, commands=slash.answer, home=slash.home_blocks
    )
    socket.start()
    slack.socket.wait_connected()
    yield socket
    socket.stop()


def test_the_slash_command_answers_with_the_cli_views_and_silences_for_operators(
    app: App, slack: FakeSlack, commanded: SlackSocket
) -> None:
    fire(app)
    assert "`/alignmon silence <id> <duration>`" in run_command(app, slack, "help")
    assert "`/alignmon status [goal]`" in run_command(app, slack, "")

    listed = run_command(app, slack, "alerts")
    assert listed.startswith("```") and "mql 20% behind pace" in listed
    short = app.alert_listing().ids[FP]
    assert short in listed

    assert "only alignmon operators" in run_command(app, slack, f"silence {short} 4h", STRANGER)
    assert app.alert_listing().silences == []

    done = run_command(app, slack, f"silence {short} 4h rep on leave")
    (silence,) = app.alert_listing().silences
    assert done.startswith(f"silence {silence.id}: '{FP}' until")
    assert silence.reason == "rep on leave" and silence.created_by == "u0ops (Slack)"
    assert silence.expires_at == app.clock() + timedelta(hours=4)

    assert run_command(app, slack, f"silence {short} forever").startswith("duration: ")
    assert (
        run_command(app, slack, "sla nope") == "no SLA rule named 'nope' (rules: none configured)"
    )
    assert run_command(app, slack, "status nope").startswith("no goal named 'nope'")


def test_the_home_tab_is_drawn_on_open_and_redrawn_after_an_evaluation(
    app: App, slack: FakeSlack, commanded: SlackSocket
) -> None:
    fire(app)
    envelope = slack.socket.send("events_api", app_home_opened(MEMBER))
    slack.socket.wait_acked(envelope)
    eventually(lambda: MEMBER in slack.homes)
    text = json.dumps(slack.homes[MEMBER]["blocks"])
    assert "Open alerts" in text and "mql 20% behind pace" in text

    dispatch.record(app.store, app.config, [], app.clock())  # mql resolves
    commanded.refresh_homes()
    eventually(lambda: "No open alerts" in json.dumps(slack.homes[MEMBER]["blocks"]))


def lead(crm_id: str, owner: str, name: str) -> FunnelRecord:
    """An MQL assigned to ``owner`` a business day before T0, never touched."""
    mql_at = T0 - timedelta(days=1, hours=1)
    return FunnelRecord(
        object_type="persons",
        crm_id=crm_id,
        modified_at=mql_at,
        lead_at=mql_at - timedelta(days=2),
        mql_at=mql_at,
        owner_email=owner,
        owner_name=owner.split("@")[0],
        assigned_at=mql_at,
        name=name,
        url=f"https://crm.example.com/persons/{crm_id}",
    )


def test_the_home_tab_shows_a_rep_their_own_sla_records_first(
    database: str, slack: FakeSlack
) -> None:
    slack.users = {"sam@acme.test": "U0SAM", "maya@acme.test": "U0MAYA"}
    rule = {"name": "mql-follow-up", "source": "crm", "within": "4h", "warn_before": "1h"}
    app = make_app(database, slack, Clock(T0), sla=[rule])
    leads = [lead("P1", "Sam@acme.test", "Dana Whitfield"), lead("P2", "maya@acme.test", "Ola")]
    app.store.write_batch("crm", "persons", Batch(leads), T0)
    app.store.record_sync("crm", T0, ok=True, records_seen=2)
    socket = SlackSocket(app, Metrics(), ping_interval=0.2, home=slash.home_blocks)
    socket.start()
    try:
        slack.socket.wait_connected()
        for user in ("U0SAM", "U0SAM", STRANGER):
            slack.homes.pop(user, None)
            slack.socket.wait_acked(slack.socket.send("events_api", app_home_opened(user)))
            eventually(lambda user=user: user in slack.homes)
    finally:
        socket.stop()
        app.close()

    blocks = slack.homes["U0SAM"]["blocks"]
    first = blocks[2]["text"]["text"]
    assert first == (
        "*Your SLA mql-follow-up*: 0% followed up in time, last 7 days "
        "(0 met, 0 late, 1 overdue, 0 at risk) · everyone: 0%\n"
        "• <https://crm.example.com/persons/P1|Dana Whitfield>: overdue since Mon 16 Nov 13:00 UTC"
    )
    assert blocks[3]["text"]["text"].startswith("*SLA: mql-follow-up*")  # everyone's, after
    assert "Your SLA" not in json.dumps(slack.homes[STRANGER]["blocks"])
    asked = [call.params["user"] for call in slack.calls_to("users.info")]
    assert asked == ["U0SAM", STRANGER]  # the second open of U0SAM came from the cache


def test_the_home_tab_shows_the_chart_uploaded_privately_once_a_day(
    database: str, slack: FakeSlack
) -> None:
    goal = {
        "name": "q-new-business",
        "source": "crm",
        "closes": 40,
        "rates": {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25},
    }
    clock = Clock(T0)
    app = make_app(database, slack, clock, goals=[goal])
    socket = SlackSocket(app, Metrics(), ping_interval=0.2, home=slash.home_blocks)
    socket.start()

    def open_home() -> list[dict[str, Any]]:
        slack.homes.pop(MEMBER, None)
        slack.socket.wait_acked(slack.socket.send("events_api", app_home_opened(MEMBER)))
        eventually(lambda: MEMBER in slack.homes, timeout=20)
        return list(slack.homes[MEMBER]["blocks"])

    try:
        slack.socket.wait_connected()
        first, again = open_home(), open_home()
        clock.now += timedelta(days=1)
        tomorrow = open_home()
    finally:
        socket.stop()
        app.close()

    (image,) = [b for b in first if b["type"] == "image"]
    assert first[first.index(image) + 1]["text"]["text"].startswith("*Pace: q-new-business*")
    stored = slack.files[image["slack_file"]["id"]]
    assert stored["data"].startswith(b"\x89PNG") and stored["shared"] is False
    assert [b for b in again if b["type"] == "image"] == [image]
    (next_day,) = [b for b in tomorrow if b["type"] == "image"]
    assert next_day["slack_file"]["id"] != image["slack_file"]["id"]
    assert len(slack.calls_to("files.completeUploadExternal")) == 2
