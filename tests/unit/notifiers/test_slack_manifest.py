"""deploy/slack-app-manifest.yaml asks for exactly the bot scopes the Slack
notifier declares it uses (``SCOPES``, which ``alignmon check`` also reads),
and carries the bot's name and description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.notifiers.slack import REQUIRED_SCOPES, SCOPES

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "slack-app-manifest.yaml"
#: Slack's limit on display_information.description.
MAX_DESCRIPTION = 140


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return loaded


def manifest_scopes() -> list[str]:
    scopes: list[str] = manifest()["oauth_config"]["scopes"]["bot"]
    return scopes


def test_the_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    scopes = manifest_scopes()

    assert len(scopes) == len(set(scopes))
    assert set(scopes) == set(SCOPES)
    assert set(SCOPES) >= REQUIRED_SCOPES


def test_the_manifest_names_and_describes_the_bot() -> None:
    app = manifest()
    description = app["display_information"]["description"]

    assert app["display_information"]["name"] == "alignmon"
    assert app["features"]["bot_user"]["display_name"] == "alignmon"
    assert 0 < len(description) <= MAX_DESCRIPTION
    assert "user" not in app["oauth_config"]["scopes"]  # a bot token only
