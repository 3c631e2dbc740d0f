"""The lag model as tables: the Kaplan–Meier curve over censored cohorts,
maturity, and the same-age comparison (docs/design.md, "Lags and the
same-age comparison")."""

from __future__ import annotations

import gc
import itertools
import math
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.facts import CohortTable
from monitor.judge import derived, lags, stats
from monitor.judge.stats import (
    beta_binomial_lower_tail,
    binomial_lower_tail,
    negative_binomial_lower_tail,
    poisson_lower_tail,
    rate_relative_variance,
)

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


def test_a_curve_is_learned_once_per_table_and_forgotten_with_it() -> None:
    """The store hands back the same table object while its days are
    unchanged: its curves are kept with it, a table read afresh (a new
    object, even an equal one) learns afresh, and nothing outlives it."""
    cohorts = {ago: (100, {2: 40}) for ago in range(3, 60)}
    first, again = table(cohorts), table(cohorts)
    curve = lags.learn(first, min_conversions=30)
    assert curve is not None
    assert lags.learn(first, min_conversions=30) is curve
    assert lags.learn(again, min_conversions=30) == curve
    assert lags.learn(again, min_conversions=30) is not curve
    assert lags.learn(first, min_conversions=10**6) is None  # the threshold is in the key
    kept = id(first)
    assert kept in derived._kept
    del first
    gc.collect()
    assert kept not in derived._kept


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


# --- tests widened by a planning rate learned on a sample ----------------------


def _moments(cdf: list[float]) -> tuple[float, float, float]:
    pmf = [cdf[0]] + [b - a for a, b in itertools.pairwise(cdf)]
    mean = sum(k * p for k, p in enumerate(pmf))
    return cdf[-1], mean, sum((k - mean) ** 2 * p for k, p in enumerate(pmf))


def test_beta_binomial_has_the_mean_and_the_widened_variance() -> None:
    n, p, relative = 200, 0.3, 0.02
    total, mean, variance = _moments(
        [beta_binomial_lower_tail(k, n, p, relative) for k in range(n + 1)]
    )
    assert total == pytest.approx(1.0)
    assert mean == pytest.approx(n * p)
    assert variance == pytest.approx(n * p * (1 - p) + n * (n - 1) * (p * p * relative))


def test_negative_binomial_has_the_mean_and_the_widened_variance() -> None:
    total, mean, variance = _moments(
        [negative_binomial_lower_tail(k, 50, 0.05) for k in range(600)]
    )
    assert total == pytest.approx(1.0)
    assert mean == pytest.approx(50.0)
    assert variance == pytest.approx(50 + 50**2 * 0.05)


@pytest.mark.parametrize(
    ("k", "mean", "relative_variance"),
    [
        (25_000, 30_000, 0.01),
        (90_000, 100_000, 0.002),
        (40_000, 30_000, 0.05),
        (21_000, 60_000, 0.3),
    ],
)
def test_a_large_count_is_tested_in_closed_form_with_the_same_answer(
    k: int, mean: float, relative_variance: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 20,000 the tail is the incomplete beta function, not a sum of
    every term (a wide negative binomial has none negligible)."""
    closed = [negative_binomial_lower_tail(k, mean, relative_variance, mid=m) for m in (0, 1)]
    monkeypatch.setattr(stats, "_SUMMED_UP_TO", 10**9)
    summed = [negative_binomial_lower_tail(k, mean, relative_variance, mid=m) for m in (0, 1)]
    assert closed == pytest.approx(summed, rel=1e-8, abs=1e-300)


def test_a_target_worked_back_from_few_records_makes_a_shortfall_less_surprising() -> None:
    # 276 leads against 347 expected: 3.8 standard deviations if the target
    # were exact, well within what a target worked back from 120 SQLs knows.
    exact = negative_binomial_lower_tail(276, 347, 0.0, mid=True)
    learned = negative_binomial_lower_tail(276, 347, rate_relative_variance(0.3, 120), mid=True)
    assert exact < 0.001 < 0.05 < learned


@pytest.mark.parametrize("k", [0, 20, 45, 60, 100])
def test_an_exact_expectation_is_the_plain_test(k: int) -> None:
    assert negative_binomial_lower_tail(k, 64.0, 0.0, mid=True) == poisson_lower_tail(
        k, 64.0, mid=True
    )
    assert beta_binomial_lower_tail(k, 235, 0.27, 0.0, mid=True) == binomial_lower_tail(
        k, 235, 0.27, mid=True
    )


@pytest.mark.parametrize(
    ("k", "n", "p", "relative"),
    [(38_000, 100_000, 0.39, 1e-5), (2_900, 3_000, 0.95, 1e-3), (40, 60_000, 0.001, 0.05)],
)
def test_a_large_cohort_sums_every_term_that_counts(
    k: int, n: int, p: float, relative: float
) -> None:
    """Terms far below the largest are left out of the beta-binomial sum:
    it is the sum over every term from 0 to k, bit for bit."""
    total = p * (1 - p) / (p * p * relative) - 1
    a, b = p * total, (1 - p) * total
    base = math.lgamma(n + 1) + math.lgamma(total) - math.lgamma(a) - math.lgamma(b)
    base -= math.lgamma(n + total)
    terms = [
        base
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + math.lgamma(i + a)
        + math.lgamma(n - i + b)
        for i in range(k + 1)
    ]
    top = max(terms)
    weights = [math.exp(t - top) for t in terms]
    weights[-1] /= 2
    every = min(1.0, math.exp(top) * math.fsum(weights))
    assert beta_binomial_lower_tail(k, n, p, relative, mid=True) == every


def test_a_rate_learned_on_few_records_is_known_to_its_binomial_variance() -> None:
    assert rate_relative_variance(0.3, 120) == pytest.approx(0.7 / 36)
    assert rate_relative_variance(0.3, None) == 0.0
    learned = beta_binomial_lower_tail(45, 235, 0.27, rate_relative_variance(0.3, 120), mid=True)
    assert binomial_lower_tail(45, 235, 0.27, mid=True) < learned


class _Weekdays:
    """Monday to Friday."""

    def elapsed_days(self, start: date, end: date, as_of: object) -> tuple[float, float]:
        total = float(self.business_days_between(start, end))
        return total, total

    def business_days_between(self, d1: date, d2: date) -> int:
        return sum(1 for i in range((d2 - d1).days) if (d1 + timedelta(days=i)).weekday() < 5)


def test_a_cohort_is_aged_in_working_days_given_a_calendar() -> None:
    """On a Monday, Friday's MQLs have converted only on Friday: calendar
    days expect the weekend's share of them too, and a Monday would read
    as a drop."""
    monday = date(2026, 6, 8)
    curve = lags.LagCurve((0.1, 0.2, 0.3, 0.4), conversions=100)  # a quarter a day
    entered = date(2026, 6, 5)
    friday = CohortTable(monday, {entered: 100}, {(entered, 0): 10})
    by_calendar = lags.same_age(friday, curve, planned=0.4, days=14)
    by_working_days = lags.same_age(friday, curve, planned=0.4, days=14, working_days=_Weekdays())
    assert by_calendar.expected == pytest.approx(100 * 0.3)  # three days after entry
    assert by_working_days.expected == pytest.approx(100 * 0.1)  # the entry day only
    assert by_calendar.ratio < 0.5 and by_working_days.ratio == pytest.approx(1.0)


def test_a_curve_learned_over_working_days_sees_the_next_working_day_as_one() -> None:
    """Every person converts on the working day after entering: one day
    later from Monday to Thursday, three from Friday. Over working days the
    lag is always one."""
    today = date(2026, 6, 29)  # a Monday; four weeks of weekday cohorts before it
    entered, converted = {}, {}
    for i in range(1, 29):
        day = today - timedelta(days=i)
        if day.weekday() < 5:
            entered[day] = 10
            converted[(day, 3 if day.weekday() == 4 else 1)] = 10
    cohorts = CohortTable(today, entered, converted)
    by_calendar = lags.learn(cohorts, 1)
    by_working_days = lags.learn(cohorts, 1, _Weekdays())
    assert by_calendar is not None and by_working_days is not None
    assert by_calendar.share_by(1) == pytest.approx(0.8, abs=0.05)  # Fridays wait for Monday
    assert (by_working_days.share_by(0), by_working_days.share_by(1)) == (0.0, 1.0)
