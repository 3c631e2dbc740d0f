"""Sync: pull every object type of a source through its connector into the
store, one committed batch at a time.

This is the only code that holds both a connector and the store. It knows
neither's insides: batches go in, cursors come out, and a failure is
recorded on the source (which the alert lifecycle turns into
``source-stale``) without losing the batches already committed.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from monitor.errors import SourceActionNeeded, SourceError
from monitor.facts import ACTION_NEEDED
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
    ``stop`` is polled between pages so a shutdown ends the sync on a
    committed batch. The writes are one ``Store.loading``: an object type
    with nothing stored yet is inserted without reading stored versions."""
    started = clock()
    result = SyncResult(name)

    def write(object_type: str, batch: Batch) -> None:
        store.write_batch(name, object_type, _clamped(batch, started), started)
        # Counted once committed, so a sync that fails later still reports
        # every record it stored.
        seen = len(batch.records) + len(batch.daily) + len(batch.touches)
        result.by_type[object_type] += seen
        result.records += seen
        result.rejected += batch.rejected

    writer = _Writer(write, threaded=store.shared_across_threads)
    try:
        with store.loading(name):
            try:
                for object_type in connector.object_types:
                    cursor = None if full else store.cursor(name, object_type)
                    result.by_type[object_type] = 0
                    pending = _Pending()
                    pulled = 0
                    total: int | None = None
                    try:
                        for batch in connector.pull(object_type, cursor, started):
                            pending.add(batch)
                            pulled += len(batch.records) + len(batch.daily) + len(batch.touches)
                            total = batch.total if batch.total is not None else total
                            if pending.full():
                                writer.put(object_type, pending.take())
                            if progress:  # per page pulled, committed or about to be
                                # Deletions and linked records come on top of the
                                # CRM's count: the total is never below what is seen.
                                shown = None if total is None else max(total, pulled)
                                progress(object_type, pulled, shown)
                            if stop():
                                writer.put(object_type, pending.take())
                                writer.drain()
                                log.info(
                                    "sync of %s stopped between batches at shutdown",
                                    name,
                                    extra={"source": name, "object_type": object_type},
                                )
                                result.interrupted = True
                                return result
                    except SourceError:
                        # The pages before the failure are complete.
                        writer.put(object_type, pending.take())
                        writer.drain()
                        raise
                    writer.put(object_type, pending.take())
                writer.drain()
            finally:
                writer.close()
    except SourceError as exc:
        result.error = exc
        log.warning("sync of %s failed: %s", name, exc, extra={"source": name})
        store.record_sync(
            name,
            started,
            ok=False,
            error=f"{ACTION_NEEDED}{exc}" if isinstance(exc, SourceActionNeeded) else str(exc),
            records_seen=result.records,
            rejected=result.rejected,
        )
        return result
    except Exception as exc:
        # Not the source's fault (a value the store refused, the database
        # gone): the caller logs and retries, but the source's status must
        # still say why it is not syncing, or the stale alert has no reason.
        reason = f"{type(exc).__name__}: {exc}"[:500]
        try:
            store.record_sync(
                name,
                started,
                ok=False,
                error=f"the sync failed unexpectedly ({reason})",
                records_seen=result.records,
                rejected=result.rejected,
            )
        except Exception:  # the database itself is what failed
            log.debug("could not record the failed sync of %s", name, exc_info=True)
        raise
    store.record_sync(name, started, ok=True, records_seen=result.records, rejected=result.rejected)
    if result.rejected:
        log.warning(
            "sync of %s skipped %d malformed records (see earlier log lines)",
            name,
            result.rejected,
            extra={"source": name},
        )
    log.info(
        "synced %s: %d records %s",
        name,
        result.records,
        result.by_type,
        extra={"source": name, "records": result.records},
    )
    return result


class _Pending:
    """Pages pulled but not yet written. A transaction per connector page
    (often 100–200 records) spends more on commits than on rows, so
    consecutive pages are written together — up to ``WRITE_RECORDS``, or
    pages pulled over ``WRITE_SECONDS`` for a slow CRM. The merged batch
    carries the last page's cursor, so the cursor still only ever covers
    stored records."""

    WRITE_RECORDS = 2_000
    WRITE_SECONDS = 2.0

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.records = 0
        self.since = 0.0

    def add(self, batch: Batch) -> None:
        if not self.batches:
            self.since = time.monotonic()
        self.batches.append(batch)
        self.records += len(batch.records)

    def full(self) -> bool:
        return (
            self.records >= self.WRITE_RECORDS
            or time.monotonic() - self.since >= self.WRITE_SECONDS
        )

    def take(self) -> Batch | None:
        batches, self.batches, self.records = self.batches, [], 0
        if not batches:
            return None
        if len(batches) == 1:
            return batches[0]
        cursor = next((b.cursor for b in reversed(batches) if b.cursor is not None), None)
        return Batch(
            records=[r for b in batches for r in b.records],
            cursor=cursor,
            daily=[d for b in batches for d in b.daily],
            touches=[t for b in batches for t in b.touches],
            rejected=sum(b.rejected for b in batches),
        )


class _Writer:
    """Writes merged batches on a thread of its own, so the connector's next
    HTTP requests overlap the store's transaction. One writer, in order:
    each cursor is still stored with the batch that contains it. The queue
    is short, so a store slower than the CRM holds the pulling back rather
    than piling pages up in memory. A write that fails stops the writing;
    the error is raised in the syncing thread at its next ``put`` or
    ``drain``, and nothing queued after the failed batch is written."""

    DEPTH = 2

    def __init__(self, write: Callable[[str, Batch], None], *, threaded: bool) -> None:
        self._write = write
        self._queue: queue.Queue[tuple[str, Batch] | None] = queue.Queue(self.DEPTH)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
            self._thread.start()

    def put(self, object_type: str, batch: Batch | None) -> None:
        self._raise()
        if batch is None:
            return
        if self._thread is None:
            self._write(object_type, batch)
            return
        self._queue.put((object_type, batch))

    def drain(self) -> None:
        """Return once every batch put is committed; raise if one failed."""
        self._queue.join()
        self._raise()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    self._write(*item)
            except BaseException as exc:  # raised again in the syncing thread
                self._error = exc
            finally:
                self._queue.task_done()


_CODE = re.compile(
    r"\bHTTP (\d{3})\b|\b(\d{3}) (?:from|rate)\b|\(([a-z]+(?:_[a-z]+)+)\)|\b([A-Z]+(?:_[A-Z]+)+)\b"
)


def error_code(error: str | None) -> str:
    """A short, bounded label for why a sync failed, for metrics: the HTTP
    status (``http_503``) or vendor error code (``REQUEST_LIMIT_EXCEEDED``,
    ``invalid_auth``) it names, else ``other``; empty when it did not fail."""
    if not error:
        return ""
    match = _CODE.search(error)
    if match is None:
        return "other"
    http, status, lower, upper = match.groups()
    if http or status:
        return f"http_{http or status}"
    return str(lower or upper)[:60]


def _clamped(batch: Batch, started: datetime) -> Batch:
    """The cursor never moves past the sync's start: anything modified
    after it is read next time, not skipped."""
    cursor = batch.cursor
    if cursor is not None and cursor.modified_at > started:
        log.warning("connector cursor %s is past the sync start; holding it at the start", cursor)
        return Batch(batch.records, Cursor(started, ""), batch.daily, batch.touches, batch.rejected)
    return batch
