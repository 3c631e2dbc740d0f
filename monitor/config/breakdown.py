"""A goal's breakdown by CRM property, and which sources are marketing's
(docs/design.md, "Breakdown by property").

Both name CRM properties the connector copies onto each record the way it
copies segment properties: a name that is not a segment attribute of the
goal's source is read as the CRM property of the same name.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from monitor.config.types import StrictModel

#: How many properties one goal may be broken down by: each is a table in
#: ``status`` and a query per evaluation.
MAX_BREAKDOWN = 5


class MarketingSources(StrictModel):
    """Which values of which property make a lead marketing's: its won
    revenue is marketing's revenue line."""

    property: str = Field(min_length=1, max_length=100)
    """The segment attribute or CRM property that says where a lead came from, e.g. lead_source."""
    values: tuple[str, ...] = Field(min_length=1)
    """The values of that property that are marketing's, e.g. [paid_social, webinar, seo]."""


def breakdown_properties(breakdown: Iterable[str], marketing: MarketingSources | None) -> list[str]:
    """Every property a goal's breakdown and marketing line read, each once."""
    names = list(breakdown)
    if marketing is not None:
        names.append(marketing.property)
    return list(dict.fromkeys(names))
