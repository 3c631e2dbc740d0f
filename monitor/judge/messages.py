"""Turning alert notices into the messages the outbox stores and a notifier
sends. Pure: no store, no channel.

Messages are stored as JSON payloads so that what was queued is exactly what
gets delivered, even after a restart or on another replica.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.interfaces import Message, MessageKind, MessageLine, Severity
from monitor.judge.alerts import Notice

_REASON_PREFIX = {
    "firing": "",
    "escalated": "Worse: ",
    "eased": "Easing: ",
    "repeat": "Still open: ",
    "resolved": "Resolved: ",
}


def line_payload(notice: Notice) -> dict[str, Any]:
    alert = notice.alert
    return {
        "fingerprint": alert.fingerprint,
        "severity": int(alert.severity),
        "title": _REASON_PREFIX[notice.reason] + alert.title,
        "text": alert.text,
        "mentions": [alert.owner] if alert.owner else [],
        "links": [list(item) for item in alert.items],
    }


def post_payload(notices: Sequence[Notice]) -> dict[str, Any]:
    """One grouped post for all new notices of a channel from one evaluation."""
    critical = sum(1 for n in notices if n.alert.severity == Severity.CRITICAL)
    count = len(notices)
    noun = "finding" if count == 1 else "findings"
    title = f"Revenue alignment: {count} {noun}"
    if critical:
        title += f" ({critical} critical)"
    ordered = sorted(notices, key=lambda n: (-n.alert.severity, n.alert.fingerprint))
    return {"title": title, "lines": [line_payload(n) for n in ordered]}


def resolution_payload(notices: Sequence[Notice]) -> dict[str, Any]:
    noun = "alert" if len(notices) == 1 else "alerts"
    return {
        "title": f"Cleared: {len(notices)} {noun}",
        "lines": [line_payload(n) for n in notices],
    }


def watching_payload(source: str, subjects: Sequence[str]) -> dict[str, Any]:
    """The one message a channel gets when a source's first sync is complete:
    from now on its goals and rules are judged."""
    return {
        "title": f"Now watching {source}",
        "lines": [
            {
                "fingerprint": f"watching/{source}",
                "severity": int(Severity.INFO),
                "title": f"{source}: first sync complete",
                "text": f"Pacing, conversion and follow-up checks now run for {', '.join(subjects)}.",
                "mentions": [],
                "links": [],
            }
        ],
    }


def updated_payload(original: Mapping[str, Any], resolved: set[str]) -> dict[str, Any]:
    """The original post with every line that has since cleared marked so,
    so the channel's history shows at a glance what is still open."""
    lines = []
    for line in original.get("lines", []):
        if line["fingerprint"] in resolved:
            line = {
                **line,
                "title": "✅ Resolved — " + line["title"],
                "severity": int(Severity.INFO),
            }
        lines.append(line)
    title = original.get("title", "")
    if resolved and all(line["fingerprint"] in resolved for line in original.get("lines", [])):
        title = f"✅ {title} — all resolved"
    return {"title": title, "lines": lines}


def to_message(
    channel: str, kind: MessageKind, payload: Mapping[str, Any], ref: str | None = None
) -> Message:
    attachment = payload.get("attachment")
    return Message(
        channel=channel,
        kind=kind,
        title=payload.get("title", ""),
        lines=[
            MessageLine(
                fingerprint=line["fingerprint"],
                severity=Severity(line["severity"]),
                title=line["title"],
                text=line["text"],
                mentions=tuple(line.get("mentions", ())),
                links=tuple((label, url) for label, url in line.get("links", ())),
            )
            for line in payload.get("lines", [])
        ],
        ref=ref,
        attachment=bytes.fromhex(attachment) if attachment else None,
        attachment_name=payload.get("attachment_name"),
    )
