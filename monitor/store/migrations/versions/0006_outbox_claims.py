"""Outbox claims: the process delivering a row names itself and how long it
holds the row, in a transaction committed before the HTTP call, so no other
process (or replica) sends the same row meanwhile. A claim left behind by a
process that died marks a row that may already have reached the channel.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("claimed_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
