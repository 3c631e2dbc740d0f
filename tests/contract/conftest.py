"""The connector contract suite runs once per harness listed here. A new
CRM joins by adding its harness module to HARNESSES."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

HARNESSES = [
    "tests.contract.harness_demo:DemoHarness",
    "tests.contract.harness_hubspot:HubSpotHarness",
    "tests.contract.harness_salesforce:SalesforceHarness",
]


@pytest.fixture(
    params=HARNESSES, ids=lambda spec: spec.rsplit(":", 1)[1].removesuffix("Harness").lower()
)
def harness(request: pytest.FixtureRequest) -> Iterator[Any]:
    module_name, class_name = request.param.split(":")
    instance = getattr(importlib.import_module(module_name), class_name)()
    yield instance
    instance.close()
