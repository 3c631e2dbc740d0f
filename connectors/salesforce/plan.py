"""What to read for each object type: the configured fields checked against
the object's ``describe`` and spelled the way Salesforce spells them.

SOQL is case-insensitive but responses use each field's own spelling, so a
config that says ``mql_date__c`` must be read back as ``MQL_Date__c``;
``describe`` also lists only the fields the integration user may read, so a
missing permission shows up here, before any query, as a clear message.

Leads also read the won state of the opportunity they were converted into,
through ``ConvertedOpportunityId`` (docs/design.md, "Salesforce"), when the
org lets the integration user see that field and it points at the
configured deal object; otherwise persons carry no won date, as before.
Closures (a lead disqualified, an opportunity lost) are read the same way:
when the org has the fields, else records are never closed and the
source's stalls are not judged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from connectors.salesforce.normalise import (
    ACTIVITY_COLUMNS,
    SYSTEM_COLUMNS,
    Closure,
    Link,
    Shape,
)
from connectors.salesforce.settings import SalesforceSource

log = logging.getLogger(__name__)

INSTANT_TYPES = frozenset({"date", "datetime"})
NUMBER_TYPES = frozenset({"currency", "double", "int", "long", "percent"})
ACTIVITY_OBJECTS = {"tasks": "Task", "events": "Event"}
#: The Lead field naming the opportunity a lead was converted into.
CONVERTED_FIELD = "convertedopportunityid"
#: Standard fields that tell a closed record: a lead converted (so not
#: closed) and its last change; an opportunity closed, won or lost.
IS_CONVERTED, LAST_MODIFIED, IS_CLOSED = "isconverted", "lastmodifieddate", "isclosed"


class FieldProblems(ValueError):
    """Configured fields that do not exist, cannot be read, or have the
    wrong type; the message lists each with its config key."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What one pull selects and from where. ``shape`` is None for activity
    objects, which become touches rather than records."""

    object_type: str
    sobject: str
    columns: list[str]
    shape: Shape | None = None


def sobject_of(settings: SalesforceSource, object_type: str) -> str:
    if object_type == "leads":
        return settings.fields.sobject
    if object_type == "opportunities":
        return settings.deal_fields.sobject
    return ACTIVITY_OBJECTS[object_type]


def _wanted(settings: SalesforceSource, object_type: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Config key → (field, allowed types; empty means any) for the fields
    this object type reads beyond the system and owner columns."""
    if object_type == "leads":
        lead = settings.fields
        wanted = {
            f"fields.{attr}": (getattr(lead, attr), INSTANT_TYPES)
            for attr in (
                "lead_at",
                "mql_at",
                "sql_at",
                "first_touch_at",
                "assigned_at",
                "status_at",
            )
            if getattr(lead, attr) not in (None, "activities")
        }
        if lead.status_stages:
            wanted["fields.status"] = (lead.status, frozenset())
        return {"name": ("Name", frozenset()), **wanted}
    if object_type == "opportunities":
        deal = settings.deal_fields
        wanted = {
            "deal_fields.won": (deal.won, frozenset({"boolean"})),
            "deal_fields.won_at": (deal.won_at, INSTANT_TYPES),
            # Some orgs keep the amount as text; connectors.amounts reads it.
            "deal_fields.amount": (deal.amount, NUMBER_TYPES | {"string"}),
        }
        if deal.sql_at:
            wanted["deal_fields.sql_at"] = (deal.sql_at, INSTANT_TYPES)
        return {"name": ("Name", frozenset()), **wanted}
    sobject = ACTIVITY_OBJECTS[object_type]
    return {f"{sobject}.{c}": (c, frozenset()) for c in ACTIVITY_COLUMNS[sobject]}


def resolve(
    settings: SalesforceSource,
    object_type: str,
    describe: Mapping[str, Any],
    deal: Shape | None = None,
) -> Plan:
    """The plan for ``object_type``, or FieldProblems naming every field
    that is wrong. ``deal``, the opportunities' shape, lets leads carry the
    won date of their opportunity."""
    sobject = sobject_of(settings, object_type)
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    problems: list[str] = []
    if not describe.get("queryable", True):
        problems.append(f"{sobject} cannot be queried by the integration user")
    names: dict[str, str] = {}
    checks = dict(_wanted(settings, object_type))
    if object_type in ("leads", "opportunities"):
        checks.update({f"system.{c}": (c, frozenset()) for c in (*SYSTEM_COLUMNS, "OwnerId")})
    for key, (name, types) in checks.items():
        found = fields.get(name.lower())
        if found is None:
            problems.append(
                f"{key}: {sobject}.{name} does not exist or the integration user cannot read it"
            )
        elif types and found.get("type") not in types:
            allowed = " or ".join(sorted(types))
            problems.append(
                f"{key}: {sobject}.{found['name']} is a {found.get('type')} field, not {allowed}"
            )
        else:
            names[key] = found["name"]
    segments = {}
    for attr, name in settings.segments.items():
        found = fields.get(name.lower())
        if found is not None:
            segments[attr] = found["name"]
        elif object_type == "leads":
            problems.append(f"segments.{attr}: {sobject}.{name} does not exist or cannot be read")
        else:
            log.info(
                "segment %s: %s has no field %s; its records carry no %s", attr, sobject, name, attr
            )
    if problems:
        raise FieldProblems("; ".join(problems))
    if object_type in ACTIVITY_OBJECTS:
        return Plan(
            object_type, sobject, [names[f"{sobject}.{c}"] for c in ACTIVITY_COLUMNS[sobject]]
        )
    link = _link(fields, deal) if object_type == "leads" else None
    shape = _shape(settings, object_type, sobject, names, segments, link)
    closure = _closure(settings, object_type, fields, shape)
    if closure is not None:
        shape = replace(shape, closure=closure)
    return Plan(object_type, sobject, shape.columns(), shape)


def _closure(
    settings: SalesforceSource,
    object_type: str,
    fields: Mapping[str, Mapping[str, Any]],
    shape: Shape,
) -> Closure | None:
    """How this object's rows say they closed, from the fields the
    integration user can read; None (and a log line) when it cannot tell."""

    def field(name: str, types: frozenset[str]) -> str | None:
        found = fields.get(name.lower())
        return str(found["name"]) if found and found.get("type") in types else None

    if object_type == "opportunities":
        flag, at = field(IS_CLOSED, frozenset({"boolean"})), shape.stages.get("won_at")
        if flag and at:
            return Closure(at, flag=flag)
        log.info("%s has no readable IsClosed: no deal is closed lost", shape.sobject)
        return None
    if not settings.closed_lead_statuses:
        return None
    status = field(settings.fields.status, frozenset({"picklist", "string"}))
    converted = field(IS_CONVERTED, frozenset({"boolean"}))
    at = field(LAST_MODIFIED, INSTANT_TYPES)
    if status and converted and at:
        statuses = frozenset(settings.closed_lead_statuses)
        return Closure(at, status=status, statuses=statuses, converted=converted)
    log.info(
        "%s lacks a readable %s, IsConverted or LastModifiedDate: no lead is closed",
        shape.sobject,
        settings.fields.status,
    )
    return None


def _link(fields: Mapping[str, Mapping[str, Any]], deal: Shape | None) -> Link | None:
    """How a lead reaches its opportunity's won flag and date, if it can.
    Without it persons carry no won date and SQL→won is planned from its
    configured rate or fallback, as before."""
    found = fields.get(CONVERTED_FIELD)
    if deal is None or deal.won is None or "won_at" not in deal.stages:
        return None  # the opportunities' own plan says what is wrong with them
    relation = found.get("relationshipName") if found else None
    if found is None or not relation or deal.sobject not in (found.get("referenceTo") or []):
        log.info(
            "leads carry no won date: the integration user cannot follow "
            "Lead.ConvertedOpportunityId to %s",
            deal.sobject,
        )
        return None
    return Link(found["name"], str(relation), deal.won, deal.stages["won_at"])


def _shape(
    settings: SalesforceSource,
    object_type: str,
    sobject: str,
    names: Mapping[str, str],
    segments: Mapping[str, str],
    link: Link | None,
) -> Shape:
    def stages(prefix: str, attrs: tuple[str, ...]) -> dict[str, str]:
        return {a: names[f"{prefix}.{a}"] for a in attrs if f"{prefix}.{a}" in names}

    instance, name = settings.instance_url, names["name"]
    if object_type == "opportunities":
        return Shape(
            object_type,
            sobject,
            "deal",
            instance,
            stages=stages("deal_fields", ("won_at", "sql_at")),
            name=name,
            amount=names["deal_fields.amount"],
            won=names["deal_fields.won"],
            segments=segments,
        )
    lead = settings.fields
    return Shape(
        object_type,
        sobject,
        "person",
        instance,
        stages=stages("fields", ("lead_at", "mql_at", "sql_at", "first_touch_at", "assigned_at")),
        name=name,
        status=names.get("fields.status"),
        status_stages={s: frozenset(v) for s, v in lead.status_stages.items()},
        status_at=names.get("fields.status_at"),
        segments=segments,
        link=link,
    )
