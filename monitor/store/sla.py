"""Reading the records an SLA rule judges: persons of its source and
segment that entered its stage, recently enough to matter."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    any_,
    column,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from monitor.facts import COMPLIANCE_WINDOW, SlaRecord
from monitor.store import versions
from monitor.store.facts import live_filter
from monitor.store.schema import records
from monitor.store.sla_folds import sla_columns, sla_record


def sla_records(
    conn: Connection,
    source: str,
    stage: str,
    segment: Mapping[str, str],
    since: datetime,
    as_of: datetime,
    folded: Sequence[tuple[datetime, datetime]] = (),
    unsettled: Sequence[int] = (),
    waiting: WaitingRecords | None = None,
) -> dict[int, SlaRecord]:
    """Records that entered ``stage`` in ``[since, as_of)`` and can still
    change a number: untouched, or touched or entered within the compliance
    window (a record answered before it was decided before it, so it counts
    nowhere). ``since`` is the rule's look-back: an unanswered lead older
    than that no longer alerts. Of the entries in ``folded`` spans, only
    the ``unsettled`` records (ids) are read, through ``waiting``. By id."""
    window_start = as_of - COMPLIANCE_WINDOW
    entered = records.c[f"{stage}_at"]
    recent = or_(
        records.c.first_touch_at.is_(None),
        records.c.first_touch_at >= window_start,
        entered >= window_start,
    )
    columns = (records.c.id, *sla_columns(stage))
    found: dict[int, SlaRecord] = {}
    spans = _unfolded(since, as_of, folded)
    if spans:
        # Bounded by the spans' ends rather than the look-back's (they lie
        # within it): the stage index is read over the spans alone, the
        # latest hour once the days before it are folded.
        within = (entered >= spans[0][0], entered < spans[-1][1])
        days = or_(*(and_(entered >= start, entered < end) for start, end in spans))
        wanted = (*live_filter(source, "person", segment), *within, recent, days)
        for row in conn.execute(select(*columns).where(*wanted)):
            found[row[0]] = sla_record(row[1:])
    if unsettled:
        kept = (waiting or WaitingRecords()).read(conn, source, stage, segment, unsettled)
        for record_id in unsettled:
            record = kept.get(record_id)
            if record is not None and _counts(record, since, as_of, window_start):
                found[record_id] = record
    return found


def _counts(record: SlaRecord, since: datetime, as_of: datetime, window_start: datetime) -> bool:
    """The span read's conditions (``entered`` in ``[since, as_of)`` and
    ``recent``), for a record kept rather than read."""
    entered = record.entered_at
    if not since <= entered < as_of:
        return False
    touch = record.first_touch_at
    return touch is None or touch >= window_start or entered >= window_start


class WaitingRecords:
    """The folded days' unsettled records (waiting for a first touch, or
    without an owner), as last read: thousands at a busy CRM's volume, read
    by id and judged every minute, yet they change only when a sync writes.
    Kept per rule's source, stage and segment with the source's record
    version (``versions.records``), whether live or not (None), and read
    again by id once a write has changed the source's records; ids not kept
    yet (a fold extended since) are read alone."""

    def __init__(self) -> None:
        self._kept: dict[tuple[object, ...], tuple[int, dict[int, SlaRecord | None]]] = {}

    def read(
        self,
        conn: Connection,
        source: str,
        stage: str,
        segment: Mapping[str, str],
        ids: Sequence[int],
    ) -> dict[int, SlaRecord | None]:
        key = (source, stage, tuple(sorted(segment.items())))
        current = versions.records(conn, source)
        version, kept = self._kept.get(key, (None, {}))
        if version != current:
            kept = {}
        missing = [record_id for record_id in ids if record_id not in kept]
        if missing:
            kept = {**kept, **dict.fromkeys(missing)}
            by_id = (*_live_by_id(conn, source, segment), _among(conn, missing))
            columns = (records.c.id, *sla_columns(stage))
            for row in conn.execute(select(*columns).where(*by_id)):
                kept[row[0]] = sla_record(row[1:])
        if len(kept) > 2 * len(ids) + 1_000:  # settled and expired ids
            wanted = set(ids)
            kept = {record_id: r for record_id, r in kept.items() if record_id in wanted}
        self._kept[key] = (current, kept)
        return kept


def _live_by_id(
    conn: Connection, source: str, segment: Mapping[str, str]
) -> list[ColumnElement[bool]]:
    """``live_filter`` for a read that the ids drive. On SQLite its source
    term is written ``+source``, SQLite's way of keeping a term off the
    indexes, all of which start with the source: the planner then looks
    the ids up by primary key (a few thousand at a busy CRM's volume) where
    it would otherwise scan the look-back's stage entries through the
    stage index (hundreds of thousands) and test each against the ids."""
    live = live_filter(source, "person", segment)
    if conn.dialect.name != "sqlite":
        return live
    unindexed = UnaryExpression(
        records.c.source, operator=operators.custom_op("+"), type_=records.c.source.type
    )
    return [unindexed == source, *live[1:]]


def _among(conn: Connection, ids: Sequence[int]) -> ColumnElement[bool]:
    """``records.id`` in ``ids``, as one parameter however many there are:
    an array on PostgreSQL, a JSON array on SQLite."""
    if conn.dialect.name == "postgresql":
        return records.c.id == any_(literal(list(ids), ARRAY(Integer)))
    listed: Select[int] = select(column("value", Integer)).select_from(
        func.json_each(literal(json.dumps(list(ids))))
    )
    return records.c.id.in_(listed)


def _unfolded(
    since: datetime, as_of: datetime, folded: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """``[since, as_of)`` without the ``folded`` spans."""
    spans: list[tuple[datetime, datetime]] = []
    start = since
    for first, after in sorted(folded):
        if after <= start or first >= as_of:
            continue
        if first > start:
            spans.append((start, first))
        start = max(start, after)
    if start < as_of:
        spans.append((start, as_of))
    return spans
