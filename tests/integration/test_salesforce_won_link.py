"""Salesforce leads carry the won date of the opportunity they were
converted into (Lead.ConvertedOpportunityId), so the SQL→won cohorts have
conversions to learn from — on a full sync, and on an incremental one when
the opportunity is won, reopened or deleted after its lead was synced.
Through the real client over HTTPS to the fake org, into the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from connectors.salesforce.connector import SalesforceConnector
from monitor.config.models import AutoRateSettings
from monitor.facts import FactsQuery, FunnelFacts
from monitor.interfaces import Batch, Cursor
from monitor.judge.periods import period_for
from monitor.store import Store
from monitor.store.schema import records
from monitor.sync import SyncResult, sync_source
from tests.fakes.salesforce import FakeSalesforce

UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        yield server


def connect(fake: FakeSalesforce, **settings: Any) -> SalesforceConnector:
    return SalesforceConnector("sf", fake.settings("oauth_password", **settings))


def opportunity(fake: FakeSalesforce, at: datetime, won: date | None = None) -> str:
    fields: dict[str, Any] = {"SystemModstamp": at, "CreatedDate": at, "Amount": 10_000.0}
    if won is not None:
        fields |= {"IsWon": True, "IsClosed": True, "StageName": "Closed Won", "CloseDate": won}
    return fake.add("Opportunity", **fields)


def sql_lead(fake: FakeSalesforce, at: datetime, converted_into: str | None = None) -> str:
    """A lead that reached SQL at ``at``, converted into an opportunity then."""
    fields: dict[str, Any] = {
        "SystemModstamp": at,
        "CreatedDate": at - timedelta(days=10),
        "MQL_Date__c": at - timedelta(days=5),
        "SQL_Date__c": at,
    }
    if converted_into is not None:
        fields |= {
            "IsConverted": True,
            "ConvertedDate": at.date(),
            "ConvertedOpportunityId": converted_into,
            "Status": "Qualified",
        }
    return fake.add("Lead", **fields)


def win(fake: FakeSalesforce, ids: list[str], day: date, at: datetime | None = None) -> None:
    """Close the opportunities won, which leaves their leads untouched."""
    fake.modify(
        "Opportunity", ids, at, IsWon=True, IsClosed=True, StageName="Closed Won", CloseDate=day
    )


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def sync(store: Store, connector: SalesforceConnector, fake: FakeSalesforce) -> SyncResult:
    result = sync_source(store, "sf", connector, fake.now)
    assert result.ok, result.error
    return result


def won_at(store: Store, lead: str) -> datetime | None:
    with store.begin() as conn:
        row = conn.execute(
            select(records.c.won_at).where(
                records.c.object_type == "leads", records.c.crm_id == lead
            )
        ).one()
    return row.won_at


def facts(store: Store, as_of: datetime) -> FunnelFacts:
    auto = AutoRateSettings(window_days=180, min_sample=1)
    period = period_for("month", as_of, UTC_ZONE)
    return store.funnel_facts(FactsQuery("sf", {}, period, as_of, UTC_ZONE, auto, 14))


def test_a_converted_lead_carries_its_won_opportunitys_close_date(fake: FakeSalesforce) -> None:
    at = fake.now() - timedelta(days=20)
    won, still_open = opportunity(fake, at, won=date(2024, 2, 25)), opportunity(fake, at)
    gone = opportunity(fake, at, won=date(2024, 2, 26))
    fake.delete("Opportunity", [gone])
    leads = {
        name: sql_lead(fake, at, opp)
        for name, opp in (("won", won), ("open", still_open), ("gone", gone), ("none", None))
    }
    batches = list(connect(fake).pull("leads", None, fake.now()))
    by_id = {r.crm_id: r for b in batches for r in b.records}
    assert by_id[leads["won"]].won_at == noon(date(2024, 2, 25)), "CloseDate, as on its deal"
    assert [by_id[leads[n]].won_at for n in ("open", "gone", "none")] == [None] * 3
    assert fake.calls["queryAll"] == 1 and fake.calls["query_more"] == 0, "no call of its own"


def test_an_opportunity_won_after_its_lead_was_synced_gives_the_lead_its_won_date(
    fake: FakeSalesforce, store: Store
) -> None:
    at = fake.now() - timedelta(days=30)
    opp = opportunity(fake, at)
    lead, unconverted = sql_lead(fake, at, opp), sql_lead(fake, at)
    connector = connect(fake)
    sync(store, connector, fake)
    assert fake.calls["queryAll"] == 2, "a full sync reads won dates with the leads"
    assert won_at(store, lead) is None
    assert "sql_to_won" not in facts(store, fake.now()).tables, "no person carries a won date"

    fake.advance(3600)
    win(fake, [opp], date(2024, 2, 29))
    before = fake.calls.copy()
    sync(store, connector, fake)
    assert fake.calls - before == {"queryAll": 3}, "leads, opportunities, their converted leads"
    assert won_at(store, lead) == noon(date(2024, 2, 29))
    assert won_at(store, unconverted) is None
    table = facts(store, fake.now()).tables["sql_to_won"]
    assert sum(table.entered.values()) == 2 and sum(table.converted.values()) == 1

    fake.advance(3600)  # reopened: the deal left the won count, the lead follows
    fake.modify("Opportunity", [opp], IsWon=False, IsClosed=False, StageName="Negotiation")
    sync(store, connector, fake)
    assert won_at(store, lead) is None
    assert "sql_to_won" not in facts(store, fake.now()).tables, "no person is won any more"

    fake.advance(3600)  # won again, then deleted: found by id in the Recycle Bin
    win(fake, [opp], date(2024, 3, 1))
    sync(store, connector, fake)
    assert won_at(store, lead) == noon(date(2024, 3, 1))
    fake.advance(3600)
    fake.delete("Opportunity", [opp])
    sync(store, connector, fake)
    assert won_at(store, lead) is None
    assert store.record_count("sf") == 2, "the two leads; the deal is gone"


def test_a_sync_in_which_no_opportunity_changed_costs_no_extra_call(
    fake: FakeSalesforce, store: Store
) -> None:
    at = fake.now() - timedelta(days=30)
    sql_lead(fake, at, opportunity(fake, at, won=date(2024, 2, 20)))
    connector = connect(fake)
    sync(store, connector, fake)
    fake.advance(900)
    sql_lead(fake, fake.now() - timedelta(seconds=5))  # a lead changed, no opportunity did
    before = fake.calls.copy()
    sync(store, connector, fake)
    assert fake.calls - before == {"queryAll": 2}


def test_the_look_back_rereads_a_late_change_and_skips_what_it_already_followed(
    fake: FakeSalesforce, store: Store
) -> None:
    """The last opportunities of every sync come back in the look-back: their
    leads are read again only when the opportunity changed since this
    connector followed it in a batch the cursor moved past (after a restart:
    until the cursor moves on)."""
    at = fake.now() - timedelta(seconds=30)
    first, last = opportunity(fake, at), opportunity(fake, at + timedelta(seconds=10))
    lead = sql_lead(fake, fake.now() - timedelta(days=3), first)
    sql_lead(fake, fake.now() - timedelta(days=3), last)
    connector = connect(fake)  # a two-minute look-back
    sync(store, connector, fake)
    fake.advance(900)

    def extra_calls() -> int:
        before = fake.calls.copy()
        sync(store, connector, fake)
        fake.advance(900)
        return (fake.calls - before)["queryAll"] - 2

    assert extra_calls() == 0
    cursor = store.cursor("sf", "opportunities")
    assert cursor is not None and cursor.crm_id == last
    # A change committed late, its SystemModstamp behind the cursor.
    win(fake, [first], date(2024, 3, 1), cursor.modified_at - timedelta(seconds=5))
    assert extra_calls() == 1
    assert won_at(store, lead) == noon(date(2024, 3, 1))
    connector = connect(fake)  # a restart
    assert extra_calls() == 1
    win(fake, [last], date(2024, 3, 1))  # the cursor moves on past both
    assert extra_calls() == 1
    assert extra_calls() == 0


def leads_by_opportunity(fake: FakeSalesforce, count: int, at: datetime) -> dict[str, str]:
    """``count`` open opportunities, each with the lead converted into it."""
    opportunities = [opportunity(fake, at) for _ in range(count)]
    return {opp: sql_lead(fake, at, opp) for opp in opportunities}


def win_one_a_second(fake: FakeSalesforce, opportunities: list[str]) -> None:
    start = fake.now()
    for i, opp in enumerate(opportunities):
        win(fake, [opp], date(2024, 2, 29), start + timedelta(seconds=i))
    fake.advance(len(opportunities) + 60)


def synced_cursor(connector: SalesforceConnector, fake: FakeSalesforce) -> Cursor:
    until = fake.now()
    list(connector.pull("leads", None, until))
    batches = list(connector.pull("opportunities", None, until))
    cursor = batches[-1].cursor
    assert cursor is not None
    fake.advance(60)
    assert list(connector.pull("leads", Cursor(until), fake.now())) == []
    return cursor


def test_each_batch_of_opportunities_carries_the_leads_converted_into_them(
    fake: FakeSalesforce,
) -> None:
    """A page of opportunities and the leads it moves are committed with one
    cursor: a sync killed between pages loses neither."""
    leads = leads_by_opportunity(fake, 450, fake.now() - timedelta(days=10))
    connector = connect(fake, page_size=200, look_back=None)
    cursor = synced_cursor(connector, fake)
    win_one_a_second(fake, list(leads))
    before = fake.calls.copy()
    batches = list(connector.pull("opportunities", cursor, fake.now()))
    assert [len(b.records) for b in batches] == [400, 400, 100]
    for batch in batches:
        opportunities = {r.crm_id for r in batch.records if r.object_type == "opportunities"}
        moved = [r for r in batch.records if r.object_type == "leads"]
        assert {r.crm_id for r in moved} == {leads[o] for o in opportunities}
        assert all(r.won_at == noon(date(2024, 2, 29)) for r in moved)
        assert batch.cursor is not None
    assert fake.calls - before == {"queryAll": 1 + 3, "query_more": 2}, "one query a page"


def test_opportunities_read_in_bulk_carry_their_leads_in_the_last_batch(
    fake: FakeSalesforce,
) -> None:
    leads = leads_by_opportunity(fake, 450, fake.now() - timedelta(days=10))
    connector = connect(fake, page_size=200, look_back=None, bulk_threshold=0)
    cursor = synced_cursor(connector, fake)
    win_one_a_second(fake, list(leads))
    before = fake.calls.copy()
    batches: list[Batch] = list(connector.pull("opportunities", cursor, fake.now()))
    assert [b.cursor is not None for b in batches] == [True, True]
    moved = {r.crm_id: r for b in batches for r in b.records if r.object_type == "leads"}
    assert set(moved) == set(leads.values())
    assert all(r.won_at == noon(date(2024, 2, 29)) for r in moved.values())
    assert fake.calls["bulk_create"] - before["bulk_create"] == 1
    assert fake.calls["queryAll"] - before["queryAll"] == 1 + 2, "the REST page, one per batch"


def test_a_first_sync_resumed_after_its_leads_still_links_them(
    fake: FakeSalesforce, store: Store
) -> None:
    at = fake.now() - timedelta(days=30)
    opp = opportunity(fake, at)
    lead = sql_lead(fake, at, opp)
    stopped = sync_source(store, "sf", connect(fake), fake.now, stop=lambda: True)
    assert stopped.interrupted and store.cursor("sf", "opportunities") is None
    fake.advance(600)
    win(fake, [opp], date(2024, 2, 29))  # won before the opportunities were ever read
    sync(store, connect(fake), fake)  # a new process: the leads read earlier are not whole
    assert won_at(store, lead) == noon(date(2024, 2, 29))
