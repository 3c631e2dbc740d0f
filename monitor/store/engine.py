"""Opening the database and keeping its schema current.

SQLite is the zero-setup default: WAL so readers never block the writer,
a busy timeout instead of instant "database is locked" errors, and the file
created owner-only because it holds CRM names and emails. PostgreSQL is
used through any SQLAlchemy URL (``postgresql+psycopg://…``).
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, column, create_engine, event, inspect, select, table
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from monitor.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)


def open_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get owner-only permissions and WAL."""
    try:
        parsed = make_url(_normalise(url))
    except ArgumentError:
        raise ConfigError(
            "database: not a SQLAlchemy URL: write e.g. sqlite:///alignmon.db or "
            "postgresql://user@host/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private(Path(database))
        timeout = sqlite_timeout(parsed)
        engine = create_engine(
            parsed.difference_update_query(["timeout"]),
            connect_args={"timeout": timeout},
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        # Bound parameters are CRM data (names, e-mails): never in an error.
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"database: no driver for {parsed.drivername} ({exc.name} is not installed)"
        ) from None


def sqlite_timeout(url: URL) -> float:
    """Seconds a SQLite write waits for another process's lock: 30, or
    ``?timeout=`` in the URL."""
    value = url.query.get("timeout", "30")
    try:
        seconds = float(value if isinstance(value, str) else value[-1])
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86_400:
        raise ConfigError(f"database: ?timeout= must be a number of seconds, not {value!r}")
    return seconds


def _normalise(url: str) -> str:
    """``postgresql://`` means psycopg 3, the driver alignmon ships with."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _create_private(path: Path) -> None:
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise ConfigError(f"database: cannot create {path}: {exc.strerror}") from None
    os.close(fd)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A sync changes the same index pages in batch after batch: copied back
    # to the database every 64 MiB of log rather than every 4 MiB, each is
    # written once for many commits (checkpoints were a third of a
    # million-record first load).
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    cursor.close()


#: Where alembic keeps the revision a database is at.
VERSION_TABLE = "alembic_version"


def _alembic_config(engine: Engine) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("monitor.store") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def brief(exc: SQLAlchemyError) -> str:
    """A database error in one line: the driver's first line, without the
    SQL statement or the DETAIL lines where PostgreSQL repeats row values."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first.split(" [SQL:", 1)[0]


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Apply pending migrations; returns the revision before and after.

    Most commands start here: a database already at the newest migration is
    told by one query, without loading alembic (about a tenth of a second)."""
    before = current_revision(engine)
    if before is not None and before == newest_revision():
        return before, before
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), "head")
    except OperationalError as exc:
        raise StoreError(f"cannot reach the database to migrate it: {brief(exc)}") from exc
    return before, current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(VERSION_TABLE):
                return None
            versions = table(VERSION_TABLE, column("version_num"))
            found = conn.execute(select(versions.c.version_num)).scalars().all()
            if len(found) > 1:  # branches: alembic says which is current, or why none is
                from alembic.runtime.migration import MigrationContext

                return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot reach the database: {brief(exc)}") from exc
    return found[0] if found else None


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()


def newest_revision() -> str:
    """The newest migration's revision, read from the file names (``0007_…``
    is revision ``0007``; a test keeps the two equal) without loading alembic."""
    versions = resources.files("monitor.store") / "migrations" / "versions"
    return max(
        entry.name.split("_", 1)[0]
        for entry in versions.iterdir()
        if entry.name[:1].isdigit() and entry.name.endswith(".py")
    )


def database_password(url: str) -> list[str]:
    """The password written inside a database URL, if any: a secret that
    arrives as part of a plain string."""
    try:
        password = make_url(url).password
    except ArgumentError:
        return []
    return [str(password)] if password else []
