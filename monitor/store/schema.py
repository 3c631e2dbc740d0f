"""The database schema: the one owner of every table alignmon keeps.

Connectors' records land in ``records`` (one row per CRM person or deal) and
``daily_counts``; the same transaction keeps the rollups ``stage_days`` and
``cohort_days`` in step, so evaluation reads days, not records (see
``rollups.py``); the sync keeps its place in ``sync_cursors`` and its health
in ``source_status``; the alert lifecycle keeps ``alerts``, ``outbox`` and
``silences``; replicas coordinate through ``leases``. Alembic migrations in
``migrations/`` are written against these definitions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

#: The instants the store accepts: a day inside the calendar's ends, so any
#: zone (offsets are under a day) can turn them into a local date. A value
#: outside is a CRM's placeholder (0001-01-01, 9999-12-31), never a fact.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def in_calendar(value: datetime) -> bool:
    """Whether ``value`` (aware) is an instant the store accepts; the one
    check every datetime written passes (see ``monitor.store.writes``)."""
    try:
        return EARLIEST <= value.astimezone(UTC) <= LATEST
    except OverflowError:  # an offset that moves it off the calendar
        return False


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every backend. SQLite has no time
    zone type, so values are stored there as naive UTC text; PostgreSQL
    gets ``timestamptz``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store; every instant must be aware")
        if not in_calendar(value):
            raise ValueError(f"{value!r} is outside the dates the store accepts")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _reached_index(stage: str) -> Index:
    """Only the records that reached ``stage``. The predicate is given for
    SQLite here and for PostgreSQL by ``full_metadata``: naming a PostgreSQL
    option loads SQLAlchemy's whole PostgreSQL dialect (about 0.1 s of CPU),
    which every command on SQLite would pay for at start."""
    return Index(None, "source", "kind", stage, sqlite_where=text(f"{stage} IS NOT NULL"))


def full_metadata() -> MetaData:
    """Every table with every dialect's options: what migrations compare
    and create against. Queries need only the tables and columns."""
    for index in records.indexes:
        where = index.dialect_kwargs.get("sqlite_where")
        if where is not None:
            index.dialect_kwargs["postgresql_where"] = where
    return metadata


records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("object_type", String(50), nullable=False),
    Column("crm_id", String(100), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("modified_at", UTCDateTime, nullable=False),
    Column("lead_at", UTCDateTime),
    Column("mql_at", UTCDateTime),
    Column("sql_at", UTCDateTime),
    Column("won_at", UTCDateTime),
    Column("amount", Float),
    Column("owner_id", String(100)),
    Column("owner_email", String(320)),
    Column("owner_name", String(200)),
    Column("assigned_at", UTCDateTime),
    Column("first_touch_at", UTCDateTime),
    Column("name", Text),
    Column("url", Text),
    Column("segments", JSON, nullable=False, default=dict),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("closed_at", UTCDateTime),
    # Last: the record writer puts the sync's time after the record's fields.
    Column("synced_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "object_type", "crm_id"),
    # Stage indexes serve the SLA look-back and the partial days at the
    # edges of a window that the day rollups cannot answer; they hold only
    # the records that reached the stage, the only ones those reads ask for.
    *(_reached_index(stage) for stage in ("lead_at", "mql_at", "sql_at", "won_at")),
    # Answers "does this source close records at all" without a scan.
    Index(None, "source", "closed_at"),
)

#: Records of ``kind`` that entered ``stage`` on local ``day`` (in the zone
#: of ``rollup_state``), per segment; for won deals, how many carried a
#: positive amount and their total, for the average deal size.
stage_days = Table(
    "stage_days",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("kind", String(10), primary_key=True),
    Column("stage", String(10), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("segment_key", String(500), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("amounts", Integer, nullable=False),
    Column("amount_total", Float, nullable=False),
)

#: Persons that entered ``stage`` on local ``day`` and the next stage on
#: ``next_day`` (``rollups.NEVER`` if not yet), per segment: a cohort's
#: conversion as of any day is a sum over this table.
cohort_days = Table(
    "cohort_days",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("stage", String(10), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("segment_key", String(500), primary_key=True),
    Column("next_day", Date, primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Per source, a counter for each first local day on which a write's
#: ``cohort_days`` changes show in a cohort table (a table of ``today`` reads
#: days before today, and conversions before today). A cohort table read
#: earlier is still right while the counters up to its ``today`` sum the
#: same, so the every-minute evaluation rereads it only when a write
#: changed its past, not when today's leads and conversions arrive.
cohort_versions = Table(
    "cohort_versions",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("visible_from", Date, primary_key=True),
    Column("version", Integer, nullable=False),
)

#: Per source, a counter of the writes that changed its records: what an
#: SLA rule keeps of the records still waiting for a first touch is right
#: while it is unchanged, which it is between syncs (every 15 minutes by
#: default) while the rule is checked every minute.
record_versions = Table(
    "record_versions",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
)

#: The time zone the rollups' days are in (one row, or none before the
#: first write): a different zone asks for a rebuild.
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("zone", String(100), nullable=False),
    Column("built_at", UTCDateTime, nullable=False),
)

daily_counts = Table(
    "daily_counts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("stage", String(10), nullable=False),
    Column("day", Date, nullable=False),
    Column("segment_key", String(500), nullable=False, default=""),
    Column("segments", JSON, nullable=False, default=dict),
    Column("count", Integer, nullable=False),
    UniqueConstraint("source", "stage", "day", "segment_key"),
)

#: An SLA rule's outcomes folded per UTC day of stage entry, of the records
#: that entered before ``until`` (see ``monitor.store.sla_folds``): kept
#: while ``fingerprint`` (the rule's and its calendar's settings) holds,
#: deleted when a write changes a record of the day entered before it.
sla_folds = Table(
    "sla_folds",
    metadata,
    Column("rule", String(200), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("source", String(100), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("folded_at", UTCDateTime, nullable=False),
    Column("until", UTCDateTime, nullable=False),
    #: sha256 of the outcomes as encoded: the same digest, the same outcomes.
    Column("digest", String(64), nullable=False),
    Column("unsettled", JSON, nullable=False),
    # Last: SQLite reads through a large value's overflow pages to reach
    # any column stored after it.
    Column("outcomes", JSON, nullable=False),
    Index(None, "source", "day"),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("object_type", String(50), primary_key=True),
    Column("modified_at", UTCDateTime, nullable=False),
    Column("crm_id", String(100), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

source_status = Table(
    "source_status",
    metadata,
    Column("source", String(100), primary_key=True),
    Column("last_attempt_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_records", Integer, nullable=False, default=0),
    Column("last_rejected", Integer, nullable=False, default=0),
    # Set once the first sync completed with records and the channels were
    # told "now watching" (in the transaction that queued it).
    Column("watching_since", UTCDateTime),
)

alerts = Table(
    "alerts",
    metadata,
    Column("fingerprint", String(400), primary_key=True),
    Column("rule", String(50), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("state", String(10), nullable=False),  # pending | firing | resolved
    Column("consecutive", Integer, nullable=False, default=0),
    Column("metric", Float),
    Column("channel", String(200)),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("payload", JSON, nullable=False, default=dict),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("fired_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("notified_at", UTCDateTime),
    Column("notified_severity", Integer),
    Column("outbox_id", Integer),  # the post that announced it
    # When its goal period ends; why it stopped firing (resolved | ended |
    # superseded); the metric and the record ids as of the last message.
    Column("period_end", UTCDateTime),
    Column("closed_as", String(10)),
    Column("notified_metric", Float),
    Column("notified_members", JSON),
    Index(None, "state"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),
    Column("kind", String(10), nullable=False),  # post | reply | update | summary
    Column("parent_id", Integer),  # the post a reply or update refers to
    Column("payload", JSON, nullable=False),
    Column("fingerprints", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("delivered_at", UTCDateTime),
    Column("dead_at", UTCDateTime),
    Column("ref", String(200)),
    # The process sending the row and until when it holds it (see
    # monitor/outbox.py); a claim that outlived its process means the row
    # may already have reached the channel.
    Column("claimed_by", String(200)),
    Column("claimed_until", UTCDateTime),
    Index(None, "delivered_at", "dead_at", "not_before"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matcher", String(400), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=True),
)

#: Every action taken from Slack on an alert, refused ones too (``alignmon
#: alerts --audit``). ``key`` is the pressed button's identity (message,
#: action and its timestamp): Slack redelivers an envelope that was not
#: acknowledged in time, possibly to another replica, and the unique key
#: makes the second delivery act not at all.
slack_actions = Table(
    "slack_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("at", UTCDateTime, nullable=False),
    # acknowledge | silence | unsilence | unacknowledge (by an escalation)
    Column("action", String(30), nullable=False),
    Column("fingerprint", String(400), nullable=False),
    Column("user_id", String(40), nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),  # done | refused | unchanged
    Column("detail", Text, nullable=False, default=""),
    Column("silence_id", Integer),
    Index(None, "fingerprint", "action"),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("acquired_by", String(200), nullable=False),
    Column("acquired_until", UTCDateTime, nullable=False),
)
