"""Reading the records an SLA rule judges: persons of its source and
segment that entered its stage, recently enough to matter."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple, cast

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
from monitor.store.sla_folds import day_start, sla_columns, sla_record


def sla_records(
    conn: Connection,
    source: str,
    stage: str,
    segment: Mapping[str, str],
    since: datetime,
    as_of: datetime,
    folded: Sequence[tuple[datetime, datetime]] = (),
    unsettled: Mapping[date, Sequence[int]] | None = None,
    kept: KeptRecords | None = None,
) -> dict[int, SlaRecord]:
    """Records that entered ``stage`` in ``[since, as_of)`` and can still
    change a number: untouched, or touched or entered within the compliance
    window (a record answered before it was decided before it, so it counts
    nowhere). ``since`` is the rule's look-back: an unanswered lead older
    than that no longer alerts. Of the entries in ``folded`` spans (each
    before ``as_of``), only the ``unsettled`` records (ids, by UTC day of
    entry) are read. By id; through ``kept`` (see ``KeptRecords``)."""
    kept = kept or KeptRecords()
    bounds = _Bounds(since, as_of, as_of - COMPLIANCE_WINDOW)
    key = _Key(source, stage, tuple(sorted(segment.items())))
    version = versions.records(conn, source)
    found: dict[int, SlaRecord] = {}
    spans = _unfolded(since, as_of, folded)
    if spans and folded:
        found |= kept.outside(conn, key, version, spans, bounds)
    elif spans:  # the whole look-back, read once (a backtest, a fresh judgement)
        found |= _spans_read(conn, key, spans, bounds)
    if unsettled:
        found |= kept.unsettled(conn, key, version, unsettled, bounds)
    return found


@dataclass(frozen=True, slots=True)
class _Bounds:
    """What decides whether a record counts (see ``sla_records``)."""

    since: datetime
    as_of: datetime
    window_start: datetime

    def admit(self, record: SlaRecord) -> bool:
        """The span read's conditions, for a record kept rather than read."""
        entered = record.entered_at
        if not self.since <= entered < self.as_of:
            return False
        touch = record.first_touch_at
        return touch is None or touch >= self.window_start or entered >= self.window_start


def _spans_read(
    conn: Connection, key: _Key, spans: Sequence[tuple[datetime, datetime]], bounds: _Bounds
) -> dict[int, SlaRecord]:
    """The records of ``spans`` that count, by id."""
    entered = records.c[f"{key.stage}_at"]
    recent = or_(
        records.c.first_touch_at.is_(None),
        records.c.first_touch_at >= bounds.window_start,
        entered >= bounds.window_start,
    )
    # Bounded by the spans' ends rather than the look-back's (they lie
    # within it): the stage index is read over the spans alone, the
    # latest hour once the days before it are folded.
    within = (entered >= spans[0][0], entered < spans[-1][1])
    days = or_(*(and_(entered >= start, entered < end) for start, end in spans))
    wanted = (*live_filter(key.source, "person", dict(key.segment)), *within, recent, days)
    rows = conn.execute(select(records.c.id, *sla_columns(key.stage)).where(*wanted))
    return {row[0]: sla_record(row[1:]) for row in rows}


class _Key(NamedTuple):
    """A rule's records: its source, stage and segment."""

    source: str
    stage: str
    segment: tuple[tuple[str, str], ...]


@dataclass
class _Outside:
    version: int
    spans: list[tuple[datetime, datetime]]
    records: dict[int, SlaRecord]


@dataclass
class _Waiting:
    version: int
    records: dict[int, SlaRecord | None]
    #: Ids not live (None) or touched: those the day-wide admission skips.
    special: set[int]
    #: The ids asked for: the same again, at the same version, reads nothing.
    ids: list[int]


class KeptRecords:
    """What an SLA rule reads at every check, as last read, kept per rule's
    source, stage and segment with the source's record version
    (``versions.records``): the check runs every minute, the records
    change only when a sync writes (every 15 minutes by default).

    - The folded days' unsettled records (waiting for a first touch, or
      without an owner): thousands at a busy CRM's volume, read by id.
      Read again once a write has changed the source's records; ids not
      kept yet (a fold extended since) are read alone.
    - The records outside the folds (the latest hour's): while no write
      changed them and the spans start where they did, only the entries
      since the last read are read.

    A record read again unchanged is handed back as the same object: the
    SLA engine reuses its judgement of the same objects (``sla.Judgement``)."""

    def __init__(self) -> None:
        self._outside: dict[_Key, _Outside] = {}
        self._waiting: dict[_Key, _Waiting] = {}

    def outside(
        self,
        conn: Connection,
        key: _Key,
        version: int,
        spans: list[tuple[datetime, datetime]],
        bounds: _Bounds,
    ) -> dict[int, SlaRecord]:
        held = self._outside.get(key)
        if (
            held is not None
            and held.version == version
            and held.spans[:-1] == spans[:-1]
            and held.spans[-1][0] == spans[-1][0]
            and held.spans[-1][1] <= spans[-1][1]
        ):
            later = _spans_read(conn, key, [(held.spans[-1][1], spans[-1][1])], bounds)
            found = {i: r for i, r in held.records.items() if bounds.admit(r)} | later
        else:
            found = _spans_read(conn, key, spans, bounds)
            if held is not None:
                _same_as(found, held.records)
        self._outside[key] = _Outside(version, spans, found)
        return found

    def unsettled(
        self,
        conn: Connection,
        key: _Key,
        version: int,
        ids: Mapping[date, Sequence[int]],
        bounds: _Bounds,
    ) -> dict[int, SlaRecord]:
        held = self._read(conn, key, version, [i for day_ids in ids.values() for i in day_ids])
        kept = held.records
        found: dict[int, SlaRecord | None] = {}
        for day, day_ids in ids.items():
            if day_start(day) >= bounds.since:
                # Entered that day, before as_of (the fold's end): admitted
                # unless not live or touched, checked below.
                found.update(zip(day_ids, map(kept.__getitem__, day_ids), strict=True))
                continue
            for record_id in day_ids:
                record = kept[record_id]
                if record is not None and bounds.admit(record):
                    found[record_id] = record
        for record_id in held.special.intersection(found):
            record = kept[record_id]
            if record is None or not bounds.admit(record):
                del found[record_id]
        return cast(dict[int, SlaRecord], found)  # no None left

    def _read(self, conn: Connection, key: _Key, version: int, ids: Sequence[int]) -> _Waiting:
        held = self._waiting.get(key)
        if held is not None and held.version == version and held.ids == ids:
            return held
        previous = held.records if held is not None else {}
        kept = previous if held is not None and held.version == version else {}
        missing = [record_id for record_id in ids if record_id not in kept]
        if missing:
            by_id = (*_live_by_id(conn, key.source, dict(key.segment)), _among(conn, missing))
            columns = (records.c.id, *sla_columns(key.stage))
            read = {
                row[0]: sla_record(row[1:]) for row in conn.execute(select(*columns).where(*by_id))
            }
            _same_as(read, previous)
            kept = {**kept, **dict.fromkeys(missing), **read}
        if len(kept) > 2 * len(ids) + 1_000:  # settled and expired ids
            wanted = set(ids)
            kept = {record_id: r for record_id, r in kept.items() if record_id in wanted}
        special = {i for i, r in kept.items() if r is None or r.first_touch_at is not None}
        held = self._waiting[key] = _Waiting(version, kept, special, list(ids))
        return held


def _same_as(read: dict[int, SlaRecord], before: Mapping[int, SlaRecord | None]) -> None:
    """Replace each record of ``read`` equal to its ``before`` by that one."""
    for record_id, record in read.items():
        old = before.get(record_id)
        if old is not None and old == record:
            read[record_id] = old


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
