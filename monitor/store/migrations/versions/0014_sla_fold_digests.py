"""Fold digests: each SLA fold row carries a digest of its outcomes, so an
evaluation reads the outcomes (megabytes over a look-back at a busy CRM's
volume) only for the days folded again since it last read them. The
outcomes move to the row's end: SQLite stores a large value across
overflow pages and reads through them to reach any column after it.

Folds are judged from the records and made again by the next evaluation,
so the table is made anew rather than converted.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _create(*, digest: bool) -> None:
    op.create_table(
        "sla_folds",
        sa.Column("rule", sa.String(200)),
        sa.Column("day", sa.Date),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("folded_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        *([sa.Column("digest", sa.String(64), nullable=False)] if digest else []),
        sa.Column("unsettled", sa.JSON, nullable=False),
        sa.Column("outcomes", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("rule", "day", name="pk_sla_folds"),
    )
    op.create_index("ix_sla_folds_source_day", "sla_folds", ["source", "day"])


def _drop() -> None:
    op.drop_index("ix_sla_folds_source_day", "sla_folds")
    op.drop_table("sla_folds")


def upgrade() -> None:
    _drop()
    _create(digest=True)


def downgrade() -> None:
    _drop()
    _create(digest=False)
