"""The lag model as tables: the Kaplan–Meier curve over censored cohorts,
maturity, and the same-age comparison (docs/design.md, "Lags and the
same-age comparison")."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.facts import CohortTable
from monitor.judge import lags
from monitor.judge.stats import binomial_lower_tail

TODAY = date(2026, 6, 1)


def table(cohorts: dict[int, tuple[int, dict[int, int]]]) -> CohortTable:
    """``{days ago: (entered, {lag: converted})}``."""
    entered = {TODAY - timedelta(days=ago): n for ago, (n, _) in cohorts.items()}
    converted = {
        (TODAY - timedelta(days=ago), lag): c
        for ago, (_, by_lag) in cohorts.items()
        for lag, c in by_lag.items()
    }
    return CohortTable(TODAY, entered, converted)


def test_young_cohorts_are_censored_not_failures() -> None:
    """Half of everyone converts exactly 10 days in. Cohorts younger than
    that have converted nobody yet; counted as failures they would pull the
    rate toward a third."""
    old = {ago: (100, {10: 50}) for ago in range(11, 41)}
    young = {ago: (100, {}) for ago in range(1, 11)}
    curve = lags.learn(table(old | young), min_conversions=30)
    assert curve is not None
    assert curve.plateau == pytest.approx(0.5)
    assert (curve.median, curve.p90) == (10, 10)
    assert curve.cumulative[9] == 0 and curve.share_by(9) == 0 and curve.share_by(10) == 1
    assert curve.conversions == 1_500


def test_a_hand_computed_curve() -> None:
    """Two cohorts: 10 persons 3 days ago (2 converted at lag 0, 1 at lag 2),
    10 persons 1 day ago (1 converted at lag 0). At lag 0 all 20 are at risk
    and 3 convert; at lag 1 only the old cohort's 8 remain watched, nobody
    converts; at lag 2, 8 at risk, 1 converts."""
    t = table({3: (10, {0: 2, 2: 1}), 1: (10, {0: 1})})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lags, "MIN_AT_RISK", 1)
        curve = lags.learn(t, min_conversions=1)
    assert curve is not None
    s0 = 1 - 3 / 20
    assert curve.cumulative == pytest.approx((1 - s0, 1 - s0, 1 - s0 * (1 - 1 / 8)))


def test_too_few_conversions_learn_nothing() -> None:
    assert lags.learn(table({30: (100, {2: 29})}), min_conversions=30) is None
    assert lags.learn(table({}), min_conversions=1) is None
    assert lags.learn(table({30: (100, {})}), min_conversions=0) is None


def test_the_curve_stops_where_few_are_watched() -> None:
    """Lags past the age of all but a handful of cohorts are not guessed."""
    t = table({5: (1_000, {0: 300}), 60: (10, {40: 5})})
    curve = lags.learn(t, min_conversions=30)
    assert curve is not None
    assert len(curve.cumulative) == 5  # lags 0–4, where the big cohort is watched
    assert curve.plateau == pytest.approx(0.3, abs=0.01)


@given(
    rate=st.floats(0.05, 0.9),
    lag=st.integers(0, 20),
    young=st.integers(0, 30),
)
def test_an_exact_step_is_learned_exactly(rate: float, lag: int, young: int) -> None:
    n = 1_000
    cohorts = {ago: (n, {lag: round(rate * n)}) for ago in range(lag + 1, lag + 60)}
    cohorts |= {ago: (n, {}) for ago in range(1, min(young, lag) + 1)}
    curve = lags.learn(table(cohorts), min_conversions=1)
    assert curve is not None
    assert curve.plateau == pytest.approx(round(rate * n) / n)
    assert curve.median == curve.p90 == lag


def test_maturity_and_recent_window_follow_the_lag() -> None:
    curve = lags.LagCurve((0.1, 0.2, 0.3, 0.36, 0.4), conversions=100)
    assert (curve.median, curve.p90) == (1, 3)  # 50% and 90% of the 40% it levels at
    assert lags.maturity_days("auto", curve) == 3
    assert lags.maturity_days(30, curve) == 30
    assert lags.maturity_days("auto", None) == lags.FALLBACK_MATURITY_DAYS
    assert lags.recent_days("auto", curve) == 14  # never under two weeks
    assert lags.recent_days(21, curve) == 21
    slow = lags.LagCurve(tuple([0.0] * 60 + [0.3]), conversions=100)
    assert lags.recent_days("auto", slow) == 60


def test_matured_cohorts_count_by_exposure() -> None:
    """Cohorts just past maturity have had most, not all, of their time: the
    rate divides by their exposure, not their head count."""
    curve = lags.LagCurve((0.0, 0.2, 0.4), conversions=100)  # half by lag 1
    t = table({2: (100, {1: 20}), 10: (100, {1: 20, 2: 20})})
    cohort = lags.matured(t, maturity=1, curve=curve)
    assert (cohort.entered, cohort.converted) == (200, 60)
    assert cohort.exposure == pytest.approx(100 * 0.5 + 100 * 1.0)
    assert cohort.rate == pytest.approx(0.4)  # the truth, not 60/200


def test_same_age_expectation_and_its_p_value() -> None:
    curve = lags.LagCurve((0.0, 0.2, 0.4), conversions=100)
    t = table({2: (100, {1: 5}), 5: (100, {1: 10, 2: 10})})
    cohort = lags.same_age(t, curve, planned=0.4, days=14)
    assert (cohort.entered, cohort.converted) == (200, 25)
    assert cohort.expected == pytest.approx(0.4 * (100 * 0.5 + 100))
    assert cohort.ratio == pytest.approx(25 / 60)
    assert cohort.implied_rate == pytest.approx(0.4 * 25 / 60)
    assert cohort.p_value == pytest.approx(binomial_lower_tail(25, 200, 0.3, mid=True))
    assert cohort.p_value < 1e-6
    assert (cohort.first, cohort.last) == (TODAY - timedelta(days=14), TODAY)


def test_binomial_lower_tail() -> None:
    assert binomial_lower_tail(2, 10, 0.5) == pytest.approx(56 / 1024)
    assert binomial_lower_tail(2, 10, 0.5, mid=True) == pytest.approx((11 + 22.5) / 1024)
    assert binomial_lower_tail(10, 10, 0.3) == 1.0
    assert binomial_lower_tail(-1, 10, 0.3) == 0.0
    assert binomial_lower_tail(0, 10, 0.0) == 1.0
    assert binomial_lower_tail(3, 10, 1.0) == 0.0
    # Thousands of trials: no underflow, and the normal approximation agrees.
    assert binomial_lower_tail(3_800, 10_000, 0.4) == pytest.approx(2.3e-5, rel=0.1)
