"""``alignmon backtest`` output: the messages a replay would have posted,
one line per message line, and the tally per rule and per alert; or all of
it as one JSON object (a public contract, like every ``--format json``).

Times are shown in the configured time zone. Message text comes from CRM
records, so terminal control characters are stripped from it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.text import Text

from monitor.backtest import RULE_COUNTS, Posted, Replay
from monitor.config.types import format_duration
from monitor.interfaces import Severity
from monitor.notifiers.console import printable

_SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}
_EVENT_LABEL = {
    "firing": "FIRING",
    "escalated": "WORSE",
    "eased": "EASING",
    "repeat": "REPEAT",
    "joined": "JOINED",
    "resolved": "RESOLVED",
    "ended": "ENDED",
    "superseded": "SUPERSEDED",
}


def backtest_json(
    result: Replay, start: datetime, end: datetime, step: timedelta, zone: ZoneInfo
) -> dict[str, Any]:
    def at(moment: datetime | None) -> str | None:
        return moment.astimezone(zone).isoformat() if moment is not None else None

    return {
        "window": {"start": at(start), "end": at(end)},
        "step": format_duration(step),
        "evaluations": result.evaluations,
        "waiting": dict(result.waiting),
        "messages": [
            {
                "at": at(posted.at),
                "queued_at": at(posted.queued_at),
                "channel": posted.channel,
                "kind": posted.kind,
                "title": posted.payload.get("title", ""),
                "lines": [
                    {
                        "fingerprint": line["fingerprint"],
                        "severity": str(Severity(line["severity"])),
                        "title": line["title"],
                        "text": line["text"],
                        "event": posted.events.get(line["fingerprint"], ""),
                    }
                    for line in posted.payload.get("lines", [])
                ],
            }
            for posted in result.messages
        ],
        "rules": result.rules(),
        "alerts": {
            fingerprint: {
                "rule": history.rule,
                "severity": str(history.severity),
                "title": history.title,
                "first_fired": at(history.first_fired),
                "fired": history.count("firing"),
                "resolved": history.count("resolved"),
                "repeated": history.count("repeat"),
                "escalated": history.count("escalated"),
                "eased": history.count("eased"),
                "silenced": history.count("silenced"),
                "flips": history.flips,
                "state": history.state,
            }
            for fingerprint, history in result.alerts.items()
        },
    }


def print_backtest(
    result: Replay,
    start: datetime,
    end: datetime,
    step: timedelta,
    zone: ZoneInfo,
    console: Console,
) -> None:
    """Plain aligned lines rather than tables, so nothing is cut at the
    terminal's width and every line can be searched."""
    window = f"{start.astimezone(zone):%Y-%m-%d %H:%M} → {end.astimezone(zone):%Y-%m-%d %H:%M %Z}"
    console.print(
        f"[bold]Backtest {window}, every {format_duration(step)}:[/bold] "
        f"{result.evaluations:,} evaluations, {len(result.messages):,} messages"
    )
    for source, reason in sorted(result.waiting.items()):
        console.print(Text(f"{source}: {reason}; only commitments are checked", style="yellow"))
    console.print()
    if not result.messages:
        console.print("[green]Nothing would have been posted.[/green]")
    width = max((len(printable(p.channel)) for p in result.messages), default=0)
    for posted in result.messages:
        for line in message_lines(posted, zone, width):
            console.print(line)
    console.print()
    for line in rule_lines(result):
        console.print(line)
    if result.alerts:
        console.print()
        for line in alert_lines(result, zone):
            console.print(line)


def message_lines(posted: Posted, zone: ZoneInfo, channel_width: int = 0) -> list[Text]:
    """``06-03 09:15  #channel  FIRING    critical  fingerprint  title``; an
    update of an earlier post is one line with its new title."""
    head = (
        f"{posted.at.astimezone(zone):%m-%d %H:%M}  {printable(posted.channel):<{channel_width}}  "
    )
    if posted.kind == "update":
        title = printable(posted.payload.get("title", ""))
        return [Text.assemble(head, ("UPDATED   ", "dim"), f"{'':10}{title}")]
    out = []
    for line in posted.payload.get("lines", []):
        severity = Severity(line["severity"])
        event = posted.events.get(line["fingerprint"], "")
        out.append(
            Text.assemble(
                head,
                (f"{_EVENT_LABEL.get(event, event.upper()):<10}", "bold"),
                (f"{severity!s:<10}", _SEVERITY_STYLE[severity]),
                f"{printable(line['fingerprint'])}  {printable(line['title'])}",
            )
        )
    return out


def rule_lines(result: Replay) -> list[Text]:
    """A header and one row per rule that said anything."""
    rules = result.rules()
    if not rules:
        return [Text("No alert fired.", style="green")]
    width = max(len("rule"), *(len(rule) for rule in rules))
    header = f"{'rule':<{width}}" + "".join(f"  {c:>9}" for c in RULE_COUNTS)
    out = [Text(header, style="bold")]
    for rule, counts in rules.items():
        out.append(Text(f"{rule:<{width}}" + "".join(f"  {counts[c]:>9,}" for c in RULE_COUNTS)))
    return out


def alert_lines(result: Replay, zone: ZoneInfo) -> list[Text]:
    """Each alert said anything about, by its first firing: when, how often
    it fired and cleared, its flips, its state at the window's end."""
    header = f"{'first fired':<11}  {'fired':>5}  {'resolved':>8}  {'flips':>5}  {'at the end':<10}  alert"
    out = [Text(header, style="bold")]
    ordered = sorted(result.alerts.items(), key=lambda kv: (kv[1].first_fired or result.end, kv[0]))
    for fingerprint, history in ordered:
        first = history.first_fired
        out.append(
            Text.assemble(
                f"{first.astimezone(zone):%m-%d %H:%M}" if first else f"{'—':<11}",
                f"  {history.count('firing'):>5}  {history.count('resolved'):>8}  ",
                (f"{history.flips:>5}", "yellow" if history.flapped else ""),
                f"  {history.state:<10}  {printable(fingerprint)}",
            )
        )
    return out
