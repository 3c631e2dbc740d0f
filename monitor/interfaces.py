"""The seams of alignmon: what crosses between connectors, the store, the
reconciler and the notifiers.

Data flows one way::

    Connector.pull() -> Batch(records, cursor) -> store -> reconciler -> findings
    -> alert lifecycle -> outbox -> Notifier.send(Message)

Everything a connector or notifier needs to know about the rest of the system
is in this file, so a new CRM or a new channel is written against one screen
of code. Types here are plain frozen dataclasses: cheap to build in bulk, easy
to compare in tests, and free of any ORM or HTTP detail.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol, get_args, runtime_checkable

#: Funnel stages, top to bottom. ``visit`` comes from daily counts, the rest
#: from records. Every stage list in alignmon is derived from these.
PersonStage = Literal["lead", "mql", "sql"]  # reached by persons; sales follows them up
RecordStage = Literal[PersonStage, "won"]
Stage = Literal["visit", RecordStage]
STAGES: tuple[Stage, ...] = get_args(Stage)
RECORD_STAGES: tuple[RecordStage, ...] = get_args(RecordStage)

#: Conversion rates, top to bottom, each named ``<upper>_to_<lower>``.
RateName = Literal["visit_to_lead", "lead_to_mql", "mql_to_sql", "sql_to_won"]
RATE_NAMES: tuple[RateName, ...] = get_args(RateName)
#: Each rate's (upper, lower) stage.
RATE_STAGES: Mapping[RateName, tuple[Stage, Stage]] = {
    "visit_to_lead": ("visit", "lead"),
    "lead_to_mql": ("lead", "mql"),
    "mql_to_sql": ("mql", "sql"),
    "sql_to_won": ("sql", "won"),
}
#: The rate out of each stage but the last, and the stage below each.
RATE_FROM: Mapping[Stage, RateName] = {upper: r for r, (upper, _) in RATE_STAGES.items()}
NEXT_STAGE: Mapping[Stage, Stage] = dict(RATE_STAGES.values())

#: What a record is: a person (lead/contact) feeds lead, MQL and SQL counts;
#: a deal (deal/opportunity) feeds won counts and revenue.
RecordKind = Literal["person", "deal"]


class Clock(Protocol):
    """Where "now" comes from. Only the service edge asks it; the reconciler
    is handed ``as_of`` instead."""

    def __call__(self) -> datetime: ...


def utc_now() -> datetime:
    """The real clock: an aware UTC instant."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FunnelRecord:
    """One CRM person or deal, normalised.

    ``kind`` says which counts the record feeds: persons feed ``lead``,
    ``mql`` and ``sql`` (and carry ``won_at`` where the CRM links them to a
    won deal, for cohort rates); deals feed ``won`` and revenue.
    Each ``*_at`` is the aware UTC instant the record *entered* that stage, or
    None when it never did. ``crm_id`` is unique within (source, object_type).
    ``deleted`` marks a record archived, merged or deleted in the CRM: it is
    kept so a later sync can tell "gone" from "never seen", but it leaves
    every count. ``closed_at``: when the CRM closed the record without it
    moving on (a lead disqualified, an opportunity lost), or None while it
    is open; a closed record still counts, but is no longer stalled.
    """

    object_type: str
    crm_id: str
    modified_at: datetime
    kind: RecordKind = "person"
    lead_at: datetime | None = None
    mql_at: datetime | None = None
    sql_at: datetime | None = None
    won_at: datetime | None = None
    amount: float | None = None
    owner_id: str | None = None
    owner_email: str | None = None
    owner_name: str | None = None
    assigned_at: datetime | None = None
    first_touch_at: datetime | None = None
    name: str | None = None
    url: str | None = None
    segments: Mapping[str, str] = field(default_factory=dict)
    deleted: bool = False
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DailyCount:
    """A per-day count for a stage the CRM reports only in aggregate
    (website visits). ``day`` is a local calendar date of the source."""

    stage: Stage
    day: date
    count: int
    segments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Touch:
    """A sales activity on a record, learned separately from the record
    itself (e.g. a Salesforce Task). The store keeps the earliest one as the
    record's ``first_touch_at``."""

    object_type: str
    crm_id: str
    touched_at: datetime


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A compound incremental-sync position: last-modified instant, then the
    CRM id as tie-breaker. Many records share one timestamp after bulk
    updates, so a timestamp alone would skip or loop."""

    modified_at: datetime
    crm_id: str = ""
    #: When the sync that stored this position started (set by the store;
    #: None when unknown). A connector whose API shows changes late can
    #: tell from it how much of its look-back it already holds.
    read_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Batch:
    """One page of work from a connector.

    The store writes ``records`` and ``daily`` and then saves ``cursor`` in
    the same transaction, so a sync killed between batches resumes at the
    last committed batch with nothing lost and nothing counted twice. A
    ``cursor`` of None means "do not move the cursor" (e.g. a look-back page).
    """

    records: Sequence[FunnelRecord] = ()
    cursor: Cursor | None = None
    daily: Sequence[DailyCount] = ()
    touches: Sequence[Touch] = ()
    rejected: int = 0  # records the connector dropped as malformed (logged by it)
    #: How many records the whole pull will yield, where the CRM says so
    #: (HubSpot's search ``total``, Salesforce's ``totalSize``): for
    #: progress only, so an estimate that is off by a few does no harm.
    total: int | None = None


class CheckStatus(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of ``alignmon check``: what was checked, and what to do."""

    name: str
    status: CheckStatus
    detail: str = ""


#: Progress callback: (object_type, records seen so far in this pull, the
#: pull's total where the CRM reports one).
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class Usage:
    """What a connector has spent of the CRM's API since it was created:
    ``calls`` made, and the share of the daily allowance used where the CRM
    reports one (None otherwise). Exported as metrics."""

    calls: int = 0
    quota_used: float | None = None


@runtime_checkable
class Connector(Protocol):
    """A CRM source. Knows nothing of goals, stores or notifiers.

    ``pull`` yields batches in cursor order for one object type, starting
    after ``cursor`` (None: from the beginning, i.e. a full sync). It may
    re-read a short look-back before the cursor; the store's upserts are
    idempotent. It must never yield a cursor beyond ``until``, the instant
    the sync started, so records modified during the sync are read next time.
    """

    object_types: tuple[str, ...]

    def pull(self, object_type: str, cursor: Cursor | None, until: datetime) -> Iterator[Batch]: ...

    def check(self) -> list[CheckResult]: ...

    def usage(self) -> Usage: ...

    def close(self) -> None: ...


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    CRITICAL = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class MessageLine:
    """One finding as a notifier renders it. ``text`` is alignmon's own
    wording; every value that came from a CRM is in ``crm_text`` pieces the
    notifier must escape before placing them."""

    fingerprint: str
    severity: Severity
    title: str
    text: str
    mentions: Sequence[str] = ()  # owner emails to turn into mentions
    links: Sequence[tuple[str, str]] = ()  # (label from the CRM, url)
    #: What can still be done about the alert from the channel (Slack
    #: buttons): "" nothing (a notice, a closed alert), else "open",
    #: "acknowledged" or "silenced". ``note``: who acknowledged or silenced
    #: it, shown under the line.
    state: str = ""
    note: str = ""


#: A new grouped post, a thread reply to an earlier post, an update of an
#: earlier post, or the daily summary (with its chart).
MessageKind = Literal["post", "reply", "update", "summary"]


@dataclass(frozen=True, slots=True)
class Message:
    """What a notifier delivers: a new grouped post, a thread reply to an
    earlier post, or an update of an earlier post (``ref`` is the id the
    notifier returned when it first posted, e.g. Slack's ``channel:ts``)."""

    channel: str
    kind: MessageKind
    title: str
    lines: Sequence[MessageLine] = ()
    ref: str | None = None
    attachment: bytes | None = None
    attachment_name: str | None = None
    #: The notification's id, carried with the message where the channel
    #: allows (Slack message metadata) so a resend can find it.
    key: str | None = None
    #: Set when an earlier attempt may have reached the channel unconfirmed
    #: (its process died mid-send): where to look for ``key`` before sending
    #: again (Slack: the channel ID, else the configured name).
    recheck_in: str | None = None


@runtime_checkable
class Notifier(Protocol):
    """A channel. Returns a reference for later replies/updates, or raises
    ``NotifyRetry`` (with a delay) or ``NotifyRejected`` from monitor.errors.
    ``check`` tests the credentials and that each of ``channels`` (the
    configured ones) can be posted to."""

    def send(self, message: Message) -> str: ...

    def check(self, channels: Sequence[str] = ()) -> list[CheckResult]: ...
