"""Silences as an operator handles them (``alignmon silence``): adding one,
checked against the alerts it would mute; listing the active and recently
ended ones; lifting one early.

A silence only holds notices back (monitor/dispatch.py); the alert lifecycle
goes on underneath. Lifting one ends it now, so the next evaluation tells
its alerts exactly as it would have had the silence run out on its own: an
alert that fired under it is announced, one announced before it repeats at
the next repeat time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.findings import Alert
from monitor.judge.alerts import silenced
from monitor.store import Store
from monitor.store.alerts import Silence

#: How far back "recent" reaches: alerts closed this long ago still count
#: as what a new silence may be meant for, and ended silences are listed
#: this long (Alertmanager keeps expired silences for five days).
RECENT = timedelta(days=7)


@dataclass(frozen=True)
class Added:
    """A new silence and the open or recently closed alerts it matches, of
    the ``checked`` it was compared with."""

    silence: Silence
    matched: list[Alert]
    checked: int


def add(
    store: Store,
    matcher: str,
    span: timedelta,
    reason: str,
    now: datetime,
    created_by: str | None = None,
) -> Added:
    with store.transaction() as tx:
        silence_id = tx.add_silence(matcher, reason, now, now + span, created_by)
        candidates = tx.alerts_since(now - RECENT)
    silence = Silence(silence_id, matcher, reason, now, now + span, created_by)
    matched = [a for a in candidates if silenced(a.fingerprint, [matcher])]
    return Added(silence, sorted(matched, key=lambda a: a.fingerprint), len(candidates))


def listed(store: Store, now: datetime) -> list[Silence]:
    """Active silences (soonest to end first), then those ended within
    ``RECENT`` (latest first)."""
    with store.transaction() as tx:
        found = tx.silences_ending_after(now - RECENT)
    active = sorted((s for s in found if s.expires_at > now), key=lambda s: s.expires_at)
    return active + [s for s in found if s.expires_at <= now]


@dataclass(frozen=True)
class Expired:
    """A silence as it was before ``expire``; ``lifted``: it was in force
    and ends now (else it had already ended and is left as it was)."""

    silence: Silence
    lifted: bool


def expire(store: Store, silence_id: int, now: datetime) -> Expired | None:
    """Lift silence ``silence_id`` now (None if there is no such silence)."""
    with store.transaction() as tx:
        before = tx.silence(silence_id)
        if before is None:
            return None
        lifted = before.expires_at > now
        if lifted:
            tx.end_silence(silence_id, now)
    return Expired(before, lifted)


def muting(fingerprints: Iterable[str], active: Sequence[Silence]) -> dict[str, list[Silence]]:
    """fingerprint → the active silences that hold its notices back."""
    return {
        fp: matching
        for fp in fingerprints
        if (matching := [s for s in active if silenced(fp, [s.matcher])])
    }
