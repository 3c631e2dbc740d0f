"""Config of a Salesforce source (``kind: salesforce``): login flows, field
map and quota guard."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.config.sources import SourceBase
from monitor.config.types import Secret, StrictModel


class SalesforceAuth(StrictModel):
    """One of: ``session_id``; ``username`` + ``password`` (+ ``security_token``);
    ``username`` + ``consumer_key`` + ``private_key_file`` (JWT bearer);
    ``consumer_key`` + ``consumer_secret`` (client credentials)."""

    session_id: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    security_token: Secret | None = None
    consumer_key: str | None = None
    consumer_secret: Secret | None = None
    private_key_file: str | None = None
    domain: str | None = None


class SalesforceSource(SourceBase):
    kind: Literal["salesforce"]
    instance_url: str
    auth: SalesforceAuth
    api_version: str = "59.0"
    fields: dict[str, str] = Field(default_factory=dict)
    ca_bundle: str | None = None
    quota_guard: float = Field(default=0.8, gt=0, le=1)
