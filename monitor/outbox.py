"""The outbox worker: deliver queued notifications, at least once, in order.

Each row goes through three steps. A transaction **claims** it: the row is
stamped with this process's name and an expiry (``claimed_by``,
``claimed_until``) and committed before any HTTP call, so no other process
(a CLI ``evaluate`` beside the service, another replica) sends it
meanwhile, on SQLite as on PostgreSQL. The message is then **sent** outside
any transaction, and a second transaction **marks** the row delivered with
the reference the channel returned, or records the failure and releases
the claim. A retryable failure waits exactly the channel's Retry-After when
it gave one, else an exponential backoff; after ``give_up_after`` — or at
once for a rejection — the row is marked dead, logged, and shown by
``alignmon alerts``. An authentication failure (``NotifyPaused``) pauses
the drain and keeps every row queued until someone fixes the credentials.

A process killed between the channel accepting a message and the mark
leaves its claim behind. The next claimant sees it (once the claim expires,
or at once when the holder was a process of this host that no longer runs)
and asks the channel whether the message, which carries the row's id, is
already there before sending it again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from monitor.errors import NotifyPaused, NotifyRejected, NotifyRetry
from monitor.interfaces import Clock, Message, Notifier
from monitor.judge import messages
from monitor.store import Store
from monitor.store.outbox import OutboxRow
from monitor.store.transaction import Transaction

log = logging.getLogger(__name__)

BACKOFF_BASE = 5.0
BACKOFF_CAP = 300.0
PARENT_WAIT = timedelta(seconds=30)
#: How long a claim holds a row by default: far longer than one send.
CLAIM_SPAN = timedelta(minutes=3)

_HOST = socket.gethostname()


def new_holder() -> str:
    """A delivering process's name: host, pid and a random part."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Delivery:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    found: int = 0  # rows found already posted after an unconfirmed send
    paused: str | None = None  # why delivery is paused (credentials), if it is


def backoff(attempts: int) -> float:
    return float(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


def deliver_due(
    store: Store,
    notifier: Notifier,
    clock: Clock,
    give_up_after: timedelta,
    limit: int = 100,
    *,
    holder: str | None = None,
    claim_span: timedelta = CLAIM_SPAN,
    zone: tzinfo = UTC,
) -> Delivery:
    """Send every due row (at most ``limit``); returns what happened.
    ``zone``: the times an updated post states are in it."""
    holder = holder or new_holder()
    report = Delivery()
    with store.transaction() as tx:
        _expire_claims_of_dead_processes(tx, clock())
    for _ in range(limit):
        with store.transaction() as tx:
            now = clock()
            row = tx.claim(now, holder, now + claim_span)
            if row is None:
                break
            message = _prepare(tx, row, now, report, zone)
        if message is None:
            continue
        outcome: str | Exception
        try:
            outcome = notifier.send(message)
        except (NotifyRetry, NotifyRejected) as exc:
            outcome = exc
        with store.transaction() as tx:
            _mark(tx, row, message, outcome, clock(), give_up_after, report, holder)
        if report.paused:
            break
    return report


def _prepare(
    tx: Transaction, row: OutboxRow, now: datetime, report: Delivery, zone: tzinfo
) -> Message | None:
    """The message to send for a claimed row, or None when it must wait for
    (or dies with) its parent; the claim is released in that case."""
    payload, ref = row.payload, None
    if row.parent_id is not None:
        parent = tx.outbox_row(row.parent_id)
        if parent.ref is None:
            if parent.dead_at is not None:
                tx.set_outbox(
                    row.id,
                    dead_at=now,
                    last_error="the message it refers to was never delivered",
                    **_RELEASED,
                )
                report.dead += 1
            else:
                tx.set_outbox(row.id, not_before=now + PARENT_WAIT, **_RELEASED)
            return None
        ref = parent.ref
        if row.kind == "update":
            closed = tx.closures(parent.fingerprints)
            payload = _acted_on(tx, messages.updated_payload(parent.payload, closed), now, zone)
    elif row.kind == "post" and any(line.get("state") for line in payload.get("lines", [])):
        # A new post of an alert already acknowledged (one that eased) or
        # silenced since it was queued says so, and offers what still fits.
        payload = _acted_on(tx, payload, now, zone)
    message = messages.to_message(row.channel, row.kind, payload, ref)
    recheck = None
    if row.claimed_by is not None and row.kind != "update":  # an edit is idempotent
        log.warning(
            "notification %d was being sent by %s, which never confirmed it: "
            "checking the channel before sending it again",
            row.id,
            row.claimed_by,
            extra=_fields(row),
        )
        recheck = ref.partition(":")[0] if ref else (tx.channel_id(row.channel) or row.channel)
    return dataclasses.replace(message, key=str(row.id), recheck_in=recheck)


def _acted_on(
    tx: Transaction, payload: Mapping[str, Any], now: datetime, zone: tzinfo
) -> dict[str, Any]:
    """``payload`` of a post, or of an update of one, with each alert's
    acknowledgement and silence stated, and the buttons of those still open
    set to match, so a new post or an edit (a resolution) keeps what people
    did visible."""
    fingerprints = [line["fingerprint"] for line in payload["lines"]]
    alerts = tx.alerts(include_resolved=True)
    acks = tx.acknowledgements(fingerprints)
    active = tx.silences(now)
    lines = []
    for line in payload["lines"]:
        fp, notes = line["fingerprint"], []
        alert, ack = alerts.get(fp), acks.get(fp)
        acked = ack is not None and alert is not None and (alert.fired_at or now) <= ack.at
        if acked and ack is not None:
            notes.append(f"Acknowledged by {ack.user_name} at {_when(ack.at, zone)}")
        muting = sorted((s for s in active if s.matcher == fp), key=lambda s: s.expires_at)
        if muting:
            by = muting[-1].created_by or "an operator"
            notes.append(f"Silenced by {by} until {_when(muting[-1].expires_at, zone)}")
        state = line.get("state", "")
        if state:
            state = "silenced" if muting else "acknowledged" if acked else "open"
        lines.append({**line, "state": state, "note": "; ".join(notes)})
    return {**payload, "lines": lines}


def _when(at: datetime, zone: tzinfo) -> str:
    return f"{at.astimezone(zone):%a %d %b %H:%M %Z}"


_RELEASED: dict[str, Any] = {"claimed_by": None, "claimed_until": None}


def _mark(
    tx: Transaction,
    row: OutboxRow,
    message: Message,
    outcome: str | Exception,
    now: datetime,
    give_up_after: timedelta,
    report: Delivery,
    holder: str,
) -> None:
    attempts = row.attempts + 1
    if isinstance(outcome, str):
        tx.set_outbox(
            row.id,
            attempts=attempts,
            delivered_at=now,
            ref=outcome,
            last_error=None,
            **_RELEASED,
        )
        report.sent += 1
        return
    exc = outcome
    if isinstance(exc, NotifyRetry) and now - row.created_at < give_up_after:
        wait = exc.retry_after if exc.retry_after > 0 else backoff(attempts)
        until = now + timedelta(seconds=wait)
        if isinstance(exc, NotifyPaused):
            # Every row would fail the same way: all wait, none is tried
            # until this one's backoff ends (logged once by the caller).
            report.paused = str(exc)
            tx.defer_queued(until)
        else:
            log.warning(
                "notification %d not delivered (%s); retrying in %.0fs",
                row.id,
                exc,
                wait,
                extra=_fields(row),
            )
        # A send that may have reached the channel keeps its claimant's name
        # (the claim itself ends with the backoff): the next attempt then
        # looks for the message before posting it again.
        maybe_sent = exc.maybe_sent and message.kind != "update"  # an edit is idempotent
        claim = {"claimed_by": holder, "claimed_until": until} if maybe_sent else _RELEASED
        tx.set_outbox(row.id, attempts=attempts, last_error=str(exc), not_before=until, **claim)
        report.retried += 1
        return
    if isinstance(exc, NotifyRetry):
        log.error(
            "giving up on notification %d after %d attempts: %s",
            row.id,
            attempts,
            exc,
            extra=_fields(row),
        )
    else:
        log.error("notification %d rejected, not retrying: %s", row.id, exc, extra=_fields(row))
    tx.set_outbox(row.id, attempts=attempts, dead_at=now, last_error=str(exc), **_RELEASED)
    report.dead += 1


def _expire_claims_of_dead_processes(tx: Transaction, now: datetime) -> None:
    """A claim held by a process of this host that no longer runs ends now
    rather than at its expiry: a killed CLI or service does not hold its
    row for minutes. Claims from other hosts wait for their expiry."""
    for row_id, holder in tx.unconfirmed_claims(now):
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if host == _HOST and pid.isdigit() and not _alive(int(pid)):
            tx.expire_claim(row_id, holder, now)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _fields(row: OutboxRow) -> dict[str, Any]:
    """What a log line about ``row`` carries for JSON logs."""
    return {"notification": row.id, "channel": row.channel, "alerts": list(row.fingerprints)}
