"""Staleness under a HubSpot 429 burst, as the service runs it: the sync job
of ``Service`` (sync, then evaluate, record and deliver) fires every
interval on a fake clock against the fake portal over real HTTP.

The rule (docs/design.md, "Data health"): a source is stale once its last
success is older than ``every × stale_after``; a failed attempt alone is not
staleness. A burst that the next sync outlives must page nobody.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.service.app import App
from monitor.service.scheduler import Service
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.integration.test_alert_delivery import Clock, config_dict, posts

EVERY = timedelta(seconds=30)
STALE_AFTER = 3  # limit: 90 s without a successful sync


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def portal() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    fake.seed_records("contacts", 50)
    yield fake
    fake.close()


def service(tmp_path: Path, slack: FakeSlack, portal: FakeHubSpot) -> tuple[Service, Clock]:
    settings = config_dict(f"sqlite:///{tmp_path / 'stale.db'}", slack)
    settings["sources"] = {
        "hs": {
            "kind": "hubspot",
            "token": portal.token,
            "api_url": portal.url,
            "requests_per_second": 100,
            "timeout": "0.5s",
            "retries": 0,  # every 429 of the burst ends the sync it lands in
            "every": "30s",
            "stale_after": STALE_AFTER,
        }
    }
    clock = Clock(portal.now + timedelta(minutes=1))
    app = App(LoadedConfig(Config.model_validate(settings), "stale.yaml"), clock=clock)
    return Service(app), clock


def stale(svc: Service) -> list[str]:
    return [f.subject for f in svc.app.evaluate().findings if f.rule == "source-stale"]


def test_a_429_burst_shorter_than_the_limit_raises_no_stale_alert(
    tmp_path: Path, slack: FakeSlack, portal: FakeHubSpot
) -> None:
    svc, clock = service(tmp_path, slack, portal)
    svc.sync("hs")
    assert svc.app.store.source_statuses()["hs"].last_error is None

    # A ten-second burst of 429s lands on the next sync: it fails.
    portal.fail_next(429, count=1, endpoint="search")
    clock.advance(seconds=30)
    svc.sync("hs")
    status = svc.app.store.source_statuses()["hs"]
    assert status.last_error and "429" in status.last_error
    assert stale(svc) == [], "one failed attempt is not staleness"

    # Half a minute later the burst is over and the sync succeeds.
    clock.advance(seconds=30)
    svc.sync("hs")
    assert svc.app.store.source_statuses()["hs"].last_error is None
    assert stale(svc) == []
    assert posts(slack) == [], "nobody was paged for a burst the next sync outlived"
    svc.app.close()


def test_a_429_burst_fires_source_stale_only_after_stale_after_intervals(
    tmp_path: Path, slack: FakeSlack, portal: FakeHubSpot
) -> None:
    svc, clock = service(tmp_path, slack, portal)
    svc.sync("hs")
    succeeded = clock()

    portal.fail_next(429, count=1_000, endpoint="search")  # lasts until cleared
    seen: list[tuple[timedelta, list[str]]] = []
    for _ in range(5):
        clock.advance(seconds=30)
        svc.sync("hs")  # fails, then evaluates, records and delivers
        assert svc.app.store.source_statuses()["hs"].last_error
        seen.append((clock() - succeeded, stale(svc)))

    limit = EVERY * STALE_AFTER
    assert [at for at, found in seen if not found] == [t for t, _ in seen if t <= limit]
    assert [at for at, found in seen if found] == [t for t, _ in seen if t > limit]
    assert seen[-1][1] == ["hs"]
    (message,) = posts(slack)
    assert "Source hs is stale" in message["text"] and "no successful sync" in message["text"]

    portal.clear_faults()
    clock.advance(seconds=30)
    svc.sync("hs")
    assert stale(svc) == []
    _, reply = posts(slack)
    assert "Resolved" in reply["text"]
    svc.app.close()
