"""Shared fixtures: the throwaway PostgreSQL cluster and a store on each
backend, so every store-facing test runs on SQLite and on PostgreSQL; and
the order the files are handed to the workers in (longest first)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.pg import PostgresCluster, find_bin_dir

#: The files that take longest, longest first. With ``--dist loadfile`` a
#: file is one unit of work and units go out in collection order: the
#: month replays started first share the two workers evenly, where started
#: last one worker would grind through them while the other idles.
LONGEST_FIRST = (
    "tests/scenarios/test_signal_quality.py",
    "tests/scenarios/test_lifecycle_quality.py",
    "tests/scenarios/test_stalls.py",
    "tests/scenarios/test_forecast_accuracy.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the files with slow tests, then the
    others; a file's tests stay together and in their order."""

    def path(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    slow = {path(item) for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        if path(item) in LONGEST_FIRST:
            return LONGEST_FIRST.index(path(item))
        return len(LONGEST_FIRST) + (path(item) not in slow)

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack-sdk and requests read proxy variables; tests only talk to loopback.
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "PostgreSQL server binaries not found; run `make pg` (installs postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = PostgresCluster(bin_dir)
    cluster.start()
    yield cluster
    cluster.remove()


def open_store(request: pytest.FixtureRequest, backend: str, folder: Path) -> Store:
    """A migrated store on ``backend``: a SQLite file in ``folder``, or a new
    database on the session's PostgreSQL cluster."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'alignmon.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    store = Store(url)
    store.upgrade()
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = open_store(request, request.param, tmp_path)
    yield store
    store.close()
