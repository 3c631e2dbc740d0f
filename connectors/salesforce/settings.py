"""Config of a Salesforce source (``kind: salesforce``): login flows, the
field map from Salesforce fields to funnel stages, paging and quota knobs.

Config only: nothing here talks to Salesforce. Every object and field name
is checked at load to be a plain Salesforce API name, because names are
placed into SOQL text: ``MQL_Date__c) OR (Name != ''`` must never reach a
query. The connector checks the same names against ``describe`` before use.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from monitor.config.sources import SourceBase
from monitor.config.types import Duration, HttpsUrl, Secret, StrictModel

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def api_name(value: str) -> str:
    """A Salesforce object or field API name: letters, digits and
    underscores, starting with a letter (``Lead``, ``MQL_Date__c``,
    ``ns__Score__c``)."""
    if not _API_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Salesforce API name: use letters, digits and "
            "underscores, starting with a letter (e.g. MQL_Date__c)"
        )
    return value


ApiName = Annotated[str, AfterValidator(api_name)]

#: The login flows, as (required fields, optional fields). The auth block
#: must match exactly one of them.
FLOWS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "session_id": (frozenset({"session_id"}), frozenset()),
    "password": (frozenset({"username", "password"}), frozenset({"security_token"})),
    "oauth_password": (
        frozenset({"username", "password", "consumer_key", "consumer_secret"}),
        frozenset({"security_token"}),
    ),
    "jwt": (frozenset({"username", "consumer_key", "private_key_file"}), frozenset()),
    "client_credentials": (frozenset({"consumer_key", "consumer_secret"}), frozenset()),
}
_FLOW_FIELDS = frozenset().union(*(req | opt for req, opt in FLOWS.values()))
LOGIN_FLOWS = frozenset(FLOWS) - {"session_id"}


class SalesforceAuth(StrictModel):
    """Exactly one of:

    - ``session_id`` (a session a person obtained; cannot be renewed);
    - ``username`` + ``password`` (+ ``security_token``): SOAP login;
    - ``username`` + ``password`` + ``consumer_key`` + ``consumer_secret``
      (+ ``security_token``): OAuth username-password flow;
    - ``username`` + ``consumer_key`` + ``private_key_file``: OAuth JWT bearer;
    - ``consumer_key`` + ``consumer_secret``: OAuth client credentials (needs
      the My Domain ``login_url``).

    ``login_url`` is where the login flows authenticate: the production login
    host, ``https://test.salesforce.com`` for sandboxes, or the org's My Domain.
    """

    session_id: Secret | None = None
    """A session id a person obtained (cannot be renewed)."""
    username: str | None = None
    """Salesforce username of the integration user."""
    password: Secret | None = None
    """Password, best as ${SF_PASSWORD}."""
    security_token: Secret | None = None
    """Security token appended to the password, best as ${SF_SECURITY_TOKEN}."""
    consumer_key: str | None = None
    """Connected app's consumer key (OAuth flows)."""
    consumer_secret: Secret | None = None
    """Connected app's consumer secret, best as ${SF_CONSUMER_SECRET}."""
    private_key_file: str | None = None
    """Path of the private key for the JWT bearer flow."""
    login_url: HttpsUrl = "https://login.salesforce.com"
    """Where to log in: https://login.salesforce.com, https://test.salesforce.com or your My Domain."""
    audience: str | None = None
    """JWT audience; default: the login server."""

    @model_validator(mode="after")
    def _one_flow(self) -> SalesforceAuth:
        flow = self.flow
        if flow == "client_credentials" and self.login_url in (
            "https://login.salesforce.com",
            "https://test.salesforce.com",
        ):
            raise ValueError(
                "the client credentials flow needs your My Domain as login_url, "
                "e.g. https://acme.my.salesforce.com"
            )
        return self

    @property
    def flow(self) -> str:
        """The one login flow the given fields make up (validated at load)."""
        given = frozenset(f for f in _FLOW_FIELDS if getattr(self, f) is not None)
        matches = [name for name, (req, opt) in FLOWS.items() if req <= given <= req | opt]
        if len(matches) == 1:
            return matches[0]
        raise ValueError(_flow_error(given))

    @property
    def jwt_audience(self) -> str:
        """The JWT ``aud``: Salesforce wants the login server's name, not the
        My Domain, so sandboxes use test.salesforce.com."""
        if self.audience:
            return self.audience
        sandbox = self.login_url == "https://test.salesforce.com" or self.login_url.endswith(
            ".sandbox.my.salesforce.com"
        )
        return "https://test.salesforce.com" if sandbox else "https://login.salesforce.com"


def _flow_error(given: frozenset[str]) -> str:
    """Say which flow the fields come closest to and what to add or remove."""
    if not given:
        return (
            "give one login flow: session_id; username + password; "
            "username + password + consumer_key + consumer_secret; "
            "username + consumer_key + private_key_file (JWT); "
            "or consumer_key + consumer_secret (client credentials)"
        )

    def distance(name: str) -> int:
        req, opt = FLOWS[name]
        return len(req - given) + len(given - req - opt)

    best = min(FLOWS, key=distance)
    req, opt = FLOWS[best]
    parts = []
    if missing := sorted(req - given):
        parts.append(f"missing {', '.join(missing)}")
    if extra := sorted(given - req - opt):
        parts.append(f"remove {', '.join(extra)}")
    hint = "; ".join(parts)
    return f"the fields given make no complete login flow (closest: {best}: {hint})"


class LeadFields(StrictModel):
    """Where each person stage lives on the Lead. A stage given as a field
    wins; otherwise ``status_stages`` maps Status values to a stage (a lead
    at an SQL status has also reached MQL), entered at ``status_at`` — a
    field stamped when Status changes, which Salesforce does not keep by
    default. ``first_touch_at: activities`` derives the first touch from the
    earliest completed Task or Event on the lead."""

    sobject: ApiName = "Lead"
    """The object holding leads."""
    lead_at: ApiName = "CreatedDate"
    """Datetime field of when the record became a lead."""
    mql_at: ApiName | None = None
    """Datetime field stamped when the lead became an MQL."""
    sql_at: ApiName | None = None
    """Datetime field stamped when the lead became an SQL."""
    first_touch_at: Literal["activities"] | ApiName | None = None
    """Datetime field of the first touch, or activities (earliest completed Task or Event)."""
    assigned_at: ApiName | None = None
    """Datetime field of when the current owner was assigned."""
    status: ApiName = "Status"
    """Picklist field holding the lead's status."""
    status_stages: dict[Literal["mql", "sql"], tuple[str, ...]] = Field(default_factory=dict)
    """Status values that mean a stage, e.g. {mql: [Working], sql: [Qualified]}."""
    status_at: ApiName | None = None
    """Datetime field stamped when Status changes (needed with status_stages)."""

    @model_validator(mode="after")
    def _status_needs_time(self) -> LeadFields:
        if self.status_stages and self.status_at is None:
            raise ValueError(
                "status_stages needs status_at: the datetime field stamped when Status "
                "changes (e.g. Status_Changed__c)"
            )
        return self


class DealFields(StrictModel):
    """Where a won deal lives on the Opportunity. ``amount`` is a number
    field or a text field holding one ("12,500 USD"). ``sql_at`` optionally
    stamps opportunity creation (e.g. ``CreatedDate``) on the deal as its
    SQL instant; it is stored, but SQLs are counted from leads."""

    sobject: ApiName = "Opportunity"
    """The object holding deals."""
    won: ApiName = "IsWon"
    """Checkbox field that is true for a won deal."""
    won_at: ApiName = "CloseDate"
    """Date field of when the deal was won."""
    amount: ApiName = "Amount"
    """Field holding the deal amount (a number, or text holding one)."""
    sql_at: ApiName | None = None
    """Field stamped on the deal as its SQL instant, e.g. CreatedDate (optional)."""


class SalesforceSource(SourceBase):
    """A Salesforce org. ``quota_guard``: stop syncing before this share of
    the org's daily API allowance is used (other integrations share it).
    ``bulk_threshold``: a pull with more rows than this left after its first
    page goes through Bulk API 2.0 (None: never). ``closed_lead_statuses``:
    a lead not converted whose Status is one of these was disqualified, so it
    is no longer stalled in its stage; an opportunity is closed when lost
    (``IsClosed`` and not won). Without closures the source's stalls are not
    judged (docs/design.md, "Where prospects stall")."""

    kind: Literal["salesforce"]
    """salesforce: a Salesforce org."""
    # The client library builds every URL as https://<host>; saying so here
    # beats a TLS error against a plain-HTTP proxy later.
    instance_url: HttpsUrl
    """Your org's URL, e.g. https://acme.my.salesforce.com."""
    auth: SalesforceAuth
    """One login flow: session_id; username + password; OAuth username-password; JWT; or client credentials."""
    api_version: str = Field(default="59.0", pattern=r"^\d{2,3}\.0$")
    """REST API version, e.g. "59.0"."""
    fields: LeadFields = Field(default_factory=LeadFields)
    """Where each person stage lives on the Lead."""
    deal_fields: DealFields = Field(default_factory=DealFields)
    """Where a won deal lives on the Opportunity."""
    closed_lead_statuses: tuple[str, ...] = ("Closed - Not Converted",)
    """Lead Status values that close a lead not converted, e.g. ["Closed - Not Converted"] ([]: none)."""
    ca_bundle: str | None = None
    """Path of a CA bundle for a TLS-inspecting proxy."""
    quota_guard: float = Field(default=0.8, gt=0, le=1)
    """Stop syncing before this share of the org's daily API allowance is used."""
    page_size: int = Field(default=2000, ge=200, le=2000)
    """Records per query page."""
    bulk_threshold: int | None = Field(default=20_000, ge=0)
    """Rows after the first page above which Bulk API 2.0 is used (null: never)."""
    bulk_page_size: int = Field(default=50_000, ge=1000)
    """Records per Bulk API result page."""
    bulk_poll_seconds: int = Field(default=5, ge=0, le=300)
    """Seconds between polls of a Bulk API job."""
    look_back: Duration | None = timedelta(minutes=2)
    """How far before the cursor an incremental sync re-reads, e.g. 2m (null: not at all)."""
    timeout: Duration = timedelta(seconds=60)
    """How long to wait for one Salesforce request, e.g. 60s."""
    retries: int = Field(default=3, ge=0, le=10)
    """Retries of a failed request before the sync fails."""

    @field_validator("segments")
    @classmethod
    def _segment_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for attr, field in value.items():
            try:
                api_name(field)
            except ValueError as exc:
                raise ValueError(f"segments.{attr}: {exc}") from None
        return value
