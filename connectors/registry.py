"""The connector registry: every CRM alignmon can read, in one table.

A ``kind:`` maps to its settings model (the config's ``sources`` union is
built from these), the connector class that implements it (imported only
when a source of that kind is created, so a HubSpot user never imports
simple-salesforce), and the vendor library's logger names (quiet unless the
user asks for DEBUG). Adding a CRM is one folder under ``connectors/`` and
one entry here.

Only settings modules are imported at module level: they are light, and the
config needs them to validate a file.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from connectors.demo.settings import DemoSource
from connectors.hubspot.settings import HubSpotSource
from connectors.salesforce.settings import SalesforceSource
from monitor.config.sources import SourceBase
from monitor.errors import ConfigError
from monitor.interfaces import Connector


@dataclass(frozen=True, slots=True)
class Kind:
    """One CRM. ``connector`` is ``module:Class``, a class built as
    ``Class(source_name, settings)``."""

    settings: type[SourceBase]
    connector: str
    loggers: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    "demo": Kind(DemoSource, "connectors.demo.connector:DemoConnector"),
    "hubspot": Kind(HubSpotSource, "connectors.hubspot.connector:HubSpotConnector", ("hubspot",)),
    "salesforce": Kind(
        SalesforceSource,
        "connectors.salesforce.connector:SalesforceConnector",
        ("simple_salesforce",),
    ),
}

#: A ``sources.<name>`` block, validated by the model its ``kind`` names.
#: Spelled out for the type checker; a test keeps it equal to ``KINDS``.
Source = Annotated[DemoSource | HubSpotSource | SalesforceSource, Field(discriminator="kind")]


def create(name: str, settings: SourceBase) -> Connector:
    """Build the connector for source ``name`` from its validated settings."""
    connector: Connector = connector_class(name, settings)(name, settings)
    return connector


def connector_class(name: str, settings: SourceBase) -> type:
    """The class of source ``name``'s connector, its module (and vendor
    library) imported. Code that builds connectors on several threads at
    once calls this first, on one thread: two threads importing the same
    modules at once can deadlock."""
    kind = getattr(settings, "kind", None)
    if kind not in KINDS:
        raise ConfigError(
            f"sources.{name}.kind: unknown kind {kind!r} (valid: {', '.join(sorted(KINDS))})"
        )
    module, _, cls = KINDS[kind].connector.partition(":")
    found: type = getattr(importlib.import_module(module), cls)
    return found


def vendor_loggers() -> tuple[str, ...]:
    """The loggers of every connector's vendor library."""
    return tuple(name for kind in KINDS.values() for name in kind.loggers)
