"""The layering, checked: every import in monitor/ and connectors/ runs from
a layer to one it may use, and no modules import each other in a circle.

The table below is the architecture of docs/design.md ("Layering rules") in
code form; a new import that breaks it fails here, so the layers cannot
silently rot. Imports inside functions and under ``TYPE_CHECKING`` count
too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "connectors")

#: Layer -> the modules it holds (a module belongs to the longest prefix).
LAYERS: dict[str, tuple[str, ...]] = {
    "seams": ("monitor.interfaces", "monitor.errors", "monitor.display"),
    "config-parts": (
        "monitor.config.types",
        "monitor.config.sources",
        "monitor.config.models",
        "monitor.config.plan",
        "monitor.config.rate_goal",
        "monitor.config.breakdown",
        "monitor.config.stalls",
    ),
    "types": ("monitor.facts", "monitor.findings", "monitor.short_ids"),
    "connectors": ("connectors",),
    "registry": ("connectors.registry",),
    "config": ("monitor.config",),
    "judge": ("monitor.judge",),
    "store": ("monitor.store",),
    "notifiers": ("monitor.notifiers",),
    "pipeline": (
        "monitor.sync",
        "monitor.evaluate",
        "monitor.sla_folding",
        "monitor.dispatch",
        "monitor.outbox",
        "monitor.summary",
        "monitor.backtest",
        "monitor.planner",
        "monitor.silences",
    ),
    "service": ("monitor.service",),
    "cli": ("monitor.cli", "monitor.__main__", "monitor"),
}

_BELOW_PIPELINE = {"seams", "config-parts", "types", "config", "judge", "store", "notifiers"}

#: Layer -> the other layers it may import.
MAY_IMPORT: dict[str, set[str]] = {
    "seams": set(),
    "config-parts": {"seams"},
    "types": {"seams", "config-parts"},
    "connectors": {"seams", "config-parts"},
    "registry": {"seams", "config-parts", "connectors"},
    "config": {"seams", "config-parts", "registry"},
    "judge": {"seams", "config-parts", "types"},
    "store": {"seams", "config-parts", "types"},
    "notifiers": {"seams", "config-parts"},
    "pipeline": _BELOW_PIPELINE | {"registry"},
    "service": _BELOW_PIPELINE | {"registry", "pipeline"},
    "cli": _BELOW_PIPELINE | {"registry", "pipeline", "service"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules ``path`` imports."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n in known else node.module for n in names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield name


def layer_of(module: str) -> str:
    best, layer = -1, ""
    for name, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), name
    assert layer, f"{module} is in no layer: add it to LAYERS"
    return layer


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports(path, known)) - {name} for name, path in known.items()}


def test_every_import_runs_to_a_layer_it_may_use() -> None:
    wrong = []
    for module, targets in sorted(graph().items()):
        source = layer_of(module)
        for target in sorted(targets):
            goes_to = layer_of(target)
            if goes_to != source and goes_to not in MAY_IMPORT[source]:
                wrong.append(f"{module} ({source}) imports {target} ({goes_to})")
    assert wrong == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []


@pytest.mark.parametrize("module", ["monitor.judge.reconciler", "monitor.store"])
def test_the_checker_sees_real_imports(module: str) -> None:
    """Guards the checker itself: a parse that found nothing would pass."""
    assert graph()[module], f"no imports found in {module}"


def test_the_checker_flags_an_upward_import() -> None:
    assert "cli" not in MAY_IMPORT[layer_of("monitor.judge.sla")]
    assert layer_of("monitor.store.outbox") == "store"
    assert layer_of("monitor.outbox") == "pipeline"
    assert layer_of("monitor.config.file") == "config"
