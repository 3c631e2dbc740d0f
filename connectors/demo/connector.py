"""The demo CRM and its connector.

Data flow: ``generator`` (a deterministic history up to the clock's now) →
``DemoCRM`` (an in-memory CRM holding it, plus whatever tests add, edit or
archive) → ``DemoConnector.pull`` (pages in compound-cursor order, exactly as
a real connector serves them) → the store. Everything downstream treats the
demo like any CRM, so ``make run`` shows the real sync, pacing, SLA and alert
code working, not a mock-up of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from connectors.demo.generator import History, VisitDay, generate
from connectors.demo.settings import DemoSource
from monitor.interfaces import (
    Batch,
    CheckResult,
    CheckStatus,
    Clock,
    Cursor,
    FunnelRecord,
    Usage,
    utc_now,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RECORD_TYPES = ("persons", "deals")
#: Records per batch, the size of a typical CRM API page.
BATCH_SIZE = 500


class DemoCRM:
    """An in-memory CRM: the generated demo history (when given settings)
    and records added explicitly, with edits and archivals layered on top,
    so tests can change the CRM between syncs.

    The history is regenerated when the clock moves to a new minute: the
    demo "CRM" lives in real time while the service runs.
    """

    def __init__(self, settings: DemoSource | None = None, clock: Clock = utc_now) -> None:
        self._settings = settings
        self._clock = clock
        self._history: History | None = None
        self._history_at: datetime | None = None
        self._added: dict[str, dict[str, FunnelRecord]] = {t: {} for t in RECORD_TYPES}
        self._modified: dict[tuple[str, str], datetime] = {}
        self._deleted: dict[tuple[str, str], datetime] = {}

    def records(self, object_type: str) -> list[FunnelRecord]:
        """Every record of ``object_type`` as the CRM holds it now, archived
        ones included (flagged ``deleted``)."""
        if object_type not in RECORD_TYPES:
            raise ValueError(f"the demo CRM has no {object_type!r} (it has {RECORD_TYPES})")
        history = self._current()
        generated = getattr(history, object_type) if history else ()
        by_id = {record.crm_id: record for record in generated}
        by_id.update(self._added[object_type])
        return [self._edited(record) for record in by_id.values()]

    def visits(self) -> list[VisitDay]:
        history = self._current()
        return list(history.visits) if history else []

    def add(self, records: Iterable[FunnelRecord]) -> None:
        """Create (or overwrite) records, e.g. a test's seeded persons."""
        for record in records:
            if record.object_type not in RECORD_TYPES:
                raise ValueError(f"the demo CRM holds {RECORD_TYPES}, not {record.object_type!r}")
            self._added[record.object_type][record.crm_id] = record

    def modify(self, ids: Iterable[str], at: datetime) -> None:
        """Someone edited these records at ``at``: their modified time moves."""
        for key in self._keys(ids):
            self._modified[key] = at

    def delete(self, ids: Iterable[str], at: datetime) -> None:
        """Archive these records at ``at``; a sync sees them as deleted."""
        for key in self._keys(ids):
            self._deleted[key] = at

    def _keys(self, ids: Iterable[str]) -> list[tuple[str, str]]:
        held: dict[str, list[tuple[str, str]]] = {}
        for object_type in RECORD_TYPES:
            for record in self.records(object_type):
                held.setdefault(record.crm_id, []).append((object_type, record.crm_id))
        keys = []
        for crm_id in ids:
            if crm_id not in held:
                raise KeyError(f"the demo CRM has no record {crm_id!r}")
            keys.extend(held[crm_id])
        return keys

    def _edited(self, record: FunnelRecord) -> FunnelRecord:
        key = (record.object_type, record.crm_id)
        if key in self._modified:
            record = replace(record, modified_at=max(record.modified_at, self._modified[key]))
        if key in self._deleted:
            at = max(record.modified_at, self._deleted[key])
            record = replace(record, deleted=True, modified_at=at)
        return record

    def _current(self) -> History | None:
        if self._settings is None:
            return None
        now = self._clock().astimezone(UTC).replace(second=0, microsecond=0)
        if self._history_at != now:
            s = self._settings
            self._history = generate(
                s.seed, s.months, now, ZoneInfo(s.timezone), s.crm_url.rstrip("/"), s.segments
            )
            self._history_at = now
        return self._history


class DemoConnector:
    """The demo CRM behind the ``Connector`` protocol (monitor/interfaces.py)."""

    object_types: tuple[str, ...] = (*RECORD_TYPES, "visits")

    def __init__(
        self,
        name: str,
        settings: DemoSource,
        *,
        crm: DemoCRM | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.name = name
        self.settings = settings
        self.crm = crm if crm is not None else DemoCRM(settings, clock)

    def pull(self, object_type: str, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        """Pages of records modified strictly after ``cursor`` and no later
        than ``until``, in (modified_at, crm_id) order. Visits come as daily
        counts whose cursor is the instant a day was counted up to."""
        after = (cursor.modified_at, cursor.crm_id) if cursor else None
        if object_type == "visits":
            return self._visits(after, until)
        records = sorted(
            (
                r
                for r in self.crm.records(object_type)
                if r.modified_at <= until and (after is None or (r.modified_at, r.crm_id) > after)
            ),
            key=lambda r: (r.modified_at, r.crm_id),
        )
        log.debug("demo source %s: %d %s after %s", self.name, len(records), object_type, cursor)
        return (
            Batch(
                records=page,
                cursor=Cursor(page[-1].modified_at, page[-1].crm_id),
                total=len(records),
            )
            for page in _pages(records)
        )

    def _visits(self, after: tuple[datetime, str] | None, until: datetime) -> Iterator[Batch]:
        days = [
            v
            for v in self.crm.visits()
            if v.counted_to <= until
            and (after is None or (v.counted_to, v.count.day.isoformat()) > after)
        ]
        log.debug("demo source %s: %d visit days after %s", self.name, len(days), after)
        for page in _pages(days):
            last = page[-1]
            yield Batch(
                daily=[v.count for v in page],
                cursor=Cursor(last.counted_to, last.count.day.isoformat()),
                total=len(days),
            )

    def check(self) -> list[CheckResult]:
        s = self.settings
        return [
            CheckResult(
                f"source {self.name}",
                CheckStatus.OK,
                f"built-in demo CRM: {s.months} months of generated history (seed {s.seed}), "
                "no account needed",
            )
        ]

    def usage(self) -> Usage:
        """No API: nothing spent."""
        return Usage()

    def close(self) -> None:
        """Nothing to release: the demo CRM lives in memory."""


def _pages(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]
