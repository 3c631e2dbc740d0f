"""A fake CRM in a process of its own, for the benchmarks that time a real
``alignmon sync`` (or a peer tool) as a user runs it: over HTTP, against a
server that does not share the client's interpreter.

``python -m tests.bench.portal hubspot 26000 --limits`` seeds the fake as
``bench_hubspot.seed_portal`` does, with its clock on the wall clock, and
prints one JSON line: what a config needs to reach it. Then it answers
commands on stdin, one a line: ``calls`` prints the requests counted since
the last ``reset`` (by endpoint, and the 429s), ``reset`` clears them. It
stops when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import PASSWORD, SECURITY_TOKEN, USERNAME, FakeSalesforce

Fake = FakeHubSpot | FakeSalesforce


def _hubspot(records: int, limits: bool) -> tuple[Fake, dict[str, Any]]:
    from tests.bench.bench_hubspot import seed_portal

    # seed_portal ends the data an hour before the fake's clock and moves
    # the clock on by that hour: start it an hour back to end on the wall clock.
    fake = FakeHubSpot(seed=5, now=datetime.now(UTC) - timedelta(hours=1))
    seed_portal(fake, records)
    if limits:
        fake.real_limits()
    return fake, {"url": fake.url, "token": fake.token, "portal_id": fake.portal_id}


def _salesforce(records: int) -> tuple[Fake, dict[str, Any]]:
    """``records`` leads modified one a second up to now, a tenth of them on
    one instant (as after a mass update) and all of them MQLs."""
    now = datetime.now(UTC).replace(microsecond=0)
    fake = FakeSalesforce(start=now).start()
    shared = now - timedelta(seconds=records + 1)
    stamps = [
        shared if i % 10 == 0 else now - timedelta(seconds=records - i) for i in range(records)
    ]
    fake.add_leads(records, stamps, MQL_Date__c=shared)
    reach = {
        "url": fake.url,
        "ca": str(fake.ca_path),
        "username": USERNAME,
        "password": PASSWORD,
        "security_token": SECURITY_TOKEN,
    }
    return fake, reach


def _answer(fake: Fake, commands: TextIO, out: TextIO) -> None:
    for line in commands:
        command = line.strip()
        if command == "calls":
            counted = {"calls": dict(fake.calls), "429s": fake.statuses[429]}
            print(json.dumps(counted), file=out, flush=True)
        elif command == "reset":
            fake.calls.clear()
            fake.statuses.clear()
            print("{}", file=out, flush=True)
        else:
            print(json.dumps({"error": f"unknown command {command!r}"}), file=out, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.portal", description=__doc__)
    parser.add_argument("crm", choices=("hubspot", "salesforce"))
    parser.add_argument("records", type=int)
    parser.add_argument("--limits", action="store_true", help="HubSpot's real rate limits")
    args = parser.parse_args(argv)
    if args.crm == "hubspot":
        fake, reach = _hubspot(args.records, args.limits)
    else:
        fake, reach = _salesforce(args.records)
    with fake:
        print(json.dumps(reach), flush=True)
        _answer(fake, sys.stdin, sys.stdout)


class Portal:
    """The other end of ``main``: the fake's process, seeded and listening."""

    def __init__(self, process: Any, reach: dict[str, Any]) -> None:
        self._process = process
        self.reach = reach

    def _ask(self, command: str) -> dict[str, Any]:
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._process.stdout.readline())
        return answer

    def calls(self) -> tuple[int, int]:
        """Requests and 429 answers since the last ``reset``."""
        counted = self._ask("calls")
        return sum(counted["calls"].values()), counted["429s"]

    def reset(self) -> None:
        self._ask("reset")


@contextmanager
def portal(crm: str, records: int, *, limits: bool = False) -> Iterator[Portal]:
    import subprocess

    args = [sys.executable, "-m", "tests.bench.portal", crm, str(records)]
    if limits:
        args.append("--limits")
    with subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as process:
        try:
            line = process.stdout.readline() if process.stdout else ""
            if not line:
                raise RuntimeError(f"the fake {crm} did not start (exit {process.wait()})")
            yield Portal(process, json.loads(line))
        finally:
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
