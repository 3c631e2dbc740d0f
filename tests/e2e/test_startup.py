"""What a command loads before it does its work: every CLI call pays for
its imports, so ``--version`` and ``--help`` load neither the config models
nor the store, and ``status`` loads no vendor client, chart library or
scheduler it does not use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.store.engine import head_revision, newest_revision, open_engine
from tests.e2e.cli import alignmon

#: Runs ``alignmon ARGS`` in this process, then writes the top-level names
#: of every module loaded to the file named first.
PROBE = """\
import json, sys
from monitor.cli.main import main
out, args = sys.argv[1], sys.argv[2:]
try:
    main(args, standalone_mode=False)
except SystemExit:
    pass
with open(out, "w") as f:
    json.dump(sorted(sys.modules), f)
"""

#: Loaded only by the commands that use them.
VENDOR = {"matplotlib", "slack_sdk", "hubspot", "simple_salesforce", "apscheduler", "holidays"}
#: About 0.3 s of CPU each to import, which a status on SQLite does not use:
#: the PostgreSQL driver, and array and statistics libraries where the
#: evaluation's arithmetic is the standard library's; and SQLAlchemy's
#: PostgreSQL dialect (about 0.1 s), which a PostgreSQL-only option at
#: import would load.
UNUSED_ON_SQLITE = {"psycopg", "numpy", "scipy", "pandas", "sqlalchemy.dialects.postgresql"}
HEAVY = VENDOR | {"sqlalchemy", "alembic", "pydantic", "yaml"}
#: What other commands or options use: replays, alert dispatch, syncs, and
#: the JSON log formatter (`--log-format json`).
NOT_STATUS = {"monitor.backtest", "monitor.dispatch", "monitor.sync", "pythonjsonlogger"}
OURS = {"monitor.config.file", "monitor.store", "monitor.service.app", "monitor.evaluate"}


def loaded_by(tmp_path: Path, *args: str) -> set[str]:
    """The modules loaded by ``alignmon ARGS`` run in ``tmp_path``."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(out.read_text())
    return set(modules) | {name.split(".")[0] for name in modules}


@pytest.mark.parametrize(
    "args",
    [("--version",), ("--help",), ("status", "--help"), ("sync", "--help"), ("silence", "--help")],
)
def test_version_and_help_load_no_config_store_or_vendor_library(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    assert loaded_by(tmp_path, *args) & (HEAVY | OURS) == set()


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_status_on_the_demo_loads_no_vendor_client_chart_driver_or_migrations(
    tmp_path: Path, fmt: str
) -> None:
    assert alignmon("sync", cwd=tmp_path).returncode == 0
    loaded = loaded_by(tmp_path, "status", "--format", fmt)
    assert "monitor.evaluate" in loaded  # the probe did run the command
    assert loaded & (VENDOR | UNUSED_ON_SQLITE | NOT_STATUS | {"alembic"}) == set()


def test_the_newest_migration_file_names_alembic_head(tmp_path: Path) -> None:
    """An up-to-date database is recognised from the migration file names,
    without alembic: they must name the revision alembic would upgrade to."""
    engine = open_engine(f"sqlite:///{tmp_path / 'any.db'}")
    assert newest_revision() == head_revision(engine)
