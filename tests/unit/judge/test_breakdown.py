"""The breakdown as tables: per-value lines and shares, the weak-value
rule (no finding on equal conversion with noise, a finding on a real gap,
each guard on its own), and marketing's revenue line."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.config.models import ExplicitPeriod, Goal
from monitor.facts import Cohort, FunnelFacts, Period, ValueFacts
from monitor.judge import breakdown
from monitor.judge.periods import period_for
from monitor.judge.reconciler import evaluate_goal
from tests.unit.judge.test_reconciler import ZONE


def _period() -> Period:
    chosen = ExplicitPeriod(start=date(2026, 3, 1), end=date(2026, 3, 31))
    return period_for(chosen, datetime(2026, 1, 1, tzinfo=UTC), ZONE)


PERIOD = _period()


def goal(**fields: object) -> Goal:
    base: dict[str, object] = {
        "name": "q1",
        "source": "hs",
        "period": {"start": "2026-03-01", "end": "2026-03-31"},
        "revenue": 1_000_000,
        "average_deal_size": 50_000,
        "rates": {"sql_to_won": 0.2, "mql_to_sql": 0.4, "lead_to_mql": 0.25},
        "breakdown": ["lead_source"],
    }
    return Goal.model_validate(base | fields)


def value(name: str, mqls: int, sqls: int, *, leads: int = 0, revenue: float = 0.0) -> ValueFacts:
    """A value whose ``mqls`` MQLs of the window brought ``sqls`` SQLs."""
    counts = {"lead": leads or mqls * 4, "mql": mqls, "sql": sqls, "won": sqls // 5}
    cohorts = {
        "lead_to_mql": Cohort(leads or mqls * 4, mqls),
        "mql_to_sql": Cohort(mqls, sqls),
    }
    return ValueFacts(name, counts, revenue, cohorts)  # type: ignore[arg-type]


def facts(*values: ValueFacts, attr: str = "lead_source") -> FunnelFacts:
    return FunnelFacts(
        as_of=PERIOD.starts_at + timedelta(days=15),
        period=PERIOD,
        daily={},
        breakdown={attr: values},
    )


def gaps(values: tuple[ValueFacts, ...], **fields: object) -> list[breakdown.Gap]:
    chosen = goal(**fields)
    return breakdown.gaps(chosen, breakdown.compared(chosen, facts(*values)))


def test_a_value_far_below_the_rest_is_a_gap_with_its_numbers() -> None:
    values = (
        value("paid_social", 100, 6),
        value("seo", 80, 25),
        value("webinar", 70, 21),
    )
    (gap,) = gaps(values)
    assert (gap.value, gap.rate) == ("paid_social", "mql_to_sql")
    assert gap.value_rate == pytest.approx(0.06)
    assert gap.rest_rate == pytest.approx(46 / 150)
    assert gap.volume_share == pytest.approx(0.4)
    assert gap.missed == round(100 * 46 / 150) - 6
    assert gap.p_value < 0.001
    finding = breakdown.finding(goal(), PERIOD, gap)
    assert finding.rule == "quality-gap"
    assert (
        finding.fingerprint == "quality-gap/q1/mql:lead_source=paid_social/2026-03-01..2026-04-01"
    )
    assert finding.text.startswith(
        "MQLs with lead_source paid_social convert to SQLs at 6% against 30.7% for the rest: "
        "40% of the MQL volume (100 of 250"
    )


def test_equal_conversion_with_noise_is_no_gap() -> None:
    """Five values converting at the same 30%, binomial noise on each,
    over many draws: the test at 99% confidence stays quiet."""
    rng = random.Random(11)
    noisy = 0
    for _ in range(300):
        values = tuple(
            value(name, n, sum(rng.random() < 0.3 for _ in range(n)))
            for name, n in (("a", 120), ("b", 90), ("c", 60), ("d", 45), ("e", 35))
        )
        noisy += bool(gaps(values))
    assert noisy <= 3  # 1% per test at most, and the tolerance cuts most of those


def test_a_small_value_is_not_judged() -> None:
    """Below min_sample persons, or below the minimum volume share, a 0%
    rate is not a finding."""
    few = (value("tiny", 28, 0), value("seo", 150, 45))
    assert gaps(few) == []
    assert gaps(few, auto_rates={"min_sample": 20}) != []
    thin = (value("thin", 40, 0), value("seo", 400, 120))  # 9% of the volume
    assert gaps(thin) == []


def test_a_gap_within_tolerance_or_chance_is_no_finding() -> None:
    within = (value("a", 500, 130), value("b", 500, 150))  # 26% against 30%: within 20%
    assert gaps(within) == []
    chance = (value("a", 40, 8), value("b", 40, 13))  # 20% against 32.5%: p ≈ 0.1
    assert gaps(chance) == []


def test_records_without_the_value_are_not_reported_but_count_as_the_rest() -> None:
    values = (value("", 100, 5), value("seo", 100, 30))
    assert gaps(values) == []
    assert breakdown.lines(goal(), values)[0].value == breakdown.NO_VALUE


def test_lines_carry_volumes_rates_and_shares() -> None:
    values = (
        value("seo", 100, 30, leads=400, revenue=300_000),
        value("paid_social", 100, 10, leads=600, revenue=100_000),
    )
    seo, paid = breakdown.lines(goal(), values)
    assert seo.to_dict() == {
        "value": "seo",
        "lead": 400,
        "mql": 100,
        "sql": 30,
        "won": 6,
        "revenue": 300_000,
        "rates": {"lead_to_mql": 0.25, "mql_to_sql": 0.3},
        "share": {
            "lead": 0.4,
            "mql": 0.5,
            "sql": 0.75,
            "won": 0.75,
            "revenue": 0.75,
            "goal": 0.3,
        },
    }
    assert paid.shares["goal"] == pytest.approx(0.1)


def test_marketing_line_against_its_share_of_the_goal() -> None:
    chosen = {"property": "lead_source", "values": ["paid_social", "webinar"]}
    values = (
        value("paid_social", 100, 10, revenue=200_000),
        value("webinar", 50, 20, revenue=100_000),
        value("referral", 50, 20, revenue=300_000),
    )
    line = breakdown.marketing(goal(marketing_sources=chosen, marketing_share=0.6), facts(*values))
    assert line is not None
    assert line.to_dict() == {
        "property": "lead_source",
        "values": ["paid_social", "webinar"],
        "measure": "revenue",
        "actual": 300_000,
        "share_of_won": 0.5,
        "target": 600_000,
        "attainment": 0.5,
    }
    assert line.sentence() == (
        "Marketing: 300,000 won revenue from lead_source paid_social, webinar (50% of won) "
        "against 600,000 of the goal: 50%."
    )
    closes = goal(
        revenue=None,
        average_deal_size=None,
        closes=10,
        marketing_sources=chosen,
        marketing_share=0.5,
    )
    line = breakdown.marketing(closes, facts(*values))
    assert line is not None and (line.measure, line.actual, line.target) == ("closes", 6, 5)


def test_marketing_share_needs_marketing_sources() -> None:
    with pytest.raises(ValueError, match="marketing_share needs marketing_sources"):
        goal(marketing_share=0.5)


def test_the_reconciler_reports_the_breakdown_and_its_gap() -> None:
    values = (value("paid_social", 100, 6), value("seo", 150, 46))
    report = evaluate_goal(goal(), facts(*values))
    assert [line.value for line in report.breakdown["lead_source"]] == ["paid_social", "seo"]
    gaps_found = [f for f in report.findings if f.stage == "mql:lead_source=paid_social"]
    assert len(gaps_found) == 1
    assert report.to_dict()["breakdown"]["lead_source"][0]["value"] == "paid_social"  # type: ignore[index]
    waiting = evaluate_goal(goal(), facts(*values), waiting="first sync running")
    assert not [f for f in waiting.findings if f.stage.startswith("mql:")]


def test_a_gap_is_held_within_the_hysteresis_margin() -> None:
    """25% against the rest's 30% is below the rest but within the 20%
    tolerance: no finding, yet a firing alert holds within a 5-point
    margin."""
    chosen = goal()
    values = (value("paid_social", 300, 75), value("seo", 400, 120))
    tested = breakdown.compared(chosen, facts(*values))
    assert breakdown.gaps(chosen, tested) == []
    (fingerprint,) = breakdown.held(chosen, PERIOD, tested, 0.05)
    assert fingerprint.startswith("quality-gap/q1/mql:lead_source=paid_social/")
    assert breakdown.held(chosen, PERIOD, tested, 0.0) == set()
