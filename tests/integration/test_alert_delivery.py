"""Findings → alert lifecycle → outbox → the real slack-sdk client → the
fake Slack server, on SQLite and PostgreSQL, with a controllable clock."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor import dispatch
from monitor.cli import alert_views
from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.findings import Finding, fingerprint
from monitor.interfaces import Severity
from monitor.service.app import App
from monitor.store.schema import outbox
from tests.fakes.slack import TOKEN, FakeSlack

PERIOD = "2026-10-01..2027-01-01"
T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def config_dict(database: str, slack: FakeSlack, **alerts: Any) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "database": database,
        "sources": {"crm": {"kind": "demo"}},
        "slack": {"token": TOKEN, "api_url": slack.api_url, "channel": "#revenue-alignment"},
        "alerts": alerts,
    }


def make_app(database: str, slack: FakeSlack, clock: Clock, **alerts: Any) -> App:
    config = Config.model_validate(config_dict(database, slack, **alerts))
    return App(LoadedConfig(config, "test.yaml"), clock=clock)


def pacing(stage: str, drift: float) -> Finding:
    severity = Severity.CRITICAL if drift <= -0.3 else Severity.WARNING
    return Finding(
        rule="pacing",
        subject="q-new-business",
        severity=severity,
        title=f"{stage} {-drift:.0%} behind pace",
        text="numbers",
        source="crm",
        period=PERIOD,
        stage=stage,
        metric=drift,
    )


def gap(subject: str, name: str = "Acme") -> Finding:
    return Finding(
        rule="commitment-gap",
        subject=subject,
        severity=Severity.WARNING,
        title=f"{subject}: commitment below plan",
        text="Marketing commits 150 MQLs, the plan needs 250.",
        source="crm",
        items=[(name, "https://crm.example.com/persons/1")],
    )


def record(app: App, findings: list[Finding], held: frozenset[str] = frozenset()) -> None:
    dispatch.record(app.store, app.config, findings, app.clock(), held=held)


def posts(slack: FakeSlack) -> list[dict[str, Any]]:
    """Messages Slack accepted (rejected calls leave no message), oldest first."""
    return [message for _, message in sorted(slack.messages.items(), key=lambda kv: kv[0][1])]


def test_lifecycle_grouping_repeat_and_resolution(database: str, slack: FakeSlack) -> None:
    clock = Clock(T0)
    app = make_app(database, slack, clock)
    findings = [pacing("mql", -0.40), pacing("sql", -0.20)]

    record(app, findings)
    assert app.deliver().sent == 0, "a pacing finding must hold `for` evaluations first"
    clock.advance(minutes=1)
    record(app, findings)
    assert app.deliver().sent == 1
    (first,) = posts(slack)
    assert "mql 40% behind pace" in first["text"] and "sql 20% behind pace" in first["text"]

    clock.advance(minutes=1)
    record(app, findings)
    assert app.deliver().sent == 0, "nothing changed: nothing said"

    # Repeats go out with the daily summary (09:00 on working days), once a
    # day has passed since the last message: not Tuesday, 18 hours on.
    clock.now = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    record(app, findings)
    assert app.deliver().sent == 0
    clock.now = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    record(app, [pacing("mql", -0.45), pacing("sql", -0.20)])
    assert app.deliver().sent == 1
    repeat = posts(slack)[-1]["text"]
    assert "Still open" in repeat and "Now 45% behind, was 40% on Mon 15:01" in repeat
    assert "No change since Mon 15:01" in repeat  # sql

    # mql recovers to -12%: inside the hysteresis margin (warning 15%, margin 5%): still firing
    clock.advance(minutes=1)
    held = frozenset({fingerprint("pacing", "q-new-business", "mql", PERIOD)})
    record(app, [pacing("sql", -0.20)], held=held)
    assert app.deliver().sent == 0

    # both clear past the margin: one thread reply and one update of the original
    clock.advance(minutes=1)
    record(app, [])
    assert app.deliver().sent == 2
    reply = posts(slack)[-1]
    assert reply.get("thread_ts") and "Resolved" in reply["text"]
    (update,) = [c.params for c in slack.calls_to("chat.update")]
    assert update["ts"] == reply["thread_ts"]
    assert "Resolved" in update["text"]

    clock.advance(minutes=1)
    record(app, [])
    assert app.deliver().sent == 0
    app.close()


def quarter_pacing(period: str, end: datetime, actual: int, target: int) -> Finding:
    drift = actual / (target * 0.9) - 1
    return Finding(
        rule="pacing",
        subject="q-new-business",
        severity=Severity.CRITICAL if drift <= -0.3 else Severity.WARNING,
        title=f"MQLs {-drift:.0%} behind pace",
        text="numbers",
        source="crm",
        period=period,
        period_end=end,
        stage="mql",
        metric=drift,
        data={"actual": actual, "target": target, "elapsed": 0.9},
    )


def test_a_period_that_ended_short_is_closed_as_ended_and_the_next_is_a_new_alert(
    database: str, slack: FakeSlack
) -> None:
    q4_end, q1 = datetime(2027, 1, 1, tzinfo=UTC), "2027-01-01..2027-04-01"
    clock = Clock(datetime(2026, 12, 31, 22, 0, tzinfo=UTC))
    app = make_app(database, slack, clock)
    for _ in range(2):
        record(app, [quarter_pacing(PERIOD, q4_end, 54, 76)])
        clock.advance(minutes=1)
    assert app.deliver().sent == 1

    clock.now = q4_end  # the first evaluation of Q1: Q4's finding is gone
    record(app, [])
    assert app.deliver().sent == 2
    reply = posts(slack)[-1]
    assert reply["text"].startswith("Period ended: 1 alert")
    assert "Period ended: MQLs 21% behind pace — Ended at 54 of 76 (71.1%)." in reply["text"]
    assert "Resolved" not in reply["text"]
    (update,) = [c.params["text"] for c in slack.calls_to("chat.update")]
    assert "⏹ Period ended — MQLs" in update and "Resolved" not in update

    clock.now = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)  # Q1 behind too, by the same rule
    for _ in range(2):
        record(app, [quarter_pacing(q1, datetime(2027, 4, 1, tzinfo=UTC), 10, 30)])
        clock.advance(minutes=1)
    assert app.deliver().sent == 1
    introduced = posts(slack)[-1]
    assert introduced.get("thread_ts") is None, "a new alert, in a post of its own"
    assert "New period: MQLs" in introduced["text"]
    assert "1 Oct – 31 Dec 2026 ended at 54 of 76 (71.1%)" in introduced["text"]
    app.close()


def test_demo_behind_pace_gives_exactly_one_grouped_message(
    tmp_path: Path, slack: FakeSlack
) -> None:
    clock = Clock(datetime.now(UTC))
    config = Config.model_validate(
        {
            **config_dict(f"sqlite:///{tmp_path / 'demo.db'}", slack),
            "goals": [
                {
                    "name": "q-new-business",
                    "source": "crm",
                    "revenue": 2100000,
                    "average_deal_size": 25000,
                    "rates": {"sql_to_won": 0.22, "mql_to_sql": 0.37, "lead_to_mql": 0.27},
                }
            ],
        }
    )
    app = App(LoadedConfig(config, "demo-test.yaml"), clock=clock)
    assert all(r.ok for r in app.sync())
    for _ in range(2):
        app.record(app.evaluate())
        clock.advance(minutes=1)
    app.deliver()
    watching, message = posts(slack)  # the first sync is complete: said once
    assert "Now watching crm" in watching["text"] and "q-new-business" in watching["text"]
    assert "MQLs" in message["text"] and "behind pace" in message["text"]
    clock.advance(minutes=1)
    app.record(app.evaluate())
    assert app.deliver().sent == 0
    assert len(posts(slack)) == 2
    app.close()


def test_429_three_times_then_delivered_once_after_the_advertised_wait(
    tmp_path: Path, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", slack, clock)
    slack.fail_next(429, retry_after=2, count=3, method="chat.postMessage")
    record(app, [gap("q1")])
    for step in range(3):
        assert app.deliver().retried == 1, f"attempt {step + 1} should be rate limited"
        clock.advance(seconds=1)
        assert app.deliver().sent == 0, "retried before the advertised wait"
        clock.advance(seconds=1)
    assert app.deliver().sent == 1
    assert len(posts(slack)) == 1
    with app.store.begin() as conn:
        row = conn.execute(select(outbox)).mappings().one()
    assert row["attempts"] == 4
    assert row["delivered_at"] - row["created_at"] == timedelta(seconds=6)
    app.close()


def test_slack_down_for_an_hour_then_delivered_once(tmp_path: Path, slack: FakeSlack) -> None:
    clock = Clock(T0)
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", slack, clock)
    record(app, [gap("q1")])
    slack.down()
    attempts = 0
    for _ in range(60):
        attempts += app.deliver().retried
        clock.advance(minutes=1)
    assert attempts >= 5
    slack.up()
    clock.advance(minutes=5)
    assert app.deliver().sent == 1
    assert app.deliver().sent == 0
    assert len(posts(slack)) == 1
    app.close()


def test_killed_after_outbox_write_delivers_once_after_restart(
    tmp_path: Path, slack: FakeSlack
) -> None:
    database = f"sqlite:///{tmp_path / 'killed.db'}"
    script = textwrap.dedent(
        f"""
        import os, signal
        from datetime import datetime, timezone
        from monitor import dispatch
        from monitor.service.app import App
        from monitor.config.loader import LoadedConfig
        from monitor.config.file import Config
        from tests.integration.test_alert_delivery import config_dict, gap, FakeSlack

        class Fake:
            api_url = {slack.api_url!r}

        app = App(LoadedConfig(Config.model_validate(config_dict({database!r}, Fake)), "x"))
        dispatch.record(app.store, app.config, [gap("q1")], datetime.now(timezone.utc))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert posts(slack) == []
    app = make_app(database, slack, Clock(datetime.now(UTC) + timedelta(seconds=1)))
    assert app.deliver().sent == 1
    assert app.deliver().sent == 0
    assert len(posts(slack)) == 1
    app.close()


def test_crm_text_is_escaped_and_pings_nobody(tmp_path: Path, slack: FakeSlack) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", slack, Clock(T0))
    record(app, [gap("q1", name="<!channel> & <@U123>")])
    assert app.deliver().sent == 1
    (message,) = posts(slack)
    rendered = str(message["blocks"]) + message["text"]
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in rendered
    assert "<!channel>" not in rendered and "<@U123>" not in rendered
    app.close()


def test_four_hundred_findings_fit_slack_limits(tmp_path: Path, slack: FakeSlack) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", slack, Clock(T0))
    record(app, [gap(f"goal-{i:03d}") for i in range(400)])
    delivered = app.deliver()
    assert (delivered.sent, delivered.dead) == (1, 0)
    (message,) = posts(slack)
    assert len(message["blocks"]) <= 50
    assert "more" in message["text"]
    app.close()


def test_silence_holds_until_it_expires(tmp_path: Path, slack: FakeSlack) -> None:
    clock = Clock(T0)
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", slack, clock)
    app.silence("commitment-gap/*", timedelta(hours=1), "planning week")
    record(app, [gap("q1")])
    assert app.deliver().sent == 0
    clock.advance(minutes=30)
    record(app, [gap("q1")])
    assert app.deliver().sent == 0
    clock.advance(minutes=31)
    record(app, [gap("q1")])
    assert app.deliver().sent == 1
    assert "commitment below plan" in posts(slack)[0]["text"]
    app.close()


def test_an_expired_silence_lets_its_alerts_be_told(database: str, slack: FakeSlack) -> None:
    """Lifted early, a silence stops holding back at once: the alert that
    fired under it is announced at the next evaluation, not in three days."""
    clock = Clock(T0)
    app = make_app(database, slack, clock)
    added = app.silence("commitment-gap/*", timedelta(days=3), "planning week", "ana")
    record(app, [gap("q1")])
    assert app.deliver().sent == 0
    clock.advance(minutes=10)
    expired = app.expire_silence(added.silence.id)
    assert expired is not None and expired.lifted
    (listed,) = app.list_silences()
    assert (listed.expires_at, listed.created_by) == (clock.now, "ana")
    clock.advance(minutes=1)
    record(app, [gap("q1")])
    assert app.deliver().sent == 1
    assert "commitment below plan" in posts(slack)[0]["text"]
    again = app.expire_silence(added.silence.id)
    assert again is not None and not again.lifted
    assert app.expire_silence(added.silence.id + 1) is None
    app.close()


def test_a_new_silence_is_checked_against_open_and_recent_alerts(
    database: str, slack: FakeSlack
) -> None:
    """It reports the alerts it matches, open or closed in the last week;
    one matching nothing is still made. Silences ended over a week ago are
    no longer listed."""
    clock = Clock(T0)
    app = make_app(database, slack, clock)
    old = app.silence("nothing/*", timedelta(hours=1), "long ago")
    record(app, [gap("q1"), gap("q2")])
    clock.advance(hours=1)
    record(app, [gap("q2")])  # q1 closes
    clock.advance(days=7)
    record(app, [gap("q2"), gap("q3")])
    clock.advance(minutes=1)
    record(app, [gap("q2")])  # q3 closes; q1 closed 7 days and a minute ago
    everything = app.silence("commitment-gap/*", timedelta(hours=1), "all")
    assert [a.subject for a in everything.matched] == ["q2", "q3"]
    assert everything.checked == 2
    closed = app.silence("commitment-gap/q3", timedelta(hours=1), "closed one")
    assert [a.state for a in closed.matched] == ["resolved"]
    too_old = app.silence("commitment-gap/q1", timedelta(hours=1), "closed long ago")
    assert (too_old.matched, too_old.checked) == ([], 2)
    listed = [s.id for s in app.list_silences()]
    assert old.silence.id not in listed
    assert too_old.silence.id in listed
    app.close()


def test_quiet_hours_defer_and_never_drop(tmp_path: Path, slack: FakeSlack) -> None:
    clock = Clock(datetime(2026, 11, 16, 20, 0, tzinfo=UTC))
    app = make_app(
        f"sqlite:///{tmp_path / 'a.db'}",
        slack,
        clock,
        quiet_hours={"start": "18:00", "end": "08:00"},
    )
    record(app, [gap("q1")])
    assert app.deliver().sent == 0
    clock.now = datetime(2026, 11, 17, 7, 59, tzinfo=UTC)
    assert app.deliver().sent == 0
    clock.now = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
    assert app.deliver().sent == 1
    app.close()


def test_rejected_message_is_dead_and_listed(tmp_path: Path, slack: FakeSlack) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", slack, Clock(T0))
    slack.error_next("channel_not_found", method="chat.postMessage")
    record(app, [gap("q1")])
    assert app.deliver().dead == 1
    (row,) = alert_views.alerts_json(app.alert_listing(), app.config.zone)["outbox"]
    assert row["state"] == "dead"
    assert "channel" in row["last_error"]
    app.close()


def test_failing_source_raises_one_stale_alert(tmp_path: Path, slack: FakeSlack) -> None:
    settings = config_dict(f"sqlite:///{tmp_path / 'stale.db'}", slack)
    settings["sources"] = {
        "hs": {"kind": "hubspot", "token": "pat-x", "api_url": "http://127.0.0.1:9", "retries": 0}
    }
    app = App(LoadedConfig(Config.model_validate(settings), "stale.yaml"), clock=Clock(T0))
    (result,) = app.sync()
    assert not result.ok
    evaluation = app.evaluate()
    assert [f.rule for f in evaluation.findings] == ["source-stale"]
    app.record(evaluation)
    assert app.deliver().sent == 1
    (message,) = posts(slack)
    assert "Source hs is stale" in message["text"]
    app.record(app.evaluate())
    assert app.deliver().sent == 0, "said once"
    app.close()


def test_summary_is_posted_with_its_chart(tmp_path: Path, slack: FakeSlack) -> None:
    settings = config_dict(f"sqlite:///{tmp_path / 'summary.db'}", slack)
    settings["goals"] = [{"name": "q", "source": "crm", "closes": 40}]
    app = App(
        LoadedConfig(Config.model_validate(settings), "summary.yaml"),
        clock=Clock(datetime.now(UTC)),
    )
    assert all(r.ok for r in app.sync())
    delivered = app.post_summary()
    assert delivered.sent == 1
    (message,) = posts(slack)
    assert "Revenue alignment summary" in message["text"]
    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    (uploaded,) = slack.files.values()
    assert uploaded["data"][:8] == b"\x89PNG\r\n\x1a\n"
    assert uploaded["filename"].endswith(".png")
    app.close()
