"""Harness for the connector contract suite: the HubSpot connector over real
HTTP against the fake HubSpot (tests/fakes/hubspot.py), whose clock the test
moves by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from connectors.hubspot.settings import HubSpotSource
from connectors.registry import create
from monitor.interfaces import Connector
from tests.fakes.hubspot import FakeHubSpot


class HubSpotHarness:
    name = "hubspot"
    person_type = "contacts"

    def __init__(self) -> None:
        self.fake = FakeHubSpot(seed=11)
        self._connectors: list[Connector] = []

    def connector(self) -> Connector:
        settings = HubSpotSource(
            kind="hubspot",
            token=self.fake.token,
            api_url=self.fake.url,
            portal_id=self.fake.portal_id,
            requests_per_second=100,
            segments={"region": "hs_region", "icp_tier": "icp_tier"},
            timeout=timedelta(seconds=2),
            retry_backoff=timedelta(milliseconds=50),
        )
        connector = create("hubspot", settings)
        self._connectors.append(connector)
        return connector

    def seed(self, n: int) -> None:
        """n contacts modified one every 10 s up to now; a third of them
        share one instant, as after a bulk update."""
        self.fake.seed_records("contacts", n, shared=n // 3)

    def modify(self, ids: list[str]) -> None:
        self.fake.modify("contacts", ids)

    def delete(self, ids: list[str]) -> None:
        self.fake.archive("contacts", ids)

    def live_ids(self, object_type: str) -> set[str]:
        return self.fake.live_ids(object_type)

    def now(self) -> datetime:
        return self.fake.now

    def advance(self, seconds: float) -> None:
        self.fake.advance(seconds)

    def close(self) -> None:
        for connector in self._connectors:
            connector.close()
        self.fake.close()
