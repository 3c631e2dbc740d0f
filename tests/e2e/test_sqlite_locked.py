"""Another process holds a write lock on the SQLite file while ``alignmon
run`` cycles (a backup tool, a person at the ``sqlite3`` prompt).

The service waits out SQLite's busy timeout (2 s here, through
``?timeout=`` in the URL; 30 s by default) and, as the lock outlasts it,
logs one clear line naming the lock and what to do instead of a traceback,
keeps running, and completes its next cycle once the lock is gone, with
nothing lost.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from monitor.store.schema import alerts, outbox, records
from tests.e2e.cli import service_config
from tests.e2e.test_health import get, wait_for
from tests.e2e.test_kill import crash_lines, log_messages, queued, summary_time, wait_until
from tests.e2e.test_replicas import slack as slack  # the fake Slack fixture
from tests.e2e.test_replicas import start
from tests.fakes.slack import FakeSlack
from tests.ports import free_port

pytestmark = pytest.mark.slow

#: Takes SQLite's write lock on the file and holds it until told to let go.
LOCKER = """\
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def errors(log: Path) -> list[str]:
    found = []
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") == "error":
            found.append(entry["message"])
    return found


def test_a_write_lock_held_past_the_busy_timeout_is_logged_and_survived(
    tmp_path: Path, slack: FakeSlack
) -> None:
    db = tmp_path / "locked.db"
    port = free_port()
    config = tmp_path / "alignmon.yaml"
    config.write_text(
        service_config(
            database=f"sqlite:///{db}?timeout=2",
            slack_url=slack.api_url,
            summary_at=summary_time(),
            port=port,
            sla_check_every="1s",
        )
    )
    log = tmp_path / "run.log"
    base = f"http://127.0.0.1:{port}"
    service = start(config, log)
    locker: subprocess.Popen[str] | None = None
    engine = create_engine(f"sqlite:///{db}")
    try:
        wait_for(f"{base}/healthz", 200, seconds=60)
        wait_until(lambda: any("synced demo" in m for m in log_messages(log)), "a first sync")
        wait_until(lambda: slack.messages, "a first post")
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(records)).scalar_one()

        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdin is not None and locker.stdout is not None
        assert locker.stdout.readline() == "locked\n"
        wait_until(
            lambda: any("database is locked" in m for m in errors(log)),
            "the lock to be reported",
            seconds=90,
        )
        assert service.poll() is None, "the lock must not stop the service"
        assert get(f"{base}/healthz")[0] == 200
        cycles = sum("synced demo" in m for m in log_messages(log))
        locker.stdin.write("\n")
        locker.stdin.close()
        assert locker.wait(timeout=30) == 0

        # The next cycle after the lock is released succeeds.
        wait_until(
            lambda: sum("synced demo" in m for m in log_messages(log)) > cycles,
            "a sync after the lock",
        )
        wait_for(f"{base}/readyz", 200, seconds=60)

        wait_until(lambda: queued(engine) == 0, "the outbox to drain")
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
        if service.poll() is None:
            service.kill()
            service.wait(timeout=30)

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(records)).scalar_one() >= stored
        rows = {row.id: row for row in conn.execute(select(outbox))}
        fired = conn.execute(select(alerts).where(alerts.c.fired_at.is_not(None))).all()
    engine.dispose()

    locked = [m for m in errors(log) if "database is locked" in m]
    assert all(m.count("\n") == 0 for m in locked), "one line, not a traceback"
    assert all("longer than the 2s busy timeout" in m for m in locked), locked[:1]
    assert not crash_lines([log])
    # Nothing lost: every notification queued was delivered, and every alert
    # that fired was announced by a post Slack holds.
    assert all(row.delivered_at is not None for row in rows.values())
    assert {tuple(row.ref.split(":", 1)) for row in rows.values()} <= set(slack.messages)
    assert fired
    for alert in fired:
        assert rows[alert.outbox_id].delivered_at is not None, alert.fingerprint
