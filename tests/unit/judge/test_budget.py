"""Budget and capacity arithmetic (docs/plan.md): the source material's
worked examples backward, and the budget and capacity forward."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config.models import Goal
from monitor.config.plan import PlanCosts
from monitor.judge.budget import (
    binding,
    capacity_needed,
    forward,
    period_months,
    reach,
    spend_needed,
)
from monitor.judge.funnel import back_calculate, back_from_won, ceil_count, floor_count

RATES = {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25, "visit_to_lead": 0.01}
PLAN = {"visit": 100_000, "lead": 1_000, "mql": 250, "sql": 100, "won": 20}


def goal(**fields: object) -> Goal:
    return Goal.model_validate({"name": "q1", "source": "crm"} | fields)


# --- the source material's examples, backward ----------------------------------


def test_ten_closes_at_twenty_percent_need_fifty_leads() -> None:
    """A lead→close rate of 20%: the stages between convert entirely."""
    rates = {"sql_to_won": 0.2, "mql_to_sql": 1.0, "lead_to_mql": 1.0}
    assert back_from_won(10, rates)["lead"] == 50


def test_a_hundred_million_at_fifty_thousand_a_deal_is_two_thousand_deals() -> None:
    g = goal(revenue=100_000_000, average_deal_size=50_000)
    assert back_calculate(g, RATES, 50_000)["won"] == 2_000


def test_four_hundred_leads_at_one_percent_need_forty_thousand_visits() -> None:
    rates = {"sql_to_won": 0.25, "mql_to_sql": 0.4, "lead_to_mql": 0.5, "visit_to_lead": 0.01}
    plan = back_from_won(20, rates)
    assert (plan["lead"], plan["visit"]) == (400, 40_000)


@pytest.mark.parametrize(
    ("won", "rate", "needed"),
    [
        (10, 0.2, 50),  # 10 / 0.2 is 50.000000000000004 in floats: still 50
        (76, 0.25, 304),
        (76, 0.3, 254),  # 253.33… rounds up: a part of a record is a record more
        (1, 0.7, 2),
    ],
)
def test_volumes_round_up_to_whole_records(won: int, rate: float, needed: int) -> None:
    assert back_from_won(won, {"sql_to_won": rate, "mql_to_sql": 1, "lead_to_mql": 1})["sql"] == (
        needed
    )


@pytest.mark.parametrize(("x", "down", "up"), [(28.999999999999996, 29, 29), (2.5, 2, 3)])
def test_forward_rounds_down_and_backward_up_beyond_float_noise(
    x: float, down: int, up: int
) -> None:
    assert (floor_count(x), ceil_count(x)) == (down, up)


@given(
    won=st.integers(1, 10_000),
    rates=st.tuples(*(st.floats(0.01, 1) for _ in range(3))),
)
def test_forward_from_the_backward_plan_reaches_the_goal(
    won: int, rates: tuple[float, float, float]
) -> None:
    named = dict(zip(("sql_to_won", "mql_to_sql", "lead_to_mql"), rates, strict=True))
    plan = back_from_won(won, named)
    assert forward("lead", plan["lead"], named)["won"] >= won


# --- periods, spend and capacity ------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2026, 1, 1), date(2026, 4, 1), 3.0),  # a quarter is 3 months, not 90 days
        (date(2026, 11, 1), date(2027, 2, 1), 3.0),
        (date(2026, 3, 1), date(2026, 3, 11), 10 / (365.25 / 12)),
    ],
)
def test_period_months(start: date, end: date, months: float) -> None:
    assert period_months(start, end) == pytest.approx(months)


def test_spend_is_per_record_costs_plus_monthly_spend_against_the_budget() -> None:
    costs = PlanCosts(cost={"visit": 0.5, "lead": 40}, spend_per_month=5_000, budget=90_000)
    spend = spend_needed(costs, PLAN, months=3)
    assert spend is not None
    assert [(x.stage, x.spend) for x in spend.lines] == [("visit", 50_000), ("lead", 40_000)]
    assert (spend.fixed, spend.total, spend.over) == (15_000, 105_000, 15_000)
    assert spend.to_dict()["over"] == 15_000


def test_no_cost_no_spend() -> None:
    assert spend_needed(PlanCosts(capacity={"lead": 10}), PLAN, 1) is None


def test_a_budget_without_costs_is_refused() -> None:
    with pytest.raises(ValueError, match="a budget needs what the plan costs"):
        PlanCosts(budget=1_000)


def test_capacity_per_month_over_the_period() -> None:
    costs = PlanCosts(capacity={"lead": 300, "sql": 40})
    lines = capacity_needed(costs, PLAN, months=3)
    assert [(x.stage, x.available, x.needed, x.over) for x in lines] == [
        ("lead", 900, 1_000, 100),
        ("sql", 120, 100, -20),
    ]


# --- forward: what a budget or a capacity reaches ---------------------------------


def test_fifty_thousand_at_forty_a_lead_buys_1250_leads() -> None:
    rates = {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25}
    costs = PlanCosts(cost={"lead": 40}, budget=50_000)
    (bought,) = reach(costs, rates, months=1, deal_size=50_000)
    assert bought.volumes == {"lead": 1_250, "mql": 312, "sql": 125, "won": 25}
    assert bought.revenue == 1_250_000


def test_a_visit_buys_its_own_cost_and_that_of_the_leads_it_becomes() -> None:
    """0.5 a visit plus 1% of 40 a lead: 0.9 a visit, after 15,000 of
    monthly spend over 3 months."""
    costs = PlanCosts(cost={"visit": 0.5, "lead": 40}, spend_per_month=5_000, budget=105_000)
    (bought,) = reach(costs, RATES, months=3, deal_size=50_000)
    assert (bought.stage, bought.volume) == ("visit", 100_000)
    assert bought.won == 20


def test_monthly_spend_beyond_the_budget_buys_nothing() -> None:
    costs = PlanCosts(cost={"lead": 40}, spend_per_month=50_000, budget=100_000)
    (bought,) = reach(costs, RATES, months=3, deal_size=None)
    assert (bought.volume, bought.won, bought.revenue) == (0, 0, None)


def test_the_tightest_limit_is_the_one_to_fit() -> None:
    costs = PlanCosts(cost={"lead": 40}, budget=50_000, capacity={"lead": 2_000, "sql": 50})
    rates = {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25}
    reaches = reach(costs, rates, months=1, deal_size=50_000)
    assert [(r.limit, r.stage, r.won) for r in reaches] == [
        ("budget", "lead", 25),
        ("capacity", "lead", 40),
        ("capacity", "sql", 10),
    ]
    fits = binding(reaches)
    assert fits is not None and (fits.stage, fits.revenue) == ("sql", 500_000)
