"""Outbox rows, as a part of ``Transaction``: notifications queued in the
transaction that decided them, claimed and marked by the delivery worker.

A row is queued in the same transaction as the alert state change that
caused it, and claimed, sent and marked delivered in one of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from monitor.interfaces import MessageKind
from monitor.store.schema import outbox


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued notification. ``payload`` is the message as stored (see
    ``monitor.judge.messages``); ``parent_id`` is the post a reply or update
    refers to, ``ref`` the channel's id of the delivered message."""

    id: int
    channel: str
    kind: MessageKind
    parent_id: int | None
    payload: Mapping[str, Any]
    fingerprints: Sequence[str]
    created_at: datetime
    not_before: datetime
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    dead_at: datetime | None
    ref: str | None


class OutboxRows:
    _conn: Connection

    def enqueue(
        self,
        *,
        channel: str,
        kind: MessageKind,
        payload: Mapping[str, Any],
        fingerprints: Sequence[str],
        now: datetime,
        not_before: datetime,
        parent_id: int | None = None,
    ) -> int:
        """Queue a notification; returns its row id."""
        result = self._conn.execute(
            insert(outbox)
            .values(
                channel=channel,
                kind=kind,
                parent_id=parent_id,
                payload=dict(payload),
                fingerprints=list(fingerprints),
                created_at=now,
                not_before=not_before,
                attempts=0,
            )
            .returning(outbox.c.id)
        )
        return int(result.scalar_one())

    def claim(self, now: datetime) -> OutboxRow | None:
        """The oldest row due for delivery, held for this transaction. On
        PostgreSQL a row another replica holds is skipped (``SKIP LOCKED``), so
        replicas never take the same row."""
        query = (
            select(outbox)
            .where(
                outbox.c.delivered_at.is_(None),
                outbox.c.dead_at.is_(None),
                outbox.c.not_before <= now,
            )
            .order_by(outbox.c.id)
            .limit(1)
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = self._conn.execute(query).mappings().first()
        return _row(row) if row else None

    def outbox_row(self, row_id: int) -> OutboxRow:
        return _row(
            self._conn.execute(select(outbox).where(outbox.c.id == row_id)).mappings().one()
        )

    def set_outbox(self, row_id: int, **values: Any) -> None:
        self._conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))

    def outbox_rows(self, *, undelivered_only: bool = False) -> list[OutboxRow]:
        """Outbox rows in order; ``undelivered_only``: queued and dead ones."""
        query = select(outbox).order_by(outbox.c.id)
        if undelivered_only:
            query = query.where(outbox.c.delivered_at.is_(None))
        return [_row(row) for row in self._conn.execute(query).mappings()]

    def outbox_counts(self) -> tuple[int, int]:
        """(queued, dead) notifications."""
        queued = self._conn.execute(
            select(func.count()).where(outbox.c.delivered_at.is_(None), outbox.c.dead_at.is_(None))
        ).scalar_one()
        dead = self._conn.execute(
            select(func.count()).where(outbox.c.dead_at.is_not(None))
        ).scalar_one()
        return int(queued), int(dead)


def _row(mapping: Any) -> OutboxRow:
    return OutboxRow(**mapping)
