"""One demo goal end to end, from config to the fake Slack: the app on a
demo source with its own database, a clock the test moves, and what Slack
accepted. Shared by the suites of each finding (plan, rate goals, stalls,
breakdown)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.service.app import App
from tests.fakes.slack import TOKEN, FakeSlack


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def demo_app(
    database: str, slack: FakeSlack, clock: Clock, goal: dict[str, Any], *, months: int = 3
) -> App:
    """The app with one ``months`` demo source named ``crm`` and ``goal``."""
    config = Config.model_validate(
        {
            "timezone": "UTC",
            "database": database,
            "sources": {"crm": {"kind": "demo", "months": months}},
            "slack": {"token": TOKEN, "api_url": slack.api_url, "channel": "#revenue-alignment"},
            "goals": [goal],
        }
    )
    return App(LoadedConfig(config, "goal.yaml"), clock=clock)


def accepted(slack: FakeSlack) -> list[dict[str, Any]]:
    """Messages Slack accepted, oldest first."""
    return [message for _, message in sorted(slack.messages.items(), key=lambda kv: kv[0][1])]
