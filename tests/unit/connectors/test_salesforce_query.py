"""SOQL built from the cursor and checked names, rows flattened from REST and
Bulk CSV, and the plan that checks configured fields against describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.salesforce.plan import FieldProblems, resolve
from connectors.salesforce.query import bulk_calls, csv_rows, flatten, select, window
from connectors.salesforce.settings import SalesforceSource
from monitor.interfaces import Cursor

UNTIL = datetime(2024, 3, 1, 12, 0, 30, 999_000, tzinfo=UTC)
CURSOR = Cursor(datetime(2024, 3, 1, 9, 15, tzinfo=UTC), "00Q000000000042AAA")


def test_a_full_read_is_bounded_by_until_only() -> None:
    assert window(None, UNTIL, timedelta(minutes=2)) == "SystemModstamp <= 2024-03-01T12:00:30Z"


def test_an_incremental_read_uses_the_id_tie_break() -> None:
    assert window(CURSOR, UNTIL, None) == (
        "SystemModstamp <= 2024-03-01T12:00:30Z AND (SystemModstamp > 2024-03-01T09:15:00Z "
        "OR (SystemModstamp = 2024-03-01T09:15:00Z AND Id > '00Q000000000042AAA'))"
    )


def test_a_look_back_rereads_from_before_the_cursor() -> None:
    assert window(CURSOR, UNTIL, timedelta(minutes=2)).endswith(
        "AND SystemModstamp >= 2024-03-01T09:13:00Z"
    )


def test_a_cursor_id_cannot_break_out_of_its_quotes() -> None:
    clause = window(Cursor(CURSOR.modified_at, "x' OR Name != '"), UNTIL, None)
    assert "Id > 'x\\' OR Name != \\''" in clause


def test_select_orders_by_the_cursor_unless_bulk() -> None:
    columns = ["Id", "SystemModstamp", "Owner.Email"]
    assert select(columns, "Lead", "X") == (
        "SELECT Id, SystemModstamp, Owner.Email FROM Lead WHERE X ORDER BY SystemModstamp, Id"
    )
    assert select(columns, "Lead", "X", ordered=False).endswith("WHERE X")
    with pytest.raises(ValueError, match="not a Salesforce field name"):
        select(["Id", "Name) OR (Id"], "Lead", "X")


def test_rest_records_and_csv_rows_flatten_alike() -> None:
    rest = {
        "attributes": {"type": "Lead"},
        "Id": "00Q1",
        "Owner": {"attributes": {"type": "User"}, "Email": "a@x", "Name": "A"},
        "MQL_Date__c": None,
    }
    text = '"Id","Owner.Email","Owner.Name","MQL_Date__c"\n"00Q1","a@x","A",""\n'
    assert (
        flatten(rest)
        == csv_rows(text)[0]
        == {
            "Id": "00Q1",
            "Owner.Email": "a@x",
            "Owner.Name": "A",
            "MQL_Date__c": None,
        }
    )
    assert csv_rows("") == []


def test_bulk_call_estimate() -> None:
    assert bulk_calls(98_000, 50_000) == 6
    assert bulk_calls(1, 50_000) == 5


def settings(**changes: Any) -> SalesforceSource:
    config: dict[str, Any] = {
        "kind": "salesforce",
        "instance_url": "https://acme.my.salesforce.com",
        "auth": {"session_id": "x"},
        "fields": {"mql_at": "mql_date__c"},
        "segments": {"region": "Region__c"},
    }
    config.update(changes)
    return SalesforceSource.model_validate(config)


def describe(**types: str) -> dict[str, Any]:
    base = {
        "Id": "id",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
        "OwnerId": "reference",
    }
    base |= {"Name": "string", "CreatedDate": "datetime"}
    return {
        "queryable": True,
        "fields": [{"name": n, "type": t} for n, t in (base | types).items()],
    }


def test_the_plan_uses_salesforce_spelling() -> None:
    plan = resolve(settings(), "leads", describe(MQL_Date__c="datetime", Region__c="picklist"))
    assert "MQL_Date__c" in plan.columns and "mql_date__c" not in plan.columns
    assert plan.shape is not None and plan.shape.stages["mql_at"] == "MQL_Date__c"
    assert plan.columns[:6] == [
        "Id",
        "SystemModstamp",
        "IsDeleted",
        "OwnerId",
        "Owner.Email",
        "Owner.Name",
    ]


def test_the_plan_names_every_missing_or_mistyped_field() -> None:
    with pytest.raises(FieldProblems) as caught:
        resolve(settings(), "leads", describe(MQL_Date__c="string"))
    message = str(caught.value)
    assert "fields.mql_at: Lead.MQL_Date__c is a string field, not date or datetime" in message
    assert "segments.region: Lead.Region__c does not exist or cannot be read" in message


def test_a_segment_missing_on_opportunities_is_skipped() -> None:
    deal = describe(IsWon="boolean", CloseDate="date", Amount="currency")
    plan = resolve(settings(), "opportunities", deal)
    assert plan.shape is not None and plan.shape.segments == {}
    assert plan.shape.kind == "deal" and plan.shape.won == "IsWon"
