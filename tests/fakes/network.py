"""Addresses where nothing useful answers, for tests of what happens with no
network: a port nobody listens on (the connection is refused at once), a
silent server (the connection opens, no answer ever comes), a blackhole
(the connection never opens, as with a firewall that drops packets or an
unroutable host) and a trickle server (an answer that never ends)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Connections that fill a listen(0) backlog; the kernel drops the SYNs of
#: any further ones.
_BACKLOG_FILL = 3


def closed_port() -> int:
    """A loopback port that was free a moment ago: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def silent_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT``: the kernel completes every connection into
    the listen backlog, nothing ever reads the request or answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@contextmanager
def blackhole() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where a connection never opens: a listener
    whose backlog is full and never accepts, so the kernel drops new SYNs."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(_BACKLOG_FILL):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
        yield f"http://127.0.0.1:{address[1]}"


@contextmanager
def trickle_server(every: float = 0.2) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` that answers one byte of an endless header
    every ``every`` seconds: each read returns before the socket timeout, so
    only a deadline on the whole call ends it, as with a name lookup that
    hangs on an unreachable DNS server."""
    stop = threading.Event()

    def dribble(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not stop.wait(every):
                connection.sendall(b"a")

    def serve(listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                connection, _ = listener.accept()
                threading.Thread(target=dribble, args=(connection,), daemon=True).start()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        threading.Thread(target=serve, args=(listener,), daemon=True).start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        finally:
            stop.set()
