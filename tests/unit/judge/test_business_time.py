"""Business time: deadlines across nights, weekends, holidays and both DST
changes, and the properties that make ``add`` and ``between`` trustworthy."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.config.models import WEEKDAYS, Calendar
from monitor.judge.business_time import BusinessCalendar, business_calendar

NY = ZoneInfo("America/New_York")
OFFICE = BusinessCalendar(Calendar(holidays=(date(2024, 2, 19),)), NY)
US = BusinessCalendar(Calendar(country="US"), NY)
ALWAYS = BusinessCalendar(Calendar(days=WEEKDAYS, start=time(0), end=time.max), NY)


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NY)


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


@pytest.mark.parametrize(
    ("calendar", "start", "window", "deadline"),
    [
        pytest.param(OFFICE, ny(2024, 2, 5, 10), h(4), ny(2024, 2, 5, 14), id="same-day"),
        pytest.param(OFFICE, ny(2024, 2, 5, 13), h(4), ny(2024, 2, 5, 17), id="ends-at-close"),
        pytest.param(OFFICE, ny(2024, 2, 5, 7), h(4), ny(2024, 2, 5, 13), id="before-opening"),
        pytest.param(OFFICE, ny(2024, 2, 2, 15), h(4), ny(2024, 2, 5, 11), id="friday-afternoon"),
        pytest.param(OFFICE, ny(2024, 2, 2, 18, 30), h(4), ny(2024, 2, 5, 13), id="friday-evening"),
        pytest.param(OFFICE, ny(2024, 2, 3, 11), h(1), ny(2024, 2, 5, 10), id="saturday"),
        pytest.param(OFFICE, ny(2024, 2, 16, 15), h(4), ny(2024, 2, 20, 11), id="listed-holiday"),
        pytest.param(OFFICE, ny(2024, 2, 5, 10), h(20), ny(2024, 2, 7, 14), id="multi-day"),
        pytest.param(OFFICE, ny(2024, 2, 5, 10), h(80), ny(2024, 2, 20, 10), id="two-weeks"),
        pytest.param(US, ny(2024, 7, 3, 15), h(4), ny(2024, 7, 5, 11), id="us-july-4th"),
        pytest.param(US, ny(2024, 11, 27, 16), h(2), ny(2024, 11, 29, 10), id="us-thanksgiving"),
        # Spring forward (Sun 10 Mar 2024): the office opens at 9:00 EDT.
        pytest.param(OFFICE, ny(2024, 3, 8, 15), h(4), ny(2024, 3, 11, 11), id="spring-forward"),
        # Fall back (Sun 3 Nov 2024): the office opens at 9:00 EST.
        pytest.param(OFFICE, ny(2024, 11, 1, 15), h(4), ny(2024, 11, 4, 11), id="fall-back"),
        # Round the clock: the changeover days have 23 and 25 hours.
        pytest.param(ALWAYS, ny(2024, 3, 10, 0), h(24), ny(2024, 3, 11, 1), id="24x7-spring"),
        pytest.param(ALWAYS, ny(2024, 11, 3, 0), h(24), ny(2024, 11, 3, 23), id="24x7-fall"),
    ],
)
def test_add_and_between(
    calendar: BusinessCalendar, start: datetime, window: timedelta, deadline: datetime
) -> None:
    got = calendar.add(start, window)
    assert got == deadline
    assert got.tzinfo is UTC
    assert calendar.between(start.astimezone(UTC), deadline) == window


def test_dst_keeps_wall_clock_hours() -> None:
    # 09:00-17:00 local is 14:00-22:00 UTC before spring forward, 13:00-21:00 after.
    before = OFFICE.interval(date(2024, 3, 8))
    after = OFFICE.interval(date(2024, 3, 11))
    assert before == (datetime(2024, 3, 8, 14, tzinfo=UTC), datetime(2024, 3, 8, 22, tzinfo=UTC))
    assert after == (datetime(2024, 3, 11, 13, tzinfo=UTC), datetime(2024, 3, 11, 21, tzinfo=UTC))
    assert ALWAYS.between(ny(2024, 3, 10), ny(2024, 3, 11)) == h(23)
    assert ALWAYS.between(ny(2024, 11, 3), ny(2024, 11, 4)) == h(25)


def test_hours_inside_the_skipped_hour_start_when_the_clock_jumps() -> None:
    sunday = BusinessCalendar(Calendar(days=("sun",), start=time(2, 30), end=time(10)), NY)
    # 02:30 does not exist on 10 Mar 2024: work starts at the jump, 03:00 EDT.
    assert sunday.interval(date(2024, 3, 10)) == (
        datetime(2024, 3, 10, 7, tzinfo=UTC),
        datetime(2024, 3, 10, 14, tzinfo=UTC),
    )


def test_repeated_hour_starts_early_and_ends_late() -> None:
    sunday = BusinessCalendar(Calendar(days=("sun",), start=time(1), end=time(1, 30)), NY)
    # 01:00 EDT (05:00Z) to the second 01:30, in EST (06:30Z).
    assert sunday.interval(date(2024, 11, 3)) == (
        datetime(2024, 11, 3, 5, tzinfo=UTC),
        datetime(2024, 11, 3, 6, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param(ny(2024, 2, 5, 10), ny(2024, 2, 5, 9), h(0), id="reversed"),
        pytest.param(ny(2024, 2, 3, 10), ny(2024, 2, 4, 20), h(0), id="weekend"),
        pytest.param(ny(2024, 2, 5, 20), ny(2024, 2, 6, 8), h(0), id="overnight"),
        pytest.param(ny(2024, 2, 2, 16), ny(2024, 2, 5, 10), h(2), id="over-weekend"),
        pytest.param(ny(2024, 2, 1), ny(2024, 3, 1), h(20 * 8), id="february"),
    ],
)
def test_between(a: datetime, b: datetime, expected: timedelta) -> None:
    assert OFFICE.between(a, b) == expected


def test_business_days_and_elapsed() -> None:
    # February 2024: 21 weekdays, one listed holiday (Presidents' Day).
    assert OFFICE.business_days_between(date(2024, 2, 1), date(2024, 3, 1)) == 20
    assert OFFICE.business_days_between(date(2024, 3, 1), date(2024, 2, 1)) == 0
    assert US.business_days_between(date(2024, 7, 1), date(2024, 7, 8)) == 4
    feb = (date(2024, 2, 1), date(2024, 3, 1))
    assert OFFICE.elapsed_days(*feb, ny(2024, 1, 31, 12)) == (0.0, 20.0)
    assert OFFICE.elapsed_days(*feb, ny(2024, 2, 1, 8)) == (0.0, 20.0)
    assert OFFICE.elapsed_days(*feb, ny(2024, 2, 2, 11)) == (1.25, 20.0)
    assert OFFICE.elapsed_days(*feb, ny(2024, 2, 4, 11)) == (2.0, 20.0)  # Sunday
    assert OFFICE.elapsed_days(*feb, ny(2024, 3, 5)) == (20.0, 20.0)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="country 'XX' has no holiday calendar"):
        Calendar(country="XX")
    with pytest.raises(ValueError, match="aware"):
        OFFICE.add(datetime(2024, 2, 5, 10), h(1))  # naive on purpose
    with pytest.raises(ValueError, match="negative"):
        OFFICE.add(ny(2024, 2, 5, 10), h(-1))


def test_records_older_than_the_cache_extend_it() -> None:
    calendar = BusinessCalendar(Calendar(), NY)
    assert calendar.add(ny(2024, 2, 5, 10), h(4)) == ny(2024, 2, 5, 14)
    # Far earlier than anything seen: the cache is rebuilt from an older origin.
    assert calendar.between(ny(2019, 2, 4, 9), ny(2019, 2, 5, 9)) == h(8)
    assert calendar.between(ny(2019, 2, 4, 9), ny(2024, 2, 5, 14)) == calendar.between(
        ny(2019, 2, 4, 9), ny(2024, 2, 5, 10)
    ) + h(4)


def test_shared_calendars_are_reused() -> None:
    assert business_calendar(Calendar(), NY) is business_calendar(Calendar(), NY)


# -- properties ----------------------------------------------------------------

CALENDARS = [
    OFFICE,
    US,
    ALWAYS,
    BusinessCalendar(
        Calendar(days=("sun", "mon"), start=time(1, 30), end=time(2, 30)), NY
    ),  # hours that DST skips and repeats
    BusinessCalendar(
        Calendar(days=("mon", "tue", "wed", "thu", "sun"), country="GB"), ZoneInfo("Europe/London")
    ),
    BusinessCalendar(Calendar(start=time(22), end=time.max), ZoneInfo("Australia/Lord_Howe")),
]

calendars = st.sampled_from(CALENDARS)
instants = st.datetimes(
    min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
windows = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))


@settings(max_examples=200, deadline=None)
@given(calendars, instants, windows)
@example(CALENDARS[3], datetime(2024, 3, 10, 6, 45, tzinfo=UTC), timedelta(minutes=20))
@example(CALENDARS[3], datetime(2024, 11, 3, 6, 15, tzinfo=UTC), timedelta(hours=1, minutes=50))
@example(CALENDARS[5], datetime(2024, 4, 6, 11, 0, tzinfo=UTC), timedelta(hours=3))
def test_deadline_is_after_start_and_exactly_the_window(
    calendar: BusinessCalendar, start: datetime, window: timedelta
) -> None:
    deadline = calendar.add(start, window)
    assert deadline >= start
    assert calendar.between(start, deadline) == window


@settings(max_examples=200, deadline=None)
@given(calendars, instants, windows, windows)
@example(
    ALWAYS, datetime(2024, 3, 10, 6, 30, tzinfo=UTC), timedelta(minutes=30), timedelta(hours=1)
)
@example(OFFICE, datetime(2024, 2, 5, 14, tzinfo=UTC), timedelta(hours=8), timedelta(hours=1))
def test_adding_in_two_steps_equals_adding_once(
    calendar: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    assert calendar.add(calendar.add(start, first), second) == calendar.add(start, first + second)


@settings(max_examples=200, deadline=None)
@given(calendars, st.lists(instants, min_size=3, max_size=3))
def test_between_is_additive(calendar: BusinessCalendar, moments: list[datetime]) -> None:
    a, b, c = sorted(moments)
    assert calendar.between(a, c) == calendar.between(a, b) + calendar.between(b, c)
    assert calendar.between(a, c) <= c - a
