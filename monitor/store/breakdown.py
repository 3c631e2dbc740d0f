"""A goal's records per value of a segment attribute: period volumes, won
revenue and cohort conversions, counted by the database.

Whole days come from the day rollups grouped by segment key: one row per
(key, stage), however many records, and a key names few values, so keys
are folded into values here. The partial days at the period's edges come
from the records themselves, grouped by the attribute's value.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from monitor.facts import Cohort, FactsQuery, FunnelFacts, ValueFacts
from monitor.interfaces import RATE_STAGES, RECORD_STAGES, RateName, RecordStage
from monitor.store.facts import live_filter, span
from monitor.store.rollups import SEGMENT_VALUE_WIDTH
from monitor.store.schema import cohort_days, records, stage_days
from monitor.store.scope import Scope, SegmentKeys, scope


class _Tally:
    def __init__(self) -> None:
        self.counts: dict[str, dict[RecordStage, int]] = defaultdict(lambda: defaultdict(int))
        self.revenue: dict[str, float] = defaultdict(float)
        self.entered: dict[str, dict[RateName, int]] = defaultdict(lambda: defaultdict(int))
        self.converted: dict[str, dict[RateName, int]] = defaultdict(lambda: defaultdict(int))

    def values(self, rates: tuple[RateName, ...]) -> tuple[ValueFacts, ...]:
        names = set(self.counts) | set(self.entered)
        out = [
            ValueFacts(
                value=name,
                counts={stage: self.counts[name][stage] for stage in RECORD_STAGES},
                revenue=self.revenue[name],
                cohorts={
                    rate: Cohort(self.entered[name][rate], self.converted[name][rate])
                    for rate in rates
                },
            )
            for name in names
        ]
        return tuple(sorted(out, key=lambda v: (-v.counts["lead"], -v.counts["mql"], v.value)))


def with_breakdown(
    conn: Connection, query: FactsQuery, facts: FunnelFacts, keys: SegmentKeys | None = None
) -> FunnelFacts:
    """``facts`` with the goal's records per value of each attribute the
    query names, over the same period and cohort window."""
    if not query.breakdown:
        return facts
    where = scope(conn, query.source, query.segment, query.zone, keys)
    until = min(query.as_of, query.period.ends_at)
    today = query.as_of.astimezone(query.zone).date()
    window = (today - timedelta(days=query.auto.window_days), today)
    rates = tuple(facts.tables)
    by_value = {
        attr: breakdown(conn, where, attr, (query.period.starts_at, until), window, rates)
        for attr in query.breakdown
    }
    return replace(facts, breakdown=by_value)


def _value_of(key: str, attr: str) -> str:
    return str(json.loads(key).get(attr, ""))


def breakdown(
    conn: Connection,
    where: Scope,
    attr: str,
    period: tuple[datetime, datetime],
    window: tuple[date, date],
    rates: tuple[RateName, ...],
) -> tuple[ValueFacts, ...]:
    """The goal's records per value of ``attr``: stage counts and won
    revenue in ``period`` (``[start, end)``), and the cohorts of ``rates``
    that entered their upper stage on the local days ``[first, today)`` of
    ``window`` with their conversions before ``today``."""
    tally = _Tally()
    _period_days(conn, where, attr, period, tally)
    _cohorts(conn, where, attr, window, rates, tally)
    return tally.values(rates)


def _period_days(
    conn: Connection, where: Scope, attr: str, period: tuple[datetime, datetime], tally: _Tally
) -> None:
    cut = span(period[0], period[1], where.zone)
    if cut.has_days:
        rows = conn.execute(
            select(
                stage_days.c.segment_key,
                stage_days.c.kind,
                stage_days.c.stage,
                func.sum(stage_days.c.count),
                func.sum(stage_days.c.amount_total),
            )
            .where(*where.rollup(stage_days), stage_days.c.day >= cut.first)
            .where(stage_days.c.day < cut.last)
            .group_by(stage_days.c.segment_key, stage_days.c.kind, stage_days.c.stage)
        )
        for key, kind, stage, count, total in rows:
            if (kind == "deal") != (stage == "won"):
                continue  # persons' won stamps: the goal counts deals
            value = _value_of(key, attr)
            tally.counts[value][stage] += int(count)
            if stage == "won":
                tally.revenue[value] += float(total or 0.0)
    value_column = records.c.segments[attr].as_string()
    for low, high in cut.edges:
        for stage in RECORD_STAGES:
            kind = "deal" if stage == "won" else "person"
            column = records.c[f"{stage}_at"]
            amount = func.coalesce(
                func.sum(case((records.c.amount > 0, records.c.amount), else_=0.0)), 0.0
            )
            edge_rows = conn.execute(
                select(value_column, func.count(), amount)
                .where(*live_filter(where.source, kind, where.segment))
                .where(column >= low, column < high)
                .group_by(value_column)
            )
            for value, count, total in edge_rows:
                name = _clipped(value)
                tally.counts[name][stage] += int(count)
                if stage == "won":
                    tally.revenue[name] += float(total)


def _cohorts(
    conn: Connection,
    where: Scope,
    attr: str,
    window: tuple[date, date],
    rates: tuple[RateName, ...],
    tally: _Tally,
) -> None:
    first, today = window
    uppers = {RATE_STAGES[rate][0]: rate for rate in rates}
    converted = func.sum(case((cohort_days.c.next_day < today, cohort_days.c.count), else_=0))
    rows = conn.execute(
        select(
            cohort_days.c.segment_key,
            cohort_days.c.stage,
            func.sum(cohort_days.c.count),
            converted,
        )
        .where(*where.rollup(cohort_days), cohort_days.c.stage.in_(list(uppers)))
        .where(cohort_days.c.day >= first, cohort_days.c.day < today)
        .group_by(cohort_days.c.segment_key, cohort_days.c.stage)
    )
    for key, stage, entered, done in rows:
        value, rate = _value_of(key, attr), uppers[stage]
        tally.entered[value][rate] += int(entered)
        tally.converted[value][rate] += int(done or 0)


def _clipped(value: Any) -> str:
    """A record's value as the rollup keys hold it."""
    return "" if value is None else str(value)[:SEGMENT_VALUE_WIDTH]
