"""The Salesforce connector through the real simple-salesforce client, over
HTTPS to the fake org (tests/fakes/salesforce.py) with a throwaway CA given
as ``ca_bundle`` — while REQUESTS_CA_BUNDLE points elsewhere, as it does on
this machine."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select as sa_select

from connectors.registry import create
from connectors.salesforce.client import QuotaExhausted
from connectors.salesforce.connector import SalesforceConnector
from monitor.errors import SourceActionNeeded, SourceRetry
from monitor.interfaces import Batch, CheckStatus, Cursor
from monitor.store import Store
from monitor.store.schema import records
from monitor.sync import sync_source
from tests.fakes.salesforce import PASSWORD, SECURITY_TOKEN, FakeSalesforce

LOGIN_FLOWS = ["password", "oauth_password", "jwt", "client_credentials"]


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        yield server


def connect(
    fake: FakeSalesforce, flow: str = "oauth_password", **settings: Any
) -> SalesforceConnector:
    return create("sf", fake.settings(flow, **settings))


def ids_of(batches: list[Batch]) -> list[str]:
    return [r.crm_id for b in batches for r in b.records]


def test_25000_leads_page_through_completely(fake: FakeSalesforce) -> None:
    fake.add_leads(25_000)
    connector = connect(fake, bulk_threshold=None)
    batches = list(connector.pull("leads", None, fake.now()))
    ids = ids_of(batches)
    assert len(ids) == 25_000 and set(ids) == fake.live_ids("Lead")
    assert [len(b.records) for b in batches] == [2000] * 12 + [1000]
    for batch in batches:  # every batch is a whole page carrying its last row's cursor
        last = batch.records[-1]
        assert batch.cursor == Cursor(last.modified_at, last.crm_id)
    assert fake.calls["queryAll"] == 1 and fake.calls["query_more"] == 12
    assert connector.client.calls["queryAll"] + connector.client.calls["query_more"] == 13


def test_3000_leads_sharing_one_instant_cross_a_page_boundary(fake: FakeSalesforce) -> None:
    instant = fake.now() - timedelta(minutes=30)
    before = fake.add_leads(500, [instant - timedelta(seconds=500 - i) for i in range(500)])
    shared = fake.add_leads(3000, [instant] * 3000)
    after = fake.add_leads(700)
    until = fake.now()
    connector = connect(fake, bulk_threshold=None, look_back=None)
    batches = list(connector.pull("leads", None, until))
    ids = ids_of(batches)
    assert len(ids) == len(set(ids)) == 4200
    assert set(ids) == set(before + shared + after)
    assert batches[0].cursor is not None and batches[0].cursor.modified_at == instant
    # Resuming from a cursor inside the shared instant gives exactly the rest.
    for index, batch in enumerate(batches[:-1]):
        rest = ids_of(list(connector.pull("leads", batch.cursor, until)))
        done = ids_of(batches[: index + 1])
        assert not set(rest) & set(done), f"resume after batch {index} re-read rows"
        assert set(rest) | set(done) == set(ids), f"resume after batch {index} left a gap"


def test_look_back_rereads_without_moving_the_cursor_back(fake: FakeSalesforce) -> None:
    fake.add_leads(300)
    until = fake.now()
    connector = connect(fake, look_back="1m")
    cursor = list(connector.pull("leads", None, until))[-1].cursor
    assert cursor is not None
    fake.advance(30)
    changed = fake.add_leads(2)
    again = list(connector.pull("leads", cursor, fake.now()))
    assert set(changed) <= set(ids_of(again))
    assert len(ids_of(again)) == 61 + 2  # rows of the look-back minute (inclusive), new rows
    assert again[-1].cursor is not None and again[-1].cursor > cursor


@pytest.mark.parametrize("flow", LOGIN_FLOWS)
def test_an_expired_session_is_renewed_mid_paging(fake: FakeSalesforce, flow: str) -> None:
    fake.add_leads(5000)
    connector = connect(fake, flow, bulk_threshold=None)
    fake.expire_session_after(pages=1)
    batches = list(connector.pull("leads", None, fake.now()))
    assert len(set(ids_of(batches))) == 5000
    assert fake.calls["login"] == 2, "one login, one renewal"
    assert fake.calls["query_more"] == 3, "the page refused with 401 was asked again"


def test_an_expired_session_id_needs_a_person(fake: FakeSalesforce) -> None:
    fake.add_leads(5000)
    connector = connect(fake, "session_id", bulk_threshold=None)
    fake.expire_session_after(pages=1)
    seen: list[Batch] = []
    with pytest.raises(SourceActionNeeded, match="session_id cannot be renewed: a person must"):
        for batch in connector.pull("leads", None, fake.now()):
            seen.append(batch)
    assert len(seen) == 1 and len(seen[0].records) == 2000, "only whole pages came through"
    assert fake.calls["login"] == 0


def test_deleted_records_come_through_as_deleted(fake: FakeSalesforce) -> None:
    ids = fake.add_leads(40)
    fake.advance(60)
    fake.delete("Lead", ids[:7])
    batches = list(connect(fake).pull("leads", None, fake.now()))
    records = {r.crm_id: r for b in batches for r in b.records}
    assert {i for i, r in records.items() if r.deleted} == set(ids[:7])
    assert {i for i, r in records.items() if not r.deleted} == fake.live_ids("Lead")


@pytest.mark.slow  # ~4 s: the fake writes and the connector reads 100,000 rows
def test_a_100000_record_backfill_goes_through_bulk_api_2(fake: FakeSalesforce) -> None:
    fake.add_leads(100_000)
    fake.delete("Lead", ["00Q000000000007AAA"])
    until = fake.now()
    connector = connect(fake, bulk_threshold=20_000)
    batches = list(connector.pull("leads", None, until))
    ids = ids_of(batches)
    assert len(ids) == len(set(ids)) == 100_000
    assert fake.calls["bulk_create"] == 1 and fake.calls["bulk_results"] == 2
    assert fake.calls["query_more"] == 0, "only the first REST page before switching"
    assert [b.cursor is not None for b in batches] == [True, False, True]
    highest = max(Cursor(r.modified_at, r.crm_id) for b in batches for r in b.records)
    assert batches[-1].cursor == highest and highest.modified_at <= until
    assert [r.deleted for b in batches for r in b.records].count(True) == 1  # queryAll job


def test_an_expired_session_mid_bulk_restarts_the_job(fake: FakeSalesforce) -> None:
    fake.add_leads(8000)
    connector = connect(fake, "jwt", bulk_threshold=1000, bulk_page_size=2000)
    fake.expire_session_after(pages=3)  # the REST page and two of three Bulk pages
    batches = list(connector.pull("leads", None, fake.now()))
    assert set(ids_of(batches)) == fake.live_ids("Lead")
    assert fake.calls["login"] == 2 and fake.calls["bulk_create"] == 2
    assert [b.cursor is not None for b in batches] == [True] + [False] * 4 + [True]
    highest = max(Cursor(r.modified_at, r.crm_id) for b in batches for r in b.records)
    assert batches[-1].cursor == highest


@pytest.mark.parametrize("how", ["create", "fail"])
def test_refused_bulk_falls_back_to_rest(fake: FakeSalesforce, how: str) -> None:
    fake.add_leads(5000)
    fake.refuse_bulk(how)
    connector = connect(fake, bulk_threshold=1000)
    batches = list(connector.pull("leads", None, fake.now()))
    assert len(set(ids_of(batches))) == 5000
    assert fake.calls["bulk_create"] == 1 and fake.calls["bulk_results"] == 0
    assert all(b.cursor is not None for b in batches)


def test_quota_guard_stops_before_a_partial_sync(fake: FakeSalesforce) -> None:
    fake.add_leads(5000)
    connector = connect(fake, "session_id", quota_guard=0.8)
    assert len(ids_of(list(connector.pull("leads", None, fake.now())))) == 5000
    fake.set_api_usage(78, 100)  # the next call reports 79/100; a full read needs 3
    before = fake.calls.copy()
    seen: list[Batch] = []
    with pytest.raises(QuotaExhausted, match="quota") as raised:
        seen.extend(connector.pull("leads", None, fake.now()))
    assert isinstance(raised.value, SourceActionNeeded)
    assert seen == []
    assert fake.calls - before == {"queryAll": 1}
    # The next pull reads nothing: it asks once whether usage fell (80/100
    # now), and stops again.
    with pytest.raises(QuotaExhausted, match="80 of 100"):
        list(connector.pull("opportunities", None, fake.now()))
    assert fake.calls - before == {"queryAll": 1, "limits": 1}
    fake.set_api_usage(10, 100)  # the rolling 24 hours move on
    assert len(ids_of(list(connector.pull("leads", None, fake.now())))) == 5000
    assert fake.calls["limits"] == 2, "one more look at the usage lets the guard go"


def test_request_limit_exceeded_is_not_retried(fake: FakeSalesforce) -> None:
    fake.add_leads(10)
    connector = connect(fake, "session_id")
    fake.fail_next(
        403, code="REQUEST_LIMIT_EXCEEDED", message="TotalRequests Limit exceeded.", times=5
    )
    with pytest.raises(SourceActionNeeded, match="quota"):
        list(connector.pull("leads", None, fake.now()))
    assert sum(fake.calls.values()) == 1
    fake.set_api_usage(100, 100)  # spent: Salesforce refuses every call
    with pytest.raises(QuotaExhausted):
        list(connector.pull("leads", None, fake.now()))


def test_a_server_error_is_retried_then_reported_as_transient(fake: FakeSalesforce) -> None:
    fake.add_leads(3000)
    connector = connect(fake, bulk_threshold=None)
    fake.fail_next(503, endpoint="query_more")
    assert len(ids_of(list(connector.pull("leads", None, fake.now())))) == 3000
    fake.fail_next(503, times=10)
    with pytest.raises(SourceRetry, match="SERVER_UNAVAILABLE"):
        list(connector.pull("leads", None, fake.now()))


def test_a_rate_limit_is_retried_after_the_advertised_wait_then_transient(
    fake: FakeSalesforce,
) -> None:
    fake.add_leads(3000)
    connector = connect(fake, bulk_threshold=None, retries=1)
    fake.fail_next(429, retry_after=1, endpoint="query_more")
    started = time.monotonic()
    assert len(ids_of(list(connector.pull("leads", None, fake.now())))) == 3000
    assert time.monotonic() - started >= 0.9, "Retry-After was not honoured"
    assert fake.calls["query_more"] == 2, "the refused page was asked again"
    fake.fail_next(429, times=10)
    with pytest.raises(SourceRetry, match="kept rate-limiting query") as raised:
        list(connector.pull("leads", None, fake.now()))
    assert not isinstance(raised.value, SourceActionNeeded)


@pytest.mark.parametrize("cut", [False, True], ids=["not-json", "cut-short"])
def test_a_garbled_reply_is_asked_again_then_transient(fake: FakeSalesforce, cut: bool) -> None:
    fake.add_leads(3000)
    connector = connect(fake, bulk_threshold=None, retries=1)
    page = '{"totalSize": 3000, "done": false, "records": [{"attributes": {"type": "Lead"'
    body = page if cut else "<html><body>Bad gateway</body></html>"
    fake.fail_next(200, body=body, cut=cut, content_type="text/html", endpoint="query_more")
    assert len(ids_of(list(connector.pull("leads", None, fake.now())))) == 3000
    assert fake.calls["query_more"] == 2, "the garbled page was asked again"
    fake.fail_next(200, body=body, cut=cut, content_type="text/html", times=10)
    with pytest.raises(SourceRetry, match="garbled reply to query 2 times in a row"):
        list(connector.pull("leads", None, fake.now()))
    assert fake.calls["queryAll"] == 3


def test_timeouts_and_garbled_replies_are_transient(fake: FakeSalesforce) -> None:
    fake.add_leads(10)
    connector = connect(fake, timeout="0.3s", retries=0)
    fake.delay_next(1.0, endpoint="queryAll")
    with pytest.raises(SourceRetry, match="timed out"):
        list(connector.pull("leads", None, fake.now()))
    fake.fail_next(200, body="{not json", endpoint="queryAll")
    with pytest.raises(SourceRetry, match="garbled reply"):
        list(connector.pull("leads", None, fake.now()))


@pytest.mark.parametrize("flow", LOGIN_FLOWS)
def test_bad_credentials_need_a_person_and_stay_secret(
    fake: FakeSalesforce, flow: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = fake.settings(flow)
    wrong = "consumer_key" if flow == "client_credentials" else "username"
    auth = settings.auth.model_copy(update={wrong: "nobody@acme.example"})
    connector = SalesforceConnector("sf", settings.model_copy(update={"auth": auth}))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceActionNeeded, match="login failed") as raised:
        list(connector.pull("leads", None, fake.now()))
    checked = connector.check()
    assert checked[0].status is CheckStatus.FAIL
    for text in (str(raised.value), caplog.text, repr(checked), repr(settings)):
        assert PASSWORD not in text and SECURITY_TOKEN not in text


def test_without_the_ca_bundle_tls_fails_with_a_hint(fake: FakeSalesforce) -> None:
    connector = connect(fake, ca_bundle=None)
    with pytest.raises(SourceActionNeeded, match="ca_bundle"):
        list(connector.pull("leads", None, fake.now()))


def test_check_reports_login_objects_and_allowance(fake: FakeSalesforce) -> None:
    fake.set_api_usage(40_000, 100_000)
    results = {r.name: r for r in connect(fake, "jwt").check()}
    assert [r.status for r in results.values()] == [CheckStatus.OK] * 5
    assert "jwt" in results["sf: login"].detail
    assert "v59.0" in results["sf: API version"].detail
    assert "left (40% used; syncs stop at 80%)" in results["sf: API allowance"].detail


def test_check_still_reports_when_the_quota_guard_is_reached(fake: FakeSalesforce) -> None:
    fake.set_api_usage(85, 100)
    connector = connect(fake, "session_id")
    results = {r.name: r for r in connector.check()}
    assert results["sf: Lead"].status is CheckStatus.OK
    allowance = results["sf: API allowance"]
    assert (
        allowance.status is CheckStatus.WARN and "(86% used; syncs stop at 80%)" in allowance.detail
    )
    with pytest.raises(QuotaExhausted):
        list(connector.pull("leads", None, fake.now()))


def test_check_names_missing_and_mistyped_fields(fake: FakeSalesforce) -> None:
    fake.hide_field("Lead", "MQL_Date__c")
    connector = connect(fake, deal_fields={"amount": "StageName"}, api_version="56.0")
    results = {r.name: r for r in connector.check()}
    assert results["sf: API version"].status is CheckStatus.FAIL
    lead, deal = results["sf: Lead"], results["sf: Opportunity"]
    assert (
        lead.status is CheckStatus.FAIL
        and "fields.mql_at: Lead.MQL_Date__c does not exist" in lead.detail
    )
    assert (
        deal.status is CheckStatus.FAIL
        and "deal_fields.amount" in deal.detail
        and "picklist" in deal.detail
    )
    with pytest.raises(SourceActionNeeded, match="MQL_Date__c"):
        list(connector.pull("leads", None, fake.now()))


def test_field_names_are_read_back_in_salesforce_spelling(fake: FakeSalesforce) -> None:
    at = fake.now() - timedelta(days=2)
    fake.add("Lead", MQL_Date__c=at, Region__c="EMEA", SystemModstamp=at)
    connector = connect(fake, fields={"mql_at": "mql_date__c"}, segments={"region": "REGION__C"})
    [record] = [r for b in connector.pull("leads", None, fake.now()) for r in b.records]
    assert record.mql_at == at and record.segments == {"region": "EMEA"}


def test_leads_carry_owner_link_and_stage_times(fake: FakeSalesforce) -> None:
    at = fake.now() - timedelta(days=3)
    lead = fake.add(
        "Lead", MQL_Date__c=at, SQL_Date__c=at + timedelta(hours=5), OwnerId=fake.reps[1]
    )
    queued = fake.add("Lead", OwnerId=fake.queue)
    records = {
        r.crm_id: r for b in connect(fake).pull("leads", None, fake.now()) for r in b.records
    }
    assert (
        records[lead].owner_email == "bo@acme.example"
        and records[lead].owner_name == "Bo Lindqvist"
    )
    assert records[lead].mql_at == at and records[lead].sql_at == at + timedelta(hours=5)
    assert records[lead].url == f"{fake.url}/lightning/r/Lead/{lead}/view"
    assert records[queued].owner_id is None, "a queue is nobody's assignment"


def test_opportunities_become_deals(fake: FakeSalesforce) -> None:
    won = fake.add(
        "Opportunity", IsWon=True, IsClosed=True, CloseDate=fake.now().date(), Amount=50_000.0
    )
    fake.add("Opportunity", IsWon=False, Amount=9_000.0)
    batches = list(connect(fake).pull("opportunities", None, fake.now()))
    deals = {r.crm_id: r for b in batches for r in b.records}
    assert deals[won].kind == "deal" and deals[won].amount == 50_000.0
    assert deals[won].won_at == fake.now().replace(hour=12, minute=0)  # CloseDate, noon UTC
    assert [d.won_at is None for d in deals.values()].count(True) == 1


def test_first_touch_from_tasks_and_events(fake: FakeSalesforce) -> None:
    lead = fake.add("Lead")
    called = fake.now() - timedelta(hours=2)
    fake.add("Task", WhoId=lead, CompletedDateTime=called)
    fake.add("Task", WhoId=lead, IsClosed=False, Status="Open")
    fake.add("Event", WhoId=lead, StartDateTime=fake.now() - timedelta(hours=1))
    fake.add("Event", WhoId=lead, StartDateTime=fake.now() + timedelta(days=2))
    connector = connect(fake, fields={"first_touch_at": "activities"})
    assert connector.object_types == ("leads", "opportunities", "tasks", "events")
    tasks = [t for b in connector.pull("tasks", None, fake.now()) for t in b.touches]
    events = [t for b in connector.pull("events", None, fake.now()) for t in b.touches]
    assert [(t.object_type, t.crm_id, t.touched_at) for t in tasks] == [("leads", lead, called)]
    assert [t.touched_at for t in events] == [fake.now() - timedelta(hours=1)]


def test_an_unchanged_source_costs_one_call_per_object_type(fake: FakeSalesforce) -> None:
    fake.add_leads(50)
    connector = connect(fake, "session_id", look_back=None)
    cursor = list(connector.pull("leads", None, fake.now()))[-1].cursor
    before = fake.calls.copy()
    fake.advance(900)
    assert list(connector.pull("leads", cursor, fake.now())) == []
    assert fake.calls - before == {"queryAll": 1}


def test_soql_the_fake_does_not_speak_is_refused(fake: FakeSalesforce) -> None:
    connector = connect(fake, "session_id")
    with pytest.raises(SourceActionNeeded, match="MALFORMED_QUERY"):
        connector.client.call(
            "query", lambda sf: sf.query("SELECT COUNT() FROM Lead GROUP BY Status")
        )


# -- the compound cursor through the store ------------------------------------------


def test_the_look_back_writes_and_counts_no_row_it_already_holds(
    fake: FakeSalesforce, tmp_path: Any
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'sf.db'}")
    store.upgrade()
    bulk = fake.now() - timedelta(hours=1)  # a mass update gave 765 leads one SystemModstamp
    ids = fake.add_leads(765, [bulk] * 765)
    connector = connect(fake, bulk_threshold=None)

    def sync() -> tuple[Any, Any]:
        before = fake.calls.copy()
        result = sync_source(store, "sf", connector, fake.now)
        assert result.ok, result.error
        return result, fake.calls - before

    full, _ = sync()
    assert full.by_type["leads"] == 765
    for _ in range(3):  # the next syncs, every 30 s, with nothing changed
        fake.advance(30)
        unchanged, calls = sync()
        # The 2-minute look-back reads the 765 rows again (one query per
        # object type: they fit one page) but none is written or counted.
        assert calls == {"queryAll": 2}, "one query per object type"
        assert unchanged.records == 0, "re-wrote the rows of the cursor's instant"

    # A lead modified later is read once; a row committed late with a
    # SystemModstamp inside the look-back of the last sync is still found.
    fake.advance(30)
    fake.modify("Lead", ids[:1])
    changed, _ = sync()
    assert changed.by_type["leads"] == 1
    fake.advance(30)
    (late,) = fake.add_leads(1, [fake.now() - timedelta(seconds=60)])
    sync()
    assert late in {r.crm_id for r in found_records(store)}
    assert {r.crm_id for r in found_records(store)} == fake.live_ids("Lead")

    # Within the look-back of a mass update its rows are read again (the
    # query cannot tell them from rows committed late), but not written again.
    fake.advance(30)
    fake.modify("Lead", ids)
    assert sync()[0].by_type["leads"] == 765
    fake.advance(30)
    again, calls = sync()
    assert calls == {"queryAll": 2} and again.records == 0
    store.close()


def found_records(store: Store) -> list[Any]:
    with store.begin() as conn:
        return list(
            conn.execute(sa_select(records.c.crm_id).where(records.c.object_type == "leads")).all()
        )
