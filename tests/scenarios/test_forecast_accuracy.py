"""The pipeline forecast against the run rate on generated months whose
outcome is known (tests/scenarios/forecast.py, ``--quick``): made at
mid-period, the pipeline forecast of won deals is closer to where the month
ends than the run-rate projection, and its 80% interval holds the outcome
in roughly 80% of the months with sampling noise."""

from __future__ import annotations

import pytest

from tests.scenarios import forecast
from tests.scenarios.forecast import EXACT, QUICK, Errors, Measured

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured() -> Measured:
    return forecast.run(QUICK, repeat=1)


def test_every_month_has_a_won_forecast(measured: Measured) -> None:
    assert len(measured.won()) == len(QUICK)


def test_pipeline_beats_the_run_rate_on_won_deals(measured: Measured) -> None:
    errors = Errors.of(measured.won())
    assert errors.pipeline < errors.run_rate, forecast.month_table(measured)


def test_the_80_percent_interval_holds_about_80_percent(measured: Measured) -> None:
    """Only months with sampling noise say anything about the interval: an
    exact month sits on its expectation and any sound interval holds it."""
    noisy = [p for p in measured.won() if p.group not in EXACT]
    assert len(noisy) >= 20
    coverage = Errors.of(noisy).coverage
    assert 0.6 <= coverage <= 0.97, forecast.month_table(measured)
