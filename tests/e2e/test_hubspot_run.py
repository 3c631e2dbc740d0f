"""`alignmon run --once` against the fake HubSpot, as a user would run it:
config file, token from the environment, the real CLI process."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.cli import alignmon
from tests.fakes.hubspot import FakeHubSpot

CONFIG = """\
timezone: UTC
database: sqlite:///hubspot.db
sources:
  hs:
    kind: hubspot
    token: ${{HUBSPOT_TOKEN}}
    api_url: {url}
    portal_id: {portal}
goals:
  - name: q-new-business
    source: hs
    closes: 40
    rates: {{sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}}
    commitments: {{mql: 150}}
"""


def test_run_once_against_fake_hubspot(tmp_path: Path) -> None:
    with FakeHubSpot(now=datetime.now(UTC)) as fake:
        fake.seed_records("contacts", 2500, shared=300)
        fake.seed_records("deals", 200)
        (tmp_path / "alignmon.yaml").write_text(CONFIG.format(url=fake.url, portal=fake.portal_id))
        env = {"HUBSPOT_TOKEN": fake.token}
        run = alignmon("run", "--once", cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr
        assert "q-new-business" in run.stdout
        assert "commitment is below the plan" in run.stdout
        # 2,500 contacts, 200 a search page or 100 a list page
        assert fake.calls["search:contacts"] + fake.calls["list:contacts"] >= 13
        status = alignmon("status", "--format", "json", cwd=tmp_path, env=env)
        assert status.returncode == 0, status.stderr
        stages = {s["stage"]: s for s in json.loads(status.stdout)["goals"][0]["stages"]}
        assert stages["lead"]["target"] == 2000  # 40 / 0.2 / 0.4 / 0.25
        assert stages["lead"]["actual"] > 0
        assert fake.token not in run.stdout + run.stderr + status.stdout + status.stderr


def test_a_failed_sync_says_why_in_status(tmp_path: Path) -> None:
    with FakeHubSpot(now=datetime.now(UTC)) as fake:
        fake.seed_records("contacts", 50)
        config = CONFIG.format(url=fake.url, portal=fake.portal_id)
        config = config.replace("portal_id:", "retries: 0\n    portal_id:")
        (tmp_path / "alignmon.yaml").write_text(config)
        env = {"HUBSPOT_TOKEN": fake.token}
        fake.fail_next(503, count=100, endpoint="search")
        sync = alignmon("sync", cwd=tmp_path, env=env)
        assert sync.returncode == 3, sync.stderr
        status = alignmon("status", "--format", "json", cwd=tmp_path, env=env)
        shown = json.loads(status.stdout)
        error = shown["sources"]["hs"]["last_error"]
        assert "503" in error, error
        (stale,) = [f for f in shown["findings"] if f["rule"] == "source-stale"]
        assert "503" in stale["text"], "the stale alert says why"
