"""Data health: is each source's data complete and fresh enough to judge
anyone by?

A source that has not completed its first sync, or holds no records, is
*waiting*: what it has stored so far is partial, so nothing but config-only
checks (a commitment gap) is judged from it. "Leads 100% behind pace, 0 of
1,729" while the first sync is still paging would be a false alarm.

A source whose last success is older than ``stale_after`` sync intervals
yields one ``source-stale`` finding; a failed sync alone does not (a burst
of 429s answered by the next sync must not page anyone), unless it needs a
person (``SourceActionNeeded``: waiting will not fix it) or the source has
never synced at all. The
alert lifecycle then freezes every alert computed from that source: stale
counts are never reported as drift, and a drift alert is not "resolved" by
data that simply stopped arriving.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from monitor.config.sources import SourceBase
from monitor.facts import SourceStatus
from monitor.findings import Finding
from monitor.interfaces import Severity
from monitor.judge.format import ago, count


def waiting_reason(status: SourceStatus | None, records: int) -> str | None:
    """Why a source's data cannot be judged yet, or None once it can: its
    first sync has completed and it holds records. ``records``: live records
    stored for it so far."""
    if status is None or status.last_success_at is None:
        if records or (status is not None and status.last_attempt_at is not None):
            return f"first sync in progress: {count(records)} records so far"
        return "no data for this source: its first sync has not run yet"
    if records == 0:
        return "no data for this source"
    return None


def stale_findings(
    sources: Mapping[str, SourceBase], statuses: Mapping[str, SourceStatus], now: datetime
) -> list[Finding]:
    found = []
    for name, settings in sources.items():
        status = statuses.get(name)
        if status is None or status.last_attempt_at is None:
            continue  # never synced yet: nothing to judge, nothing stale
        limit = settings.every * settings.stale_after
        success = status.last_success_at
        failure = f" (the last sync failed: {status.last_error})" if status.last_error else ""
        if status.needs_action:
            # Waiting will not fix it: say so at once.
            reason = f"the last sync failed ({status.last_error}); " + (
                f"last success {ago(now - success)} ago" if success else "never synced"
            )
        elif success is None:
            if not status.last_error:
                continue  # the first sync is still running
            reason = f"never synced{failure}"
        elif now - success > limit:
            reason = f"no successful sync for {ago(now - success)} (limit {ago(limit)}){failure}"
        else:
            continue  # a failed attempt alone is not staleness: the data is fresh enough
        found.append(
            Finding(
                rule="source-stale",
                subject=name,
                severity=Severity.CRITICAL,
                title=f"Source {name} is stale: its alerts are on hold",
                text=f"{reason}. Pacing and SLA alerts from {name} are held until it syncs again.",
                source=name,
            )
        )
    return found
