"""Harness for the connector contract suite: the demo connector over an
in-memory DemoCRM that starts empty, on a clock the test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.demo.connector import DemoConnector, DemoCRM
from connectors.demo.settings import DemoSource
from monitor.interfaces import Connector, FunnelRecord


class DemoHarness:
    name = "demo"
    person_type = "persons"

    def __init__(self) -> None:
        self._now = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
        self._created = 0
        self.crm = DemoCRM(clock=self.now)

    def connector(self) -> Connector:
        return DemoConnector("demo", DemoSource(kind="demo"), crm=self.crm, clock=self.now)

    def seed(self, n: int) -> None:
        """n persons modified over the last n seconds; a third of them share
        one instant, as after a bulk update."""
        shared = self._now - timedelta(seconds=n + 1)
        records = []
        for i in range(n):
            number = self._created + i
            at = shared if i % 3 == 0 else self._now - timedelta(seconds=n - i)
            records.append(
                FunnelRecord(
                    object_type="persons",
                    crm_id=f"S{number:06d}",
                    modified_at=at,
                    lead_at=at,
                    name=f"Seeded Person {number}, Example Co",
                    segments={"region": "NA", "icp_tier": "2"},
                )
            )
        self._created += n
        self.crm.add(records)

    def modify(self, ids: list[str]) -> None:
        self.crm.modify(ids, self._now)

    def delete(self, ids: list[str]) -> None:
        self.crm.delete(ids, self._now)

    def live_ids(self, object_type: str) -> set[str]:
        return {r.crm_id for r in self.crm.records(object_type) if not r.deleted}

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def close(self) -> None:
        """Nothing runs in the background."""
