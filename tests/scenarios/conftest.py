"""Month replays shared by the signal-quality and lifecycle suites: each
case is replayed once per run, whichever worker asks first
(tests/scenarios/shared.py), and judged by both. Hourly: a shortfall
and a drop show the same at 15-minute steps in working hours (the service's
cadence), at a third of the evaluations; the on-plan and slow-follow-up
months, whose false alarms and breaches only show at that resolution, keep
the service's cadence in their own suites."""

from __future__ import annotations

import pytest

from tests.scenarios.backtest import Backtest
from tests.scenarios.catalogue import LEAD_SHORTFALL, MQL_DROP
from tests.scenarios.shared import shared_replay


@pytest.fixture(scope="session")
def lead_shortfall(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    return shared_replay(LEAD_SHORTFALL, "hourly", tmp_path_factory)


@pytest.fixture(scope="session")
def mql_drop(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    """Replayed from May 4 to June 30: crosses a period's end."""
    return shared_replay(MQL_DROP, "hourly", tmp_path_factory)
