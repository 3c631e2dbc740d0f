"""Salesforce rows → FunnelRecords and Touches: REST and Bulk CSV rows give
the same record; bad rows are counted and logged, never raised."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.salesforce.normalise import (
    Closure,
    Link,
    Shape,
    normalise,
    page_cursor,
    parse_instant,
    to_record,
    touches,
)
from monitor.interfaces import Cursor

UNTIL = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LEADS = Shape(
    "leads",
    "Lead",
    "person",
    "https://acme.my.salesforce.com",
    stages={"lead_at": "CreatedDate", "mql_at": "MQL_Date__c", "sql_at": "SQL_Date__c"},
    segments={"region": "Region__c"},
)
DEALS = Shape(
    "opportunities",
    "Opportunity",
    "deal",
    "https://acme.my.salesforce.com",
    stages={"won_at": "CloseDate"},
    amount="Amount",
    won="IsWon",
)


def lead(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Id": "00Q000000000001AAA",
        "SystemModstamp": "2024-02-20T10:00:00.000+0000",
        "IsDeleted": False,
        "OwnerId": "005000000000001AAA",
        "Owner.Email": "ana@acme.example",
        "Owner.Name": "Ana Reyes",
        "Name": "Jo <!channel> Smith",
        "CreatedDate": "2024-02-01T09:30:00.000+0000",
        "MQL_Date__c": "2024-02-10T15:00:00.000+0000",
        "SQL_Date__c": None,
        "Region__c": "EMEA",
    }
    row.update(fields)
    return row


def test_a_rest_lead_row() -> None:
    record = to_record(lead(), LEADS, UNTIL)
    assert record.crm_id == "00Q000000000001AAA" and record.kind == "person"
    assert record.modified_at == datetime(2024, 2, 20, 10, tzinfo=UTC)
    assert record.lead_at == datetime(2024, 2, 1, 9, 30, tzinfo=UTC)
    assert record.mql_at == datetime(2024, 2, 10, 15, tzinfo=UTC) and record.sql_at is None
    assert (record.owner_id, record.owner_email) == ("005000000000001AAA", "ana@acme.example")
    assert record.name == "Jo <!channel> Smith"  # escaping is the notifier's job
    assert record.url == "https://acme.my.salesforce.com/lightning/r/Lead/00Q000000000001AAA/view"
    assert record.segments == {"region": "EMEA"} and not record.deleted


def test_a_bulk_csv_row_gives_the_same_record() -> None:
    text_row = lead(
        SystemModstamp="2024-02-20T10:00:00.000Z",
        IsDeleted="false",
        CreatedDate="2024-02-01T09:30:00.000Z",
        MQL_Date__c="2024-02-10T15:00:00.000Z",
    )
    assert to_record(text_row, LEADS, UNTIL) == to_record(lead(), LEADS, UNTIL)


def test_date_only_values_land_on_their_day_everywhere() -> None:
    at = parse_instant("2024-03-31", "CloseDate")
    assert at == datetime(2024, 3, 31, 12, tzinfo=UTC)


def test_a_queue_owner_is_no_assignment() -> None:
    record = to_record(lead(OwnerId="00G000000000001AAA", **{"Owner.Email": None}), LEADS, UNTIL)
    assert record.owner_id is None and record.owner_email is None and record.owner_name is None


def test_a_deleted_row_is_kept_whatever_its_fields() -> None:
    [record], rejected = normalise([lead(IsDeleted=True, MQL_Date__c="garbage")], LEADS, UNTIL)
    assert record.deleted and rejected == 0 and record.mql_at is None


def test_deals_count_as_won_only_when_won() -> None:
    won = {"Id": "006A", "SystemModstamp": "2024-02-20T10:00:00.000Z", "IsWon": "true"}
    won |= {"CloseDate": "2024-02-28", "Amount": "50000.5", "Name": "Big"}
    lost = won | {"Id": "006B", "IsWon": False, "Amount": 900}
    records, rejected = normalise([won, lost], DEALS, UNTIL)
    assert rejected == 0
    assert (records[0].kind, records[0].amount) == ("deal", 50000.5)
    assert records[0].won_at == datetime(2024, 2, 28, 12, tzinfo=UTC)
    assert records[1].won_at is None and records[1].amount == 900.0


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (lead(MQL_Date__c="last tuesday"), "MQL_Date__c: 'last tuesday' is not a date"),
        (lead(MQL_Date__c="2024-02-10T15:00:00"), "is not a date"),  # no zone: ambiguous
        (lead(SQL_Date__c="2025-06-01T00:00:00.000Z"), "SQL_Date__c: 2025-06-01"),
        (lead(Id=None), "Id and SystemModstamp are required"),
        (lead(IsDeleted="maybe"), "IsDeleted: 'maybe' is not true or false"),
    ],
)
def test_bad_rows_are_counted_and_logged(
    row: dict[str, Any], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    records, rejected = normalise([lead(Id="00QGOOD"), row], LEADS, UNTIL)
    assert [r.crm_id for r in records] == ["00QGOOD"] and rejected == 1
    assert reason in caplog.text


@pytest.mark.parametrize(
    ("text", "amount"),
    [("12,500 USD", 12500.0), ("$12,500.00", 12500.0), ("12500", 12500.0), ("n/a", None)],
)
def test_a_won_deal_with_a_text_amount_is_kept_and_counts_as_won(
    text: str, amount: float | None
) -> None:
    row = {"Id": "006A", "SystemModstamp": "2024-02-20T10:00:00.000Z", "IsWon": True}
    row |= {"CloseDate": "2024-02-28", "Amount": text}
    [record], rejected = normalise([row], DEALS, UNTIL)
    assert rejected == 0 and record.amount == amount
    assert record.won_at == datetime(2024, 2, 28, 12, tzinfo=UTC)


def test_amounts_that_are_no_number_are_counted_and_logged_once_per_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    base = {"SystemModstamp": "2024-02-20T10:00:00.000Z", "IsWon": True, "CloseDate": "2024-02-28"}
    rows = [base | {"Id": f"006{i}", "Amount": text} for i, text in enumerate(["n/a", "?", "7"])]
    records, rejected = normalise(rows, DEALS, UNTIL)
    assert [r.amount for r in records] == [None, None, 7.0] and rejected == 0
    [line] = [r.getMessage() for r in caplog.records]
    assert "Amount (not a number) ×2" in line and "0060: 'n/a' is not a number" in line


def test_status_values_mark_stages_without_a_date_field() -> None:
    shape = Shape(
        "leads",
        "Lead",
        "person",
        "https://x",
        stages={"lead_at": "CreatedDate", "sql_at": "SQL_Date__c"},
        status="Status",
        status_stages={"mql": frozenset({"MQL"}), "sql": frozenset({"Accepted"})},
        status_at="Status_Changed__c",
    )
    changed = "2024-02-15T08:00:00.000Z"
    accepted = to_record(lead(Status="Accepted", Status_Changed__c=changed), shape, UNTIL)
    assert accepted.mql_at == datetime(2024, 2, 15, 8, tzinfo=UTC)
    assert accepted.sql_at is None, "a configured date field wins over Status"
    working = to_record(lead(Status="Working", Status_Changed__c=changed), shape, UNTIL)
    assert working.mql_at is None
    assert "Status" in shape.columns() and "Status_Changed__c" in shape.columns()


def test_completed_activities_on_leads_are_touches() -> None:
    base = {"SystemModstamp": "2024-02-20T10:00:00.000Z", "IsDeleted": False}
    rows = [
        base
        | {
            "Id": "00T1",
            "WhoId": "00QA",
            "IsClosed": True,
            "CompletedDateTime": "2024-02-20T09:00:00.000Z",
        },
        base
        | {
            "Id": "00T2",
            "WhoId": "00QB",
            "IsClosed": "true",
            "CreatedDate": "2024-02-19T09:00:00.000Z",
        },
        base | {"Id": "00T3", "WhoId": "00QC", "IsClosed": False},
        base
        | {
            "Id": "00T4",
            "WhoId": "003CONTACT",
            "IsClosed": True,
            "CreatedDate": "2024-02-19T09:00:00Z",
        },
        base | {"Id": "00T5", "WhoId": None, "IsClosed": True},
        base | {"Id": "00T6", "WhoId": "00QD", "IsClosed": True, "CompletedDateTime": "soon"},
    ]
    found, rejected = touches(rows, "Task", UNTIL)
    assert [(t.object_type, t.crm_id, t.touched_at.day) for t in found] == [
        ("leads", "00QA", 20),
        ("leads", "00QB", 19),
    ]
    assert rejected == 1


def test_events_count_once_they_start() -> None:
    base = {"SystemModstamp": "2024-02-20T10:00:00.000Z", "IsDeleted": False, "WhoId": "00QA"}
    rows = [
        base | {"Id": "00U1", "StartDateTime": "2024-02-21T10:00:00.000Z"},
        base | {"Id": "00U2", "StartDateTime": "2024-03-05T10:00:00.000Z"},
    ]
    found, _ = touches(rows, "Event", UNTIL)
    assert [t.touched_at for t in found] == [datetime(2024, 2, 21, 10, tzinfo=UTC)]


def test_page_cursor_is_the_last_row_that_has_one() -> None:
    rows = [lead(Id="00Q1"), lead(Id="00Q2"), lead(Id=None)]
    assert page_cursor(rows) == Cursor(datetime(2024, 2, 20, 10, tzinfo=UTC), "00Q2")
    assert page_cursor([]) is None


LINKED = replace(
    LEADS, link=Link("ConvertedOpportunityId", "ConvertedOpportunity", "IsWon", "CloseDate")
)


def converted(**parent: Any) -> dict[str, Any]:
    """A lead converted into an opportunity with these fields, as REST
    (flattened) or Bulk CSV rows carry them."""
    values = {"IsDeleted": False, "IsWon": True, "CloseDate": "2024-02-28"} | parent
    row = lead(ConvertedOpportunityId="006000000000001AAA")
    row |= {f"ConvertedOpportunity.{k}": v for k, v in values.items()}
    return row


@pytest.mark.parametrize(
    ("row", "won_at"),
    [
        (converted(), datetime(2024, 2, 28, 12, tzinfo=UTC)),  # CloseDate: noon UTC, as deals
        (converted(IsWon="true", IsDeleted="false"), datetime(2024, 2, 28, 12, tzinfo=UTC)),
        (converted(IsWon=False), None),
        (converted(IsDeleted=True), None),  # in the Recycle Bin: the deal left the counts
        (lead(ConvertedOpportunityId="006000000000001AAA", ConvertedOpportunity=None), None),
        (lead(), None),
    ],
)
def test_a_converted_lead_is_won_when_its_opportunity_is(
    row: dict[str, Any], won_at: datetime | None
) -> None:
    record = to_record(row, LINKED, UNTIL)
    assert record.won_at == won_at and record.kind == "person"


def test_a_bad_won_date_is_dropped_and_the_lead_kept(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    rows = [converted(CloseDate="soon"), converted(CloseDate="2024-09-01"), converted(IsWon=7)]
    records, rejected = normalise(rows, LINKED, UNTIL)
    assert rejected == 0 and [r.won_at for r in records] == [None, None, None]
    assert [r.mql_at for r in records] == [datetime(2024, 2, 10, 15, tzinfo=UTC)] * 3
    [line] = [r.getMessage() for r in caplog.records]
    assert "ConvertedOpportunity won date ×3" in line and "'soon' is not a date" in line


CLOSING = replace(
    LINKED,
    closure=Closure(
        "LastModifiedDate",
        status="Status",
        statuses=frozenset({"Closed - Not Converted"}),
        converted="IsConverted",
    ),
)
CLOSED = {"Status": "Closed - Not Converted", "LastModifiedDate": "2024-02-19T08:00:00.000+0000"}


@pytest.mark.parametrize(
    ("row", "closed_at"),
    [
        (lead(**CLOSED, IsConverted=False), datetime(2024, 2, 19, 8, tzinfo=UTC)),
        (lead(**CLOSED, IsConverted="false"), datetime(2024, 2, 19, 8, tzinfo=UTC)),  # Bulk CSV
        (lead(**CLOSED), datetime(2024, 2, 19, 8, tzinfo=UTC)),
        (lead(**CLOSED | {"Status": "Working"}, IsConverted=False), None),
        # Closed, then converted after all: it moved on.
        (lead(**CLOSED, IsConverted=True), None),
        (converted() | CLOSED, None),  # its opportunity won
    ],
)
def test_a_lead_is_closed_at_its_last_change_while_its_status_is_a_closed_one(
    row: dict[str, Any], closed_at: datetime | None
) -> None:
    assert to_record(row, CLOSING, UNTIL).closed_at == closed_at
    assert to_record(row, LINKED, UNTIL).closed_at is None  # an org that cannot tell


@pytest.mark.parametrize(
    ("fields", "closed_at"),
    [
        ({"IsClosed": True, "IsWon": False}, datetime(2024, 2, 18, 12, tzinfo=UTC)),
        ({"IsClosed": "true", "IsWon": "false"}, datetime(2024, 2, 18, 12, tzinfo=UTC)),
        ({"IsClosed": True, "IsWon": True}, None),
        ({"IsClosed": False, "IsWon": False}, None),
        # Lost early, keeping the close date it was expected on: closed by its last change.
        (
            {"IsClosed": True, "IsWon": False, "CloseDate": "2024-04-30"},
            datetime(2024, 2, 20, 10, tzinfo=UTC),
        ),
    ],
)
def test_a_lost_opportunity_is_closed_at_its_close_date(
    fields: dict[str, Any], closed_at: datetime | None
) -> None:
    row = {"Id": "006A", "SystemModstamp": "2024-02-20T10:00:00.000Z", "CloseDate": "2024-02-18"}
    shape = replace(DEALS, closure=Closure("CloseDate", flag="IsClosed"))
    assert to_record(row | fields, shape, UNTIL).closed_at == closed_at
