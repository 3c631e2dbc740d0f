"""Benchmark: a full Salesforce lead sync from the fake org, once through
REST query pages and once through Bulk API 2.0.

The fake serves from the same process, so the wall-clock rate includes its
own JSON/CSV writing; the connector's rate leaves out the time spent waiting
for responses. docs/design.md ("Performance targets") asks for ≥ 20,000 records/s ingest and API calls
equal to the page-count minimum (REST: one call per 2,000 rows; the one
describe per object and connector is reported apart).
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

from connectors.registry import create
from tests.fakes.salesforce import FakeSalesforce


def _sync(fake: FakeSalesforce, label: str, bulk_threshold: int | None) -> dict[str, float]:
    connector = create("bench", fake.settings("session_id", bulk_threshold=bulk_threshold))
    before = fake.calls.copy()
    try:
        started = time.perf_counter()
        records = sum(len(b.records) for b in connector.pull("leads", None, fake.now()))
        wall = time.perf_counter() - started
    finally:
        connector.close()
    calls = fake.calls - before
    own = max(wall - connector.client.http_seconds, 1e-9)
    return {
        f"{label}_records": float(records),
        f"{label}_seconds": wall,
        f"{label}_records_per_s": records / wall,
        f"{label}_connector_records_per_s": records / own,
        f"{label}_api_calls": float(sum(calls.values()) - calls["describe"]),
        f"{label}_describe_calls": float(calls["describe"]),
    }


def run(n: int = 100_000) -> dict[str, float]:
    """Sync ``n`` leads (a tenth sharing one instant) via REST, then via Bulk."""
    with FakeSalesforce() as fake:
        now = fake.now()
        shared = now - timedelta(seconds=n + 1)
        stamps = [shared if i % 10 == 0 else now - timedelta(seconds=n - i) for i in range(n)]
        fake.add_leads(n, stamps, MQL_Date__c=shared)
        results = {"rest_api_calls_minimum": float(math.ceil(n / 2000))}
        results |= _sync(fake, "rest", None)
        results |= _sync(fake, "bulk", 0)
        return results
