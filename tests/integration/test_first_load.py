"""A sync's first load of an object type inserts its records without
reading back stored versions, on SQLite and on PostgreSQL; what it stores is
what the same batches written one by one store, records and rollups alike,
also when the connector sends a record twice. On SQLite its connection's
large page cache does not outlive the sync."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from monitor.interfaces import Batch, Cursor, FunnelRecord, Touch
from monitor.store import Store
from monitor.store.loading import SQLITE_CACHE_KIB
from monitor.store.schema import cohort_days, records, stage_days, sync_cursors
from monitor.sync import _Pending, sync_source
from tests.conftest import open_store

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
START = datetime(2025, 10, 1, tzinfo=UTC)


def person(i: int, *, later: bool = False) -> FunnelRecord:
    lead = START + timedelta(hours=7 * i)
    mql = lead + timedelta(days=2) if i % 3 == 0 or later else None
    return FunnelRecord(
        object_type="contacts",
        crm_id=f"c{i}",
        modified_at=(mql or lead) + timedelta(days=30 if later else 0),
        lead_at=lead,
        mql_at=mql,
        sql_at=mql + timedelta(days=5) if mql is not None and i % 2 == 0 else None,
        owner_email=f"rep{i % 4}@example.com",
        first_touch_at=mql + timedelta(hours=3) if mql is not None and i % 4 == 0 else None,
        # Text a column cannot hold as sent: cut to fit, as on every write.
        name=f"Person\x00 {i}" if i == 7 else f"Person {i}",
        owner_name="x" * 300 if i == 8 else None,
        segments={"region": "EMEA" if i % 2 else "NA"},
        deleted=i == 11,
    )


def deal(i: int) -> FunnelRecord:
    won = START + timedelta(days=40, hours=5 * i)
    return FunnelRecord(
        object_type="deals",
        crm_id=f"d{i}",
        modified_at=won,
        kind="deal",
        won_at=won,
        amount=1000.0 + i if i % 5 else None,
        segments={"region": "EMEA"},
    )


def batches() -> list[tuple[str, Batch]]:
    """Contacts in pages of 10, the last page sending again (changed) three
    records of the first, as a CRM's paging does when records change during
    the sync; then the deals, with a touch on an early contact."""
    out = []
    for start in range(0, 40, 10):
        page = [person(i) for i in range(start, start + 10)]
        out.append(("contacts", Batch(page, Cursor(page[-1].modified_at, page[-1].crm_id))))
    again = [person(i, later=True) for i in (40, 1, 2, 5)]
    out.append(("contacts", Batch(again, Cursor(again[-1].modified_at, "c5"))))
    for start in range(0, 20, 10):
        page = [deal(i) for i in range(start, start + 10)]
        touches = [Touch("contacts", "c1", NOW - timedelta(days=1))] if start else []
        out.append(
            ("deals", Batch(page, Cursor(page[-1].modified_at, page[-1].crm_id), [], touches))
        )
    return out


def stored(store: Store) -> dict[str, Any]:
    with store.begin() as conn:
        columns = [c for c in records.c if c.name != "id"]
        return {
            "records": sorted(conn.execute(select(*columns)).all()),
            "stage_days": sorted(conn.execute(select(stage_days)).all()),
            "cohort_days": sorted(conn.execute(select(cohort_days)).all()),
            "cursors": sorted(conn.execute(select(sync_cursors)).all()),
        }


class Statements:
    """The SQL statements ``store`` sends through SQLAlchemy."""

    def __init__(self, store: Store) -> None:
        self.sent: list[str] = []
        event.listen(store.engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.sent.append(statement)

    def lookups(self) -> int:
        """Reads of stored versions of a batch's records."""
        return sum(1 for s in self.sent if s.lstrip().startswith("SELECT records.kind"))


@pytest.fixture
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two empty stores on the backend of ``store`` (sqlite or postgres)."""
    backend = request.node.callspec.params["backend"]
    first = open_store(request, backend, tmp_path / "one")
    second = open_store(request, backend, tmp_path / "two")
    yield first, second
    first.close()
    second.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_first_load_stores_what_batch_by_batch_writes_store(
    two_stores: tuple[Store, Store], backend: str
) -> None:
    by_batch, loaded = two_stores
    one_by_one, in_one_load = Statements(by_batch), Statements(loaded)
    for object_type, batch in batches():
        by_batch.write_batch("crm", object_type, batch, NOW)
    with loaded.loading("crm"):
        for object_type, batch in batches():
            loaded.write_batch("crm", object_type, batch, NOW)

    assert stored(loaded) == stored(by_batch)
    # Written one by one, every batch after an object type's first reads
    # back stored versions; in one load only the page sending records again.
    assert one_by_one.lookups() == 5
    assert in_one_load.lookups() == 1


def test_a_load_into_stored_records_reads_their_versions(store: Store) -> None:
    for object_type, batch in batches():
        store.write_batch("crm", object_type, batch, NOW)
    before = stored(store)
    statements = Statements(store)
    with store.loading("crm"):
        for object_type, batch in batches():
            store.write_batch("crm", object_type, batch, NOW)
    assert stored(store) == before
    assert statements.lookups() == len(batches())


def test_only_the_loading_connection_has_the_large_page_cache(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'alignmon.db'}")
    store.upgrade()
    statements = Statements(store)
    with store.loading("crm"):
        for object_type, batch in batches():
            store.write_batch("crm", object_type, batch, NOW)
    assert f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}" in statements.sent
    pooled = [store.engine.connect() for _ in range(store.engine.pool.checkedin())]  # type: ignore[attr-defined]
    try:
        sizes = {conn.exec_driver_sql("PRAGMA cache_size").scalar() for conn in pooled}
    finally:
        for conn in pooled:
            conn.close()
    assert sizes == {-2000}
    store.close()


class Pages:
    """A connector of contacts in pages of 10, as ``batches`` has them."""

    object_types = ("contacts",)

    def pull(self, object_type: str, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        for kind, batch in batches():
            if kind == object_type:
                yield batch


def test_a_first_sync_is_one_load(store: Store) -> None:
    _Pending.WRITE_RECORDS = 10
    try:
        statements = Statements(store)
        result = sync_source(store, "crm", Pages(), lambda: NOW)
    finally:
        _Pending.WRITE_RECORDS = 2_000
    assert result.ok and result.by_type == {"contacts": 44}
    # Only the page that sends records again reads stored versions.
    assert statements.lookups() == 1
