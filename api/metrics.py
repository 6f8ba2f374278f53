"""Prometheus metrics: per-route request counts and latency histograms, and the model version.

Gunicorn runs several worker processes and a scrape reaches only one of them. When
``PROMETHEUS_MULTIPROC_DIR`` is set (``recsys serve`` sets it to a fresh folder and removes dead
workers' files from the gunicorn ``child_exit`` hook), every worker writes its samples to memory-
mapped files there and ``/metrics`` aggregates all workers with ``MultiProcessCollector``:
counters and histograms are summed; the model-version gauge keeps one series per live worker
(``liveall``), so a half-swapped fleet is visible. Without the variable (tests, a single process),
a per-app registry is used.
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The app's metric objects."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "recsys_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "recsys_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.user_recs = Counter(
            "recsys_user_recommendations",
            "User recommendation answers by ranking: precomputed list or computed live.",
            ["ranking"],
            registry=self.registry,
        )
        self.pitches = Counter(
            "recsys_pitches",
            "Pitches served in answers, by source (cache, llm, template) and whether the "
            "template stood in for the configured model (fallback: a validator rejection, a "
            "timeout or error, or a language the model cannot write).",
            ["source", "fallback"],
            registry=self.registry,
        )
        self.fast_path = Counter(
            "recsys_fast_path_answers",
            "User recommendation answers sent by the route's lean path (api.fastpath), not Flask.",
            registry=self.registry,
        )
        self.model = Gauge(
            "recsys_model_info",
            "1 for the model version this worker serves (0 for versions it served before).",
            ["version"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.model_loaded = Gauge(
            "recsys_model_loaded_timestamp_seconds",
            "When this worker loaded its current model (epoch seconds).",
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self._version: str | None = None
        # labelled children by label values: ``labels()`` costs a few µs on every request
        # (argument checks, a lock, a lookup); route templates, methods and statuses are few
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._rankings: dict[str, Any] = {}

    def set_version(self, version: str | None, loaded_at: float) -> None:
        """Record the served version (cheap when unchanged)."""
        if version == self._version:
            return
        if self._version is not None:
            self.model.labels(version=self._version).set(0)
        if version is not None:
            self.model.labels(version=version).set(1)
            self.model_loaded.set(loaded_at)
        self._version = version

    def record(
        self,
        route: str,
        method: str,
        status: int,
        seconds: float | None,
        version: tuple[str | None, float],
    ) -> None:
        """Count one request (and time it unless ``seconds`` is None); note the served version."""
        children = self._children.get((route, method, status))
        if children is None:
            children = self._children[(route, method, status)] = (
                self.latency.labels(route=route, method=method),
                self.requests.labels(route=route, method=method, status=str(status)),
            )
        if seconds is not None:
            children[0].observe(seconds)
        children[1].inc()
        self.set_version(*version)

    def count_user_answer(self, ranking: str) -> None:
        """Count one user recommendation answer by its ranking (``recsys_user_recommendations``)."""
        child = self._rankings.get(ranking)
        if child is None:
            child = self._rankings[ranking] = self.user_recs.labels(ranking=ranking)
        child.inc()

    def exposition(self) -> Response:
        """The ``/metrics`` response (all workers when in multiprocess mode)."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0])


def init_metrics(app: Flask, metrics: Metrics, version_source: Any) -> None:
    """Time every request and count it by route template.

    Args:
        app: the Flask app.
        metrics: where to record.
        version_source: callable returning ``(version, loaded_at)`` of the served model, or
            ``(None, 0.0)`` when nothing is loaded.
    """

    @app.before_request
    def _start() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        t0 = getattr(g, "t0", None)
        rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        seconds = None if t0 is None else time.perf_counter() - t0
        metrics.record(rule, request.method, response.status_code, seconds, version_source())
        return response
