"""Benchmark: the evaluation's aggregates computed by DuckDB, as a yardstick.

The targets say how fast evaluation must be; this says how fast the same
counting can be. The process regenerates the persons ``bench_store``
ingested (same seed, shape and size), writes them to a CSV file and loads it
into an in-memory DuckDB table (not timed), then times one query that
computes every aggregate evaluation asks the store for, as of ``AS_OF``:

- per goal (its segment): lead/MQL/SQL (persons) and won (deals) counts per
  local day of its period up to ``AS_OF``;
- per goal and rate: the cohort table's totals over the auto-rate window,
  those converted being the ones that reached the next stage before the
  local day of ``AS_OF``;
- per goal: won deals with a positive amount over the auto-rate window, and
  their total;
- per SLA rule: the records the SLA engine is handed (entered in the
  look-back, and untouched or touched or entered within the compliance
  window).

The windows and periods come from ``bench_store.config()``, so a changed
goal changes both sides. DuckDB scans columns with every core and no
rollups: the ratio says what the store's indexes and rollups buy (or cost)
against brute force over a columnar copy.
"""

from __future__ import annotations

import csv
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from monitor.config.file import Config
from monitor.config.models import Goal
from monitor.facts import COMPLIANCE_WINDOW
from monitor.judge.periods import local_midnight, period_for
from tests.bench.bench_store import ABSENT, AS_OF, RECENT, People, config, people, region

_RATES = {
    "lead_to_mql": ("lead", "mql"),
    "mql_to_sql": ("mql", "sql"),
    "sql_to_won": ("sql", "won"),
}
_STAGE_KIND = {"lead": "person", "mql": "person", "sql": "person", "won": "deal"}
_COLUMNS = ("kind", "lead_at", "mql_at", "sql_at", "won_at", "first_touch_at", "amount", "region")


def write_csv(data: People, path: Path) -> None:
    """One row per person and one per won deal; instants as microseconds
    since the epoch, empty where a stage was never reached."""

    def micros(value: int) -> int | str:
        return "" if value == ABSENT else value

    with path.open("w", newline="") as out:
        rows = csv.writer(out)
        rows.writerow(_COLUMNS)
        for i in range(len(data)):
            won = data.won[i]
            stamps = (data.lead[i], data.mql[i], data.sql[i], won, data.touch[i])
            rows.writerow(("person", *map(micros, stamps), "", region(i)))
            if won != ABSENT:
                rows.writerow(("deal", "", "", "", won, "", data.amount[i], ""))


def load(path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(
        "CREATE TABLE records AS SELECT kind, "
        "make_timestamp(lead_at)::TIMESTAMPTZ AS lead_at, "
        "make_timestamp(mql_at)::TIMESTAMPTZ AS mql_at, "
        "make_timestamp(sql_at)::TIMESTAMPTZ AS sql_at, "
        "make_timestamp(won_at)::TIMESTAMPTZ AS won_at, "
        "make_timestamp(first_touch_at)::TIMESTAMPTZ AS first_touch_at, amount, region "
        "FROM read_csv(?, header = true, columns = {'kind': 'VARCHAR', 'lead_at': 'BIGINT', "
        "'mql_at': 'BIGINT', 'sql_at': 'BIGINT', 'won_at': 'BIGINT', "
        "'first_touch_at': 'BIGINT', 'amount': 'DOUBLE', 'region': 'VARCHAR'})",
        [str(path)],
    )
    return conn


def _at(instant: datetime) -> str:
    return f"TIMESTAMPTZ '{instant.astimezone(UTC).isoformat(sep=' ')}'"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _segment(segment: dict[str, str]) -> str:
    # The generated records carry one segment attribute, as a column here.
    unknown = set(segment) - {"region"}
    if unknown:
        raise ValueError(f"the reference knows only the region segment, not {sorted(unknown)}")
    return "".join(f" AND region = {_text(value)}" for value in segment.values())


def query(settings: Config, as_of: datetime) -> str:
    """One statement returning ``(name, value)`` rows, named as
    ``bench_store.counts`` names the evaluation's figures. It is built from
    the benchmark's own config (goal names are restricted to ``[A-Za-z0-9_.-]``,
    segment values are quoted), hence the string building."""
    parts = []
    for goal in settings.goals:
        parts.append(_daily(settings, goal, as_of))
        parts.extend(_cohorts_and_deals(settings, goal, as_of))
    for rule in settings.sla:
        entered, recent = f"{rule.stage}_at", _at(as_of - COMPLIANCE_WINDOW)
        parts.append(
            _unpivot(
                f'count(*) AS "sla/{rule.name}/records"',
                f"kind = 'person'{_segment(rule.segment)} "
                f"AND {entered} >= {_at(as_of - rule.lookback)} AND {entered} < {_at(as_of)} "
                f"AND (first_touch_at IS NULL OR first_touch_at >= {recent} OR {entered} >= {recent})",
            )
        )
    return "\nUNION ALL\n".join(f"({part})" for part in parts)


def _daily(settings: Config, goal: Goal, as_of: datetime) -> str:
    """Stage entries per local day of the goal's period, up to ``as_of``."""
    where = _segment(goal.segment)
    period = period_for(goal.period, as_of, settings.zone, settings.fiscal_year_start)
    start, until = _at(period.starts_at), _at(min(as_of, period.ends_at))
    entries = " UNION ALL ".join(
        f"SELECT '{stage}' AS stage, {stage}_at AS entered FROM records "  # noqa: S608
        f"WHERE kind = '{kind}'{where} AND {stage}_at >= {start} AND {stage}_at < {until}"
        for stage, kind in _STAGE_KIND.items()
    )
    return (
        f"SELECT '{goal.name}/daily/' || stage || '/' || "  # noqa: S608
        f"CAST(CAST(entered AT TIME ZONE {_text(settings.timezone)} AS DATE) AS VARCHAR) AS name, "
        f"CAST(count(*) AS DOUBLE) AS value FROM ({entries}) GROUP BY ALL"
    )


def _cohorts_and_deals(settings: Config, goal: Goal, as_of: datetime) -> list[str]:
    """Each transition's cohort table in total (persons that entered the
    upper stage on the whole local days of the auto-rate window before
    today, and those of them converted before today); the deal sample from
    the window's first day up to ``as_of``."""
    where, zone = _segment(goal.segment), settings.zone
    today = as_of.astimezone(zone).date()
    first = today - timedelta(days=goal.auto_rates.window_days)
    start, end = _at(local_midnight(first, zone)), _at(local_midnight(today, zone))
    cohorts = []
    for rate, (upper, lower) in _RATES.items():
        entered = f"{upper}_at >= {start} AND {upper}_at < {end}"
        name = f"{goal.name}/table/{rate}"
        cohorts.append(f'count(*) FILTER ({entered}) AS "{name}/entered"')
        cohorts.append(f'count(*) FILTER ({entered} AND {lower}_at < {end}) AS "{name}/converted"')
    won = f"won_at >= {_at(local_midnight(first, zone))} AND won_at < {_at(as_of)} AND amount > 0"
    deals = (
        f'count(*) FILTER ({won}) AS "{goal.name}/deals/count", '
        f'coalesce(sum(amount) FILTER ({won}), 0) AS "{goal.name}/deals/total"'
    )
    return [
        _unpivot(", ".join(cohorts), f"kind = 'person'{where}"),
        _unpivot(deals, f"kind = 'deal'{where}"),
    ]


def _unpivot(aggregates: str, where: str) -> str:
    """One scan computing several aggregates, turned into ``(name, value)`` rows."""
    return (
        f"SELECT name, CAST(value AS DOUBLE) AS value FROM (UNPIVOT (SELECT {aggregates} "  # noqa: S608
        f"FROM records WHERE {where}) ON COLUMNS(*) INTO NAME name VALUE value)"
    )


def run(n: int = 100_000, shape: str = "dense", recent: int = RECENT) -> dict[str, object]:
    """Seconds of the query (min of 3 after a warm run) and what it counted."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.csv"
        write_csv(people(n, shape, recent=recent), path)
        conn = load(path)
    statement = query(config("sqlite://"), AS_OF)
    rows = conn.execute(statement).fetchall()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        rows = conn.execute(statement).fetchall()
        timings.append(time.perf_counter() - started)
    conn.close()
    return {"reference_seconds": min(timings), "counts": dict(rows)}
