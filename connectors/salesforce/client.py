"""The connector's one door to Salesforce: the HTTP session, login and
renewal, the API-quota guard, and the translation of every vendor error into
``monitor.errors``.

Everything else in the connector asks this class to run a call
(``call``/``stream``) and gets either a result or a SourceRetry /
SourceActionNeeded. The data calls themselves go through simple-salesforce
on a ``requests`` session built here, so timeouts, retries (idempotent GETs
only: 429 and 5xx answers, honouring Retry-After, and timeouts), the CA bundle
and the usage header apply to every request, login and Bulk API included. A
200 whose body is cut short or not JSON is invisible to urllib3, so ``call``
retries those itself for read-only calls, on the same backoff schedule.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from urllib3.util.retry import Retry

from connectors.salesforce.auth import Login, LoginFailed, login
from connectors.salesforce.settings import SalesforceSource
from monitor.errors import SourceActionNeeded, SourceError, SourceRetry

log = logging.getLogger(__name__)
T = TypeVar("T")

_USAGE = re.compile(r"(?:^|[^-])api-usage=(\d+)/(\d+)")
_VENDOR_ERRORS = (SalesforceError, SalesforceOperationError, requests.RequestException, LoginFailed)
#: Seconds between retries grow as 0, 1, 2, 4… (urllib3's Retry schedule).
BACKOFF_FACTOR = 0.5
#: The longest Retry-After waited out (urllib3 would wait up to six hours):
#: one answer must not hold a sync, and the service's shutdown, for hours.
MAX_RETRY_AFTER = 120
#: Calls that only read, so a garbled reply can be asked for again.
_READS = frozenset({"versions", "query", "query_more", "describe", "limits"})
#: A reply that arrived but cannot be read: not JSON, or cut short.
_GARBLED = (
    requests.JSONDecodeError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class QuotaExhausted(SourceActionNeeded):
    """The org's daily API allowance is (nearly) spent: stop, do not retry
    until the rolling 24-hour usage falls."""


class BulkUnavailable(SourceActionNeeded):
    """The org or object refused a Bulk API 2.0 job; REST can still read it."""


class GarbledReply(SourceRetry):
    """Salesforce (or something in between) answered with a body that cannot
    be read; asking again usually works."""


class _DefaultTimeout(HTTPAdapter):
    """Gives every request a timeout, including the ones the client library
    sends without one (Bulk API, login)."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        timeout = self._timeout if timeout is None else timeout
        return super().send(request, stream, timeout, verify, cert, proxies)


def build_session(source: str, settings: SalesforceSource) -> requests.Session:
    """The HTTP session every Salesforce request goes through."""
    session = requests.Session()
    if settings.ca_bundle:
        if not Path(settings.ca_bundle).is_file():
            raise SourceActionNeeded(source, f"ca_bundle {settings.ca_bundle} is not a file")
        # With trust_env on, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE silently win
        # over session.verify; turn it off and carry the proxy settings over.
        session.trust_env = False
        session.verify = settings.ca_bundle
        session.proxies.update(requests.utils.get_environ_proxies(settings.instance_url))
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        backoff_factor=BACKOFF_FACTOR,
        status_forcelist=(429, 500, 502, 503, 504),
        respect_retry_after_header=True,
        retry_after_max=MAX_RETRY_AFTER,
        raise_on_status=False,  # the last 429/5xx comes back as a response we can translate
    )
    session.mount("https://", _DefaultTimeout(settings.timeout.total_seconds(), max_retries=retry))
    return session


def backoff(retry: int) -> float:
    """Seconds to wait before the ``retry``-th retry (from 1), as the
    session's urllib3 Retry waits between its own retries."""
    if retry <= 1:
        return 0.0
    return float(min(Retry.DEFAULT_BACKOFF_MAX, BACKOFF_FACTOR * 2 ** (retry - 1)))


def endpoint(path: str) -> str:
    """A short name for the Salesforce resource behind a request path."""
    path = path.split("?", 1)[0].rstrip("/")
    for pattern, name in _ENDPOINTS:
        if re.search(pattern, path):
            return name
    return "other"


_ENDPOINTS = (
    (r"/services/oauth2/token$|/services/Soap/u/", "login"),
    (r"/services/data$", "versions"),
    (r"/jobs/query/[^/]+/results$", "bulk_results"),
    (r"/jobs/query/[^/]+$", "bulk_job"),
    (r"/jobs/query$", "bulk_create"),
    (r"/queryAll$", "queryAll"),
    (r"/query$", "query"),
    (r"/query/[^/]+$", "query_more"),
    (r"/describe$", "describe"),
    (r"/limits$", "limits"),
)


class SalesforceClient:
    """Runs Salesforce calls for one source. ``calls`` counts requests by
    endpoint; ``used``/``allowance`` are the org's 24-hour API usage as the
    last ``Sforce-Limit-Info`` header (or ``limits`` call) reported it;
    ``http_seconds`` is the time spent waiting on Salesforce."""

    def __init__(self, source: str, settings: SalesforceSource) -> None:
        self.source = source
        self.settings = settings
        self.session = build_session(source, settings)
        self.session.hooks["response"].append(self._observe)
        self.calls: Counter[str] = Counter()
        self.http_seconds = 0.0  # waiting for response headers, for benchmarks
        self.used: int | None = None
        self.allowance: int | None = None
        self._refused_reading = False  # the guard refused on the reading we hold
        self._sf: Salesforce | None = None

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls[endpoint(response.request.path_url or "")] += 1
        self.http_seconds += response.elapsed.total_seconds()
        match = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.used, self.allowance = int(match.group(1)), int(match.group(2))
            self._refused_reading = False

    def connect(self) -> Salesforce:
        """The logged-in client library object (logs in on first use)."""
        if self._sf is None:
            auth = self.settings.auth
            if auth.flow == "session_id" and auth.session_id is not None:
                session = Login(auth.session_id.reveal(), self.settings.instance_url)
            else:
                try:
                    session = login(self.session, auth, self.settings.api_version)
                except _VENDOR_ERRORS as exc:
                    raise self.translate(exc, "login") from exc
                log.info("salesforce %s: logged in (%s flow)", self.source, auth.flow)
            self._sf = Salesforce(
                session_id=session.token,
                instance_url=session.instance_url or self.settings.instance_url,
                session=self.session,
                version=self.settings.api_version,
                object_pairs_hook=dict,
            )
        return self._sf

    def call(self, what: str, fn: Callable[[Salesforce], T], *, guarded: bool = True) -> T:
        """Run one API call, renewing an expired session once. ``guarded``
        False skips the quota guard (``check`` must still report the usage)."""
        if guarded:
            self.ensure_quota(1)
        try:
            return self._ask(what, fn)
        except SalesforceExpiredSession as exc:
            self._renew(exc)
        try:
            return self._ask(what, fn)
        except SalesforceExpiredSession as exc:
            raise self._expired_again() from exc

    def _ask(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """``_once``, asking again after a garbled reply to a read-only call,
        up to ``retries`` times: a gateway's error page or a reply cut short
        passes like a 503, and asking again changes nothing in the org."""
        retries = self.settings.retries if what in _READS else 0
        for retry in range(1, retries + 1):
            try:
                return self._once(what, fn)
            except GarbledReply as exc:
                wait = backoff(retry)
                log.warning(
                    "salesforce %s: garbled reply to %s (%s); retry %d of %d in %gs",
                    self.source,
                    what,
                    type(exc.__cause__).__name__,
                    retry,
                    retries,
                    wait,
                )
                time.sleep(wait)
        try:
            return self._once(what, fn)
        except GarbledReply as exc:
            if not retries:
                raise
            raise GarbledReply(
                self.source,
                f"Salesforce sent a garbled reply to {what} {retries + 1} times in a row",
            ) from exc.__cause__

    def stream(self, what: str, start: Callable[[Salesforce], Iterator[T]]) -> Iterator[T]:
        """Run a multi-call read (a Bulk API job). An expired session is
        renewed once and the read starts over: the library's job handle is
        tied to the old session, and re-read rows are idempotent upserts."""
        self.ensure_quota(1)
        try:
            yield from self._once(what, lambda sf: _translated(self, what, start(sf)))
            return
        except SalesforceExpiredSession as exc:
            self._renew(exc)
        try:
            yield from self._once(what, lambda sf: _translated(self, what, start(sf)))
        except SalesforceExpiredSession as exc:
            raise self._expired_again() from exc

    def _once(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        sf = self.connect()
        try:
            return fn(sf)
        except SalesforceExpiredSession:
            raise
        except _VENDOR_ERRORS as exc:
            raise self.translate(exc, what) from exc

    def _renew(self, exc: SalesforceExpiredSession) -> None:
        if self.settings.auth.flow == "session_id":
            raise SourceActionNeeded(
                self.source,
                "the Salesforce session has expired and a session_id cannot be renewed: "
                "a person must put a fresh session_id in the config, or configure a login "
                "flow (username/password, JWT or client credentials) so alignmon renews it",
            ) from exc
        log.info("salesforce %s: session expired; logging in again", self.source)
        self._sf = None

    def _expired_again(self) -> SourceActionNeeded:
        return SourceActionNeeded(
            self.source,
            f"Salesforce rejected a session straight after a fresh {self.settings.auth.flow} "
            "login: check the connected app's session policies and the user's IP ranges",
        )

    def versions(self) -> list[str]:
        """The API versions the org offers, oldest first (a free call)."""

        def fetch(sf: Salesforce) -> list[str]:
            response = self.session.get(f"https://{sf.sf_instance}/services/data/")
            response.raise_for_status()
            return [str(v["version"]) for v in response.json()]

        return self.call("versions", fetch, guarded=False)

    def ensure_quota(self, calls: int) -> None:
        """Raise QuotaExhausted unless ``calls`` more API calls keep the org
        below ``quota_guard`` of its daily allowance. Salesforce sends no
        429 for the daily limit (it refuses every user of the org once it is
        spent), so the guard is alignmon's own.

        The reading comes free with every reply, but once the guard stops a
        sync no reply comes to lower it. So before refusing again on a
        reading it already refused on, the guard asks the ``limits``
        resource once (one API call, and a sync ends at its first refusal):
        while the guard holds, each sync costs one call, and syncing resumes
        at the first sync after the rolling 24-hour usage falls."""
        if self._over_guard(calls) and self._refused_reading:
            self._refresh_usage()
        used, allowance = self.used, self.allowance
        if not self._over_guard(calls) or used is None or not allowance:
            return
        self._refused_reading = True
        raise QuotaExhausted(
            self.source,
            f"API quota guard: {used} of {allowance} daily API calls used "
            f"({used / allowance:.0%}); the next {calls} call(s) would reach the "
            f"{self.settings.quota_guard:.0%} guard. Syncing resumes as the rolling "
            "24-hour usage falls; raise quota_guard to allow more",
        )

    def _over_guard(self, calls: int) -> bool:
        if self.used is None or not self.allowance:
            return False
        return self.used + calls >= self.settings.quota_guard * self.allowance

    def _refresh_usage(self) -> None:
        """Read the org's usage from the ``limits`` resource."""
        limits = self.call("limits", lambda sf: sf.limits(), guarded=False)
        daily = (limits or {}).get("DailyApiRequests") or {}
        most, left = int(daily.get("Max") or 0), int(daily.get("Remaining") or 0)
        if most:
            self.used, self.allowance = most - left, most
        log.info("salesforce %s: %s of %s daily API calls used", self.source, self.used, most)

    def translate(self, exc: BaseException, what: str) -> SourceError:
        """One vendor or transport error as a SourceRetry / SourceActionNeeded."""
        return translate(self.source, exc, what)

    def close(self) -> None:
        self.session.close()


def _translated(client: SalesforceClient, what: str, items: Iterator[T]) -> Iterator[T]:
    """Iterate a library generator, translating its errors as they surface
    (they are raised on ``next``, not when the generator is made)."""
    try:
        yield from items
    except SalesforceExpiredSession:
        raise
    except _VENDOR_ERRORS as exc:
        raise client.translate(exc, what) from exc


def _detail(content: Any) -> tuple[str, str]:
    """(errorCode, message) from a Salesforce error body."""
    item = content[0] if isinstance(content, list) and content else content
    if isinstance(item, dict):
        return str(item.get("errorCode") or item.get("error") or ""), str(item.get("message") or "")
    return "", ""


def translate(source: str, exc: BaseException, what: str) -> SourceError:
    bulk = what == "bulk"
    if isinstance(exc, LoginFailed):
        if exc.status == 429:
            return SourceRetry(source, f"the Salesforce login server is rate-limiting ({exc})")
        if exc.status >= 500:
            return SourceRetry(source, f"the Salesforce login server failed ({exc})")
        return SourceActionNeeded(
            source, f"Salesforce login failed ({exc}): check the auth settings"
        )
    if isinstance(exc, SalesforceOperationError):
        return BulkUnavailable(source, f"the Bulk API 2.0 job failed: {exc}")
    if isinstance(exc, requests.exceptions.SSLError):
        return SourceActionNeeded(
            source,
            "TLS verification of Salesforce failed: behind a TLS-inspecting proxy, set ca_bundle",
        )
    if isinstance(exc, _GARBLED):
        return GarbledReply(source, f"Salesforce sent a garbled reply during {what}")
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc):
        return SourceRetry(source, f"Salesforce timed out during {what}")
    if isinstance(exc, requests.RequestException):
        return SourceRetry(source, f"Salesforce unreachable during {what} ({type(exc).__name__})")
    if not isinstance(exc, SalesforceError):
        return SourceRetry(source, f"{what} failed: {type(exc).__name__}")
    code, message = _detail(exc.content)
    said = f"{code}: {message}" if code else f"HTTP {exc.status}"
    if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        if "concurrent" in message.lower():
            return SourceRetry(source, f"too many long-running requests in the org ({said})")
        return QuotaExhausted(
            source, f"the org's daily API quota is spent ({said}); it is a rolling 24 h limit"
        )
    if code == "INVALID_QUERY_LOCATOR":
        return SourceRetry(source, f"a query cursor expired mid-read ({said})")
    if bulk and isinstance(
        exc, SalesforceRefusedRequest | SalesforceMalformedRequest | SalesforceResourceNotFound
    ):
        return BulkUnavailable(source, f"Bulk API 2.0 refused the query ({said})")
    if exc.status == 429:
        return SourceRetry(
            source, f"Salesforce kept rate-limiting {what} ({said}); the next sync tries again"
        )
    if exc.status >= 500:
        return SourceRetry(source, f"Salesforce failed during {what} ({said})")
    if isinstance(exc, SalesforceRefusedRequest):
        return SourceActionNeeded(
            source, f"Salesforce refused {what} ({said}): check the integration user's permissions"
        )
    if isinstance(exc, SalesforceResourceNotFound):
        return SourceActionNeeded(
            source, f"not found during {what} ({said}): check instance_url and api_version"
        )
    return SourceActionNeeded(source, f"Salesforce rejected {what} ({said})")
