"""Salesforce rows → alignmon records: the pure end of the connector.

``query.py`` hands over flat rows (relationship fields as dotted keys,
``"Owner.Email"``) whether they came from REST JSON or Bulk CSV, so values
may be typed (``True``, ``1200.5``) or text (``"true"``, ``"1200.5"``).
Nothing here does I/O or raises on bad data: a malformed row is logged,
counted in ``Batch.rejected`` and dropped, and the sync carries on. A bad
value that a record can do without (an amount that is no number, the date
of a lead's won opportunity) is taken off the record instead, counted and
logged once per page, as the HubSpot connector does.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.amounts import NotAnAmount, parse_amount
from monitor.interfaces import Cursor, FunnelRecord, RecordKind, Touch

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

LEAD_PREFIX = "00Q"  # key prefixes are fixed across orgs
USER_PREFIX = "005"  # an owner starting 00G is a queue: nobody is assigned yet
SYSTEM_COLUMNS = ("Id", "SystemModstamp", "IsDeleted")
OWNER_COLUMNS = ("OwnerId", "Owner.Email", "Owner.Name")
#: Stage instants more than this far past the sync's end are data-entry errors.
FUTURE_SLACK = timedelta(days=1)
#: Activity columns per object: a completed Task, or an Event, on a lead.
ACTIVITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "Task": (*SYSTEM_COLUMNS, "WhoId", "IsClosed", "CompletedDateTime", "CreatedDate"),
    "Event": (*SYSTEM_COLUMNS, "WhoId", "StartDateTime"),
}


class BadRow(ValueError):
    """A row that cannot be normalised; the message says which field."""


@dataclass(frozen=True, slots=True)
class Link:
    """How a lead reaches the opportunity it was converted into: its
    reference field and relationship name, and the opportunity's won flag
    and won date as ``describe`` spells them. Read through the relationship,
    the opportunity's state costs no call of its own."""

    field: str  # ConvertedOpportunityId
    relation: str  # ConvertedOpportunity
    won: str
    won_at: str

    def columns(self) -> list[str]:
        parent = self.relation
        return [
            self.field,
            f"{parent}.IsDeleted",
            f"{parent}.{self.won}",
            f"{parent}.{self.won_at}",
        ]


@dataclass(frozen=True, slots=True)
class Closure:
    """How a row says it closed without moving on, with field names as
    ``describe`` spells them. A lead: its ``status`` is one of ``statuses``
    and ``converted`` is false. Salesforce keeps when Status changed only in
    field history (off by default), so ``at`` is the lead's
    ``LastModifiedDate``: never before the real closure, so a closed lead
    may stay stalled a little longer than it was, never shorter. An
    opportunity: ``flag`` (``IsClosed``) is true and it is not won, closed
    at ``at``, its close date."""

    at: str
    flag: str | None = None
    status: str | None = None
    statuses: frozenset[str] = frozenset()
    converted: str | None = None

    def columns(self) -> list[str]:
        return [c for c in (self.at, self.flag, self.status, self.converted) if c]


@dataclass(frozen=True, slots=True)
class Shape:
    """What to read from rows of one object type, with field names as
    ``describe`` spells them (responses use that spelling, whatever case
    the config used). ``stages`` maps a FunnelRecord ``*_at`` attribute to
    its field; ``won`` is the flag that makes ``won_at`` count. ``link``
    (leads only) gives a person the won date of its opportunity;
    ``closure``, when the org has its fields, says when a record closed."""

    object_type: str
    sobject: str
    kind: RecordKind
    instance_url: str
    stages: Mapping[str, str] = field(default_factory=dict)
    name: str | None = "Name"
    amount: str | None = None
    won: str | None = None
    status: str | None = None
    status_stages: Mapping[str, frozenset[str]] = field(default_factory=dict)
    status_at: str | None = None
    segments: Mapping[str, str] = field(default_factory=dict)
    link: Link | None = None
    closure: Closure | None = None

    def columns(self) -> list[str]:
        """The SELECT list, without repeats, system columns first."""
        wanted = [*SYSTEM_COLUMNS, *OWNER_COLUMNS, self.name, *self.stages.values()]
        wanted += [self.amount, self.won, self.status if self.status_stages else None]
        wanted += [self.status_at, *self.segments.values()]
        wanted += self.link.columns() if self.link else []
        wanted += self.closure.columns() if self.closure else []
        return list(dict.fromkeys(c for c in wanted if c))


class Dropped:
    """Values taken off records that are kept, per field, with the first
    example of each: logged once per page rather than once per record."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def add(self, what: str, crm_id: Any, reason: str) -> None:
        self.counts[what] += 1
        self.examples.setdefault(what, f"{crm_id}: {reason}")

    def log(self, sobject: str) -> None:
        if self.counts:
            log.warning(
                "salesforce %s page: values dropped, records kept: %s",
                sobject,
                ", ".join(f"{w} ×{n} (e.g. {self.examples[w]})" for w, n in self.counts.items()),
            )


def parse_instant(value: Any, name: str) -> datetime | None:
    """An aware UTC instant from a Salesforce datetime or date. A date-only
    value (CloseDate, ConvertedDate) becomes noon UTC, which is the same
    calendar day in every time zone from UTC-11 to UTC+11."""
    if value is None or value == "":
        return None
    bad = BadRow(f"{name}: {_short(value)} is not a date or datetime")
    if not isinstance(value, str):
        raise bad
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise bad
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # overflow: year 1 or 9999 moved across UTC
        raise bad from None


def parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRow(f"{name}: {value!r} is not true or false")


def _short(value: Any) -> str:
    """A value for a log line: a 100 KB garbage field is not logged whole."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def row_cursor(row: Row) -> Cursor:
    """The cursor position of a row: (SystemModstamp, Id)."""
    at = parse_instant(row.get("SystemModstamp"), "SystemModstamp")
    if at is None or not row.get("Id"):
        raise BadRow("Id and SystemModstamp are required")
    return Cursor(at, str(row["Id"]))


def page_cursor(rows: Iterable[Row]) -> Cursor | None:
    """The cursor of the last row that has one, or None for an empty page."""
    for row in reversed(list(rows)):
        try:
            return row_cursor(row)
        except BadRow:
            continue
    return None


def to_record(
    row: Row, shape: Shape, until: datetime, dropped: Dropped | None = None
) -> FunnelRecord:
    """One Lead or Opportunity row as a FunnelRecord; raises BadRow. Values
    the record can do without are left out and noted in ``dropped``."""
    dropped = dropped if dropped is not None else Dropped()
    position = row_cursor(row)
    if parse_bool(row.get("IsDeleted"), "IsDeleted"):
        # A deleted row only has to leave the counts: its other fields may
        # be anything and must not get it rejected.
        return FunnelRecord(
            shape.object_type, position.crm_id, position.modified_at, shape.kind, deleted=True
        )
    stages = {attr: parse_instant(row.get(col), col) for attr, col in shape.stages.items()}
    stages.update(_status_stages(row, shape))
    if shape.won and not parse_bool(row.get(shape.won), shape.won):
        stages["won_at"] = None
    for attr, at in stages.items():
        if at is not None and at > until + FUTURE_SLACK:
            raise BadRow(f"{shape.stages.get(attr, attr)}: {at.isoformat()} is in the future")
    if shape.link is not None:
        try:
            stages["won_at"] = linked_won_at(row, shape.link, until)
        except (BadRow, TypeError, AttributeError) as exc:
            dropped.add(f"{shape.link.relation} won date", position.crm_id, str(exc))
    closed_at = _closed_at(row, shape, stages.get("won_at"), position.modified_at)
    amount = None
    if shape.amount:
        try:
            amount = parse_amount(row.get(shape.amount))
        except NotAnAmount as exc:
            dropped.add(f"{shape.amount} (not a number)", position.crm_id, str(exc))
    owner = row.get("OwnerId") or None
    is_user = isinstance(owner, str) and owner.startswith(USER_PREFIX)
    name = row.get(shape.name) if shape.name else None
    return FunnelRecord(
        shape.object_type,
        position.crm_id,
        position.modified_at,
        shape.kind,
        lead_at=stages.get("lead_at"),
        mql_at=stages.get("mql_at"),
        sql_at=stages.get("sql_at"),
        won_at=stages.get("won_at"),
        amount=amount,
        owner_id=owner if is_user else None,
        owner_email=(row.get("Owner.Email") or None) if is_user else None,
        owner_name=(row.get("Owner.Name") or None) if is_user else None,
        assigned_at=stages.get("assigned_at"),
        first_touch_at=stages.get("first_touch_at"),
        closed_at=closed_at,
        name=str(name) if name not in (None, "") else None,
        url=f"{shape.instance_url}/lightning/r/{shape.sobject}/{position.crm_id}/view",
        segments={
            attr: str(row[col])
            for attr, col in shape.segments.items()
            if row.get(col) not in (None, "")
        },
    )


def _status_stages(row: Row, shape: Shape) -> dict[str, datetime | None]:
    """Stages reached by Status alone (for stages without a date field): a
    lead at a later stage's status has passed the earlier ones too."""
    if not shape.status_stages or not shape.status or not shape.status_at:
        return {}
    status = row.get(shape.status)
    order = [s for s in ("mql", "sql") if s in shape.status_stages]
    reached = [i for i, s in enumerate(order) if status in shape.status_stages[s]]
    if not reached:
        return {}
    at = parse_instant(row.get(shape.status_at), shape.status_at)
    return {f"{s}_at": at for s in order[: max(reached) + 1] if f"{s}_at" not in shape.stages}


def _closed_at(
    row: Row, shape: Shape, won_at: datetime | None, modified: datetime
) -> datetime | None:
    """When the record closed without moving on, or None: a lead converted
    or won after its status closed it has moved on. A record was closed by
    its last change at the latest, whatever its close date says (a lost
    opportunity keeps the close date it was expected on)."""
    closure = shape.closure
    if closure is None or won_at is not None:
        return None
    if closure.flag is not None:
        won = shape.won is not None and parse_bool(row.get(shape.won), shape.won)
        closed = parse_bool(row.get(closure.flag), closure.flag) and not won
    else:
        converted = closure.converted is not None and parse_bool(
            row.get(closure.converted), closure.converted
        )
        closed = row.get(closure.status or "") in closure.statuses and not converted
    if not closed:
        return None
    at = parse_instant(row.get(closure.at), closure.at)
    return modified if at is None else min(at, modified)


def linked_won_at(row: Row, link: Link, until: datetime) -> datetime | None:
    """When the lead's opportunity was won, as its deal record says (its
    won date, a CloseDate at noon UTC); None while it is not won, deleted,
    or there is none. Raises BadRow for a date that cannot be one."""
    if not row.get(link.field):
        return None
    parent = link.relation
    if parse_bool(row.get(f"{parent}.IsDeleted"), f"{parent}.IsDeleted"):
        return None
    if not parse_bool(row.get(f"{parent}.{link.won}"), f"{parent}.{link.won}"):
        return None
    at = parse_instant(row.get(f"{parent}.{link.won_at}"), f"{parent}.{link.won_at}")
    if at is not None and at > until + FUTURE_SLACK:
        raise BadRow(f"{parent}.{link.won_at}: {at.isoformat()} is in the future")
    return at


def normalise(rows: Iterable[Row], shape: Shape, until: datetime) -> tuple[list[FunnelRecord], int]:
    """Records for every good row, and how many rows were dropped."""
    records: list[FunnelRecord] = []
    rejected = 0
    dropped = Dropped()
    for row in rows:
        try:
            records.append(to_record(row, shape, until, dropped))
        except (BadRow, TypeError, AttributeError) as exc:
            # TypeError, AttributeError: a value of the wrong JSON type (a
            # list where a picklist value belongs) that no parser names.
            rejected += 1
            log.warning("salesforce %s %s skipped: %s", shape.sobject, row.get("Id"), exc)
    dropped.log(shape.sobject)
    return records, rejected


def to_touch(row: Row, sobject: str) -> Touch | None:
    """A completed Task or an Event on a lead as a Touch; None for an
    activity that is not a touch (open, deleted, on a contact, not yet
    started). Raises BadRow."""
    who = row.get("WhoId") or ""
    if parse_bool(row.get("IsDeleted"), "IsDeleted") or not who.startswith(LEAD_PREFIX):
        return None
    if sobject == "Task":
        if not parse_bool(row.get("IsClosed"), "IsClosed"):
            return None
        at = parse_instant(row.get("CompletedDateTime"), "CompletedDateTime") or parse_instant(
            row.get("CreatedDate"), "CreatedDate"
        )
    else:
        at = parse_instant(row.get("StartDateTime"), "StartDateTime")
    return Touch("leads", who, at) if at is not None else None


def touches(rows: Iterable[Row], sobject: str, until: datetime) -> tuple[list[Touch], int]:
    """Touches for every activity row that is one, and how many were bad.
    An Event that starts after ``until`` has not happened yet."""
    found: list[Touch] = []
    rejected = 0
    for row in rows:
        try:
            touch = to_touch(row, sobject)
        except (BadRow, TypeError, AttributeError) as exc:  # as in normalise()
            rejected += 1
            log.warning("salesforce %s %s skipped: %s", sobject, row.get("Id"), exc)
            continue
        if touch is not None and touch.touched_at <= until:
            found.append(touch)
    return found, rejected
