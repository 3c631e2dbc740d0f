"""A goal's slice of the store, as the rollup reads filter it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, select

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


def scope(conn: Connection, source: str, segment: Mapping[str, str], zone: ZoneInfo) -> Scope:
    if not segment:
        return Scope(source, segment, None, zone)
    keys = conn.execute(
        select(stage_days.c.segment_key).where(stage_days.c.source == source).distinct()
    ).scalars()
    return Scope(source, segment, matching_keys(keys, segment), zone)
