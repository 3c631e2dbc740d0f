"""One sync's writes, on a connection of their own.

A sync writes batch after batch of one source from one thread; between two
batches nothing else writes that source. Knowing this, the writes can skip
work a single batch could not:

- An object type with nothing stored when the sync began is on its first
  load: its batches are inserted without reading back stored versions
  (there are none, unless the connector sends a record twice, which the
  insert detects — see ``record_rows.insert_new``).
- On SQLite the connection keeps a large page cache, so the index pages a
  million-record load keeps changing stay in memory. Only this connection
  has it, and only until the sync ends: an idle service's pooled
  connections keep SQLite's small default.
- On PostgreSQL the temporary table and the prepared statements of the
  record writes live as long as the connection: kept for the whole sync.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from monitor.store.schema import records

#: SQLite's page cache on the sync's connection, in KiB (negative: a size,
#: not a page count, as ``PRAGMA cache_size`` takes it).
SQLITE_CACHE_KIB = 65_536


class Loading:
    """The state of one source's sync: its connection (opened at the first
    write, from the thread that writes) and which object types are on
    their first load."""

    def __init__(self, engine: Engine, source: str) -> None:
        self._engine = engine
        self.source = source
        self._conn: Connection | None = None
        self._default_cache: int | None = None
        #: Object type -> whether it had no record stored when first written.
        self._first: dict[str, bool] = {}

    def connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect()
            if self._conn.dialect.name == "sqlite":
                self._default_cache = self._conn.exec_driver_sql("PRAGMA cache_size").scalar()
                self._conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
                self._conn.commit()  # ends the transaction the PRAGMAs began
        return self._conn

    def first_load(self, conn: Connection, object_type: str) -> bool:
        """Whether ``object_type`` had no record of this source stored when
        this sync first wrote it."""
        if object_type not in self._first:
            stored = select(records.c.id).where(
                records.c.source == self.source, records.c.object_type == object_type
            )
            self._first[object_type] = conn.execute(stored.limit(1)).first() is None
        return self._first[object_type]

    def close(self) -> None:
        """Give the connection back with SQLite's default page cache (which
        frees the pages above it)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._default_cache is not None and not conn.invalidated:
                conn.exec_driver_sql(f"PRAGMA cache_size={int(self._default_cache)}")
        finally:
            conn.close()
