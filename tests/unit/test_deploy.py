"""The deployment files (deploy/, .dockerignore): they parse, render and pass
each tool's own check wherever that tool is installed, and hold the
properties docs/operations.md promises: a non-root image with a health
check, a config the service accepts, probes on /healthz and /readyz, a
hardened systemd unit. No image is built here (that needs a Docker engine).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import loader

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "alignmon"
UNIT = DEPLOY / "systemd" / "alignmon.service"
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


def compose_command() -> list[str] | None:
    """Docker Compose v2, as the docker CLI plugin or the standalone binary."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, timeout=30
        )
        if done.returncode == 0 and done.stdout.strip().lstrip("v").startswith("2"):
            return command
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 here (`docker compose` plugin or `docker-compose`)")
    for name in ("docker-compose.yml", "alignmon.yaml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    for name in ("postgres.env", "alignmon.env"):
        shutil.copy(DEPLOY / f"{name}.example", tmp_path / name)
    done = subprocess.run(
        [*command, "-f", str(tmp_path / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert services["alignmon-b"]["depends_on"]["alignmon-a"]["condition"] == "service_healthy"
    assert services["alignmon-a"]["environment"]["POSTGRES_PASSWORD"] == "change-me"


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


@pytest.fixture
def helm() -> str:
    path = shutil.which("helm")
    if path is None:
        pytest.skip("helm is not on PATH (Debian ships no helm package)")
    return path


def test_helm_template_renders_probes_and_a_valid_config(helm: str) -> None:
    done = subprocess.run(
        [helm, "template", "alignmon", str(CHART)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(done.stdout) if doc}
    assert set(docs) == {"ConfigMap", "Deployment", "Service"}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["envFrom"] == [{"secretRef": {"name": "alignmon"}}]
    config = parse_config(docs["ConfigMap"]["data"]["alignmon.yaml"], "configmap")
    assert config.service.listen == "0.0.0.0:9464"


def test_helm_refuses_replicas_on_sqlite(helm: str) -> None:
    sqlite_replicas = ["--set", "replicaCount=2", "--set", "config.database=sqlite:///a.db"]
    done = subprocess.run(
        [helm, "template", "alignmon", str(CHART), *sqlite_replicas],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "needs PostgreSQL" in done.stderr


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
