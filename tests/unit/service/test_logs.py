"""Log records: redacted, clipped, and library levels that follow the
requested level."""

from __future__ import annotations

import logging

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
