"""Initial schema: records, daily counts, sync state, alerts, outbox, silences, leases.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 14:17:17.605465
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.String(length=400), nullable=False),
        sa.Column("rule", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("consecutive", sa.Integer(), nullable=False),
        sa.Column("metric", sa.Float(), nullable=True),
        sa.Column("channel", sa.String(length=200), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.Column("notified_severity", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_state"), ["state"], unique=False)

    op.create_table(
        "daily_counts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment_key", sa.String(length=500), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_counts")),
        sa.UniqueConstraint(
            "source",
            "stage",
            "day",
            "segment_key",
            name=op.f("uq_daily_counts_source_stage_day_segment_key"),
        ),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("acquired_by", sa.String(length=200), nullable=False),
        sa.Column("acquired_until", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("dead_at", UTCDateTime(), nullable=True),
        sa.Column("ref", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_delivered_at_dead_at_not_before"),
            ["delivered_at", "dead_at", "not_before"],
            unique=False,
        )

    op.create_table(
        "records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=False),
        sa.Column("crm_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.Column("lead_at", UTCDateTime(), nullable=True),
        sa.Column("mql_at", UTCDateTime(), nullable=True),
        sa.Column("sql_at", UTCDateTime(), nullable=True),
        sa.Column("won_at", UTCDateTime(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("owner_id", sa.String(length=100), nullable=True),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=True),
        sa.Column("first_touch_at", UTCDateTime(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
        sa.UniqueConstraint(
            "source", "object_type", "crm_id", name=op.f("uq_records_source_object_type_crm_id")
        ),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_records_source_kind_lead_at"),
            ["source", "kind", "lead_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_records_source_kind_mql_at"), ["source", "kind", "mql_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_records_source_kind_sql_at"), ["source", "kind", "sql_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_records_source_kind_won_at"), ["source", "kind", "won_at"], unique=False
        )

    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("matcher", sa.String(length=400), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_table(
        "source_status",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_records", sa.Integer(), nullable=False),
        sa.Column("last_rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_status")),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.Column("crm_id", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "object_type", name=op.f("pk_sync_cursors")),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
    op.drop_table("source_status")
    op.drop_table("silences")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_source_kind_won_at"))
        batch_op.drop_index(batch_op.f("ix_records_source_kind_sql_at"))
        batch_op.drop_index(batch_op.f("ix_records_source_kind_mql_at"))
        batch_op.drop_index(batch_op.f("ix_records_source_kind_lead_at"))

    op.drop_table("records")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_delivered_at_dead_at_not_before"))

    op.drop_table("outbox")
    op.drop_table("leases")
    op.drop_table("daily_counts")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_state"))

    op.drop_table("alerts")
