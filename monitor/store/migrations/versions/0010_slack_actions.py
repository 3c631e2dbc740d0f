"""Actions taken on alerts from Slack (buttons over Socket Mode): the audit
trail ``alignmon alerts --audit`` shows, and what makes a redelivered
button press act once.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_actions",
        sa.Column("id", sa.Integer, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("fingerprint", sa.String(400), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("silence_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_slack_actions"),
        sa.UniqueConstraint("key", name="uq_slack_actions_key"),
    )
    op.create_index(
        "ix_slack_actions_fingerprint_action", "slack_actions", ["fingerprint", "action"]
    )


def downgrade() -> None:
    op.drop_index("ix_slack_actions_fingerprint_action", "slack_actions")
    op.drop_table("slack_actions")
