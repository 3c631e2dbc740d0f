"""``--log-format json``: every line alignmon writes to stderr is one JSON
object with ``time``, ``level``, ``logger`` and ``message`` — the start
banner, the console notifier's messages and a config error included —
running the real entry point on the built-in demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from tests.e2e.cli import ALIGNMON, alignmon

REQUIRED = ("time", "level", "logger", "message")


def parsed(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as JSON, each with the required fields."""
    lines = stderr.splitlines()
    assert lines, "nothing was logged"
    entries = []
    for line in lines:
        entry = json.loads(line)  # fails on any line that is not one JSON object
        assert isinstance(entry, dict) and all(k in entry for k in REQUIRED), line
        assert datetime.fromisoformat(entry["time"]).utcoffset() is not None
        assert entry["level"] in {"debug", "info", "warning", "error", "critical"}
        entries.append(entry)
    return entries


def test_run_once_on_the_demo_logs_only_json_lines(tmp_path: Path) -> None:
    done = alignmon("--log-format", "json", "run", "--once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    entries = parsed(done.stderr)

    synced = next(e for e in entries if e["message"].startswith("synced demo"))
    assert synced["logger"] == "monitor.sync" and synced["source"] == "demo"
    fired = [e for e in entries if e["logger"] == "monitor.dispatch" and "alert" in e]
    assert {(e["rule"], e.get("goal"), e.get("sla")) for e in fired} >= {
        ("commitment-gap", "q-new-business", None),
        ("sla-breach", None, "mql-follow-up"),
    }
    posts = [e for e in entries if e["logger"] == "monitor.notifiers.console"]
    assert posts, "the console notifier's messages are log records"
    alerts = [line["alert"] for post in posts for line in post["lines"]]
    assert any(a.startswith("sla-breach/") for a in alerts)
    assert all(post["channel"] and post["ref"].startswith("console:") for post in posts)
    assert "console:1" not in done.stdout  # not printed as text as well


def test_a_config_error_is_a_json_line(tmp_path: Path) -> None:
    done = alignmon("--log-format", "json", "--config", "missing.yaml", "status", cwd=tmp_path)
    assert done.returncode == 2
    (entry,) = parsed(done.stderr)
    assert entry["level"] == "error" and entry["message"].startswith("config error: ")
    assert entry["exit_code"] == 2


def test_the_service_banner_and_its_lines_are_json(tmp_path: Path) -> None:
    demo = resources.files("monitor.config").joinpath("demo.yaml").read_text()
    config = tmp_path / "alignmon.yaml"
    config.write_text(f'{demo}\nservice: {{listen: "127.0.0.1:0"}}\n')
    log = tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    with log.open("wb") as stderr:
        service = subprocess.Popen(
            [ALIGNMON, "--config", str(config), "--log-format", "json", "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 90
            while "monitor.notifiers.console" not in log.read_text():
                assert service.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        finally:
            service.send_signal(signal.SIGTERM)
            stdout, _ = service.communicate(timeout=60)
    assert service.returncode == 0, log.read_text()
    entries = parsed(log.read_text())
    banner = next(e for e in entries if e["message"].startswith("alignmon running as "))
    assert banner["logger"] == "monitor.service.scheduler" and banner["holder"]
    assert entries[-1]["message"] == "stopped"
    assert stdout == b""
