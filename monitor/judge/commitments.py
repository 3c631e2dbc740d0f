"""Both teams' commitments against the plan, in the same terms: a volume
of a stage or a conversion rate, each owned by marketing or sales
(docs/plan.md).

A volume below its stage's target is short by the difference; a rate
below the one the plan uses is short by the volume it costs upstream:
sales committing to 20% SQL→won where the plan needs 25% means 380 SQLs
instead of 304 for the same 76 closes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config.plan import Commitments, Team
from monitor.interfaces import RATE_NAMES, RATE_STAGES, STAGES, RateName, Stage
from monitor.judge import format as fmt
from monitor.judge.funnel import back_from_won

# A committed rate equal to the planned one, up to float noise, is no gap.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Commitment:
    """One team's commitment and what the plan needs of it. ``rate`` is
    None for a volume commitment of ``stage``; for a rate commitment
    ``stage`` is the rate's upper stage, and ``volume`` and ``planned`` the
    volume of that stage the committed rate needs against the plan's."""

    owner: Team
    stage: Stage
    rate: RateName | None
    committed: float
    needed: float
    volume: int | None = None
    planned: int | None = None

    @property
    def short(self) -> bool:
        return self.committed < self.needed - _EPS

    @property
    def text(self) -> str:
        """``Marketing commits 150 leads, the plan needs 250 (100 short).``,
        ``Sales commits to 20% SQL→won, the plan needs 25%: 380 SQLs instead
        of 304.``"""
        team = self.owner.capitalize()
        if self.rate is None:
            committed, needed = int(self.committed), int(self.needed)
            gap = f" ({fmt.count(needed - committed)} short)" if self.short else ""
            return (
                f"{team} commits {fmt.count(committed)} "
                f"{fmt.stage_noun(self.stage, committed)}, the plan needs "
                f"{fmt.count(needed)}{gap}."
            )
        label = fmt.rate_label(*RATE_STAGES[self.rate])
        text = (
            f"{team} commits to {fmt.percent(self.committed)} {label}, the plan needs "
            f"{fmt.percent(self.needed)}"
        )
        if not self.short:
            return text + "."
        return (
            f"{text}: {fmt.count(self.volume or 0)} {fmt.stage_noun(self.stage)} "
            f"instead of {fmt.count(self.planned or 0)}."
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "owner": self.owner,
            "kind": "volume" if self.rate is None else "rate",
            "stage": self.stage,
            "rate": self.rate,
            "committed": self.committed,
            "needed": round(self.needed, 6),
            "short": self.short,
            "volume": self.volume,
            "planned": self.planned,
        }


def commitments(
    promised: Commitments, targets: Mapping[Stage, int], rates: Mapping[RateName, float]
) -> list[Commitment]:
    """Each commitment the plan can judge: volumes of stages with a target,
    rates the plan uses."""
    out = []
    for stage in STAGES:
        volume = promised.volume(stage)
        if volume is not None and stage in targets:
            out.append(Commitment(promised.owner(stage), stage, None, volume, targets[stage]))
    for name in RATE_NAMES:
        committed = promised.rates.get(name)
        if committed is None or name not in rates or "won" not in targets:
            continue
        upper = RATE_STAGES[name][0]
        replanned = back_from_won(targets["won"], {**rates, name: committed})
        out.append(
            Commitment(
                promised.owner(name),
                upper,
                name,
                committed,
                rates[name],
                replanned[upper],
                targets[upper],
            )
        )
    return out
