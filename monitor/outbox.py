"""The outbox worker: deliver queued notifications, at least once, in order.

A row is claimed inside a transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so replicas never take the same row), sent, and marked
delivered with the reference the channel returned, in that same
transaction. Failures are recorded on the row: a retryable one waits
exactly the channel's Retry-After when it gave one, else an exponential
backoff; after
``give_up_after`` — or at once for a rejection — the row is marked dead,
logged, and shown by ``alignmon alerts``.

The one duplicate window: the channel accepted a message and the process
died before the transaction committed. On restart the row is still
undelivered and is sent again. Channels offer no idempotency key to close
that window; it is as narrow as one HTTP round trip.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.errors import NotifyRejected, NotifyRetry
from monitor.interfaces import Clock, Notifier
from monitor.judge import messages
from monitor.store import Store
from monitor.store.outbox import OutboxRow
from monitor.store.transaction import Transaction

log = logging.getLogger(__name__)

BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0
PARENT_WAIT = timedelta(seconds=30)


@dataclass
class Delivery:
    sent: int = 0
    retried: int = 0
    dead: int = 0


def backoff(attempts: int) -> float:
    return float(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


def deliver_due(
    store: Store, notifier: Notifier, clock: Clock, give_up_after: timedelta, limit: int = 100
) -> Delivery:
    """Send every due row (at most ``limit``); returns what happened."""
    report = Delivery()
    for _ in range(limit):
        with store.transaction() as tx:
            now = clock()
            row = tx.claim(now)
            if row is None:
                break
            _deliver_one(tx, row, notifier, now, give_up_after, report)
    return report


def _deliver_one(
    tx: Transaction,
    row: OutboxRow,
    notifier: Notifier,
    now: datetime,
    give_up_after: timedelta,
    report: Delivery,
) -> None:
    payload, ref = row.payload, None
    if row.parent_id is not None:
        parent = tx.outbox_row(row.parent_id)
        if parent.ref is None:
            if parent.dead_at is not None:
                tx.set_outbox(
                    row.id,
                    dead_at=now,
                    last_error="the message it refers to was never delivered",
                )
                report.dead += 1
            else:
                tx.set_outbox(row.id, not_before=now + PARENT_WAIT)
            return
        ref = parent.ref
        if row.kind == "update":
            closed = tx.closures(parent.fingerprints)
            payload = messages.updated_payload(parent.payload, closed)
    message = messages.to_message(row.channel, row.kind, payload, ref)
    attempts = row.attempts + 1
    try:
        sent_ref = notifier.send(message)
    except NotifyRetry as exc:
        if now - row.created_at >= give_up_after:
            log.error("giving up on notification %d after %d attempts: %s", row.id, attempts, exc)
            tx.set_outbox(row.id, attempts=attempts, dead_at=now, last_error=str(exc))
            report.dead += 1
            return
        wait = exc.retry_after if exc.retry_after > 0 else backoff(attempts)
        log.warning("notification %d not delivered (%s); retrying in %.0fs", row.id, exc, wait)
        tx.set_outbox(
            row.id,
            attempts=attempts,
            last_error=str(exc),
            not_before=now + timedelta(seconds=wait),
        )
        report.retried += 1
        return
    except NotifyRejected as exc:
        log.error("notification %d rejected, not retrying: %s", row.id, exc)
        tx.set_outbox(row.id, attempts=attempts, dead_at=now, last_error=str(exc))
        report.dead += 1
        return
    tx.set_outbox(row.id, attempts=attempts, delivered_at=now, ref=sent_ref, last_error=None)
    report.sent += 1
