"""Turning alert notices into the messages the outbox stores and a notifier
sends. Pure: no store, no channel.

Messages are stored as JSON payloads so that what was queued is exactly what
gets delivered, even after a restart or on another replica. Every message
after the first about an alert says what changed since the last one: the
metric then, the records new to a group or gone from it, how the period
ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor.findings import Alert, Closure
from monitor.interfaces import Message, MessageKind, MessageLine, Severity
from monitor.judge.alerts import Notice
from monitor.judge.format import count, percent

_REASON_PREFIX = {
    "firing": "",
    "escalated": "Worse: ",
    "eased": "Easing: ",
    "joined": "New: ",
    "repeat": "Still open: ",
    "resolved": "Resolved: ",
    "ended": "Period ended: ",
    "superseded": "Escalated: ",
}
#: How a later message marks a line of the original post once its alert
#: closed, by why it closed.
_CLOSED_MARK: Mapping[Closure, str] = {
    "resolved": "✅ Resolved — ",
    "ended": "⏹ Period ended — ",
    "superseded": "⬆ Escalated — ",
}
#: What a metric's value reads as, per rule ("42% behind").
_METRIC_WORDS = {"pacing": "behind", "quality-gap": "behind", "conversion-drift": "below plan"}
#: How a record that moved up from a less severe alert is described, by the
#: rule it moved into.
_PROMOTED_WORDS = {"sla-breach": "At risk → breached"}


def line_payload(notice: Notice, zone: ZoneInfo) -> dict[str, Any]:
    alert = notice.alert
    prefix, text, items = _REASON_PREFIX[notice.reason], alert.text, list(alert.items)
    if notice.reason == "firing" and notice.predecessor is not None:
        prefix = "New period: "
        text = f"{text} {_follows(notice.predecessor)}"
    elif notice.reason == "joined":
        items = [item for item in map(alert.item, notice.joined) if item is not None]
        text = (
            f"{len(notice.joined)} new since {_when(alert.notified_at, zone)}, "
            f"{len(alert.members)} in all."
        )
    elif notice.reason == "repeat":
        text = f"{text} {_changes(notice, zone)}"
    elif notice.reason == "ended":
        text = ended_text(alert)
    if notice.promoted:
        names = [item[0] for item in map(alert.item, notice.promoted) if item is not None]
        words = _PROMOTED_WORDS.get(alert.rule, "Escalated")
        text = f"{text} {words}: {', '.join(names)}."
    return {
        "fingerprint": alert.fingerprint,
        "severity": int(alert.severity),
        "title": prefix + alert.title,
        "text": text,
        "mentions": [alert.owner] if alert.owner else [],
        "links": [list(item) for item in items],
    }


def post_payload(notices: Sequence[Notice], zone: ZoneInfo) -> dict[str, Any]:
    """One grouped post for all new notices of a channel from one evaluation."""
    critical = sum(1 for n in notices if n.alert.severity == Severity.CRITICAL)
    total = len(notices)
    noun = "finding" if total == 1 else "findings"
    title = f"Revenue alignment: {total} {noun}"
    if critical:
        title += f" ({critical} critical)"
    ordered = sorted(notices, key=lambda n: (-n.alert.severity, n.alert.fingerprint))
    lines = [{**line_payload(n, zone), "state": "open"} for n in ordered]
    return {"title": title, "lines": lines}


def joined_payload(notices: Sequence[Notice], zone: ZoneInfo) -> dict[str, Any]:
    """A thread reply naming the records that joined alerts announced in
    one post, grouped per alert (one line per owner)."""
    joined = sum(len(n.joined) for n in notices)
    noun = "record" if joined == 1 else "records"
    ordered = sorted(notices, key=lambda n: (-n.alert.severity, n.alert.fingerprint))
    return {
        "title": f"Update: {joined} more {noun}",
        "lines": [line_payload(n, zone) for n in ordered],
    }


def resolution_payload(notices: Sequence[Notice], zone: ZoneInfo) -> dict[str, Any]:
    """A thread reply for the alerts of one post that closed."""
    noun = "alert" if len(notices) == 1 else "alerts"
    reasons = {n.reason for n in notices}
    verb = "Closed"
    if reasons == {"resolved"}:
        verb = "Cleared"
    elif reasons == {"ended"}:
        verb = "Period ended"
    return {
        "title": f"{verb}: {len(notices)} {noun}",
        "lines": [line_payload(n, zone) for n in notices],
    }


def ended_text(alert: Alert) -> str:
    """How the period of an alert ended (the line's title already says that
    it did): ``Ended at 54 of 76 (71.1%).``"""
    result = _result(alert)
    return f"Ended at {result}." if result else "The period is over."


def period_name(label: str) -> str:
    """``2026-06-01..2026-07-01`` → ``1 Jun – 30 Jun 2026``."""
    first, _, end = label.partition("..")
    if not end:
        return label
    start, last = date.fromisoformat(first), date.fromisoformat(end) - timedelta(days=1)
    return f"{start.day} {start:%b} – {last.day} {last:%b %Y}"


def _result(alert: Alert) -> str | None:
    """The finding's last numbers as actual against target (``54 of 76
    (71%)``), or the cohort's conversions against those expected."""
    data = alert.data
    if data.get("target") and "actual" in data:
        actual, target = data["actual"], data["target"]
        return f"{count(actual)} of {count(target)} ({percent(actual / target)})"
    if data.get("expected") and "converted" in data:
        converted, expected = data["converted"], data["expected"]
        return (
            f"{count(converted)} conversions of {count(expected)} expected "
            f"({percent(converted / expected)})"
        )
    return None


def _follows(predecessor: Alert) -> str:
    name, result = period_name(predecessor.period), _result(predecessor)
    if result is None:
        return f"A new alert for the new period; {name} has ended."
    return f"A new alert for the new period; {name} ended at {result}."


def _changes(notice: Notice, zone: ZoneInfo) -> str:
    """What changed since the last message about a still-open alert."""
    alert = notice.alert
    since = _when(alert.notified_at, zone)
    if alert.members or alert.notified_members:
        parts = []
        if notice.joined:
            parts.append(f"{len(notice.joined)} new")
        if notice.left:
            parts.append(f"{len(notice.left)} no longer open")
        return f"Since {since}: {', '.join(parts)}." if parts else f"No change since {since}."
    words = _METRIC_WORDS.get(alert.rule)
    if words and alert.metric is not None and alert.notified_metric is not None:
        now, then = percent(-alert.metric), percent(-alert.notified_metric)
        if now != then:
            return f"Now {now} {words}, was {then} on {since}."
    return f"No change since {since}."


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    """``Mon 09:00``: the weekday and time of the last message, local."""
    if at is None:
        return "the first message"
    return f"{at.astimezone(zone):%a %H:%M}"


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


def updated_payload(original: Mapping[str, Any], closed: Mapping[str, Closure]) -> dict[str, Any]:
    """The original post with every line whose alert has since closed
    marked so (resolved, period ended, escalated), so the channel's history
    shows at a glance what is still open."""
    lines = []
    for line in original.get("lines", []):
        closure = closed.get(line["fingerprint"])
        if closure is not None:
            line = {
                **line,
                "title": _CLOSED_MARK[closure] + line["title"],
                "severity": int(Severity.INFO),
                "state": "",
            }
        lines.append(line)
    title = original.get("title", "")
    fingerprints = [line["fingerprint"] for line in original.get("lines", [])]
    if closed and all(fp in closed for fp in fingerprints):
        resolved = all(closed[fp] == "resolved" for fp in fingerprints)
        title = f"✅ {title} — all resolved" if resolved else f"{title} — all closed"
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
                state=line.get("state", ""),
                note=line.get("note", ""),
            )
            for line in payload.get("lines", [])
        ],
        ref=ref,
        attachment=bytes.fromhex(attachment) if attachment else None,
        attachment_name=payload.get("attachment_name"),
    )
