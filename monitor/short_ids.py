"""Short alert ids, as git abbreviates commit hashes: the first characters
of the SHA-256 of an alert's fingerprint, seven at least and more where two
alerts would share them. Fingerprints (``sla-breach/mql-follow-up/ines@…``)
are exact but long; a short id is something to read off ``alignmon alerts``
and type into ``alignmon silence``.

An id is unique among every alert the database remembers, closed ones
included, so one shown today still names the same alert tomorrow unless an
alert with the same first characters appears (then it grows, as in git).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

#: Characters an id shows at least (git's default), and accepts at least.
SHOWN, ACCEPTED = 7, 4
_HEX = re.compile(rf"[0-9a-f]{{{ACCEPTED},64}}")


def digest(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()


def short_ids(fingerprints: Iterable[str], shown: int = SHOWN) -> dict[str, str]:
    """fingerprint → its shortest unambiguous id: ``shown`` characters, or
    one more than it shares with its nearest neighbour."""
    hashes = sorted((digest(fp), fp) for fp in set(fingerprints))
    ids: dict[str, str] = {}
    for i, (full, fingerprint) in enumerate(hashes):
        neighbours = [hashes[j][0] for j in (i - 1, i + 1) if 0 <= j < len(hashes)]
        shared = max((_shared(full, n) for n in neighbours), default=0)
        ids[fingerprint] = full[: max(shown, shared + 1)]
    return ids


def _shared(a: str, b: str) -> int:
    """How many leading characters two digests have in common."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))


def expand(token: str, fingerprints: Iterable[str]) -> list[str]:
    """The fingerprints whose id starts with ``token`` (none when it is not
    hexadecimal, or shorter than ``ACCEPTED``)."""
    if not _HEX.fullmatch(token):
        return []
    return sorted(fp for fp in set(fingerprints) if digest(fp).startswith(token))
