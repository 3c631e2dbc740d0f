"""Reading the records that sit in a stage: counted per owner by the
database, and only the oldest few read as rows, so the cost does not grow
with what is loaded into memory at a million records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, case, func, or_, select

from monitor.facts import StageOpen, StalledRecord
from monitor.interfaces import RECORD_STAGES, PersonStage
from monitor.store.facts import live_filter
from monitor.store.schema import records

#: How many of the oldest stalled records a stage lists.
OLDEST = 5


def open_filter(stage: PersonStage, as_of: datetime) -> list[ColumnElement[bool]]:
    """Records in ``stage`` at ``as_of``: entered it before then, and by
    then neither reached a later stage nor were closed. Later instants are
    not known yet at ``as_of``, so a backtest sees the store as it was."""
    later = RECORD_STAGES[RECORD_STAGES.index(stage) + 1 :]
    return [
        records.c[f"{stage}_at"] < as_of,
        *(
            or_(records.c[f"{name}_at"].is_(None), records.c[f"{name}_at"] >= as_of)
            for name in later
        ),
        or_(records.c.closed_at.is_(None), records.c.closed_at >= as_of),
    ]


def stage_open(
    conn: Connection,
    source: str,
    segment: Mapping[str, str],
    stage: PersonStage,
    as_of: datetime,
    stalled_before: datetime,
) -> StageOpen:
    """The open records of ``stage`` per owner, those that entered it before
    ``stalled_before`` among them, and the ``OLDEST`` of those."""
    entered = records.c[f"{stage}_at"]
    where = [*live_filter(source, "person", segment), *open_filter(stage, as_of)]
    rows = conn.execute(
        select(
            records.c.owner_email,
            func.max(records.c.owner_name),
            func.count(),
            func.sum(case((entered < stalled_before, 1), else_=0)),
        )
        .where(*where)
        .group_by(records.c.owner_email)
    )
    opened: dict[str, int] = {}
    stalled: dict[str, int] = {}
    names: dict[str, str] = {}
    for email, name, count, late in rows:
        owner = email or ""
        opened[owner] = opened.get(owner, 0) + int(count)
        stalled[owner] = stalled.get(owner, 0) + int(late or 0)
        if owner and name:
            names[owner] = name
    columns = (
        records.c.crm_id, records.c.name, records.c.owner_email, records.c.owner_name,
        records.c.url, entered,
    )  # fmt: skip
    oldest = conn.execute(
        select(*columns)
        .where(*where, entered < stalled_before)
        .order_by(entered, records.c.crm_id)
        .limit(OLDEST)
    )
    return StageOpen(
        stage=stage,
        open=opened,
        stalled={owner: n for owner, n in stalled.items() if n},
        owner_names=names,
        oldest=tuple(
            StalledRecord(row[0], row[1] or row[0], row[2], row[3], row[4] or "", row[5])
            for row in oldest
        ),
    )


def reports_closures(conn: Connection, source: str) -> bool:
    """Whether ``source`` has closed any record at all. One that never does
    (its CRM's lost or disqualified state is not read) would show every
    record that will never convert as stalled."""
    row = conn.execute(
        select(records.c.id)
        .where(records.c.source == source, records.c.closed_at.is_not(None))
        .limit(1)
    ).first()
    return row is not None
