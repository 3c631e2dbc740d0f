"""Evaluating an SLA rule over folded outcomes: the store keeps, per day of
stage entry, the outcomes that can no longer change (see
``monitor.store.sla_folds``); this folds the days that ended since and the
records settled since (touched, with an owner), and hands the SLA engine
the folds and the records still open.

Lives beside ``monitor.evaluate``, the other code that knows both the store
and the judges: folding is judging (business time), storing its result is
the store's. The figures are those of judging every record afresh.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.file import Config
from monitor.config.models import Calendar, SlaRule
from monitor.facts import SlaFold, SlaOutcomes, SlaRecord
from monitor.judge import sla
from monitor.judge.business_time import BusinessCalendar, business_calendar
from monitor.judge.derived import derived
from monitor.store import Store
from monitor.store.sla_folds import day_start

_DAY = timedelta(days=1)
#: Records that entered their stage this recently are judged afresh rather
#: than folded: one stored a little after it entered (a sync's lag) would
#: otherwise drop the day's fold as soon as it arrives. Folds reach to the
#: whole UTC hour before that, so the every-minute evaluation extends them,
#: and folds the records touched since, once an hour.
FOLD_DELAY = timedelta(hours=1)
#: Per day: folded until when, the outcomes, the unsettled records' ids.
Folded = dict[date, tuple[datetime, list[SlaOutcomes], list[int]]]


def sla_result(
    config: Config, store: Store, rule: SlaRule, as_of: datetime, *, fold: bool = True
) -> sla.SlaResult:
    """``rule`` judged at ``as_of``. With ``fold`` (the service's steady
    state), the records that entered the rule's stage up to ``fold_cut``
    are read folded, and folded first where they are not yet. Without it,
    or for a rule that names each late touch (read record by record),
    every record is judged afresh and nothing is written."""
    settings = config.calendar_for(rule)
    calendar = business_calendar(settings, config.zone)
    since = as_of - rule.lookback
    if not fold or rule.report_late_touch:
        records = store.sla_records(rule.source, rule.stage, rule.segment, since, as_of)
        return sla.evaluate(rule, calendar, records, as_of)
    key = fingerprint(rule, settings, config.zone)
    stored, ids = store.sla_folds(rule.name, key, since, as_of)
    folds = {item.day: item for item in stored}
    unsettled = {record_id: day for day, day_ids in ids.items() for record_id in day_ids}
    first = since.astimezone(UTC).date()
    changed = _extend(rule, calendar, store, as_of, first, folds, ids, unsettled)
    found = store.sla_records_by_id(
        rule.source,
        rule.stage,
        rule.segment,
        since,
        as_of,
        folded=[(day_start(day), item.until) for day, item in folds.items()],
        unsettled=ids,
    )
    if changed:
        # Records of folded days touched since their fold: judged afresh
        # until an extension (once an hour) folds them too.
        settled = _settle(rule, calendar, as_of, folds, ids, unsettled, found)
        for day, (outcomes, kept) in settled.items():
            until = folds[day].until
            changed[day] = (until, outcomes, kept)
            folds[day] = SlaFold(day, as_of, until, outcomes)
        store.save_sla_folds(rule.name, rule.source, key, as_of, changed, keep_from=first)
    last = derived(store, ("sla judgement", rule.name, key), _Last)
    result = sla.evaluate(
        rule,
        calendar,
        found.values(),
        as_of,
        folds=list(folds.values()),
        since=since,
        earlier=last.judgement,
    )
    last.judgement = result.judgement
    return result


class _Last:
    """A rule's latest judgement of its open records, kept with the store
    that read them (same records, same objects: see ``sla.Judgement``)."""

    judgement: sla.Judgement | None = None


def fold_cut(as_of: datetime) -> datetime:
    """Up to where records are folded at ``as_of``: ``FOLD_DELAY`` before
    it, down to the whole UTC hour."""
    return (as_of - FOLD_DELAY).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _extend(
    rule: SlaRule,
    calendar: BusinessCalendar,
    store: Store,
    as_of: datetime,
    first: date,
    folds: dict[date, SlaFold],
    ids: dict[date, list[int]],
    unsettled: dict[int, date],
) -> Folded:
    """Fold each day from ``first`` up to ``fold_cut(as_of)`` (or the day's
    end), from where its fold stops (or its start): the days changed, also
    updated in ``folds``, ``ids`` and ``unsettled``."""
    cut = fold_cut(as_of)
    wanted: dict[date, tuple[datetime, datetime]] = {}
    day = first
    while day_start(day) < cut:
        held = folds.get(day)
        start, end = held.until if held else day_start(day), min(day_start(day + _DAY), cut)
        if start < end:
            wanted[day] = (start, end)
        day += _DAY
    if not wanted:
        return {}
    by_day = store.sla_span_records(rule.source, rule.stage, rule.segment, list(wanted.values()))
    changed: Folded = {}
    for day, (_, end) in wanted.items():
        pairs = by_day.get(day, [])
        outcomes, positions = sla.fold(rule, calendar, [record for _, record in pairs], as_of)
        added = [pairs[i][0] for i in positions]
        held = folds.get(day)
        if held is not None:
            outcomes = _merge(held.owners, outcomes)
        ids[day] = [*ids.get(day, ()), *added]
        unsettled.update(dict.fromkeys(added, day))
        folds[day] = SlaFold(day, as_of, end, outcomes)
        changed[day] = (end, outcomes, ids[day])
    return changed


def _settle(
    rule: SlaRule,
    calendar: BusinessCalendar,
    as_of: datetime,
    folds: Mapping[date, SlaFold],
    ids: Mapping[date, Sequence[int]],
    unsettled: Mapping[int, date],
    found: dict[int, SlaRecord],
) -> dict[date, tuple[list[SlaOutcomes], list[int]]]:
    """Fold the records of folded days touched since (taken out of
    ``found``) into their day's outcomes: the days changed."""
    by_day: dict[date, list[tuple[int, SlaRecord]]] = defaultdict(list)
    for record_id, record in found.items():
        day = unsettled.get(record_id)
        if day is not None and record.first_touch_at is not None and record.owner_email:
            by_day[day].append((record_id, record))
    changed = {}
    for day, pairs in by_day.items():
        outcomes, positions = sla.fold(rule, calendar, [record for _, record in pairs], as_of)
        if not outcomes:
            continue
        still = {pairs[i][0] for i in positions}
        for record_id, _ in pairs:
            if record_id not in still:
                del found[record_id]
        settled = {record_id for record_id, _ in pairs} - still
        kept = [i for i in ids[day] if i not in settled]
        changed[day] = (_merge(folds[day].owners, outcomes), kept)
    return changed


def _merge(old: Sequence[SlaOutcomes], new: Sequence[SlaOutcomes]) -> list[SlaOutcomes]:
    """The outcomes of ``old`` and ``new`` per owner and name (as ``fold``
    groups them), ordered by touch."""
    owners: dict[tuple[str, str], list[SlaOutcomes]] = defaultdict(list)
    for item in (*old, *new):
        owners[(item.owner, item.owner_name or "")].append(item)
    out = []
    for (owner, name), parts in sorted(owners.items()):
        if len(parts) == 1:
            out.append(parts[0])
            continue
        rows = sorted(
            row for part in parts for row in zip(*(getattr(part, c) for c in _COLUMNS), strict=True)
        )
        columns = [array("q", column) for column in zip(*rows, strict=True)]
        out.append(SlaOutcomes(owner, name or None, *columns))
    return out


_COLUMNS = ("touched", "entered", "decided", "met", "sla_times", "speeds")


def fingerprint(rule: SlaRule, calendar: Calendar, zone: ZoneInfo) -> str:
    """What a folded outcome was judged under: the rule's settings that
    decide an outcome, its working time and zone, and the public holiday
    tables' version where a country's holidays are kept."""
    settings: dict[str, object] = {
        "rule": rule.model_dump(
            mode="json", include={"source", "stage", "within", "warn_before", "segment"}
        ),
        "calendar": calendar.model_dump(mode="json"),
        "zone": zone.key,
    }
    if calendar.country:
        import holidays

        settings["holidays"] = holidays.__version__
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
