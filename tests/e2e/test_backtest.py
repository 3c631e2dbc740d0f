"""`alignmon backtest` through the real entry point, on a SQLite file holding
a generated funnel whose problems are known (half the leads from June 1st;
one slow rep), with a Slack token and the fake Slack in the config."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from monitor import backtest
from monitor.store import Store
from monitor.store.schema import metadata
from tests.e2e.cli import ALIGNMON, alignmon
from tests.fakes.slack import TOKEN, FakeSlack
from tests.scenarios.backtest import SOURCE, service_config, write
from tests.scenarios.generator import (
    FAST_REPS,
    SLOW_REP,
    Scenario,
    VolumeShortfall,
    generate,
)

FUNNEL = Scenario(
    "cli-backtest",
    leads_per_day=20,
    history_days=150,
    shortfall=VolumeShortfall("lead", 0.5, datetime(2026, 6, 1, tzinfo=UTC)),
    reps=(*FAST_REPS, SLOW_REP),
)
LEAD_PACING = "pacing/q-plan/lead/2026-06-01..2026-07-01"
SLOW_BREACH = f"sla-breach/mql-follow-up/{SLOW_REP.email}"
WINDOW = ("--from", "2026-06-01", "--to", "2026-06-05", "--step", "1h")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def funnel_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``funnel.db``: the funnel, synced on June 1st. Built once; each test
    works on a copy of the file."""
    path = tmp_path_factory.mktemp("funnel") / "funnel.db"
    store = Store(f"sqlite:///{path}")
    try:
        store.upgrade()
        store.use_zone(FUNNEL.zone)
        write(store, generate(FUNNEL).records, FUNNEL.midnight(FUNNEL.month))
        store.record_sync(SOURCE, FUNNEL.midnight(FUNNEL.month), ok=True)
    finally:
        store.close()
    return path


@pytest.fixture
def folder(tmp_path: Path, slack: FakeSlack, funnel_db: Path) -> Path:
    """``tmp_path`` with a copy of ``funnel.db`` and ``alignmon.yaml`` (its
    config, posting to the fake Slack)."""
    shutil.copy(funnel_db, tmp_path / "funnel.db")
    config = service_config(FUNNEL, f"sqlite:///{tmp_path / 'funnel.db'}")
    config["slack"] = {"token": TOKEN, "api_url": slack.api_url, "channel": "#revenue-alignment"}
    (tmp_path / "alignmon.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def snapshot(folder: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of ``funnel.db``."""
    store = Store(f"sqlite:///{folder / 'funnel.db'}")
    try:
        with store.begin() as conn:
            return {
                name: sorted(conn.execute(select(table)).all(), key=repr)
                for name, table in metadata.tables.items()
            }
    finally:
        store.close()


def test_json_names_the_alerts_at_the_steps_they_fire(folder: Path, slack: FakeSlack) -> None:
    result = alignmon("backtest", *WINDOW, "--format", "json", "--out", "june.json", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "wrote june.json" in result.stderr
    assert "96 evaluations in" in result.stderr
    payload = json.loads((folder / "june.json").read_text())

    assert set(payload) == {
        "schema_version",
        "window",
        "step",
        "evaluations",
        "waiting",
        "messages",
        "rules",
        "alerts",
    }
    assert (payload["window"], payload["step"], payload["evaluations"]) == (
        {"start": "2026-06-01T00:00:00+00:00", "end": "2026-06-05T00:00:00+00:00"},
        "1h",
        96,
    )
    message = payload["messages"][0]
    assert set(message) == {"at", "queued_at", "channel", "kind", "title", "lines"}
    assert set(message["lines"][0]) == {"fingerprint", "severity", "title", "text", "event"}

    lead = payload["alerts"][LEAD_PACING]
    assert lead["first_fired"] == "2026-06-03T12:00:00+00:00"  # `for: 2` after 11:00
    # The first repeat time 24 hours after it (Thursday's 09:00 is 21 hours
    # after) falls past the window.
    assert (lead["severity"], lead["fired"], lead["resolved"], lead["repeated"]) == (
        "critical",
        1,
        0,
        0,
    )
    assert (lead["flips"], lead["state"]) == (0, "firing")
    first = next(m for m in payload["messages"] if LEAD_PACING in fingerprints(m))
    assert (first["at"], first["kind"], first["channel"]) == (
        "2026-06-03T12:00:00+00:00",
        "post",
        "#revenue-alignment",
    )
    line = next(x for x in first["lines"] if x["fingerprint"] == LEAD_PACING)
    assert line["event"] == "firing" and "Leads" in line["title"]

    breach = payload["alerts"][SLOW_BREACH]
    assert breach["first_fired"] == "2026-06-01T14:00:00+00:00"
    # Each working day: late MQLs breach, the rep catches up, the alert clears.
    assert (breach["fired"], breach["resolved"], breach["flips"], breach["state"]) == (
        4,
        3,
        6,
        "firing",
    )
    assert payload["rules"]["sla-breach"]["flapped"] == 1
    assert set(payload["rules"]["pacing"]) == {
        "fired",
        "joined",
        "resolved",
        "ended",
        "superseded",
        "repeated",
        "escalated",
        "eased",
        "flapped",
        "silenced",
    }
    assert slack.calls == []


def fingerprints(message: dict[str, Any]) -> list[str]:
    return [line["fingerprint"] for line in message["lines"]]


def test_text_shows_each_message_line_and_the_tally(folder: Path, slack: FakeSlack) -> None:
    result = alignmon("backtest", *WINDOW, cwd=folder)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "96 evaluations" in out.splitlines()[0]
    assert re.search(
        rf"^06-03 12:00  #revenue-alignment  FIRING +critical +{re.escape(LEAD_PACING)}  Leads ",
        out,
        re.MULTILINE,
    ), out
    assert re.search(rf"^06-01 14:00 .* FIRING +critical +{re.escape(SLOW_BREACH)} ", out, re.M)
    assert re.search(rf"^06-01 17:00 .* RESOLVED .*{re.escape(SLOW_BREACH)} ", out, re.M)
    assert re.search(r"^06-01 17:00 .* UPDATED .*all resolved", out, re.M)
    header = next(line for line in out.splitlines() if line.startswith("rule "))
    assert header.split() == ["rule", *backtest.RULE_COUNTS]
    breach_row = next(line for line in out.splitlines() if line.startswith("sla-breach "))
    assert breach_row.split()[-2:] == ["1", "0"]  # flapped, silenced
    assert re.search(rf"^06-03 12:00 +1 +0 +0  firing +{re.escape(LEAD_PACING)}$", out, re.M)
    assert slack.calls == []


def test_a_backtest_leaves_alerts_outbox_and_silences_as_they_were(
    folder: Path, slack: FakeSlack
) -> None:
    """The real alert state made by the real commands, posted to the fake
    Slack (so the config does reach it); a backtest then changes no table
    and makes no call."""
    evaluated = alignmon("evaluate", "--as-of", "2026-06-03T13:00", cwd=folder)
    assert evaluated.returncode == 0, evaluated.stderr
    silenced = alignmon(
        "silence", "sla-at-risk/*", "--for", "1d", "--reason", "rep on leave", cwd=folder
    )
    assert silenced.returncode == 0, silenced.stderr
    assert slack.calls_to("chat.postMessage"), "the config's Slack must be reachable"
    calls = len(slack.calls)
    before = snapshot(folder)
    assert before["alerts"] and before["outbox"] and before["silences"]

    result = alignmon("backtest", *WINDOW, "--format", "json", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"]
    assert snapshot(folder) == before
    assert len(slack.calls) == calls


def test_only_one_goal(folder: Path) -> None:
    result = alignmon("backtest", *WINDOW, "--goal", "q-plan", "--format", "json", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["rules"]) == {"pacing"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--from", "2026-06-05", "--to", "2026-06-01"),
            "--to (2026-06-01 00:00 UTC) must be after --from (2026-06-05 00:00 UTC)",
        ),
        (("--from", "2026-06-01", "--to", "2026-06-01"), "must be after --from"),
        (("--from", "2026-06-01", "--to", "2026-06-02", "--step", "30s"), "under a minute"),
        (
            ("--from", "2026-06-01", "--to", "2026-06-02", "--step", "15"),
            "--step: 15 what? write 15m",
        ),
        (
            ("--from", "2026-01-01", "--to", "2026-06-01", "--step", "1m"),
            "217,440 evaluations (151d every 1m) is over the limit of 100,000",
        ),
        (("--from", "last june", "--to", "2026-06-02"), "--from 'last june' is not a date"),
        (("--from", "2026-06-01", "--to", "2026-06-02", "--goal", "q9"), "no goal named 'q9'"),
        (
            ("--from", "2026-06-01", "--to", "2026-06-02", "--out", "no/such/dir/x.json"),
            "--out no/such/dir/x.json: No such file or directory",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    folder: Path, args: tuple[str, ...], message: str
) -> None:
    result = alignmon("backtest", *args, cwd=folder)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_data_is_an_error(tmp_path: Path) -> None:
    config = service_config(FUNNEL, f"sqlite:///{tmp_path / 'empty.db'}")
    (tmp_path / "alignmon.yaml").write_text(yaml.safe_dump(config))
    fresh = alignmon("backtest", *WINDOW, cwd=tmp_path)
    assert fresh.returncode == 2
    assert "no data in the database yet: run `alignmon sync` first" in fresh.stderr
    assert alignmon("db", "upgrade", cwd=tmp_path).returncode == 0
    empty = alignmon("backtest", *WINDOW, cwd=tmp_path)
    assert empty.returncode == 2
    assert "no data in the store for crm: run `alignmon sync` first" in empty.stderr


def evaluations_done(port: int) -> float:
    """The service's count of evaluations, from its /metrics."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    counts = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "alignmon_evaluation_duration_seconds_count"
    ]
    return counts[0] if counts else 0.0


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.mark.slow
def test_a_backtest_runs_beside_the_service_on_the_same_sqlite_file(folder: Path) -> None:
    """`alignmon run` syncs and evaluates every 2 seconds on funnel.db while
    a backtest replays a week of June on it: the backtest completes, and the
    service goes on evaluating, ready, with no lock error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = yaml.safe_load((folder / "alignmon.yaml").read_text())
    config["sources"][SOURCE]["every"] = "2s"
    config["service"] = {
        "listen": f"127.0.0.1:{port}",
        "sla_check_every": "2s",
        "deliver_every": "1s",
    }
    (folder / "service.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    with (folder / "service.log").open("w") as log:
        service = subprocess.Popen(
            [ALIGNMON, "--config", "service.yaml", "run"], cwd=folder, env=env, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while not (ready(port) and evaluations_done(port) >= 2):
            assert time.monotonic() < deadline, (folder / "service.log").read_text()
            time.sleep(0.5)
        before = evaluations_done(port)
        result = alignmon(
            "backtest", "--from", "2026-06-01", "--to", "2026-06-08", "--step", "30m", cwd=folder
        )
        assert result.returncode == 0, result.stderr
        assert "336 evaluations" in result.stdout
        assert evaluations_done(port) > before, "the service went on evaluating"
        assert ready(port) and service.poll() is None
    finally:
        service.terminate()
        service.wait(timeout=30)
    log_text = (folder / "service.log").read_text()
    assert "locked" not in log_text and "Traceback" not in log_text, log_text
