"""HubSpot over HTTP: one paced, retried client per connector, and the one
place where HubSpot's errors become alignmon's.

It exists so that pacing, retrying and error translation happen once, for
every endpoint the connector uses. Data flow: ``HubSpotConnector.pull``
reads records through ``windowing.modified_pages`` (a first sync through
``backfill.pages``), which send their queries through this client, and
reads owners, properties, archived records and sessions from it directly; the raw API JSON it returns goes to
``normalise`` and from there to the store. Nothing above this module sees an
HTTP status or a vendor exception.

Retries use tenacity around each call rather than urllib3's ``Retry`` inside
the generated client, for four reasons:

- one policy covers every transient failure, including a 200 whose body is
  cut short or not JSON, which urllib3 never sees as a failure;
- every attempt goes through its budget's token bucket (search's, or the
  other endpoints'), whereas urllib3 retries inside its pool, behind the
  pacer's back;
- a search 429 often carries no Retry-After: the wait then follows HubSpot's
  ``policyName`` (1 s for the per-second limit, 10 s for the ten-second one,
  as HubSpot's own Node client does), and a spent daily allowance stops the
  sync instead of sleeping;
- when attempts run out the caller gets ``SourceRetry``, not urllib3's
  ``MaxRetryError`` (docs/design.md, "HubSpot").

So the generated client is built with ``retry=False``; responses are read
raw (``_preload_content=False``) and parsed here, which also skips the
generated models' slow deserialisation.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import hubspot
import urllib3
from hubspot.crm.contacts import PublicObjectSearchRequest as ContactSearch
from hubspot.crm.deals import PublicObjectSearchRequest as DealSearch
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.hubspot.settings import (
    APP_INFO_PATH,
    ID_PROPERTY,
    LIST_PAGE,
    SEARCH_PAGE,
    SESSIONS_PATH,
    HubSpotSource,
)
from monitor.errors import SourceActionNeeded, SourceRetry, retry_after_seconds

log = logging.getLogger(__name__)

Json = dict[str, Any]
MAX_RETRY_AFTER = 120.0  # a longer wait is left to the next scheduled sync
MAX_BACKOFF = 30.0
_POLICY_WAIT = {"SECONDLY": 1.0, "TEN_SECONDLY_ROLLING": 10.0}


class TokenBucket:
    """At most ``rate`` requests per second, bursts of at most ``capacity``.
    A capacity of one spaces requests evenly, which keeps a rolling
    one-second limit like HubSpot's search limit from ever being hit."""

    def __init__(self, rate: float, capacity: float = 1.0) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for benchmarks

    def take(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self._rate
                time.sleep(wait)
                self.waited += wait
                self._stamp = time.monotonic()
                self._tokens = 1.0
            self._tokens -= 1.0


class TokenRejected(SourceActionNeeded):
    """HubSpot answered 401: the token is wrong, revoked or expired."""


class _Transient(Exception):
    """A failure worth another attempt; ``retry_after`` when HubSpot said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float | None:
    return retry_after_seconds(headers.get("Retry-After") if headers else None)


def _error_body(exc: Any) -> Json:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _missing_scopes(body: Json) -> list[str]:
    scopes: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") or {} if isinstance(error, dict) else {}
        scopes += context.get("requiredGranularScopes") or context.get("requiredScopes") or []
    return scopes


class HubSpotApi:
    """The endpoints the connector uses, each returning parsed JSON or
    raising ``SourceRetry`` / ``SourceActionNeeded``."""

    def __init__(self, source: str, settings: HubSpotSource) -> None:
        self._source = source
        self._settings = settings
        self._retries = settings.retries
        self._backoff = settings.retry_backoff.total_seconds()
        self._timeout = settings.timeout.total_seconds()
        # Search and every other endpoint have separate budgets at HubSpot
        # (per second and per ten seconds): one bucket each, shared by every
        # thread of a backfill.
        self.search_bucket = TokenBucket(settings.requests_per_second)
        self.bucket = TokenBucket(settings.requests_per_10s / 10)
        self.calls = 0  # HTTP attempts, retries included
        self.http_seconds = 0.0  # time spent waiting on HubSpot, for benchmarks
        self._tally = threading.Lock()
        client = hubspot.Client.create(
            access_token=settings.token.reveal(), host=settings.api_url.rstrip("/"), retry=False
        )
        # Each attribute access below builds a new ApiClient and connection
        # pool (docs/design.md, "HubSpot"): take every API object exactly once.
        contacts, deals = client.crm.contacts, client.crm.deals
        self._search = {"contacts": contacts.search_api, "deals": deals.search_api}
        self._search_model = {"contacts": ContactSearch, "deals": DealSearch}
        self._basic = {"contacts": contacts.basic_api, "deals": deals.basic_api}
        self._owners = client.crm.owners.owners_api
        self._properties = client.crm.properties.core_api
        self._apis = [*self._search.values(), *self._basic.values(), self._owners, self._properties]

    @property
    def source(self) -> str:
        """The source's config name, which every error raised for it carries."""
        return self._source

    def close(self) -> None:
        for api in self._apis:
            api.api_client.close()
            api.api_client.rest_client.pool_manager.clear()

    # -- the call, its retries and its errors ---------------------------------

    @property
    def paced_seconds(self) -> float:
        """Time spent waiting for either budget, for benchmarks."""
        return self.search_bucket.waited + self.bucket.waited

    def _call(
        self,
        what: str,
        send: Callable[[dict[str, Any]], Any],
        expect: str | None,
        bucket: TokenBucket | None = None,
    ) -> Any:
        options = {"_preload_content": False, "_request_timeout": self._timeout}
        retrying = Retrying(
            stop=stop_after_attempt(self._retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda state: log.warning(
                "HubSpot %s failed (%s); attempt %d of %d, retrying",
                what,
                state.outcome.exception() if state.outcome else "?",
                state.attempt_number,
                self._retries + 1,
            ),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(what, send, options, expect, bucket or self.bucket)
        except _Transient as exc:
            raise SourceRetry(self._source, f"HubSpot {what} kept failing: {exc}") from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        return float(min(MAX_BACKOFF, self._backoff * 2 ** (state.attempt_number - 1)))

    def _attempt(
        self,
        what: str,
        send: Callable[..., Any],
        options: dict[str, Any],
        expect: str | None,
        bucket: TokenBucket,
    ) -> Any:
        bucket.take()
        with self._tally:
            self.calls += 1
        started = time.perf_counter()
        try:
            response = send(options)
            body = response.data
            response.release_conn()
        except urllib3.exceptions.HTTPError as exc:  # timeouts, resets, refused connections
            raise _Transient(type(exc).__name__) from exc
        except Exception as exc:
            # Each HubSpot sub-package has its own ApiException class with no
            # shared base (docs/design.md, "HubSpot"): recognise them by ``.status``.
            if not isinstance(getattr(exc, "status", None), int):
                raise
            raise self._translate(what, exc) from exc
        finally:
            elapsed = time.perf_counter() - started
            with self._tally:
                self.http_seconds += elapsed
            log.debug("HubSpot %s answered in %.0f ms", what, elapsed * 1000)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise _Transient("malformed JSON in the response") from exc
        if not isinstance(data, dict) or (expect is not None and expect not in data):
            raise _Transient(f"response without {expect!r}")
        return data

    def _translate(self, what: str, exc: Any) -> Exception:
        status: int = exc.status
        body = _error_body(exc)
        message = body.get("message") or exc.reason or ""
        if status == 429:
            policy = str(body.get("policyName") or "")
            if policy == "DAILY":
                return SourceActionNeeded(
                    self._source,
                    "the portal's daily API allowance is spent; it resets at "
                    "midnight in the portal's time zone (or buy the API limit increase)",
                )
            wait = _retry_after(exc.headers)
            if wait is not None and wait > MAX_RETRY_AFTER:
                return SourceRetry(self._source, f"HubSpot asked to wait {wait:.0f} s")
            return _Transient(f"429 {policy or 'rate limit'}", wait or _POLICY_WAIT.get(policy))
        if status >= 500:
            return _Transient(f"{status} from HubSpot", _retry_after(exc.headers))
        if status == 401:
            return TokenRejected(
                self._source,
                "HubSpot rejected the token (401): create a new private-app "
                f"access token and set it as sources.{self._source}.token",
            )
        if status == 403:
            scopes = _missing_scopes(body)
            if scopes or body.get("category") == "MISSING_SCOPES":
                return SourceActionNeeded(
                    self._source,
                    f"the token lacks scope {', '.join(scopes) or '?'} for {what}: "
                    "add it in the private app's Scopes tab and use the new token",
                )
            return SourceActionNeeded(self._source, f"HubSpot refused {what} (403): {message}")
        if status == 0:
            return SourceActionNeeded(
                self._source,
                f"TLS to {self._settings.api_url} failed ({exc.reason}): "
                "check api_url and the CA bundle",
            )
        return SourceActionNeeded(
            self._source, f"HubSpot refused {what} ({status} {body.get('category', '')}): {message}"
        )

    # -- endpoints ------------------------------------------------------------

    def search(
        self,
        object_type: str,
        filters: list[Json],
        sort: str,
        properties: list[str],
        after: int = 0,
        *,
        alternative: list[Json] | None = None,
        descending: bool = False,
    ) -> Json:
        """One search page. ``alternative``: a second filter group, OR-ed
        with ``filters`` (HubSpot allows five)."""
        groups = [{"filters": filters}]
        if alternative is not None:
            groups.insert(0, {"filters": alternative})
        request = self._search_model[object_type](
            filter_groups=groups,
            sorts=[
                {"propertyName": sort, "direction": "DESCENDING" if descending else "ASCENDING"}
            ],
            properties=properties,
            limit=SEARCH_PAGE,
            after=str(after),
        )
        api = self._search[object_type]
        return self._call(
            f"{object_type} search",
            lambda o: api.do_search(public_object_search_request=request, **o),
            "results",
            self.search_bucket,
        )

    def object_page(self, object_type: str, properties: list[str], after: str | None) -> Json:
        """One page of live records from the list endpoint, in its own
        order (not by modification time), with ``properties``."""
        api = self._basic[object_type]
        return self._call(
            f"{object_type} list",
            lambda o: api.get_page(limit=LIST_PAGE, after=after, properties=properties, **o),
            "results",
        )

    def archived_page(self, object_type: str, after: str | None) -> Json:
        api = self._basic[object_type]
        return self._call(
            f"archived {object_type}",
            lambda o: api.get_page(
                limit=LIST_PAGE, after=after, archived=True, properties=[ID_PROPERTY], **o
            ),
            "results",
        )

    def owners_page(self, after: str | None, archived: bool) -> Json:
        return self._call(
            "owners",
            lambda o: self._owners.get_page(limit=LIST_PAGE, after=after, archived=archived, **o),
            "results",
        )

    def property_names(self, object_type: str) -> set[str]:
        data = self._call(
            f"{object_type} properties",
            lambda o: self._properties.get_all(object_type=object_type, **o),
            "results",
        )
        return {p["name"] for p in data["results"] if isinstance(p, dict) and "name" in p}

    def token_info(self) -> Json:
        token = self._settings.token.reveal()
        return self._raw("token check", "POST", APP_INFO_PATH, body={"tokenKey": token})

    def sessions(self, start: date, end: date) -> Json:
        query = [("start", f"{start:%Y%m%d}"), ("end", f"{end:%Y%m%d}")]
        return self._raw("website sessions", "GET", SESSIONS_PATH, query=query)

    def _raw(
        self,
        what: str,
        method: str,
        path: str,
        *,
        body: Json | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> Json:
        """An endpoint the generated client has no method for, sent through
        its ApiClient so host, auth and pool stay the ones configured."""
        api_client = self._owners.api_client
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        return self._call(
            what,
            lambda o: api_client.call_api(
                path,
                method,
                query_params=query,
                header_params=dict(headers),
                body=body,
                auth_settings=["oauth2"],
                **o,
            ),
            None,
        )
