"""Benchmarks: a full HubSpot sync from the fake portal, without and with
HubSpot's rate limits.

``run`` (limits off, pacing at the highest the config allows) reads every
contact through the search, as an incremental sync reads (a first sync
reads from two threads, whose HTTP time overlaps), and reports the
wall-clock rate and the connector's own rate: wall time less the time spent
waiting on HTTP (the fake's serving time, measured around each call) and in
the token bucket. docs/design.md ("Performance targets") asks for ≥ 20,000
records/s ingest; a tenth of the contacts share one instant.

``run_limited`` turns the fake's real limits on (5 searches per second, 190
other requests per 10 s) and keeps the connector's default pacing, so its
rate is bound by the budgets: it reports the floor those budgets set (the
most records per second the pacing lets through), then the calls of an
unchanged incremental sync on the same connector. Both time the connector's
pull with the fake in the same process; the store's writes are not in them.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
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


def run_limited(n: int = 26_000) -> dict[str, float]:
    """``n`` records, three quarters contacts and a quarter deals, read
    whole under HubSpot's limits at the default pacing; then one sync with
    nothing changed."""
    with FakeHubSpot(seed=5) as fake:
        seed_portal(fake, n)
        fake.real_limits()
        settings = settings_for(fake)
        connector = create("bench", settings)
        cursors: dict[str, Cursor] = {}
        records, until = 0, fake.now
        try:
            started = time.perf_counter()
            for object_type in connector.object_types:
                for batch in connector.pull(object_type, None, until):
                    records += len(batch.records)
                    if batch.cursor is not None:  # dated to the sync, as the store does
                        cursors[object_type] = replace(batch.cursor, read_at=until)
            wall = time.perf_counter() - started
        finally:
            connector.close()
        full_calls = sum(fake.calls.values())
        fake.advance(60)
        fake.calls.clear()
        # As ``alignmon sync`` runs it: a new process, a new connector.
        connector = create("bench", settings)
        started = time.perf_counter()
        try:
            for object_type in connector.object_types:
                for _ in connector.pull(object_type, cursors[object_type], fake.now):
                    pass
        finally:
            connector.close()
        unchanged_seconds = time.perf_counter() - started
        unchanged_calls = sum(fake.calls.values())
        floor = (
            settings.requests_per_second * SEARCH_PAGE + settings.requests_per_10s / 10 * LIST_PAGE
        )
        return {
            "records": float(records),
            "seconds": wall,
            "records_per_s": records / wall,
            "api_calls": float(full_calls),
            "rate_limited_429s": float(fake.statuses[429]),
            "paced_floor_records_per_s": floor,
            "share_of_paced_floor": records / wall / floor,
            "hubspot_floor_records_per_s": float(HUBSPOT_FLOOR),
            "unchanged_sync_calls": float(unchanged_calls),
            "unchanged_sync_seconds": unchanged_seconds,
        }
