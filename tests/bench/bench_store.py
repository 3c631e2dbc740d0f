"""Benchmark: store ingest and evaluation over many stored records.

Generates ``n`` synthetic persons (spread over a year, with lead/MQL/SQL
dates, owners and segments) plus won deals, writes them through the same
``write_batch`` a sync uses, then runs a full evaluation (every goal and the
SLA rule) as the service would. Reports ingest records/s, evaluation
seconds and the process's peak RSS.
"""

from __future__ import annotations

import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.config.models import Config
from monitor.evaluate import evaluate
from monitor.interfaces import Batch, Cursor, FunnelRecord
from monitor.store import Store

AS_OF = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
OWNERS = [f"rep{i}@example.com" for i in range(12)]


def records(n: int, seed: int = 1) -> list[FunnelRecord]:
    rng = random.Random(seed)
    start = AS_OF - timedelta(days=365)
    out = []
    for i in range(n):
        lead = start + timedelta(seconds=rng.randrange(365 * 86400))
        mql = lead + timedelta(days=rng.expovariate(1 / 4)) if rng.random() < 0.27 else None
        sql = mql + timedelta(days=rng.expovariate(1 / 7)) if mql and rng.random() < 0.38 else None
        won = sql + timedelta(days=rng.expovariate(1 / 30)) if sql and rng.random() < 0.22 else None
        touch = (
            mql + timedelta(hours=rng.expovariate(1 / 3)) if mql and rng.random() < 0.95 else None
        )
        out.append(
            FunnelRecord(
                object_type="persons",
                crm_id=f"P{i:08d}",
                modified_at=max(t for t in (lead, mql, sql, won, touch) if t is not None),
                lead_at=lead,
                mql_at=mql,
                sql_at=sql,
                won_at=won,
                owner_email=OWNERS[i % len(OWNERS)],
                owner_name=f"Rep {i % len(OWNERS)}",
                assigned_at=mql,
                first_touch_at=touch,
                name=f"Person {i}",
                url=f"https://crm.example.com/p/{i}",
                segments={"region": "EMEA" if i % 3 == 0 else "NA"},
            )
        )
        if won is not None:
            out.append(
                FunnelRecord(
                    object_type="deals",
                    crm_id=f"D{i:08d}",
                    modified_at=won,
                    kind="deal",
                    won_at=won,
                    amount=rng.lognormvariate(10, 0.6),
                )
            )
    return out


def config(database: str) -> Config:
    return Config.model_validate(
        {
            "timezone": "America/New_York",
            "database": database,
            "sources": {"crm": {"kind": "demo"}},
            "goals": [
                {"name": "q", "source": "crm", "revenue": 2_000_000, "average_deal_size": "auto",
                 "rates": {"sql_to_won": "auto", "mql_to_sql": "auto", "lead_to_mql": "auto"}},
                {"name": "emea", "source": "crm", "period": "month", "closes": 20,
                 "segment": {"region": "EMEA"}, "pacing": "business_days"},
            ],
            "sla": [{"name": "mql-follow-up", "source": "crm", "within": "4h"}],
        }
    )  # fmt: skip


def ingest(n: int, database: str) -> dict[str, float]:
    """Write ``n`` persons (and their won deals) as a sync would."""
    store = Store(database)
    store.upgrade()
    rows = records(n)
    started = time.perf_counter()
    for index in range(0, len(rows), 2000):
        chunk = rows[index : index + 2000]
        store.write_batch("crm", "persons", Batch(chunk, Cursor(chunk[-1].modified_at, "")), AS_OF)
    seconds = time.perf_counter() - started
    store.close()
    return {"records": float(len(rows)), "ingest_records_per_s": len(rows) / seconds}


def evaluation(database: str) -> dict[str, float]:
    """Evaluate every goal and the SLA rule over what ``ingest`` stored, in a
    process of its own, so peak RSS is the evaluation's alone."""
    store = Store(database)
    settings = config(database)
    evaluate(settings, store, AS_OF)  # warm: imports, calendars, connection pool
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        evaluate(settings, store, AS_OF)
        timings.append(time.perf_counter() - started)
    store.close()
    return {
        "evaluate_seconds": min(timings),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(n: int = 100_000, phase: str = "ingest", database: str | None = None) -> dict[str, float]:
    if database is None:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            return {**ingest(n, url), **evaluation(url)}
    return ingest(n, database) if phase == "ingest" else evaluation(database)
