"""The alert lifecycle as a pure function, one evaluation at a time.

Most cases are tables: a list of evaluations, each with its findings, its
options (``held``, ``held_critical``, ``repeat_slot``, …) and what must be
said then. Whatever is said is marked as told before the next evaluation,
as dispatch does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.findings import Alert, Finding
from monitor.interfaces import Severity
from monitor.judge.alerts import Notice, Policy, mark_notified, reconcile, silenced

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # a Monday
POLICY = Policy(for_evaluations=2, repeat_interval=timedelta(hours=24))
W, C = Severity.WARNING, Severity.CRITICAL
PERIOD = "2026-11-01..2026-12-01"
PERIOD_END = datetime(2026, 12, 1, tzinfo=UTC)


def finding(
    rule: str = "pacing",
    severity: Severity = W,
    *,
    source: str = "crm",
    members: tuple[str, ...] = (),
    owner: str = "",
    metric: float | None = None,
    period: str = "",
    data: dict[str, object] | None = None,
) -> Finding:
    return Finding(
        rule=rule,  # type: ignore[arg-type]
        subject="q1",
        severity=severity,
        title=f"{rule} title",
        text="x",
        source=source,
        stage="" if owner else "mql",
        owner=owner,
        metric=metric,
        period=period,
        period_end=PERIOD_END if period else None,
        items=tuple((f"Lead {m}", f"https://crm.example.com/{m}") for m in members),
        members=members,
        data=data or {},
    )


def breach(*members: str) -> Finding:
    return finding("sla-breach", C, owner="sam@example.com", members=members)


def at_risk(*members: str) -> Finding:
    return finding("sla-at-risk", W, owner="sam@example.com", members=members)


def late(*members: str) -> Finding:
    return finding("sla-late", Severity.INFO, owner="sam@example.com", members=members)


BREACH = "sla-breach/q1/sam@example.com"
AT_RISK = "sla-at-risk/q1/sam@example.com"
LATE = "sla-late/q1/sam@example.com"
PACING = "pacing/q1/mql"


@dataclass
class At:
    """One evaluation: ``after`` T0, these findings and options; ``said``:
    (fingerprint, reason) of every notice, in order."""

    after: timedelta
    findings: list[Finding]
    said: list[tuple[str, str]]
    options: dict[str, Any] = field(default_factory=dict)


def replay(steps: list[At]) -> tuple[dict[str, Alert], list[Notice]]:
    """Run the evaluations, asserting what each one says; returns the final
    state and the last evaluation's notices."""
    state: dict[str, Alert] = {}
    notices: list[Notice] = []
    for number, step in enumerate(steps):
        now = T0 + step.after
        outcome = reconcile(state, step.findings, now, POLICY, **step.options)
        state = {**state, **{a.fingerprint: a for a in outcome.alerts}}
        for fp in outcome.forgotten:
            state.pop(fp)
        notices = outcome.notices
        said = [(n.alert.fingerprint, n.reason) for n in notices]
        assert said == step.said, f"evaluation {number} at +{step.after}"
        for notice in notices:
            if notice.alert.state == "firing":
                state[notice.alert.fingerprint] = mark_notified(notice.alert, now, 1)
    return state, notices


MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
TUESDAY_9, WEDNESDAY_9 = datetime(2026, 11, 3, 9, tzinfo=UTC), datetime(2026, 11, 4, 9, tzinfo=UTC)

CASES: dict[str, list[At]] = {
    "a trend waits for `for` evaluations": [
        At(0 * MINUTE, [finding()], []),
        At(1 * MINUTE, [finding()], [(PACING, "firing")]),
        At(2 * MINUTE, [finding()], []),
    ],
    "a pending alert that clears is forgotten, unsaid": [
        At(0 * MINUTE, [finding()], []),
        At(1 * MINUTE, [], []),
        At(2 * MINUTE, [finding()], []),
    ],
    "a firing alert resolves once": [
        At(0 * MINUTE, [finding("commitment-gap")], [("commitment-gap/q1/mql", "firing")]),
        At(1 * MINUTE, [], [("commitment-gap/q1/mql", "resolved")]),
        At(2 * MINUTE, [], []),
    ],
    "escalates at the critical line, stays critical inside the margin": [
        At(0 * MINUTE, [finding(severity=W)], []),
        At(1 * MINUTE, [finding(severity=W)], [(PACING, "firing")]),
        At(2 * MINUTE, [finding(severity=C)], [(PACING, "escalated")]),
        At(3 * MINUTE, [finding(severity=W)], [], {"held_critical": frozenset({PACING})}),
        At(4 * MINUTE, [finding(severity=C)], []),
        At(5 * MINUTE, [finding(severity=W)], [], {"held_critical": frozenset({PACING})}),
        At(6 * MINUTE, [finding(severity=W)], [(PACING, "eased")]),
        At(7 * MINUTE, [finding(severity=W)], [], {"held_critical": frozenset({PACING})}),
    ],
    "repeats only at a slot, once repeat_interval has passed": [
        At(0 * HOUR, [finding("commitment-gap")], [("commitment-gap/q1/mql", "firing")]),
        At(25 * HOUR, [finding("commitment-gap")], []),  # no slot: nothing, however long
        At(
            TUESDAY_9 - T0,
            [finding("commitment-gap")],
            [],  # the slot is only 19 hours after the message
            {"repeat_slot": TUESDAY_9},
        ),
        At(
            WEDNESDAY_9 - T0 + MINUTE,
            [finding("commitment-gap")],
            [("commitment-gap/q1/mql", "repeat")],
            {"repeat_slot": WEDNESDAY_9},
        ),
        At(
            WEDNESDAY_9 - T0 + 2 * MINUTE,
            [finding("commitment-gap")],
            [],
            {"repeat_slot": WEDNESDAY_9},
        ),
    ],
    "records joining a firing group are announced at once": [
        At(0 * MINUTE, [breach("a", "b")], [(BREACH, "firing")]),
        At(15 * MINUTE, [breach("a", "b", "c")], [(BREACH, "joined")]),
        At(30 * MINUTE, [breach("b", "c")], []),  # a touched: the group shrinks silently
        At(45 * MINUTE, [breach("b", "c", "d")], [(BREACH, "joined")]),
        At(60 * MINUTE, [], [(BREACH, "resolved")]),
    ],
    "at risk → breached: escalated, never resolved": [
        At(0 * MINUTE, [at_risk("x")], [(AT_RISK, "firing")]),
        At(15 * MINUTE, [breach("x")], [(BREACH, "firing"), (AT_RISK, "superseded")]),
    ],
    "at risk → breached while others stay at risk": [
        At(0 * MINUTE, [at_risk("x", "y")], [(AT_RISK, "firing")]),
        At(15 * MINUTE, [at_risk("y"), breach("x")], [(BREACH, "firing")]),
        At(30 * MINUTE, [breach("x")], [(AT_RISK, "resolved")]),  # y was touched
    ],
    "an at-risk record that was touched resolves": [
        At(0 * MINUTE, [at_risk("x")], [(AT_RISK, "firing")]),
        At(15 * MINUTE, [], [(AT_RISK, "resolved")]),
    ],
    "late touches: each announced once, no repeats, no resolution": [
        At(0 * HOUR, [late("a")], [(LATE, "firing")]),
        At(1 * HOUR, [late("a", "b")], [(LATE, "joined")]),
        At(
            WEDNESDAY_9 - T0,
            [late("a", "b")],
            [],
            {"repeat_slot": WEDNESDAY_9},
        ),
        At(8 * DAY, [], []),
    ],
    "an alert whose period ended closes as ended": [
        At(
            0 * MINUTE,
            [finding("commitment-gap", period=PERIOD)],
            [(f"commitment-gap/q1/mql/{PERIOD}", "firing")],
        ),
        At(PERIOD_END - T0, [], [(f"commitment-gap/q1/mql/{PERIOD}", "ended")]),
    ],
    "an alert that clears before its period ends resolves": [
        At(
            0 * MINUTE,
            [finding("commitment-gap", period=PERIOD)],
            [(f"commitment-gap/q1/mql/{PERIOD}", "firing")],
        ),
        At(PERIOD_END - T0 - MINUTE, [], [(f"commitment-gap/q1/mql/{PERIOD}", "resolved")]),
    ],
    "a held fingerprint stays firing, unsaid": [
        At(0 * MINUTE, [finding("commitment-gap")], [("commitment-gap/q1/mql", "firing")]),
        At(1 * MINUTE, [], [], {"held": frozenset({"commitment-gap/q1/mql"})}),
        At(2 * MINUTE, [], [("commitment-gap/q1/mql", "resolved")]),
    ],
    "a stale source freezes its alerts": [
        At(0 * MINUTE, [finding("commitment-gap")], [("commitment-gap/q1/mql", "firing")]),
        At(30 * HOUR, [], [], {"inhibited_sources": frozenset({"crm"})}),
        At(
            31 * HOUR,
            [finding(), finding("source-stale")],
            [("source-stale/q1/mql", "firing")],
            {"inhibited_sources": frozenset({"crm"})},
        ),
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_lifecycle(name: str) -> None:
    replay(CASES[name])


@pytest.mark.parametrize("rule", ["commitment-gap", "sla-breach", "source-stale"])
def test_facts_fire_at_once(rule: str) -> None:
    replay([At(0 * MINUTE, [finding(rule)], [(f"{rule}/q1/mql", "firing")])])


def test_a_group_notice_names_what_joined_left_and_escalated() -> None:
    _, (first, superseded) = replay(
        [
            At(0 * MINUTE, [at_risk("x"), breach("a")], [(AT_RISK, "firing"), (BREACH, "firing")]),
            At(15 * MINUTE, [breach("a", "x")], [(BREACH, "joined"), (AT_RISK, "superseded")]),
        ]
    )
    assert (first.joined, first.promoted) == (("x",), ("x",))
    assert superseded.alert.closed_as == "superseded"
    _, (repeat,) = replay(
        [
            At(0 * MINUTE, [breach("a", "b")], [(BREACH, "firing")]),
            At(1 * MINUTE, [breach("b")], []),
            At(
                WEDNESDAY_9 - T0,
                [breach("b")],
                [(BREACH, "repeat")],
                {"repeat_slot": WEDNESDAY_9},
            ),
        ]
    )
    assert (repeat.joined, repeat.left) == ((), ("a",))


def test_fired_while_silenced_is_told_later() -> None:
    state: dict[str, Alert] = {}
    outcome = reconcile(state, [finding("commitment-gap")], T0, POLICY)  # fired, never told
    state = {a.fingerprint: a for a in outcome.alerts}
    outcome = reconcile(state, [finding("commitment-gap")], T0 + 5 * MINUTE, POLICY)
    assert [(n.alert.fingerprint, n.reason) for n in outcome.notices] == [
        ("commitment-gap/q1/mql", "firing")
    ]


def test_the_alert_remembers_what_was_said() -> None:
    state, _ = replay(
        [
            At(0 * MINUTE, [finding(metric=-0.38, period=PERIOD, data={"actual": 54})], []),
            At(
                1 * MINUTE,
                [finding(metric=-0.38, period=PERIOD, data={"actual": 54, "team": "sales"})],
                [(f"{PACING}/{PERIOD}", "firing")],
            ),
            At(2 * MINUTE, [finding(metric=-0.42, period=PERIOD, data={"actual": 50})], []),
        ]
    )
    alert = state[f"{PACING}/{PERIOD}"]
    assert (alert.metric, alert.notified_metric) == (-0.42, -0.38)
    assert alert.data == {"actual": 50} and alert.period_end == PERIOD_END
    assert alert.lineage == PACING and alert.period == PERIOD


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [("pacing/q1/mql", True), ("pacing/q1/*", True), ("pacing/q2/*", False), ("sla-*", False)],
)
def test_silence_matchers(matcher: str, expected: bool) -> None:
    assert silenced("pacing/q1/mql", [matcher]) is expected
