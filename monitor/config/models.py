"""The typed config: one model per part of the YAML file (docs/design.md, "Configuration").

Validation happens once, in ``monitor.config.load``; everything below works
with these frozen models and never sees raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Annotated, Literal

import holidays
from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from monitor.config.plan import Commitments, PlanCosts
from monitor.config.types import (
    ClockTime,
    Duration,
    HttpUrl,
    Secret,
    StrictModel,
    auto_or_days,
)
from monitor.interfaces import PersonStage, RateName

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

#: Bounds that keep every plan a finite number of records: the smallest
#: rate and deal size, the largest goal, and the years a period may span.
MIN_RATE = 1e-6
MIN_DEAL_SIZE = 0.01
MAX_REVENUE = 1e15
MAX_CLOSES = 10**9
FIRST_YEAR, LAST_YEAR = 1970, 2999
MAX_DAYS = 3650

#: The longest names the database columns hold (``monitor/store/schema.py``;
#: a test keeps them in step): checked at load, because SQLite ignores a
#: column's length while PostgreSQL refuses the row at every sync or
#: evaluation. A goal or SLA rule name is an alert's subject and part of its
#: fingerprint (rule/name/stage/period/owner id), which this length keeps
#: within the fingerprint column.
MAX_SOURCE_NAME = 100
MAX_RULE_NAME = 200
MAX_CHANNEL = 200

#: Conservative fallbacks for ``auto`` rates with no configured value: the
#: low end of published B2B ranges (docs/design.md, "Rates").
DEFAULT_RATES: Mapping[RateName, float] = {
    "sql_to_won": 0.2,
    "mql_to_sql": 0.13,
    "lead_to_mql": 0.25,
    "visit_to_lead": 0.01,
}


class Calendar(StrictModel):
    """Working time: which days count, the hours of a working day, holidays
    (explicit dates, plus a country's public holidays when ``country`` is set,
    via the ``holidays`` package)."""

    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: ClockTime = time(9, 0)
    end: ClockTime = time(17, 0)
    holidays: tuple[date, ...] = ()
    country: str | None = None
    subdivision: str | None = None

    @model_validator(mode="after")
    def _hours_ordered(self) -> Calendar:
        if self.country is not None:
            supported = holidays.list_supported_countries()
            if self.country not in supported:
                raise ValueError(
                    f"country {self.country!r} has no holiday calendar (use ISO codes like US, GB, DE)"
                )
            if self.subdivision is not None and self.subdivision not in supported[self.country]:
                raise ValueError(
                    f"subdivision {self.subdivision!r} is not a region of {self.country}"
                )
        elif self.subdivision is not None:
            raise ValueError(
                f"subdivision {self.subdivision!r} needs a country (e.g. country: US, "
                "subdivision: CA)"
            )
        if not self.days:
            raise ValueError("days: at least one working day is needed")
        if self.end <= self.start:
            raise ValueError(f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M})")
        return self


def _plannable(rate: float) -> float:
    if rate < MIN_RATE:
        raise ValueError(f"a rate below {MIN_RATE:g} gives no plan a finite volume")
    return rate


Rate = Annotated[float, Field(gt=0, le=1), AfterValidator(_plannable)]
MaturityDays = Annotated[int | Literal["auto"], BeforeValidator(auto_or_days(0, MAX_DAYS))]
RecentDays = Annotated[int | Literal["auto"], BeforeValidator(auto_or_days(7, MAX_DAYS))]


class AutoRate(StrictModel):
    """A rate learned from history, with the value to use while the sample
    is too small to trust."""

    auto: Literal[True] = True
    fallback: Rate


RateSetting = Rate | Literal["auto"] | AutoRate


class AutoAmount(StrictModel):
    """An average deal size learned from won deals, with the amount to use
    while too few deals carry an amount."""

    auto: Literal[True] = True
    fallback: float = Field(ge=MIN_DEAL_SIZE)


class Rates(StrictModel):
    sql_to_won: RateSetting = "auto"
    mql_to_sql: RateSetting = "auto"
    lead_to_mql: RateSetting = "auto"
    visit_to_lead: RateSetting | None = None


class AutoRateSettings(StrictModel):
    """How ``auto`` rates are observed: cohorts that entered the upper stage
    on the whole local days from ``window_days`` to ``maturity_days`` ago.
    ``maturity_days: auto`` is each transition's learned 90th-percentile
    lag, so a quick transition is judged on recent cohorts and a slow one
    waits for its cohorts to close."""

    window_days: int = Field(default=180, ge=7, le=MAX_DAYS)
    maturity_days: MaturityDays = "auto"
    min_sample: int = Field(default=30, ge=1)
    # From min_sample up to large_sample records the plan shades the
    # observed rate toward its Wilson lower bound ("plan conservatively"),
    # fully at min_sample, not at all from large_sample.
    large_sample: int = Field(default=400, ge=1)


class DriftThresholds(StrictModel):
    warning: float = Field(default=0.15, gt=0, lt=1)
    critical: float = Field(default=0.30, gt=0, le=1)
    min_elapsed: float = Field(default=0.10, ge=0, lt=1)
    min_expected: float = Field(default=5, ge=0)
    conversion_tolerance: float = Field(default=0.20, gt=0, lt=1)
    # The recent cohort conversion drift judges: the persons that entered
    # the upper stage in the last ``recent_days``; ``auto`` is the
    # transition's 90th-percentile lag, within 14 to 90 days.
    recent_days: RecentDays = "auto"
    # A shortfall must also be this unlikely on plan before it is
    # reported: a one-sided Poisson test on a stage's count for pacing, a
    # binomial one on the recent cohort's conversions for conversion drift
    # (stricter: three rates are tested, and the cohorts are small).
    pacing_confidence: float = Field(default=0.99, ge=0.5, lt=1)
    conversion_confidence: float = Field(default=0.99, ge=0.5, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> DriftThresholds:
        if self.critical <= self.warning:
            raise ValueError(
                f"critical ({self.critical}) must be larger than warning ({self.warning})"
            )
        return self


def _channel(value: str | None) -> str | None:
    """A Slack channel: ``#name`` or an id like ``C0123ABC``; one word."""
    if value is None:
        return value
    if not value.strip():
        raise ValueError(
            "a Slack channel is needed, e.g. '#revenue-alignment' or an id like C0123ABC"
        )
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValueError(
            "a Slack channel name has no spaces or control characters, e.g. '#revenue-alignment'"
        )
    if value == "#":
        raise ValueError("'#' alone names no channel: write e.g. '#revenue-alignment'")
    return value


Channel = Annotated[str, AfterValidator(_channel)]
#: Longer than any Slack API call should wait; a larger value overflows the
#: socket timeout.
MAX_TIMEOUT = 600


class ExplicitPeriod(StrictModel):
    """``end`` is the period's last day, inclusive, as people write periods."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> ExplicitPeriod:
        if not FIRST_YEAR <= self.start.year <= self.end.year <= LAST_YEAR:
            raise ValueError(f"a period must lie within the years {FIRST_YEAR}-{LAST_YEAR}")
        if self.end < self.start:
            raise ValueError(f"period end ({self.end}) is before its start ({self.start})")
        return self


class Goal(StrictModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    source: str
    period: Literal["month", "quarter", "year"] | ExplicitPeriod = "quarter"
    revenue: float | None = Field(default=None, gt=0, le=MAX_REVENUE)
    closes: int | None = Field(default=None, gt=0, le=MAX_CLOSES)
    average_deal_size: float | Literal["auto"] | AutoAmount | None = None
    rates: Rates = Field(default_factory=Rates)
    auto_rates: AutoRateSettings = Field(default_factory=AutoRateSettings)
    segment: dict[str, str] = Field(default_factory=dict)
    commitments: Commitments = Field(default_factory=Commitments)
    plan: PlanCosts = Field(default_factory=PlanCosts)
    pacing: Literal["linear", "business_days", "seasonal"] = "seasonal"
    drift: DriftThresholds = Field(default_factory=DriftThresholds)
    channel: Channel | None = None

    @field_validator("average_deal_size")
    @classmethod
    def _positive_deal(cls, value: object) -> object:
        if isinstance(value, int | float) and value <= 0:
            raise ValueError("average_deal_size must be positive")
        if isinstance(value, int | float) and value < MIN_DEAL_SIZE:
            raise ValueError(f"average_deal_size must be at least {MIN_DEAL_SIZE}")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Goal:
        if (self.revenue is None) == (self.closes is None):
            raise ValueError("give exactly one of revenue or closes")
        if self.revenue is not None and self.average_deal_size is None:
            raise ValueError("a revenue goal needs average_deal_size (a number, or auto)")
        if self.rates.visit_to_lead is None and "visit" in self.plan.cost:
            raise ValueError("plan.cost.visit needs rates.visit_to_lead to plan visits")
        return self


class SlaRule(StrictModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    source: str
    stage: PersonStage = "mql"
    within: Duration
    warn_before: Duration = timedelta(hours=1)
    business_hours: Calendar | None = None
    segment: dict[str, str] = Field(default_factory=dict)
    channel: Channel | None = None
    lookback: Duration = timedelta(days=30)  # how long an untouched record stays worth reporting
    # Report each record first touched after its deadline, once (it is
    # counted in compliance either way).
    report_late_touch: bool = False


class Slack(StrictModel):
    """No token: the console notifier prints what would be posted."""

    token: Secret | None = None
    api_url: HttpUrl = "https://slack.com/api/"
    channel: Channel = "#revenue-alignment"
    summary_at: ClockTime = time(9, 0)
    timeout: float = Field(default=30, gt=0, le=MAX_TIMEOUT)


class QuietHours(StrictModel):
    """Local times between which nothing is delivered; what falls due then is
    delivered at ``end``. ``start`` after ``end`` spans midnight."""

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_all_day(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(
                f"start and end are both {self.start:%H:%M}: that is 24 hours of silence; "
                "remove quiet_hours to deliver at any time"
            )
        return self


class Alerts(StrictModel):
    """Alert lifecycle knobs (docs/design.md, "Alert lifecycle")."""

    for_evaluations: int = Field(default=2, ge=1, alias="for")
    repeat_interval: Duration = timedelta(hours=24)
    hysteresis: float = Field(default=0.05, ge=0, lt=1)
    quiet_hours: QuietHours | None = None
    give_up_after: Duration = timedelta(hours=24)
    # When repeats of still-open alerts go out on working days; default:
    # with the daily summary (slack.summary_at).
    repeat_at: ClockTime | None = None


class Service(StrictModel):
    """``alignmon run`` knobs: health/metrics endpoint, SLA check cadence,
    replica lease length."""

    listen: str = "127.0.0.1:9464"
    sla_check_every: Duration = timedelta(minutes=1)
    deliver_every: Duration = timedelta(seconds=5)
    lease: Duration = timedelta(seconds=60)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(
                f"{value!r} is not HOST:PORT with a port up to 65535, e.g. 127.0.0.1:9464"
            )
        return value
