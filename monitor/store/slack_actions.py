"""The audit trail of actions taken on alerts from Slack, as a part of
``Transaction``: every press is a row, and the row's unique key is what
makes a press delivered twice act once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from monitor.store.bulk import insert_or_update
from monitor.store.schema import slack_actions

#: The audit row alignmon writes when an escalation clears an
#: acknowledgement (monitor/dispatch.py): a later one, if any, counts again.
ACKNOWLEDGEMENT_CLEARED = "unacknowledge"
#: Who such a row names.
ALIGNMON = "alignmon"


@dataclass(frozen=True, slots=True)
class SlackAction:
    """One action on alert ``fingerprint`` by Slack user ``user_id``;
    ``outcome``: done, refused (not an operator) or unchanged (already in
    that state)."""

    key: str
    at: datetime
    action: str
    fingerprint: str
    user_id: str
    user_name: str
    outcome: str
    detail: str = ""
    silence_id: int | None = None


class SlackActionRows:
    _conn: Connection

    def claim_action(self, action: SlackAction) -> bool:
        """Record ``action``; False if an action with its key is already
        recorded (a redelivered press), which must then do nothing."""
        values = {name: getattr(action, name) for name in SlackAction.__slots__}
        stmt = insert_or_update(self._conn, slack_actions).values(**values)
        # RETURNING, not rowcount: on PostgreSQL the rowcount of a skipped
        # INSERT … ON CONFLICT DO NOTHING was seen non-zero.
        inserted = self._conn.execute(
            stmt.on_conflict_do_nothing(index_elements=["key"]).returning(slack_actions.c.id)
        )
        return inserted.scalar_one_or_none() is not None

    def settle_action(self, key: str, outcome: str, detail: str, silence_id: int | None) -> None:
        """What a claimed action turned out to do."""
        self._conn.execute(
            slack_actions.update()
            .where(slack_actions.c.key == key)
            .values(outcome=outcome, detail=detail, silence_id=silence_id)
        )

    def acknowledgements(self, fingerprints: Iterable[str]) -> dict[str, SlackAction]:
        """The latest acknowledgement of each of ``fingerprints`` that has
        one not cleared since by an escalation."""
        rows = self._conn.execute(
            select(slack_actions)
            .where(
                slack_actions.c.fingerprint.in_(list(fingerprints)),
                slack_actions.c.action.in_(["acknowledge", ACKNOWLEDGEMENT_CLEARED]),
                slack_actions.c.outcome == "done",
            )
            .order_by(slack_actions.c.at, slack_actions.c.id)
        ).mappings()
        latest = {row["fingerprint"]: _action(row) for row in rows}
        return {fp: a for fp, a in latest.items() if a.action == "acknowledge"}

    def slack_actions(self, limit: int = 200) -> list[SlackAction]:
        """The newest ``limit`` actions, newest first."""
        rows = self._conn.execute(
            select(slack_actions)
            .order_by(slack_actions.c.at.desc(), slack_actions.c.id.desc())
            .limit(limit)
        ).mappings()
        return [_action(row) for row in rows]


def _action(row: object) -> SlackAction:
    return SlackAction(**{name: row[name] for name in SlackAction.__slots__})  # type: ignore[index]
