"""The first read of an object type, at both of HubSpot's budgets at once.

A full read needs no modification-time order, so it need not be a search:
the list endpoint (100 records a page) has its own budget, per ten seconds,
apart from search's per-second one. One thread pages the list endpoint from
the lowest id up while another searches by id from the highest down, 200 a
page, until the two meet; each keeps only the records the other has not
read, so every live record comes once. Both budgets are spent in parallel,
which neither endpoint alone reaches (docs/benchmarks.md has the floor).

Object types are read one after another, each from both ends: the sync loop
(``monitor.sync``) consumes one object type at a time, and one object type
read from both ends already keeps both budgets busy, so prefetching the next
type would add threads without adding throughput.

Data flow: ``HubSpotConnector.pull`` iterates ``pages`` when it has no
cursor; the two readers send their requests through ``HubSpotApi`` (whose
token buckets pace them) and hand raw pages over bounded queues, so a slow
store holds the readers back instead of filling memory.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from connectors.hubspot.client import HubSpotApi, Json
from connectors.hubspot.settings import ID_PROPERTY, SEARCH_PAGE

#: Pages both readers together may hold ahead of the consumer (at most
#: 6,400 records): enough to keep spending both budgets while the store
#: commits a transaction.
AHEAD = 32
_DONE = object()


@dataclass
class _Meeting:
    """How far each end has read: the list every id up to ``low``, the
    search every id from ``high`` up. Guarded by ``lock``."""

    low: int = 0
    high: int | None = None
    finished: bool = False  # one end found nothing more: the other stops too
    total: int | None = None  # the first search's ``total``: every record of the type
    counted: bool = False  # the first search has answered
    lock: threading.Lock = field(default_factory=threading.Lock)


def pages(
    api: HubSpotApi, object_type: str, properties: list[str]
) -> Iterator[tuple[list[Json], int | None]]:
    """Every live record of ``object_type``, page by page, in no useful
    order, each with the CRM's count of the type once the search has told
    it (for progress). Closing the iterator stops both readers."""
    meeting = _Meeting()
    stop = threading.Event()
    out: queue.Queue[object] = queue.Queue(maxsize=AHEAD)
    readers = [
        threading.Thread(
            target=_run,
            args=(read, api, object_type, properties, meeting, stop, out),
            name=f"hubspot-{object_type}-{read.__name__.strip('_')}",
            daemon=True,
        )
        for read in (_from_lowest, _from_highest)
    ]
    for reader in readers:
        reader.start()
    running = len(readers)
    # List pages that arrive before the first search answered wait for its
    # count (one search request), up to the read-ahead: progress then has a
    # total from the start, and a slow search holds no more pages than that.
    early: list[list[Json]] = []
    try:
        while running:
            item = out.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                early.append(item)  # type: ignore[arg-type]
            with meeting.lock:
                total, counted = meeting.total, meeting.counted
            if counted or running < len(readers) or len(early) >= AHEAD:
                for page in early:
                    yield page, total
                early = []
        for page in early:
            yield page, meeting.total
    finally:
        stop.set()
        while any(r.is_alive() for r in readers):
            with contextlib.suppress(queue.Empty):  # unblock a reader on a full queue
                out.get(timeout=0.05)
        for reader in readers:
            reader.join()


Reader = Callable[[HubSpotApi, str, list[str], _Meeting], Iterator[list[Json]]]


def _run(
    read: Reader,
    api: HubSpotApi,
    object_type: str,
    properties: list[str],
    meeting: _Meeting,
    stop: threading.Event,
    out: queue.Queue[object],
) -> None:
    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for page in read(api, object_type, properties, meeting):
            if stop.is_set() or (page and not put(page)):
                return
    except BaseException as exc:  # handed to the consumer, which raises it
        put(exc)
        return
    put(_DONE)


def _id(record: Json) -> int:
    """A record's id as a number; HubSpot's ids are positive integers, and
    a record without one is kept for ``normalise`` to reject."""
    text = str(record.get("id") or "")
    return int(text) if text.isdigit() else 0


def _from_lowest(
    api: HubSpotApi, object_type: str, properties: list[str], meeting: _Meeting
) -> Iterator[list[Json]]:
    """The list endpoint up to where the search has read. It pages in
    ascending id order (its ``after`` token is the next record's id); that
    order is what lets the two ends meet without a gap."""
    after: str | None = None
    while True:
        page = api.object_page(object_type, properties, after)
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        with meeting.lock:
            if meeting.finished:
                return
            high = meeting.high
            fresh = [r for r in page["results"] if high is None or _id(r) < high]
            met = len(fresh) < len(page["results"])
            meeting.low = max([meeting.low, *map(_id, fresh)])
            meeting.finished = met or after is None
        yield fresh
        if met or after is None:
            return
        after = str(after)


def _from_highest(
    api: HubSpotApi, object_type: str, properties: list[str], meeting: _Meeting
) -> Iterator[list[Json]]:
    """Search sorted by id, descending, each query below the lowest id read
    so far: a seek, never an offset, so the 10,000-result cap never applies."""
    below: int | None = None
    while True:
        # Always a filter: a search with an empty filter group is not
        # documented to match everything.
        filters = [_by_id("GT", 0)] if below is None else [_by_id("LT", below)]
        page = api.search(object_type, filters, ID_PROPERTY, properties, descending=True)
        results = page["results"]
        with meeting.lock:
            if below is None:
                meeting.total = int(page.get("total") or 0) or None
                meeting.counted = True
            if meeting.finished:
                return
            fresh = [r for r in results if _id(r) > meeting.low]
            met = len(fresh) < len(results)
            ids = [_id(r) for r in fresh]
            if ids:
                meeting.high = min(ids) if meeting.high is None else min(meeting.high, *ids)
            ended = met or len(results) < SEARCH_PAGE or not ids
            meeting.finished = ended
        yield fresh
        if ended:
            return
        below = min(ids)


def _by_id(operator: str, record_id: int) -> Json:
    return {"propertyName": ID_PROPERTY, "operator": operator, "value": str(record_id)}
