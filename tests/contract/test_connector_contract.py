"""What every connector promises (monitor/interfaces.py ``Connector``),
checked against each one through its harness: paging to completion, resume
without duplicates or gaps, deletions that leave the counts, a cursor that
never passes the sync start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from monitor.interfaces import Batch, Connector, Cursor, FunnelRecord
from monitor.store import Store
from monitor.store.schema import records
from monitor.sync import sync_source


def pull_all(
    connector: Connector, object_type: str, cursor: Cursor | None, until: datetime
) -> list[Batch]:
    return list(connector.pull(object_type, cursor, until))


def live(
    batches: list[Batch], into: dict[str, FunnelRecord] | None = None
) -> dict[str, FunnelRecord]:
    """Apply batches the way the store does: last version of an id wins."""
    state = {} if into is None else into
    for batch in batches:
        for record in batch.records:
            state[record.crm_id] = record
    return state


def test_full_pull_pages_to_completion(harness: Any) -> None:
    harness.seed(1200)
    connector = harness.connector()
    batches = pull_all(connector, harness.person_type, None, harness.now())
    ids = [r.crm_id for b in batches for r in b.records]
    assert len(batches) > 1, "expected more than one page"
    assert len(ids) == len(set(ids)), "a full pull returned a record twice"
    assert set(ids) == harness.live_ids(harness.person_type)
    assert all(r.modified_at.tzinfo is not None for b in batches for r in b.records)


def test_cursors_are_ordered_and_never_pass_until(harness: Any) -> None:
    harness.seed(700)
    until = harness.now()
    harness.advance(3600)
    harness.modify(sorted(harness.live_ids(harness.person_type))[:5])  # modified after `until`
    cursors = [
        b.cursor
        for b in pull_all(harness.connector(), harness.person_type, None, until)
        if b.cursor
    ]
    assert cursors == sorted(cursors)
    assert all(c.modified_at <= until for c in cursors)


def test_resume_from_any_batch_has_no_gap(harness: Any) -> None:
    harness.seed(1500)
    connector = harness.connector()
    until = harness.now()
    batches = pull_all(connector, harness.person_type, None, until)
    expected = harness.live_ids(harness.person_type)
    for stop_after in (0, len(batches) // 2, len(batches) - 1):
        state = live(batches[: stop_after + 1])
        # The store keeps the last cursor a batch carried; a batch without
        # one (a first read in no modification order) leaves the one before.
        saved = [b.cursor for b in batches[: stop_after + 1] if b.cursor]
        cursor = saved[-1] if saved else None
        resumed = pull_all(connector, harness.person_type, cursor, until)
        live(resumed, state)
        assert set(state) == expected, f"resuming after batch {stop_after} left a gap"
        re_read = sum(len(b.records) for b in resumed) - (
            len(expected) - len(live(batches[: stop_after + 1]))
        )
        if cursor is not None:
            assert re_read <= len(expected) // 2, "resume re-read far more than a look-back"


def test_incremental_pull_sees_changes_and_deletions(harness: Any) -> None:
    harness.seed(600)
    connector = harness.connector()
    first = pull_all(connector, harness.person_type, None, harness.now())
    state = live(first)
    cursor = [b.cursor for b in first if b.cursor][-1]
    ids = sorted(harness.live_ids(harness.person_type))
    harness.advance(600)
    harness.modify(ids[:3])
    harness.delete(ids[3:6])
    harness.advance(60)
    changed = pull_all(connector, harness.person_type, cursor, harness.now())
    live(changed, state)
    seen = {r.crm_id for b in changed for r in b.records}
    assert set(ids[:6]) <= seen
    assert all(state[i].deleted for i in ids[3:6])
    assert not any(state[i].deleted for i in ids[:3])
    assert {i for i, r in state.items() if not r.deleted} == harness.live_ids(harness.person_type)


def test_sync_into_store_twice_counts_nothing_twice(harness: Any, tmp_path: Any) -> None:
    harness.seed(800)
    store = Store(f"sqlite:///{tmp_path / 'contract.db'}")
    store.upgrade()
    connector = harness.connector()
    first = sync_source(store, "crm", connector, harness.now)
    assert first.ok, first.error
    harness.advance(120)
    second = sync_source(store, "crm", connector, harness.now)
    assert second.ok, second.error
    assert store.record_count("crm") >= len(harness.live_ids(harness.person_type))
    with store.begin() as conn:
        persons = conn.execute(
            select(func.count()).where(
                records.c.object_type == harness.person_type, records.c.deleted.is_(False)
            )
        ).scalar_one()
    assert persons == len(harness.live_ids(harness.person_type))
    assert store.cursor("crm", harness.person_type) is not None
    assert store.cursor("crm", harness.person_type).modified_at <= harness.now()
    store.close()


def test_usage_counts_what_a_pull_spent(harness: Any) -> None:
    harness.seed(300)
    connector = harness.connector()
    before = connector.usage().calls
    pull_all(connector, harness.person_type, None, harness.now())
    usage = connector.usage()
    if harness.name == "demo":
        assert usage.calls == 0, "the demo has no API to spend"
    else:
        assert usage.calls > before, "a pull over HTTP must be counted"
    assert usage.quota_used is None or 0 <= usage.quota_used <= 1
