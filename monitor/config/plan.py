"""A goal's commitments and costs: what each team promises, and what the
plan may spend and handle (docs/plan.md).

Both teams commit in the same terms: a volume of a stage (``mql: 600``) or
a conversion rate (``rates: {sql_to_won: 0.2}``). The team that owns a
commitment defaults to the team that owns its stage (the upper stage for a
rate); ``owners`` says otherwise, e.g. SQLs as marketing's count of
sales-ready leads, or MQL→SQL as sales's acceptance rate.
"""

from __future__ import annotations

from typing import Annotated, Literal, cast

from pydantic import Field, model_validator

from monitor.config.types import StrictModel
from monitor.interfaces import RATE_STAGES, RateName, Stage

Team = Literal["marketing", "sales"]
#: Who owns each stage's volume when a commitment does not say.
STAGE_TEAM: dict[Stage, Team] = {
    "visit": "marketing",
    "lead": "marketing",
    "mql": "marketing",
    "sql": "sales",
    "won": "sales",
}
#: A committed rate planned with: below this no volume is finite.
MIN_COMMITTED_RATE = 1e-6
#: The largest cost, budget or capacity a plan takes (the largest revenue goal).
MAX_AMOUNT = 1e15

Volume = Annotated[int, Field(ge=0)]
CommittedRate = Annotated[float, Field(ge=MIN_COMMITTED_RATE, le=1)]
Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT)]
PerMonth = Annotated[int, Field(gt=0, le=10**12)]


class Commitments(StrictModel):
    """What the teams promise for the goal's period: a volume per stage
    and a conversion rate per transition."""

    visit: Volume | None = None
    """Visits marketing promises for the period."""
    lead: Volume | None = None
    """Leads marketing promises for the period, e.g. 1500."""
    mql: Volume | None = None
    """MQLs marketing promises for the period, e.g. 600."""
    sql: Volume | None = None
    """SQLs promised for the period (sales's by default; marketing's sales-ready leads with owners: {sql: marketing})."""
    won: Volume | None = None
    """Won deals sales promises for the period."""
    rates: dict[RateName, CommittedRate] = Field(default_factory=dict)
    """Committed conversion rates, e.g. {mql_to_sql: 0.35, sql_to_won: 0.2}; one below the plan's rate is a gap."""
    owners: dict[Stage | RateName, Team] = Field(default_factory=dict)
    """Which team (marketing or sales) owns a commitment, when not the team of its stage."""

    def volume(self, stage: Stage) -> int | None:
        value: int | None = getattr(self, stage)
        return value

    def owner(self, key: Stage | RateName) -> Team:
        """The team behind a stage's volume or a rate."""
        if key in self.owners:
            return self.owners[key]
        if key in RATE_STAGES:
            return STAGE_TEAM[RATE_STAGES[cast(RateName, key)][0]]
        return STAGE_TEAM[cast(Stage, key)]


class PlanCosts(StrictModel):
    """What the plan costs and what it may use. ``cost``: marketing's cost
    per record of a stage (a visit, a lead); ``spend_per_month``: spend
    that does not grow with volume (programs, tools, people); ``budget``:
    marketing's budget for the whole goal period; ``capacity``: the most
    records of a stage a team can handle per month (leads marketing can
    nurture, SQLs sales can work)."""

    cost: dict[Stage, Amount] = Field(default_factory=dict)
    """Marketing's cost per record of a stage, e.g. {visit: 0.5, lead: 40}."""
    spend_per_month: Amount | None = None
    """Spend that does not grow with volume (programs, tools, people), per month."""
    budget: Amount | None = None
    """Marketing's budget for the whole goal period; a plan that needs more is reported."""
    capacity: dict[Stage, PerMonth] = Field(default_factory=dict)
    """The most records of a stage a team can handle per month, e.g. {lead: 1200, sql: 120}."""

    @model_validator(mode="after")
    def _budget_has_costs(self) -> PlanCosts:
        if self.budget is not None and not self.cost and self.spend_per_month is None:
            raise ValueError(
                "a budget needs what the plan costs: cost per record (e.g. cost: {lead: 40}) "
                "or spend_per_month"
            )
        return self
