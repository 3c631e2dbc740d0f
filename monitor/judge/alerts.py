"""The alert lifecycle: which findings people hear about, and when.

Findings are recomputed from scratch every evaluation; alerts remember.
``reconcile`` is a pure function from (previous alert states, this
evaluation's findings) to (new states, notifications to queue). The store
writes both in one transaction (monitor/store/alerts.py), which is what
makes the outbox trustworthy: an alert is never marked notified without its
notification being queued, and never queued twice.

Semantics follow Alertmanager: ``pending → firing → resolved``; a pacing
finding must hold ``for`` consecutive evaluations before it fires and, once
firing, resolves only when it is back past its threshold by the hysteresis
margin (the caller reports metrics inside that margin as ``held``). The
same margin applies to severity: a critical alert eases to warning only once
its metric is past the critical line by the margin (the caller reports the
ones still inside it as ``held_critical``), so a metric hovering at the line
does not ping-pong between "Worse" and "Easing".

A finding that groups records (an owner's breached leads) is one alert, and
each record joining it while it fires is announced at once, in the thread of
the alert's post (Alertmanager's ``group_interval``): a breach is an event,
not something to learn about with the next repeat. A record that moves from
a less severe alert of the same owner to a more severe one (at risk →
breached) is shown as escalated, and the alert it left is closed as
superseded, never as resolved.

People are told on first firing, on a severity change, when records join,
at the next repeat slot (a working day's repeat time, chosen by the caller)
once ``repeat_interval`` has passed since the last message, and once when it
closes: resolved, or "period ended" for an alert of a goal period that is
over (nothing recovered; the next period's alert is a new one). A stale
source inhibits every alert computed from it: neither sent nor resolved
until its data is fresh.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from monitor.findings import Alert, Closure, Finding

#: Why a notice is sent: the alert fired (or fired while it could not be
#: told), got worse or eased, records joined its group, it is still open at
#: a repeat slot, or it closed (resolved, its period ended, or superseded by
#: a more severe alert its records moved to).
NoticeReason = Literal[
    "firing", "escalated", "eased", "joined", "repeat", "resolved", "ended", "superseded"
]

#: Rules whose findings must hold ``for`` evaluations before firing; the
#: others (a commitment gap, an SLA breach, a stale source) are facts, not
#: trends, and fire at once.
DEBOUNCED_RULES = frozenset(
    {"pacing", "conversion-drift", "quality-gap", "rate-goal-behind", "stalled"}
)

#: Rules that report events, not conditions: each record is announced once
#: as it joins, and the alert is neither repeated nor announced as resolved
#: when its records age out.
EVENT_RULES = frozenset({"sla-late"})


@dataclass(frozen=True)
class Notice:
    """One line of a message to queue, and why. ``joined``: members new
    since the last message (all of them on first firing); ``left``: members
    gone since the last message (for a repeat); ``promoted``: members that
    came from a less severe alert of the same subject and owner in this
    evaluation (at risk → breached); ``predecessor``: the same problem's
    alert of the period before, closed as "period ended" (set by the caller,
    who can look it up)."""

    alert: Alert
    reason: NoticeReason
    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    promoted: tuple[str, ...] = ()
    predecessor: Alert | None = None


@dataclass
class Outcome:
    alerts: list[Alert] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)  # pending alerts that cleared


@dataclass(frozen=True)
class Policy:
    for_evaluations: int
    repeat_interval: timedelta


def _from_finding(finding: Finding, now: datetime) -> Alert:
    return Alert(
        fingerprint=finding.fingerprint,
        rule=finding.rule,
        subject=finding.subject,
        source=finding.source,
        severity=finding.severity,
        state="pending",
        consecutive=0,
        title=finding.title,
        text=finding.text,
        channel=finding.channel,
        first_seen_at=now,
        last_seen_at=now,
        metric=finding.metric,
        owner=finding.owner,
        stage=finding.stage,
        period=finding.period,
    )


def reconcile(
    previous: Mapping[str, Alert],
    findings: Iterable[Finding],
    now: datetime,
    policy: Policy,
    *,
    held: frozenset[str] = frozenset(),
    held_critical: frozenset[str] = frozenset(),
    inhibited_sources: frozenset[str] = frozenset(),
    repeat_slot: datetime | None = None,
) -> Outcome:
    """Advance every alert by one evaluation. ``held``: fingerprints not
    found this time but still inside their hysteresis margin (kept as they
    are). ``held_critical``: fingerprints whose metric is inside the margin
    of the critical line (a critical alert there stays critical).
    ``inhibited_sources``: stale sources whose alerts are frozen.
    ``repeat_slot``: the repeat time this evaluation may send repeats for,
    or None when it may send none (not a working day, before the day's
    repeat time, quiet hours)."""
    outcome = Outcome()
    current = {f.fingerprint: f for f in findings}
    open_before = {fp: a for fp, a in previous.items() if a.state != "resolved"}
    promoted = _promoted(open_before, current)
    for fingerprint, finding in current.items():
        if finding.source in inhibited_sources and finding.rule != "source-stale":
            continue
        prev = open_before.get(fingerprint) or _from_finding(finding, now)
        step = _Step(now, policy, fingerprint in held_critical, repeat_slot)
        _advance(prev, finding, step, promoted.get(fingerprint, ()), outcome)
    for fingerprint, prev in open_before.items():
        if fingerprint in current:
            continue
        if prev.source in inhibited_sources and prev.rule != "source-stale":
            continue
        if fingerprint in held:
            continue
        if prev.state == "pending":
            outcome.forgotten.append(fingerprint)
            continue
        closure = _closure(prev, now, current, promoted)
        closed = replace(prev, state="resolved", resolved_at=now, consecutive=0, closed_as=closure)
        outcome.alerts.append(closed)
        if prev.notified_at is not None and not (
            prev.rule in EVENT_RULES and closure == "resolved"
        ):
            outcome.notices.append(Notice(closed, closure))
    return outcome


@dataclass(frozen=True)
class _Step:
    now: datetime
    policy: Policy
    keep_critical: bool
    repeat_slot: datetime | None


def _advance(
    prev: Alert, finding: Finding, step: _Step, promoted: tuple[str, ...], outcome: Outcome
) -> None:
    severity = finding.severity
    if step.keep_critical and prev.severity > severity:
        severity = prev.severity  # eases only once past the line by the margin
    alert = replace(
        prev,
        severity=severity,
        title=finding.title,
        text=finding.text,
        metric=finding.metric,
        items=tuple(finding.items),
        members=tuple(finding.members),
        stage=finding.stage,
        period=finding.period,
        period_end=finding.period_end,
        data=_numbers(finding.data),
        channel=finding.channel,
        last_seen_at=step.now,
        consecutive=prev.consecutive + 1,
    )
    needed = step.policy.for_evaluations if finding.rule in DEBOUNCED_RULES else 1
    told, members = set(alert.notified_members), set(alert.members)
    joined = tuple(m for m in alert.members if m not in told)
    left = tuple(m for m in alert.notified_members if m not in members)
    reason: NoticeReason | None = None
    if alert.state == "pending" and alert.consecutive >= needed:
        alert = replace(alert, state="firing", fired_at=step.now)
        reason = "firing"
    elif alert.state == "firing":
        if alert.notified_at is None:
            reason = "firing"  # fired while silenced or quiet, never told
        elif alert.notified_severity is not None and alert.severity != alert.notified_severity:
            reason = "escalated" if alert.severity > alert.notified_severity else "eased"
        elif joined:
            reason = "joined"
        elif _repeat_due(alert, step) and alert.rule not in EVENT_RULES:
            reason = "repeat"
    outcome.alerts.append(alert)
    if reason:
        outcome.notices.append(
            Notice(
                alert,
                reason,
                joined=joined,
                left=left if reason == "repeat" else (),
                promoted=tuple(m for m in promoted if m in joined),
            )
        )


def _repeat_due(alert: Alert, step: _Step) -> bool:
    """Repeats go out only at a repeat slot, for alerts whose last message
    is at least ``repeat_interval`` older than the slot."""
    slot, told = step.repeat_slot, alert.notified_at
    return (
        slot is not None
        and told is not None
        and told < slot
        and slot - told >= step.policy.repeat_interval
    )


def _promoted(
    open_before: Mapping[str, Alert], current: Mapping[str, Finding]
) -> dict[str, tuple[str, ...]]:
    """Per finding: members that were in a less severe open alert of the
    same subject and owner and are new to this finding's alert: records that
    escalated (at risk → breached) since the last evaluation."""
    out: dict[str, tuple[str, ...]] = {}
    for fingerprint, finding in current.items():
        if not finding.members:
            continue
        before = open_before.get(fingerprint)
        had = set(before.members) if before is not None else set()
        lower = {
            member
            for alert in open_before.values()
            if alert.fingerprint != fingerprint
            and alert.subject == finding.subject
            and alert.owner == finding.owner
            and alert.severity < finding.severity
            for member in alert.members
        }
        moved = tuple(m for m in finding.members if m in lower and m not in had)
        if moved:
            out[fingerprint] = moved
    return out


def _closure(
    prev: Alert,
    now: datetime,
    current: Mapping[str, Finding],
    promoted: Mapping[str, tuple[str, ...]],
) -> Closure:
    """Why a firing alert whose finding is gone stops: its period is over,
    its records escalated into a more severe alert, or it resolved."""
    if prev.period_end is not None and now >= prev.period_end:
        return "ended"
    members = set(prev.members)
    for fingerprint, moved in promoted.items():
        finding = current[fingerprint]
        if (
            finding.subject == prev.subject
            and finding.owner == prev.owner
            and finding.severity > prev.severity
            and members.intersection(moved)
        ):
            return "superseded"
    return "resolved"


def _numbers(data: Mapping[str, object]) -> dict[str, float]:
    """The finding's numbers worth remembering for later wording (actual
    and target when a period ends)."""
    return {
        key: value
        for key, value in data.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def silenced(fingerprint: str, matchers: Sequence[str]) -> bool:
    """A silence matches a fingerprint exactly or as a shell-style pattern
    (``pacing/q1-*``)."""
    return any(m == fingerprint or fnmatch.fnmatchcase(fingerprint, m) for m in matchers)


def mark_notified(alert: Alert, now: datetime, outbox_id: int | None) -> Alert:
    """The alert as people now know it: what the next message compares
    with."""
    return replace(
        alert,
        notified_at=now,
        notified_severity=alert.severity,
        notified_metric=alert.metric,
        notified_members=alert.members,
        outbox_id=outbox_id if outbox_id is not None else alert.outbox_id,
    )
