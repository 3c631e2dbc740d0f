"""``alignmon alerts`` and ``alignmon silence list`` as an operator reads
them: short ids, 100 columns, times in the configured zone, and the
silence muting each alert (monitor/cli/alert_views.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import click
import pytest
from rich.console import Console

from monitor.cli import alert_views
from monitor.findings import Alert
from monitor.interfaces import Severity
from monitor.service.app import AlertListing
from monitor.short_ids import short_ids
from monitor.store.alerts import Silence
from monitor.store.outbox import OutboxRow

NOW = datetime(2026, 12, 6, 19, 5, tzinfo=UTC)  # 14:05 in New York
ZONE = ZoneInfo("America/New_York")
LONG = "sla-breach/mql-follow-up/someone.with.a.very.long.address@subsidiary.example.com"


def alert(fingerprint: str, title: str, severity: Severity = Severity.CRITICAL) -> Alert:
    return Alert(
        fingerprint=fingerprint,
        rule="sla-breach",
        subject="mql-follow-up",
        source="crm",
        severity=severity,
        state="firing",
        consecutive=3,
        title=title,
        text="",
        channel=None,
        first_seen_at=NOW - timedelta(hours=2),
        last_seen_at=NOW,
        fired_at=NOW - timedelta(hours=1),
        notified_at=NOW - timedelta(hours=1),
    )


ALERTS = [
    alert(
        LONG, "Someone With A Very Long Name: 12 MQLs past the 4h follow-up window (mql-follow-up)"
    ),
    alert("pacing/q1/mql/2026-10-01..2027-01-01", "MQLs 33% behind pace", Severity.WARNING),
]
SILENCES = [
    Silence(4, "sla-breach/mql-follow-up/*", "rep on leave", NOW, NOW + timedelta(days=2), "ana"),
]


def listing(silences: list[Silence] = SILENCES) -> AlertListing:
    ids = short_ids(a.fingerprint for a in ALERTS)
    return AlertListing(ALERTS, silences, [], ids, NOW)


def render(wide: bool = False, silences: list[Silence] = SILENCES) -> list[str]:
    console = Console(record=True, width=100)
    alert_views.print_alerts(listing(silences), console, ZONE, wide=wide)
    return console.export_text().splitlines()


def test_the_table_fits_100_columns_with_short_ids_and_local_times() -> None:
    lines = render()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].startswith("Open alerts (times in America/New_York)")
    row = next(line for line in lines if "Someone" in line)
    assert row.split()[0] == short_ids(a.fingerprint for a in ALERTS)[LONG]
    assert "…" in row and LONG not in row
    assert "12-06 13:05" in row, "fired at 18:05 UTC"


def test_a_silenced_alert_shows_until_when_and_which_silence() -> None:
    lines = render()
    muted = next(line for line in lines if "Someone" in line)
    assert "12-08 14:05 #4" in muted
    assert "#4" not in next(line for line in lines if "behind pace" in line)
    payload = alert_views.alerts_json(listing(), ZONE)
    first, second = payload["alerts"]
    assert first["silenced_until"] == "2026-12-08T14:05:00-05:00"
    assert first["silenced_by"] == [4]
    assert (second["silenced_until"], second["silenced_by"]) == (None, [])


def test_no_silence_column_when_nothing_is_silenced() -> None:
    header = next(line for line in render(silences=[]) if "severity" in line)
    assert "silenced" not in header


def test_wide_and_json_give_full_fingerprints_and_zoned_times() -> None:
    lines = render(wide=True)
    assert any(LONG in line for line in lines)
    assert any("2026-12-06 13:05 EST" in line for line in lines)
    (first, _) = alert_views.alerts_json(listing(), ZONE)["alerts"]
    assert first["fingerprint"] == LONG
    assert first["id"] == short_ids(a.fingerprint for a in ALERTS)[LONG]
    assert first["since"] == "2026-12-06T13:05:00-05:00"


def test_silence_list_marks_expired_ones_and_fits_100_columns() -> None:
    ended = Silence(2, LONG, "x" * 200, NOW - timedelta(days=1), NOW - timedelta(hours=1), None)
    console = Console(record=True, width=100)
    alert_views.print_silences([*SILENCES, ended], NOW, console, ZONE, wide=False)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 100
    active = next(line for line in lines if line.split()[:1] == ["4"])
    assert active.split()[1:4] == ["active", "12-08", "14:05"] and "ana" in active
    expired = next(line for line in lines if line.split()[:1] == ["2"])
    assert "expired" in expired and "—" in expired


def test_an_ambiguous_id_is_refused_and_a_pattern_passes_through() -> None:
    twins = ["pacing/goal-321/mql", "pacing/goal-713/mql"]  # both ids start 36cd
    with pytest.raises(click.UsageError, match="start of 2 alerts' ids"):
        alert_views.resolve_target("36cd", twins)
    assert alert_views.resolve_target("36cd9", twins) == twins[0]
    assert alert_views.resolve_target("pacing/*", twins) == "pacing/*"


def test_an_undelivered_notification_is_one_line_cut_to_the_terminal() -> None:
    row = OutboxRow(
        id=7,
        channel="#revenue-alignment",
        kind="post",
        parent_id=None,
        payload={},
        fingerprints=[LONG],
        created_at=NOW,
        not_before=NOW,
        attempts=5,
        last_error="[/b] channel_not_found: " + "the channel does not exist " * 10,
        delivered_at=None,
        dead_at=NOW,
        ref=None,
    )
    console = Console(record=True, width=100, soft_wrap=True)
    alert_views.print_alerts(
        AlertListing(ALERTS, [], [row], short_ids([LONG]), NOW), console, ZONE, wide=False
    )
    (line,) = [x for x in console.export_text().splitlines() if "notification 7" in x]
    assert line.startswith("dead notification 7 (post to #revenue-alignment, 5 attempt(s)): [/b]")
    assert len(line) == 100 and line.endswith("…")
