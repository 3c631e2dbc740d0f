"""Day rollups (stage_days, cohort_days, rollup_state) so evaluation reads
days rather than records; the stage indexes narrow back to one stage each.

The rollups start empty with no zone recorded; the store fills them from
the records on first use (``rollups.rebuild``), in the configured zone.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PAIRS = (("lead_at", "mql_at"), ("mql_at", "sql_at"), ("sql_at", "won_at"))


def upgrade() -> None:
    op.create_table(
        "stage_days",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment_key", sa.String(length=500), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amounts", sa.Integer(), nullable=False),
        sa.Column("amount_total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "kind", "stage", "day", "segment_key", name=op.f("pk_stage_days")
        ),
    )
    op.create_table(
        "cohort_days",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("segment_key", sa.String(length=500), nullable=False),
        sa.Column("next_day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "stage", "day", "segment_key", "next_day", name=op.f("pk_cohort_days")
        ),
    )
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("zone", sa.String(length=100), nullable=False),
        sa.Column("built_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_state")),
    )
    with op.batch_alter_table("records") as batch:
        for stage, following in _PAIRS:
            batch.drop_index(f"ix_records_source_kind_{stage}_{following}_deleted")
        for stage, _ in _PAIRS:
            batch.create_index(f"ix_records_source_kind_{stage}", ["source", "kind", stage])


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        for stage, _ in _PAIRS:
            batch.drop_index(f"ix_records_source_kind_{stage}")
        for stage, following in _PAIRS:
            batch.create_index(
                f"ix_records_source_kind_{stage}_{following}_deleted",
                ["source", "kind", stage, following, "deleted"],
            )
    op.drop_table("rollup_state")
    op.drop_table("cohort_days")
    op.drop_table("stage_days")
