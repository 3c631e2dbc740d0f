"""``/readyz`` means "has evaluated": a service is not ready until an
evaluation succeeded in it, and a replica that loses every occurrence to
another one still becomes ready by judging the data without recording it.
Pace per goal and stage reaches the metrics at each evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config.loader import LoadedConfig, parse
from monitor.service.app import App
from monitor.service.scheduler import Service

CONFIG = """\
database: sqlite:///{db}
sources:
  demo: {{kind: demo, every: 1m}}
goals:
  - {{name: q, source: demo, closes: 60, rates: {{sql_to_won: 0.2, mql_to_sql: 0.4, lead_to_mql: 0.25}}}}
sla:
  - {{name: mql-follow-up, source: demo, within: 4h}}
"""


#: One instant for every app of a test: replicas that fire "at the same
#: time" fall in the same occurrence slot however slowly the machine runs.
NOW = datetime.now(UTC).replace(second=30, microsecond=0)


def demo_app(db: Path) -> App:
    text = CONFIG.format(db=db)
    return App(LoadedConfig(parse(text, "alignmon.yaml", {}), "alignmon.yaml"), clock=lambda: NOW)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    app = demo_app(tmp_path / "ready.db")
    yield app
    app.close()


def samples(service: Service) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = generate_latest(service.metrics.registry).decode()
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_not_ready_until_the_first_evaluation_succeeds(app: App) -> None:
    service = Service(app)
    reason = service.readiness()
    assert reason is not None and "no evaluation" in reason
    service.sync("demo")  # sync, then evaluate, record and deliver
    assert service.readiness() is None


def test_a_replica_that_never_wins_an_occurrence_still_becomes_ready(
    tmp_path: Path, app: App
) -> None:
    first = Service(app)
    first.sync("demo")
    first.evaluate()
    other_app = demo_app(tmp_path / "ready.db")
    try:
        second = Service(other_app)
        assert second.readiness() is not None
        second.sync("demo")  # the first holds this occurrence
        second.evaluate()  # and this one
        assert second.readiness() is None
        assert samples(second)["alignmon_evaluation_duration_seconds_count"] == [({}, 0.0)], (
            "the second replica judged the data, and recorded nothing"
        )
    finally:
        other_app.close()


def test_pace_per_goal_and_stage_is_exported(app: App) -> None:
    service = Service(app)
    service.sync("demo")
    found = samples(service)
    report = app.evaluate().goals[0]
    stages = {s.stage for s in report.stages if s.attainment is not None}
    assert stages, "the demo funnel has stages with a pace"
    pace = {labels["stage"]: value for labels, value in found["alignmon_pace_attainment_ratio"]}
    assert set(pace) == stages
    assert {labels["goal"] for labels, _ in found["alignmon_pace_attainment_ratio"]} == {"q"}
    actual = {labels["stage"]: value for labels, value in found["alignmon_stage_actual"]}
    assert actual == {s.stage: s.actual for s in report.stages if s.actual is not None}
    assert found["alignmon_stage_expected"]


def test_a_process_never_runs_one_occurrence_twice(app: App) -> None:
    """Its own lease would let a replica in again (a renewal): a firing that
    lands in a slot this process already ran, early or late, is skipped."""
    service = Service(app)
    every = app.config.sources["demo"].every
    assert service.occurrence("evaluate", every)
    assert not service.occurrence("evaluate", every), "the same slot ran twice"
    assert service.occurrence("sync:demo", every), "slots are per job"
