"""Message → Slack Block Kit: the last pure step before a notification leaves
the process (outbox → notifier → **render** → Slack).

Everything here is a function of its arguments: the notifier resolves owner
mentions and hands in a lookup, this module decides the layout. Two rules
shape it:

* Slack's limits are data (``SLACK_LIMITS``), and a message that would exceed
  one is cut short with "…and N more" instead of being refused by Slack.
* All text is escaped from one table before any markup is added. Titles and
  texts are alignmon's wording but embed CRM values (lead, owner and segment
  names), so nothing is trusted: a lead called ``<!channel>`` reaches Slack as
  ``&lt;!channel&gt;`` and pings nobody. Mentions and links are markup the
  renderer adds *after* escaping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.display import shown_name, visible
from monitor.interfaces import Message, MessageLine, Severity
from monitor.notifiers.buttons import BY_STATE, actions_block, state_block

#: Slack's three control characters (docs/design.md, "Slack messages").
#: ``str.translate`` replaces in a single pass, so ``&`` is never escaped twice.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})

#: Inside ``<url|label>`` a ``|`` ends the URL and whitespace breaks the link.
_URL_QUOTES = str.maketrans({"|": "%7C", " ": "%20", "\n": "", "\r": ""})

_ICONS = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":large_orange_circle:",
    Severity.INFO: ":large_blue_circle:",
}

#: Resolves an owner email to a Slack user id, or None when Slack has no such user.
Resolve = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one Slack message can carry (docs/design.md, "Slack")."""

    blocks: int = 50
    section_text: int = 3000
    header_text: int = 150
    fallback_text: int = 40_000
    #: Slack answers ``msg_blocks_too_long`` at about 13.2k characters of block
    #: text even when every per-block limit holds (slackapi/bolt-js#2509), so
    #: the whole message stays under a conservative total.
    total_block_text: int = 12_000
    #: Our own caps, so one long CRM name cannot crowd out a whole section.
    line_title: int = 300
    link_label: int = 200


SLACK_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready for ``chat.postMessage``: ``text`` is the plain
    fallback Slack shows in notifications, ``shown`` and ``omitted`` count
    the message's lines that made it in and those summarised as "…and N more"."""

    text: str
    blocks: list[dict[str, Any]]
    shown: int
    omitted: int


def escape(text: str) -> str:
    """Escape Slack's control characters so ``text`` shows literally, and
    drop invisible control and format characters (a U+202E in a lead's name
    would reverse the rest of the line)."""
    return visible(text).translate(_ESCAPES)


def literal(text: str) -> str:
    """One line of text that embeds CRM values (titles, link labels, names),
    escaped and with newlines folded and mrkdwn markers neutralised, so a
    lead called ``*URGENT*`` or ``~x~`` restyles nothing."""
    return escape(shown_name(text))


def more(count: int) -> str:
    return f"…and {count} more"


def clip(escaped: str, limit: int) -> str:
    """Shorten already-escaped text to ``limit`` characters, ending in "…",
    without cutting an ``&amp;``-style entity in half."""
    if len(escaped) <= limit:
        return escaped
    if limit <= 1:
        return "…"[:limit]
    cut = escaped[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 4))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def render(
    message: Message, resolve: Resolve, limits: Limits = SLACK_LIMITS, *, buttons: bool = False
) -> Rendered:
    """Lay ``message`` out as Block Kit blocks plus a fallback text.

    One header with the message title, one section per line in the order
    given (the caller puts the most severe first), and a closing context
    block "…and N more" when the lines do not all fit. ``resolve`` is called
    only for the lines that are shown. ``buttons``: each line with a
    ``state`` gets the buttons that act on its alert, and its ``note``
    (monitor/notifiers/buttons.py).
    """
    title = clip(literal(message.title), limits.header_text)
    blocks: list[dict[str, Any]] = []
    if title:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": title}})
    used = len(title)
    sections: list[tuple[str, list[dict[str, Any]]]] = []
    for line in message.lines:
        extra = _extra_blocks(line) if buttons else []
        if len(blocks) + _slots(sections) + 1 + len(extra) > limits.blocks:
            break
        text = section_text(line, resolve, limits)
        cost = len(text) + _text_cost(extra)
        if used + cost > limits.total_block_text:
            break
        sections.append((text, extra))
        used += cost
    omitted = len(message.lines) - len(sections)
    # The "…and N more" block needs a slot and some room of its own.
    while (
        omitted
        and sections
        and (
            len(blocks) + _slots(sections) + 1 > limits.blocks
            or used + len(more(omitted + 1)) > limits.total_block_text
        )
    ):
        text, extra = sections.pop()
        used -= len(text) + _text_cost(extra)
        omitted += 1
    for text, extra in sections:
        blocks.append(_mrkdwn_section(text))
        blocks.extend(extra)
    if omitted:
        blocks.append({"type": "context", "elements": [_mrkdwn(more(omitted))]})
    fallback = fallback_text(message, len(sections), resolve, limits.fallback_text)
    return Rendered(text=fallback, blocks=blocks, shown=len(sections), omitted=omitted)


def _extra_blocks(line: MessageLine) -> list[dict[str, Any]]:
    """What follows a line's section when alerts can be acted on: who
    acknowledged or silenced it, and the buttons its state allows."""
    extra = []
    if line.note:
        extra.append(
            state_block(line.fingerprint, clip(escape(line.note), SLACK_LIMITS.line_title))
        )
    if line.state in BY_STATE:
        extra.append(actions_block(line.fingerprint, BY_STATE[line.state]))
    return extra


def _text_cost(extra: Sequence[dict[str, Any]]) -> int:
    """Characters ``extra`` adds to the message's block text."""
    return sum(
        len(element["text"]["text"] if block["type"] == "actions" else element["text"])
        for block in extra
        for element in block["elements"]
    )


def _slots(sections: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> int:
    return sum(1 + len(extra) for _, extra in sections)


def section_text(line: MessageLine, resolve: Resolve, limits: Limits = SLACK_LIMITS) -> str:
    """One finding as mrkdwn: icon and bold title, text, mentions, links.
    Mentions come before links so a long list of records never crowds out
    the owner being pinged."""
    limit = limits.section_text
    head = f"{_ICONS[line.severity]} *{clip(literal(line.title), limits.line_title)}*"
    parts = [head]
    who = fit([mention(email, resolve) for email in line.mentions], ", ", limit // 4)
    who = f"cc {who}" if who else ""
    room = limit - len(head) - (len(who) + 1 if who else 0)
    if line.text:
        # A very long text still leaves room for the first few links.
        reserve = min(200, room // 4) if line.links else 0
        body = clip(escape(line.text), room - 1 - reserve)
        parts.append(body)
        room -= len(body) + 1
    if who:
        parts.append(who)
    labelled = [link(label, url, limits.link_label) for label, url in line.links]
    links = fit(labelled, " · ", room - 1)
    if links:
        parts.append(links)
    return "\n".join(parts)


def fallback_text(message: Message, shown: int, resolve: Resolve, limit: int) -> str:
    """The plain ``text`` of the post: what notifications, screen readers and
    old clients show. Same lines as the blocks, without links' URLs."""
    rows = [literal(message.title)]
    for line in message.lines[:shown]:
        row = f"{line.severity}: {literal(line.title)}"
        if line.text:
            row += f" — {escape(line.text)}"
        labels = [literal(label) for label, _ in line.links]
        if labels:
            row += f" ({', '.join(labels)})"
        if line.mentions:
            row += " " + ", ".join(mention(email, resolve) for email in line.mentions)
        rows.append(row)
    omitted = len(message.lines) - shown
    tail = f"\n{more(omitted)}" if omitted else ""
    return clip("\n".join(rows), limit - len(tail)) + tail


def mention(email: str, resolve: Resolve) -> str:
    """``<@U123>`` for a Slack user, else the escaped address as text."""
    user_id = resolve(email)
    return f"<@{user_id}>" if user_id else literal(email)


def link(label: str, url: str, limit: int = SLACK_LIMITS.link_label) -> str:
    """A Slack link with an escaped label; only web URLs become links."""
    text = clip(literal(label), limit) or clip(escape(url), limit)
    if not url.lower().startswith(("https://", "http://")):
        return text
    return f"<{escape(url).translate(_URL_QUOTES)}|{text}>"


def fit(items: Sequence[str], separator: str, room: int) -> str:
    """Join ``items`` while they fit in ``room`` characters; the rest become
    "…and N more". Items are whole markup pieces and are never cut."""
    out: list[str] = []
    used = 0
    for item in items:
        cost = len(item) + (len(separator) if out else 0)
        if used + cost > room:
            break
        out.append(item)
        used += cost
    while len(out) < len(items):
        tail = more(len(items) - len(out))
        if used + (len(separator) if out else 0) + len(tail) <= room:
            return separator.join([*out, tail])
        if not out:
            return ""
        used -= len(out.pop()) + (len(separator) if out else 0)
    return separator.join(out)


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack must not auto-link channel names or URLs inside CRM text.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
