"""Log records: redacted, clipped, and library levels that follow the
requested level."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest

from monitor.service import logs


def test_an_overlong_message_is_clipped_after_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", secrets=["s3cret-token"])
    logging.getLogger("test").warning("id %s then s3cret-token", "x" * 100_000)
    logged = capsys.readouterr().err
    assert len(logged) < logs.MAX_MESSAGE + 200
    assert "(96" in logged and "more characters)" in logged
    logging.getLogger("test").warning("%ss3cret-token", "y" * (logs.MAX_MESSAGE - 5))
    assert "s3cret" not in capsys.readouterr().err


def test_debug_undoes_the_library_levels_of_an_earlier_configure() -> None:
    logs.configure("INFO")
    assert logging.getLogger("urllib3").level == logging.WARNING
    logs.configure("DEBUG")
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.DEBUG
    logs.configure("INFO")


def test_json_lines_carry_stable_fields_extras_and_redacted_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("INFO", "json", secrets=["s3cret-token"])
    log = logging.getLogger("monitor.sync")
    log.info("synced %s", "hs", extra={"source": "hs", "object_type": "contacts"})
    log.warning("rejected", extra={"detail": {"header": "Bearer s3cret-token"}})
    try:
        raise ValueError("auth s3cret-token refused")
    except ValueError:
        log.exception("failed", extra={"source": "hs"})
    logs.configure("INFO")
    synced, rejected, failed = map(json.loads, capsys.readouterr().err.splitlines())
    assert list(synced)[:4] == ["time", "level", "logger", "message"]
    assert datetime.fromisoformat(synced["time"]).utcoffset() == timedelta(0)
    assert synced | {"time": None} == {
        "time": None,
        "level": "info",
        "logger": "monitor.sync",
        "message": "synced hs",
        "source": "hs",
        "object_type": "contacts",
    }
    assert rejected["detail"] == {"header": f"Bearer {logs.REDACTED}"}
    assert failed["level"] == "error" and "ValueError: auth <secret> refused" in failed["error"]
    assert "s3cret" not in json.dumps([synced, rejected, failed])
