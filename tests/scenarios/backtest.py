"""Replay a window of a generated history as the service would run it.

The replay is the one ``alignmon backtest`` runs (``monitor.backtest``):
the config is validated (``Config.model_validate``), the generated records
are written once into a fresh SQLite store with ``Store.write_batch`` (an
evaluation only counts what is dated before its ``as_of``, so
future-dated records are invisible until their time), and then, for each
step ``t``, the goals and rules are evaluated at ``t`` and the alert
lifecycle advances with its clock at ``t``, through the same grouping and
wording the service's alert transaction uses (``dispatch.advance``). The
messages come back with the time they would have been posted. The source
counts as synced throughout, so no "Now watching" post is among them.

``first_sync`` is about sync state rather than alert semantics, so it
drives the service's own entry points instead: an ``App`` with a settable
clock, ``evaluate``, ``record`` and ``deliver`` after each page, and a
recording notifier in place of Slack.

Cadence ``service``: every 15 minutes inside working hours (09:00–17:00,
Monday–Friday, in the config's time zone) and hourly outside them, as the
service's sync interval and alert checks see it. Cadence ``hourly``:
hourly throughout, for quick tests.
"""

from __future__ import annotations

import tempfile
import time
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from monitor.backtest import replay
from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.evaluate import Evaluation
from monitor.interfaces import Batch, CheckResult, FunnelRecord, Message, Severity
from monitor.service.app import App
from monitor.store import Store
from tests.scenarios.generator import (
    WORK_END,
    WORK_START,
    History,
    Scenario,
    WorkingClock,
    generate,
)

Cadence = Literal["service", "hourly"]
Event = Literal["firing", "worse", "easing", "repeat", "joined", "resolved", "ended"]
CADENCES: tuple[Cadence, ...] = ("service", "hourly")
SOURCE = "crm"
GOAL = "q-plan"
SLA_RULE = "mql-follow-up"
#: The follow-up window of ``SLA_RULE``, in working hours.
SLA_HOURS = 4.0
CHUNK = 2_000
#: How a line says why it is sent (monitor/judge/messages.py): in a post,
#: a line with none of these is a first firing; in a thread reply, a
#: resolution.
_PREFIXES: dict[str, dict[str, Event]] = {
    "post": {"Worse: ": "worse", "Easing: ": "easing", "Still open: ": "repeat"},
    "reply": {"New: ": "joined", "Period ended: ": "ended"},
}


class Clock:
    """The service's clock, set by the replay."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A notifier that keeps every message with the clock's time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, Message]] = []

    def send(self, message: Message) -> str:
        self.sent.append((self.clock(), message))
        return f"C1:{len(self.sent)}"

    def check(self) -> list[CheckResult]:
        return []


def service_config(scenario: Scenario, database: str, *, sla: bool = True) -> dict[str, Any]:
    """The config a team with this funnel would write: one monthly goal of
    the closes the truth implies, every rate learned (``auto``), paced by
    default (each stage's learned arrival profile), and the 4-hour MQL
    follow-up rule."""
    goal = {
        "name": GOAL,
        "source": SOURCE,
        "period": "month",
        "closes": scenario.plan().closes,
        "rates": {"sql_to_won": "auto", "mql_to_sql": "auto", "lead_to_mql": "auto"},
    }
    rules = [{"name": SLA_RULE, "source": SOURCE, "stage": "mql", "within": "4h"}]
    return {
        "timezone": scenario.timezone,
        "database": database,
        "sources": {SOURCE: {"kind": "demo"}},
        "goals": [goal],
        "sla": rules if sla else [],
    }


@dataclass(frozen=True)
class Line:
    """One line of a delivered message: an alert firing, getting worse or
    easier, repeated, records joining it, or its closing (a thread reply).
    ``links``: the URLs of the records it names."""

    at: datetime
    event: Event
    fingerprint: str
    severity: Severity
    title: str
    links: tuple[str, ...] = ()
    text: str = ""

    @property
    def rule(self) -> str:
        return self.fingerprint.split("/", 1)[0]


@dataclass(frozen=True)
class Found:
    """A raw finding of one evaluation, before the alert lifecycle."""

    rule: str
    fingerprint: str
    severity: Severity


@dataclass(frozen=True)
class Step:
    """One evaluation: its raw findings, the goal's target and actual per
    stage, and the share of its period elapsed."""

    at: datetime
    findings: tuple[Found, ...]
    targets: dict[str, int | None]
    actuals: dict[str, int | None]
    elapsed: float = 0.0


@dataclass
class Backtest:
    """What a replay saw: every evaluation's raw findings and every
    message delivered."""

    scenario: Scenario
    cadence: Cadence
    start: datetime
    end: datetime
    steps: list[Step] = field(default_factory=list)
    messages: list[tuple[datetime, Message]] = field(default_factory=list)
    seconds: float = 0.0
    history: History | None = None

    @property
    def evaluations(self) -> int:
        return len(self.steps)

    def lines(self, prefix: str = "") -> list[Line]:
        """Lines of posts and thread replies (records joining an alert, its
        closing) whose fingerprint starts with ``prefix``, oldest first
        (updates of earlier posts are left out: they repeat what the replies
        said)."""
        out = []
        for at, message in self.messages:
            if message.kind not in ("post", "reply"):
                continue
            for line in message.lines:
                if not line.fingerprint.startswith(prefix):
                    continue
                event: Event = "resolved" if message.kind == "reply" else "firing"
                for text, named in _PREFIXES[message.kind].items():
                    if line.title.startswith(text):
                        event = named
                links = tuple(url for _, url in line.links)
                out.append(
                    Line(at, event, line.fingerprint, line.severity, line.title, links, line.text)
                )
        return out

    def posted(self) -> Counter[str]:
        """Alerts posted (first firings, and firings again after a
        resolution) per rule."""
        return Counter(line.rule for line in self.lines() if line.event == "firing")

    def first_posted(self, prefix: str) -> datetime | None:
        """When the first alert whose fingerprint starts with ``prefix``
        (e.g. ``conversion-drift/q-plan/mql``) was posted as firing."""
        return next((x.at for x in self.lines(prefix) if x.event == "firing"), None)

    def found(self) -> Counter[str]:
        """Raw findings per rule, summed over every evaluation."""
        return Counter(f.rule for step in self.steps for f in step.findings)

    def first_found(self, prefix: str) -> datetime | None:
        for step in self.steps:
            if any(f.fingerprint.startswith(prefix) for f in step.findings):
                return step.at
        return None

    def flips(self, prefix: str = "") -> dict[str, int]:
        """Per fingerprint: changes between firing and resolved after its
        first firing. 0: fired and stayed; 1: fired once and cleared; more
        is flapping."""
        out: dict[str, int] = {}
        state: dict[str, str] = {}
        for line in self.lines(prefix):
            if line.event not in ("firing", "resolved"):
                continue
            previous = state.get(line.fingerprint)
            if previous is None:
                out.setdefault(line.fingerprint, 0)
            elif previous != line.event:
                out[line.fingerprint] += 1
            state[line.fingerprint] = line.event
        return out

    def refires(self, prefix: str = "") -> dict[str, int]:
        """Per fingerprint: firings after the first (each one follows a
        resolution)."""
        fired = Counter(x.fingerprint for x in self.lines(prefix) if x.event == "firing")
        return {fp: n - 1 for fp, n in fired.items()}

    def early_resolutions(self, prefix: str) -> list[Line]:
        """Resolutions of alerts matching ``prefix`` before their period
        ended (at a period's turn every alert of it resolves, rightly)."""
        zone = self.scenario.zone
        return [
            line
            for line in self.lines(prefix)
            if line.event == "resolved" and line.at < period_end(line.fingerprint, zone)
        ]

    # -- follow-up breaches, severity changes, repeats, period ends -------------

    def deadlines(self) -> dict[str, Deadline]:
        """Every owned MQL's follow-up deadline by record URL, from the
        generator's own working clock: ``SLA_HOURS`` working hours after
        assignment (on entry), a deadline at a day's end staying there."""
        assert self.history is not None, "replayed without its history"
        zone = self.scenario.zone
        first = self.scenario.first_day
        clock = WorkingClock(first - timedelta(days=first.weekday()))
        out = {}
        for person in self.history.persons:
            if person.mql_at is None or person.owner_email is None:
                continue
            local = person.mql_at.astimezone(zone).replace(tzinfo=None)
            deadline = _end_of_hours(clock, clock.hours(local) + SLA_HOURS)
            out[person.url] = Deadline(
                person.url,
                person.owner_email,
                deadline.replace(tzinfo=zone).astimezone(UTC),
                person.first_touch_at,
            )
        return out

    def breaches(self) -> list[Breach]:
        """The MQLs whose deadline fell due untouched in the replay: still
        untouched at the first evaluation at or after the deadline (one
        touched before that evaluation was late, never open), and when an
        ``sla-breach`` line first named each while it was open."""
        times = [step.at for step in self.steps]
        named: dict[str, list[datetime]] = defaultdict(list)
        for line in self.lines("sla-breach/"):
            if line.event not in ("resolved", "ended"):
                for url in line.links:
                    named[url].append(line.at)
        out = []
        for item in self.deadlines().values():
            index = bisect_left(times, item.deadline)
            if index == len(times) or item.deadline < self.start:
                continue
            due = times[index]
            if item.touched_at is not None and item.touched_at < due:
                continue
            named_at = min(
                (t for t in named[item.url] if item.deadline <= t and item.open_at(t)),
                default=None,
            )
            out.append(Breach(item, due, named_at))
        return sorted(out, key=lambda b: b.deadline.deadline)

    def resolved_while_breached(self) -> list[Line]:
        """Resolution lines that name a record past its deadline by then,
        still untouched or touched only after it: "resolved" said of a
        breach. A breach alert's own resolution is left out: a touch is what
        resolves it."""
        deadlines = self.deadlines()
        return [
            line
            for line in self.lines()
            if line.event == "resolved"
            and not line.fingerprint.startswith("sla-breach/")
            and any(url in deadlines and deadlines[url].deadline <= line.at for url in line.links)
        ]

    def severity_changes(self, prefix: str = "") -> list[Line]:
        return [line for line in self.lines(prefix) if line.event in ("worse", "easing")]

    def severity_flips(self, within: timedelta = timedelta(hours=24)) -> list[Line]:
        """Severity changes that undo the alert's previous change within
        ``within``: worse then easing (or easing then worse) again."""
        last: dict[str, Line] = {}
        out = []
        for line in self.severity_changes():
            previous = last.get(line.fingerprint)
            if previous and previous.event != line.event and line.at - previous.at <= within:
                out.append(line)
            last[line.fingerprint] = line
        return out

    def repeats_outside_working_days(self) -> list[Line]:
        """Repeats delivered on a weekend (the scenarios' calendar has no
        holidays)."""
        zone = self.scenario.zone
        return [
            line
            for line in self.lines()
            if line.event == "repeat" and line.at.astimezone(zone).weekday() >= 5
        ]

    def rollover_resolutions(self) -> list[Line]:
        """ "Resolved" said of an alert once its period was over: the period
        ended, nothing recovered."""
        zone = self.scenario.zone
        return [
            line
            for line in self.lines()
            if line.event == "resolved" and line.at >= period_end(line.fingerprint, zone)
        ]

    def message_kinds(self) -> Counter[str]:
        """Messages delivered, by kind (post, reply, update, summary)."""
        return Counter(message.kind for _, message in self.messages)


@dataclass(frozen=True)
class Deadline:
    """An owned MQL: its follow-up deadline and first touch (None: never)."""

    url: str
    owner: str
    deadline: datetime
    touched_at: datetime | None

    def open_at(self, at: datetime) -> bool:
        """Untouched as an evaluation at ``at`` sees it (a touch at that
        very instant is seen by the next one)."""
        return self.touched_at is None or self.touched_at >= at


@dataclass(frozen=True)
class Breach:
    """A deadline that fell due untouched; ``due`` is the first evaluation
    at or after it, ``named_at`` the first line naming it while open."""

    deadline: Deadline
    due: datetime
    named_at: datetime | None

    @property
    def prompt(self) -> bool:
        """Named by the first evaluation that could see it."""
        return self.named_at is not None and self.named_at <= self.due


def _end_of_hours(clock: WorkingClock, hours: float) -> datetime:
    """``clock.wall``, except that an instant exactly at a working day's end
    stays at that day's 17:00 (as the product's business time does)."""
    if hours > 0 and hours % 8.0 == 0:
        return clock.wall(hours - 8.0) + timedelta(hours=8)
    return clock.wall(hours)


def period_end(fingerprint: str, zone: ZoneInfo) -> datetime:
    """The end of the goal period named in a fingerprint
    (``…/2026-06-01..2026-07-01``); far in the future if it names none."""
    for part in fingerprint.split("/"):
        if ".." in part:
            end = date.fromisoformat(part.split("..", 1)[1])
            return datetime(end.year, end.month, end.day, tzinfo=zone).astimezone(UTC)
    return datetime.max.replace(tzinfo=UTC)


def step_times(
    start: datetime, end: datetime, zone: ZoneInfo, cadence: Cadence
) -> Iterator[datetime]:
    """Evaluation instants in ``[start, end)``."""
    busy, quiet = timedelta(minutes=15), timedelta(hours=1)
    t = start
    while t < end:
        yield t
        local = t.astimezone(zone)
        working = local.weekday() < 5 and WORK_START <= local.time() < WORK_END
        t += busy if cadence == "service" and working else quiet


def run(
    scenario: Scenario,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    cadence: Cadence = "hourly",
    folder: Path | None = None,
    history: History | None = None,
) -> Backtest:
    """Replay ``[start, end)`` (default: the month under test) of
    ``scenario`` at ``cadence``, in a new SQLite database in ``folder`` (a
    temporary directory by default)."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="alignmon-scenario-") as tmp:
            return run(
                scenario, start=start, end=end, cadence=cadence, folder=Path(tmp), history=history
            )
    start = start or scenario.midnight(scenario.month)
    end = end or scenario.midnight(scenario.month_end)
    history = history or generate(scenario)
    database = f"sqlite:///{folder / f'{scenario.name}.db'}"
    config = Config.model_validate(service_config(scenario, database))
    store = Store(database)
    result = Backtest(scenario, cadence, start, end, history=history)

    def observe(evaluation: Evaluation) -> None:
        (report,) = evaluation.goals
        result.steps.append(
            Step(
                evaluation.as_of,
                tuple(Found(f.rule, f.fingerprint, f.severity) for f in evaluation.findings),
                {s.stage: s.target for s in report.stages},
                {s.stage: s.actual for s in report.stages},
                report.elapsed,
            )
        )

    began = time.perf_counter()
    try:
        store.upgrade()
        store.use_zone(config.zone)
        write(store, history.records, start)
        instants = list(step_times(start, end, scenario.zone, cadence))
        replayed = replay(config, store, instants, on_step=observe)
    finally:
        store.close()
    result.messages = [(posted.at, posted.message()) for posted in replayed.messages]
    result.seconds = time.perf_counter() - began
    return result


def first_sync(scenario: Scenario, folder: Path, *, pages: int) -> tuple[list[str], list[str]]:
    """A first sync of ``scenario``'s whole history into an empty database,
    spread over ``pages`` pages with the service's every-minute evaluation
    (and delivery) after each, then completed: the texts posted while it
    ran, and those posted by the first evaluation after it completed."""
    history = generate(scenario)
    database = f"sqlite:///{folder / f'{scenario.name}-first-sync.db'}"
    config = Config.model_validate(service_config(scenario, database))
    clock = Clock(scenario.midnight(scenario.month) + timedelta(days=14, hours=10))
    app = App(LoadedConfig(config, "scenario.yaml"), clock=clock)
    recorder = Recorder(clock)
    app._notifier = recorder
    records = history.records
    size = -(-len(records) // pages)
    try:
        for first in range(0, len(records), size):
            write(app.store, records[first : first + size], clock.now)
            clock.now += timedelta(minutes=1)
            app.record(app.evaluate(as_of=clock.now))
            app.deliver()
        during = [_describe(m) for _, m in recorder.sent]
        app.store.record_sync(SOURCE, clock.now, ok=True, records_seen=len(records))
        clock.now += timedelta(minutes=1)
        app.record(app.evaluate(as_of=clock.now))
        app.deliver()
        after = [_describe(m) for _, m in recorder.sent][len(during) :]
    finally:
        app.close()
    return during, after


def _describe(message: Message) -> str:
    """A message as its title and the fingerprints it carries."""
    return f"{message.title} [{', '.join(line.fingerprint for line in message.lines)}]"


def write(store: Store, records: tuple[FunnelRecord, ...], at: datetime) -> None:
    """Store ``records`` as a sync at ``at`` would, in batches."""
    by_type: dict[str, list[FunnelRecord]] = {}
    for record in records:
        by_type.setdefault(record.object_type, []).append(record)
    for object_type, items in by_type.items():
        for i in range(0, len(items), CHUNK):
            store.write_batch(SOURCE, object_type, Batch(records=items[i : i + CHUNK]), at)
