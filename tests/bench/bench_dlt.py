"""The peer benchmark: dlt (the extraction tool a user would otherwise pick)
reading the same fake portal as ``bench_cli_sync.hubspot``, under the same
HubSpot limits, into DuckDB.

dlt is configured as its HubSpot source is: the list endpoint
(``GET /crm/v3/objects/{type}``), 100 records a page, paged by
``paging.next.after``, a bearer token, through its built-in ``rest_api``
source. It asks for the same properties alignmon reads, so both move the
same data. It has no incremental read of these endpoints: its second run,
with nothing changed, reads the portal again, as its HubSpot source does.

``python -m tests.bench.bench_dlt URL TOKEN DIRECTORY`` is one run of the
pipeline kept in DIRECTORY, a whole process as ``alignmon sync`` is; it
prints the rows the run loaded.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from connectors.hubspot import normalise
from connectors.hubspot.settings import HubSpotSource
from tests.fakes.hubspot import PROPERTIES


def _config(url: str, token: str) -> dict[str, Any]:
    settings = HubSpotSource(
        kind="hubspot",
        token=token,
        api_url=url,
        portal_id=1,
        segments={"region": "hs_region", "icp_tier": "icp_tier"},
    )
    resources = []
    for object_type in ("contacts", "deals"):
        properties = normalise.fields(settings, object_type, set(PROPERTIES[object_type]))
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
            "base_url": url,
            "auth": {"type": "bearer", "token": token},
            "paginator": {
                "type": "cursor",
                "cursor_path": "paging.next.after",
                "cursor_param": "after",
            },
        },
        "resources": resources,
    }


def run(url: str, token: str, directory: Path) -> int:
    """One run of the pipeline kept in ``directory``; the rows it loaded."""
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    import dlt
    from dlt.sources.rest_api import rest_api_source

    pipeline = dlt.pipeline(
        pipeline_name="hubspot_peer",
        pipelines_dir=str(directory / "pipelines"),
        destination=dlt.destinations.duckdb(str(directory / "peer.duckdb")),
        dataset_name="hubspot",
    )
    pipeline.run(rest_api_source(_config(url, token)))
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return sum(counts.get(table, 0) for table in ("contacts", "deals"))


if __name__ == "__main__":
    url, token, directory = sys.argv[1:4]
    print(json.dumps({"rows": run(url, token, Path(directory))}))
