"""Record rows from ``FunnelRecord`` to the database, by the fastest path
each backend has.

A first sync writes a million rows, so the per-row work counts: each row is
built as one tuple in the statement's column order, straight from the
record's attributes, with only the values that need it converted (instants
to text and segments to JSON on SQLite, text cut to fit its column). On
PostgreSQL the rows are streamed with binary COPY into a temporary table emptied
at every commit, and merged into ``records`` by one INSERT … ON CONFLICT;
on SQLite they go to the driver's ``executemany``.

A first load (``insert_new``) inserts without the ON CONFLICT merge: on
PostgreSQL COPY goes straight into ``records``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Dialect,
    Float,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
)
from sqlalchemy.dialects import sqlite

from monitor.interfaces import FunnelRecord
from monitor.store.bulk import sqlite_datetime
from monitor.store.schema import UTCDateTime, records

_RECORD_FIELDS = [f.name for f in fields(FunnelRecord)]
#: Set from the incoming row when a record is stored again; the first touch
#: is merged instead (see ``_upsert``).
_UPDATED = [
    *(n for n in _RECORD_FIELDS if n not in ("object_type", "crm_id", "first_touch_at")),
    "synced_at",
]
#: The record's fields in table order; a row is the source, these, and the
#: sync's time, which is the column order every statement here names.
_FIELDS = [c.name for c in records.c if c.name in _RECORD_FIELDS]
COLUMNS = ["source", *_FIELDS, "synced_at"]
_values = attrgetter(*_FIELDS)
#: Widths of the text columns. PostgreSQL refuses a longer value, or a NUL
#: anywhere in text, and with it the whole batch — so every later sync
#: would stop at the same hostile record. CRM text is made to fit instead.
WIDTHS = {c.name: getattr(c.type, "length", None) for c in records.c}
_TEXT = [(i, WIDTHS[n]) for i, n in enumerate(_FIELDS) if isinstance(records.c[n].type, String)]
_INSTANTS = [i for i, n in enumerate(_FIELDS) if n.endswith("_at")]
_SEGMENTS = _FIELDS.index("segments")

#: Where COPY puts a batch before it is merged: a temporary table, one per
#: connection, emptied by every commit or rollback.
_INCOMING = Table("records_incoming", MetaData(), *(Column(n, records.c[n].type) for n in COLUMNS))
# Built from the schema's own names, never from data.
_CREATE_INCOMING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_INCOMING.name} ON COMMIT DELETE ROWS AS "  # noqa: S608
    f"SELECT {', '.join(COLUMNS)} FROM records WITH NO DATA"
)
_COPY = f"COPY {_INCOMING.name} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_NEW = f"COPY records ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
#: How psycopg sends each column in binary COPY: the server never parses
#: an instant's text, and the driver formats less. Text, and the segments'
#: JSON, go as their text, which the server reads by the column's own type.
_BINARY = {UTCDateTime: "timestamptz", Float: "float8", Boolean: "bool"}
_COPY_TYPES = [_BINARY.get(type(records.c[n].type), "text") for n in COLUMNS]


def write(
    conn: Connection, source: str, batch: Sequence[FunnelRecord], synced_at: datetime
) -> None:
    """Insert or update ``batch`` (one version per key) in ``records``."""
    if not batch:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, source, batch, synced_at)
    else:
        _execute_many(conn, source, batch, synced_at)


def insert_new(
    conn: Connection, source: str, batch: Sequence[FunnelRecord], synced_at: datetime
) -> bool:
    """Insert ``batch`` (one version per key) if none of its records is
    stored, and return True; if one is, insert nothing and return False, so
    the caller writes the batch by ``write`` instead."""
    if not batch:
        return True
    if conn.dialect.name == "postgresql":
        from psycopg.errors import UniqueViolation  # loaded only where PostgreSQL is used

        try:
            with conn.begin_nested():
                _copy_rows(conn, _COPY_NEW, source, batch, synced_at)
        except UniqueViolation:
            return False
        return True
    # SQLite: no savepoint (its driver's transaction handling would commit
    # on release), so the rows this statement added are known by their ids.
    before = conn.execute(select(func.max(records.c.id))).scalar() or 0
    inserted = conn.exec_driver_sql(
        _insert_new(conn.dialect), _sqlite_rows(source, batch, synced_at)
    )
    if inserted.rowcount == len(batch):
        return True
    conn.execute(delete(records).where(records.c.source == source, records.c.id > before))
    return False


def key(record: FunnelRecord) -> tuple[str, str]:
    """The record's ``(object_type, crm_id)`` as stored: two ids that only
    differ past the column's width are one record."""
    return (_fitted(record.object_type, "object_type"), _fitted(record.crm_id, "crm_id"))


def _fitted(value: str, column: str) -> str:
    width = WIDTHS[column]
    if "\x00" in value or (width is not None and len(value) > width):
        return fit(value, width)
    return value


def fit(value: str, width: int | None) -> str:
    value = value.replace("\x00", "")
    return value[:width] if width else value


def _fields(record: FunnelRecord, instant: Callable[[datetime], Any] | None) -> list[Any]:
    row = list(_values(record))
    for i, width in _TEXT:
        value = row[i]
        if value is not None and ("\x00" in value or (width is not None and len(value) > width)):
            row[i] = fit(value, width)
    if instant is not None:
        for i in _INSTANTS:
            value = row[i]
            if value is not None:
                # sqlite_datetime's text for UTC, the connectors' zone, inline.
                row[i] = (
                    value.isoformat(" ", "microseconds")[:-6]
                    if value.tzinfo is UTC
                    else instant(value)
                )
    row[_SEGMENTS] = _segments_json(record.segments)
    return row


def _execute_many(
    conn: Connection, source: str, batch: Sequence[FunnelRecord], synced_at: datetime
) -> None:
    conn.exec_driver_sql(_statement(conn), _sqlite_rows(source, batch, synced_at))


def _sqlite_rows(
    source: str, batch: Sequence[FunnelRecord], synced_at: datetime
) -> list[tuple[Any, ...]]:
    synced = sqlite_datetime(synced_at)
    return [(source, *_fields(record, sqlite_datetime), synced) for record in batch]


def _copy(
    conn: Connection, source: str, batch: Sequence[FunnelRecord], synced_at: datetime
) -> None:
    conn.exec_driver_sql(_CREATE_INCOMING)
    _copy_rows(conn, _COPY, source, batch, synced_at)
    conn.exec_driver_sql(_statement(conn))


def _copy_rows(
    conn: Connection,
    statement: str,
    source: str,
    batch: Sequence[FunnelRecord],
    synced_at: datetime,
) -> None:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(statement) as copy:
        copy.set_types(_COPY_TYPES)
        for record in batch:
            copy.write_row((source, *_fields(record, None), synced_at))


def _statement(conn: Connection) -> str:
    return _compiled(conn.dialect)


@functools.cache
def _compiled(dialect: Dialect) -> str:
    if dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # loaded only where it is used

        incoming = select(*_INCOMING.c)
        stmt = _upsert(postgresql.insert(records).from_select(COLUMNS, incoming), dialect)
        return str(stmt.compile(dialect=dialect))
    compiled = _upsert(sqlite.insert(records), dialect).compile(
        dialect=dialect, column_keys=COLUMNS
    )
    if list(compiled.positiontup or []) != COLUMNS:
        raise RuntimeError("the record upsert's parameters are not in table order")
    return str(compiled)


@functools.cache
def _insert_new(dialect: Dialect) -> str:
    compiled = (
        sqlite.insert(records)
        .on_conflict_do_nothing()
        .compile(dialect=dialect, column_keys=COLUMNS)
    )
    if list(compiled.positiontup or []) != COLUMNS:
        raise RuntimeError("the record insert's parameters are not in table order")
    return str(compiled)


def _upsert(stmt: Any, dialect: Dialect) -> Any:
    excluded = stmt.excluded
    values = {c: excluded[c] for c in _UPDATED}
    # A touch learned separately (Touch) must survive a later upsert of
    # the record that does not carry it: keep the earliest known. SQLite's
    # two-argument min() is its LEAST; both are NULL if either is.
    least = func.least if dialect.name == "postgresql" else func.min
    values["first_touch_at"] = func.coalesce(
        least(records.c.first_touch_at, excluded.first_touch_at),
        records.c.first_touch_at,
        excluded.first_touch_at,
    )
    return stmt.on_conflict_do_update(
        index_elements=["source", "object_type", "crm_id"], set_=values
    )


def _segments_json(segments: Mapping[str, str]) -> str:
    """Segments as SQLAlchemy's JSON type writes them; records repeat a
    handful of segments, so each is encoded once."""
    try:
        return _json(tuple(segments.items()))
    except TypeError:  # a value that cannot be a cache key
        return json.dumps(dict(segments))


@functools.lru_cache(maxsize=4096)
def _json(items: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(dict(items))
