"""`alignmon run` with an app-level token, against the fake Slack: its
alert posts carry buttons, a press arrives over Socket Mode, and the
silence it adds is the CLI's (`alignmon silence list`, `alignmon alerts`),
listed by `alignmon alerts --audit`; the slash command and the Home tab are
answered; /readyz and /metrics follow the socket through a drop and its
reconnection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.notifiers.buttons import ACKNOWLEDGE, SILENCE_DAY
from tests.e2e.cli import ALIGNMON, alignmon, service_config
from tests.e2e.test_health import get
from tests.fakes.slack import APP_TOKEN, FakeSlack
from tests.fakes.slack_socket import app_home_opened, block_actions, slash_command
from tests.pg import PostgresCluster
from tests.ports import free_port

pytestmark = [pytest.mark.slow]

OPERATOR = "U0OPS"
TOKENS = {"SLACK_APP_TOKEN": APP_TOKEN}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def eventually(check: Callable[[], Any], seconds: float = 40) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return found


def with_buttons(slack: FakeSlack) -> tuple[tuple[str, str], dict[str, Any]] | None:
    """A posted message with buttons, and its first actions block."""
    for key, message in sorted(slack.messages.items()):
        for block in message.get("blocks") or []:
            if block["type"] == "actions":
                return key, block
    return None


def button_config(database: str, slack: FakeSlack, port: int) -> str:
    """A service config with the app-level token and OPERATOR allowed to act."""
    return service_config(database=database, slack_url=slack.api_url, port=port).replace(
        "slack:\n",
        "slack:\n  app_token: ${SLACK_APP_TOKEN}\n  operators: {users: [" + OPERATOR + "]}\n",
    )


def press_on(
    slack: FakeSlack, key: tuple[str, str], fingerprint: str, action: str, action_ts: str
) -> dict[str, Any]:
    """OPERATOR pressing ``action`` on the message ``key`` (channel, ts)."""
    message = slack.messages[key]
    return block_actions(
        action,
        fingerprint,
        user=OPERATOR,
        username="ops",
        channel=key[0],
        ts=key[1],
        blocks=message["blocks"],
        text=message["text"],
        action_ts=action_ts,
    )


def test_a_silence_from_slack_is_the_cli_silence(tmp_path: Path, slack: FakeSlack) -> None:
    port = free_port()
    text = button_config(f"sqlite:///{tmp_path / 'alignmon.db'}", slack, port)
    config = tmp_path / "alignmon.yaml"
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    env["SLACK_APP_TOKEN"] = APP_TOKEN
    log = tmp_path / "run.log"
    service = subprocess.Popen(
        [ALIGNMON, "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=env,
    )
    try:
        slack.socket.wait_connected(timeout=40)
        (channel, ts), actions = eventually(lambda: with_buttons(slack))
        fingerprint = actions["elements"][0]["value"]
        eventually(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200)
        assert "slack socket: connected" in get(f"http://127.0.0.1:{port}/readyz")[1]
        assert "alignmon_slack_socket_connected 1.0" in get(f"http://127.0.0.1:{port}/metrics")[1]

        def press(action: str, action_ts: str, wait: float = 20) -> None:
            payload = press_on(slack, (channel, ts), fingerprint, action, action_ts)
            slack.socket.wait_acked(slack.socket.send("interactive", payload), timeout=wait)

        press(SILENCE_DAY, "1700000300.000001")

        # The slash command and the Home tab, answered by the service.
        command = slash_command("alerts", user=OPERATOR, response_url=slack.response_url(0))
        slack.socket.wait_acked(slack.socket.send("slash_commands", command), timeout=20)
        answer = eventually(lambda: slack.responses)[0]
        assert answer["response_type"] == "ephemeral" and "Open alerts" in answer["text"]
        slack.socket.wait_acked(slack.socket.send("events_api", app_home_opened(OPERATOR)))
        assert "Pace: q-new-business" in json.dumps(eventually(lambda: slack.homes.get(OPERATOR)))

        # The socket drops; the service reconnects, and a press sent
        # while it was away arrives.
        slack.socket.drop()
        press(ACKNOWLEDGE, "1700000300.000002", wait=40)
        assert slack.socket.connects >= 2
        eventually(lambda: "slack socket: connected" in get(f"http://127.0.0.1:{port}/readyz")[1])
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0, log.read_text()

    listed = alignmon(
        "--config", str(config), "silence", "list", "--format", "json", cwd=tmp_path, env=TOKENS
    )
    assert listed.returncode == 0, listed.stderr
    (silence,) = json.loads(listed.stdout)["silences"]
    assert silence["matcher"] == fingerprint and silence["created_by"] == "ops (Slack)"

    alerts = alignmon(
        "--config", str(config), "alerts", "--format", "json", cwd=tmp_path, env=TOKENS
    )
    (muted,) = [a for a in json.loads(alerts.stdout)["alerts"] if a["fingerprint"] == fingerprint]
    assert muted["silenced_by"] == [silence["id"]]

    audit = alignmon(
        "--config", str(config), "alerts", "--audit", "--format", "json", cwd=tmp_path, env=TOKENS
    )
    actions_done = [(a["action"], a["outcome"]) for a in json.loads(audit.stdout)["actions"]]
    assert actions_done == [("acknowledge", "done"), ("silence", "done")]
    table = alignmon("--config", str(config), "alerts", "--audit", cwd=tmp_path, env=TOKENS)
    assert "ops (U0OPS)" in table.stdout and "silence" in table.stdout


@pytest.mark.postgres
def test_one_press_delivered_to_two_replicas_acts_once(
    tmp_path: Path, slack: FakeSlack, postgres: PostgresCluster
) -> None:
    """Two `alignmon run` replicas on one PostgreSQL database both hold a
    socket; the same press reaches both at once. One silence is made and
    the audit trail shows one action done."""
    database = postgres.create_database()
    env = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    env["SLACK_APP_TOKEN"] = APP_TOKEN
    replicas: list[subprocess.Popen[bytes]] = []
    config = tmp_path / "alignmon.yaml"
    try:
        for n in range(2):
            text = button_config(database, slack, free_port())
            path = tmp_path / f"replica{n}.yaml"
            path.write_text(text)
            if n == 0:
                config.write_text(text)
            replicas.append(
                subprocess.Popen(
                    [ALIGNMON, "--config", str(path), "run"],
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp_path / f"replica{n}.log").open("wb"),
                    env=env,
                )
            )
        slack.socket.wait_connected(count=2, timeout=60)
        (channel, ts), actions = eventually(lambda: with_buttons(slack), seconds=60)
        fingerprint = actions["elements"][0]["value"]
        payload = press_on(slack, (channel, ts), fingerprint, SILENCE_DAY, "1700000400.000001")
        envelope = slack.socket.send_to_all("interactive", payload)
        eventually(lambda: slack.socket.acks_of(envelope) == 2, seconds=30)
    finally:
        for replica in replicas:
            replica.send_signal(signal.SIGTERM)
        for replica in replicas:
            assert replica.wait(timeout=60) == 0

    listed = alignmon(
        "--config", str(config), "silence", "list", "--format", "json", cwd=tmp_path, env=TOKENS
    )
    assert listed.returncode == 0, listed.stderr
    assert [s["matcher"] for s in json.loads(listed.stdout)["silences"]] == [fingerprint]
    audit = alignmon(
        "--config", str(config), "alerts", "--audit", "--format", "json", cwd=tmp_path, env=TOKENS
    )
    done = [a for a in json.loads(audit.stdout)["actions"] if a["outcome"] == "done"]
    assert [(a["action"], a["fingerprint"]) for a in done] == [("silence", fingerprint)]
