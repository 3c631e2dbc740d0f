"""A fake Slack Web API over real HTTP, for the real slack-sdk WebClient.

Serves ``/api/<method>`` for the methods alignmon calls (auth.test,
chat.postMessage, chat.update, users.lookupByEmail, conversations.info and the
three-call file upload, whose upload URL it serves itself) on 127.0.0.1 with
an ephemeral port. It checks the bearer token, records every call, and
validates messages against Slack's Block Kit limits the way Slack does
(``invalid_blocks``, ``msg_too_long``, ``msg_blocks_too_long``), so tests prove
the renderer stays inside them.

Fault knobs: ``fail_next`` (429 with Retry-After in seconds or as any text,
or a 5xx), ``error_next``
(an ``ok: false`` error code), ``timeout_next`` (never answer in time),
``garble_next`` (a body that is not JSON), ``truncate_next`` (the connection
drops mid-body), ``revoke_token()`` and ``down()``/``up()`` (the port refuses
connections). slack-sdk reads
HTTPS_PROXY/HTTP_PROXY and ignores NO_PROXY: tests must unset them.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "xoxb-fake-slack-token"
SCOPES = ("chat:write", "files:write", "users:read.email", "channels:read")

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


@dataclass
class _Fault:
    method: str | None
    count: int
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    raw: bytes | None = None  # sent verbatim as text/html instead of a JSON answer
    truncate: bool = False


class FakeSlack:
    """``with FakeSlack() as slack: WebClient(base_url=slack.api_url, token=TOKEN)``."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        channels: dict[str, str] | None = None,
        scopes: tuple[str, ...] = SCOPES,
    ) -> None:
        self.users = {k.lower(): v for k, v in (users or {"jane@acme.test": "U0JANE"}).items()}
        self.channels = channels or {"C0ALIGN1": "revenue-alignment", "C0LEADS1": "leadership"}
        self.members = set(self.channels)  # channels the bot has joined
        self.scopes = scopes
        self.calls: list[Call] = []
        self.revoked = False
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(100)
        self._file_ids = itertools.count(1)
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> FakeSlack:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self.down()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def up(self) -> None:
        """Listen (again, on the same port after ``down()``)."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def down(self) -> None:
        """Close the listening socket: connections are refused until ``up()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

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
        if isinstance(retry_after, str):
            headers = {"Retry-After": retry_after}
        else:
            headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        error = "ratelimited" if status == 429 else "internal_error"
        self._add(_Fault(method, count, status, error, headers))

    def error_next(self, error: str, *, count: int = 1, method: str | None = None) -> None:
        """Answer HTTP 200 ``{"ok": false, "error": error}``, as Slack does."""
        self._add(_Fault(method, count, 200, error))

    def timeout_next(self, *, count: int = 1, method: str | None = None, stall: float = 5) -> None:
        """Hold the next calls for ``stall`` seconds (or until the fake stops)
        before answering, so the client times out first."""
        self._add(_Fault(method, count, 503, "request_timeout", stall=stall))

    def garble_next(
        self, *, count: int = 1, method: str | None = None, status: int = 200, body: str = ""
    ) -> None:
        """Answer the next calls with ``status`` and a complete body that is
        not JSON (by default a proxy's HTML page). The call is not processed."""
        page = body or "<html><body><h1>Service temporarily unavailable</h1></body></html>"
        self._add(_Fault(method, count, status, raw=page.encode()))

    def truncate_next(self, *, count: int = 1, method: str | None = None) -> None:
        """Send half of the next answers' bodies, then drop the connection
        (Content-Length promises the whole). The call is not processed."""
        self._add(_Fault(method, count, 200, "internal_error", truncate=True))

    def revoke_token(self) -> None:
        """As if the app were uninstalled: every call answers token_revoked."""
        self.revoked = True

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (None, method):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- the API -------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any], auth: str) -> tuple[int, dict[str, Any]]:
        """Answer one API call: (HTTP status, JSON body)."""
        if not auth:
            return 200, {"ok": False, "error": "not_authed"}
        if auth != f"Bearer {TOKEN}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if self.revoked:
            return 200, {"ok": False, "error": "token_revoked"}
        route = getattr(self, "_api_" + method.replace(".", "_"), None)
        if route is None:
            return 200, {"ok": False, "error": "unknown_method"}
        with self._lock:
            result: dict[str, Any] = route(params)
        return 200, result

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
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel not in self.members:
            return {"ok": False, "error": "not_in_channel"}
        problem = validate_message(params)
        if problem:
            return problem
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages[(channel, ts)] = {
            "text": params.get("text"),
            "blocks": params.get("blocks"),
            "thread_ts": params.get("thread_ts"),
        }
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text")}}

    def _api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
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

    def _api_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        if "users:read.email" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "users:read.email"}
        user_id = self.users.get(str(params.get("email", "")).lower())
        if user_id is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": user_id, "profile": {"email": params["email"]}}}

    def _api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        if "channels:read" not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": "channels:read"}
        channel = str(params.get("channel", ""))
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": self.channels[channel],
                "is_member": channel in self.members,
                "is_archived": False,
            },
        }

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
        if channel not in self.channels:  # this method takes IDs only
            return {"ok": False, "error": "channel_not_found"}
        done = []
        for item in json.loads(params.get("files", "[]")):
            stored = self.files.get(item["id"])
            if stored is None or stored["data"] is None:
                return {"ok": False, "error": "file_not_found"}
            stored.update(
                title=item.get("title"),
                channel=channel,
                thread_ts=params.get("thread_ts"),
                shared=True,
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
        with self._lock:
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
    except (KeyError, TypeError):
        return None
    return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/upload/"):
            with self.fake._lock:
                self.fake.calls.append(Call("upload", {"file_id": url.path[8:], "data": body}))
            self._answer(self.fake.upload(url.path[8:], body), {}, raw=b"OK")
            return
        method = url.path.removeprefix("/api/")
        params: dict[str, Any] = dict(parse_qsl(url.query))
        if self.headers.get_content_type() == "application/json":
            params.update(json.loads(body or b"{}"))
        else:
            params.update(parse_qsl(body.decode()))
        if isinstance(params.get("blocks"), str):
            params["blocks"] = json.loads(params["blocks"])
        with self.fake._lock:
            self.fake.calls.append(Call(method, params))
        fault = self.fake._take_fault(method)
        if fault is not None and fault.stall:
            self.fake._released.wait(fault.stall)
        if fault is not None and (fault.raw is not None or fault.truncate):
            self._garbled(fault)
            return
        if fault is not None:
            self._answer(fault.status, {"ok": False, "error": fault.error}, fault.headers)
            return
        status, answer = self.fake.handle(method, params, self.headers.get("Authorization", ""))
        self._answer(status, answer)

    def _answer(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        payload = raw if raw is not None else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            if self.path.startswith("/api/auth.test"):
                self.send_header("X-OAuth-Scopes", ",".join(self.fake.scopes))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timeout_next); nobody is listening

    def _garbled(self, fault: _Fault) -> None:
        """An HTML page, or half a JSON answer and a dropped connection."""
        if fault.raw is not None:
            payload, sent, kind = fault.raw, fault.raw, "text/html; charset=utf-8"
        else:
            payload = json.dumps({"ok": False, "error": fault.error}).encode()
            sent, kind = payload[: len(payload) // 2], "application/json; charset=utf-8"
        try:
            self.send_response(fault.status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(sent)
        except OSError:
            pass  # the client gave up; nobody is listening
        self.close_connection = fault.truncate

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
