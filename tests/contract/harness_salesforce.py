"""Harness for the connector contract suite: the Salesforce connector, with
the real client library, over HTTPS to the fake org in tests/fakes."""

from __future__ import annotations

from datetime import datetime, timedelta

from connectors.registry import create
from monitor.interfaces import Connector
from tests.fakes.salesforce import FakeSalesforce


class SalesforceHarness:
    name = "salesforce"
    person_type = "leads"

    def __init__(self) -> None:
        self.fake = FakeSalesforce().start()

    def connector(self) -> Connector:
        # Small pages, so the suite's few hundred records span several.
        return create("sf", self.fake.settings("oauth_password", page_size=500))

    def seed(self, n: int) -> None:
        """n leads modified over the last n seconds; a third of them share
        one instant, as after a mass update; some have reached MQL."""
        now = self.fake.now()
        shared = now - timedelta(seconds=n + 1)
        rows = []
        for i in range(n):
            at = shared if i % 3 == 0 else now - timedelta(seconds=n - i)
            rows.append({"SystemModstamp": at, "MQL_Date__c": at if i % 5 == 0 else None})
        self.fake.add_many("Lead", rows)

    def modify(self, ids: list[str]) -> None:
        self.fake.modify("Lead", ids, Status="Working")

    def delete(self, ids: list[str]) -> None:
        self.fake.delete("Lead", ids)

    def live_ids(self, object_type: str) -> set[str]:
        sobject = {"leads": "Lead", "opportunities": "Opportunity"}[object_type]
        return self.fake.live_ids(sobject)

    def now(self) -> datetime:
        return self.fake.now()

    def advance(self, seconds: float) -> None:
        self.fake.advance(seconds)

    def close(self) -> None:
        self.fake.close()
