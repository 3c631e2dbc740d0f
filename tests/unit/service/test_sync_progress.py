"""The service's progress line of a running sync falls due once per
interval (monitor/service/sync_progress.py)."""

from __future__ import annotations

import logging

from monitor.service.metrics import Metrics
from monitor.service.sync_progress import SyncWatch


def test_a_line_falls_due_once_per_interval() -> None:
    """Pages at 0, 4, 9.9, 10, 15 and 21 s: lines at 10 and 21 s only."""
    ticks = iter([0.0, 4.0, 9.9, 10.0, 15.0, 21.0])
    logged: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("monitor.service.sync_progress")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        watch = SyncWatch("hs", ["contacts"], Metrics(), clock=lambda: next(ticks))
        for seen in (100, 200, 300, 400, 500):
            watch("contacts", seen, None)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert logged == [
        "sync of hs: 300 contacts so far, 30/s",
        "sync of hs: 500 contacts so far, 24/s",
    ]
