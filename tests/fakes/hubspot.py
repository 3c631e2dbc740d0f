"""A fake HubSpot over real HTTP on 127.0.0.1: the endpoints the connector
uses, with HubSpot's paging, 10,000-result search cap, rate limits (search
per second, every other endpoint per ten seconds) and error bodies (docs/design.md, "HubSpot"), plus fault knobs.

Records are stored compactly: per object type, id → ``_Rec`` (times in epoch
ms and property overrides) and a sorted list of ``(modified, id)`` keys of
live records, so a search is a bisect and a slice even at 100,000 records;
sorted lists of live and of archived ids serve the list endpoint and
searches by id the same way.
Property values are derived from (seed, id) when a record is served, so
seeding is cheap and the same seed always gives the same portal. Ties in the
modified sort are broken by id, as a database would.

This module is longer than most: it is a whole vendor API in one file, so a
test reads one place to know what the fake does.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from bisect import bisect_left, bisect_right, insort
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.fakes.server import FakeServer, Fault, Reply, Request, Route, json_reply

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CAP, SEARCH_LIMIT, LIST_LIMIT = 10_000, 200, 100
MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
FIRST_ID = {"contacts": 100_001, "deals": 500_001}
SCOPE = {
    "contacts": "crm.objects.contacts.read",
    "deals": "crm.objects.deals.read",
    "owners": "crm.objects.owners.read",
    "sessions": "business-intelligence",
}
STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "customer")
ANALYTICS_SOURCES = ("PAID_SOCIAL", "ORGANIC_SEARCH", "REFERRALS", "EMAIL_MARKETING")
PROPERTIES = {
    "contacts": {
        "firstname",
        "lastname",
        "email",
        "lifecyclestage",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
        "hubspot_owner_id",
        "hubspot_owner_assigneddate",
        "hs_sa_first_engagement_date",
        "hs_region",
        "icp_tier",
        "hs_analytics_source",
        "hs_merged_object_ids",
        "hs_lead_status",
        *(f"hs_v2_date_entered_{s}" for s in STAGES),
        *(f"hs_lifecyclestage_{s}_date" for s in STAGES),
    },
    "deals": {
        "dealname",
        "amount",
        "closedate",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hubspot_owner_id",
        "hs_is_closed_won",
        "hs_is_closed",
        "dealstage",
        "pipeline",
        "hs_region",
        "hs_merged_object_ids",
    },
}
OWNERS = [
    {"id": "201", "email": "ana.ito@example.com", "firstName": "Ana", "lastName": "Ito"},
    {"id": "202", "email": "ben.ode@example.com", "firstName": "Ben", "lastName": "Ode"},
    {"id": "203", "email": "cy.park@example.com", "firstName": "Cy", "lastName": "Park"},
    {"id": "204", "email": "dee.ruiz@example.com", "firstName": "Dee", "lastName": "Ruiz"},
]
GONE_OWNER = {"id": "299", "email": "old.rep@example.com", "firstName": "Old", "lastName": "Rep"}
BIG = 2**62


def iso(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")[:-6] + "Z"


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


@dataclass
class _Rec:
    id: int
    created: int
    modified: int
    archived: int | None = None
    overrides: dict[str, str | None] = field(default_factory=dict)
    generated: bool = True  # False: only the properties set with set_props


#: What a gateway in front of HubSpot answers when it, not HubSpot, fails.
GATEWAY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


class FakeHubSpot(FakeServer):
    """Start with ``FakeHubSpot()``; ``url`` is its base URL, ``token`` the
    valid token. Knobs: ``fail_next``, ``timeout_next``, ``truncate_next``,
    ``garble_next``, ``down``/``up``, ``rate_limit``, ``burst_limit``,
    ``real_limits``, ``delay``, ``revoke_token``,
    ``ties_by_id``,
    ``scopes``, ``remove_property``; data:
    ``seed_records``, ``add`` (``generated=False``: a record holding only what
    ``set_props`` gives it), ``modify``, ``archive``, ``set_props``,
    ``add_owner``; clock: ``now``, ``advance``. ``calls`` counts requests per endpoint ("search:contacts",
    "list:contacts", "owners", "properties:contacts", "token_info",
    "sessions")."""

    routes = (
        Route("POST", r"/crm/v3/objects/(?P<kind>contacts|deals)/search", "search:{kind}"),
        Route("GET", r"/crm/v3/objects/(?P<kind>contacts|deals)", "list:{kind}"),
        Route("GET", r"/crm/v3/owners(?:/.*)?", "owners"),
        Route("*", r"/crm/v3/properties/(?P<kind>contacts|deals)", "properties:{kind}"),
        Route("POST", r"/oauth/v2/private-apps/get/access-token-info", "token_info"),
        Route("GET", r"/analytics/v2/reports/totals/daily", "sessions"),
    )

    def __init__(self, seed: int = 1, now: datetime | None = None, portal_id: int = 4242) -> None:
        super().__init__()
        self.seed = seed
        self.now = now or datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
        self.portal_id = portal_id
        self.token = "pat-na1-fake-" + uuid.UUID(int=seed).hex
        self.revoked = False
        self.scopes = set(SCOPE.values())
        self.properties = {t: set(p) for t, p in PROPERTIES.items()}
        self.rate_limit: int | None = None  # searches per rolling second (SECONDLY)
        self.burst_limit: int | None = (
            None  # other requests per rolling 10 s (TEN_SECONDLY_ROLLING)
        )
        self.stall_seconds = 1.5
        self.garbled_paging = 0  # search pages whose next-page cursor is not a number
        # HubSpot documents no order for ties in the modified sort; False
        # serves them in descending id order, as nothing may assume otherwise.
        self.ties_by_id = True
        self.calls: Counter[str] = Counter()
        self.searches: list[dict[str, Any]] = []
        self.active_owners = list(OWNERS)
        self._recs: dict[str, dict[int, _Rec]] = {"contacts": {}, "deals": {}}
        self._index: dict[str, list[tuple[int, int]]] = {"contacts": [], "deals": []}
        self._live: dict[str, list[int]] = {"contacts": [], "deals": []}
        self._archived: dict[str, list[int]] = {"contacts": [], "deals": []}
        self._next_id = dict(FIRST_ID)
        self._recent: dict[bool, deque[float]] = {True: deque(), False: deque()}
        self.start()

    def real_limits(self) -> None:
        """HubSpot's limits for a private app on a Professional portal:
        5 searches per second, 190 other requests per 10 s."""
        self.rate_limit, self.burst_limit = 5, 190

    # -- clock and data -------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def add(
        self, object_type: str, modified: Iterable[datetime], *, generated: bool = True
    ) -> list[str]:
        """One new record per modified instant; returns their ids. A record
        not ``generated`` is created at that instant and has no property but
        its id, times and what ``set_props`` gives it."""
        with self.lock:
            recs, ids = self._recs[object_type], []
            keys = []
            for moment in modified:
                rid = self._next_id[object_type]
                self._next_id[object_type] += 1
                at = ms(moment)
                age = random.Random(self.seed * 7919 + rid).randrange(0, 90 * 86_400_000)
                recs[rid] = (
                    _Rec(rid, at - age, at) if generated else _Rec(rid, at, at, None, {}, False)
                )
                keys.append((at, rid))
                ids.append(str(rid))
            index = self._index[object_type]
            index.extend(keys)
            index.sort()
            self._live[object_type].extend(int(i) for i in ids)  # ids only grow
            return ids

    def seed_records(
        self,
        object_type: str,
        n: int,
        *,
        shared: int = 0,
        spacing: timedelta = timedelta(seconds=10),
    ) -> list[str]:
        """n records modified one every ``spacing`` up to ``now``; ``shared``
        of them (spread through the range) share the middle instant, as after
        a bulk update."""
        times = [self.now - spacing * (n - 1 - i) for i in range(n)]
        middle = times[n // 2] if n else self.now
        for j in range(shared):
            times[j * n // shared] = middle
        return self.add(object_type, times)

    def modify(self, object_type: str, ids: Iterable[str], at: datetime | None = None) -> None:
        with self.lock:
            for rid in map(int, ids):
                rec = self._recs[object_type][rid]
                self._unindex(object_type, rec)
                rec.modified = ms(at or self.now)
                if rec.archived is None:
                    insort(self._index[object_type], (rec.modified, rid))

    def archive(self, object_type: str, ids: Iterable[str], at: datetime | None = None) -> None:
        with self.lock:
            for rid in map(int, ids):
                rec = self._recs[object_type][rid]
                self._unindex(object_type, rec)
                if rec.archived is None:
                    live = self._live[object_type]
                    del live[bisect_left(live, rid)]
                    insort(self._archived[object_type], rid)
                rec.archived = rec.modified = ms(at or self.now)

    def add_owner(self, owner_id: str, email: str, first: str, last: str) -> None:
        """An active owner (a HubSpot user) besides the built-in ones."""
        with self.lock:
            self.active_owners.append(
                {"id": owner_id, "email": email, "firstName": first, "lastName": last}
            )

    def set_props(self, object_type: str, rid: str, **values: str | None) -> None:
        """Override generated property values (bad data, edge cases)."""
        with self.lock:
            self._recs[object_type][int(rid)].overrides.update(values)

    def live_ids(self, object_type: str) -> set[str]:
        with self.lock:
            return {str(rid) for _, rid in self._index[object_type]}

    def keys(self, object_type: str) -> list[tuple[int, int]]:
        """(modified ms, id) of every live record, in search order."""
        with self.lock:
            return list(self._index[object_type])

    def record(self, object_type: str, rid: str) -> dict[str, Any]:
        """A record as the API would return it, every property included."""
        with self.lock:
            return self._json(object_type, self._recs[object_type][int(rid)], None)

    def _unindex(self, object_type: str, rec: _Rec) -> None:
        index = self._index[object_type]
        at = bisect_left(index, (rec.modified, rec.id))
        if at < len(index) and index[at] == (rec.modified, rec.id):
            del index[at]

    # -- knobs ----------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        retry_after: float | None = None,
        count: int = 1,
        endpoint: str | None = None,
    ) -> None:
        """The next ``count`` requests (to ``endpoint``, a prefix such as
        "search") answer ``status`` with HubSpot's error body."""
        self._next(count, endpoint, status=status, retry_after=retry_after)

    def timeout_next(self, count: int = 1, endpoint: str | None = None) -> None:
        """The next requests answer only after ``stall_seconds``."""
        self._next(count, endpoint, stall=self.stall_seconds)

    def truncate_next(self, count: int = 1, endpoint: str | None = None) -> None:
        """The next requests get half their JSON body (a 200, malformed)."""
        self._next(count, endpoint, truncate=True)

    def garble_next(
        self, count: int = 1, endpoint: str | None = None, status: int = 200, body: str = ""
    ) -> None:
        """The next requests answer ``status`` with a complete body that is
        not JSON (by default a gateway's HTML error page)."""
        self._next(count, endpoint, status=status, body=body or GATEWAY_PAGE)

    def _next(self, count: int, endpoint: str | None, **fault: Any) -> None:
        if count > 0:
            self.add_fault(Fault(endpoint, count, **fault))

    def fault_applies(self, fault: Fault, endpoint: str) -> bool:
        return fault.endpoint is None or endpoint.startswith(fault.endpoint)

    def revoke_token(self) -> None:
        self.revoked = True

    def remove_property(self, object_type: str, name: str) -> None:
        self.properties[object_type].discard(name)

    def visits_on(self, day: date) -> int:
        return 300 + random.Random(self.seed * 31 + day.toordinal()).randrange(400)

    # -- generated records ----------------------------------------------------

    def _json(self, object_type: str, rec: _Rec, wanted: set[str] | None) -> dict[str, Any]:
        props = self._props(object_type, rec)
        props.update(rec.overrides)
        known = self.properties[object_type]
        keep = {"hs_object_id", "createdate", MODIFIED[object_type]}
        props = {
            k: v
            for k, v in props.items()
            if k in known and (wanted is None or k in wanted or k in keep)
        }
        for name in (wanted or set()) & known:
            props.setdefault(name, None)
        out = {
            "id": str(rec.id),
            "properties": props,
            "createdAt": iso(rec.created),
            "updatedAt": iso(rec.modified),
            "archived": rec.archived is not None,
        }
        if rec.archived is not None:
            out["archivedAt"] = iso(rec.archived)
        return out

    def _props(self, object_type: str, rec: _Rec) -> dict[str, str | None]:
        rng = random.Random(self.seed * 1_000_003 + rec.id)
        span = max(rec.modified - rec.created, 1)
        at = [rec.created + int(span * f) for f in sorted(rng.random() for _ in range(4))]
        owner = rng.choice([*OWNERS, GONE_OWNER, None])
        props: dict[str, str | None] = {
            "hs_object_id": str(rec.id),
            "createdate": iso(rec.created),
            MODIFIED[object_type]: iso(rec.modified),
        }
        if not rec.generated:
            return props
        props |= {
            "hubspot_owner_id": owner["id"] if owner else None,
            "hs_region": rng.choice(["NA", "EMEA", "APAC"]),
        }
        if object_type == "deals":
            won = rng.random() < 0.3
            props.update(
                dealname=f"Deal {rec.id}",
                amount=str(rng.randrange(5, 120) * 1000),
                hs_is_closed_won="true" if won else "false",
                hs_is_closed="true" if won else "false",
                pipeline="default",
                dealstage="closedwon" if won else "appointmentscheduled",
                closedate=iso(at[3]),
            )
            return props
        reached = 0 if rng.random() < 0.1 else 1 + sum(rng.random() < p for p in (0.5, 0.5, 0.4))
        stage = "subscriber" if reached == 0 else STAGES[reached - 1]
        first, last = rng.choice(["Ada", "Bo", "Cai", "Dara"]), rng.choice(["Moss", "Lund", "Ngo"])
        props.update(
            firstname=first,
            lastname=last,
            lifecyclestage=stage,
            email=f"{first.lower()}.{rec.id}@example.org",
            icp_tier=str(rng.randint(1, 3)),
            # HubSpot's "original source"; from the id, so no other draw moves.
            hs_analytics_source=ANALYTICS_SOURCES[rec.id % len(ANALYTICS_SOURCES)],
        )
        for i, name in enumerate(STAGES[:reached]):
            props[f"hs_v2_date_entered_{name}"] = iso(at[i])
            props[f"hs_lifecyclestage_{name}_date"] = iso(at[i])
        if owner and reached >= 2:
            props["hubspot_owner_assigneddate"] = iso(at[1])
            if rng.random() < 0.7:
                props["hs_sa_first_engagement_date"] = iso(
                    min(rec.modified, at[1] + rng.randrange(1, 3600_000))
                )
        return props

    # -- endpoints ------------------------------------------------------------

    def search(self, object_type: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.searches.append(body)
        limit, after = int(body.get("limit", 10)), int(body.get("after") or 0)
        groups, sorts = body.get("filterGroups") or [{"filters": []}], body.get("sorts") or []
        if limit > SEARCH_LIMIT or len(sorts) > 1 or len(groups) > 5:
            return 400, _error("VALIDATION_ERROR", "limit, sorts or filterGroups out of range")
        if after >= CAP or after + limit > CAP:
            return 400, _error("VALIDATION_ERROR", f"paging past {CAP} results is not supported")
        sort = sorts[0]["propertyName"] if sorts else "hs_object_id"
        if sort not in (MODIFIED[object_type], "hs_object_id"):
            return 400, _error("VALIDATION_ERROR", f"cannot sort on {sort}")
        descending = bool(sorts) and sorts[0].get("direction") == "DESCENDING"
        wanted = set(body.get("properties") or [])
        if sort == "hs_object_id" and len(groups) == 1:
            by_id = self._by_id(object_type, groups[0].get("filters") or [], descending)
            if by_id is not None:
                return 200, self._page(object_type, by_id, after, limit, wanted)
        matches: list[list[tuple[int, int]]] = []
        for group in groups:
            found = self._match(object_type, group.get("filters") or [])
            if isinstance(found, str):
                return 400, _error("VALIDATION_ERROR", found)
            matches.append(found)
        # One group's match is already in (modified, id) order: no sort needed.
        ordered = matches[0] if len(matches) == 1 else sorted(set().union(*matches))
        if sort == "hs_object_id" and len({m for m, _ in ordered[:1] + ordered[-1:]}) > 1:
            ordered = sorted(ordered, key=lambda k: k[1])
        elif sort != "hs_object_id" and not self.ties_by_id:
            ordered = sorted(ordered, key=lambda k: (k[0], -k[1]))
        if descending:
            ordered.reverse()
        return 200, self._page(object_type, [k[1] for k in ordered], after, limit, wanted)

    def _page(
        self, object_type: str, ordered: list[int], after: int, limit: int, wanted: set[str]
    ) -> dict[str, Any]:
        recs = self._recs[object_type]
        page: dict[str, Any] = {
            "total": len(ordered),
            "results": [
                self._json(object_type, recs[i], wanted) for i in ordered[after : after + limit]
            ],
        }
        if after + limit < len(ordered):
            page["paging"] = {"next": {"after": str(after + limit)}}
            if self.garbled_paging:
                self.garbled_paging -= 1
                page["paging"]["next"]["after"] = "<!channel> not a number"
        return page

    def _by_id(
        self, object_type: str, filters: list[dict[str, Any]], descending: bool
    ) -> list[int] | None:
        """Live ids in an id range, for a search by id alone (a bisect in
        the live ids); None when the filters name anything but the id."""
        low, high = -BIG, BIG
        for f in filters:
            value, op = f.get("value"), f.get("operator")
            if f.get("propertyName") != "hs_object_id" or op not in ("GT", "GTE", "LT", "LTE"):
                return None
            number = _number(value)
            if op in ("GT", "GTE"):
                low = max(low, number + (op == "GT"))
            else:
                high = min(high, number - (op == "LT"))
        live = self._live[object_type]
        found = live[bisect_left(live, low) : bisect_right(live, high)]
        return found[::-1] if descending else found

    def _match(
        self, object_type: str, filters: list[dict[str, Any]]
    ) -> list[tuple[int, int]] | str:
        """Records matching one filter group: a bisect on the modified range,
        then the id bounds (a bisect too when the range is one instant)."""
        bounds = {"m": [-BIG, BIG], "i": [-BIG, BIG]}
        for f in filters:
            name, op = f.get("propertyName"), f.get("operator")
            which = (
                "m" if name == MODIFIED[object_type] else "i" if name == "hs_object_id" else None
            )
            if which is None:
                return f"filtering on {name!r} is not supported by the fake"
            value = _number(f.get("value"))
            if op == "BETWEEN":
                low, high = value, _number(f.get("highValue"))
            else:
                step = {
                    "GT": (1, None),
                    "GTE": (0, None),
                    "LT": (None, -1),
                    "LTE": (None, 0),
                    "EQ": (0, 0),
                }.get(op)
                if step is None:
                    return f"operator {op!r} is not supported by the fake"
                low = None if step[0] is None else value + step[0]
                high = None if step[1] is None else value + step[1]
            if low is not None:
                bounds[which][0] = max(bounds[which][0], low)
            if high is not None:
                bounds[which][1] = min(bounds[which][1], high)
        (m_lo, m_hi), (i_lo, i_hi) = bounds["m"], bounds["i"]
        index = self._index[object_type]
        if m_lo == m_hi:
            return index[bisect_left(index, (m_lo, i_lo)) : bisect_right(index, (m_hi, i_hi))]
        found = index[bisect_left(index, (m_lo, -BIG)) : bisect_right(index, (m_hi, BIG))]
        if (i_lo, i_hi) != (-BIG, BIG):
            found = [k for k in found if i_lo <= k[1] <= i_hi]
        return found

    def list_page(
        self, object_type: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        """``GET /crm/v3/objects/{type}``: live (or archived) records in id
        order; ``properties`` repeated or comma-separated, as HubSpot takes
        them; ``associations`` accepted (the fake holds none)."""
        arg = {name: values[-1] for name, values in query.items()}
        limit, archived = int(arg.get("limit", 10)), arg.get("archived", "").lower() == "true"
        if limit > LIST_LIMIT:
            return 400, _error("VALIDATION_ERROR", f"limit must be at most {LIST_LIMIT}")
        after = int(arg.get("after") or 0)
        pool = (self._archived if archived else self._live)[object_type]
        start = bisect_left(pool, after)
        ids = pool[start : start + limit + 1]
        wanted = {p for v in query.get("properties", []) for p in v.split(",") if p}
        page: dict[str, Any] = {
            "results": [
                self._json(object_type, self._recs[object_type][i], wanted) for i in ids[:limit]
            ]
        }
        if len(ids) > limit:
            page["paging"] = {"next": {"after": str(ids[limit])}}
        return 200, page

    def owners(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        pool = [GONE_OWNER] if query.get("archived", "").lower() == "true" else self.active_owners
        limit, after = int(query.get("limit", 100)), int(query.get("after") or 0)
        page = {
            "results": [dict(o, userId=int(o["id"]) + 9000) for o in pool[after : after + limit]]
        }
        if after + limit < len(pool):
            page["paging"] = {"next": {"after": str(after + limit)}}
        return 200, page

    def sessions(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        start = datetime.strptime(query["start"], "%Y%m%d").date()
        end = min(datetime.strptime(query["end"], "%Y%m%d").date(), self.now.date())
        days = [start + timedelta(days=d) for d in range((end - start).days + 1)]
        return 200, {d.isoformat(): [{"visits": self.visits_on(d), "contacts": 3}] for d in days}

    def property_list(self, object_type: str) -> tuple[int, dict[str, Any]]:
        names = sorted(self.properties[object_type])
        return 200, {"results": [{"name": n, "label": n, "type": "string"} for n in names]}

    def token_info(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body.get("tokenKey") != self.token or self.revoked:
            return 401, _error("INVALID_AUTHENTICATION", "The token is invalid or revoked")
        return 200, {
            "userId": 9001,
            "hubId": self.portal_id,
            "appId": 77,
            "scopes": sorted(self.scopes),
        }

    # -- dispatch -------------------------------------------------------------

    def log(self, request: Request) -> None:
        self.calls[request.endpoint] += 1

    def refuse(self, request: Request) -> Reply | None:
        search = request.endpoint.startswith("search")
        if self._limited(search):
            return _reply(429, _rate_limited() if search else _burst_limited())
        auth = request.headers.get("Authorization") or ""
        if auth != f"Bearer {self.token}" or self.revoked:
            return _reply(
                401, _error("INVALID_AUTHENTICATION", "Authentication credentials not found.")
            )
        scope = request.params.get("kind") or SCOPE_OF.get(request.endpoint)
        if scope and SCOPE[scope] not in self.scopes:
            return _reply(403, _missing_scope(SCOPE[scope]))
        if request.endpoint == "unknown":
            return _reply(
                404, _error("OBJECT_NOT_FOUND", f"no route for {request.method} {request.path}")
            )
        return None

    def answer(self, request: Request) -> Reply:
        kind, query = request.params.get("kind", ""), request.args
        endpoint = request.endpoint.partition(":")[0]
        if endpoint == "search":
            return _reply(*self.search(kind, _body(request)))
        if endpoint == "list":
            return _reply(*self.list_page(kind, request.query))
        if endpoint == "properties":
            return _reply(*self.property_list(kind))
        if endpoint == "owners":
            return _reply(*self.owners(query))
        if endpoint == "sessions":
            return _reply(*self.sessions(query))
        return _reply(*self.token_info(_body(request)))

    def error_reply(self, request: Request, fault: Fault) -> Reply:
        return _reply(fault.status, _fault_body(fault.status))

    def _limited(self, search: bool) -> bool:
        """Over the search limit (per rolling second) or the other
        endpoints' (per rolling ten seconds); a refused request counts for
        neither, as at HubSpot."""
        limit, window = (self.rate_limit, 1.0) if search else (self.burst_limit, 10.0)
        if limit is None:
            return False
        with self.lock:
            recent, now = self._recent[search], time.monotonic()
            while recent and recent[0] <= now - window:
                recent.popleft()
            if len(recent) >= limit:
                return True
            recent.append(now)
            return False


#: The scope an endpoint needs, besides the object types' own.
SCOPE_OF = {"owners": "owners", "sessions": "sessions"}


def _reply(status: int, data: dict[str, Any]) -> Reply:
    return json_reply(status, data, "application/json;charset=utf-8")


def _body(request: Request) -> Any:
    try:
        return json.loads(request.body) if request.body else {}
    except ValueError:
        return {}


def _number(value: Any) -> int:
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else ms(datetime.fromisoformat(text))


def _error(category: str, message: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }


def _rate_limited() -> dict[str, Any]:
    return {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "SECONDLY",
    }


def _burst_limited() -> dict[str, Any]:
    return {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "TEN_SECONDLY_ROLLING",
        "groupName": "publicapi:private-app:4242",
    }


def _missing_scope(scope: str) -> dict[str, Any]:
    body = _error(
        "MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call."
    )
    body["errors"] = [
        {
            "message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": [scope]},
        }
    ]
    return body


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return _rate_limited()
    if status >= 500:
        return _error("INTERNAL_ERROR", "internal error")
    return _error("VALIDATION_ERROR", f"injected {status}")
