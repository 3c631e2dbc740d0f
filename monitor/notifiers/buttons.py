"""The buttons under each alert of a Slack post, and the line that tells
what was done with the alert.

A press reaches alignmon over Socket Mode (monitor/service/slack_socket.py)
as the button's ``action_id`` and ``value`` (the alert's fingerprint); the
message is then updated from its own blocks: the buttons of that alert are
swapped for those that fit its new state, and a context line under them
says who did what, until when. Both are found by their ``block_id``, which
is derived from the fingerprint (Slack caps a block_id at 255 characters, a
fingerprint may be longer).
"""

from __future__ import annotations

import hashlib
from typing import Any

ACKNOWLEDGE = "alignmon_acknowledge"
SILENCE_DAY = "alignmon_silence_day"
SILENCE_PERIOD = "alignmon_silence_period"
UNSILENCE = "alignmon_unsilence"
ACTION_IDS = (ACKNOWLEDGE, SILENCE_DAY, SILENCE_PERIOD, UNSILENCE)

_LABELS = {
    ACKNOWLEDGE: "Acknowledge",
    SILENCE_DAY: "Silence 1 day",
    SILENCE_PERIOD: "Silence until period end",
    UNSILENCE: "Unsilence",
}
#: Which buttons an alert shows in each state.
OPEN = (ACKNOWLEDGE, SILENCE_DAY, SILENCE_PERIOD)
ACKNOWLEDGED = (SILENCE_DAY, SILENCE_PERIOD)
SILENCED = (UNSILENCE,)
#: The buttons of each ``MessageLine.state``.
BY_STATE = {"open": OPEN, "acknowledged": ACKNOWLEDGED, "silenced": SILENCED}


def _block_id(prefix: str, fingerprint: str) -> str:
    return f"{prefix}:{hashlib.sha256(fingerprint.encode()).hexdigest()[:32]}"


def actions_block(fingerprint: str, shown: tuple[str, ...] = OPEN) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": _block_id("alignmon-actions", fingerprint),
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": _LABELS[action]},
                "value": fingerprint,
            }
            for action in shown
        ],
    }


def state_block(fingerprint: str, text: str) -> dict[str, Any]:
    """The line under an alert saying who did what (``text``: mrkdwn,
    already escaped)."""
    return {
        "type": "context",
        "block_id": _block_id("alignmon-state", fingerprint),
        "elements": [{"type": "mrkdwn", "text": text}],
    }


def with_state(
    blocks: list[dict[str, Any]], fingerprint: str, shown: tuple[str, ...], state: str
) -> list[dict[str, Any]]:
    """``blocks`` of a posted message with ``fingerprint``'s buttons set to
    ``shown`` and its state line set to ``state`` (mrkdwn, already escaped)."""
    actions_id = _block_id("alignmon-actions", fingerprint)
    state_id = _block_id("alignmon-state", fingerprint)
    out: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("block_id") == state_id:
            continue
        if block.get("block_id") == actions_id:
            out.append(state_block(fingerprint, state))
            block = actions_block(fingerprint, shown)
        out.append(block)
    return out
