"""Every package the code imports at run time is installed by ``pip install recsys-shop``.

``pip install .`` installs ``[project].dependencies`` and what they depend on, never the extras
(``test``, ``dev``, ``llm``, ``bench``). This test reads every ``import`` in ``api/``, ``jobs/``
and ``recsys/`` (module level and inside functions; only ``if TYPE_CHECKING:`` blocks are
skipped, as they never run), maps each top-level module to the distribution that provides it in
this environment, and fails unless that distribution is a declared dependency, a dependency of
one (as pip resolves them, extras left out), or listed below as optional with the guard that
keeps a server without it working.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "jobs", "recsys")

# modules imported only inside functions of optional features, and what installs them: the
# default configuration never reaches them (the test checks that each is imported lazily)
OPTIONAL = {
    "onnxruntime_genai": "the llm extra (pitch backend 'onnx')",
    "llama_cpp": "pip install llama-cpp-python (pitch backend 'llamacpp'; says so when missing)",
    "pyspark": "the spark extra (recsys train --engine spark; says so when missing)",
    "pyarrow": "the spark extra (Arrow batches between Spark and the driver)",
    "psycopg": "the postgres extra (RECSYS_STORE=postgresql://...; says so when missing)",
}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(requirement).name).lower()


def declared() -> list[str]:
    """The ``[project].dependencies`` requirement strings of pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        deps: list[str] = tomllib.load(f)["project"]["dependencies"]
    return deps


def installed_closure(requirements: list[str]) -> set[str]:
    """Normalized names of the distributions ``pip install`` brings for these requirements."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement, or not for this platform
        name = _name(str(req))
        if name in seen:
            continue
        seen.add(name)
        # a requirement not installed here has no metadata: its own requirements are unknown
        with contextlib.suppress(metadata.PackageNotFoundError):
            todo.extend(metadata.requires(req.name) or [])
    return seen


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    return skipped


def runtime_imports() -> dict[str, dict[str, bool]]:
    """``top-level module -> {file: imported at module level}`` for third-party imports."""
    found: dict[str, dict[str, bool]] = {}
    own = set(PACKAGES)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            skipped = _type_checking_nodes(tree)
            top_level = {id(n) for n in tree.body}
            for node in ast.walk(tree):
                if id(node) in skipped:
                    continue
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in own or top in sys.stdlib_module_names or top == "__future__":
                        continue
                    where = str(path.relative_to(ROOT))
                    found.setdefault(top, {})[where] = (
                        found.get(top, {}).get(where, False) or id(node) in top_level
                    )
    return found


def test_runtime_imports_are_installed_by_the_dependencies() -> None:
    closure = installed_closure(declared())
    providers = metadata.packages_distributions()
    missing = {}
    for module, files in sorted(runtime_imports().items()):
        if module in OPTIONAL:
            eager = sorted(f for f, module_level in files.items() if module_level)
            assert not eager, f"{module} ({OPTIONAL[module]}) is imported at module level: {eager}"
            continue
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])}
        if not dists & closure:
            missing[module] = (sorted(dists) or ["not installed"], sorted(files))
    assert not missing, (
        "imported at run time but not installed by [project].dependencies "
        f"(add the distribution there, or guard the import and list it in OPTIONAL): {missing}"
    )


def test_the_api_validates_bodies_with_a_declared_dependency() -> None:
    # the review's defect: api/openapi.py's validator must not come from the test extra
    imports = runtime_imports()
    assert "api/openapi.py" in imports["jsonschema"]
    assert "jsonschema" in {_name(d) for d in declared()}
    assert "openapi_schema_validator" not in imports  # the reference validator: tests only


def test_the_closure_follows_requirements_and_skips_extras() -> None:
    assert {"flask", "werkzeug", "jinja2"} <= installed_closure(["flask>=3.0"])
    assert installed_closure(['pytest; extra == "test"']) == set()
