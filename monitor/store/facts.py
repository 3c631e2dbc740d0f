"""Reading what the reconciler needs: stage counts per local day, the
cohorts of each person transition by day and lag (``cohorts.py``), and the
deal-size sample.

Whole local days are read from the day rollups (``rollups.py``), so the
cost follows the days asked for, not the records stored. The partial days
at the edges of a window — today up to ``as_of``, a trailing window that
starts mid-day — are counted from the records themselves, through the stage
indexes (a day's rows at most); today up to ``as_of`` is the day's rollup
less the records entered after ``as_of``, which in a live service are
none.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, func, select

from monitor.facts import Cohort, DealSample, FactsQuery, FunnelFacts
from monitor.interfaces import RATE_STAGES, RECORD_STAGES
from monitor.store import versions
from monitor.store.cohorts import CohortCache
from monitor.store.schema import daily_counts, records, stage_days
from monitor.store.scope import Scope, SegmentKeys, scope

_DAY = timedelta(days=1)


def _stage_kind(stage: str) -> str:
    return "deal" if stage == "won" else "person"


def _segment_filter(table: Any, segment: Mapping[str, str]) -> list[ColumnElement[bool]]:
    return [table.c.segments[attr].as_string() == value for attr, value in segment.items()]


def live_filter(source: str, kind: str, segment: Mapping[str, str]) -> list[ColumnElement[bool]]:
    """Rows of ``source`` of ``kind`` in ``segment`` that still exist in the
    CRM; the source's term first."""
    return [
        records.c.source == source,
        records.c.kind == kind,
        records.c.deleted.is_(False),
        *_segment_filter(records, segment),
    ]


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of local ``day`` (on a day that skips midnight,
    the instant the clocks jump)."""
    return datetime.combine(day, time(0), zone)


@dataclass(frozen=True, slots=True)
class Span:
    """``[start, end)`` cut at local midnights: the whole days ``[first,
    last)`` and the partial ``edges``, each inside one local day."""

    first: date
    last: date
    edges: tuple[tuple[datetime, datetime], ...]

    @property
    def has_days(self) -> bool:
        return self.first < self.last


def span(start: datetime, end: datetime, zone: ZoneInfo) -> Span:
    first = start.astimezone(zone).date()
    if midnight(first, zone) < start:
        first += timedelta(days=1)
    last = end.astimezone(zone).date()
    if first >= last:
        return Span(first, first, ((start, end),) if start < end else ())
    edges = []
    if start < midnight(first, zone):
        edges.append((start, midnight(first, zone)))
    if midnight(last, zone) < end:
        edges.append((midnight(last, zone), end))
    return Span(first, last, tuple(edges))


@dataclass(frozen=True, slots=True)
class Reading:
    """How ``[start, end)`` is read: local days ``[first, last)`` from the
    rollups, the partial days in ``direct`` from the records, less the
    records in ``after`` (the rest of the last day, from ``end`` to its
    midnight; None if nothing is subtracted).

    The last day up to ``end`` (today up to ``as_of``) is the day's rollup
    less what entered after ``end``: none in a live service, so the
    evaluation every minute does not scan today's records, most of its
    reading at a busy CRM's volume (a backtest's older ``end`` reads the
    rest of that day instead). A day cut by ``start`` is read directly."""

    first: date
    last: date
    direct: tuple[tuple[datetime, datetime], ...]
    after: tuple[date, datetime, datetime] | None

    @classmethod
    def of(cls, start: datetime, end: datetime, zone: ZoneInfo) -> Reading:
        cut = span(start, end, zone)
        first, last, after = cut.first, cut.last, None
        direct = []
        for low, high in cut.edges:
            day = low.astimezone(zone).date()
            if high == end and low == midnight(day, zone):
                after = (day, end, midnight(day + _DAY, zone))
                first, last = min(first, day), day + _DAY
            else:
                direct.append((low, high))
        return cls(first, last, tuple(direct), after)


class LaterEntries:
    """The entries of a stage after ``as_of`` on its day (what today's
    rollup count is less), as last read: kept until a write changes the
    source's records (``versions.records``), so a later ``as_of`` the same
    day counts them without a read. A live service has none; a backtest,
    or a store holding conversions dated after ``as_of``, has up to a
    day's worth, read once a day rather than at every step."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._kept: dict[tuple[object, ...], tuple[int, datetime, list[datetime]]] = {}

    def count(
        self, conn: Connection, where: Scope, stage: str, end: datetime, day_end: datetime
    ) -> int:
        """Live records of ``where`` that entered ``stage`` in ``[end, day_end)``."""
        key = (where.source, tuple(sorted(where.segment.items())), stage, day_end)
        version = versions.records(conn, where.source)
        held = self._kept.get(key)
        if held is None or held[0] != version or end < held[1]:
            column = records.c[f"{stage}_at"]
            query = select(column).where(
                *live_filter(where.source, _stage_kind(stage), where.segment),
                column >= end,
                column < day_end,
            )
            if len(self._kept) >= self._size:
                self._kept.clear()
            held = self._kept[key] = (version, end, sorted(conn.execute(query).scalars()))
        return len(held[2]) - bisect_left(held[2], end)


def daily_stage_counts(
    conn: Connection,
    where: Scope,
    stage: str,
    start: datetime,
    end: datetime,
    later: LaterEntries | None = None,
) -> dict[date, int]:
    """Records that entered ``stage`` in ``[start, end)``, per local day
    (read as ``Reading`` says; what follows ``end`` through ``later``)."""
    kind = _stage_kind(stage)
    reading = Reading.of(start, end, where.zone)
    column = records.c[f"{stage}_at"]
    live = live_filter(where.source, kind, where.segment)

    def count(low: datetime, high: datetime) -> int:
        query = select(func.count()).where(*live, column >= low, column < high)
        return int(conn.execute(query).scalar_one())

    out: dict[date, int] = defaultdict(int)
    if reading.first < reading.last:
        rows = conn.execute(
            select(stage_days.c.day, func.sum(stage_days.c.count))
            .where(
                *where.rollup(stage_days),
                stage_days.c.kind == kind,
                stage_days.c.stage == stage,
                stage_days.c.day >= reading.first,
                stage_days.c.day < reading.last,
            )
            .group_by(stage_days.c.day)
        )
        for day, total in rows:
            out[day] += int(total)
    if reading.after is not None:
        day, low, high = reading.after
        out[day] -= (later or LaterEntries()).count(conn, where, stage, low, high)
    for low, high in reading.direct:
        out[low.astimezone(where.zone).date()] += count(low, high)
    return {day: total for day, total in out.items() if total}


def daily_visits(
    conn: Connection, source: str, segment: Mapping[str, str], first: date, last: date
) -> dict[date, int]:
    rows = conn.execute(
        select(daily_counts.c.day, func.sum(daily_counts.c.count))
        .where(
            daily_counts.c.source == source,
            daily_counts.c.stage == "visit",
            daily_counts.c.day >= first,
            daily_counts.c.day <= last,
            *_segment_filter(daily_counts, segment),
        )
        .group_by(daily_counts.c.day)
    )
    return {day: int(total) for day, total in rows}


def has_visits(conn: Connection, source: str) -> bool:
    row = conn.execute(
        select(daily_counts.c.id)
        .where(daily_counts.c.source == source, daily_counts.c.stage == "visit")
        .limit(1)
    ).first()
    return row is not None


#: Seasonal pacing learns from this many whole weeks before today.
PROFILE_WEEKS = 8


def hour_profile(conn: Connection, where: Scope, stage: str, today: date) -> tuple[int, ...]:
    """Records that entered ``stage`` in each local hour of the week (Monday
    00:00 first) over the ``PROFILE_WEEKS`` whole weeks before ``today``.
    The database groups by UTC hour (at most 24 × 7 × weeks groups, however
    many records); each hour is then placed in the local week, which also
    follows daylight-saving changes."""
    column = records.c[f"{stage}_at"]
    hour = (
        func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
        if conn.dialect.name == "postgresql"
        else func.substr(column, 1, 13)
    )
    start = midnight(today - timedelta(weeks=PROFILE_WEEKS), where.zone)
    rows = conn.execute(
        select(hour, func.count())
        .where(
            *live_filter(where.source, _stage_kind(stage), where.segment),
            column >= start,
            column < midnight(today, where.zone),
        )
        .group_by(hour)
    )
    profile = [0] * (7 * 24)
    for text, count in rows:
        # ISO 8601 to the hour ("2026-11-02 14"): fromisoformat reads it at a
        # fraction of strptime's cost, a thousand rows per evaluation.
        local = datetime.fromisoformat(text).replace(tzinfo=UTC).astimezone(where.zone)
        profile[local.weekday() * 24 + local.hour] += int(count)
    return tuple(profile)


class ProfileCache:
    """Arrival profiles already read today. A profile covers whole weeks
    before today, so it changes once a day: the every-minute evaluation
    reads it once per goal and stage a day, not a scan of eight weeks of
    records each time. Records synced late with past dates join it the next
    day."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._kept: dict[tuple[object, ...], tuple[int, ...]] = {}

    def get(self, conn: Connection, where: Scope, stage: str, today: date) -> tuple[int, ...]:
        key = (where.source, tuple(sorted(where.segment.items())), where.zone.key, stage, today)
        profile = self._kept.get(key)
        if profile is None:
            if len(self._kept) >= self._size:
                self._kept.clear()
            profile = self._kept[key] = hour_profile(conn, where, stage, today)
        return profile


@dataclass
class Kept:
    """What a store keeps between evaluations, each part checked against
    what the writes have changed (or, for arrival profiles, the day)."""

    profiles: ProfileCache = field(default_factory=ProfileCache)
    cohorts: CohortCache = field(default_factory=CohortCache)
    keys: SegmentKeys = field(default_factory=SegmentKeys)
    later: LaterEntries = field(default_factory=LaterEntries)


def persons_carry_won(conn: Connection, source: str) -> bool:
    """Whether the CRM links persons to won deals at all; if not, a person
    cohort would show a 0% SQL→won rate that is only missing data."""
    row = conn.execute(
        select(records.c.id)
        .where(
            records.c.source == source, records.c.kind == "person", records.c.won_at.is_not(None)
        )
        .limit(1)
    ).first()
    return row is not None


def deal_sample(conn: Connection, where: Scope, start: datetime, end: datetime) -> DealSample:
    """Won deals with a positive amount in ``[start, end)`` (read as
    ``Reading`` says)."""
    reading = Reading.of(start, end, where.zone)

    def won(low: datetime, high: datetime) -> tuple[int, float]:
        row = conn.execute(
            select(
                func.count(records.c.amount), func.coalesce(func.sum(records.c.amount), 0.0)
            ).where(
                *live_filter(where.source, "deal", where.segment),
                records.c.won_at >= low,
                records.c.won_at < high,
                records.c.amount > 0,
            )
        ).one()
        return int(row[0]), float(row[1])

    count, total = 0, 0.0
    if reading.first < reading.last:
        row = conn.execute(
            select(func.sum(stage_days.c.amounts), func.sum(stage_days.c.amount_total)).where(
                *where.rollup(stage_days),
                stage_days.c.kind == "deal",
                stage_days.c.stage == "won",
                stage_days.c.day >= reading.first,
                stage_days.c.day < reading.last,
            )
        ).one()
        count, total = int(row[0] or 0), float(row[1] or 0.0)
    if reading.after is not None:
        later, later_total = won(*reading.after[1:])
        count, total = count - later, total - later_total
    for low, high in reading.direct:
        part, part_total = won(low, high)
        count, total = count + part, total + part_total
    return DealSample(count, total)


def funnel_facts(
    conn: Connection,
    query: FactsQuery,
    kept: Kept | None = None,
) -> FunnelFacts:
    """Everything the reconciler needs for one goal, as of ``query.as_of``."""
    source, segment, period, as_of = query.source, query.segment, query.period, query.as_of
    zone, auto, recent_days = query.zone, query.auto, query.recent_days
    kept = kept or Kept()
    where = scope(conn, source, segment, zone, kept.keys)
    until = min(as_of, period.ends_at)
    daily: dict[str, dict[date, int]] = {}
    for stage in RECORD_STAGES:
        daily[stage] = daily_stage_counts(conn, where, stage, period.starts_at, until, kept.later)
    visits_reported = has_visits(conn, source)
    last_day = (until - timedelta(microseconds=1)).astimezone(zone).date()
    if visits_reported:
        daily["visit"] = daily_visits(conn, source, segment, period.start, last_day)

    today = as_of.astimezone(zone).date()
    window_start = today - timedelta(days=auto.window_days)
    won_linked = persons_carry_won(conn, source)
    cohort = kept.cohorts.reader(conn, where, today)
    tables = {
        rate: cohort.table(upper, window_start)
        for rate, (upper, lower) in RATE_STAGES.items()
        if upper != "visit" and (lower != "won" or won_linked)
    }
    rate_goal = None
    if query.rate_goal is not None:
        rate, first = query.rate_goal
        upper, lower = RATE_STAGES[rate]
        if lower != "won" or won_linked:
            rate_goal = cohort.table(upper, first)
    hourly = (
        {stage: kept.profiles.get(conn, where, stage, today) for stage in RECORD_STAGES}
        if query.profiles
        else {}
    )
    visits = recent_visits = None
    if visits_reported:
        visits = _visit_ratio(conn, where, window_start, as_of, kept.later)
        recent_visits = _visit_ratio(
            conn, where, today - timedelta(days=recent_days), as_of, kept.later
        )
    return FunnelFacts(
        as_of=as_of,
        period=period,
        daily=daily,
        tables=tables,
        visits=visits,
        recent_visits=recent_visits,
        profiles=hourly,
        deals=deal_sample(conn, where, midnight(window_start, zone), as_of),
        has_visits=visits_reported,
        rate_goal=rate_goal,
    )


def _visit_ratio(
    conn: Connection, where: Scope, first: date, end: datetime, later: LaterEntries
) -> Cohort:
    """Visits are aggregate counts, so their "cohort" is period-based: visits
    over the days from ``first`` to ``end`` against leads created then."""
    last = (end - timedelta(microseconds=1)).astimezone(where.zone).date()
    visits = sum(daily_visits(conn, where.source, where.segment, first, last).values())
    start = midnight(first, where.zone)
    leads = sum(daily_stage_counts(conn, where, "lead", start, end, later).values())
    return Cohort(visits, min(leads, visits))
