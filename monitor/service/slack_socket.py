"""Slack's Socket Mode inside ``alignmon run``: button presses on alert
messages and the slash command (``/alignmon``) arrive over a WebSocket the
service opens with the app-level token (``slack.app_token``), so alignmon
needs no public URL.

slack-sdk's own client (``slack_sdk.socket_mode.builtin``, standard library
only) keeps the connection: it pings, and reconnects through a new
``apps.connections.open`` URL when the socket drops. Until the first
connection succeeds this module retries with a doubling wait (capped), so a
service started while Slack is unreachable connects once it is back.

Every replica connects: Slack hands each envelope to one connection, and a
press it sends again (its acknowledgement lost with a dropped socket) is
claimed once in the database (monitor/service/slack_actions.py). The
envelope is acknowledged once the press is recorded and acted on, so a
replica that dies before then leaves it to Slack's retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from monitor.config.models import Operators as OperatorSettings
from monitor.notifiers.slack import MISS_TTL_SECONDS, USER_TTL_SECONDS
from monitor.service.app import App
from monitor.service.home_chart import HomeChart
from monitor.service.metrics import Metrics
from monitor.service.slack_actions import Press, act

log = logging.getLogger(__name__)

#: Answers a slash command: (app, its text, who typed it, whether they may
#: act) → the ephemeral reply. The CLI layer provides it (its views).
Commands = Callable[[App, str, str, Callable[[], bool]], str]

#: The App Home tab for a user: (app, user id, their profile's e-mail or
#: None) → its blocks. From the CLI layer, like ``Commands``.
Home = Callable[[App, str, str | None], list[dict[str, Any]]]

#: How long a membership lookup (user group, channel) is trusted.
MEMBERS_TTL = 300.0
#: The wait between first connection attempts doubles up to this.
MAX_BACKOFF = 60.0
#: Seconds between the client's pings. Its only sign of a socket that died
#: without a close frame is four intervals without a pong (or five failed
#: pings), after which it reconnects: about 10 s with 2 s pings, where
#: slack-sdk's default of 5 s leaves presses waiting for over 20 s.
PING_INTERVAL = 2.0


class Operators:
    """Whether a Slack user is among ``slack.operators``: listed by ID, or a
    member of a listed user group or channel (looked up, cached)."""

    def __init__(
        self,
        settings: OperatorSettings,
        web: WebClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._web = web
        self._clock = clock
        self._members: dict[str, tuple[frozenset[str], float]] = {}

    def __call__(self, user_id: str) -> bool:
        settings = self._settings
        if user_id in settings.users:
            return True
        groups = [("usergroup", group) for group in settings.usergroups]
        channels = [("channel", channel) for channel in settings.channels]
        return any(user_id in self._lookup(kind, key) for kind, key in groups + channels)

    def _lookup(self, kind: str, key: str) -> frozenset[str]:
        cached = self._members.get(key)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        try:
            if kind == "usergroup":
                members = frozenset(self._web.usergroups_users_list(usergroup=key)["users"])
            else:
                members = frozenset(
                    member
                    for page in self._web.conversations_members(channel=key, limit=1000)
                    for member in page["members"]
                )
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack.operators: cannot list the members of %s %s: %s", kind, key, exc)
            return frozenset()
        self._members[key] = (members, self._clock() + MEMBERS_TTL)
        return members


def with_chart(blocks: list[dict[str, Any]], chart: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``blocks`` of a Home tab with ``chart`` before the first goal's pace."""
    at = next(
        (
            i
            for i, block in enumerate(blocks)
            if str((block.get("text") or {}).get("text", "")).startswith("*Pace: ")
        ),
        None,
    )
    if chart is None or at is None:
        return blocks
    return [*blocks[:at], chart, *blocks[at:]]


class SlackSocket:
    """The Socket Mode connection of one service process."""

    def __init__(
        self,
        app: App,
        metrics: Metrics,
        *,
        ping_interval: float = PING_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        commands: Commands | None = None,
        home: Home | None = None,
    ) -> None:
        settings = app.config.slack
        if settings.token is None or settings.app_token is None:
            raise ValueError("Socket Mode needs slack.token and slack.app_token")
        self.app = app
        self.metrics = metrics
        self.web = WebClient(
            token=settings.token.reveal(),
            base_url=settings.api_url,
            timeout=settings.timeout,  # type: ignore[arg-type]  # urllib takes float seconds
        )
        self.client = SocketModeClient(
            app_token=settings.app_token.reveal(),
            web_client=self.web,
            ping_interval=ping_interval,
            logger=logging.getLogger("monitor.service.slack_socket.client"),
        )
        self.client.socket_mode_request_listeners.append(self._on_request)
        self.operators = Operators(settings.operators, self.web, clock)
        self.commands = commands
        self.home = home
        #: Users who opened the Home tab: it is republished after evaluations.
        self.home_users: set[str] = set()
        self._emails: dict[str, tuple[str | None, float]] = {}
        self.chart = HomeChart(self.web)
        self._clock = clock
        self._stopping = threading.Event()
        metrics.slack_socket.set_function(lambda: 1.0 if self.connected() else 0.0)

    def connected(self) -> bool:
        return self.client.is_connected()

    def state(self) -> str:
        return "connected" if self.connected() else "disconnected"

    def start(self) -> None:
        threading.Thread(target=self._first_connect, name="slack-socket", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self.client.close()

    def _first_connect(self) -> None:
        wait = 1.0
        while not self._stopping.is_set():
            try:
                self.client.connect()
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.warning("Slack Socket Mode: cannot connect (%s); retrying in %gs", exc, wait)
                self._stopping.wait(wait)
                wait = min(2 * wait, MAX_BACKOFF)
                continue
            log.info("Slack Socket Mode connected: alert buttons are live")
            return

    def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        payload = request.payload or {}
        if request.type == "slash_commands":
            # Acknowledged first: Slack waits three seconds, an evaluation may not.
            client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
            self._command(payload)
            return
        if request.type == "events_api":
            client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
            event = payload.get("event") or {}
            if event.get("type") == "app_home_opened" and event.get("tab", "home") == "home":
                self.publish_home(str(event.get("user") or ""))
            return
        presses = (
            Press.from_payload(payload)
            if request.type == "interactive" and payload.get("type") == "block_actions"
            else []
        )
        results = [(press, act(self.app, press, self.operators)) for press in presses]
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        for press, result in results:
            self.metrics.slack_actions.labels(press.button, result.outcome).inc()
            log.info(
                "slack: %s pressed %s on %s: %s",
                press.user_name,
                press.button,
                press.fingerprint,
                result.outcome,
                extra={"alert": press.fingerprint, "reason": result.outcome},
            )
            self._tell(press, result.blocks, result.reply)

    def publish_home(self, user_id: str) -> None:
        """Show ``user_id`` the Home tab as of now."""
        if self.home is None or not user_id:
            return
        self.home_users.add(user_id)
        try:
            blocks = with_chart(
                self.home(self.app, user_id, self.email_of(user_id)), self.chart.block(self.app)
            )
            self.web.views_publish(user_id=user_id, view={"type": "home", "blocks": blocks})
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack: could not publish the Home tab: %s", exc)

    def email_of(self, user_id: str) -> str | None:
        """The e-mail of ``user_id``'s Slack profile (``users.info``, which
        shows it with ``users:read.email``), to match them to CRM owners;
        cached like the notifier's lookups the other way."""
        cached = self._emails.get(user_id)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        try:
            user = self.web.users_info(user=user_id)["user"]
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack: cannot read the profile of %s for the Home tab: %s", user_id, exc)
            return None
        email = (user.get("profile") or {}).get("email") or None
        ttl = USER_TTL_SECONDS if email else MISS_TTL_SECONDS
        self._emails[user_id] = (email, self._clock() + ttl)
        return email

    def refresh_homes(self) -> None:
        """After an evaluation: every Home tab opened so far, brought up to
        date, in the background (the evaluation job does not wait)."""
        users = sorted(self.home_users)

        def publish() -> None:
            for user in users:
                self.publish_home(user)

        if users and self.home is not None:
            threading.Thread(target=publish, name="slack-home", daemon=True).start()

    def _command(self, payload: dict[str, Any]) -> None:
        user_id = str(payload.get("user_id") or "")
        user_name = str(payload.get("user_name") or user_id)
        text = str(payload.get("text") or "")
        if self.commands is None:
            reply = "This alignmon answers no commands."
        else:
            reply = self.commands(self.app, text, user_name, lambda: self.operators(user_id))
        verb = (text.split() or ["help"])[0]
        self.metrics.slack_actions.labels(f"command:{verb[:20]}", "answered").inc()
        log.info("slack: %s ran %s %s", user_name, payload.get("command"), verb)
        try:
            response = WebhookClient(str(payload.get("response_url"))).send(
                text=reply, response_type="ephemeral"
            )
        except (SlackClientError, OSError) as exc:
            log.warning("slack: could not answer %s: %s", payload.get("command"), exc)
            return
        if response.status_code >= 300:
            log.warning(
                "slack: could not answer %s (HTTP %d)", payload.get("command"), response.status_code
            )

    def _tell(self, press: Press, blocks: list[dict[str, Any]] | None, reply: str | None) -> None:
        try:
            if blocks is not None:
                self.web.chat_update(
                    channel=press.channel, ts=press.ts, blocks=blocks, text=press.text or None
                )
            if reply is not None:
                self.web.chat_postEphemeral(channel=press.channel, user=press.user_id, text=reply)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("slack: could not update the message of %s: %s", press.fingerprint, exc)
