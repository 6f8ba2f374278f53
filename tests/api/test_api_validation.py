"""JSON bodies: the compiled validator agrees with the reference one, and 422 messages stay put.

``api.validation.json_body`` checks a body with the schema compiled by ``fastjsonschema`` and only
asks the reference ``jsonschema`` validator (which words the 422) when that rejects it. These
tests hold the two to the same verdict on valid and broken bodies of every schema ``json_body``
serves, and pin the messages of typical mistakes to what the API answered before the compiled
validator (byte for byte).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import fastjsonschema
import pytest
from api_testing import BATCH, EVENT, ITEM
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from api import validation
from api.errors import ApiError
from api.openapi import validator
from api.validation import fast_validator, json_body, schema_error

# every schema json_body serves (api/routes), with valid bodies to start mutations from
VALID_BODIES: dict[str, list[Any]] = {
    "EventBody": [
        EVENT,
        {"user_id": "u2", "item_id": "k2", "type": "purchase"},
        {"events": [EVENT, {**EVENT, "ts": "2023-11-14T22:13:20Z", "event_id": "e2"}]},
    ],
    "CatalogBatch": [{"items": [ITEM, {"item_id": "n2", "title": "Lid", "price": None}]}],
    "SessionRequest": [
        {"recent_item_ids": ["k1", "r2"], "n": 5, "category": "Kitchen", "exclude": ["k2"]},
        {"recent_item_ids": [], "in_stock": False, "explain": True},
    ],
    "ErasureRequest": [{"user_ids": ["u1", "u2"]}],
}
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([100, 101, 1e14, 1e15, 1.0, 10.0, 0.5, -1.5, 2**63, float("nan")]),
    st.sampled_from(["", " ", "\x00", "x\x00", "\u3000", "EUR\n", "eu", "EURO", "purchase"]),
    st.sampled_from(["Click", "z" * 257, "u1\n", "\x1c", "2023-11-14", "1700000000"]),
    st.text(max_size=4),
    st.lists(st.sampled_from(["a", "", None, 1, EVENT, ITEM]), max_size=BATCH + 2),
    st.dictionaries(
        st.sampled_from(["item_id", "title", "user_id", "x"]), st.just("v"), max_size=2
    ),
)
NEW_KEYS = ["extra", "n", "price", "events", "items", "user_ids", "ts", "type", "event_id"]


@st.composite
def mutated(draw: st.DrawFn, body: Any) -> Any:
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
            value = copy.deepcopy(draw(ODD_VALUES))
            if isinstance(node, dict):
                node[draw(st.sampled_from(NEW_KEYS))] = value
            else:
                node.append(value)
        elif action == "remove":
            del node[draw(st.sampled_from(keys))]
        else:
            node[draw(st.sampled_from(keys))] = copy.deepcopy(draw(ODD_VALUES))
    return body


def fast_accepts(name: str, body: Any, max_batch: int = BATCH) -> bool:
    try:
        fast_validator(name, max_batch)(body)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def answer(name: str, body: Any, max_batch: int = 1000) -> str | None:
    """What ``json_body`` makes of ``body`` sent as JSON: None (accepted) or the 422 message."""
    app = Flask(__name__)
    with app.test_request_context(data=json.dumps(body), content_type="application/json"):
        try:
            assert json_body(name, max_batch) == body
        except ApiError as exc:
            assert (exc.status, exc.code) == (422, "validation_error")
            return exc.message
    return None


@pytest.mark.parametrize("name", sorted(VALID_BODIES))
def test_valid_bodies_pass_both_validators(name: str) -> None:
    for body in VALID_BODIES[name]:
        assert validator(name, BATCH).is_valid(body), body
        assert fast_accepts(name, body), body
        assert answer(name, body) is None


@pytest.mark.parametrize("name", sorted(VALID_BODIES))
@settings(max_examples=300)
@given(data=st.data())
def test_compiled_validator_agrees_with_the_reference(name: str, data: st.DataObject) -> None:
    body = data.draw(mutated(data.draw(st.sampled_from(VALID_BODIES[name]))))
    sent = copy.deepcopy(body)
    assert fast_accepts(name, body) == validator(name, BATCH).is_valid(body), body
    # "default" values are not filled in: the route sees the body as it was sent
    assert json.dumps(body, sort_keys=True) == json.dumps(sent, sort_keys=True)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["events", "items", "user_id", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.parametrize("name", sorted(VALID_BODIES))
@given(body=JSON_VALUES)
def test_compiled_validator_agrees_on_any_json(name: str, body: Any) -> None:
    assert fast_accepts(name, body) == validator(name, BATCH).is_valid(body), body


def test_batch_limits_are_compiled_per_limit() -> None:
    batch = {"events": [EVENT] * 4}
    assert not fast_accepts("EventBody", batch, max_batch=3)
    assert fast_accepts("EventBody", batch, max_batch=4)
    items = {"items": [ITEM] * 4}
    assert not fast_accepts("CatalogBatch", items, max_batch=3)
    assert fast_accepts("CatalogBatch", items, max_batch=4)
    assert fast_validator("EventBody", 3) is fast_validator("EventBody", 3)  # compiled once


E = {"user_id": "u1", "item_id": "k1", "type": "click"}
# (schema, body, batch limit, the 422 message the API gave before the compiled validator)
MISTAKES: list[tuple[str, Any, int, str]] = [
    (
        "EventBody",
        {"item_id": "k1", "type": "click"},
        1000,
        "body: 'user_id' is a required property",
    ),
    (
        "EventBody",
        {"events": [E, {"user_id": "u1", "type": "click"}]},
        1000,
        "events/1: 'item_id' is a required property",
    ),
    (
        "EventBody",
        {**E, "user_id": 5},
        1000,
        # a lone event's mistake is worded by the batch alternative of the oneOf (as before)
        "body: Additional properties are not allowed "
        "('item_id', 'type', 'user_id' were unexpected)",
    ),
    (
        "EventBody",
        {"events": [E, {**E, "ts": True}]},
        1000,
        "events/1/ts: True is not valid under any of the given schemas",
    ),
    (
        "EventBody",
        {"events": [E, {**E, "type": "Click"}]},
        1000,
        "events/1/type: 'Click' is not one of ['view', 'click', 'add_to_cart', 'purchase']",
    ),
    (
        "EventBody",
        {"events": [E] * 4},
        3,
        f"events: {[E] * 4} is too long",
    ),
    ("EventBody", {"events": []}, 1000, "events: [] should be non-empty"),
    (
        "EventBody",
        {**E, "color": "red"},
        1000,
        "body: Additional properties are not allowed ('color' was unexpected)",
    ),
    (
        "EventBody",
        {"events": [{**E, "color": "red"}]},
        1000,
        "events/0: Additional properties are not allowed ('color' was unexpected)",
    ),
    ("EventBody", "hello", 1000, "body: 'hello' is not valid under any of the given schemas"),
    (
        "CatalogBatch",
        {"items": [{"item_id": "n1"}]},
        1000,
        "items/0: 'title' is a required property",
    ),
    (
        "CatalogBatch",
        {"items": [{"item_id": "n1", "title": "T", "price": -1}]},
        1000,
        "items/0/price: -1 is less than the minimum of 0",
    ),
    (
        "CatalogBatch",
        {"items": [{"item_id": "n1", "title": "T", "currency": "EURO"}]},
        1000,
        "items/0/currency: 'EURO' does not match '^([A-Za-z]{3})?(?!\\\\n)$'",
    ),
    (
        "CatalogBatch",
        {"items": [{"item_id": "n1", "title": "T", "in_stock": "yes"}]},
        1000,
        "items/0/in_stock: 'yes' is not of type 'boolean'",
    ),
    (
        "CatalogBatch",
        {"items": [{"item_id": "n1", "title": "T"}] * 3},
        2,
        f"items: {[{'item_id': 'n1', 'title': 'T'}] * 3} is too long",
    ),
    (
        "CatalogBatch",
        {"items": [{"item_id": "n1", "title": "T", "colour": "red"}]},
        1000,
        "items/0: Additional properties are not allowed ('colour' was unexpected)",
    ),
    ("SessionRequest", {}, 1000, "body: 'recent_item_ids' is a required property"),
    (
        "SessionRequest",
        {"recent_item_ids": ["k1"], "n": 10.0},
        1000,
        "n: 10.0 is not of type 'integer'",
    ),
    (
        "SessionRequest",
        {"recent_item_ids": ["k1"], "n": 0},
        1000,
        "n: 0 is less than the minimum of 1",
    ),
    (
        "SessionRequest",
        {"recent_item_ids": "k1"},
        1000,
        "recent_item_ids: 'k1' is not of type 'array'",
    ),
    (
        "SessionRequest",
        {"recent_item_ids": ["k1"], "extra": 1},
        1000,
        "body: Additional properties are not allowed ('extra' was unexpected)",
    ),
    ("ErasureRequest", {"user_ids": []}, 1000, "user_ids: [] should be non-empty"),
    ("ErasureRequest", {"user_ids": ["u1", 2]}, 1000, "user_ids/1: 2 is not of type 'string'"),
    (
        "ErasureRequest",
        {"user_id": "u1"},
        1000,
        "body: Additional properties are not allowed ('user_id' was unexpected)",
    ),
]


@pytest.mark.parametrize(("name", "body", "max_batch", "message"), MISTAKES)
def test_messages_of_typical_mistakes_are_unchanged(
    name: str, body: Any, max_batch: int, message: str
) -> None:
    assert not fast_accepts(name, body, max_batch)
    assert answer(name, body, max_batch) == message
    assert schema_error(name, body, max_batch) == message


def test_the_reference_validator_decides_when_the_compiled_one_rejects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def rejects_everything(name: str, max_batch: int = 1000) -> Any:
        def check(body: Any) -> None:
            raise RuntimeError("compiled validator out of order")

        return check

    monkeypatch.setattr(validation, "fast_validator", rejects_everything)
    assert answer("EventBody", EVENT) is None  # valid: accepted all the same
    assert answer("EventBody", {"events": []}) == "events: [] should be non-empty"
