"""The application context every command shares: the validated config, the
store (migrated on open), the clock and the connectors, built once.

CLI commands and the scheduled service both call into this object; neither
builds a store or a connector by itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.registry import create as create_connector
from monitor import outbox
from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.errors import AlignmonError, ConfigError
from monitor.evaluate import Evaluation, evaluate
from monitor.findings import Alert
from monitor.interfaces import Clock, Connector, Notifier, Progress, Severity, utc_now
from monitor.notifiers import create_notifier
from monitor.short_ids import short_ids
from monitor.store import Store
from monitor.store.alerts import Silence
from monitor.store.outbox import OutboxRow
from monitor.store.slack_actions import SlackAction

# Replays, alert dispatch, silences and syncs are imported by the methods
# that run them: `status` and the other read-only commands load none.
if TYPE_CHECKING:
    from monitor import backtest, dispatch, silences
    from monitor.sync import SyncResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueStats:
    depth: int
    dead: int
    firing: dict[Severity, int]
    problem: str | None = None  # why delivery is paused ("slack-auth: …"), if it is


@dataclass(frozen=True)
class AlertListing:
    """Open alerts (most severe first), silences in force, and
    notifications queued or dead, at ``now``. ``ids``: each alert's short
    id (monitor/short_ids.py)."""

    alerts: list[Alert]
    silences: list[Silence]
    outbox: list[OutboxRow]
    ids: dict[str, str]
    now: datetime


class App:
    def __init__(
        self,
        loaded: LoadedConfig,
        clock: Clock = utc_now,
        *,
        read_only: bool = False,
        json_logs: bool = False,
    ) -> None:
        """``read_only``: for commands that must change nothing a running
        service relies on; the schema is checked, not migrated, and the day
        rollups must already be in the config's zone. ``json_logs``: every
        line on stderr is JSON, so the console notifier logs its messages."""
        self.loaded = loaded
        self.json_logs = json_logs
        self.config: Config = loaded.config
        self.clock = clock
        self.store = Store(self.config.database)
        if read_only:
            try:
                self.store.check_readable(self.config.zone)
            except AlignmonError:
                self.store.close()
                raise
        else:
            before, after = self.store.upgrade()
            if before != after:
                log.info("database schema upgraded from %s to %s", before or "empty", after)
            self.store.use_zone(self.config.zone)
        self._connectors: dict[str, Connector] = {}
        self._notifier: Notifier | None = None
        self._record_lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        self.holder = outbox.new_holder()
        #: Why delivery is paused (the channel refuses the credentials), or None.
        self.delivery_problem: str | None = None

    def connector(self, name: str) -> Connector:
        if name not in self.config.sources:
            valid = ", ".join(sorted(self.config.sources))
            raise ConfigError(f"no source named {name!r} (sources: {valid})")
        if name not in self._connectors:
            self._connectors[name] = create_connector(name, self.config.source_settings(name))
        return self._connectors[name]

    def sync(
        self,
        only: str | None = None,
        *,
        full: bool = False,
        progress: Callable[[str], Progress] | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> list[SyncResult]:
        from monitor.sync import sync_source

        names = [only] if only else list(self.config.sources)
        results = []
        for name in names:
            connector = self.connector(name)
            if full:
                self.store.reset_cursors(name)
            results.append(
                sync_source(
                    self.store,
                    name,
                    connector,
                    self.clock,
                    full=full,
                    progress=progress(name) if progress else None,
                    stop=stop,
                )
            )
        return results

    def notifier(self) -> Notifier:
        if self._notifier is None:
            self._notifier = create_notifier(self.config.slack, as_log=self.json_logs)
        return self._notifier

    def evaluate(self, as_of: datetime | None = None, goal: str | None = None) -> Evaluation:
        """Judge every goal and SLA rule at ``as_of`` (default now), with the
        sources' data health as of now."""
        now = self.clock()
        return evaluate(self.config, self.store, as_of or now, goal=goal, now=now)

    def record(self, evaluation: Evaluation) -> dispatch.Dispatched:
        """Move alert states and queue notifications for an evaluation."""
        from monitor import dispatch

        with self._record_lock:  # the service's sync and evaluate jobs share one App
            return dispatch.record(
                self.store,
                self.config,
                evaluation.findings,
                self.clock(),
                held=evaluation.held,
                held_critical=evaluation.held_critical,
                stale_sources=evaluation.stale_sources,
                ready_sources=frozenset(self.config.sources) - evaluation.waiting.keys(),
            )

    def backtest(
        self,
        instants: Sequence[datetime],
        *,
        goal: str | None = None,
        progress: backtest.Progress | None = None,
    ) -> backtest.Replay:
        """What the alerts would have posted at each of ``instants``, from
        the stored data, changing nothing and sending nothing."""
        from monitor import backtest

        return backtest.replay(self.config, self.store, instants, goal=goal, progress=progress)

    def deliver(self) -> outbox.Delivery:
        # One drain at a time in this process; other processes are kept off
        # a row by its claim in the database.
        with self._deliver_lock:
            report = outbox.deliver_due(
                self.store,
                self.notifier(),
                self.clock,
                self.config.alerts.give_up_after,
                holder=self.holder,
                claim_span=outbox.CLAIM_SPAN + 4 * timedelta(seconds=self.config.slack.timeout),
                zone=self.config.zone,
            )
            if report.paused and report.paused != self.delivery_problem:
                log.error(
                    "slack-auth: delivery paused, every notification stays queued until "
                    "the token works again (or alerts.give_up_after passes): %s",
                    report.paused,
                )
            elif self.delivery_problem and not report.paused and report.sent:
                log.info("slack-auth: Slack accepts the token again; delivery resumed")
            if report.paused or report.sent:
                self.delivery_problem = report.paused
            return report

    def summary(self, as_of: datetime | None = None) -> tuple[Evaluation, dict[str, Any], bytes]:
        """The daily summary: the evaluation, its message payload, its chart."""
        from monitor import summary  # matplotlib: loaded once a day, not kept at start

        evaluation = self.evaluate(as_of)
        with self.store.transaction() as tx:
            open_alerts = list(tx.alerts().values())
        payload = summary.build_payload(self.config, evaluation, open_alerts)
        return evaluation, payload, summary.chart(self.config, evaluation)

    def post_summary(self, as_of: datetime | None = None) -> outbox.Delivery:
        """Queue the summary with its chart in the outbox, then deliver."""
        from monitor import dispatch

        _, payload, png = self.summary(as_of)
        now = self.clock()
        payload = {
            **payload,
            "attachment": png.hex(),
            "attachment_name": f"alignmon-{now:%Y-%m-%d}.png",
        }
        with self.store.transaction() as tx:
            tx.enqueue(
                channel=self.config.slack.channel,
                kind="summary",
                payload=payload,
                fingerprints=[],
                now=now,
                not_before=dispatch.quiet_until(
                    now, self.config.alerts.quiet_hours, self.config.zone
                ),
            )
        return self.deliver()

    def queue_stats(self) -> QueueStats:
        with self.store.transaction() as tx:
            depth, dead = tx.outbox_counts()
            firing = tx.firing_by_severity()
            problem = tx.delivery_problem()
        return QueueStats(depth, dead, firing, problem)

    def retry_dead(self, row_id: int | None) -> int:
        """Queue dead notifications again (one, or all): after fixing what
        killed them, e.g. the Slack token. Returns how many."""
        with self.store.transaction() as tx:
            return tx.requeue_dead(row_id, self.clock())

    def silence(
        self, matcher: str, span: timedelta, reason: str, created_by: str | None = None
    ) -> silences.Added:
        from monitor import silences

        return silences.add(self.store, matcher, span, reason, self.clock(), created_by)

    def list_silences(self) -> list[Silence]:
        """Active silences and those ended lately (``silences.RECENT``)."""
        from monitor import silences

        return silences.listed(self.store, self.clock())

    def expire_silence(self, silence_id: int) -> silences.Expired | None:
        from monitor import silences

        return silences.expire(self.store, silence_id, self.clock())

    def slack_actions(self) -> list[SlackAction]:
        """Actions taken on alerts from Slack, newest first (the audit)."""
        with self.store.transaction() as tx:
            return tx.slack_actions()

    def known_fingerprints(self) -> list[str]:
        with self.store.transaction() as tx:
            return tx.alert_fingerprints()

    def alert_listing(self) -> AlertListing:
        """What `alignmon alerts` shows: open alerts, silences, and
        notifications still queued or given up on."""
        now = self.clock()
        with self.store.transaction() as tx:
            open_alerts = sorted(tx.alerts().values(), key=lambda a: (-a.severity, a.fingerprint))
            return AlertListing(
                open_alerts,
                tx.silences(now),
                tx.outbox_rows(undelivered_only=True),
                short_ids(tx.alert_fingerprints()),
                now,
            )

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()
        self.store.close()
