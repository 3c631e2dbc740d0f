"""Folded SLA outcomes give the figures of judging every record afresh:
the same ``SlaResult`` and findings, on generated records, as time moves on
and as late writes, rule, calendar and owner changes arrive."""

from __future__ import annotations

import random
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.config.file import Config
from monitor.evaluate import evaluate
from monitor.facts import SlaOutcomes
from monitor.interfaces import Batch, FunnelRecord, Touch
from monitor.judge import sla
from monitor.sla_folding import fold_cut, sla_result
from monitor.store import Store
from monitor.store.schema import sla_folds

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # a Monday
OWNERS = ["ana@example.com", "bo@example.com", "cy@example.com", None]
SYNCED = datetime(2026, 12, 1, tzinfo=UTC)


def settings(database: str, **changes: Any) -> Config:
    rule = {"name": "follow-up", "source": "crm", "within": "4h", "warn_before": "1h"}
    return Config.model_validate(
        {
            "timezone": "America/New_York",
            "database": database,
            "sources": {"crm": {"kind": "demo"}},
            "sla": [
                rule | changes.pop("rule", {}),
                {**rule, "name": "emea", "segment": {"region": "EMEA"}, "stage": "lead"},
            ],
            **changes,
        }
    )


def people(count: int, seed: int) -> list[FunnelRecord]:
    """MQLs over the 40 days before ``T0`` and a day after it: some
    unassigned, some assigned after entry, some touched early, late, after
    ``T0`` or never."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        mql = T0 - timedelta(days=40) + timedelta(seconds=rng.randrange(41 * 86400))
        owner = rng.choice(OWNERS)
        assigned = mql + timedelta(hours=rng.expovariate(1 / 2)) if rng.random() < 0.3 else None
        roll = rng.random()
        if roll < 0.15:
            touch = None
        elif roll < 0.2:
            touch = mql - timedelta(hours=1)
        else:
            touch = mql + timedelta(hours=rng.expovariate(1 / 6))
        out.append(
            FunnelRecord(
                object_type="contacts",
                crm_id=f"C{i}",
                modified_at=mql,
                lead_at=mql - timedelta(days=1),
                mql_at=mql,
                owner_email=owner,
                owner_name=owner and owner.split("@")[0].title(),
                assigned_at=assigned,
                first_touch_at=touch,
                name=f"Person {i}",
                url=f"https://crm.example.com/{i}",
                segments={"region": "EMEA" if i % 3 == 0 else "NA"},
            )
        )
    return out


def write(store: Store, records: list[FunnelRecord], touches: tuple[Touch, ...] = ()) -> None:
    store.write_batch("crm", "contacts", Batch(records, touches=touches), SYNCED)


def assert_same(config: Config, store: Store, as_of: datetime) -> list[sla.SlaResult]:
    """Every rule folded (twice: folding, then reading folds) and afresh:
    the same figures and findings."""
    out = []
    for rule in config.sla:
        fresh = sla_result(config, store, rule, as_of, fold=False)
        for _ in range(2):
            folded = sla_result(config, store, rule, as_of)
            assert folded.to_dict() == fresh.to_dict()
            assert (folded.overall, folded.by_owner) == (fresh.overall, fresh.by_owner)
            assert folded.owner_names == fresh.owner_names
            assert folded.judged == len(fresh.records)
            assert sla.findings(rule, folded, "crm") == sla.findings(rule, fresh, "crm")
            assert sla.next_deadline(folded) == sla.next_deadline(fresh)
        out.append(folded)
    return out


@pytest.fixture
def loaded(store: Store) -> tuple[Store, list[FunnelRecord]]:
    records = people(600, seed=7)
    write(store, records)
    return store, records


def test_folded_figures_are_the_fresh_ones_as_time_moves_on(
    loaded: tuple[Store, list[FunnelRecord]],
) -> None:
    store, _ = loaded
    config = settings(store.url)
    for hours in (0, 1, 9, 30, 24 * 3 + 5, 24 * 8, 24 * 31):
        assert_same(config, store, T0 + timedelta(hours=hours))


def test_checks_a_minute_apart_give_the_fresh_figures(
    loaded: tuple[Store, list[FunnelRecord]],
) -> None:
    """The check keeps what it read and its judgement of it between
    checks: over two hours of checks a minute apart, and a microsecond
    either side of each deadline and warning in them, the figures equal
    judging afresh, and most checks judge no record again."""
    store, records = loaded
    # Entries between checks, stored before them (as a replay stores them).
    write(
        store,
        [
            replace(records[i], crm_id=f"NEXT{i}", mql_at=T0 + timedelta(minutes=minutes))
            for i, minutes in enumerate((7, 33, 61, 95))
        ],
    )
    config = settings(store.url)
    rule = config.sla[0]
    end = T0 + timedelta(hours=2)
    changes = {
        moment + timedelta(microseconds=shift)
        for item in sla_result(config, store, rule, end, fold=False).records
        for moment in (item.warn_at, item.deadline)
        if moment is not None and T0 < moment < end
        for shift in (-1, 0, 1)
    }
    assert changes
    minutes = {T0 + timedelta(minutes=m) for m in range(120)}
    last, reused = None, 0
    for as_of in sorted(minutes | changes):
        folded = assert_same(config, store, as_of)[0]
        reused += last is not None and folded.judgement is last
        last = folded.judgement
    assert reused > len(minutes) / 2


def test_a_steady_evaluation_judges_only_the_records_still_open(
    loaded: tuple[Store, list[FunnelRecord]],
) -> None:
    store, _ = loaded
    config = settings(store.url)
    rule = config.sla[0]
    fresh = sla_result(config, store, rule, T0, fold=False)
    sla_result(config, store, rule, T0)
    folded = sla_result(config, store, rule, T0)
    recent = fold_cut(T0)
    still_open = {
        item.record.crm_id
        for item in fresh.records
        if item.touched_at is None
        or not item.record.owner_email
        or item.record.entered_at >= recent
    }
    assert {item.record.crm_id for item in folded.records} == still_open
    assert len(still_open) < len(fresh.records)
    assert folded.judged == len(fresh.records)


def test_late_writes_to_folded_days_are_seen(loaded: tuple[Store, list[FunnelRecord]]) -> None:
    store, records = loaded
    config = settings(store.url)
    assert_same(config, store, T0)
    rng = random.Random(3)
    old = [r for r in records if r.mql_at is not None and r.mql_at < T0 - timedelta(days=2)]
    untouched = [r for r in old if r.first_touch_at is None]
    touched = [r for r in old if r.first_touch_at is not None]
    changed = [
        # a touch on a record still waiting, days later
        replace(untouched[0], first_touch_at=T0 - timedelta(hours=3)),
        # a folded record that moves to another day
        replace(touched[0], mql_at=touched[0].mql_at - timedelta(days=3)),
        # a folded record reassigned, and one that changes owner
        replace(touched[1], assigned_at=touched[1].mql_at + timedelta(hours=20)),
        replace(touched[2], owner_email="dee@example.com", owner_name="Dee"),
        # a folded record deleted in the CRM, one leaving the segment
        replace(touched[3], deleted=True),
        replace(touched[4], segments={"region": "APAC"}),
        # a record backdated into a folded day
        replace(
            touched[5],
            crm_id="LATE1",
            name="Late arrival",
            mql_at=T0 - timedelta(days=5, hours=2),
            first_touch_at=T0 - timedelta(days=5),
        ),
        # today's records stored late: one in today's fold, one after it
        *(
            replace(
                touched[6],
                crm_id=f"TODAY{minutes}",
                mql_at=T0 - timedelta(minutes=minutes),
                first_touch_at=T0 - timedelta(minutes=minutes - 10),
            )
            for minutes in (30, 180)
        ),
    ]
    write(store, changed)
    assert_same(config, store, T0 + timedelta(minutes=5))
    # An earlier touch of a folded record, learned as an activity.
    target = rng.choice(touched[7:])
    earlier = Touch("contacts", target.crm_id, target.mql_at - timedelta(hours=2))
    write(store, [], touches=(earlier,))
    assert_same(config, store, T0 + timedelta(minutes=10))
    # The owner's name as the CRM now spells it.
    renamed = [replace(r, owner_name="Ana María") for r in touched if r.owner_email == OWNERS[0]]
    write(store, renamed)
    assert_same(config, store, T0 + timedelta(minutes=15))


def test_a_changed_rule_or_calendar_folds_afresh(loaded: tuple[Store, list[FunnelRecord]]) -> None:
    store, _ = loaded
    assert_same(settings(store.url), store, T0)
    assert_same(settings(store.url, rule={"within": "2h"}), store, T0)
    holiday = {"holidays": [(T0 - timedelta(days=3)).date().isoformat()]}
    assert_same(settings(store.url, calendar=holiday), store, T0)
    hours = {"start": "08:00", "end": "18:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat"]}
    assert_same(settings(store.url, rule={"business_hours": hours}), store, T0)
    assert_same(settings(store.url, timezone="Europe/Berlin"), store, T0)


def test_folds_are_kept_for_the_look_back_only(loaded: tuple[Store, list[FunnelRecord]]) -> None:
    store, _ = loaded
    config = settings(store.url)
    assert_same(config, store, T0)
    assert_same(config, store, T0 + timedelta(days=20))
    with store.begin() as conn:
        first = conn.execute(select(func.min(sla_folds.c.day))).scalar_one()
    assert first == (T0 + timedelta(days=20) - timedelta(days=30)).date()


def test_a_backtest_writes_no_folds(loaded: tuple[Store, list[FunnelRecord]]) -> None:
    store, _ = loaded
    config = settings(store.url)
    evaluate(config, store, T0, fold_sla=False)
    with store.begin() as conn:
        assert conn.execute(select(func.count()).select_from(sla_folds)).scalar_one() == 0


def test_a_fold_written_again_at_the_same_instant_reads_as_written(store: Store) -> None:
    """Decoded outcomes are kept by their digest, not by when they were
    folded: a day folded again at the same instant (after a write dropped
    its fold) reads as the new fold, and the same outcomes folded again are
    not decoded again."""
    day = T0.date()
    since, until = T0 - timedelta(days=1), T0 - timedelta(hours=1)

    def outcomes(*touches: int) -> SlaOutcomes:
        columns = [array("q", touches) for _ in range(6)]
        return SlaOutcomes("ana@example.com", "Ana", *columns)

    kept = []
    for touches, unsettled in (((1, 2), [5]), ((3,), [5, 6]), ((3,), [5, 6, 7])):
        fold = {day: (until, [outcomes(*touches)], unsettled)}
        store.save_sla_folds("follow-up", "crm", "key", T0, fold, keep_from=day)
        (read,), ids = store.sla_folds("follow-up", "key", since, T0)
        assert list(read.owners[0].touched) == list(touches)
        assert ids == {day: unsettled}
        kept.append(read.owners[0])
    assert kept[0] is not kept[1]
    assert kept[1] is kept[2]


def test_a_touch_written_by_another_process_is_seen_at_the_next_check(
    loaded: tuple[Store, list[FunnelRecord]],
) -> None:
    """The records still waiting are kept between checks (they change only
    when a sync writes): a sync in another process that touches one makes
    the next check read them again."""
    store, records = loaded
    config = settings(store.url)
    rule = config.sla[0]
    assert_same(config, store, T0)
    waiting = [
        r for r in records
        if r.first_touch_at is None and r.owner_email and r.mql_at < T0 - timedelta(days=2)
    ]  # fmt: skip
    target = waiting[0]

    def breached() -> set[str]:
        result = sla_result(config, store, rule, T0 + timedelta(minutes=1))
        return {i.record.crm_id for i in result.records if i.state is sla.State.OPEN}

    assert target.crm_id in breached()
    other = Store(store.url)
    touch = Touch("contacts", target.crm_id, T0 - timedelta(hours=1))
    other.write_batch("crm", "contacts", Batch([], touches=(touch,)), SYNCED)
    other.close()
    assert target.crm_id not in breached()
    assert_same(config, store, T0 + timedelta(minutes=2))
