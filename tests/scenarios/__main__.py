"""``python -m tests.scenarios``: replay every scenario of the catalogue at
the service's cadence (every 15 minutes in working hours, hourly outside)
and print a Markdown table of what was posted.

Columns: evaluations run; alerts posted per rule (first firings, and
firings again after a resolution); the time from the injected problem to
the first post of the alert it must raise; and flips, the changes between
firing and resolved after an alert first fired (1: fired and cleared once;
more: flapping), per alert that flipped at all.

A second table measures what people are told: messages delivered by kind;
follow-up breaches that fell due (untouched at the first evaluation at or
after the deadline) and how many were named in Slack by that evaluation,
later (median delay after the deadline) or never while open; resolution
lines that name a record then breached; severity changes ("Worse"/
"Easing") and those undoing the previous one within 24 hours; repeats, and
those sent on a weekend; and "resolved" said of an alert after its period
ended.

``--cadence hourly`` replays hourly throughout (faster); ``--only NAME``
(repeatable) runs a subset.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from tests.scenarios import backtest
from tests.scenarios.backtest import CADENCES, GOAL, Backtest
from tests.scenarios.catalogue import CASES, Case


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.scenarios", description=__doc__)
    parser.add_argument("--cadence", choices=CADENCES, default="service")
    parser.add_argument("--only", action="append", choices=[c.name for c in CASES])
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if not args.only or c.name in args.only]
    rows, quality = [], []
    with tempfile.TemporaryDirectory(prefix="alignmon-scenarios-") as tmp:
        for case in chosen:
            print(f"replaying {case.name} …", file=sys.stderr, flush=True)
            result = backtest.run(
                case.scenario,
                start=case.start,
                end=case.end,
                cadence=args.cadence,
                folder=Path(tmp),
            )
            rows.append(row(case, result))
            quality.append(quality_row(case, result))
    print(f"Cadence: {args.cadence}.\n")
    print(
        "| scenario | window | evaluations | alerts posted by rule | first alert for the "
        "injected problem | flips |"
    )
    print("|---|---|---:|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        "| scenario | messages | breaches due | named within one evaluation | named later "
        "| never named | resolved while breached | severity changes (flips ≤ 24 h) "
        "| repeats (on weekends) | resolved after the period ended |"
    )
    print("|---|---|---:|---:|---|---:|---:|---|---|---:|")
    for cells in quality:
        print("| " + " | ".join(cells) + " |")
    print()
    for case in chosen:
        print(f"- **{case.name}**: {case.note}")
    return 0


def quality_row(case: Case, result: Backtest) -> list[str]:
    kinds = result.message_kinds()
    messages = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "none"
    breaches = result.breaches()
    prompt = sum(1 for b in breaches if b.prompt)
    later = [b.named_at - b.deadline.deadline for b in breaches if b.named_at and not b.prompt]
    never = sum(1 for b in breaches if b.named_at is None)
    late = f"{len(later)}"
    if later:
        late += f" (median {duration(statistics.median(later))})"
    share = f"{prompt} ({prompt / len(breaches):.0%})" if breaches else "—"
    repeats = [x for x in result.lines() if x.event == "repeat"]
    return [
        case.name,
        f"{sum(kinds.values())} ({messages})",
        str(len(breaches)),
        share,
        late,
        str(never),
        str(len(result.resolved_while_breached())),
        f"{len(result.severity_changes())} ({len(result.severity_flips())})",
        f"{len(repeats)} ({len(result.repeats_outside_working_days())})",
        str(len(result.rollover_resolutions())),
    ]


def row(case: Case, result: Backtest) -> list[str]:
    posted = result.posted()
    by_rule = ", ".join(f"{rule} {n}" for rule, n in sorted(posted.items())) or "none"
    return [
        case.name,
        f"{case.start:%m-%d} → {case.end - timedelta(seconds=1):%m-%d}",
        f"{result.evaluations:,}",
        by_rule,
        first_alert(case, result),
        flips(result),
    ]


def first_alert(case: Case, result: Backtest) -> str:
    if case.watch is None or case.since is None:
        return "— (nothing injected)"
    label = case.watch.rstrip("/").replace(f"/{GOAL}", "")
    first = result.first_posted(case.watch)
    if first is None:
        return f"{label}: not posted by {case.end:%m-%d}"
    return f"{label}: {duration(first - case.since)} after (at {first:%m-%d %H:%M})"


def flips(result: Backtest) -> str:
    counted = {short(fp): n for fp, n in result.flips().items() if n}
    if not counted:
        return "0"
    ordered = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{fp} {n}" for fp, n in ordered)


def short(fingerprint: str) -> str:
    """``conversion-drift/q-plan/sql/2026-06-01..2026-07-01`` →
    ``conversion-drift/sql (06)``."""
    parts = [p for p in fingerprint.split("/") if p != GOAL]
    month = ""
    if parts and ".." in parts[-1]:
        month = f" ({datetime.fromisoformat(parts.pop().split('..')[0]):%m})"
    return "/".join(parts) + month


def duration(span: timedelta) -> str:
    days = span / timedelta(days=1)
    if days >= 1:
        return f"{days:.1f} d"
    return f"{span / timedelta(hours=1):.1f} h"


if __name__ == "__main__":
    raise SystemExit(main())
