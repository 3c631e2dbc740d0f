"""Month replays shared by the signal-quality and lifecycle suites: each
case is replayed once per session, at the service's cadence (every 15
minutes in working hours, hourly outside), and judged by both."""

from __future__ import annotations

import pytest

from tests.scenarios.backtest import Backtest
from tests.scenarios.catalogue import LEAD_SHORTFALL, MQL_DROP, replay


@pytest.fixture(scope="session")
def lead_shortfall(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    return replay(LEAD_SHORTFALL, tmp_path_factory.mktemp("lead-shortfall"))


@pytest.fixture(scope="session")
def mql_drop(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    """Replayed from May 4 to June 30: crosses a period's end."""
    return replay(MQL_DROP, tmp_path_factory.mktemp("mql-drop"))
