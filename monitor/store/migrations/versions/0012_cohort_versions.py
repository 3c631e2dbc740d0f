"""Cohort versions: per source, a counter for each first day on which a
write's cohort rollup changes show, so a cohort table read earlier can be
reused while nothing before its day has changed.

The table starts empty: every counter sums to zero until the next write,
and a process starts with no tables kept, so an upgraded database needs
no backfill.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cohort_versions",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("visible_from", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", "visible_from", name=op.f("pk_cohort_versions")),
    )


def downgrade() -> None:
    op.drop_table("cohort_versions")
