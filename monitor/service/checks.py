"""``alignmon check``: every check at once, each within its own time limit.

The database, each source and Slack are checked side by side, and every
result is reported, failures of one not hiding the others. Each check gets
the timeout its config gives (``slack.timeout``, a source's ``timeout``) in
all, and makes each call once: a person is waiting, the first error is the
one to see, and with no network the answer must come within that timeout.
A socket timeout does not cover a name lookup that hangs on an unreachable
DNS server, so each check runs in its own daemon thread and is abandoned
when its time is up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from connectors.registry import connector_class
from connectors.registry import create as create_connector
from monitor.config.database import shown_database
from monitor.config.loader import LoadedConfig
from monitor.config.sources import SourceBase
from monitor.errors import AlignmonError
from monitor.interfaces import CheckResult, CheckStatus
from monitor.notifiers import create_notifier
from monitor.service.app import App

#: The limit for a check whose config sets no timeout (the database, the
#: demo source): SQLite's default busy timeout.
DEFAULT_SECONDS = 30.0
#: Time for a check to report its own timeout before it is abandoned.
GRACE_SECONDS = 0.5


@dataclass
class Check:
    """One thing to check: ``group`` heads its lines, ``where`` says what
    to look at when it does not answer within ``seconds``."""

    group: str
    run: Callable[[], list[CheckResult]]
    seconds: float
    where: str
    results: list[CheckResult] = field(default_factory=list, init=False)
    #: An unexpected exception, raised again in the thread that reports.
    error: BaseException | None = field(default=None, init=False)

    def work(self) -> None:
        try:
            self.results = self.run()
        except AlignmonError as exc:
            self.results = [CheckResult("reachable", CheckStatus.FAIL, str(exc))]
        except BaseException as exc:
            self.error = exc


def checks_for(loaded: LoadedConfig) -> list[Check]:
    """The database, each source, then Slack (or the console)."""
    config = loaded.config
    checks = [
        Check(
            "database",
            lambda: _database(loaded),
            DEFAULT_SECONDS,
            "is the database server up, and the `database` URL right?",
        )
    ]
    for name in config.sources:
        settings = config.source_settings(name)
        checks.append(
            Check(
                name,
                _source(name, settings),
                _seconds(getattr(settings, "timeout", None)),
                f"is the network up, and sources.{name}'s URLs right?",
            )
        )
    notifier = create_notifier(config.slack)  # imported here too, not on a check's thread
    checks.append(
        Check(
            "slack",
            lambda: notifier.check(config.channels),
            config.slack.timeout,
            "is the network up, and slack.api_url right?",
        )
    )
    return checks


def run_checks(checks: list[Check]) -> Iterator[tuple[Check, list[CheckResult]]]:
    """Run ``checks`` side by side; yield each with its results, in order,
    as soon as it and those before it are done or out of time."""
    started = time.monotonic()
    threads = []
    for check in checks:
        thread = threading.Thread(target=check.work, name=f"check {check.group}", daemon=True)
        thread.start()
        threads.append(thread)
    for check, thread in zip(checks, threads, strict=True):
        thread.join(max(0.0, started + check.seconds + GRACE_SECONDS - time.monotonic()))
        if thread.is_alive():
            yield (
                check,
                [
                    CheckResult(
                        "reachable",
                        CheckStatus.FAIL,
                        f"no answer within {check.seconds:g} s: {check.where}",
                    )
                ],
            )
            continue
        if check.error is not None:
            raise check.error
        yield check, check.results


def _database(loaded: LoadedConfig) -> list[CheckResult]:
    app = App(loaded)
    try:
        where = shown_database(loaded.config.database)
        return [
            CheckResult(where, CheckStatus.OK, f"reachable, schema current ({app.store.dialect})")
        ]
    finally:
        app.close()


def _source(name: str, settings: SourceBase) -> Callable[[], list[CheckResult]]:
    """The source's own check, on a connector that makes each call once.
    Its module is imported here, on the calling thread: checks run side by
    side, and two threads importing one vendor library at once deadlock."""
    if "retries" in type(settings).model_fields:
        settings = settings.model_copy(update={"retries": 0})
    connector_class(name, settings)

    def run() -> list[CheckResult]:
        connector = create_connector(name, settings)
        try:
            return connector.check()
        finally:
            connector.close()

    return run


def _seconds(timeout: timedelta | float | None) -> float:
    if timeout is None:
        return DEFAULT_SECONDS
    return timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
