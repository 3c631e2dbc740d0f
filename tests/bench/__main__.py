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
        print(f"store ingest + evaluate, {n:,} persons (SQLite)…", flush=True)
        rows.append((f"store, {n:,} persons, SQLite", measure("bench_store", n=n)))
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


if __name__ == "__main__":
    main()
