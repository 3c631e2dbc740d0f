"""A CRM history generated from a known truth, and the plan that truth implies.

A ``Scenario`` states the truth: how many leads arrive and when, what share
of each stage converts to the next and how long that takes, who follows up
MQLs and how fast, and optionally one injected problem (a conversion drop
or a volume shortfall from a given instant). ``generate`` turns it into the
``FunnelRecord``s a CRM would hold: one person per lead, one deal per
person that reached won. ``Scenario.plan`` sizes the goal so that, without
the injected problem, the month under test is exactly on plan.

The truth, in full:

- **Leads.** On each local day of ``[month − history_days, month end)``,
  ``leads_per_day × weekday_weights[weekday]`` leads arrive (Monday first;
  by default weekdays only). ``business_hours_share`` of a working day's
  leads arrive inside working hours (09:00–17:00, the config's default
  calendar), the rest in the evening and night; a weekend day's leads arrive
  at any hour.
- **Conversions.** A person that entered ``lead`` converts to ``mql`` with
  probability ``lead_to_mql``, ``mql`` to ``sql`` with ``mql_to_sql``,
  ``sql`` to ``won`` with ``sql_to_won``; the rate is the one in force when
  the person entered the upper stage.
- **Lags.** The time to convert is lognormal with the ``Lag``'s median (in
  calendar days) and log-spread ``sigma``. It elapses in working time at one
  working week per calendar week (a lag of 7 days is 40 working hours), and
  starts at the next working instant after the upper stage was entered. So
  every MQL, SQL and won instant falls inside working hours and no weekday
  gets the weekend's spill; realised medians are within about two days of
  the stated ones (SQL→won: 28 days stated, about 30 realised).
- **Deals.** A person that reaches ``won`` carries ``won_at`` (so SQL→won
  cohorts can be observed) and gets a deal record (``kind="deal"``) won at
  the same instant, of a lognormal amount whose mean is ``average_deal``.
- **Owners and follow-up.** Each MQL is assigned on entry to one of
  ``reps`` (in turn), who first touches it after a business-time delay drawn
  uniformly from the rep's ``touch_minutes``. The default reps answer within
  two working hours, inside a 4-hour SLA.
- **Injected problems.** ``drop``: persons entering the transition's upper
  stage on or after ``drop.start`` convert at ``drop.rate``. ``shortfall``:
  on or after ``shortfall.start`` only ``factor`` of the entries into its
  stage happen (for ``lead``: fewer leads arrive; for a later stage: the
  rest stay at the stage above).
- **Noise.** ``noise="exact"`` keeps every realised count at its
  expectation: daily lead counts carry their fractions over, conversions are
  thinned with a running remainder (exactly every 1/rate-th person), arrival
  times at the next stage are placed where the expected cumulative arrivals
  cross each whole number (see ``_Generator.arrivals``), and amounts come
  from evenly spread quantiles. A day then holds its expected count of every
  stage to within one, and what a scenario measures is the product's bias,
  not sampling noise. ``noise="random"`` draws all of it (Poisson days,
  Bernoulli conversions, independent lags), as a real CRM would look.

``modified_at`` is each record's latest instant; ``crm_id`` is unique
(``P000001`` persons, ``D000001`` deals); object types are ``persons`` and
``deals``. The same scenario always yields the same records.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from statistics import NormalDist
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.interfaces import FunnelRecord, RecordStage

Transition = Literal["lead_to_mql", "mql_to_sql", "sql_to_won"]
TRANSITIONS: tuple[Transition, ...] = ("lead_to_mql", "mql_to_sql", "sql_to_won")
#: Each transition's (upper, lower) stage.
STAGES_OF: dict[Transition, tuple[RecordStage, RecordStage]] = {
    "lead_to_mql": ("lead", "mql"),
    "mql_to_sql": ("mql", "sql"),
    "sql_to_won": ("sql", "won"),
}
Noise = Literal["exact", "random"]

#: Working hours: the default calendar of the config (Monday–Friday).
WORK_START, WORK_END = time(9, 0), time(17, 0)
WORK_DAY = timedelta(hours=8)
WORK_WEEK = 5 * WORK_DAY
#: Working time per calendar day of lag: one calendar week is one working week.
WORK_PER_LAG_DAY = WORK_WEEK / 7
CRM_URL = "https://crm.example.com"
_NORMAL = NormalDist()
_GOLDEN = (math.sqrt(5) - 1) / 2  # step of the evenly spread quantile sequences


@dataclass(frozen=True)
class Lag:
    """Days from entering the upper stage to entering the next, for the
    persons that convert: lognormal with this median and log-spread. With
    ``sigma`` 0.8 the 10th–90th percentiles are 0.36× and 2.8× the median
    (a 28-day median: 10 to 78 days)."""

    median_days: float
    sigma: float = 0.8

    def days(self, quantile: float) -> float:
        q = min(max(quantile, 1e-9), 1 - 1e-9)
        return self.median_days * math.exp(self.sigma * _NORMAL.inv_cdf(q))

    def share_within(self, days: float) -> float:
        """Of those who convert, the share that has converted ``days`` after
        entering the upper stage."""
        if days <= 0:
            return 0.0
        return _NORMAL.cdf(math.log(days / self.median_days) / self.sigma)


@dataclass(frozen=True)
class ConversionDrop:
    """From ``start`` on, persons entering the upper stage of
    ``transition`` convert at ``rate``."""

    transition: Transition
    rate: float
    start: datetime


@dataclass(frozen=True)
class VolumeShortfall:
    """From ``start`` on, only ``factor`` of the entries into ``stage``
    happen."""

    stage: RecordStage
    factor: float
    start: datetime


@dataclass(frozen=True)
class Rep:
    """A sales rep; first touch ``touch_minutes`` (low, high) business
    minutes after an MQL is assigned."""

    id: str
    name: str
    email: str
    touch_minutes: tuple[float, float] = (10.0, 120.0)


FAST_REPS: tuple[Rep, ...] = (
    Rep("U1", "Maya Chen", "maya.chen@example.com"),
    Rep("U2", "Jordan Ellis", "jordan.ellis@example.com"),
    Rep("U3", "Lena Fischer", "lena.fischer@example.com"),
    Rep("U4", "Tom Byrne", "tom.byrne@example.com"),
)
#: Follows up after 5 to 10 working hours: every MQL of theirs breaches 4h.
SLOW_REP = Rep("U5", "Sam Okafor", "sam.okafor@example.com", (300.0, 600.0))


@dataclass(frozen=True)
class Problem:
    """What an injected problem should raise: an alert of ``rule`` for
    ``stage``, soon after ``start``."""

    rule: str
    stage: str
    start: datetime


@dataclass(frozen=True)
class Plan:
    """The month's expected entries per stage (the truth without the
    injected problem) and the goal's ``closes``: the expected won deals,
    rounded."""

    closes: int
    expected: dict[RecordStage, float]


@dataclass(frozen=True)
class Scenario:
    """The truth a history is generated from (see the module docstring).

    ``month`` is the first day of the month under test; the history starts
    ``history_days`` before it and ends with it. Instants (``drop.start``,
    ``shortfall.start``) are aware.
    """

    name: str
    month: date = date(2026, 6, 1)
    seed: int = 1
    timezone: str = "UTC"
    history_days: int = 240
    leads_per_day: float = 50.0
    weekday_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0)
    business_hours_share: float = 0.9
    lead_to_mql: float = 0.30
    mql_to_sql: float = 0.40
    sql_to_won: float = 0.30
    lead_to_mql_lag: Lag = field(default_factory=lambda: Lag(2.0))
    mql_to_sql_lag: Lag = field(default_factory=lambda: Lag(4.0))
    sql_to_won_lag: Lag = field(default_factory=lambda: Lag(28.0))
    average_deal: float = 24_000.0
    deal_sigma: float = 0.35
    reps: tuple[Rep, ...] = FAST_REPS
    drop: ConversionDrop | None = None
    shortfall: VolumeShortfall | None = None
    noise: Noise = "exact"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def month_end(self) -> date:
        """The first day after the month under test."""
        index = self.month.year * 12 + self.month.month
        return date(index // 12, index % 12 + 1, 1)

    @property
    def first_day(self) -> date:
        return self.month - timedelta(days=self.history_days)

    def midnight(self, day: date) -> datetime:
        """A local day's start, as an aware UTC instant."""
        return datetime.combine(day, time(0), self.zone).astimezone(UTC)

    def base_rate(self, transition: Transition) -> float:
        rate: float = getattr(self, transition)
        return rate

    def rate(self, transition: Transition, entered: datetime) -> float:
        """The rate of ``transition`` for a person that entered its upper
        stage at ``entered``."""
        if self.drop and self.drop.transition == transition and entered >= self.drop.start:
            return self.drop.rate
        return self.base_rate(transition)

    def lag(self, transition: Transition) -> Lag:
        lag: Lag = getattr(self, f"{transition}_lag")
        return lag

    def plan(self, start: date | None = None, end: date | None = None) -> Plan:
        """Expected entries per stage over the local days ``[start, end)``
        (default: the month under test) in steady state, without the injected
        problem. Leads follow the weekday weights; later stages land evenly
        over working days, a week's conversions spread over its five."""
        start = start or self.month
        end = end or self.month_end
        days = [start + timedelta(days=i) for i in range((end - start).days)]
        working = sum(1 for d in days if d.weekday() < 5)
        weekly_leads = self.leads_per_day * sum(self.weekday_weights)
        expected: dict[RecordStage, float] = {
            "lead": sum(self.leads_per_day * self.weekday_weights[d.weekday()] for d in days)
        }
        per_working_day = weekly_leads / 5
        for transition in TRANSITIONS:
            per_working_day *= self.base_rate(transition)
            expected[STAGES_OF[transition][1]] = per_working_day * working
        return Plan(max(1, round(expected["won"])), expected)

    @property
    def problem(self) -> Problem | None:
        if self.drop is not None:
            return Problem("conversion-drift", STAGES_OF[self.drop.transition][0], self.drop.start)
        if self.shortfall is not None:
            return Problem("pacing", self.shortfall.stage, self.shortfall.start)
        return None


@dataclass(frozen=True)
class History:
    persons: tuple[FunnelRecord, ...]
    deals: tuple[FunnelRecord, ...]

    @property
    def records(self) -> tuple[FunnelRecord, ...]:
        return self.persons + self.deals

    def count(self, stage: RecordStage, start: datetime, end: datetime) -> int:
        """Entries into ``stage`` in ``[start, end)``: persons for lead, MQL
        and SQL, deals for won (as the product counts them)."""
        pool = self.deals if stage == "won" else self.persons
        total = 0
        for record in pool:
            at = getattr(record, f"{stage}_at")
            if at is not None and start <= at < end:
                total += 1
        return total


def generate(scenario: Scenario) -> History:
    """The CRM history of ``scenario``: every person and deal, including
    events after the month under test (a replay only sees what is dated
    before its ``as_of``)."""
    return _Generator(scenario).run()


# -- working time ------------------------------------------------------------


@dataclass(frozen=True)
class WorkingClock:
    """Working hours (Monday–Friday, 09:00–17:00) as one number: hours of
    working time since the Monday ``epoch``, on naive local wall-clock
    times. Lags and follow-up delays are added in this coordinate."""

    epoch: date  # a Monday

    def hours(self, t: datetime) -> float:
        """``t`` in working hours; a time outside them is the next working
        instant."""
        week, weekday = divmod((t.date() - self.epoch).days, 7)
        if weekday >= 5:
            return (week + 1) * 40.0
        base = (week * 5 + weekday) * 8.0
        clock = (t - datetime.combine(t.date(), time(0))) / timedelta(hours=1)
        return base + min(max(clock - 9.0, 0.0), 8.0)

    def wall(self, hours: float) -> datetime:
        """The wall-clock time ``hours`` of working time after the epoch
        (a day's end is the next working day's start)."""
        day, into = divmod(hours, 8.0)
        week, weekday = divmod(int(day), 5)
        when = self.epoch + timedelta(days=7 * week + weekday)
        return datetime.combine(when, WORK_START) + timedelta(hours=into)


# -- the generator ----------------------------------------------------------

#: Stratified lag quantiles per converter from which exact mode derives the
#: expected arrival curve of the next stage.
_STRATA = 32


@dataclass(slots=True)
class _Person:
    index: int
    lead: datetime  # naive local wall-clock time
    start: float  # working hours of the lead's arrival (the next working instant)
    mql: float | None = None  # working hours from here on
    sql: float | None = None
    won: float | None = None
    rep: Rep | None = None
    touch: float | None = None

    def at(self, stage: RecordStage) -> float | None:
        if stage == "lead":
            return self.start
        value: float | None = getattr(self, stage)
        return value


class _Generator:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.exact = scenario.noise == "exact"
        first = scenario.first_day
        self.clock = WorkingClock(first - timedelta(days=first.weekday()))
        # Running remainders (exact thinning) and quantile sequences, each
        # started at a seeded offset.
        self.remainder: dict[str, float] = {}
        self.sequence: dict[str, float] = {}

    def utc(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self.s.zone).astimezone(UTC)

    def instant(self, hours: float) -> datetime:
        return self.utc(self.clock.wall(hours))

    def run(self) -> History:
        persons = self.leads()
        for transition in TRANSITIONS:
            self.convert(persons, transition)
        self.follow_up(persons)
        return self.records(persons)

    # Randomness: exact mode spreads, random mode draws.

    def chance(self, key: str, p: float) -> bool:
        """Whether this one of a stream of candidates passes, with
        probability ``p``; exact mode passes exactly every 1/p-th."""
        if not self.exact:
            return self.rng.random() < p
        carried = self.remainder.setdefault(key, self.rng.random()) + p
        if carried >= 1.0:
            self.remainder[key] = carried - 1.0
            return True
        self.remainder[key] = carried
        return False

    def quantile(self, key: str) -> float:
        """A quantile in (0, 1): evenly spread over a stream in exact mode."""
        if not self.exact:
            return self.rng.random()
        value = (self.sequence.setdefault(key, self.rng.random()) + _GOLDEN) % 1.0
        self.sequence[key] = value
        return value

    def count(self, mean: float) -> int:
        if self.exact:
            carried = self.remainder.setdefault("leads", self.rng.random()) + mean
            whole = math.floor(carried)
            self.remainder["leads"] = carried - whole
            return whole
        return _poisson(self.rng, mean)

    def kept(self, stage: RecordStage, entered: datetime) -> bool:
        shortfall = self.s.shortfall
        if shortfall is None or shortfall.stage != stage or entered < shortfall.start:
            return True
        return self.chance(f"shortfall:{stage}", shortfall.factor)

    # The stages.

    def leads(self) -> list[_Person]:
        persons: list[_Person] = []
        day = self.s.first_day
        while day < self.s.month_end:
            mean = self.s.leads_per_day * self.s.weekday_weights[day.weekday()]
            n = self.count(mean)
            share = self.s.business_hours_share if _working_day(day) else 0.0
            if self.exact:
                quantiles = [(i + self.rng.random()) / n for i in range(n)]
            else:
                quantiles = sorted(self.rng.random() for _ in range(n))
            for q in quantiles:
                arrived = _time_of_day(day, q, share)
                if self.kept("lead", self.utc(arrived)):
                    persons.append(_Person(len(persons) + 1, arrived, self.clock.hours(arrived)))
            day += timedelta(days=1)
        return persons

    def convert(self, persons: list[_Person], transition: Transition) -> None:
        """Who of the upper stage converts (at the rate in force when they
        entered it), and when they reach the lower stage."""
        upper, lower = STAGES_OF[transition]
        entered = [(p.at(upper), p) for p in persons if p.at(upper) is not None]
        entered.sort(key=lambda item: (item[0], item[1].index))
        converting: list[tuple[float, _Person]] = []
        for start, person in entered:
            assert start is not None
            when = self.utc(person.lead) if upper == "lead" else self.instant(start)
            if self.chance(transition, self.s.rate(transition, when)):
                converting.append((start, person))
        arrivals = self.arrivals(transition, converting)
        for reached, person in sorted(arrivals, key=lambda item: (item[0], item[1].index)):
            if self.kept(lower, self.instant(reached)):
                setattr(person, lower, reached)

    def arrivals(
        self, transition: Transition, converting: list[tuple[float, _Person]]
    ) -> list[tuple[float, _Person]]:
        """When each converting person (sorted by upper-stage entry, in
        working hours) reaches the lower stage.

        Random mode: after a lag drawn from the transition's distribution.
        Exact mode: the arrivals are placed where the expected cumulative
        arrivals (every converter's lag distribution, summed) cross j − ½,
        so any window holds its expected count to within one; each arrival
        goes to the waiting converter whose lag there sits at an evenly
        spread quantile, which keeps the lags distributed as stated.
        """
        lag = self.s.lag(transition)
        per_day = WORK_PER_LAG_DAY / timedelta(hours=1)  # working hours per day of lag
        if not self.exact:
            return [
                (start + lag.days(self.rng.random()) * per_day, person)
                for start, person in converting
            ]
        offsets = [lag.days((i + 0.5) / _STRATA) * per_day for i in range(_STRATA)]
        curve = sorted(start + offset for start, _ in converting for offset in offsets)
        times = [curve[j * _STRATA + _STRATA // 2 - 1] for j in range(len(converting))]
        out: list[tuple[float, _Person]] = []
        waiting: list[tuple[float, _Person]] = []
        pending = iter(converting)
        upcoming = next(pending, None)
        for reached in times:
            while upcoming is not None and upcoming[0] < reached:
                waiting.append(upcoming)
                upcoming = next(pending, None)
            target = self.quantile(f"lag:{transition}")
            best = min(
                range(len(waiting)),
                key=lambda i: abs(lag.share_within((reached - waiting[i][0]) / per_day) - target),
            )
            out.append((reached, waiting.pop(best)[1]))
        return out

    def follow_up(self, persons: list[_Person]) -> None:
        mqls = sorted((p for p in persons if p.mql is not None), key=lambda p: (p.mql, p.index))
        for turn, person in enumerate(mqls):
            assert person.mql is not None
            if self.exact:
                rep = self.s.reps[turn % len(self.s.reps)]
            else:
                rep = self.rng.choice(self.s.reps)
            low, high = rep.touch_minutes
            delay = (low + (high - low) * self.rng.random()) / 60
            person.rep, person.touch = rep, person.mql + delay

    def records(self, persons: list[_Person]) -> History:
        people: list[FunnelRecord] = []
        deals: list[FunnelRecord] = []
        for p in persons:
            lead = self.utc(p.lead)
            mql, sql, won, touch = (
                self.instant(x) if x is not None else None for x in (p.mql, p.sql, p.won, p.touch)
            )
            latest = max(x for x in (lead, mql, sql, won, touch) if x is not None)
            rep = p.rep
            crm_id = f"P{p.index:06d}"
            people.append(
                FunnelRecord(
                    object_type="persons",
                    crm_id=crm_id,
                    modified_at=latest,
                    kind="person",
                    lead_at=lead,
                    mql_at=mql,
                    sql_at=sql,
                    won_at=won,
                    owner_id=rep.id if rep else None,
                    owner_email=rep.email if rep else None,
                    owner_name=rep.name if rep else None,
                    assigned_at=mql if rep else None,
                    first_touch_at=touch,
                    name=f"Lead {p.index}",
                    url=f"{CRM_URL}/persons/{crm_id}",
                )
            )
            if won is not None:
                deal_id = f"D{len(deals) + 1:06d}"
                deals.append(
                    FunnelRecord(
                        object_type="deals",
                        crm_id=deal_id,
                        modified_at=won,
                        kind="deal",
                        won_at=won,
                        amount=self.amount(),
                        owner_id=rep.id if rep else None,
                        owner_email=rep.email if rep else None,
                        owner_name=rep.name if rep else None,
                        name=f"Deal {len(deals) + 1} (lead {p.index})",
                        url=f"{CRM_URL}/deals/{deal_id}",
                    )
                )
        return History(tuple(people), tuple(deals))

    def amount(self) -> float:
        sigma = self.s.deal_sigma
        z = _NORMAL.inv_cdf(min(max(self.quantile("amount"), 1e-9), 1 - 1e-9))
        return float(round(self.s.average_deal * math.exp(sigma * z - sigma * sigma / 2), -1))


def _working_day(day: date) -> bool:
    return day.weekday() < 5


def _time_of_day(day: date, q: float, share: float) -> datetime:
    """The wall-clock time at quantile ``q`` of a day whose arrivals fall
    ``share`` inside working hours and the rest outside them."""
    midnight = datetime.combine(day, time(0))
    if q < share:
        return datetime.combine(day, WORK_START) + WORK_DAY * (q / share)
    rest = (q - share) / (1 - share)
    if share == 0.0:
        return midnight + timedelta(days=1) * rest
    off = (timedelta(days=1) - WORK_DAY) * rest
    before = datetime.combine(day, WORK_START) - midnight
    return midnight + off if off < before else datetime.combine(day, WORK_END) + (off - before)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw; above a mean of 30 its normal approximation."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
