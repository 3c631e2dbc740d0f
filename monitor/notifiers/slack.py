"""The Slack notifier: the outbox hands it one ``Message`` at a time and it
turns that into Web API calls (chat.postMessage, chat.update, the three-call
file upload), returning the ``CHANNEL_ID:TS`` reference that later replies and
updates point at.

Retrying is the outbox's job, not this module's: every slack-sdk failure is
translated in ``_translate`` into ``NotifyRetry`` (with Slack's Retry-After, or
a backoff) or ``NotifyRejected`` (with what a person should change), and the
client keeps no retry handler that could sleep inside ``send()``. The one
exception is a single quick retry when the connection could not even be
opened: the request never reached Slack, so it cannot be posted twice.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, FixedValueRetryIntervalCalculator
from slack_sdk.web import SlackResponse

from monitor.config.models import Slack
from monitor.errors import (
    NotifyError,
    NotifyPaused,
    NotifyRejected,
    NotifyRetry,
    retry_after_seconds,
)
from monitor.interfaces import CheckResult, CheckStatus, Message
from monitor.notifiers.render import render

log = logging.getLogger(__name__)

#: Email → user lookups: a found user rarely changes, an unknown one may
#: join Slack later, so misses are forgotten sooner.
USER_TTL_SECONDS = 24 * 3600.0
MISS_TTL_SECONDS = 3600.0

#: Every bot scope alignmon uses, and what is lost without it. The app
#: manifest (deploy/slack-app-manifest.yaml) asks for exactly these, a test
#: keeps the two equal, and ``check`` names each one a token lacks.
SCOPES = {
    "chat:write": "post alerts and summaries, and mark resolved alerts in their posts",
    "files:write": "upload the daily summary chart (and the App Home tab's)",
    "users:read.email": "mention lead owners (otherwise their email is shown), and show a rep "
    "their own SLA records first on the App Home tab",
    "users:read": "read the profile of who opens the App Home tab; Slack grants "
    "users:read.email only with it",
    "channels:history": "look in a public channel for a post a killed process may have sent "
    "before sending it again (otherwise it may be posted twice)",
    "groups:history": "the same look in a private channel",
    "groups:read": "let `alignmon check` see the bot is in each private channel",
    "commands": "answer the slash command (/alignmon) over Socket Mode",
    "usergroups:read": "let members of slack.operators.usergroups act on alerts from Slack",
    "channels:read": "let `alignmon check` see the bot is in each public channel, and members "
    "of slack.operators.channels act on alerts from Slack",
}
#: Without these nothing reaches Slack; without the others a feature degrades.
REQUIRED_SCOPES = frozenset({"chat:write"})
#: ``check`` resolves channel names through conversations.list: this many
#: channels a page (Slack's maximum), at most ``MAX_LIST_PAGES`` pages.
LIST_PAGE = 1000
MAX_LIST_PAGES = 10
#: The metadata event every post carries: the outbox row's id, which a
#: resend looks for in the channel's recent history.
EVENT_TYPE = "alignmon_notification"
#: How far back a resend looks: the newest messages of the channel (or thread).
HISTORY_LIMIT = 200
#: Errors that mean Slack refuses the credentials themselves: every message
#: would fail alike until a person fixes them, so delivery pauses.
_AUTH = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)

#: Slack error codes worth retrying (docs.slack.dev, "Errors" of each method).
_TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_REINSTALL = (
    "set slack.token to the app's Bot User OAuth Token (xoxb-…), reinstalling the app if needed"
)
_LAYOUT = "alignmon's layout broke a Slack limit; please report it with the alert's fingerprint"
#: What a person should do about each permanent error. ``{channel}`` and
#: ``{needed}`` are filled in from the failed call.
_HINTS = {
    "channel_not_found": "Slack has no channel {channel} visible to the bot: check the channel "
    "name in the config, and /invite the bot if the channel is private",
    "not_in_channel": "the bot is not a member of {channel}: run /invite @<bot> in that channel",
    "is_archived": "{channel} is archived: unarchive it or configure another channel",
    "restricted_action": "the workspace does not let the bot post in {channel}: ask a Slack admin",
    "invalid_auth": f"Slack rejected the token: {_REINSTALL}",
    "not_authed": f"no Slack token was sent: {_REINSTALL}",
    "account_inactive": f"the Slack app was uninstalled or its user deactivated: {_REINSTALL}",
    "token_revoked": f"the Slack token was revoked: {_REINSTALL}",
    "token_expired": f"the Slack token expired: {_REINSTALL}",
    "missing_scope": "the Slack app lacks the {needed} scope: add it under OAuth & Permissions "
    "and reinstall the app",
    "msg_too_long": _LAYOUT,
    "msg_blocks_too_long": _LAYOUT,
    "invalid_blocks": _LAYOUT,
    "invalid_blocks_format": _LAYOUT,
    "no_text": _LAYOUT,
    "message_not_found": "the Slack message to update or reply to is gone (deleted?)",
    "cant_update_message": "Slack no longer lets the bot edit that message",
    "edit_window_closed": "Slack no longer lets the bot edit that message",
}
#: What ``check`` says when Slack refuses the app-level token.
APP_LEVEL_REFUSED = (
    "the app-level token is refused: generate one with connections:write under Basic "
    "Information → App-Level Tokens and set slack.app_token to it (xapp-…)"
)
#: Slack's answers to apps.connections.open that mean the token itself is wrong.
_APP_TOKEN_ERRORS = _AUTH | {"not_allowed_token_type", "missing_scope", "invalid_token"}
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
#: Slack's ``error`` is always a code like ``channel_not_found``. When a body
#: is not JSON, slack-sdk substitutes ``{"ok": false, "error": <a sentence
#: quoting the body>}``, so an ``error`` that is no code was not Slack's word.
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]*")


def _translate(exc: Exception, channel: str = "") -> NotifyError:
    """The one place slack-sdk and transport failures become alignmon errors."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        call = str(response.api_url).rstrip("/").rsplit("/", 1)[-1]
        status = response.status_code
        error = str(response.get("error") or f"HTTP {status}")
        if status == 429 or error == "ratelimited":
            wait = _retry_after(response.headers)
            return NotifyRetry(f"Slack rate-limited {call}; retry in {wait:g}s", wait)
        if status >= 500 or error in _TRANSIENT:
            return NotifyRetry(f"Slack failed {call} ({error}); will retry", maybe_sent=True)
        if status < 400 and not _ERROR_CODE.fullmatch(error):
            # A proxy's or gateway's page, or a reply mangled on the way: the
            # next attempt usually gets Slack's own answer.
            return NotifyRetry(
                f"Slack's reply to {call} was not JSON (HTTP {status}); will retry", maybe_sent=True
            )
        hint = _HINTS.get(error)
        if error in _AUTH:
            return NotifyPaused(f"slack-auth: Slack refused {call} ({error}): {hint}")
        if hint is None:
            hint = f"see https://api.slack.com/methods/{call}#errors"
            if status != 200:
                hint = "check that slack.api_url points at the Slack Web API"
        needed = str(response.get("needed") or "required")
        detail = hint.format(channel=channel or "the channel", needed=needed)
        return NotifyRejected(f"Slack refused {call} ({error}): {detail}")
    if isinstance(exc, HTTPError):  # the raw upload step of files_upload_v2
        if exc.code == 429 or exc.code >= 500:
            return NotifyRetry(f"Slack file upload failed (HTTP {exc.code})")
        return NotifyRejected(f"Slack refused the file upload (HTTP {exc.code})")
    # Refused, reset, timed out, a broken response, or a failed upload step:
    # Slack or the network is down, which the outbox outlasts.
    # Only a refused connection proves nothing reached Slack.
    reason = exc.reason if isinstance(exc, URLError) else exc
    refused = isinstance(reason, ConnectionRefusedError)
    return NotifyRetry(f"Slack unreachable: {reason}", maybe_sent=not refused)


def _error_code(exc: NotifyError) -> str | None:
    """Slack's ``error`` behind a translated failure, if Slack answered."""
    cause = exc.__cause__
    return str(cause.response.get("error")) if isinstance(cause, SlackApiError) else None


def _retry_after(headers: Any) -> float:
    """Slack's Retry-After, whatever the case of the header's name."""
    value = next((v for k, v in dict(headers or {}).items() if k.lower() == "retry-after"), None)
    wait = retry_after_seconds(value[0] if isinstance(value, list) else value)
    return 0.0 if wait is None else wait  # no advice: the outbox backs off exponentially


def _split_ref(ref: str | None) -> tuple[str, str]:
    channel, _, ts = (ref or "").partition(":")
    if not channel or not ts:
        raise NotifyRejected(f"not a Slack message reference (CHANNEL:TS): {ref!r}")
    return channel, ts


def _granted_scopes(headers: Any) -> frozenset[str] | None:
    """The scopes ``auth.test`` says the token has (its X-OAuth-Scopes
    header), or None when Slack did not say."""
    value = next((v for k, v in dict(headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
    if value is None:
        return None
    text = ",".join(value) if isinstance(value, list) else str(value)
    return frozenset(scope.strip() for scope in text.split(",") if scope.strip())


def _missing_scopes(granted: frozenset[str]) -> list[CheckResult]:
    missing = [
        CheckResult(
            f"slack scope {scope}",
            CheckStatus.FAIL if scope in REQUIRED_SCOPES else CheckStatus.WARN,
            f"missing: needed to {feature}; add it under OAuth & Permissions (or from "
            "deploy/slack-app-manifest.yaml) and reinstall the app",
        )
        for scope, feature in SCOPES.items()
        if scope not in granted
    ]
    return missing or [CheckResult("slack scopes", CheckStatus.OK, "all granted")]


def _bare(channel: str) -> str:
    return channel.removeprefix("#").lower()


def _channel_state(label: str, info: dict[str, Any], bot: str) -> CheckResult:
    name = f"#{info.get('name')}"
    if info.get("is_archived"):
        return CheckResult(
            label, CheckStatus.FAIL, f"{name} is archived: unarchive it or configure another"
        )
    if not info.get("is_member", True):
        return CheckResult(
            label,
            CheckStatus.FAIL,
            f"the bot is not a member of {name}: run /invite @{bot} in {name}",
        )
    return CheckResult(label, CheckStatus.OK, f"{name}, the bot is a member")


def _channel_unseen(
    label: str, channel: str, bot: str, *, complete: bool, private: bool
) -> CheckResult:
    """A channel name the bot's channel list lacks: it does not exist or is
    private without the bot, unless the list could not hold it."""
    if not complete:
        return CheckResult(
            label,
            CheckStatus.WARN,
            f"not among the first {LIST_PAGE * MAX_LIST_PAGES:,} channels: configure the "
            "channel's ID (C…) instead of its name to check it",
        )
    if not private:
        return CheckResult(
            label,
            CheckStatus.WARN,
            f"no public channel {channel}; without groups:read the private ones cannot be "
            "seen: grant it, or configure the channel's ID (C…)",
        )
    return CheckResult(
        label,
        CheckStatus.FAIL,
        f"the bot sees no channel {channel}: check the name; if the channel is private, "
        f"run /invite @{bot} in it",
    )


def _channel_failure(label: str, exc: NotifyError, bot: str) -> CheckResult:
    """A channel Slack would not describe. Without channels:read or
    groups:read it cannot be inspected, which does not mean posting fails."""
    code = _error_code(exc)
    if code == "channel_not_found":
        return CheckResult(
            label,
            CheckStatus.FAIL,
            "Slack has no such channel visible to the bot: check the ID; if the channel is "
            f"private, run /invite @{bot} in it",
        )
    cannot_tell = isinstance(exc, NotifyRetry) or code == "missing_scope"
    return CheckResult(label, CheckStatus.WARN if cannot_tell else CheckStatus.FAIL, str(exc))


class SlackNotifier:
    """Delivers messages to Slack through the Web API (bot token)."""

    def __init__(self, settings: Slack, *, clock: Callable[[], float] = time.monotonic) -> None:
        if settings.token is None:
            raise ValueError("SlackNotifier needs slack.token; without one use ConsoleNotifier")
        self._settings = settings
        self._clock = clock
        # urllib wraps failures to connect or send in URLError, so this retry
        # only repeats requests Slack never received (docs/design.md, "Slack").
        refused_once = ConnectionErrorRetryHandler(
            max_retry_count=1,
            interval_calculator=FixedValueRetryIntervalCalculator(0.2),
            error_types=[URLError],
        )
        self._client = WebClient(
            token=settings.token.reveal(),
            base_url=settings.api_url,
            timeout=settings.timeout,  # type: ignore[arg-type]  # urllib takes float seconds
            retry_handlers=[refused_once],
        )
        # ``check`` asks once: a person is waiting, and no network must show
        # within slack.timeout, not after a retry.
        self._check_client = WebClient(
            token=settings.token.reveal(),
            base_url=settings.api_url,
            timeout=settings.timeout,  # type: ignore[arg-type]
            retry_handlers=[],
        )
        self._users: dict[str, tuple[str | None, float]] = {}
        #: Alerts get buttons only where a press can reach the service.
        self._buttons = settings.app_token is not None
        # Summaries whose post went out but whose chart upload failed: a retry
        # of the same message uploads the chart without posting twice.
        self._posted: dict[str, str] = {}

    def send(self, message: Message) -> str:
        """Deliver ``message``; return its ``CHANNEL_ID:TS`` reference."""
        if message.kind in ("reply", "update") or (message.kind == "summary" and message.ref):
            channel, thread = _split_ref(message.ref)
        elif message.kind in ("post", "summary"):
            channel, thread = message.channel, None
        else:
            raise NotifyRejected(f"unknown message kind {message.kind!r}")
        if message.kind == "summary":
            return self._summary(message, channel, thread)
        if message.kind == "update":
            rendered = render(message, self._user_id, buttons=self._buttons)
            self._call(
                "chat.update",
                where=channel,
                channel=channel,
                ts=thread,
                text=rendered.text,
                blocks=rendered.blocks,
            )
            return f"{channel}:{thread}"
        return self._post(message, channel, thread)

    def check(self, channels: Sequence[str] = ()) -> list[CheckResult]:
        """Token, granted scopes, that the bot can post in each of
        ``channels`` (default: ``slack.channel``), and the app-level token
        when one is set. Each call is made once, without the connection
        retry, so no network shows within ``slack.timeout``."""
        return self._check_bot(channels) + self._check_app_token()

    def _check_bot(self, channels: Sequence[str]) -> list[CheckResult]:
        try:
            auth = self._call("auth.test", client=self._check_client)
        except NotifyError as exc:
            return [CheckResult("slack", CheckStatus.FAIL, str(exc))]
        bot = str(auth.get("user") or "<bot>")
        results = [
            CheckResult("slack", CheckStatus.OK, f"authenticated to {auth.get('team')} as {bot}")
        ]
        granted = _granted_scopes(auth.headers)
        if granted is None:
            results.append(
                CheckResult(
                    "slack scopes",
                    CheckStatus.WARN,
                    "Slack did not list the token's scopes (is it a bot token, xoxb-…?): "
                    "cannot tell which are missing",
                )
            )
        else:
            results += _missing_scopes(granted)
        wanted = list(dict.fromkeys(channels or (self._settings.channel,)))
        return results + self._check_channels(wanted, bot, granted)

    def _check_app_token(self) -> list[CheckResult]:
        """With ``slack.app_token``: whether Slack accepts it, by asking for
        a Socket Mode URL once (``apps.connections.open``). The URL is not
        opened: that is ``alignmon run``'s connection, and a check must not
        take a running service's place in Slack's rotation."""
        app_token = self._settings.app_token
        if app_token is None:
            return []
        label = "slack app token"
        try:
            self._call(
                "apps.connections.open", client=self._check_client, app_token=app_token.reveal()
            )
        except NotifyError as exc:
            code = _error_code(exc)
            if code in _APP_TOKEN_ERRORS:
                return [CheckResult(label, CheckStatus.FAIL, f"{APP_LEVEL_REFUSED} ({code})")]
            return [CheckResult(label, CheckStatus.FAIL, str(exc))]
        return [CheckResult(label, CheckStatus.OK, "accepted: Socket Mode can connect")]

    def _check_channels(
        self, channels: list[str], bot: str, granted: frozenset[str] | None
    ) -> list[CheckResult]:
        """One line per channel: found, not archived, the bot a member.
        Names are looked up in the channel list, IDs asked about directly."""
        names = {_bare(c) for c in channels if not _CHANNEL_ID.match(c)}
        listing: dict[str, dict[str, Any]] = {}
        complete, failure = True, None
        private = granted is None or "groups:read" in granted
        if names:
            try:
                listing, complete = self._list_channels(names, private)
            except NotifyError as exc:
                failure = exc
        results = []
        for channel in channels:
            label = f"slack channel {channel}"
            if _CHANNEL_ID.match(channel):
                try:
                    info = self._call(
                        "conversations.info",
                        where=channel,
                        client=self._check_client,
                        channel=channel,
                    )["channel"]
                except NotifyError as exc:
                    results.append(_channel_failure(label, exc, bot))
                    continue
            elif failure is not None:
                results.append(_channel_failure(label, failure, bot))
                continue
            else:
                info = listing.get(_bare(channel))
            if info is None:
                results.append(
                    _channel_unseen(label, channel, bot, complete=complete, private=private)
                )
            else:
                results.append(_channel_state(label, info, bot))
        return results

    def _list_channels(
        self, names: set[str], private: bool
    ) -> tuple[dict[str, dict[str, Any]], bool]:
        """The channels the bot can see, by lower-case name, paging until
        every name in ``names`` is found; and whether the list was read to
        its end (or every name found)."""
        found: dict[str, dict[str, Any]] = {}
        cursor = None
        for _ in range(MAX_LIST_PAGES):
            response = self._call(
                "conversations.list",
                client=self._check_client,
                types="public_channel,private_channel" if private else "public_channel",
                exclude_archived=False,
                limit=LIST_PAGE,
                cursor=cursor,
            )
            for channel in response.get("channels") or []:
                found[str(channel.get("name", "")).lower()] = channel
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor or names <= found.keys():
                return found, True
        return found, False

    def _post(self, message: Message, channel: str, thread: str | None) -> str:
        if message.key and message.recheck_in:
            found = self._find(message.key, message.recheck_in, thread)
            if found is not None:
                log.warning(
                    "notification %s was already in Slack (%s): not posting it again",
                    message.key,
                    found,
                )
                return found
        rendered = render(message, self._user_id, buttons=self._buttons)
        response = self._call(
            "chat.postMessage",
            where=channel,
            channel=channel,
            thread_ts=thread,
            text=rendered.text,
            blocks=rendered.blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata=(
                {"event_type": EVENT_TYPE, "event_payload": {"id": message.key}}
                if message.key
                else None
            ),
        )
        channel_id, ts = response.get("channel"), response.get("ts")
        if not channel_id or not ts:
            raise NotifyRetry(
                "Slack's reply to chat.postMessage lacked channel or ts; will retry",
                maybe_sent=True,
            )
        return f"{channel_id}:{ts}"

    def _find(self, key: str, channel: str, thread: str | None) -> str | None:
        """The ``CHANNEL_ID:TS`` of the message carrying notification ``key``
        among the channel's (or thread's) newest messages, or None. When
        Slack will not show the history (no ``channels:history`` scope, a
        channel configured by name) the message is posted again, logged."""
        arguments: dict[str, Any] = {
            "channel": channel,
            "include_all_metadata": True,
            "limit": HISTORY_LIMIT,
        }
        method = "conversations.history"
        if thread:
            method, arguments["ts"] = "conversations.replies", thread
        try:
            response = self._call(method, where=channel, **arguments)
        except NotifyPaused:
            raise
        except NotifyRejected as exc:
            log.warning(
                "cannot check Slack for notification %s before sending it again (%s): "
                "it may be posted twice",
                key,
                exc,
            )
            return None
        for found in response.get("messages") or []:
            metadata = found.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and str(payload.get("id")) == key:
                return f"{channel}:{found['ts']}"
        return None

    def _summary(self, message: Message, channel: str, thread: str | None) -> str:
        """Post the summary, then upload its chart into the same channel/thread."""
        digest = hashlib.sha256(message.attachment or b"")
        digest.update(repr((channel, thread, message.title, tuple(message.lines))).encode())
        key = digest.hexdigest()
        ref = self._posted.pop(key, None) or self._post(message, channel, thread)
        if not message.attachment:
            return ref
        try:
            # files_upload_v2 = files.getUploadURLExternal, a POST of the bytes
            # to the URL it returns, files.completeUploadExternal. It wants the
            # channel ID, which the post returned.
            self._call(
                "files.upload_v2",
                where=channel,
                channel=ref.partition(":")[0],
                thread_ts=thread,
                content=message.attachment,
                filename=message.attachment_name or "summary.png",
                title=message.title,
            )
        except NotifyRetry:
            self._posted[key] = ref
            raise
        except NotifyRejected as exc:
            # The summary itself is delivered; a chart Slack will never accept
            # (e.g. no files:write scope) must not make the outbox resend it.
            log.warning("Slack summary posted without its chart: %s", exc)
        return ref

    def _user_id(self, email: str) -> str | None:
        """Slack user id for an owner email, cached (misses too)."""
        key = email.strip().lower()
        cached = self._users.get(key)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        try:
            user_id: str | None = self._call("users.lookupByEmail", email=key)["user"]["id"]
        except NotifyRejected as exc:
            # users_not_found is the ordinary miss; a missing users:read.email
            # scope degrades every mention to plain text but not the message.
            if _error_code(exc) != "users_not_found":
                log.warning("Slack mention of an owner falls back to text: %s", exc)
            user_id = None
        ttl = USER_TTL_SECONDS if user_id else MISS_TTL_SECONDS
        self._users[key] = (user_id, self._clock() + ttl)
        return user_id

    def _call(
        self, method: str, *, where: str = "", client: WebClient | None = None, **kwargs: Any
    ) -> SlackResponse:
        """Call one Web API method (``chat.postMessage`` → ``chat_postMessage``);
        every failure leaves as a NotifyError. ``where`` names the channel for
        error messages."""
        arguments = {key: value for key, value in kwargs.items() if value is not None}
        call = getattr(client or self._client, method.replace(".", "_"))
        try:
            response: SlackResponse = call(**arguments)
        except (SlackClientError, OSError, http.client.HTTPException) as exc:
            raise _translate(exc, where) from exc
        except (ValueError, AttributeError, TypeError) as exc:
            # A 200 whose body was cut short or is not a JSON object: slack-sdk
            # fails decoding it. Slack may or may not have acted; like a 5xx,
            # the outbox tries again after its backoff.
            raise NotifyRetry(
                f"Slack's reply to {method} was not valid JSON ({type(exc).__name__}); will retry",
                maybe_sent=True,
            ) from exc
        return response
