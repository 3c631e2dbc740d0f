"""Findings and the alerts that remember them.

A ``Finding`` is what the judges conclude, recomputed from scratch each
evaluation; an ``Alert`` is the remembered state of one fingerprint, which
the alert lifecycle advances and the store keeps. The fingerprint ties this
evaluation's finding to the alert that remembers the previous ones. Only
types live here, so the store can keep alerts without importing a judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from monitor.interfaces import Severity

#: What a finding says. Goals yield the first nine and ``stalled``, SLA
#: rules the three ``sla-*``, data health ``source-stale``.
Rule = Literal[
    "pacing",
    "conversion-drift",
    "commitment-gap",
    "rate-commitment-gap",
    "budget-overrun",
    "capacity-overrun",
    "quality-gap",
    "plan-incomplete",
    "rate-goal-behind",
    "sla-at-risk",
    "sla-breach",
    "sla-late",
    "source-stale",
    "stalled",
]
AlertState = Literal["pending", "firing", "resolved"]
#: Why a firing alert stopped: its finding cleared, its period ended (a
#: period that ended short did not recover), or its records moved on to a
#: more severe alert (at risk → breached).
Closure = Literal["resolved", "ended", "superseded"]


@dataclass(frozen=True, slots=True)
class Finding:
    """``subject``: the goal or SLA rule
    name (the source name for source-stale). ``metric``: the number the
    lifecycle applies hysteresis to (drift for pacing, e.g. -0.32), or None.
    ``owner``: an owner email for SLA findings. ``items``: per-record lines
    (CRM text, escaped by the notifier) with deep links. ``members``: for a
    finding that groups records, each item's record id, in the same order,
    so the lifecycle can tell which records are new to the group.
    ``period_end``: when the goal period the finding is about ends; an alert
    still open then is closed as "period ended", not resolved. ``source``:
    the source the finding was computed from, so a stale source can inhibit
    it."""

    rule: Rule
    subject: str
    severity: Severity
    title: str
    text: str
    source: str
    period: str = ""
    stage: str = ""
    owner: str = ""
    metric: float | None = None
    items: Sequence[tuple[str, str]] = ()
    members: Sequence[str] = ()
    period_end: datetime | None = None
    channel: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.subject, self.stage, self.period, self.owner)


def fingerprint(rule: str, subject: str, stage: str = "", period: str = "", owner: str = "") -> str:
    """Stable identity of a finding across evaluations: rule, goal or SLA
    rule, stage, period, owner — whichever apply."""
    return "/".join(p for p in (rule, subject, stage, period, owner) if p)


@dataclass(frozen=True)
class Alert:
    """The remembered state of one fingerprint. ``members``, ``stage``,
    ``period``, ``period_end`` and ``data`` (the finding's numbers) are as
    last seen; ``notified_*`` are as of the last message about it, so the
    next one can say what changed; ``closed_as`` says why it stopped
    firing."""

    fingerprint: str
    rule: Rule
    subject: str
    source: str
    severity: Severity
    state: AlertState
    consecutive: int
    title: str
    text: str
    channel: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    metric: float | None = None
    owner: str = ""
    items: tuple[tuple[str, str], ...] = ()
    members: tuple[str, ...] = ()
    stage: str = ""
    period: str = ""
    period_end: datetime | None = None
    data: Mapping[str, float] = field(default_factory=dict)
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_as: Closure | None = None
    notified_at: datetime | None = None
    notified_severity: Severity | None = None
    notified_metric: float | None = None
    notified_members: tuple[str, ...] = ()
    outbox_id: int | None = None

    @property
    def lineage(self) -> str:
        """The fingerprint without the period: the same problem in any
        period (``pacing/q1/mql``)."""
        return fingerprint(self.rule, self.subject, self.stage, "", self.owner)

    def item(self, member: str) -> tuple[str, str] | None:
        """The (label, url) of one member record, if it is listed."""
        if member in self.members:
            index = self.members.index(member)
            if index < len(self.items):
                return self.items[index]
        return None
