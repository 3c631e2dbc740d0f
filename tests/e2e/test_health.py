"""The service's HTTP endpoint: /metrics parsed with prometheus-client's
own parser, and /readyz following the database down and back up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.pg import PostgresCluster, find_bin_dir
from tests.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ALIGNMON = str(Path(sys.executable).with_name("alignmon"))


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of its own: this test stops and restarts it."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found")
    own = PostgresCluster(bin_dir)
    own.start()
    yield own
    own.remove()


def run_service(config: Path) -> subprocess.Popen[bytes]:
    """``alignmon run`` on ``config``, output discarded."""
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    return subprocess.Popen(
        [ALIGNMON, "--config", str(config), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test URL
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(url: str, status: int, seconds: float = 40) -> str:
    deadline = time.monotonic() + seconds
    last: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        try:
            last = get(url)
        except OSError:
            last = (0, "unreachable")
        if last[0] == status:
            return last[1]
        time.sleep(0.5)
    raise AssertionError(f"{url} never answered {status}; last {last}")


def test_metrics_and_readiness(tmp_path: Path, cluster: PostgresCluster) -> None:
    port = free_port()
    config = tmp_path / "alignmon.yaml"
    config.write_text(
        f"database: {cluster.create_database()}\n"
        "sources:\n  demo: {kind: demo, every: 1m}\n"
        "goals:\n  - {name: q, source: demo, closes: 60, rates: {sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}}\n"
        "sla:\n  - {name: mql-follow-up, source: demo, within: 4h}\n"
        f'service: {{listen: "127.0.0.1:{port}", deliver_every: 1s}}\n'
    )
    service = run_service(config)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz", 200)
        wait_for(f"{base}/readyz", 200)
        deadline = time.monotonic() + 30
        names: set[str] = set()
        while time.monotonic() < deadline and "alignmon_sla_compliance_ratio" not in names:
            _, text = get(f"{base}/metrics")
            families = {f.name: f for f in text_string_to_metric_families(text)}
            names = {s.name for f in families.values() for s in f.samples}
            time.sleep(0.5)
        assert {
            "alignmon_sync_duration_seconds_count",
            "alignmon_sync_records_total",
            "alignmon_last_successful_sync_timestamp_seconds",
            "alignmon_evaluation_duration_seconds_count",
            "alignmon_last_evaluation_timestamp_seconds",
            "alignmon_outbox_depth",
            "alignmon_outbox_dead",
            "alignmon_alerts_firing",
            "alignmon_sla_compliance_ratio",
            "alignmon_api_calls",
        } <= names
        records = next(
            s
            for f in families.values()
            for s in f.samples
            if s.name == "alignmon_sync_records_total"
        )
        assert records.labels == {"source": "demo"} and records.value > 1000

        cluster.stop()
        body = wait_for(f"{base}/readyz", 503)
        assert "not ready" in body
        assert get(f"{base}/healthz")[0] == 200, "the process itself is still alive"
        cluster.restart()
        wait_for(f"{base}/readyz", 200)
        assert service.poll() is None, "a database outage must not stop the service"
    finally:
        service.terminate()
        service.wait(timeout=30)


def test_ready_only_after_the_first_evaluation(tmp_path: Path) -> None:
    """The first sync hangs on a CRM that accepts the connection and never
    answers: the process is alive (/healthz) but has judged nothing yet, so
    /readyz says so; once the sync gives up, the evaluation that follows it
    makes the service ready."""
    port = free_port()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        crm = f"http://127.0.0.1:{silent.getsockname()[1]}"
        config = tmp_path / "alignmon.yaml"
        config.write_text(
            f"database: sqlite:///{tmp_path / 'ready.db'}\n"
            "sources:\n"
            f"  hs: {{kind: hubspot, token: pat-test, api_url: {crm}, timeout: 8s, retries: 0, every: 1h}}\n"
            "goals:\n  - {name: q, source: hs, closes: 60, rates: {sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}}\n"
            f'service: {{listen: "127.0.0.1:{port}", sla_check_every: 1h}}\n'
        )
        service = run_service(config)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{base}/healthz", 200)
            status, body = get(f"{base}/readyz")
            assert status == 503, body
            assert "no evaluation has completed yet" in body
            wait_for(f"{base}/readyz", 200, seconds=60)
        finally:
            service.terminate()
            service.wait(timeout=30)
