"""A conversion goal: a rate to reach rather than a volume ("raise
lead→MQL conversion by 5 points next quarter"; docs/rate-goals.md).

The target is given outright (``target: 0.30``) or as an improvement on a
baseline (``improve_by: 0.05``), the baseline a number or ``auto``: the
rate of the previous period of the same length, learned from history.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from monitor.config.types import StrictModel
from monitor.interfaces import RATE_NAMES

#: The transitions a rate goal can track: persons that enter one stage and
#: reach the next, counted by cohort. Visits are day totals, not persons.
RateGoalStage = Literal["lead_to_mql", "mql_to_sql", "sql_to_won"]
Share = Annotated[float, Field(gt=0, le=1)]


class RateGoal(StrictModel):
    """The conversion rate a goal aims at for its period, judged on the
    period's cohorts old enough to have converted."""

    stage: RateGoalStage
    """The conversion the goal is about: lead_to_mql, mql_to_sql or sql_to_won."""
    target: Share | None = None
    """The rate to reach in the period, 0-1, e.g. 0.30; give this or improve_by."""
    improve_by: Share | None = None
    """Points to add to the baseline, as a share: 0.05 is 5 points; give this or target."""
    baseline: Share | Literal["auto"] = "auto"
    """The rate improve_by adds to: a number 0-1, or auto (default): the previous period of the same length."""
    confidence: float = Field(default=0.90, ge=0.5, lt=1)
    """Confidence of the two-sided Wilson interval the verdict is read from, e.g. 0.90."""

    @model_validator(mode="before")
    @classmethod
    def _not_rates(cls, data: Any) -> Any:
        """``rate:`` is one letter from ``rates:``; a rate name in it is
        almost surely the planning rates in the wrong place."""
        if isinstance(data, dict) and any(key in RATE_NAMES for key in data):
            raise ValueError(
                "rate is a rate goal ({stage: lead_to_mql, target: 0.3}); the rates to plan "
                "with go under rates: did you mean 'rates'?"
            )
        return data

    @model_validator(mode="after")
    def _one_target(self) -> RateGoal:
        if (self.target is None) == (self.improve_by is None):
            raise ValueError("a rate goal gives exactly one of target or improve_by")
        if self.target is not None and "baseline" in self.model_fields_set:
            raise ValueError("baseline goes with improve_by; with target, remove it")
        fixed = self.fixed_target
        if fixed is not None and fixed > 1:
            raise ValueError(
                f"baseline {self.baseline} + improve_by {self.improve_by} is above 100%"
            )
        return self

    @property
    def fixed_target(self) -> float | None:
        """The target rate when it needs no history: given, or a numeric
        baseline plus the improvement; None for ``baseline: auto``."""
        if self.target is not None:
            return self.target
        if isinstance(self.baseline, float) and self.improve_by is not None:
            return self.baseline + self.improve_by
        return None
