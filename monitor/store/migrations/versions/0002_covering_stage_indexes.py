"""Covering indexes for stage counts and cohorts: each stage index also
holds the next stage and the deleted flag.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PAIRS = (("lead_at", "mql_at"), ("mql_at", "sql_at"), ("sql_at", "won_at"))


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        for stage, _ in _PAIRS:
            batch.drop_index(f"ix_records_source_kind_{stage}")
        for stage, following in _PAIRS:
            batch.create_index(
                f"ix_records_source_kind_{stage}_{following}_deleted",
                ["source", "kind", stage, following, "deleted"],
            )


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        for stage, following in _PAIRS:
            batch.drop_index(f"ix_records_source_kind_{stage}_{following}_deleted")
        for stage, _ in _PAIRS:
            batch.create_index(f"ix_records_source_kind_{stage}", ["source", "kind", stage])
