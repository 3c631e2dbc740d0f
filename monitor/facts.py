"""What the store tells the judges: the numbers, already counted, and
nothing else.

The store builds a ``FunnelFacts`` for a goal with SQL-side aggregation,
``SlaRecord`` rows for an SLA rule and a ``SourceStatus`` per source; the
reconciler, the SLA engine and the data-health check are pure functions of
them, the config and ``as_of``. Keeping these the only inputs makes the
judges testable with literal tables and keeps them ignorant of SQL, and
keeps the store ignorant of the judges: it imports these types, not them.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import AutoRateSettings
from monitor.interfaces import RateName, RecordStage

#: SLA compliance covers the records decided in this trailing window.
COMPLIANCE_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Period:
    """A goal period: local calendar dates ``[start, end)`` and the aware
    instants they begin and end at in the configured time zone."""

    start: date
    end: date  # exclusive
    starts_at: datetime
    ends_at: datetime

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


@dataclass(frozen=True, slots=True)
class FactsQuery:
    """Which facts one goal needs: its source and segment, its period as of
    an instant (days in ``zone``), the trailing window its ``auto`` rates
    learn from, and the days its recent cohorts span."""

    source: str
    segment: Mapping[str, str]
    period: Period
    as_of: datetime
    zone: ZoneInfo
    auto: AutoRateSettings
    recent_days: int  # for the visit ratio; person cohorts cover the auto-rate window
    profiles: bool = False  # hour-of-week arrival profiles, for seasonal pacing
    # A rate goal's transition and the first local day its cohorts are
    # needed from (the previous period's start for a baseline learned from
    # history, else the period's start).
    rate_goal: tuple[RateName, date] | None = None
    breakdown: tuple[str, ...] = ()  # segment attributes to count per value


@dataclass(frozen=True, slots=True)
class Cohort:
    """Of ``entered`` records that entered the upper stage (in a window),
    ``converted`` reached the next stage. ``exposure``, when given, is
    ``entered`` weighted by the share of their eventual conversions each
    has had time for at its age: the denominator that makes a cohort still
    converting comparable with one that has finished."""

    entered: int
    converted: int
    exposure: float | None = None

    @property
    def rate(self) -> float | None:
        base = self.entered if self.exposure is None else self.exposure
        return min(1.0, self.converted / base) if base > 0 else None


@dataclass(frozen=True, slots=True, weakref_slot=True)
class CohortTable:
    """One person transition (lead→MQL, MQL→SQL, SQL→won) over a trailing
    window: how many persons entered the upper stage on each local day
    before ``today``, and how many of them reached the lower stage how many
    whole days later. Only conversions before ``today`` are counted, so the
    cohort of ``day`` has been watched for exactly ``(today - day).days``
    days: lags ``0`` to that minus one. That uniform cut is what lets the
    lag model treat the young cohorts as censored rather than as failures.
    """

    today: date
    entered: Mapping[date, int]
    converted: Mapping[tuple[date, int], int]  # (day entered, lag in days) -> persons

    def age(self, day: date) -> int:
        return (self.today - day).days


@dataclass(frozen=True, slots=True)
class DealSample:
    """Won deals with an amount in the trailing window."""

    count: int
    total: float

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass(frozen=True, slots=True)
class ValueFacts:
    """One value of a breakdown property (``""``: records without it):
    ``counts[stage]`` entered in the goal's period so far (persons for
    lead/MQL/SQL, deals for won), ``revenue`` the won deals' amounts, and
    ``cohorts[rate]`` the persons that entered the upper stage over the
    trailing auto-rate window and how many reached the next stage by now."""

    value: str
    counts: Mapping[RecordStage, int]
    revenue: float
    cohorts: Mapping[RateName, Cohort]


@dataclass(frozen=True, slots=True)
class FunnelFacts:
    """Counts for one goal (its source and segment) as of ``as_of``.

    ``daily[stage][day]``: records (persons for lead/mql/sql, deals for won;
    daily counts for visit) that entered ``stage`` on local ``day``, for days
    in ``[period.start, as_of)``; days with none are absent. ``has_visits``
    says whether the source reports visits at all.
    ``tables[rate]``: the person transitions' cohorts by day over the
    trailing auto-rate window, keyed by rate name (``mql_to_sql`` …);
    ``sql_to_won`` is absent when the CRM does not link persons to won
    deals. Visits are day totals, not persons, so ``visit_to_lead`` is a
    plain ratio instead: ``visits`` over the auto-rate window and
    ``recent_visits`` over the recent one. ``profiles[stage]``, when asked
    for: the records that entered the stage in each local hour of the week
    (168 counts, Monday 00:00 first) over the whole weeks before today.
    ``rate_goal``: the cohort table of a rate goal's transition from the
    day ``FactsQuery.rate_goal`` names, which may reach further back than
    the auto-rate window; None without a rate goal or when the CRM does
    not link persons to won deals for ``sql_to_won``.
    ``breakdown[attr]``: the goal's records per value of a segment
    attribute, when the query names it.
    """

    as_of: datetime
    period: Period
    daily: Mapping[str, Mapping[date, int]]
    tables: Mapping[RateName, CohortTable] = field(default_factory=dict)
    visits: Cohort | None = None
    recent_visits: Cohort | None = None
    profiles: Mapping[RecordStage, tuple[int, ...]] = field(default_factory=dict)
    deals: DealSample = DealSample(0, 0.0)
    has_visits: bool = False
    rate_goal: CohortTable | None = None
    breakdown: Mapping[str, tuple[ValueFacts, ...]] = field(default_factory=dict)

    def actual(self, stage: str) -> int:
        return sum(self.daily.get(stage, {}).values())


@dataclass(frozen=True, slots=True, weakref_slot=True)
class SlaOutcomes:
    """One owner's folded SLA outcomes: records touched and assigned before
    the fold, whose state (met or late) and times no longer change. Parallel
    columns of microseconds (instants since the Unix epoch, spans of business
    time), ordered by touch."""

    owner: str
    owner_name: str | None
    touched: array[int]
    entered: array[int]
    decided: array[int]
    met: array[int]
    sla_times: array[int]
    speeds: array[int]


@dataclass(frozen=True, slots=True)
class SlaFold:
    """An SLA rule's outcomes of the records that entered its stage on one
    UTC ``day`` before ``until``, judged at ``folded_at``; the day's other
    records are read and judged at every evaluation."""

    day: date
    folded_at: datetime
    until: datetime
    owners: Sequence[SlaOutcomes]


@dataclass(frozen=True, slots=True)
class SlaRecord:
    """One record of an SLA rule's stage. ``entered_at``: when it entered the
    stage; ``assigned_at``: when it got its current owner (None with an owner
    means assigned on entry); ``first_touch_at``: the first sales touch. All
    aware UTC instants."""

    crm_id: str
    name: str
    owner_email: str | None
    owner_name: str | None
    url: str
    entered_at: datetime
    assigned_at: datetime | None = None
    first_touch_at: datetime | None = None


#: How ``last_error`` starts when a person must act (``SourceActionNeeded``):
#: such a failure does not heal by waiting, so it is reported at once.
ACTION_NEEDED = "action needed: "


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """How a source's last sync went: when it was tried, when it last
    succeeded, why it failed, and what it read."""

    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_records: int
    last_rejected: int
    watching_since: datetime | None = None

    @property
    def needs_action(self) -> bool:
        """The last sync failed in a way only a person can fix."""
        return bool(self.last_error) and str(self.last_error).startswith(ACTION_NEEDED)


@dataclass(frozen=True, slots=True)
class StalledRecord:
    """One record sitting in a stage: when it entered it, and whose it is."""

    crm_id: str
    name: str
    owner_email: str | None
    owner_name: str | None
    url: str
    entered_at: datetime


@dataclass(frozen=True, slots=True)
class StageOpen:
    """The open records of one stage as of an instant: in the stage, not
    moved on to any later one, not closed or deleted. ``open`` and
    ``stalled`` (those that entered before the stall cut-off) are keyed by
    owner email, ``""`` for unassigned; ``oldest``: the longest-stalled
    records, oldest first."""

    stage: str
    open: Mapping[str, int]
    stalled: Mapping[str, int]
    owner_names: Mapping[str, str]
    oldest: tuple[StalledRecord, ...] = ()
