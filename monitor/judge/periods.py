"""Goal periods and how much of one has elapsed.

Sits between the config and the reconciler: the store asks ``period_for``
which dates to count, and the reconciler asks how far through that period
``as_of`` is, to pro-rate targets (docs/design.md, "Pacing"). Everything is computed in
the configured time zone; nothing here reads a clock.

Period boundaries are local midnights. A period is ``[start, end)``: an
``as_of`` exactly at a boundary belongs to the period that begins there,
with nothing elapsed. An explicit YAML period ``{start: 2026-01-01, end:
2026-03-31}`` names its last day, so its ``Period.end`` is the day after.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from monitor.config.models import ExplicitPeriod
from monitor.facts import Period

PeriodSetting = Literal["month", "quarter", "year"] | ExplicitPeriod

_SPAN_MONTHS = {"month": 1, "quarter": 3, "year": 12}


class WorkingDays(Protocol):
    """A working calendar as business-day pacing needs it (implemented by the
    configured business calendar)."""

    def elapsed_days(self, start: date, end: date, as_of: datetime) -> tuple[float, float]:
        """Working days in ``[start, end)`` before ``as_of`` (the current day
        counted by the fraction of it that has passed), and the total."""

    def business_days_between(self, d1: date, d2: date) -> int:
        """Working days in ``[d1, d2)``."""


def period_for(
    setting: PeriodSetting, as_of: datetime, zone: ZoneInfo, fiscal_year_start: int = 1
) -> Period:
    """The period of ``setting`` that contains ``as_of``: the month, or the
    fiscal quarter or year (starting in month ``fiscal_year_start``), or the
    explicit period as configured whatever ``as_of`` is."""
    if isinstance(setting, ExplicitPeriod):
        return make_period(setting.start, setting.end + timedelta(days=1), zone)
    _require_aware(as_of)
    if not 1 <= fiscal_year_start <= 12:
        raise ValueError(f"fiscal_year_start must be a month 1-12, not {fiscal_year_start}")
    local = as_of.astimezone(zone).date()
    span = _SPAN_MONTHS[setting]
    anchor = 1 if setting == "month" else fiscal_year_start
    # Count months from year 0 so spans that cross New Year need no special case.
    month_index = local.year * 12 + local.month - 1
    into_year = (local.month - anchor) % 12
    start_index = month_index - into_year + into_year // span * span
    return make_period(_month(start_index), _month(start_index + span), zone)


def previous_start(setting: PeriodSetting, period: Period) -> date:
    """The first day of the period before ``period`` of the same length:
    the previous month, quarter or year, or as many days before an
    explicit period as it spans."""
    if isinstance(setting, ExplicitPeriod):
        return period.start - (period.end - period.start)
    index = period.start.year * 12 + period.start.month - 1
    return _month(index - _SPAN_MONTHS[setting])


def make_period(start: date, end: date, zone: ZoneInfo) -> Period:
    """A ``Period`` of local dates ``[start, end)`` in ``zone``."""
    if end <= start:
        raise ValueError(f"period end ({end}) must be after its start ({start})")
    return Period(start, end, local_midnight(start, zone), local_midnight(end, zone))


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant ``day`` begins in ``zone``. Round-tripping through UTC
    resolves the zones whose DST change happens at midnight, where 00:00
    does not exist on the wall clock."""
    naive = datetime.combine(day, time(0), tzinfo=zone)
    return naive.astimezone(UTC).astimezone(zone)


def linear_elapsed(period: Period, as_of: datetime) -> float:
    """Share of the period's real duration before ``as_of``, in [0, 1].

    Aware datetimes that share a tzinfo subtract by wall clock in Python,
    which is an hour off across a DST change, so both go through UTC.
    """
    _require_aware(as_of)
    start = period.starts_at.astimezone(UTC)
    total = (period.ends_at.astimezone(UTC) - start).total_seconds()
    done = (as_of.astimezone(UTC) - start).total_seconds()
    return min(1.0, max(0.0, done / total))


def calendar_days(period: Period, as_of: datetime) -> tuple[float, float]:
    """Elapsed and total calendar days, for ``linear`` pacing: the period's
    local day count, split by the linear elapsed share."""
    total = float((period.end - period.start).days)
    return linear_elapsed(period, as_of) * total, total


#: A profile by hour of the week needs about six records per hour of the
#: week; with fewer, one by weekday (hours of a day alike) needs about
#: fourteen per weekday; with fewer still there is no profile.
HOURLY_PROFILE_MIN = 1_000
DAILY_PROFILE_MIN = 100


def seasonal_elapsed(profile: Sequence[int], period: Period, as_of: datetime) -> float | None:
    """Share of the period's expected volume that arrives before ``as_of``,
    by the stage's learned arrival profile (168 local hours of the week,
    Monday 00:00 first): on a Monday at 10:00 most of the week's leads are
    still to come, whatever share of the calendar has passed. None without
    enough history for a profile."""
    _require_aware(as_of)
    total = sum(profile)
    if total >= HOURLY_PROFILE_MIN:
        weights: list[float] = [float(n) for n in profile]
    elif total >= DAILY_PROFILE_MIN:
        weights = [
            sum(profile[day * 24 : day * 24 + 24]) / 24 for day in range(7) for _ in range(24)
        ]
    else:
        return None
    start, end, now = period.starts_at, period.ends_at, as_of.astimezone(UTC)
    slots, passed, into, length = _hours(start.tzinfo, start, end, now)
    whole = sum(weights[slot] for slot in slots)
    done = sum(weights[slot] for slot in slots[:passed])
    if into:
        done += weights[slots[passed]] * into / length
    return done / whole if whole > 0 else None


_HOUR = timedelta(hours=1)


def _hours(
    zone: tzinfo | None, starts_at: datetime, ends_at: datetime, now: datetime
) -> tuple[tuple[int, ...], int, timedelta, timedelta]:
    """The period's hours as hours of the local week, and how far ``now``
    is into them: the whole hours before it, then the time into the next
    and that hour's length. The hours are UTC hours from ``starts_at``
    (the last one cut at ``ends_at``), so where ``now`` falls is
    arithmetic; the walk of the local week is kept (``_week_slots``)."""
    slots = _week_slots(zone, starts_at, ends_at)
    first, end = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    if now >= end:
        return slots, len(slots), timedelta(0), _HOUR
    passed = min(max(0, (now - first) // _HOUR), len(slots))
    hour = first + passed * _HOUR
    if passed < len(slots) and hour < now:
        return slots, passed, now - hour, min(hour + _HOUR, end) - hour
    return slots, passed, timedelta(0), _HOUR


@functools.lru_cache(maxsize=64)
def _week_slots(zone: tzinfo | None, starts_at: datetime, ends_at: datetime) -> tuple[int, ...]:
    """Each hour of the period as its hour of the local week (Monday 00:00
    is 0). Every stage of every goal over the same period shares one walk
    (a quarter has about 2,200 hours), once per period rather than at each
    evaluation. ``zone`` is part of the key: instants equal in UTC are
    equal as keys, whatever their zone."""
    hour, end = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    slots: list[int] = []
    while hour < end:
        local = hour.astimezone(zone)
        slots.append(local.weekday() * 24 + local.hour)
        hour = min(hour + _HOUR, end)
    return tuple(slots)


def _month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _require_aware(as_of: datetime) -> None:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must carry a time zone, got naive {as_of.isoformat()}")
