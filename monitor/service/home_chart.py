"""The summary chart on the App Home tab.

A Home view takes an image only as a public URL or as a Slack file
(``slack_file: {id}``); alignmon has no public URL, so the chart is uploaded
(files_upload_v2 with no channel: a private file of the app, shared
nowhere) and referenced by its ID. It is drawn and uploaded at most once a
local day, like the daily summary's chart, however often Home tabs are
published; a failed upload is logged and not tried again until the next
day.
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from monitor.service.app import App

log = logging.getLogger(__name__)

ALT_TEXT = "Pace of each goal: actuals against the expected pace, with the forecast"


class HomeChart:
    def __init__(self, web: WebClient) -> None:
        self._web = web
        self._lock = threading.Lock()
        self._day: date | None = None
        self._file: str | None = None

    def block(self, app: App) -> dict[str, Any] | None:
        """The image block of today's chart, or None (no volume goal, or
        the upload failed today)."""
        day = app.clock().astimezone(app.config.zone).date()
        with self._lock:
            if self._day != day:
                self._file = self._upload(app, day)
                self._day = day
            file_id = self._file
        if file_id is None:
            return None
        return {
            "type": "image",
            "slack_file": {"id": file_id},
            "alt_text": ALT_TEXT,
            "title": {"type": "plain_text", "text": f"Pace as of {day:%a %d %b}"},
        }

    def _upload(self, app: App, day: date) -> str | None:
        if not any(not goal.rate_goal_only for goal in app.config.goals):
            return None
        from monitor import summary  # matplotlib: loaded when a chart is drawn, not at start

        png = summary.chart(app.config, app.evaluate())
        try:
            response = self._web.files_upload_v2(
                content=png, filename=f"alignmon-pace-{day}.png", title="alignmon pace"
            )
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack: the Home tab shows no chart today: its upload failed: %s", exc)
            return None
        return str(response["files"][0]["id"])
