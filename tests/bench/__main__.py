"""``make bench``: run every benchmark in its own process (so peak RSS is
its own) and write the figures, the machine and the date to
docs/benchmarks.md.

``python -m tests.bench --quick`` uses small sizes, to check the harness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def measure(module: str, **kwargs: object) -> dict[str, float]:
    code = (
        "import json, importlib; "
        f"result = importlib.import_module('tests.bench.{module}').run(**{kwargs!r}); "
        "print(json.dumps(result))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    sizes = (10_000,) if args.quick else (100_000, 1_000_000)
    sync_n = 10_000 if args.quick else 100_000
    rows: list[tuple[str, dict[str, float]]] = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            print(f"store ingest, then evaluate, {n:,} persons (SQLite)…", flush=True)
            figures = measure("bench_store", n=n, phase="ingest", database=url)
            figures |= measure("bench_store", phase="evaluate", database=url)
        rows.append((f"store, {n:,} persons, SQLite", figures))
    print(f"HubSpot sync, {sync_n:,} contacts…", flush=True)
    rows.append((f"HubSpot full sync, {sync_n:,} contacts", measure("bench_hubspot", n=sync_n)))
    if (ROOT / "tests" / "bench" / "bench_salesforce.py").exists():
        print(f"Salesforce sync, {sync_n:,} leads…", flush=True)
        rows.append((f"Salesforce sync, {sync_n:,} leads", measure("bench_salesforce", n=sync_n)))
    print("idle service, one minute…", flush=True)
    rows.append(
        ("idle service (demo, SQLite)", measure("bench_idle", window=10.0 if args.quick else 60.0))
    )
    write(Path(args.out), rows)
    print(f"wrote {args.out}")


def write(path: Path, rows: list[tuple[str, dict[str, float]]]) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m tests.bench`); each benchmark runs in its own",
        "process. Targets (DESIGN §6): evaluate all goals + SLA over 1,000,000 records in",
        "≤ 1 s with peak RSS ≤ 300 MB; sync ingest ≥ 20,000 records/s; API calls equal to",
        "the page-count minimum; idle service ≤ 100 MB RSS and ~0% CPU.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        "",
    ]
    lines.extend(verdicts(dict(rows)))
    for name, figures in rows:
        lines.append(f"## {name}")
        lines.append("")
        lines.append("| figure | value |")
        lines.append("|---|---|")
        for key, value in figures.items():
            lines.append(f"| {key} | {value:,.2f} |")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


#: Why a figure misses its target, and what comes next (kept with the code
#: that measures it, so the explanation is rewritten with the numbers).
CAUSES = {
    "evaluate": (
        "Evaluation reads raw records: each goal scans its cohort windows (180 days) and "
        "period, and segment goals read the JSON segments of every row in range. Covering "
        "indexes (migration 0002) halved it; next: daily rollups maintained at write time "
        "(stage × local day × segment), so evaluation cost follows goals × days, not history."
    ),
    "ingest": (
        "Store ingest is one cached upsert statement per batch; the five-column covering "
        "indexes that speed evaluation cost ingest. Next: rollups would let the raw-record "
        "indexes shrink again."
    ),
}


def verdicts(results: dict[str, dict[str, float]]) -> list[str]:
    """The DESIGN §6 targets against this run's figures."""
    checks: list[tuple[str, float | None, str, bool | None, str]] = []
    store = next((v for k, v in results.items() if k.startswith("store, 1,000,000")), None)
    if store:
        seconds, rss = store["evaluate_seconds"], store["peak_rss_mb"]
        checks.append(
            ("evaluate 1M records (SQLite)", seconds, "≤ 1.0 s", seconds <= 1.0, "evaluate")
        )
        checks.append(("evaluation peak RSS, 1M records", rss, "≤ 300 MB", rss <= 300, ""))
        rate = store["ingest_records_per_s"]
        checks.append(("store ingest, records/s", rate, "≥ 20,000", rate >= 20_000, "ingest"))
    hubspot = next((v for k, v in results.items() if k.startswith("HubSpot")), None)
    if hubspot:
        rate = hubspot["connector_records_per_s"]
        checks.append(("HubSpot connector, records/s", rate, "≥ 20,000", rate >= 20_000, ""))
        extra = hubspot["search_calls"] - hubspot["search_calls_minimum"]
        checks.append(
            ("HubSpot search calls over the page minimum", extra, "0 + cap windows", None, "")
        )
    idle = next((v for k, v in results.items() if k.startswith("idle")), None)
    if idle:
        checks.append(("idle RSS", idle["idle_rss_mb"], "≤ 100 MB", idle["idle_rss_mb"] <= 100, ""))
        checks.append(
            ("idle CPU %", idle["idle_cpu_percent"], "~0", idle["idle_cpu_percent"] < 1, "")
        )
    out = ["## Against the targets", "", "| figure | value | target | met |", "|---|---|---|---|"]
    for name, value, target, met, _ in checks:
        mark = "—" if met is None else ("yes" if met else "**no**")
        out.append(f"| {name} | {value:,.2f} | {target} | {mark} |")
    missed = [cause for *_, met, cause in checks if met is False and cause]
    out.append("")
    out.extend(f"- {CAUSES[cause]}" for cause in dict.fromkeys(missed))
    out.append("")
    return out


if __name__ == "__main__":
    main()
