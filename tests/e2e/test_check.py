"""`alignmon check` through the real entry point: every check runs and every
failure is reported, and with no network the answer comes within the
configured timeouts."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.e2e.cli import ALIGNMON, SLACK_TOKEN, alignmon
from tests.fakes.network import blackhole, closed_port, silent_server, trickle_server
from tests.fakes.slack import APP_TOKEN, FakeSlack

TIMEOUT = 2.0
#: Beyond the timeout: the half second a check is given to report its own
#: timeout, and scheduling on a loaded machine.
MARGIN = 1.0

CONFIG = """\
timezone: UTC
database: {database}
sources:
  crm: {{kind: demo}}
{extra_source}slack:
  token: {token}
  api_url: {slack_url}
  channel: "#revenue-alignment"
  timeout: {timeout}
goals:
  - name: q-new-business
    source: crm
    closes: 40
    rates: {{sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}}
    channel: "#leadership"
"""


def hubspot(url: str) -> str:
    return f"""\
  hs:
    kind: hubspot
    token: pat-na1-check
    api_url: {url}
    timeout: {TIMEOUT:g}s
"""


def write_config(
    path: Path,
    slack_url: str,
    *,
    extra_source: str = "",
    database: str = "sqlite:///check.db",
) -> None:
    path.joinpath("alignmon.yaml").write_text(
        CONFIG.format(
            database=database,
            extra_source=extra_source,
            token=SLACK_TOKEN,
            slack_url=slack_url,
            timeout=TIMEOUT,
        )
    )


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack-sdk routes through HTTPS_PROXY/HTTP_PROXY and ignores NO_PROXY.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack(no_proxy: None) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def marks(stdout: str) -> dict[str, str]:
    """Each printed check line's text after its mark, by that mark."""
    return {line[2:]: line[0] for line in stdout.splitlines() if line[:1] in "✓!✗"}


def test_check_passes_when_everything_is_reachable(slack: FakeSlack, tmp_path: Path) -> None:
    write_config(tmp_path, slack.api_url)

    run = alignmon("check", cwd=tmp_path)

    assert run.returncode == 0, run.stdout + run.stderr
    lines = marks(run.stdout)
    database = f"database: sqlite:///{tmp_path / 'check.db'} — reachable, schema current (sqlite)"
    assert lines[database] == "✓", run.stdout
    assert lines["slack: slack scopes — all granted"] == "✓"
    assert lines["slack: slack channel #leadership — #leadership, the bot is a member"] == "✓"
    assert "✗" not in run.stdout


@pytest.mark.parametrize(
    ("app_token", "mark"),
    [(APP_TOKEN, "✓"), ("xapp-1-not-this-one", "✗")],
)
def test_check_tests_the_app_token_without_opening_the_socket(
    slack: FakeSlack, tmp_path: Path, app_token: str, mark: str
) -> None:
    write_config(tmp_path, slack.api_url)
    config = tmp_path / "alignmon.yaml"
    config.write_text(
        config.read_text().replace("  timeout:", f"  app_token: {app_token}\n  timeout:")
    )

    run = alignmon("check", cwd=tmp_path)

    assert run.returncode == (0 if mark == "✓" else 3), run.stdout + run.stderr
    (line,) = [text for text in marks(run.stdout) if text.startswith("slack: slack app token")]
    assert marks(run.stdout)[line] == mark
    if mark == "✗":
        assert "generate one with connections:write" in line
    assert app_token not in run.stdout + run.stderr
    assert slack.socket.connects == 0


def test_check_reports_every_failure_not_only_the_first(slack: FakeSlack, tmp_path: Path) -> None:
    slack.members.discard("C0LEADS1")
    slack.scopes = tuple(scope for scope in slack.scopes if scope != "files:write")
    write_config(
        tmp_path,
        slack.api_url,
        extra_source=hubspot(f"http://127.0.0.1:{closed_port()}"),
        database=f"postgresql://alignmon:pw@127.0.0.1:{closed_port()}/alignmon",
    )

    run = alignmon("check", cwd=tmp_path)

    assert run.returncode == 3, run.stdout + run.stderr
    failed = [line for line, mark in marks(run.stdout).items() if mark == "✗"]
    assert [line.split(":")[0] for line in failed] == ["database", "hs", "slack"]
    assert "run /invite @alignmon in #leadership" in failed[2]
    assert (
        "! slack: slack scope files:write — missing: needed to upload the daily summary chart"
        in (run.stdout)
    )
    assert "✓ crm:" in run.stdout


@pytest.mark.parametrize("unreachable", [blackhole, silent_server, trickle_server])
def test_check_with_no_network_says_so_within_the_timeout(
    unreachable: Callable[[], AbstractContextManager[str]], no_proxy: None, tmp_path: Path
) -> None:
    with unreachable() as url:
        write_config(tmp_path, f"{url}/api/", extra_source=hubspot(url))
        lines, returncode = timed_lines(tmp_path, "check")

    assert returncode == 3, lines
    failed = [text for _, text in lines if text.startswith("✗")]
    assert [text.split(":")[0] for text in failed] == ["✗ hs", "✗ slack"]
    valid = next(at for at, text in lines if text.startswith("✓ config"))
    checked = max(at for at, text in lines if text.startswith("✗"))
    assert checked - valid < TIMEOUT + MARGIN, lines


def timed_lines(cwd: Path, *args: str) -> tuple[list[tuple[float, str]], int]:
    """Run ``alignmon ARGS``; each stdout line with the seconds since the
    start at which it was printed, and the exit code. The time the process
    takes to start (imports, config) is left out by comparing lines."""
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    started = time.monotonic()
    with subprocess.Popen(
        [ALIGNMON, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        lines = [(time.monotonic() - started, line.rstrip("\n")) for line in process.stdout]
        return lines, process.wait(timeout=60)
