"""Security properties read off the code and the defaults: no pickle, ruff's
security rules clean, the health endpoint on loopback unless configured
otherwise, and SOQL that no CRM or config text can change.

(The SQLite file's owner-only mode is asserted in
tests/integration/test_store.py, and for the WAL files too by the secrets
cycle in test_secrets.py.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce.query import select, window
from monitor.config.models import Service
from monitor.interfaces import Cursor

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "monitor", ROOT / "connectors"]
#: Modules that deserialise arbitrary objects: code execution from data.
UNSAFE = re.compile(r"^\s*(?:import|from)\s+(?:pickle|cPickle|_pickle|dill|shelve|marshal)\b", re.M)


def sources() -> list[Path]:
    return [path for package in PACKAGES for path in package.rglob("*.py")]


def test_no_pickle_anywhere() -> None:
    found = [str(p.relative_to(ROOT)) for p in sources() if UNSAFE.search(p.read_text())]
    assert len(sources()) > 40
    assert found == []
    # APScheduler's persistent job stores pickle their jobs; jobs are built
    # from the config at start instead.
    assert not [p for p in sources() if "jobstores" in p.read_text()]


def test_ruff_security_rules_are_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed in this environment")
    result = subprocess.run(
        [ruff, "check", "--select", "S", "--output-format", "concise", *map(str, PACKAGES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_health_endpoint_listens_on_loopback_by_default() -> None:
    assert Service().listen.startswith("127.0.0.1:")


SECRETISH = re.compile(r"(?i)(password|secret|token)\s*=\s*['\"][^'\"]{6,}['\"]")


def test_no_credential_is_written_into_the_code() -> None:
    found = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for p in sources()
        for m in SECRETISH.finditer(p.read_text())
    ]
    assert found == []


UNTIL = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
COLUMN = re.compile(
    r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?"
)  # a field, or a relationship field
LITERAL = r"'(?:[^'\\]|\\.)*'"


@given(crm_id=st.text())
def test_a_crm_id_in_the_cursor_stays_one_soql_string(crm_id: str) -> None:
    where = window(Cursor(UNTIL - timedelta(hours=1), crm_id), UNTIL, None)
    tail = re.fullmatch(rf".* AND Id > ({LITERAL})\)\)", where, re.S)
    assert tail is not None, where
    unquoted = re.sub(r"\\(.)", r"\1", tail.group(1)[1:-1], flags=re.S)
    assert unquoted == crm_id


@given(name=st.text(min_size=1).filter(lambda s: not COLUMN.fullmatch(s)))
def test_a_name_that_is_not_a_salesforce_api_name_never_reaches_soql(name: str) -> None:
    with pytest.raises(ValueError, match="is not a Salesforce field name"):
        select(["Id", name], "Lead", "SystemModstamp <= 2025-03-04T15:00:00Z")
    with pytest.raises(ValueError, match="is not a Salesforce field name"):
        select(["Id"], name, "SystemModstamp <= 2025-03-04T15:00:00Z")
