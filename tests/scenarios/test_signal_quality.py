"""Alert signal quality over a simulated month, on funnels whose truth is
known (tests/scenarios/catalogue.py).

Each scenario is replayed through the service's entry points (evaluate,
record, deliver) and judged by what was posted, at the service's cadence
(15 minutes in working hours; the MQL shortfall hourly over its first
week, enough for its question). The MQL drop and the lead shortfall are
shared with the lifecycle suite (conftest.py) and come first: that suite,
on the other worker, asks for them after its own two months, and finds
them replayed. The assertions say what the product must do.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from tests.scenarios import backtest
from tests.scenarios.backtest import GOAL, Backtest
from tests.scenarios.catalogue import LEAD_SHORTFALL, MQL_DROP, MQL_SHORTFALL, ON_PLAN, replay

pytestmark = pytest.mark.slow

DRIFT = f"conversion-drift/{GOAL}/"


@pytest.fixture(scope="module")
def on_plan(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    return replay(ON_PLAN, tmp_path_factory.mktemp("on-plan"))


@pytest.fixture(scope="module")
def mql_shortfall(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    """The month's first week: its question is about the first days past
    the early-period guard, and an evaluation does not depend on the ones
    after it."""
    week = replace(MQL_SHORTFALL, end=MQL_SHORTFALL.start + timedelta(days=7))
    return replay(week, tmp_path_factory.mktemp("mql-shortfall"), cadence="hourly")


def posted_lines(result: Backtest, prefix: str) -> str:
    lines = [f"{x.at:%m-%d %H:%M} {x.event} {x.fingerprint}" for x in result.lines(prefix)]
    return "\n".join(lines[:20]) or "(none)"


# -- a. MQL→SQL drops from 40% to 22% ----------------------------------------


def test_mql_drop_is_posted_within_14_days(mql_drop: Backtest) -> None:
    assert MQL_DROP.watch is not None and MQL_DROP.since is not None
    first = mql_drop.first_posted(MQL_DROP.watch)
    assert first is not None, f"never posted; found first {mql_drop.first_found(MQL_DROP.watch)}"
    assert MQL_DROP.since <= first <= MQL_DROP.since + timedelta(days=14), first


def test_mql_drop_alert_does_not_flap(mql_drop: Backtest) -> None:
    """Once firing, the MQL drift alert stays firing while the drop lasts:
    it resolves only when its period ends, and never fires again within
    it."""
    assert MQL_DROP.watch is not None
    assert mql_drop.first_posted(MQL_DROP.watch) is not None, "the drop was never posted"
    assert mql_drop.early_resolutions(MQL_DROP.watch) == []
    assert all(n == 0 for n in mql_drop.refires(MQL_DROP.watch).values()), posted_lines(
        mql_drop, MQL_DROP.watch
    )


def test_mql_drop_is_not_posted_before_it_happens(mql_drop: Backtest) -> None:
    assert MQL_DROP.watch is not None and MQL_DROP.since is not None
    found = mql_drop.first_found(MQL_DROP.watch)
    assert found is None or found >= MQL_DROP.since


# -- b. sanity: half the leads -----------------------------------------------


def test_lead_shortfall_posts_lead_pacing_within_10_days(lead_shortfall: Backtest) -> None:
    assert LEAD_SHORTFALL.watch is not None and LEAD_SHORTFALL.since is not None
    first = lead_shortfall.first_posted(LEAD_SHORTFALL.watch)
    assert first is not None, posted_lines(lead_shortfall, "pacing/")
    assert first <= LEAD_SHORTFALL.since + timedelta(days=10)
    critical = [x for x in lead_shortfall.lines(LEAD_SHORTFALL.watch) if x.severity >= 2]
    assert critical, "leads at 50% of pace are critical (≤ -30%)"


def test_lead_shortfall_alert_does_not_flap(lead_shortfall: Backtest) -> None:
    assert LEAD_SHORTFALL.watch is not None
    assert lead_shortfall.early_resolutions(LEAD_SHORTFALL.watch) == []
    assert all(n == 0 for n in lead_shortfall.refires(LEAD_SHORTFALL.watch).values())


# -- c. on plan: nothing to say ---------------------------------------------


def test_on_plan_posts_no_conversion_drift(on_plan: Backtest) -> None:
    assert on_plan.posted()["conversion-drift"] == 0, (
        f"{on_plan.found()['conversion-drift']} raw findings; posted:\n"
        + posted_lines(on_plan, DRIFT)
    )


def test_on_plan_posts_no_pacing_alert(on_plan: Backtest) -> None:
    assert on_plan.posted()["pacing"] == 0, posted_lines(on_plan, "pacing/")


def test_on_plan_targets_are_the_truth(on_plan: Backtest) -> None:
    plan = ON_PLAN.scenario.plan()
    for step in on_plan.steps:
        assert step.targets["won"] == plan.closes
        for stage in ("sql", "mql", "lead"):
            target, truth = step.targets[stage], plan.expected[stage]
            assert target is not None
            assert abs(target / truth - 1) <= 0.05, (step.at, stage, target, truth)


def test_on_plan_posts_no_follow_up_alert(on_plan: Backtest) -> None:
    posted = on_plan.posted()
    assert posted["sla-breach"] == posted["sla-at-risk"] == 0, posted_lines(on_plan, "sla-")


# -- d. MQLs at 60% -----------------------------------------------------------


def test_mql_shortfall_is_found_by_the_second_evaluation_past_min_elapsed(
    mql_shortfall: Backtest,
) -> None:
    """The statistical guard must not make a real shortfall wait: MQLs at
    60% are found as soon as the early-period guard lets them be."""
    assert MQL_SHORTFALL.watch is not None
    min_elapsed = 0.10  # the goal's default drift.min_elapsed
    past = [step for step in mql_shortfall.steps if step.elapsed >= min_elapsed]
    assert len(past) >= 2, "the replay ends before the second evaluation past min_elapsed"
    found = mql_shortfall.first_found(MQL_SHORTFALL.watch)
    assert found is not None, "the shortfall was never found"
    assert found <= past[1].at, (found, past[1].at)


# -- e. the first sync of a large CRM -----------------------------------------


def test_a_first_sync_of_100k_records_posts_nothing_until_it_completes(tmp_path: Path) -> None:
    """About 100,000 records arrive over 20 pages with an evaluation after
    each, as the every-minute evaluation meets a first sync in progress:
    partial counts would read as a funnel far behind pace."""
    big = replace(ON_PLAN.scenario, name="first-sync", leads_per_day=520.0)
    during, after = backtest.first_sync(big, tmp_path, pages=20)
    assert during == []
    assert any(text.startswith("Now watching") for text in after), after
