"""Alembic environment: migrations run on the engine alignmon opened, never
on a URL read from an ini file (credentials stay out of files).

Replicas starting together would race to create the same tables, so on
PostgreSQL the migration transaction first takes an advisory lock: the
first replica migrates, the others wait and then find the schema current.
"""

from alembic import context
from sqlalchemy import text

from monitor.store.schema import full_metadata

MIGRATION_LOCK = 0x616C_6D67  # "almg"

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=full_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
