"""deploy/grafana/alignmon.json and deploy/prometheus/alignmon-rules.yaml
read only metrics the service serves: every ``alignmon_*`` name in their
queries is checked against a real ``/metrics`` scrape after a cycle, so a
renamed metric breaks this test, not a dashboard in production. PromQL
itself is not parsed here (that needs promtool)."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.service.app import App
from monitor.service.http import HealthServer
from monitor.service.scheduler import Service
from tests.integration.test_service_readiness import demo_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "alignmon.json"
RULES = DEPLOY / "prometheus" / "alignmon-rules.yaml"
METRIC = re.compile(r"\balignmon_[a-z_]+\b")
#: The series names a family of each type is exposed as.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Every series name /metrics can carry, after one sync and evaluation."""
    app: App = demo_app(tmp_path_factory.mktemp("metrics") / "m.db")
    service = Service(app)
    server = HealthServer("127.0.0.1:0", service.metrics, service.readiness)
    server.start()
    try:
        service.sync("demo")
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
    finally:
        server.stop()
        app.close()
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    yield names


def panel_queries(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for panel in panels:
        yield from panel_queries(panel.get("panels", []))
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def load_rules() -> list[dict[str, Any]]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def test_the_dashboard_queries_only_served_metrics(served: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = list(panel_queries(dashboard["panels"]))
    queries += [
        (v["name"], v["definition"]) for v in dashboard["templating"]["list"] if "definition" in v
    ]
    used = {name for _, expr in queries for name in METRIC.findall(expr)}
    for wanted in (
        "alignmon_pace_attainment_ratio",
        "alignmon_sla_compliance_ratio",
        "alignmon_last_successful_sync_timestamp_seconds",
        "alignmon_sync_failures_total",
        "alignmon_outbox_depth",
        "alignmon_outbox_dead",
    ):
        assert wanted in used, f"the dashboard shows no {wanted}"
    for title, expr in queries:
        unknown = set(METRIC.findall(expr)) - served
        assert not unknown, f"{title}: {expr} reads {unknown}, which /metrics does not serve"


def test_dashboard_panels_have_unique_ids_and_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "alignmon"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_alert_rules_cover_the_failures_and_read_only_served_metrics(
    served: set[str],
) -> None:
    rules = {rule["alert"]: rule for rule in load_rules()}
    assert {
        "AlignmonDown",
        "AlignmonSourceStale",
        "AlignmonOutboxBacklog",
        "AlignmonNotificationsDead",
    } <= set(rules)
    for name, rule in rules.items():
        unknown = set(METRIC.findall(rule["expr"])) - served
        assert not unknown, f"{name}: {rule['expr']} reads {unknown}, which /metrics does not serve"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert re.fullmatch(r"\d+[smh]", rule["for"]), name
    assert "up{" in rules["AlignmonDown"]["expr"]
    assert "alignmon_outbox_dead" in rules["AlignmonNotificationsDead"]["expr"]
