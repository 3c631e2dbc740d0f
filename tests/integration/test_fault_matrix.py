"""The API fault matrix (docs/reliability.md): every fault HubSpot, Salesforce
and Slack can throw, injected into the fakes while the real App syncs,
evaluates, records and delivers, with the store on SQLite and PostgreSQL.

What each row must show is what a user relies on, not how the connector gets
there (test_hubspot.py and test_salesforce.py cover that):

- a transient fault (one bad answer on each of two successive pages) is
  absorbed inside the sync: every live record stored once;
- a lasting fault leaves the stored data and cursor as they were, never
  escapes the App, raises one source-stale alert once the last success is
  older than ``every × stale_after``, and clears on the next good sync;
- a revoked credential stops the source at once with one message saying what
  a person must do, and costs one request per sync, not a retry storm;
- a Slack fault leaves the notification queued until Slack answers, then
  posts it once.

Retries really wait, so the sources are configured with short timeouts and
backoffs; Retry-After stays at one whole second, as on the wire.

The whole matrix runs on SQLite. The store sees the same writes whatever the
fault, so PostgreSQL runs a representative row of each kind (``ON_POSTGRES``)
and every vendor-specific case.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.cli import alert_views
from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.errors import SourceActionNeeded, SourceRetry
from monitor.interfaces import Progress
from monitor.service.app import App
from monitor.store import Store
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import FakeSlack
from tests.integration.test_alert_delivery import Clock, config_dict, posts

FAULTS = [
    "429-retry-after",
    "429",
    "500",
    "502",
    "503",
    "refused",
    "timeout",
    "truncated",
    "non-json",
]
#: Faults whose every occurrence costs real seconds (Retry-After, HubSpot's
#: one-second rate-limit policy, a timeout, a reconnection backoff): the
#: transient rows inject these once, the others on two successive pages.
COSTLY = frozenset({"429-retry-after", "429", "timeout", "refused"})
#: The CRM clients' timeout: a login or a page of 200 on a loaded two-core
#: machine (both test workers busy) must not time out by itself.
TIMEOUT = "1s"
RETRY_AFTER = 1  # seconds: Retry-After is whole seconds on the wire
OUTAGE = 0.2  # seconds a transient "connection refused" lasts
HTML_PAGE = "<html><head><title>Service Unavailable</title></head><body>Down</body></html>"


class _Side:
    """What both CRM sides share: their fake clears faults and comes back
    up the same way."""

    fake: FakeHubSpot | FakeSalesforce

    def clear(self, fault: str) -> None:
        self.fake.clear_faults()
        if fault == "refused":
            self.fake.up()

    def close(self) -> None:
        self.fake.close()


class HubSpotSide(_Side):
    """The fake portal and the knobs the matrix turns, by fault name."""

    name, object_type, page = "hs", "contacts", 200
    fake: FakeHubSpot

    def __init__(self) -> None:
        self.fake = FakeHubSpot()
        self.fake.stall_seconds = 2.5  # beyond the source's timeout

    def source(self, retries: int) -> dict[str, Any]:
        return {
            "kind": "hubspot",
            "token": self.fake.token,
            "api_url": self.fake.url,
            "requests_per_second": 100,
            "timeout": TIMEOUT,
            "retries": retries,
            "retry_backoff": "0.05s",
        }

    def now(self) -> datetime:
        return self.fake.now

    def seed(self, n: int) -> None:
        self.fake.seed_records("contacts", n)

    def add_later(self, n: int) -> None:
        self.fake.advance(600)
        self.fake.seed_records("contacts", n, spacing=timedelta(seconds=1))

    def live(self) -> int:
        return len(self.fake.live_ids("contacts"))

    def data_requests(self) -> int:
        return sum(n for e, n in self.fake.calls.items() if e.startswith(("search:", "list:")))

    def requests(self) -> int:
        return sum(self.fake.calls.values())

    def inject(self, fault: str, count: int, *, first: bool = False) -> None:
        """``count`` bad answers to the next requests, whichever endpoint
        they go to: a first sync reads through the list endpoint and the
        search at once. "refused" takes the whole portal down."""
        fake, where = self.fake, None
        if fault == "429-retry-after":
            fake.fail_next(429, retry_after=RETRY_AFTER, count=count, endpoint=where)
        elif fault in ("429", "500", "503"):
            fake.fail_next(int(fault), count=count, endpoint=where)
        elif fault == "502":
            fake.garble_next(count, where, status=502)
        elif fault == "refused":
            fake.down()
        elif fault == "timeout":
            fake.timeout_next(count, where)
        elif fault == "truncated":
            fake.truncate_next(count, where)
        else:
            fake.garble_next(count, where, status=200, body=HTML_PAGE)

    def revoke(self) -> None:
        self.fake.revoke_token()


class SalesforceSide(_Side):
    """The fake org (REST paging only, 200 rows a page) and its knobs."""

    name, object_type, page = "sf", "leads", 200
    fake: FakeSalesforce

    def __init__(self) -> None:
        self.fake = FakeSalesforce().start()

    def source(self, retries: int) -> Any:
        return self.fake.settings(
            "oauth_password", bulk_threshold=None, page_size=200, retries=retries, timeout=TIMEOUT
        )

    def now(self) -> datetime:
        return self.fake.now()

    def seed(self, n: int) -> None:
        self.fake.add_leads(n)

    def add_later(self, n: int) -> None:
        self.fake.advance(600)
        self.fake.add_leads(n)

    def live(self) -> int:
        return len(self.fake.live_ids("Lead"))

    def data_requests(self) -> int:
        return self.fake.calls["queryAll"] + self.fake.calls["query_more"]

    def requests(self) -> int:
        return sum(self.fake.calls.values())

    def inject(self, fault: str, count: int, *, first: bool = False) -> None:
        """``count`` bad answers to the next page request, or with ``first``
        to the query that opens a sync; "refused" takes the whole org down."""
        fake, where = self.fake, "queryAll" if first else "query_more"
        if fault == "429-retry-after":
            fake.fail_next(429, retry_after=RETRY_AFTER, times=count, endpoint=where)
        elif fault in ("429", "500", "503"):
            fake.fail_next(int(fault), times=count, endpoint=where)
        elif fault == "502":
            fake.fail_next(
                502, body=HTML_PAGE, content_type="text/html", times=count, endpoint=where
            )
        elif fault == "refused":
            fake.down()
        elif fault == "timeout":
            fake.delay_next(2.5, times=count, endpoint=where)  # beyond the timeout
        elif fault == "truncated":
            body = '{"totalSize": 1000, "done": false, "records": [{"attributes": {"type": "Le'
            fake.fail_next(200, body=body, times=count, endpoint=where)
        else:
            fake.fail_next(
                200, body=HTML_PAGE, content_type="text/html", times=count, endpoint=where
            )

    def revoke(self) -> None:
        self.fake.revoke_access()


Crm = HubSpotSide | SalesforceSide
SIDES: dict[str, Callable[[], Crm]] = {"hubspot": HubSpotSide, "salesforce": SalesforceSide}


#: The rows that also run on PostgreSQL: per API, one transient and one
#: lasting fault (the revoked-credential cases run on both stores).
ON_POSTGRES = {
    "transient": {("hubspot", "502"), ("salesforce", "429"), ("slack", "non-json")},
    "lasting": {("hubspot", "500"), ("salesforce", "truncated"), ("slack", "503")},
}
STORE_MARKS: dict[str, list[pytest.MarkDecorator]] = {
    "sqlite": [],
    "postgres": [pytest.mark.postgres],
}
BOTH = [pytest.param(store, marks=marks) for store, marks in STORE_MARKS.items()]


def rows(kind: str, apis: list[str]) -> list[tuple[str, str, str]]:
    """(store, api, fault): every fault of each API on SQLite, and the
    ``ON_POSTGRES`` rows of ``kind`` on PostgreSQL too."""
    return [("sqlite", api, fault) for api in apis for fault in FAULTS] + [
        ("postgres", api, fault)
        for api in apis
        for fault in FAULTS
        if (api, fault) in ON_POSTGRES[kind]
    ]


def crm_matrix(kind: str) -> list[Any]:
    return [pytest.param(*row, marks=STORE_MARKS[row[0]]) for row in rows(kind, list(SIDES))]


def slack_matrix(kind: str) -> list[Any]:
    return [
        pytest.param(store, fault, marks=STORE_MARKS[store])
        for store, _, fault in rows(kind, ["slack"])
    ]


@pytest.fixture
def crm(request: pytest.FixtureRequest) -> Iterator[Crm]:
    side = SIDES[request.node.callspec.params["api"]]()
    yield side
    side.close()


def make_app(
    store: Store, slack: FakeSlack, clock: Clock, name: str, source: Any, **slack_settings: Any
) -> App:
    """The App on the `store` fixture's database (SQLite or PostgreSQL)."""
    settings = config_dict(store.url, slack)
    settings["sources"] = {name: source}
    settings["slack"]["timeout"] = 0.5
    settings["slack"].update(slack_settings)
    return App(LoadedConfig(Config.model_validate(settings), "fault-matrix.yaml"), clock=clock)


def after_pages(object_type: str, page: int, pages: set[int], act: Callable[[], None]) -> Any:
    """A sync progress hook that calls ``act`` once each listed page of
    ``object_type`` is pulled: the fault lands mid-run, between pages. The
    hook is called once per page; a page may add fewer than ``page``
    records (look-back records already held are not counted again)."""

    def hook(source: str) -> Progress:
        pulled = 0

        def seen(kind: str, records: int, total: int | None) -> None:
            nonlocal pulled
            if kind == object_type:
                pulled += 1
                if pulled in pages:
                    act()

        return seen

    return hook


def state(app: App, crm: Crm) -> tuple[int, Any, datetime | None]:
    """What a sync must not corrupt: stored records, cursor, last success."""
    status = app.store.source_statuses().get(crm.name)
    return (
        app.store.record_count(crm.name, include_deleted=True),
        app.store.cursor(crm.name, crm.object_type),
        status.last_success_at if status else None,
    )


# -- CRM: transient faults ----------------------------------------------------


@pytest.mark.parametrize(("store", "api", "fault"), crm_matrix("transient"), indirect=["store"])
def test_a_transient_crm_fault_mid_sync_is_absorbed(
    api: str,
    fault: str,
    crm: Crm,
    store: Store,
    slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    crm.seed(600)  # three pages
    clock = Clock(crm.now() + timedelta(minutes=1))
    app = make_app(store, slack, clock, crm.name, crm.source(retries=5))
    pages = {1} if fault in COSTLY else {1, 2}
    outages: list[threading.Timer] = []

    def act() -> None:
        crm.inject(fault, 1)
        if fault == "refused":  # back well before the retries run out
            outages.append(threading.Timer(OUTAGE, crm.clear, args=(fault,)))
            outages[-1].start()

    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    (result,) = app.sync(progress=after_pages(crm.object_type, crm.page, pages, act))
    took = time.monotonic() - started
    for outage in outages:
        outage.join()

    assert result.ok, result.error
    assert app.store.record_count(crm.name, include_deleted=True) == crm.live() == 600
    if fault == "refused":
        logged = caplog.text.lower()
        assert "refused" in logged or "newconnectionerror" in logged, "the outage was never hit"
    else:
        assert crm.data_requests() >= 3 + len(pages), "the faulty answers were never served"
    if fault == "429-retry-after":
        assert took >= len(pages) * RETRY_AFTER * 0.9, "Retry-After was not honoured"
    cursor = app.store.cursor(crm.name, crm.object_type)
    assert cursor is not None and cursor.modified_at <= clock()

    clock.advance(minutes=15)
    (again,) = app.sync()
    assert again.ok and app.store.record_count(crm.name, include_deleted=True) == 600
    app.record(app.evaluate())
    assert app.deliver().sent == 0 and posts(slack) == [], "a recovered fault alerts nobody"
    app.close()


# -- CRM: lasting faults --------------------------------------------------------


@pytest.mark.parametrize(("store", "api", "fault"), crm_matrix("lasting"), indirect=["store"])
def test_a_lasting_crm_fault_goes_stale_keeps_the_data_and_recovers(
    api: str, fault: str, crm: Crm, store: Store, slack: FakeSlack
) -> None:
    crm.seed(200)
    clock = Clock(crm.now() + timedelta(minutes=1))
    app = make_app(store, slack, clock, crm.name, crm.source(retries=1))
    assert all(r.ok for r in app.sync())
    before = state(app, crm)
    assert before[0] == 200

    crm.add_later(100)
    crm.inject(fault, 50, first=True)
    clock.advance(minutes=15)
    (failed,) = app.sync()  # returns: the service loop would carry on

    assert not failed.ok
    assert isinstance(failed.error, SourceRetry), failed.error
    assert not isinstance(failed.error, SourceActionNeeded), "nobody needs to act on a fault"
    assert state(app, crm) == before, "a failed sync must leave records and cursor as they were"
    status = app.store.source_statuses()[crm.name]
    assert status.last_error and status.last_attempt_at == clock()
    assert app.evaluate().findings == [], "a failed attempt alone is not staleness"

    # Still failing once the last success is older than every × stale_after.
    clock.advance(minutes=31)
    (failed,) = app.sync()
    assert isinstance(failed.error, SourceRetry), failed.error
    assert state(app, crm) == before
    evaluation = app.evaluate()
    assert [(f.rule, f.source) for f in evaluation.findings] == [("source-stale", crm.name)]
    app.record(evaluation)
    assert app.deliver().sent == 1
    (stale,) = posts(slack)
    assert f"Source {crm.name} is stale" in stale["text"]

    crm.clear(fault)
    clock.advance(minutes=15)
    (recovered,) = app.sync()
    assert recovered.ok, recovered.error
    assert app.store.record_count(crm.name, include_deleted=True) == crm.live() == 300
    evaluation = app.evaluate()
    assert evaluation.findings == []
    app.record(evaluation)
    assert app.deliver().sent == 2  # the resolution reply and the edit of the original
    first, reply = posts(slack)
    assert reply["thread_ts"] and "Resolved" in reply["text"]
    assert "Resolved" in first["text"], "the original message shows the resolution"
    app.close()


# -- CRM: credentials revoked mid-run -------------------------------------------


ACTION = {
    "hubspot": "create a new private-app access token",
    "salesforce": "Salesforce login failed",
}


@pytest.mark.parametrize("api", list(SIDES))
@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_revoked_credentials_stop_the_source_with_one_clear_message(
    api: str, crm: Crm, store: Store, slack: FakeSlack
) -> None:
    crm.seed(200)
    clock = Clock(crm.now() + timedelta(minutes=1))
    app = make_app(store, slack, clock, crm.name, crm.source(retries=3))
    assert all(r.ok for r in app.sync())
    crm.add_later(400)
    at_revocation: dict[str, Any] = {}

    def revoke() -> None:
        crm.revoke()
        at_revocation.update(requests=crm.requests())

    clock.advance(minutes=15)
    (failed,) = app.sync(progress=after_pages(crm.object_type, crm.page, {1}, revoke))

    assert isinstance(failed.error, SourceActionNeeded), failed.error
    after_failure = state(app, crm)
    assert 200 < after_failure[0] < 200 + 400, "the page pulled before the revocation, no more"
    # The page's new records; those the look-back read again are not counted.
    added = after_failure[0] - 200
    assert failed.by_type[crm.object_type] == added, "the page committed before is counted"
    assert app.store.source_statuses()[crm.name].last_records == failed.records >= added
    calls = crm.requests() - at_revocation["requests"]
    # HubSpot: the refused page. Salesforce: the refused page and one login attempt.
    assert calls == {"hubspot": 1, "salesforce": 2}[api], "retried a refused credential"
    error = app.store.source_statuses()[crm.name].last_error
    assert error is not None and ACTION[api] in error and "Traceback" not in error

    app.record(app.evaluate())
    assert app.deliver().sent == 1
    (message,) = posts(slack)
    assert f"Source {crm.name} is stale" in message["text"] and ACTION[api] in message["text"]

    for _ in range(3):  # later syncs cost one refusal each and alert nobody again
        clock.advance(minutes=15)
        requests = crm.requests()
        (again,) = app.sync()
        assert isinstance(again.error, SourceActionNeeded)
        assert crm.requests() - requests == 1, "retried a refused credential"
        app.record(app.evaluate())
        assert app.deliver().sent == 0
    assert state(app, crm) == after_failure
    app.close()


# -- vendor-specific faults, through to the store --------------------------------


@pytest.mark.slow  # ~10,400 records through the windowed search into the store
def test_hubspot_search_cap_with_a_fault_at_the_restart_stores_every_contact_once(
    store: Store, slack: FakeSlack
) -> None:
    side = HubSpotSide()
    side.fake.add("contacts", [side.now() - timedelta(days=2)])
    clock = Clock(side.now() + timedelta(minutes=1))
    app = make_app(store, slack, clock, side.name, side.source(retries=3))
    (first,) = app.sync()  # the backfill: a cursor, so the next sync searches
    assert first.ok, first.error
    side.fake.seed_records("contacts", 10_400, shared=10_200)

    def at_the_cap(source: str) -> Progress:
        def seen(kind: str, records: int, total: int | None) -> None:
            if kind == "contacts" and records == 10_000:
                side.fake.fail_next(500, count=2, endpoint="search")

        return seen

    (result,) = app.sync(progress=at_the_cap)
    assert result.ok, result.error
    assert app.store.record_count("hs", include_deleted=True) == side.live() == 10_401
    by_id = [b for b in side.fake.searches if b["sorts"][0]["propertyName"] == "hs_object_id"]
    assert by_id, "the shared instant was never read in id order past the cap"
    assert side.fake.statuses[500] == 2
    app.close()
    side.close()


def test_salesforce_session_expiry_mid_paging_is_renewed_and_stores_every_lead_once(
    store: Store, slack: FakeSlack
) -> None:
    side = SalesforceSide()
    side.seed(1000)
    app = make_app(store, slack, Clock(side.now() + timedelta(minutes=1)), "sf", side.source(1))
    side.fake.expire_session_after(pages=2)
    (result,) = app.sync()
    assert result.ok, result.error
    assert app.store.record_count("sf", include_deleted=True) == side.live() == 1000
    assert side.fake.calls["login"] == 2, "one login, one renewal"
    app.close()
    side.close()


def test_salesforce_request_limit_exceeded_mid_sync_stops_at_once_and_resumes(
    store: Store, slack: FakeSlack
) -> None:
    side = SalesforceSide()
    side.seed(1000)
    clock = Clock(side.now() + timedelta(minutes=1))
    app = make_app(store, slack, clock, "sf", side.source(3))
    at_limit: dict[str, Any] = {}

    def spend() -> None:
        side.fake.set_api_usage(side.fake.api_max, side.fake.api_max)
        at_limit.update(requests=side.requests())

    (failed,) = app.sync(progress=after_pages("leads", 200, {2}, spend))
    assert isinstance(failed.error, SourceActionNeeded) and "quota" in str(failed.error)
    assert side.requests() - at_limit["requests"] == 1, "a spent allowance is not retried"
    assert state(app, side)[0] == 400, "the two pages pulled before the limit, no more"
    app.record(app.evaluate())
    assert app.deliver().sent == 1 and "Source sf is stale" in posts(slack)[0]["text"]

    side.fake.set_api_usage(0, side.fake.api_max)  # the rolling 24 hours move on
    clock.advance(minutes=15)
    (resumed,) = app.sync()
    assert resumed.ok, resumed.error
    assert app.store.record_count("sf", include_deleted=True) == side.live() == 1000
    app.close()
    side.close()


def test_salesforce_quota_guard_asks_once_per_sync_and_resumes_when_usage_falls(
    store: Store, slack: FakeSlack
) -> None:
    side = SalesforceSide()
    side.seed(1000)
    clock = Clock(side.now() + timedelta(minutes=1))
    app = make_app(store, slack, clock, "sf", side.source(3))
    assert all(r.ok for r in app.sync())
    side.fake.set_api_usage(90, 100)  # past the 80% guard: the next sync stops
    clock.advance(minutes=15)
    (stopped,) = app.sync()
    assert isinstance(stopped.error, SourceActionNeeded) and "quota guard" in str(stopped.error)
    assert side.fake.calls["limits"] == 0, "the first refusal reads the usage off a reply"
    for _ in range(2):  # still over: each sync costs one look at the usage, nothing else
        clock.advance(minutes=15)
        before = side.fake.calls.copy()
        (again,) = app.sync()
        assert again.error is not None and "quota guard" in str(again.error)
        assert side.fake.calls - before == {"limits": 1}
    side.fake.set_api_usage(10, 100)  # the rolling 24 hours move on
    clock.advance(minutes=15)
    (resumed,) = app.sync()
    assert resumed.ok, resumed.error
    assert app.store.record_count("sf", include_deleted=True) == side.live() == 1000
    app.close()
    side.close()


# -- Slack ----------------------------------------------------------------------


@pytest.fixture
def portal() -> Iterator[HubSpotSide]:
    side = HubSpotSide()
    side.seed(10)
    yield side
    side.close()


def stale_alert_queued(store: Store, slack: FakeSlack, portal: HubSpotSide) -> tuple[App, Clock]:
    """An App whose HubSpot source is down, with its source-stale alert
    queued in the outbox and not yet delivered."""
    clock = Clock(portal.now() + timedelta(minutes=1))
    app = make_app(store, slack, clock, portal.name, portal.source(retries=0))
    portal.fake.down()
    (result,) = app.sync()
    assert not result.ok
    assert app.record(app.evaluate()).queued == 1
    return app, clock


def break_slack(slack: FakeSlack, fault: str, count: int) -> None:
    """The next ``count`` Slack calls fail the way ``fault`` names; for
    "refused" Slack stays down until ``slack.up()``."""
    if fault == "429-retry-after":
        slack.fail_next(429, retry_after=30, count=count)
    elif fault in ("429", "500", "503"):
        slack.fail_next(int(fault), count=count)
    elif fault == "502":
        slack.garble_next(count=count, status=502, body=HTML_PAGE)
    elif fault == "refused":
        slack.down()
    elif fault == "timeout":
        slack.timeout_next(count=count, stall=2)
    elif fault == "truncated":
        slack.truncate_next(count=count)
    else:
        slack.garble_next(count=count, status=200, body=HTML_PAGE)


@pytest.mark.parametrize(("store", "fault"), slack_matrix("transient"), indirect=["store"])
def test_a_transient_slack_fault_delays_each_message_and_sends_it_once(
    fault: str, store: Store, slack: FakeSlack, portal: HubSpotSide
) -> None:
    app, clock = stale_alert_queued(store, slack, portal)
    count = 1 if fault in ("timeout", "refused") else 2  # these wait in real time
    break_slack(slack, fault, count)
    outcomes: list[tuple[int, int, int]] = []
    for attempt in range(count + 1):
        if fault == "refused" and attempt == count:
            slack.up()
        delivery = app.deliver()
        outcomes.append((delivery.sent, delivery.retried, delivery.dead))
        clock.advance(minutes=10)
    assert outcomes == [(0, 1, 0)] * count + [(1, 0, 0)]
    (stale,) = posts(slack)
    assert "Source hs is stale" in stale["text"]

    # The source recovers: the resolution (a thread reply and an edit of the
    # original) goes through the same fault.
    portal.fake.up()
    (result,) = app.sync()
    assert result.ok, result.error
    assert app.record(app.evaluate()).queued == 2
    break_slack(slack, fault, count)
    for attempt in range(count + 2):
        if fault == "refused" and attempt == count:
            slack.up()
        app.deliver()
        clock.advance(minutes=10)
    assert app.queue_stats().depth == 0 and app.queue_stats().dead == 0
    first, reply = posts(slack)
    assert reply["thread_ts"] and "Resolved" in reply["text"]
    assert "Resolved" in first["text"], "the original message was edited once it went through"
    app.close()


@pytest.mark.parametrize(("store", "fault"), slack_matrix("lasting"), indirect=["store"])
def test_a_lasting_slack_fault_keeps_the_notification_queued_then_sends_it_once(
    fault: str, store: Store, slack: FakeSlack, portal: HubSpotSide
) -> None:
    app, clock = stale_alert_queued(store, slack, portal)
    break_slack(slack, fault, 3)
    for _ in range(3):  # three hours of failing attempts
        delivery = app.deliver()
        assert (delivery.sent, delivery.retried, delivery.dead) == (0, 1, 0)
        (row,) = app.alert_listing().outbox
        assert row.dead_at is None and row.last_error
        clock.advance(hours=1)
    assert posts(slack) == []
    if fault == "refused":
        slack.up()
    assert app.deliver().sent == 1
    clock.advance(hours=1)
    assert app.deliver().sent == 0
    (message,) = posts(slack)
    assert "Source hs is stale" in message["text"]
    assert app.alert_listing().outbox == []
    app.close()


@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_a_revoked_slack_token_pauses_delivery_and_sends_the_queue_once_it_is_fixed(
    store: Store, slack: FakeSlack, portal: HubSpotSide, caplog: pytest.LogCaptureFixture
) -> None:
    app, clock = stale_alert_queued(store, slack, portal)
    slack.revoke_token()
    calls = len(slack.calls)
    with caplog.at_level(logging.INFO, logger="monitor"):
        delivery = app.deliver()
        assert (delivery.sent, delivery.retried, delivery.dead) == (0, 1, 0)
        assert delivery.paused and "token was revoked" in delivery.paused
        (row,) = app.alert_listing().outbox
        assert row.dead_at is None and row.last_error is not None
        assert row.last_error.startswith("slack-auth:") and "slack.token" in row.last_error
        assert app.queue_stats().problem == row.last_error
        for _ in range(60):  # an hour of drains, one a minute
            clock.advance(minutes=1)
            assert app.deliver().sent == 0
        (row,) = app.alert_listing().outbox
        assert row.dead_at is None, "kept queued while the token is broken"
        tries = len(slack.calls) - calls
        assert tries <= 20, f"{tries} calls in an hour: no retry storm"
        slack.restore_token()
        clock.advance(minutes=5)
        assert app.deliver().sent == 1
    paused = [r for r in caplog.records if r.getMessage().startswith("slack-auth: delivery paused")]
    assert len(paused) == 1, "the problem is reported once, not per attempt"
    (message,) = posts(slack)
    assert "Source hs is stale" in message["text"]
    assert app.queue_stats().problem is None and app.queue_stats().depth == 0
    app.close()


@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_dead_notifications_show_as_dead_and_retry_requeues_them(
    store: Store, slack: FakeSlack, portal: HubSpotSide
) -> None:
    app, clock = stale_alert_queued(store, slack, portal)
    slack.revoke_token()
    assert app.deliver().retried == 1
    clock.advance(hours=25)  # past alerts.give_up_after
    assert app.deliver().dead == 1
    (alert,) = alert_views.alerts_json(app.alert_listing(), app.config.zone)["alerts"]
    assert alert["notification"] == "dead", "an alert whose notice died is not shown as notified"
    slack.restore_token()
    assert app.deliver().sent == 0, "dead rows stay dead until asked"
    assert app.retry_dead(None) == 1
    assert app.deliver().sent == 1
    assert app.alert_listing().outbox == []
    (alert,) = alert_views.alerts_json(app.alert_listing(), app.config.zone)["alerts"]
    assert alert["notification"] == "delivered"
    assert len(posts(slack)) == 1
    app.close()


def queue_notes(app: App, count: int) -> list[int]:
    now = app.clock()
    with app.store.transaction() as tx:
        return [
            tx.enqueue(
                channel=app.config.slack.channel,
                kind="post",
                payload={"title": f"note {n}", "lines": []},
                fingerprints=[],
                now=now,
                not_before=now,
            )
            for n in range(count)
        ]


def posted_ids(slack: FakeSlack) -> list[str]:
    return sorted(
        str(m["metadata"]["event_payload"]["id"]) for m in posts(slack) if m.get("metadata")
    )


@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_two_processes_draining_one_outbox_post_each_row_once(
    store: Store, slack: FakeSlack, portal: HubSpotSide
) -> None:
    """The service and a CLI `evaluate` (each its own connection and claim
    owner) drain the same outbox while Slack takes its time to answer."""
    clock = Clock(portal.now())
    first = make_app(store, slack, clock, portal.name, portal.source(retries=0))
    second = make_app(store, slack, clock, portal.name, portal.source(retries=0))
    ids = queue_notes(first, 9)
    slack.delay_posts(0.4)
    reports: list[Any] = []
    threads = [
        threading.Thread(target=lambda a=a: reports.append(a.deliver())) for a in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    titles = sorted(str(m["text"]).split("\n")[0] for m in posts(slack))
    assert titles == sorted(f"note {n}" for n in range(9)), "each row posted exactly once"
    assert posted_ids(slack) == sorted(str(i) for i in ids)
    assert sum(r.sent for r in reports) == 9
    assert all(r.sent for r in reports), "both processes delivered, neither waited for the other"
    first.close()
    second.close()


DELIVER_ONE = """
import sys
from datetime import datetime
from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.cli import views
from monitor.service.app import App
from tests.integration.test_alert_delivery import config_dict
class Slack: api_url = sys.argv[2]
settings = config_dict(sys.argv[1], Slack)
settings["slack"]["channel"] = sys.argv[3]
now = datetime.fromisoformat(sys.argv[4])
App(LoadedConfig(Config.model_validate(settings), "kill.yaml"), clock=lambda: now).deliver()
"""


@pytest.mark.parametrize("channel", ["C0ALIGN1", "#revenue-alignment"])
@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_killed_while_slack_answers_a_post_it_is_not_posted_again(
    store: Store, slack: FakeSlack, portal: HubSpotSide, channel: str
) -> None:
    """SIGKILL after Slack stored the post and before its answer arrived:
    the row was claimed but never confirmed. The next drain finds the post
    by the row id it carries and records it instead of posting again. By
    name, the channel's ID comes from an earlier delivered post."""
    import os
    import signal
    import subprocess
    import sys

    clock = Clock(portal.now())
    app = make_app(store, slack, clock, portal.name, portal.source(retries=0), channel=channel)
    if channel.startswith("#"):
        queue_notes(app, 1)
        assert app.deliver().sent == 1
    (row_id,) = queue_notes(app, 1)
    slack.delay_posts(30)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.getcwd()
    child = subprocess.Popen(
        [sys.executable, "-c", DELIVER_ONE, store.url, slack.api_url, channel, clock().isoformat()],
        env=env,
    )
    deadline = time.monotonic() + 30
    while str(row_id) not in posted_ids(slack):
        assert time.monotonic() < deadline and child.poll() is None, "never posted"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    slack.delay_posts(0)
    before = len(posts(slack))
    delivery = app.deliver()
    assert (delivery.sent, delivery.retried, delivery.dead) == (1, 0, 0)
    assert len(posts(slack)) == before, "not posted a second time"
    assert posted_ids(slack).count(str(row_id)) == 1
    history = slack.calls_to("conversations.history")
    assert len(history) == 1 and history[0].params["channel"] == "C0ALIGN1"
    assert app.alert_listing().outbox == []
    app.close()


@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_a_post_slack_stored_but_answered_too_late_is_not_posted_again(
    store: Store, slack: FakeSlack, portal: HubSpotSide
) -> None:
    """Slack stores the post and answers after the client gave up (a
    timeout, no process died): the retry finds the post by its metadata id
    instead of sending it again."""
    clock = Clock(portal.now())
    app = make_app(store, slack, clock, portal.name, portal.source(retries=0), channel="C0ALIGN1")
    (row_id,) = queue_notes(app, 1)
    slack.delay_posts(1.5)  # the client's timeout is 0.5 s
    delivery = app.deliver()
    assert (delivery.sent, delivery.retried) == (0, 1)
    assert posted_ids(slack) == [str(row_id)], "Slack stored it"
    slack.delay_posts(0)
    clock.advance(seconds=10)
    delivery = app.deliver()
    assert (delivery.sent, delivery.retried, delivery.dead) == (1, 0, 0)
    assert posted_ids(slack) == [str(row_id)], "not posted a second time"
    assert len(slack.calls_to("conversations.history")) == 1
    assert app.alert_listing().outbox == []
    app.close()


@pytest.mark.parametrize("store", BOTH, indirect=True)
@pytest.mark.parametrize(
    "body",
    ['{"ok": true, "channel": "C0ALIGN1", "ts": "17', '{"ok": tr', '"ok"', '{"ok": true}'],
    ids=["cut-in-ts", "cut-in-ok", "a-string", "no-ts"],
)
def test_a_slack_200_with_truncated_json_is_retried_with_the_5xx_backoff(
    body: str, store: Store, slack: FakeSlack, portal: HubSpotSide
) -> None:
    app, clock = stale_alert_queued(store, slack, portal)
    for backend in ("500", body):
        if backend == "500":
            slack.fail_next(500, method="chat.postMessage")
        else:
            slack.garble_next(status=200, body=backend, method="chat.postMessage")
        now = clock()
        delivery = app.deliver()
        assert (delivery.sent, delivery.retried, delivery.dead) == (0, 1, 0)
        (row,) = app.alert_listing().outbox
        assert row.last_error and "will retry" in row.last_error
        # the same wait as a 5xx: 5 s after the first failure, 10 s after the second
        assert row.not_before == now + timedelta(seconds=5 * row.attempts)
        assert app.deliver().sent == 0, "not resent before the backoff"
        clock.advance(seconds=10)
    assert app.deliver().sent == 1
    assert len(posts(slack)) == 1
    app.close()


OFF_CALENDAR = {
    # zone, HubSpot value, Salesforce value: a CRM's placeholder dates that
    # leave the calendar once turned into the zone's local date
    "year-1-west": ("America/Los_Angeles", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000+0000"),
}


@pytest.mark.parametrize("case", list(OFF_CALENDAR))
@pytest.mark.parametrize("api", list(SIDES))
@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_a_crm_date_off_the_calendar_is_dropped_and_the_sync_completes(
    store: Store, slack: FakeSlack, api: str, crm: Crm, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    zone, hs_value, sf_value = OFF_CALENDAR[case]
    crm.seed(30)
    if isinstance(crm, HubSpotSide):
        bad = crm.fake.seed_records("contacts", 1)[0]
        props = (
            "createdate",
            "hs_v2_date_entered_lead",
            "hs_v2_date_entered_marketingqualifiedlead",
        )
        crm.fake.set_props("contacts", bad, **dict.fromkeys(props, hs_value))
    else:
        bad = crm.fake.add("Lead", CreatedDate=sf_value)
    settings = config_dict(store.url, slack)
    settings["sources"] = {"crm": crm.source(retries=0)}
    settings["timezone"] = zone
    app = App(LoadedConfig(Config.model_validate(settings), "t.yaml"), clock=Clock(crm.now()))
    with caplog.at_level(logging.WARNING):
        (result,) = app.sync()
    assert result.ok, result.error
    assert app.store.record_count("crm") == crm.live() == 31, "every record kept, the bad one too"
    assert app.store.source_statuses()["crm"].last_success_at is not None
    dropped = [
        r.getMessage() for r in caplog.records if "outside 0001-01-02..9999-12-30" in r.getMessage()
    ]
    assert len(dropped) == 1 and bad[:10] in dropped[0], "counted and logged once"
    evaluation = app.evaluate()
    assert not [f for f in evaluation.findings if f.rule == "source-stale"]
    app.close()


class _BrokenSecondPage:
    """A connector that fails on its second page with an error outside the
    SourceError contract (a reply shape it did not expect): the sync still
    fails, and its status must say why."""

    object_types = ("contacts",)

    def __init__(self, now: datetime) -> None:
        self.now = now

    def pull(self, object_type: str, cursor: Any, until: datetime) -> Iterator[Any]:
        from monitor.interfaces import Batch, Cursor, FunnelRecord

        yield Batch([FunnelRecord("contacts", "1", self.now)], Cursor(self.now, "1"))
        raise KeyError("results")


@pytest.mark.parametrize("store", BOTH, indirect=True)
def test_a_sync_that_fails_outside_the_connector_stores_why(store: Store) -> None:
    from monitor.config.sources import SourceBase
    from monitor.judge.health import stale_findings
    from monitor.sync import _Pending, sync_source

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    _Pending.WRITE_RECORDS = 1  # one write per page
    try:
        with pytest.raises(KeyError):
            sync_source(store, "crm", _BrokenSecondPage(now), lambda: now)  # type: ignore[arg-type]
    finally:
        _Pending.WRITE_RECORDS = 2_000
    status = store.source_statuses()["crm"]
    assert status.last_attempt_at == now and status.last_success_at is None
    assert status.last_error == "the sync failed unexpectedly (KeyError: 'results')"
    assert store.record_count("crm") == 1, "the committed page is kept"
    (finding,) = stale_findings({"crm": SourceBase.model_validate({})}, {"crm": status}, now)
    assert "KeyError: 'results'" in finding.text, "the stale alert says why"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("source 'hs': HubSpot answered HTTP 503 three times", "http_503"),
        ("source 'hs': HubSpot contacts search kept failing: 503 from HubSpot", "http_503"),
        ("HubSpot contacts search kept failing: 429 rate limit", "http_429"),
        ("Salesforce refused the query (REQUEST_LIMIT_EXCEEDED): wait", "REQUEST_LIMIT_EXCEEDED"),
        ("Slack refused chat.postMessage (invalid_auth): set slack.token", "invalid_auth"),
        ("kept failing: NewConnectionError", "other"),
        (None, ""),
    ],
)
def test_a_failed_sync_reason_becomes_a_bounded_metrics_label(error: str | None, code: str) -> None:
    from monitor.sync import error_code

    assert error_code(error) == code
