"""Business time: working days, working hours and holidays in one time zone.

Sits under the SLA engine (follow-up deadlines are measured in business time)
and the reconciler's ``business_days`` pacing (docs/design.md, "Business
time"). Pure: no
clock and no I/O; public holidays come from the ``holidays`` package's
built-in tables.

Why no library: ``businesstime`` (last release 2018) and
``businesstimedelta`` (last release 2019, built on pytz) are unmaintained;
``workalendar``, ``bizdays`` and ``business-calendar`` count whole days, not
hours; pandas' ``CustomBusinessHour`` would bring all of pandas in for one
function. The job is small enough to own and prove with property tests.

How it works: each local date has at most one working interval, resolved once
from wall-clock hours to UTC instants, so both DST changes are honoured (a
9:00–17:00 day is 8 hours on either side of a change). A running total of
working microseconds per date, grown on demand and cached, turns
``between`` into two look-ups and ``add`` into a bisection: no loop over
minutes or days per call, which matters because the SLA check runs every
minute over thousands of records. Integer microseconds keep ``add`` and
``between`` exact inverses.

Wall-clock times that DST makes odd: a time that does not exist (skipped by
spring-forward) means the instant the clock jumps; a time that happens twice
(fall-back) means its earlier instant for the start of work and its later one
for the end, so a working day is never cut short. An end of 24:00 is the
first instant of the next date.
"""

from __future__ import annotations

import bisect
import functools
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor.config.models import WEEKDAYS, Calendar

if TYPE_CHECKING:
    import holidays

_MICRO = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
#: Days the cache grows by in one step: SLA records span weeks to months, so
#: a year at a time keeps rebuilds rare and each one a few milliseconds.
_GROW = 366
#: The start stored for a day off; its length is 0, so it is never used as time.
_OFF = datetime.min.replace(tzinfo=UTC)
#: Results of ``add`` remembered per calendar: an SLA rule asks for the same
#: deadlines of its waiting records at every evaluation.
_REMEMBERED = 50_000


class BusinessCalendar:
    """Working time of one ``Calendar`` in one zone. All instants in and out
    are aware; results are in UTC. Safe to share between threads."""

    def __init__(self, calendar: Calendar, zone: ZoneInfo) -> None:
        self.calendar = calendar
        self.zone = zone
        self._weekdays = frozenset(WEEKDAYS.index(day) for day in calendar.days)
        self._holidays = frozenset(calendar.holidays)
        self._public: holidays.HolidayBase | None = None
        if calendar.country:  # validated against holidays' list at config load
            import holidays  # its calendars take a while to load: only when a country is set

            self._public = holidays.country_holidays(calendar.country, subdiv=calendar.subdivision)
        self._lock = threading.Lock()
        # Parallel per-date lists from ``_origin`` (a date ordinal, for cheap
        # index arithmetic): the working interval's start and length (``_OFF``
        # and 0 on a day off), and running totals of working microseconds and
        # working days *before* each index (one entry longer).
        self._origin = 0
        self._starts: list[datetime] = []
        self._lengths: list[int] = []
        self._total: list[int] = [0]
        self._days: list[int] = [0]
        self._added: dict[tuple[datetime, timedelta], datetime] = {}

    def is_working_day(self, day: date) -> bool:
        """A configured weekday that is neither a listed nor a public holiday."""
        if day.weekday() not in self._weekdays or day in self._holidays:
            return False
        return self._public is None or day not in self._public

    def interval(self, day: date) -> tuple[datetime, datetime] | None:
        """The UTC instants working time begins and ends on local ``day``, or
        None on a day off."""
        with self._lock:
            i = self._index(day, day)
            if not self._lengths[i]:
                return None
            return self._starts[i], self._starts[i] + self._lengths[i] * _MICRO

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of business time after ``start``. A start
        outside working hours waits for the next working interval; a result
        that lands exactly at the end of a working day stays there."""
        _require_aware(start)
        if duration < timedelta(0):
            raise ValueError(f"cannot add a negative business duration ({duration})")
        if not duration:
            return start.astimezone(UTC)
        found = self._added.get((start, duration))
        if found is not None:
            return found
        day = self._local_date(start)
        with self._lock:
            target = self._position(start, self._index(day, day)) + duration // _MICRO
            while self._total[-1] < target:
                self._grow_forward()
            # The first date whose running total reaches the target holds the
            # result (a date with working time, so its start is real).
            j = bisect.bisect_left(self._total, target) - 1
            result = self._starts[j] + (target - self._total[j]) * _MICRO
            if len(self._added) >= _REMEMBERED:
                self._added.clear()
            self._added[(start, duration)] = result
            return result

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Business time from ``a`` to ``b``; zero when ``b`` is not after ``a``."""
        _require_aware(a)
        _require_aware(b)
        if b <= a:
            return timedelta(0)
        first, last = self._local_date(a), self._local_date(b)
        with self._lock:
            i = self._index(first, last)
            here = self._position(a, i)
            there = self._position(b, i + last.toordinal() - first.toordinal())
        return (there - here) * _MICRO

    def business_days_between(self, d1: date, d2: date) -> int:
        """Working days in ``[d1, d2)``; zero when ``d2`` is not after ``d1``."""
        if d2 <= d1:
            return 0
        with self._lock:
            i = self._index(d1, d2)
            return self._days[i + d2.toordinal() - d1.toordinal()] - self._days[i]

    def elapsed_days(self, start: date, end: date, as_of: datetime) -> tuple[float, float]:
        """``(elapsed, total)`` working days of the period ``[start, end)`` as of
        ``as_of``; the current day counts by the share of its working hours
        that has passed."""
        _require_aware(as_of)
        total = self.business_days_between(start, end)
        today = self._local_date(as_of)
        if today < start:
            return 0.0, float(total)
        if today >= end:
            return float(total), float(total)
        elapsed = float(self.business_days_between(start, today))
        with self._lock:
            i = self._index(today, today)
            if self._lengths[i]:
                elapsed += (self._position(as_of, i) - self._total[i]) / self._lengths[i]
        return elapsed, float(total)

    # -- the per-date cache ---------------------------------------------------

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def _position(self, at: datetime, i: int) -> int:
        """Working microseconds from ``_origin`` to ``at``, whose local date is
        at index ``i``."""
        into = (at - self._starts[i]) // _MICRO
        return self._total[i] + min(max(into, 0), self._lengths[i])

    def _index(self, first: date, last: date) -> int:
        """Make the cache cover ``first``..``last``; return ``first``'s index."""
        low, high = first.toordinal(), last.toordinal()
        if not self._lengths:
            self._origin = low - _GROW
            self._append(low + _GROW)
        if low < self._origin:
            self._prepend(low - _GROW)
        if high >= self._origin + len(self._lengths):
            self._append(high + _GROW)
        return low - self._origin

    def _append(self, until: int) -> None:
        """Extend the cache up to the day before ordinal ``until``."""
        for ordinal in range(self._origin + len(self._lengths), until):
            self._push(*self._hours(date.fromordinal(ordinal)))

    def _push(self, start: datetime, length: int) -> None:
        self._starts.append(start)
        self._lengths.append(length)
        self._total.append(self._total[-1] + length)
        self._days.append(self._days[-1] + (1 if length else 0))

    def _grow_forward(self) -> None:
        before = self._total[-1]
        self._append(self._origin + len(self._lengths) + _GROW)
        if self._total[-1] == before:
            raise ValueError(f"calendar has no working time in a year: {self.calendar}")

    def _prepend(self, origin: int) -> None:
        # Rebuild from the earlier origin; rare (a record older than any seen).
        known = list(zip(self._starts, self._lengths, strict=True))
        old_origin, self._origin = self._origin, origin
        self._starts, self._lengths, self._total, self._days = [], [], [0], [0]
        self._append(old_origin)
        for start, length in known:
            self._push(start, length)

    def _hours(self, day: date) -> tuple[datetime, int]:
        if not self.is_working_day(day):
            return _OFF, 0
        begins = self._instant(day, self.calendar.start, later=False)
        ends = self._instant(day, self.calendar.end, later=True)
        if ends <= begins:  # both ends inside one skipped DST hour
            return _OFF, 0
        return begins, (ends - begins) // _MICRO

    def _instant(self, day: date, clock: time, *, later: bool) -> datetime:
        if clock == time.max:  # 24:00: the first instant of the next date
            day, clock, later = day + _DAY, time(0), False
        wall = datetime.combine(day, clock)
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first == second:
            return first
        early, late = min(first, second), max(first, second)
        if early.astimezone(self.zone).replace(tzinfo=None) == wall:  # happens twice
            return late if later else early
        return self._jump(early, late)

    def _jump(self, before: datetime, after: datetime) -> datetime:
        """The instant the clock skips forward, between two instants on either
        side of it (tz transitions fall on whole seconds)."""
        offset = after.astimezone(self.zone).utcoffset()
        low, high = 0, (after - before) // _SECOND
        while low + 1 < high:
            mid = (low + high) // 2
            if (before + mid * _SECOND).astimezone(self.zone).utcoffset() == offset:
                high = mid
            else:
                low = mid
        return before + high * _SECOND


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError(f"business time needs an aware instant, got naive {at.isoformat()}")


@functools.lru_cache(maxsize=64)
def business_calendar(calendar: Calendar, zone: ZoneInfo) -> BusinessCalendar:
    """A shared ``BusinessCalendar`` per (calendar, zone), so its per-date
    cache stays warm across the service's evaluations."""
    return BusinessCalendar(calendar, zone)
