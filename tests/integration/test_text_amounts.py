"""A won deal whose amount is text counts as won on both CRMs: read through
the real connectors and the App's sync, an amount that says one number is
that number, anything else is no amount, and the deal is never dropped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config.file import Config
from monitor.config.loader import LoadedConfig
from monitor.facts import DealSample
from monitor.service.app import App
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce

NOW = datetime(2025, 7, 31, 18, 0, tzinfo=UTC)
#: A July of five won deals as a person or an integration typed them.
AMOUNTS = ["12,500 USD", "$12,500.00", "12500", "n/a", "20000"]
KEPT = DealSample(4, 3 * 12_500 + 20_000)


def won_on(day: int) -> datetime:
    return datetime(2025, 7, day, 12, 0, tzinfo=UTC)


def hubspot_source(stack: Any) -> dict[str, Any]:
    fake = stack(FakeHubSpot(now=NOW))
    ids = fake.add("deals", [won_on(10 + i) for i in range(len(AMOUNTS))])
    for i, (rid, amount) in enumerate(zip(ids, AMOUNTS, strict=True)):
        closed = won_on(10 + i).isoformat().replace("+00:00", "Z")
        fake.set_props("deals", rid, amount=amount, hs_is_closed_won="true", closedate=closed)
    return {
        "kind": "hubspot",
        "token": fake.token,
        "api_url": fake.url,
        "requests_per_second": 100,
    }


def salesforce_source(stack: Any, field: str = "Amount") -> Any:
    fake = stack(FakeSalesforce(start=NOW).start())
    if field != "Amount":
        fake.add_field("Opportunity", field, "string")
    for i, amount in enumerate(AMOUNTS):
        closed = won_on(10 + i)
        values = {"IsWon": True, "IsClosed": True, "CloseDate": closed.date(), field: amount}
        fake.add("Opportunity", SystemModstamp=closed, **values)
    return fake.settings(deal_fields={"amount": field})


SOURCES = {
    "hubspot": hubspot_source,
    "salesforce": salesforce_source,
    # Some orgs keep the amount in a text field of their own.
    "salesforce-text-field": lambda stack: salesforce_source(stack, "Amount_Text__c"),
}


@pytest.fixture
def fakes() -> Iterator[Any]:
    started: list[Any] = []

    def stack(fake: Any) -> Any:
        started.append(fake)
        return fake

    yield stack
    for fake in started:
        fake.close()


@pytest.mark.parametrize("kind", SOURCES)
def test_won_deals_with_text_amounts_all_count_as_won(
    kind: str, fakes: Any, tmp_path: Path
) -> None:
    config = Config.model_validate(
        {
            "database": f"sqlite:///{tmp_path / 'amounts.db'}",
            "timezone": "UTC",
            "sources": {"crm": SOURCES[kind](fakes)},
            "goals": [
                {
                    "name": "july",
                    "source": "crm",
                    "period": "month",
                    "revenue": 600_000,
                    "average_deal_size": {"auto": True, "fallback": 1000},
                    "auto_rates": {"min_sample": 2},
                }
            ],
        }
    )
    app = App(LoadedConfig(config, "amounts.yaml"), clock=lambda: NOW)
    try:
        (result,) = app.sync()
        assert result.ok and result.rejected == 0
        evaluation = app.evaluate(as_of=NOW + timedelta(hours=1))
    finally:
        app.close()
    (report,) = evaluation.goals
    won = next(s for s in report.stages if s.stage == "won")
    assert won.actual == len(AMOUNTS), "a deal was dropped for its amount"
    assert evaluation.facts["july"].deals == KEPT
    assert report.deal_size is not None and report.deal_size.value == KEPT.total / KEPT.count
