"""The typed config: one model per part of the YAML file (docs/design.md, "Configuration").

Validation happens once, in ``monitor.config.load``; everything below works
with these frozen models and never sees raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from monitor.config.breakdown import MAX_BREAKDOWN, MarketingSources
from monitor.config.plan import Commitments, PlanCosts
from monitor.config.rate_goal import RateGoal
from monitor.config.stalls import Stalls
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
    """Working days, e.g. [mon, tue, wed, thu, fri]."""
    start: ClockTime = time(9, 0)
    """Start of the working day, local time, quoted: "09:00"."""
    end: ClockTime = time(17, 0)
    """End of the working day, local time, quoted: "17:00"."""
    holidays: tuple[date, ...] = ()
    """Dates that are not working days, e.g. [2026-12-25]."""
    country: str | None = None
    """ISO country code whose public holidays are not working days, e.g. US."""
    subdivision: str | None = None
    """Region of the country for regional holidays, e.g. CA (needs country)."""

    @model_validator(mode="after")
    def _hours_ordered(self) -> Calendar:
        if self.country is not None:
            import holidays  # its calendars take a while to load: only when a country is set

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
    """Learn the rate from the CRM's history."""
    fallback: Rate
    """Rate used while the history is too small to trust, 0-1."""


RateSetting = Rate | Literal["auto"] | AutoRate


class AutoAmount(StrictModel):
    """An average deal size learned from won deals, with the amount to use
    while too few deals carry an amount."""

    auto: Literal[True] = True
    """Learn the average deal size from won deals."""
    fallback: float = Field(ge=MIN_DEAL_SIZE)
    """Amount used while too few won deals carry an amount."""


class Rates(StrictModel):
    sql_to_won: RateSetting = "auto"
    """Share of SQLs that become won deals: a number 0-1, auto, or {auto: true, fallback: 0.2}."""
    mql_to_sql: RateSetting = "auto"
    """Share of MQLs that become SQLs: a number 0-1, auto, or {auto: true, fallback: 0.35}."""
    lead_to_mql: RateSetting = "auto"
    """Share of leads that become MQLs: a number 0-1, auto, or {auto: true, fallback: 0.25}."""
    visit_to_lead: RateSetting | None = None
    """Share of website visits that become leads; optional, gives the visits target."""


class AutoRateSettings(StrictModel):
    """How ``auto`` rates are observed: cohorts that entered the upper stage
    on the whole local days from ``window_days`` to ``maturity_days`` ago.
    ``maturity_days: auto`` is each transition's learned 90th-percentile
    lag, so a quick transition is judged on recent cohorts and a slow one
    waits for its cohorts to close."""

    window_days: int = Field(default=180, ge=7, le=MAX_DAYS)
    """How many days of history auto rates are learned from."""
    maturity_days: MaturityDays = "auto"
    """Days a cohort must age before it counts, or auto (each transition's 90th-percentile lag)."""
    min_sample: int = Field(default=30, ge=1)
    """Records needed before an observed rate replaces the fallback."""
    # From min_sample up to large_sample records the plan shades the
    # observed rate toward its Wilson lower bound ("plan conservatively"),
    # fully at min_sample, not at all from large_sample.
    large_sample: int = Field(default=400, ge=1)
    """Records from which the observed rate is used as is, unshaded."""


class DriftThresholds(StrictModel):
    warning: float = Field(default=0.15, gt=0, lt=1)
    """Shortfall behind pace that raises a warning, as a share: 0.15 is 15% behind."""
    critical: float = Field(default=0.30, gt=0, le=1)
    """Shortfall behind pace that raises a critical alert; larger than warning."""
    min_elapsed: float = Field(default=0.10, ge=0, lt=1)
    """Share of the period that must be gone before pace is judged."""
    min_expected: float = Field(default=5, ge=0)
    """Records that must be expected by now before pace is judged."""
    conversion_tolerance: float = Field(default=0.20, gt=0, lt=1)
    """How far a recent conversion rate may fall below plan, as a share, before it is reported."""
    # The recent cohort conversion drift judges: the persons that entered
    # the upper stage in the last ``recent_days``; ``auto`` is the
    # transition's 90th-percentile lag, within 14 to 90 days.
    recent_days: RecentDays = "auto"
    """Days of recent cohorts conversion drift is judged on, or auto."""
    # A shortfall must also be this unlikely on plan before it is
    # reported: a one-sided Poisson test on a stage's count for pacing, a
    # binomial one on the recent cohort's conversions for conversion drift
    # (stricter: three rates are tested, and the cohorts are small).
    pacing_confidence: float = Field(default=0.99, ge=0.5, lt=1)
    """How unlikely a pacing shortfall must be on plan before it is reported (one-sided Poisson test)."""
    conversion_confidence: float = Field(default=0.99, ge=0.5, lt=1)
    """How unlikely a conversion shortfall must be on plan before it is reported (binomial test)."""

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
    """First day of the period, e.g. 2027-01-01."""
    end: date
    """Last day of the period, inclusive, e.g. 2027-03-31."""

    @model_validator(mode="after")
    def _ordered(self) -> ExplicitPeriod:
        if not FIRST_YEAR <= self.start.year <= self.end.year <= LAST_YEAR:
            raise ValueError(f"a period must lie within the years {FIRST_YEAR}-{LAST_YEAR}")
        if self.end < self.start:
            raise ValueError(f"period end ({self.end}) is before its start ({self.start})")
        return self


class Goal(StrictModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Name of the goal: letters, digits, '.', '_' and '-'; part of each alert's id."""
    source: str
    """The source (a key under sources) whose records count."""
    period: Literal["month", "quarter", "year"] | ExplicitPeriod = "quarter"
    """month, quarter, year (calendar or fiscal), or {start: 2027-01-01, end: 2027-03-31}."""
    revenue: float | None = Field(default=None, gt=0, le=MAX_REVENUE)
    """Revenue to win in the period; give this or closes (or neither, with a rate goal)."""
    closes: int | None = Field(default=None, gt=0, le=MAX_CLOSES)
    """Deals to win in the period; give this or revenue (or neither, with a rate goal)."""
    rate: RateGoal | None = None
    """A conversion rate to reach in the period, e.g. {stage: lead_to_mql, improve_by: 0.05}; beside revenue or closes the plan uses its target rate."""
    average_deal_size: float | Literal["auto"] | AutoAmount | None = None
    """Revenue per won deal: a number, auto, or {auto: true, fallback: 25000}; needed with revenue."""
    rates: Rates = Field(default_factory=Rates)
    """Conversion rates between stages the targets are worked back with."""
    auto_rates: AutoRateSettings = Field(default_factory=AutoRateSettings)
    """How auto rates are learned from history."""
    segment: dict[str, str] = Field(default_factory=dict)
    """Only records with these segment values count, e.g. {region: EMEA}."""
    commitments: Commitments = Field(default_factory=Commitments)
    """What each team has promised for the period: stage volumes (e.g. {mql: 600}) and conversion rates (rates: {sql_to_won: 0.2}); a commitment below the plan is reported."""
    plan: PlanCosts = Field(default_factory=PlanCosts)
    """What the plan costs and may use: cost per record, spend_per_month, budget (for the period) and capacity per month."""
    breakdown: tuple[str, ...] = Field(default=(), max_length=MAX_BREAKDOWN)
    """CRM properties (or segment attributes) to break the goal down by, e.g. [lead_source, industry]: volumes, conversions and share per value."""
    marketing_sources: MarketingSources | None = None
    """Which leads are marketing's, e.g. {property: lead_source, values: [paid_social, webinar, seo]}: their won revenue is marketing's line."""
    marketing_share: float | None = Field(default=None, gt=0, le=1)
    """Share of the goal marketing-sourced revenue should carry, 0-1, e.g. 0.6; needs marketing_sources."""
    pacing: Literal["linear", "business_days", "seasonal"] = "seasonal"
    """How the target is spread over the period: seasonal (learned from history), business_days or linear."""
    drift: DriftThresholds = Field(default_factory=DriftThresholds)
    """When a stage behind pace or a falling conversion rate is reported."""
    stalls: Stalls | None = Field(default_factory=Stalls)
    """When records sitting in a stage beyond its usual lag are reported; null looks for none."""
    channel: Channel | None = None
    """Slack channel for this goal's alerts; default: slack.channel."""

    @field_validator("average_deal_size")
    @classmethod
    def _positive_deal(cls, value: object) -> object:
        if isinstance(value, int | float) and value <= 0:
            raise ValueError("average_deal_size must be positive")
        if isinstance(value, int | float) and value < MIN_DEAL_SIZE:
            raise ValueError(f"average_deal_size must be at least {MIN_DEAL_SIZE}")
        return value

    @property
    def rate_goal_only(self) -> bool:
        """A conversion goal with no volume to plan: no revenue, no closes."""
        return self.revenue is None and self.closes is None

    @model_validator(mode="after")
    def _one_target(self) -> Goal:
        if self.revenue is not None and self.closes is not None:
            raise ValueError("give exactly one of revenue or closes")
        if self.revenue is None and self.closes is None and self.rate is None:
            raise ValueError("give one of revenue or closes, or a rate goal (rate: {stage: ...})")
        if self.revenue is not None and self.average_deal_size is None:
            raise ValueError("a revenue goal needs average_deal_size (a number, or auto)")
        if self.rates.visit_to_lead is None and "visit" in self.plan.cost:
            raise ValueError("plan.cost.visit needs rates.visit_to_lead to plan visits")
        if self.marketing_share is not None and self.marketing_sources is None:
            raise ValueError(
                "marketing_share needs marketing_sources, e.g. "
                "{property: lead_source, values: [paid_social, webinar]}"
            )
        if len(set(self.breakdown)) != len(self.breakdown):
            raise ValueError("breakdown names a property twice")
        return self


class SlaRule(StrictModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Name of the rule: letters, digits, '.', '_' and '-'; part of each alert's id."""
    source: str
    """The source (a key under sources) whose records are watched."""
    stage: PersonStage = "mql"
    """The stage whose arrival starts the follow-up clock."""
    within: Duration
    """Business time allowed for the first touch, e.g. 4h."""
    warn_before: Duration = timedelta(hours=1)
    """How long before the deadline the owner is warned, e.g. 1h."""
    business_hours: Calendar | None = None
    """Working time the clock runs in; default: the top-level calendar."""
    segment: dict[str, str] = Field(default_factory=dict)
    """Only records with these segment values are watched, e.g. {region: EMEA}."""
    channel: Channel | None = None
    """Slack channel for this rule's alerts; default: slack.channel."""
    lookback: Duration = timedelta(days=30)  # how long an untouched record stays worth reporting
    """How long an untouched record stays worth reporting, e.g. 30d."""
    # Report each record first touched after its deadline, once (it is
    # counted in compliance either way).
    report_late_touch: bool = False
    """Report once each record first touched after its deadline."""


class Operators(StrictModel):
    """Slack members allowed to act on alerts: any listed user, any member
    of a listed user group or channel."""

    users: list[str] = Field(default_factory=list)
    """Slack user IDs (U…)."""
    usergroups: list[str] = Field(default_factory=list)
    """Slack user group IDs (S…)."""
    channels: list[str] = Field(default_factory=list)
    """Slack channel IDs (C…) whose members may act."""


class Slack(StrictModel):
    """No token: the console notifier prints what would be posted."""

    token: Secret | None = None
    """Bot token (xoxb-...), best as ${SLACK_BOT_TOKEN}; without one, messages are printed to the console."""
    api_url: HttpUrl = "https://slack.com/api/"
    """Slack Web API base URL."""
    channel: Channel = "#revenue-alignment"
    """Default channel: '#name' or an id like C0123ABC."""
    summary_at: ClockTime = time(9, 0)
    """Local time of the daily summary on working days, quoted: "09:00"."""
    timeout: float = Field(default=30, gt=0, le=MAX_TIMEOUT)
    """Seconds to wait for one Slack API call (a number of seconds, e.g. 30)."""
    app_token: Secret | None = None
    """App-level token (xapp-..., scope connections:write), best as ${SLACK_APP_TOKEN}; with one, alert messages get buttons that act over Socket Mode."""
    operators: Operators = Field(default_factory=Operators)
    """Who may acknowledge and silence alerts from Slack; everyone else is politely refused."""
    command: str = Field(default="/alignmon", pattern=r"^/[a-z0-9_-]{1,31}$")
    """The slash command as named in the Slack app (lowercase, e.g. /alignmon)."""

    @model_validator(mode="after")
    def _app_token_with_bot_token(self) -> Slack:
        if self.app_token is not None and self.token is None:
            raise ValueError(
                "app_token is set without token: the buttons need the bot token "
                "(xoxb-…) too; set slack.token or remove slack.app_token"
            )
        return self


class QuietHours(StrictModel):
    """Local times between which nothing is delivered; what falls due then is
    delivered at ``end``. ``start`` after ``end`` spans midnight."""

    start: ClockTime
    """Local time delivery pauses, quoted: "20:00"."""
    end: ClockTime
    """Local time delivery resumes, quoted: "07:00"; before start spans midnight."""

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
    """Evaluations in a row a finding must last before its alert fires."""
    repeat_interval: Duration = timedelta(hours=24)
    """How often a still-open alert is posted again, e.g. 24h."""
    hysteresis: float = Field(default=0.05, ge=0, lt=1)
    """How far past its threshold a firing alert must recover before it resolves, as a share."""
    quiet_hours: QuietHours | None = None
    """Local times between which nothing is delivered; held messages go out at the end."""
    give_up_after: Duration = timedelta(hours=24)
    """How long an undeliverable notification is retried before it is marked dead, e.g. 24h."""
    # When repeats of still-open alerts go out on working days; default:
    # with the daily summary (slack.summary_at).
    repeat_at: ClockTime | None = None
    """Local time repeats of open alerts go out on working days; default: slack.summary_at."""


class Service(StrictModel):
    """``alignmon run`` knobs: health/metrics endpoint, SLA check cadence,
    replica lease length."""

    listen: str = "127.0.0.1:9464"
    """HOST:PORT of the /healthz, /readyz and /metrics endpoint."""
    sla_check_every: Duration = timedelta(minutes=1)
    """How often SLA rules are checked between syncs, e.g. 1m."""
    deliver_every: Duration = timedelta(seconds=5)
    """How often queued notifications are delivered, e.g. 5s."""
    lease: Duration = timedelta(seconds=60)
    """How long a replica holds a job before another may take it over, e.g. 60s."""

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(
                f"{value!r} is not HOST:PORT with a port up to 65535, e.g. 127.0.0.1:9464"
            )
        return value
