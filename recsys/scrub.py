r"""Remove erased users' rows from files on disk: model bundles and kept import files.

Two building blocks of user erasure (:mod:`recsys.erasure` runs them):

**Bundles** (:func:`scrub_bundle`, :func:`scrub_bundles`). A bundle's arrays are indexed by user
row, and an API worker may be loading the folder while it is scrubbed, so no shape and no row
index changes. For each erased user the bundle held:

* ``users.json``: the id is replaced by a placeholder that can never be a real id and stays
  unique (``"\x00erased:<row>"``: the importer and the API reject ids with NUL), so the user is
  unknown to the vocabulary;
* ``user_items.npz``: every stored entry of the row is removed (the row is empty);
* ``behavior/model.npz``: the row of every per-user array is zeroed (every array whose name starts
  with ``user`` and whose first dimension is the number of users: ``user_factors`` today);
* ``toplists.npz``: the row becomes "no list" (items -1, scores 0, sources 0);
* ``manifest.json``: ``"scrubbed": {"users": <count so far>, "at": <time>}``, without ids.

Each file is rewritten atomically (a temp file in the same folder, synced, then ``os.replace``
and a sync of the folder), the data files first and ``users.json`` last but one, so a concurrent
:func:`~recsys.bundle.load_bundle` sees each file old or new, never torn, and an interrupted scrub
still finds the user by id and is completed by the next call.

What is not scrubbed: item factors, the ``known`` item mask, item popularity, text vectors, the
FAISS indexes and the catalog. They are aggregates over all users (or not about users at all); the
item factors and popularity keep the erased user's influence until the next training, which reads
the store without the user's events. Manifest counts (``counts``, ``data_window``, ``toplists``)
describe the data at training time and are left as they were; the training-time score spread that
:class:`~recsys.serving.HybridRecommender` measures over a sample of trained rows is an aggregate
too, now read over the scrubbed (empty) rows as well.

**Kept import files** (:func:`scrub_files`): rows of the erased users are removed from event
files (CSV/TSV, JSONL, Parquet), keeping every other row as it was, and lines naming them from
``.reason.txt`` files. What cannot be read (or must not be rewritten, such as an upload still in
progress) is reported, not guessed at.

Two processes scrubbing the same folder are serialized by an ``fcntl.flock`` on the folder itself
(:func:`scrub_lock`), so neither loses the other's rewrite. No pickle is read or written.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import stat
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from recsys.bundle import TMP_PREFIX, fsync_dir, list_versions
from recsys.errors import BundleError, InvalidInputError, LockedError
from recsys.home import process_alive
from recsys.store.importing import EVENT_ALIASES, cell_text
from recsys.vocab import IdVocabulary

log = logging.getLogger(__name__)

ERASED_PREFIX = "\x00erased:"
LOCK_TIMEOUT_S = 60.0
SCRUBBED_KEY = "scrubbed"  # manifest.json: {"users": count so far, "at": ISO time}

# what polars' ``str.strip_chars()`` strips (Unicode White_Space), which the importer applies to
# ids; Python's ``str.strip()`` would also strip U+001C..U+001F
ID_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
# column names (lower case, stripped) that hold the user id: the canonical one and its aliases
USER_COLUMNS = frozenset({"user_id", *(a for a, t in EVENT_ALIASES.items() if t == "user_id")})
EVENT_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
REASON_SUFFIX = ".reason.txt"
# as ``recsys.nightly.inbox`` names them (not imported: that package imports the erasure)
CATALOG_PREFIXES = ("catalog", "items", "products")
IGNORED_SUFFIXES = (".part", ".tmp")
READ_CHUNK = 1 << 20

# ``.<name>.scrub-<pid>@<host tag>-<uuid>.tmp`` (the host tag: several API hosts may scrub the
# shared bundle folder; a pid means something on its own host only); older names had no tag
_TEMP_NAME = re.compile(r"^\..*\.scrub-(\d+)(?:@([0-9a-f]{8}))?-[0-9a-f]{32}\.tmp$")
_HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_FOREIGN_TEMP_MAX_AGE_S = 86_400.0  # another host's temp file this old is litter too


def placeholder(row: int) -> str:
    r"""The id that replaces an erased user's id in ``users.json`` at ``row``.

    Example:
        >>> placeholder(3)
        '\x00erased:3'
    """
    return f"{ERASED_PREFIX}{row}"


# ------------------------------------------------------------------------------------ helpers
def _wanted(user_ids: Collection[str]) -> set[str]:
    """The ids to look for: those that can be real ids (non-empty, no NUL).

    Raises:
        InvalidInputError: if ``user_ids`` is one string, or holds something else than strings.
    """
    if isinstance(user_ids, str | bytes):
        raise InvalidInputError("pass a collection of user ids, not a single string")
    ids = list(user_ids)
    if not all(isinstance(u, str) for u in ids):
        raise InvalidInputError("user ids must be strings")
    return {u for u in ids if u and "\x00" not in u}


@contextlib.contextmanager
def scrub_lock(folder: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``folder`` itself (no lock file is created).

    Every scrub of a folder holds it; the kernel releases it when its holder dies. Each call opens
    its own descriptor, so threads of one process exclude each other too.

    Args:
        folder: an existing folder (a bundle version folder, or a folder of kept files).
        timeout_s: how long to wait for another holder.

    Raises:
        LockedError: if the lock could not be had within ``timeout_s``.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"another process is scrubbing {str(folder)!r} (waited {timeout_s:g} s)"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock


def _temp_path(path: Path) -> Path:
    # the name is cut short so that a long file name still leaves room for the suffix
    return path.with_name(
        f".{path.name[:100]}.scrub-{os.getpid()}@{_HOST_TAG}-{uuid.uuid4().hex}.tmp"
    )


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (
        b.st_dev,
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
    )


def _replace_atomically(
    path: Path, write: Callable[[IO[bytes]], object], expect: os.stat_result | None = None
) -> bool:
    """Rewrite ``path``: temp file in the same folder, fsync, ``os.replace``, fsync the folder.

    The file keeps its permission bits (a temp file's default mode could hide it from a server
    running as another user).

    Args:
        path: the file to rewrite.
        write: writes the new content to an open binary file.
        expect: the file's ``lstat`` when it was read: if the path now names another file or the
            file changed (moved away and replaced, appended to), nothing is written.

    Returns:
        Whether the file was replaced.
    """
    current = path.lstat()
    if expect is not None and not _same_file(current, expect):
        return False
    tmp = _temp_path(path)
    try:
        with tmp.open("xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(current.st_mode))
        if expect is not None and not _same_file(path.lstat(), expect):
            tmp.unlink()
            return False
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return True


def _remove_stale_temps(folder: Path) -> None:
    """Remove temp files of scrubs whose process died (they hold new content, but are litter)."""
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            match = _TEMP_NAME.match(p.name)
            if not match or not p.is_file():
                continue
            if match.group(2) in (None, _HOST_TAG):  # this host's: its process tells
                stale = not process_alive(int(match.group(1)))
            else:  # another host's scrub may be running: only an old file is litter
                stale = time.time() - p.stat().st_mtime > _FOREIGN_TEMP_MAX_AGE_S
            if stale:
                with contextlib.suppress(OSError):
                    p.unlink()


# ------------------------------------------------------------------------------------ bundles
def _read_npz(path: Path) -> tuple[dict[str, npt.NDArray[Any]], bool]:
    """The arrays of an ``.npz`` (no pickle) and whether its members were compressed."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
            compressed = any(i.compress_type != 0 for i in z.zip.infolist())
    except Exception as exc:  # OSError, ValueError, zipfile.BadZipFile, ...
        raise BundleError(f"cannot read {str(path)!r}: {exc}") from exc
    return arrays, compressed


def _npz_writer(
    arrays: dict[str, npt.NDArray[Any]], compressed: bool
) -> Callable[[IO[bytes]], object]:
    def write(fh: IO[bytes]) -> None:
        save = np.savez_compressed if compressed else np.savez
        save(fh, allow_pickle=False, **arrays)

    return write


def _scrub_csr(
    arrays: dict[str, npt.NDArray[Any]], rows: npt.NDArray[np.int64], n_users: int, path: Path
) -> dict[str, npt.NDArray[Any]]:
    """``save_csr`` arrays without any stored entry in ``rows`` (same shape, same dtypes)."""
    try:
        data, indices, indptr, shape = (arrays[k] for k in ("data", "indices", "indptr", "shape"))
    except KeyError as exc:
        raise BundleError(f"{str(path)!r} is not a CSR matrix: no {exc}") from exc
    if int(shape[0]) != n_users or indptr.shape != (n_users + 1,):
        raise BundleError(f"{str(path)!r} has {int(shape[0])} rows for {n_users} users")
    counts = np.asarray(np.diff(indptr), dtype=np.int64)
    erased = np.zeros(n_users, dtype=bool)
    erased[rows] = True
    keep = ~np.repeat(erased, counts)
    counts[erased] = 0
    new_indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=new_indptr[1:])
    return {
        **arrays,
        "data": data[keep],
        "indices": indices[keep],
        "indptr": new_indptr.astype(indptr.dtype),
    }


def _scrub_per_user(
    arrays: dict[str, npt.NDArray[Any]], rows: npt.NDArray[np.int64], n_users: int, path: Path
) -> dict[str, npt.NDArray[Any]]:
    """Zero ``rows`` of every per-user array of a behavior model (name starting with "user")."""
    out = dict(arrays)
    for key, value in arrays.items():
        if not key.startswith("user") or value.ndim == 0:
            continue
        if value.shape[0] != n_users:
            # a user array not indexed by user row cannot be scrubbed: refuse rather than keep it
            raise BundleError(
                f"{str(path)!r}: array {key!r} has {value.shape[0]} rows for {n_users} users"
            )
        value = value.copy()
        value[rows] = 0
        out[key] = value
    return out


def _scrub_toplists(
    arrays: dict[str, npt.NDArray[Any]], rows: npt.NDArray[np.int64], n_users: int, path: Path
) -> dict[str, npt.NDArray[Any]]:
    """Set ``rows`` of the precomputed lists to "no list" (the watermark is kept)."""
    out = dict(arrays)
    for key, empty in (("items", -1), ("scores", 0), ("sources", 0)):
        if key not in arrays:
            raise BundleError(f"{str(path)!r} has no {key!r} array")
        value = arrays[key]
        if value.ndim != 2 or value.shape[0] != n_users:
            raise BundleError(f"{str(path)!r} has {value.shape[0]} rows for {n_users} users")
        value = value.copy()
        value[rows] = empty
        out[key] = value
    return out


def _changed(old: dict[str, npt.NDArray[Any]], new: dict[str, npt.NDArray[Any]]) -> bool:
    return any(not np.array_equal(old[k], new[k]) for k in old)


def scrub_bundle(
    folder: Path, user_ids: Collection[str], *, lock_timeout_s: float = LOCK_TIMEOUT_S
) -> int:
    """Remove the given users' personal rows from one complete bundle folder, in place.

    Shapes and user row indices never change (see the module docs for what each file loses).
    Everything is read and checked before the first file is rewritten, so a bundle that cannot be
    read is left as it was. Ids that cannot be real (empty, containing NUL) are ignored.

    Args:
        folder: a complete bundle version folder (``artifacts/<version>``), current or old.
        user_ids: external user ids; ids the bundle does not hold are fine.
        lock_timeout_s: how long to wait for another scrub of the same folder.

    Returns:
        How many of the users the bundle held and now no longer does; 0 means no file was
        touched (none of them is in it, e.g. because it was scrubbed before).

    Raises:
        BundleError: if ``folder`` is not a complete bundle (no ``manifest.json``, or a ``.tmp-``
            folder still being written), or one of its files cannot be read or does not match
            the number of users.
        LockedError: if another scrub held the folder for longer than ``lock_timeout_s``.
        InvalidInputError: if ``user_ids`` is a single string or holds non-strings.
    """
    folder = Path(folder)
    wanted = _wanted(user_ids)
    if folder.name.startswith(TMP_PREFIX):
        raise BundleError(f"{str(folder)!r} is a bundle still being written, not a complete one")
    if not (folder / "manifest.json").is_file():
        raise BundleError(f"{str(folder)!r} is not a complete bundle: it has no manifest.json")
    if not wanted:
        return 0
    try:
        with scrub_lock(folder, lock_timeout_s):
            return _scrub_locked(folder, wanted)
    except FileNotFoundError as exc:
        if not (folder / "manifest.json").is_file():
            raise BundleError(f"bundle folder {str(folder)!r} was removed meanwhile") from exc
        raise BundleError(f"bundle {str(folder)!r} is incomplete: {exc}") from exc


def _scrub_locked(folder: Path, wanted: set[str]) -> int:
    for sub in (folder, folder / "behavior"):
        _remove_stale_temps(sub)
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{str(folder)!r} has no readable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{str(manifest_path)!r} is not a JSON object")
    users = IdVocabulary.load(folder / "users.json")
    rows = np.asarray(sorted(i for i in (users.index(u) for u in wanted) if i >= 0), np.int64)
    if rows.size == 0:
        return 0
    n_users = len(users)

    # read and scrub everything in memory first: an unreadable bundle is left untouched
    writes: list[tuple[Path, Callable[[IO[bytes]], object]]] = []
    path = folder / "user_items.npz"
    arrays, compressed = _read_npz(path)
    scrubbed = _scrub_csr(arrays, rows, n_users, path)
    if _changed(arrays, scrubbed):
        writes.append((path, _npz_writer(scrubbed, compressed)))
    for path, scrub in (
        (folder / "behavior" / "model.npz", _scrub_per_user),
        (folder / "toplists.npz", _scrub_toplists),
    ):
        if path.is_file():
            arrays, compressed = _read_npz(path)
            scrubbed = scrub(arrays, rows, n_users, path)
            if _changed(arrays, scrubbed):
                writes.append((path, _npz_writer(scrubbed, compressed)))
    ids = users.ids()
    for row in rows.tolist():
        ids[row] = placeholder(row)
    users_json = json.dumps(ids, ensure_ascii=False).encode("utf-8")  # as IdVocabulary.save
    writes.append((folder / "users.json", lambda fh: fh.write(users_json)))
    previous = manifest.get(SCRUBBED_KEY)
    before = previous.get("users", 0) if isinstance(previous, dict) else 0
    manifest[SCRUBBED_KEY] = {
        "users": (before if isinstance(before, int) else 0) + int(rows.size),
        "at": datetime.now(UTC).isoformat(),
    }
    manifest_json = json.dumps(manifest, indent=2).encode("utf-8")
    writes.append((manifest_path, lambda fh: fh.write(manifest_json)))

    # data first, the ids last but one: until users.json is replaced, a retry finds the users
    for path, write in writes:
        _replace_atomically(path, write)
    log.info("scrubbed %d users from bundle %s", rows.size, folder.name)
    return int(rows.size)


def scrub_bundles(
    artifacts: Path, user_ids: Collection[str], *, lock_timeout_s: float = LOCK_TIMEOUT_S
) -> dict[str, int]:
    """Scrub the users from every complete bundle version in ``artifacts`` (:func:`scrub_bundle`).

    ``.tmp-*`` folders (bundles still being written) are skipped: their writer scrubs them
    before publishing (``recsys.erasure.scrub_new_bundle``). A version removed while this runs
    (pruned) counts 0.

    Args:
        artifacts: the artifacts folder (missing: nothing to do).
        user_ids: external user ids.
        lock_timeout_s: per folder, how long to wait for another scrub of it.

    Returns:
        ``{version: users scrubbed from it}`` for every complete version, oldest first.

    Raises:
        BundleError: after every other version was scrubbed, if some could not be (unreadable,
            or held by another scrub for longer than ``lock_timeout_s``; the message names them).
        InvalidInputError: if ``user_ids`` is a single string or holds non-strings.
    """
    wanted = _wanted(user_ids)
    out: dict[str, int] = {}
    failed: list[str] = []
    for version in list_versions(Path(artifacts)):
        if version.startswith(TMP_PREFIX):
            continue
        folder = Path(artifacts) / version
        try:
            out[version] = scrub_bundle(folder, wanted, lock_timeout_s=lock_timeout_s)
        except (BundleError, LockedError) as exc:
            if not folder.exists():  # pruned meanwhile: nothing of it is left
                out[version] = 0
                continue
            log.error("cannot scrub bundle %s: %s", version, exc)
            failed.append(f"{version} ({exc})")
    if failed:
        raise BundleError(f"could not scrub {len(failed)} bundle(s): {'; '.join(failed)}")
    return out


# ------------------------------------------------------------------------------ kept files
@dataclass(frozen=True)
class ScrubFilesResult:
    """What :func:`scrub_files` did.

    Attributes:
        files_checked: regular files looked at (symbolic links are never followed).
        files_rewritten: files rewritten without the users' rows or lines.
        rows_removed: event rows (CSV/TSV records, JSON lines, Parquet rows) and reason-file
            lines removed.
        unreadable: paths (relative to the folder, ``/``-separated) of files left as they were
            that may still hold one of the ids: files that cannot be parsed, have no user
            column or are uploads in progress, and whose content contains an id, and files that
            changed while they were read; see :func:`scrub_files`.
    """

    files_checked: int = 0
    files_rewritten: int = 0
    rows_removed: int = 0
    unreadable: list[str] = field(default_factory=list)


@dataclass
class _Needles:
    """Byte strings whose presence in a file means it may hold one of the ids."""

    utf8: tuple[bytes, ...]  # the ids in UTF-8, also as JSON, CSV and repr escape them
    other: tuple[bytes, ...]  # the ids in Latin-1, CP1252 and UTF-16 where that differs

    @classmethod
    def of(cls, ids: Collection[str]) -> _Needles:
        utf8: set[bytes] = set()
        other: set[bytes] = set()
        for uid in ids:
            forms = {
                uid,
                json.dumps(uid)[1:-1],
                json.dumps(uid, ensure_ascii=False)[1:-1],
                repr(uid)[1:-1],
                uid.replace('"', '""'),
                uid.replace("/", "\\/"),
            }
            utf8.update(f.encode("utf-8", "surrogatepass") for f in forms if f)
            for encoding in ("latin-1", "cp1252", "utf-16-le", "utf-16-be"):
                with contextlib.suppress(UnicodeEncodeError):
                    other.add(uid.encode(encoding))
        return cls(tuple(sorted(utf8)), tuple(sorted(other - utf8)))

    @property
    def all(self) -> tuple[bytes, ...]:
        return self.utf8 + self.other


def _contains(data: bytes, needles: tuple[bytes, ...]) -> bool:
    return any(n in data for n in needles)


def _file_contains(path: Path, needles: tuple[bytes, ...]) -> bool:
    """Whether the file's bytes contain one of ``needles`` (read in chunks)."""
    if not needles:
        return False
    overlap = max(len(n) for n in needles) - 1
    tail = b""
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(READ_CHUNK), b""):
            window = tail + chunk
            if _contains(window, needles):
                return True
            tail = window[-overlap:] if overlap else b""
    return False


def _decode(raw: bytes) -> tuple[str, bool]:
    """``raw`` as text, and whether it was not UTF-8 (bad bytes kept as surrogate escapes)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape"), True


def _column_name(name: str) -> str:
    return name.removeprefix("\ufeff").strip().lower()


def _cell(value: Any) -> str | None:
    """A JSON value as the importer stores it as text (:func:`cell_text`), stripped."""
    text = cell_text(value)
    return None if text is None else text.strip(ID_WHITESPACE)


@dataclass
class _Outcome:
    """What scrubbing one file found."""

    removed: int = 0  # rows or lines to drop
    doubtful: bool = False  # may still hold an id after the rewrite
    write: Callable[[IO[bytes]], object] | None = None  # the rewrite (None: leave the file)


def _csv_records(path: Path, sep: str) -> Iterator[tuple[list[str], bytes, bool]]:
    r"""Each CSV record (the header first): fields, exact raw bytes, and whether it is not UTF-8.

    Lines are split as the ``csv`` module expects of a file opened with ``newline=""`` (at
    ``\n``, ``\r`` and ``\r\n``); bytes that are not UTF-8 are kept as surrogate escapes, so
    the raw bytes of every record are known exactly.
    """
    parts: list[bytes] = []
    bad = [False]

    def lines() -> Iterator[str]:
        with path.open("rb") as fh:
            for chunk in fh:
                for piece in chunk.splitlines(keepends=True):
                    parts.append(piece)
                    text, not_utf8 = _decode(piece)
                    bad[0] = bad[0] or not_utf8
                    yield text

    for row in csv.reader(lines(), delimiter=sep):
        raw = b"".join(parts)
        parts.clear()
        yield row, raw, bad[0]
        bad[0] = False


def _scrub_csv(path: Path, sep: str, ids: set[str], needles: _Needles, catalog: bool) -> _Outcome:
    drop: set[int] = set()
    doubtful = False
    columns: list[int] | None = None
    for number, (row, raw, not_utf8) in enumerate(_csv_records(path, sep)):
        if columns is None:
            columns = [i for i, name in enumerate(row) if _column_name(name) in USER_COLUMNS]
            if not columns:
                break
            continue
        if any(i < len(row) and row[i].strip(ID_WHITESPACE) in ids for i in columns):
            drop.add(number)
        elif not_utf8 and _contains(raw, needles.other):
            doubtful = True  # the id in another encoding, perhaps
    if not columns:  # no user column: not an events file the importer could read
        return _Outcome(doubtful=not catalog and _file_contains(path, needles.all))
    if not drop:
        return _Outcome(doubtful=doubtful)

    def write(fh: IO[bytes]) -> None:
        for number, (_row, raw, _bad) in enumerate(_csv_records(path, sep)):
            if number not in drop:
                fh.write(raw)

    return _Outcome(removed=len(drop), doubtful=doubtful, write=write)


def _jsonl_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:  # lines end at b"\n", as the importer reads them
        yield from fh


def _scrub_jsonl(path: Path, ids: set[str], needles: _Needles) -> _Outcome:
    drop: set[int] = set()
    doubtful = False
    for number, raw in enumerate(_jsonl_lines(path)):
        text, not_utf8 = _decode(raw)
        if number == 0:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):  # not a record: cannot tell whose line it is
            doubtful = doubtful or _contains(raw, needles.all)
            continue
        if any(_column_name(str(k)) in USER_COLUMNS and _cell(v) in ids for k, v in obj.items()):
            drop.add(number)
        elif not_utf8 and _contains(raw, needles.other):
            doubtful = True
    if not drop:
        return _Outcome(doubtful=doubtful)

    def write(fh: IO[bytes]) -> None:
        for number, raw in enumerate(_jsonl_lines(path)):
            if number not in drop:
                fh.write(raw)

    return _Outcome(removed=len(drop), doubtful=doubtful, write=write)


def _as_text(frame: pl.DataFrame, name: str) -> pl.Series:
    """A column as the importer turns it into text (nested values JSON-encoded), stripped."""
    column = frame[name]
    if isinstance(column.dtype, pl.Struct | pl.List | pl.Array):
        column = column.map_elements(
            lambda v: json.dumps(v.to_list() if isinstance(v, pl.Series) else v, sort_keys=True),
            return_dtype=pl.String,
        )
    return column.cast(pl.String).str.strip_chars()


def _scrub_parquet(path: Path, ids: set[str], catalog: bool) -> _Outcome:
    unreadable = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError, ValueError)
    try:
        frame = pl.read_parquet(path)
    except unreadable:
        # pages are usually compressed: a raw search for the ids proves nothing
        return _Outcome(doubtful=True)
    targets = pl.Series(sorted(ids), dtype=pl.String)
    columns = [c for c in frame.columns if _column_name(c) in USER_COLUMNS]
    try:
        if not columns:
            if catalog:
                return _Outcome()
            hit = any(bool(_as_text(frame, c).is_in(targets).any()) for c in frame.columns)
            return _Outcome(doubtful=hit)
        match = pl.Series([False] * frame.height, dtype=pl.Boolean)
        for c in columns:
            match = match | _as_text(frame, c).is_in(targets).fill_null(False)
    except unreadable:  # a column that cannot be read as text (binary that is not UTF-8)
        return _Outcome(doubtful=True)
    removed = int(match.sum())
    if not removed:
        return _Outcome()
    kept = frame.filter(~match)
    return _Outcome(removed=removed, write=lambda fh: kept.write_parquet(fh))


def _scrub_reason(path: Path, needles: _Needles) -> _Outcome:
    """Drop every line that overlaps an occurrence of an id (also one spanning lines)."""
    data = path.read_bytes()
    spans: list[tuple[int, int]] = []
    for needle in needles.all:
        start = data.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = data.find(needle, start + 1)
    if not spans:
        return _Outcome()
    kept: list[bytes] = []
    removed = offset = 0
    for line in data.splitlines(keepends=True):
        end = offset + len(line)
        if any(a < end and b > offset for a, b in spans):
            removed += 1
        else:
            kept.append(line)
        offset = end
    out = b"".join(kept)
    return _Outcome(removed=removed, write=lambda fh: fh.write(out))


def _scrub_one(path: Path, ids: set[str], needles: _Needles) -> _Outcome:
    name = path.name.lower()
    if path.stat().st_size == 0:
        return _Outcome()  # nothing in it
    if name.startswith(".") or name.endswith(IGNORED_SUFFIXES):
        # an upload in progress or someone's temp file: rewriting it would race with its writer
        return _Outcome(doubtful=_file_contains(path, needles.all))
    if name.endswith(REASON_SUFFIX):
        return _scrub_reason(path, needles)
    catalog = name.startswith(CATALOG_PREFIXES)
    suffix = path.suffix.lower()
    try:
        if suffix in EVENT_SUFFIXES:
            return _scrub_csv(path, EVENT_SUFFIXES[suffix], ids, needles, catalog)
        if suffix in JSONL_SUFFIXES:
            return _scrub_jsonl(path, ids, needles)
    except csv.Error:
        return _Outcome(doubtful=_file_contains(path, needles.all))
    if suffix == ".parquet":
        return _scrub_parquet(path, ids, catalog)
    return _Outcome(doubtful=_file_contains(path, needles.all))


def _ids_in_file(path: Path) -> set[str]:
    """The user ids in one kept events file, read as :func:`scrub_files` reads it (else none)."""
    suffix = path.suffix.lower()
    found: set[str] = set()
    if suffix in EVENT_SUFFIXES:
        columns: list[int] | None = None
        for row, _raw, _bad in _csv_records(path, EVENT_SUFFIXES[suffix]):
            if columns is None:
                columns = [i for i, name in enumerate(row) if _column_name(name) in USER_COLUMNS]
                if not columns:
                    break
                continue
            found.update(row[i].strip(ID_WHITESPACE) for i in columns if i < len(row))
    elif suffix in JSONL_SUFFIXES:
        for line in _jsonl_lines(path):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    for key, value in record.items():
                        if _column_name(str(key)) in USER_COLUMNS and _cell(value):
                            found.add(str(_cell(value)))
    elif suffix == ".parquet":
        frame = pl.read_parquet(path)
        for c in (c for c in frame.columns if _column_name(c) in USER_COLUMNS):
            found.update(v for v in _as_text(frame, c).drop_nulls().to_list() if v)
    return found


def user_ids_in_files(folder: Path) -> set[str]:
    """Every user id in the kept events files under ``folder`` (recursively), as imported.

    For a sweep that knows erased shoppers only by their tombstone keys (an erasure made on
    another host, :func:`recsys.erasure.sweep_erasures`): it matches these ids against the keys
    and hands the matches to :func:`scrub_files`. Files that cannot be parsed give no ids.
    """
    found: set[str] = set()
    if not Path(folder).is_dir():
        return found
    unreadable = (csv.Error, OSError, ValueError, pl.exceptions.PolarsError)
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            if name.startswith(".") or _TEMP_NAME.match(name):
                continue
            with contextlib.suppress(*unreadable):
                found |= _ids_in_file(Path(root) / name)
    found.discard("")
    return found


def scrub_files(
    folder: Path, user_ids: Collection[str], *, lock_timeout_s: float = LOCK_TIMEOUT_S
) -> ScrubFilesResult:
    """Remove the users' rows from the kept import files under ``folder`` (recursively).

    Event files (``.csv``, ``.tsv``, ``.jsonl`` / ``.ndjson`` / ``.json``, ``.parquet``) lose
    the rows whose user column holds one of the ids. The user column is found as the importer
    finds it (``user_id`` or an alias such as ``user``, names stripped and case-insensitive;
    when a file has several, a row matching in any of them goes) and its values are compared
    after stripping whitespace as the importer does (a JSON number ``42`` is the id ``"42"``).
    Each rewritten file keeps its format and every other row: CSV/TSV records and JSON lines
    byte for byte (bytes that are not UTF-8 included), Parquet rows through polars. A file with
    no matching row is not touched. ``.reason.txt`` files lose every line containing an id
    (also as JSON or ``repr`` escape it).

    A file is left as it was and listed in ``unreadable`` when it may still hold an id and this
    cannot tell where: an event file that cannot be parsed, or has no user column (files named
    as catalogs excepted), an unreadable Parquet file (its pages are compressed, so any), a
    file of another type, an upload in progress (``*.part``, ``*.tmp``) or a hidden file, each
    only when its bytes contain an id (in UTF-8, JSON- or CSV-escaped, Latin-1, CP1252 or
    UTF-16). A JSON line that is not an object, or a row that is not UTF-8 holding an id in
    another encoding, also lists its file (the file's matching rows are still removed). So does
    a file that changed while it was read (appended to, or replaced): it is not rewritten.

    Args:
        folder: e.g. the inbox (``done/``, ``rejected/`` and waiting files); missing: nothing.
        user_ids: external user ids (ids that cannot be real, empty or with NUL, are ignored).
        lock_timeout_s: how long to wait for another scrub of the same folder.

    Returns:
        The counts, and the files that may still hold an id.

    Raises:
        LockedError: if another scrub held the folder for longer than ``lock_timeout_s``.
        InvalidInputError: if ``user_ids`` is a single string or holds non-strings.
    """
    folder = Path(folder)
    ids = _wanted(user_ids)
    if not ids or not folder.is_dir():
        return ScrubFilesResult()
    needles = _Needles.of(ids)
    checked = rewritten = removed = 0
    unreadable: list[str] = []
    with scrub_lock(folder, lock_timeout_s):
        for root, dirs, files in os.walk(folder):  # does not descend into linked folders
            dirs.sort()
            here = Path(root)
            _remove_stale_temps(here)
            for name in sorted(files):
                path = here / name
                try:
                    seen = path.lstat()
                except FileNotFoundError:
                    continue
                if _TEMP_NAME.match(name) or not stat.S_ISREG(seen.st_mode):
                    continue  # a scrub's own temp file, or a link: never followed
                checked += 1
                try:
                    outcome = _scrub_one(path, ids, needles)
                    replaced = outcome.write is not None and _replace_atomically(
                        path, outcome.write, seen
                    )
                except FileNotFoundError:  # moved away meanwhile (an import finished)
                    continue
                if replaced:
                    rewritten += 1
                    removed += outcome.removed
                if outcome.doubtful or (outcome.write is not None and not replaced):
                    # (a file that changed while it was read is left alone and reported)
                    unreadable.append(path.relative_to(folder).as_posix())
    if rewritten or unreadable:
        log.info(
            "scrubbed kept files in %s: %d rewritten, %d rows removed, %d may still hold an id",
            folder,
            rewritten,
            removed,
            len(unreadable),
        )
    return ScrubFilesResult(checked, rewritten, removed, unreadable)
