"""The check runner: side by side, reported in order, each within its own
time limit, one failing check never hiding the others."""

from __future__ import annotations

import threading
import time

import pytest

from monitor.errors import SourceRetry
from monitor.interfaces import CheckResult, CheckStatus
from monitor.service.checks import GRACE_SECONDS, Check, run_checks


def ok(name: str, after: float = 0.0) -> Check:
    def run() -> list[CheckResult]:
        time.sleep(after)
        return [CheckResult(name, CheckStatus.OK)]

    return Check(name, run, 5.0, "")


def test_checks_run_side_by_side_and_report_in_order() -> None:
    started = time.monotonic()

    reported = [
        (check.group, results) for check, results in run_checks([ok("a", 0.6), ok("b", 0.6)])
    ]

    assert [group for group, _ in reported] == ["a", "b"]
    assert time.monotonic() - started < 1.0


def test_a_failing_check_is_a_line_and_the_others_still_run() -> None:
    def fails() -> list[CheckResult]:
        raise SourceRetry("hs", "HubSpot unreachable")

    reported = dict(
        (check.group, results)
        for check, results in run_checks([Check("hs", fails, 5, ""), ok("b")])
    )

    (line,) = reported["hs"]
    assert line.status is CheckStatus.FAIL and "HubSpot unreachable" in line.detail
    assert reported["b"][0].status is CheckStatus.OK


def test_a_check_that_never_ends_is_reported_at_its_time_limit() -> None:
    forever = threading.Event()

    def hangs() -> list[CheckResult]:
        forever.wait()
        return []

    started = time.monotonic()
    ((_, results),) = list(run_checks([Check("slack", hangs, 0.5, "is the network up?")]))
    elapsed = time.monotonic() - started
    forever.set()

    assert results == [
        CheckResult("reachable", CheckStatus.FAIL, "no answer within 0.5 s: is the network up?")
    ]
    assert 0.5 <= elapsed < 0.5 + GRACE_SECONDS + 0.3


def test_a_bug_in_a_check_is_raised_not_hidden() -> None:
    def broken() -> list[CheckResult]:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        list(run_checks([Check("crm", broken, 5, "")]))
