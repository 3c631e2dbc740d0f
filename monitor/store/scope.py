"""A goal's slice of the store, as the rollup reads filter it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, select

from monitor.store import versions
from monitor.store.rollups import matching_keys
from monitor.store.schema import stage_days


@dataclass(frozen=True, slots=True)
class Scope:
    """One goal's slice of the store: its source, its segment, and the
    rollup segment keys that fall in it (None: every key)."""

    source: str
    segment: Mapping[str, str]
    keys: list[str] | None
    zone: ZoneInfo

    def rollup(self, table: Any) -> list[ColumnElement[bool]]:
        where = [table.c.source == self.source]
        if self.keys is not None:
            where.append(table.c.segment_key.in_(self.keys))
        return where


def scope(
    conn: Connection,
    source: str,
    segment: Mapping[str, str],
    zone: ZoneInfo,
    keys: SegmentKeys | None = None,
) -> Scope:
    if not segment:
        return Scope(source, segment, None, zone)
    stored = (keys or SegmentKeys()).of(conn, source)
    return Scope(source, segment, matching_keys(stored, segment), zone)


class SegmentKeys:
    """Each source's rollup segment keys, as last read. Finding them scans
    the source's whole day rollup (every day of every year stored, times
    the segments), yet a new key comes only with a write of the source's
    records: kept with the source's record version (``versions.records``)."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[int, list[str]]] = {}

    def of(self, conn: Connection, source: str) -> list[str]:
        current = versions.records(conn, source)
        kept = self._kept.get(source)
        if kept is None or kept[0] != current:
            found = conn.execute(
                select(stage_days.c.segment_key).where(stage_days.c.source == source).distinct()
            ).scalars()
            kept = self._kept[source] = (current, list(found))
        return kept[1]
