"""``alignmon sync`` on a terminal draws a bar per object type with the
count of the CRM's total, the rate and the time left; elsewhere nothing
(monitor/cli/progress.py)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from monitor.cli.progress import sync_bars

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal() -> tuple[Console, io.StringIO]:
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=120), screen


def test_a_terminal_shows_a_bar_per_object_type_with_the_total() -> None:
    console, screen = terminal()
    with sync_bars(console) as bars:
        assert bars is not None
        report = bars("hubspot")
        report("contacts", 1_200, 98_000)
        report("deals", 40, None)
    drawn = ANSI.sub("", screen.getvalue())
    assert "hubspot/contacts" in drawn and "1,200 of 98,000 records" in drawn
    assert "hubspot/deals" in drawn and "40 records" in drawn


def test_nothing_is_drawn_off_a_terminal_or_with_json_logs() -> None:
    piped = Console(file=io.StringIO(), force_terminal=False)
    with sync_bars(piped) as bars:
        assert bars is None
    console, screen = terminal()
    with sync_bars(console, draw=False) as bars:
        assert bars is None
    assert screen.getvalue() == ""
