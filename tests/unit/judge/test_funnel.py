"""Back-calculation, rate choice and the Wilson bound (docs/design.md, "Back-calculation")."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config.models import AutoAmount, AutoRate, AutoRateSettings, Goal
from monitor.facts import Cohort, DealSample
from monitor.interfaces import NEXT_STAGE, RATE_FROM
from monitor.judge.funnel import (
    back_calculate,
    ceil_count,
    resolve_deal_size,
    resolve_rate,
    wilson_lower,
)

SETTINGS = AutoRateSettings()  # min_sample 30, large_sample 400
SHADED_399 = 120 / 399 - (120 / 399 - wilson_lower(120, 399)) / 370


def goal(**fields: object) -> Goal:
    return Goal.model_validate({"name": "g", "source": "hs", **fields})


def rates(
    sql_to_won: float, mql_to_sql: float, lead_to_mql: float, visit_to_lead: float | None = None
) -> dict[str, float]:
    plan = {"sql_to_won": sql_to_won, "mql_to_sql": mql_to_sql, "lead_to_mql": lead_to_mql}
    if visit_to_lead is not None:
        plan["visit_to_lead"] = visit_to_lead
    return plan


# --- the worked examples ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "plan", "deal", "stage", "expected"),
    [
        # 10 closes at a 20% lead→close rate → 50 leads (20% = 50% × 80% × 50%).
        ({"closes": 10}, rates(0.5, 0.8, 0.5), None, "lead", 50),
        ({"closes": 10}, rates(1.0, 1.0, 0.2), None, "lead", 50),
        # $100,000,000 at $50,000 average deal → 2,000 deals.
        (
            {"revenue": 100_000_000, "average_deal_size": 50_000},
            rates(0.2, 0.4, 0.25),
            50_000.0,
            "won",
            2_000,
        ),
        # 400 leads at a 1% visit→lead rate → 40,000 visits.
        ({"closes": 100}, rates(1.0, 0.5, 0.5, 0.01), None, "lead", 400),
        ({"closes": 100}, rates(1.0, 0.5, 0.5, 0.01), None, "visit", 40_000),
    ],
)
def test_worked_examples(
    fields: dict[str, object], plan: dict[str, float], deal: float | None, stage: str, expected: int
) -> None:
    assert back_calculate(goal(**fields), plan, deal)[stage] == expected


def test_observed_rate_from_visits_and_leads() -> None:
    """200 leads from 20,000 visits → a 1% observed visit→lead rate."""
    cohort = Cohort(entered=20_000, converted=200)
    assert cohort.rate == 0.01
    planned = resolve_rate("auto", cohort, SETTINGS, default=0.02)
    assert (planned.value, planned.source, planned.sample) == (0.01, "observed", 20_000)


def test_full_plan_top_to_bottom() -> None:
    g = goal(revenue=1_000_000, average_deal_size=50_000)
    plan = back_calculate(g, rates(0.2, 0.4, 0.25, 0.01), 50_000)
    assert plan == {"visit": 100_000, "lead": 1_000, "mql": 250, "sql": 100, "won": 20}
    assert list(plan) == ["visit", "lead", "mql", "sql", "won"]
    assert "visit" not in back_calculate(g, rates(0.2, 0.4, 0.25), 50_000)


# --- float noise -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (21 / 0.35, 60),  # 60.00000000000001
        (21 / 0.7, 30),  # 30.000000000000004
        (175 / 0.35, 500),
        (400 / 0.01, 40_000),
        (49.9999999999, 50),
        (50.1, 51),
        (50.000001, 51),  # a real excess, not noise
        (0.2, 1),
        (3.0, 3),
    ],
)
def test_ceil_count_ignores_float_noise(value: float, expected: int) -> None:
    assert ceil_count(value) == expected


@pytest.mark.parametrize(
    ("closes", "rate", "sql"), [(21, 0.35, 60), (21, 0.7, 30), (42, 0.35, 120)]
)
def test_noise_does_not_add_a_record(closes: int, rate: float, sql: int) -> None:
    assert back_calculate(goal(closes=closes), rates(rate, 1.0, 1.0), None)["sql"] == sql


def test_revenue_goal_without_deal_size_is_refused() -> None:
    with pytest.raises(ValueError, match="average deal size"):
        back_calculate(goal(revenue=1000, average_deal_size="auto"), rates(0.2, 0.4, 0.25), None)


# --- Wilson lower bound ---------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "lower"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (95%).
        (81, 263, 0.95, 0.2553),
        (15, 148, 0.95, 0.0624),
        (0, 20, 0.95, 0.0),
        (1, 29, 0.95, 0.0061),
        # 90%, as the plan uses (z = 1.6449).
        (5, 10, 0.90, 0.2693),
        (40, 100, 0.90, 0.3231),
        (10, 50, 0.90, 0.1235),
        (0, 0, 0.90, 0.0),
    ],
)
def test_wilson_lower_known_values(successes: int, n: int, confidence: float, lower: float) -> None:
    assert wilson_lower(successes, n, confidence) == pytest.approx(lower, abs=5e-5)


@given(n=st.integers(1, 5_000), share=st.floats(0, 1))
def test_wilson_lower_solves_the_score_equation(n: int, share: float) -> None:
    successes = round(share * n)
    p_hat, z = successes / n, 1.6448536269514722
    lower = wilson_lower(successes, n)
    assert 0.0 <= lower <= p_hat
    if successes:
        # The bound is where the score statistic equals z.
        assert (p_hat - lower) ** 2 == pytest.approx(
            z * z * lower * (1 - lower) / n, rel=1e-6, abs=1e-12
        )


def test_wilson_lower_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson_lower(11, 10)


# --- choosing the planning rate -----------------------------------------------


@pytest.mark.parametrize(
    ("setting", "cohort", "source", "value", "sample"),
    [
        (0.4, Cohort(1000, 100), "config", 0.4, None),
        ("auto", None, "fallback", 0.13, 0),
        ("auto", Cohort(29, 10), "fallback", 0.13, 29),
        (AutoRate(fallback=0.3), Cohort(10, 5), "fallback", 0.3, 10),
        ("auto", Cohort(100, 0), "fallback", 0.13, 100),  # nothing converted: no plan on 0%
        ("auto", Cohort(30, 12), "observed-lower-bound", wilson_lower(12, 30), 30),
        # Shaded toward the bound by how far the sample is from large_sample.
        ("auto", Cohort(215, 86), "observed-lower-bound", (wilson_lower(86, 215) + 0.4) / 2, 215),
        ("auto", Cohort(399, 120), "observed-lower-bound", SHADED_399, 399),
        # A cohort still converting: the bound is over its exposure.
        ("auto", Cohort(30, 12, exposure=24), "observed-lower-bound", wilson_lower(12, 24), 30),
        (AutoRate(fallback=0.3), Cohort(400, 120), "observed", 0.3, 400),
        ("auto", Cohort(5000, 1000), "observed", 0.2, 5000),
    ],
)
def test_resolve_rate(
    setting: object, cohort: Cohort | None, source: str, value: float, sample: int | None
) -> None:
    planned = resolve_rate(setting, cohort, SETTINGS, default=0.13)  # type: ignore[arg-type]
    assert (planned.source, planned.sample) == (source, sample)
    assert planned.value == pytest.approx(value)
    if cohort is not None and source != "config":
        assert planned.observed == cohort.rate


def test_lower_bound_is_below_the_observed_rate() -> None:
    planned = resolve_rate("auto", Cohort(50, 20), SETTINGS, default=0.13)
    assert planned.source == "observed-lower-bound"
    assert planned.value < planned.observed == 0.4


@pytest.mark.parametrize(
    ("setting", "deals", "source", "value"),
    [
        (50_000.0, DealSample(100, 1.0), "config", 50_000.0),
        ("auto", DealSample(40, 2_000_000.0), "observed", 50_000.0),
        (AutoAmount(fallback=30_000), DealSample(29, 29 * 90_000.0), "fallback", 30_000.0),
        ("auto", DealSample(29, 29 * 90_000.0), "missing", None),
        ("auto", DealSample(0, 0.0), "missing", None),
    ],
)
def test_resolve_deal_size(
    setting: object, deals: DealSample, source: str, value: float | None
) -> None:
    size = resolve_deal_size(setting, deals, SETTINGS)  # type: ignore[arg-type]
    assert (size.source, size.value) == (source, value)


# --- properties of the ceil chain -------------------------------------------------

rate_values = st.floats(min_value=0.001, max_value=1.0, allow_nan=False)
plans = st.fixed_dictionaries({name: rate_values for name in RATE_FROM.values()})


@given(plan=plans, revenue=st.floats(1, 1e9), deal=st.floats(100, 1e6))
def test_chain_never_under_supplies(plan: dict[str, float], revenue: float, deal: float) -> None:
    targets = back_calculate(goal(revenue=revenue, average_deal_size=deal), plan, deal)
    assert targets["won"] * deal >= revenue * (1 - 1e-9)
    for stage, name in RATE_FROM.items():
        below = targets[NEXT_STAGE[stage]]
        assert targets[stage] * plan[name] >= below * (1 - 1e-9)
        assert targets[stage] <= math.ceil(below / plan[name])


@given(plan=plans, low=st.floats(1, 1e9), extra=st.floats(0, 1e9), deal=st.floats(100, 1e6))
def test_chain_is_monotone_in_revenue(
    plan: dict[str, float], low: float, extra: float, deal: float
) -> None:
    small = back_calculate(goal(revenue=low, average_deal_size=deal), plan, deal)
    large = back_calculate(goal(revenue=low + extra, average_deal_size=deal), plan, deal)
    assert all(small[stage] <= large[stage] for stage in small)
