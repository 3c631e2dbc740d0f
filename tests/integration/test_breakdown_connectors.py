"""A goal's breakdown properties are fetched like segments, through the
real client libraries over HTTP to the CRM fakes: named in ``breakdown``
or ``marketing_sources`` and not a segment of the source, the property of
that name is read and copied onto each record (HubSpot contacts,
Salesforce leads), and ``check`` verifies it exists."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from connectors.registry import create
from monitor.config.file import Config
from monitor.interfaces import CheckStatus
from tests.fakes.hubspot import ANALYTICS_SOURCES, FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce


def config(source: Any, **goal: Any) -> Config:
    return Config.model_validate(
        {
            "sources": {"crm": source},
            "goals": [{"name": "q", "source": "crm", "closes": 10, **goal}],
        }
    )


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as server:
        yield server


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as server:
        yield server


def hubspot_source(fake: FakeHubSpot) -> dict[str, Any]:
    return {
        "kind": "hubspot",
        "token": fake.token,
        "api_url": fake.url,
        "requests_per_second": 100,
        "segments": {"region": "hs_region"},
        "timeout": timedelta(seconds=5),
    }


def test_hubspot_contacts_carry_the_breakdown_property(hubspot: FakeHubSpot) -> None:
    hubspot.seed_records("contacts", 40)
    chosen = config(hubspot_source(hubspot), breakdown=["hs_analytics_source"])
    assert "hs_analytics_source" not in chosen.sources["crm"].segments  # as written
    connector = create("crm", chosen.source_settings("crm"))
    contacts = [r for b in connector.pull("contacts", None, hubspot.now) for r in b.records]
    assert contacts
    assert {r.segments["hs_analytics_source"] for r in contacts} == set(ANALYTICS_SOURCES)
    assert all(r.segments["region"] for r in contacts)


def test_hubspot_without_a_breakdown_reads_no_extra_property(hubspot: FakeHubSpot) -> None:
    hubspot.seed_records("contacts", 10)
    connector = create("crm", config(hubspot_source(hubspot)).source_settings("crm"))
    contacts = [r for b in connector.pull("contacts", None, hubspot.now) for r in b.records]
    assert contacts and all(set(r.segments) == {"region"} for r in contacts)


def test_hubspot_check_reports_a_breakdown_property_the_portal_lacks(
    hubspot: FakeHubSpot,
) -> None:
    chosen = config(
        hubspot_source(hubspot),
        marketing_sources={"property": "lead_channel", "values": ["paid"]},
    )
    results = create("crm", chosen.source_settings("crm")).check()
    failed = [r.detail for r in results if r.status is not CheckStatus.OK]
    assert any("'lead_channel' (sources.crm.segments.lead_channel)" in d for d in failed)


def test_salesforce_leads_carry_the_breakdown_property(salesforce: FakeSalesforce) -> None:
    at = salesforce.now() - timedelta(days=2)
    salesforce.add("Lead", LeadSource="Web", SystemModstamp=at)
    salesforce.add("Lead", LeadSource="Paid Social", SystemModstamp=at)
    salesforce.add("Lead", SystemModstamp=at)
    chosen = config(
        salesforce.settings(),
        breakdown=["LeadSource"],
        marketing_sources={"property": "LeadSource", "values": ["Web", "Paid Social"]},
        marketing_share=0.5,
    )
    connector = create("crm", chosen.source_settings("crm"))
    leads = [r for b in connector.pull("leads", None, salesforce.now()) for r in b.records]
    assert sorted(r.segments.get("LeadSource", "") for r in leads) == ["", "Paid Social", "Web"]
