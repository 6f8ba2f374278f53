"""Fuzzing: schemathesis against the real server's /openapi.json, and regression tests for what
earlier fuzzing runs found (each was a 500, a 404/414 for a schema-valid request, or a mismatch
between the schema and the server's own validation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from api_testing import ADMIN_KEY, auth
from flask.testing import FlaskClient
from test_api_server import Server, free_port

from recsys.home import Home

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_recommendations_with_a_live_item_in_the_history_and_reasons(client: FlaskClient) -> None:
    """Found by fuzzing: reasons indexed the trained factors with a live (appended) item -> 500."""
    item = {"item_id": "fresh-1", "title": "Chef knife sharpener", "category": "Kitchen"}
    assert client.put("/v1/items", json={"items": [item]}, headers=auth()).status_code == 200
    for user, kind in (("cook1", "purchase"), ("newcomer", "click")):
        event = {"user_id": user, "item_id": "fresh-1", "type": kind}
        assert client.post("/v1/events", json=event, headers=auth()).status_code == 202
        response = client.get(f"/v1/users/{user}/recommendations?explain=true&n=20")
        assert response.status_code == 200, response.data[:500]
        items = response.get_json()["items"]
        assert items and all("reason" in i for i in items)
    session = client.post(
        "/v1/recommendations", json={"recent_item_ids": ["fresh-1"], "explain": True}
    )
    assert session.status_code == 200
    assert session.get_json()["strategy"] == "content"


@pytest.mark.parametrize("user_id", ["line\nbreak", "tab\there", "\ncook1"])
def test_ids_with_newlines_are_users_not_missing_routes(client: FlaskClient, user_id: str) -> None:
    """Found by fuzzing: werkzeug's path converter stopped at a newline -> undocumented 404."""
    response = client.get(f"/v1/users/{quote(user_id, safe='')}/recommendations")
    assert response.status_code == 200
    assert response.get_json()["user_id"] == user_id


@pytest.mark.parametrize("user_id", ["\x1e", "\ufeff", "\u3000\u2000", "\x85"])
def test_ids_blank_in_either_regex_dialect_are_422(client: FlaskClient, user_id: str) -> None:
    """Found by fuzzing: the schema's \\S (ECMAScript) and Python's str.strip disagreed."""
    path = quote(user_id, safe="")
    assert client.get(f"/v1/users/{path}/recommendations").status_code == 422
    assert client.delete(f"/v1/users/{path}", headers=auth(ADMIN_KEY)).status_code == 422


def test_query_limits_keep_request_lines_within_the_server_limit(client: FlaskClient) -> None:
    """Found by fuzzing: a schema-valid 20,000-character exclude got gunicorn's HTML 414."""
    ok = client.get("/v1/users/cook1/recommendations?exclude=" + "k" * 300)
    assert ok.status_code == 200
    too_long = client.get("/v1/users/cook1/recommendations?exclude=" + "k" * 301)
    assert too_long.status_code == 422
    assert client.get("/v1/users/cook1/recommendations?category=" + "c" * 101).status_code == 422


@pytest.mark.parametrize("title", ["\x1f", "\x85", "\ufeff", " \u3000"])
def test_titles_blank_in_either_regex_dialect_are_422_and_not_stored(
    client: FlaskClient, title: str
) -> None:
    """Found by fuzzing: the title schema still said \\S; "\\x1f" is not whitespace in
    ECMAScript (schema-valid for the fuzzer) but is in Python (rejected by the server)."""
    item = {"item_id": "blank-title", "title": title}
    response = client.put("/v1/items", json={"items": [item]}, headers=auth())
    assert response.status_code == 422
    assert "title" in response.get_json()["error"]["message"]
    assert client.get("/v1/items/blank-title/similar").status_code == 404


@pytest.mark.parametrize("currency", ["\n", "USD\n"])
def test_currency_with_a_trailing_newline_is_422(client: FlaskClient, currency: str) -> None:
    """Python's ``$`` matches before a final newline, ECMAScript's does not: the schema said no,
    the server said yes (a schema-invalid value was accepted)."""
    item = {"item_id": "nl-currency", "title": "Socks", "currency": currency}
    assert client.put("/v1/items", json={"items": [item]}, headers=auth()).status_code == 422
    ok = {"item_id": "nl-currency", "title": "Socks", "currency": "usd"}
    assert client.put("/v1/items", json={"items": [ok]}, headers=auth()).status_code == 200


def run_schemathesis(port: int, max_examples: int, seed: int, report: Path) -> tuple[int, dict]:
    """Run the schemathesis CLI against the server; return (exit code, JSON report)."""
    report.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(SCHEMATHESIS),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "run",
        f"http://127.0.0.1:{port}/openapi.json",
        "-H",
        f"Authorization: Bearer {ADMIN_KEY}",
        "-n",
        str(max_examples),
        "--seed",
        str(seed),
        "--request-timeout",
        "60",
        "--report",
        "json",
        "--report-dir",
        str(report),
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=1800, env={**os.environ, "NO_COLOR": "1"}
    )
    reports = sorted(report.glob("*.json"))
    data = json.loads(reports[-1].read_text(encoding="utf-8")) if reports else {}
    if proc.returncode != 0:
        print(proc.stdout[-6000:], proc.stderr[-2000:])
    return proc.returncode, data


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors_or_schema_violations(
    api_home: Home, tmp_path: Path
) -> None:
    server = Server(api_home, free_port(), tmp_path / "server.log")
    try:
        server.wait_ready()
        code, report = run_schemathesis(server.port, 25, 7, tmp_path / "report")
    finally:
        server.stop()
    assert report["test_cases"]["generated"] > 100
    assert report["failures"] == [], report["failures"]
    assert code == 0
