"""``alignmon run``: the service loop.

APScheduler fires; each source syncs on its own interval and the goals are
evaluated after every sync. Jobs are built from the config at start (no
pickled job store), coalesced so a paused machine catches up once, and a
failing source never stops the loop: its failure is recorded and the next
occurrence tries again.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from rich.console import Console

from monitor import views
from monitor.app import App
from monitor.errors import AlignmonError

log = logging.getLogger(__name__)


def cycle(app: App, console: Console, source: str | None = None) -> None:
    """Sync (one source, or all), then evaluate every goal and report."""
    for result in app.sync(source):
        if not result.ok:
            console.print(f"[red]sync of {result.source} failed:[/red] {result.error}")
    evaluation = app.evaluate()
    for report in evaluation.goals:
        console.print(views.status_table(report))
    views.print_findings(evaluation.findings, console)


def run_once(app: App, console: Console) -> None:
    cycle(app, console)


def run_service(app: App, console: Console) -> None:
    scheduler = BlockingScheduler(timezone=app.config.zone)
    for name, settings in app.config.sources.items():
        scheduler.add_job(
            _guarded,
            "interval",
            args=(app, console, name),
            seconds=settings.every.total_seconds(),
            id=f"sync:{name}",
            next_run_time=app.clock(),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(settings.every.total_seconds()),
        )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the job in flight, then exiting", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    console.print(f"alignmon running: {len(app.config.sources)} source(s), {len(app.config.goals)} goal(s). Ctrl-C stops.")
    scheduler.start()


def _guarded(app: App, console: Console, source: str) -> None:
    try:
        cycle(app, console, source)
    except AlignmonError as exc:
        log.error("cycle for %s failed: %s", source, exc)
