"""The console notifier: where the outbox delivers when no Slack token is
configured (the demo, a first try, a dry run). It prints the same content a
Slack post would carry, as plain text, so ``make run`` shows the product
working without any account.

Terminal output needs no Slack escaping, but CRM text may hold control
characters (an ANSI escape in a lead name could rewrite the terminal), so
those are stripped.

With JSON logs (``--log-format json``) a message is instead one log record,
so a log pipeline reading the service's output sees only JSON lines.
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from monitor.interfaces import CheckResult, CheckStatus, Message, MessageLine

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_VERBS = {
    "post": "post",
    "reply": "reply to {ref}",
    "update": "update of {ref}",
    "summary": "summary",
}


def printable(text: str) -> str:
    """``text`` without terminal control characters."""
    return _CONTROL.sub("", text)


class ConsoleNotifier:
    """Prints messages to ``stream``, or logs them (``as_log``); returns
    refs ``console:<n>``."""

    def __init__(self, stream: TextIO | None = None, *, as_log: bool = False) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._as_log = as_log
        self._numbers = itertools.count(1)

    def send(self, message: Message) -> str:
        ref = f"console:{next(self._numbers)}"
        if self._as_log:
            self._log(message, ref)
            return ref
        verb = _VERBS.get(message.kind, message.kind).format(ref=message.ref)
        out = [f"── {printable(message.channel)} · {verb} · {ref} ──", printable(message.title)]
        for line in message.lines:
            out.extend(self._line(line))
        if message.attachment is not None:
            name = printable(message.attachment_name or "chart.png")
            out.append(f"  chart: {name} ({len(message.attachment):,} bytes)")
        self._stream.write("\n".join(out) + "\n\n")
        self._stream.flush()
        return ref

    def check(self, channels: Sequence[str] = ()) -> list[CheckResult]:
        return [
            CheckResult(
                "notifier", CheckStatus.OK, "no Slack token: notifications print to the console"
            )
        ]

    @staticmethod
    def _log(message: Message, ref: str) -> None:
        fields: dict[str, object] = {
            "channel": message.channel,
            "kind": message.kind,
            "ref": ref,
            "reply_to": message.ref,
            "alerts": [line.fingerprint for line in message.lines],
            "lines": [
                {
                    "alert": line.fingerprint,
                    "severity": str(line.severity),
                    "title": line.title,
                    "text": line.text,
                    "owners": list(line.mentions),
                    "links": [{"label": label, "url": url} for label, url in line.links],
                }
                for line in message.lines
            ],
        }
        if len(message.lines) == 1:
            fields["alert"] = message.lines[0].fingerprint
        if message.attachment is not None:
            fields["attachment"] = message.attachment_name or "chart.png"
        log.info("%s", message.title, extra=fields)

    @staticmethod
    def _line(line: MessageLine) -> list[str]:
        out = [f"  [{str(line.severity).upper()}] {printable(line.title)}"]
        out.extend(f"      {printable(row)}" for row in line.text.splitlines() if row.strip())
        if line.mentions:
            out.append("      owner: " + ", ".join(f"@{printable(m)}" for m in line.mentions))
        out.extend(f"      - {printable(label)}: {printable(url)}" for label, url in line.links)
        return out
