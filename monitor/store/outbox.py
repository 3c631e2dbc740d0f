"""Outbox rows, as a part of ``Transaction``: notifications queued in the
transaction that decided them, claimed and marked by the delivery worker.

A row is queued in the same transaction as the alert state change that
caused it. Delivery claims it (owner and expiry) in a transaction committed
before the send, and marks it in another after, so on SQLite and PostgreSQL
alike no other process sends a row while a live claim holds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

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
    claimed_by: str | None = None
    claimed_until: datetime | None = None


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

    def claim(self, now: datetime, holder: str, until: datetime) -> OutboxRow | None:
        """Claim the oldest row due for delivery for ``holder`` until
        ``until``, and return it as it was before (its ``claimed_by`` still
        names a claim left unconfirmed by a process that died). A row under
        another live claim is left alone; on PostgreSQL a row another
        transaction is claiming is skipped (``SKIP LOCKED``). The claim is
        one conditional UPDATE, so of two processes only one takes a row."""
        free = or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= now)
        query = (
            select(outbox)
            .where(
                outbox.c.delivered_at.is_(None),
                outbox.c.dead_at.is_(None),
                outbox.c.not_before <= now,
                free,
            )
            .order_by(outbox.c.id)
            .limit(1)
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for _ in range(100):
            row = self._conn.execute(query).mappings().first()
            if row is None:
                return None
            taken = self._conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == row["id"],
                    outbox.c.delivered_at.is_(None),
                    outbox.c.dead_at.is_(None),
                    free,
                )
                .values(claimed_by=holder, claimed_until=until)
            )
            if taken.rowcount == 1:
                return _row(row)
        return None

    def unconfirmed_claims(self, now: datetime) -> list[tuple[int, str]]:
        """(id, holder) of undelivered rows under a claim still in force."""
        query = select(outbox.c.id, outbox.c.claimed_by).where(
            outbox.c.delivered_at.is_(None),
            outbox.c.dead_at.is_(None),
            outbox.c.claimed_by.is_not(None),
            outbox.c.claimed_until > now,
        )
        return [(int(i), str(h)) for i, h in self._conn.execute(query)]

    def expire_claim(self, row_id: int, holder: str, now: datetime) -> None:
        """End ``holder``'s claim on a row now (its process is gone), keeping
        its name: the row may have been sent."""
        self._conn.execute(
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.claimed_by == holder)
            .values(claimed_until=now)
        )

    def defer_queued(self, until: datetime) -> None:
        """Hold every queued row until at least ``until`` (delivery paused)."""
        self._conn.execute(
            update(outbox)
            .where(
                outbox.c.delivered_at.is_(None),
                outbox.c.dead_at.is_(None),
                outbox.c.not_before < until,
            )
            .values(not_before=until)
        )

    def channel_id(self, channel: str) -> str | None:
        """The channel's id as the channel itself reported it in the
        reference of a message delivered there, if any was."""
        ref = self._conn.execute(
            select(outbox.c.ref)
            .where(
                outbox.c.channel == channel,
                outbox.c.kind.in_(("post", "summary")),
                outbox.c.ref.is_not(None),
            )
            .order_by(outbox.c.id.desc())
            .limit(1)
        ).scalar()
        return str(ref).partition(":")[0] if ref else None

    def requeue_dead(self, row_id: int | None, now: datetime) -> int:
        """Put dead rows (one, or all) back in the queue from now; returns how
        many. Their give-up clock starts again."""
        stmt = update(outbox).where(outbox.c.dead_at.is_not(None), outbox.c.delivered_at.is_(None))
        if row_id is not None:
            stmt = stmt.where(outbox.c.id == row_id)
        result = self._conn.execute(
            stmt.values(
                dead_at=None,
                not_before=now,
                created_at=now,
                attempts=0,
                claimed_by=None,
                claimed_until=None,
            )
        )
        return int(result.rowcount)

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

    def delivery_problem(self) -> str | None:
        """Why delivery is paused (the channel refused the credentials on the
        latest attempt of a queued row), or None."""
        error = self._conn.execute(
            select(outbox.c.last_error)
            .where(
                outbox.c.delivered_at.is_(None),
                outbox.c.dead_at.is_(None),
                outbox.c.last_error.like("slack-auth:%"),
            )
            .order_by(outbox.c.id)
            .limit(1)
        ).scalar()
        return str(error) if error else None

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
