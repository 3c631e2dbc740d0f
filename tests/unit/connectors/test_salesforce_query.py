"""SOQL built from the cursor and checked names, rows flattened from REST and
Bulk CSV, and the plan that checks configured fields against describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.salesforce.normalise import Closure
from connectors.salesforce.plan import FieldProblems, resolve
from connectors.salesforce.query import bulk_calls, converted, csv_rows, flatten, select, window
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


def converted_field(**changes: Any) -> dict[str, Any]:
    field = {
        "name": "ConvertedOpportunityId",
        "type": "reference",
        "referenceTo": ["Opportunity"],
        "relationshipName": "ConvertedOpportunity",
    }
    return field | changes


def lead_describe(*extra: dict[str, Any]) -> dict[str, Any]:
    described = describe(MQL_Date__c="datetime", Region__c="picklist")
    described["fields"] += list(extra)
    return described


def deal_shape(**types: str) -> Any:
    deal = describe(IsWon="boolean", CloseDate="date", Amount="currency", **types)
    return resolve(settings(), "opportunities", deal).shape


def test_leads_read_their_opportunitys_won_state_through_the_relationship() -> None:
    plan = resolve(settings(), "leads", lead_describe(converted_field()), deal_shape())
    assert plan.shape is not None and plan.shape.link is not None
    assert plan.columns[-4:] == [
        "ConvertedOpportunityId",
        "ConvertedOpportunity.IsDeleted",
        "ConvertedOpportunity.IsWon",
        "ConvertedOpportunity.CloseDate",
    ]


def test_the_won_fields_are_the_configured_ones_in_salesforce_spelling() -> None:
    custom = settings(deal_fields={"won_at": "won_at__c"})
    deal = describe(IsWon="boolean", Won_At__c="datetime", Amount="currency")
    shape = resolve(custom, "opportunities", deal).shape
    plan = resolve(custom, "leads", lead_describe(converted_field()), shape)
    assert "ConvertedOpportunity.Won_At__c" in plan.columns


@pytest.mark.parametrize(
    "extra",
    [
        [],  # the integration user cannot see the field
        [converted_field(referenceTo=["Deal__c"])],  # deals live elsewhere
        [converted_field(relationshipName=None)],
    ],
)
def test_leads_without_a_way_to_their_opportunity_carry_no_won_date(
    extra: list[dict[str, Any]],
) -> None:
    plan = resolve(settings(), "leads", lead_describe(*extra), deal_shape())
    assert plan.shape is not None and plan.shape.link is None
    assert not any(c.startswith("Converted") for c in plan.columns)


def test_converted_leads_are_found_by_their_opportunitys_modstamp_and_deleted_ids() -> None:
    plan = resolve(settings(), "leads", lead_describe(converted_field()), deal_shape())
    assert plan.shape is not None and plan.shape.link is not None
    low, high = UNTIL - timedelta(hours=1), UNTIL
    deleted = [f"006{i:015d}" for i in range(450)]
    queries = converted(plan.columns, plan.sobject, plan.shape.link, (low, high), deleted)
    assert len(queries) == 3, "the range with the first 200 ids, then 200 and 50 more ids"
    assert queries[0].endswith(
        "WHERE (ConvertedOpportunity.SystemModstamp >= 2024-03-01T11:00:30Z AND "
        "ConvertedOpportunity.SystemModstamp <= 2024-03-01T12:00:30Z) OR "
        f"ConvertedOpportunityId IN ('{deleted[0]}', "
        + ", ".join(f"'{i}'" for i in deleted[1:200])
        + ")"
    )
    assert [q.count("'") // 2 for q in queries] == [200, 200, 50]
    assert all("ORDER BY" not in q for q in queries)
    assert converted(plan.columns, plan.sobject, plan.shape.link, None, []) == []
    [only_ids] = converted(plan.columns, plan.sobject, plan.shape.link, None, ["0061'"])
    assert only_ids.endswith("WHERE ConvertedOpportunityId IN ('0061\\'')")


CLOSURE_FIELDS = {"Status": "picklist", "IsConverted": "boolean", "LastModifiedDate": "datetime"}


def test_leads_read_their_closure_when_the_org_has_its_fields() -> None:
    described = describe(MQL_Date__c="datetime", Region__c="picklist", **CLOSURE_FIELDS)
    plan = resolve(settings(), "leads", described)
    assert plan.shape is not None and plan.shape.closure == Closure(
        "LastModifiedDate",
        status="Status",
        statuses=frozenset({"Closed - Not Converted"}),
        converted="IsConverted",
    )
    assert {"Status", "IsConverted", "LastModifiedDate"} <= set(plan.columns)
    custom = settings(closed_lead_statuses=["Junk", "Duplicate"])
    shape = resolve(custom, "leads", described).shape
    assert shape is not None and shape.closure is not None
    assert shape.closure.statuses == {"Junk", "Duplicate"}


@pytest.mark.parametrize(
    ("changes", "missing"),
    [({}, "IsConverted"), ({}, "LastModifiedDate"), ({"closed_lead_statuses": []}, None)],
)
def test_leads_are_never_closed_when_the_org_cannot_tell(
    changes: dict[str, Any], missing: str | None
) -> None:
    types = {k: v for k, v in CLOSURE_FIELDS.items() if k != missing}
    described = describe(MQL_Date__c="datetime", Region__c="picklist", **types)
    plan = resolve(settings(**changes), "leads", described)
    assert plan.shape is not None and plan.shape.closure is None
    assert "IsConverted" not in plan.columns


def test_opportunities_are_closed_lost_by_is_closed_when_readable() -> None:
    shape = deal_shape(IsClosed="boolean")
    assert shape.closure == Closure("CloseDate", flag="IsClosed")
    assert deal_shape().closure is None
