"""Sync: pull every object type of a source through its connector into the
store, one committed batch at a time.

This is the only code that holds both a connector and the store. It knows
neither's insides: batches go in, cursors come out, and a failure is
recorded on the source (which the alert lifecycle turns into
``source-stale``) without losing the batches already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from monitor.errors import SourceError
from monitor.interfaces import Batch, Clock, Connector, Cursor, Progress
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    source: str
    records: int = 0
    rejected: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    error: SourceError | None = None
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted


def sync_source(
    store: Store,
    name: str,
    connector: Connector,
    clock: Clock,
    *,
    full: bool = False,
    progress: Progress | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> SyncResult:
    """Pull ``name`` into the store. ``full`` re-reads everything from the
    start (the stored records are upserted, so nothing is duplicated).
    ``stop`` is polled between batches so a shutdown ends the sync on a
    committed batch."""
    started = clock()
    result = SyncResult(name)
    try:
        for object_type in connector.object_types:
            cursor = None if full else store.cursor(name, object_type)
            result.by_type[object_type] = 0
            for batch in connector.pull(object_type, cursor, started):
                store.write_batch(name, object_type, _clamped(batch, started), started)
                # Counted once committed, so a sync that fails later still
                # reports every record it stored.
                seen = len(batch.records) + len(batch.daily) + len(batch.touches)
                result.by_type[object_type] += seen
                result.records += seen
                result.rejected += batch.rejected
                if progress:
                    progress(object_type, result.by_type[object_type])
                if stop():
                    log.info("sync of %s stopped between batches at shutdown", name)
                    result.interrupted = True
                    return result
    except SourceError as exc:
        result.error = exc
        log.warning("sync of %s failed: %s", name, exc)
        store.record_sync(
            name,
            started,
            ok=False,
            error=str(exc),
            records_seen=result.records,
            rejected=result.rejected,
        )
        return result
    store.record_sync(name, started, ok=True, records_seen=result.records, rejected=result.rejected)
    if result.rejected:
        log.warning(
            "sync of %s skipped %d malformed records (see earlier log lines)", name, result.rejected
        )
    log.info("synced %s: %d records %s", name, result.records, result.by_type)
    return result


def _clamped(batch: Batch, started: datetime) -> Batch:
    """The cursor never moves past the sync's start: anything modified
    after it is read next time, not skipped."""
    cursor = batch.cursor
    if cursor is not None and cursor.modified_at > started:
        log.warning("connector cursor %s is past the sync start; holding it at the start", cursor)
        return Batch(batch.records, Cursor(started, ""), batch.daily, batch.touches, batch.rejected)
    return batch
