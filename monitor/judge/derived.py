"""What the judge learns from an object the store hands back unchanged,
kept as long as that object: a cohort table (below), a day's folded SLA
outcomes (``sla._Outline``), a rule's latest SLA judgement per store.

The store hands back the same ``CohortTable`` object for as long as the
table's days are unchanged (a whole local day, in a service that evaluates
every minute), and what is computed from it (lag curves, matured and
same-age cohorts, the forecast's open conversions) is most of the cost of
judging a goal. Keyed by the table's identity and every other argument,
each is computed once per table rather than once per evaluation; a table
read afresh is a new object and learns afresh, so nothing kept can outlive
what it was learned from.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Concatenate, ParamSpec, TypeVar

from monitor.facts import CohortTable

T = TypeVar("T")
P = ParamSpec("P")

_kept: dict[int, dict[Hashable, Any]] = {}


def derived(source: object, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per ``source`` object and ``key``: the same
    inputs give the same result, so the judge stays a pure function."""
    per_source = _kept.get(id(source))
    if per_source is None:
        per_source = _kept[id(source)] = {}
        # Dropped when the source is: its id can then be reused.
        weakref.finalize(source, _kept.pop, id(source), None)
    if key in per_source:
        return per_source[key]
    value = per_source[key] = compute()
    return value


def per_table(
    function: Callable[Concatenate[CohortTable, P], T],
) -> Callable[Concatenate[CohortTable, P], T]:
    """``function(table, ...)``, computed once per table and other
    arguments (all hashable; a module setting it reads must be one of
    them, passed by its caller). A table made for one use is better given
    to the plain function."""

    @functools.wraps(function)
    def kept(table: CohortTable, /, *args: P.args, **kwargs: P.kwargs) -> T:
        key = (function, args, tuple(sorted(kwargs.items())))
        return derived(table, key, lambda: function(table, *args, **kwargs))

    return kept
