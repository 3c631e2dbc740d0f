"""The config's JSON Schema: generated from the models, committed under
config/, written by ``alignmon init``, and true to what the loader accepts."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from monitor.cli.main import main
from monitor.config.schema import MODELINE, SCHEMA_FILE, config_schema, schema_text

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "config" / SCHEMA_FILE
EXAMPLES = sorted((ROOT / "config").glob("*.yaml"))


def packaged(name: str) -> str:
    return resources.files("monitor.config").joinpath(name).read_text(encoding="utf-8")


def test_the_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "the config models changed: run `alignmon config schema > config/alignmon.schema.json`"
    )


def test_config_schema_prints_it() -> None:
    result = CliRunner().invoke(main, ["config", "schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == config_schema()


def test_every_setting_is_described() -> None:
    schema = config_schema()
    models = {"Config": schema, **schema["$defs"]}
    bare = [
        f"{model}.{name}"
        for model, body in models.items()
        for name, prop in body.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert not bare


def test_durations_and_clock_times_are_described_as_written() -> None:
    service = config_schema()["$defs"]["Service"]["properties"]
    assert service["lease"]["default"] == "1m"
    assert "15m" in service["lease"]["examples"]
    assert config_schema()["$defs"]["Slack"]["properties"]["summary_at"]["default"] == "09:00"


@pytest.mark.parametrize(
    "text",
    [pytest.param(p.read_text(encoding="utf-8"), id=p.name) for p in EXAMPLES]
    + [pytest.param(packaged(n), id=f"packaged-{n}") for n in ("starter.yaml", "demo.yaml")],
)
def test_example_configs_point_editors_at_the_schema_and_pass_it(text: str) -> None:
    assert text.splitlines()[0] == MODELINE
    jsonschema.validate(yaml.safe_load(text), config_schema())


def test_the_schema_flags_what_the_loader_refuses() -> None:
    good: dict[str, Any] = yaml.safe_load(packaged("demo.yaml"))
    validator = jsonschema.Draft202012Validator(config_schema())
    assert validator.is_valid(good)
    bare = json.loads(json.dumps(good))
    bare["sources"]["demo"]["every"] = 15
    misspelt = json.loads(json.dumps(good))
    misspelt["slack"]["chanel"] = "#x"
    unknown_kind = json.loads(json.dumps(good))
    unknown_kind["sources"]["demo"]["kind"] = "pipedrive"
    for wrong in (bare, misspelt, unknown_kind):
        assert not validator.is_valid(wrong)


def test_init_writes_the_schema_next_to_the_config(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "alignmon.yaml"
    target.parent.mkdir()
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8").splitlines()[0] == MODELINE
    assert (target.parent / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text()
