"""Benchmark: the idle service. Starts `alignmon run` on the demo (SQLite),
lets the first sync and evaluation finish, then samples its resident memory
and CPU time over a quiet minute (the evaluate and deliver jobs keep
ticking, as in production)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
timezone: America/New_York
database: sqlite:///idle.db
sources:
  demo: {kind: demo, every: 15m}
goals:
  - {name: q, source: demo, revenue: 2100000, average_deal_size: 25000,
     rates: {sql_to_won: 0.22, mql_to_sql: 0.37, lead_to_mql: 0.27}}
sla:
  - {name: mql-follow-up, source: demo, within: 4h}
service: {listen: "127.0.0.1:0"}
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(settle: float = 20.0, window: float = 60.0) -> dict[str, float]:
    alignmon = str(Path(sys.executable).with_name("alignmon"))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "alignmon.yaml").write_text(CONFIG)
        process = subprocess.Popen(
            [alignmon, "run"], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(settle)
            cpu_before, started = _cpu_seconds(process.pid), time.monotonic()
            peak = 0.0
            while time.monotonic() - started < window:
                peak = max(peak, _rss_mb(process.pid))
                time.sleep(1)
            cpu = (_cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - started)
        finally:
            process.terminate()
            process.wait(timeout=60)
    return {"idle_rss_mb": peak, "idle_cpu_percent": 100 * cpu, "window_seconds": window}
