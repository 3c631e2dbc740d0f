"""Benchmarks: what a user waits for when they type ``alignmon sync``.

Each run is a whole ``alignmon sync`` process in a new directory with its
own SQLite store, against a fake CRM serving from another process over
HTTP (``tests.bench.portal``): start-up, migrations, the pull, the store's
writes and the exit are all in the time. ``records_per_s`` is the records
stored over that wall time.

HubSpot runs with its real limits in the fake and the default pacing; after
each full sync a second ``alignmon sync`` with nothing changed is timed and
its calls counted. With ``peer`` the dlt run (``bench_dlt``, also a whole
process, into DuckDB) alternates with alignmon's on the same portal, so the
machine's load falls on both alike. Salesforce runs once with the default
settings (Bulk API 2.0 past 20,000 rows, polled every 5 s) and once through
REST query pages only.

Every figure is given as the minimum and the median of the runs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from connectors.hubspot.settings import LIST_PAGE, SEARCH_PAGE, HubSpotSource
from tests.bench.bench_hubspot import HUBSPOT_FLOOR
from tests.bench.portal import Portal, portal

HUBSPOT = """\
timezone: UTC
database: sqlite:///sync.db
sources:
  hs:
    kind: hubspot
    token: ${{HUBSPOT_TOKEN}}
    api_url: {url}
    portal_id: {portal_id}
    segments: {{region: hs_region, icp_tier: icp_tier}}
"""

SALESFORCE = """\
timezone: UTC
database: sqlite:///sync.db
sources:
  sf:
    kind: salesforce
    instance_url: {url}
    ca_bundle: {ca}
    auth:
      username: {username}
      password: ${{SF_PASSWORD}}
      security_token: ${{SF_SECURITY_TOKEN}}
      login_url: {url}
    fields: {{mql_at: MQL_Date__c, sql_at: SQL_Date__c}}
{extra}"""

_DEFAULTS = HubSpotSource.model_fields
#: Records per second the default pacing lets through at most.
PACED_FLOOR = (
    _DEFAULTS["requests_per_second"].default * SEARCH_PAGE
    + _DEFAULTS["requests_per_10s"].default / 10 * LIST_PAGE
)
ALIGNMON = str(Path(sys.executable).with_name("alignmon"))


def _sync(directory: Path, env: dict[str, str]) -> float:
    """One ``alignmon sync``; its wall time."""
    started = time.perf_counter()
    done = subprocess.run(
        [ALIGNMON, "sync"], cwd=directory, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"alignmon sync failed (exit {done.returncode}):\n{done.stderr}")
    return seconds


def _stored(directory: Path) -> int:
    with closing(sqlite3.connect(directory / "sync.db")) as db:
        count: int = db.execute("select count(*) from records").fetchone()[0]
    return count


def _environment(**secrets: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIGNMON_", "PYTHONDONT"))}
    return env | secrets


def _hubspot_run(fake: Portal) -> dict[str, float]:
    """A full sync into a new store, then one with nothing changed."""
    env = _environment(HUBSPOT_TOKEN=fake.reach["token"])
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "alignmon.yaml").write_text(HUBSPOT.format(**fake.reach))
        fake.reset()
        full = _sync(directory, env)
        full_calls, limited = fake.calls()
        records = _stored(directory)
        fake.reset()
        unchanged = _sync(directory, env)
        unchanged_calls, _ = fake.calls()
    return {
        "records": float(records),
        "full_seconds": full,
        "full_records_per_s": records / full,
        "full_api_calls": float(full_calls),
        "rate_limited_429s": float(limited),
        "unchanged_seconds": unchanged,
        "unchanged_api_calls": float(unchanged_calls),
    }


@dataclass(frozen=True)
class Process:
    seconds: float
    rows: int
    calls: int
    limited: int  # answers of 429


def _dlt_process(fake: Portal, directory: Path) -> Process:
    """One dlt run, a whole process, on the pipeline kept in ``directory``."""
    command = [sys.executable, "-m", "tests.bench.bench_dlt"]
    command += [fake.reach["url"], fake.reach["token"], str(directory)]
    fake.reset()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=_environment())
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"the dlt run failed (exit {done.returncode}):\n{done.stderr}")
    rows: int = json.loads(done.stdout.strip().splitlines()[-1])["rows"]
    return Process(seconds, rows, *fake.calls())


def _dlt_run(fake: Portal) -> dict[str, float]:
    """A first run into a new pipeline, then one with nothing changed."""
    with tempfile.TemporaryDirectory() as tmp:
        full = _dlt_process(fake, Path(tmp))
        unchanged = _dlt_process(fake, Path(tmp))
    return {
        "records": float(full.rows),
        "full_seconds": full.seconds,
        "full_records_per_s": full.rows / full.seconds,
        "full_api_calls": float(full.calls),
        "unchanged_seconds": unchanged.seconds,
        "unchanged_api_calls": float(unchanged.calls),
        "rate_limited_429s": float(full.limited + unchanged.limited),
    }


def spread(runs: list[dict[str, float]], key: str, name: str | None = None) -> dict[str, float]:
    values = [run[key] for run in runs]
    label = name or key
    return {f"{label}_min": min(values), f"{label}_median": statistics.median(values)}


def hubspot(n: int, runs: int = 3, peer: bool = True) -> dict[str, float]:
    """``n`` records (three quarters contacts) under HubSpot's limits."""
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    with portal("hubspot", n, limits=True) as fake:
        for _ in range(runs):
            ours.append(_hubspot_run(fake))
            if peer:
                theirs.append(_dlt_run(fake))
    figures = {"records": ours[0]["records"], "runs": float(runs)}
    for key in ("full_records_per_s", "full_seconds", "unchanged_seconds"):
        figures |= spread(ours, key)
    figures["full_api_calls"] = ours[0]["full_api_calls"]
    figures["unchanged_api_calls"] = max(run["unchanged_api_calls"] for run in ours)
    figures["rate_limited_429s"] = sum(run["rate_limited_429s"] for run in ours)
    figures["paced_floor_records_per_s"] = PACED_FLOOR
    figures["hubspot_floor_records_per_s"] = float(HUBSPOT_FLOOR)
    if theirs:
        figures |= spread(theirs, "full_records_per_s", "dlt_full_records_per_s")
        figures |= spread(theirs, "unchanged_seconds", "dlt_unchanged_seconds")
        figures["dlt_full_api_calls"] = theirs[0]["full_api_calls"]
        figures["dlt_unchanged_api_calls"] = theirs[0]["unchanged_api_calls"]
        figures["dlt_429s"] = sum(run["rate_limited_429s"] for run in theirs)
        figures["full_rate_alignmon_over_dlt"] = (
            figures["full_records_per_s_median"] / figures["dlt_full_records_per_s_median"]
        )
        figures["unchanged_time_dlt_over_alignmon"] = (
            figures["dlt_unchanged_seconds_median"] / figures["unchanged_seconds_median"]
        )
    return figures


def _salesforce_run(fake: Portal, extra: str) -> dict[str, float]:
    reach = fake.reach
    env = _environment(SF_PASSWORD=reach["password"], SF_SECURITY_TOKEN=reach["security_token"])
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = SALESFORCE.format(extra=extra, **reach)
        (directory / "alignmon.yaml").write_text(config)
        fake.reset()
        seconds = _sync(directory, env)
        calls, _ = fake.calls()
        records = _stored(directory)
    return {
        "records": float(records),
        "seconds": seconds,
        "records_per_s": records / seconds,
        "api_calls": float(calls),
    }


def salesforce(n: int, runs: int = 3) -> dict[str, float]:
    """``n`` leads, by the default settings and by REST pages only,
    alternating."""
    ways: dict[str, tuple[str, list[dict[str, float]]]] = {
        "default": ("", []),
        "rest": ("    bulk_threshold: null\n", []),
    }
    with portal("salesforce", n) as fake:
        for _ in range(runs):
            for extra, done in ways.values():
                done.append(_salesforce_run(fake, extra))
    figures = {"records": ways["rest"][1][0]["records"], "runs": float(runs)}
    for label, (_, done) in ways.items():
        figures |= spread(done, "records_per_s", f"{label}_records_per_s")
        figures |= spread(done, "seconds", f"{label}_seconds")
        figures[f"{label}_api_calls"] = done[0]["api_calls"]
    return figures
