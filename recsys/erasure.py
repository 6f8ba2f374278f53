"""Erase shoppers: every copy of their data under the data home, gone when the call returns.

A shop's privacy officer asks for one thing: after "erase user X", nothing under the data home
still holds X's data. :func:`erase_users` (behind ``DELETE /v1/users/<id>``,
``POST /v1/erasures`` and ``recsys erase``) removes, in this order:

1. **Events, event ids and sessions** in the store, with SQLite's ``secure_delete`` (freed
   content is overwritten with zeros), and a tombstone holding an HMAC of the id, not the id
   (:class:`~recsys.store.sqlite.SQLiteStore`; PostgreSQL: see :mod:`recsys.store.postgres`).
   The tombstone stops every server still holding a model trained before the erasure from
   personalizing for the user, at once, and keeps an erased user's old events from coming back
   with a re-imported export.
2. **Pitches** derived from the user's history (the pitch cache links each pitch to the shoppers
   it was written or served for; :class:`~recsys.pitch.cache.PitchCache`).
3. **Every kept model bundle** (not only the served one: an old one can be rolled back to):
   the user's id, training rows, trained vector and precomputed list (:mod:`recsys.scrub`).
4. **Kept import files** in ``inbox/`` (``done/``, ``rejected/`` and files waiting there): rows
   of the user are removed from files that can be read; a file that cannot be read is reported.
5. **Stale copies and write-ahead logs**: ``secure_delete`` zeroes the deleted rows, but SQLite
   leaves stale copies of rows that a page split or merge once moved in the unused gap of the
   page they left (found by ``benchmarks/erasure.py``: one of 49 erased users). So the store is
   rewritten (``VACUUM``) during the erasure when it is at most
   :data:`COMPACT_NOW_MAX_BYTES`, else it is marked due and the next nightly run (or
   ``recsys compact``) rewrites it: that is the deadline for a large store. The pitch cache is
   rewritten whenever pitches were deleted. Then the write-ahead logs are truncated, so no old
   page stays in a ``-wal`` file. A long read (a training reading every event) can hold the
   store's log for a few seconds; the call waits for it up to ``checkpoint_wait_s`` and reports
   ``wal_truncated: false`` if it could not (the next erasure retries).

A bundle being written while the erasure runs is scrubbed by its trainer before it is published
(:func:`scrub_new_bundle`), so no published bundle holds a user erased before it was published.

Then one line is appended to ``<home>/audit.log``: when, which erasure (a random id), where
from, and counts; never the user id or anything derived from it.

What is not personal data and stays: item factors, item popularity and text vectors of the kept
bundles are aggregates over all shoppers (they keep the user's influence until the next training,
which no longer reads the user's events); the evaluation metrics in manifests and reports are
aggregate numbers. Logs written outside the data home (the server's stderr, an access log if
enabled: it holds request paths, hence user ids) are the operator's to rotate.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.errors import BundleError, InvalidInputError, StoreBusyError
from recsys.home import Home
from recsys.pitch.cache import PitchCache
from recsys.scrub import scrub_bundle, scrub_bundles, scrub_files
from recsys.store.contract import Store

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.log"
CHECKPOINT_WAIT_S = 10.0
# a store up to this size is rewritten during the erasure (VACUUM: about 15 ms per MB on 2 cores,
# so about 2 s, while writers wait); a larger one is rewritten by the next nightly run
COMPACT_NOW_MAX_BYTES = 128 * 1024 * 1024
TOMBSTONE_MARGIN_S = 60.0  # clock skew between the trainer and the eraser


@dataclass(frozen=True)
class ErasureReport:
    """What one erasure removed (counts only: safe to log and to keep).

    Attributes:
        erasure_id: random id of this erasure (also in the audit line).
        users: users erased.
        events: events deleted from the store.
        pitches: cached pitches deleted.
        bundles: per kept bundle version, how many of the users it held (now scrubbed).
        inbox_files: kept import files rewritten without the users' rows.
        inbox_rows: rows removed from them.
        unreadable_files: kept import files that could not be read and may still hold an id
            (paths relative to the inbox).
        failed_bundles: why kept bundles could not be scrubbed (unreadable or locked versions;
            every other version was scrubbed); empty when all were.
        wal_truncated: the store's write-ahead log was truncated (no old copy left in it).
        compacted: the store was rewritten (``VACUUM``), so no stale copy of a moved row is
            left in a page's unused space; False: it is due, and the next nightly run (or
            ``recsys compact``) does it.
    """

    erasure_id: str
    users: int
    events: int
    pitches: int
    bundles: dict[str, int] = field(default_factory=dict)
    inbox_files: int = 0
    inbox_rows: int = 0
    unreadable_files: tuple[str, ...] = ()
    failed_bundles: tuple[str, ...] = ()
    wal_truncated: bool = True
    compacted: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        out = asdict(self)
        out["unreadable_files"] = list(self.unreadable_files)
        out["failed_bundles"] = list(self.failed_bundles)
        return out


def erase_users(
    home: Home,
    store: Store,
    user_ids: Sequence[str],
    *,
    source: str,
    now: float | None = None,
    checkpoint_wait_s: float = CHECKPOINT_WAIT_S,
    compact: bool | None = None,
) -> ErasureReport:
    """Erase ``user_ids`` everywhere under ``home`` (see the module docs) and audit it.

    Args:
        home: the data home.
        store: the home's store.
        user_ids: the users to erase (unknown ones are fine: they get a tombstone only).
        source: who asked, for the audit line (e.g. ``"api"``, ``"cli"``).
        now: erasure time (default: the wall clock).
        checkpoint_wait_s: how long to wait for readers before truncating the store's log.
        compact: rewrite the store now (True), leave it due for the nightly run (False), or
            rewrite it now when it is at most :data:`COMPACT_NOW_MAX_BYTES` (None).

    Returns:
        The counts of what was removed.

    Raises:
        InvalidInputError: no user id, or an empty one.
        StoreBusyError: the store's write lock could not be had (nothing was erased).
    """
    ids = list(dict.fromkeys(str(u) for u in user_ids))
    if not ids or any(not u for u in ids):
        raise InvalidInputError("name at least one user id, none of them empty")
    started = time.monotonic()
    now = time.time() if now is None else now
    events = sum(store.delete_user(u, now=now) for u in ids)
    pitches = 0
    if home.pitch_cache_path.is_file():
        cache = PitchCache(home.pitch_cache_path)
        try:
            pitches = cache.forget_users(ids)  # compacts the file when it deleted any
            if not pitches:
                cache.checkpoint()
        finally:
            cache.close()
    failed: list[str] = []
    try:
        scrubbed = scrub_bundles(home.artifacts, ids)
    except BundleError as exc:  # the readable versions were scrubbed; say which were not
        log.error("erasure: %s", exc)
        failed = [str(exc)]
        scrubbed = {}
    except OSError as exc:  # e.g. a shared bundle folder mounted read-only on this host
        log.error("erasure: the bundle folder %s cannot be rewritten here: %s", home.artifacts, exc)
        failed = [f"{home.artifacts}: {exc}"]
        scrubbed = {}
    bundles = {v: n for v, n in scrubbed.items() if n}
    inbox = home.root / "inbox"
    files = scrub_files(inbox, ids) if inbox.is_dir() else None
    compacted = False
    if compact is None:
        compact = store.size_bytes() <= COMPACT_NOW_MAX_BYTES
    if compact:
        try:
            compacted = store.compact()
        except StoreBusyError as exc:
            log.warning("erasure: compaction deferred: %s", exc)
    if not compacted:
        store.mark_compact_due()
    wal = store.checkpoint(wait_s=checkpoint_wait_s)
    report = ErasureReport(
        erasure_id=uuid.uuid4().hex,
        users=len(ids),
        events=events,
        pitches=pitches,
        bundles=bundles,
        inbox_files=files.files_rewritten if files else 0,
        inbox_rows=files.rows_removed if files else 0,
        unreadable_files=tuple(files.unreadable) if files else (),
        failed_bundles=tuple(failed),
        wal_truncated=wal,
        compacted=compacted,
    )
    audit(
        home,
        "erase",
        source=source,
        elapsed_s=round(time.monotonic() - started, 3),
        **{k: v for k, v in report.to_dict().items() if k != "bundles"},
        bundles_scrubbed=len(bundles),
    )
    if report.failed_bundles:
        log.error("erasure %s: bundles not scrubbed: %s", report.erasure_id, failed)
    if report.unreadable_files:
        log.warning(
            "erasure %s: %d kept import files could not be read and may still hold the data",
            report.erasure_id,
            len(report.unreadable_files),
        )
    return report


def compact_home(home: Home, store: Store) -> float:
    """Rewrite the store and the pitch cache (see :meth:`Store.compact`); return seconds taken.

    Audited like an erasure (``action: "compact"``).

    Raises:
        StoreBusyError: another writer held the store's write lock (nothing changed).
    """
    started = time.monotonic()
    due = store.compact_due()
    store.compact()
    if home.pitch_cache_path.is_file():
        cache = PitchCache(home.pitch_cache_path)
        try:
            cache.compact()
        finally:
            cache.close()
    seconds = time.monotonic() - started
    audit(home, "compact", due_since=due, elapsed_s=round(seconds, 3))
    return seconds


def scrub_new_bundle(store: Store, artifacts: Path, version: str, read_at: float) -> int:
    """Scrub users erased since a trainer read the store from its freshly written bundle.

    A trainer calls this after writing the version folder and before publishing it. An erasure
    that committed before this call is found by its tombstone; one that commits after it finds
    the folder (erasures scrub every complete version), so no erased user stays in it.

    Returns:
        How many users were scrubbed from the bundle.
    """
    recent = store.erasures_since(read_at - TOMBSTONE_MARGIN_S)
    if not recent:
        return 0
    path = artifacts / version / "users.json"
    ids = json.loads(path.read_text(encoding="utf-8"))
    erased = [u for u in ids if store.user_key(u) in recent]
    if not erased:
        return 0
    log.info("scrubbing %d users erased during training from %s", len(erased), version)
    return scrub_bundle(artifacts / version, erased)


def audit(home: Home, action: str, **fields: Any) -> None:
    """Append one JSON line to ``<home>/audit.log`` (flushed and synced before returning)."""
    line = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), "action": action, **fields}
    home.root.mkdir(parents=True, exist_ok=True)
    path = home.root / AUDIT_FILE
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.info("audit: %s", json.dumps(line, sort_keys=True))


SWEEP_FILE = "erasure_sweep.json"  # in the home: {"since": epoch s} of the last sweep
SWEEP_OVERLAP_S = 300.0  # hosts' clocks may differ: a sweep re-reads this much of the last one


def sweep_erasures(home: Home, store: Store, now: float | None = None) -> dict[str, int]:
    """Scrub this home's own copies of shoppers erased through another host; return counts.

    With several hosts on one shared store (``docs/deployment.md``), an erasure through an API
    host deletes the store's rows and leaves a tombstone, but cannot reach another host's files:
    the nightly host's kept import files (``inbox/``) and its pitch cache. This reads the
    tombstones written since the last sweep (all of them the first time), matches them against
    the user ids in those files (tombstones hold keys, not ids) and scrubs the matches, as
    :func:`erase_users` does for the erasing host. The nightly job runs it before its inbox
    step. Audited (``action: "sweep"``, counts only) when anything was found.

    Args:
        home: this host's data home.
        store: the shared store.
        now: the sweep's time (default: now); the next sweep reads tombstones from
            :data:`SWEEP_OVERLAP_S` before it (the tombstones carry the erasing host's clock).

    Returns:
        ``{"erasures", "pitches", "inbox_files", "inbox_rows", "unreadable_files"}``.
    """
    from recsys.scrub import user_ids_in_files

    state = home.root / SWEEP_FILE
    since = 0.0
    if state.is_file():
        try:
            since = float(json.loads(state.read_text(encoding="utf-8"))["since"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("erasure sweep: %s is unreadable; sweeping every tombstone", state)
    started = time.time() if now is None else now
    tombstones = store.erasures_since(since)
    out = {"erasures": len(tombstones), "pitches": 0, "inbox_files": 0, "inbox_rows": 0}
    out["unreadable_files"] = 0
    if tombstones:
        if home.pitch_cache_path.is_file():
            cache = PitchCache(home.pitch_cache_path)
            try:
                out["pitches"] = cache.forget_keyed(tombstones, store.user_key)
            finally:
                cache.close()
        inbox = home.root / "inbox"
        ids = {u for u in user_ids_in_files(inbox) if store.user_key(u) in tombstones}
        if ids:
            files = scrub_files(inbox, ids)
            out["inbox_files"], out["inbox_rows"] = files.files_rewritten, files.rows_removed
            out["unreadable_files"] = len(files.unreadable)
        if any(out[k] for k in ("pitches", "inbox_files", "unreadable_files")):
            audit(home, "sweep", **out)
    home.root.mkdir(parents=True, exist_ok=True)
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(json.dumps({"since": started - SWEEP_OVERLAP_S}), encoding="utf-8")
    os.replace(tmp, state)
    return out
