"""A sync reports how far it is, of the total the CRM gives, from the first
page on (monitor/sync.py and each connector's ``Batch.total``), over real
HTTP to the HubSpot and Salesforce fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.demo.settings import DemoSource
from connectors.hubspot.settings import HubSpotSource
from connectors.registry import create
from monitor.interfaces import Clock, Connector, utc_now
from monitor.store import Store
from monitor.sync import sync_source
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce

#: (records seen so far, the total reported with them)
Report = tuple[int, int | None]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'progress.db'}")
    store.upgrade()
    yield store
    store.close()


def reports_of(store: Store, connector: Connector, clock: Clock) -> dict[str, list[Report]]:
    reports: dict[str, list[Report]] = {}

    def progress(object_type: str, seen: int, total: int | None) -> None:
        reports.setdefault(object_type, []).append((seen, total))

    result = sync_source(store, "crm", connector, clock, progress=progress)
    assert result.ok, result.error
    return reports


def assert_counts_up_to(reports: list[Report], total: int) -> None:
    """The total is known from the first page on, the count rises page by
    page, and the last report is the whole pull."""
    assert len(reports) >= 3
    assert all(t == total for _, t in reports)
    seen = [s for s, _ in reports]
    assert seen == sorted(seen) and seen[0] < total
    assert reports[-1] == (total, total)


def test_hubspot_progress_reaches_the_search_total(store: Store) -> None:
    with FakeHubSpot() as fake:
        fake.seed_records("contacts", 450)
        fake.seed_records("deals", 30)
        settings = HubSpotSource(
            kind="hubspot",
            token=fake.token,
            api_url=fake.url,
            portal_id=fake.portal_id,
            requests_per_second=100,
            timeout=timedelta(seconds=2),
        )
        reports = reports_of(store, create("crm", settings), lambda: fake.now)
    assert_counts_up_to(reports["contacts"], 450)
    assert reports["deals"][-1] == (30, 30)


def test_salesforce_progress_reaches_the_query_total_size(store: Store) -> None:
    with FakeSalesforce() as fake:
        fake.add_leads(1_000)
        connector = create("crm", fake.settings(page_size=200, bulk_threshold=None))
        reports = reports_of(store, connector, fake.now)
    assert_counts_up_to(reports["leads"], 1_000)


def test_the_demo_knows_its_count_from_the_first_page(store: Store) -> None:
    reports = reports_of(store, create("crm", DemoSource(kind="demo", months=2)), utc_now)
    persons = reports["persons"]
    assert persons[0][1] == persons[-1][0] > persons[0][0]
