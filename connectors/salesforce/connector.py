"""The Salesforce connector (``kind: salesforce``): Leads become person
records, Opportunities deal records, and — with ``first_touch_at:
activities`` — completed Tasks and Events become first-touch times.

Each pull reads one object type in (SystemModstamp, Id) order through
queryAll, so deleted rows arrive as ``deleted=True`` records. A REST page is
one Batch carrying the cursor of its last row. When more rows remain after
the first page than ``bulk_threshold``, the rest is read as one Bulk API 2.0
job: its pages come unordered, so they carry no cursor until the last, which
carries the highest position read. Before committing to a read the connector
estimates its API calls and stops (QuotaExhausted) rather than leave a
half-synced object behind the quota guard. A batch of opportunities that
carries a cursor also carries the leads converted into them (``link``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from simple_salesforce.exceptions import SalesforceResourceNotFound

from connectors.salesforce import query
from connectors.salesforce.client import BulkUnavailable, SalesforceClient
from connectors.salesforce.link import Changed, Linker
from connectors.salesforce.normalise import (
    BadRow,
    Row,
    Shape,
    normalise,
    page_cursor,
    row_cursor,
    touches,
)
from connectors.salesforce.plan import ACTIVITY_OBJECTS, FieldProblems, Plan, resolve, sobject_of
from connectors.salesforce.settings import SalesforceSource
from monitor.errors import SourceActionNeeded, SourceError
from monitor.interfaces import Batch, CheckResult, CheckStatus, Cursor, FunnelRecord, Usage

log = logging.getLogger(__name__)

#: The config key naming each object a source reads.
_SOBJECT_KEYS = {"leads": "fields.sobject", "opportunities": "deal_fields.sobject"}


class SalesforceConnector:
    """A Salesforce org as an alignmon source."""

    def __init__(self, name: str, settings: SalesforceSource) -> None:
        self.name = name
        self.settings = settings
        self.client = SalesforceClient(name, settings)
        activities = (
            tuple(ACTIVITY_OBJECTS) if settings.fields.first_touch_at == "activities" else ()
        )
        self.object_types: tuple[str, ...] = ("leads", "opportunities", *activities)
        self._plans: dict[str, Plan] = {}
        self._linker = Linker(self.client, settings.page_size, settings.look_back)
        #: Per object type, row Id → the SystemModstamp it was read at, the
        #: cursor of the batch that proves it stored and the ``until`` of that
        #: pull, for rows a later look-back can read again.
        self._held: dict[str, dict[str, tuple[datetime, Cursor, datetime]]] = {}
        #: Rows of the current pull in no batch that carried a cursor yet.
        self._unproven: dict[str, list[Cursor]] = {}

    def pull(self, object_type: str, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        """Batches of ``object_type`` after ``cursor`` up to ``until``."""
        if object_type not in self.object_types:
            raise ValueError(
                f"unknown object type {object_type!r}; this source has {self.object_types}"
            )
        plan = self._plan(object_type)
        until = until.astimezone(UTC)
        self._unproven[object_type] = []
        if object_type == "leads":
            self._linker.leads_read_whole = None
        last: Cursor | None = None
        latest = cursor
        for batch in self._pull(plan, cursor, until):
            last = batch.cursor
            latest = last or latest
            yield batch
        if latest is not None and last is None and self._unproven[object_type]:
            # Rows of look-back pages, which carry no cursor, were kept (new
            # to this connector): the cursor, saved again after them, proves
            # them stored, so the next look-back skips them too.
            self._prove(object_type, latest, until)
            yield Batch(cursor=latest)
        if object_type == "leads" and cursor is None:
            self._linker.leads_read_whole = until

    def _pull(self, plan: Plan, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        settings = self.settings
        relink = self._links(plan)
        soql = query.select(
            plan.columns, plan.sobject, query.window(cursor, until, settings.look_back)
        )
        pages = query.rest_pages(self.client, soql, settings.page_size)
        first = next(pages)
        for batch in self._pages(plan, first, pages, cursor, until, relink):
            yield replace(batch, total=first.total)

    def _pages(
        self,
        plan: Plan,
        first: query.Page,
        pages: Iterator[query.Page],
        cursor: Cursor | None,
        until: datetime,
        relink: bool,
    ) -> Iterator[Batch]:
        """The query's batches, through Bulk API 2.0 when what is left after
        its ``first`` page is over the bulk threshold."""
        settings = self.settings
        left = first.total - len(first.rows)
        if (
            not first.done
            and settings.bulk_threshold is not None
            and left > settings.bulk_threshold
        ):
            self.client.ensure_quota(query.bulk_calls(left, settings.bulk_page_size) + int(relink))
            yield self._batch(plan, first.rows, page_cursor(first.rows), cursor, until, relink)
            yield from self._bulk(plan, page_cursor(first.rows) or cursor, cursor, until, relink)
            return
        if not first.done:
            pages_left = math.ceil(left / max(len(first.rows), 1))
            self.client.ensure_quota(pages_left * (1 + int(relink)))
        if first.rows:
            yield self._batch(plan, first.rows, page_cursor(first.rows), cursor, until, relink)
        for page in pages:
            yield self._batch(plan, page.rows, page_cursor(page.rows), cursor, until, relink)

    def _links(self, plan: Plan) -> bool:
        """Whether batches of ``plan`` carry the leads converted into them."""
        if plan.object_type != "opportunities":
            return False
        leads = self._plan("leads").shape
        return leads is not None and leads.link is not None

    def _bulk(
        self,
        plan: Plan,
        after: Cursor | None,
        floor: Cursor | None,
        until: datetime,
        relink: bool,
    ) -> Iterator[Batch]:
        """The rows after ``after`` through Bulk API 2.0, or through REST when
        the org or object refuses bulk jobs. Only the last page carries a
        cursor, so it carries the converted leads of every page."""
        settings = self.settings
        soql = query.select(
            plan.columns, plan.sobject, query.window(after, until, None), ordered=False
        )
        pages = query.bulk_pages(
            self.client, plan.sobject, soql, settings.bulk_page_size, settings.bulk_poll_seconds
        )
        try:
            held = next(pages, [])
        except BulkUnavailable as exc:
            log.warning("salesforce %s: %s; reading %s through REST", self.name, exc, plan.sobject)
            rest = query.select(plan.columns, plan.sobject, query.window(after, until, None))
            for page in query.rest_pages(self.client, rest, settings.page_size):
                yield self._batch(plan, page.rows, page_cursor(page.rows), floor, until, relink)
            return
        highest, changed = after, Changed()
        for rows in pages:
            highest = _highest(highest, held)
            if relink:
                changed.add_rows(held)
            yield self._batch(plan, held, None, floor, until, False)
            held = rows
        last = self._batch(plan, held, _highest(highest, held), floor, until, False)
        if relink:
            changed.add_rows(held)
            last = _with(last, *self._linker.read(self._plan("leads"), changed, until))
        yield last

    def _batch(
        self,
        plan: Plan,
        rows: Sequence[Row],
        cursor: Cursor | None,
        floor: Cursor | None,
        until: datetime,
        relink: bool,
    ) -> Batch:
        """One page as a Batch carrying ``cursor``, left out when it would
        not move past ``floor`` (a look-back page); with ``relink``, and the
        leads converted into the page's opportunities."""
        if cursor is not None and floor is not None and cursor <= floor:
            cursor = None
        rows = self._unheld(plan.object_type, rows, cursor, floor, until)
        if plan.shape is None:
            found, rejected = touches(rows, plan.sobject, until)
            return Batch(cursor=cursor, touches=found, rejected=rejected)
        records, rejected = normalise(rows, plan.shape, until)
        batch = Batch(records=records, cursor=cursor, rejected=rejected)
        if relink:
            leads = self._plan("leads")
            batch = _with(batch, *self._linker.follow(leads, rows, cursor, floor, until))
        return batch

    def _unheld(
        self,
        object_type: str,
        rows: Sequence[Row],
        cursor: Cursor | None,
        floor: Cursor | None,
        until: datetime,
    ) -> Sequence[Row]:
        """``rows`` less those the look-back read again unchanged: read
        before at this very SystemModstamp by a pull whose batches the store
        has saved up to the one proving them (the stored cursor is at or
        past that batch's, and dated to that pull or later). A row committed
        late (at or before the cursor, but never read) is kept. What is
        left is remembered once a batch carrying a cursor proves it."""
        read_at = None if floor is None else floor.read_at
        held = self._held.setdefault(object_type, {})
        kept: list[Row] = []
        seen: list[Cursor] = []
        for row in rows:
            try:
                position = row_cursor(row)
            except BadRow:
                kept.append(row)  # the normaliser rejects and counts it
                continue
            done = held.get(position.crm_id)
            if (
                floor is not None
                and read_at is not None
                and done is not None
                and done[0] == position.modified_at
                and done[1] <= floor
                and done[2] <= read_at
            ):
                continue
            kept.append(row)
            seen.append(position)
        self._unproven.setdefault(object_type, []).extend(seen)
        if cursor is not None:
            self._prove(object_type, cursor, until)
        return kept

    def _prove(self, object_type: str, cursor: Cursor, until: datetime) -> None:
        """Remember the rows of this pull not yet in a batch that carried a
        cursor: stored with ``cursor``, or not at all, since batches are
        stored in order. Only rows a later look-back can reach are kept."""
        unproven = self._unproven.setdefault(object_type, [])
        look_back = self.settings.look_back
        if look_back:
            oldest = cursor.modified_at - look_back
            held = self._held.setdefault(object_type, {})
            held.update(
                (p.crm_id, (p.modified_at, cursor, until))
                for p in unproven
                if p.modified_at >= oldest
            )
            self._held[object_type] = {k: v for k, v in held.items() if v[0] >= oldest}
        unproven.clear()

    def _plan(self, object_type: str, *, guarded: bool = True) -> Plan:
        """The object's plan, checked against ``describe`` once per connector.
        The leads' plan needs the opportunities' to read won dates."""
        if object_type not in self._plans:
            deal = self._deal_shape(guarded) if object_type == "leads" else None
            sobject = sobject_of(self.settings, object_type)
            try:
                described = self.client.call(
                    "describe",
                    lambda sf: sf.restful(f"sobjects/{sobject}/describe"),
                    guarded=guarded,
                )
            except SourceActionNeeded as exc:
                if not isinstance(exc.__cause__, SalesforceResourceNotFound):
                    raise
                # The org answers, so instance_url and api_version are right:
                # it is the configured object that is missing.
                key = _SOBJECT_KEYS.get(object_type)
                raise SourceActionNeeded(
                    self.name,
                    f"the object {sobject} does not exist in this org or the integration user "
                    f"cannot see it{f': check {key}' if key else ''}",
                ) from None
            try:
                self._plans[object_type] = resolve(
                    self.settings, object_type, described or {}, deal
                )
            except FieldProblems as exc:
                raise _FieldsWrong(self.name, str(exc)) from None
        return self._plans[object_type]

    def _deal_shape(self, guarded: bool) -> Shape | None:
        """The opportunities' shape; None when their fields are wrong (that
        stops the opportunities' sync with its own message)."""
        try:
            return self._plan("opportunities", guarded=guarded).shape
        except _FieldsWrong as exc:
            log.warning("salesforce %s: leads read without won dates: %s", self.name, exc)
            return None

    def check(self) -> list[CheckResult]:
        """Login, API version, each object's fields, and the API allowance
        left. A person asked, so the quota guard does not apply: a handful of
        calls buys the full picture."""
        try:
            sf = self.client.connect()
            limits = self.client.call("limits", lambda sf: sf.limits(), guarded=False)
        except SourceError as exc:
            return [CheckResult(f"{self.name}: login", CheckStatus.FAIL, str(exc))]
        flow = self.settings.auth.flow
        results = [
            CheckResult(f"{self.name}: login", CheckStatus.OK, f"{sf.sf_instance} ({flow} flow)"),
            self._check_version(),
        ]
        for object_type in self.object_types:
            label = f"{self.name}: {sobject_of(self.settings, object_type)}"
            try:
                plan = self._plan(object_type, guarded=False)
            except SourceError as exc:
                results.append(CheckResult(label, CheckStatus.FAIL, str(exc)))
                continue
            results.append(
                CheckResult(label, CheckStatus.OK, f"{len(plan.columns)} fields readable")
            )
        results.append(self._check_allowance(limits))
        return results

    def _check_version(self) -> CheckResult:
        label = f"{self.name}: API version"
        wanted = self.settings.api_version
        try:
            offered = self.client.versions()
        except SourceError as exc:
            return CheckResult(label, CheckStatus.FAIL, str(exc))
        if wanted in offered:
            return CheckResult(label, CheckStatus.OK, f"v{wanted} (newest v{offered[-1]})")
        newest = offered[-1] if offered else "none"
        return CheckResult(label, CheckStatus.FAIL, f"v{wanted} is not offered (newest v{newest})")

    def _check_allowance(self, limits: Any) -> CheckResult:
        label = f"{self.name}: API allowance"
        daily = limits.get("DailyApiRequests") or {}
        most, left = int(daily.get("Max") or 0), int(daily.get("Remaining") or 0)
        if not most:
            return CheckResult(label, CheckStatus.WARN, "the org reports no daily API allowance")
        used = (most - left) / most
        status = CheckStatus.WARN if used >= self.settings.quota_guard else CheckStatus.OK
        guard = f"{self.settings.quota_guard:.0%}"
        return CheckResult(
            label,
            status,
            f"{left} of {most} daily API calls left ({used:.0%} used; syncs stop at {guard})",
        )

    def usage(self) -> Usage:
        client = self.client
        share = (
            client.used / client.allowance if client.used is not None and client.allowance else None
        )
        return Usage(calls=sum(client.calls.values()), quota_used=share)

    def close(self) -> None:
        self.client.close()


def _with(batch: Batch, leads: Sequence[FunnelRecord], rejected: int) -> Batch:
    """``batch`` also carrying ``leads``, committed with its cursor."""
    if not leads and not rejected:
        return batch
    return Batch(
        records=[*batch.records, *leads], cursor=batch.cursor, rejected=batch.rejected + rejected
    )


class _FieldsWrong(SourceActionNeeded):
    """Configured fields that the org does not have, or not as configured."""


def _highest(current: Cursor | None, rows: Sequence[dict[str, Any]]) -> Cursor | None:
    """The highest (SystemModstamp, Id) among ``current`` and the rows."""
    best = current
    for row in rows:
        try:
            position = row_cursor(row)
        except ValueError:
            continue
        if best is None or position > best:
            best = position
    return best
