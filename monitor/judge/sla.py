"""The follow-up SLA engine (docs/design.md, "Follow-up SLA"): stage entries, assignments and
first touches in; per-record states, compliance and findings out.

Sits beside the reconciler: the store hands it one rule's ``SlaRecord`` rows
(its source, stage and segment), the service hands it ``as_of``; it does no
I/O and never reads the clock, so a backtest is the same call with an older
``as_of``. Deadlines are known in advance, so ``next_deadline`` tells the
scheduler when the next state change falls due and a breach is seen within a
minute of its deadline even between CRM syncs. States, compliance and
findings stay in one module because they share one reading of the rules below.

Choices behind the rules:

- ``at_risk`` is measured in business time: a record is at risk once less than
  ``warn_before`` of *working* time is left. A rep can only act in working
  hours; a wall-clock warning before a Monday 9:30 deadline would arrive at
  8:30 Monday with half an hour to act, while this one arrives on Friday.
- Compliance covers the records *decided* in the trailing window
  ``(as_of - 7 days, as_of]``: a met record at its touch (or at its clock start
  when touched earlier), a late or open one at its deadline. Each outcome is
  counted once, as soon as it is known, so neither good nor bad outcomes are
  over-represented. ``at_risk`` and ``pending`` counts are of the untouched
  records undecided now (a touched record that never had an owner waits for
  nothing).
- Time to first touch (median, p90) is over the touched records in the
  window; open records have no touch yet and show up in the % met instead.
- A touch before the clock started (the rep reached out before assignment or
  before the stage) meets the SLA with zero SLA time.
- Only what is dated before ``as_of`` counts: a later stage entry leaves the
  record out, a later assignment leaves it ``pending``, a later touch leaves
  it untouched. At ``as_of`` equal to a deadline the record is ``open``; a
  touch at that very instant is seen (as ``met``) by the next evaluation.
- A touched, assigned record's outcome never changes again, so the store may
  hand such records in already judged (``SlaFold``, made by ``fold``): the
  figures are those of judging them afresh, without the business time.
"""

from __future__ import annotations

import enum
import itertools
import logging
import math
import operator
from array import array
from bisect import bisect_left
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import SlaRule
from monitor.config.types import format_duration
from monitor.display import shown_name
from monitor.facts import COMPLIANCE_WINDOW, SlaFold, SlaOutcomes, SlaRecord
from monitor.findings import Finding, Rule
from monitor.interfaces import Severity
from monitor.judge.business_time import BusinessCalendar
from monitor.judge.derived import derived
from monitor.judge.format import ago, stage_noun

log = logging.getLogger(__name__)


class State(enum.StrEnum):
    MET = "met"
    LATE = "late"
    OPEN = "open"
    AT_RISK = "at_risk"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class RecordSla:
    """A record's standing as of the evaluation. ``start``, ``warn_at`` and
    ``deadline`` are None while the clock has not started; ``sla_time`` (from
    ``start``) and ``speed_to_lead`` (from stage entry) are business time, set
    once touched."""

    record: SlaRecord
    state: State
    start: datetime | None
    warn_at: datetime | None
    deadline: datetime | None
    touched_at: datetime | None
    sla_time: timedelta | None
    speed_to_lead: timedelta | None

    @property
    def decided_at(self) -> datetime | None:
        """When the outcome became known (see the module notes), or None."""
        if self.state is State.MET and self.touched_at and self.start:
            return max(self.touched_at, self.start)
        if self.state in (State.LATE, State.OPEN):
            return self.deadline
        return None


@dataclass(frozen=True, slots=True)
class Compliance:
    """Counts by state and first-touch times (business seconds) for a group
    of records: everyone, or one owner."""

    counts: Mapping[State, int]
    met_rate: float | None
    sla_time_median: float | None
    sla_time_p90: float | None
    speed_to_lead_median: float | None
    speed_to_lead_p90: float | None

    @property
    def decided(self) -> int:
        return sum(self.counts[s] for s in (State.MET, State.LATE, State.OPEN))

    def to_dict(self) -> dict[str, object]:
        return {
            "counts": {str(state): self.counts[state] for state in State},
            "decided": self.decided,
            "compliance": self.met_rate,
            "sla_time_seconds": {
                "median": _whole(self.sla_time_median),
                "p90": _whole(self.sla_time_p90),
            },
            "speed_to_lead_seconds": {
                "median": _whole(self.speed_to_lead_median),
                "p90": _whole(self.speed_to_lead_p90),
            },
        }


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)


@dataclass(frozen=True, slots=True)
class SlaResult:
    """One rule evaluated as of ``as_of``. ``by_owner`` is keyed by owner
    email, with unassigned records under ``""``. ``records``: those judged
    here, which are all but those whose outcome came folded (touched and
    assigned before the fold: counted in ``overall`` and ``by_owner``, and
    in ``judged``); every record waiting for a touch is among them."""

    rule: str
    stage: str
    within: timedelta
    as_of: datetime
    window_start: datetime
    zone: ZoneInfo
    records: Sequence[RecordSla]
    overall: Compliance
    by_owner: Mapping[str, Compliance]
    owner_names: Mapping[str, str]
    #: Records judged: ``records`` and the folded outcomes counted with them.
    judged: int = 0
    #: How ``records`` were judged, for a later evaluation to reuse.
    judgement: Judgement | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, object]:
        upcoming = next_deadline(self)
        return {
            "rule": self.rule,
            "stage": self.stage,
            "within_seconds": round(self.within.total_seconds()),
            "as_of": self.as_of.isoformat(),
            "window": {"start": self.window_start.isoformat(), "end": self.as_of.isoformat()},
            **self.overall.to_dict(),
            "by_owner": [
                {"owner": owner or None, "name": self.owner_names.get(owner), **stats.to_dict()}
                for owner, stats in sorted(self.by_owner.items())
            ],
            "next_deadline": upcoming.isoformat() if upcoming else None,
        }


@dataclass(frozen=True, slots=True)
class Judgement:
    """``records`` judged at ``as_of``, with what the compliance window
    counts of them, and per record the first instant after ``as_of`` at
    which judging it gives another state or its decision leaves the window
    (``changes``). The SLA check runs every minute, yet a record's state
    changes a few times in its life: at a busy CRM's volume thousands of
    records wait for a first touch, and a check judges again only those
    whose change has come (see ``_advance``)."""

    records: tuple[SlaRecord, ...]
    as_of: datetime
    window: timedelta
    #: Per record: its judgement (None: entered after ``as_of``).
    slots: tuple[RecordSla | None, ...]
    changes: tuple[datetime, ...]
    until: datetime
    items: tuple[RecordSla, ...]
    owners: tuple[str, ...]
    named: Mapping[str, tuple[int, str]]
    parts: Mapping[str, _Part]
    overall: _Part


def evaluate(
    rule: SlaRule,
    calendar: BusinessCalendar,
    records: Iterable[SlaRecord],
    as_of: datetime,
    *,
    window: timedelta = COMPLIANCE_WINDOW,
    folds: Sequence[SlaFold] = (),
    since: datetime | None = None,
    earlier: Judgement | None = None,
) -> SlaResult:
    """Judge every record against ``rule`` as of ``as_of`` and summarise the
    trailing ``window``.

    Records touched before ``as_of - window`` whose clock also started
    before it change no number here; the store may leave them out to save
    time (about 15 µs a record). Untouched records stay ``open`` however old,
    so it is the caller who bounds how far back an untouched lead still
    matters. ``folds``: outcomes judged earlier (see ``fold``), of records
    not in ``records``, counted as if they were, for a look-back starting
    at ``since``; their records are left out of ``SlaResult.records``.
    ``earlier``: a previous result's ``judgement`` under the same rule and
    calendar, reused where it holds."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware instant")
    if earlier is None or earlier.as_of > as_of or earlier.window != window:
        earlier = _nothing_judged(as_of, window)
    judgement = _advance(earlier, rule, calendar, tuple(records), as_of)
    window_start = as_of - window
    owners_seen = dict.fromkeys(judgement.owners)
    named = dict(judgement.named)
    owners: dict[str, _Tally] = defaultdict(_Tally)
    if folds:
        if since is None:
            raise ValueError("folded outcomes need the look-back's start")
        bounds = _Bounds(_micros(since), _micros(window_start), _micros(as_of))
        for fold in folds:
            for outcomes in fold.owners:
                latest = _count_folded(outcomes, bounds, owners[outcomes.owner])
                if latest is not None:
                    owners_seen.setdefault(outcomes.owner)
                    if outcomes.owner and outcomes.owner_name:
                        _name(named, outcomes.owner, latest, outcomes.owner_name)
    everyone = _Tally()
    for tally in owners.values():
        everyone.add(tally)
    result = SlaResult(
        rule=rule.name,
        stage=rule.stage,
        within=rule.within,
        as_of=as_of,
        window_start=window_start,
        zone=calendar.zone,
        records=judgement.items,
        overall=_compliance(judgement.overall, everyone if owners else None),
        by_owner={
            owner: _compliance(judgement.parts.get(owner, _NOTHING), owners.get(owner))
            for owner in owners_seen
        },
        owner_names={owner: name for owner, (_, name) in named.items()},
        judged=len(judgement.items) + everyone.judged,
        judgement=judgement,
    )
    log.debug(
        "sla %s as of %s: %d records, %s",
        rule.name,
        as_of.isoformat(),
        result.judged,
        dict(result.overall.counts),
    )
    return result


def _nothing_judged(as_of: datetime, window: timedelta) -> Judgement:
    """The judgement of no records: a fresh one advances from it."""
    return Judgement((), as_of, window, (), (), _NEVER, (), (), {}, {}, _Part(Counter(), [], []))


def _advance(
    earlier: Judgement,
    rule: SlaRule,
    calendar: BusinessCalendar,
    records: tuple[SlaRecord, ...],
    as_of: datetime,
) -> Judgement:
    """``records`` judged at ``as_of`` (not before ``earlier``'s): a record
    ``earlier`` judged (the same object) is judged again only once its
    change has come, the others afresh; the counts and times of each
    record judged again, new or gone are taken out of its owner's part and
    the overall one, and those of its new judgement put in. A sync or an
    hourly fold changes a few records; a check a minute later, none."""
    same = len(records) == len(earlier.records) and all(map(operator.is_, records, earlier.records))
    if same and as_of < earlier.until:
        return earlier
    window = earlier.window
    before = (earlier.as_of - window, earlier.as_of)
    now = (as_of - window, as_of)
    slots: list[RecordSla | None]
    gone: list[RecordSla] = []
    if same:
        slots, changes = list(earlier.slots), list(earlier.changes)
    else:
        slots, changes, gone = _matched(earlier, records, as_of)
    due = [i for i, moment in enumerate(changes) if moment <= as_of]
    parts = dict(earlier.parts)
    overall = earlier.overall.copy()
    copied: set[str] = set()

    def part(owner: str) -> _Part:
        if owner not in copied:
            parts[owner] = parts.get(owner, _NOTHING).copy()
            copied.add(owner)
        return parts[owner]

    for item in [*gone, *(old for i in due if (old := slots[i]) is not None)]:
        if _counted(item, *before):
            part(item.record.owner_email or "").remove(item)
            overall.remove(item)
    joined: list[RecordSla] = []
    for i in due:
        record, old = records[i], slots[i]
        if record.entered_at >= as_of:
            slots[i], changes[i] = None, record.entered_at + _MICROSECOND
            continue
        item = slots[i] = _judge(record, rule, calendar, as_of)
        if old is None:
            joined.append(item)
        changes[i] = _next_change(item, as_of, window)
        if _counted(item, *now):
            part(record.owner_email or "").add(item)
            overall.add(item)
    for changed in (overall, *(parts[owner] for owner in copied)):
        changed.sort()
    items = tuple(item for item in slots if item is not None)
    owners, named = earlier.owners, earlier.named
    if joined or not same:
        # Owners in the order of their first record, each named by their
        # latest-entered one.
        owners = tuple(dict.fromkeys(item.record.owner_email or "" for item in items))
        parts = {owner: parts.get(owner, _NOTHING) for owner in owners}
        if any(_names([item]).items() <= named.items() for item in gone):
            named = _names(items)  # a gone record named its owner
        else:
            named = dict(named)
            for item in joined:
                _name_of(named, item)
    return Judgement(
        records=records,
        as_of=as_of,
        window=window,
        slots=tuple(slots),
        changes=tuple(changes),
        until=min(changes, default=_NEVER),
        items=items,
        owners=owners,
        named=named,
        parts=parts,
        overall=overall,
    )


def _matched(
    earlier: Judgement, records: tuple[SlaRecord, ...], as_of: datetime
) -> tuple[list[RecordSla | None], list[datetime], list[RecordSla]]:
    """Per record of ``records``, ``earlier``'s judgement and change where
    it judged the same object (an equal record read again is handed back
    as the same object, see ``monitor.store.sla``), else None and
    ``as_of`` (to judge now); and ``earlier``'s judgements of the records
    gone. The records kept mostly come in the same order, with a few
    added or dropped in between: matched from both ends first."""
    old = earlier.records
    if not old:  # a fresh judgement
        return [None] * len(records), [as_of] * len(records), []
    head, most = 0, min(len(records), len(old))
    while head < most and records[head] is old[head]:
        head += 1
    tail = 0
    while tail < most - head and records[-1 - tail] is old[-1 - tail]:
        tail += 1
    middle, was = records[head : len(records) - tail], range(head, len(old) - tail)
    position = {id(old[i]): i for i in was}
    slots = list(earlier.slots[:head])
    changes = list(earlier.changes[:head])
    kept = set()
    for record in middle:
        i = position.get(id(record))
        if i is not None and i not in kept and old[i] is record:
            kept.add(i)
            slots.append(earlier.slots[i])
            changes.append(earlier.changes[i])
        else:
            slots.append(None)
            changes.append(as_of)
    slots += earlier.slots[len(old) - tail :]
    changes += earlier.changes[len(old) - tail :]
    gone = [item for i in was if i not in kept and (item := earlier.slots[i]) is not None]
    return slots, changes, gone


def _names(items: Iterable[RecordSla]) -> dict[str, tuple[int, str]]:
    """Each owner's name as their latest-entered record gives it (then the
    greatest name): the same whichever order the records come in."""
    named: dict[str, tuple[int, str]] = {}
    for item in items:
        _name_of(named, item)
    return named


def _name_of(named: dict[str, tuple[int, str]], item: RecordSla) -> None:
    owner = item.record.owner_email
    if owner and item.record.owner_name:
        _name(named, owner, _micros(item.record.entered_at), item.record.owner_name)


def _next_change(item: RecordSla, as_of: datetime, window: timedelta) -> datetime:
    """The first instant after ``as_of`` at which judging ``item``'s record
    gives another state, or its decision leaves the window: a touch or an
    assignment counts from just after its instant, a warning or a deadline
    from its instant."""
    record = item.record
    moments = []
    touch = record.first_touch_at
    if touch is not None and touch >= as_of:
        moments.append(touch + _MICROSECOND)
    assigned = record.assigned_at or record.entered_at
    if record.owner_email and assigned >= as_of:
        moments.append(assigned + _MICROSECOND)
    if item.touched_at is None:
        moments += [m for m in (item.warn_at, item.deadline) if m is not None and m > as_of]
    decided = item.decided_at
    if decided is not None and decided + window > as_of:
        moments.append(decided + window)
    return min(moments, default=_NEVER)


def findings(rule: SlaRule, result: SlaResult, source: str) -> list[Finding]:
    """One ``sla-at-risk`` (warning) and one ``sla-breach`` (critical) finding
    per owner with records in that state, each listing its records, most
    urgent first. With ``report_late_touch``, one ``sla-late`` (info)
    finding per owner for the records first touched after their deadline
    in the compliance window, latest touch first: the alert lifecycle
    announces each once, as it joins."""
    groups: dict[tuple[State, str], list[RecordSla]] = defaultdict(list)
    for item in result.records:
        owner = item.record.owner_email
        if item.state in (State.AT_RISK, State.OPEN) and owner:
            groups[(item.state, owner)].append(item)
        elif item.state is State.LATE and owner and rule.report_late_touch:
            touched = item.touched_at
            if touched is not None and result.window_start < touched <= result.as_of:
                groups[(item.state, owner)].append(item)
    out = []
    for (state, owner), items in sorted(groups.items()):
        if state is State.LATE:
            items.sort(key=lambda item: (item.touched_at, item.record.crm_id), reverse=True)
            out.append(_late_finding(rule, result, source, owner, items))
            continue
        items.sort(key=lambda item: (item.deadline, item.record.crm_id))
        out.append(_finding(rule, result, source, state, owner, items))
    return out


def next_deadline(result: SlaResult) -> datetime | None:
    """The earliest warn time or deadline after ``as_of`` of an untouched
    record: when the next evaluation would see a state change."""
    upcoming = [
        moment
        for item in result.records
        if item.state in (State.PENDING, State.AT_RISK)
        for moment in (item.warn_at, item.deadline)
        if moment is not None and moment > result.as_of
    ]
    return min(upcoming, default=None)


def _judge(
    record: SlaRecord, rule: SlaRule, calendar: BusinessCalendar, as_of: datetime
) -> RecordSla:
    touch = record.first_touch_at
    if touch is not None and touch >= as_of:
        touch = None
    speed = calendar.between(record.entered_at, touch) if touch is not None else None
    assigned = record.assigned_at or record.entered_at
    if not record.owner_email or assigned >= as_of:
        return RecordSla(record, State.PENDING, None, None, None, touch, None, speed)
    start = max(record.entered_at, assigned)
    warn_at, deadline = _clock(start, rule, calendar)
    if touch is not None:
        state = State.MET if touch <= deadline else State.LATE
        sla_time = calendar.between(start, touch)
        return RecordSla(record, state, start, warn_at, deadline, touch, sla_time, speed)
    if as_of >= deadline:
        state = State.OPEN
    elif as_of >= warn_at:
        state = State.AT_RISK
    else:
        state = State.PENDING
    return RecordSla(record, state, start, warn_at, deadline, None, None, None)


def _clock(start: datetime, rule: SlaRule, calendar: BusinessCalendar) -> tuple[datetime, datetime]:
    """When a clock started at ``start`` warns and falls due."""
    # warn_at first, then the deadline from it: additivity makes this the same
    # deadline as start + within, for one bisection less.
    lead_time = max(rule.within - rule.warn_before, timedelta(0))
    warn_at = calendar.add(start, lead_time)
    return warn_at, calendar.add(warn_at, rule.within - lead_time)


@dataclass(frozen=True, slots=True)
class _Part:
    """What a group of judged records adds to a ``Compliance``: counts by
    state, and the first-touch times (microseconds, ascending) of those
    decided in the window."""

    counts: Counter[State]
    sla_times: list[int]
    speeds: list[int]

    def copy(self) -> _Part:
        return _Part(Counter(self.counts), list(self.sla_times), list(self.speeds))

    def add(self, item: RecordSla) -> None:
        """Count ``item`` (``_counted``); its times are appended, in order
        again after ``sort``."""
        self.counts[item.state] += 1
        # Microseconds, the unit of both timedeltas and folded outcomes.
        if item.sla_time is not None:
            self.sla_times.append(_micros_of(item.sla_time))
        if item.speed_to_lead is not None:
            self.speeds.append(_micros_of(item.speed_to_lead))

    def sort(self) -> None:
        """The times in order again after ``add``: a sorted run and the
        few appended since, which the sort merges."""
        self.sla_times.sort()
        self.speeds.sort()

    def remove(self, item: RecordSla) -> None:
        """Undo ``add`` of ``item`` (times in order)."""
        self.counts[item.state] -= 1
        if item.sla_time is not None:
            del self.sla_times[bisect_left(self.sla_times, _micros_of(item.sla_time))]
        if item.speed_to_lead is not None:
            del self.speeds[bisect_left(self.speeds, _micros_of(item.speed_to_lead))]


_NOTHING = _Part(Counter(), [], [])


def _counted(item: RecordSla, window_start: datetime, as_of: datetime) -> bool:
    """Whether ``item`` adds to a ``Compliance``: untouched and undecided
    (at risk, pending), or decided in the window."""
    decided = item.decided_at
    if decided is None:
        return item.touched_at is None
    return window_start < decided <= as_of


def _compliance(part: _Part, folded: _Tally | None = None) -> Compliance:
    counts = part.counts
    sla_times, speeds = _Ordered((), part.sla_times), _Ordered((), part.speeds)
    if folded is not None:
        counts = counts + Counter({State.MET: folded.met, State.LATE: folded.late})
        whole_times, whole_speeds = _merged(folded.whole)
        sla_times = _Ordered(whole_times, sorted([*part.sla_times, *folded.sla_times]))
        speeds = _Ordered(whole_speeds, sorted([*part.speeds, *folded.speeds]))
    decided_count = counts[State.MET] + counts[State.LATE] + counts[State.OPEN]
    return Compliance(
        counts={state: counts[state] for state in State},
        met_rate=counts[State.MET] / decided_count if decided_count else None,
        sla_time_median=_quantile(sla_times, 0.5),
        sla_time_p90=_quantile(sla_times, 0.9),
        speed_to_lead_median=_quantile(speeds, 0.5),
        speed_to_lead_p90=_quantile(speeds, 0.9),
    )


@dataclass(frozen=True, slots=True)
class _Ordered:
    """Times (microseconds) in ascending order, held as two ascending
    lists: a long one merged once (the folded days wholly in the window:
    tens of thousands at a busy CRM's volume) and a short one sorted at
    each evaluation. Read by rank, without merging them again."""

    long: Sequence[int]
    short: Sequence[int]

    def __len__(self) -> int:
        return len(self.long) + len(self.short)

    def at(self, rank: int) -> int:
        """The ``rank``-th smallest (from 0)."""
        long, short = self.long, self.short
        # Of the rank + 1 smallest, how many come from the long list: the
        # fewest whose next long one is not below the short ones taken.
        low, high = max(0, rank + 1 - len(short)), min(len(long), rank + 1)
        while low < high:
            taken = (low + high) // 2
            if long[taken] < short[rank - taken]:
                low = taken + 1
            else:
                high = taken
        # The largest of those taken: the last from either list.
        last = [long[low - 1]] if low else []
        if rank + 1 > low:
            last.append(short[rank - low])
        return max(last)


def _quantile(ordered: _Ordered, q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) of
    ``ordered``, in seconds: the two ranks are turned into seconds as
    ``timedelta.total_seconds`` does, then interpolated."""
    if not len(ordered):
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    below, above = ordered.at(low) / _SECOND, ordered.at(high) / _SECOND
    return below + (above - below) * (position - low)


def _finding(
    rule: SlaRule,
    result: SlaResult,
    source: str,
    state: State,
    owner: str,
    items: list[RecordSla],
) -> Finding:
    count = len(items)
    noun = stage_noun(rule.stage, count)
    window = format_duration(rule.within)
    deadlines = [item.deadline for item in items if item.deadline is not None]
    first = deadlines[0].astimezone(result.zone)
    when = f"{first:%a %d %b %H:%M %Z}"
    who = _who(result, owner)
    rule_name: Rule
    if state is State.OPEN:
        rule_name, severity = "sla-breach", Severity.CRITICAL
        title = f"{who}: {count} {noun} past the {window} follow-up window ({rule.name})"
        text = f"{count} {noun} with no first touch past the deadline; the oldest was due {when}."
    else:
        rule_name, severity = "sla-at-risk", Severity.WARNING
        title = f"{who}: {count} {noun} due for follow-up soon ({rule.name})"
        text = f"{count} {noun} with no first touch yet; the first is due {when}."
    data = {
        "within_seconds": rule.within.total_seconds(),
        "deadline": deadlines[0].isoformat(),
        "deadlines": [moment.isoformat() for moment in deadlines],
    }
    return _owner_finding(
        rule, result, source, owner, items, rule_name, severity, title, text, data
    )


def _late_finding(
    rule: SlaRule, result: SlaResult, source: str, owner: str, items: list[RecordSla]
) -> Finding:
    count = len(items)
    noun = stage_noun(rule.stage, count)
    window = format_duration(rule.within)
    # Lateness in business time: SLA time beyond the window.
    late = [item.sla_time - rule.within for item in items if item.sla_time is not None]
    days = (result.as_of - result.window_start).days
    title = f"{_who(result, owner)}: {count} {noun} followed up late ({rule.name})"
    text = (
        f"{count} {noun} first touched after the {window} follow-up window in the last "
        f"{days} days; the latest {ago(late[0])} (business time) after its deadline."
    )
    data = {"late_seconds": [span.total_seconds() for span in late]}
    return _owner_finding(
        rule, result, source, owner, items, "sla-late", Severity.INFO, title, text, data
    )


def _who(result: SlaResult, owner: str) -> str:
    """The owner as a title names them: the CRM name, shown literally."""
    return shown_name(result.owner_names.get(owner) or owner or "unassigned")


def _owner_finding(
    rule: SlaRule,
    result: SlaResult,
    source: str,
    owner: str,
    items: list[RecordSla],
    rule_name: Rule,
    severity: Severity,
    title: str,
    text: str,
    data: Mapping[str, object],
) -> Finding:
    """One owner's finding over ``items``: the records it lists (and the
    ids the lifecycle tracks them by) and the data every SLA finding has."""
    return Finding(
        rule=rule_name,
        subject=rule.name,
        severity=severity,
        title=title,
        text=text,
        source=source,
        owner=owner,
        items=tuple((item.record.name, item.record.url) for item in items),
        members=tuple(item.record.crm_id for item in items),
        channel=rule.channel,
        data={
            "stage": rule.stage,
            "count": len(items),
            **data,
            "crm_ids": [item.record.crm_id for item in items],
            "owner_name": result.owner_names.get(owner),
        },
    )


_SECOND = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NEVER = datetime.max.replace(tzinfo=UTC)


def _micros_of(span: timedelta) -> int:
    return span // _MICROSECOND


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _name(named: dict[str, tuple[int, str]], owner: str, entered: int, name: str) -> None:
    if owner not in named or (entered, name) > named[owner]:
        named[owner] = (entered, name)


def fold(
    rule: SlaRule, calendar: BusinessCalendar, records: Iterable[SlaRecord], as_of: datetime
) -> tuple[list[SlaOutcomes], list[int]]:
    """The outcomes of ``records`` that no later evaluation can see change:
    touched and assigned (to an owner) before ``as_of``; and the positions
    in ``records`` of the others, which stay to be judged afresh. Outcomes
    are grouped by owner and the owner's name on the record, each group
    ordered by touch, so an evaluation finds the touches in its window by
    bisection."""
    rows: dict[tuple[str, str], list[tuple[int, int, int, bool, int, int]]] = defaultdict(list)
    unsettled = []
    for position, record in enumerate(records):
        assigned = record.assigned_at or record.entered_at
        touch = record.first_touch_at
        if (
            not record.owner_email
            or touch is None
            or touch >= as_of
            or assigned >= as_of
            or record.entered_at >= as_of
        ):
            unsettled.append(position)
            continue
        # As ``_judge`` and ``RecordSla.decided_at`` have it.
        start = max(record.entered_at, assigned)
        deadline = _clock(start, rule, calendar)[1]
        met = touch <= deadline
        rows[(record.owner_email, record.owner_name or "")].append(
            (
                _micros(touch),
                _micros(record.entered_at),
                _micros(max(touch, start) if met else deadline),
                met,
                _micros_of(calendar.between(start, touch)),
                _micros_of(calendar.between(record.entered_at, touch)),
            )
        )
    out = []
    for (owner, name), items in sorted(rows.items()):
        items.sort()
        columns = [array("q", column) for column in zip(*items, strict=True)]
        out.append(SlaOutcomes(owner, name or None, *columns))
    return out, unsettled


@dataclass(frozen=True, slots=True)
class _Bounds:
    """The instants that decide whether a folded outcome counts, in
    microseconds: the look-back's start, the window's start, ``as_of``."""

    since: int
    window_start: int
    as_of: int


class _Tally:
    """Folded outcomes counted for one owner (or everyone): ``whole``, the
    outlines of the groups counted whole (their times kept merged, see
    ``_merged``), and the times of the others counted one by one."""

    __slots__ = ("judged", "late", "met", "sla_times", "speeds", "whole")

    def __init__(self) -> None:
        self.judged = self.met = self.late = 0
        self.sla_times: list[int] = []
        self.speeds: list[int] = []
        self.whole: list[_Outline] = []

    def add(self, other: _Tally) -> None:
        self.judged += other.judged
        self.met += other.met
        self.late += other.late
        self.sla_times += other.sla_times
        self.speeds += other.speeds
        self.whole += other.whole


#: Merged times of groups counted whole, by the groups' identities: the
#: days wholly in the window change once a day and today's once an hour,
#: while the check runs every minute. Each entry holds its outlines, so
#: their identities stay theirs.
_MERGED: OrderedDict[tuple[int, ...], tuple[tuple[_Outline, ...], list[int], list[int]]] = (
    OrderedDict()
)
#: Least recently used first out: an evaluation uses one per owner and one
#: overall per rule, and an hour's new fold of today leaves those of the
#: hour before unused (each up to tens of thousands of times at volume).
_MERGED_SIZE = 64


def _merged(whole: Sequence[_Outline]) -> tuple[list[int], list[int]]:
    """The times of ``whole``, each kind merged into ascending order."""
    key = tuple(map(id, whole))
    held = _MERGED.get(key)
    if held is None:
        sla_times = sorted(itertools.chain.from_iterable(o.sla_times for o in whole))
        speeds = sorted(itertools.chain.from_iterable(o.speeds for o in whole))
        held = _MERGED[key] = (tuple(whole), sla_times, speeds)
        if len(_MERGED) > _MERGED_SIZE:
            _MERGED.popitem(last=False)
    else:
        _MERGED.move_to_end(key)
    return held[1], held[2]


@dataclass(frozen=True, slots=True)
class _Outline:
    """What counting one owner's folded outcomes needs beyond the columns,
    learned once per outcomes object (kept while the store hands back the
    same one): the first and last entry, the met count, the times in
    ascending order, and the positions touched before their entry."""

    first_entered: int
    last_entered: int
    met: int
    sla_times: list[int]
    speeds: list[int]
    early: list[int]

    @classmethod
    def of(cls, outcomes: SlaOutcomes) -> _Outline:
        return derived(outcomes, "outline", lambda: cls._learn(outcomes))

    @classmethod
    def _learn(cls, outcomes: SlaOutcomes) -> _Outline:
        entered, touched = outcomes.entered, outcomes.touched
        return cls(
            first_entered=min(entered),
            last_entered=max(entered),
            met=sum(outcomes.met),
            sla_times=sorted(outcomes.sla_times),
            speeds=sorted(outcomes.speeds),
            early=[i for i in range(len(entered)) if touched[i] < entered[i]],
        )


def _count_folded(outcomes: SlaOutcomes, bounds: _Bounds, tally: _Tally) -> int | None:
    """Count ``outcomes`` as ``evaluate`` would count their records, into
    ``tally``; the latest entry among those judged, None if none was. A
    record is judged when it entered in the look-back and was touched or
    entered in the window (see ``monitor.store.sla``); it counts when
    decided in the window. Touches and decisions precede the fold, so
    ``as_of`` bounds neither."""
    entered = outcomes.entered
    if not entered:
        return None
    outline = _Outline.of(outcomes)
    if outline.last_entered < bounds.since:
        return None
    if outline.last_entered < bounds.window_start and outcomes.touched[-1] < bounds.window_start:
        return None  # entered and touched before the window: none judged
    if outline.first_entered > bounds.window_start and outline.first_entered >= bounds.since:
        # All entered in the window, and each is decided after its entry.
        tally.judged += len(entered)
        tally.met += outline.met
        tally.late += len(entered) - outline.met
        tally.whole.append(outline)
        return outline.last_entered
    # Ordered by touch: those touched in the window are judged if they
    # entered in the look-back; one touched before the window only if it
    # entered in it, after its touch (a few: ``early``).
    first = bisect_left(outcomes.touched, bounds.window_start)
    judged: Sequence[int] = range(first, len(entered))
    if outline.first_entered < bounds.since:
        judged = [i for i in judged if entered[i] >= bounds.since]
    judged = [
        *judged,
        *(
            i
            for i in itertools.takewhile(lambda i: i < first, outline.early)
            if entered[i] >= bounds.since and entered[i] >= bounds.window_start
        ),
    ]
    if not judged:
        return None
    decided = outcomes.decided
    counted = [i for i in judged if bounds.window_start < decided[i] <= bounds.as_of]
    met = sum(map(outcomes.met.__getitem__, counted))
    tally.judged += len(judged)
    tally.met += met
    tally.late += len(counted) - met
    tally.sla_times += map(outcomes.sla_times.__getitem__, counted)
    tally.speeds += map(outcomes.speeds.__getitem__, counted)
    latest = max(map(entered.__getitem__, judged))
    return latest
