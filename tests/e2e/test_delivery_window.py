"""SIGKILL in the middle of a slow post, with a CLI command delivering beside
the service: the window the outbox claims and Slack message metadata close.

Slack stores each post at once and answers it 3 s later. While
``alignmon summary --post`` and ``alignmon evaluate`` run in a loop beside
the service (each drains the outbox too), the service process whose claim
holds the row being posted is killed with SIGKILL, three times, and
restarted. On SQLite one service runs; on PostgreSQL two replicas run and the
survivor carries on while the killed one restarts. At the end a clean run
drains the outbox, and the channel and the outbox are compared: every row
delivered and pointing at a message Slack holds (lost 0), every message
Slack holds recorded by exactly one row (duplicated 0).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select

from monitor.store.schema import alerts, outbox
from tests.e2e.cli import alignmon, service_config
from tests.e2e.test_health import wait_for
from tests.e2e.test_kill import (
    ALL_DAY_EVERY_DAY,
    crash_lines,
    log_messages,
    queued,
    summary_time,
    wait_until,
)
from tests.e2e.test_replicas import slack as slack  # the fake Slack fixture
from tests.e2e.test_replicas import start
from tests.fakes.slack import FakeSlack
from tests.pg import PostgresCluster
from tests.ports import free_port

pytestmark = pytest.mark.slow

SLACK_ANSWERS_IN = 3.0
KILLS = 3


class Beside:
    """``alignmon summary --post`` and ``alignmon evaluate``, one after the
    other in a loop, as an operator would run them next to the service."""

    def __init__(self, config: Path, cwd: Path) -> None:
        self.config = config
        self.cwd = cwd
        self.stopping = threading.Event()
        self.runs: list[subprocess.CompletedProcess[str]] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        commands = (("summary", "--post"), ("evaluate",))
        n = 0
        while not self.stopping.is_set():
            self.runs.append(alignmon("--config", str(self.config), *commands[n % 2], cwd=self.cwd))
            n += 1

    def __enter__(self) -> Beside:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=240)


def claim_holders(engine: Engine) -> set[int]:
    """The pids holding a claim on an undelivered row: the processes posting."""
    with engine.connect() as conn:
        holders = conn.execute(
            select(outbox.c.claimed_by).where(
                outbox.c.delivered_at.is_(None),
                outbox.c.dead_at.is_(None),
                outbox.c.claimed_by.is_not(None),
            )
        ).scalars()
        return {int(h.split(":")[1]) for h in holders}


class Services:
    """``replicas`` copies of ``alignmon run`` on one database, each
    restartable in its slot after a kill."""

    def __init__(self, tmp_path: Path, database: str, slack: FakeSlack, replicas: int) -> None:
        self.tmp_path = tmp_path
        self.config = tmp_path / "alignmon.yaml"
        self.database = database
        self.slack = slack
        self.logs: list[Path] = []
        self.ports = [free_port() for _ in range(replicas)]
        self.running: list[subprocess.Popen[bytes] | None] = [None] * replicas

    def configure(self, repeat: str) -> None:
        """Write the CLI's config and one per service slot (its own port)."""
        for slot, port in [(None, 0), *enumerate(self.ports)]:
            path = self.config if slot is None else self.slot_config(slot)
            path.write_text(
                service_config(
                    database=self.database,
                    slack_url=self.slack.api_url,
                    summary_at=summary_time(),
                    alerts=f'{{for: 1, repeat_interval: {repeat}, repeat_at: "00:00"}}',
                    calendar=ALL_DAY_EVERY_DAY,
                    port=port,
                    lease="3s",
                    channel="C0ALIGN1",  # by ID: a resend can check the channel's history
                )
            )

    def slot_config(self, slot: int) -> Path:
        return self.tmp_path / f"replica{slot}.yaml"

    def start(self, slot: int) -> None:
        log = self.tmp_path / f"run{len(self.logs)}.log"
        self.logs.append(log)
        self.running[slot] = start(self.slot_config(slot), log)
        wait_for(f"http://127.0.0.1:{self.ports[slot]}/healthz", 200, seconds=60)

    def kill_the_poster(self, engine: Engine) -> int:
        """Wait for a post a service is making, then SIGKILL that service
        while Slack holds its answer back; return its slot."""
        pids = {p.pid: slot for slot, p in enumerate(self.running) if p is not None}
        calls = len(self.slack.calls_to("chat.postMessage"))

        def service_posting() -> bool:
            return len(self.slack.calls_to("chat.postMessage")) > calls and bool(
                claim_holders(engine) & set(pids)
            )

        wait_until(service_posting, "a post by the service", seconds=90)
        pid = next(iter(claim_holders(engine) & set(pids)))
        process = self.running[pids[pid]]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
        return pids[pid]

    def stop_all(self) -> None:
        for process in self.running:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            if process is not None:
                try:
                    assert process.wait(timeout=60) == 0, "SIGTERM should exit cleanly"
                finally:
                    if process.poll() is None:
                        process.kill()
        self.running = [None] * len(self.running)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The database URL and how many services share it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'window.db'}", 1
    else:
        request.applymarker(pytest.mark.postgres)
        postgres: PostgresCluster = request.getfixturevalue("postgres")
        yield postgres.create_database(), 2


def test_killed_mid_post_beside_a_cli_loses_nothing_and_posts_nothing_twice(
    tmp_path: Path, slack: FakeSlack, backend: tuple[str, int]
) -> None:
    database, replicas = backend
    services = Services(tmp_path, database, slack, replicas)
    services.configure(repeat="3s")
    engine = create_engine(database)
    slack.delay_posts(SLACK_ANSWERS_IN)
    try:
        for slot in range(replicas):
            services.start(slot)
        with Beside(services.config, tmp_path) as beside:
            for _ in range(KILLS):
                services.start(services.kill_the_poster(engine))
        assert beside.runs, "no CLI command ran beside the service"
        assert all(run.returncode == 0 for run in beside.runs), [
            run.stderr for run in beside.runs if run.returncode
        ]
        services.stop_all()

        # A clean run with no repeats left to queue drains what is left.
        slack.delay_posts(0)
        services.configure(repeat="1h")
        services.start(0)
        wait_until(lambda: queued(engine) == 0, "the outbox to drain", seconds=120)
        services.stop_all()
    finally:
        for process in services.running:
            if process is not None and process.poll() is None:
                process.kill()

    with engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(outbox))}
        fired = conn.execute(select(alerts).where(alerts.c.fired_at.is_not(None))).all()
    engine.dispose()
    assert not crash_lines(services.logs)
    assert fired, "no alert fired"
    assert all(row.delivered_at is not None for row in rows.values()), "undelivered rows"

    accepted = set(slack.messages)
    refs = {tuple(row.ref.split(":", 1)) for row in rows.values()}
    lost = refs - accepted
    assert not lost, lost
    for alert in fired:
        assert tuple(rows[alert.outbox_id].ref.split(":", 1)) in accepted, alert.fingerprint
    duplicated = accepted - refs
    assert not duplicated, duplicated
    carried = Counter(
        str(m["metadata"]["event_payload"]["id"])
        for m in slack.messages.values()
        if m.get("metadata")
    )
    assert carried and max(carried.values()) == 1, carried.most_common(3)
    # The window was really hit: a killed post was found in the channel.
    found = [m for log in services.logs for m in log_messages(log) if "was already in Slack" in m]
    found += [run.stderr for run in beside.runs if "was already in Slack" in run.stderr]
    assert found, "no kill landed between Slack storing a post and answering it"
