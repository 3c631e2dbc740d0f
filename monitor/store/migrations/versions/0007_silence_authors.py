"""Who created a silence, for ``alignmon silence list`` (amtool's
``createdBy``). Silences created before this revision have no author.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("silences") as batch:
        batch.add_column(sa.Column("created_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("silences") as batch:
        batch.drop_column("created_by")
