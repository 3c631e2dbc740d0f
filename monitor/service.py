"""``alignmon run``: the service loop.

APScheduler fires, the jobs do the work:

- ``sync:<source>`` at the source's ``every``: pull, then evaluate, record
  alert states and deliver;
- ``evaluate`` every ``service.sla_check_every`` (a minute): deadlines are
  known in advance, so an SLA breach is seen within a minute of its deadline
  even between CRM syncs;
- ``deliver`` every ``service.deliver_every``: drain the outbox (retries wait
  for their ``not_before``);
- ``summary`` daily at ``slack.summary_at`` in the configured time zone.

Jobs are built from the config at start (no pickled job store), coalesced
and single-instance, so a machine that was paused catches up once, not N
times. A failing source or Slack never stops the loop: the failure is
recorded and the next occurrence tries again.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from rich.console import Console

from monitor import views
from monitor.app import App
from monitor.errors import AlignmonError

log = logging.getLogger(__name__)


def evaluate_and_notify(app: App) -> None:
    evaluation = app.evaluate()
    app.record(evaluation)
    app.deliver()


def sync_then_evaluate(
    app: App, source: str | None = None, stop: Callable[[], bool] = lambda: False
) -> None:
    for result in app.sync(source, stop=stop):
        if not result.ok and result.error is not None:
            log.warning("sync of %s failed: %s", result.source, result.error)
    if not stop():
        evaluate_and_notify(app)


def run_once(app: App, console: Console) -> None:
    """One full cycle: sync every source, evaluate, show the status, record
    alerts and deliver what is due."""
    for result in app.sync():
        if not result.ok:
            console.print(f"[red]sync of {result.source} failed:[/red] {result.error}")
    evaluation = app.evaluate()
    for report in evaluation.goals:
        console.print(views.status_table(report))
    for rule, compliance in evaluation.sla:
        console.print(views.sla_table(rule.name, compliance))
    views.print_findings(evaluation.findings, console)
    app.record(evaluation)
    app.deliver()


def run_service(app: App, console: Console) -> None:
    stopping = threading.Event()
    scheduler = BlockingScheduler(timezone=app.config.zone)
    now = app.clock()
    common = {"coalesce": True, "max_instances": 1}
    for name, settings in app.config.sources.items():
        every = settings.every.total_seconds()
        scheduler.add_job(
            _guarded(f"sync:{name}", sync_then_evaluate, app, name, stopping.is_set),
            "interval",
            seconds=every,
            id=f"sync:{name}",
            next_run_time=now,
            misfire_grace_time=int(every),
            **common,
        )
    service = app.config.service
    scheduler.add_job(
        _guarded("evaluate", evaluate_and_notify, app),
        "interval",
        seconds=service.sla_check_every.total_seconds(),
        id="evaluate",
        misfire_grace_time=60,
        **common,
    )
    scheduler.add_job(
        _guarded("deliver", app.deliver),
        "interval",
        seconds=service.deliver_every.total_seconds(),
        id="deliver",
        misfire_grace_time=60,
        **common,
    )
    summary_at = app.config.slack.summary_at
    scheduler.add_job(
        _guarded("summary", app.post_summary),
        "cron",
        hour=summary_at.hour,
        minute=summary_at.minute,
        id="summary",
        misfire_grace_time=3600,
        **common,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the job in flight, then exiting", signum)
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    console.print(
        f"alignmon running: {len(app.config.sources)} source(s), {len(app.config.goals)} goal(s), "
        f"{len(app.config.sla)} SLA rule(s). Ctrl-C stops."
    )
    scheduler.start()
    log.info("stopped")


def _guarded(name: str, job: Callable[..., object], *args: object) -> Callable[[], None]:
    """A job that logs its failure instead of dying: the next occurrence
    tries again."""

    def run() -> None:
        try:
            job(*args)
        except AlignmonError as exc:
            log.error("%s failed: %s", name, exc)
        except Exception:
            log.exception("%s failed unexpectedly", name)

    return run
