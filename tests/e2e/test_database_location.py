"""A relative SQLite database belongs to the config file: every command
finds the same store from any working directory, and says which one."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.config.database import resolve_database, shown_database
from tests.e2e.cli import alignmon

CONFIG = """\
timezone: UTC
database: sqlite:///data/alignmon.db
sources:
  crm: {kind: demo, months: 2}
goals:
  - name: q-new-business
    source: crm
    closes: 10
    rates: {sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}
"""


def test_commands_run_elsewhere_use_the_database_next_to_the_config(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "conf", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    (home / "alignmon.yaml").write_text(CONFIG)
    synced = alignmon("--config", "conf/alignmon.yaml", "sync", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    database = home / "data" / "alignmon.db"
    assert database.is_file()

    config = str(home / "alignmon.yaml")
    status = alignmon("--config", config, "status", "--format", "json", cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    payload = json.loads(status.stdout)
    assert payload["database"] == f"sqlite:///{database}"
    lead = next(s for s in payload["goals"][0]["stages"] if s["stage"] == "lead")
    assert lead["actual"] > 0, "the synced records must be seen from another directory"
    assert not list(elsewhere.rglob("*.db")) and not list(tmp_path.glob("*.db"))

    table = alignmon("--config", config, "status", cwd=elsewhere)
    assert f"database: sqlite:///{database}" in table.stdout
    check = alignmon("--config", config, "check", cwd=elsewhere)
    assert f"database: sqlite:///{database} — reachable" in check.stdout, check.stdout


def test_only_a_relative_sqlite_file_moves() -> None:
    base = Path("/srv/alignmon")
    assert (
        resolve_database("sqlite:///x.db?timeout=5", base)
        == "sqlite:////srv/alignmon/x.db?timeout=5"
    )
    for kept in (
        "sqlite:////var/lib/alignmon/x.db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://alignmon:pw@db/alignmon",
    ):
        assert resolve_database(kept, base) == kept


def test_a_shown_database_url_hides_its_password() -> None:
    shown = shown_database("postgresql://alignmon:s3cret-pw@db:5432/alignmon")
    assert "s3cret-pw" not in shown and shown == "postgresql://alignmon:***@db:5432/alignmon"
