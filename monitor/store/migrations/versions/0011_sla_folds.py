"""Folded SLA outcomes: per rule and UTC day of stage entry, the outcomes
that can no longer change, so evaluation judges only the records still
waiting for a first touch.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_folds",
        sa.Column("rule", sa.String(200)),
        sa.Column("day", sa.Date),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("folded_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.Column("outcomes", sa.JSON, nullable=False),
        sa.Column("unsettled", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("rule", "day", name="pk_sla_folds"),
    )
    op.create_index("ix_sla_folds_source_day", "sla_folds", ["source", "day"])


def downgrade() -> None:
    op.drop_index("ix_sla_folds_source_day", "sla_folds")
    op.drop_table("sla_folds")
