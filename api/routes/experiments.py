"""``/v1/experiments``: start, list, stop and report A/B experiments (admin key).

The same operations as ``recsys experiment``; a start or a stop here is served by this process at
once and by every other worker and host sharing the store within one poll (``swap_poll_s``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from api.auth import require_key
from api.errors import ApiError
from api.state import state
from api.validation import choice_param, json_body
from recsys.bundle import list_versions
from recsys.experiments import (
    Experiment,
    list_experiments,
    make_experiment,
    report_for,
    start_experiment,
    stop_experiment,
)

bp = Blueprint("experiments", __name__, url_prefix="/v1/experiments")


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    """An ``Experiment`` object of the API."""
    data: dict[str, Any] = json.loads(experiment.to_json())
    del data["salt"]  # knowing it predicts every shopper's variant
    data["running"] = experiment.running
    return data


def _find(name: str) -> Experiment:
    for experiment in list_experiments(state().service.store):
        if experiment.name == name:
            return experiment
    raise ApiError(404, "not_found", f"no experiment named {name!r}")


@bp.get("")
def index() -> Any:
    """Every experiment, oldest first."""
    require_key("admin")
    found = list_experiments(state().service.store)
    return jsonify({"experiments": [experiment_json(e) for e in found]})


@bp.post("")
def create() -> Any:
    """Start an experiment (one runs at a time)."""
    require_key("admin")
    api = state()
    body = json_body("ExperimentRequest")
    made = make_experiment(
        body["name"],
        body["variants"],
        body.get("traffic"),
        primary=body.get("metric", "conversion"),
        alpha=float(body.get("alpha", 0.05)),
        window_s=float(body.get("window_hours", 24.0)) * 3600.0,
        min_users=int(body.get("min_users", 100)),
    )
    service = api.service
    started = start_experiment(service.store, made, list_versions(service.home.artifacts))
    service.read_experiment()
    response = jsonify(experiment_json(started))
    response.status_code = 201
    return response


@bp.get("/<name>")
def show(name: str) -> Any:
    """An experiment and its report as of now (``?format=markdown`` for the Markdown)."""
    require_key("admin")
    fmt = choice_param("format", "json", ("json", "markdown"), request.args)
    experiment = _find(name)
    service = state().service
    service.flush_exposures()  # this process's latest answers count at once
    report = report_for(service.store, experiment)
    if fmt == "markdown":
        return Response(report.markdown(), mimetype="text/markdown")
    return jsonify({"experiment": experiment_json(experiment), "report": report.to_dict()})


@bp.post("/<name>/stop")
def stop(name: str) -> Any:
    """Stop assigning shoppers (the records stay for the report)."""
    require_key("admin")
    _find(name)
    service = state().service
    stopped = stop_experiment(service.store, name)
    service.read_experiment()
    return jsonify(experiment_json(stopped))
