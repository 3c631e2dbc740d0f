"""Deal amounts as CRMs send them: numbers, or text typed by a person or an
integration ("12,500 USD", "$12,500.00", "n/a").

Shared by every connector so that one funnel reads the same whatever CRM
holds it. Only what has one meaning is read: a currency symbol or ISO code
before or after the number, commas between groups of three digits, a dot
for decimals. "12.500,00", "1,5", "$12k" and "n/a" could mean several
things or none; they raise ``NotAnAmount`` and the caller keeps the deal
without its amount (a won deal counts as won whatever its amount says).
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Symbols, optionally after up to two capital letters ("US$", "R$", "C$").
_SYMBOL = r"[A-Z]{0,2}[$€£¥₹₩₽₺₪₫₴₦₱฿¢]"
_CURRENCY = rf"(?:[A-Z]{{3}}|{_SYMBOL})"
_EXPONENT = r"(?:[eE][+-]?\d+)?"
_NUMBER = rf"(?:(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d*)?|\.\d+){_EXPONENT}"
_AMOUNT = re.compile(
    rf"(?P<lead>[+-]?)\s*(?:{_CURRENCY}\s*)?(?P<sign>[+-]?)(?P<number>{_NUMBER})"
    rf"(?:\s*{_CURRENCY})?",
    re.ASCII,  # digits are 0-9: float() would also read "٣٠٠"
)


class NotAnAmount(ValueError):
    """A value that is not one finite amount."""


def parse_amount(value: Any) -> float | None:
    """The amount ``value`` states, None when it states none (null or
    empty). Non-finite numbers raise too: ``nan`` or ``1e999`` would
    poison every sum the deal size is learned from."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NotAnAmount(f"{_short(value)} is not a number")
    text = _plain(value) if isinstance(value, str) else value
    try:
        amount = float(text)
    except (ValueError, OverflowError):  # overflow: an integer past 1e308
        raise NotAnAmount(f"{_short(value)} is not a number") from None
    if not math.isfinite(amount):
        raise NotAnAmount(f"{_short(value)} is not a finite number")
    return amount


def _plain(text: str) -> str:
    """``text`` as a plain decimal number: currency and thousands
    separators taken off, one sign in front."""
    found = _AMOUNT.fullmatch(text.strip())
    if found is None or (found["lead"] and found["sign"]):
        raise NotAnAmount(f"{_short(text)} is not a number")
    return (found["lead"] or found["sign"]) + found["number"].replace(",", "")


def _short(value: Any) -> str:
    """A value for a log line: a 100 KB garbage field is not logged whole."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
