"""Config of a HubSpot source (``kind: hubspot``): endpoints, property names
and their defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.config.sources import SourceBase
from monitor.config.types import Secret

DEFAULT_API_URL = "https://api.hubapi.com"


class HubSpotSource(SourceBase):
    kind: Literal["hubspot"]
    token: Secret
    api_url: str = DEFAULT_API_URL
    portal_id: int | None = None
    requests_per_second: float = Field(default=4.0, gt=0, le=100)
