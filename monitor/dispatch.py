"""From one evaluation's findings to queued notifications, in one
transaction: alert states move (monitor/alerts.py), silences and quiet
hours are applied, and what must be said is written to the outbox.

Nothing is sent here. The outbox worker (monitor/outbox.py) delivers, so a
Slack outage or a crash between the two never loses or repeats a
notification.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config.file import Config
from monitor.config.models import Goal, QuietHours, SlaRule
from monitor.findings import Finding
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
    policy = Policy(config.alerts.for_evaluations, config.alerts.repeat_interval)
    not_before = quiet_until(now, config.alerts.quiet_hours, config.zone)
    report = Dispatched()
    with store.transaction() as tx:
        tx.lock_alerts()
        outcome = reconcile(
            tx.alerts(),
            findings,
            now,
            policy,
            held=held,
            inhibited_sources=stale_sources,
        )
        for source in tx.start_watching(ready_sources, now):
            for channel, subjects in _watchers(config, source):
                tx.enqueue(
                    channel=channel,
                    kind="post",
                    payload=messages.watching_payload(source, subjects),
                    fingerprints=[],
                    now=now,
                    not_before=not_before,
                )
                report.queued += 1
        matchers = tx.silence_matchers(now)
        updated = {a.fingerprint: a for a in outcome.alerts}
        speak = [n for n in outcome.notices if not silenced(n.alert.fingerprint, matchers)]
        report.silenced = len(outcome.notices) - len(speak)

        fresh = [n for n in speak if n.reason != "resolved"]
        for channel, notices in _by_channel(fresh, config.slack.channel):
            row_id = tx.enqueue(
                channel=channel,
                kind="post",
                payload=messages.post_payload(notices),
                fingerprints=[n.alert.fingerprint for n in notices],
                now=now,
                not_before=not_before,
            )
            report.queued += 1
            for notice in notices:
                updated[notice.alert.fingerprint] = mark_notified(notice.alert, now, row_id)

        by_parent: dict[tuple[str, int], list[Notice]] = defaultdict(list)
        for notice in speak:
            if notice.reason == "resolved" and notice.alert.outbox_id is not None:
                channel = notice.alert.channel or config.slack.channel
                by_parent[(channel, notice.alert.outbox_id)].append(notice)
        for (channel, parent), notices in by_parent.items():
            fingerprints = [n.alert.fingerprint for n in notices]
            replies: tuple[tuple[MessageKind, dict[str, Any]], ...] = (
                ("reply", messages.resolution_payload(notices)),
                ("update", {}),  # rebuilt from the parent at delivery, so it shows every clearance
            )
            for kind, payload in replies:
                tx.enqueue(
                    channel=channel,
                    kind=kind,
                    payload=payload,
                    fingerprints=fingerprints,
                    now=now,
                    not_before=not_before,
                    parent_id=parent,
                )
                report.queued += 1

        tx.save_alerts(updated.values())
        tx.forget_alerts(outcome.forgotten)
    report.firing = sum(1 for a in updated.values() if a.state == "firing")
    report.resolved = sum(1 for n in outcome.notices if n.reason == "resolved")
    if report.queued:
        log.info("queued %d notification(s); %d alert(s) firing", report.queued, report.firing)
    return report


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
