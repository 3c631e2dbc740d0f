"""Reading the records an SLA rule judges: persons of its source and
segment that entered its stage, recently enough to matter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select

from monitor.facts import COMPLIANCE_WINDOW, SlaRecord
from monitor.store.facts import live_filter
from monitor.store.schema import records
from monitor.store.sla_folds import sla_columns, sla_record

_IDS = 500


def sla_records(
    conn: Connection,
    source: str,
    stage: str,
    segment: Mapping[str, str],
    since: datetime,
    as_of: datetime,
    folded: Sequence[tuple[datetime, datetime]] = (),
    unsettled: Sequence[int] = (),
) -> dict[int, SlaRecord]:
    """Records that entered ``stage`` in ``[since, as_of)`` and can still
    change a number: untouched, or touched or entered within the compliance
    window (a record answered before it was decided before it, so it counts
    nowhere). ``since`` is the rule's look-back: an unanswered lead older
    than that no longer alerts. Of the entries in ``folded`` spans, only
    the ``unsettled`` records (ids) are read. By id."""
    window_start = as_of - COMPLIANCE_WINDOW
    entered = records.c[f"{stage}_at"]
    wanted = (
        *live_filter(source, "person", segment),
        entered >= since,
        entered < as_of,
        or_(
            records.c.first_touch_at.is_(None),
            records.c.first_touch_at >= window_start,
            entered >= window_start,
        ),
    )
    columns = (records.c.id, *sla_columns(stage))
    found: dict[int, SlaRecord] = {}
    spans = _unfolded(since, as_of, folded)
    if spans:
        days = or_(*(and_(entered >= start, entered < end) for start, end in spans))
        for row in conn.execute(select(*columns).where(*wanted, days)):
            found[row[0]] = sla_record(row[1:])
    for start in range(0, len(unsettled), _IDS):
        chunk = unsettled[start : start + _IDS]
        for row in conn.execute(select(*columns).where(*wanted, records.c.id.in_(chunk))):
            found[row[0]] = sla_record(row[1:])
    return found


def _unfolded(
    since: datetime, as_of: datetime, folded: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """``[since, as_of)`` without the ``folded`` spans."""
    spans: list[tuple[datetime, datetime]] = []
    start = since
    for first, after in sorted(folded):
        if after <= start or first >= as_of:
            continue
        if first > start:
            spans.append((start, first))
        start = max(start, after)
    if start < as_of:
        spans.append((start, as_of))
    return spans
