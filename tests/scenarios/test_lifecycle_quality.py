"""What people are told over a simulated month, at the service's cadence
(every 15 minutes in working hours, hourly outside): each follow-up breach
named as it happens, never "resolved" while breached; no severity
ping-pong; repeats only at the daily repeat time on working days; a period
that ended closed as such, and the next period's alert introduced as new.
"""

from __future__ import annotations

from datetime import time

import pytest

from tests.scenarios.backtest import Backtest, Line
from tests.scenarios.catalogue import (
    LEAD_SHORTFALL,
    MQL_DROP,
    ON_PLAN_RANDOM,
    SLOW_FOLLOW_UP,
    replay,
)

pytestmark = pytest.mark.slow

#: The daily summary's time in the scenarios' config (slack.summary_at), and
#: the end of the hour in which repeats may go out after it.
SUMMARY_AT, LAST = time(9, 0), time(10, 0)


@pytest.fixture(scope="module")
def slow_rep(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    return replay(SLOW_FOLLOW_UP, tmp_path_factory.mktemp("slow-rep"))


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Backtest:
    return replay(ON_PLAN_RANDOM, tmp_path_factory.mktemp("on-plan-random"))


@pytest.fixture
def shortfall(lead_shortfall: Backtest) -> Backtest:
    return lead_shortfall


@pytest.fixture
def drop(mql_drop: Backtest) -> Backtest:
    return mql_drop


def show(lines: list[Line]) -> str:
    return "\n".join(f"{x.at:%a %m-%d %H:%M} {x.event} {x.title}" for x in lines[:20])


# -- follow-up breaches ------------------------------------------------------


def test_each_breach_is_named_within_one_evaluation_of_its_deadline(slow_rep: Backtest) -> None:
    breaches = slow_rep.breaches()
    assert len(breaches) >= 50, "the slow rep breaches about three MQLs a working day"
    late = [
        f"{b.deadline.url} due {b.deadline.deadline:%a %m-%d %H:%M}, evaluated {b.due:%H:%M}, "
        f"named {b.named_at and f'{b.named_at:%a %m-%d %H:%M}'}"
        for b in breaches
        if not b.prompt
    ]
    assert late == [], f"{len(late)} of {len(breaches)}:\n" + "\n".join(late[:10])


def test_an_at_risk_record_that_breaches_is_escalated_never_resolved(slow_rep: Backtest) -> None:
    assert slow_rep.resolved_while_breached() == []
    escalated = [x for x in slow_rep.lines("sla-breach/") if "At risk → breached" in x.text]
    assert len(escalated) >= 50, "the slow rep's MQLs are at risk for an hour before they breach"


# -- severity ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["noisy", "shortfall", "drop"])
def test_severity_does_not_flip_back_within_a_day(
    name: str, request: pytest.FixtureRequest
) -> None:
    result: Backtest = request.getfixturevalue(name)
    assert result.severity_flips() == [], show(result.severity_changes())


def test_the_shortfall_still_escalates(shortfall: Backtest) -> None:
    assert LEAD_SHORTFALL.watch is not None
    critical = [x for x in shortfall.lines(LEAD_SHORTFALL.watch) if x.severity >= 2]
    assert critical, "leads at 50% of pace are critical (≤ -30%)"


# -- repeats -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["slow_rep", "noisy", "shortfall", "drop"])
def test_repeats_go_out_with_the_daily_summary_on_working_days(
    name: str, request: pytest.FixtureRequest
) -> None:
    result: Backtest = request.getfixturevalue(name)
    zone = result.scenario.zone
    repeats = [x for x in result.lines() if x.event == "repeat"]
    assert result.repeats_outside_working_days() == [], show(repeats)
    off_time = [x for x in repeats if not SUMMARY_AT <= x.at.astimezone(zone).time() < LAST]
    assert off_time == [], show(off_time)


def test_repeats_say_what_changed(drop: Backtest) -> None:
    repeats = [x for x in drop.lines() if x.event == "repeat"]
    assert len(repeats) >= 20, "the drop stays open for weeks"
    unchanged = [x for x in repeats if " on " not in x.text and "No change since" not in x.text]
    assert unchanged == [], show(unchanged)


# -- period rollover ---------------------------------------------------------


def test_a_period_that_ended_is_closed_as_ended_not_resolved(drop: Backtest) -> None:
    assert drop.rollover_resolutions() == [], show(drop.rollover_resolutions())
    ended = [x for x in drop.lines() if x.event == "ended"]
    may = "2026-05-01..2026-06-01"
    assert ended and all(may in x.fingerprint for x in ended), show(ended)
    assert all(x.text.startswith("Ended at ") for x in ended), show(ended)
    june = MQL_DROP.scenario.midnight(MQL_DROP.scenario.month)
    assert {x.at for x in ended} == {june}, "closed by the first evaluation of June"


def test_the_next_periods_alert_is_introduced_as_new(drop: Backtest) -> None:
    ended = {
        x.fingerprint.replace("/2026-05-01..2026-06-01", "")
        for x in drop.lines()
        if x.event == "ended"
    }
    introduced = [x for x in drop.lines() if x.title.startswith("New period: ")]
    assert {x.fingerprint.replace("/2026-06-01..2026-07-01", "") for x in introduced} <= ended
    assert introduced, "the drop and the SQL shortfall go on in June"
    assert all("ended at" in x.text for x in introduced), show(introduced)
