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
import logging
import math
from array import array
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import SlaRule
from monitor.config.types import format_duration
from monitor.display import shown_name
from monitor.facts import COMPLIANCE_WINDOW, SlaFold, SlaOutcomes, SlaRecord
from monitor.findings import Finding, Rule
from monitor.interfaces import Severity
from monitor.judge.business_time import BusinessCalendar
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


def evaluate(
    rule: SlaRule,
    calendar: BusinessCalendar,
    records: Iterable[SlaRecord],
    as_of: datetime,
    *,
    window: timedelta = COMPLIANCE_WINDOW,
    folds: Sequence[SlaFold] = (),
    since: datetime | None = None,
) -> SlaResult:
    """Judge every record against ``rule`` as of ``as_of`` and summarise the
    trailing ``window``.

    Records touched before ``as_of - window`` whose clock also started
    before it change no number here; the store may leave them out to save
    time (about 15 µs a record). Untouched records stay ``open`` however old,
    so it is the caller who bounds how far back an untouched lead still
    matters. ``folds``: outcomes judged earlier (see ``fold``), of records
    not in ``records``, counted as if they were, for a look-back starting
    at ``since``; their records are left out of ``SlaResult.records``."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware instant")
    judged = [
        _judge(record, rule, calendar, as_of) for record in records if record.entered_at < as_of
    ]
    window_start = as_of - window
    groups: dict[str, list[RecordSla]] = defaultdict(list)
    # An owner's name as their latest-entered record gives it (then the
    # greatest name): the same whichever order the records come in.
    named: dict[str, tuple[int, str]] = {}
    for item in judged:
        owner = item.record.owner_email or ""
        groups[owner].append(item)
        if owner and item.record.owner_name:
            _name(named, owner, _micros(item.record.entered_at), item.record.owner_name)
    tally = _Tally()
    owners: dict[str, _Tally] = defaultdict(_Tally)
    if folds:
        if since is None:
            raise ValueError("folded outcomes need the look-back's start")
        bounds = _Bounds(_micros(since), _micros(window_start), _micros(as_of))
        for fold in folds:
            for outcomes in fold.owners:
                latest = _count_folded(outcomes, bounds, owners[outcomes.owner])
                if latest is not None:
                    groups.setdefault(outcomes.owner, [])
                    if outcomes.owner and outcomes.owner_name:
                        _name(named, outcomes.owner, latest, outcomes.owner_name)
        for part in owners.values():
            tally.add(part)
    result = SlaResult(
        rule=rule.name,
        stage=rule.stage,
        within=rule.within,
        as_of=as_of,
        window_start=window_start,
        zone=calendar.zone,
        records=tuple(judged),
        overall=_compliance(judged, window_start, as_of, tally),
        by_owner={
            owner: _compliance(items, window_start, as_of, owners.get(owner))
            for owner, items in groups.items()
        },
        owner_names={owner: name for owner, (_, name) in named.items()},
        judged=len(judged) + tally.judged,
    )
    log.debug(
        "sla %s as of %s: %d records, %s",
        rule.name,
        as_of.isoformat(),
        result.judged,
        dict(result.overall.counts),
    )
    return result


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


def _compliance(
    items: Iterable[RecordSla],
    window_start: datetime,
    as_of: datetime,
    folded: _Tally | None = None,
) -> Compliance:
    counts: Counter[State] = Counter()
    # Microseconds, the unit of both timedeltas and folded outcomes.
    sla_times: list[int] = []
    speeds: list[int] = []
    if folded is not None:
        counts[State.MET] += folded.met
        counts[State.LATE] += folded.late
        sla_times.extend(folded.sla_times)
        speeds.extend(folded.speeds)
    for item in items:
        decided = item.decided_at
        if decided is None:
            if item.touched_at is None:
                counts[item.state] += 1
            continue
        if not window_start < decided <= as_of:
            continue
        counts[item.state] += 1
        if item.sla_time is not None:
            sla_times.append(_micros_of(item.sla_time))
        if item.speed_to_lead is not None:
            speeds.append(_micros_of(item.speed_to_lead))
    decided_count = counts[State.MET] + counts[State.LATE] + counts[State.OPEN]
    # Sorted once for both quantiles: at a busy CRM's volume the folded
    # outcomes put tens of thousands of times in the window.
    sla_times.sort()
    speeds.sort()
    return Compliance(
        counts={state: counts[state] for state in State},
        met_rate=counts[State.MET] / decided_count if decided_count else None,
        sla_time_median=_quantile(sla_times, 0.5),
        sla_time_p90=_quantile(sla_times, 0.9),
        speed_to_lead_median=_quantile(speeds, 0.5),
        speed_to_lead_p90=_quantile(speeds, 0.9),
    )


def _quantile(ordered: list[int], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) of
    ``ordered`` (ascending microseconds), in seconds: the two ranks are
    turned into seconds as ``timedelta.total_seconds`` does, then
    interpolated."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    below, above = ordered[low] / _SECOND, ordered[high] / _SECOND
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
    """Folded outcomes counted for one owner (or everyone)."""

    __slots__ = ("judged", "late", "met", "sla_times", "speeds")

    def __init__(self) -> None:
        self.judged = self.met = self.late = 0
        self.sla_times: list[int] = []
        self.speeds: list[int] = []

    def add(self, other: _Tally) -> None:
        self.judged += other.judged
        self.met += other.met
        self.late += other.late
        self.sla_times += other.sla_times
        self.speeds += other.speeds


def _count_folded(outcomes: SlaOutcomes, bounds: _Bounds, tally: _Tally) -> int | None:
    """Count ``outcomes`` as ``evaluate`` would count their records, into
    ``tally``; the latest entry among those judged, None if none was. A record is judged when it entered
    in the look-back and was touched or entered in the window (see
    ``monitor.store.sla``); it counts when decided in the window. Touches
    and decisions precede the fold, so ``as_of`` bounds neither."""
    entered = outcomes.entered
    if not entered or max(entered) < bounds.since:
        return None
    if min(entered) > bounds.window_start and min(entered) >= bounds.since:
        # All entered in the window, and each is decided after its entry.
        met = sum(outcomes.met)
        tally.judged += len(entered)
        tally.met += met
        tally.late += len(entered) - met
        tally.sla_times += outcomes.sla_times
        tally.speeds += outcomes.speeds
        return max(entered)
    # Ordered by touch: those touched before the window count only if they
    # entered in it.
    first = (
        0
        if max(entered) >= bounds.window_start
        else bisect_left(outcomes.touched, bounds.window_start)
    )
    latest = None
    for i in range(first, len(entered)):
        at = entered[i]
        if at < bounds.since or (
            outcomes.touched[i] < bounds.window_start and at < bounds.window_start
        ):
            continue
        latest = at if latest is None else max(latest, at)
        tally.judged += 1
        if bounds.window_start < outcomes.decided[i] <= bounds.as_of:
            if outcomes.met[i]:
                tally.met += 1
            else:
                tally.late += 1
            tally.sla_times.append(outcomes.sla_times[i])
            tally.speeds.append(outcomes.speeds[i])
    return latest
