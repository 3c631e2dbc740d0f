"""Slack's Socket Mode side, for the real slack-sdk SocketModeClient: the
WebSocket endpoint ``apps.connections.open`` hands out (tests/fakes/slack.py).

It speaks the protocol as Slack does (api.slack.com/apis/socket-mode): a
``hello`` on connect, then envelopes ``{"envelope_id", "type", "payload",
"accepts_response_payload", "retry_attempt", "retry_reason"}``; the app
acknowledges each by sending back ``{"envelope_id": …}``. An envelope not
acknowledged stays pending and is sent again (``retry_attempt`` + 1) to the
next connection, as Slack retries. ``drop()`` cuts the connections without a
close handshake, as a network failure does. With several connections (two
replicas), each envelope goes to one of them, in turn.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from typing import Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class FakeSocketMode:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.acks: list[dict[str, Any]] = []  # what the app sent back, in order
        self.pending: dict[str, dict[str, Any]] = {}  # sent or queued, not yet acknowledged
        self.connects = 0  # connections ever accepted
        self._open: list[ServerConnection] = []
        self._turn = itertools.count()
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Self:
        self._server = serve(self._serve, "127.0.0.1", 0, compression=None, ping_interval=None)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake"

    def connected(self) -> int:
        with self.lock:
            return len(self._open)

    def wait_connected(self, count: int = 1, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.connected() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.connected()} socket(s) connected, wanted {count}")
            time.sleep(0.02)

    def drop(self) -> None:
        """Cut every connection as a network failure would: no close frame."""
        with self.lock:
            cut, self._open = self._open, []
        for connection in cut:
            with contextlib.suppress(OSError):
                connection.socket.shutdown(2)
            with contextlib.suppress(OSError):
                connection.socket.close()

    # -- envelopes -----------------------------------------------------------

    def send(self, kind: str, payload: dict[str, Any], *, response: bool = False) -> str:
        """Queue an envelope of ``kind`` (interactive, slash_commands,
        events_api) and send it to a connection, if one is open."""
        envelope_id = f"env-{next(self._ids):04d}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": response,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self.lock:
            self.pending[envelope_id] = envelope
            targets = list(self._open)
        if targets:
            self._deliver(targets[next(self._turn) % len(targets)], envelope)
        return envelope_id

    def send_to_all(self, kind: str, payload: dict[str, Any]) -> str:
        """One envelope to every open connection at once: what replicas see
        when Slack redelivers an envelope to another connection while the
        first is still handling it."""
        envelope_id = f"env-{next(self._ids):04d}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self.lock:
            self.pending[envelope_id] = envelope
            targets = list(self._open)
        for connection in targets:
            self._deliver(connection, envelope)
        return envelope_id

    def acks_of(self, envelope_id: str) -> int:
        with self.lock:
            return sum(1 for ack in self.acks if ack.get("envelope_id") == envelope_id)

    def acked(self, envelope_id: str) -> bool:
        with self.lock:
            return any(ack.get("envelope_id") == envelope_id for ack in self.acks)

    def wait_acked(self, envelope_id: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.acked(envelope_id):
            if time.monotonic() > deadline:
                raise AssertionError(f"envelope {envelope_id} was not acknowledged")
            time.sleep(0.02)

    def _deliver(self, connection: ServerConnection, envelope: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            connection.send(json.dumps(envelope))

    def _serve(self, connection: ServerConnection) -> None:
        with self.lock:
            self.connects += 1
            self._open.append(connection)
            retries = list(self.pending.values())
        try:
            hello = {
                "type": "hello",
                "num_connections": self.connected(),
                "debug_info": {"host": "fake-socket", "approximate_connection_time": 3600},
                "connection_info": {"app_id": "A0ALIGNMON"},
            }
            connection.send(json.dumps(hello))
            for envelope in retries:
                envelope["retry_attempt"] += 1
                envelope["retry_reason"] = "timeout"
                self._deliver(connection, envelope)
            for raw in connection:
                message = json.loads(raw)
                with self.lock:
                    self.acks.append(message)
                    self.pending.pop(str(message.get("envelope_id")), None)
        except (ConnectionClosed, OSError, ValueError):
            pass
        finally:
            with self.lock:
                if connection in self._open:
                    self._open.remove(connection)


def block_actions(
    action_id: str,
    value: str,
    *,
    user: str,
    channel: str,
    ts: str,
    blocks: list[dict[str, Any]],
    action_ts: str,
    text: str = "",
    username: str = "",
) -> dict[str, Any]:
    """The payload of a button press on a message, as Slack sends it."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": username or user.lower(), "team_id": "T0ACME"},
        "api_app_id": "A0ALIGNMON",
        "team": {"id": "T0ACME", "domain": "acme"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "channel": {"id": channel, "name": "revenue-alignment"},
        "message": {"type": "message", "ts": ts, "text": text, "blocks": blocks},
        "response_url": "",
        "trigger_id": f"trigger-{action_ts}",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "",
                "value": value,
                "action_ts": action_ts,
            }
        ],
    }


def slash_command(
    text: str, *, user: str, response_url: str, command: str = "/alignmon"
) -> dict[str, Any]:
    """The payload of a slash command, as Slack sends it."""
    return {
        "token": "",
        "team_id": "T0ACME",
        "channel_id": "C0ALIGN1",
        "channel_name": "revenue-alignment",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0ALIGNMON",
        "response_url": response_url,
        "trigger_id": "trigger-command",
    }


def app_home_opened(user: str) -> dict[str, Any]:
    """The ``events_api`` payload Slack sends when ``user`` opens the Home tab."""
    return {
        "token": "",
        "team_id": "T0ACME",
        "api_app_id": "A0ALIGNMON",
        "type": "event_callback",
        "event_id": f"Ev-{user}",
        "event_time": 1700000000,
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": "1700000000.000100",
        },
    }
