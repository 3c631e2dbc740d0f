"""Reading the records an SLA rule judges: persons of its source and
segment that entered its stage, recently enough to matter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, or_, select

from monitor.facts import COMPLIANCE_WINDOW, SlaRecord
from monitor.store.facts import live_filter
from monitor.store.schema import records


def sla_records(
    conn: Connection,
    source: str,
    stage: str,
    segment: Mapping[str, str],
    since: datetime,
    as_of: datetime,
) -> list[SlaRecord]:
    """Records that entered ``stage`` in ``[since, as_of)`` and can still
    change a number: untouched, or touched or entered within the compliance
    window (a record answered before it was decided before it, so it counts
    nowhere). ``since`` is the rule's look-back: an unanswered lead older
    than that no longer alerts."""
    window_start = as_of - COMPLIANCE_WINDOW
    entered = records.c[f"{stage}_at"]
    columns = (
        records.c.crm_id, records.c.name, records.c.owner_email, records.c.owner_name,
        records.c.url, entered, records.c.assigned_at, records.c.first_touch_at,
    )  # fmt: skip
    query = select(*columns).where(
        *live_filter(source, "person", segment),
        entered >= since,
        entered < as_of,
        or_(
            records.c.first_touch_at.is_(None),
            records.c.first_touch_at >= window_start,
            entered >= window_start,
        ),
    )
    return [
        SlaRecord(
            crm_id=row[0],
            name=row[1] or row[0],
            owner_email=row[2],
            owner_name=row[3],
            url=row[4] or "",
            entered_at=row[5],
            assigned_at=row[6],
            first_touch_at=row[7],
        )
        for row in conn.execute(query)
    ]
