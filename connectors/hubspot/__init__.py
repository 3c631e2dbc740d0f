"""The HubSpot connector (``kind: hubspot``).

The package itself stays light: the config loads ``settings`` from it for
every user, so the client library is imported only when a HubSpot source is
actually created (``connectors/__init__.py`` calls ``create``). The
connector lives in ``connector.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.hubspot.connector import HubSpotConnector
    from connectors.hubspot.settings import HubSpotSource


def create(name: str, settings: HubSpotSource) -> HubSpotConnector:
    """The entry point the connector registry calls for ``kind: hubspot``."""
    from connectors.hubspot.connector import HubSpotConnector

    return HubSpotConnector(name, settings)
