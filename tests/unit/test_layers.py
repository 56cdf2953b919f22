"""The arrows of docs/ARCHITECTURE.md, checked: every import (top-level or inside a
function) of every package goes only where its layer may go; Ray is known only to
actors/ (and the benchmarks that measure it), FastAPI and pydantic only to api/ (and
the benchmark baselines); no module is over the size limit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> the project packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "allocator": set(),
    "routing": {"allocator"},
    "storage": {"allocator"},
    "actors": {"allocator", "storage"},
    "service": {"allocator", "routing", "storage", "actors"},
    "api": {"allocator", "routing", "service"},
    "stack": {"allocator", "actors"},
    "tools": {"allocator", "routing"},
    "loadtest": {"allocator", "stack"},
    "bench": {"allocator", "routing", "storage", "actors", "service", "api", "stack", "tools"},
    "commands": {"allocator", "routing", "storage", "actors", "service", "api", "stack",
                 "bench", "tools", "loadtest"},
}
# third-party packages only some layers may use
ONLY_IN: dict[str, set[str]] = {
    "ray": {"actors", "bench"},
    "fastapi": {"api", "bench"},
    "pydantic": {"api", "bench"},
    "starlette": {"api"},
    "uvicorn": {"stack", "api"},  # api: its HTTP protocol (api.server)
    "locust": {"loadtest"},
    "ortools": {"routing"},
}
MAX_LINES = 400
DATA_TABLES = {"tools/gen_demo_network.py"}  # a city table, one row a line


def modules() -> list[Path]:
    return sorted(p for pkg in ALLOWED for p in (ROOT / pkg).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_package_is_in_the_table():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_arrows(path):
    package = path.relative_to(ROOT).parts[0]
    names = imported(path)
    wrong = sorted(n for n in names & set(ALLOWED) if n != package and n not in ALLOWED[package])
    assert not wrong, f"{package}/ may not import {wrong}"
    foreign = sorted(n for n in names & set(ONLY_IN) if package not in ONLY_IN[n])
    assert not foreign, f"{package}/ may not use {foreign}"


def test_no_import_cycle_between_packages():
    graph = {pkg: set() for pkg in ALLOWED}
    for path in modules():
        package = path.relative_to(ROOT).parts[0]
        graph[package] |= (imported(path) & set(ALLOWED)) - {package}
    seen: dict[str, int] = {}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        assert node not in trail, f"import cycle: {' -> '.join(trail + (node,))}"
        if seen.get(node):
            return
        for nxt in graph[node]:
            visit(nxt, trail + (node,))
        seen[node] = 1

    for pkg in graph:
        visit(pkg, ())


def module_imports(path: Path) -> set[str]:
    """Dotted names of the project modules ``path`` imports (``from a.b import c`` counts
    ``a.b.c`` when that is a module, else ``a.b``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if (ROOT / (sub.replace(".", "/") + ".py")).exists()
                        else node.module)
    return {m for m in out if m.split(".")[0] in ALLOWED}


def test_no_import_cycle_between_modules():
    name = {p: ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in modules()}
    graph = {name[p]: module_imports(p) - {name[p]} for p in modules()}
    done: set[str] = set()

    def visit(node: str, trail: tuple[str, ...]) -> None:
        assert node not in trail, f"import cycle: {' -> '.join(trail + (node,))}"
        if node in done or node not in graph:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, trail + (node,))
        done.add(node)

    for mod in sorted(graph):
        visit(mod, ())


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    rel = str(path.relative_to(ROOT))
    if rel in DATA_TABLES:
        return
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{rel}: {lines} lines (split it by responsibility)"
