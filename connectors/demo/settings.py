"""Config of the built-in demo CRM (``kind: demo``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Self

from pydantic import Field, field_validator

from monitor.config.sources import SourceBase
from monitor.config.types import TimeZoneName

#: The segment properties every demo record carries.
DEMO_PROPERTIES = ("region", "icp_tier", "lead_source")


class DemoSource(SourceBase):
    """A generated, deterministic CRM history: same seed, same history.

    ``timezone`` is the demo company's local time: when its leads arrive,
    when its reps work, where its quarters begin. ``segments`` may rename the
    demo's properties (``{territory: region}``); by default all come through
    under their own names.
    """

    kind: Literal["demo"]
    """demo: a generated CRM history, for trying alignmon without a CRM."""
    seed: int = 7
    """Random seed: the same seed gives the same history."""
    months: int = Field(default=9, ge=1, le=36)
    """Months of history to generate, up to now."""
    crm_url: str = "https://crm.example.com"
    """Base URL of the record links in messages."""
    timezone: TimeZoneName = "America/New_York"
    """The demo company's local time zone."""

    @field_validator("segments")
    @classmethod
    def _known_properties(cls, value: dict[str, str]) -> dict[str, str]:
        for attr, prop in value.items():
            if prop not in DEMO_PROPERTIES:
                valid = ", ".join(DEMO_PROPERTIES)
                raise ValueError(f"segment {attr!r}: the demo has no property {prop!r} ({valid})")
        return value

    def reading(self, properties: Iterable[str]) -> Self:
        """Without ``segments`` the demo already copies every property it has."""
        return super().reading(properties) if self.segments else self
