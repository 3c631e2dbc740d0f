"""Where the database is: a relative SQLite path belongs to the config
file, not to whichever directory a command happens to run in.

Run from elsewhere, ``sqlite:///alignmon.db`` used to open (and create) a
new, empty file there, and an evaluation of that empty store reported every
stage 100% behind pace. Resolving against the config file's directory makes
every command see one database, as a service manager and a shell both
expect.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def resolve_database(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file made absolute under ``base``;
    any other URL (PostgreSQL, in-memory, ``file:`` URIs, absolute paths,
    text that is no URL at all) as given."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # reported when the store opens it
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(database)
    if path.is_absolute():
        return url
    return parsed.set(database=str(base.resolve() / path)).render_as_string(hide_password=False)


def shown_database(url: str) -> str:
    """The URL as ``status`` and ``check`` print it: any password as ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"
