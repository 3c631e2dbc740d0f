"""When records sitting in a stage are reported as stalled (docs/design.md,
"Where prospects stall")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from monitor.config.types import StrictModel

#: Which share of a transition's past conversions ``beyond`` names.
QUANTILES: dict[str, float] = {"median": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95, "p99": 0.99}
#: The longest fixed wait a stage may be given (ten years).
MAX_STALL_DAYS = 3650

StallBeyond = (
    Literal["median", "p75", "p90", "p95", "p99"] | Annotated[int, Field(ge=1, le=MAX_STALL_DAYS)]
)


class Stalls(StrictModel):
    """Records that sat in a stage longer than its transition usually takes,
    neither moving on nor closed, per stage and owner; a ``stalled`` warning
    when they are too large a share of the stage's open records."""

    beyond: StallBeyond = "p90"
    """How long a record may sit in a stage before it is stalled: a lag quantile of the transition's past conversions (median, p75, p90, p95, p99) or a number of days."""
    threshold: float = Field(default=0.25, gt=0, lt=1)
    """Share of a stage's open records stalled from which a warning is raised, e.g. 0.25."""
    min_records: int = Field(default=20, ge=1)
    """Open records a stage needs before its stalled share is judged."""
