"""Bundle versions: publishing one by atomically replacing ``CURRENT``, listing, pruning, rollback.

``CURRENT`` (a one-line text file in the artifacts folder) names the published version; it only
ever names complete folders (see :mod:`recsys.bundle.format`) and is replaced with ``os.replace``
after an fsync. :func:`cleanup_stale` removes the leftovers of killed writers;
:func:`rollback` points ``CURRENT`` back at an older complete version.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Collection
from pathlib import Path

from recsys.bundle.format import (
    CURRENT,
    TMP_PREFIX,
    WRITER_FILE,
    current_version,
    fsync_dir,
    load_bundle,
)
from recsys.errors import BundleError
from recsys.home import process_alive

log = logging.getLogger(__name__)


def publish(artifacts: Path, version: str) -> None:
    """Point ``CURRENT`` at ``version`` atomically (write a temp file, fsync, ``os.replace``).

    Raises:
        BundleError: if the version folder does not exist or has no manifest.
    """
    if not (artifacts / version / "manifest.json").is_file():
        raise BundleError(
            f"cannot publish {version!r}: no complete bundle at {artifacts / version}"
        )
    # a temp file of its own per call: publishers in other threads never share (or truncate) it
    # (not mkstemp: its 0600 mode would hide CURRENT from an API running as another user)
    tmp = artifacts / f"{CURRENT}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        with tmp.open("x", encoding="utf-8") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, artifacts / CURRENT)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(artifacts)
    log.info("published bundle %s", version)


def list_versions(artifacts: Path) -> list[str]:
    """Complete bundle versions on disk, oldest first."""
    if not artifacts.is_dir():
        return []
    found = [
        p.name
        for p in artifacts.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").is_file()
    ]
    return sorted(found)


def prune(
    artifacts: Path, keep: int, stale_after_s: float = 3600.0, keep_also: Collection[str] = ()
) -> list[str]:
    """Delete all but the newest ``keep`` versions (never the current one) and stale temp folders.

    Versions in ``keep_also`` are kept whatever their age (e.g. a bundle a running experiment's
    variant is pinned to).

    Temp folders count as stale when their writer (``.writer.json``) is a dead process on this
    host, or, without a live writer on this host, when older than ``stale_after_s``.

    Returns:
        The names removed.
    """
    removed = []
    current = current_version(artifacts)
    versions = list_versions(artifacts)
    for version in versions[: max(0, len(versions) - keep)]:
        if version != current and version not in keep_also:
            shutil.rmtree(artifacts / version, ignore_errors=True)
            removed.append(version)
    removed.extend(cleanup_stale(artifacts, stale_after_s, pointer_files=False))
    return removed


def _writer_state(folder: Path) -> str:
    """``"dead"``, ``"alive"`` or ``"unknown"`` (no marker, unreadable, or another host)."""
    try:
        writer = json.loads((folder / WRITER_FILE).read_text(encoding="utf-8"))
        pid, host = int(writer["pid"]), str(writer["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"
    if host != socket.gethostname():
        return "unknown"
    return "alive" if process_alive(pid) else "dead"


def _pointer_tmp_pid(name: str) -> int | None:
    """Pid in a ``CURRENT.tmp-<pid>-<hex>`` name, or None."""
    rest = name[len(f"{CURRENT}.tmp-") :]
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def cleanup_stale(
    artifacts: Path, stale_after_s: float = 3600.0, pointer_files: bool = True
) -> list[str]:
    """Remove leftovers of killed writers: temp bundle folders and ``CURRENT`` temp files.

    A leftover goes at once when its writer is a dead process on this host; otherwise (no marker,
    another host) only once older than ``stale_after_s``. Live writers' files are never touched.

    Args:
        artifacts: the artifacts folder.
        stale_after_s: age from which a leftover of an unknown writer is removed.
        pointer_files: also remove ``CURRENT.tmp-<pid>-...`` files of dead publishers.

    Returns:
        The names removed.
    """
    removed: list[str] = []
    if not artifacts.is_dir():
        return removed
    now = time.time()
    for p in sorted(artifacts.iterdir()):
        try:
            age = now - p.stat().st_mtime
        except FileNotFoundError:  # its writer finished meanwhile
            continue
        if p.name.startswith(TMP_PREFIX) and p.is_dir():
            state = _writer_state(p)
            if state == "dead" or (state == "unknown" and age > stale_after_s):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
        elif pointer_files and p.name.startswith(f"{CURRENT}.tmp-") and p.is_file():
            pid = _pointer_tmp_pid(p.name)
            dead = pid is not None and not process_alive(pid)
            if dead or age > stale_after_s:
                with contextlib.suppress(OSError):
                    p.unlink()
                removed.append(p.name)
    if removed:
        log.info("removed leftovers of interrupted writers: %s", ", ".join(removed))
    return removed


def rollback(artifacts: Path, version: str | None = None) -> tuple[str | None, str]:
    """Point ``CURRENT`` back at ``version`` (default: the newest version older than the current).

    The target is loaded fully first, so ``CURRENT`` never moves to a broken bundle.

    Returns:
        ``(previous, target)``: the version ``CURRENT`` named before (None if none) and now.

    Raises:
        BundleError: if there is no older version, or ``version`` is missing or unreadable.
    """
    current = current_version(artifacts)
    versions = list_versions(artifacts)
    if version is None:
        older = [v for v in versions if current is None or v < current]
        if not older:
            than = f"older than {current!r} " if current else ""
            raise BundleError(
                f"nothing to roll back to: no complete version {than}in {artifacts} "
                f"(versions on disk: {versions or 'none'})"
            )
        version = older[-1]
    elif version not in versions:
        raise BundleError(
            f"cannot roll back to {version!r}: not a complete version in {artifacts} "
            f"(versions on disk: {versions or 'none'})"
        )
    load_bundle(artifacts, version)
    publish(artifacts, version)
    log.info("rolled back CURRENT from %s to %s", current, version)
    return current, version


def cleanup_tmp(artifacts: Path) -> None:
    """Remove every unfinished temp folder (call only when no writer can be running)."""
    if artifacts.is_dir():
        for p in artifacts.iterdir():
            if p.name.startswith((TMP_PREFIX, f"{CURRENT}.tmp-")):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()
