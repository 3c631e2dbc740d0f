"""The deployment files (deploy/, .dockerignore): they parse, pass the
checks that run without a Docker engine or Helm, and hold the properties
docs/operations.md promises: a non-root image built from a hashed lock, a
config the service accepts, probes on /healthz and /readyz, a chart whose
values its schema validates, a hardened systemd unit. No image is built and
no template rendered here (docs/operations.md, "How these files are
checked", says what that leaves unverified).
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from monitor.config import loader

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "alignmon"
UNIT = DEPLOY / "systemd" / "alignmon.service"
LOCK = DEPLOY / "requirements.lock"
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DATABASE_URL = "postgresql://alignmon:pw@db.example/alignmon"


def parse_config(text: str, path: str) -> Any:
    """alignmon's own loader, with a stand-in for every ${VAR} the text uses."""
    environ = {name: "test-value" for name in ENV_REF.findall(text)}
    environ.update(ALIGNMON_DATABASE_URL=DATABASE_URL, POSTGRES_PASSWORD="pw")
    return loader.parse(text, path, environ)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(text.split(" ", 1)[0].upper(), text.split(" ", 1)[1]) for text in logical]


def healthcheck_command() -> list[str]:
    (args,) = [args for name, args in dockerfile_instructions() if name == "HEALTHCHECK"]
    return json.loads(args.split("CMD", 1)[1])


def test_dockerfile_runs_alignmon_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    users = [args for name, args in instructions if name == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert ("ENTRYPOINT", '["alignmon"]') in instructions
    assert ("CMD", '["run"]') in instructions
    assert ("EXPOSE", "9464") in instructions
    assert [args for name, args in instructions if name == "FROM"][-1].startswith(
        "python:3.11-slim"
    )
    env = " ".join(args for name, args in instructions if name == "ENV")
    assert "ALIGNMON_CONFIG=/etc/alignmon/alignmon.yaml" in env
    assert "ALIGNMON_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz" in env


def test_dependencies_install_from_the_lock_in_a_layer_before_the_code() -> None:
    """A code change must not reinstall every dependency: the lock is copied
    and installed, with its hashes, before any code is copied."""
    steps = dockerfile_instructions()
    first_stage = steps[: [name for name, _ in steps].index("FROM", 1)]
    copies = [args for name, args in first_stage if name == "COPY"]
    assert copies[0] == "deploy/requirements.lock ./"
    lock_step = next(
        i
        for i, (name, args) in enumerate(first_stage)
        if name == "RUN" and "-r requirements.lock" in args
    )
    code_step = first_stage.index(("COPY", "monitor ./monitor"))
    assert lock_step < code_step
    assert "--require-hashes" in first_stage[lock_step][1]
    assert "--only-binary :all:" in first_stage[lock_step][1]
    (project,) = [args for name, args in first_stage[code_step:] if name == "RUN"]
    assert "--no-deps" in project and "--no-build-isolation" in project
    assert "pip check" in project


def locked() -> dict[str, list[Requirement]]:
    """The lock's pins by canonical name (one per marker-split variant);
    each must carry at least one hash."""
    entries: dict[str, list[Requirement]] = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spec, *hashes = line.split("--hash=")
        assert hashes and all(h.strip().startswith("sha256:") for h in hashes), spec
        requirement = Requirement(spec.strip())
        entries.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return entries


def test_the_lock_pins_what_pyproject_asks_for() -> None:
    """`make lock` output, current: every runtime dependency and the build
    backend pinned to a version their specifiers allow, as the image's
    Python 3.11 on Linux resolves the markers."""
    assert "make lock" in LOCK.read_text().splitlines()[1]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [Requirement(r) for r in project["project"]["dependencies"]]
    wanted += [Requirement(r) for r in project["build-system"]["requires"]]
    image = {
        **default_environment(),
        "python_version": "3.11",
        "python_full_version": "3.11.14",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    }
    pins = locked()
    for requirement in wanted:
        variants = [
            pin
            for pin in pins.get(canonicalize_name(requirement.name), [])
            if pin.marker is None or pin.marker.evaluate(image)
        ]
        assert len(variants) == 1, f"{requirement.name}: not in {LOCK.name}; run `make lock`"
        (version,) = [spec.version for spec in variants[0].specifier]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement}: the lock has {version}; run `make lock`"
        )


def test_the_image_writes_only_to_tmp_and_its_data_directory() -> None:
    """The root file system may be read-only: matplotlib's cache and the
    summary's chart go to /tmp, the working directory is the data volume."""
    env = " ".join(args for name, args in dockerfile_instructions() if name == "ENV")
    assert "MPLCONFIGDIR=/tmp/matplotlib" in env
    assert "ALIGNMON_CHART_DIR=/tmp" in env
    assert ("WORKDIR", "/var/lib/alignmon") in dockerfile_instructions()


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "healthy"), [("/healthz", True), ("/down", False)])
def test_image_healthcheck_passes_only_on_a_2xx(
    health_server: str, path: str, healthy: bool
) -> None:
    command = healthcheck_command()
    assert command[0] == "python"
    env = {"ALIGNMON_HEALTHCHECK_URL": health_server + path}
    done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30)
    assert (done.returncode == 0) is healthy


def test_dockerignore_lets_in_everything_the_dockerfile_copies() -> None:
    included = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = set()
    for name, args in dockerfile_instructions():
        if name == "COPY" and not args.startswith("--from"):
            copied.update(args.split()[:-1])
    assert copied == included


def load_compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_runs_two_replicas_on_one_healthy_postgres() -> None:
    services = load_compose()["services"]
    assert services["postgres"]["image"] == "postgres:15"
    replicas = [services["alignmon-a"], services["alignmon-b"]]
    for service in replicas:
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "./alignmon.yaml:/etc/alignmon/alignmon.yaml:ro" in service["volumes"]
        assert service["env_file"] == ["postgres.env", "alignmon.env"]
        assert service["healthcheck"]["test"] == ["CMD", *healthcheck_command()]
        assert service["read_only"] is True
        assert service["tmpfs"] == ["/tmp"]
        assert "alignmon-data:/var/lib/alignmon" in service["volumes"]
    assert "alignmon-data" in load_compose()["volumes"]
    assert {service["ports"][0] for service in replicas} == {
        "127.0.0.1:9464:9464",
        "127.0.0.1:9465:9464",
    }


def test_compose_config_file_is_valid_and_listens_on_every_interface() -> None:
    path = DEPLOY / "alignmon.yaml"
    config = parse_config(path.read_text(), str(path))
    assert config.service.listen == "0.0.0.0:9464"
    assert config.database == "postgresql://alignmon:pw@postgres:5432/alignmon"


def test_env_examples_name_every_variable_the_compose_config_uses() -> None:
    used = set(ENV_REF.findall((DEPLOY / "alignmon.yaml").read_text()))
    examples = (DEPLOY / "postgres.env.example").read_text() + (
        DEPLOY / "alignmon.env.example"
    ).read_text()
    named = set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", examples, re.MULTILINE))
    assert used <= named


def compose_command() -> tuple[list[str], int] | None:
    """Docker Compose and its major version: v2 (the docker CLI plugin or
    the standalone binary), else the 1.29 Debian ships as docker-compose,
    which `make test` installs."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, timeout=30
        )
        major = done.stdout.strip().lstrip("v").split(".")[0]
        if done.returncode == 0 and major in {"1", "2"}:
            return command, int(major)
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    found = compose_command()
    if found is None:
        message = "no Docker Compose here: `make test` installs Debian's docker-compose"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    command, major = found
    compose = load_compose()
    if major == 1:
        # The project name is Compose Specification (v2) only; 1.29 checks
        # everything else.
        assert compose.pop("name") == "alignmon"
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))
    shutil.copy(DEPLOY / "alignmon.yaml", tmp_path / "alignmon.yaml")
    for name in ("postgres.env", "alignmon.env"):
        shutil.copy(DEPLOY / f"{name}.example", tmp_path / name)
    done = subprocess.run(
        [*command, "-f", str(tmp_path / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["alignmon-b"]["depends_on"]["alignmon-a"]["condition"] == "service_healthy"
    assert services["alignmon-a"]["environment"]["POSTGRES_PASSWORD"] == "change-me"
    assert services["alignmon-a"]["read_only"] is True


def test_chart_and_values_parse() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "alignmon"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["resources"]["requests"]["memory"] == "128Mi"
    assert values["resources"]["limits"]["memory"]


def test_values_config_block_is_a_valid_alignmon_config() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    config = dict(values["config"], service={"listen": "0.0.0.0:9464"})
    parsed = parse_config(yaml.safe_dump(config), "values.yaml config")
    assert parsed.database == DATABASE_URL


def test_templates_use_only_values_the_chart_defines() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for template in (CHART / "templates").iterdir():
        for ref in re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", template.read_text()):
            node: Any = values
            for key in ref.strip(".").split("."):
                assert isinstance(node, dict) and key in node, f"{template.name}: .Values{ref}"
                node = node[key]


def values_schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())


def test_values_validate_against_the_chart_schema() -> None:
    """Helm checks values against values.schema.json at install, upgrade,
    lint and template time; the default values must pass it."""
    schema = values_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load((CHART / "values.yaml").read_text()))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["replicaCount"], "2"),
        (["replicas"], 2),
        (["serviceMonitor", "enabled"], "yes"),
        (["serviceMonitor", "interval"], "30"),
        (["podDisruptionBudget", "minAvailable"], "half"),
        (["logFormat"], "xml"),
        (["image", "pullPolicy"], "always"),
        (["probes", "readiness", "periodSeconds"], 0),
    ],
)
def test_the_schema_rejects_a_mistyped_value(path: list[str], value: Any) -> None:
    values = copy.deepcopy(yaml.safe_load((CHART / "values.yaml").read_text()))
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, values_schema(), cls=jsonschema.Draft7Validator)


def test_the_schema_describes_every_value() -> None:
    """No value escapes the schema: every key of values.yaml is a property
    of it, down to where the schema leaves an object free (config,
    podSecurityContext...)."""

    def walk(values: dict[str, Any], schema: dict[str, Any], at: str) -> None:
        if schema.get("additionalProperties", True) is not False:
            return
        properties = schema["properties"]
        for key, value in values.items():
            assert key in properties, f"{at}{key} is not in values.schema.json"
            if isinstance(value, dict):
                walk(value, properties[key], f"{at}{key}.")

    walk(yaml.safe_load((CHART / "values.yaml").read_text()), values_schema(), "")


TEMPLATE_ACTION = re.compile(r"\{\{-?.*?-?\}\}")


def template_skeleton(name: str) -> dict[str, Any]:
    """A template as YAML with its actions taken out: lines that are only
    an action dropped, inline ones replaced by a placeholder. Shows the
    static structure (kinds, keys, probe paths); it is not a rendering."""
    lines = []
    for line in (CHART / "templates" / name).read_text().splitlines():
        if not TEMPLATE_ACTION.fullmatch(line.strip()):
            lines.append(TEMPLATE_ACTION.sub("x", line))
    (document,) = [doc for doc in yaml.safe_load_all("\n".join(lines)) if doc]
    return dict(document)


def first_action(name: str) -> str:
    return (CHART / "templates" / name).read_text().splitlines()[0]


def test_deployment_probes_tell_liveness_from_readiness() -> None:
    deployment = template_skeleton("deployment.yaml")
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"][0]["name"] == "http"
    assert {mount["mountPath"] for mount in container["volumeMounts"]} >= {
        "/etc/alignmon",
        "/var/lib/alignmon",
        "/tmp",
    }
    text = (CHART / "templates" / "deployment.yaml").read_text()
    assert "{{- if and $sqlite (gt (int .Values.replicaCount) 1) }}" in text
    assert 'fail "replicaCount > 1 needs PostgreSQL' in text


def test_a_disruption_budget_only_with_more_than_one_replica() -> None:
    assert first_action("pdb.yaml") == "{{- if gt (int .Values.replicaCount) 1 }}"
    budget = template_skeleton("pdb.yaml")
    assert (budget["apiVersion"], budget["kind"]) == ("policy/v1", "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == "x"
    assert "matchLabels" in budget["spec"]["selector"]


def test_the_service_monitor_is_optional_and_scrapes_metrics() -> None:
    assert first_action("servicemonitor.yaml") == "{{- if .Values.serviceMonitor.enabled }}"
    assert yaml.safe_load((CHART / "values.yaml").read_text())["serviceMonitor"]["enabled"] is False
    monitor = template_skeleton("servicemonitor.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == (
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert template_skeleton("service.yaml")["spec"]["ports"][0]["name"] == "http"


def unit_settings() -> list[tuple[str, str, str]]:
    section, found = "", []
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.append((section, key, value))
    return found


def test_systemd_unit_is_hardened() -> None:
    settings = {(section, key): value for section, key, value in unit_settings()}
    service = {key: value for (section, key), value in settings.items() if section == "Service"}
    for key, value in {
        "User": "alignmon",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "StateDirectory": "alignmon",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "2",
    }.items():
        assert service.get(key) == value, key
    assert service["EnvironmentFile"].startswith("/etc/alignmon/")
    assert service["ExecStart"].endswith(" run")
    stop = re.fullmatch(r"(\d+)s", service["TimeoutStopSec"])
    assert stop and 0 < int(stop.group(1)) <= 300


def test_systemd_analyze_verify() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    done = subprocess.run(
        [analyze, "verify", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    # The unit points at the virtualenv docs/operations.md installs; on a
    # machine without it that one complaint is expected, and only that one.
    missing = "Command /opt/alignmon/bin/alignmon is not executable"
    complaints = [
        line for line in (done.stdout + done.stderr).splitlines() if line and missing not in line
    ]
    assert complaints == []


def test_docs_name_only_deploy_files_that_exist() -> None:
    text = (ROOT / "docs" / "operations.md").read_text() + (ROOT / "README.md").read_text()
    named = {ref.rstrip(".,:)") for ref in re.findall(r"deploy/[\w./-]+", text)}
    assert named, "docs/operations.md names no deployment file"
    for ref in named:
        # deploy/postgres.env is the operator's copy of postgres.env.example.
        assert (ROOT / ref).exists() or (ROOT / f"{ref}.example").exists(), ref
