"""Reading the records that sit in a stage: counted per owner by the
database, and only the oldest few read as rows, so the cost does not grow
with what is loaded into memory at a million records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Subquery, and_, case, func, or_, select

from monitor.facts import StageOpen, StalledRecord
from monitor.interfaces import RECORD_STAGES, PersonStage
from monitor.store.facts import live_filter
from monitor.store.schema import records

#: How many of the oldest stalled records a stage lists.
OLDEST = 5


def _placed(
    source: str, segment: Mapping[str, str], stages: Iterable[PersonStage], as_of: datetime
) -> Subquery:
    """The records that sat in one of ``stages`` at ``as_of``, with that
    stage and when they entered it: the latest stage a record had entered
    by then (one that reached a later stage is not in ``stages`` any more),
    not closed by then. Later instants are not known yet at ``as_of``, so a
    backtest sees the store as it was."""
    reached = [(records.c[f"{stage}_at"] < as_of, stage) for stage in reversed(RECORD_STAGES)]
    stage = case(*reached)
    entered = case(*((when, records.c[f"{name}_at"]) for when, name in reached))
    return (
        select(
            stage.label("stage"),
            entered.label("entered"),
            records.c.crm_id,
            records.c.name,
            records.c.owner_email,
            records.c.owner_name,
            records.c.url,
        )
        .where(
            *live_filter(source, "person", segment),
            or_(records.c.closed_at.is_(None), records.c.closed_at >= as_of),
            or_(*(records.c[f"{name}_at"] < as_of for name in stages)),
        )
        .subquery()
    )


def stages_open(
    conn: Connection,
    source: str,
    segment: Mapping[str, str],
    stalled_before: Mapping[PersonStage, datetime],
    as_of: datetime,
) -> dict[PersonStage, StageOpen]:
    """The open records of each stage of ``stalled_before`` per owner, those
    that entered it before the stage's cut-off among them, and the
    ``OLDEST`` of those: one pass over the records for the counts and, if
    any are stalled, one for the oldest."""
    placed = _placed(source, segment, stalled_before, as_of)
    stalled = or_(
        *(
            and_(placed.c.stage == stage, placed.c.entered < cut)
            for stage, cut in stalled_before.items()
        )
    )
    rows = conn.execute(
        select(
            placed.c.stage,
            placed.c.owner_email,
            func.max(placed.c.owner_name),
            func.count(),
            func.sum(case((stalled, 1), else_=0)),
        )
        .where(placed.c.stage.in_(list(stalled_before)))
        .group_by(placed.c.stage, placed.c.owner_email)
    )
    opened: dict[str, dict[str, int]] = {stage: {} for stage in stalled_before}
    late: dict[str, dict[str, int]] = {stage: {} for stage in stalled_before}
    names: dict[str, dict[str, str]] = {stage: {} for stage in stalled_before}
    for stage, email, name, count, late_count in rows:
        owner = email or ""
        opened[stage][owner] = opened[stage].get(owner, 0) + int(count)
        late[stage][owner] = late[stage].get(owner, 0) + int(late_count or 0)
        if owner and name:
            names[stage][owner] = name
    oldest: dict[str, list[StalledRecord]] = {stage: [] for stage in stalled_before}
    if any(n for counts in late.values() for n in counts.values()):
        for row in conn.execute(_oldest(placed, stalled)):
            oldest[row.stage].append(
                StalledRecord(
                    row.crm_id,
                    row.name or row.crm_id,
                    row.owner_email,
                    row.owner_name,
                    row.url or "",
                    row.entered,
                )
            )
    return {
        stage: StageOpen(
            stage=stage,
            open=opened[stage],
            stalled={owner: n for owner, n in late[stage].items() if n},
            owner_names=names[stage],
            oldest=tuple(oldest[stage]),
        )
        for stage in stalled_before
    }


def _oldest(placed: Subquery, stalled: ColumnElement[bool]) -> Select[Any]:
    """The ``OLDEST`` stalled records of each stage, oldest first."""
    rank = func.row_number().over(
        partition_by=placed.c.stage, order_by=(placed.c.entered, placed.c.crm_id)
    )
    ranked = select(*placed.c, rank.label("rank")).where(stalled).subquery()
    return (
        select(*(ranked.c[column.key] for column in placed.c))
        .where(ranked.c.rank <= OLDEST)
        .order_by(ranked.c.stage, ranked.c.rank)
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
