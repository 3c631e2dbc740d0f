"""The config file as a whole: the root model and the cross-references
between its parts.

Apart from ``models`` because ``sources`` is a union of every connector's
settings model (from the connector registry): code that needs only a goal
or an SLA rule imports ``models`` and no connector.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from connectors.registry import Source
from monitor.config.breakdown import breakdown_properties
from monitor.config.models import (
    MAX_CHANNEL,
    MAX_RULE_NAME,
    MAX_SOURCE_NAME,
    Alerts,
    Calendar,
    Goal,
    Service,
    Slack,
    SlaRule,
)
from monitor.config.types import StrictModel, TimeZoneName


class Config(StrictModel):
    timezone: TimeZoneName = Field(default="UTC", examples=["America/New_York", "Europe/Berlin"])
    """IANA time zone every period, business day and summary time is read in, e.g. America/New_York."""
    database: str = Field(
        default="sqlite:///alignmon.db",
        examples=[
            "sqlite:///alignmon.db",
            "postgresql://alignmon:${POSTGRES_PASSWORD}@db/alignmon",
        ],
    )
    """SQLAlchemy URL of the store, e.g. sqlite:///alignmon.db or postgresql://user@host/db. A relative SQLite path is read against this file's directory."""
    fiscal_year_start: int = Field(default=1, ge=1, le=12)
    """Month (1-12) the fiscal year starts in; quarters and years follow it."""
    calendar: Calendar = Field(default_factory=Calendar)
    """Working days, hours and holidays for business-day pacing and SLA clocks."""
    sources: dict[str, Source]
    """The CRMs to read, by a name you choose; each has a kind: hubspot, salesforce or demo."""
    slack: Slack = Field(default_factory=Slack)
    """Where alerts and the daily summary go; without a token they are printed instead."""
    goals: list[Goal] = Field(default_factory=list)
    """Revenue or closes goals, each worked back into a target per funnel stage."""
    sla: list[SlaRule] = Field(default_factory=list)
    """Follow-up rules: how soon an owner must touch a record that reached a stage."""
    alerts: Alerts = Field(default_factory=Alerts)
    """Alert lifecycle: how long a finding must last, repeats, quiet hours."""
    service: Service = Field(default_factory=Service)
    """Settings of `alignmon run`: the health/metrics endpoint and timers."""

    @field_validator("sources")
    @classmethod
    def _some_source(cls, value: dict[str, object]) -> dict[str, object]:
        if not value:
            raise ValueError("at least one source is needed")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def channels(self) -> list[str]:
        """Every channel something may be posted to: ``slack.channel``, then
        the goals' and SLA rules' own, each once."""
        named = [
            self.slack.channel,
            *(g.channel for g in self.goals),
            *(r.channel for r in self.sla),
        ]
        return list(dict.fromkeys(c for c in named if c is not None))

    def calendar_for(self, rule: SlaRule) -> Calendar:
        return rule.business_hours or self.calendar

    def source_settings(self, name: str) -> Source:
        """Source ``name``'s settings as its connector reads them: also
        copying the properties its goals are broken down by onto each
        record, so they are fetched and stored like segments."""
        wanted = [
            prop
            for goal in self.goals
            if goal.source == name
            for prop in breakdown_properties(goal.breakdown, goal.marketing_sources)
        ]
        return self.sources[name].reading(wanted)


def reference_errors(config: Config) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references the models cannot check alone, as (location, message):
    goals and SLA rules must name a defined source, names must be unique and
    fit the database, and ``alerts.repeat_at`` must fall in the calendar's
    working hours."""
    errors: list[tuple[tuple[str | int, ...], str]] = []
    for name in config.sources:
        if len(name) > MAX_SOURCE_NAME:
            errors.append(
                (("sources", name), f"a source name is at most {MAX_SOURCE_NAME} characters")
            )
    channels: list[tuple[tuple[str | int, ...], str | None]] = [
        (("slack", "channel"), config.slack.channel)
    ]
    channels += [(("goals", i, "channel"), g.channel) for i, g in enumerate(config.goals)]
    channels += [(("sla", i, "channel"), r.channel) for i, r in enumerate(config.sla)]
    for loc, channel in channels:
        if channel is not None and len(channel) > MAX_CHANNEL:
            errors.append((loc, f"a channel is at most {MAX_CHANNEL} characters"))
    defined = ", ".join(sorted(config.sources))
    sections: list[tuple[str, Sequence[Goal | SlaRule]]] = [
        ("goals", config.goals),
        ("sla", config.sla),
    ]
    for section, items in sections:
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.source not in config.sources:
                errors.append(
                    (
                        (section, index, "source"),
                        f"source {item.source!r} is not defined under sources (defined: {defined})",
                    )
                )
            if len(item.name) > MAX_RULE_NAME:
                errors.append(
                    ((section, index, "name"), f"a name is at most {MAX_RULE_NAME} characters")
                )
            if item.name in seen:
                errors.append(
                    ((section, index, "name"), f"{item.name!r} is used twice in {section}")
                )
            seen.add(item.name)
    repeat_at, hours = config.alerts.repeat_at, config.calendar
    if repeat_at is not None and not hours.start <= repeat_at < hours.end:
        errors.append(
            (
                ("alerts", "repeat_at"),
                f"{repeat_at:%H:%M} is outside the working hours "
                f"({hours.start:%H:%M}-{hours.end:%H:%M}); repeats go out in working hours",
            )
        )
    return errors
