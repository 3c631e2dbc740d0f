"""JSON log lines, for ``--log-format json`` and the service's log
pipelines: apart from ``logs`` so that the commands logging text do not
import the JSON formatter's library."""

from __future__ import annotations

from typing import Any, Protocol

from pythonjsonlogger.json import JsonFormatter


class Redactor(Protocol):
    """What takes the secrets out of a text (``logs.RedactingFilter``)."""

    def redact(self, text: str) -> str: ...


class JsonLines(JsonFormatter):
    """One JSON object per record, for log pipelines: ``time`` (ISO 8601,
    UTC), ``level``, ``logger``, ``message``, ``error`` (a traceback) and
    whatever the call passed in ``extra`` (``source``, ``object_type``,
    ``goal``, ``alert``, ``channel``, ...). Tracebacks and extras pass the
    redactor too: the handler's filter sees only the message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "error"},
            timestamp="time",
            json_ensure_ascii=False,
        )
        self.redactor = redactor

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["level"] = str(log_data["level"]).lower()
        first = {key: log_data.pop(key) for key in ("time", "level", "logger", "message")}
        return {key: self._redacted(value) for key, value in {**first, **log_data}.items()}

    def _redacted(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor.redact(value)
        if isinstance(value, dict):
            return {key: self._redacted(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._redacted(item) for item in value]
        return value
