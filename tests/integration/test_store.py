"""The store on SQLite and on the real PostgreSQL the harness starts."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, text

from monitor.config.models import AutoRateSettings
from monitor.facts import FactsQuery, Period
from monitor.findings import Alert
from monitor.interfaces import Batch, Cursor, DailyCount, FunnelRecord, Severity, Touch
from monitor.store import Store
from monitor.store.engine import head_revision
from monitor.store.schema import alerts, full_metadata, records

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)  # 00:00 in New York


def person(crm_id: str, **kw: object) -> FunnelRecord:
    base: dict[str, object] = {"object_type": "persons", "crm_id": crm_id, "modified_at": T0}
    base.update(kw)
    return FunnelRecord(**base)  # type: ignore[arg-type]


def q4() -> Period:
    return Period(
        date(2026, 10, 1),
        date(2027, 1, 1),
        datetime(2026, 10, 1, tzinfo=NY),
        datetime(2027, 1, 1, tzinfo=NY),
    )


def facts(store: Store, as_of: datetime, segment: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    auto = AutoRateSettings(window_days=90, min_sample=1)
    return store.funnel_facts(FactsQuery("crm", segment or {}, q4(), as_of, NY, auto, 30))


def test_upsert_is_idempotent_and_cursor_moves_with_batch(store: Store) -> None:
    batch = Batch(
        records=[person("a", lead_at=T0), person("b", lead_at=T0)], cursor=Cursor(T0, "b")
    )
    store.write_batch("crm", "persons", batch, T0)
    store.write_batch("crm", "persons", batch, T0)
    assert store.record_count("crm") == 2
    assert store.cursor("crm", "persons") == Cursor(T0, "b")
    assert store.cursor("crm", "deals") is None


def test_last_version_wins_and_deleted_leaves_counts(store: Store) -> None:
    store.write_batch(
        "crm", "persons", Batch([person("a", lead_at=T0), person("b", lead_at=T0)]), T0
    )
    later = T0 + timedelta(hours=1)
    store.write_batch(
        "crm", "persons", Batch([person("a", modified_at=later, deleted=True)]), later
    )
    assert store.record_count("crm") == 1
    assert store.record_count("crm", include_deleted=True) == 2
    assert facts(store, T0 + timedelta(days=1)).actual("lead") == 1


def test_touch_keeps_the_earliest_and_survives_record_upsert(store: Store) -> None:
    store.write_batch("crm", "persons", Batch([person("a", mql_at=T0)]), T0)
    store.write_batch(
        "crm",
        "tasks",
        Batch(
            touches=[
                Touch("persons", "a", T0 + timedelta(hours=3)),
                Touch("persons", "a", T0 + timedelta(hours=2)),
            ]
        ),
        T0,
    )
    store.write_batch(
        "crm", "persons", Batch([person("a", mql_at=T0, modified_at=T0 + timedelta(hours=5))]), T0
    )
    with store.begin() as conn:
        touched = conn.execute(text("SELECT first_touch_at FROM records")).scalar_one()
    if isinstance(touched, str):
        touched = datetime.fromisoformat(touched).replace(tzinfo=UTC)
    assert touched.astimezone(UTC) == T0 + timedelta(hours=2)


def test_daily_counts_are_local_days(store: Store) -> None:
    # 03:30 UTC on Oct 2 is still Oct 1 in New York; 04:30 UTC is Oct 2.
    rows = [
        person("a", lead_at=datetime(2026, 10, 2, 3, 30, tzinfo=UTC)),
        person("b", lead_at=datetime(2026, 10, 2, 4, 30, tzinfo=UTC)),
        person("c", lead_at=datetime(2026, 9, 30, 23, 0, tzinfo=UTC)),  # Sept 30 local: outside Q4
        person("d", lead_at=datetime(2026, 10, 9, tzinfo=UTC)),  # after as_of
    ]
    store.write_batch("crm", "persons", Batch(rows), T0)
    result = facts(store, datetime(2026, 10, 5, tzinfo=UTC))
    assert result.daily["lead"] == {date(2026, 10, 1): 1, date(2026, 10, 2): 1}


def test_segments_filter_counts(store: Store) -> None:
    rows = [
        person("a", lead_at=T0, segments={"region": "EMEA"}),
        person("b", lead_at=T0, segments={"region": "NA"}),
        person("c", lead_at=T0),
    ]
    store.write_batch("crm", "persons", Batch(rows), T0)
    assert facts(store, T0 + timedelta(days=1), {"region": "EMEA"}).actual("lead") == 1
    assert facts(store, T0 + timedelta(days=1)).actual("lead") == 3


def test_cohorts_deals_and_visits(store: Store) -> None:
    day = timedelta(days=1)
    rows = [person(f"p{i}", lead_at=T0, mql_at=T0 + day if i < 3 else None) for i in range(10)]
    deals = [
        FunnelRecord("deals", "d1", T0, kind="deal", won_at=T0 + day, amount=1000.0),
        FunnelRecord("deals", "d2", T0, kind="deal", won_at=T0 + day, amount=3000.0),
        FunnelRecord("deals", "d3", T0, kind="deal", won_at=T0 + day, amount=None),
    ]
    store.write_batch("crm", "persons", Batch(rows), T0)
    store.write_batch("crm", "deals", Batch(deals), T0)
    store.write_batch(
        "crm", "visits", Batch(daily=[DailyCount("visit", date(2026, 10, 1), 500)]), T0
    )
    result = facts(store, T0 + 3 * day)
    leads = result.tables["lead_to_mql"]
    assert dict(leads.entered) == {T0.date(): 10}
    assert dict(leads.converted) == {(T0.date(), 1): 3}  # a day after entering
    assert "sql_to_won" not in result.tables  # persons never carry won_at here
    assert (result.deals.count, result.deals.total) == (2, 4000.0)
    assert result.actual("won") == 3
    assert result.has_visits and result.actual("visit") == 500
    assert result.visits is not None and result.visits.rate == 10 / 500


def test_migrations_are_idempotent_and_match_the_schema(store: Store) -> None:
    before, after = store.upgrade()
    assert before == after == head_revision(store.engine)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), full_metadata()) == []


def test_partial_indexes_keep_their_predicates(store: Store) -> None:
    """Alembic's comparison does not look at an index's WHERE clause: a
    partial index that lost it would pass as equal and index every row."""
    partial = [i.name for i in records.indexes if i.dialect_kwargs.get("sqlite_where") is not None]
    assert partial
    if store.dialect == "postgresql":
        query = text("SELECT indexdef FROM pg_indexes WHERE indexname = :name")
    else:
        query = text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name")
    with store.begin() as conn:
        for name in partial:
            definition = conn.execute(query, {"name": name}).scalar_one()
            assert " WHERE " in definition.upper(), definition


def test_sqlite_file_is_private_and_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "private.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    with store.begin() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        # Sized for a million-record first sync (see engine._sqlite_pragmas).
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 16384
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    store.close()


def test_upgrading_marks_sources_synced_before_as_watched(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An existing install is not told "now watching" for sources it has
    watched all along; a source that never synced still will be."""
    from alembic import command

    from monitor.store.engine import _alembic_config

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(store.engine), "0003")
    synced = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    with store.begin() as conn:
        for name, success in (("hs", synced), ("sf", None)):
            conn.execute(
                text(
                    "INSERT INTO source_status (source, last_attempt_at, last_success_at, "
                    "last_records, last_rejected) VALUES (:s, :a, :ok, 0, 0)"
                ),
                {"s": name, "a": synced.isoformat(), "ok": success and success.isoformat()},
            )
    store.upgrade()
    statuses = store.source_statuses()
    assert statuses["hs"].watching_since == synced
    assert statuses["sf"].watching_since is None
    store.close()


def test_arrival_profiles_by_local_hour_of_the_week(store: Store) -> None:
    """Seasonal pacing's profile: the whole weeks before today, by local hour
    of the week, on either database (each groups by UTC hour its own way)."""
    as_of = datetime(2026, 10, 21, 15, tzinfo=UTC)  # a Wednesday
    rows = [
        # Monday 2026-10-19 09:30 in New York (13:30 UTC): weekday 0, hour 9.
        person("a", lead_at=datetime(2026, 10, 19, 13, 30, tzinfo=UTC)),
        person("b", lead_at=datetime(2026, 10, 19, 13, 59, tzinfo=UTC)),
        # Sunday 2026-10-18 23:00 in New York is Monday 03:00 UTC: weekday 6.
        person("c", lead_at=datetime(2026, 10, 19, 3, tzinfo=UTC), mql_at=T0),
        person("d", lead_at=as_of - timedelta(hours=1)),  # today: not in the profile
        person("e", lead_at=datetime(2026, 8, 1, tzinfo=UTC)),  # more than 8 weeks ago
    ]
    store.write_batch("crm", "persons", Batch(rows), T0)
    auto = AutoRateSettings(window_days=90, min_sample=1)
    query = FactsQuery("crm", {}, q4(), as_of, NY, auto, 30, profiles=True)
    lead = store.funnel_facts(query).profiles["lead"]
    assert len(lead) == 168 and sum(lead) == 3
    assert (lead[0 * 24 + 9], lead[6 * 24 + 23]) == (2, 1)
    assert store.funnel_facts(FactsQuery("crm", {}, q4(), as_of, NY, auto, 30)).profiles == {}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upgrading_keeps_alerts_and_records_old_closures_as_resolutions(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    """Alerts written before 0005 read back whole: the resolved ones as
    resolutions, the open ones with nothing said about their records yet."""
    from alembic import command

    from monitor.store.engine import _alembic_config

    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres").create_database()
    )
    store = Store(url)
    command.upgrade(_alembic_config(store.engine), "0004")
    old = {
        "rule": "pacing", "subject": "q1", "source": "crm", "severity": 2, "consecutive": 3,
        "title": "t", "text": "x", "first_seen_at": T0, "last_seen_at": T0, "notified_at": T0,
        "payload": {"owner": "", "items": [["Lead", "https://crm.example.com/1"]]},
    }  # fmt: skip
    with store.begin() as conn:
        conn.execute(insert(alerts).values(fingerprint="a", state="resolved", **old))
        conn.execute(insert(alerts).values(fingerprint="b", state="firing", **old))
    store.upgrade()
    with store.transaction() as tx:
        read = tx.alerts(include_resolved=True)
        assert tx.closures(["a", "b"]) == {"a": "resolved"}
    assert read["a"].closed_as == "resolved" and read["b"].closed_as is None
    assert read["b"].items == (("Lead", "https://crm.example.com/1"),)
    assert read["b"].members == read["b"].notified_members == ()
    assert read["b"].period_end is None and read["b"].data == {}
    store.close()


def test_an_alert_reads_back_as_written(store: Store) -> None:
    alert = Alert(
        fingerprint="pacing/q1/mql/2026-10-01..2027-01-01",
        rule="pacing",
        subject="q1",
        source="crm",
        severity=Severity.CRITICAL,
        state="resolved",
        consecutive=0,
        title="MQLs 29% behind pace",
        text="x",
        channel="#c",
        first_seen_at=T0,
        last_seen_at=T0,
        metric=-0.29,
        stage="mql",
        period="2026-10-01..2027-01-01",
        period_end=datetime(2027, 1, 1, 5, tzinfo=UTC),
        data={"actual": 54, "target": 76},
        members=("P1", "P2"),
        items=(("Lead 1", "u1"), ("Lead 2", "u2")),
        closed_as="ended",
        notified_at=T0,
        notified_severity=Severity.WARNING,
        notified_metric=-0.31,
        notified_members=("P1",),
        outbox_id=7,
    )
    with store.transaction() as tx:
        tx.save_alerts([alert])
    with store.transaction() as tx:
        assert tx.alerts(include_resolved=True)[alert.fingerprint] == alert
        assert tx.closures([alert.fingerprint]) == {alert.fingerprint: "ended"}
        following = replace(
            alert,
            fingerprint="pacing/q1/mql/2027-01-01..2027-04-01",
            period="2027-01-01..2027-04-01",
            state="firing",
            closed_as=None,
        )
        assert tx.predecessor(following) == alert
        later = replace(following, period="2027-04-01..2027-07-01")
        assert tx.predecessor(later) is None, "only the period just before"


def test_stage_indexes_hold_only_records_that_reached_the_stage(store: Store) -> None:
    with store.begin() as conn:
        if store.dialect == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        else:
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'records'"
        definitions = {name: sql for name, sql in conn.execute(text(query))}
    for stage in ("lead", "mql", "sql", "won"):
        definition = " ".join(definitions[f"ix_records_source_kind_{stage}_at"].split())
        assert definition.endswith(f"WHERE ({stage}_at IS NOT NULL)") or definition.endswith(
            f"WHERE {stage}_at IS NOT NULL"
        ), definition
