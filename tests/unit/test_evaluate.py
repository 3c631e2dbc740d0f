"""Which firing alerts hold inside the hysteresis margin, from evaluated
reports (docs/design.md, "Alert lifecycle")."""

from __future__ import annotations

from monitor.evaluate import held_fingerprints
from monitor.judge.reconciler import evaluate_goal
from tests.unit.judge.test_reconciler import PERIOD, facts, goal, mql_history

LABEL = PERIOD.label


def held(actual: dict[str, int], entered: int, converted: int) -> frozenset[str]:
    g = goal()
    report = evaluate_goal(g, facts(5, actual, tables=mql_history(entered, converted)))
    return held_fingerprints({g.name: g}, [report], margin=0.05)


def test_pacing_holds_within_the_margin_of_warning() -> None:
    assert f"pacing/q1/lead/{LABEL}" in held({"lead": 440}, 1_000, 400)  # 12% behind
    assert f"pacing/q1/lead/{LABEL}" not in held({"lead": 460}, 1_000, 400)  # 8% behind


def test_conversion_drift_holds_while_the_cohort_stays_short() -> None:
    """20% tolerance, 5% margin: held while the cohort shows at most 85% of
    what the plan expects by its age, significant or not."""
    assert f"conversion-drift/q1/mql/{LABEL}" in held({}, 1_000, 340)  # 85%
    assert f"conversion-drift/q1/mql/{LABEL}" not in held({}, 1_000, 344)  # 86%


def test_quality_gap_holds_while_its_evidence_lasts() -> None:
    behind = {"mql": 130, "sql": 44}  # SQLs 12% behind: inside the margin
    assert f"quality-gap/q1/mql/{LABEL}" in held(behind, 1_000, 380)
    assert f"quality-gap/q1/mql/{LABEL}" not in held(behind, 1_000, 400)  # at plan
    assert f"quality-gap/q1/mql/{LABEL}" not in held({"mql": 130, "sql": 48}, 1_000, 380)
