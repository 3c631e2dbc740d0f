"""PostgreSQL restarted (``pg_ctl restart -m fast``) in the middle of a sync
under two ``alignmon run`` replicas that sync from a slowed fake HubSpot and
post to the fake Slack.

A fast restart cuts every connection and rolls back the transactions in
flight. The replicas log the jobs that fail while the server is away and
carry on: the pool checks a connection before handing it out, the sync
resumes from its last committed batch, and the outbox still delivers each
notification once.
"""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from monitor.store.schema import alerts, outbox, records
from tests.e2e.cli import service_config
from tests.e2e.test_health import cluster as cluster  # this test's own cluster: it restarts it
from tests.e2e.test_health import wait_for
from tests.e2e.test_kill import crash_lines, queued, summary_time, wait_until
from tests.e2e.test_replicas import slack as slack  # the fake Slack fixture
from tests.e2e.test_replicas import start
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.pg import PostgresCluster
from tests.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HUBSPOT_SOURCE = """\
hs:
  kind: hubspot
  token: {token}
  api_url: {url}
  requests_per_second: 100
  every: 3s
"""
CONTACTS = 6_000  # 30 search pages; a sync commits every 2,000 records (or 2 s)


def test_postgres_restart_mid_sync_under_two_replicas(
    tmp_path: Path, cluster: PostgresCluster, slack: FakeSlack
) -> None:
    database = cluster.create_database()
    engine = create_engine(database)
    replicas: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"replica{i}.log" for i in range(2)]
    ports = [free_port() for _ in logs]
    with FakeHubSpot(now=datetime.now(UTC)) as hubspot:
        hubspot.seed_records("contacts", CONTACTS)
        hubspot.delay = 0.1
        for port, log in zip(ports, logs, strict=True):
            config = tmp_path / f"replica-{port}.yaml"
            config.write_text(
                service_config(
                    database=database,
                    slack_url=slack.api_url,
                    source=HUBSPOT_SOURCE.format(token=hubspot.token, url=hubspot.url),
                    goal_source="hs",
                    mql_commitment=1,
                    summary_at=summary_time(),
                    port=port,
                    lease="3s",
                )
            )
            replicas.append(start(config, log))
        try:
            for port in ports:
                wait_for(f"http://127.0.0.1:{port}/healthz", 200, seconds=60)

            def committed() -> bool:
                with engine.connect() as conn:
                    return bool(
                        conn.execute(select(func.count()).select_from(records)).scalar_one()
                    )

            wait_until(committed, "the sync's first committed batch")
            with engine.connect() as conn:
                before = conn.execute(select(func.count()).select_from(records)).scalar_one()
            engine.dispose()
            cluster.restart_now("fast")

            def synced() -> bool:
                try:
                    with engine.connect() as conn:
                        stored = conn.execute(
                            select(func.count()).select_from(records)
                        ).scalar_one()
                except OperationalError:
                    return False
                return bool(stored == CONTACTS)

            wait_until(synced, "the sync to complete after the restart", seconds=90)
            for port in ports:
                wait_for(f"http://127.0.0.1:{port}/readyz", 200, seconds=60)

            wait_until(lambda: queued(engine) == 0 and bool(slack.messages), "the outbox to drain")
            assert [replica.poll() for replica in replicas] == [None, None], (
                "a replica died with the database restart"
            )
            for replica in replicas:
                replica.send_signal(signal.SIGTERM)
            for replica in replicas:
                assert replica.wait(timeout=60) == 0
        finally:
            for replica in replicas:
                if replica.poll() is None:
                    replica.kill()
                    replica.wait(timeout=30)
        live = sorted(hubspot.live_ids("contacts"))

    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(select(records.c.crm_id))]
        rows = {row.id: row for row in conn.execute(select(outbox))}
        fired = conn.execute(select(alerts).where(alerts.c.fired_at.is_not(None))).all()
    engine.dispose()

    assert 0 < before < CONTACTS, "the restart should land mid-sync"
    assert sorted(ids) == live, "records lost or duplicated"
    assert not crash_lines(logs)
    assert all(row.delivered_at is not None for row in rows.values())
    refs = {tuple(row.ref.split(":", 1)) for row in rows.values()}
    assert refs <= set(slack.messages), "a row marked delivered that Slack never got"
    # Once each: a post Slack accepted as the restart cut the transaction
    # that would have recorded it keeps its claim, and is found in the
    # channel by its metadata instead of being sent again.
    assert set(slack.messages) == refs, "a message posted twice"
    assert fired
    for alert in fired:
        assert rows[alert.outbox_id].delivered_at is not None, alert.fingerprint
