"""Embed catalog texts off the request path, into the shared embedding cache.

A serving process never loads the text model: loading torch and MiniLM into an API worker to embed
one ``PUT /v1/items`` of 1,000 products took 69 s (idle, 2 cores) and grew the worker from 0.24 to
1.5 GB of resident memory, which it kept. Instead, a catalog change is stored at once; the
catalog overlay (:mod:`recsys.catalog_overlay`) serves a changed item by its facts (price, stock,
category) at once, and by text similarity once its vector is in the shared embedding cache. The
vectors are computed by one *embedding job* per data home at a time:

* :func:`pending_texts` lists the catalog items changed since a bundle's training whose current
  text has no vector in the cache (as :class:`~recsys.catalog_overlay.CatalogOverlay` counts them).
* :func:`embed_pending` embeds them in batches of ``text.batch_size``, writing each batch to the
  cache (every worker's watcher picks the vectors up on its next poll), and waits ``linger_s``
  for more before it returns, so a steady trickle of upserts loads the model once.
* :class:`BackgroundEmbedder` is what a serving process holds: :meth:`~BackgroundEmbedder.kick`
  starts a job unless one runs for this home already (``<home>/cache/live-embed.lock``, an
  ``flock`` the kernel releases when its holder dies). The job is a short-lived subprocess,
  ``python -m recsys.overlay_embed``, at a lower CPU priority, whose memory goes away with it; a
  process that already holds a loaded encoder (tests, a notebook) runs it in a thread instead.

Run it by hand after ``recsys import-catalog`` while no server runs (a server starts it itself)::

    python -m recsys.overlay_embed --home var/demo      # embeds what the live bundle lacks, exits

It prints one JSON line: ``{"embedded", "pending", "seconds"}``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from recsys.config import TextConfig
from recsys.errors import ConfigError
from recsys.home import Home
from recsys.text import (
    AUTO,
    EmbeddingCache,
    TextEncoder,
    canonical_model,
    content_hash,
    item_text,
)

if TYPE_CHECKING:
    from recsys.store.contract import Store

log = logging.getLogger(__name__)

TRAINING_MARGIN_S = 60.0  # catalog changes this long before training started are re-applied

LOCK_NAME = "live-embed.lock"  # under <home>/cache/
LINGER_S = 10.0  # a subprocess job waits this long for more changes before it exits
POLL_S = 0.5  # how often a lingering job looks for new changes
NICE = 10  # the subprocess job's CPU priority increment: request threads go first
RETRY_MIN_S = 5.0  # after a failed job (or one that embedded nothing), wait this long ...
RETRY_MAX_S = 300.0  # ... doubling per failure up to this


@dataclass(frozen=True)
class PendingText:
    """One catalog item whose current text has no vector in the cache yet."""

    item_id: str
    key: str  # content hash (the cache key)
    text: str


def texts_of(rows: pl.DataFrame, text: TextConfig) -> list[tuple[str, str, str]]:
    """``(item_id, cache key, text)`` of catalog rows, as training and the overlay embed them.

    Args:
        rows: a polars frame with the store's catalog columns.
        text: the bundle's text settings (model id and description cut).

    Raises:
        ConfigError: for ``model = "auto"``: a bundle records the model training chose, and
            keys made from ``auto`` would mix two models' vectors.
    """
    if text.enabled and text.model == AUTO:
        raise ConfigError(
            "the bundle's text model is 'auto', not a model: retrain it (training records the "
            "model it chose)"
        )
    out = []
    for r in rows.iter_rows(named=True):
        body = item_text(
            r["title"],
            r["category"] or "",
            r["description"] or "",
            r["attributes"],
            text.max_description_chars,
        )
        out.append((str(r["item_id"]), content_hash(body, canonical_model(text.model)), body))
    return out


def pending_texts(
    store: Store, cache: EmbeddingCache, text: TextConfig, item_ids: Sequence[str]
) -> list[PendingText]:
    """The items among ``item_ids`` whose current text has no vector in ``cache`` (sorted by id).

    Unknown ids are skipped; two items with the same text are listed once (one vector serves
    both).
    """
    if not item_ids:
        return []
    rows = store.get_items(list(item_ids))
    items = texts_of(rows, text)
    cached = cache.get_many([key for _, key, _ in items])
    todo: dict[str, PendingText] = {}
    for item_id, key, body in items:
        if key not in cached and key not in todo:
            todo[key] = PendingText(item_id, key, body)
    return list(todo.values())


def embed_pending(
    store: Store,
    cache: EmbeddingCache,
    encoder: TextEncoder,
    since: float,
    *,
    linger_s: float = 0.0,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Embed every catalog item changed after ``since`` whose text the cache lacks.

    Batches of ``encoder.config.batch_size`` texts are embedded and written to the cache one by
    one, so readers of the cache see progress. Items changed while this runs are embedded too;
    after the last batch it waits up to ``linger_s`` for more changes.

    Args:
        store: the event/catalog store (read only).
        cache: the shared embedding cache (vectors are added to it).
        encoder: the bundle's text encoder (its model loads on the first batch).
        since: epoch seconds; the catalog log's changes after it are considered (see
            :func:`recsys.catalog_overlay.training_started`).
        linger_s: how long to wait for new changes once nothing is pending.
        should_stop: checked between batches; True ends the job early (what is written stays).

    Returns:
        How many texts were embedded.
    """
    text = encoder.config
    seq = store.item_log_position(since=since)
    seq, ids = store.item_changes(seq)
    todo = pending_texts(store, cache, text, ids)
    embedded = 0
    idle_since = time.monotonic()
    while not should_stop():
        if not todo:
            if time.monotonic() - idle_since >= linger_s:
                break
            time.sleep(min(POLL_S, max(linger_s, 0.0)))
            seq, ids = store.item_changes(seq)
            todo = pending_texts(store, cache, text, ids)
            continue
        batch, todo = todo[: text.batch_size], todo[text.batch_size :]
        vectors = encoder.encode([p.text for p in batch])
        cache.put_many({p.key: v for p, v in zip(batch, vectors, strict=True)})
        embedded += len(batch)
        log.debug("embedded %d catalog texts (%d left)", embedded, len(todo))
        if not todo:  # changes that arrived meanwhile (or texts that changed again)
            seq, ids = store.item_changes(seq)
            todo = pending_texts(store, cache, text, ids)
            idle_since = time.monotonic()
    return embedded


def try_lock(path: Path) -> int | None:
    """Take the exclusive ``flock`` on ``path`` without waiting; the open fd, or None if held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class BackgroundEmbedder:
    """Starts embedding jobs for a serving process, one at a time per data home.

    Args:
        home: the data home (the job opens its store, bundle folder and embedding cache).
        store: this process's store (read by in-process jobs).
        encoder: a loaded encoder to embed with in a thread of this process; None (a server):
            every job is a subprocess, so this process never loads the text model.
        on_done: called (from the job's thread) after each job, e.g. to refresh the overlay.
        linger_s: how long a subprocess job waits for more changes before it exits.

    Example:
        >>> embedder = BackgroundEmbedder(home, store, on_done=service.refresh)
        >>> embedder.kick(bundle.version, bundle.config.text, training_started(bundle))
        True
    """

    def __init__(
        self,
        home: Home,
        store: Store,
        encoder: TextEncoder | None = None,
        on_done: Callable[[], None] | None = None,
        linger_s: float = LINGER_S,
    ) -> None:
        self.home = home
        self.lock_path = home.cache / LOCK_NAME
        self.store = store
        self.encoder = encoder
        self.on_done = on_done
        self.linger_s = linger_s
        self._lock = threading.Lock()
        self._job: threading.Thread | None = None
        self._finishing: threading.Thread | None = None  # a finished job calling on_done
        self._child: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._failures = 0
        self._retry_at = 0.0
        self.jobs_started = 0
        self.jobs_finished = 0
        self.last_result: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        """Whether a job started by this process is running."""
        with self._lock:
            return self._job is not None

    def kick(self, version: str, text: TextConfig, since: float) -> bool:
        """Start a job for bundle ``version``'s text settings unless one is running or backing off.

        Cheap when nothing starts (a non-blocking ``flock``), so a watcher may call it on every
        poll while items are pending.

        Returns:
            Whether a job was started by this call.
        """
        with self._lock:
            if self._job is not None or self._stop.is_set() or time.monotonic() < self._retry_at:
                return False
            fd = try_lock(self.lock_path)
            if fd is None:
                return False  # another process's job is running; its vectors reach us anyway
            self.jobs_started += 1
            self._job = threading.Thread(
                target=self._run,
                args=(fd, version, text, since),
                name="recsys-live-embed",
                daemon=True,
            )
            self._job.start()
            return True

    def _run(self, fd: int, version: str, text: TextConfig, since: float) -> None:
        t0 = time.monotonic()
        result: dict[str, Any] = {"embedded": 0}
        try:
            if self.encoder is not None:
                result = self._run_here(text, since)
            else:
                result = self._run_child(fd, version)
        except Exception as exc:
            result = {"embedded": 0, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            os.close(fd)  # a child holds its own copy until it exits
        result["seconds"] = round(time.monotonic() - t0, 2)
        with self._lock:
            self.last_result = result
            if "error" in result or not result.get("embedded"):
                self._failures += 1
                wait = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** (self._failures - 1))
                self._retry_at = time.monotonic() + wait
                if "error" in result:
                    log.warning("catalog embedding job failed (retry in %.0f s): %s", wait, result)
            else:
                self._failures = 0
                log.info("catalog embedding job: %s", result)
            self._job = None
            self.jobs_finished += 1
            # decided under the lock that close() reads: either close() was called first and
            # nothing is refreshed, or close() waits for the refresh (it reads the store that
            # close() is about to close: a query on a closed SQLite connection can crash)
            refresh = self.on_done is not None and not self._stop.is_set()
            if refresh:
                self._finishing = threading.current_thread()
        if refresh and self.on_done is not None:
            try:
                self.on_done()
            except Exception:
                log.exception("refresh after a catalog embedding job failed")
            finally:
                with self._lock:
                    self._finishing = None

    def _run_here(self, text: TextConfig, since: float) -> dict[str, Any]:
        assert self.encoder is not None
        encoder = self.encoder
        if encoder.model_id != canonical_model(text.model) or encoder.config != replace(
            text, model=encoder.config.model
        ):
            encoder = TextEncoder(text)
        cache = EmbeddingCache(self.home.embedding_cache_path)
        try:
            n = embed_pending(self.store, cache, encoder, since, should_stop=self._stop.is_set)
        finally:
            cache.close()
        return {"embedded": n}

    def _run_child(self, fd: int, version: str) -> dict[str, Any]:
        cmd = [
            sys.executable,
            "-m",
            "recsys.overlay_embed",
            "--home",
            str(self.home.root),
            "--version",
            version,
            "--lock-fd",
            str(fd),
            "--linger-s",
            str(self.linger_s),
            "--exit-with-parent",
        ]
        with self._lock:
            if self._stop.is_set():
                return {"embedded": 0, "error": "stopped"}
            # the child resolves the same home: its store (RECSYS_STORE) and bundle folder
            env = {**os.environ, **self.home.environ()}
            self._child = subprocess.Popen(cmd, stdout=subprocess.PIPE, pass_fds=(fd,), env=env)
        child = self._child
        out, _ = child.communicate()
        with self._lock:
            self._child = None
        lines = out.decode(errors="replace").strip().splitlines()
        try:
            result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            result = {}
        if child.returncode != 0:
            result["error"] = f"exit code {child.returncode}"
        result.setdefault("embedded", 0)
        return result

    def close(self, timeout: float = 30.0) -> None:
        """Stop: no new jobs; a running subprocess is terminated, a thread finishes its batch.

        Also waits for a finished job's ``on_done`` (the refresh reads the store, which the
        caller closes next).
        """
        self._stop.set()
        with self._lock:
            child, job, finishing = self._child, self._job, self._finishing
        if child is not None and child.poll() is None:
            child.terminate()
        for thread in (job, finishing):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=timeout)


def started_from_manifest(manifest: dict[str, Any]) -> float:
    """When training read the store, from a bundle manifest (see ``training_started``)."""
    read_at = manifest.get("read_at")
    if isinstance(read_at, int | float) and not isinstance(read_at, bool):
        return float(read_at) - TRAINING_MARGIN_S
    try:
        created = datetime.fromisoformat(str(manifest["created_at"])).timestamp()
    except (KeyError, ValueError):
        return 0.0
    timings = manifest.get("timings_s") or {}
    spent = sum(float(v) for v in timings.values() if isinstance(v, int | float))
    return created - spent - TRAINING_MARGIN_S


# ------------------------------------------------------------------------------- the job
def _bundle_text(artifacts: Path, version: str | None) -> tuple[str, TextConfig, float]:
    """``(version, text settings, training start)`` of a bundle, from its manifest alone."""
    from recsys.bundle import current_version
    from recsys.config import TrainConfig
    from recsys.errors import NoBundleError

    version = version or current_version(artifacts)
    if version is None:
        raise NoBundleError(f"no bundle is published under {artifacts}")
    manifest = json.loads((artifacts / version / "manifest.json").read_text(encoding="utf-8"))
    config = TrainConfig.from_dict(manifest["config"])
    return version, config.text, started_from_manifest(manifest)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m recsys.overlay_embed``: embed the catalog texts a bundle's overlay lacks."""
    parser = argparse.ArgumentParser(prog="python -m recsys.overlay_embed", description=__doc__)
    parser.add_argument("--home", type=Path, default=None, help="data home (default RECSYS_HOME)")
    parser.add_argument("--version", default=None, help="bundle version (default: CURRENT)")
    parser.add_argument("--linger-s", type=float, default=0.0, help="wait for more changes")
    parser.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [live-embed] %(message)s"
    )
    from recsys.store import open_store

    home = Home.resolve(args.home)
    t0 = time.monotonic()
    held = args.lock_fd if args.lock_fd is not None else try_lock(home.cache / LOCK_NAME)
    if held is None:
        log.info("another embedding job is running for %s", home.root)
        print(json.dumps({"embedded": 0, "pending": None, "seconds": 0.0, "busy": True}))
        return 0
    with contextlib.suppress(OSError):
        os.nice(NICE)  # serving threads of the API go first
    parent = os.getppid()

    def orphaned() -> bool:
        return args.exit_with_parent and os.getppid() != parent

    version, text, since = _bundle_text(home.artifacts, args.version)
    if not text.enabled:
        print(json.dumps({"embedded": 0, "pending": 0, "seconds": 0.0}))
        return 0
    store = open_store(home)
    cache = EmbeddingCache(home.embedding_cache_path)
    try:
        encoder = TextEncoder(text)
        n = embed_pending(
            store, cache, encoder, since, linger_s=args.linger_s, should_stop=orphaned
        )
        _, ids = store.item_changes(store.item_log_position(since=since))
        left = len(pending_texts(store, cache, text, ids))
    finally:
        cache.close()
        store.close()
    seconds = round(time.monotonic() - t0, 2)
    log.info(
        "bundle %s: embedded %d catalog texts in %.1f s (%d pending)", version, n, seconds, left
    )
    print(json.dumps({"embedded": n, "pending": left, "seconds": seconds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
