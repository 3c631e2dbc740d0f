"""HubSpot API JSON → normalised records: pure functions, no HTTP.

Data flow: ``client`` returns raw search, list and report pages; the
connector passes each page here and wraps the result in a ``Batch`` for the
store. Stage entries come from the per-stage "date entered" properties, not
the current lifecycle stage, so a contact that moved on still counts in the
period it entered each stage. Deals count as won by ``hs_is_closed_won``
(stage ids are not semantic: docs/design.md, "HubSpot").

Closures: a contact is closed when its lead status is one of
``closed_lead_statuses`` and it did not become a customer; a deal when it is
lost. HubSpot keeps when the lead status changed only in the property's
history, which costs a request per record batch (``propertiesWithHistory``),
so the contact's last modification stands in for the closure instant: it
is never before the real one, so a closed contact may stay stalled a little
longer than it was, never shorter.

Bad data never raises: a record without an id or a modified time is
rejected (counted in ``Batch.rejected``); an unparseable, non-finite or
future value is dropped from its field. Both are logged once per page.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.amounts import NotAnAmount, parse_amount
from connectors.hubspot.settings import (
    DEAL_CLOSED_PROPERTY,
    LEAD_STATUS_PROPERTY,
    MERGED_IDS_PROPERTY,
    MODIFIED_PROPERTY,
    OBJECT_TYPE_IDS,
    HubSpotSource,
)
from monitor.interfaces import RECORD_STAGES, DailyCount, FunnelRecord, RecordKind

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Clock skew tolerated before a stage date counts as "in the future".
FUTURE_SLACK = timedelta(minutes=5)
KINDS: dict[str, RecordKind] = {"contacts": "person", "deals": "deal"}
BUILT_IN = {
    "contacts": ("firstname", "lastname", "email", "lifecyclestage", "hubspot_owner_id"),
    "deals": ("dealname", "hs_is_closed_won", "hubspot_owner_id"),
}

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Owner:
    email: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Wanted:
    """A property read: where it is set ("" for one read by default, not
    configured), and whether its absence
    from the portal must stop the sync (it was named in the config) or only
    leaves a default out (older portals lack some calculated properties)."""

    prop: str
    setting: str
    required: bool


@dataclass(frozen=True)
class Fields:
    """What to read for one object type, limited to properties that exist."""

    object_type: str
    stages: Mapping[str, tuple[str, ...]]
    lead_fallback: str | None = None
    not_leads: frozenset[str] = frozenset()
    first_touch: str | None = None
    assigned: str | None = None
    amount: str | None = None
    segments: Mapping[str, str] = field(default_factory=dict)
    url_prefix: str | None = None
    #: The property saying a record is closed (lead status, deal closed
    #: flag), None when the portal lacks it or no status closes a contact.
    closed: str | None = None
    closed_statuses: frozenset[str] = frozenset()

    @property
    def properties(self) -> list[str]:
        names: list[str | None] = [MODIFIED_PROPERTY[self.object_type], MERGED_IDS_PROPERTY]
        names += BUILT_IN[self.object_type]
        names += [p for chain in self.stages.values() for p in chain]
        names += [self.lead_fallback, self.first_touch, self.assigned, self.amount, self.closed]
        names += self.segments.values()
        return list(dict.fromkeys(n for n in names if n))


def wanted(settings: HubSpotSource, object_type: str) -> list[Wanted]:
    """Every configured property this object type reads, and the built-in
    ones the portal may lack."""
    named = settings.model_fields_set
    out: list[Wanted] = []
    if object_type == "contacts":
        stages_named = settings.stage_dates.model_fields_set if "stage_dates" in named else set()
        for stage in RECORD_STAGES:
            for prop in getattr(settings.stage_dates, stage):
                out.append(Wanted(prop, f"stage_dates.{stage}", stage in stages_named))
        for key in ("lead_fallback", "first_touch", "assigned"):
            prop = getattr(settings, key)
            if prop:
                out.append(Wanted(prop, key, key in named))
        if settings.closed_lead_statuses:
            # HubSpot's own property: a portal without it closes no contact.
            out.append(Wanted(LEAD_STATUS_PROPERTY, "closed_lead_statuses", False))
    else:
        out.append(Wanted(settings.deal_amount, "deal_amount", "deal_amount" in named))
        out.append(Wanted(settings.deal_won_date, "deal_won_date", "deal_won_date" in named))
        out.append(Wanted(DEAL_CLOSED_PROPERTY, "", False))  # built in: tells lost deals
    # Segments are read from both object types but configured for persons:
    # a deal without the property simply carries no segment.
    for attr, prop in settings.segments.items():
        out.append(Wanted(prop, f"segments.{attr}", object_type == "contacts"))
    return out


def fields(settings: HubSpotSource, object_type: str, available: set[str]) -> Fields:
    """The read plan for ``object_type``, leaving out properties the portal lacks."""

    def have(prop: str | None) -> str | None:
        return prop if prop and prop in available else None

    prefix = None
    if settings.portal_id is not None:
        app = settings.app_url.rstrip("/")
        prefix = f"{app}/contacts/{settings.portal_id}/record/{OBJECT_TYPE_IDS[object_type]}/"
    segments = {a: p for a, p in settings.segments.items() if p in available}
    if object_type == "deals":
        return Fields(
            object_type,
            {"won": tuple(filter(None, [have(settings.deal_won_date)]))},
            amount=have(settings.deal_amount),
            segments=segments,
            url_prefix=prefix,
            closed=have(DEAL_CLOSED_PROPERTY),
        )
    chains = settings.stage_dates
    return Fields(
        object_type,
        {s: tuple(p for p in getattr(chains, s) if p in available) for s in RECORD_STAGES},
        lead_fallback=have(settings.lead_fallback),
        not_leads=frozenset(settings.not_leads),
        first_touch=have(settings.first_touch),
        assigned=have(settings.assigned),
        segments=segments,
        url_prefix=prefix,
        closed=have(LEAD_STATUS_PROPERTY) if settings.closed_lead_statuses else None,
        closed_statuses=frozenset(settings.closed_lead_statuses),
    )


# -- values -------------------------------------------------------------------


def parse_instant(value: Any) -> datetime | None:
    """A HubSpot datetime (ISO text, a date, or epoch milliseconds) as an
    aware UTC instant; None when empty; ValueError when unreadable."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    return _instant(value)


@functools.lru_cache(maxsize=4096)
def _instant(value: str) -> datetime:
    # A record carries the same instant in several properties (created,
    # lead date, last modified), and a page's records share many: each text
    # is parsed once.
    try:
        if value.isdigit():
            return EPOCH + timedelta(milliseconds=int(value))
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # past year 9999, or year 1 moved across UTC
        raise ValueError(f"not a date: {value[:40]!r}") from None


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds, floored, without float rounding."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


# -- records ------------------------------------------------------------------


class _Page:
    """Collects one page's problems so they are logged once, not per record."""

    def __init__(self, fields: Fields, now: datetime) -> None:
        self.fields = fields
        self.latest = now + FUTURE_SLACK
        self.rejected = 0
        self.dropped: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def drop(self, what: str, crm_id: str) -> None:
        self.dropped[what] += 1
        self.examples.setdefault(what, crm_id)

    def instant(self, props: Json, chain: Iterable[str | None], crm_id: str) -> datetime | None:
        """The first readable, not-future value along ``chain``."""
        for prop in chain:
            if not prop:
                continue
            try:
                moment = parse_instant(props.get(prop))
            except ValueError:
                self.drop(f"{prop} (unreadable)", crm_id)
                continue
            if moment is not None and moment > self.latest:
                self.drop(f"{prop} (future)", crm_id)
                continue
            if moment is not None:
                return moment
        return None

    def log(self) -> None:
        if self.rejected or self.dropped:
            log.warning(
                "HubSpot %s page: %d record(s) rejected; values dropped: %s",
                self.fields.object_type,
                self.rejected,
                ", ".join(f"{w} ×{n} (e.g. id {self.examples[w]})" for w, n in self.dropped.items())
                or "none",
            )


def records(
    fields: Fields, results: list[Json], owners: Mapping[str, Owner], now: datetime
) -> tuple[list[FunnelRecord], int]:
    """One search page as records, plus how many were rejected. Records that
    a merge folded into a survivor come out deleted."""
    page = _Page(fields, now)
    out: list[FunnelRecord] = []
    for raw in results:
        props = raw.get("properties") if isinstance(raw, dict) else None
        # HubSpot sends every property as text or null: a record of another
        # shape (a number or a list where text belongs) is malformed.
        if not isinstance(props, dict) or not all(
            isinstance(v, str | None) for v in props.values()
        ):
            page.rejected += 1
            continue
        record = _record(page, raw, owners)
        if record is None:
            page.rejected += 1
            continue
        out.append(record)
        merged = props.get(MERGED_IDS_PROPERTY) or ""
        for gone in filter(None, merged.split(";")):
            if gone != record.crm_id:
                out.append(
                    FunnelRecord(
                        fields.object_type, gone, record.modified_at, kind=record.kind, deleted=True
                    )
                )
    page.log()
    return out, page.rejected


def _record(page: _Page, raw: Json, owners: Mapping[str, Owner]) -> FunnelRecord | None:
    fields = page.fields
    props = raw.get("properties") or {}
    crm_id = str(raw.get("id") or props.get("hs_object_id") or "")
    modified = page.instant(props, (MODIFIED_PROPERTY[fields.object_type],), crm_id or "?")
    if not crm_id or modified is None:
        return None
    owner_id = props.get("hubspot_owner_id") or None
    owner = owners.get(owner_id) if owner_id else None
    common: dict[str, Any] = {
        "owner_id": owner_id,
        "owner_email": owner.email if owner else None,
        "owner_name": owner.name if owner else None,
        "segments": {a: str(props[p]) for a, p in fields.segments.items() if props.get(p)},
        "url": f"{fields.url_prefix}{crm_id}" if fields.url_prefix else None,
    }
    if fields.object_type == "deals":
        won = props.get("hs_is_closed_won") == "true"
        amount = None
        if fields.amount:
            try:
                amount = parse_amount(props.get(fields.amount))
            except NotAnAmount:
                page.drop(f"{fields.amount} (not a number)", crm_id)
        closed_on = page.instant(props, fields.stages["won"], crm_id)
        lost = bool(fields.closed) and props.get(fields.closed) == "true" and not won
        # A deal lost before its expected close date was closed by its last
        # change at the latest.
        lost_at = min(closed_on or modified, modified) if lost else None
        return FunnelRecord(
            "deals",
            crm_id,
            modified,
            kind="deal",
            name=props.get("dealname") or None,
            won_at=closed_on if won else None,
            amount=amount,
            closed_at=lost_at,
            **common,
        )
    stage = {s: page.instant(props, chain, crm_id) for s, chain in fields.stages.items()}
    if stage["lead"] is None and props.get("lifecyclestage") not in fields.not_leads:
        stage["lead"] = page.instant(props, (fields.lead_fallback,), crm_id)
    name = " ".join(filter(None, (props.get("firstname"), props.get("lastname")))).strip()
    # A disqualified contact that went on to become a customer moved on.
    closed = (
        fields.closed is not None
        and props.get(fields.closed) in fields.closed_statuses
        and stage["won"] is None
    )
    return FunnelRecord(
        "contacts",
        crm_id,
        modified,
        kind="person",
        name=name or props.get("email") or None,
        lead_at=stage["lead"],
        mql_at=stage["mql"],
        sql_at=stage["sql"],
        won_at=stage["won"],
        assigned_at=page.instant(props, (fields.assigned,), crm_id),
        first_touch_at=page.instant(props, (fields.first_touch,), crm_id),
        closed_at=modified if closed else None,
        **common,
    )


def archived(
    object_type: str, results: list[Json], since: datetime | None, until: datetime
) -> tuple[list[FunnelRecord], int]:
    """Archived records as deletions, for those archived in ``[since, until]``."""
    out: list[FunnelRecord] = []
    rejected = 0
    for raw in results:
        if raw.get("archived") is False:
            continue  # a live record in an archived listing: not a deletion
        crm_id = str(raw.get("id") or "")
        try:
            when = parse_instant(raw.get("archivedAt") or raw.get("updatedAt"))
        except ValueError:
            when = None
        if not crm_id or when is None:
            rejected += 1
            continue
        if (since is None or when >= since) and when <= until:
            out.append(
                FunnelRecord(object_type, crm_id, when, kind=KINDS[object_type], deleted=True)
            )
    if rejected:
        log.warning(
            "HubSpot archived %s: %d record(s) without id or archive time", object_type, rejected
        )
    return out, rejected


def owners(results: list[Json]) -> dict[str, Owner]:
    """Owners page → owner id (the value of ``hubspot_owner_id``) → Owner."""
    out = {}
    for raw in results:
        if raw.get("id") is None:
            continue
        name = " ".join(filter(None, (raw.get("firstName"), raw.get("lastName")))).strip()
        out[str(raw["id"])] = Owner(raw.get("email") or None, name or None)
    return out


def daily_visits(report: Json, first: date, last: date) -> tuple[list[DailyCount], int]:
    """A daily sessions report ``{"YYYY-MM-DD": [{"visits": n, ...}], ...}``
    → one visit count per day in ``[first, last]``."""
    out: list[DailyCount] = []
    rejected = 0
    for key, rows in report.items():
        try:
            day = date.fromisoformat(key)
            items = rows if isinstance(rows, list) else [rows]
            count = sum(int(row.get("visits") or 0) for row in items)
        except (AttributeError, TypeError, ValueError):
            rejected += 1
            continue
        if first <= day <= last and count >= 0:
            out.append(DailyCount("visit", day, count))
    if rejected:
        log.warning("HubSpot sessions report: %d unreadable day(s) skipped", rejected)
    return sorted(out, key=lambda c: c.day), rejected
