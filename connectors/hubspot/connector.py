"""The HubSpot connector (``kind: hubspot``): contacts become persons, deals
become deals, and (optionally) daily website sessions become visit counts.

Data flow: ``pull`` asks ``windowing`` (which queries through ``client``)
for pages of raw JSON in cursor order, turns each page into records with
``normalise``, and yields one ``Batch`` per page for the store to commit
with its cursor. A first read, with no cursor, comes from ``backfill``
instead (list endpoint and search at once, in no modification order), and
carries its cursor only once it is complete. Archived records, which
HubSpot's search never returns, come last as deletions from the list API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from connectors.hubspot import backfill, normalise, windowing
from connectors.hubspot.client import HubSpotApi, Json, TokenRejected
from connectors.hubspot.normalise import EPOCH, Fields, Owner, to_ms
from connectors.hubspot.settings import MODIFIED_PROPERTY, SCOPES, HubSpotSource
from monitor.errors import SourceActionNeeded, SourceError, SourceRetry
from monitor.interfaces import Batch, CheckResult, CheckStatus, Cursor, FunnelRecord, Usage

log = logging.getLogger(__name__)

VISITS_CHUNK_DAYS = 92  # one sessions report per quarter of backfill
#: How long the portal's property names and owners are trusted before a
#: pull with records to read asks for them again.
REFRESH = timedelta(days=1)


class HubSpotConnector:
    """A HubSpot portal as a ``Connector``. One HubSpot client, one token
    bucket and one owner cache per instance; reuse it across syncs."""

    def __init__(self, name: str, settings: HubSpotSource) -> None:
        self.name = name
        self.settings = settings
        visits: tuple[str, ...] = ("visits",) if settings.visits else ()
        self.object_types: tuple[str, ...] = ("contacts", "deals", *visits)
        self.api = HubSpotApi(name, settings)
        #: Per object type, the read plan checked against the portal's
        #: properties and the sync (``until``) that checked it.
        self._fields: dict[str, tuple[Fields, datetime]] = {}
        self._owners: dict[str, Owner] | None = None
        self._owners_at: datetime | None = None  # the sync that loaded them
        self._owners_fresh = False  # reloaded during the current pull
        #: Per object type, record id → the modification time it was read at,
        #: the cursor position of the batch that proves it stored and the
        #: ``until`` of that pull, for records a later look-back can read again.
        self._held: dict[str, dict[str, tuple[datetime, windowing.Position, datetime]]] = {}

    def usage(self) -> Usage:
        return Usage(calls=self.api.calls)

    def close(self) -> None:
        self.api.close()

    # -- pull -----------------------------------------------------------------

    def pull(self, object_type: str, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        """Batches of ``object_type`` modified after ``cursor`` (less the
        look-back) and no later than ``until``, then its deletions."""
        if object_type == "visits" and self.settings.visits:
            yield from self._pull_visits(cursor, until)
            return
        if object_type not in MODIFIED_PROPERTY:
            raise ValueError(
                f"unknown object type {object_type!r}; expected one of {self.object_types}"
            )
        self._owners_fresh = False
        if cursor is None:
            yield from self._backfill(object_type, self._fields_for(object_type, until), until)
            return
        # Until a page has records, nothing needs the portal's properties:
        # the search asks for every configured one (HubSpot ignores those
        # it lacks), so a sync with nothing new costs no properties call.
        checked = self._fields.get(object_type)
        if checked is not None:
            wanted = checked[0].properties
        else:
            named = {w.prop for w in normalise.wanted(self.settings, object_type)}
            wanted = normalise.fields(self.settings, object_type, named).properties
        start, after_id = self._read_from(cursor, until)
        held = floor = _position(cursor)
        position = cursor
        unproven: list[FunnelRecord] = []  # yielded, in no batch that moved the cursor yet
        last: Cursor | None = None  # the cursor of the last batch yielded
        total: int | None = None  # the first query's: it spans the whole range
        for page in windowing.modified_pages(
            self.api, object_type, wanted, start, to_ms(until) + 1, after_id
        ):
            records: list[FunnelRecord] = []
            rejected = 0
            total = page.total if total is None else total
            if page.results:
                fields = self._fields_for(object_type, until)
                owners = self._owners_for(page.results, until)
                records, rejected = normalise.records(fields, page.results, owners, until)
            records = self._unheld(object_type, records, floor, cursor)
            unproven += records
            # A look-back page must not move the cursor back. Ids compare as
            # numbers: as text, …999 would sort after 1000.
            if page.done is not None and (held is None or page.done > held):
                held, position = page.done, _cursor(page.done)
                # Stored with this cursor, or not at all: batches are stored
                # in order, so so is everything yielded before it.
                self._remember(object_type, unproven, held, until)
                unproven = []
            if records or rejected or position != cursor:
                # A batch that does not move the cursor carries none: saving
                # the old one would also date it to this sync (``read_at``),
                # claiming look-back records that may not be stored.
                moved = position if position != cursor else None
                yield Batch(records=records, cursor=moved, rejected=rejected, total=total)
                last = moved
        if position is not None and last is None:
            # The search is complete: the cursor, saved again, dates it to
            # this sync, so the next one looks back only from here.
            if held is not None:
                self._remember(object_type, unproven, held, until)
            yield Batch(cursor=position)
        yield from self._deletions(object_type, cursor, until, position)

    def _backfill(self, object_type: str, fields: Fields, until: datetime) -> Iterator[Batch]:
        """Every live record modified no later than ``until``, then its
        deletions. The pages come in no modification order, so no batch
        carries a cursor until the last: a cursor saved midway would claim
        unread records older than it. A backfill stopped midway starts
        again from scratch, which the store's upserts make safe. The cursor
        is the latest (modified, id) read: every record up to it is read."""
        latest: windowing.Position | None = None
        recent: list[FunnelRecord] = []  # within the look-back of ``latest``
        for results, total in backfill.pages(self.api, object_type, fields.properties):
            owners = self._owners_for(results, until)
            records, rejected = normalise.records(fields, results, owners, until)
            # Modified after the sync started: the next sync's search reads it.
            records = [r for r in records if r.modified_at <= until]
            for r in records:
                if not r.deleted and r.crm_id.isdigit():
                    read = (to_ms(r.modified_at), int(r.crm_id))
                    latest = read if latest is None else max(latest, read)
            if latest is not None:
                floor = _cursor(latest).modified_at - self.settings.lookback
                recent = [r for r in (*recent, *records) if r.modified_at >= floor]
            if records or rejected:
                yield Batch(records=records, rejected=rejected, total=total)
        done: Cursor | None = None
        if latest is not None:
            done = _cursor(latest)
            self._remember(object_type, recent, latest, until)
            yield Batch(cursor=done)
        yield from self._deletions(object_type, None, until, done)

    def _unheld(
        self,
        object_type: str,
        records: list[FunnelRecord],
        floor: windowing.Position | None,
        cursor: Cursor | None,
    ) -> list[FunnelRecord]:
        """``records`` less those the look-back read again unchanged: read
        before at this very modification time by a pull whose batches the
        store has saved up to the one proving them (the cursor is at or past
        that batch's, and dated to that pull or later). A record the index
        showed late (before the cursor, never read) is kept."""
        read_at = None if cursor is None else cursor.read_at
        if floor is None or read_at is None:
            return records
        held = self._held.get(object_type, {})
        kept = []
        for record in records:
            done = held.get(record.crm_id)
            if (
                done is not None
                and done[0] == record.modified_at
                and done[1] <= floor
                and done[2] <= read_at
            ):
                continue
            kept.append(record)
        return kept

    def _remember(
        self,
        object_type: str,
        records: list[FunnelRecord],
        position: windowing.Position,
        until: datetime,
    ) -> None:
        """Keep the records proven by a batch carrying ``position`` in the
        pull up to ``until`` (the sync's start, which the store dates the
        cursor with) while a later look-back can read them again."""
        oldest = _cursor(position).modified_at - self.settings.lookback
        held = self._held.setdefault(object_type, {})
        held.update(
            (r.crm_id, (r.modified_at, position, until)) for r in records if r.modified_at >= oldest
        )
        self._held[object_type] = {k: v for k, v in held.items() if v[0] >= oldest}

    def _read_from(self, cursor: Cursor | None, until: datetime) -> tuple[int, int]:
        """Where the search starts: (modified ms, id after which to read
        that instant).

        The look-back exists because the search index shows a change "after
        a few moments": a record modified just before the last sync may have
        been missing from it. Everything modified ``lookback`` before that
        sync started (``cursor.read_at``) was searchable then and is held,
        so the look-back only reaches back to there, and once that is past
        the cursor's own instant the compound cursor (modified, id) alone is
        the query: an unchanged sync reads nothing it holds. A cursor
        without ``read_at`` looks back from its own instant."""
        if cursor is None:
            return 0, 0
        held = min(cursor.modified_at, until)
        read_at = cursor.read_at
        if read_at is not None and read_at - self.settings.lookback >= held:
            return _position(cursor) if held == cursor.modified_at else (to_ms(held), 0)
        since = held if read_at is None else max(held, read_at)
        return max(0, to_ms(since - self.settings.lookback)), 0

    def _deletions(
        self, object_type: str, cursor: Cursor | None, until: datetime, position: Cursor | None
    ) -> Iterator[Batch]:
        """Records archived since the cursor's look-back. The list API has no
        date filter, so every archived record (HubSpot keeps them 90 days) is
        listed and filtered here."""
        since = None if cursor is None else cursor.modified_at - self.settings.lookback
        after: str | None = None
        while True:
            page = self.api.archived_page(object_type, after)
            records, rejected = normalise.archived(object_type, page["results"], since, until)
            if records or rejected:
                yield Batch(records=records, cursor=position, rejected=rejected)
            after = _next_after(page)
            if after is None:
                return

    def _pull_visits(self, cursor: Cursor | None, until: datetime) -> Iterator[Batch]:
        """Daily sessions from the cursor's day (re-read: it was partial) to
        ``until``'s day; the cursor is the midnight of the last day read."""
        last = until.astimezone(UTC).date()
        day = (
            last - timedelta(days=self.settings.visits_backfill_days - 1)
            if cursor is None
            else min(last, cursor.modified_at.astimezone(UTC).date())
        )
        while day <= last:
            end = min(last, day + timedelta(days=VISITS_CHUNK_DAYS - 1))
            daily, rejected = normalise.daily_visits(self.api.sessions(day, end), day, end)
            yield Batch(daily=daily, cursor=Cursor(_midnight(end)), rejected=rejected)
            day = end + timedelta(days=1)

    def _fields_for(self, object_type: str, until: datetime) -> Fields:
        """The read plan for ``object_type``, checked against the portal's
        properties at most once a day: a property named in the config that
        does not exist stops the sync; a missing default is left out."""
        checked = self._fields.get(object_type)
        if checked is None or until - checked[1] >= REFRESH:
            available = self.api.property_names(object_type)
            wanted = normalise.wanted(self.settings, object_type)
            missing = [w for w in wanted if w.required and w.prop not in available]
            if missing:
                raise SourceActionNeeded(
                    self.name, "; ".join(_missing_line(self.name, object_type, w) for w in missing)
                )
            for w in wanted:
                if w.prop not in available:
                    log.warning(
                        "HubSpot %s has no property %r (%s): left out",
                        object_type,
                        w.prop,
                        w.setting or "read by default",
                    )
            plan = normalise.fields(self.settings, object_type, available)
            self._fields[object_type] = checked = (plan, until)
        return checked[0]

    def _owners_for(self, results: list[Json], until: datetime) -> dict[str, Owner]:
        """Owner id → email and name, loaded once, again daily (a renamed
        owner), and at most once per pull when a page names an owner the
        cache does not know."""
        ids = {(r.get("properties") or {}).get("hubspot_owner_id") for r in results} - {None, ""}
        owners = self._owners
        if (
            owners is None
            or self._owners_at is None
            or until - self._owners_at >= REFRESH
            or (not self._owners_fresh and ids - owners.keys())
        ):
            owners = {}
            # Owners of deactivated users are only listed as archived (docs/design.md, "HubSpot").
            for archived in (True, False):
                after: str | None = None
                while True:
                    page = self.api.owners_page(after, archived)
                    owners.update(normalise.owners(page["results"]))
                    after = _next_after(page)
                    if after is None:
                        break
            self._owners, self._owners_at, self._owners_fresh = owners, until, True
        return owners

    # -- check ----------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        """Token, scopes and configured properties: one line per finding."""
        ok, warn, fail = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL
        try:
            info = self.api.token_info()
        except TokenRejected as exc:
            return [CheckResult("hubspot token", fail, str(exc))]
        except SourceRetry as exc:
            return [CheckResult("hubspot reachable", fail, f"{exc}; check api_url and the network")]
        except SourceActionNeeded as exc:
            info = {}
            lines = [
                CheckResult(
                    "hubspot scopes",
                    warn,
                    f"could not read the token's scopes (not a private-app token?): {exc}",
                )
            ]
        else:
            lines = [
                CheckResult("hubspot token", ok, f"private-app token of portal {info.get('hubId')}")
            ]
        portal = self.settings.portal_id
        if portal is not None and info.get("hubId") not in (None, portal):
            lines.append(
                CheckResult(
                    "hubspot portal",
                    warn,
                    f"portal_id is {portal} but the token "
                    f"belongs to portal {info['hubId']}: deep links would be wrong",
                )
            )
        if "scopes" in info:
            lines += self._check_scopes(set(info["scopes"]))
        for object_type in ("contacts", "deals"):
            lines += self._check_properties(object_type)
        if self.settings.visits:
            try:
                today = datetime.now(UTC).date()
                self.api.sessions(today, today)
                lines.append(CheckResult("hubspot visits", ok, "website sessions report readable"))
            except SourceError as exc:
                lines.append(CheckResult("hubspot visits", fail, str(exc)))
        return lines

    def _check_scopes(self, granted: set[str]) -> list[CheckResult]:
        needed = {part: SCOPES[part] for part in ("contacts", "deals", "owners")}
        if self.settings.visits:
            needed["visits"] = SCOPES["visits"]
        missing = [
            CheckResult(
                "hubspot scopes",
                CheckStatus.FAIL,
                f"the token lacks {scope} (needed for "
                f"{part}): tick it in the private app's Scopes tab, then use the new token",
            )
            for part, scope in needed.items()
            if scope not in granted
        ]
        return missing or [
            CheckResult("hubspot scopes", CheckStatus.OK, ", ".join(needed.values()))
        ]

    def _check_properties(self, object_type: str) -> list[CheckResult]:
        name = f"hubspot {object_type} properties"
        try:
            available = self.api.property_names(object_type)
        except SourceError as exc:
            return [CheckResult(name, CheckStatus.FAIL, str(exc))]
        lines = []
        for w in normalise.wanted(self.settings, object_type):
            if w.prop not in available:
                status = CheckStatus.FAIL if w.required else CheckStatus.WARN
                lines.append(CheckResult(name, status, _missing_line(self.name, object_type, w)))
        plan = normalise.fields(self.settings, object_type, available)
        for stage, chain in plan.stages.items():
            if not chain and not (stage == "lead" and plan.lead_fallback):
                lines.append(
                    CheckResult(
                        name,
                        CheckStatus.WARN,
                        f"no {stage} date property exists: "
                        f"{object_type} will not count toward {stage}",
                    )
                )
        return lines or [
            CheckResult(name, CheckStatus.OK, f"{len(plan.properties)} properties read")
        ]


def _missing_line(source: str, object_type: str, w: normalise.Wanted) -> str:
    if not w.setting:
        return f"{object_type} property {w.prop!r} does not exist in the portal: left out"
    return (
        f"{object_type} property {w.prop!r} (sources.{source}.{w.setting}) does not exist "
        "in the portal: fix the name or create the property"
    )


def _position(cursor: Cursor) -> windowing.Position:
    """A stored cursor as a search position; an id that is not a number (or
    none) holds nothing of its instant."""
    crm_id = cursor.crm_id
    return to_ms(cursor.modified_at), int(crm_id) if crm_id.isdigit() else 0


def _cursor(position: windowing.Position) -> Cursor:
    instant, crm_id = position
    return Cursor(EPOCH + timedelta(milliseconds=instant), str(crm_id) if crm_id else "")


def _next_after(page: Json) -> str | None:
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return None if after is None else str(after)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)
