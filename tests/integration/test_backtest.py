"""The backtest replays what the service would have posted: the same
messages at the same instants as the service's own evaluate → record →
deliver loop on the same data with its clock at each step (silences and
quiet hours included), on SQLite and PostgreSQL; and it changes nothing in
the database."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from monitor import backtest
from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.errors import ConfigError
from monitor.interfaces import Message
from monitor.service.app import App
from monitor.store import Store
from monitor.store.schema import metadata
from tests.scenarios.backtest import SOURCE, Clock, Recorder, service_config, write
from tests.scenarios.generator import (
    FAST_REPS,
    SLOW_REP,
    History,
    Scenario,
    VolumeShortfall,
    generate,
)

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
#: A small funnel with two known problems: half the leads from June on, and
#: one rep of five slow to follow up.
FUNNEL = Scenario(
    "backtest",
    leads_per_day=20,
    history_days=150,
    shortfall=VolumeShortfall("lead", 0.5, JUNE),
    reps=(*FAST_REPS, SLOW_REP),
)
LEAD_PACING = "pacing/q-plan/lead/2026-06-01..2026-07-01"
#: Quiet over the midday evaluations, so some messages are deferred.
QUIET = {"start": "11:30", "end": "14:00"}
#: Muted for the whole of 06-04.
SILENCED = "sla-at-risk/*"
SILENCE_FROM, SILENCE_FOR = JUNE + timedelta(days=3), timedelta(days=1)


@pytest.fixture(scope="module")
def history() -> History:
    return generate(FUNNEL)


@pytest.fixture
def funnel(store: Store, history: History) -> Iterator[Config]:
    """``store`` holding the funnel, synced on June 1st, and its config."""
    config = Config.model_validate(
        {**service_config(FUNNEL, store.url), "alerts": {"quiet_hours": QUIET}}
    )
    store.use_zone(config.zone)
    write(store, history.records, JUNE)
    store.record_sync(SOURCE, JUNE, ok=True)
    yield config


def hourly(days: int) -> list[datetime]:
    return backtest.fixed_steps(JUNE, JUNE + timedelta(days=days), timedelta(hours=1))


def shape(at: datetime, message: Message) -> tuple[Any, ...]:
    lines = tuple((x.fingerprint, x.severity, x.title, x.text) for x in message.lines)
    return (at, message.kind, message.channel, message.title, lines)


def service_loop(config: Config, steps: list[datetime]) -> list[tuple[Any, ...]]:
    """What the service posts with its clock at each step: evaluate, record,
    deliver, the source synced at each step, and the silence added when its
    time comes ("Now watching", a sync-state post, left out)."""
    clock = Clock(steps[0])
    app = App(LoadedConfig(config, "backtest.yaml"), clock=clock)
    recorder = Recorder(clock)
    app._notifier = recorder
    try:
        for at in steps:
            clock.now = at
            if at == SILENCE_FROM:
                app.silence(SILENCED, SILENCE_FOR, "rep on leave")
            app.store.record_sync(SOURCE, at, ok=True)
            app.record(app.evaluate(as_of=at))
            app.deliver()
    finally:
        app.close()
    return [shape(at, m) for at, m in recorder.sent if not m.title.startswith("Now watching")]


def test_the_replay_posts_what_the_service_would_have(funnel: Config, store: Store) -> None:
    steps = hourly(5)
    service = service_loop(funnel, steps)
    result = backtest.replay(funnel, store, steps)  # the silence is stored by now
    assert [shape(p.at, p.message()) for p in result.messages] == service
    # The window exercises every path: posts, threaded resolutions and post
    # updates, deferral by quiet hours, a silence and a debounced pacing alert.
    assert {p.kind for p in result.messages} == {"post", "reply", "update"}
    assert any(p.at == p.queued_at.replace(hour=14) > p.queued_at for p in result.messages)
    assert result.rules()["sla-at-risk"]["silenced"] >= 1


def test_a_silence_holds_an_alert_back_until_it_ends(funnel: Config, store: Store) -> None:
    """The slow rep's breach of 06-04 16:00 fires under a silence: retried
    at every step of it, counted once, never posted, and announced when
    the silence ends with the alert still firing."""
    until = SILENCE_FROM + SILENCE_FOR
    with store.transaction() as tx:
        tx.add_silence("sla-breach/*", "rep on leave", SILENCE_FROM, until)
    result = backtest.replay(funnel, store, hourly(5))
    breach = result.alerts[f"sla-breach/mql-follow-up/{SLOW_REP.email}"]
    after = [(at, event) for at, event in breach.events if at >= SILENCE_FROM]
    assert after[:2] == [(SILENCE_FROM + timedelta(hours=16), "silenced"), (until, "firing")]
    assert result.rules()["sla-breach"]["silenced"] == 1
    muted = [p for p in result.messages if SILENCE_FROM <= p.queued_at < until]
    assert not any(fp.startswith("sla-breach/") for p in muted for fp in p.events)


def test_the_lead_shortfall_fires_once_and_stays(funnel: Config, store: Store) -> None:
    result = backtest.replay(funnel, store, hourly(7))
    lead = result.alerts[LEAD_PACING]
    assert (lead.count("firing"), lead.count("resolved"), lead.flips, lead.state) == (
        1,
        0,
        0,
        "firing",
    )
    # Repeated at the summary time (09:00) of working days, once 24 hours
    # have passed since the first firing (Wed 12:00): Friday only, not the
    # weekend.
    assert [at.day for at, event in lead.events if event == "repeat"] == [5]
    posted = next(p for p in result.messages if LEAD_PACING in p.events)
    assert (posted.queued_at, posted.at) == (lead.first_fired, JUNE.replace(day=3, hour=14))
    assert result.rules()["pacing"]["fired"] >= 1


def test_the_slow_rep_flaps_daily_and_is_counted(funnel: Config, store: Store) -> None:
    result = backtest.replay(funnel, store, hourly(3))
    breach = result.alerts[f"sla-breach/mql-follow-up/{SLOW_REP.email}"]
    assert breach.count("firing") == breach.count("resolved") == 3
    assert breach.flips == 5 and breach.flapped
    assert result.rules()["sla-breach"]["flapped"] == 1


def test_a_goal_alone_leaves_the_sla_rules_out(funnel: Config, store: Store) -> None:
    result = backtest.replay(funnel, store, hourly(4), goal="q-plan")
    assert set(result.rules()) == {"pacing"}


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with store.begin() as conn:
        return {
            name: sorted(conn.execute(select(table)).all(), key=repr)
            for name, table in metadata.tables.items()
        }


def test_a_backtest_changes_nothing_in_the_database(funnel: Config, store: Store) -> None:
    """Real alert state, an outbox with a delivered and a queued row, and a
    silence, as a running service leaves them; a read-only App backtests on
    them and every table is the same afterwards."""
    clock = Clock(JUNE + timedelta(days=3, hours=12))
    app = App(LoadedConfig(funnel, "backtest.yaml"), clock=clock)
    app._notifier = Recorder(clock)
    app.silence(SILENCED, timedelta(days=1), "rep on leave")
    app.record(app.evaluate(as_of=clock.now))
    clock.now += timedelta(hours=3)  # past the quiet hours: delivered
    app.deliver()
    app.record(app.evaluate(as_of=clock.now))  # queued, not delivered
    app.close()
    before = snapshot(store)
    assert before["alerts"] and before["outbox"] and before["silences"]

    reader = App(LoadedConfig(funnel, "backtest.yaml"), read_only=True)
    try:
        result = reader.backtest(hourly(5))
    finally:
        reader.close()
    assert result.messages
    assert snapshot(store) == before


def test_a_read_only_app_rebuilds_no_rollups_for_another_zone(funnel: Config, store: Store) -> None:
    other = funnel.model_copy(update={"timezone": "Asia/Tokyo"})
    before = snapshot(store)
    with pytest.raises(ConfigError, match="counted in UTC and this config uses Asia/Tokyo"):
        App(LoadedConfig(other, "backtest.yaml"), read_only=True)
    assert snapshot(store) == before


def test_steps_are_evenly_spaced_across_a_daylight_saving_change() -> None:
    zone = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 7, 12, tzinfo=zone)
    steps = backtest.fixed_steps(start, start + timedelta(days=2), timedelta(hours=1))
    assert len(steps) == 47  # 2026-03-08 has 23 hours there
    utc = [t.astimezone(UTC) for t in steps]
    assert {b - a for a, b in itertools.pairwise(utc)} == {timedelta(hours=1)}
    assert steps[-1] == datetime(2026, 3, 9, 11, tzinfo=zone)
