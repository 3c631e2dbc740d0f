"""Numbers and stage names as people read them in finding texts.

Used by the reconciler when it words a finding; the notifiers and the
summary receive finished sentences. One place for the wording keeps every
message saying "MQLs" and "12.5%" the same way.
"""

from __future__ import annotations

from datetime import timedelta

_PLURAL = {"visit": "visits", "lead": "leads", "mql": "MQLs", "sql": "SQLs", "won": "won deals"}
_SINGULAR = {"visit": "visit", "lead": "lead", "mql": "MQL", "sql": "SQL", "won": "won"}


def stage_noun(stage: str, n: float = 2) -> str:
    """``MQLs`` (or ``MQL`` for exactly one)."""
    return _SINGULAR[stage] if n == 1 and stage != "won" else _PLURAL[stage]


def rate_label(upper: str, lower: str) -> str:
    """``MQL→SQL``."""
    return f"{_SINGULAR[upper]}→{_SINGULAR[lower]}"


def percent(share: float) -> str:
    """0.4 → ``40%``, 0.125 → ``12.5%``, 0.0123 → ``1.2%``."""
    text = f"{share * 100:.1f}"
    return text.removesuffix(".0") + "%"


def count(n: float) -> str:
    """Record counts with thousands separators; fractional counts (an
    expected volume) rounded to whole records."""
    return f"{round(n):,}"


def per_day(n: float) -> str:
    """A pace: one decimal below 100 a day, whole numbers above."""
    return f"{n:,.1f}/day" if n < 100 else f"{n:,.0f}/day"


def amount(x: float) -> str:
    """A money amount in the CRM's currency (alignmon does not convert)."""
    return f"{x:,.0f}"


def price(x: float) -> str:
    """A unit cost: cents where there are any (``2.5``, ``0.75``, ``40``)."""
    return f"{x:,.2f}".removesuffix(".00").removesuffix("0") if x % 1 else f"{x:,.0f}"


def ago(span: timedelta) -> str:
    """A duration as people say it: ``45m``, ``3h 20m``, ``2d 4h``."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"
