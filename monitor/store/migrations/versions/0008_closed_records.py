"""When a record was closed without moving on (a lead disqualified, an
opportunity lost): a closed record is no longer stalled in its stage.
Records stored before this revision are open until their next sync.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("closed_at", UTCDateTime(), nullable=True))
        batch.create_index("ix_records_source_closed_at", ["source", "closed_at"])


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_index("ix_records_source_closed_at")
        batch.drop_column("closed_at")
