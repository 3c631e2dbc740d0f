"""Notifiers: the last step of the data flow (outbox → notifier). Each one
turns a ``Message`` into a post on one channel; ``create_notifier`` picks
Slack when a token is configured and the console otherwise."""

from __future__ import annotations

from monitor.config.models import Slack
from monitor.interfaces import Notifier


def create_notifier(settings: Slack, *, as_log: bool = False) -> Notifier:
    """Slack when ``slack.token`` is set (slack-sdk is imported only then),
    else a console notifier printing what would be posted (logging it, with
    ``as_log``, where every output line must be a JSON log record)."""
    if settings.token is not None and settings.token.reveal().strip():
        from monitor.notifiers.slack import SlackNotifier

        return SlackNotifier(settings)
    from monitor.notifiers.console import ConsoleNotifier

    return ConsoleNotifier(as_log=as_log)
