"""The API's own import graph: the factory is no helper module, blueprints stand alone, no cycles.

Routes and the lean path import what they share from ``api.state``, ``api.auth`` and
``api.answers``; the factory imports the blueprints (inside ``create_app``), and only what
starts an app (``api/__init__.py``, a server runner) imports the factory. Every ``import``
statement counts, in functions and under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "api"


def _module(path: Path) -> str:
    parts = path.relative_to(API.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def api_graph() -> dict[str, set[str]]:
    """``module -> api modules it imports`` for every module under ``api/``."""
    modules = {_module(p): p for p in API.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                # ``from api.routes import users`` imports the module api.routes.users
                targets.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk (empty when the graph is acyclic)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the walk's path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return found


def test_the_api_package_has_no_import_cycle() -> None:
    graph = api_graph()
    assert {"api.app", "api.state", "api.auth", "api.answers", "api.fastpath"} <= set(graph)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_nothing_the_factory_builds_on_imports_the_factory() -> None:
    graph = api_graph()
    reached, todo = set(), ["api.app"]
    while todo:
        for nxt in graph[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    assert {"api.routes.users", "api.fastpath", "api.answers", "api.state"} <= reached
    importers = {m for m in reached if "api.app" in graph[m]}
    assert not importers  # only what starts an app (api/__init__.py, a runner) imports it


def test_blueprints_and_the_lean_path_import_no_route() -> None:
    graph = api_graph()
    for module, targets in graph.items():
        if module.startswith("api.routes.") or module == "api.fastpath":
            routes = {t for t in targets if t.startswith("api.routes")}
            assert not routes, f"{module} imports {sorted(routes)}"
