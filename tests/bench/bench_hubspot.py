"""Benchmark: the HubSpot connector alone, reading the fake portal in the
same process, and the portal the whole-process syncs read
(``seed_portal``, served by ``tests.bench.portal``).

``run`` (limits off, pacing at the highest the config allows) reads every
contact through the search, as an incremental sync reads (a first sync
reads from two threads, whose HTTP time overlaps), and reports the
wall-clock rate and the connector's own rate: wall time less the time spent
waiting on HTTP (the fake's serving time, measured around each call) and in
the token bucket. docs/design.md ("Performance targets") asks for ≥ 20,000
records/s ingest; a tenth of the contacts share one instant.

The store's writes are not in it: ``bench_cli_sync`` times what a user
waits for.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

from connectors.hubspot.normalise import EPOCH
from connectors.hubspot.settings import LIST_PAGE, SEARCH_PAGE, HubSpotSource
from connectors.registry import create
from monitor.interfaces import Cursor
from tests.fakes.hubspot import FakeHubSpot

#: Records per second HubSpot's own limits allow at most: 5 searches of 200
#: per second and 190 list pages of 100 per 10 s.
HUBSPOT_FLOOR = 5 * SEARCH_PAGE + 19 * LIST_PAGE


def settings_for(fake: FakeHubSpot, **pacing: Any) -> HubSpotSource:
    return HubSpotSource(
        kind="hubspot",
        token=fake.token,
        api_url=fake.url,
        portal_id=fake.portal_id,
        segments={"region": "hs_region", "icp_tier": "icp_tier"},
        **pacing,
    )


def run(n: int = 100_000) -> dict[str, float]:
    with FakeHubSpot(seed=3) as fake:
        fake.seed_records("contacts", n, shared=n // 10, spacing=timedelta(seconds=2))
        # The highest pacing the config allows: the fake sets the pace.
        connector = create(
            "bench", settings_for(fake, requests_per_second=100, requests_per_10s=1000)
        )
        try:
            started = time.perf_counter()
            records = sum(
                len(batch.records) for batch in connector.pull("contacts", Cursor(EPOCH), fake.now)
            )
            wall = time.perf_counter() - started
        finally:
            connector.close()
        api = connector.api
        own = max(wall - api.http_seconds - api.paced_seconds, 1e-9)
        return {
            "records": float(records),
            "seconds": wall,
            "records_per_s": records / wall,
            "connector_records_per_s": records / own,
            "http_seconds": api.http_seconds,
            "pacing_seconds": api.paced_seconds,
            "search_calls": float(fake.calls["search:contacts"]),
            "search_calls_minimum": float(math.ceil(n / SEARCH_PAGE)),
            "api_calls": float(sum(fake.calls.values())),
        }


def seed_portal(fake: FakeHubSpot, n: int) -> None:
    """``n`` records, three quarters contacts (a fortieth of them on one
    instant) and a quarter deals, last modified an hour ago: a quiet hour,
    so an unchanged sync needs no look-back."""
    fake.seed_records("contacts", n - n // 4, shared=n // 40, spacing=timedelta(seconds=2))
    fake.seed_records("deals", n // 4, spacing=timedelta(seconds=5))
    fake.advance(3600)
