"""A goal's breakdown counted by the database, on SQLite and PostgreSQL:
per value of a segment attribute, period volumes (whole days from the
rollups, today's partial day from the records), won revenue, and cohort
conversions over the auto-rate window; within the goal's segment, without
deleted records, and with records lacking the property as their own value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.models import AutoRateSettings
from monitor.facts import Cohort, FactsQuery, ValueFacts
from monitor.interfaces import Batch, FunnelRecord
from monitor.judge.periods import period_for
from monitor.store import Store

ZONE = ZoneInfo("America/New_York")
AS_OF = datetime(2026, 3, 20, 18, 0, tzinfo=UTC)  # 14:00 in New York
TODAY = datetime(2026, 3, 20, 13, 0, tzinfo=UTC)  # today, before as_of: the partial day
EARLY = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
LAST_MONTH = datetime(2026, 2, 10, 15, 0, tzinfo=UTC)


def person(n: int, source: str | None, **stages: datetime | None) -> FunnelRecord:
    segments = {"region": "EMEA"} | ({"lead_source": source} if source else {})
    return FunnelRecord("persons", f"p{n}", EARLY, kind="person", segments=segments, **stages)  # type: ignore[arg-type]


def deal(n: int, source: str, won_at: datetime, amount: float | None) -> FunnelRecord:
    segments = {"region": "EMEA", "lead_source": source}
    return FunnelRecord(
        "deals", f"d{n}", won_at, kind="deal", won_at=won_at, amount=amount, segments=segments
    )


def query(breakdown: tuple[str, ...], segment: dict[str, str] | None = None) -> FactsQuery:
    return FactsQuery(
        source="crm",
        segment=segment or {},
        period=period_for("month", AS_OF, ZONE),
        as_of=AS_OF,
        zone=ZONE,
        auto=AutoRateSettings(window_days=90),
        recent_days=30,
        breakdown=breakdown,
    )


def by_value(values: tuple[ValueFacts, ...]) -> dict[str, ValueFacts]:
    return {v.value: v for v in values}


def test_breakdown_counts_per_value(store: Store) -> None:
    persons = [
        # paid social: four MQLs last month, one became an SQL; two leads this month.
        *(person(i, "paid_social", lead_at=LAST_MONTH, mql_at=LAST_MONTH) for i in range(3)),
        person(3, "paid_social", lead_at=LAST_MONTH, mql_at=LAST_MONTH, sql_at=EARLY),
        person(4, "paid_social", lead_at=EARLY),
        person(5, "paid_social", lead_at=TODAY),
        # seo: two MQLs last month, both SQLs; one MQL today.
        person(6, "seo", lead_at=LAST_MONTH, mql_at=LAST_MONTH, sql_at=EARLY),
        person(7, "seo", lead_at=LAST_MONTH, mql_at=LAST_MONTH, sql_at=TODAY),
        person(8, "seo", lead_at=EARLY, mql_at=TODAY),
        # no lead source at all
        person(9, None, lead_at=EARLY),
    ]
    gone = FunnelRecord(
        "persons", "p10", EARLY, kind="person", lead_at=EARLY, deleted=True,
        segments={"region": "EMEA", "lead_source": "seo"},
    )  # fmt: skip
    na = FunnelRecord(
        "persons", "p11", EARLY, kind="person", lead_at=EARLY,
        segments={"region": "NA", "lead_source": "seo"},
    )  # fmt: skip
    store.write_batch("crm", "persons", Batch([*persons, gone, na]), AS_OF)
    deals = [
        deal(1, "seo", EARLY, 30_000.0),
        deal(2, "seo", TODAY, 20_000.0),
        deal(3, "paid_social", EARLY, None),
        deal(4, "paid_social", LAST_MONTH, 50_000.0),  # won before the period
    ]
    store.write_batch("crm", "deals", Batch(deals), AS_OF)

    facts = store.funnel_facts(query(("lead_source",), {"region": "EMEA"}))
    values = by_value(facts.breakdown["lead_source"])
    assert set(values) == {"paid_social", "seo", ""}
    paid, seo, none = values["paid_social"], values["seo"], values[""]
    assert paid.counts == {"lead": 2, "mql": 0, "sql": 1, "won": 1}
    assert seo.counts == {"lead": 1, "mql": 1, "sql": 2, "won": 2}
    assert none.counts == {"lead": 1, "mql": 0, "sql": 0, "won": 0}
    assert (paid.revenue, seo.revenue) == (0.0, 50_000.0)
    # Cohorts of the window: conversions counted before today's midnight.
    assert paid.cohorts["mql_to_sql"] == Cohort(4, 1)
    assert seo.cohorts["mql_to_sql"] == Cohort(2, 1)  # p7 became an SQL today, p8 an MQL today
    assert seo.cohorts["lead_to_mql"] == Cohort(3, 2)

    # Without the goal's segment the NA record counts too; an unnamed
    # attribute is not counted at all.
    everyone = by_value(store.funnel_facts(query(("lead_source",))).breakdown["lead_source"])
    assert everyone["seo"].counts["lead"] == 2
    assert store.funnel_facts(query(())).breakdown == {}


def test_breakdown_follows_changes(store: Store) -> None:
    """A record whose value changes moves between values, in the rollups
    and in today's partial day alike."""
    store.write_batch("crm", "persons", Batch([person(1, "seo", lead_at=EARLY)]), AS_OF)
    store.write_batch("crm", "persons", Batch([person(2, "seo", lead_at=TODAY)]), AS_OF)
    later = AS_OF + timedelta(minutes=1)
    moved = [person(1, "webinar", lead_at=EARLY), person(2, "webinar", lead_at=TODAY)]
    store.write_batch("crm", "persons", Batch(moved), later)
    values = by_value(store.funnel_facts(query(("lead_source",))).breakdown["lead_source"])
    assert set(values) == {"webinar"}
    assert values["webinar"].counts["lead"] == 2
