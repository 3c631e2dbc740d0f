"""Stage indexes only over the records that reached the stage.

Every query on a stage column asks for a range of instants (or for any
value at all), which no record without the stage can match; yet each
record written entered all four stage indexes, three of them mostly with
nothing. Indexing only the non-null values halves the index entries a
first sync writes, and evaluation reads the same indexes as before.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_STAGES = ("lead_at", "mql_at", "sql_at", "won_at")


def upgrade() -> None:
    for stage in _STAGES:
        name = f"ix_records_source_kind_{stage}"
        op.drop_index(name, table_name="records")
        reached = sa.text(f"{stage} IS NOT NULL")
        op.create_index(
            name,
            "records",
            ["source", "kind", stage],
            sqlite_where=reached,
            postgresql_where=reached,
        )


def downgrade() -> None:
    for stage in _STAGES:
        name = f"ix_records_source_kind_{stage}"
        op.drop_index(name, table_name="records")
        op.create_index(name, "records", ["source", "kind", stage])
