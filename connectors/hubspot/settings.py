"""Config of a HubSpot source (``kind: hubspot``): endpoints, property names
and their defaults.

This module is configuration only (it never imports the HubSpot client), so
loading a config file stays cheap and the connector reads every vendor name
from one place. Property defaults (docs/design.md, "HubSpot"): the
stage-calculated ``hs_v2_date_entered_*`` properties first, the legacy "became
a … date" properties second (they are cleared when someone moves a contact
back down the lifecycle), and the deal's ``hs_is_closed_won`` flag rather
than a stage id, because portals reuse stage ids for unrelated labels.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from monitor.config.sources import SourceBase
from monitor.config.types import Duration, HttpUrl, Secret, StrictModel

DEFAULT_API_URL = "https://api.hubapi.com"
DEFAULT_APP_URL = "https://app.hubspot.com"

#: The last-modified property each object type is windowed and sorted on:
#: contacts and deals spell it differently (docs/design.md, "HubSpot").
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
#: HubSpot's object type ids, as they appear in record deep links.
OBJECT_TYPE_IDS = {"contacts": "0-1", "deals": "0-3"}
ID_PROPERTY = "hs_object_id"
#: Set on the surviving record of a merge: ``;``-separated ids that are gone.
MERGED_IDS_PROPERTY = "hs_merged_object_ids"
#: The contact's lead status, whose closed values mean "disqualified".
LEAD_STATUS_PROPERTY = "hs_lead_status"
#: True on a deal in a closed stage, won or lost.
DEAL_CLOSED_PROPERTY = "hs_is_closed"

#: The slowest pacing: one request every 100 s. Slower paces overflow the
#: wait between requests and sync nothing in any useful time.
MIN_REQUESTS_PER_SECOND = 0.01

SEARCH_PAGE = 200  # the search endpoint's largest page
SEARCH_CAP = 10_000  # results one search query may page through; past it HubSpot answers 400
LIST_PAGE = 100  # the list endpoints' largest page (records, archived records, owners)

#: Private-app token introspection; the token travels in the body, never in
#: a URL that an HTTP debug log would print.
APP_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"
#: Legacy analytics report: website sessions per day, for the ``visit`` stage.
SESSIONS_PATH = "/analytics/v2/reports/totals/daily"

#: The scope each part of a sync needs (shown by ``alignmon check``).
SCOPES = {
    "contacts": "crm.objects.contacts.read",
    "deals": "crm.objects.deals.read",
    "owners": "crm.objects.owners.read",
    "visits": "business-intelligence",
}


class StageDates(StrictModel):
    """Contact properties holding the instant a contact entered each stage,
    tried in order; the first one set wins. ``won`` is the customer date,
    copied to the person for cohort rates (won deals come from deals)."""

    lead: tuple[str, ...] = ("hs_v2_date_entered_lead", "hs_lifecyclestage_lead_date")
    """Contact properties holding when it became a lead, tried in order."""
    mql: tuple[str, ...] = (
        "hs_v2_date_entered_marketingqualifiedlead",
        "hs_lifecyclestage_marketingqualifiedlead_date",
    )
    """Contact properties holding when it became an MQL, tried in order."""
    sql: tuple[str, ...] = (
        "hs_v2_date_entered_salesqualifiedlead",
        "hs_lifecyclestage_salesqualifiedlead_date",
    )
    """Contact properties holding when it became an SQL, tried in order."""
    won: tuple[str, ...] = ("hs_v2_date_entered_customer", "hs_lifecyclestage_customer_date")
    """Contact properties holding when it became a customer, tried in order."""


class HubSpotSource(SourceBase):
    """A HubSpot portal reached with a private-app token.

    ``lead_fallback``: when no lead date is set, the contact became a lead
    when it was created, unless its lifecycle stage is one of ``not_leads``
    (newsletter subscribers are contacts, not leads). ``first_touch``: the
    current owner's first sales engagement, which pairs with ``assigned``
    (the current owner's assignment) so the follow-up clock of a reassigned
    lead restarts with its new owner; either may be null to leave it out.
    ``visits`` reads daily website sessions (needs the
    ``business-intelligence`` scope). ``lookback`` is how far before the
    cursor an incremental sync re-reads: HubSpot's search index shows fresh
    changes "after a few moments", so a change can surface behind the cursor.

    ``closed_lead_statuses``: a contact whose lead status is one of these
    was disqualified, so it is no longer stalled in its stage; a deal is
    closed when lost (``hs_is_closed`` and not ``hs_is_closed_won``). Without
    closures the source's stalls are not judged (docs/design.md, "Where
    prospects stall").

    HubSpot gives an account two budgets: search, per second (5), and every
    other endpoint, per ten seconds (190 for a Professional portal's private
    app). ``requests_per_second`` paces searches and ``requests_per_10s`` the
    rest; both default below the limits, leaving room for the portal's other
    apps (5 searches a second drew 429s from the fake portal's rolling
    window: one late request puts six in a second). A first sync reads
    through both budgets at once.
    """

    kind: Literal["hubspot"]
    """hubspot: a HubSpot portal reached with a private-app token."""
    token: Secret
    """Private-app token, best as ${HUBSPOT_TOKEN}."""
    api_url: HttpUrl = DEFAULT_API_URL
    """HubSpot API base URL."""
    portal_id: int | None = None
    """Your portal (hub) id, for record links in Slack messages."""
    app_url: str = DEFAULT_APP_URL
    """HubSpot app base URL, for record links."""
    requests_per_second: float = Field(default=4.0, ge=MIN_REQUESTS_PER_SECOND, le=100)
    """Searches per second (HubSpot allows 5 per account; the default leaves room for other apps)."""
    requests_per_10s: float = Field(default=150.0, ge=MIN_REQUESTS_PER_SECOND * 10, le=1000)
    """Requests per 10 seconds to every endpoint but search (HubSpot allows 190 for a private app; the default leaves room for other apps)."""

    stage_dates: StageDates = StageDates()
    """Contact properties holding the instant each stage was entered."""
    lead_fallback: str | None = "createdate"
    """Property used as the lead date when no lead date is set (null: none)."""
    not_leads: tuple[str, ...] = ("subscriber",)
    """Lifecycle stages whose contacts are not leads, e.g. [subscriber]."""
    closed_lead_statuses: tuple[str, ...] = ("UNQUALIFIED",)
    """Lead status values (hs_lead_status) that close a contact, e.g. [UNQUALIFIED] ([]: none)."""
    first_touch: str | None = "hs_sa_first_engagement_date"
    """Property holding the owner's first sales engagement (null: no SLA clock)."""
    assigned: str | None = "hubspot_owner_assigneddate"
    """Property holding when the current owner was assigned (null: none)."""
    deal_amount: str = "amount"
    """Deal property holding the amount."""
    deal_won_date: str = "closedate"
    """Deal property holding the close date."""
    visits: bool = False
    """Read daily website sessions for the visits stage (needs the business-intelligence scope)."""
    visits_backfill_days: int = Field(default=365, ge=1, le=3650)
    """Days of website sessions read on the first sync."""

    lookback: Duration = timedelta(minutes=5)
    """How far before the cursor an incremental sync re-reads, e.g. 5m."""
    timeout: Duration = timedelta(seconds=30)
    """How long to wait for one HubSpot request, e.g. 30s."""
    retries: int = Field(default=5, ge=0, le=20)
    """Retries of a failed request before the sync fails."""
    retry_backoff: Duration = timedelta(seconds=1)
    """First wait between retries, doubled each time, e.g. 1s."""
