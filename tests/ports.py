"""Ports for servers the tests start and may restart on the same port."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768 and up): a
    server restarted on it must find it free again, while the other test
    worker's client connections take their local ports from that range."""
    rng = random.SystemRandom()
    while True:
        port = rng.randrange(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
