"""Cohort tables: the persons that entered a stage on each local day and
when they reached the next one, read from ``cohort_days``.

A goal's cohort table covers months of days and, on a large store, every
(day, day converted) pair of them: the largest read of an evaluation and
the input of its lag curves. Yet a table of ``today`` counts only what
happened before today, so today's new leads and conversions leave it as it
is. ``CohortCache`` keeps each table read, and reuses the same object
while ``versions.cohorts`` shows no write that changed its past; what
the judge computes from it is kept with it (``monitor.judge.derived``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import Connection, func, select

from monitor.facts import CohortTable
from monitor.store import versions
from monitor.store.schema import cohort_days
from monitor.store.scope import Scope


def cohort_table(
    conn: Connection, where: Scope, upper: str, first: date, today: date
) -> CohortTable:
    """The persons that entered ``upper`` on each local day of ``[first,
    today)`` and their conversions to the next stage before ``today``: read
    from the cohort rollup alone, one row per (day, day converted)."""
    entered: dict[date, int] = defaultdict(int)
    converted: dict[tuple[date, int], int] = defaultdict(int)
    rows = conn.execute(
        select(cohort_days.c.day, cohort_days.c.next_day, func.sum(cohort_days.c.count))
        .where(
            *where.rollup(cohort_days),
            cohort_days.c.stage == upper,
            cohort_days.c.day >= first,
            cohort_days.c.day < today,
        )
        .group_by(cohort_days.c.day, cohort_days.c.next_day)
    )
    for day, next_day, count in rows:
        n = int(count)
        if n <= 0:
            continue
        entered[day] += n
        if next_day < today:
            # A CRM can stamp the next stage before this one (a lead
            # imported after it became an MQL): that is a same-day conversion.
            converted[(day, max(0, (next_day - day).days))] += n
    return CohortTable(today, dict(entered), dict(converted))


class CohortCache:
    """Cohort tables already read, each with the version it was read at.
    Only the latest two local days' tables are kept (goals in zones a day
    apart share an instant): a service running for weeks holds two days of
    tables, however large, not every day's since it started."""

    def __init__(self) -> None:
        self._days: dict[date, dict[tuple[object, ...], tuple[int, CohortTable]]] = {}
        self._lock = threading.Lock()

    def reader(self, conn: Connection, where: Scope, today: date) -> CohortReader:
        """Reads for one scope as of ``today``, checked against the
        versions once: read them before the tables, so a write that lands
        in between makes the next evaluation read again, never the reverse."""
        return CohortReader(self, conn, where, today, versions.cohorts(conn, where.source, today))

    def kept(self, today: date, key: tuple[object, ...], current: int) -> CohortTable | None:
        with self._lock:
            kept = self._days.get(today, {}).get(key)
        return kept[1] if kept is not None and kept[0] == current else None

    def keep(self, today: date, key: tuple[object, ...], current: int, table: CohortTable) -> None:
        with self._lock:
            self._days.setdefault(today, {})[key] = (current, table)
            oldest = max(self._days) - timedelta(days=1)
            for day in [day for day in self._days if day < oldest]:
                del self._days[day]


class CohortReader:
    """One goal's tables as of one ``today``, at the version read first."""

    def __init__(
        self, cache: CohortCache, conn: Connection, where: Scope, today: date, current: int
    ) -> None:
        self._cache, self._conn, self._where = cache, conn, where
        self._today, self._current = today, current
        self._scope = (
            where.source,
            where.zone.key,
            None if where.keys is None else tuple(sorted(where.keys)),
        )

    def table(self, upper: str, first: date) -> CohortTable:
        key = (*self._scope, upper, first)
        table = self._cache.kept(self._today, key, self._current)
        if table is None:
            table = cohort_table(self._conn, self._where, upper, first, self._today)
            self._cache.keep(self._today, key, self._current, table)
        return table
