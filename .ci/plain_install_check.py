"""Checks that ``.ci/plain_install.sh`` runs with the python of a venv made by ``pip install .``.

Not part of the package. The script runs this file with the venv's interpreter in isolated mode
(``python -I``, from a folder outside the checkout), so ``recsys``, ``api`` and ``jobs`` come from
the installed wheel, never from the source tree; ``imports`` checks that too.

Commands:
    write-shop DIR      write ``catalog.csv`` and ``events.csv`` of a tiny shop into DIR
    imports             import every module of recsys, api and jobs
    serve HOME USER_ID  start ``api.app.create_app`` on a trained HOME and ask it a few questions

Every failure exits with status 1 and one line saying what failed.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Any

PACKAGES = ("recsys", "api", "jobs")
CATALOG_COLUMNS = ["item_id", "title", "description", "category", "price", "currency", "in_stock"]
# one importable module of each extra: a plain install must have none of them, or the imports
# below would not prove that the base dependencies are enough
EXTRA_MODULES = {
    "test": ("pytest", "hypothesis", "openapi_schema_validator", "schemathesis"),
    "dev": ("ruff", "mypy"),
    "llm": ("onnxruntime_genai",),
    "bench": ("cornac",),
    "postgres": ("psycopg",),
}


class CheckError(Exception):
    """A check of the plain install failed; the message says which and why."""


def write_shop(folder: Path) -> None:
    """Write a tiny shop with two taste groups (the tests' ``shop``) as import-ready CSV files.

    Running gear r1..r5 and kitchen items k1..k5 (k5 out of stock, r5 without events); users
    run1..run4 and cook1..cook4 each bought three of their group's first four items.
    """
    folder.mkdir(parents=True, exist_ok=True)
    items = [("r", "Running", ["shoes", "socks", "shorts", "jacket", "trail shoes"])]
    items.append(("k", "Kitchen", ["chef knife", "cutting board", "frying pan", "pot", "scale"]))
    with (folder / "catalog.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(CATALOG_COLUMNS)
        for prefix, category, titles in items:
            for i, title in enumerate(titles, start=1):
                in_stock = "false" if (prefix, i) == ("k", 5) else "true"
                text = f"{category} {title}"
                row = [f"{prefix}{i}", text.capitalize(), f"A {text}.", category, "10.0", "EUR"]
                out.writerow([*row, in_stock])
    ts = 1_700_000_000
    with (folder / "events.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["user_id", "item_id", "type", "ts"])
        for group, prefix in (("run", "r"), ("cook", "k")):
            for u in range(1, 5):
                for i in range(1, 5):
                    if i != u:
                        ts += 60
                        out.writerow([f"{group}{u}", f"{prefix}{i}", "purchase", ts])


def check_imports() -> None:
    """Import every module of the runtime packages from the installed copy.

    Raises:
        CheckError: if an extra is installed, a package comes from outside the venv, or any
            module fails to import (each one is listed with its error).
    """
    present = [
        f"{module} ({extra})"
        for extra, modules in EXTRA_MODULES.items()
        for module in modules
        if importlib.util.find_spec(module) is not None
    ]
    if present:
        raise CheckError(f"not a plain install, extras are present: {', '.join(present)}")
    failures: list[str] = []
    count = 0
    for package in PACKAGES:
        root = importlib.import_module(package)
        where = Path(root.__file__ or "").resolve()
        if not where.is_relative_to(Path(sys.prefix).resolve()):
            raise CheckError(f"{package} was imported from {where}, not from the venv")

        def _walk_error(name: str) -> None:
            failures.append(f"{name}: {sys.exc_info()[1]!r}")

        for info in pkgutil.walk_packages(root.__path__, f"{package}.", onerror=_walk_error):
            count += 1
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # any failure at import is what this check looks for
                failures.append(f"{info.name}: {exc!r}")
                traceback.print_exc()
    if failures:
        raise CheckError(
            f"{len(failures)} of {count} modules fail to import without extras:\n  "
            + "\n  ".join(failures)
        )
    print(f"imports: all {count} modules of {', '.join(PACKAGES)} import; no module skipped")


def _expect(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        body = response.get_data(as_text=True)[:500]
        raise CheckError(f"{what}: HTTP {response.status_code}, expected {status}: {body}")
    return response.get_json()


def check_serve(home: Path, user_id: str) -> None:
    """Create the app on ``home`` and check health, a user's and a session's recommendations.

    Raises:
        CheckError: if the app cannot be created or an answer is not the expected one.
    """
    from api.app import create_app

    app = create_app({"home": str(home), "watch": False, "TESTING": True})
    try:
        client = app.test_client()
        if _expect(client.get("/healthz"), 200, "GET /healthz") != {"status": "ok"}:
            raise CheckError("GET /healthz did not answer {'status': 'ok'}")
        _expect(client.get("/readyz"), 200, "GET /readyz")
        url = f"/v1/users/{user_id}/recommendations?n=3"
        body = _expect(client.get(url), 200, f"GET {url}")
        if body["strategy"] != "hybrid" or not body["items"]:
            raise CheckError(f"GET {url}: expected hybrid items for a trained user, got {body}")
        session = {"recent_item_ids": ["k1"], "n": 2}
        _expect(client.post("/v1/recommendations", json=session), 200, "POST /v1/recommendations")
        bad = {"recent_item_ids": 1}  # the body schema is checked: a clear 422, not a 500
        _expect(client.post("/v1/recommendations", json=bad), 422, "POST a bad session body")
        items = [i["item_id"] for i in body["items"]]
        print(f"serve: /healthz ok, /readyz ok, {url} -> {body['strategy']} {items}, session ok")
    finally:
        app.extensions["recsys"].close()


def main(argv: list[str]) -> int:
    """Run one command (see the module docstring); return the exit status."""
    try:
        match argv:
            case ["write-shop", folder]:
                write_shop(Path(folder))
            case ["imports"]:
                check_imports()
            case ["serve", home, user_id]:
                check_serve(Path(home), user_id)
            case _:
                print(__doc__, file=sys.stderr)
                return 2
    except CheckError as exc:
        print(f"plain install check failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
