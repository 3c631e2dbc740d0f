"""Leases: how replicas agree who runs a job occurrence.

APScheduler fires in every replica; the database decides. A lease row per
job occurrence (``evaluate@<slot>``, the slot being the interval the firing
falls in) or per running job names its holder and an expiry. Taking it is one atomic upsert that
succeeds only when the row is free, expired, or already ours, so exactly one
replica wins; a replica that dies simply stops renewing and another takes
over once the lease expires. Works the same on SQLite (one process) and
PostgreSQL (many).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, or_

from monitor.store.bulk import insert_or_update
from monitor.store.schema import leases


def acquire(conn: Connection, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Take or renew lease ``name`` until ``until``; False if another holder
    has it and it has not expired. Expired rows are swept on the way, so the
    table holds only live leases."""
    conn.execute(delete(leases).where(leases.c.acquired_until < now))
    stmt = insert_or_update(conn, leases).values(
        name=name, acquired_by=holder, acquired_until=until
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"acquired_by": holder, "acquired_until": until},
        where=or_(leases.c.acquired_until <= now, leases.c.acquired_by == holder),
    ).returning(leases.c.acquired_by)
    row = conn.execute(stmt).first()
    return row is not None and row[0] == holder


def release(conn: Connection, name: str, holder: str) -> None:
    conn.execute(delete(leases).where(leases.c.name == name, leases.c.acquired_by == holder))


def release_all(conn: Connection, holder: str) -> None:
    """At a clean shutdown: hand every lease back at once instead of making
    the other replicas wait for expiry."""
    conn.execute(delete(leases).where(leases.c.acquired_by == holder))


def clear(conn: Connection) -> None:
    """Drop every lease: only for a store no other service can be using."""
    conn.execute(delete(leases))
