"""HTML pages: the operators' dashboard (``/dashboard``) and the demo storefront (``/demo``).

Server-rendered Jinja2 templates (``api/templates``), one stylesheet and one small script
(``api/static``); nothing is loaded from another host. ``docs/pages.md`` defines every number.

* ``/dashboard`` needs an admin key. A browser cannot easily send an ``Authorization`` header, so
  the key is typed once into a login form (``POST /dashboard/login``); the answer sets an
  ``HttpOnly``, ``SameSite=Strict`` cookie holding ``<issued>.<HMAC-SHA256(admin key, issued)>``
  (never the key itself), valid for :data:`SESSION_S` seconds, checked in constant time against
  every configured admin key (rotating the keys ends every session). ``Authorization: Bearer
  <admin key>`` works too (scripts, tests). Keys are not accepted in the URL: a ``?key=`` would
  land in access logs and the browser history.
* ``/demo`` is registered only when ``demo_pages`` is on (``RECSYS_API_DEMO_PAGES=true``; off by
  default, so ``/demo`` is a 404). Its pages hand the first write key to the browser, whose
  script posts the shopper's clicks, carts and purchases through the public ``POST /v1/events``:
  a demo on a private machine only.

Example:
    >>> app = create_app({"admin_keys": ["a"], "demo_pages": True})
    >>> app.test_client().get("/dashboard").status_code
    401
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson
import polars as pl
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry, multiprocess
from werkzeug.datastructures import MultiDict

from api.answers import similar_answer, user_answer
from api.config import ApiConfig
from api.errors import ApiError
from api.metrics import Metrics
from api.openapi import MAX_API_N
from api.state import ApiState, state
from recsys.errors import NoBundleError, UnknownItemError
from recsys.experiments import Experiment, list_experiments, report_for
from recsys.experiments.analysis import ExperimentReport
from recsys.insights import shopper_segments
from recsys.store import Store
from recsys.types import EVENT_TYPES

log = logging.getLogger(__name__)

COOKIE = "recsys_dashboard"  # the dashboard's session cookie
SESSION_S = 12 * 3600  # how long a dashboard login lasts
COVERAGE_AT = 10  # catalog coverage counts the first this many places of each precomputed list
TOP_ITEMS = 10  # rows of the top-items table
TOP_WINDOW_S = 7 * 86400  # top items: the last 7 days of data (see activity_sections)
TOP_MAX_AGE_S = 30 * 86400  # ... but never events older than 30 days (bounds the store read)
ACTIVITY_CACHE_S = 60.0  # event rates and top items are read from the store at most this often
REPORT_RUNS = 10  # nightly runs listed in the quality history
DEMO_SHOPPERS = 12  # shoppers offered on the demo's first page
DEMO_N = 8  # recommendations on a demo shopper's page
EXPERIMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
EXPERIMENTS_SHOWN = 10  # the dashboard lists the newest this many experiments
EXPERIMENTS_CACHE_S = 60.0  # an experiment's report is recomputed at most this often
INSIGHTS_CACHE_S = 300.0  # shopper segments (k-means) likewise, and for each new bundle
ISSUED = re.compile(r"[0-9]{1,12}")  # a session cookie's issue time (epoch seconds)
POSITION = re.compile(r"[0-9]{1,3}")  # a demo product link's place in its answer
PAGES_EXTENSION = "recsys_pages"  # app.extensions key of the pages' small cache

# the pages load only this server's own stylesheet, script and images (no CDN, no inline code)
CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

dashboard = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates")
demo = Blueprint("demo", __name__, url_prefix="/demo", template_folder="templates")

T = TypeVar("T")


def register_pages(app: Flask, config: ApiConfig) -> None:
    """Register the dashboard, and the demo storefront when ``config.demo_pages`` is on.

    Args:
        app: the API's Flask app (its static folder ``api/static`` serves the CSS and script).
        config: the API configuration.
    """
    app.register_blueprint(dashboard)
    if config.demo_pages:
        app.register_blueprint(demo)
    app.extensions[PAGES_EXTENSION] = PageCache()
    app.add_template_filter(_pct, "pct")
    app.add_template_filter(_num, "num")
    app.add_template_filter(_when, "when")


def _page_headers(response: Response) -> Response:
    """Every page: the content security policy, no MIME sniffing, never cached."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


dashboard.after_request(_page_headers)
demo.after_request(_page_headers)


# ------------------------------------------------------------------------------ formatting
def _pct(value: float | None, digits: int = 1) -> str:
    """``0.1234`` -> ``12.3%``; None -> an em dash."""
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def _num(value: Any) -> str:
    """A count with thousands separators, a float with 4 decimals; None -> an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _when(value: float | str | None) -> str:
    """Epoch seconds or an ISO 8601 string as ``YYYY-MM-DD HH:MM UTC``; None -> an em dash."""
    if value is None or value == "":
        return "—"
    try:
        moment = (
            datetime.fromtimestamp(float(value), UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(value)
        )
    except (ValueError, OverflowError, OSError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------------------ small cache
@dataclass
class PageCache:
    """Values the pages recompute rarely: ``key -> (computed at, of what, expires, value)``.

    One per app, so one per process (each gunicorn worker has its own). Thread-safe: a key's
    value is computed under that key's lock, so two requests that miss at once compute it
    once (the second waits and takes the first one's value); other keys are not held up.
    """

    entries: dict[str, tuple[float, str, float | None, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _key_locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(
        self,
        key: str,
        of: str,
        ttl_s: float | Callable[[T], float | None] | None,
        compute: Callable[[], T],
    ) -> T:
        """``key``'s value if computed from ``of`` less than ``ttl_s`` ago, else a fresh one.

        Args:
            key: what is cached (one entry per key).
            of: what it was computed from (a bundle version, an experiment's state); another
                value recomputes it at once.
            ttl_s: the longest an entry is served (None: as long as ``of`` holds), or a
                function of the fresh value that says so.
            compute: makes the value (an exception propagates and caches nothing).
        """
        with self._key_lock(key):
            hit = self.entries.get(key)
            now = time.monotonic()
            if hit is not None and hit[1] == of and (hit[2] is None or now < hit[2]):
                cached: T = hit[3]
                return cached
            value = compute()
            ttl = ttl_s(value) if callable(ttl_s) else ttl_s
            self.entries[key] = (now, of, None if ttl is None else now + ttl, value)
            return value


def _cache() -> PageCache:
    cache: PageCache = current_app.extensions[PAGES_EXTENSION]
    return cache


# ------------------------------------------------------------------------------ dashboard auth
def _mac(key: str, issued: int) -> str:
    return hmac.new(key.encode(), f"recsys-dashboard:{issued}".encode(), hashlib.sha256).hexdigest()


def session_cookie(key: str, issued: int) -> str:
    """The cookie value for a login with admin ``key`` at epoch second ``issued``."""
    return f"{issued}.{_mac(key, issued)}"


def cookie_valid(config: ApiConfig, value: str, now: float | None = None) -> bool:
    """Whether a dashboard cookie was issued for a configured admin key and has not expired.

    Args:
        config: the API configuration (its ``admin_keys``).
        value: the cookie's value (``""`` when missing).
        now: the time to judge by (default: the clock).

    Returns:
        True when ``value`` is ``<issued>.<mac>`` with ``issued`` in the last :data:`SESSION_S`
        seconds and ``mac`` the HMAC of one admin key (compared in constant time).
    """
    issued_text, _, mac = value.partition(".")
    # ASCII digits only, and few of them: str.isdigit() takes "²" (int() refuses it) and int()
    # refuses more than 4300 digits; either would be a 500 instead of the login form
    if not ISSUED.fullmatch(issued_text) or not mac:
        return False
    issued = int(issued_text)
    now = time.time() if now is None else now
    if not now - SESSION_S <= issued <= now + 60:
        return False
    given = mac.encode()
    return any(hmac.compare_digest(given, _mac(k, issued).encode()) for k in config.admin_keys)


def key_valid(config: ApiConfig, key: str) -> bool:
    """Whether ``key`` is one of the admin keys (constant-time comparison)."""
    given = key.strip().encode()
    return bool(given) and any(hmac.compare_digest(given, k.encode()) for k in config.admin_keys)


def _signed_in(config: ApiConfig) -> bool:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key_valid(config, key):
        return True
    return cookie_valid(config, request.cookies.get(COOKIE, ""))


def _login_page(message: str | None, status: int) -> Response:
    no_keys = not state().config.admin_keys
    html = render_template("login.html", message=message, no_keys=no_keys)
    return Response(html, status=status, mimetype="text/html")


def _login_needed() -> Response | None:
    """The login form (401) when the request has no admin key or session cookie, else None."""
    return None if _signed_in(state().config) else _login_page(None, 401)


@dashboard.post("/login")
def login() -> ResponseReturnValue:
    """Check the form's admin key; set the session cookie and go to the dashboard (303)."""
    cfg = state().config
    if not key_valid(cfg, request.form.get("key", "")):
        return _login_page("That is not an admin key of this server.", 401)
    response = redirect(url_for("dashboard.show"), 303)
    response.set_cookie(
        COOKIE,
        session_cookie(request.form["key"].strip(), int(time.time())),
        max_age=SESSION_S,
        path="/dashboard",
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return response


@dashboard.post("/logout")
def logout() -> ResponseReturnValue:
    """Forget the session cookie and show the login form again (303)."""
    response = redirect(url_for("dashboard.show"), 303)
    response.delete_cookie(COOKIE, path="/dashboard", httponly=True, samesite="Strict")
    return response


# ------------------------------------------------------------------------------ dashboard data
def _guarded(name: str, compute: Callable[[], T]) -> T | dict[str, str]:
    """``compute()``, or ``{"error": ...}`` when it fails (one section never breaks the page)."""
    try:
        return compute()
    except Exception as exc:
        log.warning("dashboard section %s failed: %s: %s", name, type(exc).__name__, exc)
        return {"error": f"{type(exc).__name__}: {exc}"}


def bundle_section(api: ApiState) -> dict[str, Any] | None:
    """The served bundle: version, created_at, load time, counts, data window, metrics.

    Returns:
        None when no bundle is loaded yet.
    """
    service = api.service
    try:
        snap = service.snapshot
    except NoBundleError:
        return None
    manifest = snap.base.manifest
    lists = snap.base.precomputed
    return {
        "version": snap.version,
        "created_at": manifest.get("created_at"),
        "loaded_at": snap.loaded_at,
        "counts": manifest.get("counts") or {},
        "data_window": manifest.get("data_window") or {},
        "metrics": manifest.get("metrics") or {},
        "engine": (manifest.get("engine") or {}).get("name"),
        "precomputed_users": lists.n_lists if lists is not None else None,
        "live": manifest.get("live") or service.manifest().get("live") or {},
    }


def _metric_mean(report: Mapping[str, Any], who: str, metric: str) -> float | None:
    value = ((report.get("metrics") or {}).get(who) or {}).get(metric)
    if isinstance(value, Mapping):
        value = value.get("mean")
    return float(value) if isinstance(value, int | float) else None


def reports_folder(api: ApiState) -> Path:
    """Where the nightly job writes its reports: ``<home>/reports``."""
    return api.service.home.root / "reports"


def quality_section(api: ApiState) -> dict[str, Any]:
    """The nightly reports: the last :data:`REPORT_RUNS` runs and whether the plot exists.

    Reads the files the nightly job writes (``<run_id>.json``, ``metrics.png``); the API does
    not import the job.
    """
    folder = reports_folder(api)
    runs: list[dict[str, Any]] = []
    if folder.is_dir():
        names = sorted(p for p in folder.glob("*.json") if not p.name.startswith((".", "latest")))
        for path in names[-REPORT_RUNS:]:
            try:
                report = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if not isinstance(report, dict):
                continue
            runs.append(
                {
                    "run_id": report.get("run_id", path.stem),
                    "started_at": report.get("started_at"),
                    "decision": report.get("decision"),
                    "candidate": (report.get("bundle") or {}).get("candidate"),
                    "recall_candidate": _metric_mean(report, "candidate", "recall@20"),
                    "recall_current": _metric_mean(report, "live", "recall@20"),
                    "ndcg_candidate": _metric_mean(report, "candidate", "ndcg@20"),
                    "ndcg_current": _metric_mean(report, "live", "ndcg@20"),
                    "pitches": report.get("pitches") or {},
                }
            )
    runs.reverse()  # newest first
    return {"runs": runs, "plot": (folder / "metrics.png").is_file()}


def _data_anchor(bundle: Mapping[str, Any] | None, now: float) -> float:
    """The newest event the served bundle was trained on (epoch seconds; ``now`` if unknown)."""
    last = ((bundle or {}).get("data_window") or {}).get("last_event")
    if isinstance(last, str):
        try:
            return datetime.fromisoformat(last).timestamp()
        except ValueError:
            pass
    return now


def activity_sections(
    store: Store, bundle: Mapping[str, Any] | None, now: float | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Event rates and top items, from one read of the store (uncached: see :func:`activity`).

    Event rates: events stored per type with ``ts`` in the last hour and the last 24 hours by
    the server's clock, and all events stored. Top items: the items with the most events (any
    type) with ``ts`` from the later of *the served bundle's newest trained event minus 7 days*
    and *30 days ago* until now (so a recently replayed data set still shows its last week plus
    every event since, and a stale bundle never makes the read reach further back than 30 days).

    The read is ``events_frame(since_ts=...)``: there is no index on ``ts``, so the store scans
    the events table and returns the rows of the last 24 hours or the top-items window,
    whichever starts earlier (at most 30 days of events); plus one ``COUNT(*)``.

    Args:
        store: the event store.
        bundle: :func:`bundle_section`'s answer (None: no bundle; the window ends now).
        now: the time to judge by (default: the clock).

    Returns:
        ``(rates, top)``; both carry ``at``, the time they were counted.
    """
    now = time.time() if now is None else now
    last_week = _data_anchor(bundle, now) - TOP_WINDOW_S
    top_since = max(last_week, now - TOP_MAX_AGE_S)
    frame = store.events_frame(since_ts=min(now - 86400, top_since))
    rates: dict[str, Any] = {"types": list(EVENT_TYPES), "total": store.count_events(), "at": now}
    for label, seconds in (("hour", 3600), ("day", 86400)):
        recent = frame.filter(pl.col("ts") >= now - seconds)
        counts = dict(recent.group_by("type").len().iter_rows())
        rates[label] = {t: int(counts.get(t, 0)) for t in EVENT_TYPES}
        rates[label]["all"] = recent.height
    window = frame.filter(pl.col("ts") >= top_since)
    ranked = (
        window.group_by("item_id")
        .agg(
            pl.len().alias("events"),
            (pl.col("type") == "purchase").sum().alias("purchases"),
            pl.col("user_id").n_unique().alias("users"),
        )
        .sort(["events", "item_id"], descending=[True, False])
        .head(TOP_ITEMS)
    )
    titles = {}
    if ranked.height:
        catalog = store.get_items(ranked["item_id"].to_list())
        titles = dict(zip(catalog["item_id"].to_list(), catalog["title"].to_list(), strict=True))
    top = {
        "since": top_since,
        "at": now,
        "capped": top_since > last_week,  # 30 days ago, not the bundle's last week
        "events": window.height,
        "items": [{**row, "title": titles.get(row["item_id"])} for row in ranked.to_dicts()],
    }
    return rates, top


def activity(
    api: ApiState, bundle: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`activity_sections`, read at most every :data:`ACTIVITY_CACHE_S` s per process.

    Cached per bundle version (a new bundle moves the top-items window at once); the numbers
    a page shows are at most that old. Two loads that miss at once read the store once.
    """
    version = str((bundle or {}).get("version", ""))
    return _cache().get(
        "activity",
        version,
        ACTIVITY_CACHE_S,
        lambda: activity_sections(api.service.store, bundle),
    )


def coverage_section(api: ApiState) -> dict[str, Any] | None:
    """Catalog coverage of the served bundle's precomputed lists (cached per version).

    Coverage@10 is the share of the bundle's items that stand in the first
    :data:`COVERAGE_AT` places of at least one user's precomputed list: the part of the
    catalog that the personalized answers can show at all. Computed from the lists in the
    bundle (one ``np.unique`` over users x 10 item indices), not from live answers.

    Returns:
        None when no bundle is loaded or it has no precomputed lists.
    """
    try:
        snap = api.service.snapshot
    except NoBundleError:
        return None
    lists, n_items = snap.base.precomputed, len(snap.base.items)

    def compute() -> dict[str, Any] | None:
        if lists is None or n_items == 0:
            return None
        head = lists.items[:, :COVERAGE_AT]
        shown = int(np.unique(head[head >= 0]).size)
        return {
            "at": COVERAGE_AT,
            "items_shown": shown,
            "bundle_items": n_items,
            "coverage": shown / n_items,
            "users_with_list": lists.n_lists,
            "users": len(snap.base.users),
        }

    return _cache().get("coverage", snap.version, None, compute)


def _registry(metrics: Metrics) -> CollectorRegistry:
    if not metrics.multiprocess:
        return metrics.registry
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def serving_section(api: ApiState) -> dict[str, Any]:
    """What the app counts (``/metrics``, all workers) and what the pitch writer left.

    Returns:
        ``rankings`` (user answers by ``precomputed``/``live``), ``routes`` (requests, 4xx and
        5xx per route), ``pitch_cache`` (pitches cached on this host, None: no cache file),
        ``pitch_dropped`` (misses this worker could not queue, None: no writer built),
        ``pitch_served`` and ``pitch_sources`` (pitches in answers since the server started,
        by source: ``cache``, ``llm``, ``template``, and ``fallback``: the template standing in
        for a configured model) and
        ``nightly_pitches`` (the latest nightly pre-write counts, with their shares).
    """
    rankings: dict[str, float] = {}
    routes: dict[str, dict[str, float]] = {}
    pitch_sources: dict[str, float] = {}  # cache, llm, template; fallback: template for a model
    for family in _registry(api.metrics).collect():
        for sample in family.samples:
            if sample.name == "recsys_user_recommendations_total":
                key = sample.labels.get("ranking", "?")
                rankings[key] = rankings.get(key, 0.0) + sample.value
            elif sample.name == "recsys_pitches_total":
                source = sample.labels.get("source", "?")
                if sample.labels.get("fallback") == "true":
                    source = "fallback"
                pitch_sources[source] = pitch_sources.get(source, 0.0) + sample.value
            elif sample.name == "recsys_http_requests_total":
                route = f"{sample.labels.get('method', '?')} {sample.labels.get('route', '?')}"
                row = routes.setdefault(route, {"requests": 0.0, "4xx": 0.0, "5xx": 0.0})
                row["requests"] += sample.value
                status = sample.labels.get("status", "")
                if status[:1] in ("4", "5"):
                    row[f"{status[0]}xx"] += sample.value
    answers = sum(rankings.values())
    path = api.service.home.pitch_cache_path  # recsys.pitch.serving.pitch_cache_path
    cached: int | None = None
    if path.is_file():
        from recsys.pitch.cache import PitchCache

        cache = PitchCache(path)
        try:
            cached = cache.count()
        finally:
            cache.close()
    provider = api._pitch_provider  # built only if a request asked for pitches
    dropped = getattr(provider, "dropped", None)
    return {
        "answers": int(answers),
        "rankings": {k: {"count": int(v), "share": v / answers} for k, v in rankings.items()},
        "routes": [
            {"route": k, **v} for k, v in sorted(routes.items(), key=lambda kv: -kv[1]["requests"])
        ][:12],
        "pitch_cache": cached,
        "pitch_dropped": dropped if isinstance(dropped, int) else None,
        "pitch_served": int(sum(pitch_sources.values())),
        "pitch_sources": {
            k: {"count": int(v), "share": v / sum(pitch_sources.values())}
            for k, v in sorted(pitch_sources.items())
        },
        "nightly_pitches": _nightly_pitches(api),
    }


def _nightly_pitches(api: ApiState) -> dict[str, Any] | None:
    """The latest nightly report's pitch counts with shares of their total (None: none)."""
    path = reports_folder(api) / "latest.json"
    try:
        pitches = orjson.loads(path.read_bytes()).get("pitches")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(pitches, dict):
        return None
    counts = {k: int(pitches.get(k) or 0) for k in ("written", "cached", "template", "failed")}
    total = sum(counts.values())
    return {
        "status": pitches.get("status"),
        "counts": counts,
        "total": total,
        "cache_hit": counts["cached"] / total if total else None,
        "fallback": (counts["template"] + counts["failed"]) / total if total else None,
    }


def experiment_entry(spec: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """One experiment's report (``ExperimentReport.to_dict()``) as the dashboard shows it.

    Returns:
        ``name``, ``running``, ``started_at``, ``decision``, ``reason``, ``primary``, ``srm``
        (the sample-ratio check), ``metrics`` (names, in report order), ``variants`` (per
        variant: ``name``, ``users``, ``exposures``, ``impressions``, ``metrics``: name ->
        ``{"value", "low", "high"}``) and ``lifts`` (per treatment and metric: relative lift
        with its interval and the always-valid p-value).
    """
    variants = [v for v in data.get("variants") or [] if isinstance(v, Mapping)]
    metrics = list((variants[0].get("metrics") or {}) if variants else {})
    return {
        "name": str(getattr(spec, "name", data.get("name", "?"))),
        "running": getattr(spec, "stopped_at", None) is None,
        "started_at": getattr(spec, "started_at", None),
        "decision": data.get("decision"),
        "reason": data.get("reason"),
        "primary": (data.get("parameters") or {}).get("primary"),
        "srm": data.get("srm") or {},
        "metrics": metrics,
        "variants": variants,
        "lifts": [lf for lf in data.get("lifts") or [] if isinstance(lf, Mapping)],
    }


@dataclass
class CachedReport:
    """An experiment's report as the dashboard keeps it: the report, its entry, its chart."""

    report: ExperimentReport
    entry: dict[str, Any]
    final: bool  # stopped and its attribution window over: the report never changes again
    png: bytes | None = None  # drawn at the chart's first request


def _report_ttl(cached: CachedReport) -> float | None:
    return None if cached.final else EXPERIMENTS_CACHE_S


def experiment_report(api: ApiState, spec: Experiment, now: float | None = None) -> CachedReport:
    """``spec``'s report, recomputed at most every :data:`EXPERIMENTS_CACHE_S` s per process.

    The dashboard and the chart route share it, and two loads that miss at once compute it
    once. Keyed by the experiment's name and state (a stop recomputes it at once). A stopped
    experiment whose attribution window is over (``stopped_at + window_s`` has passed) reads
    no later events, so its report is kept until the process ends.
    """
    now = time.time() if now is None else now
    final = spec.stopped_at is not None and spec.stopped_at + spec.window_s < now

    def compute() -> CachedReport:
        api.service.flush_exposures()  # this process's latest answers count at once
        report = report_for(api.service.store, spec)
        entry = experiment_entry(spec, report.to_dict())
        entry["markdown"] = report.markdown()
        return CachedReport(report, entry, final)

    of = f"{spec.started_at!r}:{spec.stopped_at!r}:{final}"
    return _cache().get(f"experiment:{spec.name}", of, _report_ttl, compute)


def experiments_section(api: ApiState) -> dict[str, Any]:
    """The newest :data:`EXPERIMENTS_SHOWN` experiments and their reports.

    Returns:
        ``{"experiments": [experiment_entry(...) + "markdown", "plot"], "more": how many
        older ones are not listed}``, newest first. Each report is
        :func:`experiment_report`'s: at most :data:`EXPERIMENTS_CACHE_S` seconds old.
    """
    specs = list_experiments(api.service.store)
    out = []
    for spec in reversed(specs[-EXPERIMENTS_SHOWN:]):
        name = str(spec.name)
        try:
            entry = dict(experiment_report(api, spec).entry)
        except Exception as exc:
            log.warning("experiment report %s failed: %s", name, exc)
            entry = {"name": name, "running": spec.stopped_at is None, "error": str(exc)}
        entry["plot"] = bool(EXPERIMENT_NAME.fullmatch(name))
        out.append(entry)
    return {"experiments": out, "more": max(len(specs) - EXPERIMENTS_SHOWN, 0)}


def insights_section(api: ApiState) -> dict[str, Any]:
    """Shopper segments (``recsys.insights.shopper_segments``), cached per bundle version.

    Returns:
        ``{"data": Insights.to_dict() or None, "segments": [...]}``.
    """
    try:
        snap = api.service.snapshot
    except NoBundleError:
        return {"data": None, "segments": []}

    def compute() -> dict[str, Any]:
        data = shopper_segments(snap.bundle, api.service.store).to_dict()
        segments = [s for s in data.get("segments") or [] if isinstance(s, Mapping)]
        return {"data": data, "segments": segments}

    return _cache().get("insights", snap.version, INSIGHTS_CACHE_S, compute)


@dashboard.get("")
def show() -> Response:
    """The dashboard (401 and the login form without an admin key or session cookie)."""
    if (login_form := _login_needed()) is not None:
        return login_form
    api = state()
    bundle = bundle_section(api)
    bundle_data = bundle if isinstance(bundle, dict) else None
    counted = _guarded("activity", lambda: activity(api, bundle_data))
    rates, top = counted if isinstance(counted, tuple) else (counted, counted)
    html = render_template(
        "dashboard.html",
        bundle=bundle,
        quality=_guarded("quality", lambda: quality_section(api)),
        rates=rates,
        top=top,
        coverage=_guarded("coverage", lambda: coverage_section(api)),
        serving=_guarded("serving", lambda: serving_section(api)),
        experiments=_guarded("experiments", lambda: experiments_section(api)),
        insights=_guarded("insights", lambda: insights_section(api)),
        now=time.time(),
    )
    return Response(html, mimetype="text/html")


@dashboard.get("/quality.png")
def quality_plot() -> Response:
    """The nightly job's plot (``<home>/reports/metrics.png``); 404 before the first run."""
    if (login_form := _login_needed()) is not None:
        return login_form
    path = reports_folder(state()) / "metrics.png"
    if not path.is_file():
        abort(404)
    return Response(path.read_bytes(), mimetype="image/png")  # small; read whole, no open file


@dashboard.get("/experiments/<name>.png")
def experiment_plot(name: str) -> Response:
    """An experiment report's chart, from :func:`experiment_report`'s cache; 404: no such one."""
    if (login_form := _login_needed()) is not None:
        return login_form
    if not EXPERIMENT_NAME.fullmatch(name):
        abort(404)
    api = state()
    spec = next((e for e in list_experiments(api.service.store) if e.name == name), None)
    if spec is None:
        log.info("no plot for experiment %s: no such experiment", name)
        abort(404)
    cached = experiment_report(api, spec)
    if cached.png is None:  # two first requests may both draw it; either result is the same
        cached.png = cached.report.plot_png()
    return Response(cached.png, mimetype="image/png", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------------------ demo storefront
def _demo_key(config: ApiConfig) -> str | None:
    """The write key the demo's script posts events with (None: no write key).

    Never an admin key: every demo page hands this key to whoever loads it. Without a write key
    the pages say so and their buttons record nothing.
    """
    return config.write_keys[0] if config.write_keys else None


def demo_shoppers(api: ApiState, limit: int = DEMO_SHOPPERS) -> list[dict[str, Any]]:
    """The served bundle's most active shoppers (most distinct items), for the picker."""
    try:
        base = api.service.snapshot.base
    except NoBundleError:
        return []
    per_user = np.diff(base.user_items.indptr)
    order = np.lexsort((np.arange(per_user.size), -per_user))[:limit]
    return [
        {"user_id": uid, "items": int(per_user[i])}
        for uid, i in zip(base.users.ids(order), order.tolist(), strict=True)
    ]


def _demo_page(template: str, status: int = 200, **context: Any) -> Response:
    html = render_template(template, demo_key=_demo_key(state().config), **context)
    return Response(html, status=status, mimetype="text/html")


@demo.get("")
def demo_index() -> Response:
    """Pick a shopper: the most active ones, or any id typed into the box."""
    return _demo_page("demo_index.html", shoppers=demo_shoppers(state()))


def _pitch_on() -> bool:
    return request.args.get("pitch", "") in ("1", "true")


@demo.get("/shop")
def demo_shop() -> ResponseReturnValue:
    """A shopper's recommendations with reasons (pitches with ``?pitch=1``)."""
    user_id = request.args.get("user", "").strip()
    if not user_id:
        return redirect(url_for("demo.demo_index"), 303)
    api = state()
    pitch = _pitch_on() and api.pitch_provider() is not None
    args = MultiDict({"n": str(DEMO_N), "explain": "true", "pitch": str(pitch).lower()})
    try:
        answer = user_answer(api, user_id, args)
    except ApiError as exc:
        return _demo_page("demo_shop.html", exc.status, user_id=user_id, error=exc.message)
    except NoBundleError as exc:
        return _demo_page("demo_shop.html", 503, user_id=user_id, error=str(exc))
    history = api.service.store.user_events(user_id, limit=8)
    titles = _titles(api.service.store, [e.item_id for e in history])
    return _demo_page(
        "demo_shop.html",
        user_id=user_id,
        answer=answer,
        pitch=pitch,
        pitch_available=_pitch_on() and not pitch,
        history=[
            {"item_id": e.item_id, "type": e.type, "ts": e.ts, "title": titles.get(e.item_id)}
            for e in history
        ],
        done=request.args.get("done", ""),
        done_title=_titles(api.service.store, [request.args.get("item", "")]).get(
            request.args.get("item", "")
        ),
    )


def _titles(store: Store, item_ids: list[str]) -> dict[str, str]:
    ids = [i for i in dict.fromkeys(item_ids) if i]
    if not ids:
        return {}
    frame = store.get_items(ids)
    return dict(zip(frame["item_id"].to_list(), frame["title"].to_list(), strict=True))


@demo.get("/items/<path:item_id>")
def demo_item(item_id: str) -> Response:
    """A product page with similar items, and add-to-cart / buy buttons for the shopper."""
    api = state()
    user_id = request.args.get("user", "").strip()
    item = api.service.store.get_item(item_id)
    if item is None:
        return _demo_page("demo_item.html", 404, user_id=user_id, item=None, item_id=item_id)
    try:
        similar = similar_answer(api, item_id, MultiDict({"n": "6", "explain": "true"}))
    except (UnknownItemError, NoBundleError, ApiError):
        similar = None
    rid = request.args.get("rid", "")
    pos = request.args.get("pos", "")
    return _demo_page(
        "demo_item.html",
        user_id=user_id,
        item=item,
        similar=similar,
        rid=rid if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", rid) else "",
        pos=pos if POSITION.fullmatch(pos) and int(pos) < MAX_API_N else "",
    )
