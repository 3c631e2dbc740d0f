"""Writing what connectors pull: idempotent upserts of records, daily
counts, touches and the sync cursor, all in one transaction per batch.

One transaction per batch is what makes a killed sync safe: either a page
and its cursor are both stored, or neither is, so the next sync resumes at
the last stored page and counts nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from monitor.interfaces import Batch, Cursor, DailyCount, FunnelRecord, Touch
from monitor.store import record_rows, rollups, sla_folds, versions
from monitor.store.bulk import insert_or_update
from monitor.store.schema import (
    EARLIEST,
    LATEST,
    UTCDateTime,
    daily_counts,
    records,
    sync_cursors,
)
from monitor.store.schema import in_calendar as _in_calendar

log = logging.getLogger(__name__)


def write_batch(
    conn: Connection,
    source: str,
    object_type: str,
    batch: Batch,
    synced_at: datetime,
    *,
    first_load: bool = False,
) -> bool:
    """Store one batch and move the cursor, inside the caller's transaction.
    ``first_load`` says none of the batch's records is likely stored (see
    ``upsert_records``). Returns whether the records went in that way."""
    batch = in_calendar(source, batch)
    if batch.records or batch.touches:
        versions.bump_records(conn, source)
    new = upsert_records(conn, source, batch.records, synced_at, first_load=first_load)
    upsert_daily(conn, source, batch.daily)
    apply_touches(conn, source, batch.touches)
    if batch.cursor is not None:
        save_cursor(conn, source, object_type, batch.cursor, synced_at)
    return new


_DATETIMES = [f.name for f in fields(FunnelRecord) if f.name.endswith("_at")]
_datetimes = attrgetter(*_DATETIMES)


def _plainly_in_calendar(values: tuple[datetime | None, ...]) -> bool:
    """Whether every instant is in UTC, as connectors parse them, and inside
    the calendar: the check of ``schema.in_calendar`` without a conversion,
    for the records that need none (all but a CRM's placeholder dates)."""
    for value in values:
        if value is not None and (value.tzinfo is not UTC or not EARLIEST <= value <= LATEST):
            return False
    return True


def in_calendar(source: str, batch: Batch) -> Batch:
    """The batch with every instant the store cannot hold taken out (see
    ``schema.in_calendar``): an optional date is dropped, keeping the record
    without it; a record's modified time, a touch time or a cursor is
    clipped to the nearest end. Counted and logged once per batch, so a
    CRM's ``0001-01-01`` never aborts a sync."""
    dropped: Counter[str] = Counter()
    example: dict[str, str] = {}

    def note(what: str, crm_id: str) -> None:
        dropped[what] += 1
        example.setdefault(what, crm_id)

    kept = []
    for record in batch.records:
        if _plainly_in_calendar(_datetimes(record)):
            kept.append(record)
            continue
        changes: dict[str, Any] = {}
        for name in _DATETIMES:
            value = getattr(record, name)
            if value is not None and not _in_calendar(value):
                note(f"{record.object_type}.{name}", record.crm_id)
                changes[name] = _clip(value) if name == "modified_at" else None
        kept.append(replace(record, **changes) if changes else record)
    touches = []
    for touch in batch.touches:
        if _in_calendar(touch.touched_at):
            touches.append(touch)
        else:
            note(f"{touch.object_type}.touched_at", touch.crm_id)
    cursor = batch.cursor
    if cursor is not None and not _in_calendar(cursor.modified_at):
        note("cursor", cursor.crm_id)
        cursor = Cursor(_clip(cursor.modified_at), cursor.crm_id)
    if not dropped:
        return batch
    log.warning(
        "%s: %d date value(s) outside %s..%s not stored: %s",
        source,
        sum(dropped.values()),
        EARLIEST.date(),
        LATEST.date(),
        ", ".join(f"{what} ×{n} (e.g. id {example[what][:40]})" for what, n in dropped.items()),
    )
    return Batch(kept, cursor, batch.daily, touches, batch.rejected)


def _clip(value: datetime) -> datetime:
    try:
        return EARLIEST if value.astimezone(UTC) < EARLIEST else LATEST
    except OverflowError:
        return EARLIEST if value.year == 1 else LATEST


def upsert_records(
    conn: Connection,
    source: str,
    batch: Sequence[FunnelRecord],
    synced_at: datetime,
    *,
    first_load: bool = False,
) -> bool:
    """Store the records and their rollup deltas. On a ``first_load`` they
    are inserted as new, with no stored version read back and subtracted;
    should one be stored after all (a connector that sends a record twice),
    nothing is inserted and the batch takes the way of every other write.
    Returns whether the records were inserted as new."""
    if not batch:
        return True
    # The last version of a record within one batch wins; a duplicate in one
    # INSERT … ON CONFLICT statement is an error on PostgreSQL.
    latest = {record_rows.key(record): record for record in batch}
    if sla_folds.has_folds(conn, source):
        sla_folds.invalidate(conn, source, sla_folds.changed_entries(conn, source, latest))
    versions = list(latest.values())
    deltas = rollups.Deltas(rollups.zone_for_writes(conn, synced_at))
    new = first_load and record_rows.insert_new(conn, source, versions, synced_at)
    if not new:
        for previous in rollups.stored_versions(conn, source, latest):
            deltas.add(previous, -1)
        record_rows.write(conn, source, versions, synced_at)
    for record in versions:
        deltas.add(record, 1)
    deltas.write(conn, source)
    return new


def upsert_daily(conn: Connection, source: str, counts: Iterable[DailyCount]) -> None:
    # The last count of a (stage, day, segment) wins, as it would across
    # batches; one statement may not update a row twice on PostgreSQL.
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in counts:
        key = rollups.segment_key(c.segments)
        latest[(c.stage, c.day, key)] = {
            "source": source,
            "stage": c.stage,
            "day": c.day,
            "segment_key": key,
            "segments": dict(c.segments),
            "count": c.count,
        }
    rows = list(latest.values())
    if not rows:
        return
    stmt = insert_or_update(conn, daily_counts)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "stage", "day", "segment_key"],
            set_={"count": stmt.excluded["count"], "segments": stmt.excluded["segments"]},
        ),
        rows,
    )


def apply_touches(conn: Connection, source: str, touches: Iterable[Touch]) -> None:
    earliest: dict[tuple[str, str], datetime] = {}
    for touch in touches:
        key = (touch.object_type, touch.crm_id)
        if key not in earliest or touch.touched_at < earliest[key]:
            earliest[key] = touch.touched_at
    if not earliest:
        return
    if sla_folds.has_folds(conn, source):
        sla_folds.invalidate(conn, source, sla_folds.touched_entries(conn, source, earliest))
    stmt = (
        update(records)
        .where(
            records.c.source == source,
            records.c.object_type == bindparam("b_object_type"),
            records.c.crm_id == bindparam("b_crm_id"),
            or_(
                records.c.first_touch_at.is_(None),
                records.c.first_touch_at > bindparam("b_at", type_=UTCDateTime),
            ),
        )
        .values(first_touch_at=bindparam("b_at", type_=UTCDateTime))
    )
    conn.execute(
        stmt,
        [
            {"b_object_type": object_type, "b_crm_id": crm_id, "b_at": at}
            for (object_type, crm_id), at in earliest.items()
        ],
    )


def save_cursor(
    conn: Connection, source: str, object_type: str, cursor: Cursor, at: datetime
) -> None:
    crm_id = record_rows.fit(cursor.crm_id, record_rows.WIDTHS["crm_id"])
    stmt = insert_or_update(conn, sync_cursors).values(
        source=source,
        object_type=object_type,
        modified_at=cursor.modified_at,
        crm_id=crm_id,
        updated_at=at,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "object_type"],
            set_={"modified_at": cursor.modified_at, "crm_id": crm_id, "updated_at": at},
        )
    )


def load_cursor(conn: Connection, source: str, object_type: str) -> Cursor | None:
    row = conn.execute(
        select(sync_cursors.c.modified_at, sync_cursors.c.crm_id, sync_cursors.c.updated_at).where(
            and_(sync_cursors.c.source == source, sync_cursors.c.object_type == object_type)
        )
    ).first()
    return Cursor(row.modified_at, row.crm_id, row.updated_at) if row else None
