"""The sync's writer thread: the connector pulls the next page while the
store writes the last one, and nothing about what is stored or counted
changes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import StoreError
from monitor.interfaces import Batch, Cursor, FunnelRecord
from monitor.store import Store
from monitor.sync import _Pending, sync_source

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
WAIT = 5.0


def page(n: int) -> Batch:
    at = NOW - timedelta(hours=10 - n)
    return Batch([FunnelRecord("contacts", str(n), at, lead_at=at)], Cursor(at, str(n)))


class Pages:
    """A connector of one object type that yields ``count`` one-record
    pages; before each page after the first it may wait for ``gate``."""

    object_types = ("contacts",)

    def __init__(self, count: int, gate: threading.Event | None = None) -> None:
        self.count = count
        self.gate = gate

    def pull(self, object_type: str, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        for n in range(self.count):
            if n and self.gate is not None:
                assert self.gate.wait(WAIT), "the next page waited on the store's write"
            yield page(n)


class GatedStore(Store):
    """A store whose first write waits until the connector has asked for
    the next page, and whose write number ``fail_at`` (if any) fails."""

    def __init__(self, url: str, fail_at: int | None = None) -> None:
        super().__init__(url)
        self.writing = threading.Event()
        self.pulled_on = threading.Event()
        self.fail_at = fail_at
        self.writes = 0
        self.overlapped = False

    def write_batch(self, source: str, object_type: str, batch: Batch, at: datetime) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise StoreError("database error: disk full")
        if self.writes == 1:
            self.writing.set()
            self.overlapped = self.pulled_on.wait(WAIT)
        super().write_batch(source, object_type, batch, at)


def stored_cursor(store: Store) -> Cursor | None:
    stored = store.cursor("crm", "contacts")
    return Cursor(stored.modified_at, stored.crm_id) if stored else None


@pytest.fixture(autouse=True)
def _one_write_per_page() -> Iterator[None]:
    _Pending.WRITE_RECORDS = 1
    yield
    _Pending.WRITE_RECORDS = 2_000


def test_the_next_page_is_pulled_while_the_last_is_written(store: Store) -> None:
    gated = GatedStore(store.url)
    connector = Pages(3, gate=gated.writing)
    original = connector.pull

    def pull(object_type: str, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        for n, batch in enumerate(original(object_type, cursor, until)):
            if n == 1:
                gated.pulled_on.set()  # the second page arrived during the first write
            yield batch

    connector.pull = pull  # type: ignore[method-assign]
    try:
        result = sync_source(gated, "crm", connector, lambda: NOW)  # type: ignore[arg-type]
        assert gated.overlapped, "the first write saw the second page pulled"
        assert result.ok and result.records == 3 and result.by_type == {"contacts": 3}
        assert gated.record_count("crm") == 3
        assert stored_cursor(gated) == page(2).cursor
    finally:
        gated.close()


def test_a_failed_write_fails_the_sync_and_keeps_the_cursor_of_the_last_commit(
    store: Store,
) -> None:
    failing = GatedStore(store.url, fail_at=2)
    failing.pulled_on.set()
    try:
        with pytest.raises(StoreError, match="disk full"):
            sync_source(failing, "crm", Pages(5), lambda: NOW)  # type: ignore[arg-type]
        assert failing.record_count("crm") == 1
        assert stored_cursor(failing) == page(0).cursor
        status = failing.source_statuses()["crm"]
        assert status.last_success_at is None and status.last_error is not None
        assert "disk full" in status.last_error
        assert failing.writes == 2, "nothing is written after the failed batch"
    finally:
        failing.close()


def test_a_stop_ends_on_committed_batches_counted_exactly(store: Store) -> None:
    polls = 0

    def stop() -> bool:
        nonlocal polls
        polls += 1
        return polls == 3

    result = sync_source(store, "crm", Pages(6), lambda: NOW, stop=stop)  # type: ignore[arg-type]
    assert result.interrupted and result.records == 3 and result.by_type == {"contacts": 3}
    assert store.record_count("crm") == 3
    assert stored_cursor(store) == page(2).cursor
