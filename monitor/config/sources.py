"""The part of a source's config every kind shares. Each connector declares
its own model (``connectors/<kind>/settings.py``) on top of this one, tagged
by ``kind``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Self

from pydantic import Field

from monitor.config.types import Duration, StrictModel


class SourceBase(StrictModel):
    """``every``: sync interval. ``segments``: segment attribute ← CRM
    property, e.g. ``{region: hs_region}``; the connector copies those
    properties onto each record so goals and SLA rules can filter on them.
    ``stale_after``: how many sync intervals without a successful sync make
    the source's data stale."""

    every: Duration = timedelta(minutes=15)
    """Sync interval, e.g. 15m."""
    segments: dict[str, str] = Field(default_factory=dict)
    """Segment attribute <- CRM property, e.g. {region: hs_region}; goals and SLA rules filter on these."""
    stale_after: int = Field(default=3, ge=1)
    """Sync intervals without a successful sync after which the source's data counts as stale."""

    def reading(self, properties: Iterable[str]) -> Self:
        """These settings, also copying ``properties`` onto each record: a
        name that is not already a segment attribute is read as the CRM
        property of the same name (a goal's ``breakdown``)."""
        missing = {p: p for p in properties if p not in self.segments}
        if not missing:
            return self
        return self.model_copy(update={"segments": {**self.segments, **missing}})
