"""Connector registry: ``kind:`` → the package that implements it.

Packages are imported only when a source of that kind is configured, so a
HubSpot user never imports simple-salesforce. Each package exposes
``create(name, settings) -> Connector``.
"""

from __future__ import annotations

import importlib
from typing import Any

from monitor.errors import ConfigError
from monitor.interfaces import Connector

KINDS: dict[str, str] = {
    "demo": "connectors.demo",
    "hubspot": "connectors.hubspot",
    "salesforce": "connectors.salesforce",
}


def create(name: str, settings: Any) -> Connector:
    """Build the connector for source ``name`` from its validated settings."""
    kind = settings.kind
    if kind not in KINDS:
        raise ConfigError(
            f"sources.{name}.kind: unknown kind {kind!r} (valid: {', '.join(sorted(KINDS))})"
        )
    module = importlib.import_module(KINDS[kind])
    connector: Connector = module.create(name, settings)
    return connector
