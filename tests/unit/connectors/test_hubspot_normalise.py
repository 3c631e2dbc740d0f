"""HubSpot API JSON → FunnelRecord: stage-date fallbacks, won deals, bad
values dropped or rejected (never raised), merges, deletions, visits."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from connectors.hubspot import normalise
from connectors.hubspot.normalise import Owner, parse_instant, to_ms
from connectors.hubspot.settings import HubSpotSource, StageDates

NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
OWNERS = {"201": Owner("ana.ito@example.com", "Ana Ito")}


def settings(**values: Any) -> HubSpotSource:
    return HubSpotSource.model_validate({"kind": "hubspot", "token": "pat-x", **values})


def every_property(object_type: str) -> set[str]:
    return {w.prop for w in normalise.wanted(settings(), object_type)} | {"createdate"}


def plan(object_type: str = "contacts", **values: Any) -> normalise.Fields:
    s = settings(portal_id=99, segments={"region": "hs_region"}, **values)
    available = every_property(object_type) | {"hs_region"}
    return normalise.fields(s, object_type, available)


def contact(crm_id: str = "101", **props: str | None) -> dict[str, Any]:
    base = {"lastmodifieddate": "2025-03-01T10:00:00.000Z", "createdate": "2025-01-02T09:00:00Z"}
    return {"id": crm_id, "properties": {**base, **props}}


def one(object_type: str, raw: dict[str, Any], **values: Any) -> Any:
    records, rejected = normalise.records(plan(object_type, **values), [raw], OWNERS, NOW)
    assert rejected == 0
    return records[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-17T19:55:04.281Z", datetime(2024, 1, 17, 19, 55, 4, 281000, tzinfo=UTC)),
        ("2024-01-17T20:55:04+01:00", datetime(2024, 1, 17, 19, 55, 4, tzinfo=UTC)),
        ("2024-01-17", datetime(2024, 1, 17, tzinfo=UTC)),
        ("1705521304281", datetime(2024, 1, 17, 19, 55, 4, 281000, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_parse_instant_reads_every_hubspot_date_shape(text: str | None, expected: Any) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("text", ["last tuesday", "2024-13-40", "12.5"])
def test_parse_instant_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)


def test_a_date_text_seen_again_is_not_parsed_again() -> None:
    first = parse_instant("2024-01-17T19:55:04.281Z")
    assert parse_instant("2024-01-17T19:55:04.281Z") is first
    with pytest.raises(ValueError):
        parse_instant(["2024-01-17"])  # not text: refused, not a cache error


def test_to_ms_has_no_float_rounding() -> None:
    moment = parse_instant("2024-01-17T19:55:04.281Z")
    assert moment is not None and to_ms(moment) == 1705521304281


def test_a_contact_takes_each_stage_from_v2_then_legacy_dates() -> None:
    record = one(
        "contacts",
        contact(
            hs_v2_date_entered_lead="2025-01-03T00:00:00Z",
            hs_lifecyclestage_lead_date="2025-01-05T00:00:00Z",
            hs_lifecyclestage_marketingqualifiedlead_date="2025-01-10T00:00:00Z",
            hs_v2_date_entered_salesqualifiedlead="2025-02-01T00:00:00Z",
            hubspot_owner_id="201",
            hubspot_owner_assigneddate="2025-01-11T00:00:00Z",
            hs_sa_first_engagement_date="2025-01-11T03:00:00Z",
            firstname="Ada",
            lastname="Moss",
            hs_region="EMEA",
        ),
    )
    assert record.kind == "person" and record.crm_id == "101"
    assert record.lead_at == datetime(2025, 1, 3, tzinfo=UTC)  # v2 wins over legacy
    assert record.mql_at == datetime(2025, 1, 10, tzinfo=UTC)  # legacy when v2 is empty
    assert record.sql_at == datetime(2025, 2, 1, tzinfo=UTC) and record.won_at is None
    assert (record.owner_email, record.owner_name) == ("ana.ito@example.com", "Ana Ito")
    assert record.first_touch_at - record.assigned_at == timedelta(hours=3)
    assert record.name == "Ada Moss" and record.segments == {"region": "EMEA"}
    assert record.url == "https://app.hubspot.com/contacts/99/record/0-1/101"


def test_a_contact_without_lead_date_became_a_lead_when_created_unless_a_subscriber() -> None:
    assert one("contacts", contact()).lead_at == datetime(2025, 1, 2, 9, tzinfo=UTC)
    assert one("contacts", contact(lifecyclestage="subscriber")).lead_at is None
    assert one("contacts", contact(), lead_fallback=None).lead_at is None


def test_an_unreadable_or_future_date_is_dropped_and_the_next_fallback_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="connectors.hubspot"):
        record = one(
            "contacts",
            contact(
                hs_v2_date_entered_marketingqualifiedlead="2031-01-01T00:00:00Z",
                hs_lifecyclestage_marketingqualifiedlead_date="2025-01-10T00:00:00Z",
                hs_v2_date_entered_salesqualifiedlead="next week",
            ),
        )
    assert record.mql_at == datetime(2025, 1, 10, tzinfo=UTC)
    assert record.sql_at is None
    assert "hs_v2_date_entered_marketingqualifiedlead (future)" in caplog.text
    assert "hs_v2_date_entered_salesqualifiedlead (unreadable)" in caplog.text


def test_records_without_id_or_modified_time_are_rejected_not_raised() -> None:
    page = [
        contact("1"),
        {"properties": {"lastmodifieddate": "2025-03-01T00:00:00Z"}},
        contact("3", lastmodifieddate="yesterday-ish"),
        contact("4", lastmodifieddate=None),
    ]
    records, rejected = normalise.records(plan(), page, OWNERS, NOW)
    assert [r.crm_id for r in records] == ["1"] and rejected == 3


@pytest.mark.parametrize(
    ("props", "won", "amount"),
    [
        ({"hs_is_closed_won": "true", "amount": "12000.50"}, True, 12000.5),
        ({"hs_is_closed_won": "false", "amount": "9000"}, False, 9000.0),
        ({"hs_is_closed_won": "true", "amount": "12,500 USD"}, True, 12500.0),
        ({"hs_is_closed_won": "true", "amount": "$12,500.00"}, True, 12500.0),
        ({"hs_is_closed_won": "true", "amount": "n/a"}, True, None),
        ({"hs_is_closed_won": "true", "amount": "$12k"}, True, None),
        ({"hs_is_closed_won": "true", "amount": "nan"}, True, None),
        ({"hs_is_closed_won": "true", "amount": ""}, True, None),
        # The stage id says won, the flag says not: the flag wins (stage ids are not semantic).
        ({"hs_is_closed_won": "false", "dealstage": "closedwon", "amount": "5"}, False, 5.0),
    ],
)
def test_a_deal_is_won_by_its_flag_and_keeps_only_an_amount_that_reads_as_one(
    props: dict[str, str], won: bool, amount: float | None
) -> None:
    raw = {
        "id": "7",
        "properties": {
            "hs_lastmodifieddate": "2025-03-01T00:00:00Z",
            "closedate": "2025-02-28T12:00:00Z",
            "dealname": "Acme",
            "hubspot_owner_id": "201",
            **props,
        },
    }
    record = one("deals", raw)
    assert record.kind == "deal" and record.name == "Acme"
    assert record.won_at == (datetime(2025, 2, 28, 12, tzinfo=UTC) if won else None)
    assert record.amount == amount and record.owner_email == "ana.ito@example.com"
    assert record.url == "https://app.hubspot.com/contacts/99/record/0-3/7"


def test_ids_merged_into_a_survivor_come_out_deleted() -> None:
    records, _ = normalise.records(plan(), [contact("5", hs_merged_object_ids="3;4;5")], {}, NOW)
    assert [(r.crm_id, r.deleted) for r in records] == [("5", False), ("3", True), ("4", True)]
    assert records[1].modified_at == records[0].modified_at


def test_archived_records_become_deletions_inside_the_window() -> None:
    page = [
        {"id": "1", "archived": True, "archivedAt": "2025-03-04T10:00:00Z"},
        {"id": "2", "archived": True, "archivedAt": "2025-03-01T10:00:00Z"},  # before `since`
        {"id": "3", "archived": True, "archivedAt": "2025-03-04T16:00:00Z"},  # after `until`
        {"id": "4", "archived": True},
        {"id": "5", "archived": False, "updatedAt": "2025-03-04T10:00:00Z"},
    ]
    records, rejected = normalise.archived("contacts", page, NOW - timedelta(days=1), NOW)
    assert [(r.crm_id, r.deleted, r.kind) for r in records] == [("1", True, "person")]
    assert rejected == 1


MODIFIED = datetime(2025, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("props", "values", "closed"),
    [
        ({"hs_lead_status": "UNQUALIFIED"}, {}, MODIFIED),
        ({"hs_lead_status": "IN_PROGRESS"}, {}, None),
        ({}, {}, None),
        (
            {"hs_lead_status": "BAD_FIT"},
            {"closed_lead_statuses": ["UNQUALIFIED", "BAD_FIT"]},
            MODIFIED,
        ),
        ({"hs_lead_status": "UNQUALIFIED"}, {"closed_lead_statuses": []}, None),
        # Disqualified, then a customer after all: it moved on.
        (
            {
                "hs_lead_status": "UNQUALIFIED",
                "hs_v2_date_entered_customer": "2025-02-20T00:00:00Z",
            },
            {},
            None,
        ),
    ],
)
def test_a_contact_is_closed_at_its_last_change_while_its_lead_status_is_a_closed_one(
    props: dict[str, str], values: dict[str, Any], closed: datetime | None
) -> None:
    record = one(
        "contacts", contact(hs_v2_date_entered_lead="2025-01-05T00:00:00Z", **props), **values
    )
    assert record.closed_at == closed


def test_a_portal_without_lead_status_closes_no_contact() -> None:
    fields = normalise.fields(
        settings(), "contacts", every_property("contacts") - {"hs_lead_status"}
    )
    assert "hs_lead_status" not in fields.properties
    records, _ = normalise.records(fields, [contact(hs_lead_status="UNQUALIFIED")], OWNERS, NOW)
    assert records[0].closed_at is None
    assert "hs_lead_status" in plan("contacts").properties
    assert "hs_is_closed" in plan("deals").properties


@pytest.mark.parametrize(
    ("closed", "won", "closedate", "expected"),
    [
        ("true", "false", "2025-02-28T12:00:00Z", datetime(2025, 2, 28, 12, tzinfo=UTC)),
        ("true", "false", None, datetime(2025, 3, 1, tzinfo=UTC)),  # no close date: last change
        ("true", "true", "2025-02-28T12:00:00Z", None),  # won is not closed
        # Lost before its expected close date: closed by its last change.
        ("true", "false", "2025-03-03T12:00:00Z", datetime(2025, 3, 1, tzinfo=UTC)),
        ("false", "false", "2025-03-20T12:00:00Z", None),  # open, with an expected close date
    ],
)
def test_a_lost_deal_is_closed_at_its_close_date(
    closed: str, won: str, closedate: str | None, expected: datetime | None
) -> None:
    props = {"hs_lastmodifieddate": "2025-03-01T00:00:00Z", "closedate": closedate}
    raw = {"id": "7", "properties": {**props, "hs_is_closed": closed, "hs_is_closed_won": won}}
    assert one("deals", raw).closed_at == expected


def test_owners_map_ids_to_email_and_name() -> None:
    page = [{"id": "201", "email": "a@x.io", "firstName": "A", "lastName": "B"}, {"id": "9"}, {}]
    assert normalise.owners(page) == {"201": Owner("a@x.io", "A B"), "9": Owner(None, None)}


def test_daily_visits_keep_days_in_range_and_skip_unreadable_ones() -> None:
    report = {
        "2025-03-01": [{"visits": 10}, {"visits": 5}],
        "2025-03-02": {"visits": 7},
        "2025-02-01": [{"visits": 1}],
        "total": [{"visits": "many"}],
    }
    daily, rejected = normalise.daily_visits(report, date(2025, 3, 1), date(2025, 3, 31))
    assert [(c.stage, c.day, c.count) for c in daily] == [
        ("visit", date(2025, 3, 1), 15),
        ("visit", date(2025, 3, 2), 7),
    ]
    assert rejected == 1


def test_named_properties_are_required_and_defaults_optional() -> None:
    s = settings(
        first_touch="hs_first_outreach_date",
        stage_dates={"mql": ["MQL_Date"]},
        segments={"region": "hs_region"},
    )
    wanted = {w.prop: w for w in normalise.wanted(s, "contacts")}
    assert wanted["hs_first_outreach_date"].required and wanted["MQL_Date"].required
    assert wanted["hs_region"].required and wanted["hs_region"].setting == "segments.region"
    assert not wanted["hubspot_owner_assigneddate"].required
    assert not wanted["hs_v2_date_entered_lead"].required
    deal_wanted = {w.prop: w for w in normalise.wanted(s, "deals")}
    assert not deal_wanted["hs_region"].required  # a deal may lack a person's segment


def test_the_read_plan_leaves_out_what_the_portal_lacks() -> None:
    s = settings(segments={"region": "hs_region"})
    fields = normalise.fields(s, "contacts", {"hs_lifecyclestage_lead_date", "createdate"})
    assert fields.stages["lead"] == ("hs_lifecyclestage_lead_date",) and fields.stages["mql"] == ()
    assert fields.first_touch is None and fields.segments == {}
    names = fields.properties
    assert len(names) == len(set(names)) and "lastmodifieddate" in names
    assert (
        StageDates().won[0]
        in normalise.fields(s, "contacts", every_property("contacts")).properties
    )


PROPERTY_NAMES = sorted(
    every_property("contacts")
    | every_property("deals")
    | {"lastmodifieddate", "hs_lastmodifieddate", "hs_merged_object_ids", "hs_is_closed_won"}
)
VALUES = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["2025-01-01T00:00:00Z", "1705521304281", "true", "1e400", "NaN", "3;4"]),
)
RAW = st.fixed_dictionaries(
    {
        "id": st.one_of(st.none(), st.sampled_from(["1", "2", ""])),
        "properties": st.dictionaries(st.sampled_from(PROPERTY_NAMES), VALUES, max_size=6),
    }
)


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.lists(RAW, max_size=4))
def test_normalising_any_page_never_raises(page: list[dict[str, Any]]) -> None:
    for object_type in ("contacts", "deals"):
        records, rejected = normalise.records(plan(object_type), page, OWNERS, NOW)
        assert rejected + sum(not r.deleted for r in records) == len(page)
