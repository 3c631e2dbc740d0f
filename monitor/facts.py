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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import AutoRateSettings

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
    recent_days: int


@dataclass(frozen=True, slots=True)
class Cohort:
    """Of ``entered`` records that entered the upper stage (in a window,
    matured), ``converted`` reached the next stage."""

    entered: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.entered if self.entered else None


@dataclass(frozen=True, slots=True)
class DealSample:
    """Won deals with an amount in the trailing window."""

    count: int
    total: float

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass(frozen=True, slots=True)
class FunnelFacts:
    """Counts for one goal (its source and segment) as of ``as_of``.

    ``daily[stage][day]``: records (persons for lead/mql/sql, deals for won;
    daily counts for visit) that entered ``stage`` on local ``day``, for days
    in ``[period.start, as_of)``; days with none are absent. ``has_visits``
    says whether the source reports visits at all.
    ``cohorts[rate]``: matured cohorts over the trailing auto-rate window,
    for ``auto`` rates. ``recent[rate]``: cohorts of the recent window, for
    conversion drift. Keys are rate names (``mql_to_sql`` …).
    """

    as_of: datetime
    period: Period
    daily: Mapping[str, Mapping[date, int]]
    cohorts: Mapping[str, Cohort] = field(default_factory=dict)
    recent: Mapping[str, Cohort] = field(default_factory=dict)
    deals: DealSample = DealSample(0, 0.0)
    has_visits: bool = False

    def actual(self, stage: str) -> int:
        return sum(self.daily.get(stage, {}).values())


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
