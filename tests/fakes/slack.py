"""A fake Slack Web API over real HTTP, for the real slack-sdk WebClient.

Serves ``/api/<method>`` for the methods alignmon calls (auth.test,
chat.postMessage (with message ``metadata``), chat.update, users.lookupByEmail,
conversations.info, conversations.list (paged; private channels only those
the bot is in, as Slack lists them), conversations.history and
conversations.replies (IDs only,
metadata only with ``include_all_metadata``, as Slack does) and the
three-call file upload, whose upload URL it serves itself; for the
two-way part apps.connections.open (with the app-level token ``APP_TOKEN``,
handing out ``socket``, tests/fakes/slack_socket.py), usergroups.users.list,
conversations.members, chat.postEphemeral, views.publish, users.info
(the profile's e-mail only with users:read.email), and the
``response_url`` of slash commands) on 127.0.0.1 with
an ephemeral port. It checks the bearer token, records every call, and
validates messages against Slack's Block Kit limits the way Slack does
(``invalid_blocks``, ``msg_too_long``, ``msg_blocks_too_long``), so tests prove
the renderer stays inside them.

Fault knobs: ``fail_next`` (429 with Retry-After in seconds or as any text,
or a 5xx), ``error_next``
(an ``ok: false`` error code), ``timeout_next`` (never answer in time),
``garble_next`` (a body that is not JSON), ``truncate_next`` (the connection
drops mid-body), ``revoke_token()`` and ``down()``/``up()`` (the port refuses
connections), ``delay_posts`` (Slack takes that long to answer a post, after
storing it). Channel state: ``members`` (channels the bot is in),
``archived`` and ``private`` (sets of channel IDs). slack-sdk reads
HTTPS_PROXY/HTTP_PROXY and ignores NO_PROXY: tests must unset them.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl

from tests.fakes.server import FakeServer, Fault, Reply, Request, json_reply
from tests.fakes.slack_socket import FakeSocketMode

TOKEN = "xoxb-fake-slack-token"
APP_TOKEN = "xapp-fake-app-token"
JSON = "application/json; charset=utf-8"
SCOPES = (
    "chat:write",
    "files:write",
    "users:read",
    "users:read.email",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "usergroups:read",
    "commands",
)
#: Channels per page of conversations.list (Slack's default is 100).
LIST_PAGE = 100

#: Slack's documented limits, plus the total block text at which Slack has
#: been seen answering msg_blocks_too_long (slackapi/bolt-js#2509).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_TEXT = 40_000
MAX_TOTAL_BLOCK_TEXT = 13_200


@dataclass
class Call:
    """One request the fake received: API method (or ``upload``) and its
    parameters, JSON and form bodies alike (``blocks`` decoded)."""

    method: str
    params: dict[str, Any]


class FakeSlack(FakeServer):
    """``with FakeSlack() as slack: WebClient(base_url=slack.api_url, token=TOKEN)``."""

    methods = ("POST",)

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        channels: dict[str, str] | None = None,
        scopes: tuple[str, ...] = SCOPES,
    ) -> None:
        super().__init__()
        self.users = {k.lower(): v for k, v in (users or {"jane@acme.test": "U0JANE"}).items()}
        self.channels = channels or {"C0ALIGN1": "revenue-alignment", "C0LEADS1": "leadership"}
        self.members = set(self.channels)  # channels the bot has joined
        self.archived: set[str] = set()
        self.private: set[str] = set()
        self.scopes = scopes
        self.calls: list[Call] = []
        self.refused_scopes: list[str] = []  # ``needed`` of each missing_scope answer
        self.revoked = False
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.post_delay = 0.0
        self._ts = itertools.count(100)
        self._file_ids = itertools.count(1)
        #: Socket Mode (apps.connections.open hands out its URL), user
        #: groups and channel members by ID, ephemeral messages sent.
        self.socket = FakeSocketMode()
        self.usergroups: dict[str, list[str]] = {}
        self.channel_members: dict[str, list[str]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.homes: dict[str, dict[str, Any]] = {}  # user → the Home tab published
        #: What was POSTed to a slash command's ``response_url`` (``response_url(n)``).
        self.responses: list[dict[str, Any]] = []

    def response_url(self, number: int) -> str:
        return f"{self.url}/response/{number}"

    def start(self) -> Self:
        if self.socket.port == 0:
            self.socket.start()
        return super().start()

    def close(self) -> None:
        self.socket.close()
        super().close()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # -- knobs ---------------------------------------------------------------

    def fail_next(
        self,
        status: int = 429,
        *,
        retry_after: float | str | None = None,
        count: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` calls (of ``method``, or any) with an
        HTTP error: 429 ``ratelimited`` with Retry-After, or a 5xx. A
        ``retry_after`` string is sent verbatim (e.g. an HTTP date)."""
        error = "ratelimited" if status == 429 else "internal_error"
        self.add_fault(Fault(method, count, status, error, retry_after=retry_after))

    def error_next(self, error: str, *, count: int = 1, method: str | None = None) -> None:
        """Answer HTTP 200 ``{"ok": false, "error": error}``, as Slack does."""
        self.add_fault(Fault(method, count, 200, error))

    def timeout_next(self, *, count: int = 1, method: str | None = None, stall: float = 5) -> None:
        """Hold the next calls for ``stall`` seconds (or until the fake stops)
        before answering, so the client times out first."""
        self.add_fault(Fault(method, count, 503, "request_timeout", delay=stall))

    def garble_next(
        self, *, count: int = 1, method: str | None = None, status: int = 200, body: str = ""
    ) -> None:
        """Answer the next calls with ``status`` and a complete body that is
        not JSON (by default a proxy's HTML page). The call is not processed."""
        page = body or "<html><body><h1>Service temporarily unavailable</h1></body></html>"
        self.add_fault(Fault(method, count, status, body=page))

    def truncate_next(self, *, count: int = 1, method: str | None = None) -> None:
        """Send half of the next answers' bodies, then drop the connection
        (Content-Length promises the whole). The call is not processed."""
        self.add_fault(Fault(method, count, 200, "internal_error", cut=True))

    def revoke_token(self) -> None:
        """As if the app were uninstalled: every call answers token_revoked."""
        self.revoked = True

    def restore_token(self) -> None:
        self.revoked = False

    def delay_posts(self, seconds: float) -> None:
        """Store each posted message at once but answer the post only after
        ``seconds``: the window in which a killed poster has posted."""
        self.post_delay = seconds

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.method == method]

    # -- the API -------------------------------------------------------------

    def route(self, request: Request) -> tuple[str, dict[str, Any]]:
        """The API method (or ``upload``) and its parameters, from the query
        string and a JSON or form body."""
        path = request.path
        if path.startswith("/upload/"):
            return "upload", {"file_id": path[8:], "data": request.body}
        if path.startswith("/response/"):
            return "response", {"id": path[10:], **json.loads(request.body or b"{}")}
        params: dict[str, Any] = dict(request.args)
        if request.headers.get_content_type() == "application/json":
            params.update(json.loads(request.body or b"{}"))
        else:
            params.update(parse_qsl(request.body.decode()))
        if isinstance(params.get("blocks"), str):
            params["blocks"] = json.loads(params["blocks"])
        return path.removeprefix("/api/"), params

    def log(self, request: Request) -> None:
        self.calls.append(Call(request.endpoint, request.params))

    def fault_applies(self, fault: Fault, endpoint: str) -> bool:
        return endpoint not in ("upload", "response") and super().fault_applies(fault, endpoint)

    def error_reply(self, request: Request, fault: Fault) -> Reply:
        reply = json_reply(fault.status, {"ok": False, "error": fault.code}, JSON)
        if not fault.cut:
            self._scopes_header(request, reply)
        return reply

    def refuse(self, request: Request) -> Reply | None:
        """Slack's answers to a call it will not run: HTTP 200, ``ok: false``."""
        if request.endpoint in ("upload", "response"):
            return None
        auth = request.headers.get("Authorization", "")
        if not auth:
            error = "not_authed"
        elif (
            auth != f"Bearer {APP_TOKEN if request.endpoint == 'apps.connections.open' else TOKEN}"
        ):
            error = "invalid_auth"
        elif self.revoked:
            error = "token_revoked"
        else:
            return None
        return self._answer(request, {"ok": False, "error": error})

    def answer(self, request: Request) -> Reply:
        if request.endpoint == "upload":
            status = self.upload(request.params["file_id"], request.params["data"])
            return Reply(status, b"OK", JSON)
        if request.endpoint == "response":
            with self.lock:
                self.responses.append(request.params)
            return Reply(200, b"ok", "text/plain")
        route = getattr(self, "_api_" + request.endpoint.replace(".", "_"), None)
        if route is None:
            return self._answer(request, {"ok": False, "error": "unknown_method"})
        body = route(request.params)
        if body.get("error") == "missing_scope":
            with self.lock:
                self.refused_scopes.append(body["needed"])
        reply = self._answer(request, body)
        if request.endpoint == "chat.postMessage" and self.post_delay:
            reply.stall = self.post_delay  # stored now, answered after the delay
        return reply

    def _answer(self, request: Request, body: dict[str, Any]) -> Reply:
        return self._scopes_header(request, json_reply(200, body, JSON))

    def _scopes_header(self, request: Request, reply: Reply) -> Reply:
        if request.target.startswith("/api/auth.test"):
            reply.headers["X-OAuth-Scopes"] = ",".join(self.scopes)
        return reply

    def _channel(self, value: str) -> str | None:
        name = value.lstrip("#")
        if name in self.channels:
            return name
        return next((cid for cid, cname in self.channels.items() if cname == name), None)

    def _api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme.slack.test/",
            "team": "Acme",
            "user": "alignmon",
            "team_id": "T0ACME",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if "chat:write" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "chat:write"}
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.archived:
            return {"ok": False, "error": "is_archived"}
        if channel not in self.members:
            return {"ok": False, "error": "not_in_channel"}
        problem = validate_message(params)
        if problem:
            return problem
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return {"ok": False, "error": "invalid_metadata_format"}
        ts = f"1700000000.{next(self._ts):06d}"
        with self.lock:
            self.messages[(channel, ts)] = {
                "text": params.get("text"),
                "blocks": params.get("blocks"),
                "thread_ts": params.get("thread_ts"),
                "metadata": metadata,
            }
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text")}}

    def _api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if "chat:write" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "chat:write"}
        channel = self._channel(str(params.get("channel", "")))
        key = (channel or "", str(params.get("ts")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        problem = validate_message(params)
        if problem:
            return problem
        self.messages[key].update(text=params.get("text"), blocks=params.get("blocks"))
        return {"ok": True, "channel": channel, "ts": key[1], "text": params.get("text")}

    def _api_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.socket.url}

    def _api_usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        if "usergroups:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "usergroups:read"}
        group = str(params.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _api_conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        scope = "groups:read" if channel in self.private else "channels:read"
        if scope not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": scope}
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        members = self.channel_members.get(channel, [])
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}

    def _api_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        blocks = view.get("blocks") or []
        if len(blocks) > 100:
            return {"ok": False, "error": "invalid_blocks"}
        images = [block for block in blocks if block.get("type") == "image"]
        for image in images:
            file_id = (image.get("slack_file") or {}).get("id")
            stored = self.files.get(str(file_id))
            if not image.get("alt_text") or stored is None or stored["data"] is None:
                return {"ok": False, "error": "invalid_blocks"}
        blocks = [block for block in blocks if block.get("type") != "image"]
        problem = validate_message({"blocks": blocks, "text": "home"})
        if problem and problem["error"] != "msg_blocks_too_long":  # a view's total is larger
            return problem
        with self.lock:
            self.homes[str(params.get("user_id"))] = view
        return {"ok": True, "view": {"id": "V0HOME", **view}}

    def _api_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        with self.lock:
            self.ephemeral.append(params)
        return {"ok": True, "message_ts": f"1700000001.{next(self._ts):06d}"}

    def _api_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        if "users:read.email" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "users:read.email"}
        user_id = self.users.get(str(params.get("email", "")).lower())
        if user_id is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": user_id, "profile": {"email": params["email"]}}}

    def _api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        if "users:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "users:read"}
        user_id = str(params.get("user", ""))
        emails = [email for email, uid in self.users.items() if uid == user_id]
        profile = {"real_name": user_id.lower()}
        if emails and "users:read.email" in self.scopes:  # Slack hides it without the scope
            profile["email"] = emails[0]
        return {"ok": True, "user": {"id": user_id, "name": user_id.lower(), "profile": profile}}

    def _api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        scope = "groups:read" if channel in self.private else "channels:read"
        if scope not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": scope}
        if channel not in self.channels or (
            channel in self.private and channel not in self.members
        ):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": self._channel_object(channel)}

    def _api_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        types = str(params.get("types") or "public_channel").split(",")
        needed = ["channels:read"] + (["groups:read"] if "private_channel" in types else [])
        missing = [scope for scope in needed if scope not in self.scopes]
        if missing:
            return {"ok": False, "error": "missing_scope", "needed": ",".join(missing)}
        skip_archived = str(params.get("exclude_archived", "")).lower() in ("true", "1")
        listed = [
            channel
            for channel in sorted(self.channels)
            if ("private_channel" if channel in self.private else "public_channel") in types
            and (channel not in self.private or channel in self.members)
            and not (skip_archived and channel in self.archived)
        ]
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or LIST_PAGE)
        page = listed[start : start + limit]
        after = str(start + limit) if start + limit < len(listed) else ""
        return {
            "ok": True,
            "channels": [self._channel_object(channel) for channel in page],
            "response_metadata": {"next_cursor": after},
        }

    def _channel_object(self, channel: str) -> dict[str, Any]:
        return {
            "id": channel,
            "name": self.channels[channel],
            "is_private": channel in self.private,
            "is_member": channel in self.members,
            "is_archived": channel in self.archived,
        }

    def _history(self, params: dict[str, Any], thread: str | None) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if channel not in self.channels:  # these methods take IDs only
            return {"ok": False, "error": "channel_not_found"}
        scope = "groups:history" if channel.startswith("G") else "channels:history"
        if scope not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": scope}
        if channel not in self.members:
            return {"ok": False, "error": "not_in_channel"}
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("true", "1")
        limit = int(params.get("limit") or 100)
        with self.lock:
            stored = [(ts, m) for (cid, ts), m in self.messages.items() if cid == channel]
        if thread is None:
            chosen = [(ts, m) for ts, m in stored if m["thread_ts"] in (None, ts)]
            chosen.sort(reverse=True)  # newest first
        else:
            chosen = sorted((ts, m) for ts, m in stored if ts == thread or m["thread_ts"] == thread)
            if not any(ts == thread for ts, _ in chosen):
                return {"ok": False, "error": "thread_not_found"}
        out = []
        for ts, m in chosen[:limit]:
            item = {"type": "message", "ts": ts, "text": m["text"]}
            if m["thread_ts"]:
                item["thread_ts"] = m["thread_ts"]
            if with_metadata and m.get("metadata"):
                item["metadata"] = m["metadata"]
            out.append(item)
        return {"ok": True, "messages": out, "has_more": len(chosen) > limit}

    def _api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._history(params, None)

    def _api_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._history(params, str(params.get("ts", "")))

    def _api_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if "files:write" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "files:write"}
        file_id = f"F{next(self._file_ids):07d}"
        self.files[file_id] = {
            "filename": params.get("filename"),
            "length": int(params.get("length", 0)),
            "data": None,
        }
        upload_url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def _api_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel_id", ""))
        if channel and channel not in self.channels:  # this method takes IDs only
            return {"ok": False, "error": "channel_not_found"}
        done = []
        for item in json.loads(params.get("files", "[]")):
            stored = self.files.get(item["id"])
            if stored is None or stored["data"] is None:
                return {"ok": False, "error": "file_not_found"}
            stored.update(
                title=item.get("title"),
                channel=channel or None,
                thread_ts=params.get("thread_ts"),
                shared=bool(channel),  # without a channel: a private file
            )
            done.append(
                {
                    "id": item["id"],
                    "title": item.get("title"),
                    "name": stored["filename"],
                    "size": len(stored["data"]),
                }
            )
        return {"ok": True, "files": done}

    def upload(self, file_id: str, data: bytes) -> int:
        with self.lock:
            stored = self.files.get(file_id)
            if stored is None or stored["length"] != len(data):
                return 400
            stored["data"] = data
        return 200


def validate_message(params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's answer to a message that breaks a limit, or None if it fits."""
    text, blocks = params.get("text"), params.get("blocks")
    if not text and not blocks:
        return {"ok": False, "error": "no_text"}
    if text and len(text) > MAX_TEXT:
        return {"ok": False, "error": "msg_too_long"}
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return {"ok": False, "error": "invalid_blocks_format"}
    errors = (
        [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
        if len(blocks) > MAX_BLOCKS
        else []
    )
    total = 0
    for index, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{index}]"
        texts = _block_texts(block)
        if texts is None:
            errors.append(f"unsupported block {where}")
            continue
        kind = block["type"]
        limit = {"header": MAX_HEADER_TEXT}.get(kind, MAX_SECTION_TEXT)
        if kind == "header" and block["text"].get("type") != "plain_text":
            errors.append(f"header text must be plain_text {where}")
        if kind == "context" and not 0 < len(texts) <= MAX_CONTEXT_ELEMENTS:
            errors.append(f"context takes 1 to {MAX_CONTEXT_ELEMENTS} elements {where}")
        for value in texts:
            if not 0 < len(value) <= limit:
                errors.append(f"must be 1 to {limit} characters {where}")
            total += len(value)
    if errors:
        return {"ok": False, "error": "invalid_blocks", "errors": errors}
    if total > MAX_TOTAL_BLOCK_TEXT:
        return {"ok": False, "error": "msg_blocks_too_long"}
    return None


def _block_texts(block: Any) -> list[str] | None:
    """The texts of a header, section, context or divider block; None for
    anything else or a malformed one."""
    if not isinstance(block, dict):
        return None
    try:
        if block["type"] == "divider":
            return []
        if block["type"] in ("header", "section"):
            return [str(block["text"]["text"])]
        if block["type"] == "context":
            return [str(element["text"]) for element in block["elements"]]
        if block["type"] == "actions":
            buttons = block["elements"]
            if not 0 < len(buttons) <= 25 or len(str(block.get("block_id", ""))) > 255:
                return None
            for button in buttons:
                if button["type"] != "button" or len(str(button.get("value", ""))) > 2000:
                    return None
            return [str(button["text"]["text"]) for button in buttons]
    except (KeyError, TypeError):
        return None
    return None
