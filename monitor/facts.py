"""What the store tells the reconciler about one goal: the numbers, already
counted, and nothing else.

The store builds a ``FunnelFacts`` with SQL-side aggregation; the reconciler
is a pure function of it, the goal's config and ``as_of``. Keeping this the
only input makes the reconciler testable with literal tables and keeps it
ignorant of SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime


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
