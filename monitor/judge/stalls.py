"""Where prospects stall (docs/design.md, "Where prospects stall"): records
that sat in a stage longer than its transition usually takes, without
moving on or being closed, per stage and owner.

"Usually takes" is a quantile of the transition's learned lag curve
(``lags.py``; p90 by default), so a slow SQL→won cycle is not mistaken for a
stall and a quick lead→MQL one is not waited on for weeks. A stage is
judged on the share of its open records that are stalled, once it has
enough open records for a share to mean something. Pure: the store counts
the records (``StageOpen``), this module words what they say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config.stalls import QUANTILES, StallBeyond, Stalls
from monitor.display import shown_name
from monitor.facts import StageOpen, StalledRecord
from monitor.findings import Finding
from monitor.interfaces import RATE_STAGES, PersonStage, RateName, Severity
from monitor.judge import format as fmt
from monitor.judge.lags import LagCurve

#: The stages records can sit in, top to bottom, and the transition out of each.
STALL_STAGES: Mapping[PersonStage, RateName] = {
    "lead": "lead_to_mql",
    "mql": "mql_to_sql",
    "sql": "sql_to_won",
}
#: ``by_owner``'s key for the records nobody owns.
UNASSIGNED = "unassigned"


def beyond_days(setting: StallBeyond, curve: LagCurve | None) -> int | None:
    """How many days a record may sit before it is stalled: as configured,
    else the lag quantile of the learned curve (at least a day), or None
    while the transition's lag is not learned."""
    if isinstance(setting, int):
        return setting
    if curve is None:
        return None
    return max(1, curve.quantile(QUANTILES[setting]))


@dataclass(frozen=True, slots=True)
class StageStall:
    """One stage of one goal as of ``as_of``: its open records and the
    stalled ones, sitting there more than ``beyond_days`` (``basis``: the lag
    quantile that came from, or None when configured in days)."""

    goal: str
    stage: PersonStage
    beyond_days: int
    basis: str | None
    as_of: datetime
    counts: StageOpen

    @property
    def rate(self) -> RateName:
        return STALL_STAGES[self.stage]

    @property
    def open(self) -> int:
        return sum(self.counts.open.values())

    @property
    def stalled(self) -> int:
        return sum(self.counts.stalled.values())

    @property
    def share(self) -> float | None:
        return self.stalled / self.open if self.open else None

    def owner_name(self, owner: str | None) -> str:
        """The owner as people read it: the CRM name, else the email."""
        if not owner:
            return UNASSIGNED
        return shown_name(self.counts.owner_names.get(owner) or owner)

    def days_in_stage(self, record: StalledRecord) -> int:
        return (self.as_of - record.entered_at).days

    def headline(self) -> str:
        """``12 SQLs stalled beyond 21 days (p90)``."""
        basis = f" ({self.basis})" if self.basis else ""
        noun = fmt.stage_noun(self.stage, self.stalled)
        return f"{fmt.count(self.stalled)} {noun} stalled beyond {self.beyond_days} days{basis}"

    def oldest_line(self, record: StalledRecord) -> str:
        """``Dana Berg, Contoso (Jordan Ellis, 48 days)``: CRM text, escaped
        by whoever renders it."""
        owner = self.owner_name(record.owner_email)
        return f"{record.name} ({owner}, {self.days_in_stage(record)} days)"

    def to_dict(self) -> dict[str, object]:
        """The ``stalls`` entries of ``status --format json``."""
        owners = sorted(set(self.counts.open) | set(self.counts.stalled))
        return {
            "goal": self.goal,
            "stage": self.stage,
            "open": self.open,
            "stalled": self.stalled,
            "share": None if self.share is None else round(self.share, 4),
            "beyond_days": self.beyond_days,
            "beyond": self.basis,
            "by_owner": {
                owner or UNASSIGNED: {
                    "name": self.counts.owner_names.get(owner),
                    "open": self.counts.open.get(owner, 0),
                    "stalled": self.counts.stalled.get(owner, 0),
                }
                for owner in owners
            },
            "oldest": [
                {
                    "crm_id": record.crm_id,
                    "name": record.name,
                    "owner": record.owner_email,
                    "owner_name": record.owner_name,
                    "url": record.url or None,
                    "entered_at": record.entered_at.isoformat(),
                    "days": self.days_in_stage(record),
                }
                for record in self.counts.oldest
            ],
        }


def stalled_before(as_of: datetime, days: int) -> datetime:
    """Records that entered a stage before this instant have sat in it for
    more than ``days`` at ``as_of``."""
    return as_of - timedelta(days=days)


def judged(settings: Stalls, stall: StageStall) -> bool:
    """Whether the stage has enough open records for its share to count."""
    return stall.open >= settings.min_records


def finding(
    settings: Stalls, stall: StageStall, source: str, channel: str | None
) -> Finding | None:
    """A ``stalled`` warning when more than ``threshold`` of the stage's open
    records are stalled; it names who holds them and links the oldest."""
    share = stall.share
    if share is None or not judged(settings, stall) or share <= settings.threshold:
        return None
    noun = fmt.stage_noun(stall.stage)
    upper, lower = RATE_STAGES[stall.rate]
    usual = (
        f"the {stall.basis} lag of past {fmt.rate_label(upper, lower)} conversions"
        if stall.basis
        else "the configured wait"
    )
    by_owner = sorted(stall.counts.stalled.items(), key=lambda item: (-item[1], item[0]))
    owners = ", ".join(f"{stall.owner_name(owner)} {n}" for owner, n in by_owner)
    text = (
        f"{fmt.count(stall.stalled)} of {fmt.count(stall.open)} open {noun} "
        f"({fmt.percent(share)}) have sat in the stage for more than {stall.beyond_days} days, "
        f"{usual}, without moving on or being closed. By owner: {owners}."
    )
    return Finding(
        rule="stalled",
        subject=stall.goal,
        severity=Severity.WARNING,
        title=stall.headline(),
        text=text,
        source=source,
        stage=stall.stage,
        metric=share,
        items=tuple((stall.oldest_line(r), r.url) for r in stall.counts.oldest),
        channel=channel,
        data=stall.to_dict(),
    )
