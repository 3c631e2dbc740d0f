"""The alert lifecycle as a pure function: one evaluation at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.findings import Alert, Finding
from monitor.interfaces import Severity
from monitor.judge.alerts import Policy, reconcile, silenced

T0 = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
POLICY = Policy(for_evaluations=2, repeat_interval=timedelta(hours=24))


def finding(
    rule: str = "pacing", severity: Severity = Severity.WARNING, source: str = "crm"
) -> Finding:
    return Finding(
        rule=rule, subject="q1", severity=severity, title="t", text="x", source=source, stage="mql"
    )


def step(previous: dict[str, Alert], findings: list[Finding], at: datetime, **kw: object):  # type: ignore[no-untyped-def]
    outcome = reconcile(previous, findings, at, POLICY, **kw)  # type: ignore[arg-type]
    state = {**previous, **{a.fingerprint: a for a in outcome.alerts}}
    for fp in outcome.forgotten:
        state.pop(fp)
    return state, [(n.alert.fingerprint, n.reason) for n in outcome.notices]


def notified(state: dict[str, Alert], at: datetime) -> dict[str, Alert]:
    from monitor.judge.alerts import mark_notified

    return {fp: mark_notified(a, at, 1) if a.state == "firing" else a for fp, a in state.items()}


def test_pacing_waits_for_consecutive_evaluations() -> None:
    state, said = step({}, [finding()], T0)
    assert said == [] and state["pacing/q1/mql"].state == "pending"
    state, said = step(state, [finding()], T0 + timedelta(minutes=1))
    assert said == [("pacing/q1/mql", "firing")]
    assert state["pacing/q1/mql"].fired_at == T0 + timedelta(minutes=1)


@pytest.mark.parametrize("rule", ["commitment-gap", "sla-breach", "source-stale"])
def test_facts_fire_at_once(rule: str) -> None:
    _, said = step({}, [finding(rule)], T0)
    assert said == [(f"{rule}/q1/mql", "firing")]


def test_repeat_and_severity_change() -> None:
    state, _ = step({}, [finding("commitment-gap")], T0)
    state = notified(state, T0)
    _, said = step(state, [finding("commitment-gap")], T0 + timedelta(hours=23))
    assert said == []
    _, said = step(state, [finding("commitment-gap")], T0 + timedelta(hours=24))
    assert said == [("commitment-gap/q1/mql", "repeat")]
    _, said = step(state, [finding("commitment-gap", Severity.CRITICAL)], T0 + timedelta(hours=1))
    assert said == [("commitment-gap/q1/mql", "escalated")]


def test_clearing_pending_is_forgotten_and_firing_resolves_once() -> None:
    state, _ = step({}, [finding()], T0)
    cleared, said = step(state, [], T0 + timedelta(minutes=1))
    assert said == [] and "pacing/q1/mql" not in cleared

    state, _ = step({}, [finding("commitment-gap")], T0)
    state = notified(state, T0)
    state, said = step(state, [], T0 + timedelta(minutes=1))
    assert said == [("commitment-gap/q1/mql", "resolved")]
    _, said = step(state, [], T0 + timedelta(minutes=2))
    assert said == []


def test_held_fingerprint_stays_firing() -> None:
    state, _ = step({}, [finding("commitment-gap")], T0)
    state = notified(state, T0)
    after, said = step(
        state, [], T0 + timedelta(minutes=1), held=frozenset({"commitment-gap/q1/mql"})
    )
    assert said == [] and after["commitment-gap/q1/mql"].state == "firing"


def test_stale_source_freezes_its_alerts() -> None:
    state, _ = step({}, [finding("commitment-gap")], T0)
    state = notified(state, T0)
    stale = frozenset({"crm"})
    after, said = step(state, [], T0 + timedelta(hours=30), inhibited_sources=stale)
    assert said == [] and after["commitment-gap/q1/mql"].state == "firing"
    _, said = step({}, [finding(), finding("source-stale")], T0, inhibited_sources=stale)
    assert said == [("source-stale/q1/mql", "firing")]


def test_fired_while_silenced_is_told_later() -> None:
    state, _ = step({}, [finding("commitment-gap")], T0)  # fired, never notified
    _, said = step(state, [finding("commitment-gap")], T0 + timedelta(minutes=5))
    assert said == [("commitment-gap/q1/mql", "firing")]


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [("pacing/q1/mql", True), ("pacing/q1/*", True), ("pacing/q2/*", False), ("sla-*", False)],
)
def test_silence_matchers(matcher: str, expected: bool) -> None:
    assert silenced("pacing/q1/mql", [matcher]) is expected
