"""Alert rows and silences, as a part of ``Transaction``.

They are read and written through the transaction that also queues the
notifications an alert state change causes (``outbox``), so an alert is
never marked notified without its notification queued, nor queued twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from monitor.findings import Alert, Closure
from monitor.interfaces import Severity
from monitor.store.bulk import insert_or_update
from monitor.store.schema import alerts, silences

_ALERT_COLUMNS = (
    "fingerprint", "rule", "subject", "source", "state", "consecutive", "metric", "channel",
    "title", "text", "first_seen_at", "last_seen_at", "fired_at", "resolved_at", "notified_at",
    "outbox_id", "period_end", "closed_as", "notified_metric",
)  # fmt: skip

#: Any constant: the key of the advisory lock that serialises alert updates.
_ALERTS_LOCK = 0x616C_6967  # "alig"


@dataclass(frozen=True, slots=True)
class Silence:
    """Alerts whose fingerprint ``matcher`` matches (exactly or as a shell
    pattern) are not announced until ``expires_at`` (moved to the moment it
    was lifted, for a silence expired early). ``created_by``: who added it,
    when known."""

    id: int
    matcher: str
    reason: str
    created_at: datetime
    expires_at: datetime
    created_by: str | None = None


class AlertRows:
    _conn: Connection

    def lock_alerts(self) -> None:
        """Serialise alert-state updates across replicas until commit, so
        two evaluations never both decide to announce the same alert. SQLite
        needs nothing: one process, and the App serialises its threads."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(select(func.pg_advisory_xact_lock(_ALERTS_LOCK)))

    def alerts(self, *, include_resolved: bool = False) -> dict[str, Alert]:
        """Remembered alerts by fingerprint (open ones unless asked)."""
        query = select(alerts)
        if not include_resolved:
            query = query.where(alerts.c.state != "resolved")
        return {row["fingerprint"]: _alert(row) for row in self._conn.execute(query).mappings()}

    def save_alerts(self, items: Iterable[Alert]) -> None:
        for alert in items:
            row = {name: getattr(alert, name) for name in _ALERT_COLUMNS}
            row["severity"] = int(alert.severity)
            row["notified_severity"] = (
                None if alert.notified_severity is None else int(alert.notified_severity)
            )
            row["notified_members"] = list(alert.notified_members)
            row["payload"] = {
                "owner": alert.owner,
                "items": [list(i) for i in alert.items],
                "members": list(alert.members),
                "stage": alert.stage,
                "period": alert.period,
                "data": dict(alert.data),
            }
            stmt = insert_or_update(self._conn, alerts).values(**row)
            self._conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["fingerprint"],
                    set_={k: v for k, v in row.items() if k != "fingerprint"},
                )
            )

    def alerts_since(self, since: datetime) -> list[Alert]:
        """Open alerts and those closed at or after ``since``: what a new
        silence is checked against."""
        query = select(alerts).where(
            or_(alerts.c.state != "resolved", alerts.c.resolved_at >= since)
        )
        return [_alert(row) for row in self._conn.execute(query).mappings()]

    def alert_fingerprints(self) -> list[str]:
        """Every remembered fingerprint, closed ones included: short ids are
        unique among these."""
        return list(self._conn.execute(select(alerts.c.fingerprint)).scalars())

    def forget_alerts(self, fingerprints: Sequence[str]) -> None:
        if fingerprints:
            self._conn.execute(delete(alerts).where(alerts.c.fingerprint.in_(fingerprints)))

    def closures(self, fingerprints: Sequence[str]) -> dict[str, Closure]:
        """Of ``fingerprints``, those no longer open, with why they closed
        (rows closed before that was recorded count as resolved)."""
        rows = self._conn.execute(
            select(alerts.c.fingerprint, alerts.c.closed_as).where(
                alerts.c.fingerprint.in_(list(fingerprints)), alerts.c.state == "resolved"
            )
        )
        return {fp: _closure(closed) for fp, closed in rows}

    def predecessor(self, alert: Alert) -> Alert | None:
        """The alert of the same problem (``lineage``) for the period just
        before ``alert``'s, if it was closed because that period ended."""
        rows = self._conn.execute(
            select(alerts)
            .where(
                alerts.c.rule == alert.rule,
                alerts.c.subject == alert.subject,
                alerts.c.closed_as == "ended",
                alerts.c.fingerprint != alert.fingerprint,
            )
            .order_by(alerts.c.period_end.desc())
        ).mappings()
        start = alert.period.partition("..")[0]
        for row in rows:
            before = _alert(row)
            if before.lineage == alert.lineage:
                return before if before.period.partition("..")[2] == start else None
        return None

    def firing_by_severity(self) -> dict[Severity, int]:
        rows = self._conn.execute(
            select(alerts.c.severity, func.count())
            .where(alerts.c.state == "firing")
            .group_by(alerts.c.severity)
        )
        return {Severity(severity): int(n) for severity, n in rows}

    def silence_matchers(self, now: datetime) -> list[str]:
        rows = self._conn.execute(select(silences.c.matcher).where(silences.c.expires_at > now))
        return [row[0] for row in rows]

    def silences(self, now: datetime) -> list[Silence]:
        """Silences still in force at ``now``, soonest to expire first."""
        rows = self._conn.execute(
            select(silences).where(silences.c.expires_at > now).order_by(silences.c.expires_at)
        ).mappings()
        return [Silence(**row) for row in rows]

    def silences_during(self, start: datetime, end: datetime) -> list[Silence]:
        """Silences in force at some instant of ``[start, end)``: a backtest
        applies each one between its creation and its expiry."""
        rows = self._conn.execute(
            select(silences)
            .where(silences.c.created_at < end, silences.c.expires_at > start)
            .order_by(silences.c.created_at)
        ).mappings()
        return [Silence(**row) for row in rows]

    def silences_ending_after(self, since: datetime) -> list[Silence]:
        """Silences in force after ``since``: the active ones and those that
        ended since then, latest to end first."""
        rows = self._conn.execute(
            select(silences)
            .where(silences.c.expires_at > since)
            .order_by(silences.c.expires_at.desc(), silences.c.id.desc())
        ).mappings()
        return [Silence(**row) for row in rows]

    def silence(self, silence_id: int) -> Silence | None:
        row = self._conn.execute(select(silences).where(silences.c.id == silence_id)).mappings()
        found = row.one_or_none()
        return None if found is None else Silence(**found)

    def add_silence(
        self,
        matcher: str,
        reason: str,
        now: datetime,
        expires_at: datetime,
        created_by: str | None = None,
    ) -> int:
        result = self._conn.execute(
            insert(silences)
            .values(
                matcher=matcher,
                reason=reason,
                created_at=now,
                expires_at=expires_at,
                created_by=created_by,
            )
            .returning(silences.c.id)
        )
        return int(result.scalar_one())

    def end_silence(self, silence_id: int, now: datetime) -> None:
        """Lift a silence at ``now``, as Alertmanager expires one: its end
        moves to now, so from the next evaluation its alerts are told as
        they would be had it ended on its own."""
        self._conn.execute(
            update(silences).where(silences.c.id == silence_id).values(expires_at=now)
        )


def _alert(row: Any) -> Alert:
    payload = row["payload"] or {}
    notified = row["notified_severity"]
    return Alert(
        **{name: row[name] for name in _ALERT_COLUMNS if name != "closed_as"},
        severity=Severity(row["severity"]),
        owner=payload.get("owner", ""),
        items=tuple((label, url) for label, url in payload.get("items", [])),
        members=tuple(payload.get("members", ())),
        stage=payload.get("stage", ""),
        period=payload.get("period", ""),
        data=dict(payload.get("data", {})),
        closed_as=None if row["closed_as"] is None else _closure(row["closed_as"]),
        notified_severity=None if notified is None else Severity(notified),
        notified_members=tuple(row["notified_members"] or ()),
    )


_CLOSURES: dict[str, Closure] = {
    "resolved": "resolved",
    "ended": "ended",
    "superseded": "superseded",
}


def _closure(value: str | None) -> Closure:
    return _CLOSURES.get(value or "", "resolved")
