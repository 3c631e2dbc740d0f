"""Fold digests: each SLA fold row carries a digest of its outcomes, so an
evaluation reads the outcomes' text (megabytes over a look-back at a busy
CRM's volume) only for the days folded again since it last read them.

Folds are judged from the records and made again by the next evaluation,
so the rows stored before this revision are dropped rather than digested.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM sla_folds"))
    with op.batch_alter_table("sla_folds") as batch:
        batch.add_column(sa.Column("digest", sa.String(length=64), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sla_folds") as batch:
        batch.drop_column("digest")
