"""Backtesting: replay evaluations over a past window on the stored data,
with the alert lifecycle's clock at each step, and report what would have
been posted.

`--as-of` moves the data's clock only; tuning a threshold needs the whole
lifecycle (`for`, hysteresis, repeats, silences, quiet hours) run at each
instant of a window. This module does that without touching what a running
service relies on:

- facts are read as of each step, by the same ``evaluate`` the service runs;
- alert states live in memory, starting empty at the window's start, and
  move by ``dispatch.advance``, the code the service's alert transaction
  runs, so messages are grouped and worded exactly as they are posted;
- silences are read once and each applies between its creation and expiry;
  quiet hours defer a message to the end of its window;
- queued messages are "delivered" in outbox order, an update rebuilt from
  its post as the outbox worker does, into a list: no notifier is built, so
  a configured Slack token is never used.

Readiness and staleness are about sync state, not alert semantics: every
source with stored records counts as synced for the whole window.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor import dispatch
from monitor.config.file import Config
from monitor.config.types import format_duration
from monitor.errors import ConfigError
from monitor.evaluate import Evaluation, evaluate, select_goals
from monitor.findings import Alert
from monitor.interfaces import Message, MessageKind, Severity
from monitor.judge import messages
from monitor.judge.alerts import Notice
from monitor.store import Store
from monitor.store.alerts import Silence

MIN_STEP = timedelta(minutes=1)
#: More evaluations than this is a mistake (a year at one minute is 525,600);
#: the limit says so before hours are spent.
MAX_STEPS = 100_000
#: The rule columns of the tally, in order.
RULE_COUNTS = (
    "fired",
    "joined",
    "resolved",
    "ended",
    "superseded",
    "repeated",
    "escalated",
    "eased",
    "flapped",
    "silenced",
)
#: Tally column of each notice reason.
_COLUMN = {
    "firing": "fired",
    "joined": "joined",
    "resolved": "resolved",
    "ended": "ended",
    "superseded": "superseded",
    "repeat": "repeated",
    "escalated": "escalated",
    "eased": "eased",
    "silenced": "silenced",
}
#: Reasons that close an alert, for counting its flips.
_CLOSING = frozenset({"resolved", "ended", "superseded"})

Progress = Callable[[int, int, datetime], None]


def fixed_steps(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """The instants ``start, start + step, …`` before ``end``, counted in
    absolute time (a daylight-saving change does not shift them)."""
    first, last = start.astimezone(UTC), end.astimezone(UTC)
    if last <= first:
        raise ConfigError(
            f"--to ({end:%Y-%m-%d %H:%M %Z}) must be after --from ({start:%Y-%m-%d %H:%M %Z})"
        )
    if step < MIN_STEP:
        raise ConfigError(
            f"--step {format_duration(step)} is under a minute: write e.g. 1m, 15m or 1h"
        )
    count = math.ceil((last - first) / step)
    if count > MAX_STEPS:
        raise ConfigError(
            f"{count:,} evaluations ({format_duration(last - first)} every {format_duration(step)}) "
            f"is over the limit of {MAX_STEPS:,}: use a longer --step or a shorter window"
        )
    return [(first + i * step).astimezone(start.tzinfo) for i in range(count)]


def default_step(config: Config) -> timedelta:
    """The shortest sync interval of the sources, at least a minute: the
    service evaluates after every sync, when new data arrives."""
    return max(MIN_STEP, min(s.every for s in config.sources.values()))


@dataclass(frozen=True)
class Posted:
    """A message as it would have been delivered. ``queued_at``: the
    evaluation that decided it; ``at``: when it would go out (later when
    quiet hours deferred it). ``events``: why each line is there, by
    fingerprint (a notice reason; in an update, ``resolved`` or ``open``)."""

    id: int
    at: datetime
    queued_at: datetime
    channel: str
    kind: MessageKind
    payload: Mapping[str, Any]
    events: Mapping[str, str]

    def message(self) -> Message:
        return messages.to_message(self.channel, self.kind, self.payload)


@dataclass
class AlertHistory:
    """What the replay said about one alert: each notice with the step it
    came from, and its state when the window ended. ``silenced`` marks
    notices a silence held back; the lifecycle retries an unannounced alert
    at every step, so a run of them is one event."""

    rule: str
    title: str
    severity: Severity
    state: str = ""
    events: list[tuple[datetime, str]] = field(default_factory=list)

    def count(self, event: str) -> int:
        return sum(1 for _, e in self.events if e == event)

    @property
    def first_fired(self) -> datetime | None:
        return next((at for at, e in self.events if e == "firing"), None)

    @property
    def flips(self) -> int:
        """Changes between firing and resolved after the first firing: 0
        fired and stayed, 1 fired and cleared, more is flapping."""
        changes, last = 0, None
        for _, reason in self.events:
            if reason != "firing" and reason not in _CLOSING:
                continue
            event = "closed" if reason in _CLOSING else reason
            if last is not None and event != last:
                changes += 1
            last = event
        return changes

    @property
    def flapped(self) -> bool:
        """Fired, cleared and fired again."""
        return self.flips >= 2


@dataclass
class Replay:
    """What a replay saw: the window, the evaluations run, every message
    in delivery order and each announced alert's history."""

    start: datetime
    end: datetime
    evaluations: int = 0
    messages: list[Posted] = field(default_factory=list)
    alerts: dict[str, AlertHistory] = field(default_factory=dict)
    #: Sources left unjudged for the whole window, and why.
    waiting: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def rules(self) -> dict[str, dict[str, int]]:
        """Per rule: notices by kind, and the alerts that flapped."""
        out: dict[str, dict[str, int]] = {}
        for history in self.alerts.values():
            row = out.setdefault(history.rule, dict.fromkeys(RULE_COUNTS, 0))
            for _, event in history.events:
                row[_COLUMN[event]] += 1
            row["flapped"] += history.flapped
        return dict(sorted(out.items()))


def replay(
    config: Config,
    store: Store,
    instants: Sequence[datetime],
    *,
    goal: str | None = None,
    on_step: Callable[[Evaluation], None] | None = None,
    progress: Progress | None = None,
) -> Replay:
    """Evaluate at each of ``instants`` (ascending) and run the alert
    lifecycle on the findings with its clock at that instant. ``goal``:
    only that goal (and no SLA rule). ``on_step`` sees each evaluation."""
    if not instants:
        raise ConfigError("nothing to replay: the window holds no step")
    began = time.perf_counter()
    start, end = instants[0], instants[-1]
    result = Replay(start, end, waiting=_unjudged(config, store, goal))
    silences = _silences(store, start, end)
    state: dict[str, Alert] = {}
    outbox = _Outbox(config)
    for done, at in enumerate(instants, 1):
        outbox.deliver(state, before=at)
        evaluation = evaluate(config, store, at, goal=goal, waiting=result.waiting, fold_sla=False)
        if on_step is not None:
            on_step(evaluation)
        step = dispatch.advance(
            state,
            evaluation.findings,
            at,
            config,
            matchers=[s.matcher for s in silences if s.created_at <= at < s.expires_at],
            enqueue=outbox.enqueuer(at),
            predecessor=functools.partial(_predecessor, state),
            held=evaluation.held,
            held_critical=evaluation.held_critical,
            stale_sources=evaluation.stale_sources,
        )
        state.update(step.alerts)
        for fingerprint in step.forgotten:
            state.pop(fingerprint, None)
        _tally(result.alerts, at, step.spoken, step.silenced)
        outbox.deliver(state, until=at)
        if progress is not None:
            progress(done, len(instants), at)
    outbox.deliver(state)
    for fingerprint, history in result.alerts.items():
        alert = state.get(fingerprint)
        history.state = alert.state if alert is not None else "forgotten"
    result.evaluations = len(instants)
    result.messages = outbox.delivered
    result.seconds = time.perf_counter() - began
    return result


def _predecessor(state: Mapping[str, Alert], alert: Alert) -> Alert | None:
    """What the alert transaction's ``predecessor`` finds in the database,
    from the alerts the replay holds: the same problem's alert that closed
    as the period just before ``alert``'s ended."""
    start = alert.period.partition("..")[0]
    for before in state.values():
        if (
            before.closed_as == "ended"
            and before.fingerprint != alert.fingerprint
            and before.lineage == alert.lineage
            and before.period.partition("..")[2] == start
        ):
            return before
    return None


def _unjudged(config: Config, store: Store, goal: str | None) -> dict[str, str]:
    """The sources of the replayed goals and rules that hold no records
    (left unjudged, as the service leaves them); an error when that is all
    of them."""
    items = [*select_goals(config, goal), *(config.sla if goal is None else ())]
    if not items:
        raise ConfigError("nothing to replay: the config has no goals and no SLA rules")
    used = sorted({item.source for item in items})
    waiting = {}
    for source in used:
        if not store.has_records(source):
            waiting[source] = "no data for this source"
    if len(waiting) == len(used):
        raise ConfigError(
            f"no data in the store for {', '.join(used)}: run `alignmon sync` first, or point "
            "--config at the service's config"
        )
    return waiting


def _silences(store: Store, start: datetime, end: datetime) -> list[Silence]:
    with store.transaction() as tx:
        return tx.silences_during(start, end + timedelta(microseconds=1))


def _tally(
    alerts: dict[str, AlertHistory],
    at: datetime,
    spoken: Iterable[Notice],
    held_back: Iterable[Notice],
) -> None:
    said = [(n, str(n.reason)) for n in spoken] + [(n, "silenced") for n in held_back]
    for notice, event in said:
        alert = notice.alert
        history = alerts.setdefault(
            alert.fingerprint, AlertHistory(alert.rule, alert.title, alert.severity)
        )
        history.title, history.severity = alert.title, alert.severity
        if event == "silenced" and history.events and history.events[-1][1] == event:
            continue
        history.events.append((at, event))


@dataclass
class _Row:
    id: int
    queued: dispatch.Queued
    queued_at: datetime
    not_before: datetime


class _Outbox:
    """The outbox, in memory: rows queued by each step, delivered in the
    order the worker delivers them (due time, then id)."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._ids = itertools.count(1)
        self._pending: list[_Row] = []
        self._payloads: dict[int, Mapping[str, Any]] = {}
        self.delivered: list[Posted] = []

    def enqueuer(self, now: datetime) -> dispatch.Enqueue:
        alerts = self._config.alerts
        not_before = dispatch.quiet_until(now, alerts.quiet_hours, self._config.zone)

        def enqueue(queued: dispatch.Queued) -> int:
            row = _Row(next(self._ids), queued, now, not_before)
            self._pending.append(row)
            self._payloads[row.id] = queued.payload
            return row.id

        return enqueue

    def deliver(
        self,
        alerts: Mapping[str, Alert],
        *,
        before: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        """Deliver the rows due before ``before`` or by ``until`` (all of
        them with neither), updates rebuilt from ``alerts`` as they stand."""
        due = [
            row
            for row in self._pending
            if (before is None or row.not_before < before)
            and (until is None or row.not_before <= until)
        ]
        if not due:
            return
        taken = {row.id for row in due}
        self._pending = [row for row in self._pending if row.id not in taken]
        for row in sorted(due, key=lambda r: (r.not_before, r.id)):
            self.delivered.append(self._posted(row, alerts))

    def _posted(self, row: _Row, alerts: Mapping[str, Alert]) -> Posted:
        queued = row.queued
        payload: Mapping[str, Any] = queued.payload
        events = {n.alert.fingerprint: str(n.reason) for n in queued.notices}
        if queued.kind == "update" and queued.parent_id is not None:
            parent = self._payloads[queued.parent_id]
            resolved = {
                line["fingerprint"]: alert.closed_as or "resolved"
                for line in parent.get("lines", [])
                if (alert := alerts.get(line["fingerprint"])) is not None
                and alert.state == "resolved"
            }
            payload = messages.updated_payload(parent, resolved)
            events = {
                line["fingerprint"]: "resolved" if line["fingerprint"] in resolved else "open"
                for line in parent.get("lines", [])
            }
        return Posted(
            row.id,
            max(row.queued_at, row.not_before),
            row.queued_at,
            queued.channel,
            queued.kind,
            payload,
            events,
        )
