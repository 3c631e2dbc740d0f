"""Addresses where nothing useful answers, for tests of what happens with no
network: a port nobody listens on (the connection is refused at once), a
silent server (the connection opens, no answer ever comes) and a blackhole
(the connection never opens, as with a firewall that drops packets or an
unroutable host). Each client then waits for its own timeout."""

from __future__ import annotations

import contextlib
import socket
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
