"""Config of the built-in demo CRM (``kind: demo``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.config.sources import SourceBase


class DemoSource(SourceBase):
    """A generated, deterministic CRM history: same seed, same history."""

    kind: Literal["demo"]
    seed: int = 7
    months: int = Field(default=9, ge=1, le=36)
    crm_url: str = "https://crm.example.com"
