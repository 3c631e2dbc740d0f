"""Three `alignmon run` replicas on one real PostgreSQL and the fake Slack:
the one holding the leases is killed with SIGKILL; the others carry on.

Shows: no job occurrence runs twice, work resumes within one lease period,
and every notification is delivered exactly once (outside the documented
window: Slack accepted a message and its sender died before recording it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from monitor.store.schema import leases, outbox
from tests.e2e.cli import service_config
from tests.fakes.slack import FakeSlack
from tests.pg import PostgresCluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ALIGNMON = str(Path(sys.executable).with_name("alignmon"))
EVALUATE_EVERY = 2.0


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    return subprocess.Popen(
        [ALIGNMON, "--config", str(config), "--log-format", "json", "--log-level", "INFO", "run"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=env,
    )


def job_runs(logs: list[Path]) -> list[dict[str, Any]]:
    """Every `<holder>: running <job> (slot N)` line, with its time."""
    runs = []
    for path in logs:
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            message = entry.get("message", "")
            if ": running " in message and "(slot " in message:
                holder, rest = message.split(": running ", 1)
                job, slot = rest.rsplit(" (slot ", 1)
                runs.append(
                    {
                        "holder": holder,
                        "job": job,
                        "slot": int(slot.rstrip(")")),
                        "at": datetime.fromisoformat(entry["time"]),
                    }
                )
    return runs


def test_replicas_share_work_and_survive_a_kill(
    tmp_path: Path, postgres: PostgresCluster, slack: FakeSlack
) -> None:
    database = postgres.create_database()
    config = tmp_path / "alignmon.yaml"
    config.write_text(
        service_config(
            database=database,
            slack_url=slack.api_url,
            source="demo: {kind: demo, every: 3s}",
            alerts="{for: 1, repeat_interval: 4s}",
            lease="5s",
        )
    )
    logs = [tmp_path / f"replica{i}.log" for i in range(3)]
    replicas = [start(config, log) for log in logs]
    try:
        time.sleep(14)
        engine = create_engine(database)
        with engine.connect() as conn:
            holders = [
                row[0]
                for row in conn.execute(
                    select(leases.c.acquired_by).where(leases.c.name.like("evaluate@%"))
                )
            ]
        assert holders, "no replica holds an evaluate lease"
        victim_pid = int(holders[0].split(":")[1])
        victim = next(p for p in replicas if p.pid == victim_pid)
        victim.send_signal(signal.SIGKILL)
        killed_at = time.time()
        time.sleep(12)
        for replica in replicas:
            if replica is not victim:
                replica.send_signal(signal.SIGTERM)
        for replica in replicas:
            if replica is not victim:
                assert replica.wait(timeout=60) == 0, "SIGTERM should exit cleanly"
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.kill()

    runs = job_runs(logs)
    by_occurrence = Counter((r["job"], r["slot"]) for r in runs)
    assert by_occurrence, "no job ran"
    twice = [occurrence for occurrence, n in by_occurrence.items() if n > 1]
    assert not twice, f"job occurrences run twice: {twice}"
    assert len({r["holder"] for r in runs}) >= 2, "work was not shared or taken over"

    after = sorted(
        r["at"].timestamp()
        for r in runs
        if r["job"] == "evaluate" and r["at"].timestamp() > killed_at
    )
    assert after, "nobody evaluated after the kill"
    assert after[0] - killed_at <= 2 * EVALUATE_EVERY + 1, (
        "work did not resume within one lease period"
    )

    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.kind, outbox.c.delivered_at, outbox.c.dead_at)).all()
    engine.dispose()
    assert rows, "no notification was queued"
    undelivered = [r for r in rows if r.delivered_at is None and r.dead_at is None]
    assert len(undelivered) <= 3, "the survivors left the outbox undrained"
    delivered_messages = sum(
        1 for r in rows if r.delivered_at is not None and r.kind in ("post", "reply", "summary")
    )
    accepted = len(slack.messages)
    assert 0 <= accepted - delivered_messages <= 1, (accepted, delivered_messages)
