"""The counters by which a process knows that what it kept is current.

Writes count their changes per source; a reader keeps what it read with the
count it read first, and reads again once the count differs, whichever
process wrote. ``cohort_versions`` counts changes by the first day a cohort
table shows them on (``rollups.Deltas.first_visible``), so today's leads
and conversions leave the tables of today in place; ``record_versions``
counts every write that changed a source's records.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, func, select

from monitor.store.bulk import insert_or_update
from monitor.store.schema import cohort_versions, record_versions


def bump_cohorts(conn: Connection, source: str, visible_from: date) -> None:
    """Count one change to ``source``'s cohort tables of ``visible_from`` on."""
    stmt = insert_or_update(conn, cohort_versions)
    conn.execute(
        stmt.values(source=source, visible_from=visible_from, version=1).on_conflict_do_update(
            index_elements=["source", "visible_from"],
            set_={"version": cohort_versions.c.version + 1},
        )
    )


def cohorts(conn: Connection, source: str, today: date) -> int:
    """How many writes have changed ``source``'s cohort tables of ``today``:
    the same number, the same tables."""
    total = conn.execute(
        select(func.sum(cohort_versions.c.version)).where(
            cohort_versions.c.source == source, cohort_versions.c.visible_from <= today
        )
    ).scalar_one()
    return int(total or 0)


def bump_records(conn: Connection, source: str) -> None:
    """Count one write that changed ``source``'s records."""
    stmt = insert_or_update(conn, record_versions)
    conn.execute(
        stmt.values(source=source, version=1).on_conflict_do_update(
            index_elements=["source"], set_={"version": record_versions.c.version + 1}
        )
    )


def records(conn: Connection, source: str) -> int:
    """How many writes have changed ``source``'s records."""
    found = conn.execute(
        select(record_versions.c.version).where(record_versions.c.source == source)
    ).scalar_one_or_none()
    return int(found or 0)
