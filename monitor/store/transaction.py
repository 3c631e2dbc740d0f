"""One transaction over alert state, silences, the outbox and the watched
sources.

The alert lifecycle and the delivery worker change several of these
together: an alert is marked notified in the transaction that queues its
notification, and an outbox row is claimed, sent and marked in one. Code
outside the store gets this object from ``Store.transaction()`` and never a
connection, so every query stays in this package.
"""

from __future__ import annotations

from sqlalchemy import Connection

from monitor.store.alerts import AlertRows
from monitor.store.outbox import OutboxRows
from monitor.store.slack_actions import SlackActionRows
from monitor.store.watching import WatchRows


class Transaction(AlertRows, OutboxRows, WatchRows, SlackActionRows):
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
