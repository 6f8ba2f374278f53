"""The OpenAPI document is valid, lists every route, and real responses match its schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from api_testing import ADMIN_KEY, BATCH, EVENT, ITEM, auth
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from api.openapi import build_spec, inline_refs, to_draft4, validator


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
        # the HTML pages (api/pages.py: dashboard, demo storefront) and their assets are no API
        if rule.endpoint != "static" and not rule.endpoint.startswith(("dashboard.", "demo."))
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


# --------------------------------------- the served validator vs the reference OAS 3.0 validator
# The API validates bodies with jsonschema's draft 4 validator on to_draft4's rewrite of the
# published schemas (openapi-schema-validator is a test-only dependency). These tests hold it to
# accepting and rejecting exactly what openapi-schema-validator's OAS30Validator does.
VALID_BODIES: dict[str, list[Any]] = {
    "SessionRequest": [
        {"recent_item_ids": ["k1", "r2"], "n": 5, "category": "Kitchen", "exclude": ["k2"]},
        {"recent_item_ids": [], "in_stock": False, "explain": True},
    ],
    "EventBody": [EVENT, {"events": [EVENT, {**EVENT, "ts": "2023-11-14T22:13:20Z"}]}],
    "CatalogBatch": [{"items": [ITEM, {"item_id": "n2", "title": "Lid", "price": None}]}],
}
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([100, 101, 1e14, 1e15, 1.0, 0.5, -1.5, 2**63]),
    st.sampled_from(["", " ", "\x00", "x\x00", "\u3000", "EUR\n", "eu", "purchase", "z" * 257]),
    st.text(max_size=4),
    st.lists(st.sampled_from(["a", "", None, 1]), max_size=BATCH + 2),
    st.dictionaries(st.sampled_from(["item_id", "title", "x"]), st.just("v"), max_size=2),
)


def _reference(name: str) -> OAS30Validator:
    schemas = build_spec(BATCH)["components"]["schemas"]
    ref = "#/components/schemas/"
    schema = (
        {"oneOf": [{"$ref": ref + "Event"}, {"$ref": ref + "EventBatch"}]}
        if name == "EventBody"
        else {"$ref": ref + name}
    )
    return OAS30Validator(inline_refs(schema, schemas))


@st.composite
def _mutated(draw: st.DrawFn, body: Any) -> Any:
    """``body`` with 1-3 values replaced, keys removed or unknown keys added, anywhere in it."""
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(1, 3))):
        node = body
        while True:  # walk down to a random container
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            inner = [k for k in keys if isinstance(node[k], dict | list) and node[k]]
            if not inner or draw(st.booleans()):
                break
            node = node[draw(st.sampled_from(inner))]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if action == "add" or not keys:
            if isinstance(node, dict):
                node[draw(st.sampled_from(["extra", "n", "price", "events", "items"]))] = draw(
                    ODD_VALUES
                )
            else:
                node.append(draw(ODD_VALUES))
        elif action == "remove":
            del node[draw(st.sampled_from(keys))]
        else:
            node[draw(st.sampled_from(keys))] = draw(ODD_VALUES)
    return body


@pytest.mark.parametrize("name", sorted(VALID_BODIES))
def test_valid_bodies_pass_both_validators(name: str) -> None:
    for body in VALID_BODIES[name]:
        assert _reference(name).is_valid(body), body
        assert validator(name, BATCH).is_valid(body), body


@pytest.mark.parametrize("name", sorted(VALID_BODIES))
@given(data=st.data())
def test_served_validator_accepts_what_the_oas30_validator_accepts(
    name: str, data: st.DataObject
) -> None:
    body = data.draw(_mutated(data.draw(st.sampled_from(VALID_BODIES[name]))))
    expected = _reference(name).is_valid(body)
    assert validator(name, BATCH).is_valid(body) == expected, body


def test_to_draft4_rewrites_nullable_only_in_schema_positions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "nullable": {"type": "number", "nullable": True},  # a property named like the keyword
            "tags": {"type": "array", "items": {"type": "string", "nullable": True}},
            "either": {"oneOf": [{"type": "integer", "nullable": False}]},
        },
        "enum": [{"nullable": True}],  # data, not a schema
    }
    assert to_draft4(schema) == {
        "type": "object",
        "properties": {
            "nullable": {"type": ["number", "null"]},
            "tags": {"type": "array", "items": {"type": ["string", "null"]}},
            "either": {"oneOf": [{"type": "integer"}]},
        },
        "enum": [{"nullable": True}],
    }


def test_to_draft4_refuses_oas_keywords_it_cannot_translate() -> None:
    with pytest.raises(ValueError, match="readOnly"):
        to_draft4({"type": "object", "properties": {"id": {"type": "string", "readOnly": True}}})


def test_closed_sets_come_from_the_library(client: FlaskClient) -> None:
    from recsys.serving.sources import reason_sources
    from recsys.types import EVENT_TYPES, RANKINGS, REASON_KINDS, SIMILAR_MODES, STRATEGIES

    spec = client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    reason = schemas["Reason"]["properties"]
    similar = spec["paths"]["/v1/items/{item_id}/similar"]["get"]["parameters"]
    mode = next(p for p in similar if p["name"] == "mode")["schema"]
    enums = {
        "event type": (schemas["Event"]["properties"]["type"]["enum"], EVENT_TYPES),
        "strategy": (schemas["Strategy"]["enum"], STRATEGIES),
        "reason kind": (reason["kind"]["enum"], REASON_KINDS),
        "reason source": (reason["source"]["enum"], reason_sources()),
        "ranking": (schemas["UserRecommendations"]["properties"]["ranking"]["enum"], RANKINGS),
        "similar mode": (mode["enum"], SIMILAR_MODES),
        "similar answer mode": (
            schemas["SimilarItems"]["properties"]["mode"]["enum"],
            SIMILAR_MODES,
        ),
    }
    for what, (served, library) in enums.items():
        assert served == list(library), what
    # the contract's values (a new candidate source may add a reason source, never remove one)
    assert EVENT_TYPES == ("view", "click", "add_to_cart", "purchase")
    assert STRATEGIES == ("hybrid", "content", "popular")
    assert REASON_KINDS == ("history", "similar", "popular")
    assert {"behavior", "text", "popularity", "repeat"} <= set(reason_sources())
    assert RANKINGS == ("precomputed", "live")
    assert SIMILAR_MODES == ("hybrid", "behavior", "content")


def test_the_api_list_limit_is_below_the_librarys(client: FlaskClient) -> None:
    from api.openapi import MAX_API_N
    from recsys.types import MAX_N

    spec = client.get("/openapi.json").get_json()
    params = spec["paths"]["/v1/users/{user_id}/recommendations"]["get"]["parameters"]
    assert next(p for p in params if p["name"] == "n")["schema"]["maximum"] == MAX_API_N == 100
    assert MAX_API_N <= MAX_N
    assert client.get(f"/v1/users/run1/recommendations?n={MAX_API_N + 1}").status_code == 422
