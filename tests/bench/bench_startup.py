"""Benchmark: how long a user waits for a command. Times `alignmon
--version` and `alignmon status` on a demo store of about 26,000 records
(24 months synced once), each a whole process, in turn, after a warm-up
run of each; against the floor of starting the interpreter alone
(`python -c pass`). Bytecode is cached, as in an installed package."""

from __future__ import annotations

import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

CONFIG = """\
timezone: America/New_York
database: sqlite:///startup.db
sources:
  demo: {kind: demo, months: 24}
goals:
  - {name: q, source: demo, revenue: 2100000, average_deal_size: 25000,
     rates: {sql_to_won: 0.22, mql_to_sql: 0.37, lead_to_mql: 0.27}}
sla:
  - {name: mql-follow-up, source: demo, within: 4h}
"""

COMMANDS = {
    "python": [sys.executable, "-c", "pass"],
    "version": [str(Path(sys.executable).with_name("alignmon")), "--version"],
    "status": [str(Path(sys.executable).with_name("alignmon")), "status"],
}


#: A developer's settings that a user's installed package would not have.
_UNSET = ("PYTHONDONTWRITEBYTECODE", "ALIGNMON_CONFIG")


def _timed(command: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(runs: int = 10) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "alignmon.yaml").write_text(CONFIG)
        env = {k: v for k, v in os.environ.items() if k not in _UNSET}
        env["PYTHONPYCACHEPREFIX"] = str(Path(folder) / "bytecode")
        subprocess.run([*COMMANDS["status"][:1], "sync"], cwd=folder, env=env, check=True)
        with closing(sqlite3.connect(Path(folder) / "startup.db")) as db:
            (records,) = db.execute("SELECT count(*) FROM records").fetchone()
        for command in COMMANDS.values():  # warm-up: bytecode written, files cached
            _timed(command, folder, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
        for _ in range(runs):
            for name, command in COMMANDS.items():
                times[name].append(_timed(command, folder, env))
    figures: dict[str, float] = {"records": float(records), "runs": float(runs)}
    for name, measured in times.items():
        walls = [wall for wall, _ in measured]
        figures[f"{name}_seconds"] = statistics.median(walls)
        figures[f"{name}_seconds_min"] = min(walls)
        figures[f"{name}_cpu_seconds"] = statistics.median(cpu for _, cpu in measured)
    return figures
