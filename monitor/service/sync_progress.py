"""How far a running sync is, for whoever watches the service: a log line
every few seconds and gauges on ``/metrics``.

A first backfill of 100k contacts runs for minutes; without this its log is
silent until the closing "synced" line. The sync calls back per page
(monitor/sync.py), so a line falls due at the first page after the
interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from monitor.service.metrics import Metrics

log = logging.getLogger(__name__)

#: Seconds between two progress lines of one sync.
LOG_EVERY = 10.0


class SyncWatch:
    """The progress callback of one sync of ``source``: keeps the sync
    gauges current and logs a line at most every ``every`` seconds."""

    def __init__(
        self,
        source: str,
        object_types: Iterable[str],
        metrics: Metrics,
        *,
        every: float = LOG_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.metrics = metrics
        self.every = every
        self.clock = clock
        self.logged = self.since = self.last_call = clock()
        self.object_type: str | None = None
        metrics.sync_started.labels(source).set(time.time())
        metrics.sync_running.labels(source).set(1)
        for object_type in object_types:  # the last sync's counts are replaced, not kept
            metrics.sync_progress.labels(source, object_type).set(0)
            metrics.sync_expected.remove(source, object_type)

    def __call__(self, object_type: str, seen: int, total: int | None) -> None:
        now = self.clock()
        if object_type != self.object_type:  # its first page was read since the last call
            self.object_type, self.since = object_type, self.last_call
        self.last_call = now
        self.metrics.sync_progress.labels(self.source, object_type).set(seen)
        if total is not None:
            self.metrics.sync_expected.labels(self.source, object_type).set(total)
        if now - self.logged < self.every:
            return
        self.logged = now
        rate = seen / max(now - self.since, 1e-3)
        of = "" if total is None else f" of {total:,}"
        log.info(
            "sync of %s: %s%s %s so far, %.0f/s",
            self.source,
            f"{seen:,}",
            of,
            object_type,
            rate,
            extra={
                "source": self.source,
                "object_type": object_type,
                "records": seen,
                "total": total,
                "rate": round(rate, 1),
            },
        )

    def done(self) -> None:
        """The sync ended, however: its counts stay as the last sync's."""
        self.metrics.sync_running.labels(self.source).set(0)
