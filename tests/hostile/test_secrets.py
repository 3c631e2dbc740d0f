"""Known fake secrets through a whole cycle, and nowhere to be found after.

One config, read from YAML with every credential as ``${VAR}``, reaches the
fake HubSpot (private-app token), the fake Salesforce over TLS (OAuth
username-password flow: password, security token, consumer secret) and the
fake Slack (bot token, and the app-level token of Socket Mode). It syncs, evaluates, records alerts and delivers
them, at DEBUG with the CLI's logging set-up; then credentials are revoked
or wrong so that they could surface in exceptions. The secrets — and the
Salesforce sessions the fake issued — must then be absent from the log
output, every exception message and traceback, ``alignmon check`` output
from the real process, every row of every table and the database files'
bytes, and the service's /metrics.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from sqlalchemy import MetaData, create_engine, select

from monitor.config import loader
from monitor.config.loader import LoadedConfig
from monitor.notifiers.buttons import ACKNOWLEDGE
from monitor.service.app import App
from monitor.service.http import HealthServer
from monitor.service.logs import configure, secrets_in
from monitor.service.metrics import Metrics
from monitor.service.scheduler import Service
from monitor.service.slack_socket import SlackSocket
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    FakeSalesforce,
)
from tests.fakes.slack import APP_TOKEN as SLACK_APP_TOKEN
from tests.fakes.slack import TOKEN as SLACK_TOKEN
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_socket import app_home_opened, block_actions, slash_command

ALIGNMON = str(Path(sys.executable).with_name("alignmon"))
WRONG_PASSWORD = "wrong-password-5150"
WRONG_APP_TOKEN = "xapp-1-A0WRONG-5150-0123456789abcdef"

CONFIG = """\
timezone: UTC
database: sqlite:///{db}
sources:
  hs:
    kind: hubspot
    token: ${{HUBSPOT_TOKEN}}
    api_url: {hubspot}
    portal_id: {portal}
    retries: 1
  sf:
    kind: salesforce
    instance_url: {salesforce}
    ca_bundle: {ca}
    auth:
      username: {username}
      password: ${{SF_PASSWORD}}
      security_token: ${{SF_SECURITY_TOKEN}}
      consumer_key: {consumer_key}
      consumer_secret: ${{SF_CONSUMER_SECRET}}
      login_url: {salesforce}
    fields: {{mql_at: MQL_Date__c, sql_at: SQL_Date__c}}
    bulk_poll_seconds: 0
    retries: 1
slack:
  token: ${{SLACK_BOT_TOKEN}}
  app_token: ${{SLACK_APP_TOKEN}}
  api_url: {slack}
  channel: "#revenue-alignment"
goals:
  - name: q-new-business
    source: hs
    closes: 40
    rates: {{sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}}
    commitments: {{mql: 150}}
  - name: q-pipeline
    source: sf
    closes: 30
    rates: {{sql_to_won: 0.25, mql_to_sql: 0.5, lead_to_mql: 0.2}}
    commitments: {{mql: 10}}
sla:
  - {{name: mql-follow-up, source: sf, stage: mql, within: 1h, warn_before: 30m}}
alerts: {{for: 1}}
service: {{listen: "127.0.0.1:0"}}
"""


class Fakes:
    def __init__(self, hubspot: FakeHubSpot, salesforce: FakeSalesforce, slack: FakeSlack) -> None:
        self.hubspot, self.salesforce, self.slack = hubspot, salesforce, slack
        self.issued: set[str] = set()  # Salesforce sessions seen before revocations

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            "HUBSPOT_TOKEN": self.hubspot.token,
            "SF_PASSWORD": PASSWORD,
            "SF_SECURITY_TOKEN": SECURITY_TOKEN,
            "SF_CONSUMER_SECRET": CONSUMER_SECRET,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_APP_TOKEN": SLACK_APP_TOKEN,
            **overrides,
        }

    def config_text(self, db: Path) -> str:
        return CONFIG.format(
            db=db,
            hubspot=self.hubspot.url,
            portal=self.hubspot.portal_id,
            salesforce=self.salesforce.url,
            ca=self.salesforce.ca_path,
            username=USERNAME,
            consumer_key=CONSUMER_KEY,
            slack=self.slack.api_url,
        )

    def secrets(self) -> set[str]:
        """Every credential in play, including the sessions Salesforce issued."""
        return {
            self.hubspot.token,
            PASSWORD,
            SECURITY_TOKEN,
            CONSUMER_SECRET,
            SLACK_TOKEN,
            SLACK_APP_TOKEN,
            WRONG_PASSWORD,
            WRONG_APP_TOKEN,
            *self.salesforce.tokens,
            *self.issued,
        }


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    now = datetime.now(UTC).replace(microsecond=0)
    with (
        FakeHubSpot(now=now) as hubspot,
        FakeSalesforce(start=now) as salesforce,
        FakeSlack(users={"ana@acme.example": "U0ANA"}) as slack,
    ):
        hubspot.seed_records("contacts", 300)
        hubspot.seed_records("deals", 40)
        salesforce.add_leads(200, MQL_Date__c=now - timedelta(hours=3))
        yield Fakes(hubspot, salesforce, slack)


LIBRARIES = ("urllib3", "alembic", "hubspot", "simple_salesforce", "slack_sdk")


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Where the CLI's log handler writes, for this test. Library loggers
    start unset, as in a fresh process (an earlier ``configure`` at INFO
    quietens them); everything is put back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved = {name: logging.getLogger(name).level for name in LIBRARIES}
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def start_logging(app_config: LoadedConfig, buffer: io.StringIO) -> None:
    """What the CLI does once the config is loaded, at DEBUG."""
    configure(level="DEBUG", secrets=secrets_in(app_config.config))
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)


def load(fakes: Fakes, db: Path, **env: str) -> LoadedConfig:
    path = db.with_suffix(".yaml")
    path.write_text(fakes.config_text(db))
    return LoadedConfig(loader.parse(path.read_text(), str(path), fakes.env(**env)), str(path))


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    return sorted(s for s in secrets if s in text)


def formatted(exc: BaseException) -> str:
    """The message and the whole traceback, chained causes included."""
    return str(exc) + "\n" + "".join(traceback.format_exception(exc))


def database_text(db: Path) -> str:
    """Every value of every row of every table, as text, plus the raw bytes
    of the database and its WAL (latin-1, so any byte sequence survives)."""
    engine = create_engine(f"sqlite:///{db}")
    metadata = MetaData()
    metadata.reflect(engine)
    parts: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(
                    json.dumps(v, default=str) if isinstance(v, dict | list) else str(v)
                    for v in row
                )
    engine.dispose()
    for path in db.parent.glob(db.name + "*"):
        parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


@pytest.mark.slow
def test_a_full_cycle_leaves_no_secret_anywhere(
    fakes: Fakes, log_output: io.StringIO, tmp_path: Path
) -> None:
    db = tmp_path / "alignmon.db"
    loaded = load(fakes, db)
    assert {
        fakes.hubspot.token,
        PASSWORD,
        SECURITY_TOKEN,
        CONSUMER_SECRET,
        SLACK_TOKEN,
        SLACK_APP_TOKEN,
    } <= set(secrets_in(loaded.config))
    start_logging(loaded, log_output)
    errors: list[BaseException] = []
    app = App(loaded)
    try:
        results = app.sync()
        assert [r.ok for r in results] == [True, True], [str(r.error) for r in results]
        evaluation = app.evaluate()
        assert evaluation.findings
        app.record(evaluation)
        delivered = app.deliver()
        assert delivered.sent >= 1
        assert fakes.slack.calls_to("chat.postMessage")

        # The service's metrics after one more cycle of each source.
        service = Service(app)
        for name in ("hs", "sf"):
            service.sync(name)
        server = HealthServer("127.0.0.1:0", service.metrics, service.readiness)
        server.start()
        try:
            url = f"http://127.0.0.1:{server.port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                metrics = response.read().decode()
        finally:
            server.stop()
        assert "alignmon_sync_records" in metrics

        # Credentials revoked or refused: now they could end up in errors.
        fakes.issued |= set(fakes.salesforce.tokens)
        fakes.hubspot.revoke_token()
        fakes.slack.error_next("invalid_auth", count=5)
        failed = app.sync("hs")[0]
        assert failed.error is not None
        errors.append(failed.error)
        app.record(app.evaluate())
        app.deliver()
        for check in (app.connector("hs").check, app.notifier().check):
            assert any(r.status == "fail" for r in check())
    finally:
        app.close()

    wrong = App(load(fakes, tmp_path / "wrong.db", SF_PASSWORD=WRONG_PASSWORD))
    try:
        refused = wrong.sync("sf")[0]
        assert refused.error is not None
        errors.append(refused.error)
        checked = wrong.connector("sf").check()
        assert checked[0].status == "fail"
    finally:
        wrong.close()

    # A line that does carry every secret, from a library's logger: the
    # capture must show it redacted, or the checks below would prove nothing.
    configured = secrets_in(loaded.config)
    logging.getLogger("slack_sdk.web.base_client").debug("probe %s", " ".join(configured))
    logs = log_output.getvalue()
    assert "probe <secret>" in logs
    # The capture saw the whole cycle, Slack's client at DEBUG included.
    assert "synced hs" in logs and "DEBUG   slack_sdk" in logs
    secrets = fakes.secrets() | set(fakes.salesforce.tokens)
    assert leaks(logs, secrets) == []
    for error in errors:
        assert leaks(formatted(error), secrets) == []
    for result in checked:
        assert leaks(f"{result.name} {result.detail}", secrets) == []
    assert leaks(metrics, secrets) == []
    stored = database_text(db)
    # The dump holds CRM rows and the errors recorded after the revocations.
    assert "Lead 1" in stored and "HubSpot rejected the token" in stored
    assert "invalid_auth" in stored
    for path in (db, tmp_path / "wrong.db"):
        assert leaks(database_text(path), secrets) == []
        for file in path.parent.glob(path.name + "*"):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


def alignmon_check(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "ALIGNMON_CONFIG"}
    full.update(env)
    return subprocess.run(
        [ALIGNMON, "--config", str(config), "--log-level", "DEBUG", "check"],
        cwd=config.parent,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_output_never_shows_a_secret(fakes: Fakes, tmp_path: Path) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(fakes.config_text(tmp_path / "alignmon.db"))
    healthy = alignmon_check(config, fakes.env())
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "config" in healthy.stdout and "hs" in healthy.stdout and "sf" in healthy.stdout
    fakes.hubspot.revoke_token()
    assert "✓ slack: slack app token" in healthy.stdout
    refused = alignmon_check(
        config, fakes.env(SF_PASSWORD=WRONG_PASSWORD, SLACK_APP_TOKEN=WRONG_APP_TOKEN)
    )
    assert refused.returncode == 3
    assert "hs" in refused.stdout and "✗" in refused.stdout
    assert "✗ slack: slack app token — the app-level token is refused" in refused.stdout
    secrets = fakes.secrets() | set(fakes.salesforce.tokens)
    for result in (healthy, refused):
        assert leaks(result.stdout + result.stderr, secrets) == []
        assert "DEBUG" in result.stderr  # the debug log went through the redaction


def test_socket_mode_leaves_the_app_token_nowhere(
    fakes: Fakes, log_output: io.StringIO, tmp_path: Path
) -> None:
    """The app-level token goes to Slack only as the bearer of
    apps.connections.open: a connection, a button press, a slash command
    and a Home tab at DEBUG, then a refused token, leave it out of the
    logs, the errors, the metrics and the database."""
    db = tmp_path / "alignmon.db"
    loaded = load(fakes, db)
    assert SLACK_APP_TOKEN in secrets_in(loaded.config)
    start_logging(loaded, log_output)
    slack = fakes.slack
    app = App(loaded)
    metrics = Metrics()
    socket = SlackSocket(app, metrics, ping_interval=0.2, home=lambda app, user: [])
    socket.start()
    try:
        slack.socket.wait_connected()
        press = block_actions(
            ACKNOWLEDGE,
            "no-such-alert",
            user="U0ANA",
            channel="C0ALIGN1",
            ts="1700000000.000001",
            blocks=[],
            action_ts="1700000100.000001",
        )
        command = slash_command("help", user="U0ANA", response_url=slack.response_url(1))
        for kind, payload in [
            ("interactive", press),
            ("slash_commands", command),
            ("events_api", app_home_opened("U0ANA")),
        ]:
            slack.socket.wait_acked(slack.socket.send(kind, payload))
        slack.revoke_token()
        slack.socket.drop()  # the reconnect asks for a new URL with the refused token
        deadline = time.monotonic() + 10
        while len(slack.calls_to("apps.connections.open")) < 2:
            assert time.monotonic() < deadline, "no reconnect was tried"
            time.sleep(0.05)
        checked = app.notifier().check()
    finally:
        socket.stop()
        app.close()
    metrics_text = generate_latest(metrics.registry).decode()
    assert "alignmon_slack_socket" in metrics_text
    # A line that carries the token: the capture must show it redacted.
    logging.getLogger("monitor.service.slack_socket.client").debug("probe %s", SLACK_APP_TOKEN)
    logs = log_output.getvalue()
    assert "probe <secret>" in logs
    assert "DEBUG   monitor.service.slack_socket.client" in logs
    assert "apps.connections.open" in logs and "token_revoked" in logs
    assert leaks(logs, fakes.secrets()) == []
    assert any(r.name == "slack app token" and r.status == "fail" for r in checked)
    assert leaks(" ".join(f"{r.name} {r.detail}" for r in checked), fakes.secrets()) == []
    assert leaks(metrics_text, fakes.secrets()) == []
    assert leaks(database_text(db), fakes.secrets()) == []


# -- secrets as files hand them over, and in every printed form ----------------


def test_a_token_with_a_trailing_newline_syncs_and_is_stripped(
    fakes: Fakes, tmp_path: Path
) -> None:
    """A secret read from a file or a Kubernetes secret ends in a newline:
    it is stripped at load, so HubSpot calls carry a valid header."""
    db = tmp_path / "alignmon.db"
    loaded = load(
        fakes,
        db,
        HUBSPOT_TOKEN=fakes.hubspot.token + "\n",
        SLACK_BOT_TOKEN=" \t" + SLACK_TOKEN + "\r\n",
    )
    app = App(loaded)
    try:
        result = app.sync("hs")[0]
        assert result.ok, str(result.error)
        assert result.by_type.get("contacts") == 300
    finally:
        app.close()
    assert fakes.hubspot.token in secrets_in(loaded.config)
    assert SLACK_TOKEN in secrets_in(loaded.config)


@pytest.mark.parametrize(
    "variable,value",
    [
        ("HUBSPOT_TOKEN", "pat-na1-leak\x07ed-0000"),
        ("HUBSPOT_TOKEN", "pat-na1-leak\ned-0000\n"),
        ("SF_PASSWORD", "hunter\x1bword-leaked"),
        ("SLACK_BOT_TOKEN", "xoxb-leak\u200bed-0000"),
    ],
)
def test_a_secret_with_a_control_character_is_a_config_error_that_hides_it(
    fakes: Fakes, tmp_path: Path, variable: str, value: str
) -> None:
    config = tmp_path / "alignmon.yaml"
    config.write_text(fakes.config_text(tmp_path / "alignmon.db"))
    result = alignmon_check(config, fakes.env(**{variable: value}))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "control character" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    shown = result.stdout + result.stderr
    for part in value.replace("\x07", "\n").replace("\x1b", "\n").replace("\u200b", "\n").split():
        assert part not in shown
    assert not (tmp_path / "alignmon.db").exists()


def encoded_forms(secret: str) -> dict[str, str]:
    """How a secret reaches text other than as itself."""
    import base64
    import urllib.parse

    raw = secret.encode()
    return {
        "repr": repr(secret),
        "repr-in-bytes": repr(raw),
        "json": json.dumps({"token": secret}),
        "url": "https://x.example/?token=" + urllib.parse.quote(secret, safe=""),
        "form": "token=" + urllib.parse.quote_plus(secret),
        "base64": base64.b64encode(raw).decode(),
        "basic-0": base64.b64encode(b"user:" + raw).decode(),
        "basic-1": base64.b64encode(b"users:" + raw).decode(),
        "basic-2": base64.b64encode(b"userss:" + raw + b"!").decode(),
        "urlsafe": base64.urlsafe_b64encode(b"ab" + raw).decode(),
    }


SECRETS = [
    "pat-na1-0123abcd-4567-89ef",
    "hostile/pass+word=1?&",
    "xoxb-1234-5678-ABCDEFGHijkl",
    "xapp-1-A0123ABCD-4567890123-abcdef0123456789",
    "quo\"te\\back'slash",
    "ünïcode-sécret-ß",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_redaction_catches_repr_url_encoded_and_base64_forms(
    log_output: io.StringIO, secret: str
) -> None:
    configure(level="DEBUG", secrets=[secret])
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(log_output)
    forms = encoded_forms(secret)
    log = logging.getLogger("urllib3.connectionpool")
    for name, text in forms.items():
        log.debug("%s: header=%s", name, text)
    try:
        raise ValueError(f"Invalid header value {(b'Bearer ' + secret.encode())!r}")
    except ValueError:
        log.exception("request failed")
    output = log_output.getvalue()
    assert output.count("<secret>") >= len(forms) + 1
    hidden = {secret, repr(secret)[1:-1], *[t[-len(secret) :] for t in ()]}
    for name, text in forms.items():
        # the part of each form that encodes the secret is gone
        assert text not in output, name
    for form in hidden:
        assert form not in output
    assert "bytes" not in output or secret.encode().hex() not in output
