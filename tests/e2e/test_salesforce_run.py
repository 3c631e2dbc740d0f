"""`alignmon run --once` against the fake Salesforce org over TLS, as a user
would run it: config file, password from the environment, the real CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.cli import alignmon
from tests.fakes.salesforce import PASSWORD, SECURITY_TOKEN, USERNAME, FakeSalesforce

CONFIG = """\
timezone: UTC
database: sqlite:///salesforce.db
sources:
  sf:
    kind: salesforce
    instance_url: {url}
    ca_bundle: {ca}
    auth:
      username: {username}
      password: ${{SF_PASSWORD}}
      security_token: ${{SF_SECURITY_TOKEN}}
      login_url: {url}
    fields:
      mql_at: MQL_Date__c
      sql_at: SQL_Date__c
goals:
  - name: q-pipeline
    source: sf
    closes: 10
    rates: {{sql_to_won: 0.25, mql_to_sql: 0.5, lead_to_mql: 0.2}}
"""


def test_run_once_against_fake_salesforce(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with FakeSalesforce(start=now) as fake:
        fake.add_leads(3000, MQL_Date__c=now - timedelta(hours=1))
        (tmp_path / "alignmon.yaml").write_text(
            CONFIG.format(url=fake.url, ca=fake.ca_path, username=USERNAME)
        )
        env = {"SF_PASSWORD": PASSWORD, "SF_SECURITY_TOKEN": SECURITY_TOKEN}
        run = alignmon("run", "--once", cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stderr
        assert "q-pipeline" in run.stdout
        assert "3,000" in run.stdout  # leads and MQLs this period
        assert PASSWORD not in run.stdout + run.stderr
