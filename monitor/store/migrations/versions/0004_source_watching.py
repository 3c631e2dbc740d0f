"""When alignmon started watching each source: set once its first sync has
completed with records and the channels have been told.

Sources that already synced before this revision are marked as watched
since their last success, so an upgrade announces nothing.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_status") as batch:
        batch.add_column(sa.Column("watching_since", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE source_status SET watching_since = last_success_at "
        "WHERE last_success_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("source_status") as batch:
        batch.drop_column("watching_since")
