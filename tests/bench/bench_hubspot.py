"""Benchmark: a full HubSpot contact sync from the fake portal.

Reports the wall-clock rate and the connector's own rate: wall time less
the time spent waiting on HTTP (the fake's serving time, measured around
each call) and in the token bucket. docs/design.md ("Performance targets") asks for ≥ 20,000 records/s
ingest and API calls equal to the page-count minimum; a tenth of the
contacts share one instant, so the cap's forced windows show up too.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

from connectors.hubspot.settings import HubSpotSource
from connectors.registry import create
from tests.fakes.hubspot import FakeHubSpot


def run(n: int = 100_000) -> dict[str, float]:
    with FakeHubSpot(seed=3) as fake:
        fake.seed_records("contacts", n, shared=n // 10, spacing=timedelta(seconds=2))
        settings = HubSpotSource(
            kind="hubspot",
            token=fake.token,
            api_url=fake.url,
            portal_id=fake.portal_id,
            requests_per_second=100,  # the highest the config allows
            segments={"region": "hs_region", "icp_tier": "icp_tier"},
        )
        connector = create("bench", settings)
        try:
            started = time.perf_counter()
            records = sum(
                len(batch.records) for batch in connector.pull("contacts", None, fake.now)
            )
            wall = time.perf_counter() - started
        finally:
            connector.close()
        api = connector.api
        own = max(wall - api.http_seconds - api.bucket.waited, 1e-9)
        return {
            "records": float(records),
            "seconds": wall,
            "records_per_s": records / wall,
            "connector_records_per_s": records / own,
            "http_seconds": api.http_seconds,
            "pacing_seconds": api.bucket.waited,
            "search_calls": float(fake.calls["search:contacts"]),
            "search_calls_minimum": float(math.ceil(n / 200)),
            "api_calls": float(sum(fake.calls.values())),
        }
