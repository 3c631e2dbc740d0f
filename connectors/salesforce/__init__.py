"""The Salesforce connector (``kind: salesforce``).

The package itself stays light: the config loads ``settings`` from it for
every user, so the client library is imported only when a Salesforce source is
actually created (``connectors/__init__.py`` calls ``create``). The
connector lives in ``connector.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.salesforce.connector import SalesforceConnector
    from connectors.salesforce.settings import SalesforceSource


def create(name: str, settings: SalesforceSource) -> SalesforceConnector:
    """The entry point the connector registry calls for ``kind: salesforce``."""
    from connectors.salesforce.connector import SalesforceConnector

    return SalesforceConnector(name, settings)
