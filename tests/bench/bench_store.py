"""Benchmark: store ingest and evaluation over many stored records.

Generates ``n`` synthetic persons (with lead/MQL/SQL dates, owners and
segments) plus their won deals, writes them through the same ``write_batch``
a sync uses, then runs a full evaluation (every goal and the SLA rule) as the
service would. Reports ingest records/s, evaluation seconds and the
evaluation process's peak RSS, and the counts the evaluation saw, which the
harness checks against the DuckDB reference (``bench_reference``).

Two shapes of data:

- ``dense``: all ``n`` persons in the year before ``AS_OF``, so every goal
  period and cohort window holds a share of them: the cost of counting a
  busy CRM.
- ``history``: ``RECENT`` persons in that year and the rest spread over the
  years before it at the same yearly volume (1M persons are ten years,
  5M fifty): what evaluation costs once years of history have piled up.
  The windows see the same records whatever ``n`` is, so a flat evaluation
  time says its cost follows the windows, not the history.
"""

from __future__ import annotations

import math
import random
import resource
import shutil
import statistics
import tempfile
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from monitor.config.file import Config
from monitor.evaluate import Evaluation, evaluate
from monitor.interfaces import Batch, Cursor, FunnelRecord
from monitor.store import Store
from tests.pg import PostgresCluster, find_bin_dir

AS_OF = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
OWNERS = [f"rep{i}@example.com" for i in range(12)]
#: Records per ``write_batch``: a connector's page.
BATCH = 2000
#: Persons in the year before ``AS_OF`` in the ``history`` shape.
RECENT = 100_000
#: A stage never reached, in the microsecond columns.
ABSENT = -(2**63)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_YEAR = 365 * 86400


def _micros(delta: timedelta) -> int:
    return delta // _MICROSECOND


def when(micros: int) -> datetime | None:
    """The instant of a microsecond column value (None for ``ABSENT``)."""
    return None if micros == ABSENT else _EPOCH + timedelta(microseconds=micros)


def region(i: int) -> str:
    return "EMEA" if i % 3 == 0 else "NA"


@dataclass(frozen=True)
class People:
    """Generated persons as columns of microseconds since the epoch
    (``ABSENT`` where a person never reached a stage), and the amount of the
    deal each won (NaN if none). Five million persons as ``FunnelRecord``
    objects would not fit in memory; as columns they take ~300 MB, and
    records are built a batch at a time."""

    lead: array[int]
    mql: array[int]
    sql: array[int]
    won: array[int]
    touch: array[int]
    modified: array[int]
    amount: array[float]

    @classmethod
    def empty(cls) -> People:
        stamps = {name: array("q") for name in ("lead", "mql", "sql", "won", "touch", "modified")}
        return cls(**stamps, amount=array("d"))

    def __len__(self) -> int:
        return len(self.lead)

    def person(self, i: int) -> FunnelRecord:
        owner = i % len(OWNERS)
        return FunnelRecord(
            object_type="persons",
            crm_id=f"P{i:08d}",
            modified_at=_EPOCH + timedelta(microseconds=self.modified[i]),
            lead_at=when(self.lead[i]),
            mql_at=when(self.mql[i]),
            sql_at=when(self.sql[i]),
            won_at=when(self.won[i]),
            owner_email=OWNERS[owner],
            owner_name=f"Rep {owner}",
            assigned_at=when(self.mql[i]),
            first_touch_at=when(self.touch[i]),
            name=f"Person {i}",
            url=f"https://crm.example.com/p/{i}",
            segments={"region": region(i)},
        )

    def deal(self, i: int) -> FunnelRecord:
        won = _EPOCH + timedelta(microseconds=self.won[i])
        return FunnelRecord(
            object_type="deals",
            crm_id=f"D{i:08d}",
            modified_at=won,
            kind="deal",
            won_at=won,
            amount=self.amount[i],
        )

    def deals(self) -> list[int]:
        """Indexes of the persons that won a deal."""
        return [i for i, won in enumerate(self.won) if won != ABSENT]

    def batches(self) -> Iterator[tuple[str, list[FunnelRecord]]]:
        """Persons, then deals, each in modified order as a sync delivers
        them, ``BATCH`` records at a time."""
        persons = sorted(range(len(self)), key=self.modified.__getitem__)
        deals = sorted(self.deals(), key=self.won.__getitem__)
        for object_type, order, make in (
            ("persons", persons, self.person),
            ("deals", deals, self.deal),
        ):
            for start in range(0, len(order), BATCH):
                yield object_type, [make(i) for i in order[start : start + BATCH]]


def people(n: int, shape: str = "dense", seed: int = 1, recent: int = RECENT) -> People:
    """The ``n`` persons of ``shape`` (see the module docstring); the same
    ``n``, ``shape``, ``seed`` and ``recent`` give the same persons in every
    process."""
    if shape not in ("dense", "history"):
        raise ValueError(f"shape must be dense or history, not {shape!r}")
    rng = random.Random(seed)
    out = People.empty()
    year_ago = AS_OF - timedelta(days=365)
    if shape == "dense":
        _generate(rng, out, n, year_ago, _YEAR)
        return out
    latest = min(n, recent)
    _generate(rng, out, latest, year_ago, _YEAR)
    span = (n - latest) * _YEAR // recent
    _generate(rng, out, n - latest, year_ago - timedelta(seconds=span), span)
    return out


def _generate(rng: random.Random, out: People, count: int, start: datetime, seconds: int) -> None:
    """Append ``count`` persons whose lead dates fall in ``seconds`` after
    ``start``. The draws are those of the original generator (one record
    object per person), so the figures compare with earlier runs."""
    origin = _micros(start - _EPOCH)
    for _ in range(count):
        lead = origin + rng.randrange(seconds) * 1_000_000
        mql = sql = won = touch = ABSENT
        if rng.random() < 0.27:
            mql = lead + _micros(timedelta(days=rng.expovariate(1 / 4)))
            if rng.random() < 0.38:
                sql = mql + _micros(timedelta(days=rng.expovariate(1 / 7)))
                if rng.random() < 0.22:
                    won = sql + _micros(timedelta(days=rng.expovariate(1 / 30)))
            if rng.random() < 0.95:
                touch = mql + _micros(timedelta(hours=rng.expovariate(1 / 3)))
        out.lead.append(lead)
        out.mql.append(mql)
        out.sql.append(sql)
        out.won.append(won)
        out.touch.append(touch)
        out.modified.append(max(lead, mql, sql, won, touch))
        out.amount.append(rng.lognormvariate(10, 0.6) if won != ABSENT else math.nan)


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


def ingest(n: int, database: str, shape: str = "dense", recent: int = RECENT) -> dict[str, float]:
    """Write ``n`` persons (and their won deals) as a sync would, in one
    ``Store.loading``; timed are the ``write_batch`` calls and the end of
    the loading, not building the records."""
    store = Store(database)
    store.upgrade()
    # As the App does at start: rollups kept in the configured zone from
    # the first write, not rebuilt from UTC on the first evaluation.
    store.use_zone(config(database).zone)
    written, seconds = 0, 0.0
    with store.loading("crm"):
        for object_type, chunk in people(n, shape, recent=recent).batches():
            batch = Batch(chunk, Cursor(chunk[-1].modified_at, chunk[-1].crm_id))
            started = time.perf_counter()
            store.write_batch("crm", object_type, batch, AS_OF)
            seconds += time.perf_counter() - started
            written += len(chunk)
        started = time.perf_counter()
    seconds += time.perf_counter() - started
    # A completed first sync: a source still syncing is not judged.
    store.record_sync("crm", AS_OF, ok=True, records_seen=written)
    store.close()
    return {"records": float(written), "ingest_records_per_s": written / seconds}


def evaluation(database: str) -> dict[str, Any]:
    """Evaluate every goal and the SLA rule over what ``ingest`` stored, in a
    process of its own, so peak RSS is the evaluation's alone."""
    store = Store(database)
    settings = config(database)
    # Cold: imports, calendars, connection pool, and the SLA rule's decided
    # outcomes folded into the store; every later evaluation reads them folded.
    started = time.perf_counter()
    result = evaluate(settings, store, AS_OF)
    first = time.perf_counter() - started
    # Warm: the service evaluates every minute, each time as of its clock.
    timings = []
    for minute in (1, 2, 3):
        started = time.perf_counter()
        evaluate(settings, store, AS_OF + timedelta(minutes=minute))
        timings.append(time.perf_counter() - started)
    result = evaluate(settings, store, AS_OF)  # what the reference counted
    store.close()
    return {
        "evaluate_seconds": min(timings),
        "evaluate_seconds_median": statistics.median(timings),
        "first_evaluate_seconds": first,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": counts(result),
    }


def counts(result: Evaluation) -> dict[str, float]:
    """What the evaluation counted, under the names ``bench_reference``
    gives the same aggregates."""
    out: dict[str, float] = {}
    for goal, facts in result.facts.items():
        for stage, days in facts.daily.items():
            out |= {f"{goal}/daily/{stage}/{day}": n for day, n in days.items()}
        for rate, table in facts.tables.items():
            out[f"{goal}/table/{rate}/entered"] = sum(table.entered.values())
            out[f"{goal}/table/{rate}/converted"] = sum(table.converted.values())
        out[f"{goal}/deals/count"] = facts.deals.count
        out[f"{goal}/deals/total"] = facts.deals.total
    for rule, sla in result.sla:
        out[f"sla/{rule.name}/records"] = sla.judged
    return out


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster, as the test suite starts one."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries not found; run `make pg`")
    cluster = PostgresCluster(bin_dir)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()


@contextmanager
def scratch_database(backend: str, cluster: PostgresCluster | None = None) -> Iterator[str]:
    """The URL of an empty database, removed afterwards: a SQLite file, or a
    database in ``cluster``."""
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="alignmon-bench-")
        try:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if backend != "postgres" or cluster is None:
        raise ValueError(f"backend must be sqlite, or postgres with a cluster, not {backend!r}")
    url = cluster.create_database()
    try:
        yield url
    finally:
        # Millions of rows per dataset: drop each one rather than fill the disk.
        with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def run(
    n: int = 100_000,
    shape: str = "dense",
    backend: str = "sqlite",
    phase: str = "both",
    database: str | None = None,
    recent: int = RECENT,
) -> dict[str, Any]:
    """One phase against ``database``; with none, both phases in this
    process against a scratch database of ``backend``."""
    if database is not None:
        if phase == "ingest":
            return ingest(n, database, shape, recent)
        return evaluation(database)
    if backend == "postgres":
        with postgres_cluster() as cluster, scratch_database(backend, cluster) as url:
            return {**ingest(n, url, shape, recent), **evaluation(url)}
    with scratch_database(backend) as url:
        return {**ingest(n, url, shape, recent), **evaluation(url)}
