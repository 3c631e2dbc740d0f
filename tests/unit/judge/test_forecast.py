"""The pipeline forecast as tables whose answer is worked out by hand: an
open pipeline of known age on a step lag, new leads by weekday, the part
of today still to come, the period's edges, a missing curve, the weekday
of entry, and the interval (monitor/judge/forecast.py)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.config.models import ExplicitPeriod, Goal
from monitor.facts import CohortTable, FunnelFacts, Period
from monitor.judge import forecast
from monitor.judge.forecast import Forecast, pipeline
from monitor.judge.lags import LagCurve
from monitor.judge.periods import period_for
from monitor.judge.reconciler import evaluate_goal, today_share
from monitor.judge.stats import poisson_quantile

ZONE = ZoneInfo("UTC")
# Ten days, Sunday 2026-03-01 to Tuesday 2026-03-10 inclusive.
PERIOD = period_for(
    ExplicitPeriod(start=date(2026, 3, 1), end=date(2026, 3, 10)),
    datetime(2026, 1, 1, tzinfo=UTC),
    ZONE,
)
FRIDAY = date(2026, 3, 6)

#: Everyone who converts does so exactly ``lag`` days after entering.
NOTHING = LagCurve((0.0, 0.0, 0.5), 100)  # lead→MQL: half, two days in
MQL_STEP = LagCurve((0.0, 0.4), 100)  # MQL→SQL: 40%, the next day
SQL_STEP = LagCurve((0.0,) * 10 + (0.4,), 2_400)  # SQL→won: 40%, ten days in
CURVES = {"lead_to_mql": NOTHING, "mql_to_sql": MQL_STEP, "sql_to_won": SQL_STEP}


def table(today: date, cohorts: dict[int, tuple[int, dict[int, int]]]) -> CohortTable:
    """``{days ago: (entered, {lag: converted})}``."""
    entered = {today - timedelta(days=ago): n for ago, (n, _) in cohorts.items()}
    converted = {
        (today - timedelta(days=ago), lag): c
        for ago, (_, by_lag) in cohorts.items()
        for lag, c in by_lag.items()
    }
    return CohortTable(today, entered, converted)


def old_leads(today: date) -> CohortTable:
    """Leads of long ago, all converted that will: no new leads expected
    (none in the last four weeks) and none still open on the curve."""
    return table(today, {ago: (10, {2: 5}) for ago in range(40, 50)})


def facts(
    as_of: datetime,
    tables: dict[str, CohortTable],
    daily: dict[str, dict[date, int]] | None = None,
    period: Period = PERIOD,
) -> FunnelFacts:
    return FunnelFacts(as_of=as_of, period=period, daily=daily or {}, tables=tables)  # type: ignore[arg-type]


def midnight(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# --- the open pipeline ----------------------------------------------------------


def test_open_sqls_of_known_age_close_on_the_step() -> None:
    """On Friday 03-06 (days 03-06 to 03-10 left): 50 SQLs of eight days
    ago, none closed yet, close ten days in, on 03-08: 40% of them, 20
    deals, land in the period. 50 SQLs of three days ago close on
    03-13: after it. No MQL is open and no lead is coming, so SQLs stay at
    their 30 so far."""
    sqls = table(FRIDAY, {8: (50, {}), 3: (50, {})})
    daily = {"lead": {date(2026, 3, 2): 400}, "sql": {date(2026, 3, 2): 30}}
    daily["won"] = {date(2026, 3, 2): 7}
    tables = {"lead_to_mql": old_leads(FRIDAY), "mql_to_sql": table(FRIDAY, {}), "sql_to_won": sqls}
    out = pipeline(facts(midnight(FRIDAY), tables, daily), CURVES)
    assert out["lead"] == Forecast(400.0, 400, 400)
    assert out["sql"] == Forecast(30.0, 30, 30)
    won = out["won"]
    assert won.expected == pytest.approx(27.0)
    # Poisson(20): 10th percentile 14, 90th 26; the SQL→won level is known
    # from 2,400 conversions, which widens the spread by sqrt(1 + 20/2400).
    assert (poisson_quantile(20, 0.1), poisson_quantile(20, 0.9)) == (14, 26)
    widen = math.sqrt(1 + 20 / 2_400)
    assert (won.low, won.high) == (round(27 - 6 * widen), round(27 + 6 * widen)) == (21, 33)


def test_a_cohort_open_past_its_lag_is_conditioned_on_its_age() -> None:
    """Half convert on day 1, a quarter of the rest on day 3 (cumulative
    0.5, 0.5, 0.5, 0.625). A cohort of 40 aged three days with 20
    converted has 20 open, of which (0.625 - 0.5) / (1 - 0.5) = 25%
    convert today: 5."""
    curve = LagCurve((0.0, 0.5, 0.5, 0.625), 1_000)
    sqls = table(FRIDAY, {3: (40, {1: 20})})
    tables = {"lead_to_mql": old_leads(FRIDAY), "mql_to_sql": table(FRIDAY, {}), "sql_to_won": sqls}
    curves = CURVES | {"sql_to_won": curve}
    out = pipeline(facts(midnight(FRIDAY), tables), curves)
    assert out["won"].expected == pytest.approx(5.0)


# --- new leads and today ------------------------------------------------------------


def leads_on_weekdays(today: date) -> CohortTable:
    """Ten leads every weekday of the last four weeks, none at weekends;
    half of them MQL two days in (cohorts old enough to have)."""
    cohorts = {}
    for ago in range(1, 29):
        day = today - timedelta(days=ago)
        if day.weekday() < 5:
            cohorts[ago] = (10, {2: 5} if ago > 2 else {})
    return table(today, cohorts)


def test_new_leads_follow_the_weekdays_and_only_the_rest_of_today_is_added() -> None:
    """Friday noon, half of Friday gone; Friday to Tuesday left. Leads: half
    of Friday's 10, none on Saturday and Sunday, 10 on Monday and Tuesday:
    25 more. MQLs: Wednesday's open leads convert today (5, half of it
    still to come), Thursday's on Saturday (5), today's new leads on Sunday
    (5); Monday's arrive after the period: 12.5 more."""
    leads = leads_on_weekdays(FRIDAY)
    daily = {"lead": {date(2026, 3, 2): 60, FRIDAY: 4}, "mql": {date(2026, 3, 3): 20, FRIDAY: 1}}
    out = pipeline(
        facts(midnight(FRIDAY, 12), {"lead_to_mql": leads}, daily),
        {"lead_to_mql": NOTHING},
        today_share=0.5,
    )
    assert out["lead"].expected == pytest.approx(64 + 25)
    assert out["mql"].expected == pytest.approx(21 + 12.5)
    # No MQL→SQL curve: nothing below it is forecast.
    assert "sql" not in out and "won" not in out
    assert forecast.missing_curve({"lead_to_mql": NOTHING}) == "mql_to_sql"
    assert forecast.missing_curve(CURVES) is None


def test_a_weekday_missing_from_a_young_history_gets_the_overall_mean() -> None:
    """Three days of history (Tuesday to Thursday, 12 leads each): Friday
    and Monday have never been seen and get the 12 a day seen overall;
    the weekend days too."""
    leads = table(FRIDAY, {1: (12, {}), 2: (12, {}), 3: (12, {})})
    out = pipeline(facts(midnight(FRIDAY), {"lead_to_mql": leads}), {})
    assert out["lead"].expected == pytest.approx(5 * 12)
    assert set(out) == {"lead"}


def test_today_share_follows_working_hours_or_the_clock() -> None:
    f = facts(midnight(FRIDAY, 18), {})
    assert today_share(f, None) == pytest.approx(0.75)

    class NineToFive:
        def elapsed_days(self, start: date, end: date, as_of: datetime) -> tuple[float, float]:
            hours = min(max(as_of.hour - 9, 0), 8)
            return hours / 8, 1.0

    assert today_share(f, NineToFive()) == 1.0
    assert today_share(facts(midnight(FRIDAY, 11), {}), NineToFive()) == 0.25


# --- the period's edges ---------------------------------------------------------------


def test_before_the_period_only_arrivals_inside_it_count() -> None:
    """On 02-25, before the period: SQLs of eight days ago close on 02-27,
    before it starts; SQLs of yesterday close on 03-06, inside it: 20."""
    today = date(2026, 2, 25)
    sqls = table(today, {8: (50, {}), 1: (50, {})})
    tables = {"lead_to_mql": old_leads(today), "mql_to_sql": table(today, {}), "sql_to_won": sqls}
    out = pipeline(facts(midnight(today), tables), CURVES)
    assert out["won"].expected == pytest.approx(20.0)
    assert out["lead"] == Forecast(0.0, 0, 0)


def test_after_the_period_the_forecast_is_the_actual() -> None:
    daily = {"lead": {date(2026, 3, 2): 80}, "won": {date(2026, 3, 9): 3}}
    out = pipeline(facts(midnight(date(2026, 3, 12)), {}, daily), {})
    assert out == {
        "lead": Forecast(80.0, 80, 80),
        "mql": Forecast(0.0, 0, 0),
        "sql": Forecast(0.0, 0, 0),
        "won": Forecast(3.0, 3, 3),
    }


def test_no_lead_table_no_forecast() -> None:
    assert pipeline(facts(midnight(FRIDAY), {}), CURVES) == {}


# --- the weekday of entry -------------------------------------------------------------


def test_each_weekday_of_entry_converts_on_its_own_lag() -> None:
    """MQLs of Monday to Thursday become SQLs the next day; Friday's wait
    over the weekend, to Monday (lag 3). On Saturday 03-07, in a period
    ending on Sunday, the 100 MQLs of Friday 03-06 will arrive after it:
    no SQL more. One curve for every weekday (40% in all, 32 points of it
    the next day, 8 on the third) would put 32 of them on Saturday, and
    expect some of the 60 MQLs of Wednesday and of Thursday that did not
    convert the next day to convert on the third."""
    saturday = date(2026, 3, 7)
    period = period_for(
        ExplicitPeriod(start=date(2026, 3, 1), end=date(2026, 3, 8)),
        datetime(2026, 1, 1, tzinfo=UTC),
        ZONE,
    )
    cohorts: dict[int, tuple[int, dict[int, int]]] = {1: (100, {})}  # Friday's, seen a day
    for ago in range(2, 120):
        day = saturday - timedelta(days=ago)
        if day.weekday() < 5:
            cohorts[ago] = (100, {3 if day.weekday() == 4 else 1: 40})
    tables = {"lead_to_mql": old_leads(saturday), "mql_to_sql": table(saturday, cohorts)}
    curves = {"lead_to_mql": NOTHING, "mql_to_sql": LagCurve((0.0, 0.32, 0.32, 0.4), 4_000)}
    f = facts(midnight(saturday), tables, period=period)
    assert pipeline(f, curves)["sql"].expected == pytest.approx(0.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forecast, "WEEKDAY_CONVERSIONS", 10**9)  # one curve for all
        leftovers = 2 * 60 * 0.08 / 0.68  # Wednesday's and Thursday's 60 unconverted
        assert pipeline(f, curves)["sql"].expected == pytest.approx(32.0 + leftovers)


# --- the recent level ---------------------------------------------------------------


def test_a_clear_fall_in_the_recent_cohort_lowers_the_level() -> None:
    """MQL→SQL was 40% the next day; the MQLs of the last 13 whole days
    (the recent window is 14 days, yesterday's not watched a day yet)
    converted at 20%: 260 against the 520 the curve expects, a deviation
    d = -0.5 that is 11 chance deviations (1/sqrt(520)) wide, so nearly
    all of it is taken: the level is 1 - 0.5 (1 - 4 / (520 × 0.25)).
    Yesterday's 100 MQLs convert today at that level."""
    cohorts = {ago: (100, {1: 40}) for ago in range(15, 100)}
    cohorts |= {ago: (100, {1: 20}) for ago in range(2, 15)}
    cohorts[1] = (100, {})
    tables = {"lead_to_mql": old_leads(FRIDAY), "mql_to_sql": table(FRIDAY, cohorts)}
    curves = {"lead_to_mql": NOTHING, "mql_to_sql": LagCurve((0.0, 0.4), 10_000)}
    level = 1 - 0.5 * (1 - 4 / (520 * 0.25))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forecast, "WEEKDAY_CONVERSIONS", 10**9)  # one curve for all
        out = pipeline(facts(midnight(FRIDAY), tables), curves)
        assert out["sql"].expected == pytest.approx(100 * 0.4 * level)
        mp.setattr(forecast, "LEVEL_Z", 12.0)  # 11 chance deviations are chance now
        assert pipeline(facts(midnight(FRIDAY), tables), curves)["sql"].expected == pytest.approx(
            40.0
        )


def test_a_small_wobble_leaves_the_level_alone() -> None:
    """19 conversions where the curve expects 20: well within chance."""
    cohorts = {ago: (100, {1: 40}) for ago in range(15, 100)}
    cohorts[2] = (50, {1: 19})
    cohorts[1] = (100, {})
    tables = {"lead_to_mql": old_leads(FRIDAY), "mql_to_sql": table(FRIDAY, cohorts)}
    curves = {"lead_to_mql": NOTHING, "mql_to_sql": LagCurve((0.0, 0.4), 10_000)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forecast, "WEEKDAY_CONVERSIONS", 10**9)
        assert pipeline(facts(midnight(FRIDAY), tables), curves)["sql"].expected == pytest.approx(
            40.0
        )


# --- the interval -----------------------------------------------------------------


@pytest.mark.parametrize("mean", [0.05, 0.5, 3.0, 20.0, 140.0, 499.0])
def test_poisson_quantile_is_exact_for_counts_a_funnel_has(mean: float) -> None:
    for share in (0.1, 0.5, 0.9):
        k = poisson_quantile(mean, share)
        assert _poisson_cdf(k, mean) >= share
        assert k == 0 or _poisson_cdf(k - 1, mean) < share


@pytest.mark.parametrize("mean", [501.0, 900.0, 2_500.0, 40_000.0])
def test_poisson_quantile_beyond_500_is_within_one(mean: float) -> None:
    for share in (0.1, 0.9):
        assert abs(poisson_quantile(mean, share) - _exact_quantile(mean, share)) <= 1


def _poisson_cdf(k: int, mean: float) -> float:
    return _cumulative(mean, k + 1)[k]


def _exact_quantile(mean: float, share: float) -> int:
    return next(k for k, p in enumerate(_cumulative(mean, int(2 * mean) + 10)) if p >= share)


def _cumulative(mean: float, n: int) -> list[float]:
    """P(X ≤ k) for k < n, from terms in log space (no underflow at large
    means)."""
    terms = [-mean + j * math.log(mean) - math.lgamma(j + 1) for j in range(n)]
    top = max(terms)
    out, total = [], 0.0
    for t in terms:
        total += math.exp(t - top)
        out.append(total * math.exp(top))
    return out


def test_interval_holds_the_expectation_and_never_goes_below_the_actual() -> None:
    for open_sqls in (0, 1, 3, 10, 100, 1_000):
        sqls = table(FRIDAY, {8: (open_sqls, {})})
        tables = {
            "lead_to_mql": old_leads(FRIDAY),
            "mql_to_sql": table(FRIDAY, {}),
            "sql_to_won": sqls,
        }
        daily = {"won": {date(2026, 3, 2): 5}}
        won = pipeline(facts(midnight(FRIDAY), tables, daily), CURVES)["won"]
        assert 5 <= won.low <= round(won.expected) <= won.high


# --- through the reconciler ---------------------------------------------------------


def goal(**fields: object) -> Goal:
    base: dict[str, object] = {
        "name": "q1",
        "source": "hs",
        "period": {"start": "2026-03-01", "end": "2026-03-10"},
        "closes": 40,
        "rates": {"sql_to_won": 0.4, "mql_to_sql": 0.4, "lead_to_mql": 0.5},
    }
    return Goal.model_validate(base | fields)


def learnable(today: date, lag: int, share: float, young: dict[int, int]) -> CohortTable:
    """100 entered on each of the 60 days from 100 days ago, ``share`` of
    them converting ``lag`` days in; and young cohorts ``{days ago:
    entered}`` with nobody converted yet."""
    cohorts = {ago: (100, {lag: round(100 * share)}) for ago in range(40, 100)}
    cohorts |= {ago: (n, {}) for ago, n in young.items()}
    return table(today, cohorts)


def test_the_reconciler_reports_the_forecast_beside_the_run_rate() -> None:
    tables = {
        "lead_to_mql": learnable(FRIDAY, 2, 0.5, {}),
        "mql_to_sql": learnable(FRIDAY, 1, 0.4, {}),
        "sql_to_won": learnable(FRIDAY, 10, 0.4, {8: 50, 3: 50}),
    }
    daily = {"lead": {date(2026, 3, 2): 400}, "sql": {date(2026, 3, 2): 30}}
    daily["won"] = {date(2026, 3, 2): 7}
    report = evaluate_goal(goal(), facts(midnight(FRIDAY), tables, daily))
    won = report.stage("won")
    assert won.forecast is not None and won.forecast.expected == pytest.approx(27.0)
    assert won.projection == pytest.approx(7 / 0.5)  # the run rate, unchanged
    out = json.loads(json.dumps(report.to_dict()))
    by_stage = {s["stage"]: s for s in out["stages"]}
    assert by_stage["won"]["forecast"] == {
        "expected": 27.0,
        "low": won.forecast.low,
        "high": won.forecast.high,
    }
    assert by_stage["sql"]["forecast"]["expected"] == 30.0
    assert "visit" not in by_stage or by_stage["visit"]["forecast"] is None

    with_visits = goal(
        rates={"sql_to_won": 0.4, "mql_to_sql": 0.4, "lead_to_mql": 0.5, "visit_to_lead": 0.01}
    )
    visit = evaluate_goal(with_visits, facts(midnight(FRIDAY), tables, daily)).stage("visit")
    assert visit.forecast is None


def test_no_forecast_while_the_source_waits_or_below_an_unlearned_lag() -> None:
    tables = {
        "lead_to_mql": learnable(FRIDAY, 2, 0.5, {}),
        "mql_to_sql": learnable(FRIDAY, 1, 0.4, {}),
    }
    report = evaluate_goal(goal(), facts(midnight(FRIDAY), tables))
    assert [s.forecast is not None for s in report.stages] == [True, True, True, False]
    out = report.to_dict()
    assert out["stages"][-1]["forecast"] is None  # type: ignore[index]
    unlinked = "no pipeline forecast for won deals: the CRM does not link SQLs to won deals"
    assert report.forecast_note == out["forecast_note"] == unlinked

    # Linked, but too few SQLs have closed to learn the lag from.
    tables["sql_to_won"] = table(FRIDAY, {40: (100, {10: 12})})
    report = evaluate_goal(goal(), facts(midnight(FRIDAY), tables))
    assert [s.forecast is not None for s in report.stages] == [True, True, True, False]
    assert report.forecast_note == (
        "no pipeline forecast for won deals: "
        "the SQL→won lag is not learned yet (fewer than 30 conversions)"
    )

    waiting = evaluate_goal(
        goal(), facts(midnight(FRIDAY), tables), waiting="no data for this source"
    )
    assert all(s.forecast is None for s in waiting.stages)
    assert waiting.forecast_note is None  # the waiting reason says it all
