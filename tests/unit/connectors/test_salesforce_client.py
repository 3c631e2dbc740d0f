"""Vendor errors translated in one place, the quota guard's arithmetic, and
the HTTP session honouring ca_bundle over REQUESTS_CA_BUNDLE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.salesforce.auth import LoginFailed
from connectors.salesforce.client import (
    MAX_RETRY_AFTER,
    BulkUnavailable,
    GarbledReply,
    QuotaExhausted,
    SalesforceClient,
    backoff,
    build_session,
    endpoint,
    translate,
)
from connectors.salesforce.settings import SalesforceSource
from monitor.errors import SourceActionNeeded, SourceRetry


def body(code: str, message: str = "") -> Any:
    """An error body as the library parses it (it annotates bytes)."""
    return [{"errorCode": code, "message": message}]


@pytest.mark.parametrize(
    ("error", "what", "kind", "says"),
    [
        (
            SalesforceRefusedRequest(
                "u", 403, "q", body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            ),
            "query",
            QuotaExhausted,
            "daily API quota is spent",
        ),
        (
            SalesforceRefusedRequest(
                "u", 403, "q", body("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn")
            ),
            "query",
            SourceRetry,
            "long-running",
        ),
        (
            SalesforceRefusedRequest("u", 403, "q", body("INSUFFICIENT_ACCESS", "no")),
            "query",
            SourceActionNeeded,
            "permissions",
        ),
        (
            SalesforceMalformedRequest("u", 400, "q", body("INVALID_FIELD", "No such column")),
            "query",
            SourceActionNeeded,
            "INVALID_FIELD: No such column",
        ),
        (
            SalesforceMalformedRequest("u", 400, "q", body("INVALID_QUERY_LOCATOR")),
            "query_more",
            SourceRetry,
            "cursor expired",
        ),
        (
            SalesforceGeneralError("u", 503, "q", body("SERVER_UNAVAILABLE")),
            "query",
            SourceRetry,
            "failed",
        ),
        (
            SalesforceResourceNotFound("u", 404, "q", body("NOT_FOUND")),
            "query",
            SourceActionNeeded,
            "api_version",
        ),
        (
            SalesforceResourceNotFound("u", 404, "q", body("NOT_FOUND")),
            "bulk",
            BulkUnavailable,
            "Bulk",
        ),
        (
            SalesforceMalformedRequest("u", 400, "q", body("INVALIDJOB")),
            "bulk",
            BulkUnavailable,
            "Bulk",
        ),
        (SalesforceOperationError("Job failure"), "bulk", BulkUnavailable, "job failed"),
        (
            LoginFailed(400, "invalid_grant", "authentication failure"),
            "login",
            SourceActionNeeded,
            "login failed",
        ),
        (LoginFailed(503, "HTTP 503", ""), "login", SourceRetry, "login server failed"),
        (requests.ConnectTimeout("x"), "query", SourceRetry, "timed out"),
        (requests.ConnectionError("refused"), "query", SourceRetry, "unreachable"),
        (requests.exceptions.SSLError("bad cert"), "query", SourceActionNeeded, "ca_bundle"),
        (
            SalesforceGeneralError("u", 429, "q", body("REQUEST_LIMIT_EXCEEDED", "slow down")),
            "query",
            SourceRetry,
            "kept rate-limiting query",
        ),
        (LoginFailed(429, "HTTP 429", ""), "login", SourceRetry, "rate-limiting"),
        (requests.JSONDecodeError("x", "<html>", 0), "query", GarbledReply, "garbled reply"),
        (requests.exceptions.ChunkedEncodingError("cut"), "describe", GarbledReply, "garbled"),
    ],
)
def test_vendor_errors_become_source_errors(
    error: Exception, what: str, kind: type, says: str
) -> None:
    translated = translate("sf", error, what)
    assert type(translated) is kind
    assert says in str(translated) and str(translated).startswith("source 'sf': ")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/services/oauth2/token", "login"),
        ("/services/Soap/u/59.0", "login"),
        ("/services/data/", "versions"),
        ("/services/data/v59.0/queryAll/?q=SELECT+Id", "queryAll"),
        ("/services/data/v59.0/query/01gxx-2000", "query_more"),
        ("/services/data/v59.0/sobjects/Lead/describe", "describe"),
        ("/services/data/v59.0/jobs/query", "bulk_create"),
        ("/services/data/v59.0/jobs/query/750xx", "bulk_job"),
        ("/services/data/v59.0/jobs/query/750xx/results?maxRecords=5", "bulk_results"),
    ],
)
def test_endpoint_names(path: str, name: str) -> None:
    assert endpoint(path) == name


def settings(**changes: Any) -> SalesforceSource:
    config: dict[str, Any] = {
        "kind": "salesforce",
        "instance_url": "https://acme.my.salesforce.com",
        "auth": {"session_id": "x"},
    }
    return SalesforceSource.model_validate(config | changes)


@pytest.mark.parametrize(
    ("used", "allowance", "calls", "stops"),
    [(None, None, 10**6, False), (78, 100, 1, False), (79, 100, 1, True), (70, 100, 12, True)],
)
def test_quota_guard(used: int | None, allowance: int | None, calls: int, stops: bool) -> None:
    client = SalesforceClient("sf", settings(quota_guard=0.8))
    client.used, client.allowance = used, allowance
    if stops:
        with pytest.raises(
            QuotaExhausted, match=r"of 100 daily API calls used .* reach the 80% guard"
        ):
            client.ensure_quota(calls)
    else:
        client.ensure_quota(calls)


def test_ca_bundle_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    bundle = tmp_path / "corp.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    session = build_session("sf", settings(ca_bundle=str(bundle)))
    merged = session.merge_environment_settings(
        "https://acme.my.salesforce.com", {}, None, None, None
    )
    assert merged["verify"] == str(bundle)
    plain = build_session("sf", settings())
    assert plain.trust_env, "without ca_bundle the environment's bundle applies"
    with pytest.raises(SourceActionNeeded, match="is not a file"):
        build_session("sf", settings(ca_bundle=str(tmp_path / "missing.pem")))


def test_garbled_replies_wait_as_the_sessions_own_retries_do() -> None:
    adapter = build_session("sf", settings(retries=5)).get_adapter("https://acme")
    assert isinstance(adapter, HTTPAdapter)
    retry = adapter.max_retries
    assert 429 in retry.status_forcelist and retry.respect_retry_after_header
    assert retry.retry_after_max == MAX_RETRY_AFTER, "an hour's Retry-After must not hold a sync"
    waits = []
    for n in range(1, 6):
        retry = retry.increment(method="GET", url="/services/data/v59.0/query")
        waits.append(retry.get_backoff_time())
        assert backoff(n) == waits[-1]
    assert waits == [0, 1, 2, 4, 8]
