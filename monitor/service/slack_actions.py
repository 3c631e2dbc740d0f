"""What a button pressed on an alert in Slack does: acknowledge it, silence
it (the same silence ``alignmon silence`` adds, through the same
``monitor.silences`` code), or lift that silence.

Each press is first claimed in the audit table under its key (message,
button and the press's own timestamp): Slack sends a press again when its
acknowledgement did not arrive in time, possibly to another replica, and a
press already claimed does nothing. A second, separate press of the same
button finds the alert already in that state and changes nothing either.
Every press, refused ones too, stays in the table (``alignmon alerts
--audit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor import silences
from monitor.findings import Alert
from monitor.notifiers.buttons import (
    ACKNOWLEDGE,
    ACKNOWLEDGED,
    OPEN,
    SILENCE_DAY,
    SILENCE_PERIOD,
    SILENCED,
    UNSILENCE,
    with_state,
)
from monitor.service.app import App
from monitor.store.slack_actions import SlackAction

#: The action each button records in the audit table.
ACTIONS = {
    ACKNOWLEDGE: "acknowledge",
    SILENCE_DAY: "silence",
    SILENCE_PERIOD: "silence",
    UNSILENCE: "unsilence",
}
DAY = timedelta(days=1)
REFUSAL = (
    "Sorry, only alignmon operators can acknowledge or silence alerts. Ask whoever runs "
    "alignmon to add you to slack.operators (a user group or channel you are in)."
)


@dataclass(frozen=True)
class Press:
    """One button press, from a ``block_actions`` payload."""

    key: str
    button: str
    fingerprint: str
    user_id: str
    user_name: str
    channel: str
    ts: str
    blocks: list[dict[str, Any]]
    text: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> list[Press]:
        """The presses of alignmon's buttons in ``payload`` (others ignored)."""
        user = payload.get("user") or {}
        container = payload.get("container") or {}
        message = payload.get("message") or {}
        channel = str(container.get("channel_id") or (payload.get("channel") or {}).get("id"))
        ts = str(container.get("message_ts") or message.get("ts") or "")
        return [
            cls(
                key=f"{channel}:{ts}:{action['action_id']}:{action.get('action_ts', '')}",
                button=str(action["action_id"]),
                fingerprint=str(action.get("value") or ""),
                user_id=str(user.get("id") or ""),
                user_name=str(user.get("username") or user.get("name") or user.get("id")),
                channel=channel,
                ts=ts,
                blocks=list(message.get("blocks") or []),
                text=str(message.get("text") or ""),
            )
            for action in payload.get("actions") or []
            if action.get("action_id") in ACTIONS and action.get("value")
        ]


@dataclass(frozen=True)
class Result:
    """What to tell Slack: ``blocks`` to update the message with (None:
    leave it), ``reply``: an ephemeral line to the presser (None: nothing);
    and what the audit table keeps: ``detail``, the silence added."""

    outcome: str
    blocks: list[dict[str, Any]] | None = None
    reply: str | None = None
    detail: str = ""
    silence_id: int | None = None


DUPLICATE = Result("duplicate")


def act(app: App, press: Press, is_operator: Callable[[str], bool]) -> Result:
    """Do what ``press`` asks, once; record it."""
    now = app.clock()
    action = ACTIONS[press.button]
    claim = SlackAction(
        press.key, now, action, press.fingerprint, press.user_id, press.user_name, "pending"
    )
    with app.store.transaction() as tx:
        if not tx.claim_action(claim):
            return DUPLICATE
    result = (
        _act(app, press, now) if is_operator(press.user_id) else Result("refused", reply=REFUSAL)
    )
    with app.store.transaction() as tx:
        tx.settle_action(
            press.key, result.outcome, result.detail or result.reply or "", result.silence_id
        )
    return result


def _act(app: App, press: Press, now: datetime) -> Result:
    fp = press.fingerprint
    with app.store.transaction() as tx:
        alert = tx.alerts(include_resolved=True).get(fp)
        ack = tx.acknowledgements([fp]).get(fp)
        muting = [s for s in tx.silences(now) if s.matcher == fp]
    if alert is None:
        return Result("unchanged", reply="alignmon no longer knows this alert.")
    acked = ack is not None and alert.fired_at is not None and ack.at >= alert.fired_at
    when = _when(app, now)
    if press.button == ACKNOWLEDGE:
        if acked and ack is not None:
            return Result(
                "unchanged",
                reply=f"Already acknowledged by <@{ack.user_id}> at {_when(app, ack.at)}.",
            )
        state = f":eyes: Acknowledged by <@{press.user_id}> at {when}"
        shown: tuple[str, ...] = SILENCED if muting else ACKNOWLEDGED
        return Result("done", _blocks(press, shown, state), detail=f"acknowledged at {when}")
    if press.button == UNSILENCE:
        if not muting:
            return Result("unchanged", reply="This alert is not silenced.")
        for silence in muting:
            silences.expire(app.store, silence.id, now)
        state = f":bell: Unsilenced by <@{press.user_id}> at {when}"
        shown = ACKNOWLEDGED if acked else OPEN
        return Result("done", _blocks(press, shown, state), detail=f"unsilenced at {when}")
    if muting:
        until = _when(app, max(s.expires_at for s in muting))
        return Result("unchanged", reply=f"This alert is already silenced until {until}.")
    span = _span(press.button, alert, now)
    if span is None:
        return Result(
            "unchanged",
            reply="This alert has no period end ahead: use Silence 1 day instead.",
        )
    added = silences.add(
        app.store, fp, span, "silenced from Slack", now, f"{press.user_name} (Slack)"
    )
    until = _when(app, added.silence.expires_at)
    state = f":no_bell: Silenced by <@{press.user_id}> until {until}"
    return Result(
        "done",
        _blocks(press, SILENCED, state),
        detail=f"silence {added.silence.id} until {until}",
        silence_id=added.silence.id,
    )


def _span(button: str, alert: Alert, now: datetime) -> timedelta | None:
    if button == SILENCE_DAY:
        return DAY
    if alert.period_end is None or alert.period_end <= now:
        return None
    return alert.period_end - now


def _blocks(press: Press, shown: tuple[str, ...], state: str) -> list[dict[str, Any]]:
    return with_state(press.blocks, press.fingerprint, shown, state)


def _when(app: App, at: datetime) -> str:
    return f"{at.astimezone(app.config.zone):%a %d %b %H:%M %Z}"
