"""When repeats may go out: within an hour after a working day's repeat
time (with the daily summary unless ``alerts.repeat_at`` is set, and every
``repeat_interval`` after it when that is shorter than a day), never on a
weekend, a holiday, after working hours or in quiet hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.config.file import Config
from monitor.dispatch import repeat_slot

BERLIN = ZoneInfo("Europe/Berlin")
LUNCH = {"start": "12:00", "end": "13:00"}
EVENING = {"start": "17:00", "end": "08:00"}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in December 2026 (the 14th is a Monday), in Berlin."""
    return datetime(2026, 12, day, hour, minute, tzinfo=BERLIN)


def config(**alerts: Any) -> Config:
    return Config.model_validate(
        {
            "timezone": "Europe/Berlin",
            "sources": {"crm": {"kind": "demo"}},
            "calendar": {"holidays": ["2026-12-25"]},
            "alerts": alerts,
        }
    )


@pytest.mark.parametrize(
    ("now", "alerts", "slot"),
    [
        (local(14, 8, 59), {}, None),  # before the summary's 09:00
        (local(14, 9), {}, local(14, 9)),
        (local(14, 9, 59), {}, local(14, 9)),
        (local(14, 10), {}, None),  # an hour on: not today any more
        (local(19, 10), {}, None),  # Saturday
        (local(20, 10), {}, None),  # Sunday
        (local(25, 10), {}, None),  # a listed holiday (a Friday)
        (local(14, 10), {"repeat_at": "14:00"}, None),
        (local(14, 14, 30), {"repeat_at": "14:00"}, local(14, 14)),
        (local(14, 9, 30), {"quiet_hours": {"start": "18:00", "end": "10:00"}}, None),
        (local(14, 10), {"quiet_hours": {"start": "18:00", "end": "10:00"}}, local(14, 9)),
        (local(14, 10, 30), {"quiet_hours": {"start": "18:00", "end": "10:00"}}, local(14, 9)),
        (local(14, 11), {"quiet_hours": {"start": "18:00", "end": "10:00"}}, None),
        (local(14, 12, 45), {"repeat_at": "12:30", "quiet_hours": LUNCH}, None),
        (local(14, 13, 10), {"repeat_at": "12:30", "quiet_hours": LUNCH}, local(14, 12, 30)),
        (local(14, 16, 50), {"repeat_at": "16:30", "quiet_hours": EVENING}, local(14, 16, 30)),
        (local(14, 13, 20), {"repeat_interval": "4h"}, local(14, 13)),  # 09:00, 13:00
        (local(14, 14), {"repeat_interval": "4h"}, None),
        (local(14, 17, 5), {"repeat_interval": "4h"}, None),  # 17:00: the day is over
        (local(14, 11, 10), {"repeat_interval": "30m"}, local(14, 11)),
        (local(14, 11, 40), {"repeat_interval": "30m"}, local(14, 11, 30)),
        (local(14, 17, 10), {"repeat_at": "16:30", "quiet_hours": EVENING}, None),
    ],
)
def test_repeat_slot(now: datetime, alerts: dict[str, Any], slot: datetime | None) -> None:
    assert repeat_slot(now, config(**alerts)) == slot
