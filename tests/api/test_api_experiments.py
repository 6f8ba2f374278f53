"""Experiments through the HTTP API: start, assignment in answers, attribution, stop, erasure."""

from __future__ import annotations

import json
import time
from typing import Any

import polars as pl
from api_testing import ADMIN_KEY, WRITE_KEY, auth, train_into
from flask import Flask
from flask.testing import FlaskClient

from api.openapi import validator
from recsys.experiments import Experiment, get_experiment
from recsys.home import Home
from recsys.text import TextEncoder

USERS = ["run1", "run2", "run3", "run4", "cook1", "cook2", "cook3", "cook4"] + [
    f"guest{i}" for i in range(40)
]


def _start(client: FlaskClient, **body: Any) -> Any:
    payload = {
        "name": "holdout",
        "variants": ["control=current", "treatment=holdout=none"],
        "metric": "conversion_total",
    }
    payload.update(body)
    return client.post("/v1/experiments", json=payload, headers=auth(ADMIN_KEY))


def _known_salt(app: Flask, name: str) -> Experiment:
    """Give experiment ``name`` a fixed salt, so the 8 trained users split the same way each run.

    The API draws a random salt per experiment: with it, all 8 users landed in one variant of a
    50/50 split in about one run in 128. This salt puts run3, run4 and cook3 in the first half.
    """
    service = app.extensions["recsys"].service
    spec = json.loads(service.store.experiment_specs()[name])
    spec["salt"] = "tests-fixed-salt"
    service.store.put_experiment(name, json.dumps(spec))
    service.read_experiment()
    experiment = get_experiment(service.store, name)
    assert len({experiment.assign(u) for u in USERS[:8]}) == 2, "the salt no longer splits them"
    return experiment


def test_answers_carry_an_id_and_no_variant_outside_experiments(client: FlaskClient) -> None:
    a = client.get("/v1/users/run1/recommendations").get_json()
    b = client.get("/v1/users/run1/recommendations").get_json()
    assert a["experiment"] is None and a["variant"] is None
    assert len(a["recommendation_id"]) == 16 and a["recommendation_id"] != b["recommendation_id"]
    similar = client.get("/v1/items/r1/similar").get_json()
    assert similar["variant"] is None and len(similar["recommendation_id"]) == 16


def test_an_experiment_splits_answers_records_exposures_and_reports(
    app: Flask, client: FlaskClient
) -> None:
    started = _start(client, traffic="50/50", min_users=1)
    assert started.status_code == 201, started.get_json()
    assert "salt" not in started.get_json() and started.get_json()["running"] is True
    service = app.extensions["recsys"].service
    experiment = get_experiment(service.store, "holdout")
    answers = {u: client.get(f"/v1/users/{u}/recommendations?n=3").get_json() for u in USERS}
    for user, answer in answers.items():
        expected = experiment.assign(user)
        assert expected is not None
        assert answer["experiment"] == "holdout" and answer["variant"] == expected.name
        if expected.name == "treatment":
            assert answer["items"] == []  # the holdout is shown nothing
        else:
            assert answer["items"]
    variants = {a["variant"] for a in answers.values()}
    assert variants == {"control", "treatment"}
    for answer in answers.values():  # the published schema describes answers in an experiment
        assert not list(validator("UserRecommendations").iter_errors(answer))

    # a control shopper clicks the second item of their answer, naming it
    user = next(u for u, a in answers.items() if a["variant"] == "control")
    answer = answers[user]
    clicked = answer["items"][1]["item_id"]
    event = {
        "user_id": user,
        "item_id": clicked,
        "type": "click",
        "recommendation_id": answer["recommendation_id"],
        "position": 1,
    }
    assert client.post("/v1/events", json=event, headers=auth(WRITE_KEY)).status_code == 202

    report = client.get("/v1/experiments/holdout", headers=auth(ADMIN_KEY)).get_json()["report"]
    control = next(v for v in report["variants"] if v["name"] == "control")
    treatment = next(v for v in report["variants"] if v["name"] == "treatment")
    n_control = sum(1 for a in answers.values() if a["variant"] == "control")
    assert control["users"] == n_control and treatment["users"] == len(USERS) - n_control
    assert control["impressions"] == sum(
        len(a["items"]) for a in answers.values() if a["variant"] == "control"
    )
    assert treatment["impressions"] == 0
    ctr = control["metrics"]["ctr"]["value"]
    assert abs(ctr - 1 / control["impressions"]) < 1e-9
    markdown = client.get("/v1/experiments/holdout?format=markdown", headers=auth(ADMIN_KEY))
    assert markdown.mimetype == "text/markdown" and "holdout" in markdown.get_data(as_text=True)

    shown = client.get("/v1/experiments/holdout", headers=auth(ADMIN_KEY)).get_json()
    assert not list(validator("ExperimentReport").iter_errors(shown))
    listing = client.get("/v1/experiments", headers=auth(ADMIN_KEY)).get_json()
    assert not list(validator("ExperimentList").iter_errors(listing))
    listed = listing["experiments"]
    assert [e["name"] for e in listed] == ["holdout"]
    stopped = client.post("/v1/experiments/holdout/stop", headers=auth(ADMIN_KEY))
    assert stopped.status_code == 200 and stopped.get_json()["running"] is False
    after = client.get(f"/v1/users/{user}/recommendations").get_json()
    assert after["experiment"] is None and after["variant"] is None


def test_a_bundle_swap_never_moves_a_shopper(
    app: Flask,
    client: FlaskClient,
    api_home: Home,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
) -> None:
    assert _start(client, variants=["a=current", "b=text_weight=0.9"]).status_code == 201
    before = {u: client.get(f"/v1/users/{u}/recommendations").get_json() for u in USERS}
    service = app.extensions["recsys"].service
    old = service.served_version()[0]
    time.sleep(1.1)  # a new version name
    events, catalog = shop
    train_into(api_home, events.head(0), catalog.head(0), encoder)  # retrain on the same store
    running = service.experiment
    assert service.refresh() and service.served_version()[0] != old
    # read again at the refresh, the experiment is the same object: the shoppers' variants are
    # remembered across refreshes (ServingState.assign), not hashed again after every poll
    assert service.experiment is running and service.read_experiment() is running
    after = {u: client.get(f"/v1/users/{u}/recommendations").get_json() for u in USERS}
    assert all(after[u]["model_version"] != old for u in USERS)
    assert {u: a["variant"] for u, a in after.items()} == {
        u: a["variant"] for u, a in before.items()
    }


def test_a_variant_with_other_blend_settings_is_ranked_with_them(
    app: Flask, client: FlaskClient
) -> None:
    variants = [
        "control=current",
        "popular=popularity_weight=50,behavior_weight=0,recent_weight=0,text_weight=0",
    ]
    assert _start(client, variants=variants, traffic="50/50").status_code == 201
    experiment = _known_salt(app, "holdout")
    user = next(u for u in USERS[:8] if (v := experiment.assign(u)) and v.name == "popular")
    answer = client.get(f"/v1/users/{user}/recommendations?explain=true").get_json()
    assert answer["variant"] == "popular" and answer["ranking"] == "live"
    assert {i["reason"]["source"] for i in answer["items"]} == {"popularity"}


def test_experiment_mistakes_are_answered(client: FlaskClient) -> None:
    assert _start(client).status_code == 201
    again = _start(client, name="another")
    assert again.status_code == 422 and "is running" in again.get_json()["error"]["message"]
    bad = _start(client, name="bad", variants=["control=current", "t=colour=red"])
    assert bad.status_code == 422 and "colour" in bad.get_json()["error"]["message"]
    assert _start(client, name="Bad Name").status_code == 422
    assert client.get("/v1/experiments/nope", headers=auth(ADMIN_KEY)).status_code == 404
    assert client.post("/v1/experiments/nope/stop", headers=auth(ADMIN_KEY)).status_code == 404
    assert client.get("/v1/experiments", headers=auth(WRITE_KEY)).status_code == 403
    assert client.get("/v1/experiments").status_code == 401
    wrong = {"user_id": "run1", "item_id": "r1", "type": "click", "recommendation_id": "xyz"}
    assert client.post("/v1/events", json=wrong, headers=auth(WRITE_KEY)).status_code == 422
    alone = {"user_id": "run1", "item_id": "r1", "type": "click", "position": 2}
    answer = client.post("/v1/events", json={"events": [alone]}, headers=auth(WRITE_KEY))
    assert answer.status_code == 422 and answer.get_json()["error"]["details"][0]["index"] == 0
    holdout = {"variants": ["control=current", "h=holdout=none"], "metric": "ctr", "name": "h2"}
    refused = client.post("/v1/experiments", json=holdout, headers=auth(ADMIN_KEY))
    assert (
        refused.status_code == 422 and "conversion_total" in refused.get_json()["error"]["message"]
    )


def test_erasure_deletes_what_an_experiment_recorded(app: Flask, client: FlaskClient) -> None:
    assert _start(client, traffic="50/50").status_code == 201
    service = app.extensions["recsys"].service
    for user in USERS[:8]:
        client.get(f"/v1/users/{user}/recommendations")
    service.flush_exposures()
    log = service.store.experiment_log("holdout", 0.0)
    assert "run1" in log.exposures["user_id"].to_list()
    assert client.delete("/v1/users/run1", headers=auth(ADMIN_KEY)).status_code == 200
    log = service.store.experiment_log("holdout", 0.0)
    assert "run1" not in log.exposures["user_id"].to_list()
    assert log.exposures.height == 7


def test_a_new_experiment_reusing_a_variant_name_ranks_with_its_own_settings(
    app: Flask, client: FlaskClient
) -> None:
    service = app.extensions["recsys"].service
    first = {"name": "one", "variants": ["control=current", "treatment=text_weight=0.9"]}
    assert client.post("/v1/experiments", json=first, headers=auth(ADMIN_KEY)).status_code == 201
    user = next(u for u in USERS if (v := service.experiment.assign(u)) and v.name == "treatment")
    client.get(f"/v1/users/{user}/recommendations")  # ranks with (and caches) text_weight=0.9
    assert client.post("/v1/experiments/one/stop", headers=auth(ADMIN_KEY)).status_code == 200
    second = {"name": "two", "variants": ["control=current", "treatment=recent_weight=0"]}
    assert client.post("/v1/experiments", json=second, headers=auth(ADMIN_KEY)).status_code == 201
    variant = service.experiment.variant("treatment")
    config = service._state.variant_snapshot(variant).recommender.config
    assert config.recent_weight == 0 and config.text_weight != 0.9


class Pitcher:
    """A fake pitch writer: says which reason items it was given."""

    def pitches_for(
        self, user_id: str, history: Any, items: Any, wait_ms: int, language: str | None = None
    ) -> list[Any]:
        from recsys.pitch.writer import Pitch

        return [Pitch(i.item_id, f"because {list(i.reason.item_ids)}", "template") for i in items]

    def close(self) -> None:
        pass


def test_a_pitch_variant_turns_pitches_on_and_off(api_home: Home, encoder: TextEncoder) -> None:
    from api_testing import make_app

    app = make_app(api_home, encoder, pitch_provider=Pitcher())
    try:
        client = app.test_client()
        body = {"name": "pitch", "variants": ["off=pitch=off", "on=pitch=on"]}
        assert client.post("/v1/experiments", json=body, headers=auth(ADMIN_KEY)).status_code == 201
        _known_salt(app, "pitch")
        answers = {u: client.get(f"/v1/users/{u}/recommendations").get_json() for u in USERS[:8]}
        asked = {
            u: client.get(f"/v1/users/{u}/recommendations?pitch=true").get_json() for u in USERS[:8]
        }
        for user, answer in answers.items():
            pitched = [i for i in answer["items"] if "pitch" in i]
            if answer["variant"] == "on":  # pitches although the storefront did not ask
                assert pitched and len(pitched) == len(answer["items"])
                # written from the shopper's items behind each recommendation, as pitch=true is
                assert any(i["pitch"]["text"] != "because []" for i in pitched)
            else:
                assert not pitched
                assert not any("pitch" in i for i in asked[user]["items"])  # off wins
        assert {a["variant"] for a in answers.values()} == {"on", "off"}
    finally:
        app.extensions["recsys"].close()
