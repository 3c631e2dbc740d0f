"""Logging setup: one handler on the root logger, human-readable or JSON
lines, and a filter that redacts every configured secret.

The redaction filter sits on the handler rather than on loggers, so records
from third-party libraries (urllib3 at DEBUG prints headers) pass through it
too.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import urllib.parse
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from connectors.registry import vendor_loggers
from monitor.config.file import Config
from monitor.config.types import Secret
from monitor.store.engine import database_password

REDACTED = "<secret>"
#: Longer messages are clipped: CRM data can put a 100 KB value in a
#: warning, and one such line should not flood a log pipeline.
MAX_MESSAGE = 4_000


class RedactingFilter(logging.Filter):
    """Replaces known secret values wherever they appear in a record, and
    clips overlong messages (after redacting, so no secret is cut in two)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        found = {form for s in secrets if len(s) >= 4 for form in forms(s)}
        self.secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}… ({len(message) - MAX_MESSAGE} more characters)"
        record.msg, record.args = message, None
        if self.secrets and record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


#: Derived forms shorter than this are not redacted: a base64 run of four
#: characters would blank unrelated text.
_MIN_FORM = 6


def forms(secret: str) -> set[str]:
    """The ways a secret shows up in text: as is, as ``repr`` and JSON print
    it (escapes), URL-encoded (a query string or form body), and in base64 at
    each of the three alignments it can have inside a longer encoded value
    (HTTP Basic auth encodes ``user:password``), standard and URL-safe."""
    found = {secret}
    found.add(repr(secret)[1:-1])
    found.add(json.dumps(secret)[1:-1])
    found.add(repr(secret.encode("utf-8"))[2:-1])
    found.add(urllib.parse.quote(secret, safe=""))
    found.add(urllib.parse.quote_plus(secret))
    raw = secret.encode("utf-8")
    for shift in range(3):
        chunk = raw[shift:]
        chunk = chunk[: len(chunk) - len(chunk) % 3]
        encoded = base64.b64encode(chunk).decode("ascii")
        found.add(encoded)
        found.add(encoded.translate(str.maketrans("+/", "-_")))
    return {form for form in found if form == secret or len(form) >= _MIN_FORM}


def redact(text: str) -> str:
    """``text`` with every secret the log handler knows replaced: for what
    is printed outside logging (the CLI's one-line errors)."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactingFilter):
                text = found.redact(text)
    return text


def secrets_in(model: Any) -> list[str]:
    """Every Secret value anywhere inside a config model, and the password
    of the database URL (it is written inside a plain string)."""
    found: list[str] = []
    if isinstance(model, Config):
        found.extend(database_password(model.database))
    if isinstance(model, Secret):
        found.append(model.reveal())
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            found.extend(secrets_in(getattr(model, name)))
    elif isinstance(model, dict):
        for value in model.values():
            found.extend(secrets_in(value))
    elif isinstance(model, list | tuple):
        for value in model:
            found.extend(secrets_in(value))
    return found


class SkippedOverlaps(logging.Filter):
    """APScheduler warns each time a firing is skipped because the job's
    last run is still going — twice a second while a sync waits out a
    locked database. The job's own failure is logged once; these are not."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


def configure(
    level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()
) -> RedactingFilter:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    redactor = RedactingFilter(secrets)
    if fmt == "json":
        from monitor.service.json_logs import JsonLines  # a command's text logs do without it

        handler.setFormatter(JsonLines(redactor))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root.addHandler(handler)
    # Python's own warnings print as text; with JSON lines they are records.
    logging.captureWarnings(fmt == "json")
    root.setLevel(level.upper())
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, SkippedOverlaps) for f in scheduler_log.filters):
        scheduler_log.addFilter(SkippedOverlaps())
    # Chatty libraries stay at WARNING unless the user asked for DEBUG,
    # which also undoes an earlier configure in the same process.
    library_level = logging.NOTSET if level.upper() == "DEBUG" else logging.WARNING
    for name in ("urllib3", "apscheduler", "alembic", "slack_sdk", *vendor_loggers()):
        logging.getLogger(name).setLevel(library_level)
    # With JSON logs the console notifier's messages are log records: they
    # are the command's output, shown at any level.
    logging.getLogger("monitor.notifiers.console").setLevel(logging.INFO)
    return redactor
