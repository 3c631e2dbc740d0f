"""The peer benchmark: dlt (the extraction tool a user would otherwise pick)
reading the same fake portal as ``bench_hubspot.run_limited``, under the
same HubSpot limits, into DuckDB.

dlt is configured as its HubSpot source is: the list endpoint
(``GET /crm/v3/objects/{type}``), 100 records a page, paged by
``paging.next.after``, a bearer token, through its built-in ``rest_api``
source. It asks for the same properties alignmon reads, so both move the
same data. It has no incremental read of these endpoints: its second run,
with nothing changed, reads the portal again, as its HubSpot source does.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from connectors.hubspot import normalise
from tests.bench.bench_hubspot import seed_portal, settings_for
from tests.fakes.hubspot import FakeHubSpot


def _config(fake: FakeHubSpot) -> dict[str, Any]:
    settings = settings_for(fake)
    resources = []
    for object_type in ("contacts", "deals"):
        properties = normalise.fields(settings, object_type, fake.properties[object_type])
        resources.append(
            {
                "name": object_type,
                "endpoint": {
                    "path": f"crm/v3/objects/{object_type}",
                    "params": {"limit": 100, "properties": ",".join(properties.properties)},
                    "data_selector": "results",
                },
            }
        )
    return {
        "client": {
            "base_url": fake.url,
            "auth": {"type": "bearer", "token": fake.token},
            "paginator": {
                "type": "cursor",
                "cursor_path": "paging.next.after",
                "cursor_param": "after",
            },
        },
        "resources": resources,
    }


def run(n: int = 26_000) -> dict[str, float]:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    with FakeHubSpot(seed=5) as fake, tempfile.TemporaryDirectory() as tmp:
        seed_portal(fake, n)
        fake.real_limits()
        pipeline = dlt.pipeline(
            pipeline_name="hubspot_peer",
            pipelines_dir=str(Path(tmp) / "pipelines"),
            destination=dlt.destinations.duckdb(str(Path(tmp) / "peer.duckdb")),
            dataset_name="hubspot",
        )
        figures: dict[str, float] = {}
        for run_name in ("full", "unchanged"):
            fake.calls.clear()
            started = time.perf_counter()
            pipeline.run(rest_api_source(_config(fake)))
            figures[f"{run_name}_seconds"] = time.perf_counter() - started
            figures[f"{run_name}_api_calls"] = float(sum(fake.calls.values()))
            fake.advance(60)
        with pipeline.sql_client() as client:
            rows = sum(
                client.execute_sql(f"select count(*) from {table}")[0][0]  # noqa: S608
                for table in ("contacts", "deals")
            )
        figures["records"] = float(rows) / 2  # each run appended every record once
        figures["full_records_per_s"] = figures["records"] / figures["full_seconds"]
        figures["rate_limited_429s"] = float(fake.statuses[429])
        return figures
