"""One routed HTTP server in a thread, with fault knobs, shared by every fake
(HubSpot, Salesforce, Slack) so that a fault means the same thing for each API.

A fake subclasses ``FakeServer`` and keeps only what is its vendor's: its
routes and their answers, its error bodies and its own knobs. This module
holds the rest: listening on 127.0.0.1 and a free port (over TLS if the fake
sets ``tls``), ``down()``/``up()``, reading a request, the fault queue, and
writing an answer, whole or cut short, late or garbled.

One request goes: wait ``delay`` → ``route`` names its endpoint → ``log`` →
the first fault waiting for that endpoint is taken → the fault's ``delay`` →
the fault's answer if it has a status, else ``refuse`` (auth, limits) or the
fake's ``answer`` → the fault's ``stall``, ``truncate`` or ``cut`` on that
answer → written.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

HTML = "text/html; charset=utf-8"


@dataclass
class Request:
    method: str
    target: str  # path and query string, as sent
    headers: Message
    body: bytes
    endpoint: str = "unknown"  # the route's name: what is counted and what faults wait for
    params: dict[str, Any] = field(default_factory=dict)  # what routing read from the request

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    @property
    def args(self) -> dict[str, str]:
        """The query string, the last value of each name."""
        return {name: values[-1] for name, values in self.query.items()}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # as in ``Fault``
    truncate: bool = False
    cut: bool = False


def json_reply(status: int, payload: Any, content_type: str) -> Reply:
    return Reply(status, json.dumps(payload).encode(), content_type)


@dataclass
class Fault:
    """What the next ``times`` requests to ``endpoint`` (None: any) get; each
    field means the same for every fake:

    - ``status``: answered instead of the request, with the fake's error body
      (from ``code`` and ``message``) or ``body`` verbatim as ``content_type``,
      and a Retry-After header if ``retry_after`` is set;
    - ``delay``: seconds the request waits before it is answered at all;
    - ``stall``: the request is served, its answer held that many seconds;
    - ``truncate``: half the body, with a Content-Length to match;
    - ``cut``: Content-Length promises the whole body; half is sent, then the
      connection drops.
    """

    endpoint: str | None
    times: int = 1
    status: int = 0
    code: str = ""
    message: str = ""
    body: str | None = None
    content_type: str = HTML
    retry_after: float | str | None = None
    delay: float = 0.0
    stall: float = 0.0
    truncate: bool = False
    cut: bool = False


@dataclass(frozen=True)
class Route:
    method: str  # "*": any
    pattern: str  # a regular expression the whole path, less trailing slashes, matches
    endpoint: str  # a name, with the pattern's groups in braces: "search:{kind}"


class FakeServer:
    """The server under every fake. A fake names its ``routes`` (or overrides
    ``route``) and answers in ``answer``; it may ``log`` requests, ``refuse``
    some before their route runs and say which faults apply to an endpoint.
    ``statuses`` counts the answers sent, by status; ``delay`` slows every
    request."""

    methods: tuple[str, ...] = ("GET", "POST")  # others answer 501, as http.server does
    routes: tuple[Route, ...] = ()

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.statuses: Counter[int] = Counter()
        self.delay = 0.0  # seconds every request waits before it is even counted
        self.port = 0
        self.tls: ssl.SSLContext | None = None
        self._faults: list[Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()  # client connections being served
        self._closing = threading.Event()  # ends every wait when the fake closes

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self.up()
        return self

    def up(self) -> None:
        """Listen (again, on the same port after ``down()``)."""
        handler = type(
            "Handler",
            (_Handler,),
            {"fake": self, **{f"do_{method}": _Handler.serve for method in self.methods}},
        )
        server = _Server(("127.0.0.1", self.port), handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server, self.port = server, server.server_address[1]
        # A short poll interval: ``down`` and ``close`` wait for the loop to notice.
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    def down(self) -> None:
        """Refuse connections until ``up()``: the listening socket closes and
        open keep-alive connections are cut, so a client's pool cannot
        reuse one."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            cut, self._open = list(self._open), set()
        for connection in cut:
            with contextlib.suppress(OSError):  # the client closed it already
                connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing.set()
        self.down()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- faults --------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def fault_applies(self, fault: Fault, endpoint: str) -> bool:
        return fault.endpoint in (None, endpoint)

    def _take_fault(self, endpoint: str) -> Fault | None:
        for fault in self._faults:
            if self.fault_applies(fault, endpoint):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _wait(self, seconds: float) -> None:
        self._closing.wait(seconds)

    # -- what a fake provides --------------------------------------------------

    def route(self, request: Request) -> tuple[str, dict[str, Any]]:
        """(endpoint, params) from ``routes``; ("unknown", {}) if none matches."""
        path = request.path.rstrip("/")
        for route in self.routes:
            match = re.fullmatch(route.pattern, path)
            if match and route.method in ("*", request.method):
                return route.endpoint.format(**match.groupdict()), match.groupdict()
        return "unknown", {}

    def log(self, request: Request) -> None:
        """Note a request, as it arrives (before any fault)."""

    def refuse(self, request: Request) -> Reply | None:
        """The answer to a request refused before its route runs, or None."""
        return None

    def answer(self, request: Request) -> Reply:
        raise NotImplementedError

    def error_reply(self, request: Request, fault: Fault) -> Reply:
        """The vendor's error answer for a fault's status."""
        raise NotImplementedError

    # -- one request ------------------------------------------------------------

    def serve(self, request: Request) -> Reply:
        if self.delay:
            self._wait(self.delay)
        request.endpoint, request.params = self.route(request)
        with self.lock:
            self.log(request)
            fault = self._take_fault(request.endpoint)
            if fault is None or not fault.delay:
                return self._reply(request, fault)
        self._wait(fault.delay)
        with self.lock:
            return self._reply(request, fault)

    def _reply(self, request: Request, fault: Fault | None) -> Reply:
        if fault is not None and fault.status:
            reply = self._fault_reply(request, fault)
        elif (refusal := self.refuse(request)) is not None:
            reply, fault = refusal, None  # a refusal goes out at once, whole
        else:
            reply = self.answer(request)
        if fault is not None:
            reply.stall, reply.truncate, reply.cut = fault.stall, fault.truncate, fault.cut
        self.statuses[reply.status] += 1
        return reply

    def _fault_reply(self, request: Request, fault: Fault) -> Reply:
        if fault.body is not None:
            reply = Reply(fault.status, fault.body.encode(), fault.content_type)
        else:
            reply = self.error_reply(request, fault)
        if isinstance(fault.retry_after, str):
            reply.headers["Retry-After"] = fault.retry_after  # verbatim, e.g. an HTTP date
        elif fault.retry_after is not None:
            reply.headers["Retry-After"] = f"{fault.retry_after:g}"
        return reply


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is part of the tests; anything
        else is a bug in a fake, and is printed."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' pools expect

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY,
        # Nagle and delayed ACKs add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake.lock:
            self.fake._open.add(self.connection)

    def finish(self) -> None:
        with self.fake.lock:
            self.fake._open.discard(self.connection)
        with contextlib.suppress(OSError):  # cut by ``down()``
            super().finish()

    def serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.fake.serve(Request(self.command, self.path, self.headers, body))
        payload = reply.body[: len(reply.body) // 2] if reply.truncate else reply.body
        if reply.stall:
            self.fake._wait(reply.stall)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2] if reply.cut else payload)
        except OSError:  # the client gave up (a stalled answer), or ``down()`` cut it
            self.close_connection = True
        if reply.cut:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the fake's counters, not access logs."""
