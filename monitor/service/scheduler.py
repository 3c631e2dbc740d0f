"""``alignmon run``: the service loop.

APScheduler fires, the jobs do the work, the database decides who:

- ``sync:<source>`` at the source's ``every``: pull, then evaluate;
- ``evaluate`` every ``service.sla_check_every`` (a minute): deadlines are
  known in advance, so an SLA breach is seen within a minute of its deadline
  even between CRM syncs;
- ``deliver`` every ``service.deliver_every``: drain the outbox;
- ``summary`` daily at ``slack.summary_at`` in the configured time zone.

With ``slack.app_token`` the service also holds a Slack Socket Mode
connection for the buttons on alert messages (monitor/service/slack_socket.py).

Each sync, evaluation and summary occurrence first takes a lease in the
database (monitor/store/leases.py), so with N replicas on one PostgreSQL
exactly one runs it; the outbox is drained with ``SKIP LOCKED`` and needs no
lease. A replica that dies stops renewing, and another takes over when the
lease expires. With SQLite only one service may use a database file: a
second one refuses to start.

Jobs are built from the config at start (no pickled job store), coalesced
and single-instance, so a paused machine catches up once, not N times. A
failing source or Slack never stops the loop. SIGTERM or SIGINT stops new
work, lets the job in flight end at its next batch, hands back the leases
and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from monitor.errors import AlignmonError, StoreError
from monitor.interfaces import Severity
from monitor.service.app import App
from monitor.service.http import HealthServer
from monitor.service.metrics import Metrics
from monitor.service.single import single_instance
from monitor.service.slack_socket import Commands, Home, SlackSocket
from monitor.service.sync_progress import LOG_EVERY, SyncWatch
from monitor.sync import error_code

log = logging.getLogger(__name__)

MIN_LEASE = timedelta(seconds=1)


class Service:
    def __init__(
        self,
        app: App,
        *,
        progress_every: float = LOG_EVERY,
        commands: Commands | None = None,
        home: Home | None = None,
    ) -> None:
        self.app = app
        #: Answer the Slack slash command and draw the App Home tab (with
        #: slack.app_token).
        self.commands = commands
        self.home = home
        self.socket: SlackSocket | None = None
        #: Seconds between the progress lines of a running sync.
        self.progress_every = progress_every
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.metrics = Metrics()
        self._sync_codes: dict[str, str] = {}
        self.stopping = threading.Event()
        self.evaluated = threading.Event()
        self.last_tick = time.monotonic()
        self._last_slot: dict[str, int] = {}  # per job, the last slot this process ran

    # -- leases ---------------------------------------------------------------

    def leased(self, name: str, span: timedelta) -> bool:
        now = self.app.clock()
        return self.app.store.acquire_lease(name, self.holder, now, now + max(span, MIN_LEASE))

    def occurrence(self, job: str, every: timedelta) -> bool:
        """Claim this occurrence of ``job``: the interval slot the firing
        falls in. Replicas firing in the same slot find it taken."""
        seconds = max(1, int(every.total_seconds()))
        slot = int(self.app.clock().timestamp()) // seconds
        # The lease stops other replicas; this process's own lease would let
        # it in again (a renewal), so a firing that lands early or late in a
        # slot this process already ran is skipped here.
        if slot <= self._last_slot.get(job, -1):
            return False
        if not self.leased(f"{job}@{slot}", 2 * every):
            return False
        self._last_slot[job] = slot
        log.info("%s: running %s (slot %d)", self.holder, job, slot)
        return True

    # -- jobs -----------------------------------------------------------------

    def sync(self, source: str) -> None:
        every = self.app.config.sources[source].every
        running, hold = f"sync:{source}", self.app.config.service.lease
        if not self.occurrence(f"sync:{source}", every) or not self.leased(running, hold):
            self._judge_unrecorded()  # another replica has this occurrence, or is still syncing
            return

        def stop() -> bool:
            # Between batches: stop at shutdown, or if the running lease was
            # lost (this replica stalled past it and another took over).
            return self.stopping.is_set() or not self.leased(running, hold)

        started = time.monotonic()
        connector = self.app.connector(source)
        watch = SyncWatch(source, connector.object_types, self.metrics, every=self.progress_every)
        try:
            results = self.app.sync(source, stop=stop, progress=lambda _source: watch)
        except Exception:
            self.metrics.sync_failures.labels(source).inc()
            self._sync_error(source)
            raise
        finally:
            watch.done()
            self.app.store.release_lease(running, self.holder)
        usage = connector.usage()
        self.metrics.api_calls.labels(source).set(usage.calls)
        if usage.quota_used is not None:
            self.metrics.quota_used.labels(source).set(usage.quota_used)
        for result in results:
            self.metrics.sync_seconds.labels(source).observe(time.monotonic() - started)
            self.metrics.sync_records.labels(source).inc(result.records)
            if result.ok:
                self.metrics.last_sync.labels(source).set(time.time())
            elif result.error is not None:
                self.metrics.sync_failures.labels(source).inc()
        self._sync_error(source)
        if not self.stopping.is_set():
            self._evaluate()

    def _sync_error(self, source: str) -> None:
        """``alignmon_sync_last_error``: one series per source, for the
        stored reason of its last failed sync (none once it succeeds)."""
        try:
            status = self.app.store.source_statuses().get(source)
        except AlignmonError:
            return
        code = error_code(status.last_error if status else None)
        shown = self._sync_codes.get(source, "")
        if shown and shown != code:
            self.metrics.sync_error.remove(source, shown)
        if code:
            self.metrics.sync_error.labels(source, code).set(1)
        self._sync_codes[source] = code

    def evaluate(self) -> None:
        if self.occurrence("evaluate", self.app.config.service.sla_check_every):
            self._evaluate()
        else:
            self._judge_unrecorded()

    def _judge_unrecorded(self) -> None:
        """Until this process has evaluated, a job another replica holds is
        judged here too, without recording it: with replicas one of them may
        win every occurrence, and the others must still become ready, having
        shown they can read the data and judge it should they take over."""
        if not self.evaluated.is_set():
            self.app.evaluate()
            self.evaluated.set()

    def _evaluate(self) -> None:
        started = time.monotonic()
        evaluation = self.app.evaluate()
        self.app.record(evaluation)
        self.metrics.evaluate_seconds.observe(time.monotonic() - started)
        self.metrics.last_evaluation.set(time.time())
        self.metrics.observe_pace(evaluation.goals)
        for rule, result in evaluation.sla:
            if result.overall.met_rate is not None:
                self.metrics.sla_compliance.labels(rule.name).set(result.overall.met_rate)
        self.evaluated.set()
        if self.socket is not None:
            self.socket.refresh_homes()
        self.deliver()

    def deliver(self) -> None:
        self.app.deliver()
        stats = self.app.queue_stats()
        self.metrics.outbox_depth.set(stats.depth)
        self.metrics.outbox_dead.set(stats.dead)
        self.metrics.delivery_paused.labels("slack-auth").set(1 if stats.problem else 0)
        for severity in (Severity.WARNING, Severity.CRITICAL):
            self.metrics.alerts_firing.labels(str(severity)).set(stats.firing.get(severity, 0))
        self.last_tick = time.monotonic()

    def summary(self) -> None:
        day = self.app.clock().astimezone(self.app.config.zone).date()
        if self.leased(f"summary@{day.isoformat()}", timedelta(days=2)):
            self.app.post_summary()

    def readiness(self) -> str | None:
        """Ready: an evaluation has succeeded since start, the database
        answers and the loop still turns. Liveness (``/healthz``) asks only
        that the process answers: a database outage makes a replica unready,
        and restarting it would not help."""
        if not self.evaluated.is_set():
            return "no evaluation has completed yet (the first sync may still be running)"
        try:
            self.app.store.ping()
        except StoreError as exc:
            return str(exc)
        limit = max(30.0, 6 * self.app.config.service.deliver_every.total_seconds())
        idle = time.monotonic() - self.last_tick
        return None if idle <= limit else f"no cycle completed for {idle:.0f}s"

    # -- the loop -------------------------------------------------------------

    def run(self) -> None:
        with single_instance(self.app.store):
            if self.app.store.dialect == "sqlite":
                # The file lock says no other service is alive: leases left
                # by a killed one would only delay this one until they expire.
                self.app.store.clear_leases()
            socket_mode = (
                SlackSocket(self.app, self.metrics, commands=self.commands, home=self.home)
                if self.app.config.slack.app_token
                else None
            )

            def details() -> list[str]:
                return [f"slack socket: {socket_mode.state()}"] if socket_mode else []

            server = HealthServer(
                self.app.config.service.listen, self.metrics, self.readiness, details
            )
            scheduler = self._scheduler()
            server.start()
            if socket_mode is not None:
                socket_mode.start()
                self.socket = socket_mode

            def stop(signum: int, _frame: FrameType | None) -> None:
                log.info("signal %d: finishing the job in flight, then exiting", signum)
                self.stopping.set()
                if scheduler.running:
                    scheduler.shutdown(wait=True)  # jobs see `stopping` at their next batch

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            config = self.app.config
            log.info(
                "alignmon running as %s: %d source(s), %d goal(s), %d SLA rule(s); "
                "health on http://%s. Ctrl-C stops.",
                self.holder,
                len(config.sources),
                len(config.goals),
                len(config.sla),
                config.service.listen,
                extra={"holder": self.holder},
            )
            try:
                scheduler.start()
            finally:
                if socket_mode is not None:
                    socket_mode.stop()
                server.stop()
                self.app.store.release_leases(self.holder)
                log.info("stopped")

    def _scheduler(self) -> BlockingScheduler:
        config = self.app.config
        scheduler = BlockingScheduler(timezone=config.zone)
        now: datetime = self.app.clock()
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
        for name, settings in config.sources.items():
            scheduler.add_job(
                _guarded(f"sync:{name}", self.sync, name, source=name),
                "interval",
                seconds=settings.every.total_seconds(),
                id=f"sync:{name}",
                next_run_time=now,
                **common,
            )
        service = config.service
        scheduler.add_job(
            _guarded("evaluate", self.evaluate),
            "interval",
            seconds=service.sla_check_every.total_seconds(),
            id="evaluate",
            **common,
        )
        scheduler.add_job(
            _guarded("deliver", self.deliver),
            "interval",
            seconds=service.deliver_every.total_seconds(),
            id="deliver",
            **common,
        )
        summary_at = config.slack.summary_at
        scheduler.add_job(
            _guarded("summary", self.summary),
            "cron",
            hour=summary_at.hour,
            minute=summary_at.minute,
            id="summary",
            **{**common, "misfire_grace_time": 3600},
        )
        return scheduler


def run_service(app: App, commands: Commands | None = None, home: Home | None = None) -> None:
    Service(app, commands=commands, home=home).run()


def _guarded(
    name: str, job: Callable[..., object], *args: object, source: str | None = None
) -> Callable[[], None]:
    """A job that logs its failure instead of dying: the next occurrence
    tries again."""
    fields = {"job": name} if source is None else {"job": name, "source": source}

    def run() -> None:
        try:
            job(*args)
        except AlignmonError as exc:
            log.error("%s failed: %s", name, exc, extra=fields)
        except Exception:
            log.exception("%s failed unexpectedly", name, extra=fields)

    return run
