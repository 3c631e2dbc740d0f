"""From one evaluation's findings to queued notifications, in one
transaction: alert states move (monitor/judge/alerts.py), silences and quiet
hours are applied, and what must be said is written to the outbox: new,
changed and repeated alerts as one post per channel; records that joined an
announced alert, and alerts that closed, in the thread of the post that
announced them.

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
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.config.file import Config
from monitor.config.models import Goal, QuietHours, SlaRule
from monitor.findings import Alert, Finding
from monitor.interfaces import MessageKind
from monitor.judge import messages
from monitor.judge.alerts import Notice, Policy, mark_notified, reconcile, silenced
from monitor.judge.business_time import business_calendar
from monitor.store import Store
from monitor.store.slack_actions import ACKNOWLEDGEMENT_CLEARED, ALIGNMON, SlackAction

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
#: The alert of the same problem for the period just before this alert's,
#: if it closed because that period ended (see ``_introduced``).
Predecessor = Callable[[Alert], Alert | None]


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
    held_critical: frozenset[str] = frozenset(),
    stale_sources: frozenset[str] = frozenset(),
    ready_sources: frozenset[str] = frozenset(),
) -> Dispatched:
    """Advance every alert by this evaluation and queue what people must hear.
    ``held`` and ``held_critical``: fingerprints inside the hysteresis
    margin of their threshold and of their critical line (see
    ``reconcile``). ``ready_sources``: sources whose data is judged (first
    sync complete); the channels of one judged for the first time are told
    once."""
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
        previous = tx.alerts()
        acks = tx.acknowledgements(previous)
        acknowledged = _acknowledged(previous, acks)
        step = advance(
            previous,
            findings,
            now,
            config,
            matchers=tx.silence_matchers(now),
            enqueue=enqueue,
            predecessor=tx.predecessor,
            held=held,
            held_critical=held_critical,
            stale_sources=stale_sources,
            acknowledged=acknowledged,
        )
        for notice in step.notices:
            fp = notice.alert.fingerprint
            if notice.reason == "escalated" and fp in acknowledged:
                tx.claim_action(_cleared(notice.alert, acks[fp], now))
        tx.save_alerts(step.alerts.values())
        tx.forget_alerts(step.forgotten)
    report.queued += step.queued
    report.silenced = len(step.silenced)
    report.firing = sum(1 for a in step.alerts.values() if a.state == "firing")
    report.resolved = sum(1 for n in step.notices if n.reason in _CLOSED)
    goals = {goal.name for goal in config.goals}
    for notice in step.notices:
        alert = notice.alert
        log.info(
            "alert %s: %s (%s)",
            alert.fingerprint,
            notice.reason,
            alert.severity,
            extra={
                "alert": alert.fingerprint,
                "rule": alert.rule,
                "goal" if alert.subject in goals else "sla": alert.subject,
                "source": alert.source,
                "severity": str(alert.severity),
                "reason": notice.reason,
            },
        )
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
    predecessor: Predecessor,
    held: frozenset[str] = frozenset(),
    held_critical: frozenset[str] = frozenset(),
    stale_sources: frozenset[str] = frozenset(),
    acknowledged: frozenset[str] = frozenset(),
) -> Advanced:
    """Move the alerts in ``previous`` by one evaluation's findings and
    queue, through ``enqueue``, what people must hear: one post per channel
    for everything new, changed or repeated (most severe first); records
    that joined an announced alert as a reply in its post's thread; and for
    alerts that closed a reply in that thread plus an update of the post.
    ``matchers``: the silences in force at ``now``; ``acknowledged``:
    alerts someone took on in Slack since they fired, which are not
    repeated (a change of severity or records is still told)."""
    policy = Policy(config.alerts.for_evaluations, config.alerts.repeat_interval)
    outcome = reconcile(
        previous,
        findings,
        now,
        policy,
        held=held,
        held_critical=held_critical,
        inhibited_sources=stale_sources,
        repeat_slot=repeat_slot(now, config),
    )
    updated = {a.fingerprint: a for a in outcome.alerts}
    step = Advanced(updated, outcome.forgotten)
    for notice in outcome.notices:
        if notice.reason == "repeat" and notice.alert.fingerprint in acknowledged:
            continue
        held_back = silenced(notice.alert.fingerprint, matchers)
        (step.silenced if held_back else step.spoken).append(notice)
    zone, default = config.zone, config.slack.channel

    def add(queued: Queued) -> int:
        step.queued += 1
        return enqueue(queued)

    threads = _by_parent(step.spoken, {"joined"}, default)
    fresh = [n for n in step.spoken if n.reason in _POSTED or _orphan(n)]
    fresh = [_introduced(predecessor, n) for n in fresh]
    for channel, notices in _by_channel(fresh, default):
        payload = messages.post_payload(notices, zone)
        row_id = add(Queued(channel, "post", payload, tuple(notices)))
        for notice in notices:
            updated[notice.alert.fingerprint] = mark_notified(notice.alert, now, row_id)

    for (channel, parent), notices in threads.items():
        payload = messages.joined_payload(notices, zone)
        add(Queued(channel, "reply", payload, tuple(notices), parent))
        for notice in notices:
            updated[notice.alert.fingerprint] = mark_notified(notice.alert, now, None)

    for (channel, parent), notices in _by_parent(step.spoken, _CLOSED, default).items():
        told = [n for n in notices if n.reason != "superseded"]  # the new alert says it
        if told:
            add(
                Queued(
                    channel, "reply", messages.resolution_payload(told, zone), tuple(told), parent
                )
            )
        # Rebuilt from the parent at delivery, so it shows every closure so far.
        add(Queued(channel, "update", {}, tuple(notices), parent))
    return step


def _acknowledged(alerts: Mapping[str, Alert], acks: Mapping[str, SlackAction]) -> frozenset[str]:
    """Of ``alerts``, those acknowledged since they last fired (an
    acknowledgement of an earlier firing does not carry over)."""
    return frozenset(
        fp
        for fp, ack in acks.items()
        if (fired := alerts[fp].fired_at) is not None and ack.at >= fired
    )


def _cleared(alert: Alert, ack: SlackAction, now: datetime) -> SlackAction:
    """The audit row of an escalation clearing ``ack``. Whoever acknowledged
    took on the alert as it was; more severe, it is new information that
    someone must take on again: its post shows the Acknowledge button, and
    it is repeated until someone presses it. (An alert that eases keeps its
    acknowledgement.)"""
    return SlackAction(
        key=f"escalated:{alert.fingerprint}:{now.isoformat()}"[:200],
        at=now,
        action=ACKNOWLEDGEMENT_CLEARED,
        fingerprint=alert.fingerprint,
        user_id="",
        user_name=ALIGNMON,
        outcome="done",
        detail=f"acknowledgement by {ack.user_name} cleared: escalated to {alert.severity}",
    )


#: Notices that go out as (part of) a new post; ``joined`` ones are thread
#: replies to the alert's post, and closures a reply and an update of it.
_POSTED = frozenset({"firing", "escalated", "eased", "repeat"})
_CLOSED = frozenset({"resolved", "ended", "superseded"})

#: How long after a repeat time repeats may still go out: an alert whose
#: finding was missing (held) at the repeat time, or a service that was
#: down then, repeats within this hour or at the next repeat time, never at
#: an unpredictable hour of the afternoon.
REPEAT_WINDOW = timedelta(hours=1)


def repeat_slot(now: datetime, config: Config) -> datetime | None:
    """The repeat time ``now`` may send repeats for, or None.

    Repeat times fall on working days of the calendar: the day's first at
    ``alerts.repeat_at`` (else the daily summary's ``slack.summary_at``),
    and, when ``repeat_interval`` is shorter than a day, every interval
    after it until the working day ends (``4h``: 09:00 and 13:00). A
    repeat time is open for ``REPEAT_WINDOW`` (or the interval, if
    shorter), from the end of quiet hours if it falls in them, and never
    during quiet hours: repeats arrive at a predictable time, beside the
    summary, never at night or on a weekend."""
    zone, alerts = config.zone, config.alerts
    today = now.astimezone(zone).date()
    calendar = business_calendar(config.calendar, zone)
    hours = calendar.interval(today)
    if hours is None:
        return None
    slot = datetime.combine(today, alerts.repeat_at or config.slack.summary_at, zone)
    window = REPEAT_WINDOW
    if alerts.repeat_interval < timedelta(days=1) and now > slot:
        window = min(window, alerts.repeat_interval)
        later = slot + (now - slot) // alerts.repeat_interval * alerts.repeat_interval
        if later > slot and later >= hours[1]:
            return None  # the working day is over
        slot = later
    opens = quiet_until(slot, alerts.quiet_hours, zone)
    if not opens <= now < opens + window or quiet_until(now, alerts.quiet_hours, zone) != now:
        return None
    return slot


def _introduced(predecessor: Predecessor, notice: Notice) -> Notice:
    """A period alert's first announcement names the alert it follows when
    the same problem's alert closed as the last period ended: a new alert
    for a new period, not the old one flapping."""
    alert = notice.alert
    if notice.reason != "firing" or alert.notified_at is not None or not alert.period:
        return notice
    return replace(notice, predecessor=predecessor(alert))


def _orphan(notice: Notice) -> bool:
    """Records joined an alert whose post is unknown: say it in a post."""
    return notice.reason == "joined" and notice.alert.outbox_id is None


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


def _by_parent(
    notices: Iterable[Notice], reasons: Collection[str], default: str
) -> dict[tuple[str, int], list[Notice]]:
    """Notices of ``reasons`` grouped by the post that last announced their
    alert: they are said in its thread."""
    grouped: dict[tuple[str, int], list[Notice]] = defaultdict(list)
    for notice in notices:
        if notice.reason in reasons and notice.alert.outbox_id is not None:
            grouped[(notice.alert.channel or default, notice.alert.outbox_id)].append(notice)
    return grouped
