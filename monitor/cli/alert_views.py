"""The CLI's output for the alerts → silence loop: ``alignmon alerts`` and
``alignmon silence`` as tables and JSON, in the configured time zone.

Like amtool, each alert has an id to type into ``alignmon silence``: a short
one (monitor/short_ids.py) in the default table, which fits 100 columns
(long titles and matchers end in "…"); ``--wide`` and JSON give full
fingerprints and full times. JSON keys are a public contract, as in
monitor/cli/views.py.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from monitor import silences
from monitor.cli.views import SEVERITY_STYLE
from monitor.findings import Alert
from monitor.service.app import AlertListing
from monitor.short_ids import expand
from monitor.store.alerts import Silence


def stamp(at: datetime, zone: ZoneInfo) -> str:
    """``2026-12-06T14:05:00-05:00``: an instant in JSON, in the configured
    zone."""
    return at.astimezone(zone).isoformat()


def shown(at: datetime, zone: ZoneInfo, *, wide: bool) -> str:
    """``12-06 14:05`` in a table whose title names the zone; ``2026-12-06
    14:05 EST`` when there is room."""
    local = at.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M %Z}" if wide else f"{local:%m-%d %H:%M}"


def _table(title: str, zone: ZoneInfo) -> Table:
    return Table(
        title=f"{title} (times in {zone.key})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )


def resolve_target(target: str, fingerprints: Sequence[str]) -> str:
    """What ``alignmon silence TARGET`` mutes: the fingerprint a short id
    names, else ``target`` itself (a fingerprint or a pattern)."""
    found = expand(target, fingerprints)
    if len(found) > 1:
        raise click.UsageError(
            f"{target!r} is the start of {len(found)} alerts' ids ({', '.join(found[:3])}"
            f"{', …' if len(found) > 3 else ''}): give more of the id (see `alignmon alerts`)"
        )
    return found[0] if found else target


def alerts_json(listing: AlertListing, zone: ZoneInfo) -> dict[str, Any]:
    """``alignmon alerts --format json``, and the ``alerts`` of ``status``.
    ``id``: the short id ``silence`` accepts; ``notification``: "delivered",
    "queued" or "dead" (an alert whose notice died was decided but never
    heard); ``silenced_until``: when the last silence muting it ends, with
    ``silenced_by`` their ids."""
    undelivered = _notification_states(listing)
    muted = silences.muting((a.fingerprint for a in listing.alerts), listing.silences)
    return {
        "alerts": [
            _alert_json(a, listing, undelivered, muted.get(a.fingerprint, []), zone)
            for a in listing.alerts
        ],
        "silences": [silence_json(s, listing.now, zone) for s in listing.silences],
        "outbox": [
            {
                "id": r.id,
                "kind": r.kind,
                "channel": r.channel,
                "attempts": r.attempts,
                "state": "dead" if r.dead_at else "queued",
                "last_error": r.last_error,
                "created_at": stamp(r.created_at, zone),
            }
            for r in listing.outbox
        ],
    }


def _alert_json(
    a: Alert,
    listing: AlertListing,
    undelivered: dict[str, str],
    muting: list[Silence],
    zone: ZoneInfo,
) -> dict[str, Any]:
    until = max((s.expires_at for s in muting), default=None)
    return {
        "id": listing.ids.get(a.fingerprint),
        "fingerprint": a.fingerprint,
        "state": a.state,
        "severity": str(a.severity),
        "subject": a.subject,
        "title": a.title,
        "since": stamp(a.fired_at or a.first_seen_at, zone),
        "notified_at": stamp(a.notified_at, zone) if a.notified_at else None,
        "notification": (undelivered.get(a.fingerprint, "delivered") if a.notified_at else None),
        "silenced_until": stamp(until, zone) if until else None,
        "silenced_by": [s.id for s in muting],
    }


def _notification_states(listing: AlertListing) -> dict[str, str]:
    """fingerprint → "dead" or "queued", for alerts whose latest
    notification is not delivered."""
    states: dict[str, str] = {}
    for row in listing.outbox:  # in id order: the latest row wins
        for fingerprint in row.fingerprints:
            states[fingerprint] = "dead" if row.dead_at else "queued"
    return states


def silence_json(s: Silence, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": s.id,
        "state": "active" if s.expires_at > now else "expired",
        "matcher": s.matcher,
        "reason": s.reason,
        "created_by": s.created_by,
        "created_at": stamp(s.created_at, zone),
        "expires_at": stamp(s.expires_at, zone),
    }


def print_alerts(listing: AlertListing, console: Console, zone: ZoneInfo, *, wide: bool) -> None:
    """Open alerts, most severe first: id, severity, title, since when,
    whether people were told, and until when a silence mutes it. Then the
    active silences and the notifications not delivered."""
    shown_json = alerts_json(listing, zone)
    rows = list(zip(listing.alerts, shown_json["alerts"], strict=True))
    if not rows:
        console.print("[green]No open alerts.[/green]")
    else:
        muted = any(data["silenced_by"] for data in shown_json["alerts"])
        table = _table("Open alerts", zone)
        table.add_column("fingerprint" if wide else "id", no_wrap=not wide)
        table.add_column("severity", no_wrap=True)
        table.add_column("title")
        for column in ("since", "notified", "silenced until")[: 3 if muted else 2]:
            table.add_column(column, no_wrap=True)
        for alert, data in rows:
            cells = [
                _flexible(data["fingerprint"], wide=True) if wide else data["id"],
                Text(data["severity"], style=SEVERITY_STYLE[alert.severity]),
                _flexible(alert.title, wide=wide),
                shown(alert.fired_at or alert.first_seen_at, zone, wide=wide),
                _notified(alert, data, zone, wide=wide),
            ]
            if muted:
                cells.append(_muted(listing, data["silenced_by"], zone, wide=wide))
            table.add_row(*cells)
        _print(table, console, wide=wide)
    if listing.silences:
        print_silences(listing.silences, listing.now, console, zone, wide=wide)
    for row in shown_json["outbox"]:
        detail = f": {row['last_error']}" if row["last_error"] else ""
        line = Text.assemble(
            (row["state"], "red" if row["state"] == "dead" else "yellow"),
            f" notification {row['id']} ({row['kind']} to {row['channel']}, "
            f"{row['attempts']} attempt(s)){detail}",
        )
        if wide:
            console.print(line)
        else:  # one line, cut to the terminal like the tables
            console.print(line, soft_wrap=False, no_wrap=True, overflow="ellipsis")


def _print(table: Table, console: Console, *, wide: bool) -> None:
    """``--wide`` tables take the width they need, wider than the terminal
    if need be, so nothing is folded; the others fit the terminal."""
    if not wide:
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    terminal = console.width
    console.width = max(terminal, needed)  # print clamps a table to the console's width
    try:
        console.print(table)
    finally:
        console.width = terminal


def _flexible(text: str, *, wide: bool) -> Text:
    """A cell that gives way when the table is too wide for the terminal:
    cut to one line ending in "…"; with ``--wide`` it is kept whole."""
    if wide:
        return Text(text, overflow="fold")
    return Text(text, no_wrap=True, overflow="ellipsis")


def _notified(alert: Alert, data: dict[str, Any], zone: ZoneInfo, *, wide: bool) -> Text:
    if alert.state == "pending":
        return Text("pending", style="dim")
    if data["notification"] == "dead":
        return Text("dead", style="red")
    if data["notification"] == "queued":
        return Text("queued", style="yellow")
    if alert.notified_at is None:
        return Text("not yet", style="yellow")  # fired while silenced or in quiet hours
    return Text(shown(alert.notified_at, zone, wide=wide))


def _muted(listing: AlertListing, ids: list[int], zone: ZoneInfo, *, wide: bool) -> str:
    """``12-08 09:00 #3``: when the last silence muting the alert ends, and
    which one it is (for `alignmon silence expire`)."""
    if not ids:
        return ""
    last = max((s for s in listing.silences if s.id in ids), key=lambda s: s.expires_at)
    return f"{shown(last.expires_at, zone, wide=wide)} #{last.id}"


def print_silences(
    found: Sequence[Silence], now: datetime, console: Console, zone: ZoneInfo, *, wide: bool
) -> None:
    """Silences, active ones first: id, whether in force, until when, what
    they match, who added them and why."""
    if not found:
        console.print("No silences active or ended in the last 7 days.")
        return
    table = _table("Silences", zone)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("ends", no_wrap=True)
    for column in ("matcher", "by", "comment"):
        table.add_column(column)
    for s in found:
        active = s.expires_at > now
        table.add_row(
            str(s.id),
            Text("active" if active else "expired", style="" if active else "dim"),
            shown(s.expires_at, zone, wide=wide),
            _flexible(s.matcher, wide=wide),
            _flexible(s.created_by or "—", wide=wide),
            _flexible(s.reason, wide=wide),
        )
    _print(table, console, wide=wide)


def added_lines(added: silences.Added, zone: ZoneInfo) -> tuple[str, str | None]:
    """What ``alignmon silence`` says: the silence made, and a warning
    when it matches no open or recently closed alert (it is kept: an alert
    may yet appear)."""
    s = added.silence
    done = (
        f"silence {s.id}: {s.matcher!r} until {shown(s.expires_at, zone, wide=True)}"
        f" ({len(added.matched)} alert(s) match)"
    )
    if added.matched:
        return done, None
    days = silences.RECENT.days
    warning = (
        f"{s.matcher!r} matches none of the {added.checked} alert(s) open or closed in the "
        f"last {days} days; it will mute any that appear. Fingerprints: `alignmon alerts --wide`; "
        f"lift it with `alignmon silence expire {s.id}`"
    )
    return done, warning


def expired_line(expired: silences.Expired, zone: ZoneInfo) -> str:
    s = expired.silence
    if not expired.lifted:
        return (
            f"silence {s.id} ({s.matcher!r}) already ended {shown(s.expires_at, zone, wide=True)}"
        )
    return (
        f"silence {s.id} ({s.matcher!r}) lifted; its alerts are told again from the next evaluation"
    )


def login_name() -> str | None:
    """Who runs the command, as amtool's ``--author`` defaults to: the
    login name, when the system knows one (a container may not)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None
