"""Every error alignmon raises on purpose, in one small tree.

::

    AlignmonError
    ├── ConfigError            the config is wrong: exit 2, fix the file
    ├── SourceError            a CRM sync could not complete
    │   ├── SourceRetry        transient (network, 5xx, rate limit): next cycle retries
    │   └── SourceActionNeeded a person must act (credentials, permissions, quota)
    ├── NotifyError            a notifier could not deliver
    │   ├── NotifyRetry        try again after ``retry_after`` seconds
    │   └── NotifyRejected     the channel refused it for good
    └── StoreError             the database is unreachable or refused the schema

Vendor exceptions are translated into these in one place per connector or
notifier (``raise ... from exc``), so the service loop and CLI map errors to
behaviour and exit codes without knowing any vendor. ``retry_after_seconds``
reads the Retry-After header those translations put into the retryable ones.
"""

from __future__ import annotations

import math
from datetime import datetime


class AlignmonError(Exception):
    """Base of every deliberate alignmon error."""


class ConfigError(AlignmonError):
    """The configuration is invalid. The message names the file, line and key
    and, where one is close, the valid key that was probably meant."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.key = key
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")


class SourceError(AlignmonError):
    """A source could not be synced. ``source`` is the config name."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"source {source!r}: {message}")


class SourceRetry(SourceError):
    """Transient: the next scheduled sync will try again."""


class SourceActionNeeded(SourceError):
    """Permanent until a person acts: bad credentials, missing permission,
    API allowance spent, a configured field that does not exist."""


class NotifyError(AlignmonError):
    """A notification could not be delivered."""


class NotifyRetry(NotifyError):
    """Deliver again after ``retry_after`` seconds (Slack's Retry-After, or a
    backoff chosen by the notifier). ``maybe_sent`` when the channel may have
    acted before failing (a timeout, a 5xx, a garbled 200): the next attempt
    looks for the message before sending it again."""

    def __init__(self, message: str, retry_after: float = 0.0, *, maybe_sent: bool = False) -> None:
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        super().__init__(message)


class NotifyPaused(NotifyRetry):
    """The channel refuses alignmon's credentials (revoked, rotated,
    uninstalled): nothing can be delivered until a person fixes them, so
    delivery pauses and every row stays queued (until ``give_up_after``)."""


class NotifyRejected(NotifyError):
    """The channel refused the message for good (bad channel, bad token):
    retrying would not help."""


class StoreError(AlignmonError):
    """The database is unreachable or its schema is not what this version needs."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to an HTTP Retry-After value; None when
    it is absent or unreadable, so each caller keeps its own fallback.

    Retry-After may be seconds or an HTTP date (RFC 9110 §10.2.3), and
    HubSpot and Slack each send either. The wait is never negative: a date
    already past means "now". ``now`` (timezone-aware) is for tests.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime  # every CLI call imports this module

        try:
            moment = parsedate_to_datetime(value)
            seconds = (moment - (now or datetime.now().astimezone())).total_seconds()
        except (TypeError, ValueError):  # TypeError: a date without a time zone
            return None
    # "inf" or "nan" parse as floats but give no usable advice.
    return max(0.0, seconds) if math.isfinite(seconds) else None
