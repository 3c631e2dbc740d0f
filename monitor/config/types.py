"""Value types shared by every part of the config: secrets, durations,
clock times, https URLs, and the strict base model.

Each type validates once, at load; code below the config layer receives
parsed values (``timedelta``, ``time``, ``Secret``) and never re-parses text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import time, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    PlainSerializer,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import core_schema

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Longer than any sync interval, SLA window or look-back needs; instants
#: computed from a longer one would leave the calendar (year 1 to 9999).
MAX_DURATION = timedelta(days=3650)


class StrictModel(BaseModel):
    """Unknown keys are errors; models are immutable once loaded; ``.inf``
    and ``.nan`` are not numbers any setting can use. The docstring under a
    field is its description in the config's JSON Schema
    (``alignmon config schema``; monitor/config/schema.py reads it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Secret(SecretStr):
    """A credential: prints as ``<secret>`` everywhere (repr, str, JSON,
    logs); ``reveal()`` is the one way to read it, used only where it is
    handed to a client library."""

    def _display(self) -> str:
        return "<secret>"

    def __repr__(self) -> str:
        return "<secret>"

    def reveal(self) -> str:
        return self.get_secret_value()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            clean_secret, super().__get_pydantic_core_schema__(source, handler)
        )


def clean_secret(value: Any) -> Any:
    """A credential as it is meant: surrounding whitespace dropped (a secret
    read from a file or a Kubernetes secret ends in a newline), and refused
    when it still holds a control character, which no HTTP header can carry.
    The message never shows the value."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        raise ValueError("the secret is empty")
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise ValueError(
            f"the secret holds the control character U+{ord(bad):04X} at position "
            f"{value.index(bad) + 1} of {len(value)}; a credential is one line of printable text"
        )
    return value


def parse_duration(value: Any) -> timedelta:
    """``"30s"``, ``"15m"``, ``"4h"``, ``"3d"`` or ``"1w"``. A bare number is
    refused: it once meant seconds, and ``every: 15`` read as 15 seconds
    hammers the CRM when 15 minutes was meant."""
    if isinstance(value, timedelta):
        return value
    number = _bare_number(value)
    if number is not None:
        raise ValueError(f"{number} what? write {number}m (or {number}s, {number}h, {number}d)")
    seconds: float | None = None
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds is None or not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration: write e.g. 30s, 15m, 4h, 3d or 1w")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"a duration must be at most {MAX_DURATION.days} days")
    duration = timedelta(seconds=seconds)
    if duration <= timedelta(0):  # also what rounds to zero microseconds
        raise ValueError("a duration must be positive")
    return duration


def _bare_number(value: Any) -> str | None:
    """A positive number written without a unit (``15``, ``"15"``), as the
    user wrote it; None for anything else."""
    if isinstance(value, str) and _NUMBER.match(value):
        return value.strip()
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and math.isfinite(value) and value > 0:
        return f"{value:g}"
    return None


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_clock(value: Any) -> time:
    """``"09:00"`` → 09:00 local time."""
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hours, minutes = (int(p) for p in value.strip().split(":"))
        if hours == 24 and minutes == 0:
            return time.max
        if 0 <= hours < 24 and 0 <= minutes < 60:
            return time(hours, minutes)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 9:30 as the base-60 number 570.
        hours, minutes = divmod(value, 60)
        raise ValueError(
            f"an unquoted clock time is read by YAML as a number: quote it, "
            f'e.g. "{hours:02d}:{minutes:02d}"'
        )
    raise ValueError(f"{value!r} is not a clock time: write HH:MM, e.g. 09:00")


def check_zone(value: str) -> str:
    """An IANA time zone name that this machine's zone database knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise ValueError(
            f"{value!r} is not an IANA time zone: write e.g. America/New_York or UTC"
        ) from None
    return value


def check_https(value: str, info: ValidationInfo) -> str:
    """An ``https://`` URL, less any trailing slash. The error names the
    setting (``login_url must start with https://``) so it reads the same
    wherever the type is used."""
    if not value.startswith("https://"):
        raise ValueError(f"{info.field_name or 'the URL'} must start with https:// (got {value!r})")
    return value.rstrip("/")


def check_http_url(value: str, info: ValidationInfo) -> str:
    """An ``http://`` or ``https://`` URL with a host, less any trailing slash
    kept as written (an API base URL)."""
    parts = urlsplit(value) if value.isprintable() and " " not in value else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        name = info.field_name or "the URL"
        raise ValueError(
            f"{name} must be an http:// or https:// URL with a host, e.g. https://slack.com/api/"
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(
            f"{info.field_name or 'the URL'} has a port that is not a number"
        ) from None
    return value


def auto_or_days(low: int, high: int) -> Callable[[Any], Any]:
    """A check for a number of whole days in ``[low, high]`` or ``auto``
    (learned from the data): one message for every wrong value, naming both
    choices."""

    def check(value: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        raise ValueError(
            f"must be auto or a whole number of days, greater than or equal to {low} and "
            f"less than or equal to {high} (got {value!r})"
        )

    return check


TimeZoneName = Annotated[str, AfterValidator(check_zone)]
HttpsUrl = Annotated[str, AfterValidator(check_https)]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*\d+(\.\d+)?\s*(s|m|h|d|w)\s*$",
            "examples": ["30s", "15m", "4h", "3d", "1w"],
        }
    ),
]
ClockTime = Annotated[
    time,
    BeforeValidator(parse_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["09:00"]}),
]
