"""Where prospects stall, on a generated month whose truth is known: on
plan, with the CRM closing the records that never move on about when the
others move, no stage's stalled share reaches the threshold, at any
evaluation of the month; with one rep leaving lost SQLs open, the SQL stage
stalls."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.scenarios.backtest import Backtest, run
from tests.scenarios.catalogue import ON_PLAN
from tests.scenarios.generator import STAGES_OF, TRANSITIONS, History, Scenario, generate

pytestmark = [pytest.mark.slow]


def closed(scenario: Scenario, keep_open: str | None = None) -> History:
    """The scenario's history with each person that stops short of a won
    deal closed the transition's median lag after its last stage (but the
    lost SQLs of ``keep_open``'s rep)."""
    history = generate(scenario)
    people = []
    for person in history.persons:
        closed_at = None
        for transition in reversed(TRANSITIONS):
            upper, lower = STAGES_OF[transition]
            entered: datetime | None = getattr(person, f"{upper}_at")
            if entered is not None and getattr(person, f"{lower}_at") is None:
                if not (upper == "sql" and person.owner_email == keep_open):
                    closed_at = entered + timedelta(days=scenario.lag(transition).days(0.5))
                break
        people.append(replace(person, closed_at=closed_at) if closed_at else person)
    return History(tuple(people), history.deals)


def stalled(backtest: Backtest) -> set[str]:
    return {f.fingerprint for step in backtest.steps for f in step.findings if f.rule == "stalled"}


def test_on_plan_no_stage_stalls_over_the_month() -> None:
    backtest = run(ON_PLAN.scenario, cadence="hourly", history=closed(ON_PLAN.scenario))
    assert backtest.steps
    assert stalled(backtest) == set()


def test_a_rep_leaving_lost_sqls_open_stalls_the_sql_stage() -> None:
    history = generate(ON_PLAN.scenario)
    rep = next(p.owner_email for p in history.persons if p.sql_at is not None)
    backtest = run(ON_PLAN.scenario, cadence="hourly", history=closed(ON_PLAN.scenario, rep))
    assert {fp.split("/")[-1] for fp in stalled(backtest)} == {"sql"}
