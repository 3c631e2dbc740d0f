"""Reading Retry-After, which HubSpot and Slack both send as seconds or as
an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.errors import retry_after_seconds

NOW = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0)])
def test_delay_seconds(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_an_http_date_in_the_future_is_the_time_until_it() -> None:
    assert retry_after_seconds("Tue, 04 Mar 2025 15:01:30 GMT", NOW) == 90.0


def test_an_http_date_in_the_past_means_now() -> None:
    assert retry_after_seconds("Tue, 04 Mar 2025 14:00:00 GMT", NOW) == 0.0


def test_an_http_date_is_read_against_the_clock_by_default() -> None:
    wait = retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT")

    assert wait is not None and wait > 0


@pytest.mark.parametrize("value", ["soon", "Tue, 32 Mar 2025 99:00:00 GMT", "12 parsecs"])
def test_garbage_is_none(value: str) -> None:
    assert retry_after_seconds(value, NOW) is None


@pytest.mark.parametrize("value", ["", None])
def test_absent_is_none(value: str | None) -> None:
    assert retry_after_seconds(value, NOW) is None


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_numbers_that_are_no_wait_are_none(value: str) -> None:
    assert retry_after_seconds(value, NOW) is None
