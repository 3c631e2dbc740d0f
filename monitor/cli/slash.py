"""``/alignmon`` and the App Home tab in Slack: the CLI's views answered to
the person who typed the command, ephemerally, in the same words as in a terminal (errors
included). The service acknowledges the command at once and answers through
its ``response_url`` (monitor/service/slack_socket.py), so a slow evaluation
never outlasts Slack's three seconds.

Only ``silence`` changes anything, and only for ``slack.operators``; it adds
the silence ``alignmon silence`` adds.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from monitor.cli import alert_views, views
from monitor.cli.home_sla import own_sla_blocks
from monitor.config.types import parse_duration
from monitor.errors import AlignmonError, ConfigError
from monitor.service.app import App
from monitor.service.slack_actions import REFUSAL

#: Slack shows at most this much of a message's text without "Show more";
#: a longer answer is cut and says where to see all of it.
MAX_ANSWER = 3500
WIDTH = 100
#: Slack's limits for a Home tab: blocks, and text in one section.
HOME_BLOCKS = 100
HOME_SECTION = 3000


def help_text(command: str) -> str:
    return "\n".join(
        [
            f"`{command} status [goal]`: pace of each goal, SLA compliance and the findings",
            f"`{command} targets [goal]`: what each stage needs this period",
            f"`{command} sla [rule]`: follow-up compliance, per owner",
            f"`{command} alerts`: open alerts (with the ids `silence` takes) and silences",
            f"`{command} silence <id> <duration>`: mute an alert, e.g. "
            f"`{command} silence 3f9c2ab 4h` (operators only)",
            f"`{command} help`: this list",
        ]
    )


def answer(app: App, text: str, user_name: str, may_act: Callable[[], bool]) -> str:
    """What ``/alignmon text`` answers to ``user_name``."""
    command = app.config.slack.command
    words = text.split()
    verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
    console = _console()
    try:
        if verb in ("status", "targets", "sla"):
            _evaluation_view(app, verb, args[0] if args else None, console)
        elif verb == "alerts":
            alert_views.print_alerts(app.alert_listing(), console, app.config.zone, wide=False)
        elif verb == "silence":
            if not may_act():
                return REFUSAL
            return _silence(app, args, user_name, command)
        else:
            return help_text(command)
    except AlignmonError as exc:
        return str(exc)
    except click.UsageError as exc:
        return exc.message
    shown = console.file.getvalue().rstrip()  # type: ignore[attr-defined]
    if len(shown) > MAX_ANSWER:
        shown = shown[:MAX_ANSWER] + f"\n…cut short: `alignmon {verb}` shows all of it"
    return f"```\n{shown}\n```"


def home_blocks(app: App, user_id: str, email: str | None = None) -> list[dict[str, Any]]:
    """The App Home tab: each goal's pace, SLA compliance and the open
    alerts, as ``status`` and ``alerts`` show them (one section each, cut
    to what a section holds). A rep (``email``, their Slack profile's,
    owns CRM records) first sees their own compliance and waiting records."""
    evaluation = app.evaluate()
    parts: list[tuple[str, Callable[[Console], None]]] = []
    for report in evaluation.goals:
        parts.append((f"Pace: {report.name}", _printer(views.status_table(report))))
    for rule, result in evaluation.sla:
        parts.append((f"SLA: {rule.name}", _printer(views.sla_table(rule.name, result))))
    listing = app.alert_listing()
    parts.append(
        (
            "Open alerts",
            lambda console: alert_views.print_alerts(listing, console, app.config.zone, wide=False),
        )
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "alignmon"}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"As of {evaluation.as_of.astimezone(app.config.zone):%a %d %b %H:%M %Z}"
                    f" · `{app.config.slack.command} help` for commands",
                }
            ],
        },
    ]
    blocks += own_sla_blocks(
        evaluation.sla, email, app.config.zone, app.config.slack.command, HOME_SECTION
    )
    for title, show in parts:
        console = _console()
        show(console)
        text = console.file.getvalue().rstrip()  # type: ignore[attr-defined]
        room = HOME_SECTION - len(title) - 12
        if len(text) > room:
            text = text[: room - 1] + "…"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n```{text}```"}}
        )
    return blocks[:HOME_BLOCKS]


def _printer(renderable: Any) -> Callable[[Console], None]:
    return lambda console: console.print(renderable)


def _console() -> Console:
    return Console(
        file=io.StringIO(), width=WIDTH, highlight=False, color_system=None, soft_wrap=False
    )


def _evaluation_view(app: App, verb: str, name: str | None, console: Console) -> None:
    goal = name if verb != "sla" else None
    evaluation = app.evaluate(goal=goal)
    if verb == "status":
        views.print_status(evaluation, console)
    elif verb == "targets":
        for report in evaluation.goals:
            console.print(views.targets_table(report))
    else:
        rules = [(rule, result) for rule, result in evaluation.sla if name in (None, rule.name)]
        if name is not None and not rules:
            known = ", ".join(rule.name for rule in app.config.sla) or "none configured"
            raise ConfigError(f"no SLA rule named {name!r} (rules: {known})")
        for rule, result in rules:
            console.print(views.sla_table(rule.name, result))


def _silence(app: App, args: list[str], user_name: str, command: str) -> str:
    if len(args) < 2:
        return f"usage: `{command} silence <id> <duration>`, e.g. `{command} silence 3f9c2ab 4h`"
    target, duration = args[0], args[1]
    try:
        span = parse_duration(duration)
    except ValueError as exc:
        raise ConfigError(f"duration: {exc}") from None
    fingerprint = alert_views.resolve_target(target, app.known_fingerprints())
    reason = " ".join(args[2:]) or f"silenced from Slack with {command}"
    added = app.silence(fingerprint, span, reason, f"{user_name} (Slack)")
    done, warning = alert_views.added_lines(added, app.config.zone)
    return done + (f"\nwarning: {warning}" if warning else "")
