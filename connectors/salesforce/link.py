"""Keeping each lead's won date in step with its opportunity.

A lead reads the won state of the opportunity it was converted into through
the relationship (``normalise.linked_won_at``), at no cost, whenever the
lead itself is read. But winning an opportunity does not modify its lead:
an opportunity won today whose lead was synced last month would leave that
lead without a won date, and the SQL→won cohorts short of a conversion. So
each batch of opportunities also re-reads the leads converted into the
opportunities it covers (those modified in its SystemModstamp range, and the
deleted ones by id) and carries them, so the leads and the cursor past their
opportunities are committed together: a sync killed in between re-reads
both.

That is one query per batch of opportunities that changed, in practice one
per sync in which any did, and none after a full read of the leads in the
same sync, whose relationship values are newer than any opportunity the
sync reads. The look-back re-reads the last opportunities of every sync;
those whose leads this connector already re-read at the same SystemModstamp,
in a batch the store has since moved past, have not changed, and cost no
query (docs/design.md, "Salesforce").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from connectors.salesforce import query
from connectors.salesforce.normalise import BadRow, Row, normalise, parse_bool, row_cursor
from connectors.salesforce.plan import Plan
from monitor.interfaces import Cursor, FunnelRecord

if TYPE_CHECKING:
    from connectors.salesforce.client import SalesforceClient


@dataclass
class Changed:
    """Opportunities whose leads must be re-read: the range of their
    SystemModstamp, and the ids of the deleted ones."""

    low: datetime | None = None
    high: datetime | None = None
    deleted: set[str] = field(default_factory=set)

    def add(self, position: Cursor, gone: bool) -> None:
        at = position.modified_at
        self.low = at if self.low is None else min(self.low, at)
        self.high = at if self.high is None else max(self.high, at)
        if gone:
            self.deleted.add(position.crm_id)

    def add_rows(self, rows: Iterable[Row]) -> None:
        for position, gone in positions(rows):
            self.add(position, gone)

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        return None if self.low is None or self.high is None else (self.low, self.high)


def positions(rows: Iterable[Row]) -> Iterator[tuple[Cursor, bool]]:
    """Each opportunity's (SystemModstamp, Id) and whether it is deleted;
    a row the normaliser rejects has no lead to follow."""
    for row in rows:
        try:
            yield row_cursor(row), parse_bool(row.get("IsDeleted"), "IsDeleted")
        except BadRow:
            continue


class Linker:
    """One connector's re-reads of converted leads. ``leads_read_whole`` is
    the ``until`` of this connector's last complete full read of the leads."""

    def __init__(self, client: SalesforceClient, page_size: int, look_back: timedelta | None):
        self.client = client
        self.page_size = page_size
        self.look_back = look_back
        self.leads_read_whole: datetime | None = None
        #: Opportunity id → the SystemModstamp at which its leads were read,
        #: and the cursor of the batch that carried them.
        self._read: dict[str, tuple[datetime, Cursor]] = {}

    def follow(
        self,
        leads: Plan,
        rows: Sequence[Row],
        cursor: Cursor | None,
        floor: Cursor | None,
        until: datetime,
    ) -> tuple[list[FunnelRecord], int]:
        """The leads converted into the opportunities of ``rows`` (one batch,
        carrying ``cursor``; the pull started after ``floor``) that changed
        since their leads were last read, and how many rows were rejected."""
        seen = list(positions(rows))
        changed = Changed()
        for position, gone in seen:
            if not self._unchanged(position, floor):
                changed.add(position, gone)
        found = self.read(leads, changed, until)
        if cursor is not None:
            self._remember(seen, cursor)
        return found

    def read(
        self, leads: Plan, changed: Changed, until: datetime
    ) -> tuple[list[FunnelRecord], int]:
        """The leads converted into the ``changed`` opportunities, read whole
        as the lead pull reads them, and how many rows were rejected."""
        shape = leads.shape
        if self.leads_read_whole == until or shape is None or shape.link is None:
            return [], 0
        if changed.span is None and not changed.deleted:
            return [], 0
        records: list[FunnelRecord] = []
        rejected = 0
        soqls = query.converted(
            leads.columns, leads.sobject, shape.link, changed.span, sorted(changed.deleted)
        )
        for soql in soqls:
            for page in query.rest_pages(self.client, soql, self.page_size):
                found, bad = normalise(page.rows, shape, until)
                records += found
                rejected += bad
        return records, rejected

    def _unchanged(self, position: Cursor, floor: Cursor | None) -> bool:
        """Read before at this very SystemModstamp, in a batch whose cursor
        the pull starts at or after: that batch, leads included, is stored."""
        done = self._read.get(position.crm_id)
        return (
            done is not None
            and floor is not None
            and done[0] == position.modified_at
            and done[1] <= floor
        )

    def _remember(self, seen: Iterable[tuple[Cursor, bool]], cursor: Cursor) -> None:
        """Keep what a later look-back can read again, nothing older."""
        if self.look_back is None:
            return
        oldest = cursor.modified_at - self.look_back
        for position, _ in seen:
            if position.modified_at >= oldest:
                self._read[position.crm_id] = (position.modified_at, cursor)
        self._read = {k: v for k, v in self._read.items() if v[0] >= oldest}
