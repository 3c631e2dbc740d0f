"""What an alert remembers for its next message: when its goal period ends
(an alert still open then is closed as "period ended"), why it closed, and
its metric and records as of the last message (so a repeat can say what
changed and a record joining a group is announced once).

Alerts closed before this revision were all resolutions.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("period_end", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("closed_as", sa.String(10), nullable=True))
        batch.add_column(sa.Column("notified_metric", sa.Float(), nullable=True))
        batch.add_column(sa.Column("notified_members", sa.JSON(), nullable=True))
    op.execute("UPDATE alerts SET closed_as = 'resolved' WHERE state = 'resolved'")


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("notified_members")
        batch.drop_column("notified_metric")
        batch.drop_column("closed_as")
        batch.drop_column("period_end")
