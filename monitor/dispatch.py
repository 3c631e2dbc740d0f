"""From one evaluation's findings to queued notifications, in one
transaction: alert states move (monitor/judge/alerts.py), silences and quiet
hours are applied, and what must be said is written to the outbox.

Nothing is sent here. The outbox worker (monitor/outbox.py) delivers, so a
Slack outage or a crash between the two never loses or repeats a
notification.

``advance`` is the part without the database: which notifications one
evaluation queues, grouped and worded as people receive them, handed to
an ``enqueue`` callback. ``record`` runs it inside the alert transaction
with the outbox as the callback; a backtest (monitor/backtest.py) runs it
on alert states it keeps in memory, so both say exactly the same things.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config.file import Config
from monitor.config.models import Goal, QuietHours, SlaRule
from monitor.findings import Alert, Finding
from monitor.interfaces import MessageKind
from monitor.judge import messages
from monitor.judge.alerts import Notice, Policy, mark_notified, reconcile, silenced
from monitor.store import Store

log = logging.getLogger(__name__)


@dataclass
class Dispatched:
    firing: int = 0
    queued: int = 0
    silenced: int = 0
    resolved: int = 0


@dataclass(frozen=True)
class Queued:
    """A notification an evaluation decided on, before it is stored.
    ``notices``: the alert lines it carries (none for "Now watching");
    ``parent_id``: the post a resolution's reply or update belongs to."""

    channel: str
    kind: MessageKind
    payload: dict[str, Any]
    notices: tuple[Notice, ...] = ()
    parent_id: int | None = None

    @property
    def fingerprints(self) -> list[str]:
        return [n.alert.fingerprint for n in self.notices]


#: Stores a notification and returns its id: the id an alert remembers as
#: the post that announced it, and a later resolution replies to.
Enqueue = Callable[[Queued], int]


@dataclass
class Advanced:
    """What one evaluation did to the alerts: the states that changed (by
    fingerprint), pending alerts to forget, the notices queued and those a
    silence held back, and how many notifications were queued."""

    alerts: dict[str, Alert]
    forgotten: list[str]
    spoken: list[Notice] = field(default_factory=list)
    silenced: list[Notice] = field(default_factory=list)
    queued: int = 0

    @property
    def notices(self) -> list[Notice]:
        """Every notice the lifecycle produced, silenced or not."""
        return self.spoken + self.silenced


def record(
    store: Store,
    config: Config,
    findings: list[Finding],
    now: datetime,
    *,
    held: frozenset[str] = frozenset(),
    stale_sources: frozenset[str] = frozenset(),
    ready_sources: frozenset[str] = frozenset(),
) -> Dispatched:
    """Advance every alert by this evaluation and queue what people must hear.
    ``ready_sources``: sources whose data is judged (first sync complete);
    the channels of one judged for the first time are told once."""
    not_before = quiet_until(now, config.alerts.quiet_hours, config.zone)
    report = Dispatched()
    with store.transaction() as tx:
        tx.lock_alerts()

        def enqueue(queued: Queued) -> int:
            return tx.enqueue(
                channel=queued.channel,
                kind=queued.kind,
                payload=queued.payload,
                fingerprints=queued.fingerprints,
                now=now,
                not_before=not_before,
                parent_id=queued.parent_id,
            )

        for source in tx.start_watching(ready_sources, now):
            for channel, subjects in _watchers(config, source):
                enqueue(Queued(channel, "post", messages.watching_payload(source, subjects)))
                report.queued += 1
        step = advance(
            tx.alerts(),
            findings,
            now,
            config,
            matchers=tx.silence_matchers(now),
            enqueue=enqueue,
            held=held,
            stale_sources=stale_sources,
        )
        tx.save_alerts(step.alerts.values())
        tx.forget_alerts(step.forgotten)
    report.queued += step.queued
    report.silenced = len(step.silenced)
    report.firing = sum(1 for a in step.alerts.values() if a.state == "firing")
    report.resolved = sum(1 for n in step.notices if n.reason == "resolved")
    if report.queued:
        log.info("queued %d notification(s); %d alert(s) firing", report.queued, report.firing)
    return report


def advance(
    previous: Mapping[str, Alert],
    findings: Iterable[Finding],
    now: datetime,
    config: Config,
    *,
    matchers: Sequence[str],
    enqueue: Enqueue,
    held: frozenset[str] = frozenset(),
    stale_sources: frozenset[str] = frozenset(),
) -> Advanced:
    """Move the alerts in ``previous`` by one evaluation's findings and
    queue, through ``enqueue``, what people must hear: one post per channel
    for everything new (most severe first), and for alerts that cleared a
    reply in the thread of the post that announced them plus an update of
    that post. ``matchers``: the silences in force at ``now``."""
    policy = Policy(config.alerts.for_evaluations, config.alerts.repeat_interval)
    outcome = reconcile(previous, findings, now, policy, held=held, inhibited_sources=stale_sources)
    updated = {a.fingerprint: a for a in outcome.alerts}
    step = Advanced(updated, outcome.forgotten)
    for notice in outcome.notices:
        held_back = silenced(notice.alert.fingerprint, matchers)
        (step.silenced if held_back else step.spoken).append(notice)

    fresh = [n for n in step.spoken if n.reason != "resolved"]
    for channel, notices in _by_channel(fresh, config.slack.channel):
        row_id = enqueue(Queued(channel, "post", messages.post_payload(notices), tuple(notices)))
        step.queued += 1
        for notice in notices:
            updated[notice.alert.fingerprint] = mark_notified(notice.alert, now, row_id)

    by_parent: dict[tuple[str, int], list[Notice]] = defaultdict(list)
    for notice in step.spoken:
        if notice.reason == "resolved" and notice.alert.outbox_id is not None:
            channel = notice.alert.channel or config.slack.channel
            by_parent[(channel, notice.alert.outbox_id)].append(notice)
    for (channel, parent), notices in by_parent.items():
        cleared = tuple(notices)
        enqueue(Queued(channel, "reply", messages.resolution_payload(notices), cleared, parent))
        # The update is rebuilt from the parent at delivery, so it shows every clearance.
        enqueue(Queued(channel, "update", {}, cleared, parent))
        step.queued += 2
    return step


def _by_channel(notices: Iterable[Notice], default: str) -> list[tuple[str, list[Notice]]]:
    grouped: dict[str, list[Notice]] = defaultdict(list)
    for notice in notices:
        grouped[notice.alert.channel or default].append(notice)
    return sorted(grouped.items())


def _watchers(config: Config, source: str) -> list[tuple[str, list[str]]]:
    """Each channel that hears about ``source``, with the goals and SLA rules
    judged from it that post there."""
    subjects: dict[str, list[str]] = defaultdict(list)
    items: list[Goal | SlaRule] = [*config.goals, *config.sla]
    for item in items:
        if item.source == source:
            subjects[item.channel or config.slack.channel].append(item.name)
    return sorted(subjects.items())


def quiet_until(now: datetime, quiet: QuietHours | None, zone: ZoneInfo) -> datetime:
    """When a notification queued at ``now`` may go out: now, or the end of
    the quiet window it falls in (deferred, never dropped)."""
    if quiet is None:
        return now
    local = now.astimezone(zone)
    start, end, clock = quiet.start, quiet.end, local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return now
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end if end != time.max else time(0), zone)
