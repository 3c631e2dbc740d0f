"""Data health: when a source's data is too old or its last sync failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.file import Config
from monitor.facts import SourceStatus
from monitor.interfaces import Severity
from monitor.judge.health import stale_findings

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
        ({"crm": status(timedelta(minutes=5), error="HubSpot answered 503")}, True),
        ({"crm": status(None, error="token rejected")}, True),
    ],
)
def test_stale_when_failed_or_too_old(statuses: dict[str, SourceStatus], stale: bool) -> None:
    found = stale_findings(CONFIG.sources, statuses, NOW)
    assert bool(found) is stale
    if stale:
        (finding,) = found
        assert finding.rule == "source-stale" and finding.source == "crm"
        assert finding.severity == Severity.CRITICAL
        assert "held" in finding.text
