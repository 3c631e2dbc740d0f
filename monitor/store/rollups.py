"""Day rollups, kept in step with ``records`` by every write.

Evaluation wants stage counts per local day of a goal's period and cohort
conversions over trailing windows. Counted from raw records, that costs
whatever the history weighs; counted from ``stage_days`` (stage × local day
× segment) and ``cohort_days`` (stage × day × next stage's day × segment) it
costs days, however many records there are.

A batch updates the rollups by difference in its own transaction: the
stored versions of its records are subtracted and the new versions added,
so re-sent, changed, re-staged and deleted records all come out right.
Days are local to one time zone, recorded in ``rollup_state``; asking for
another zone rebuilds the rollups from the records once.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, Connection, Row, String, Table, any_, delete, literal, select

from monitor.interfaces import NEXT_STAGE, RECORD_STAGES, Stage
from monitor.store import versions
from monitor.store.bulk import execute_many, insert_or_update
from monitor.store.schema import cohort_days, records, rollup_state, stage_days

log = logging.getLogger(__name__)

#: ``cohort_days.next_day`` of a person that has not reached the next stage.
NEVER = date(9999, 12, 31)
#: Segment values are clipped in keys: a key is part of a primary key, and
#: index entries have a size limit on PostgreSQL.
SEGMENT_VALUE_WIDTH = 64
CONTRIBUTING = ("kind", "deleted", "lead_at", "mql_at", "sql_at", "won_at", "amount", "segments")
_stage_times = attrgetter(*(f"{stage}_at" for stage in RECORD_STAGES))
_NEXT = tuple(NEXT_STAGE.items())
_UNBUILT = ""
_STATE_ID = 1


def segment_key(segments: Mapping[str, Any]) -> str:
    """A segment's canonical text, the same for equal segments however
    their attributes were ordered."""
    try:
        return _key_as_given(tuple(segments.items()))
    except TypeError:  # a value that cannot be a cache key
        return _canonical(segments.items())


@functools.lru_cache(maxsize=4096)
def _key_as_given(items: tuple[tuple[str, Any], ...]) -> str:
    # Records repeat a handful of segments, in the same attribute order.
    return _canonical(items)


def _canonical(items: Iterable[tuple[str, Any]]) -> str:
    return _key(tuple(sorted((str(k), str(v)[:SEGMENT_VALUE_WIDTH]) for k, v in items)))


@functools.lru_cache(maxsize=4096)
def _key(items: tuple[tuple[str, str], ...]) -> str:
    # Records repeat a handful of segments: each key is encoded once.
    return json.dumps(dict(items), separators=(",", ":"))


def matching_keys(keys: Iterable[str], wanted: Mapping[str, str]) -> list[str]:
    """The segment keys that carry every attribute of ``wanted``."""
    target = json.loads(segment_key(wanted))
    out = []
    for key in keys:
        segments = json.loads(key)
        if all(segments.get(attr) == value for attr, value in target.items()):
            out.append(key)
    return out


class Deltas:
    """Changes to the rollups of one source, summed before they are written."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        # (kind, stage, day, segment key) -> [count, amounts, amount total]
        self.stages: dict[tuple[str, str, date, str], list[Any]] = defaultdict(lambda: [0, 0, 0.0])
        # (stage, day, segment key, next stage's day) -> count
        self.cohorts: dict[tuple[str, date, str, date], int] = defaultdict(int)

    def add(self, row: Any, sign: int) -> None:
        """Count what one record contributes, ``sign`` times: a stored row
        or a ``FunnelRecord`` about to be written (the same attributes)."""
        if row.deleted:
            return
        kind, key, zone, stages = row.kind, segment_key(row.segments or {}), self.zone, self.stages
        days: dict[Stage, date] = {}
        for stage, at in zip(RECORD_STAGES, _stage_times(row), strict=True):
            if at is not None:
                day = days[stage] = at.astimezone(zone).date()
                stages[(kind, stage, day, key)][0] += sign
        if kind == "deal" and "won" in days:
            amount = row.amount
            if amount is not None and amount > 0:
                entry = stages[(kind, "won", days["won"], key)]
                entry[1] += sign
                entry[2] += sign * amount
        elif kind == "person":
            for upper, lower in _NEXT:
                if upper in days:
                    self.cohorts[(upper, days[upper], key, days.get(lower, NEVER))] += sign

    def first_visible(self) -> date | None:
        """The first ``today`` whose cohort tables these changes alter, or
        None if none ever will. A table of ``today`` counts the persons that
        entered before today and their conversions before today: a new lead
        or a conversion of today shows from tomorrow on, while a record
        backdated, re-staged, moved to another segment or deleted changes
        the past."""
        entered: dict[tuple[str, date, str], int] = defaultdict(int)
        converted: dict[tuple[str, date, str], date] = {}
        for (stage, day, key, next_day), n in self.cohorts.items():
            if not n:
                continue
            group = (stage, day, key)
            entered[group] += n
            converted[group] = min(next_day, converted.get(group, NEVER))
        first = None
        for group, first_next in converted.items():
            day = group[1]
            # The day's persons changed, or only when they converted: the
            # earliest changed conversion shows once both days are past.
            shows = day if entered[group] else max(day, first_next)
            if shows < NEVER and (first is None or shows < first):
                first = shows
        return None if first is None else first + timedelta(days=1)

    def write(self, conn: Connection, source: str) -> None:
        stage_rows = [
            {"source": source, "kind": kind, "stage": stage, "day": day, "segment_key": key,
             "count": n, "amounts": amounts, "amount_total": total}
            for (kind, stage, day, key), (n, amounts, total) in self.stages.items()
            if n or amounts or total
        ]  # fmt: skip
        cohort_rows = [
            {"source": source, "stage": stage, "day": day, "segment_key": key,
             "next_day": next_day, "count": n}
            for (stage, day, key, next_day), n in self.cohorts.items()
            if n
        ]  # fmt: skip
        visible = self.first_visible()
        if visible is not None:
            versions.bump_cohorts(conn, source, visible)
        if conn.dialect.name == "postgresql":
            _add_by_arrays(conn, stage_days, _STAGE_KEY, stage_rows)
            _add_by_arrays(conn, cohort_days, _COHORT_KEY, cohort_rows)
            return
        stmt = insert_or_update(conn, stage_days)
        execute_many(
            conn,
            stmt.on_conflict_do_update(
                index_elements=_STAGE_KEY,
                set_={name: stage_days.c[name] + stmt.excluded[name] for name in _STAGE_SUMS},
            ),
            stage_rows,
        )
        stmt = insert_or_update(conn, cohort_days)
        execute_many(
            conn,
            stmt.on_conflict_do_update(
                index_elements=_COHORT_KEY,
                set_={"count": cohort_days.c.count + stmt.excluded["count"]},
            ),
            cohort_rows,
        )


_STAGE_KEY = ["source", "kind", "stage", "day", "segment_key"]
_STAGE_SUMS = ["count", "amounts", "amount_total"]
_COHORT_KEY = ["source", "stage", "day", "segment_key", "next_day"]
_ARRAY_TYPES = {"day": "date[]", "next_day": "date[]", "count": "integer[]",
                "amounts": "integer[]", "amount_total": "float8[]"}  # fmt: skip


def _add_by_arrays(
    conn: Connection, table: Table, key: list[str], rows: list[dict[str, Any]]
) -> None:
    """Add ``rows`` to ``table`` on PostgreSQL in one statement, a column
    an array: hundreds of rows a batch, one round trip instead of one per
    row."""
    if not rows:
        return
    names = list(rows[0])
    sums = [n for n in names if n not in key]
    arrays = ", ".join(f"%s::{_ARRAY_TYPES.get(n, 'text[]')}" for n in names)
    added = ", ".join(f"{n} = {table.name}.{n} + excluded.{n}" for n in sums)
    # Built from the schema's own names, never from data.
    statement = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {added}"
    )
    conn.exec_driver_sql(statement, tuple([row[n] for row in rows] for n in names))


def stored_versions(
    conn: Connection, source: str, keys: Iterable[tuple[str, str]]
) -> list[Row[Any]]:
    """The stored rows (their contributing columns) of ``(object_type,
    crm_id)`` keys, read before a batch overwrites them."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for object_type, crm_id in keys:
        by_type[object_type].append(crm_id)
    columns = [records.c[name] for name in CONTRIBUTING]
    out: list[Row[Any]] = []
    for object_type, ids in by_type.items():
        if not _any_stored(conn, source, object_type):  # a first sync: nothing to look up
            continue
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            # On PostgreSQL one array parameter rather than 500: one
            # statement text, prepared once by psycopg, whatever the length.
            wanted = (
                records.c.crm_id == any_(literal(chunk, ARRAY(String)))
                if conn.dialect.name == "postgresql"
                else records.c.crm_id.in_(chunk)
            )
            out.extend(
                conn.execute(
                    select(*columns).where(
                        records.c.source == source, records.c.object_type == object_type, wanted
                    )
                )
            )
    return out


def _any_stored(conn: Connection, source: str, object_type: str) -> bool:
    query = select(records.c.id).where(
        records.c.source == source, records.c.object_type == object_type
    )
    return conn.execute(query.limit(1)).first() is not None


def zone_for_writes(conn: Connection, now: datetime) -> ZoneInfo:
    """The rollups' zone, locked against a rebuild until the transaction
    ends; on a database that has none yet, build them (in UTC)."""
    zone = _read_zone(conn, lock="share")
    if zone:
        return ZoneInfo(zone)
    return ensure_zone(conn, ZoneInfo("UTC"), now)


def current_zone(conn: Connection) -> str | None:
    """The zone the rollups are in, or None if they are not built."""
    return _read_zone(conn, lock="share") or None


def ensure_zone(conn: Connection, zone: ZoneInfo, now: datetime) -> ZoneInfo:
    """Make the rollups be in ``zone``, rebuilding them if they are not."""
    conn.execute(
        insert_or_update(conn, rollup_state)
        .values(id=_STATE_ID, zone=_UNBUILT, built_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    if _read_zone(conn, lock="update") != zone.key:
        rebuild(conn, zone, now)
    return zone


def rebuild(conn: Connection, zone: ZoneInfo, now: datetime) -> None:
    """Recount every rollup from the records, in ``zone``."""
    conn.execute(delete(stage_days))
    conn.execute(delete(cohort_days))
    sources = conn.execute(select(records.c.source).distinct()).scalars().all()
    if sources:  # a new database has nothing to count, and nothing to say
        log.info("counting the day rollups in %s from the stored records", zone.key)
    total = 0
    for source in sources:
        deltas = Deltas(zone)
        rows = conn.execute(
            select(*(records.c[name] for name in CONTRIBUTING))
            .where(records.c.source == source, records.c.deleted.is_(False))
            .execution_options(yield_per=10_000)
        )
        for row in rows:
            deltas.add(row, 1)
            total += 1
        deltas.write(conn, source)
    conn.execute(
        rollup_state.update()
        .where(rollup_state.c.id == _STATE_ID)
        .values(zone=zone.key, built_at=now)
    )
    if sources:
        log.info("day rollups counted from %d records", total)


def _read_zone(conn: Connection, lock: str) -> str | None:
    query = select(rollup_state.c.zone).where(rollup_state.c.id == _STATE_ID)
    query = query.with_for_update(read=lock == "share")
    return conn.execute(query).scalar_one_or_none()
