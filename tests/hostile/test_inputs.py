"""Inputs that crashed or leaked before they were checked: database errors
with CRM data in their parameters, command-line values out of range, paths
that cannot be written, Ctrl-C mid-sync, config files others can read, and
Salesforce settings that name a missing key or object.

Each runs the real ``alignmon`` process (or the real store) and asserts one
line, the documented exit code, no traceback and nothing private shown.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import traceback
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from monitor.errors import StoreError
from monitor.store import Store
from monitor.store.schema import records
from tests.e2e.cli import ALIGNMON, alignmon
from tests.e2e.test_kill import wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import CONSUMER_KEY, USERNAME, FakeSalesforce

PII = "ana.pii-4711@acme.example"

DEMO = """\
timezone: UTC
database: sqlite:///{db}
sources:
  demo: {{kind: demo, months: 2}}
slack:
  token: {token}
  channel: "#revenue-alignment"
goals:
  - name: q-new-business
    source: demo
    closes: 20
    rates: {{sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}}
"""


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    found = lines(result.stderr)
    assert len(found) == 1, found
    return found[0]


# -- the database never shows bound parameters ---------------------------------


def test_a_database_error_shows_no_bound_parameter(store: Store) -> None:
    """A refused row (here: no kind) must not bring its values (CRM names and
    e-mails) into the error, nor into a traceback that a log would print."""
    row = {
        "source": "hs",
        "object_type": "contacts",
        "crm_id": "1",
        "kind": None,
        "owner_email": PII,
        "name": "Ana Pii",
    }
    with pytest.raises(StoreError) as caught, store.begin() as conn:
        conn.execute(insert(records).values(**row))
    shown = "".join(traceback.format_exception(caught.value))
    assert "database error" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert PII not in shown and "Ana Pii" not in shown
    assert store.engine.hide_parameters


def test_a_source_name_too_long_for_postgresql_is_refused_at_load(tmp_path: Path) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(
        DEMO.format(db=tmp_path / "a.db", token="${T}")
        .replace("demo:", "d" * 101 + ":")
        .replace("source: demo", f"source: {'d' * 101}")
    )
    found = one_line(
        alignmon("--config", str(config), "targets", cwd=tmp_path, env={"T": "xoxb-1"}), 2
    )
    assert "a source name is at most 100 characters" in found
    assert not (tmp_path / "a.db").exists()


# -- command-line values ----------------------------------------------------


@pytest.mark.parametrize(
    "command,as_of",
    [
        ("status", "0001-01-01T00:00"),
        ("targets", "9999-12-31T23:59"),
        ("summary", "0001-01-01"),
        ("evaluate", "9999-12-31"),
    ],
)
def test_an_as_of_outside_the_calendar_is_one_line_and_exit_2(
    tmp_path: Path, command: str, as_of: str
) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(DEMO.format(db=tmp_path / "a.db", token="${T}"))
    result = alignmon(
        "--config", str(config), command, "--as-of", as_of, cwd=tmp_path, env={"T": "xoxb-1"}
    )
    assert "outside the years 1970-2999" in one_line(result, 2)


@pytest.mark.parametrize("matcher", ["", "  ", "x" * 401])
def test_an_empty_or_overlong_silence_is_refused(tmp_path: Path, matcher: str) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(DEMO.format(db=tmp_path / "a.db", token="${T}"))
    result = alignmon(
        "--config",
        str(config),
        "silence",
        matcher,
        "--for",
        "1h",
        "--reason",
        "r",
        cwd=tmp_path,
        env={"T": "xoxb-1"},
    )
    assert "TARGET is" in one_line(result, 2)


def test_an_overlong_silence_author_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(DEMO.format(db=tmp_path / "a.db", token="${T}"))
    result = alignmon(
        "--config",
        str(config),
        "silence",
        "pacing/*",
        "--for",
        "1h",
        "--reason",
        "r",
        "--author",
        "a" * 201,
        cwd=tmp_path,
        env={"T": "xoxb-1"},
    )
    assert "--author is 201 characters; at most 200" in one_line(result, 2)


# -- files written and read ---------------------------------------------------


def test_summary_chart_is_owner_only_and_an_unwritable_path_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(DEMO.format(db=tmp_path / "a.db", token="${T}"))
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"old")
    chart.chmod(0o644)
    env = {"T": "xoxb-1"}
    made = alignmon(
        "--config", str(config), "summary", "--chart", str(chart), cwd=tmp_path, env=env
    )
    assert made.returncode == 0, made.stderr
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE(chart.stat().st_mode) == 0o600
    for bad in (tmp_path / "missing" / "c.png", tmp_path):
        result = alignmon(
            "--config", str(config), "summary", "--chart", str(bad), cwd=tmp_path, env=env
        )
        assert f"--chart {bad}" in one_line(result, 2)


def test_summary_chart_goes_to_the_chart_dir_from_the_environment(tmp_path: Path) -> None:
    """Under a read-only root file system the working directory cannot take
    the chart: the image points ALIGNMON_CHART_DIR at its tmpfs."""
    config = tmp_path / "alignmon.yaml"
    config.write_text(DEMO.format(db=tmp_path / "a.db", token="${T}"))
    work, charts = tmp_path / "work", tmp_path / "charts"
    work.mkdir()
    charts.mkdir()
    env = {"T": "xoxb-1", "ALIGNMON_CHART_DIR": str(charts)}
    made = alignmon("--config", str(config), "summary", cwd=work, env=env)
    assert made.returncode == 0, made.stderr
    (chart,) = charts.glob("alignmon-summary-*.png")
    assert f"chart: {chart}" in made.stdout
    assert list(work.iterdir()) == []
    env["ALIGNMON_CHART_DIR"] = str(tmp_path / "missing")
    result = alignmon("--config", str(config), "summary", cwd=work, env=env)
    assert "--chart-dir " in one_line(result, 2)


def test_init_into_a_path_that_cannot_be_written_is_exit_2(tmp_path: Path) -> None:
    for bad in (tmp_path / "missing" / "alignmon.yaml", tmp_path):
        result = alignmon("init", str(bad), "--force", cwd=tmp_path)
        assert f"cannot write {bad}" in one_line(result, 2)


def test_a_literal_secret_in_a_file_others_can_read_is_warned_about_once(tmp_path: Path) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(DEMO.format(db=tmp_path / "a.db", token="xoxb-literal-0000"))
    config.chmod(0o644)
    warned = alignmon("--config", str(config), "targets", cwd=tmp_path)
    assert warned.returncode == 0, warned.stderr
    found = [line for line in lines(warned.stderr) if "warning" in line]
    assert len(found) == 1, warned.stderr
    assert str(config) in found[0] and "0644" in found[0] and "slack.token" in found[0]
    assert "xoxb-literal-0000" not in warned.stderr + warned.stdout
    config.chmod(0o600)
    private = alignmon("--config", str(config), "targets", cwd=tmp_path)
    assert "warning" not in private.stderr
    config.write_text(DEMO.format(db=tmp_path / "a.db", token="${T}"))
    config.chmod(0o644)
    from_env = alignmon("--config", str(config), "targets", cwd=tmp_path, env={"T": "xoxb-1"})
    assert "warning" not in from_env.stderr


# -- Ctrl-C during sync -------------------------------------------------------

HUBSPOT = """\
timezone: UTC
database: sqlite:///{db}
sources:
  hs:
    kind: hubspot
    token: ${{HS_TOKEN}}
    api_url: {url}
    requests_per_second: 100
"""


def test_ctrl_c_during_sync_says_what_was_stored_and_exits_130(tmp_path: Path) -> None:
    db = tmp_path / "alignmon.db"
    with FakeHubSpot(now=datetime.now(UTC)) as fake:
        fake.seed_records("contacts", 6_000)
        fake.delay = 0.05
        config = tmp_path / "alignmon.yaml"
        config.write_text(HUBSPOT.format(db=db, url=fake.url))
        env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
        env["HS_TOKEN"] = fake.token
        sync = subprocess.Popen(
            [ALIGNMON, "--config", str(config), "sync"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            wait_until(
                lambda: fake.calls["search:contacts"] >= 3 or sync.poll() is not None, "paging"
            )
            sync.send_signal(signal.SIGINT)
            stdout, stderr = sync.communicate(timeout=60)
        finally:
            if sync.poll() is None:
                sync.kill()
        assert sync.returncode == 130, stdout + stderr
        assert "Traceback" not in stderr and "Aborted" not in stderr
        last = lines(stderr)[-1]
        assert last.startswith("interrupted: ") and last.endswith(
            "the next sync resumes from there"
        )
        stored = int(
            last.removeprefix("interrupted: ").split(" records stored")[0].replace(",", "")
        )
        store = Store(f"sqlite:///{db}")
        try:
            with store.begin() as conn:
                count = conn.execute(select(func.count()).select_from(records)).scalar_one()
            assert 0 < count < 6_000
            assert stored >= count
        finally:
            store.close()
        fake.delay = 0.0
        again = alignmon(
            "--config", str(config), "sync", cwd=tmp_path, env={"HS_TOKEN": fake.token}
        )
        assert again.returncode == 0, again.stderr
        assert sorted(stored_ids(db)) == sorted(fake.live_ids("contacts"))


def stored_ids(db: Path) -> list[str]:
    store = Store(f"sqlite:///{db}")
    try:
        with store.begin() as conn:
            query = select(records.c.crm_id).where(records.c.object_type == "contacts")
            return [row[0] for row in conn.execute(query)]
    finally:
        store.close()


# -- Salesforce settings that name a missing key or object -------------------

SALESFORCE = """\
timezone: UTC
database: sqlite:///{db}
sources:
  sf:
    kind: salesforce
    instance_url: {url}
    ca_bundle: {ca}
    auth:
      username: {username}
      consumer_key: {consumer_key}
      private_key_file: {key}
      login_url: {url}
    fields: {{mql_at: MQL_Date__c, sql_at: SQL_Date__c, sobject: {sobject}}}
    bulk_poll_seconds: 0
    retries: 0
"""


@pytest.mark.parametrize("problem", ["not-a-key", "unknown-object"])
def test_salesforce_key_and_object_problems_are_one_line_naming_the_setting(
    tmp_path: Path, problem: str
) -> None:
    with FakeSalesforce() as fake:
        fake.add_leads(10)
        key = tmp_path / "server.key"
        if problem == "not-a-key":
            key.write_text("this is not a PEM private key\n")
        else:
            key.write_bytes(Path(fake.jwt_key_file()).read_bytes())
        config = tmp_path / "alignmon.yaml"
        config.write_text(
            SALESFORCE.format(
                db=tmp_path / "a.db",
                url=fake.url,
                ca=fake.ca_path,
                username=USERNAME,
                consumer_key=CONSUMER_KEY,
                key=key,
                sobject="Lead" if problem == "not-a-key" else "Leadz",
            )
        )
        result = alignmon("--config", str(config), "sync", cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    shown = lines(result.stdout)
    assert len(shown) == 1, result.stdout
    if problem == "not-a-key":
        assert f"{key} is not an RSA private key" in shown[0]
    else:
        assert "the object Leadz does not exist" in shown[0] and "fields.sobject" in shown[0]
        assert "instance_url" not in shown[0]
