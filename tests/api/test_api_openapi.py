"""The OpenAPI document is valid, lists every route, and real responses match its schemas."""

from __future__ import annotations

from typing import Any

from api_testing import ADMIN_KEY, auth
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from api.openapi import inline_refs


def _path_template(rule: str) -> str:
    return rule.replace("<path:", "{").replace("<", "{").replace(">", "}")


def test_document_is_valid_openapi(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    validate(spec)  # raises on an invalid document


def test_document_lists_exactly_the_routes(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    served = {
        (_path_template(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == documented


def _check(spec: dict[str, Any], path: str, method: str, response: Any) -> None:
    operation = spec["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} -> undocumented {status}"
    content = operation["responses"][status]["content"]
    if "application/json" in content:
        assert response.is_json
        schema = inline_refs(content["application/json"]["schema"], spec["components"]["schemas"])
        OAS30Validator(schema).validate(response.get_json())
    else:
        assert response.mimetype in content


def test_responses_match_the_schemas(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    w = auth()
    calls: list[tuple[str, str, Any]] = [
        ("/healthz", "get", client.get("/healthz")),
        ("/readyz", "get", client.get("/readyz")),
        ("/metrics", "get", client.get("/metrics")),
        ("/openapi.json", "get", client.get("/openapi.json")),
        ("/v1/model", "get", client.get("/v1/model")),
    ]
    recs = "/v1/users/{user_id}/recommendations"
    for query in ("", "?n=5&explain=true", "?category=Kitchen&in_stock=false", "?n=0"):
        calls.append((recs, "get", client.get(f"/v1/users/run1/recommendations{query}")))
    calls.append((recs, "get", client.get("/v1/users/stranger/recommendations?explain=true")))
    similar = "/v1/items/{item_id}/similar"
    for query in (
        "r1/similar?explain=true",
        "r1/similar?mode=content",
        "nope/similar",
        "r1/similar?mode=x",
    ):
        calls.append((similar, "get", client.get(f"/v1/items/{query}")))
    session = "/v1/recommendations"
    calls += [
        (session, "post", client.post(session, json={"recent_item_ids": ["k1"], "explain": True})),
        (session, "post", client.post(session, json={"recent_item_ids": 1})),
        (session, "post", client.post(session, data="{", content_type="application/json")),
        (session, "post", client.post(session, data="x", content_type="text/plain")),
    ]
    event = {"user_id": "u1", "item_id": "k1", "type": "view"}
    calls += [
        ("/v1/events", "post", client.post("/v1/events", json=event, headers=w)),
        ("/v1/events", "post", client.post("/v1/events", json={"events": [event]}, headers=w)),
        ("/v1/events", "post", client.post("/v1/events", json=event)),
        ("/v1/events", "post", client.post("/v1/events", json={"events": []}, headers=w)),
        ("/v1/events", "post", client.post("/v1/events", json={**event, "ts": "x"}, headers=w)),
    ]
    item = {"item_id": "n1", "title": "Pasta pot", "category": "Kitchen"}
    calls += [
        ("/v1/items", "put", client.put("/v1/items", json={"items": [item]}, headers=w)),
        ("/v1/items", "put", client.put("/v1/items", json={"items": [{}]}, headers=w)),
        ("/v1/users/{user_id}", "delete", client.delete("/v1/users/run3", headers=w)),
        ("/v1/users/{user_id}", "delete", client.delete("/v1/users/run3", headers=auth(ADMIN_KEY))),
        ("/v1/users/{user_id}", "delete", client.delete("/v1/users/run3")),
    ]
    statuses = set()
    for path, method, response in calls:
        _check(spec, path, method, response)
        statuses.add(response.status_code)
    assert statuses >= {200, 202, 400, 401, 403, 404, 415, 422}
