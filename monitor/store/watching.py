"""Which sources alignmon watches, as a part of ``Transaction``: a source
is watched from the evaluation after its first complete sync, and the
channels are told so once, in the transaction that marks it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select, update

from monitor.store.schema import source_status


class WatchRows:
    _conn: Connection

    def start_watching(self, sources: Iterable[str], now: datetime) -> list[str]:
        """Of ``sources`` (ready to be judged), the ones not watched before,
        now marked watched since ``now``."""
        names = sorted(set(sources))
        if not names:
            return []
        new = list(
            self._conn.execute(
                select(source_status.c.source).where(
                    source_status.c.source.in_(names), source_status.c.watching_since.is_(None)
                )
            ).scalars()
        )
        if new:
            self._conn.execute(
                update(source_status)
                .where(source_status.c.source.in_(new))
                .values(watching_since=now)
            )
        return sorted(new)
