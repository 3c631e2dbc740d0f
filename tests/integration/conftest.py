"""Fixtures of the integration suites that drive one demo goal to the fake
Slack (see demo_goal.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL on each backend: a SQLite file, or a new PostgreSQL
    database on the session's cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'alignmon.db'}"
    return str(request.getfixturevalue("postgres").create_database())
