"""Findings: what the reconciler and the SLA engine conclude, before the
alert lifecycle decides whether anyone hears about it.

A finding is a value, recomputed from scratch each evaluation; its
``fingerprint`` is what ties this evaluation's finding to the alert row that
remembers the previous ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from monitor.interfaces import Severity

#: What a finding says. Goals yield the first five, SLA rules the two
#: ``sla-*``, data health ``source-stale``.
Rule = Literal[
    "pacing",
    "conversion-drift",
    "commitment-gap",
    "quality-gap",
    "plan-incomplete",
    "sla-at-risk",
    "sla-breach",
    "source-stale",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """``subject``: the goal or SLA rule
    name (the source name for source-stale). ``metric``: the number the
    lifecycle applies hysteresis to (drift for pacing, e.g. -0.32), or None.
    ``owner``: an owner email for SLA findings. ``items``: per-record lines
    (CRM text, escaped by the notifier) with deep links. ``source``: the
    source the finding was computed from, so a stale source can inhibit it."""

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
    channel: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.subject, self.stage, self.period, self.owner)


def fingerprint(rule: str, subject: str, stage: str = "", period: str = "", owner: str = "") -> str:
    """Stable identity of a finding across evaluations: rule, goal or SLA
    rule, stage, period, owner — whichever apply."""
    return "/".join(p for p in (rule, subject, stage, period, owner) if p)
