"""The HubSpot connector through the real hubspot-api-client, over HTTP to the
fake portal (tests/fakes/hubspot.py): the 10,000-result cap, call counts,
faults mid-paging, deletions, rate limits and ``check``."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.normalise import EPOCH, to_ms
from connectors.hubspot.settings import HubSpotSource
from connectors.registry import create
from monitor.errors import SourceActionNeeded, SourceRetry
from monitor.interfaces import Batch, CheckStatus, Cursor
from monitor.store import Store
from monitor.store.schema import records
from monitor.sync import sync_source
from tests.fakes.hubspot import FakeHubSpot


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as server:
        server.stall_seconds = 4.0  # a timeout fault: beyond the client's timeout
        yield server


#: A cursor before every record: the whole portal through the search, which
#: a first sync (no cursor) reads through the list endpoint instead.
FROM_START = Cursor(EPOCH)


def connect(fake: FakeHubSpot, **overrides: Any) -> HubSpotConnector:
    values: dict[str, Any] = {
        "kind": "hubspot",
        "token": fake.token,
        "api_url": fake.url,
        "portal_id": fake.portal_id,
        "requests_per_second": 100,
        "segments": {"region": "hs_region"},
        # Long enough for a search over 25,000 records on a loaded machine:
        # an exact call count must not gain a retry.
        "timeout": timedelta(seconds=2),
        "retries": 3,
        "retry_backoff": timedelta(milliseconds=20),
    }
    values.update(overrides)
    return create("hs", HubSpotSource(**values))


def ids_of(batches: list[Batch]) -> list[str]:
    return [r.crm_id for b in batches for r in b.records]


def last_cursor(batches: list[Batch]) -> Cursor:
    cursors = [b.cursor for b in batches if b.cursor is not None]
    return cursors[-1]


def inject(fake: FakeHubSpot, fault: str, count: int = 1) -> None:
    """The next ``count`` search requests fail the way ``fault`` names."""
    if fault == "429":
        fake.fail_next(429, retry_after=1, count=count, endpoint="search")
    elif fault == "500":
        fake.fail_next(500, count=count, endpoint="search")
    elif fault == "timeout":
        fake.timeout_next(count=count, endpoint="search")
    else:
        fake.truncate_next(count=count, endpoint="search")


FAULTS = ["429", "500", "timeout", "truncated"]


# -- paging, the cap, call counts ----------------------------------------------


def test_25000_contacts_with_12000_on_one_instant_sync_without_duplicate_or_gap(
    fake: FakeHubSpot,
) -> None:
    fake.seed_records("contacts", 25_000, shared=12_000)
    until = fake.now
    batches = list(connect(fake).pull("contacts", FROM_START, until))
    ids = ids_of(batches)
    assert len(ids) == len(set(ids)) == 25_000
    assert set(ids) == fake.live_ids("contacts")
    assert fake.statuses[400] == 0, "a search paged past the 10,000 cap"
    cursors = [b.cursor for b in batches]
    assert cursors == sorted(c for c in cursors if c) and cursors[-1].modified_at <= until

    # The first query pages to the cap; the instant it stopped in is finished
    # in id order; a second window reads what follows. Each adds one call at
    # most, on top of the page minimum.
    keys = fake.keys("contacts")
    instant = keys[9_999][0]
    rest_of_instant = sum(1 for m, _ in keys[10_000:] if m == instant)
    later = sum(1 for m, _ in keys if m > instant)
    expected = 50 + math.ceil(rest_of_instant / 200) + math.ceil(later / 200)
    assert rest_of_instant > 200 and later > 200
    assert fake.calls["search:contacts"] == expected <= math.ceil(25_000 / 200) + 2


@pytest.mark.parametrize(
    ("n", "calls"),
    [(0, 1), (1_234, 7), (10_000, 50), (10_200, 52)],  # 10,200: the cap forces one window
)
def test_full_sync_costs_the_page_minimum_plus_forced_windows(
    fake: FakeHubSpot, n: int, calls: int
) -> None:
    fake.seed_records("contacts", n)
    batches = list(connect(fake).pull("contacts", FROM_START, fake.now))
    assert len(set(ids_of(batches))) == n
    assert fake.calls["search:contacts"] == calls
    assert all(len(b.get("filterGroups", [{}])[0]["filters"]) <= 6 for b in fake.searches)
    assert all(b["limit"] == 200 for b in fake.searches)


def test_second_sync_with_10_changes_costs_one_search_call_per_object_type(
    fake: FakeHubSpot,
) -> None:
    fake.seed_records("contacts", 2_000)
    fake.seed_records("deals", 400)
    connector = connect(fake)
    cursors = {
        t: last_cursor(list(connector.pull(t, None, fake.now))) for t in ("contacts", "deals")
    }
    fake.advance(3600)
    changed = sorted(fake.live_ids("contacts"))[:10]
    fake.modify("contacts", changed)
    fake.calls.clear()
    second = {t: list(connector.pull(t, cursors[t], fake.now)) for t in ("contacts", "deals")}
    assert fake.calls["search:contacts"] == 1 and fake.calls["search:deals"] == 1
    assert set(changed) <= set(ids_of(second["contacts"]))
    assert last_cursor(second["contacts"]).modified_at == fake.now
    # Properties and owners are cached per connector; deletions cost one list page.
    assert fake.calls["properties:contacts"] == 0 and fake.calls["owners"] == 0
    assert fake.calls["list:contacts"] == 1 and fake.calls["list:deals"] == 1

    fake.advance(60)
    fake.calls.clear()
    list(connector.pull("contacts", last_cursor(second["contacts"]), fake.now))
    assert fake.calls["search:contacts"] == 1, "a sync with no change costs one search"


def test_contacts_modified_while_paging_are_not_skipped(fake: FakeHubSpot) -> None:
    fake.seed_records("contacts", 1_000)
    expected = fake.live_ids("contacts")
    pages = connect(fake).pull("contacts", FROM_START, fake.now)
    first = next(pages)
    # Modified after `until`, these leave the query: every later offset shifts by 20.
    fake.advance(5)
    fake.modify("contacts", [r.crm_id for r in first.records[:20]])
    ids = ids_of([first, *pages])
    assert set(ids) == expected
    assert len(ids) == len(set(ids))


# -- faults -----------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_mid_paging_is_retried_through(fake: FakeHubSpot, fault: str) -> None:
    fake.seed_records("contacts", 1_000)
    pages = connect(fake).pull("contacts", FROM_START, fake.now)
    batches = [next(pages), next(pages)]
    inject(fake, fault)
    started = time.monotonic()
    batches += list(pages)
    ids = ids_of(batches)
    assert len(ids) == len(set(ids)) and set(ids) == fake.live_ids("contacts")
    assert fake.calls["search:contacts"] == 5 + 1  # five pages and one retry
    if fault == "429":
        assert time.monotonic() - started >= 0.9, "Retry-After: 1 was not honoured"


@pytest.mark.parametrize("fault", FAULTS)
def test_a_lasting_fault_raises_source_retry_after_complete_pages_only(
    fake: FakeHubSpot, fault: str
) -> None:
    fake.seed_records("contacts", 1_000)
    connector = connect(fake, retries=1)
    batches: list[Batch] = []
    with pytest.raises(SourceRetry, match="contacts search"):
        for batch in connector.pull("contacts", FROM_START, fake.now):
            batches.append(batch)
            if len(batches) == 2:
                inject(fake, fault, count=2)
    assert [len(b.records) for b in batches] == [200, 200]
    fake.clear_faults()
    resumed = list(connector.pull("contacts", batches[-1].cursor, fake.now))
    assert set(ids_of(batches)) | set(ids_of(resumed)) == fake.live_ids("contacts")


def test_a_paging_cursor_that_is_not_a_number_is_a_source_retry(fake: FakeHubSpot) -> None:
    fake.seed_records("contacts", 600)
    fake.garbled_paging = 1
    connector = connect(fake)
    batches: list[Batch] = []
    with pytest.raises(SourceRetry, match="paging cursor that is not a number"):
        batches.extend(connector.pull("contacts", FROM_START, fake.now))
    assert [len(b.records) for b in batches] == [200]
    resumed = list(connector.pull("contacts", batches[-1].cursor, fake.now))
    assert set(ids_of(batches)) | set(ids_of(resumed)) == fake.live_ids("contacts")


def test_the_rate_limit_answers_429_and_the_pull_still_completes(fake: FakeHubSpot) -> None:
    fake.seed_records("contacts", 1_000)
    fake.rate_limit = 3
    batches = list(connect(fake, requests_per_second=50).pull("contacts", FROM_START, fake.now))
    assert fake.statuses[429] > 0
    assert set(ids_of(batches)) == fake.live_ids("contacts")


def test_pacing_keeps_under_the_rate_limit(fake: FakeHubSpot) -> None:
    fake.seed_records("contacts", 600)
    fake.rate_limit = 5
    batches = list(connect(fake, requests_per_second=4).pull("contacts", FROM_START, fake.now))
    assert fake.statuses[429] == 0
    assert len(ids_of(batches)) == 600


def test_a_token_revoked_mid_pull_needs_action(fake: FakeHubSpot) -> None:
    fake.seed_records("contacts", 600)
    pages = connect(fake).pull("contacts", None, fake.now)
    next(pages)
    fake.revoke_token()
    with pytest.raises(SourceActionNeeded, match="rejected the token"):
        list(pages)


def test_a_missing_scope_needs_action_and_names_the_scope(fake: FakeHubSpot) -> None:
    fake.scopes.discard("crm.objects.deals.read")
    with pytest.raises(SourceActionNeeded, match=r"crm\.objects\.deals\.read"):
        list(connect(fake).pull("deals", None, fake.now))


def test_a_configured_property_the_portal_lacks_stops_the_sync(fake: FakeHubSpot) -> None:
    fake.seed_records("contacts", 10)
    connector = connect(fake, segments={"tier": "icp_tierr"})
    with pytest.raises(SourceActionNeeded, match=r"'icp_tierr' \(sources\.hs\.segments\.tier\)"):
        list(connector.pull("contacts", None, fake.now))
    # An incremental pull checks the properties too, once it has records.
    later = connect(fake, segments={"tier": "icp_tierr"})
    with pytest.raises(SourceActionNeeded, match="icp_tierr"):
        list(later.pull("contacts", FROM_START, fake.now))


# -- what records carry ---------------------------------------------------------


def test_archived_contacts_come_back_deleted_in_the_next_incremental_pull(
    fake: FakeHubSpot,
) -> None:
    ids = fake.seed_records("contacts", 500)
    connector = connect(fake)
    first = list(connector.pull("contacts", None, fake.now))
    assert not any(r.deleted for b in first for r in b.records)
    fake.advance(600)
    fake.archive("contacts", ids[100:103])
    fake.advance(60)
    second = list(connector.pull("contacts", last_cursor(first), fake.now))
    deleted = {r.crm_id for b in second for r in b.records if r.deleted}
    assert deleted == set(ids[100:103])
    assert last_cursor(second) <= Cursor(fake.now, "~")


def test_records_carry_owners_links_segments_and_won_deals(fake: FakeHubSpot) -> None:
    fake.seed_records("contacts", 300)
    fake.seed_records("deals", 200)
    connector = connect(fake)
    contacts = [r for b in connector.pull("contacts", None, fake.now) for r in b.records]
    deals = [r for b in connector.pull("deals", None, fake.now) for r in b.records]
    owned = [r for r in contacts if r.owner_id]
    assert owned and all(r.owner_email and r.owner_name for r in owned)
    assert any(r.owner_email == "old.rep@example.com" for r in owned), "archived owner unresolved"
    assert all(
        r.url == f"https://app.hubspot.com/contacts/4242/record/0-1/{r.crm_id}" for r in contacts
    )
    assert all(r.segments["region"] in {"NA", "EMEA", "APAC"} for r in contacts + deals)
    assert all(r.lead_at is not None for r in contacts if r.mql_at is not None)
    for deal in deals:
        props = fake.record("deals", deal.crm_id)["properties"]
        assert (deal.won_at is not None) == (props["hs_is_closed_won"] == "true")
        assert deal.amount == float(props["amount"]) and deal.kind == "deal"
        assert deal.url and "/record/0-3/" in deal.url


def test_bad_values_are_dropped_or_rejected_and_logged(
    fake: FakeHubSpot, caplog: pytest.LogCaptureFixture
) -> None:
    ids = fake.seed_records("contacts", 50)
    deals = fake.seed_records("deals", 5)
    fake.set_props("contacts", ids[0], hs_v2_date_entered_marketingqualifiedlead="last tuesday")
    fake.set_props("contacts", ids[1], lastmodifieddate="soon")
    fake.set_props("deals", deals[0], amount="$12k", hs_is_closed_won="true")
    connector = connect(fake)
    with caplog.at_level(logging.WARNING, logger="connectors.hubspot"):
        contact_batches = list(connector.pull("contacts", None, fake.now))
        deal_batches = list(connector.pull("deals", None, fake.now))
    assert sum(b.rejected for b in contact_batches) == 1
    assert len(ids_of(contact_batches)) == 49
    bad = next(r for b in deal_batches for r in b.records if r.crm_id == deals[0])
    assert bad.amount is None and bad.won_at is not None
    assert "amount (not a number)" in caplog.text and "1 record(s) rejected" in caplog.text


def test_visits_come_from_the_daily_sessions_report(fake: FakeHubSpot) -> None:
    connector = connect(fake, visits=True, visits_backfill_days=10)
    assert connector.object_types == ("contacts", "deals", "visits")
    batches = list(connector.pull("visits", None, fake.now))
    counts = {c.day: c.count for b in batches for c in b.daily}
    today = fake.now.date()
    assert sorted(counts) == [today - timedelta(days=d) for d in range(9, -1, -1)]
    assert all(counts[d] == fake.visits_on(d) for d in counts)
    fake.advance(86_400)
    fake.calls.clear()
    again = list(connector.pull("visits", last_cursor(batches), fake.now))
    assert [c.day for b in again for c in b.daily] == [today, today + timedelta(days=1)]
    assert fake.calls["sessions"] == 1
    assert all(b.cursor and b.cursor.modified_at <= fake.now for b in again)


# -- check and secrets ----------------------------------------------------------


def test_check_passes_on_a_healthy_portal(fake: FakeHubSpot) -> None:
    results = connect(fake, visits=True).check()
    assert [r.status for r in results] == [CheckStatus.OK] * len(results)
    assert {r.name for r in results} >= {"hubspot token", "hubspot scopes", "hubspot visits"}


def test_check_reports_a_revoked_token_in_one_line(fake: FakeHubSpot) -> None:
    fake.revoke_token()
    results = connect(fake).check()
    assert len(results) == 1 and results[0].status is CheckStatus.FAIL
    assert "rejected the token" in results[0].detail and "sources.hs.token" in results[0].detail


def test_check_reports_a_missing_property_and_a_missing_scope(fake: FakeHubSpot) -> None:
    fake.remove_property("contacts", "hs_region")
    fake.scopes.discard("crm.objects.owners.read")
    results = connect(fake).check()
    failed = [r.detail for r in results if r.status is CheckStatus.FAIL]
    assert any("'hs_region' (sources.hs.segments.region) does not exist" in d for d in failed)
    assert any("lacks crm.objects.owners.read" in d for d in failed)
    assert len(failed) == 2


def test_the_token_never_reaches_logs_errors_or_check(
    fake: FakeHubSpot, caplog: pytest.LogCaptureFixture
) -> None:
    fake.seed_records("contacts", 300)
    connector = connect(fake, retries=0)
    # hubspot-api-client turns urllib3's logger down to WARNING; open it up.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="urllib3"):
        list(connector.pull("contacts", None, fake.now))
        fake.fail_next(500, endpoint="search")
        with pytest.raises(SourceRetry) as retry:
            list(connector.pull("contacts", None, fake.now))
        fake.revoke_token()
        lines = connector.check()
        with pytest.raises(SourceActionNeeded) as action:
            list(connector.pull("contacts", None, fake.now))
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert any(r.name.startswith("connectors.hubspot") for r in caplog.records)
    for text in (
        caplog.text,
        str(retry.value),
        str(action.value),
        repr(lines),
        repr(connector.settings),
    ):
        assert fake.token not in text


# -- the compound cursor through the store ------------------------------------------


def store_sync(fake: FakeHubSpot, store: Store, connector: HubSpotConnector, **kw: Any) -> Any:
    """One sync into the store at the fake's now, as the service runs it;
    returns the result and the search requests it made per object type."""
    fake.calls.clear()
    result = sync_source(store, "hs", connector, lambda: fake.now, **kw)
    assert result.ok or result.interrupted, result.error
    return result, (fake.calls["search:contacts"], fake.calls["search:deals"])


def stored_deals(store: Store) -> set[str]:
    with store.begin() as conn:
        rows = conn.execute(select(records.c.crm_id).where(records.c.object_type == "deals")).all()
    return {r.crm_id for r in rows}


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'hs.db'}")
    store.upgrade()
    yield store
    store.close()


def test_an_unchanged_sync_after_765_deals_share_one_instant_costs_one_search_per_type(
    fake: FakeHubSpot, sqlite_store: Store
) -> None:
    bulk = fake.now - timedelta(hours=1)  # a bulk update gave 765 deals one instant
    fake.add("deals", [bulk] * 765)
    fake.seed_records("contacts", 40, spacing=timedelta(minutes=2))
    fake.advance(3600)
    connector = connect(fake)
    full, calls = store_sync(fake, sqlite_store, connector)
    assert full.by_type == {"contacts": 40, "deals": 765}
    # A first sync reads from both ends: how many of the 765 the search
    # takes depends on how fast each end runs, at most all of them.
    assert calls[0] == 1 and 1 <= calls[1] <= 4, calls

    for _ in range(3):  # the service's next syncs, every 30 s, with nothing changed
        fake.advance(30)
        unchanged, calls = store_sync(fake, sqlite_store, connector)
        assert calls == (1, 1), "the deals of the cursor's instant were read again"
        assert unchanged.records == 0, "stored again what it held"
    (query,) = [b for b in fake.searches if "hs_lastmodifieddate" in json.dumps(b)][-1:]
    assert len(query["filterGroups"]) == 2, "not the compound cursor"

    # A deal modified later is picked up, and so is a new one on the very
    # instant of the cursor (a tie at the boundary), each exactly once.
    fake.advance(30)
    later = sorted(fake.live_ids("deals"))[100]
    fake.modify("deals", [later])
    (tie,) = fake.add("deals", [bulk])
    picked, calls = store_sync(fake, sqlite_store, connector)
    assert calls == (1, 1)
    assert picked.by_type == {"contacts": 0, "deals": 2}
    assert (
        stored_deals(sqlite_store) == fake.live_ids("deals") and len(fake.live_ids("deals")) == 766
    )
    assert tie in stored_deals(sqlite_store)

    # A deal modified before the last sync but shown by the search index only
    # now (within the look-back) is still found.
    fake.advance(30)
    (late,) = fake.add("deals", [fake.now - timedelta(minutes=1)])
    found, calls = store_sync(fake, sqlite_store, connector)
    assert late in stored_deals(sqlite_store) and found.by_type["deals"] >= 1
    assert stored_deals(sqlite_store) == fake.live_ids("deals")


def test_a_sync_stopped_inside_an_instant_of_unordered_ties_resumes_without_loss(
    fake: FakeHubSpot, sqlite_store: Store
) -> None:
    fake.ties_by_id = False  # HubSpot documents no order for ties
    bulk = fake.now - timedelta(hours=1)
    (first,) = fake.add("deals", [bulk - timedelta(hours=1)])
    connector = connect(fake)
    store_sync(fake, sqlite_store, connector)  # the backfill: one deal, a cursor
    ids = fake.add("deals", [bulk] * 765)
    fake.advance(3600)
    pages = iter([False, True])  # stop after the first page of deals
    stopped, _ = store_sync(
        fake, sqlite_store, connector, stop=lambda: bool(fake.calls["search:deals"]) and next(pages)
    )
    assert stopped.interrupted and 1 < len(stored_deals(sqlite_store)) < 766
    cursor = sqlite_store.cursor("hs", "deals")
    assert cursor is not None and cursor.crm_id == "", "the cursor claims part of an instant"

    fake.advance(30)
    _, calls = store_sync(fake, sqlite_store, connector)
    assert stored_deals(sqlite_store) == {first, *ids}, "ties of the stopped instant were lost"
    assert calls == (1, 4)

    fake.advance(30)
    unchanged, calls = store_sync(fake, sqlite_store, connector)
    assert calls == (1, 1) and unchanged.records == 0


def test_records_the_look_back_reads_again_unchanged_are_not_stored_again(
    fake: FakeHubSpot, sqlite_store: Store
) -> None:
    fake.add("deals", [fake.now] * 765)  # a bulk update just now: inside the look-back
    connector = connect(fake)
    full, _ = store_sync(fake, sqlite_store, connector)
    assert full.by_type["deals"] == 765

    fake.advance(30)
    again, calls = store_sync(fake, sqlite_store, connector)
    # The look-back reads the deals again (the index may have shown one
    # late), but each was read at this modification time in a stored batch.
    assert calls == (1, 4)
    assert again.records == 0, "wrote again what it held"

    fake.advance(30)
    (late,) = fake.add("deals", [fake.now - timedelta(minutes=1)])  # shown late by the index
    found, _ = store_sync(fake, sqlite_store, connector)
    assert found.by_type["deals"] == 1 and late in stored_deals(sqlite_store)

    # Once a sync starts more than the look-back (5 minutes) after the
    # cursor's instant, the next one needs the cursor alone.
    fake.advance(300)
    settled, calls = store_sync(fake, sqlite_store, connector)
    assert calls == (1, 4) and settled.records == 0
    fake.advance(30)
    settled, calls = store_sync(fake, sqlite_store, connector)
    assert calls == (1, 1) and settled.records == 0


# -- the backfill: list endpoint and search at once ---------------------------------


def stored_rows(store: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Every stored record, all it carries but the row id and sync time."""
    skip = {"id", "synced_at"}
    columns = [c for c in records.c if c.name not in skip]
    with store.begin() as conn:
        rows = conn.execute(select(*columns)).all()
    return {(r.object_type, r.crm_id): tuple(r) for r in rows}


def test_a_backfill_stores_what_the_search_stores_record_by_record(
    fake: FakeHubSpot, tmp_path: Any
) -> None:
    contacts = fake.seed_records("contacts", 2_345, shared=400)
    deals = fake.seed_records("deals", 678, shared=150)
    fake.set_props("contacts", contacts[7], hs_merged_object_ids=f"{contacts[7]};99")
    fake.set_props("contacts", contacts[8], lastmodifieddate="soon")  # rejected by both
    fake.set_props("deals", deals[3], amount="$12k")
    fake.archive("contacts", contacts[100:103], at=fake.now - timedelta(minutes=1))
    fake.advance(30)
    stores = {}
    for path in ("list", "search"):
        store = Store(f"sqlite:///{tmp_path / path}.db")
        store.upgrade()
        if path == "search":  # a cursor before every record: the search reads it all
            for object_type in ("contacts", "deals"):
                store.write_batch("hs", object_type, Batch(cursor=FROM_START), fake.now)
        fake.calls.clear()
        result = sync_source(store, "hs", connect(fake), lambda: fake.now)
        assert result.ok, result.error
        used = "list:contacts" if path == "list" else "search:contacts"
        assert fake.calls[used] > 1, f"not read through the {path} path"
        stores[path] = store
    listed, searched = stored_rows(stores["list"]), stored_rows(stores["search"])
    assert len(listed) == 2_345 + 1 + 678 - 1  # the merged-away id, less the rejected one
    assert listed == searched
    for object_type in ("contacts", "deals"):
        assert stores["list"].cursor("hs", object_type) == stores["search"].cursor(
            "hs", object_type
        )
    for store in stores.values():
        store.close()


def test_a_backfill_under_hubspots_limits_uses_both_budgets_without_a_429(
    fake: FakeHubSpot,
) -> None:
    fake.seed_records("contacts", 3_000)
    fake.seed_records("deals", 1_000)
    fake.real_limits()
    connector = connect(fake, requests_per_second=4, requests_per_10s=150)
    read = {t: ids_of(list(connector.pull(t, None, fake.now))) for t in ("contacts", "deals")}
    for object_type, ids in read.items():
        assert len(ids) == len(set(ids)) and set(ids) == fake.live_ids(object_type)
        searched, listed = fake.calls[f"search:{object_type}"], fake.calls[f"list:{object_type}"]
        assert searched > 0 and listed > 1, "one budget left idle"
        # Each page read whole but the one where the two ends meet.
        assert searched * 200 + (listed - 1) * 100 <= len(ids) + 300
    assert fake.statuses[429] == 0


def test_a_backfill_stopped_midway_saves_no_cursor_and_the_next_sync_reads_it_all(
    fake: FakeHubSpot, sqlite_store: Store
) -> None:
    fake.seed_records("contacts", 3_000, shared=500)
    connector = connect(fake)
    pulled = iter(range(1_000))
    stopped, _ = store_sync(fake, sqlite_store, connector, stop=lambda: next(pulled) == 6)
    assert stopped.interrupted and 0 < stopped.records < 3_000
    assert sqlite_store.cursor("hs", "contacts") is None, "a cursor claims unread records"

    fake.advance(30)
    resumed, _ = store_sync(fake, sqlite_store, connector)
    assert resumed.ok and fake.calls["list:contacts"] > 1, "not a backfill again"
    stored = stored_rows(sqlite_store)
    assert {crm_id for t, crm_id in stored if t == "contacts"} == fake.live_ids("contacts")
    last_modified, last_id = fake.keys("contacts")[-1]
    cursor = sqlite_store.cursor("hs", "contacts")
    assert cursor is not None
    assert (to_ms(cursor.modified_at), cursor.crm_id) == (last_modified, str(last_id))

    fake.advance(30)
    unchanged, _ = store_sync(fake, sqlite_store, connector)
    assert unchanged.records == 0 and fake.calls["search:contacts"] == 1


# -- an unchanged sync in the fewest calls -------------------------------------------


def test_an_unchanged_sync_in_a_new_process_costs_one_search_and_one_list_per_type(
    fake: FakeHubSpot, sqlite_store: Store
) -> None:
    fake.seed_records("contacts", 500)
    fake.seed_records("deals", 300)
    fake.advance(3600)
    store_sync(fake, sqlite_store, connect(fake))
    fake.advance(30)
    # ``alignmon sync`` starts a new process, with a new connector each time.
    unchanged, _ = store_sync(fake, sqlite_store, connect(fake))
    assert unchanged.records == 0
    assert dict(fake.calls) == {
        "search:contacts": 1,
        "search:deals": 1,
        "list:contacts": 1,  # archived records: the search never returns them
        "list:deals": 1,
    }


def test_properties_and_owners_are_read_again_after_a_day(
    fake: FakeHubSpot, sqlite_store: Store
) -> None:
    (contact,) = fake.add("contacts", [fake.now - timedelta(hours=2)])
    fake.set_props("contacts", contact, hubspot_owner_id="201")
    connector = connect(fake)
    store_sync(fake, sqlite_store, connector)
    fake.active_owners[0] = dict(fake.active_owners[0], firstName="Anna")

    def owner_after_a_change(hours: float) -> str | None:
        fake.advance(hours * 3600)
        fake.modify("contacts", [contact])
        store_sync(fake, sqlite_store, connector)
        with sqlite_store.begin() as conn:
            return conn.execute(select(records.c.owner_name)).scalar_one()

    assert owner_after_a_change(1) == "Ana Ito", "a known owner was read again within the day"
    assert fake.calls["owners"] == 0 and fake.calls["properties:contacts"] == 0
    assert owner_after_a_change(24) == "Anna Ito"
    assert fake.calls["owners"] == 2 and fake.calls["properties:contacts"] == 1
