"""The demo CRM's history: a pure, deterministic generator.

It stands where a CRM's API stands in the data flow (generator → DemoCRM →
DemoConnector → store), so the demo exercises the same sync, store,
reconciler, SLA and alert code as a real source.

Each day's leads come from their own random stream, seeded with (seed, day),
and each lead's whole future (MQL, assignment, first touch, SQL, won deal) is
drawn the moment it arrives, with a fixed number of draws per lead. Moving
``now`` therefore only reveals more of the same history: a re-run tomorrow
yields the same past plus one new day. The one deliberate exception is the
story the demo tells: lead→MQL conversion drops to ``DIP`` of normal from the
start of the current calendar quarter, so a quarterly MQL goal is visibly
behind. At a quarter turn the dip moves on with it; within a quarter the
history is stable.

Records that never move on are closed a while later (leads and MQLs
disqualified, SQLs lost), each from a stream of its own so the funnel above
does not change, except ``STALLER``'s lost SQLs: a share of them is never
closed and sits in the pipeline, where prospects stall.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connectors.demo.settings import DEMO_PROPERTIES
from monitor.interfaces import DailyCount, FunnelRecord


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    name: str
    email: str
    region: str
    slow: bool = False


#: Three reps per region; Sam follows up in days, not hours.
OWNERS: tuple[Owner, ...] = (
    Owner("U101", "Maya Chen", "maya.chen@example.com", "NA"),
    Owner("U102", "Jordan Ellis", "jordan.ellis@example.com", "NA"),
    Owner("U103", "Sam Okafor", "sam.okafor@example.com", "NA", slow=True),
    Owner("U104", "Lena Fischer", "lena.fischer@example.com", "EMEA"),
    Owner("U105", "Tom Byrne", "tom.byrne@example.com", "EMEA"),
    Owner("U106", "Ines Moreau", "ines.moreau@example.com", "EMEA"),
)
_BY_REGION = {r: tuple(o for o in OWNERS if o.region == r) for r in ("NA", "EMEA")}

WEEKDAY_LEADS = 40.0  # mean new leads per weekday; weekends bring WEEKEND_SHARE of it
WEEKEND_SHARE = 0.2
VISITS_PER_LEAD = 70.0  # visit→lead ≈ 1.4%, inside the published 1–5% B2B range
LEAD_TO_MQL = 0.275
MQL_TO_SQL = 0.39
SLOW_MQL_TO_SQL = 0.27  # slow follow-up costs conversions
SQL_TO_WON = 0.225
DROPPED = 0.08  # MQLs even a prompt rep loses track of for days
DIP = 0.6  # lead→MQL conversion in the current quarter, relative to normal
ARCHIVED = 0.007  # share of never-qualified leads archived as junk (≈0.5% of all)
#: Hours until a record that never moves on is closed (lognormal µ, σ): a
#: lead disqualified in ≈ 3 days, an MQL in ≈ 6, an SQL lost in ≈ 20.
CLOSE_AFTER = {"lead": (4.28, 0.4), "mql": (4.97, 0.4), "sql": (6.17, 0.3)}
STALLER = "U102"  # Jordan Ellis leaves lost SQLs open…
STALLED = 0.7  # …this share of them

#: Lead sources and their share of leads. Paid social brings volume that
#: converts MQL→SQL at a fifth of the others' rate; the others convert a
#: little better, so the funnel as a whole keeps MQL_TO_SQL.
_SOURCES = ("paid_social", "webinar", "seo", "referral", "event")
_SOURCE_CUMULATIVE = (0.15, 0.40, 0.70, 0.85, 1.0)
WEAK_SOURCE, WEAK_FACTOR = "paid_social", 0.2
_STRONG_FACTOR = 1 / (1 - _SOURCE_CUMULATIVE[0] * (1 - WEAK_FACTOR))
#: ICP tier: (name, lead→MQL factor, deal size factor), and how common each is.
_TIERS = (("1", 1.4, 1.6), ("2", 1.0, 1.0), ("3", 0.8, 0.75))
_TIER_CUMULATIVE = (0.20, 0.55, 1.0)
_FIRST = (
    "Dana",
    "Priya",
    "Marcus",
    "Elena",
    "Kofi",
    "Hannah",
    "Luis",
    "Aiko",
    "Omar",
    "Greta",
    "Ravi",
    "Chloe",
    "Mateo",
    "Sofia",
    "Liam",
    "Noor",
    "Felix",
    "Ada",
    "Jonas",
    "Mei",
)
_LAST = (
    "Whitfield",
    "Sharma",
    "Reyes",
    "Novak",
    "Mensah",
    "Berg",
    "Costa",
    "Tanaka",
    "Haddad",
    "Lindqvist",
    "Iyer",
    "Dubois",
    "Alvarez",
    "Rossi",
    "Murphy",
    "Kaur",
    "Weber",
    "Ng",
)
_COMPANY = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Litware",
    "Adatum",
    "Proseware",
    "Wingtip",
    "Lucerne",
    "Margie's Travel",
    "Alpine Ski House",
    "Coho Winery",
    "Fourth Coffee",
    "Trey Research",
    "Woodgrove Bank",
    "Blue Yonder",
    "Humongous",
    "Wide World Importers",
    "Relecloud",
    "VanArsdel",
)


@dataclass(frozen=True, slots=True)
class VisitDay:
    """A day's website visits and the instant they were counted up to
    (the day's end, or ``now`` for today's running count)."""

    counted_to: datetime
    count: DailyCount


@dataclass(frozen=True, slots=True)
class History:
    persons: tuple[FunnelRecord, ...]
    deals: tuple[FunnelRecord, ...]
    visits: tuple[VisitDay, ...]


def history_start(today: date, months: int) -> date:
    """The first day of the month ``months`` months before ``today``'s. The
    start moves only at month turns, so day-to-day re-runs agree; the month
    that drops out then stays in the store, which keeps what it synced."""
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def quarter_start(today: date) -> date:
    return date(today.year, (today.month - 1) // 3 * 3 + 1, 1)


def generate(
    seed: int,
    months: int,
    now: datetime,
    zone: ZoneInfo,
    crm_url: str = "https://crm.example.com",
    segments: Mapping[str, str] | None = None,
) -> History:
    """The demo CRM as it stands at ``now``: every event up to ``now``,
    nothing after it. ``segments`` maps segment attribute ← demo property
    (``region``, ``icp_tier``, ``lead_source``); by default each under its own name."""
    mapping = dict(segments) if segments else {p: p for p in DEMO_PROPERTIES}
    today = now.astimezone(zone).date()
    dip_from = _midnight(quarter_start(today), zone)
    persons: list[FunnelRecord] = []
    deals: list[FunnelRecord] = []
    visits: list[VisitDay] = []
    day = history_start(today, months)
    while day <= today:
        rng = random.Random(f"{seed}:{day.isoformat()}")  # noqa: S311 - demo data, not secrets
        mean = WEEKDAY_LEADS * (WEEKEND_SHARE if day.weekday() >= 5 else 1.0)
        for index in range(max(0, round(rng.gauss(mean, mean * 0.15)))):
            # The lead source is drawn from its own stream, so adding it
            # left every other draw of the history where it was.
            pick = random.Random(f"{seed}:{day.isoformat()}:{index}:source")  # noqa: S311
            source = pick.choices(_SOURCES, cum_weights=_SOURCE_CUMULATIVE)[0]
            journey = _journey(rng, day, index, zone, dip_from, source)
            if journey.lead_at > now:
                continue
            properties = {"region": journey.region, "icp_tier": journey.tier, "lead_source": source}
            tags = {attr: properties[prop] for attr, prop in mapping.items()}
            closed_at = _closed_at(seed, journey)
            persons.append(_person(journey, tags, now, crm_url, closed_at))
            if journey.sql_at is not None and journey.sql_at <= now:
                deals.append(_deal(journey, tags, journey.sql_at, now, crm_url))
        visits.append(_visits(seed, day, mean, now, zone))
        day += timedelta(days=1)
    return History(tuple(persons), tuple(deals), tuple(visits))


@dataclass(frozen=True, slots=True)
class _Journey:
    """One lead's whole future, drawn when it arrives; None = never reached."""

    suffix: str
    name: str
    company: str
    region: str
    tier: str
    owner: Owner
    lead_at: datetime
    mql_at: datetime | None
    assigned_at: datetime | None
    touched_at: datetime | None
    sql_at: datetime | None
    won_at: datetime | None
    amount: float
    archived_at: datetime | None


def _journey(
    rng: random.Random, day: date, index: int, zone: ZoneInfo, dip_from: datetime, source: str
) -> _Journey:
    # Every draw happens for every lead, in this order, whatever the outcome:
    # one lead's fate never shifts the stream of the leads after it.
    hour = min(23.99, max(0.0, rng.gauss(12.5 if day.weekday() < 5 else 14.0, 3.2)))
    region = "NA" if rng.random() < 0.6 else "EMEA"
    tier, mql_factor, size_factor = rng.choices(_TIERS, cum_weights=_TIER_CUMULATIVE)[0]
    owner = _BY_REGION[region][rng.randrange(3)]
    first, last, company = rng.choice(_FIRST), rng.choice(_LAST), rng.choice(_COMPANY)
    u_mql, mql_lag = rng.random(), rng.lognormvariate(3.7, 1.0)  # hours, median ≈ 40h
    assign_lag = rng.lognormvariate(1.8, 0.5)  # minutes of routing
    touch_hours = rng.lognormvariate(2.4, 0.3) if owner.slow else rng.lognormvariate(0.47, 0.5)
    u_dropped, dropped_hours = rng.random(), rng.lognormvariate(3.4, 0.4)  # ≈ 4 business days
    u_sql, sql_lag = rng.random(), rng.lognormvariate(4.8, 0.7)  # hours, median ≈ 5 days
    u_won, won_lag = rng.random(), rng.lognormvariate(6.07, 0.45)  # hours, median ≈ 18 days
    amount = round(rng.lognormvariate(10.09, 0.55), -2)  # median ≈ $24k before the tier factor
    u_archive, archive_lag = rng.random(), rng.lognormvariate(5.6, 0.6)  # hours, ≈ 11 days

    lead_at = (_midnight(day, zone) + timedelta(hours=hour)).astimezone(UTC)
    qualifies_at = lead_at + timedelta(hours=mql_lag)
    dip = DIP if qualifies_at >= dip_from else 1.0
    mql_at = qualifies_at if u_mql < LEAD_TO_MQL * mql_factor * dip else None
    assigned_at = touched_at = sql_at = won_at = archived_at = None
    if mql_at is None:
        if u_archive < ARCHIVED:
            archived_at = lead_at + timedelta(hours=archive_lag)
    else:
        assigned_at = mql_at + timedelta(minutes=assign_lag)
        if u_dropped < DROPPED and not owner.slow:
            touch_hours = dropped_hours
        touched_at = add_business_hours(assigned_at, touch_hours, zone)
        fit = WEAK_FACTOR * _STRONG_FACTOR if source == WEAK_SOURCE else _STRONG_FACTOR
        if u_sql < (SLOW_MQL_TO_SQL if owner.slow else MQL_TO_SQL) * fit:
            sql_at = touched_at + timedelta(hours=sql_lag)
            if u_won < SQL_TO_WON:
                won_at = sql_at + timedelta(hours=won_lag)
    return _Journey(
        suffix=f"{day:%Y%m%d}{index:03d}",
        name=f"{first} {last}",
        company=company,
        region=region,
        tier=tier,
        owner=owner,
        lead_at=lead_at,
        mql_at=mql_at,
        assigned_at=assigned_at,
        touched_at=touched_at,
        sql_at=sql_at,
        won_at=won_at,
        amount=amount * size_factor,
        archived_at=archived_at,
    )


def _closed_at(seed: int, j: _Journey) -> datetime | None:
    """When a lead that stops short of a won deal is closed in the CRM, if
    ever: drawn from the lead's own stream, after the journey's last step."""
    if j.won_at is not None or j.archived_at is not None:
        return None
    rng = random.Random(f"{seed}:{j.suffix}:closed")  # noqa: S311 - demo data, not secrets
    u_stalled = rng.random()
    if j.sql_at is not None:
        stage, since = "sql", j.sql_at
        if j.owner.id == STALLER and u_stalled < STALLED:
            return None
    elif j.mql_at is not None:
        stage, since = "mql", j.touched_at or j.mql_at
    else:
        stage, since = "lead", j.lead_at
    mu, sigma = CLOSE_AFTER[stage]
    return since + timedelta(hours=rng.lognormvariate(mu, sigma))


def _reached(at: datetime | None, now: datetime) -> datetime | None:
    return at if at is not None and at <= now else None


def _person(
    j: _Journey, tags: dict[str, str], now: datetime, crm_url: str, closed: datetime | None
) -> FunnelRecord:
    mql_at, sql_at = _reached(j.mql_at, now), _reached(j.sql_at, now)
    won_at = _reached(j.won_at, now)
    assigned_at, touched_at = _reached(j.assigned_at, now), _reached(j.touched_at, now)
    archived_at, closed_at = _reached(j.archived_at, now), _reached(closed, now)
    events = (j.lead_at, mql_at, assigned_at, touched_at, sql_at, won_at, archived_at, closed_at)
    owner = j.owner if assigned_at else None
    return FunnelRecord(
        object_type="persons",
        crm_id=f"P{j.suffix}",
        modified_at=max(at for at in events if at is not None),
        kind="person",
        lead_at=j.lead_at,
        mql_at=mql_at,
        sql_at=sql_at,
        won_at=won_at,
        owner_id=owner.id if owner else None,
        owner_email=owner.email if owner else None,
        owner_name=owner.name if owner else None,
        assigned_at=assigned_at,
        first_touch_at=touched_at,
        name=f"{j.name}, {j.company}",
        url=f"{crm_url}/persons/P{j.suffix}",
        segments=tags,
        deleted=archived_at is not None,
        closed_at=closed_at,
    )


def _deal(
    j: _Journey, tags: dict[str, str], created_at: datetime, now: datetime, crm_url: str
) -> FunnelRecord:
    """The deal opened when the lead became an SQL; it counts once won."""
    won_at = _reached(j.won_at, now)
    return FunnelRecord(
        object_type="deals",
        crm_id=f"D{j.suffix}",
        modified_at=won_at or created_at,
        kind="deal",
        won_at=won_at,
        amount=j.amount,
        owner_id=j.owner.id,
        owner_email=j.owner.email,
        owner_name=j.owner.name,
        name=f"{j.company} - new business",
        url=f"{crm_url}/deals/D{j.suffix}",
        segments=tags,
    )


def _visits(seed: int, day: date, mean_leads: float, now: datetime, zone: ZoneInfo) -> VisitDay:
    rng = random.Random(f"{seed}:{day.isoformat()}:visits")  # noqa: S311 - demo data
    mean = mean_leads * VISITS_PER_LEAD
    full = max(0.0, rng.gauss(mean, mean * 0.07))
    start, end = _midnight(day, zone), _midnight(day + timedelta(days=1), zone)
    counted_to = min(end, now)
    share = (counted_to - start) / (end - start)  # today's count is still running
    return VisitDay(counted_to, DailyCount("visit", day, round(full * share)))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def add_business_hours(start: datetime, hours: float, zone: ZoneInfo) -> datetime:
    """``start`` plus ``hours`` of the demo reps' working time (Mon–Fri,
    09:00–17:00 local): when their first touches land."""
    at = start.astimezone(zone).replace(tzinfo=None)  # local wall time
    left = timedelta(hours=hours)
    while True:
        opens, closes = datetime.combine(at.date(), time(9)), datetime.combine(at.date(), time(17))
        if at.weekday() >= 5 or at >= closes:
            at = datetime.combine(at.date() + timedelta(days=1), time(9))
            continue
        at = max(at, opens)
        if left <= closes - at:
            return (at + left).replace(tzinfo=zone).astimezone(UTC)
        left -= closes - at
        at = closes
