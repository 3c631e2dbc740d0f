"""The conventions every ``--format json`` output shares, applied in one
place so the commands cannot drift apart (docs/json-output.md):

- ``schema_version`` at the top level, raised when a key is removed or
  changes meaning (adding keys is not a change);
- a period of whole days is ``{"start": date, "end": date}``, ``end``
  inclusive, as a config file writes one; a span of instants is
  ``{"start": date-time, "end": date-time}``, ``end`` exclusive;
- a missing value is ``null``, never ``""``;
- shares and rates (0-1) have 4 decimals, money and estimated counts 2,
  counts are integers, durations whole seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from monitor.findings import Finding
from monitor.judge.report import finding_dict

SCHEMA_VERSION = 1
#: Decimals of any number not rounded by its producer: a share or a rate.
SHARE_DECIMALS = 4


def document(payload: Mapping[str, Any]) -> dict[str, Any]:
    """One JSON output as printed: versioned and normalised."""
    return {"schema_version": SCHEMA_VERSION, **normalised(dict(payload))}


def normalised(value: Any) -> Any:
    """``""`` as null, floats at most 4 decimals, dates and instants in ISO
    8601, tuples as lists."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value, SHARE_DECIMALS)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: normalised(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalised(item) for item in value]
    return str(value)


def period(label: str | None) -> dict[str, str] | None:
    """A goal period from its label (``2026-10-01..2027-01-01``, end
    exclusive, as fingerprints carry it), with its inclusive last day."""
    if not label or ".." not in label:
        return None
    start, end = label.split("..", 1)
    last = date.fromisoformat(end) - timedelta(days=1)
    return {"start": start, "end": last.isoformat()}


def finding_json(finding: Finding) -> dict[str, Any]:
    """A finding, with its period as a period (SLA findings have none)."""
    return {**finding_dict(finding), "period": period(finding.period)}
