"""The connector registry: one table, and the config's union agrees with it."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

from connectors.registry import KINDS, Source, create, vendor_loggers
from monitor.errors import ConfigError
from monitor.interfaces import Connector


def test_the_config_union_holds_exactly_the_registered_settings_models() -> None:
    union, _discriminator = get_args(Source)
    assert set(get_args(union)) == {kind.settings for kind in KINDS.values()}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_settings_model_is_tagged_with_its_kind(kind: str) -> None:
    field = KINDS[kind].settings.model_fields["kind"]
    assert get_args(field.annotation) == (kind,)


def test_create_builds_the_registered_connector() -> None:
    settings = KINDS["demo"].settings.model_validate({"kind": "demo", "months": 1})
    connector = create("crm", settings)
    assert isinstance(connector, Connector)
    assert type(connector).__name__ == "DemoConnector"


def test_an_unknown_kind_names_the_valid_ones() -> None:
    class Stray:
        kind = "pipedrive"

    with pytest.raises(ConfigError, match="valid: demo, hubspot, salesforce"):
        create("crm", Stray())  # type: ignore[arg-type]


def test_vendor_loggers_come_from_the_table() -> None:
    assert set(vendor_loggers()) == {"hubspot", "simple_salesforce"}


@pytest.mark.parametrize(
    "module",
    [
        "monitor.judge.reconciler",
        "monitor.judge.sla",
        "monitor.judge.alerts",
        "monitor.judge.health",
    ],
)
def test_the_judges_import_no_connector(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'connectors'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
