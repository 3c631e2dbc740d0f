"""Goal periods in the configured zone, fiscal years, DST, and elapsed time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config.models import ExplicitPeriod
from monitor.judge.periods import (
    calendar_days,
    linear_elapsed,
    local_midnight,
    make_period,
    period_for,
    seasonal_elapsed,
)

NY = ZoneInfo("America/New_York")


def at(*parts: int, zone: ZoneInfo = NY) -> datetime:
    return datetime(*parts, tzinfo=zone)


@pytest.mark.parametrize(
    ("setting", "fiscal", "as_of", "start", "end"),
    [
        ("month", 1, at(2026, 2, 14, 12), date(2026, 2, 1), date(2026, 3, 1)),
        ("month", 1, at(2026, 12, 31, 23), date(2026, 12, 1), date(2027, 1, 1)),
        ("month", 2, at(2026, 1, 15), date(2026, 1, 1), date(2026, 2, 1)),
        ("quarter", 1, at(2026, 5, 20), date(2026, 4, 1), date(2026, 7, 1)),
        ("quarter", 1, at(2026, 12, 31), date(2026, 10, 1), date(2027, 1, 1)),
        ("year", 1, at(2026, 5, 20), date(2026, 1, 1), date(2027, 1, 1)),
        # Fiscal year starting in February: Q4 runs November to January.
        ("quarter", 2, at(2026, 1, 15), date(2025, 11, 1), date(2026, 2, 1)),
        ("quarter", 2, at(2026, 2, 1), date(2026, 2, 1), date(2026, 5, 1)),
        ("quarter", 2, at(2026, 12, 31), date(2026, 11, 1), date(2027, 2, 1)),
        ("year", 2, at(2026, 1, 31, 23, 59), date(2025, 2, 1), date(2026, 2, 1)),
        ("year", 2, at(2026, 2, 1), date(2026, 2, 1), date(2027, 2, 1)),
        ("year", 12, at(2026, 11, 30), date(2025, 12, 1), date(2026, 12, 1)),
        # 02:00 UTC on April 1st is still March 31st in New York.
        ("quarter", 1, datetime(2026, 4, 1, 2, tzinfo=UTC), date(2026, 1, 1), date(2026, 4, 1)),
        # Exactly at a boundary: the period that begins there.
        ("quarter", 1, at(2026, 4, 1), date(2026, 4, 1), date(2026, 7, 1)),
    ],
)
def test_period_for(setting: str, fiscal: int, as_of: datetime, start: date, end: date) -> None:
    period = period_for(setting, as_of, NY, fiscal)
    assert (period.start, period.end) == (start, end)
    assert period.starts_at == local_midnight(start, NY)
    assert period.starts_at <= as_of < period.ends_at


def test_explicit_period_end_is_the_last_day() -> None:
    setting = ExplicitPeriod(start=date(2026, 1, 1), end=date(2026, 3, 31))
    period = period_for(setting, at(2025, 6, 1), NY)
    assert (period.start, period.end) == (date(2026, 1, 1), date(2026, 4, 1))
    assert period.label == "2026-01-01..2026-04-01"
    assert period.ends_at == at(2026, 4, 1)


def test_dst_crossing_quarter_measures_real_time() -> None:
    period = period_for("quarter", at(2026, 2, 1), NY)
    assert period.starts_at.utcoffset() == timedelta(hours=-5)
    assert period.ends_at.utcoffset() == timedelta(hours=-4)
    real = timedelta(days=90) - timedelta(hours=1)
    # Local midnight on March 9th, the day after clocks went forward.
    as_of = at(2026, 3, 9)
    expected = (timedelta(days=67) - timedelta(hours=1)) / real
    assert linear_elapsed(period, as_of) == pytest.approx(expected, abs=1e-12)
    assert linear_elapsed(period, as_of) != pytest.approx(67 / 90, abs=1e-6)
    midpoint = period.starts_at.astimezone(UTC) + real / 2
    assert linear_elapsed(period, midpoint) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(
    ("quarter_of", "as_of", "elapsed"),
    [
        (at(2026, 5, 1), at(2026, 4, 1), 0.0),  # Q2 at its first instant
        (at(2026, 2, 1), at(2026, 4, 1), 1.0),  # Q1 at its end
        (at(2026, 2, 1), at(2026, 1, 1), 0.0),
        (at(2026, 2, 1), at(2025, 12, 1), 0.0),  # before the period: clamped
        (at(2026, 2, 1), at(2026, 7, 1), 1.0),  # after it: clamped
    ],
)
def test_elapsed_at_and_beyond_boundaries(
    quarter_of: datetime, as_of: datetime, elapsed: float
) -> None:
    period = period_for("quarter", quarter_of, NY)
    assert linear_elapsed(period, as_of) == elapsed


def test_calendar_days_splits_the_local_day_count() -> None:
    period = period_for("month", at(2026, 4, 1), NY)
    done, total = calendar_days(period, at(2026, 4, 16))
    assert total == 30
    assert done == pytest.approx(15.0)


def test_midnight_skipped_by_dst_is_the_instant_the_clock_jumps() -> None:
    havana = ZoneInfo("America/Havana")
    start = local_midnight(date(2024, 3, 10), havana)
    assert (start.hour, start.utcoffset()) == (1, timedelta(hours=-4))
    assert start.astimezone(UTC).astimezone(havana) == start


def test_naive_as_of_and_bad_fiscal_month_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        period_for("month", datetime(2026, 1, 1), NY)
    with pytest.raises(ValueError, match="fiscal_year_start"):
        period_for("year", at(2026, 1, 1), NY, 13)


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@given(a=instants, b=instants, setting=st.sampled_from(["month", "quarter", "year"]))
def test_elapsed_is_a_share_and_never_goes_backwards(
    a: datetime, b: datetime, setting: str
) -> None:
    early, late = sorted((a, b))
    period = period_for(setting, early, NY)
    first, second = linear_elapsed(period, early), linear_elapsed(period, late)
    assert 0.0 <= first <= second <= 1.0
    assert period.starts_at <= early < period.ends_at


# --- seasonal pacing ---------------------------------------------------------


def office_hours(per_hour: int = 30) -> list[int]:
    """Arrivals only on weekdays, 09:00–17:00: 1,200 a week, enough for an
    hourly profile."""
    return [per_hour if day < 5 and 9 <= hour < 17 else 0 for day in range(7) for hour in range(24)]


def test_seasonal_elapsed_follows_the_profile() -> None:
    """A week from Monday: by Monday 13:00 half of Monday's share is in,
    though 3.2% of the week's hours have passed; over the weekend nothing
    more is due."""
    zone = ZoneInfo("Europe/Berlin")
    week = make_period(date(2026, 6, 1), date(2026, 6, 8), zone)  # a Monday
    at = datetime(2026, 6, 1, 13, tzinfo=zone)
    assert seasonal_elapsed(office_hours(), week, at) == pytest.approx(0.1)
    assert seasonal_elapsed(office_hours(), week, at + timedelta(minutes=30)) == pytest.approx(
        0.1 + 0.5 / 40
    )
    saturday, sunday = datetime(2026, 6, 6, 12, tzinfo=zone), datetime(2026, 6, 7, 23, tzinfo=zone)
    assert seasonal_elapsed(office_hours(), week, saturday) == pytest.approx(1.0)
    assert seasonal_elapsed(office_hours(), week, sunday) == pytest.approx(1.0)
    assert seasonal_elapsed(office_hours(), week, week.starts_at) == 0


def test_a_thin_profile_is_read_by_weekday_and_a_thinner_one_not_at_all() -> None:
    zone = ZoneInfo("UTC")
    week = make_period(date(2026, 6, 1), date(2026, 6, 8), zone)
    thin = [0] * 168
    thin[9] = 120  # Monday 09:00 only, 120 records: read as "all on Monday"
    noon = datetime(2026, 6, 1, 12, tzinfo=zone)
    assert seasonal_elapsed(thin, week, noon) == pytest.approx(0.5)
    thin[9] = 99
    assert seasonal_elapsed(thin, week, noon) is None


def test_seasonal_elapsed_across_a_daylight_saving_change() -> None:
    """The week of 2026-10-25 in Berlin has 169 hours; the profile is read
    by local hour, so 10:00 on Monday is still 10:00."""
    zone = ZoneInfo("Europe/Berlin")
    week = make_period(date(2026, 10, 19), date(2026, 10, 26), zone)
    monday_ten = datetime(2026, 10, 19, 10, tzinfo=zone)
    assert seasonal_elapsed(office_hours(), week, monday_ten) == pytest.approx(1 / 40)


def test_hours_before_now_match_a_walk_of_the_period() -> None:
    """Where ``now`` falls among the period's hours is arithmetic on UTC
    hours: the same as walking them, at each hour's edges, across a DST
    change and a period ending mid-hour."""
    from monitor.judge.periods import _hours

    zone = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 7, 0, 0, tzinfo=zone)
    end = datetime(2026, 3, 9, 5, 20, tzinfo=zone)

    def walked(now: datetime) -> tuple[int, timedelta, timedelta]:
        hour, last = start.astimezone(UTC), end.astimezone(UTC)
        passed, into, length = 0, timedelta(0), timedelta(hours=1)
        while hour < last:
            following = min(hour + timedelta(hours=1), last)
            if following <= now:
                passed += 1
            elif hour < now:
                into, length = now - hour, following - hour
            hour = following
        return passed, into, length

    moment = start.astimezone(UTC) - timedelta(hours=2)
    while moment < end + timedelta(hours=2):
        for now in (moment - timedelta(microseconds=1), moment, moment + timedelta(minutes=7)):
            assert _hours(zone, start, end, now)[1:] == walked(now)
        moment += timedelta(hours=1)
    assert _hours(zone, start, end, end)[1] == len(_hours(zone, start, end, end)[0])
