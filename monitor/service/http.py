"""The service's HTTP endpoint: ``/healthz`` (the process answers),
``/readyz`` (an evaluation has succeeded since start, the database answers
and the loop is not stuck) and
``/metrics`` (Prometheus text format).

Bound to loopback by default (``service.listen``): it tells anyone who can
reach it how the funnel is doing, so exposing it is a deliberate choice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from monitor.errors import ConfigError
from monitor.service.metrics import Metrics

log = logging.getLogger(__name__)

#: Returns None when ready, else the reason it is not.
Readiness = Callable[[], str | None]
#: Lines added to /readyz's answer, ready or not (e.g. the Slack socket's
#: state, which does not decide readiness: alerts are still judged and
#: posted while it reconnects).
Details = Callable[[], list[str]]


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise ConfigError(
            f"service.listen: {listen!r} is not HOST:PORT (e.g. 127.0.0.1:9464)"
        ) from None


class HealthServer:
    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        readiness: Readiness,
        details: Details = lambda: [],
    ) -> None:
        host, port = parse_listen(listen)
        self.metrics = metrics
        self.readiness = readiness
        self.details = details
        handler = type("Handler", (_Handler,), {"server_state": self})
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"service.listen: cannot listen on {listen}: {exc.strerror}"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("health and metrics on http://%s:%d", *self._server.server_address[:2])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_state: HealthServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        elif path == "/readyz":
            reason = self.server_state.readiness()
            lines = [f"{line}\n" for line in self.server_state.details()]
            if reason is None:
                self._send(200, "".join(["ready\n", *lines]).encode(), "text/plain")
            else:
                body = "".join([f"not ready: {reason}\n", *lines])
                self._send(503, body.encode(), "text/plain")
        elif path == "/metrics":
            self._send(
                200, generate_latest(self.server_state.metrics.registry), CONTENT_TYPE_LATEST
            )
        else:
            self._send(404, b"not found\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http: %s", format % args)
