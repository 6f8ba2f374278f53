"""Import the files dropped into ``<home>/inbox/``, then move each to ``done/`` or ``rejected/``.

Which kind a file holds is told by its name: ``catalog*``, ``items*`` or ``products*`` are catalog
files, ``events*`` are event files (``.csv``, ``.tsv``, ``.parquet``, ``.jsonl``). Catalog files go
first, so events of new products find their catalog rows. Names starting with ``.`` or ending in
``.part`` / ``.tmp`` are ignored: upload as ``name.part`` and rename when complete. Files follow
the rules of ``recsys import-events`` / ``import-catalog`` with the default timestamp unit
(``auto``): an empty file, or one without the required columns (even with no data rows), is
rejected whole.

A file whose share of invalid rows exceeds the limit is rejected whole (nothing of it is imported:
a broken export must not half-land); otherwise its valid rows are stored. A rejected file gets
``<name>.reason.txt`` beside it; an accepted file with some bad rows gets one in ``done/`` too.
Importing is idempotent: events are deduplicated on their natural key and catalog rows upserted,
so a file imported again after a crash (before it was moved) changes nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from recsys.errors import ImportRejectedError
from recsys.store.contract import Store
from recsys.store.importing import RowError, check_file

log = logging.getLogger(__name__)

CATALOG_PREFIXES = ("catalog", "items", "products")
EVENT_PREFIXES = ("events",)
IGNORED_SUFFIXES = (".part", ".tmp")
MAX_REASON_ERRORS = 50

InboxKind = Literal["events", "catalog"]
InboxStatus = Literal["done", "rejected"]


@dataclass(frozen=True)
class InboxFile:
    """What happened to one inbox file."""

    name: str  # file name as found in the inbox
    kind: InboxKind | None  # None: the name did not say
    status: InboxStatus  # where it was moved
    moved_to: str  # path it was moved to (relative to the inbox)
    rows: int  # rows read
    stored: int  # rows newly stored (events) or upserted (catalog)
    rejected_rows: int  # invalid rows
    reason: str  # why rejected, or "" / a note about bad rows


def kind_of(name: str) -> InboxKind | None:
    """Return the kind a file name announces (see module docs), or None."""
    low = name.lower()
    if low.startswith(CATALOG_PREFIXES):
        return "catalog"
    if low.startswith(EVENT_PREFIXES):
        return "events"
    return None


def pending_files(inbox: Path) -> list[Path]:
    """Inbox files to import, catalog files first, each kind by name."""
    if not inbox.is_dir():
        return []
    files = [
        p
        for p in inbox.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(IGNORED_SUFFIXES)
    ]
    return sorted(files, key=lambda p: (kind_of(p.name) != "catalog", p.name))


def _target(folder: Path, name: str) -> Path:
    path = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    k = 1
    while path.exists():
        k += 1
        path = folder / f"{stem}-{k}{suffix}"
    return path


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _reason_text(summary: str, errors: list[RowError]) -> str:
    lines = [summary]
    lines += [f"  {e}" for e in errors[:MAX_REASON_ERRORS]]
    if len(errors) > MAX_REASON_ERRORS:
        lines.append(f"  ... and {len(errors) - MAX_REASON_ERRORS} more")
    return "\n".join(lines) + "\n"


def _move(path: Path, inbox: Path, status: InboxStatus, reason: str) -> str:
    folder = inbox / status
    folder.mkdir(exist_ok=True)
    target = _target(folder, path.name)
    if reason:
        _write_text(target.with_name(target.name + ".reason.txt"), reason)
    os.replace(path, target)
    return str(target.relative_to(inbox))


def import_inbox(
    store: Store, inbox: Path, max_rejected_share: float = 0.05, now: float | None = None
) -> list[InboxFile]:
    """Import every pending inbox file and move it to ``done/`` or ``rejected/``.

    Args:
        store: the event / catalog store.
        inbox: the inbox folder (missing: nothing to do).
        max_rejected_share: a file with a larger share of invalid rows is rejected whole.
        now: reference time for the "timestamp in the future" check (default: wall clock).

    Returns:
        One :class:`InboxFile` per file, in processing order.
    """
    results = []
    for path in pending_files(inbox):
        kind = kind_of(path.name)
        rows = stored = bad = 0
        if path.is_symlink() or not path.resolve().is_relative_to(inbox.resolve()):
            # imports are confined to the inbox: a link could point anywhere on the machine
            status: InboxStatus = "rejected"
            reason = "symbolic links are not imported: copy or move the file into the inbox\n"
        elif kind is None:
            status = "rejected"
            reason = (
                f"cannot tell what {path.name!r} holds: name catalog files catalog*/items*/"
                "products* and event files events*"
            )
        else:
            try:
                # the rules of `recsys import-*` with their default timestamp unit ("auto"); a
                # header-only file still has its columns checked
                checked = check_file(path, kind, now=now)
                valid, errors = checked.valid, checked.errors
                rows, bad = checked.rows, len(errors)
                if rows and bad / rows > max_rejected_share:
                    status = "rejected"
                    reason = _reason_text(
                        f"{bad} of {rows} rows invalid ({bad / rows:.1%} > the limit "
                        f"{max_rejected_share:.1%}); nothing of this file was imported",
                        errors,
                    )
                else:
                    if valid.height:
                        stored = (
                            store.add_events(valid)
                            if kind == "events"
                            else store.upsert_items(valid)
                        )
                    status = "done"
                    reason = (
                        _reason_text(f"{bad} of {rows} rows invalid and skipped", errors)
                        if bad
                        else ""
                    )
            except ImportRejectedError as exc:
                status, reason = "rejected", f"{exc}\n"
        moved = _move(path, inbox, status, reason)
        (log.warning if status == "rejected" else log.info)(
            "inbox: %s (%s) -> %s: %d rows, %d stored, %d invalid",
            path.name,
            kind or "unknown kind",
            moved,
            rows,
            stored,
            bad,
        )
        results.append(InboxFile(path.name, kind, status, moved, rows, stored, bad, reason.strip()))
    return results
