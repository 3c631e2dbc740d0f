"""Alert rows, outbox rows and silences.

The functions take the caller's connection so that an alert state change
and the notification it causes are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from monitor.alerts import Alert
from monitor.interfaces import Severity
from monitor.store.bulk import insert_or_update
from monitor.store.schema import alerts, outbox, silences

_ALERT_COLUMNS = (
    "fingerprint", "rule", "subject", "source", "state", "consecutive", "metric", "channel",
    "title", "text", "first_seen_at", "last_seen_at", "fired_at", "resolved_at", "notified_at",
    "outbox_id",
)  # fmt: skip


#: Any constant: the key of the advisory lock that serialises alert updates.
_ALERTS_LOCK = 0x616C_6967  # "alig"


def lock_alerts(conn: Connection) -> None:
    """Serialise alert-state updates across replicas for this transaction,
    so two evaluations never both decide to announce the same alert. SQLite
    needs nothing: one process, and the App serialises its threads."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_ALERTS_LOCK)))


def load_alerts(conn: Connection, *, include_resolved: bool = False) -> dict[str, Alert]:
    query = select(alerts)
    if not include_resolved:
        query = query.where(alerts.c.state != "resolved")
    out = {}
    for row in conn.execute(query).mappings():
        out[row["fingerprint"]] = _alert(row)
    return out


def _alert(row: Any) -> Alert:
    payload = row["payload"] or {}
    notified = row["notified_severity"]
    return Alert(
        **{name: row[name] for name in _ALERT_COLUMNS},
        severity=Severity(row["severity"]),
        owner=payload.get("owner", ""),
        items=tuple((label, url) for label, url in payload.get("items", [])),
        notified_severity=None if notified is None else Severity(notified),
    )


def save_alerts(conn: Connection, items: Iterable[Alert]) -> None:
    for alert in items:
        row = {name: getattr(alert, name) for name in _ALERT_COLUMNS}
        row["severity"] = int(alert.severity)
        row["notified_severity"] = (
            None if alert.notified_severity is None else int(alert.notified_severity)
        )
        row["payload"] = {"owner": alert.owner, "items": [list(i) for i in alert.items]}
        stmt = insert_or_update(conn, alerts).values(**row)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["fingerprint"],
                set_={k: v for k, v in row.items() if k != "fingerprint"},
            )
        )


def forget_alerts(conn: Connection, fingerprints: Sequence[str]) -> None:
    if fingerprints:
        conn.execute(delete(alerts).where(alerts.c.fingerprint.in_(fingerprints)))


def enqueue(
    conn: Connection,
    *,
    channel: str,
    kind: str,
    payload: dict[str, Any],
    fingerprints: Sequence[str],
    now: datetime,
    not_before: datetime,
    parent_id: int | None = None,
) -> int:
    result = conn.execute(
        insert(outbox)
        .values(
            channel=channel,
            kind=kind,
            parent_id=parent_id,
            payload=payload,
            fingerprints=list(fingerprints),
            created_at=now,
            not_before=not_before,
            attempts=0,
        )
        .returning(outbox.c.id)
    )
    return int(result.scalar_one())


def active_silences(conn: Connection, now: datetime) -> list[str]:
    rows = conn.execute(select(silences.c.matcher).where(silences.c.expires_at > now))
    return [row[0] for row in rows]


def add_silence(
    conn: Connection, matcher: str, reason: str, now: datetime, expires_at: datetime
) -> int:
    result = conn.execute(
        insert(silences)
        .values(matcher=matcher, reason=reason, created_at=now, expires_at=expires_at)
        .returning(silences.c.id)
    )
    return int(result.scalar_one())


def active_silences_detail(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(silences).where(silences.c.expires_at > now).order_by(silences.c.expires_at)
    ).mappings()
    return [dict(row) for row in rows]


def outbox_rows(conn: Connection, *, undelivered_only: bool = False) -> list[dict[str, Any]]:
    """Outbox rows in order; ``undelivered_only``: queued and dead ones."""
    query = select(outbox).order_by(outbox.c.id)
    if undelivered_only:
        query = query.where(outbox.c.delivered_at.is_(None))
    return [dict(row) for row in conn.execute(query).mappings()]


def resolved_fingerprints(conn: Connection, fingerprints: Sequence[str]) -> set[str]:
    rows = conn.execute(
        select(alerts.c.fingerprint).where(
            alerts.c.fingerprint.in_(list(fingerprints)), alerts.c.state == "resolved"
        )
    )
    return {row[0] for row in rows}


def set_outbox(conn: Connection, row_id: int, **values: Any) -> None:
    conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


def outbox_counts(conn: Connection) -> tuple[int, int]:
    """(queued, dead) notifications."""
    queued = conn.execute(
        select(func.count()).where(outbox.c.delivered_at.is_(None), outbox.c.dead_at.is_(None))
    ).scalar_one()
    dead = conn.execute(select(func.count()).where(outbox.c.dead_at.is_not(None))).scalar_one()
    return int(queued), int(dead)


def firing_by_severity(conn: Connection) -> dict[Severity, int]:
    rows = conn.execute(
        select(alerts.c.severity, func.count())
        .where(alerts.c.state == "firing")
        .group_by(alerts.c.severity)
    )
    return {Severity(severity): int(n) for severity, n in rows}
