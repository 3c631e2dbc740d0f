"""Record versions: per source, a counter of the writes that changed its
records, so the records an SLA rule still waits on can be kept between
syncs.

The table starts empty (every counter zero until the next write) and a
process starts with nothing kept, so an upgraded database needs no
backfill.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_versions",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_record_versions")),
    )


def downgrade() -> None:
    op.drop_table("record_versions")
