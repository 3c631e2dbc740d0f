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
"""

from __future__ import annotations

import enum
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import SlaRule
from monitor.config.types import format_duration
from monitor.display import shown_name
from monitor.facts import COMPLIANCE_WINDOW, SlaRecord
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
    email, with unassigned records under ``""``."""

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
) -> SlaResult:
    """Judge every record against ``rule`` as of ``as_of`` and summarise the
    trailing ``window``.

    Records touched before ``as_of - window`` whose clock also started
    before it change no number here; the store may leave them out to save
    time (about 15 µs a record). Untouched records stay ``open`` however old,
    so it is the caller who bounds how far back an untouched lead still
    matters."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware instant")
    judged = [
        _judge(record, rule, calendar, as_of) for record in records if record.entered_at < as_of
    ]
    window_start = as_of - window
    groups: dict[str, list[RecordSla]] = defaultdict(list)
    names: dict[str, str] = {}
    for item in judged:
        owner = item.record.owner_email or ""
        groups[owner].append(item)
        if owner and item.record.owner_name:
            names[owner] = item.record.owner_name
    result = SlaResult(
        rule=rule.name,
        stage=rule.stage,
        within=rule.within,
        as_of=as_of,
        window_start=window_start,
        zone=calendar.zone,
        records=tuple(judged),
        overall=_compliance(judged, window_start, as_of),
        by_owner={
            owner: _compliance(items, window_start, as_of) for owner, items in groups.items()
        },
        owner_names=names,
    )
    log.debug(
        "sla %s as of %s: %d records, %s",
        rule.name,
        as_of.isoformat(),
        len(judged),
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
    # warn_at first, then the deadline from it: additivity makes this the same
    # deadline as start + within, for one bisection less.
    lead_time = max(rule.within - rule.warn_before, timedelta(0))
    warn_at = calendar.add(start, lead_time)
    deadline = calendar.add(warn_at, rule.within - lead_time)
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


def _compliance(items: Iterable[RecordSla], window_start: datetime, as_of: datetime) -> Compliance:
    counts: Counter[State] = Counter()
    sla_times: list[float] = []
    speeds: list[float] = []
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
            sla_times.append(item.sla_time.total_seconds())
        if item.speed_to_lead is not None:
            speeds.append(item.speed_to_lead.total_seconds())
    decided_count = counts[State.MET] + counts[State.LATE] + counts[State.OPEN]
    return Compliance(
        counts={state: counts[state] for state in State},
        met_rate=counts[State.MET] / decided_count if decided_count else None,
        sla_time_median=_quantile(sla_times, 0.5),
        sla_time_p90=_quantile(sla_times, 0.9),
        speed_to_lead_median=_quantile(speeds, 0.5),
        speed_to_lead_p90=_quantile(speeds, 0.9),
    )


def _quantile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


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
