"""``python -m tests.scenarios.sweep``: one catalogue case replayed with
sampling noise at several volumes and seeds, to see how often a funnel on
plan posts an alert anyway, and how soon an injected problem is named.

Each month is generated anew (``noise="random"``: Poisson days, Bernoulli
conversions) with ``--leads`` leads per working day and the seed given,
replayed at ``--cadence`` through the service's evaluation and alert
lifecycle, and summed up in a Markdown table: the alerts posted per rule,
the first post of each (``MM-DD HH`` and the severity's initial), and for a
case with a problem, when the alert it must raise was first posted.

    python -m tests.scenarios.sweep --case on-plan-random --leads 10,25,50 --seeds 1-4

A month takes about 6 s hourly (12 months: 73 s on a 2-core Xeon).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from tests.scenarios import backtest
from tests.scenarios.backtest import CADENCES, Backtest, Cadence
from tests.scenarios.catalogue import CASES, Case


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.scenarios.sweep", description=__doc__)
    parser.add_argument("--case", choices=[c.name for c in CASES], default="on-plan-random")
    parser.add_argument("--leads", type=_numbers, default=[10.0, 25.0, 50.0])
    parser.add_argument("--seeds", type=_seeds, default=[1, 2, 3, 4])
    parser.add_argument("--cadence", choices=CADENCES, default="hourly")
    args = parser.parse_args(argv)
    case = next(c for c in CASES if c.name == args.case)
    print(f"{case.name}: {case.note}; cadence {args.cadence}\n")
    print("| leads/day | seed | posted by rule | first posts | problem named |")
    print("|---|---|---|---|---|")
    quiet = 0
    with tempfile.TemporaryDirectory(prefix="alignmon-sweep-") as tmp:
        for leads in args.leads:
            for seed in args.seeds:
                result = replay(case, leads, seed, cast(Cadence, args.cadence), Path(tmp))
                posted = result.posted()
                quiet += not posted
                print(
                    f"| {leads:g} | {seed} | {_counts(posted) or '—'} | {_firsts(result) or '—'} "
                    f"| {_named(case, result)} |",
                    flush=True,
                )
    months = len(args.leads) * len(args.seeds)
    print(f"\n{months - quiet} of {months} months posted an alert.")
    return 0


def replay(case: Case, leads: float, seed: int, cadence: Cadence, folder: Path) -> Backtest:
    scenario = replace(case.scenario, leads_per_day=leads, seed=seed, noise="random")
    print(f"replaying {leads:g} leads/day, seed {seed} …", file=sys.stderr, flush=True)
    return backtest.run(scenario, start=case.start, end=case.end, cadence=cadence, folder=folder)


def _counts(posted: dict[str, int]) -> str:
    return ", ".join(f"{rule} {n}" for rule, n in sorted(posted.items()))


def _firsts(result: Backtest) -> str:
    """Each alert's first post: the fingerprint without the goal and
    period, its time and its severity's initial."""
    first: dict[str, str] = {}
    for line in result.lines():
        if line.event == "firing":
            parts = line.fingerprint.split("/")
            what = "/".join(p for p in (parts[0], parts[2] if len(parts) > 2 else "") if p)
            first.setdefault(what, f"{line.at:%m-%d %H} {line.severity.name[0]}")
    return "; ".join(f"{what} {at}" for what, at in first.items())


def _named(case: Case, result: Backtest) -> str:
    if case.watch is None:
        return "(nothing to name)"
    at = result.first_posted(case.watch)
    return "never" if at is None else f"{at:%m-%d %H:%M}"


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def _seeds(text: str) -> list[int]:
    """``1-4`` or ``1,3,5``."""
    if "-" in text:
        low, high = text.split("-", 1)
        return list(range(int(low), int(high) + 1))
    return [int(x) for x in text.split(",")]


if __name__ == "__main__":
    sys.exit(main())
