"""``alignmon plan`` below the command line: a configured goal with
what-if overrides, or the overrides alone, both ways."""

from __future__ import annotations

import pytest

from monitor.config.models import Goal
from monitor.errors import ConfigError
from monitor.planner import WhatIf, find_goal, plan

RATES = {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25}


def goal(**fields: object) -> Goal:
    base: dict[str, object] = {
        "name": "q1",
        "source": "crm",
        "revenue": 1_000_000,
        "average_deal_size": {"auto": True, "fallback": 50_000},
        "rates": {"sql_to_won": {"auto": True, "fallback": 0.2}, "mql_to_sql": 0.4},
        "plan": {"cost": {"lead": 40}, "budget": 30_000},
    }
    return Goal.model_validate(base | fields)


def test_flags_alone_plan_back_from_revenue() -> None:
    p = plan(None, WhatIf(revenue=100_000_000, deal_size=50_000))
    assert p.targets["won"] == 2_000
    assert p.rates["lead_to_mql"] == (0.25, "default")
    assert (p.period, p.months) == ("quarter", 3)
    assert p.reach == () and p.fits is None


def test_a_configured_goal_plans_at_its_fallbacks_without_history() -> None:
    p = plan(goal(), WhatIf())
    assert (p.deal_size, p.deal_source) == (50_000, "fallback")
    assert p.rates["sql_to_won"] == (0.2, "fallback")
    assert p.rates["mql_to_sql"] == (0.4, "config")
    assert p.targets == {"lead": 1_000, "mql": 250, "sql": 100, "won": 20}
    assert p.spend is not None and p.spend.over == 10_000
    fits = p.fits
    assert fits is not None and (fits.won, fits.revenue) == (15, 750_000)
    assert p.to_dict()["fits"] == {
        "limit": "budget",
        "stage": "lead",
        "won": 15,
        "revenue": 750_000,
        "covers_goal": False,
    }


def test_overrides_replace_the_goals_values() -> None:
    what_if = WhatIf(
        closes=10,
        rates={"sql_to_won": 0.25},
        cost={"lead": 20},
        capacity={"sql": 30},
        commit={"mql": 90, "sql_to_won": 0.2},
        period="month",
    )
    p = plan(goal(), what_if)
    assert (p.revenue, p.closes, p.months) == (None, 10, 1)
    assert p.targets == {"lead": 400, "mql": 100, "sql": 40, "won": 10}
    assert p.costs.cost == {"lead": 20} and p.costs.capacity == {"sql": 30}
    assert [(c.stage, c.rate, c.short) for c in p.commitments] == [
        ("mql", None, True),
        ("sql", "sql_to_won", True),
    ]
    assert [(r.limit, r.stage, r.won) for r in p.reach] == [
        ("budget", "lead", 37),  # 1,500 leads at 20 → 375 → 150 → 37.5
        ("capacity", "sql", 7),
    ]


def test_forward_from_a_budget_alone() -> None:
    what_if = WhatIf(budget=50_000, cost={"lead": 40}, deal_size=50_000, rates=RATES)
    p = plan(None, what_if)
    assert p.targets == {}
    fits = p.fits
    assert fits is not None and fits.volumes == {"lead": 1_250, "mql": 312, "sql": 125, "won": 25}


@pytest.mark.parametrize(
    ("what_if", "message"),
    [
        (WhatIf(revenue=1_000_000), "needs an average deal size: pass --deal-size"),
        (WhatIf(closes=10, rates={"lead_to_won": 0.2}), "--rate lead_to_won: not a rate"),
        (WhatIf(closes=10, rates={"sql_to_won": 1.5}), "--rate sql_to_won 1.5:"),
        (WhatIf(revenue=-5, deal_size=1), "--revenue -5: Input should be greater than 0"),
        (WhatIf(closes=10, budget=100), "a budget needs what the plan costs"),
        (WhatIf(closes=10, capacity={"visit": 10}), "--capacity visit needs a visit→lead rate"),
        (WhatIf(closes=10, commit={"mql": 2.5}), "--commit mql=2.5: give a stage"),
        (WhatIf(closes=10, cost={"pipeline": 3}), "cost.pipeline"),
    ],
)
def test_bad_overrides_are_one_clear_line(what_if: WhatIf, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        plan(None, what_if)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and "Value error" not in str(caught.value)


def test_an_unknown_goal_names_the_configured_ones() -> None:
    with pytest.raises(ConfigError, match=r"--goal q9: no such goal \(goals: q1\)"):
        find_goal([goal()], "q9")
