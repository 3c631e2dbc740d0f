"""SIGTERM in the middle of a first sync: the service stops at the next
batch boundary and exits 0; the records stored are committed batches and no
cursor claims more than they hold, so the next sync completes the work with
nothing missing and nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from monitor.store.schema import records, sync_cursors
from tests.fakes.hubspot import FakeHubSpot

pytestmark = pytest.mark.slow

ALIGNMON = str(Path(sys.executable).with_name("alignmon"))
CONFIG = """\
timezone: UTC
database: sqlite:///{db}
sources:
  hs:
    kind: hubspot
    token: ${{HUBSPOT_TOKEN}}
    api_url: {url}
    requests_per_second: 4
service: {{listen: "127.0.0.1:0"}}
"""


def test_sigterm_mid_sync_exits_cleanly_with_a_consistent_cursor(tmp_path: Path) -> None:
    db = tmp_path / "shutdown.db"
    with FakeHubSpot(now=datetime.now(UTC)) as fake:
        fake.seed_records("contacts", 12_000)
        (tmp_path / "alignmon.yaml").write_text(CONFIG.format(db=db, url=fake.url))
        env = {**os.environ, "HUBSPOT_TOKEN": fake.token}
        env.pop("ALIGNMON_CONFIG", None)
        service = subprocess.Popen(
            [ALIGNMON, "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        engine = create_engine(f"sqlite:///{db}")
        try:
            deadline = time.monotonic() + 60
            stored = 0
            while time.monotonic() < deadline and stored < 1000:
                time.sleep(0.5)
                if db.exists():
                    try:
                        with engine.connect() as conn:
                            stored = conn.execute(
                                select(func.count()).select_from(records)
                            ).scalar_one()
                    except OperationalError:
                        continue  # the file exists, its schema is still being created
            assert 0 < stored < 12_000, "the sync should be under way"
            service.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert service.wait(timeout=30) == 0
            assert time.monotonic() - started < 15, "shutdown took too long"
        finally:
            if service.poll() is None:
                service.kill()
        with engine.connect() as conn:
            cursor = conn.execute(
                select(sync_cursors).where(sync_cursors.c.object_type == "contacts")
            ).one_or_none()
            ids = [
                row[0]
                for row in conn.execute(
                    select(records.c.crm_id).where(records.c.object_type == "contacts")
                )
            ]
        assert len(ids) < 12_000
        assert len(ids) == len(set(ids)) and set(ids) <= fake.live_ids("contacts")
        # A first sync reads from both ends of the id range at once, in no
        # modification order, so it saves no cursor until the whole type is
        # read: stopped midway, it holds none and the next sync starts over.
        assert cursor is None, "a cursor saved midway would claim unread records"

        finish = subprocess.run(
            [ALIGNMON, "sync"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert finish.returncode == 0, finish.stderr
        with engine.connect() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    select(records.c.crm_id).where(records.c.object_type == "contacts")
                )
            ]
        engine.dispose()
        assert sorted(ids) == sorted(fake.live_ids("contacts"))


def cursor_id(crm_id: str) -> int:
    """A cursor's id as a position among the fake's numeric ids. A cursor
    saved inside an instant of tied records has no id: it holds none of
    that instant, so it sits before every id."""
    return int(crm_id) if crm_id else -1
