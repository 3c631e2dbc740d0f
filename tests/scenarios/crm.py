"""A generated funnel (tests/scenarios/generator.py) loaded into the fake
CRMs, as each CRM would hold it at a given instant.

``HubSpotLoad`` and ``SalesforceLoad`` take a ``History`` and, on each
``load(at)``, put into their fake what the CRM would show at ``at``: only
the stage entries, owner assignments, touches and wins dated before it, each
record modified at the latest of its own events. Loading again at a later
instant changes only the records whose own events changed, as the CRM
would: a HubSpot contact when it enters a stage (customer included), a
Salesforce lead when it enters a stage or is converted, but not when its
opportunity is won, which modifies the opportunity alone.

One funnel, two CRMs:

- **HubSpot**: a contact per person, its lifecycle dates in the
  ``hs_v2_date_entered_*`` properties, the customer date when it won; a deal
  per SQL, created then, closed won with its amount and close date when the
  person won. Nothing reads associations: a contact's customer date is its
  link to the won deal.
- **Salesforce**: a lead per person (``CreatedDate``, ``MQL_Date__c``,
  ``SQL_Date__c``, ``First_Touch__c``), owned by the inbound queue until its
  rep takes it at MQL, converted at SQL into a new opportunity
  (``ConvertedOpportunityId``); the opportunity is won at the person's won
  date (``CloseDate``, a date) with its amount.

Reps become owners of the same email and name in both CRMs, so follow-up
findings name the same people. Every third won deal's amount is text, as a
person types it ("$24,000.00"), in both CRMs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.interfaces import FunnelRecord
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.scenarios.generator import History, Rep


@dataclass(frozen=True)
class Person:
    """One person of the history and its won deal, if any."""

    index: int
    record: FunnelRecord
    deal: FunnelRecord | None

    def seen(self, at: datetime) -> dict[str, datetime | None]:
        """The person's events dated before ``at``, by stage, to the second:
        Salesforce keeps no finer, so neither CRM is given more."""
        r = self.record
        events = {
            "lead": r.lead_at,
            "mql": r.mql_at,
            "sql": r.sql_at,
            "won": r.won_at,
            "touch": r.first_touch_at,
        }
        return {
            k: v.replace(microsecond=0) if v is not None and v < at else None
            for k, v in events.items()
        }


def people(history: History) -> list[Person]:
    """The persons, each with the deal the generator made when it won (in
    person order, one deal per won person)."""
    deals = iter(history.deals)
    return [
        Person(i, p, next(deals) if p.won_at is not None else None)
        for i, p in enumerate(history.persons)
    ]


def reps_of(history: History) -> dict[str, Rep]:
    return {
        p.owner_email: Rep(p.owner_id or "", p.owner_name or "", p.owner_email)
        for p in history.persons
        if p.owner_email
    }


def typed(person: Person) -> str | float | None:
    """The won deal's amount: every third as text, the rest a number."""
    amount = person.deal.amount if person.deal else None
    if amount is None or person.index % 3:
        return amount
    return f"${amount:,.2f}"


def _latest(*instants: datetime | None) -> datetime:
    return max(t for t in instants if t is not None)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: Each stage's lifecycle stage in HubSpot.
LIFECYCLE = {
    "lead": "lead",
    "mql": "marketingqualifiedlead",
    "sql": "salesqualifiedlead",
    "won": "customer",
}


class HubSpotLoad:
    """The funnel in a fake HubSpot portal."""

    def __init__(self, fake: FakeHubSpot, history: History) -> None:
        self.fake = fake
        self.people = people(history)
        self.owners: dict[str, str] = {}
        for n, rep in enumerate(reps_of(history).values()):
            owner_id = str(700 + n)
            first, _, last = rep.name.partition(" ")
            fake.add_owner(owner_id, rep.email, first, last)
            self.owners[rep.email] = owner_id
        self.contacts: dict[int, tuple[str, dict[str, str | None]]] = {}
        self.deals: dict[int, tuple[str, dict[str, str | None]]] = {}

    def load(self, at: datetime) -> None:
        for person in self.people:
            seen = person.seen(at)
            if seen["lead"] is None:
                continue
            self._put("contacts", self.contacts, person.index, *self._contact(person, seen))
            if seen["sql"] is not None:
                self._put("deals", self.deals, person.index, *self._deal(person, seen))

    def _contact(
        self, person: Person, seen: dict[str, datetime | None]
    ) -> tuple[datetime, dict[str, str | None]]:
        reached = [stage for stage in LIFECYCLE if seen[stage] is not None]
        owned = seen["mql"] is not None and person.record.owner_email is not None
        props: dict[str, str | None] = {
            f"hs_v2_date_entered_{name}": _iso(seen[stage]) for stage, name in LIFECYCLE.items()
        }
        props |= {
            "firstname": "Lead",
            "lastname": str(person.index + 1),
            "lifecyclestage": LIFECYCLE[reached[-1]],
            "hubspot_owner_id": self.owners[person.record.owner_email or ""] if owned else None,
            "hubspot_owner_assigneddate": _iso(seen["mql"]) if owned else None,
            "hs_sa_first_engagement_date": _iso(seen["touch"]),
        }
        return _latest(*seen.values()), props

    def _deal(
        self, person: Person, seen: dict[str, datetime | None]
    ) -> tuple[datetime, dict[str, str | None]]:
        won, deal = seen["won"], person.deal
        props = {
            "dealname": f"Deal of lead {person.index + 1}",
            "hs_is_closed_won": "true" if won else "false",
            "dealstage": "closedwon" if won else "qualifiedtobuy",
            "closedate": _iso(won),
            "amount": str(typed(person)) if won and deal and deal.amount is not None else None,
            "hubspot_owner_id": self.owners.get(person.record.owner_email or ""),
        }
        return _latest(seen["sql"], won), props

    def _put(
        self,
        object_type: str,
        loaded: dict[int, tuple[str, dict[str, str | None]]],
        index: int,
        modified: datetime,
        props: dict[str, str | None],
    ) -> None:
        """Create the record, or change it if its properties changed."""
        if index not in loaded:
            (rid,) = self.fake.add(object_type, [modified], generated=False)
        else:
            rid, before = loaded[index]
            if before == props:
                return
            self.fake.modify(object_type, [rid], modified)
        self.fake.set_props(object_type, rid, **props)
        loaded[index] = (rid, props)


class SalesforceLoad:
    """The funnel in a fake Salesforce org."""

    def __init__(self, fake: FakeSalesforce, history: History) -> None:
        self.fake = fake
        self.people = people(history)
        self.users = {
            rep.email: fake.add_owner("User", rep.email, rep.name)
            for rep in reps_of(history).values()
        }
        self.leads: dict[int, tuple[str, dict[str, Any]]] = {}
        self.opportunities: dict[int, tuple[str, dict[str, Any]]] = {}

    def load(self, at: datetime) -> None:
        for person in self.people:
            seen = person.seen(at)
            if seen["lead"] is None:
                continue
            if seen["sql"] is not None:
                self._put("Opportunity", self.opportunities, person.index, self._deal(person, seen))
            converted = self.opportunities.get(person.index, ("", {}))[0] or None
            self._put("Lead", self.leads, person.index, self._lead(person, seen, converted))

    def _lead(
        self, person: Person, seen: dict[str, datetime | None], converted: str | None
    ) -> dict[str, Any]:
        owner = self.users.get(person.record.owner_email or "") if seen["mql"] else None
        sql = seen["sql"]
        return {
            "SystemModstamp": _latest(seen["lead"], seen["mql"], sql, seen["touch"]),
            "CreatedDate": seen["lead"],
            "Name": f"Lead {person.index + 1}",
            "Company": f"Company {person.index + 1}",
            "OwnerId": owner or self.fake.queue,
            "Status": "Qualified" if sql else "Working" if seen["mql"] else "Open",
            "MQL_Date__c": seen["mql"],
            "SQL_Date__c": sql,
            "First_Touch__c": seen["touch"],
            "IsConverted": sql is not None,
            "ConvertedDate": sql.date() if sql else None,
            "ConvertedOpportunityId": converted,
        }

    def _deal(self, person: Person, seen: dict[str, datetime | None]) -> dict[str, Any]:
        won, sql = seen["won"], seen["sql"]
        assert sql is not None
        return {
            "SystemModstamp": _latest(sql, won),
            "CreatedDate": sql,
            "Name": f"Deal of lead {person.index + 1}",
            "OwnerId": self.users.get(person.record.owner_email or "", self.fake.queue),
            "StageName": "Closed Won" if won else "Qualification",
            "IsWon": won is not None,
            "IsClosed": won is not None,
            "CloseDate": won.date() if won else None,
            "Amount": typed(person) if won else None,
        }

    def _put(
        self,
        sobject: str,
        loaded: dict[int, tuple[str, dict[str, Any]]],
        index: int,
        fields: dict[str, Any],
    ) -> None:
        """Create the record, or change it if its fields changed."""
        if index not in loaded:
            loaded[index] = (self.fake.add(sobject, **fields), fields)
            return
        record_id, before = loaded[index]
        if before != fields:
            changed = {k: v for k, v in fields.items() if k != "SystemModstamp"}
            self.fake.modify(sobject, [record_id], fields["SystemModstamp"], **changed)
            loaded[index] = (record_id, fields)
