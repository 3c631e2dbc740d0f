"""Every ``--format json`` output, from the real commands, against the JSON
Schemas documented in docs/schemas/ (docs/json-output.md), and the
conventions they share: a schema version, null for a missing value,
numbers rounded alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from tests.e2e.cli import alignmon

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
CONFIG = """\
timezone: America/New_York
database: sqlite:///alignmon.db
sources:
  crm: {kind: demo, months: 4}
slack:
  token: ${SLACK_BOT_TOKEN}
  api_url: http://127.0.0.1:9/api/
  timeout: 2
goals:
  - name: q-new-business
    source: crm
    revenue: 2100000
    average_deal_size: {auto: true, fallback: 25000}
    # SQL→won as the plan's own number: learned on four months of SQLs, its
    # sampling error alone would explain the MQL shortfall the outputs show.
    rates: {sql_to_won: 0.25, mql_to_sql: auto, lead_to_mql: auto, visit_to_lead: 0.014}
    commitments: {mql: 600}
  - name: emea-pipeline
    source: crm
    period: {start: 2026-11-01, end: 2026-11-30}
    closes: 9
    segment: {region: EMEA}
  - name: lead-quality
    source: crm
    rate: {stage: lead_to_mql, improve_by: 0.05}
sla:
  - {name: mql-follow-up, source: crm, stage: mql, within: 4h, warn_before: 1h}
"""
ENV = {"SLACK_BOT_TOKEN": "xoxb-unreachable-0000"}
AS_OF = ("--as-of", "2026-11-16T12:00")
COMMANDS = {
    "status": ("status", "--format", "json", *AS_OF),
    "targets": ("targets", "--format", "json", *AS_OF),
    "alerts": ("alerts", "--format", "json"),
    "backtest": (
        "backtest",
        "--from",
        "2026-11-09",
        "--to",
        "2026-11-11",
        "--step",
        "4h",
        "--format",
        "json",
    ),
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each command's output on a store with findings, firing alerts, a
    silence and notifications that could not be delivered."""
    folder = tmp_path_factory.mktemp("json")
    (folder / "alignmon.yaml").write_text(CONFIG)
    for args in (
        ("sync",),
        ("evaluate", *AS_OF),
        ("silence", "sla-*", "--for", "1d", "--reason", "rep on leave"),
    ):
        done = alignmon(*args, cwd=folder, env=ENV)
        assert done.returncode in (0, 1), done.stderr
    found = {}
    for name, args in COMMANDS.items():
        done = alignmon(*args, cwd=folder, env=ENV)
        assert done.returncode == 0, done.stderr
        found[name] = json.loads(done.stdout)
    return found


def validator(name: str) -> jsonschema.Validator:
    registry: Registry = Registry().with_resources(
        (path.name, Resource.from_contents(json.loads(path.read_text())))
        for path in SCHEMAS.glob("*.schema.json")
    )
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_output_matches_its_documented_schema(outputs: dict[str, Any], name: str) -> None:
    errors = sorted(validator(name).iter_errors(outputs[name]), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_the_outputs_hold_what_the_schemas_describe(outputs: dict[str, Any]) -> None:
    """Not vacuous: the lists the schemas check are filled."""
    status, alerts, backtest = outputs["status"], outputs["alerts"], outputs["backtest"]
    assert status["findings"] and status["sla"] and status["alerts"]
    assert alerts["alerts"] and alerts["silences"] and alerts["outbox"]
    assert backtest["messages"] and backtest["alerts"]
    sla_finding = next(f for f in status["findings"] if f["rule"].startswith("sla"))
    assert sla_finding["period"] is None
    pacing = next(f for f in status["findings"] if f["rule"] == "pacing")
    assert pacing["period"] == {"start": "2026-10-01", "end": "2026-12-31"}
    for name in ("status", "targets"):
        rate_goal = next(g["rate_goal"] for g in outputs[name]["goals"] if g["rate_goal"])
        assert rate_goal["baseline"] is not None and rate_goal["cohorts"] is not None


def test_status_shows_where_the_demo_s_prospects_stall(outputs: dict[str, Any]) -> None:
    """The demo's Jordan Ellis leaves lost SQLs open: the SQL stage of the
    goal he sells in has a stalled share beyond the threshold, held by him,
    and the finding about it; every stage with a learned lag is listed."""
    status = outputs["status"]
    stages = {(s["goal"], s["stage"]): s for s in status["stalls"]}
    assert set(stages) == {
        (goal, stage)
        for goal in ("q-new-business", "emea-pipeline")
        for stage in ("lead", "mql", "sql")
    }
    sql = stages[("q-new-business", "sql")]
    assert sql["share"] > 0.25 and sql["beyond"] == "p90" and sql["beyond_days"] >= 1
    assert sql["stalled"] == sum(owner["stalled"] for owner in sql["by_owner"].values())
    jordan = sql["by_owner"]["jordan.ellis@example.com"]
    assert jordan["name"] == "Jordan Ellis" and jordan["stalled"] > sql["stalled"] / 2
    assert len(sql["oldest"]) == 5
    assert [o["days"] for o in sql["oldest"]] == sorted(
        (o["days"] for o in sql["oldest"]), reverse=True
    )
    assert all(o["days"] > sql["beyond_days"] for o in sql["oldest"])
    stalled = [f for f in status["findings"] if f["rule"] == "stalled"]
    assert [f["fingerprint"] for f in stalled] == ["stalled/q-new-business/sql"]
    assert stalled[0]["period"] is None


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in leaves(item, f"{path}[{i}]")]
    return [(path, value)]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_shared_conventions(outputs: dict[str, Any], name: str) -> None:
    payload = outputs[name]
    assert payload["schema_version"] == 1
    found = leaves(payload)
    assert not [path for path, value in found if value == ""], "a missing value is null"
    loose = [path for path, value in found if isinstance(value, float) and round(value, 4) != value]
    assert not loose, f"numbers with more than 4 decimals: {loose[:5]}"
