"""Alembic environment: migrations run on the engine alignmon opened, never
on a URL read from an ini file (credentials stay out of files)."""

from alembic import context

from monitor.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
