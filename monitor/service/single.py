"""One service per SQLite file.

SQLite has no row locks to share work with, so a second ``alignmon run`` on
the same file would sync, evaluate and deliver everything twice. An
exclusive lock on a file beside the database keeps it out, with a message
that says what to do; the lock dies with the process, so a crash never
leaves a stale one. PostgreSQL needs none of this: replicas share work
through leases.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.errors import ConfigError
from monitor.store import Store


@contextmanager
def single_instance(store: Store) -> Iterator[None]:
    database = store.sqlite_file
    if database is None:
        yield
        return
    path = Path(f"{database}.lock")
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"another `alignmon run` is already using {database}; with SQLite only one "
                "service may run. Stop it, or use PostgreSQL (database: postgresql://…) for replicas"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
