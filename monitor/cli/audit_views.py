"""``alignmon alerts --audit``: what was done to alerts from Slack, who did
it and when, refused presses included, newest first; a table or JSON (whose
keys are a public contract, as in monitor/cli/views.py)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table

from monitor.cli.alert_views import shown, stamp
from monitor.short_ids import short_ids
from monitor.store.slack_actions import SlackAction


def audit_json(actions: list[SlackAction], zone: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            "at": stamp(a.at, zone),
            "user_id": a.user_id,
            "user": a.user_name,
            "action": a.action,
            "fingerprint": a.fingerprint,
            "outcome": a.outcome,
            "detail": a.detail,
            "silence_id": a.silence_id,
        }
        for a in actions
    ]


def print_audit(
    actions: list[SlackAction], fingerprints: list[str], console: Console, zone: ZoneInfo
) -> None:
    if not actions:
        console.print("No actions taken from Slack.")
        return
    ids = short_ids(fingerprints)
    table = Table(
        title=f"Actions from Slack (times in {zone.key})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("at", "user", "action", "alert", "outcome", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for a in actions:
        table.add_row(
            shown(a.at, zone, wide=True),
            f"{a.user_name} ({a.user_id})",
            a.action,
            ids.get(a.fingerprint, a.fingerprint),
            a.outcome,
            a.detail,
        )
    console.print(table)
