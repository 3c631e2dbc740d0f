"""Data health: when a source's data is too old or its last sync failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.file import Config
from monitor.facts import ACTION_NEEDED, SourceStatus
from monitor.interfaces import Severity
from monitor.judge.health import stale_findings, waiting_reason

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
CONFIG = Config.model_validate(
    {"sources": {"crm": {"kind": "demo", "every": "15m", "stale_after": 3}}}
)


def status(success_ago: timedelta | None, error: str | None = None) -> SourceStatus:
    success = None if success_ago is None else NOW - success_ago
    return SourceStatus("crm", NOW - timedelta(minutes=1), success, error, 10, 0)


@pytest.mark.parametrize(
    ("statuses", "stale"),
    [
        ({}, False),  # never synced: nothing to judge yet
        ({"crm": status(timedelta(minutes=20))}, False),
        ({"crm": status(timedelta(minutes=45))}, False),  # exactly three intervals
        ({"crm": status(timedelta(minutes=46))}, True),
        # A failed attempt alone is not staleness: only the age of the last success.
        ({"crm": status(timedelta(minutes=5), error="HubSpot answered 503")}, False),
        ({"crm": status(timedelta(minutes=45), error="HubSpot answered 429")}, False),
        ({"crm": status(timedelta(minutes=46), error="HubSpot answered 429")}, True),
        # Waiting will not fix what needs a person.
        ({"crm": status(timedelta(minutes=5), error=ACTION_NEEDED + "token rejected")}, True),
        ({"crm": status(None, error="token rejected")}, True),  # never synced
        ({"crm": status(None)}, False),  # first sync still running
    ],
)
def test_stale_when_too_old_or_action_needed(
    statuses: dict[str, SourceStatus], stale: bool
) -> None:
    found = stale_findings(CONFIG.sources, statuses, NOW)
    assert bool(found) is stale
    if stale:
        (finding,) = found
        assert finding.rule == "source-stale" and finding.source == "crm"
        assert finding.severity == Severity.CRITICAL
        assert "held" in finding.text


# --- readiness: partial data is never judged ----------------------------------


@pytest.mark.parametrize(
    ("last_attempt", "last_success", "records", "reason"),
    [
        (None, None, 0, "no data for this source: its first sync has not run yet"),
        (NOW, None, 0, "first sync in progress: 0 records so far"),
        (NOW, None, 1729, "first sync in progress: 1,729 records so far"),
        (None, None, 12, "first sync in progress: 12 records so far"),
        (NOW, NOW, 0, "no data for this source"),
        (NOW, NOW, 1, None),
    ],
)
def test_a_source_waits_until_its_first_sync_completes_with_records(
    last_attempt: datetime | None, last_success: datetime | None, records: int, reason: str | None
) -> None:
    status = SourceStatus("crm", last_attempt, last_success, None, records, 0)
    assert waiting_reason(status, records) == reason


def test_a_source_never_seen_waits() -> None:
    assert waiting_reason(None, 0) == "no data for this source: its first sync has not run yet"
