"""A fake Salesforce org over real HTTPS, for the connector's tests and
benchmarks.

The client library only speaks https://, so the server runs TLS with a
throwaway trustme CA (``ca_path``), on 127.0.0.1 and a free port, in a
thread. It implements what the connector uses — the OAuth token endpoint
(password, JWT bearer, client credentials), SOAP login, the versions list,
query / queryAll with nextRecordsUrl paging and the batchSize header,
describe, limits, and Bulk API 2.0 query jobs with Sforce-Locator pages —
with Salesforce's status codes and error bodies, and these knobs:

- ``fail_next(status, code=…, times=…, endpoint=…, retry_after=…, cut=…)``,
  ``delay_next(seconds)``, ``clear_faults()``, ``down()``/``up()``
  (connections refused)
- ``revoke_access()``: sessions die and every login is refused
- ``expire_session_after(pages=N)``: tokens die after N more query pages
- ``set_api_usage(used, limit)``: the Sforce-Limit-Info counter; at the
  limit every data call is refused with REQUEST_LIMIT_EXCEEDED
- ``refuse_bulk("create" | "fail")``, ``hide_field(object, field)``,
  ``add_field(object, field, type)``
- ``add``/``add_leads``/``modify``/``delete`` records on a clock that only
  moves with ``advance``; ``calls`` counts requests per endpoint.

Queries reach parent records through ``Owner`` and through the reference
fields in ``REFERENCES`` (a Lead's ``ConvertedOpportunity``); a deleted
parent reads as null, as the API gives no guarantee of more.

It is one file longer than most because it is one server: the routes share
the org's state and knobs, and the SOQL subset lives in salesforce_soql.py.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import secrets
import ssl
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.salesforce.settings import SalesforceSource
from tests.fakes import salesforce_soql as soql
from tests.fakes.server import FakeServer, Fault, Reply, Request, Route, json_reply

API_VERSIONS = ("57.0", "58.0", "59.0", "60.0", "61.0", "62.0")
START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
_COMMON = {
    "Id": "id",
    "IsDeleted": "boolean",
    "OwnerId": "reference",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
}
SCHEMA: dict[str, dict[str, str]] = {
    "Lead": {
        **_COMMON,
        "Name": "string",
        "Company": "string",
        "Status": "picklist",
        "MQL_Date__c": "datetime",
        "SQL_Date__c": "datetime",
        "First_Touch__c": "datetime",
        "Status_Changed__c": "datetime",
        "Region__c": "picklist",
        "LeadSource": "picklist",
        "IsConverted": "boolean",
        "ConvertedDate": "date",
        "ConvertedOpportunityId": "reference",
    },
    "Opportunity": {
        **_COMMON,
        "Name": "string",
        "StageName": "picklist",
        "IsWon": "boolean",
        "IsClosed": "boolean",
        "CloseDate": "date",
        "Amount": "currency",
        "Region__c": "picklist",
    },
    "Task": {
        **_COMMON,
        "WhoId": "reference",
        "Subject": "string",
        "Status": "picklist",
        "IsClosed": "boolean",
        "CompletedDateTime": "datetime",
        "ActivityDate": "date",
    },
    "Event": {
        **_COMMON,
        "WhoId": "reference",
        "Subject": "string",
        "StartDateTime": "datetime",
        "EndDateTime": "datetime",
    },
}
#: Reference fields beyond OwnerId: object → field → (relationship, parent).
REFERENCES: dict[str, dict[str, tuple[str, str]]] = {
    "Lead": {"ConvertedOpportunityId": ("ConvertedOpportunity", "Opportunity")},
}
PREFIXES = {"Lead": "00Q", "Opportunity": "006", "Task": "00T", "Event": "00U"}
USERNAME, PASSWORD, SECURITY_TOKEN = "sync@acme.example", "hunter2-fake", "TOKENfake123"
CONSUMER_KEY, CONSUMER_SECRET = "3MVG9-fake-consumer-key", "fake-consumer-secret-42"
JWT_AUDIENCE = "https://login.salesforce.com"


@dataclass
class _Job:
    sobject: str
    operation: str
    columns: list[str]
    rows: list[dict[str, Any]]
    polls: int = 0
    failed: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


class FakeSalesforce(FakeServer):
    """One fake org. Use as a context manager, or ``start()``/``close()``."""

    methods = ("GET", "POST", "PATCH", "DELETE")
    routes = (
        Route("POST", r"/services/oauth2/token|/services/Soap/u/[\d.]+", "login"),
        Route("GET", r"/services/data", "versions"),
        Route("GET", r"/services/data/v(?P<version>[\d.]+)/query", "query"),
        Route("GET", r"/services/data/v(?P<version>[\d.]+)/queryAll", "queryAll"),
        Route(
            "GET", r"/services/data/v(?P<version>[\d.]+)/query/(?P<locator>[\w-]+)", "query_more"
        ),
        Route(
            "GET",
            r"/services/data/v(?P<version>[\d.]+)/sobjects/(?P<sobject>\w+)/describe",
            "describe",
        ),
        Route("GET", r"/services/data/v(?P<version>[\d.]+)/limits", "limits"),
        Route("POST", r"/services/data/v(?P<version>[\d.]+)/jobs/query", "bulk_create"),
        Route("GET", r"/services/data/v(?P<version>[\d.]+)/jobs/query/(?P<job>\w+)", "bulk_job"),
        Route(
            "GET",
            r"/services/data/v(?P<version>[\d.]+)/jobs/query/(?P<job>\w+)/results",
            "bulk_results",
        ),
    )

    def __init__(self, *, start: datetime = START) -> None:
        super().__init__()
        self.clock = start
        self.schema = {name: dict(fields) for name, fields in SCHEMA.items()}
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in SCHEMA}
        self.owners: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.api_used, self.api_max = 0, 100_000
        self.tokens: set[str] = set()
        self.bulk_refusal: str | None = None
        self.bulk_polls_before_complete = 1
        self._pages_left: int | None = None
        self._cursors: dict[str, tuple[str, list[str], list[dict[str, Any]]]] = {}
        self._jobs: dict[str, _Job] = {}
        self._serial = Counter[str]()
        self._jwt_public: bytes | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="fake-sf-"))
        self.access_revoked = False
        self.reps = [
            self.add_owner("User", "ana@acme.example", "Ana Reyes"),
            self.add_owner("User", "bo@acme.example", "Bo Lindqvist"),
            self.add_owner("User", "cy@acme.example", "Cy Okafor"),
        ]
        self.queue = self.add_owner("Group", None, "Inbound queue")

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeSalesforce:
        if self.tls is None:
            ca = trustme.CA()
            ca.cert_pem.write_to_path(str(self.ca_path))
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(self.tls)
        return super().start()

    def close(self) -> None:
        super().close()
        for path in self._dir.iterdir():
            path.unlink()
        self._dir.rmdir()

    @property
    def ca_path(self) -> Path:
        return self._dir / "ca.pem"

    # -- data --------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock += timedelta(seconds=seconds)

    def new_id(self, prefix: str) -> str:
        self._serial[prefix] += 1
        return f"{prefix}{self._serial[prefix]:012d}AAA"

    def add_owner(self, kind: str, email: str | None, name: str) -> str:
        owner_id = self.new_id("005" if kind == "User" else "00G")
        self.owners[owner_id] = {"type": kind, "Email": email, "Name": name}
        return owner_id

    def add(self, sobject: str, **fields: Any) -> str:
        """One record; unset fields get plausible defaults at the fake's now."""
        return self.add_many(sobject, [fields])[0]

    def add_many(self, sobject: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        ids = []
        with self.lock:
            store = self.records[sobject]
            for fields in rows:
                record = self._defaults(sobject, len(store))
                record.update({k: _second(v) for k, v in fields.items()})
                record.setdefault("SystemModstamp", record["LastModifiedDate"])
                if "CreatedDate" not in fields:
                    record["CreatedDate"] = record["SystemModstamp"]
                record["LastModifiedDate"] = record["SystemModstamp"]
                store[record["Id"]] = record
                ids.append(record["Id"])
        return ids

    def add_leads(
        self, n: int, modstamps: Iterable[datetime] | None = None, **fields: Any
    ) -> list[str]:
        """``n`` leads spread over the reps, modified at ``modstamps`` (default:
        one per second, ending now)."""
        stamps = (
            list(modstamps)
            if modstamps is not None
            else [self.clock - timedelta(seconds=n - i) for i in range(n)]
        )
        return self.add_many("Lead", ({"SystemModstamp": at, **fields} for at in stamps))

    def _defaults(self, sobject: str, index: int) -> dict[str, Any]:
        now = self.clock
        record: dict[str, Any] = {
            "Id": self.new_id(PREFIXES[sobject]),
            "IsDeleted": False,
            "OwnerId": self.reps[index % len(self.reps)],
            "CreatedDate": now,
            "LastModifiedDate": now,
        }
        if sobject == "Lead":
            record.update(Name=f"Lead {index}", Company=f"Company {index}", Status="Open")
        elif sobject == "Opportunity":
            record.update(Name=f"Deal {index}", StageName="Prospecting", IsWon=False)
            record.update(IsClosed=False, CloseDate=now.date())
        elif sobject == "Task":
            record.update(Subject="Call", Status="Completed", IsClosed=True)
        else:
            record.update(Subject="Meeting", StartDateTime=now)
        return record

    def modify(
        self, sobject: str, ids: Iterable[str], at: datetime | None = None, **fields: Any
    ) -> None:
        """Change records, modified ``at`` (default: now)."""
        with self.lock:
            for record_id in ids:
                record = self.records[sobject][record_id]
                record.update({k: _second(v) for k, v in fields.items()})
                record["SystemModstamp"] = record["LastModifiedDate"] = _second(at or self.clock)

    def delete(self, sobject: str, ids: Iterable[str]) -> None:
        self.modify(sobject, ids, IsDeleted=True)

    def live_ids(self, sobject: str) -> set[str]:
        with self.lock:
            return {i for i, r in self.records[sobject].items() if not r["IsDeleted"]}

    # -- knobs -------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        code: str = "",
        message: str = "",
        times: int = 1,
        endpoint: str | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        content_type: str = "application/json",
        cut: bool = False,
    ) -> None:
        """Answer the next ``times`` requests (to ``endpoint``, if given)
        with ``status`` and a Salesforce error body (or ``body`` verbatim,
        sent as ``content_type``), with a Retry-After header if given; with
        ``cut`` the connection drops halfway through the body."""
        self.add_fault(
            Fault(
                endpoint,
                times,
                status=status,
                code=code,
                message=message,
                body=body,
                content_type=content_type,
                retry_after=retry_after,
                cut=cut,
            )
        )

    def delay_next(self, seconds: float, *, times: int = 1, endpoint: str | None = None) -> None:
        self.add_fault(Fault(endpoint, times, delay=seconds))

    def expire_session_after(self, pages: int) -> None:
        """Every current token dies once ``pages`` more pages (REST query
        pages or Bulk result pages) were served."""
        self._pages_left = pages

    def revoke_access(self) -> None:
        """As if an admin revoked the integration's access (user frozen,
        connected app blocked): every session dies and every login is refused."""
        with self.lock:
            self.tokens.clear()
            self.access_revoked = True

    def set_api_usage(self, used: int, limit: int) -> None:
        self.api_used, self.api_max = used, limit

    def refuse_bulk(self, how: str | None = "create") -> None:
        """``create``: job creation is refused; ``fail``: jobs end Failed."""
        self.bulk_refusal = how

    def hide_field(self, sobject: str, name: str) -> None:
        """As if field-level security hid the field from the integration user."""
        del self.schema[sobject][name]

    def add_field(self, sobject: str, name: str, type_: str) -> None:
        """A custom field of ``type_`` (as describe names types)."""
        self.schema[sobject][name] = type_

    def issue_token(self) -> str:
        token = f"00D000000000001!{secrets.token_hex(16)}"
        self.tokens.add(token)
        return token

    def jwt_key_file(self) -> Path:
        """A private key whose public half the token endpoint trusts."""
        path = self._dir / "jwt.key"
        if self._jwt_public is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            self._jwt_public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        return path

    def settings(self, flow: str = "oauth_password", **overrides: Any) -> SalesforceSource:
        """A validated source config pointing at this fake."""
        auths: dict[str, dict[str, Any]] = {
            "session_id": {"session_id": self.issue_token()},
            "password": {
                "username": USERNAME,
                "password": PASSWORD,
                "security_token": SECURITY_TOKEN,
            },
            "oauth_password": {
                "username": USERNAME,
                "password": PASSWORD,
                "security_token": SECURITY_TOKEN,
                "consumer_key": CONSUMER_KEY,
                "consumer_secret": CONSUMER_SECRET,
            },
            "client_credentials": {
                "consumer_key": CONSUMER_KEY,
                "consumer_secret": CONSUMER_SECRET,
            },
        }
        if flow == "jwt":
            key = str(self.jwt_key_file())
            auths["jwt"] = {
                "username": USERNAME,
                "consumer_key": CONSUMER_KEY,
                "private_key_file": key,
            }
        config: dict[str, Any] = {
            "kind": "salesforce",
            "instance_url": self.url,
            "auth": {**auths[flow], "login_url": self.url},
            "ca_bundle": str(self.ca_path),
            "fields": {"mql_at": "MQL_Date__c", "sql_at": "SQL_Date__c"},
            "bulk_poll_seconds": 0,
            "retries": 1,
            "timeout": "10s",
        }
        config.update(overrides)
        return SalesforceSource.model_validate(config)

    # -- HTTP --------------------------------------------------------------

    def log(self, request: Request) -> None:
        self.calls[request.endpoint] += 1

    def error_reply(self, request: Request, fault: Fault) -> Reply:
        code = fault.code or ("SERVER_UNAVAILABLE" if fault.status >= 500 else "UNKNOWN")
        return _error(fault.status, code, fault.message or f"injected {fault.status}")

    def refuse(self, request: Request) -> Reply | None:
        if request.endpoint in ("login", "versions"):
            return None
        if request.endpoint == "unknown":
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if self.api_used >= self.api_max:
            return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return None

    def answer(self, request: Request) -> Reply:
        if request.endpoint == "login":
            return self._login(request.path.rstrip("/"), request.headers, request.body)
        if request.endpoint == "versions":
            versions = [{"version": v, "url": f"/services/data/v{v}"} for v in API_VERSIONS]
            return _json(200, versions)
        self.api_used += 1
        reply = self._data(request)
        reply.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_max}"
        return reply

    def _data(self, request: Request) -> Reply:
        name, match, headers = request.endpoint, request.params, request.headers
        version = match["version"]
        if name in ("query", "queryAll"):
            text = request.query.get("q", [""])[0]
            return self._query(text, name == "queryAll", headers, version)
        if name == "query_more":
            return self._page(match["locator"], headers, version)
        if name == "describe":
            return self._describe(match["sobject"])
        if name == "limits":
            left = self.api_max - self.api_used
            return _json(200, {"DailyApiRequests": {"Max": self.api_max, "Remaining": left}})
        if name == "bulk_create":
            return self._bulk_create(json.loads(request.body or b"{}"), version)
        if name == "bulk_job":
            return self._bulk_job(match["job"])
        return self._bulk_results(match["job"], request.query)

    def _query(self, text: str, include_deleted: bool, headers: Message, version: str) -> Reply:
        try:
            parsed = soql.parse(text, self.schema, REFERENCES)
            rows = self._select(parsed, include_deleted)
        except soql.SoqlError as exc:
            return _error(400, exc.code, str(exc))
        locator = self.new_id("01g")
        self._cursors[locator] = (parsed.sobject, parsed.columns, rows)
        return self._page(f"{locator}-0", headers, version)

    def _select(self, parsed: soql.Query, include_deleted: bool) -> list[dict[str, Any]]:
        """Rows with the parent fields the query names looked up (as
        ``"Parent.Field"`` keys), filtered, sorted and cut."""
        rows = [
            self._with_parents(parsed.sobject, r, parsed.paths)
            for r in self.records[parsed.sobject].values()
            if include_deleted or not r["IsDeleted"]
        ]
        rows = [r for r in rows if parsed.where(r)]
        if parsed.order:
            rows.sort(key=soql.sort_key(parsed.order), reverse=parsed.order[0][1])
        return rows[: parsed.limit] if parsed.limit is not None else rows

    def _page(self, position: str, headers: Message, version: str) -> Reply:
        locator, _, offset_text = position.rpartition("-")
        if locator not in self._cursors:
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        sobject, columns, rows = self._cursors[locator]
        size = _batch_size(headers.get("Sforce-Query-Options", ""))
        offset = int(offset_text)
        end = min(offset + size, len(rows))
        reply: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": [self._rest_record(sobject, r, columns, version) for r in rows[offset:end]],
        }
        if not reply["done"]:
            reply["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        self._served_page()
        return _json(200, reply)

    def _served_page(self) -> None:
        if self._pages_left is not None:
            self._pages_left -= 1
            if self._pages_left <= 0:
                self.tokens.clear()
                self._pages_left = None

    def _parent(
        self, sobject: str, row: Mapping[str, Any], relation: str
    ) -> tuple[str, Mapping[str, Any]] | None:
        """The (type, fields) of the parent ``relation`` reaches, or None. A
        deleted parent is not reached: the relationship reads as null."""
        if relation == "Owner":
            owner = self.owners.get(row.get("OwnerId") or "")
            return (owner["type"], owner) if owner else None
        for reference, (name, target) in REFERENCES.get(sobject, {}).items():
            if name == relation:
                parent = self.records[target].get(row.get(reference) or "")
                return (target, parent) if parent and not parent["IsDeleted"] else None
        return None

    def _with_parents(
        self, sobject: str, record: Mapping[str, Any], paths: Iterable[str]
    ) -> dict[str, Any]:
        row = dict(record)
        for path in paths:
            relation, child = path.split(".")
            parent = self._parent(sobject, record, relation)
            row[path] = parent[1].get(child) if parent else None
        return row

    def _rest_record(
        self, sobject: str, row: Mapping[str, Any], columns: list[str], version: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}",
            }
        }
        for column in columns:
            if "." in column:
                relation, child = column.split(".")
                parent = self._parent(sobject, row, relation)
                if parent is None:
                    out[relation] = None
                    continue
                nested = out.setdefault(relation, {"attributes": {"type": parent[0]}})
                nested[child] = _rest_value(row.get(column))
            else:
                out[column] = _rest_value(row.get(column))
        return out

    def _describe(self, sobject: str) -> Reply:
        if sobject not in self.schema:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        fields = [self._describe_field(sobject, n, t) for n, t in self.schema[sobject].items()]
        return _json(200, {"name": sobject, "queryable": True, "fields": fields})

    def _describe_field(self, sobject: str, name: str, type_: str) -> dict[str, Any]:
        described: dict[str, Any] = {"name": name, "type": type_}
        if name == "OwnerId":
            described.update(referenceTo=["Group", "User"], relationshipName="Owner")
        elif name in REFERENCES.get(sobject, {}):
            relation, target = REFERENCES[sobject][name]
            described.update(referenceTo=[target], relationshipName=relation)
        return described

    # -- Bulk API 2.0 ------------------------------------------------------

    def _bulk_create(self, body: Mapping[str, Any], version: str) -> Reply:
        try:
            parsed = soql.parse(str(body.get("query", "")), self.schema, REFERENCES)
            rows = self._select(parsed, body.get("operation") == "queryAll")
        except soql.SoqlError as exc:
            return _error(400, exc.code, str(exc))
        if self.bulk_refusal == "create":
            return _error(
                400, "INVALIDJOB", f"Entity '{parsed.sobject}' is not supported by the Bulk API."
            )
        job_id = self.new_id("750")
        meta = {
            "id": job_id,
            "operation": body.get("operation"),
            "object": parsed.sobject,
            "state": "UploadComplete",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        self._jobs[job_id] = _Job(
            parsed.sobject, str(body.get("operation")), parsed.columns, rows, meta=meta
        )
        return _json(200, meta)

    def _bulk_job(self, job_id: str) -> Reply:
        job = self._jobs.get(job_id)
        if job is None:
            return _error(404, "NOT_FOUND", "job not found")
        job.polls += 1
        state = "InProgress" if job.polls <= self.bulk_polls_before_complete else "JobComplete"
        if self.bulk_refusal == "fail":
            state = "Failed"
            job.meta["errorMessage"] = (
                f"InvalidBatch : Entity '{job.sobject}' is not supported by the Bulk API."
            )
        job.meta["state"] = state
        job.meta["numberRecordsProcessed"] = len(job.rows) if state == "JobComplete" else 0
        return _json(200, job.meta)

    def _bulk_results(self, job_id: str, params: dict[str, list[str]]) -> Reply:
        job = self._jobs.get(job_id)
        if job is None or job.meta["state"] != "JobComplete":
            return _error(400, "INVALIDJOB", "the job is not complete")
        size = int(params.get("maxRecords", ["50000"])[0])
        locator = params.get("locator", [""])[0]
        offset = int(base64.b64decode(locator)) if locator else 0
        rows = job.rows[offset : offset + size]
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job.columns)
        for row in rows:
            values = [row.get(c) for c in job.columns]
            writer.writerow([_CSV_FORMATS.get(type(v), str)(v) for v in values])
        end = offset + len(rows)
        reply = Reply(200, text.getvalue().encode(), "text/csv")
        reply.headers["Sforce-Locator"] = (
            base64.b64encode(str(end).encode()).decode() if end < len(job.rows) else "null"
        )
        reply.headers["Sforce-NumberOfRecords"] = str(len(rows))
        self._served_page()
        return reply

    # -- login -------------------------------------------------------------

    def _login(self, path: str, headers: Message, body: bytes) -> Reply:
        if self.access_revoked and "/Soap/" in path:
            return Reply(500, _SOAP_FAULT.encode(), "text/xml")
        if self.access_revoked:
            return _json(
                400, {"error": "invalid_grant", "error_description": "authentication failure"}
            )
        if "/Soap/" in path:
            text = body.decode()
            username = html.unescape(_xml_text(text, "n1:username"))
            password = html.unescape(_xml_text(text, "n1:password"))
            if username == USERNAME and password in (PASSWORD, PASSWORD + SECURITY_TOKEN):
                return Reply(
                    200, _soap_success(self.url, path, self.issue_token()).encode(), "text/xml"
                )
            return Reply(500, _SOAP_FAULT.encode(), "text/xml")
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type", "")
        if grant == "password":
            ok = (form.get("client_id"), form.get("client_secret")) == (
                CONSUMER_KEY,
                CONSUMER_SECRET,
            )
            ok = ok and form.get("username") == USERNAME
            ok = ok and form.get("password") in (PASSWORD, PASSWORD + SECURITY_TOKEN)
        elif grant == "client_credentials":
            basic = headers.get("Authorization", "").removeprefix("Basic ")
            ok = base64.b64decode(basic or b"").decode() == f"{CONSUMER_KEY}:{CONSUMER_SECRET}"
        elif grant.endswith("jwt-bearer"):
            ok = self._valid_assertion(form.get("assertion", ""))
        else:
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        if not ok:
            return _json(
                400, {"error": "invalid_grant", "error_description": "authentication failure"}
            )
        token = self.issue_token()
        return _json(200, {"access_token": token, "instance_url": self.url, "token_type": "Bearer"})

    def _valid_assertion(self, assertion: str) -> bool:
        if self._jwt_public is None:
            return False
        try:
            claims = jwt.decode(
                assertion,
                self._jwt_public,
                algorithms=["RS256"],
                audience=JWT_AUDIENCE,
                issuer=CONSUMER_KEY,
            )
        except jwt.PyJWTError:
            return False
        return bool(claims.get("sub") == USERNAME)


def _json(status: int, payload: Any) -> Reply:
    return json_reply(status, payload, "application/json;charset=UTF-8")


def _error(status: int, code: str, message: str) -> Reply:
    return _json(status, [{"message": message, "errorCode": code}])


def _batch_size(options: str) -> int:
    """Sforce-Query-Options batchSize: 2,000 by default, 200 to 2,000."""
    match = re.search(r"batchSize=(\d+)", options)
    return min(max(int(match.group(1)), 200), 2000) if match else 2000


def _second(value: Any) -> Any:
    """Salesforce keeps datetimes to the second."""
    return value.replace(microsecond=0) if isinstance(value, datetime) else value


def _rest_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, date):
        return value.isoformat()
    return value


_CSV_FORMATS: dict[type, Any] = {
    type(None): lambda v: "",
    bool: lambda v: "true" if v else "false",
    datetime: lambda v: v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    date: date.isoformat,
}


def _xml_text(text: str, tag: str) -> str:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    return match.group(1) if match else ""


def _soap_success(url: str, path: str, token: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
        "<soapenv:Body><loginResponse><result><passwordExpired>false</passwordExpired>"
        f"<serverUrl>{url}{path}/00D000000000001</serverUrl><sessionId>{token}</sessionId>"
        "<userId>005000000000001AAA</userId></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


_SOAP_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
    "<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, "
    "password, security token; or user locked out.</faultstring><detail><sf:LoginFault>"
    "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username, "
    "password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>"
    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
)
