"""Closed records from the CRM connectors, through the real client
libraries over HTTP to the fake HubSpot and Salesforce: disqualified
persons and lost deals are stored with ``closed_at``, so the source reports
closures and its stalled SQLs are judged; a person closed and then moved on
is not closed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from connectors.hubspot.settings import HubSpotSource
from connectors.registry import create
from monitor.config.file import Config
from monitor.evaluate import evaluate
from monitor.interfaces import CheckStatus
from monitor.store import Store
from monitor.store.schema import records
from monitor.sync import sync_source
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
STALLS = {"beyond": 20, "min_records": 5}


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def stored_closures(store: Store, source: str) -> dict[str, datetime | None]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.crm_id, records.c.closed_at).where(records.c.source == source)
        )
        return {crm_id: closed_at for crm_id, closed_at in rows}


def judged_sql(store: Store, source: str) -> tuple[int, int, list[str]]:
    """Open and stalled SQLs of a goal on ``source``, and its stall findings."""
    goal = {"name": "q", "source": source, "closes": 20, "stalls": STALLS}
    config = Config.model_validate(
        {"timezone": "UTC", "sources": {source: {"kind": "demo"}}, "goals": [goal]}
    )
    judged = evaluate(config, store, NOW, waiting={})
    (stage,) = [s for s in judged.stalls["q"] if s.stage == "sql"]
    return (
        stage.open,
        stage.stalled,
        [f.fingerprint for f in judged.findings if f.rule == "stalled"],
    )


# -- HubSpot ------------------------------------------------------------------


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(now=NOW) as server:
        yield server


def hubspot_contact(fake: FakeHubSpot, sql_days: float, modified_days: float, **props: str) -> str:
    (rid,) = fake.add("contacts", [days_ago(modified_days)], generated=False)
    sql = days_ago(sql_days)
    stages = {
        "lifecyclestage": "salesqualifiedlead",
        "hs_v2_date_entered_lead": (sql - timedelta(days=10)).isoformat(),
        "hs_v2_date_entered_marketingqualifiedlead": (sql - timedelta(days=5)).isoformat(),
        "hs_v2_date_entered_salesqualifiedlead": sql.isoformat(),
    }
    fake.set_props("contacts", rid, **stages | props)
    return rid


def test_hubspot_disqualified_contacts_and_lost_deals_are_closed(
    hubspot: FakeHubSpot, store: Store
) -> None:
    stalled = [hubspot_contact(hubspot, 30 + 5 * i, 1) for i in range(8)]
    young = [hubspot_contact(hubspot, 5, 1) for _ in range(2)]
    closed = [hubspot_contact(hubspot, 60, 10, hs_lead_status="UNQUALIFIED") for _ in range(3)]
    working = hubspot_contact(hubspot, 40, 1, hs_lead_status="IN_PROGRESS")
    customer = hubspot_contact(
        hubspot,
        60,
        2,
        hs_lead_status="UNQUALIFIED",
        lifecyclestage="customer",
        hs_v2_date_entered_customer=days_ago(3).isoformat(),
    )
    lost, won, open_deal = hubspot.add("deals", [days_ago(4)] * 3, generated=False)
    deal = {"hs_is_closed": "true", "closedate": days_ago(6).isoformat()}
    hubspot.set_props("deals", lost, hs_is_closed_won="false", **deal)
    hubspot.set_props("deals", won, hs_is_closed_won="true", **deal)
    hubspot.set_props("deals", open_deal, hs_is_closed="false", hs_is_closed_won="false")
    settings = HubSpotSource(
        kind="hubspot", token=hubspot.token, api_url=hubspot.url, requests_per_second=100
    )

    result = sync_source(store, "hs", create("hs", settings), lambda: hubspot.now)

    assert result.ok, result
    got = stored_closures(store, "hs")
    assert {rid: got[rid] for rid in closed} == dict.fromkeys(closed, days_ago(10))
    assert all(got[rid] is None for rid in [*stalled, *young, working, customer])
    assert (got[lost], got[won], got[open_deal]) == (days_ago(6), None, None)
    assert store.reports_closures("hs")
    assert judged_sql(store, "hs") == (11, 9, ["stalled/q/sql"])


# -- Salesforce ---------------------------------------------------------------


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(start=NOW) as server:
        yield server


def salesforce_lead(
    fake: FakeSalesforce, sql_days: float, modified_days: float, **fields: Any
) -> str:
    sql = days_ago(sql_days)
    return fake.add(
        "Lead",
        CreatedDate=sql - timedelta(days=10),
        MQL_Date__c=sql - timedelta(days=5),
        SQL_Date__c=sql,
        SystemModstamp=days_ago(modified_days),
        **fields,
    )


def test_salesforce_closed_leads_and_lost_opportunities_are_closed(
    salesforce: FakeSalesforce, store: Store
) -> None:
    shut = "Closed - Not Converted"
    stalled = [salesforce_lead(salesforce, 30 + 5 * i, 1) for i in range(8)]
    young = [salesforce_lead(salesforce, 5, 1) for _ in range(2)]
    closed = [salesforce_lead(salesforce, 60, 10, Status=shut) for _ in range(3)]
    working = salesforce_lead(salesforce, 40, 1, Status="Working - Contacted")
    deal: dict[str, Any] = {"IsClosed": True, "CloseDate": days_ago(6).date()}
    deal["SystemModstamp"] = days_ago(4)
    lost = salesforce.add("Opportunity", IsWon=False, **deal)
    won = salesforce.add("Opportunity", IsWon=True, StageName="Closed Won", **deal)
    # Closed, then converted into the won opportunity after all.
    converted = salesforce_lead(
        salesforce, 60, 2, Status=shut, IsConverted=True, ConvertedOpportunityId=won
    )
    open_deal = salesforce.add("Opportunity", SystemModstamp=days_ago(4))

    result = sync_source(store, "sf", create("sf", salesforce.settings()), salesforce.now)

    assert result.ok, result
    got = stored_closures(store, "sf")
    assert {rid: got[rid] for rid in closed} == dict.fromkeys(closed, days_ago(10))
    assert all(got[rid] is None for rid in [*stalled, *young, working, converted])
    noon = datetime.combine(days_ago(6).date(), datetime.min.time(), UTC) + timedelta(hours=12)
    assert (got[lost], got[won], got[open_deal]) == (noon, None, None)
    assert store.reports_closures("sf")
    assert judged_sql(store, "sf") == (11, 9, ["stalled/q/sql"])


def test_salesforce_without_is_converted_closes_no_lead(
    salesforce: FakeSalesforce, store: Store
) -> None:
    salesforce.hide_field("Lead", "IsConverted")
    closed = salesforce_lead(salesforce, 60, 10, Status="Closed - Not Converted")

    result = sync_source(store, "sf", create("sf", salesforce.settings()), salesforce.now)

    assert result.ok, result
    assert stored_closures(store, "sf")[closed] is None


def test_a_portal_without_the_closed_properties_closes_nothing(
    hubspot: FakeHubSpot, store: Store
) -> None:
    hubspot.remove_property("contacts", "hs_lead_status")
    hubspot.remove_property("deals", "hs_is_closed")
    contact = hubspot_contact(hubspot, 60, 10, hs_lead_status="UNQUALIFIED")
    (deal,) = hubspot.add("deals", [days_ago(4)], generated=False)
    hubspot.set_props("deals", deal, hs_is_closed="true", hs_is_closed_won="false")
    connector = create(
        "hs", HubSpotSource(kind="hubspot", token=hubspot.token, api_url=hubspot.url)
    )

    warnings = [r.detail for r in connector.check() if r.status is CheckStatus.WARN]
    assert "deals property 'hs_is_closed' does not exist in the portal: left out" in warnings
    assert any("'hs_lead_status' (sources.hs.closed_lead_statuses)" in w for w in warnings)
    assert sync_source(store, "hs", connector, lambda: hubspot.now).ok
    assert stored_closures(store, "hs") == {contact: None, deal: None}
    assert not store.reports_closures("hs")
