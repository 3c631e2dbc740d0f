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
margin (the caller reports metrics inside that margin as ``held``). People
are told on first firing, on a severity change, after ``repeat_interval``
while still firing, and once on resolution. A stale source inhibits every
alert computed from it: neither sent nor resolved until its data is fresh.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from monitor.findings import Alert, Finding

#: Why a notice is sent: the alert fired (or fired while it could not be
#: told), got worse, eased, is still open after ``repeat_interval``, or
#: cleared.
NoticeReason = Literal["firing", "escalated", "eased", "repeat", "resolved"]

#: Rules whose findings must hold ``for`` evaluations before firing; the
#: others (a commitment gap, an SLA breach, a stale source) are facts, not
#: trends, and fire at once.
DEBOUNCED_RULES = frozenset({"pacing", "conversion-drift", "quality-gap"})


@dataclass(frozen=True)
class Notice:
    """One line of a message to queue, and why."""

    alert: Alert
    reason: NoticeReason


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
        items=tuple(finding.items),
    )


def reconcile(
    previous: Mapping[str, Alert],
    findings: Iterable[Finding],
    now: datetime,
    policy: Policy,
    *,
    held: frozenset[str] = frozenset(),
    inhibited_sources: frozenset[str] = frozenset(),
) -> Outcome:
    """Advance every alert by one evaluation. ``held``: fingerprints not
    found this time but still inside their hysteresis margin (kept as they
    are). ``inhibited_sources``: stale sources whose alerts are frozen."""
    outcome = Outcome()
    current = {f.fingerprint: f for f in findings}
    for fingerprint, finding in current.items():
        if finding.source in inhibited_sources and finding.rule != "source-stale":
            continue
        prev = previous.get(fingerprint)
        if prev is None or prev.state == "resolved":
            prev = _from_finding(finding, now)
        _advance(prev, finding, now, policy, outcome)
    for fingerprint, prev in previous.items():
        if fingerprint in current or prev.state == "resolved":
            continue
        if prev.source in inhibited_sources and prev.rule != "source-stale":
            continue
        if fingerprint in held:
            continue
        if prev.state == "pending":
            outcome.forgotten.append(fingerprint)
            continue
        resolved = replace(prev, state="resolved", resolved_at=now, consecutive=0)
        outcome.alerts.append(resolved)
        if prev.notified_at is not None:
            outcome.notices.append(Notice(resolved, "resolved"))
    return outcome


def _advance(
    prev: Alert, finding: Finding, now: datetime, policy: Policy, outcome: Outcome
) -> None:
    alert = replace(
        prev,
        severity=finding.severity,
        title=finding.title,
        text=finding.text,
        metric=finding.metric,
        items=tuple(finding.items),
        channel=finding.channel,
        last_seen_at=now,
        consecutive=prev.consecutive + 1,
    )
    needed = policy.for_evaluations if finding.rule in DEBOUNCED_RULES else 1
    reason: NoticeReason | None = None
    if alert.state == "pending" and alert.consecutive >= needed:
        alert = replace(alert, state="firing", fired_at=now)
        reason = "firing"
    elif alert.state == "firing":
        if alert.notified_at is None:
            reason = "firing"  # fired while silenced or quiet, never told
        elif alert.notified_severity is not None and alert.severity != alert.notified_severity:
            reason = "escalated" if alert.severity > alert.notified_severity else "eased"
        elif now - alert.notified_at >= policy.repeat_interval:
            reason = "repeat"
    outcome.alerts.append(alert)
    if reason:
        outcome.notices.append(Notice(alert, reason))


def silenced(fingerprint: str, matchers: Sequence[str]) -> bool:
    """A silence matches a fingerprint exactly or as a shell-style pattern
    (``pacing/q1-*``)."""
    return any(m == fingerprint or fnmatch.fnmatchcase(fingerprint, m) for m in matchers)


def mark_notified(alert: Alert, now: datetime, outbox_id: int | None) -> Alert:
    return replace(
        alert,
        notified_at=now,
        notified_severity=alert.severity,
        outbox_id=outbox_id if outbox_id is not None else alert.outbox_id,
    )
