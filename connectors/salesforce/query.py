"""SOQL text, and the two ways its rows are read: REST query pages and Bulk
API 2.0 result pages. Both hand ``normalise`` flat rows with relationship
fields as dotted keys (``Owner.Email``) and empty values as None.

SOQL is built only from names that passed ``settings.api_name`` and from
values this module formats itself (instants, quoted ids), so no config or
CRM text can change a query's meaning.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.salesforce.normalise import Link
from monitor.interfaces import Cursor

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

    from connectors.salesforce.client import SalesforceClient

_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?")
#: Ids per IN list: 200 quoted ids keep a query URL near 6 KB, well inside
#: what Salesforce and the proxies before it accept.
IN_CHUNK = 200


def soql_instant(at: datetime) -> str:
    """A SOQL datetime literal. Salesforce keeps datetimes to the second, so
    dropping sub-seconds loses nothing a stored value could have."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def window(cursor: Cursor | None, until: datetime, look_back: timedelta | None) -> str:
    """The WHERE clause of an incremental read: rows after ``cursor`` in
    (SystemModstamp, Id) order, or from ``look_back`` before it, up to
    ``until``. The Id tie-break is what lets thousands of rows that share
    one SystemModstamp (a mass update) resume without a gap or a loop."""
    clauses = [f"SystemModstamp <= {soql_instant(until)}"]
    if cursor is not None and look_back:
        clauses.append(f"SystemModstamp >= {soql_instant(cursor.modified_at - look_back)}")
    elif cursor is not None:
        at, crm_id = soql_instant(cursor.modified_at), soql_string(cursor.crm_id)
        clauses.append(f"(SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > {crm_id}))")
    return " AND ".join(clauses)


def select(columns: Sequence[str], sobject: str, where: str, *, ordered: bool = True) -> str:
    """SELECT … FROM … WHERE …, in cursor order unless ``ordered`` is False
    (Bulk API 2.0: ORDER BY turns off its chunking and can time out)."""
    for name in (sobject, *columns):
        if not _COLUMN.fullmatch(name):
            raise ValueError(f"{name!r} is not a Salesforce field name")
    # Every name was just checked and ``where`` comes from ``window``.
    soql = f"SELECT {', '.join(columns)} FROM {sobject} WHERE {where}"  # noqa: S608
    return f"{soql} ORDER BY SystemModstamp, Id" if ordered else soql


def converted(
    columns: Sequence[str],
    sobject: str,
    link: Link,
    modified: tuple[datetime, datetime] | None,
    deleted: Sequence[str],
) -> list[str]:
    """SELECTs of the leads converted into opportunities modified in the
    inclusive range ``modified`` or among the ``deleted`` ids: the first
    query takes the range and the first ids, each further one the next
    ``IN_CHUNK`` ids. A deleted opportunity is matched by id because its
    relationship may read as null once it is in the Recycle Bin."""
    for name in (link.field, link.relation):
        if not _COLUMN.fullmatch(name):
            raise ValueError(f"{name!r} is not a Salesforce field name")
    chunks = [deleted[i : i + IN_CHUNK] for i in range(0, len(deleted), IN_CHUNK)] or [[]]
    queries = []
    for index, ids in enumerate(chunks):
        clauses = []
        if index == 0 and modified is not None:
            stamp = f"{link.relation}.SystemModstamp"
            low, high = (soql_instant(at) for at in modified)
            clauses.append(f"({stamp} >= {low} AND {stamp} <= {high})")
        if ids:
            clauses.append(f"{link.field} IN ({', '.join(soql_string(i) for i in ids)})")
        if clauses:
            queries.append(select(columns, sobject, " OR ".join(clauses), ordered=False))
    return queries


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A REST record as a flat row: ``{"Owner": {"Email": …}}`` becomes
    ``{"Owner.Email": …}``; the ``attributes`` blocks are dropped."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping):
            row.update(flatten(value, f"{prefix}{key}."))
        else:
            row[f"{prefix}{key}"] = value
    return row


def csv_rows(text: str) -> list[dict[str, Any]]:
    """A Bulk API 2.0 result page as flat rows. Bulk CSV has no null, only
    the empty string, so empty values become None as in REST rows."""
    return [
        {key: (value if value != "" else None) for key, value in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


@dataclass(frozen=True, slots=True)
class Page:
    """One REST query page: its rows, the query's total row count, and
    whether more pages follow."""

    rows: list[dict[str, Any]]
    total: int
    done: bool


def rest_pages(client: SalesforceClient, soql: str, page_size: int) -> Iterator[Page]:
    """Read ``soql`` through queryAll (deleted rows included) page by page,
    following nextRecordsUrl. Each page is one API call."""
    headers = {"Sforce-Query-Options": f"batchSize={page_size}"}

    def first(sf: Salesforce) -> Any:
        return sf.query(soql, include_deleted=True, headers=headers)

    result = client.call("query", first)
    while True:
        rows = [flatten(record) for record in result["records"]]
        yield Page(rows, int(result["totalSize"]), bool(result["done"]))
        if result["done"]:
            return
        url = result["nextRecordsUrl"]

        def more(sf: Salesforce, url: str = url) -> Any:
            return sf.query_more(url, identifier_is_url=True, headers=headers)

        result = client.call("query_more", more)


def bulk_pages(
    client: SalesforceClient, sobject: str, soql: str, page_size: int, poll_seconds: int
) -> Iterator[list[dict[str, Any]]]:
    """Read ``soql`` through a Bulk API 2.0 queryAll job, one result page
    (Sforce-Locator) at a time. Rows come in no particular order."""

    def start(sf: Salesforce) -> Iterator[str]:
        handler: Any = getattr(sf.bulk2, sobject)
        pages: Iterator[str] = handler.query_all(soql, max_records=page_size, wait=poll_seconds)
        return pages

    for text in client.stream("bulk", start):
        yield csv_rows(text)


def bulk_calls(rows: int, page_size: int) -> int:
    """About how many API calls a Bulk API 2.0 read of ``rows`` costs: create
    the job, poll it a few times, fetch each result page."""
    return 1 + 3 + max(1, math.ceil(rows / page_size))
