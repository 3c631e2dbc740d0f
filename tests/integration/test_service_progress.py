"""A slow sync in the service logs how far it is, and ``/metrics`` shows
the records it has pulled and when it started (monitor/service/
sync_progress.py), against the HubSpot fake over real HTTP."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.service.app import App
from monitor.service.scheduler import Service
from tests.fakes.hubspot import FakeHubSpot

SLOW_PAGES = 5


def service(tmp_path: Path, fake: FakeHubSpot, progress_every: float) -> Service:
    config = Config.model_validate(
        {
            "timezone": "UTC",
            "database": f"sqlite:///{tmp_path / 'progress.db'}",
            "sources": {
                "hs": {
                    "kind": "hubspot",
                    "token": fake.token,
                    "api_url": fake.url,
                    "requests_per_second": 100,
                    "timeout": "5s",
                }
            },
        }
    )
    return Service(App(LoadedConfig(config, "progress.yaml")), progress_every=progress_every)


def test_a_slow_sync_logs_progress_lines_and_fills_the_sync_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen_live: list[str] = []

    class Snapshot(logging.Handler):
        """/metrics as it reads at each progress line, mid-sync."""

        def emit(self, record: logging.LogRecord) -> None:
            seen_live.append(generate_latest(running.metrics.registry).decode())

    snapshot = Snapshot()
    logging.getLogger("monitor.service.sync_progress").addHandler(snapshot)
    try:
        with FakeHubSpot() as fake:
            fake.seed_records("contacts", 450)
            fake.stall_seconds = 0.15
            fake.timeout_next(count=SLOW_PAGES, endpoint="search:contacts")
            running = service(tmp_path, fake, progress_every=0.25)
            before = time.time()
            with caplog.at_level(logging.INFO, logger="monitor.service.sync_progress"):
                running.sync("hs")
    finally:
        logging.getLogger("monitor.service.sync_progress").removeHandler(snapshot)

    lines = [r for r in caplog.records if r.name == "monitor.service.sync_progress"]
    # 5 pages of 0.15 s or more: at least one line, and never one a page.
    assert 1 <= len(lines) < SLOW_PAGES
    line = lines[0]
    assert line.getMessage().startswith("sync of hs: ")
    assert " of 450 contacts so far, " in line.getMessage()
    fields = vars(line)  # what JSON logs carry besides the message
    assert (fields["source"], fields["object_type"], fields["total"]) == ("hs", "contacts", 450)
    assert 0 < fields["records"] < 450 and fields["rate"] > 0

    live = seen_live[0]
    assert 'alignmon_sync_running{source="hs"} 1.0' in live
    assert 'alignmon_sync_expected_records{object_type="contacts",source="hs"} 450.0' in live
    records = f'alignmon_sync_progress_records{{object_type="contacts",source="hs"}} {fields["records"]}.0'
    assert records in live

    after = generate_latest(running.metrics.registry).decode()
    assert 'alignmon_sync_running{source="hs"} 0.0' in after
    assert 'alignmon_sync_progress_records{object_type="contacts",source="hs"} 450.0' in after
    started = next(
        float(row.split()[-1])
        for row in after.splitlines()
        if row.startswith('alignmon_sync_started_timestamp_seconds{source="hs"}')
    )
    assert before <= started <= time.time()
