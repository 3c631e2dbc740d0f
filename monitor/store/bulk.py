"""Many-row statements sent straight to the driver.

A sync writes tens of thousands of rows a second. Through SQLAlchemy's
executemany each value of each row passes a Python bind processor, which
cost more than the database's own work (see docs/benchmarks.md). Here the
statement is compiled by SQLAlchemy, the few column types that need it are
adapted in one pass, and the rows go to the driver's ``executemany``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Connection, Date, Table
from sqlalchemy.sql.dml import Insert

from monitor.store.schema import UTCDateTime


def insert_or_update(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_update`` on this backend
    (each dialect's module is imported only where it is used)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def execute_many(conn: Connection, stmt: Insert, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``stmt`` once per row of ``rows`` (all with the same keys)."""
    if not rows:
        return
    keys = list(rows[0])
    compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
    if conn.dialect.name == "postgresql":
        from psycopg.types.json import Json  # loaded only where PostgreSQL is used

        conn.exec_driver_sql(
            str(compiled),
            [{k: Json(v) if isinstance(v, dict | list) else v for k, v in r.items()} for r in rows],
        )
        return
    table = stmt.table
    names = compiled.positiontup or []
    values = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    adapted = [
        (i, _SQLITE[type(table.c[n].type)])
        for i, n in enumerate(names)
        if type(table.c[n].type) in _SQLITE
    ]
    params: list[tuple[Any, ...]] = []
    for row in rows:
        one = list(values(row))
        for i, adapt in adapted:
            if one[i] is not None:
                one[i] = adapt(one[i])
        params.append(tuple(one))
    conn.exec_driver_sql(str(compiled), params)


def sqlite_datetime(value: datetime) -> str:
    """Naive UTC with microseconds always written, as SQLAlchemy stores it,
    so that text order is time order."""
    if value.tzinfo is UTC:  # as connectors parse them: no conversion needed
        return value.isoformat(" ", "microseconds")[:-6]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


#: What SQLAlchemy's SQLite types would have stored, by column type.
_SQLITE: dict[type, Callable[[Any], Any]] = {
    UTCDateTime: sqlite_datetime,
    Date: date.isoformat,
    JSON: json.dumps,
}
