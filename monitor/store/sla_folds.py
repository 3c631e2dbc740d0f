"""Folded SLA outcomes: what evaluation no longer judges record by record.

A record touched and assigned before an evaluation has an outcome (met or
late, its times in business time) that no later evaluation sees change
unless the record itself changes. Evaluation folds such outcomes per rule
and UTC day of stage entry into ``sla_folds``, for the records that entered
before the row's ``until`` (the day's end, or for today a while before the
evaluation; later evaluations extend it), with the ids of the other
records (still waiting for a first touch, or without an owner), which it
keeps reading and judging. So an evaluation reads a row per day, the
records still open and the latest hour's, however many records a day
brings.

A fold holds while its ``fingerprint`` (the rule's and its calendar's
settings) does, and until a write changes a record of its day in a way that
could change a folded outcome: a new record, a record that changed stage
dates, kind, segments or deletion, or one already touched whose touch,
owner or assignment changed (``changed_days``; a record still untouched is
read afresh anyway). The write deletes the fold in its own transaction, and
the next evaluation folds the day again. A record entered after ``until``
is not in the fold, so today's new records leave it in place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Connection, Date, Text, bindparam, cast, delete, select

from monitor.facts import SlaFold, SlaOutcomes, SlaRecord
from monitor.interfaces import RECORD_STAGES, FunnelRecord
from monitor.store.bulk import insert_or_update
from monitor.store.facts import live_filter
from monitor.store.schema import UTCDateTime, records, sla_folds

#: Folded columns, in their order in a fold's bytes.
_COLUMNS = ("touched", "entered", "decided", "met", "sla_times", "speeds")
_STAGE_COLUMNS = tuple(f"{stage}_at" for stage in RECORD_STAGES)
#: What decides a record's membership of a day: any change re-folds it.
_MEMBERSHIP = (*_STAGE_COLUMNS, "kind", "deleted", "segments")
#: What else a folded (touched) record's outcome or its owner's name reads.
_OUTCOME = ("first_touch_at", "owner_email", "owner_name", "assigned_at")
_LOOKUP = 500


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


class DecodedOutcomes:
    """Folded outcomes already decoded, per rule, by digest. At a busy
    CRM's volume (a million persons a year) a look-back's folds are
    megabytes of encoded outcomes, yet a day's outcomes change only when
    it is folded again (about once an hour for today): an evaluation reads
    and decodes only the days whose digest it has not kept. Per rule, only
    the digests the latest load read are kept, so memory stays that of
    one look-back's folds."""

    def __init__(self) -> None:
        self._kept: dict[str, dict[str, list[SlaOutcomes]]] = {}

    def load(
        self, conn: Connection, rule: str, wanted: Sequence[ColumnElement[bool]]
    ) -> list[tuple[date, datetime, datetime, list[SlaOutcomes], list[int]]]:
        """The rows of ``rule``'s folds that match ``wanted``, by day: day,
        until when, the outcomes and the unsettled ids."""
        c = sla_folds.c
        head = (c.day, c.folded_at, c.until, c.unsettled, c.digest)
        query = select(*head).where(c.rule == rule, *wanted)
        rows = {row.day: row for row in conn.execute(query)}
        previous = self._kept.get(rule, {})
        kept = {row.digest: previous[row.digest] for row in rows.values() if row.digest in previous}
        missing = [day for day, row in rows.items() if row.digest not in kept]
        if missing:
            # Whole rows again, with their text: a day folded again by
            # another process in between comes back consistent.
            text = cast(c.outcomes, Text).label("text")
            query = select(*head, text).where(c.rule == rule, *wanted, c.day.in_(missing))
            for row in conn.execute(query):
                rows[row.day] = row
                kept[row.digest] = [_decode(item) for item in json.loads(row.text)]
        self._kept[rule] = kept
        return [
            (day, row.folded_at, row.until, list(kept[row.digest]), list(row.unsettled))
            for day, row in sorted(rows.items())
            if row.digest in kept
        ]


def load(
    conn: Connection,
    rule: str,
    fingerprint: str,
    since: datetime,
    as_of: datetime,
    decoded: DecodedOutcomes | None = None,
) -> tuple[list[SlaFold], dict[date, list[int]]]:
    """The rule's folds of days that end after ``since`` made at or before
    ``as_of`` under ``fingerprint``, and the ids of each day's unsettled
    records. Outcomes already in ``decoded`` are not read again."""
    wanted = (
        sla_folds.c.fingerprint == fingerprint,
        sla_folds.c.day >= since.astimezone(UTC).date(),
        sla_folds.c.folded_at <= as_of,
    )
    folds, unsettled = [], {}
    for day, folded_at, until, outcomes, ids in (decoded or DecodedOutcomes()).load(
        conn, rule, wanted
    ):
        folds.append(SlaFold(day, folded_at, until, outcomes))
        unsettled[day] = ids
    return folds, unsettled


def save(
    conn: Connection,
    rule: str,
    source: str,
    fingerprint: str,
    folded_at: datetime,
    fold: Mapping[date, tuple[datetime, Sequence[SlaOutcomes], Sequence[int]]],
    keep_from: date,
) -> None:
    """Store the rule's folds of each day of ``fold`` (until when, outcomes
    and the unsettled records' ids), replacing earlier ones, and drop its
    folds of days before ``keep_from``, which no look-back reaches any more."""
    conn.execute(delete(sla_folds).where(sla_folds.c.rule == rule, sla_folds.c.day < keep_from))
    if not fold:
        return
    rows: list[dict[str, Any]] = []
    for day, (until, outcomes, ids) in fold.items():
        encoded = [_encode(item) for item in outcomes]
        rows.append(
            {
                "rule": rule,
                "day": day,
                "source": source,
                "fingerprint": fingerprint,
                "folded_at": folded_at,
                "until": until,
                "outcomes": encoded,
                "digest": _digest(encoded),
                "unsettled": list(ids),
            }
        )
    stmt = insert_or_update(conn, sla_folds)
    replaced = {name: stmt.excluded[name] for name in rows[0] if name not in ("rule", "day")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["rule", "day"], set_=replaced), rows)


def span_records(
    conn: Connection,
    source: str,
    stage: str,
    segment: Mapping[str, str],
    spans: Sequence[tuple[datetime, datetime]],
) -> dict[date, list[tuple[int, SlaRecord]]]:
    """Every live record of the rule's source and segment that entered
    ``stage`` in one of ``spans`` (``[start, end)``, each within a UTC
    day), with its id, by the UTC day of ``spans``."""
    entered = records.c[f"{stage}_at"]
    out: dict[date, list[tuple[int, SlaRecord]]] = {
        start.astimezone(UTC).date(): [] for start, _ in spans
    }
    for start, end in _joined(spans):
        query = select(records.c.id, *sla_columns(stage)).where(
            *live_filter(source, "person", segment), entered >= start, entered < end
        )
        for row in conn.execute(query):
            record = sla_record(row[1:])
            out[record.entered_at.astimezone(UTC).date()].append((row[0], record))
    return out


def sla_columns(stage: str) -> tuple[Any, ...]:
    """The columns ``sla_record`` reads, in its order."""
    return (
        records.c.crm_id, records.c.name, records.c.owner_email, records.c.owner_name,
        records.c.url, records.c[f"{stage}_at"], records.c.assigned_at, records.c.first_touch_at,
    )  # fmt: skip


def sla_record(row: Sequence[Any]) -> SlaRecord:
    return SlaRecord(
        crm_id=row[0],
        name=row[1] or row[0],
        owner_email=row[2],
        owner_name=row[3],
        url=row[4] or "",
        entered_at=row[5],
        assigned_at=row[6],
        first_touch_at=row[7],
    )


def _joined(spans: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """``spans`` in order, those that meet joined into one."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def has_folds(conn: Connection, source: str) -> bool:
    query = select(sla_folds.c.rule).where(sla_folds.c.source == source).limit(1)
    return conn.execute(query).first() is not None


def changed_entries(
    conn: Connection, source: str, latest: Mapping[tuple[str, str], FunnelRecord]
) -> list[datetime]:
    """The stage entries (before and after) of the records in ``latest``
    (by stored key) whose write could change a folded outcome (see the
    module notes); read before the batch is written."""
    stored = _stored(conn, source, latest)
    days: list[datetime] = []
    for key, record in latest.items():
        before = stored.get(key)
        if before is None:
            if record.kind == "person":
                days += _entries(getattr(record, name) for name in _STAGE_COLUMNS)
            continue
        if before["kind"] != "person" and record.kind != "person":
            continue
        now = {name: getattr(record, name) for name in _MEMBERSHIP + _OUTCOME}
        # Stored touches are merged: the earlier one is kept.
        if now["first_touch_at"] is None or (
            before["first_touch_at"] is not None
            and before["first_touch_at"] <= now["first_touch_at"]
        ):
            now["first_touch_at"] = before["first_touch_at"]
        moved = any(before[name] != now[name] for name in _MEMBERSHIP)
        touched = before["first_touch_at"] is not None
        if moved or (touched and any(before[name] != now[name] for name in _OUTCOME)):
            days += _entries(before[name] for name in _STAGE_COLUMNS)
            days += _entries(now[name] for name in _STAGE_COLUMNS)
    return days


def touched_entries(
    conn: Connection, source: str, earliest: Mapping[tuple[str, str], datetime]
) -> list[datetime]:
    """The stage entries of already touched records that an earlier touch
    in ``earliest`` (by ``(object_type, crm_id)``) changes."""
    stored = _stored(conn, source, earliest)
    days: list[datetime] = []
    for key, at in earliest.items():
        before = stored.get(key)
        if (
            before is not None
            and before["first_touch_at"] is not None
            and at < before["first_touch_at"]
        ):
            days += _entries(before[name] for name in _STAGE_COLUMNS)
    return days


def invalidate(conn: Connection, source: str, entries: Iterable[datetime]) -> None:
    """Drop the folds holding any of ``entries``: of its UTC day, folded
    until after it."""
    earliest: dict[date, datetime] = {}
    for moment in entries:
        day = moment.astimezone(UTC).date()
        if day not in earliest or moment < earliest[day]:
            earliest[day] = moment
    if not earliest:
        return
    stmt = delete(sla_folds).where(
        sla_folds.c.source == source,
        sla_folds.c.day == bindparam("b_day", type_=Date),
        sla_folds.c.until > bindparam("b_at", type_=UTCDateTime),
    )
    conn.execute(stmt, [{"b_day": day, "b_at": at} for day, at in earliest.items()])


def _stored(
    conn: Connection, source: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Mapping[str, Any]]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for object_type, crm_id in keys:
        by_type[object_type].append(crm_id)
    columns = [records.c[name] for name in ("object_type", "crm_id", *_MEMBERSHIP, *_OUTCOME)]
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for object_type, ids in by_type.items():
        for start in range(0, len(ids), _LOOKUP):
            query = select(*columns).where(
                records.c.source == source,
                records.c.object_type == object_type,
                records.c.crm_id.in_(ids[start : start + _LOOKUP]),
            )
            for row in conn.execute(query).mappings():
                out[(row["object_type"], row["crm_id"])] = dict(row)
    return out


def _entries(moments: Iterable[datetime | None]) -> list[datetime]:
    return [moment for moment in moments if moment is not None]


def _digest(encoded: list[dict[str, Any]]) -> str:
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _encode(outcomes: SlaOutcomes) -> dict[str, Any]:
    packed = b"".join(_little(getattr(outcomes, name), "q").tobytes() for name in _COLUMNS)
    return {
        "owner": outcomes.owner,
        "name": outcomes.owner_name,
        "count": len(outcomes.entered),
        "columns": base64.b64encode(packed).decode(),
    }


def _decode(item: Mapping[str, Any]) -> SlaOutcomes:
    count = item["count"]
    packed = base64.b64decode(item["columns"])
    columns = {}
    for i, name in enumerate(_COLUMNS):
        values = array("q")
        values.frombytes(packed[i * count * 8 : (i + 1) * count * 8])
        if sys.byteorder == "big":
            values.byteswap()
        columns[name] = values
    return SlaOutcomes(owner=item["owner"], owner_name=item["name"], **columns)


def _little(values: array[int], code: str) -> array[int]:
    """``values`` as 64-bit integers in little-endian order, whatever the
    machine's: a fold read on another machine reads the same."""
    out = array(code, values)
    if sys.byteorder == "big":
        out.byteswap()
    return out
