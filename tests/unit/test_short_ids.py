"""Short alert ids: a prefix of the fingerprint's hash, lengthened where
two alerts share one, as git abbreviates commits (monitor/short_ids.py)."""

from __future__ import annotations

from monitor.short_ids import SHOWN, digest, expand, short_ids

#: Two fingerprints whose hashes share their first four characters (36cd).
TWINS = ("pacing/goal-321/mql", "pacing/goal-713/mql")


def test_an_id_is_the_start_of_the_fingerprint_hash_and_stable() -> None:
    ids = short_ids(["pacing/q1/mql", "sla-breach/mql-follow-up/ines@example.com"])
    assert ids["pacing/q1/mql"] == digest("pacing/q1/mql")[:SHOWN]
    assert (
        short_ids(["pacing/q1/mql", "commitment-gap/q1/mql"])["pacing/q1/mql"]
        == (ids["pacing/q1/mql"])
    )


def test_ids_sharing_their_start_are_lengthened_until_they_differ() -> None:
    ids = short_ids([*TWINS, "pacing/q1/mql"], shown=3)
    assert ids[TWINS[0]] == "36cd9" and ids[TWINS[1]] == "36cd3"
    assert len(ids["pacing/q1/mql"]) == 3


def test_an_id_expands_to_its_fingerprint_and_an_ambiguous_one_to_all() -> None:
    known = [*TWINS, "pacing/q1/mql"]
    assert expand("36cd9", known) == [TWINS[0]]
    assert expand("36cd", known) == sorted(TWINS)
    assert expand("36c", known) == [], "shorter than 4 characters: not an id"
    assert expand("pacing/*", known) == [], "a pattern, not an id"
