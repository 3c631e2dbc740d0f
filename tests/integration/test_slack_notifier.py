"""SlackNotifier through the real slack-sdk WebClient against the fake Slack
server (tests/fakes/slack.py) over loopback HTTP."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from monitor.config.models import Operators as OperatorSettings
from monitor.config.models import Slack
from monitor.errors import NotifyError, NotifyPaused, NotifyRejected, NotifyRetry
from monitor.interfaces import CheckResult, CheckStatus, Message, MessageLine, Notifier, Severity
from monitor.notifiers import create_notifier
from monitor.notifiers.console import ConsoleNotifier
from monitor.notifiers.slack import MISS_TTL_SECONDS, SCOPES, SlackNotifier
from monitor.service.slack_socket import Operators
from tests.fakes.network import blackhole, silent_server
from tests.fakes.slack import APP_TOKEN, TOKEN, FakeSlack
from tests.unit.notifiers.test_slack_manifest import manifest_scopes

CHANNEL = "#revenue-alignment"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    # slack-sdk routes through HTTPS_PROXY/HTTP_PROXY and ignores NO_PROXY.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeSlack(users={"jane@acme.test": "U0JANE"}) as fake:
        yield fake


def settings(fake: FakeSlack, **overrides: object) -> Slack:
    values = {"token": TOKEN, "api_url": fake.api_url, "channel": CHANNEL, "timeout": 2.0}
    return Slack.model_validate(values | overrides)


@pytest.fixture
def notifier(slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(settings(slack))


def line(number: int = 1, **fields: object) -> MessageLine:
    values: dict[str, object] = {
        "fingerprint": f"pacing/q1/mql/{number}",
        "severity": Severity.WARNING,
        "title": f"MQLs behind plan ({number})",
        "text": "82 MQLs against 120 expected by now: 32% behind.",
    }
    return MessageLine(**(values | fields))  # type: ignore[arg-type]


def post(*lines: MessageLine, title: str = "Pacing alerts", **fields: object) -> Message:
    return Message(channel=CHANNEL, kind="post", title=title, lines=lines, **fields)  # type: ignore[arg-type]


def stored(fake: FakeSlack, ref: str) -> dict[str, object]:
    channel, ts = ref.split(":")
    return fake.messages[(channel, ts)]


# -- kinds ------------------------------------------------------------------


def test_post_sends_blocks_with_fallback_and_returns_channel_ts(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    ref = notifier.send(post(line(), line(2, severity=Severity.CRITICAL)))

    assert ref.startswith("C0ALIGN1:1700000000.")
    message = stored(slack, ref)
    blocks = message["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Pacing alerts"}}
    assert "MQLs behind plan (1)" in blocks[1]["text"]["text"]
    assert blocks[2]["text"]["text"].startswith(":red_circle:")
    assert str(message["text"]).startswith("Pacing alerts\nwarning: MQLs behind plan (1)")
    assert slack.calls_to("chat.postMessage")[0].params["unfurl_links"] is False


def test_reply_goes_into_the_thread_of_the_original(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    ref = notifier.send(post(line()))
    reply = Message(channel=CHANNEL, kind="reply", title="Resolved: MQLs back on pace", ref=ref)

    reply_ref = notifier.send(reply)

    channel, ts = ref.split(":")
    assert reply_ref != ref and reply_ref.startswith(f"{channel}:")
    assert stored(slack, reply_ref)["thread_ts"] == ts


def test_update_edits_the_original_message(slack: FakeSlack, notifier: SlackNotifier) -> None:
    ref = notifier.send(post(line()))
    update = Message(
        channel=CHANNEL,
        kind="update",
        title="Cleared: pacing alerts",
        lines=[line(severity=Severity.INFO)],
        ref=ref,
    )

    assert notifier.send(update) == ref
    assert [call.params["ts"] for call in slack.calls_to("chat.update")] == [ref.split(":")[1]]
    assert str(stored(slack, ref)["text"]).startswith("Cleared: pacing alerts")


def test_summary_posts_then_uploads_the_chart_in_three_calls(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    summary = Message(
        channel=CHANNEL,
        kind="summary",
        title="Daily summary",
        lines=[line(severity=Severity.INFO)],
        attachment=PNG,
        attachment_name="alignmon-summary-2024-03-01.png",
    )

    ref = notifier.send(summary)

    assert [call.method for call in slack.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert ref in {f"{c}:{t}" for c, t in slack.messages}
    (upload,) = slack.files.values()
    assert upload["data"] == PNG
    assert upload["filename"] == "alignmon-summary-2024-03-01.png"
    assert upload["channel"] == "C0ALIGN1" and upload["shared"]


def test_summary_retried_after_a_failed_upload_is_posted_once(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    summary = Message(
        channel=CHANNEL,
        kind="summary",
        title="Daily summary",
        attachment=PNG,
        attachment_name="chart.png",
        lines=[line(severity=Severity.INFO)],
    )
    slack.fail_next(500, method="files.getUploadURLExternal")

    with pytest.raises(NotifyRetry):
        notifier.send(summary)
    ref = notifier.send(summary)

    assert len(slack.calls_to("chat.postMessage")) == 1
    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    assert ref in {f"{c}:{t}" for c, t in slack.messages}


def test_summary_without_files_scope_is_delivered_without_the_chart(
    monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, notifier: SlackNotifier
) -> None:
    slack.scopes = ("chat:write",)
    summary = Message(
        channel=CHANNEL,
        kind="summary",
        title="Daily summary",
        attachment=PNG,
        attachment_name="chart.png",
    )

    ref = notifier.send(summary)

    assert ref in {f"{c}:{t}" for c, t in slack.messages}
    assert slack.calls_to("files.completeUploadExternal") == []


# -- failures ----------------------------------------------------------------


def test_rate_limit_raises_retry_with_slacks_retry_after(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    slack.fail_next(429, retry_after=7, count=3)
    started = time.monotonic()

    with pytest.raises(NotifyRetry) as caught:
        notifier.send(post(line()))

    assert caught.value.retry_after == 7
    # The outbox owns the wait: the SDK did not sleep and call again.
    assert len(slack.calls_to("chat.postMessage")) == 1
    assert time.monotonic() - started < 2


def test_rate_limit_honours_a_retry_after_given_as_an_http_date(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=90)
    slack.fail_next(429, retry_after=format_datetime(later, usegmt=True))

    with pytest.raises(NotifyRetry) as caught:
        notifier.send(post(line()))

    assert 80 < caught.value.retry_after <= 90


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_raise_retry(slack: FakeSlack, notifier: SlackNotifier, status: int) -> None:
    slack.fail_next(status)

    with pytest.raises(NotifyRetry) as caught:
        notifier.send(post(line()))

    assert caught.value.retry_after == 0  # no advice from Slack: the outbox backs off
    assert notifier.send(post(line())).startswith("C0ALIGN1:")


@pytest.mark.parametrize("error", ["ratelimited", "internal_error", "service_unavailable"])
def test_transient_error_codes_raise_retry(
    slack: FakeSlack, notifier: SlackNotifier, error: str
) -> None:
    slack.error_next(error)

    with pytest.raises(NotifyRetry):
        notifier.send(post(line()))


def test_a_200_that_is_not_json_raises_retry_and_recovers(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    slack.garble_next(status=200)

    with pytest.raises(NotifyRetry, match=r"reply to chat.postMessage was not JSON \(HTTP 200\)"):
        notifier.send(post(line()))

    assert notifier.send(post(line())).startswith("C0ALIGN1:")


def test_a_page_that_is_not_slack_at_a_client_error_is_rejected(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    slack.garble_next(status=404, body="<html><body>Not Found</body></html>")

    with pytest.raises(NotifyRejected, match=r"slack\.api_url"):
        notifier.send(post(line()))


def test_timeout_raises_retry(slack: FakeSlack) -> None:
    notifier = SlackNotifier(settings(slack, timeout=0.3))
    slack.timeout_next(stall=3)
    started = time.monotonic()

    with pytest.raises(NotifyRetry):
        notifier.send(post(line()))

    assert time.monotonic() - started < 2
    assert len(slack.calls_to("chat.postMessage")) == 1  # a read timeout is never re-sent


def test_refused_connection_raises_retry_and_recovers(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    slack.down()

    with pytest.raises(NotifyRetry, match="unreachable"):
        notifier.send(post(line()))

    slack.up()
    assert notifier.send(post(line())).startswith("C0ALIGN1:")


def test_unknown_channel_is_rejected_with_what_to_do(notifier: SlackNotifier) -> None:
    with pytest.raises(NotifyRejected) as caught:
        notifier.send(Message(channel="#no-such-channel", kind="post", title="x", lines=[line()]))

    assert "channel_not_found" in str(caught.value)
    assert "#no-such-channel" in str(caught.value) and "/invite" in str(caught.value)


def test_invalid_token_pauses_delivery_without_leaking_it(slack: FakeSlack) -> None:
    notifier = SlackNotifier(settings(slack, token="xoxb-wrong-token"))

    with pytest.raises(NotifyPaused) as caught:
        notifier.send(post(line()))

    assert "invalid_auth" in str(caught.value) and "slack.token" in str(caught.value)
    assert "xoxb-wrong-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        ("not_in_channel", "/invite"),
        ("is_archived", "unarchive"),
        ("msg_too_long", "report it"),
        ("something_new", "api.slack.com/methods/chat.postMessage"),
    ],
)
def test_permanent_errors_are_rejected_with_advice(
    slack: FakeSlack, notifier: SlackNotifier, error: str, advice: str
) -> None:
    slack.error_next(error)

    with pytest.raises(NotifyRejected, match=error) as caught:
        notifier.send(post(line()))

    assert advice in str(caught.value)


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive"])
def test_auth_errors_pause_delivery_with_advice(
    slack: FakeSlack, notifier: SlackNotifier, error: str
) -> None:
    slack.error_next(error)

    with pytest.raises(NotifyPaused, match=error) as caught:
        notifier.send(post(line()))

    assert str(caught.value).startswith("slack-auth: ") and "slack.token" in str(caught.value)


def test_malformed_ref_is_rejected(notifier: SlackNotifier) -> None:
    with pytest.raises(NotifyRejected, match="CHANNEL:TS"):
        notifier.send(Message(channel=CHANNEL, kind="reply", title="x", ref="garbage"))


# -- content -----------------------------------------------------------------

NAME = "<!channel> & <@U123>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;@U123&gt;"


def test_crm_text_reaches_slack_escaped_and_pings_nobody(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    finding = line(
        title=f"Lead {NAME} is past its follow-up window",
        text=f"Owned by {NAME}; segment {NAME}",
        links=[(NAME, "https://app.hubspot.com/contacts/1/record/0-1/42")],
    )

    ref = notifier.send(post(finding, title=f"SLA breaches: {NAME}"))

    message = stored(slack, ref)
    blocks, text = json.dumps(message["blocks"], ensure_ascii=False), str(message["text"])
    for sent in (blocks, text):
        assert ESCAPED in sent
        assert "<!channel>" not in sent and "<@U123>" not in sent
    assert f"<https://app.hubspot.com/contacts/1/record/0-1/42|{ESCAPED}>" in blocks


def test_400_lines_stay_inside_every_block_kit_limit(
    slack: FakeSlack, notifier: SlackNotifier
) -> None:
    lines = [
        line(n, mentions=["jane@acme.test"], links=[(f"Lead {n}", f"https://crm.test/{n}")])
        for n in range(400)
    ]

    ref = notifier.send(post(*lines))  # the fake validates every limit

    message = stored(slack, ref)
    blocks = message["blocks"]
    assert isinstance(blocks, list) and len(blocks) <= 50
    shown = sum(block["type"] == "section" for block in blocks)
    assert blocks[-1]["elements"][0]["text"] == f"…and {400 - shown} more"
    assert str(message["text"]).endswith(f"…and {400 - shown} more")
    assert len(slack.calls_to("users.lookupByEmail")) == 1


def test_long_lines_stay_inside_the_total_size(slack: FakeSlack, notifier: SlackNotifier) -> None:
    lines = [line(n, text="x" * 5000) for n in range(30)]

    ref = notifier.send(post(*lines))

    blocks = stored(slack, ref)["blocks"]
    assert isinstance(blocks, list)
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert blocks[-1]["type"] == "context" and "more" in blocks[-1]["elements"][0]["text"]


def test_the_fake_refuses_what_slack_refuses(slack: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    too_much: list[dict[str, Any]] = [
        {"blocks": [section] * 51},
        {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]},
        {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 5},
        {"text": "x" * 40_001},
    ]
    errors = []
    for extra in too_much:
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel=CHANNEL, **({"text": "fallback"} | extra))
        errors.append(caught.value.response["error"])

    assert errors == ["invalid_blocks"] * 3 + ["msg_blocks_too_long", "msg_too_long"]


def test_mentions_resolve_emails_and_cache_hits_and_misses(slack: FakeSlack) -> None:
    now = [1000.0]
    notifier = SlackNotifier(settings(slack), clock=lambda: now[0])
    finding = line(mentions=["Jane@Acme.test", "new&rep@acme.test"])

    first = stored(slack, notifier.send(post(finding)))
    notifier.send(post(finding))

    section = first["blocks"][1]["text"]["text"]  # type: ignore[index]
    assert "<@U0JANE>" in section
    assert "new&amp;rep@acme.test" in section and "<@" not in section.replace("<@U0JANE>", "")
    assert len(slack.calls_to("users.lookupByEmail")) == 2  # second message served from cache

    now[0] += MISS_TTL_SECONDS + 1  # a miss is retried after a while; a hit is kept longer
    notifier.send(post(finding))
    looked_up = [call.params["email"] for call in slack.calls_to("users.lookupByEmail")]
    assert looked_up == ["jane@acme.test", "new&rep@acme.test", "new&rep@acme.test"]


def test_missing_lookup_scope_falls_back_to_the_email(slack: FakeSlack) -> None:
    slack.scopes = ("chat:write", "files:write")
    notifier = SlackNotifier(settings(slack))

    ref = notifier.send(post(line(mentions=["jane@acme.test"])))

    assert "jane@acme.test" in stored(slack, ref)["blocks"][1]["text"]["text"]  # type: ignore[index]


# -- check and factory -------------------------------------------------------


def test_check_reports_team_bot_and_scopes(slack: FakeSlack, notifier: SlackNotifier) -> None:
    results = notifier.check()

    assert all(result.status is CheckStatus.OK for result in results)
    assert "Acme" in results[0].detail and "alignmon" in results[0].detail


def test_check_fails_clearly_on_a_bad_token(slack: FakeSlack) -> None:
    (result,) = SlackNotifier(settings(slack, token="xoxb-nope")).check()

    assert result.status is CheckStatus.FAIL and "slack.token" in result.detail


def test_check_asks_slack_once_whether_it_takes_the_app_token_without_connecting(
    slack: FakeSlack,
) -> None:
    results = {r.name: r for r in SlackNotifier(settings(slack, app_token=APP_TOKEN)).check()}

    assert results["slack app token"].status is CheckStatus.OK
    assert len(slack.calls_to("apps.connections.open")) == 1
    assert slack.socket.connects == 0


def test_check_says_how_to_get_an_app_token_slack_takes(slack: FakeSlack) -> None:
    results = {r.name: r for r in SlackNotifier(settings(slack, app_token="xapp-nope")).check()}

    refused = results["slack app token"]
    assert refused.status is CheckStatus.FAIL
    assert refused.detail.startswith("the app-level token is refused: generate one with ")
    assert "connections:write" in refused.detail and "xapp-nope" not in refused.detail
    assert results["slack"].status is CheckStatus.OK


def test_check_of_the_app_token_reports_a_slack_outage_as_such(slack: FakeSlack) -> None:
    slack.fail_next(503, method="apps.connections.open")

    results = {r.name: r for r in SlackNotifier(settings(slack, app_token=APP_TOKEN)).check()}

    assert results["slack app token"].status is CheckStatus.FAIL
    assert "apps.connections.open" in results["slack app token"].detail
    assert "refused" not in results["slack app token"].detail


def test_check_warns_about_missing_scopes_and_a_channel_without_the_bot(
    slack: FakeSlack,
) -> None:
    slack.scopes = ("chat:write", "channels:read")
    slack.members.discard("C0ALIGN1")

    results = {r.name: r for r in SlackNotifier(settings(slack, channel="C0ALIGN1")).check()}

    assert results["slack scope files:write"].status is CheckStatus.WARN
    assert results["slack scope users:read.email"].status is CheckStatus.WARN
    assert results["slack channel C0ALIGN1"].status is CheckStatus.FAIL
    assert "/invite" in results["slack channel C0ALIGN1"].detail


def test_check_cannot_inspect_the_channel_without_channels_read(slack: FakeSlack) -> None:
    slack.scopes = ("chat:write", "files:write", "users:read.email")

    results = {r.name: r for r in SlackNotifier(settings(slack, channel="C0ALIGN1")).check()}

    assert results["slack channel C0ALIGN1"].status is CheckStatus.WARN
    assert "channels:read" in results["slack channel C0ALIGN1"].detail


def test_check_names_each_missing_scope_and_the_feature_that_needs_it(
    slack: FakeSlack,
) -> None:
    slack.scopes = ("chat:write", "channels:read", "groups:read")

    results = {r.name: r for r in SlackNotifier(settings(slack)).check()}

    missing = {name.removeprefix("slack scope ") for name in results if "scope " in name}
    assert missing == set(SCOPES) - set(slack.scopes)
    for scope in missing:
        assert results[f"slack scope {scope}"].status is CheckStatus.WARN
        assert SCOPES[scope] in results[f"slack scope {scope}"].detail
    assert results["slack channel #revenue-alignment"].status is CheckStatus.OK


def test_check_fails_without_chat_write(slack: FakeSlack) -> None:
    slack.scopes = tuple(scope for scope in SCOPES if scope != "chat:write")

    results = {r.name: r for r in SlackNotifier(settings(slack)).check()}

    assert results["slack scope chat:write"].status is CheckStatus.FAIL
    assert "post alerts" in results["slack scope chat:write"].detail


def test_check_finds_every_configured_channel_by_name_or_id(slack: FakeSlack) -> None:
    slack.channels.update(C0OLD001="old-alerts", C0NEW001="new-alerts", G0SALES1="sales-leads")
    slack.private.add("G0SALES1")
    slack.archived.add("C0OLD001")
    slack.members |= {"C0OLD001", "G0SALES1"}
    slack.members.discard("C0LEADS1")
    channels = [
        "#revenue-alignment",
        "#leadership",
        "#old-alerts",
        "C0NEW001",
        "#Sales-Leads",
        "#no-such-channel",
    ]

    results = {r.name: r for r in SlackNotifier(settings(slack)).check(channels)}

    def state(channel: str) -> tuple[CheckStatus, str]:
        found = results[f"slack channel {channel}"]
        return found.status, found.detail

    assert state("#revenue-alignment") == (
        CheckStatus.OK,
        "#revenue-alignment, the bot is a member",
    )
    assert state("#leadership") == (
        CheckStatus.FAIL,
        "the bot is not a member of #leadership: run /invite @alignmon in #leadership",
    )
    assert state("#old-alerts")[0] is CheckStatus.FAIL and "archived" in state("#old-alerts")[1]
    assert state("C0NEW001")[0] is CheckStatus.FAIL
    assert "/invite @alignmon in #new-alerts" in state("C0NEW001")[1]
    assert state("#Sales-Leads")[0] is CheckStatus.OK
    assert state("#no-such-channel")[0] is CheckStatus.FAIL
    assert "/invite @alignmon" in state("#no-such-channel")[1]
    assert len(slack.calls_to("conversations.list")) == 1  # one listing for every name


def test_check_pages_through_the_channel_list_until_each_name_is_found(
    slack: FakeSlack,
) -> None:
    slack.channels.update({f"C0{n:07d}": f"team-{n}" for n in range(2500)})
    slack.members |= set(slack.channels)

    results = {r.name: r for r in SlackNotifier(settings(slack)).check(["#team-1800"])}

    assert results["slack channel #team-1800"].status is CheckStatus.OK
    pages = slack.calls_to("conversations.list")
    assert len(pages) == 2 and pages[1].params["cursor"]


def test_check_says_a_private_channel_is_unseen_until_the_bot_is_invited(
    slack: FakeSlack,
) -> None:
    slack.channels["G0SALES1"] = "sales-leads"
    slack.private.add("G0SALES1")
    slack.members.discard("G0SALES1")
    notifier = SlackNotifier(settings(slack))

    (unseen,) = [r for r in notifier.check(["#sales-leads"]) if "channel" in r.name]
    slack.members.add("G0SALES1")
    (seen,) = [r for r in notifier.check(["#sales-leads"]) if "channel" in r.name]

    assert unseen.status is CheckStatus.FAIL and "/invite @alignmon" in unseen.detail
    assert seen.status is CheckStatus.OK


def test_check_cannot_see_private_channels_without_groups_read(slack: FakeSlack) -> None:
    slack.channels["G0SALES1"] = "sales-leads"
    slack.private.add("G0SALES1")
    slack.members.add("G0SALES1")
    slack.scopes = tuple(scope for scope in slack.scopes if scope != "groups:read")

    results = {r.name: r for r in SlackNotifier(settings(slack)).check(["#sales-leads"])}

    assert results["slack channel #sales-leads"].status is CheckStatus.WARN
    assert "groups:read" in results["slack channel #sales-leads"].detail
    assert slack.calls_to("conversations.list")[0].params["types"] == "public_channel"


def test_check_without_channels_read_cannot_tell_about_a_named_channel(
    slack: FakeSlack,
) -> None:
    slack.scopes = ("chat:write",)

    results = {r.name: r for r in SlackNotifier(settings(slack)).check()}

    assert results["slack channel #revenue-alignment"].status is CheckStatus.WARN
    assert "channels:read" in results["slack channel #revenue-alignment"].detail


def use_everything(slack: FakeSlack) -> tuple[str | None, list[CheckResult]]:
    """Every Slack call alignmon makes: a post mentioning an owner, resends
    looked up in a public and a private channel, an update, a summary with
    its chart, a check of channels by name and by ID, and the lookup of
    operators by user group and channel. Returns the mentioning post's
    blocks (None if it failed) and the check's results."""
    slack.channels["G0SALES1"] = "sales-leads"
    slack.private.add("G0SALES1")
    slack.members.add("G0SALES1")
    notifier = SlackNotifier(settings(slack))
    blocks = None
    with contextlib.suppress(NotifyError):
        ref = notifier.send(post(line(mentions=["jane@acme.test"])))
        blocks = json.dumps(stored(slack, ref)["blocks"])
        notifier.send(Message(CHANNEL, "update", "Pacing", (line(),), ref=ref))
    for channel in ("C0ALIGN1", "G0SALES1"):
        with contextlib.suppress(NotifyError):
            notifier.send(post(line(2), key="42", recheck_in=channel))
    chart = Message(CHANNEL, "summary", "Daily summary", (line(),), attachment=PNG)
    with contextlib.suppress(NotifyError):
        notifier.send(chart)
    slack.usergroups = {"S0OPS": ["U0OPS"]}
    slack.channel_members = {"C0LEADS1": ["U0LEAD"]}
    operators = OperatorSettings(usergroups=["S0OPS"], channels=["C0LEADS1"])
    web = WebClient(token=TOKEN, base_url=slack.api_url, timeout=2)
    Operators(operators, web)("U0NOBODY")
    return blocks, notifier.check(["#revenue-alignment", "#sales-leads", "C0LEADS1", "G0SALES1"])


def test_the_manifest_scopes_are_enough_for_everything_alignmon_does(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.scopes = tuple(manifest_scopes())

    blocks, results = use_everything(slack)

    assert slack.refused_scopes == []
    assert all(result.status is CheckStatus.OK for result in results), results
    assert blocks is not None and "<@U0JANE>" in blocks
    assert len(slack.calls_to("conversations.history")) == 2
    assert len(slack.files) == 1


@pytest.mark.parametrize("scope", sorted(set(SCOPES) - {"users:read", "commands"}))
def test_every_manifest_scope_is_used(slack: FakeSlack, scope: str) -> None:
    # users:read is asked for because Slack grants users:read.email only with it;
    # commands lets Slack send the slash command, which no API call needs.
    slack.scopes = tuple(granted for granted in manifest_scopes() if granted != scope)

    _, results = use_everything(slack)

    assert scope in ",".join(slack.refused_scopes).split(",")
    assert {r.name: r for r in results}[f"slack scope {scope}"].status is not CheckStatus.OK


@pytest.mark.parametrize("unreachable", [blackhole, silent_server])
def test_check_of_a_slack_that_never_answers_ends_within_its_timeout(
    unreachable: Callable[[], AbstractContextManager[str]],
) -> None:
    with unreachable() as url:
        values = {"token": TOKEN, "api_url": f"{url}/api/", "channel": CHANNEL, "timeout": 1.0}
        started = time.monotonic()
        (result,) = SlackNotifier(Slack.model_validate(values)).check()
        elapsed = time.monotonic() - started

    assert result.status is CheckStatus.FAIL and "Slack unreachable" in result.detail
    assert elapsed < 1.0 + 0.5  # one attempt: no connection retry


def test_the_token_never_reaches_logs_errors_or_check_output(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # An earlier logging setup in this process may have quietened the library.
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    notifier = SlackNotifier(settings(slack))
    notifier.send(post(line(mentions=["jane@acme.test"])))
    slack.fail_next(500)
    with pytest.raises(NotifyRetry) as caught:
        notifier.send(post(line()))
    results = notifier.check()

    assert "chat.postMessage" in caplog.text  # slack-sdk did log its requests
    assert TOKEN not in caplog.text and TOKEN not in str(caught.value)
    assert all(TOKEN not in result.detail for result in results)


def test_create_notifier_picks_slack_only_with_a_token(slack: FakeSlack) -> None:
    with_token = create_notifier(settings(slack))
    without = create_notifier(Slack())

    assert isinstance(with_token, SlackNotifier) and isinstance(with_token, Notifier)
    assert isinstance(without, ConsoleNotifier) and isinstance(without, Notifier)
