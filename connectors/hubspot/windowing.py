"""The windowed search: every record modified in a time range, in
(modified, id) order, although one HubSpot search query stops at 10,000
results.

It exists because a sync asks for "everything modified since the cursor",
and a first sync or a busy portal has far more than 10,000 of those. A
query that reaches the cap is followed by a new window starting after the
last modification time it read; that instant itself is finished in record-id
order, so more than 10,000 records sharing one instant are read too
(``modified_pages`` has the details).

Data flow: ``HubSpotConnector.pull`` iterates ``modified_pages``, which
sends each query through ``HubSpotApi.search`` in ``client`` (pacing,
retries, HubSpot's errors) and yields raw pages, which the connector hands
to ``normalise`` and then to the store. This module only decides which
queries to send; it never sees an HTTP status or a vendor exception.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from connectors.hubspot.client import HubSpotApi, Json
from connectors.hubspot.normalise import parse_instant, to_ms
from connectors.hubspot.settings import ID_PROPERTY, MODIFIED_PROPERTY, SEARCH_CAP, SEARCH_PAGE
from monitor.errors import SourceRetry

log = logging.getLogger(__name__)


#: (modified ms, record id): every record at or before it, in (modified,
#: id) order, has been read. An id of 0 means none of that instant yet.
Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records and how far the read is now complete."""

    results: list[Json]
    done: Position | None
    #: The query's ``total``: on the first page, every record of the range.
    total: int | None = None


def modified_pages(
    api: HubSpotApi,
    object_type: str,
    properties: list[str],
    start_ms: int,
    end_ms: int,
    after_id: int = 0,
) -> Iterator[Page]:
    """Every record modified in ``[start_ms, end_ms)`` and after
    ``(start_ms, after_id)``, page by page, in (modified, id) order.

    With ``after_id`` the first query is the compound cursor itself: two
    filter groups, ``modified = start and id > after_id`` or ``modified >
    start``, so a sync with nothing new costs one request that returns
    nothing, however many records share the cursor's instant.

    A query sorted by the modified property is paged with ``after`` up
    to the 10,000 cap; there it restarts after the last instant read,
    first finishing that instant in id order (``hs_object_id > last``),
    which also copes with more than 10,000 records sharing one instant.
    A query whose ``total`` shrinks between pages (records modified or
    archived mid-sync leave it, so offsets shift) restarts the same way
    from the last page it trusts, so nothing is skipped.

    Ties in the modified sort have no documented order, so a page's
    ``done`` stops before its last instant until the query has ended (or
    that instant is read in id order): a cursor stored mid-instant makes the
    next sync read that instant again rather than skip part of it.
    """
    modified = MODIFIED_PROPERTY[object_type]
    low, first_id = start_ms, after_id
    while True:
        restart = yield from _window(api, object_type, properties, modified, low, end_ms, first_id)
        if restart is None:
            return
        instant = restart.instant
        if instant is not None:
            if instant == low and first_id > restart.after_id:
                restart = _Restart(instant, first_id, restart.seen)
            yield from _instant(api, object_type, properties, modified, restart)
            low, first_id = instant + 1, 0


def _window(
    api: HubSpotApi,
    object_type: str,
    properties: list[str],
    modified: str,
    low: int,
    end: int,
    first_id: int,
) -> Generator[Page, None, _Restart | None]:
    if first_id:
        # (low, first_id) is held: the rest of that instant, or anything later.
        span = [_filter(modified, "GTE", low + 1), _filter(modified, "LT", end)]
        rest: list[Json] | None = [
            _filter(modified, "GTE", low),
            _filter(modified, "LT", low + 1),
            _filter(ID_PROPERTY, "GT", first_id),
        ]
    else:
        span, rest = [_filter(modified, "GTE", low), _filter(modified, "LT", end)], None
    tail = _Tail(modified)
    after, previous = 0, None
    while True:
        page = api.search(object_type, span, modified, properties, after, alternative=rest)
        total = int(page.get("total") or 0)
        # Fewer matches than a page ago: records left the query (modified
        # or archived mid-sync) and every later offset moved back, so this
        # page may have skipped some. Drop it; go on from the last one.
        if previous is not None and total < previous:
            log.info(
                "HubSpot %s changed while paging; re-reading from the last instant", object_type
            )
            return tail.restart()
        previous = total
        results = page["results"]
        following = ((page.get("paging") or {}).get("next") or {}).get("after")
        if results:
            tail.add(results)
            yield Page(results, tail.done(low, first_id, finished=following is None), total)
        if following is None:
            return None
        after = _number(api.source, following, f"{object_type} paging cursor")
        if after + SEARCH_PAGE > SEARCH_CAP:
            restart = tail.restart()
            if restart.instant is None:
                raise SourceRetry(
                    api.source,
                    f"{object_type} search cannot page past "
                    f"{SEARCH_CAP}: its records carry no readable {modified}",
                )
            return restart


def _instant(
    api: HubSpotApi, object_type: str, properties: list[str], modified: str, restart: _Restart
) -> Iterator[Page]:
    instant = restart.instant if restart.instant is not None else -1
    span = [_filter(modified, "GTE", instant), _filter(modified, "LT", instant + 1)]
    last_id = restart.after_id
    while True:
        page = api.search(
            object_type, [*span, _filter(ID_PROPERTY, "GT", last_id)], ID_PROPERTY, properties
        )
        results = page["results"]
        if results:
            last_id = _number(api.source, results[-1].get("id"), f"{object_type} record id")
            fresh = [r for r in results if str(r.get("id")) not in restart.seen]
            # In id order: everything of the instant up to last_id is read.
            yield Page(fresh, (instant, last_id))
        if not results or not (page.get("paging") or {}).get("next"):
            return


def _number(source: str, value: object, what: str) -> int:
    """HubSpot's ids and paging cursors are integers; anything else is a
    garbled reply, retried at the next sync rather than a crash."""
    try:
        return int(str(value))
    except ValueError:
        raise SourceRetry(
            source, f"HubSpot sent a {what} that is not a number: {str(value)[:40]!r}"
        ) from None


def _filter(prop: str, operator: str, value: int) -> Json:
    return {"propertyName": prop, "operator": operator, "value": str(value)}


def _instant_ms(record: Json, modified: str) -> int | None:
    try:
        moment = parse_instant((record.get("properties") or {}).get(modified))
    except ValueError:
        return None
    return None if moment is None else to_ms(moment)


@dataclass(frozen=True, slots=True)
class _Restart:
    """Where a window query stopped: finish ``instant`` from ids after
    ``after_id`` (skipping ``seen``), then go on after it. An instant of
    None re-runs the window from its start."""

    instant: int | None
    after_id: int = 0  # HubSpot ids are positive
    seen: frozenset[str] = frozenset()


class _Tail:
    """The records of the latest instant a window query has yielded."""

    def __init__(self, modified: str) -> None:
        self._modified = modified
        self.instant: int | None = None
        self.ids: list[str] = []

    def add(self, results: list[Json]) -> None:
        last = _instant_ms(results[-1], self._modified)
        group = []
        for record in reversed(results):
            if _instant_ms(record, self._modified) != last:
                break
            group.append(str(record.get("id")))
        group.reverse()
        if len(group) == len(results) and last == self.instant:
            self.ids += group
        else:
            self.instant, self.ids = last, group

    def done(self, low: int, first_id: int, *, finished: bool) -> Position | None:
        """How far a window query has read. Before it ends only the
        instants before the latest one are complete (ties come in no
        documented order); once it ends, the latest instant is too."""
        if self.instant is None:
            return None
        held = first_id if self.instant == low else 0
        if not finished:
            return (self.instant, held)
        numbers = [int(i) for i in self.ids if i.isdigit()]
        if len(numbers) != len(self.ids):
            return (self.instant, held)
        return (self.instant, max([held, *numbers]))

    def restart(self) -> _Restart:
        """When the instant arrived in id order the seek continues after its
        last id. HubSpot does not document how it orders ties, so otherwise
        it re-reads the whole instant and skips what was already yielded."""
        if self.instant is None:
            return _Restart(None)
        numbers = [int(i) for i in self.ids if i.isdigit()]
        if len(numbers) == len(self.ids) and numbers == sorted(numbers):
            return _Restart(self.instant, numbers[-1])
        return _Restart(self.instant, 0, frozenset(self.ids))
