"""SIGKILL at the worst moments, then a restart. No shutdown handler runs on
kill -9, so what survives is only what the database committed: one
transaction per sync batch (records and cursor together) and the outbox
written with the alert change.

- Mid-sync: ``alignmon sync`` against a slowed fake HubSpot is killed after
  some pages. What is stored is exactly what the stored cursor covers, the
  SQLite file passes its integrity check, and the restarted sync resumes
  from the cursor and ends with every record stored once (SQLite and
  PostgreSQL).
- A kill storm: ``alignmon run`` on the demo source and the fake Slack is
  killed during a sync, an evaluation, a delivery and at seeded random
  moments, restarted each time, then left to drain its outbox: every alert
  that fired was posted, no notification lost, and none posted twice: the
  post killed right after Slack accepted it is found in the channel by the
  row id it carries (docs/reliability.md, "The duplicate window, closed").
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select

from monitor.store import Store
from monitor.store.schema import alerts, outbox, records
from monitor.store.transaction import Transaction
from tests.e2e.cli import ALIGNMON, alignmon, service_config
from tests.e2e.test_health import wait_for
from tests.e2e.test_replicas import slack as slack  # the fake Slack fixture
from tests.e2e.test_replicas import start
from tests.fakes.hubspot import SEARCH_LIMIT, FakeHubSpot, ms
from tests.fakes.slack import FakeSlack
from tests.ports import free_port

pytestmark = pytest.mark.slow

HUBSPOT = """\
timezone: UTC
database: {database}
sources:
  hs:
    kind: hubspot
    token: {token}
    api_url: {url}
    requests_per_second: 100
"""
CONTACTS = 6_000  # 30 search pages; a sync commits every 2,000 records (or 2 s)

#: The first two kills land in the initial sync (the only long one); the
#: rest are shuffled by the seed.
KILLS = ("sync", "sync", "evaluate", "deliver", "window", "anywhere")
SEED = 20261123


def queued(engine: Engine) -> int:
    """Notifications neither delivered nor given up on."""
    with engine.connect() as conn:
        return Transaction(conn).outbox_counts()[0]


def wait_until(condition: Callable[[], object], what: str, seconds: float = 60) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after a
    generous deadline (a shared, noisy machine)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def log_messages(path: Path) -> list[str]:
    """The ``message`` of every JSON log line a process has written so far."""
    found = []
    for line in path.read_text().splitlines():
        try:
            found.append(json.loads(line)["message"])
        except (ValueError, KeyError):
            continue
    return found


def crash_lines(paths: list[Path]) -> list[str]:
    """Log lines that show a job dying on an unexpected exception."""
    return [
        line
        for path in paths
        for line in path.read_text().splitlines()
        if "Traceback" in line or "failed unexpectedly" in line
    ]


def summary_time() -> str:
    """A daily summary time twelve hours from now, so the summary job stays
    out of a test's way."""
    return f"{(datetime.now(UTC).hour + 12) % 24:02d}:00"


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [
            row[0]
            for row in conn.execute(
                select(records.c.crm_id).where(records.c.object_type == "contacts")
            )
        ]


def test_sigkill_mid_sync_then_restart_stores_every_record_once(
    store: Store, tmp_path: Path
) -> None:
    with FakeHubSpot(now=datetime.now(UTC)) as fake:
        config = tmp_path / "alignmon.yaml"
        config.write_text(HUBSPOT.format(database=store.url, token=fake.token, url=fake.url))
        # A first sync holds one older contact: the killed one is an
        # incremental search, whose cursor moves page by page.
        fake.add("contacts", [fake.now - timedelta(days=2)])
        first = alignmon("--config", str(config), "sync", cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        fake.seed_records("contacts", CONTACTS)
        fake.delay = 0.05
        log = tmp_path / "sync.log"
        with log.open("wb") as stderr:
            sync = subprocess.Popen(
                [ALIGNMON, "--config", str(config), "sync"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            wait_until(
                lambda: len(stored_ids(store.engine)) > 1 or sync.poll() is not None,
                "a first committed batch",
            )
            # Kill with pages pulled but not yet committed.
            served = fake.calls["search:contacts"]
            wait_until(lambda: fake.calls["search:contacts"] > served, "one more page served")
            sync.send_signal(signal.SIGKILL)
            assert sync.wait(timeout=30) == -signal.SIGKILL, log.read_text()
        finally:
            if sync.poll() is None:
                sync.kill()

        ids = stored_ids(store.engine)
        cursor = store.cursor("hs", "contacts")
        assert 1 < len(ids) < CONTACTS + 1, "the kill should land mid-paging"
        assert len(ids) == len(set(ids))
        assert cursor is not None
        # The cursor is never ahead of the data: every record up to it is
        # stored. Beyond it, only records of its own instant may be (a cursor
        # saved inside an instant holds none of it; the next sync reads that
        # instant again and finds them stored).
        position = (ms(cursor.modified_at), cursor_id(cursor.crm_id))
        keys = fake.keys("contacts")
        covered = {str(rid) for modified, rid in keys if (modified, rid) <= position}
        instant = {str(rid) for modified, rid in keys if modified <= position[0]}
        assert covered <= set(ids) <= instant
        if store.dialect == "sqlite":
            with closing(sqlite3.connect(store.engine.url.database or "")) as check:
                assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

        fake.delay = 0.0
        before = fake.calls["search:contacts"]
        finish = alignmon("--config", str(config), "sync", cwd=tmp_path)
        assert finish.returncode == 0, finish.stderr
        # Resumed from the cursor (plus its short look-back), not from scratch.
        remaining_pages = -(-(CONTACTS + 1 - len(ids)) // SEARCH_LIMIT)
        assert fake.calls["search:contacts"] - before <= remaining_pages + 2

        ids = stored_ids(store.engine)
        assert sorted(ids) == sorted(fake.live_ids("contacts"))
        last_modified, last_id = fake.keys("contacts")[-1]
        cursor = store.cursor("hs", "contacts")
        assert cursor is not None
        assert (ms(cursor.modified_at), cursor.crm_id) == (last_modified, str(last_id))


def test_sigkill_mid_backfill_saves_no_cursor_and_the_restart_reads_it_all(
    store: Store, tmp_path: Path
) -> None:
    with FakeHubSpot(now=datetime.now(UTC)) as fake:
        fake.seed_records("contacts", CONTACTS)
        fake.delay = 0.05

        def served() -> int:
            return fake.calls["search:contacts"] + fake.calls["list:contacts"]

        config = tmp_path / "alignmon.yaml"
        config.write_text(HUBSPOT.format(database=store.url, token=fake.token, url=fake.url))
        with (tmp_path / "sync.log").open("wb") as stderr:
            sync = subprocess.Popen(
                [ALIGNMON, "--config", str(config), "sync"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            wait_until(
                lambda: bool(stored_ids(store.engine)) or sync.poll() is not None,
                "a first committed batch",
            )
            before = served()
            wait_until(lambda: served() > before, "one more page served")
            sync.send_signal(signal.SIGKILL)
            assert sync.wait(timeout=30) == -signal.SIGKILL
        finally:
            if sync.poll() is None:
                sync.kill()

        ids = stored_ids(store.engine)
        assert 0 < len(ids) < CONTACTS, "the kill should land mid-backfill"
        assert len(ids) == len(set(ids))
        # The backfill reads in no modification order: no cursor until the end.
        assert store.cursor("hs", "contacts") is None

        fake.delay = 0.0
        before = served()
        finish = alignmon("--config", str(config), "sync", cwd=tmp_path)
        assert finish.returncode == 0, finish.stderr
        assert served() - before <= CONTACTS // 100 + 2, "read more than the portal once"
        ids = stored_ids(store.engine)
        assert sorted(ids) == sorted(fake.live_ids("contacts"))
        last_modified, last_id = fake.keys("contacts")[-1]
        cursor = store.cursor("hs", "contacts")
        assert cursor is not None
        assert (ms(cursor.modified_at), cursor.crm_id) == (last_modified, str(last_id))


ALL_DAY_EVERY_DAY = '{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "24:00"}'


class Storm:
    """One ``alignmon run`` after another on one SQLite file, each killed
    with SIGKILL at a moment chosen by ``kill``."""

    def __init__(self, tmp_path: Path, slack: FakeSlack) -> None:
        self.tmp_path = tmp_path
        self.slack = slack
        self.db = tmp_path / "storm.db"
        self.config = tmp_path / "alignmon.yaml"
        self.port = free_port()
        self.logs: list[Path] = []
        self.rng = random.Random(SEED)
        self.engine = create_engine(f"sqlite:///{self.db}")

    def configure(self, repeat: str) -> None:
        """Repeats every ``repeat``, at any hour of any day: the storm needs
        a steady stream of posts to kill deliveries in."""
        self.config.write_text(
            service_config(
                database=f"sqlite:///{self.db}",
                slack_url=self.slack.api_url,
                summary_at=summary_time(),
                alerts=f'{{for: 1, repeat_interval: {repeat}, repeat_at: "00:00"}}',
                calendar=ALL_DAY_EVERY_DAY,
                port=self.port,
                channel="C0ALIGN1",  # by ID: a resend can check the channel's history
            )
        )

    def start(self) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp_path / f"run{len(self.logs)}.log"
        self.logs.append(log)
        service = start(self.config, log)
        # Starts fine after the previous kill: the health endpoint answers.
        wait_for(f"http://127.0.0.1:{self.port}/healthz", 200, seconds=60)
        assert service.poll() is None
        return service, log

    def kill(self, kind: str, service: subprocess.Popen[bytes], log: Path) -> bool:
        """Kill the service at the moment ``kind`` names; False if the moment
        had passed by the time the signal landed."""
        if kind == "sync":
            # Once this process has committed a batch of its own, it is
            # syncing (not waiting out the lease its killed predecessor held).
            # A resumed demo sync has little over 0.2 s of batches left after
            # its first commit on a fast machine: the kill must follow closely.
            stored = self.record_count()

            def syncing() -> bool:
                # A resumed sync may also finish before the first poll: then
                # this kill lands late, which the storm tolerates after the
                # first one.
                done = any("synced demo" in m for m in log_messages(log))
                return done or self.record_count() > stored

            wait_until(syncing, "a sync")
            time.sleep(self.rng.uniform(0.0, 0.03))
        elif kind == "evaluate":
            wait_until(lambda: any("synced demo" in m for m in log_messages(log)), "a sync's end")
            time.sleep(self.rng.uniform(0.0, 0.05))
        elif kind == "deliver":
            # The post is held unanswered, so the kill lands mid-request.
            sent = len(self.slack.calls_to("chat.postMessage"))
            self.slack.timeout_next(method="chat.postMessage", stall=30)
            wait_until(lambda: len(self.slack.calls_to("chat.postMessage")) > sent, "a post")
        elif kind == "window":
            # Killed the instant Slack accepts a post, before the answer
            # leaves: the post is sent and not recorded, the one window a
            # duplicate can come from.
            accept = self.slack._api_chat_postMessage

            def accept_then_kill(params: dict[str, Any]) -> dict[str, Any]:
                answer = accept(params)
                if answer.get("ok"):
                    service.send_signal(signal.SIGKILL)
                return answer

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(self.slack, "_api_chat_postMessage", accept_then_kill)
                wait_until(lambda: service.poll() is not None, "an accepted post")
        else:
            time.sleep(self.rng.uniform(0.2, 3.0))
        service.send_signal(signal.SIGKILL)
        assert service.wait(timeout=30) == -signal.SIGKILL
        # A sync kill must land mid-sync; on a loaded machine the few batches
        # left may commit first, and the kill then hit an idle service.
        return kind != "sync" or not any("synced demo" in m for m in log_messages(log))

    def record_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(records)).scalar_one())


def test_kill_storm_loses_no_notification_and_repeats_at_most_one_per_kill(
    tmp_path: Path, slack: FakeSlack
) -> None:
    storm = Storm(tmp_path, slack)
    plan = [*KILLS[:2], *storm.rng.sample(KILLS[2:], len(KILLS) - 2)]
    storm.configure(repeat="3s")
    for i, kind in enumerate(plan):
        service, log = storm.start()
        try:
            landed = storm.kill(kind, service, log)
        finally:
            if service.poll() is None:
                service.kill()
                service.wait(timeout=30)
        # The first sync has the whole history left and must be hit
        # mid-sync; the resumed one has a fraction of a second of batches,
        # which a loaded machine may finish before the signal lands: that
        # kill then counts as one at any moment, and the storm goes on.
        assert landed or i > 0, "the first sync kill landed after the sync"

    # A clean run, with no repeats to keep queueing, drains what is left.
    storm.configure(repeat="1h")
    service, log = storm.start()
    try:

        def drained() -> bool:
            if not any("synced demo" in m for m in log_messages(log)):
                return False
            return queued(storm.engine) == 0

        wait_until(drained, "the outbox to drain")
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=30)

    with storm.engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(outbox))}
        fired = conn.execute(select(alerts).where(alerts.c.fired_at.is_not(None))).all()
    storm.engine.dispose()
    assert not crash_lines(storm.logs)
    assert fired, "no alert fired"
    assert all(row.delivered_at is not None for row in rows.values()), "undelivered rows"
    # Nothing lost: every delivered row points at a message Slack holds.
    accepted = set(slack.messages)
    refs = {tuple(row.ref.split(":", 1)) for row in rows.values()}
    assert refs <= accepted
    for alert in fired:
        post = rows[alert.outbox_id]
        assert alert.fingerprint in post.fingerprints
        assert tuple(post.ref.split(":", 1)) in accepted, alert.fingerprint
    # A message Slack accepted that no row records would have been sent
    # again after a kill in the window: the row's claim outlived its process,
    # so the restart found the post by its metadata instead of resending it.
    duplicates = accepted - refs
    assert not duplicates, duplicates
    assert any("was already in Slack" in m for log in storm.logs for m in log_messages(log))
    assert sum(1 for row in rows.values() if row.kind == "post") >= 2


def cursor_id(crm_id: str) -> int:
    """A cursor's id as a position among the fake's numeric ids. A cursor
    saved inside an instant of tied records has no id: it holds none of
    that instant, so it sits before every id."""
    return int(crm_id) if crm_id else -1
