"""Reading what the reconciler needs: stage counts per local day, cohort
conversions and the deal-size sample, aggregated in SQL.

Only aggregates leave the database. Stage entries are grouped into
15-minute UTC buckets in SQL — every time zone's offset is a multiple of 15
minutes, so each bucket falls in exactly one local day — and the few
thousand buckets are folded into local days here. That keeps the query
portable (no per-dialect time zone functions) and its result small however
many records there are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Float, and_, cast, func, select
from sqlalchemy.sql.expression import literal_column

from monitor.config.models import AutoRateSettings
from monitor.facts import Cohort, DealSample, FunnelFacts, Period
from monitor.store.schema import daily_counts, records

BUCKET_SECONDS = 900
_RATE_STAGES = {
    "lead_to_mql": ("lead", "mql"),
    "mql_to_sql": ("mql", "sql"),
    "sql_to_won": ("sql", "won"),
}


def _stage_kind(stage: str) -> str:
    return "deal" if stage == "won" else "person"


def _segment_filter(table: Any, segment: Mapping[str, str]) -> list[ColumnElement[bool]]:
    return [table.c.segments[attr].as_string() == value for attr, value in segment.items()]


def _bucket(conn: Connection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.floor(func.extract("epoch", column) / BUCKET_SECONDS)
    return cast(func.strftime("%s", column), Float) / BUCKET_SECONDS


def live_filter(source: str, kind: str, segment: Mapping[str, str]) -> list[ColumnElement[bool]]:
    """Rows of ``source`` of ``kind`` in ``segment`` that still exist in the CRM."""
    return [
        records.c.source == source,
        records.c.kind == kind,
        records.c.deleted.is_(False),
        *_segment_filter(records, segment),
    ]


def daily_stage_counts(
    conn: Connection,
    source: str,
    segment: Mapping[str, str],
    stage: str,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
) -> dict[date, int]:
    """Records of ``source`` that entered ``stage`` in ``[start, end)``, per local day."""
    column = records.c[f"{stage}_at"]
    bucket = func.floor(_bucket(conn, column)).label("bucket")
    rows = conn.execute(
        select(bucket, func.count())
        .where(*live_filter(source, _stage_kind(stage), segment), column >= start, column < end)
        .group_by(literal_column("bucket"))
    )
    out: dict[date, int] = defaultdict(int)
    for bucket_value, count in rows:
        instant = datetime.fromtimestamp(int(bucket_value) * BUCKET_SECONDS, UTC)
        out[instant.astimezone(zone).date()] += count
    return dict(out)


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


def cohort_counts(
    conn: Connection,
    source: str,
    segment: Mapping[str, str],
    upper: str,
    lower: str,
    windows: Sequence[tuple[datetime, datetime]],
    as_of: datetime,
) -> list[Cohort]:
    """For each ``[start, end)`` window: persons that entered ``upper`` in
    it, and how many of them had entered ``lower`` before ``as_of``. One
    scan serves every window (the trailing and the recent one overlap)."""
    upper_at, lower_at = records.c[f"{upper}_at"], records.c[f"{lower}_at"]
    columns = []
    for start, end in windows:
        inside = and_(upper_at >= start, upper_at < end)
        columns.append(func.count().filter(inside))
        columns.append(func.count(lower_at).filter(inside, lower_at < as_of))
    first = min(start for start, _ in windows)
    last = max(end for _, end in windows)
    row = conn.execute(
        select(*columns).where(
            *live_filter(source, "person", segment), upper_at >= first, upper_at < last
        )
    ).one()
    return [Cohort(int(row[i]), int(row[i + 1])) for i in range(0, len(columns), 2)]


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


def deal_sample(
    conn: Connection, source: str, segment: Mapping[str, str], start: datetime, end: datetime
) -> DealSample:
    row = conn.execute(
        select(func.count(records.c.amount), func.coalesce(func.sum(records.c.amount), 0.0)).where(
            *live_filter(source, "deal", segment),
            records.c.won_at >= start,
            records.c.won_at < end,
            records.c.amount.is_not(None),
            records.c.amount > 0,
        )
    ).one()
    return DealSample(int(row[0]), float(row[1]))


def funnel_facts(
    conn: Connection,
    source: str,
    segment: Mapping[str, str],
    period: Period,
    as_of: datetime,
    zone: ZoneInfo,
    auto: AutoRateSettings,
    recent_days: int,
) -> FunnelFacts:
    """Everything the reconciler needs for one goal, as of ``as_of``."""
    until = min(as_of, period.ends_at)
    daily: dict[str, dict[date, int]] = {}
    for stage in ("lead", "mql", "sql", "won"):
        daily[stage] = daily_stage_counts(
            conn, source, segment, stage, period.starts_at, until, zone
        )
    visits_reported = has_visits(conn, source)
    last_day = (until - timedelta(microseconds=1)).astimezone(zone).date()
    if visits_reported:
        daily["visit"] = daily_visits(conn, source, segment, period.start, last_day)

    matured = as_of - timedelta(days=auto.maturity_days)
    window_start = as_of - timedelta(days=auto.window_days)
    recent_start = matured - timedelta(days=recent_days)
    won_linked = persons_carry_won(conn, source)
    cohorts: dict[str, Cohort] = {}
    recent: dict[str, Cohort] = {}
    for rate, (upper, lower) in _RATE_STAGES.items():
        if lower == "won" and not won_linked:
            continue
        windows = [(window_start, matured), (recent_start, matured)]
        cohorts[rate], recent[rate] = cohort_counts(
            conn, source, segment, upper, lower, windows, as_of
        )
    if visits_reported:
        cohorts["visit_to_lead"] = _visit_ratio(conn, source, segment, window_start, as_of, zone)
        recent["visit_to_lead"] = _visit_ratio(
            conn, source, segment, as_of - timedelta(days=recent_days), as_of, zone
        )
    return FunnelFacts(
        as_of=as_of,
        period=period,
        daily=daily,
        cohorts=cohorts,
        recent=recent,
        deals=deal_sample(conn, source, segment, window_start, as_of),
        has_visits=visits_reported,
    )


def _visit_ratio(
    conn: Connection,
    source: str,
    segment: Mapping[str, str],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
) -> Cohort:
    """Visits are aggregate counts, so their "cohort" is period-based: visits
    over the window against leads created over the same window."""
    first, last = (
        start.astimezone(zone).date(),
        (end - timedelta(microseconds=1)).astimezone(zone).date(),
    )
    visits = sum(daily_visits(conn, source, segment, first, last).values())
    leads = conn.execute(
        select(func.count()).where(
            *live_filter(source, "person", segment),
            and_(records.c.lead_at >= start, records.c.lead_at < end),
        )
    ).scalar_one()
    return Cohort(visits, min(int(leads), visits))
