"""Read and validate event and catalog files (CSV, Parquet, JSONL) with polars.

Every row is either imported or reported with its line number and the reason it was rejected;
nothing valid is dropped silently, and nothing is guessed: a file that cannot be what it claims to
be (missing, a directory, empty, a header without the required columns, an id column of another
type than string or integer) is rejected whole with :class:`ImportRejectedError`. The same
validators serve the HTTP API (records from JSON bodies).

Line numbers: CSV counts the header as line 1 (the first data row is line 2; a quoted field that
spans lines counts all of them); JSONL counts every line of the file; Parquet has no lines, so its
"line" is the 1-based row number.

Text must be UTF-8 (a leading BOM is allowed; a gzip-compressed CSV is read decompressed, as
polars does, and its byte offsets count decompressed bytes). A row holding bytes that are not
UTF-8 is rejected with the byte offset of the first bad byte; it is never "repaired" (the ids
``a`` + byte 0xff and ``a`` + byte 0xfe would both become ``a`` + U+FFFD, one user). Bad bytes in
a CSV header reject the file.

Timestamps (``ts``, ``updated_at``) are ISO 8601 strings (naive means UTC) or epoch numbers whose
unit is given by :data:`TsUnit`: ``"s"`` (seconds), ``"ms"`` (milliseconds) or ``"auto"`` (the
default, and the HTTP API's rule): a number is seconds, unless read as seconds it is more than a
day in the future while read as milliseconds it lies between :data:`MIN_TS` (1990-01-01) and a
day from now; then it is milliseconds. An event time must lie between :data:`MIN_TS` and one day
after ``now`` (so no accepted event number has two sane readings); ``updated_at`` between 0 (1970,
"unknown", as the demo catalogs use) and one day after ``now``. A timestamp outside its window is
rejected with its readings named, never reinterpreted.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeGuard, get_args

import polars as pl

from recsys.config import EVENT_TYPES
from recsys.errors import ImportRejectedError, InvalidInputError
from recsys.lang import KEPT_PUNCTUATION, invisible_class, normalize_text
from recsys.store.contract import Store
from recsys.store.schema import EventRow
from recsys.store.sqlite import ITEM_COLUMNS

TsUnit = Literal["auto", "s", "ms"]  # how epoch numbers are read (see the module docs)
Kind = Literal["events", "catalog"]  # what a file holds
TS_UNITS: tuple[str, ...] = get_args(TsUnit)

MAX_ID_LENGTH = 256
FUTURE_TOLERANCE_S = 86_400.0  # timestamps up to a day ahead are accepted (clock skew)
MIN_TS = 631_152_000.0  # 1990-01-01T00:00:00Z: no event is older (MovieLens starts in 1995)
MIN_UPDATED_AT = 0.0  # catalog updated_at may be 0 ("unknown"), never negative
MAX_JSON_DEPTH = 64  # JSONL records nested deeper are rejected
GZIP_MAGIC = b"\x1f\x8b"  # a gzip-compressed CSV is read decompressed (polars does the same)
READ_CHUNK = 1 << 20  # bytes read at a time when scanning a file
JSONL_BATCH = 50_000  # JSONL records turned into a frame at a time
LINE = "_line"
MAX_COLUMNS_SHOWN = 10  # found columns named in a missing-column error
EVENT_ID_COLUMNS = ("user_id", "item_id", "session_id")
ITEM_ID_COLUMNS = ("item_id",)

EVENT_ALIASES = {
    "timestamp": "ts",
    "time": "ts",
    "event_time": "ts",
    "event_type": "type",
    "event": "type",
    "session": "session_id",
    "user": "user_id",
    "item": "item_id",
    "product_id": "item_id",
}
ITEM_ALIASES = {"name": "title", "product_id": "item_id", "stock": "in_stock"}
TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class RowError:
    """One rejected row: where it is and why."""

    line: int  # line in the file (see module docs), or 1-based record number for API batches
    reason: str  # human-readable reason

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    """Outcome of one bulk import."""

    rows: int  # rows read from the file
    valid: int  # rows that passed validation
    stored: int  # rows newly written (events already stored are not counted again)
    errors: list[RowError] = field(default_factory=list)  # rejected rows, in file order

    @property
    def rejected(self) -> int:
        """Number of rejected rows."""
        return len(self.errors)


# ------------------------------------------------------------------------------------ reading
def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_path(p: Path) -> None:
    if not p.exists():
        raise ImportRejectedError(f"file {str(p)!r} does not exist")
    if p.is_dir():
        raise ImportRejectedError(
            f"{str(p)!r} is a directory, not a file: import the files in it one by one"
        )
    if not p.is_file():
        raise ImportRejectedError(f"{str(p)!r} is not a regular file")
    if p.stat().st_size == 0:
        raise ImportRejectedError(f"file {str(p)!r} is empty (0 bytes)")


def _id_keys(kind: Kind | None) -> frozenset[str]:
    """Lower-case column names that hold ids for ``kind`` (both kinds when None)."""
    keys: set[str] = set()
    for k in ("events", "catalog") if kind is None else (kind,):
        canonical = EVENT_ID_COLUMNS if k == "events" else ITEM_ID_COLUMNS
        aliases = EVENT_ALIASES if k == "events" else ITEM_ALIASES
        keys.update(canonical)
        keys.update(a for a, t in aliases.items() if t in canonical)
    return frozenset(keys)


def read_records_file(
    path: str | Path, kind: Kind | None = None
) -> tuple[pl.DataFrame, list[RowError]]:
    """Read a CSV, Parquet or JSONL file into a frame of strings with a ``_line`` column.

    Args:
        path: the file (``.csv``, ``.tsv``, ``.parquet``, ``.jsonl`` / ``.ndjson`` / ``.json``).
        kind: what the file holds, which says which columns are ids (whose type is checked);
            None checks the id columns of both kinds.

    Returns:
        The frame (all columns as strings, JSON-encoded for nested values) and the rows that could
        not be read as records: lines that are not UTF-8, JSONL lines that are not JSON objects
        (or are nested too deeply), JSONL ids that are neither strings nor integers.

    Raises:
        ImportRejectedError: if the file is missing, not a regular file, empty, of an unknown
            format, unreadable, has a CSV header that is not UTF-8, or (Parquet) has an id column
            whose type is neither string nor integer.
    """
    p = Path(path)
    _check_path(p)
    suffixes = [s.lower() for s in p.suffixes]
    suffix = suffixes[-1] if suffixes else ""
    try:
        if suffix in (".csv", ".tsv"):
            return _read_csv(p, "\t" if suffix == ".tsv" else ",")
        if suffix == ".parquet":
            frame = pl.read_parquet(p)
            _check_id_dtypes(p, frame.schema, kind)
            return _stringify(frame.with_row_index(LINE, offset=1)), []
        if suffix in (".jsonl", ".ndjson", ".json"):
            return _read_jsonl(p, _id_keys(kind))
    except (pl.exceptions.PolarsError, OSError, EOFError) as exc:  # EOFError: truncated gzip
        raise ImportRejectedError(f"cannot read {str(p)!r}: {exc}") from exc
    raise ImportRejectedError(
        f"unsupported file type {p.suffix!r} for {str(p)!r}: use .csv, .tsv, .parquet or .jsonl"
    )


@dataclass(frozen=True)
class _ByteScan:
    """What one streaming pass over a text file's bytes found."""

    lines: int  # lines in the file (a last line without a newline counts)
    bad: dict[int, str]  # line -> why it is not UTF-8 (its first bad byte and that byte's offset)


def _bad_byte(data: bytes | memoryview, pos: int, offset: int) -> str:
    return f"invalid UTF-8: byte 0x{data[pos]:02x} at byte offset {offset + pos}"


def _char_boundary(buf: bytes) -> int:
    """Where to cut ``buf`` so that a UTF-8 character that may continue is left for later."""
    for back in range(1, min(4, len(buf)) + 1):
        byte = buf[-back]
        if byte < 0x80:
            return len(buf)
        if byte >= 0xC0:  # a lead byte: its character may continue in the next chunk
            return len(buf) - back
    return len(buf)


def _scan_block(block: bytes, offset: int, first_line: int, bad: dict[int, str]) -> None:
    """Record the first invalid UTF-8 byte of each line of ``block`` (whole lines or a part)."""
    view = memoryview(block)
    try:
        str(view, "utf-8")
        return
    except UnicodeDecodeError as exc:
        pos = exc.start
    line, counted = first_line, 0
    while True:
        line += block.count(b"\n", counted, pos)
        counted = pos
        bad.setdefault(line, _bad_byte(block, pos, offset))
        nxt = block.find(b"\n", pos) + 1
        if nxt == 0:
            return
        try:
            str(view[nxt:], "utf-8")
            return
        except UnicodeDecodeError as exc:
            pos = nxt + exc.start


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def _scan_utf8(path: Path) -> _ByteScan:
    """Count the lines of a file and find those that are not UTF-8, reading 1 MiB at a time.

    A gzip file is scanned decompressed (its byte offsets count decompressed bytes).

    Raises:
        ImportRejectedError: if the first line (the header) is not UTF-8.
    """
    bad: dict[int, str] = {}
    newlines = offset = 0
    buf, last = b"", b"\n"
    with gzip.open(path, "rb") if _is_gzip(path) else path.open("rb") as fh:
        while True:
            chunk = fh.read(READ_CHUNK)
            if chunk:
                buf += chunk
                last = chunk[-1:]
                cut = buf.rfind(b"\n") + 1 or _char_boundary(buf)
            else:
                cut = len(buf)
            if cut:
                block = buf[:cut]
                _scan_block(block, offset, newlines + 1, bad)
                if 1 in bad:
                    raise ImportRejectedError(_not_utf8_header(path, bad[1]))
                newlines += block.count(b"\n")
                offset += cut
                buf = buf[cut:]
            if not chunk:
                break
    return _ByteScan(newlines + (0 if last == b"\n" else 1), bad)


def _not_utf8_header(path: Path, reason: str) -> str:
    with path.open("rb") as fh:
        magic = fh.read(4)
    hint = "save it as UTF-8"
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        hint = "it looks zstd-compressed: decompress it first"
    elif magic[:1] == b"\x78" and magic[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
        hint = "it looks zlib-compressed: decompress it first"
    elif magic.startswith(b"PK\x03\x04"):
        hint = "it looks like a zip archive or a spreadsheet: export it as CSV (UTF-8)"
    elif magic.startswith((b"\xff\xfe", b"\xfe\xff")):
        hint = "it looks UTF-16: save it as UTF-8"
    return f"{str(path)!r} is not UTF-8 text: {reason} in the header (line 1); {hint}"


def _read_csv(p: Path, sep: str) -> tuple[pl.DataFrame, list[RowError]]:
    scan = _scan_utf8(p)
    # utf8-lossy only so that rows with bad bytes can be located and rejected below
    frame = pl.read_csv(p, infer_schema=False, separator=sep, encoding="utf8-lossy")
    lines = _csv_record_lines(p, sep, frame.height, scan.lines)
    if lines is None:
        frame = frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
    else:
        frame = frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    if not scan.bad or frame.height == 0:
        return frame, []
    if lines is None and scan.lines != frame.height + 1:
        # records span lines but where each starts is unknown: rather than reject a wrong row,
        # reject the file
        first = min(scan.bad)
        raise ImportRejectedError(
            f"{str(p)!r} is not UTF-8 text: {scan.bad[first]} (line {first}); save it as UTF-8"
        )
    # a bad line belongs to the record that starts on it or last before it
    bad_lines = sorted(scan.bad)
    at = frame[LINE].search_sorted(pl.Series(bad_lines, dtype=pl.Int64), side="right")
    rows = at.cast(pl.Int64) - 1
    reasons: dict[int, str] = {}
    for line, row in zip(bad_lines, rows.to_list(), strict=True):
        if row >= 0:
            reasons.setdefault(int(row), scan.bad[line])
    errors = [RowError(int(frame[LINE][row]), reason) for row, reason in sorted(reasons.items())]
    keep = ~pl.int_range(pl.len()).is_in(list(reasons))
    return frame.filter(keep), errors


def _csv_record_lines(path: Path, sep: str, height: int, n_lines: int) -> list[int] | None:
    """Return the line on which each data record starts, or None when it is row number + 1.

    Quoted fields may span lines (a description with a newline), so records and lines differ;
    only then is the file scanned again with :mod:`csv` to find where each record starts.
    """
    if n_lines == height + 1:
        return None
    starts: list[int] = []
    gz = _is_gzip(path)
    with (
        gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
        if gz
        else path.open("r", encoding="utf-8", errors="replace", newline="")
    ) as fh:
        reader = csv.reader(fh, delimiter=sep)
        end = 0
        try:
            for _ in reader:
                starts.append(end + 1)
                end = reader.line_num
        except csv.Error:  # e.g. a field over csv's size limit: keep the row numbers
            return None
    return starts[1:] if len(starts) == height + 1 else None


def _id_dtype_ok(dtype: pl.DataType) -> bool:
    return (
        dtype == pl.String
        or dtype == pl.Null
        or dtype.is_integer()
        or isinstance(dtype, pl.Categorical | pl.Enum)
    )


def _check_id_dtypes(path: Path, schema: Mapping[str, pl.DataType], kind: Kind | None) -> None:
    """Reject a typed file whose id columns are neither strings nor integers (no coercion)."""
    keys = _id_keys(kind)
    for name, dtype in schema.items():
        if name.strip().lower() in keys and not _id_dtype_ok(dtype):
            raise ImportRejectedError(
                f"column {name!r} of {str(path)!r} has type {dtype}, but ids must be strings or "
                "integers: other types are not converted (a float 1.0 would become the id "
                "'1.0', not '1'); cast the column to string or integer"
            )


def _stringify(frame: pl.DataFrame) -> pl.DataFrame:
    exprs = []
    for name, dtype in frame.schema.items():
        if name == LINE or dtype == pl.String:
            continue
        if isinstance(dtype, pl.Struct | pl.List | pl.Array):
            exprs.append(pl.col(name).map_elements(_json_value, return_dtype=pl.String))
        else:
            exprs.append(pl.col(name).cast(pl.String))
    return frame.with_columns(exprs).with_columns(pl.col(LINE).cast(pl.Int64))


def _json_value(value: Any) -> str:
    if isinstance(value, pl.Series):
        value = value.to_list()
    return json.dumps(value, sort_keys=True)


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests lists/objects more than ``limit`` levels (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


_JSON_TYPE_NAMES = {bool: "a boolean", float: "a float", list: "a list", dict: "an object"}


def _record_problem(record: Mapping[str, Any], id_keys: frozenset[str]) -> str | None:
    """Why a parsed JSONL record is rejected before validation (an id's type, deep nesting)."""
    nested = False
    for key, value in record.items():
        kind = type(value)
        if value is None or kind is str or kind is int:
            continue
        if key.strip().lower() in id_keys:
            what = _JSON_TYPE_NAMES.get(kind, f"a {kind.__name__}")
            shown = _shorten(json.dumps(value, sort_keys=True))
            return f"{key.strip()} must be a string or an integer, not {what} ({shown})"
        nested = nested or kind is dict or kind is list
    if nested and _nested_deeper_than(record, MAX_JSON_DEPTH):
        return f"JSON nested too deeply (over {MAX_JSON_DEPTH} levels)"
    return None


def _read_jsonl(path: Path, id_keys: frozenset[str]) -> tuple[pl.DataFrame, list[RowError]]:
    frames: list[pl.DataFrame] = []
    batch: list[dict[str, Any]] = []
    errors: list[RowError] = []
    offset = 0
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.append(RowError(number, _bad_byte(raw, exc.start, start)))
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(RowError(number, f"invalid JSON: {exc.msg}"))
                continue
            except RecursionError:
                errors.append(RowError(number, "invalid JSON: nested too deeply"))
                continue
            if not isinstance(obj, dict):
                errors.append(RowError(number, "a line must be a JSON object"))
                continue
            problem = _record_problem(obj, id_keys)
            if problem is not None:
                errors.append(RowError(number, problem))
                continue
            batch.append({**obj, LINE: number})
            if len(batch) >= JSONL_BATCH:
                frames.append(records_to_frame(batch))
                batch = []
    if batch or not frames:
        frames.append(records_to_frame(batch))
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal")
    return frame.select([*(c for c in frame.columns if c != LINE), LINE]), errors


def cell_text(value: Any) -> str | None:
    """A JSON value as an imported record's text cell (nested values JSON-encoded)."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def records_to_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Turn JSON-like records into a frame of strings (nested values JSON-encoded).

    Records that carry no ``_line`` key are numbered 1, 2, ... in order.
    """
    columns: dict[str, list[str | None]] = {}
    n = len(records)
    for i, record in enumerate(records):
        for key in record:
            if key not in columns:
                columns[key] = [None] * n
        for key, value in record.items():
            if key == LINE:
                continue
            columns[str(key)][i] = cell_text(value)
    lines = [int(r.get(LINE, i + 1)) for i, r in enumerate(records)]
    data: dict[str, Any] = {
        k: pl.Series(k, v, dtype=pl.String) for k, v in columns.items() if k != LINE
    }
    data[LINE] = pl.Series(LINE, lines, dtype=pl.Int64)
    return pl.DataFrame(data)


# --------------------------------------------------------------------------------- validating
def _rename_aliases(frame: pl.DataFrame, aliases: Mapping[str, str]) -> pl.DataFrame:
    lowered = {c: c.strip().lower() for c in frame.columns}
    frame = frame.rename({c: n for c, n in lowered.items() if c != n})
    renames = {a: t for a, t in aliases.items() if a in frame.columns and t not in frame.columns}
    return frame.rename(renames) if renames else frame


def _require(frame: pl.DataFrame, required: Sequence[str], what: str) -> None:
    """Reject a frame (even one of 0 rows) that lacks a required column, naming what it has."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = [_shorten(c) for c in frame.columns if c != LINE]
        shown = f"{found[:MAX_COLUMNS_SHOWN]}" + (
            f" and {len(found) - MAX_COLUMNS_SHOWN} more" if len(found) > MAX_COLUMNS_SHOWN else ""
        )
        raise ImportRejectedError(
            f"{what} need column(s) {missing}; found {shown}. Required: {list(required)}"
        )


def _id_problem(col: str) -> pl.Expr:
    c = pl.col(col)
    return (
        pl.when(c.is_null() | (c == ""))
        .then(pl.lit(f"missing {col}"))
        .when(c.str.len_chars() > MAX_ID_LENGTH)
        .then(pl.lit(f"{col} longer than {MAX_ID_LENGTH} characters"))
        .when(c.str.contains("\x00", literal=True))
        .then(pl.lit(f"{col} contains a NUL character"))
        .otherwise(None)
    )


def parse_timestamps(
    values: pl.Series, unit: TsUnit = "auto", now: float | None = None
) -> pl.Series:
    """Parse epoch numbers or ISO 8601 strings into float epoch seconds.

    Numbers are read in ``unit``; ``"auto"`` reads a number as seconds unless, read so, it is more
    than a day after ``now`` while, read as milliseconds, it lies between :data:`MIN_TS` and a day
    after ``now`` (see the module docs). Nothing else is converted: a number outside every window
    keeps its reading in seconds, for the caller to reject. Unparsable values become null. Naive
    ISO times are taken as UTC.

    Args:
        values: the raw values (strings or numbers).
        unit: ``"s"``, ``"ms"`` or ``"auto"``.
        now: reference time for ``"auto"`` (default: wall clock).

    Raises:
        InvalidInputError: if ``unit`` is not one of :data:`TS_UNITS`.

    Example:
        >>> parse_timestamps(pl.Series(["1700000000", "2023-11-14T22:13:20Z", "x"])).to_list()
        [1700000000.0, 1700000000.0, None]
        >>> parse_timestamps(pl.Series(["1700000000000"]), unit="ms").to_list()
        [1700000000.0]
    """
    if unit not in TS_UNITS:
        raise InvalidInputError(f"unknown timestamp unit {unit!r}: use one of {list(TS_UNITS)}")
    hi = (time.time() if now is None else now) + FUTURE_TOLERANCE_S
    text = values.cast(pl.String).str.strip_chars()
    number = text.cast(pl.Float64, strict=False)
    number = pl.select(
        pl.when(number.is_finite()).then(number).otherwise(None).alias(values.name)
    ).to_series()
    if unit == "ms":
        numeric = number / 1000.0
    elif unit == "s":
        numeric = number
    else:
        as_ms = number / 1000.0
        numeric = pl.select(
            pl.when((number > hi) & (as_ms >= MIN_TS) & (as_ms <= hi))
            .then(as_ms)
            .otherwise(number)
            .alias(values.name)
        ).to_series()
    todo = text.filter(numeric.is_null() & text.is_not_null()).unique().to_list()
    if not todo:
        return numeric
    parsed: dict[str, float | None] = {}
    for raw in todo:
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            parsed[raw] = None
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        parsed[raw] = dt.timestamp()
    from_text = text.replace_strict(parsed, default=None, return_dtype=pl.Float64)
    return numeric.fill_null(from_text)


def _day(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")
    except (OverflowError, ValueError, OSError):
        return "after year 9999" if seconds > 0 else "before year 1"


def _window_reason(label: str, raw: str, seconds: float, unit: TsUnit, lo: float, hi: float) -> str:
    """Why a parsed timestamp is outside ``[lo, hi]``, with each reading of an epoch number."""
    where = "in the future" if seconds > hi else f"before {_day(lo)}"
    try:
        number: float | None = float(raw)
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        readings = [_day(seconds)]
    elif unit == "ms":
        readings = [f"{_day(number / 1000.0)} as milliseconds"]
        if lo <= number <= hi:
            readings.append(f"{_day(number)} as seconds: is --ts-unit right?")
    else:
        readings = [f"{_day(number)} as seconds"]
        if number > hi:
            readings.append(f"{_day(number / 1000.0)} as milliseconds")
            if unit == "s" and lo <= number / 1000.0 <= hi:
                readings[-1] += ": is --ts-unit right?"
    return f"{label} '{raw}' is {where} ({'; '.join(readings)})"


def _window_reasons(
    frame: pl.DataFrame, raw: str, parsed: str, label: str, unit: TsUnit, lo: float, hi: float
) -> pl.Series:
    """A reason per row whose parsed time lies outside ``[lo, hi]`` (null for the others)."""
    value = pl.col(parsed)
    outside = frame.select(value.is_not_null() & ((value < lo) | (value > hi))).to_series()
    reasons = pl.repeat(None, frame.height, dtype=pl.String, eager=True).alias(f"_{parsed}_window")
    rows = outside.arg_true()
    if rows.len() == 0:
        return reasons
    bad = frame[rows].select(raw, parsed)
    texts = [
        _window_reason(label, str(r).strip(), float(v), unit, lo, hi) for r, v in bad.iter_rows()
    ]
    return reasons.scatter(rows, texts)


def validate_events(
    frame: pl.DataFrame, now: float | None = None, ts_unit: TsUnit = "auto"
) -> tuple[pl.DataFrame, list[RowError]]:
    """Validate raw event rows (strings) and return the valid ones, typed, plus the errors.

    A frame of 0 rows is checked for its columns too.

    Args:
        frame: columns ``user_id, item_id, type, ts`` (aliases such as ``timestamp`` accepted),
            optional ``session_id``, and ``_line`` for error positions.
        now: reference time for the "in the future" check (default: wall clock).
        ts_unit: how epoch numbers in ``ts`` are read (see the module docs).

    Returns:
        ``(valid, errors)``: ``valid`` has ``user_id, item_id, type, ts (float epoch s),
        session_id``.

    Raises:
        ImportRejectedError: if a required column is missing.
    """
    now = time.time() if now is None else now
    frame = _rename_aliases(frame, EVENT_ALIASES)
    if LINE not in frame.columns:
        frame = frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    _require(frame, ["user_id", "item_id", "type", "ts"], "events")
    if "session_id" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("session_id"))
    frame = frame.with_columns(
        pl.col("user_id").cast(pl.String).str.strip_chars(),
        pl.col("item_id").cast(pl.String).str.strip_chars(),
        pl.col("type").cast(pl.String).str.strip_chars().str.to_lowercase().alias("type"),
        pl.col("ts").cast(pl.String).alias("_ts_raw"),
        pl.col("session_id").cast(pl.String).str.strip_chars().fill_null(""),
    )
    frame = frame.with_columns(parse_timestamps(frame["_ts_raw"], ts_unit, now).alias("ts"))
    hi = now + FUTURE_TOLERANCE_S
    frame = frame.with_columns(
        _window_reasons(frame, "_ts_raw", "ts", "timestamp", ts_unit, MIN_TS, hi)
    )
    allowed = ", ".join(EVENT_TYPES)
    reason = pl.coalesce(
        _id_problem("user_id"),
        _id_problem("item_id"),
        pl.when(pl.col("type").is_null() | (pl.col("type") == ""))
        .then(pl.lit("missing type"))
        .when(~pl.col("type").is_in(list(EVENT_TYPES)))
        .then(pl.format("unknown event type '{}' (allowed: {})", pl.col("type"), pl.lit(allowed)))
        .otherwise(None),
        pl.when(pl.col("_ts_raw").is_null() | (pl.col("_ts_raw").str.strip_chars() == ""))
        .then(pl.lit("missing ts"))
        .when(pl.col("ts").is_null())
        .then(pl.format("unparsable timestamp '{}'", pl.col("_ts_raw")))
        .otherwise(pl.col("_ts_window")),
        pl.when(pl.col("session_id").str.len_chars() > MAX_ID_LENGTH)
        .then(pl.lit(f"session_id longer than {MAX_ID_LENGTH} characters"))
        .otherwise(None),
    ).alias("_reason")
    checked = frame.with_columns(reason)
    errors = _errors(checked)
    valid = checked.filter(pl.col("_reason").is_null()).select(
        "user_id", "item_id", "type", "ts", "session_id"
    )
    return valid, errors


# the columns of plain_event_frame: validate_events's, plus the client's idempotency key
PLAIN_EVENT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "item_id": pl.String(),
    "type": pl.String(),
    "ts": pl.Float64(),
    "session_id": pl.String(),
    "event_id": pl.String(),
}
_PLAIN_KEYS = frozenset(PLAIN_EVENT_SCHEMA)
_PLAIN_TYPES = frozenset(EVENT_TYPES)
_EXACT_INT = 2**53  # every integer up to this is a float exactly, as polars reads its digits
# a plain ISO 8601 time, ASCII digits only: never a number to polars, always one to Python
_PLAIN_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


def _unpadded(text: str) -> bool:
    """Whether polars' ``str.strip_chars()`` leaves ``text`` as it is.

    Python's ``str.isspace`` holds for every character polars strips (Unicode White_Space) and
    for four more (U+001C-U+001F), so an unpadded text here is never changed by polars.
    """
    return not (text[:1].isspace() or text[-1:].isspace())


def _plain_id(value: Any) -> TypeGuard[str]:
    """Whether ``value`` is an id that :func:`validate_events` accepts exactly as it is."""
    return (
        type(value) is str
        and 0 < len(value) <= MAX_ID_LENGTH
        and "\x00" not in value
        and _unpadded(value)
    )


def _plain_ts(value: Any, hi: float) -> float | None:
    """A JSON ``ts`` read as :func:`validate_events` reads it (``ts_unit="auto"``), or None.

    None: the value is not plain, or lies before :data:`MIN_TS` (or, an ISO time, after
    ``hi``). A number after ``hi`` is returned as it is: it may be milliseconds, which
    :func:`_from_milliseconds` decides.
    """
    kind = type(value)
    if kind is int and -_EXACT_INT <= value <= _EXACT_INT:
        seconds = float(value)
    elif kind is float and math.isfinite(value):
        seconds = value  # repr(value), which records_to_frame writes, reads back as value
    elif kind is str and _PLAIN_ISO.fullmatch(value):
        try:
            dt = datetime.fromisoformat(value)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=UTC)
            stamp = dt.timestamp()
        except (ValueError, OverflowError, OSError):
            return None
        return stamp if MIN_TS <= stamp <= hi else None
    else:
        return None
    return seconds if seconds >= MIN_TS else None


def _from_milliseconds(numbers: list[float], hi: float) -> list[float] | None:
    """``numbers`` (each after ``hi``) read as milliseconds, or None if one is outside the window.

    Divided by polars as :func:`parse_timestamps` divides them, so that the seconds are the same
    to the last bit (polars multiplies by 0.001: 1681709863610 / 1000 is 1681709863.6100001).
    """
    seconds = (pl.Series(numbers, dtype=pl.Float64) / 1000.0).to_list()
    return seconds if all(MIN_TS <= s <= hi for s in seconds) else None


# up to this many events, plain_event_frame builds its frame from one dict per event: polars
# builds a few rows that way in a fifth of the time (about 100 rows cost the same either way)
SMALL_BATCH = 32


def plain_event_frame(
    records: Sequence[Mapping[str, Any]], now: float | None = None
) -> pl.DataFrame | None:
    """The valid frame of JSON event records that are plainly valid, without polars' validation.

    The HTTP API's fast path: a batch of 100 events takes about 0.2 ms here instead of about
    2 ms through :func:`records_to_frame` and :func:`validate_events`. It accepts only records
    that :func:`validate_events` (``ts_unit="auto"``) would keep exactly as they are: ids of 1 to
    :data:`MAX_ID_LENGTH` characters without NUL or surrounding whitespace, a known event type
    as it is spelled there, a finite epoch number (integers up to 2**53) or a plain ISO 8601
    time inside the event window, a ``session_id`` (or none) without surrounding whitespace, a
    string ``event_id`` (or none), and no other key. For anything else it returns None, and the
    caller validates the records the full way, which also words each error.

    Args:
        records: JSON objects (parsed), with ``user_id, item_id, type, ts`` and optionally
            ``session_id`` and ``event_id``.
        now: reference time for the event window and the "auto" rule (default: wall clock).

    Returns:
        The frame :func:`validate_events` would return for ``records_to_frame(records)``, with
        an ``event_id`` column (null where a record has none) in :data:`PLAIN_EVENT_SCHEMA`; or
        None when some record is not plainly valid.
    """
    rows = plain_event_rows(records, now)
    if rows is None:
        return None
    if 0 < len(rows) <= SMALL_BATCH:  # a few events: one dict each, 18 µs against 100 for one
        names = tuple(PLAIN_EVENT_SCHEMA)
        return pl.from_dicts([dict(zip(names, r, strict=True)) for r in rows], PLAIN_EVENT_SCHEMA)
    columns: list[list[Any]] = [[] for _ in PLAIN_EVENT_SCHEMA]
    if rows:
        columns = [list(column) for column in zip(*rows, strict=True)]
    return pl.DataFrame(dict(zip(PLAIN_EVENT_SCHEMA, columns, strict=True)), PLAIN_EVENT_SCHEMA)


def plain_event_rows(
    records: Sequence[Mapping[str, Any]], now: float | None = None
) -> list[EventRow] | None:
    """:func:`plain_event_frame`'s events as store rows, without building a frame.

    Returns:
        One ``(user_id, item_id, type, ts, session_id, event_id)`` per record (``session_id``
        ``""`` and ``event_id`` None where a record has none): the rows
        :func:`recsys.store.events.event_rows` gives for :func:`plain_event_frame`'s frame,
        which ``Store.add_event_rows`` stores; or None when some record is not plainly valid.
    """
    hi = (time.time() if now is None else now) + FUTURE_TOLERANCE_S
    rows: list[EventRow] = []
    late: list[int] = []
    for record in records:
        if not _PLAIN_KEYS.issuperset(record):
            return None
        user, item, kind = record.get("user_id"), record.get("item_id"), record.get("type")
        if not (_plain_id(user) and _plain_id(item) and type(kind) is str):
            return None
        if kind not in _PLAIN_TYPES:
            return None
        session = record.get("session_id")
        if session is None:
            session = ""
        elif type(session) is not str or len(session) > MAX_ID_LENGTH or not _unpadded(session):
            return None
        event_id = record.get("event_id")
        if event_id is not None and type(event_id) is not str:
            return None
        ts = _plain_ts(record.get("ts"), hi)
        if ts is None:
            return None
        if ts > hi:
            late.append(len(rows))
        rows.append((user, item, kind, ts, session, event_id))
    if late:  # the "auto" rule: numbers that are too late as seconds may be milliseconds
        seconds = _from_milliseconds([rows[i][3] for i in late], hi)
        if seconds is None:
            return None
        for i, stamp in zip(late, seconds, strict=True):
            user, item, kind, _, session, event_id = rows[i]
            rows[i] = (user, item, kind, stamp, session, event_id)
    return rows


def _errors(checked: pl.DataFrame) -> list[RowError]:
    bad = checked.filter(pl.col("_reason").is_not_null()).select(LINE, "_reason")
    return [RowError(int(line), str(reason)) for line, reason in bad.iter_rows()]


def _parse_bool(raw: str | None) -> bool | None:
    if raw is None or raw.strip() == "":
        return True
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def _parse_attributes(raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return "{}"
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    try:
        return json.dumps(_normalized_json(value), sort_keys=True, ensure_ascii=False)
    except RecursionError:  # nested too deep to walk: refuse the row, not the whole import
        return None


def _normalized_json(value: Any) -> Any:
    """Attribute keys and string values through :func:`recsys.lang.normalize_text`."""
    if isinstance(value, str):
        return normalize_text(value)
    if isinstance(value, dict):
        return {normalize_text(str(k)): _normalized_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized_json(v) for v in value]
    return value


# recsys.lang's classes in Rust regex syntax (tests/store/test_importing_text.py checks that
# both normalise every text the same way)
_WS = (
    r"\t\n\x0B\x0C\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}"
    r"\x{3000}"
)
_CTRL = r"\x00-\x08\x0E-\x1F\x7F-\x{84}\x{86}-\x{9F}"


# recsys.lang's list of invisible characters, as a Rust regex class (the API's title pattern
# is built from the same list)
_VISIBLE_TITLE = "[^" + invisible_class(lambda c: f"\\x{{{c:04X}}}") + "]"


def normalized_text(column: str | pl.Expr, keep_lines: bool = False) -> pl.Expr:
    """:func:`recsys.lang.normalize_text` as a polars expression (NFKC, once, at import)."""
    expr = pl.col(column) if isinstance(column, str) else column
    marks = list(KEPT_PUNCTUATION)
    private = [chr(0xF0000 + k) for k in range(len(marks))]
    folded = (
        expr.cast(pl.String)
        .str.replace_all(r"\r\n|\r", "\n")
        .str.replace_all(f"[{_CTRL}]", "")
        .str.replace_many(marks, private)
        .str.normalize("NFKC")
        .str.replace_many(private, marks)
    )
    if not keep_lines:
        return folded.str.replace_all(f"[{_WS}]+", " ").str.strip_chars(" ")
    in_line = _WS.replace(r"\n", "")
    return (
        folded.str.replace_all(f"[{in_line}]+", " ")
        .str.replace_all(r"( ?\n ?)+", "\n")
        .str.strip_chars(" \n")
    )


def validate_items(
    frame: pl.DataFrame, now: float | None = None, ts_unit: TsUnit = "auto"
) -> tuple[pl.DataFrame, list[RowError]]:
    """Validate raw catalog rows (strings) and return the valid ones, typed, plus the errors.

    Later rows win over earlier rows with the same ``item_id``. A frame of 0 rows is checked for
    its columns too.

    Args:
        frame: columns ``item_id, title`` and optionally ``description, category, price, currency,
            in_stock, attributes (JSON object), updated_at``, plus ``_line``.
        now: default ``updated_at`` and reference time for "in the future" (default: wall clock).
        ts_unit: how epoch numbers in ``updated_at`` are read (see the module docs).

    Returns:
        ``(valid, errors)``; ``valid`` has the store's catalog columns.

    Raises:
        ImportRejectedError: if a required column is missing.
    """
    now = time.time() if now is None else now
    frame = _rename_aliases(frame, ITEM_ALIASES)
    if LINE not in frame.columns:
        frame = frame.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    _require(frame, ["item_id", "title"], "catalog items")
    for name in ("description", "category", "price", "currency", "in_stock", "attributes"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    if "updated_at" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("updated_at"))
    frame = frame.with_columns(
        pl.col("item_id").cast(pl.String).str.strip_chars(),
        normalized_text("title"),
        normalized_text("description", keep_lines=True).fill_null(""),
        normalized_text("category").fill_null(""),
        pl.col("currency").cast(pl.String).str.strip_chars().str.to_uppercase().fill_null(""),
        pl.col("price").cast(pl.String).str.strip_chars().alias("_price_raw"),
        pl.col("in_stock").cast(pl.String).alias("_stock_raw"),
        pl.col("attributes").cast(pl.String).alias("_attr_raw"),
        pl.col("updated_at").cast(pl.String).alias("_upd_raw"),
    )
    price = frame["_price_raw"].cast(pl.Float64, strict=False)
    frame = frame.with_columns(
        price.alias("price"),
        frame["_stock_raw"]
        .map_elements(_parse_bool, return_dtype=pl.Boolean, skip_nulls=False)
        .alias("in_stock"),
        frame["_attr_raw"]
        .map_elements(_parse_attributes, return_dtype=pl.String, skip_nulls=False)
        .alias("attributes"),
        parse_timestamps(frame["_upd_raw"], ts_unit, now).alias("updated_at"),
    )
    frame = frame.with_columns(
        _window_reasons(
            frame,
            "_upd_raw",
            "updated_at",
            "updated_at",
            ts_unit,
            MIN_UPDATED_AT,
            now + FUTURE_TOLERANCE_S,
        )
    )
    has_price = pl.col("_price_raw").is_not_null() & (pl.col("_price_raw") != "")
    has_upd = pl.col("_upd_raw").is_not_null() & (pl.col("_upd_raw").str.strip_chars() != "")
    reason = pl.coalesce(
        _id_problem("item_id"),
        pl.when(pl.col("title").is_null() | (pl.col("title") == ""))
        .then(pl.lit("missing title"))
        .when(~pl.col("title").str.contains(_VISIBLE_TITLE))
        .then(pl.lit("title has only invisible characters (white space, control or format)"))
        .otherwise(None),
        pl.when(has_price & (pl.col("price").is_null() | pl.col("price").is_nan()))
        .then(pl.format("unparsable price '{}'", pl.col("_price_raw")))
        .when(has_price & pl.col("price").is_infinite())
        .then(pl.format("price '{}' is not finite", pl.col("_price_raw")))
        .when(has_price & (pl.col("price") < 0))
        .then(pl.format("negative price {}", pl.col("_price_raw")))
        .otherwise(None),
        pl.when((pl.col("currency") != "") & ~pl.col("currency").str.contains(r"^[A-Z]{3}$"))
        .then(pl.format("currency '{}' is not a 3-letter code", pl.col("currency")))
        .otherwise(None),
        pl.when(pl.col("in_stock").is_null())
        .then(pl.format("in_stock '{}' is not true/false", pl.col("_stock_raw")))
        .otherwise(None),
        pl.when(pl.col("attributes").is_null())
        .then(pl.lit("attributes must be a JSON object"))
        .otherwise(None),
        pl.when(has_upd & pl.col("updated_at").is_null())
        .then(pl.format("unparsable updated_at '{}'", pl.col("_upd_raw")))
        .otherwise(pl.col("_updated_at_window")),
    ).alias("_reason")
    checked = frame.with_columns(reason)
    errors = _errors(checked)
    valid = (
        checked.filter(pl.col("_reason").is_null())
        .with_columns(
            pl.when(has_price).then(pl.col("price")).otherwise(None).alias("price"),
            pl.col("updated_at").fill_null(now),
        )
        .unique(subset="item_id", keep="last", maintain_order=True)
        .select(ITEM_COLUMNS)
    )
    return valid, errors


# ---------------------------------------------------------------------------------- importing
@dataclass(frozen=True)
class CheckedFile:
    """A file read and validated, not stored yet."""

    rows: int  # rows read (records, plus lines that could not be read as records)
    valid: pl.DataFrame  # the valid rows, typed as the store takes them
    errors: list[RowError]  # rejected rows, in file order


def check_file(
    path: str | Path, kind: Kind, now: float | None = None, ts_unit: TsUnit = "auto"
) -> CheckedFile:
    """Read and validate an events or catalog file without storing anything.

    The columns are checked even when the file has no data rows (a header-only or garbage file
    is an error, not an empty import); only a JSONL file whose every line was unreadable, which
    leaves no columns to check, is reported by its lines instead.

    Raises:
        ImportRejectedError: if the file cannot be read or lacks a required column.
    """
    frame, parse_errors = read_records_file(path, kind)
    validate = validate_events if kind == "events" else validate_items
    if any(c != LINE for c in frame.columns) or not parse_errors:
        valid, errors = validate(frame, now=now, ts_unit=ts_unit)
    else:  # JSONL of nothing but unreadable lines: those are the news, not the columns
        valid, errors = frame, []
    return CheckedFile(
        rows=frame.height + len(parse_errors),
        valid=valid,
        errors=sorted(parse_errors + errors, key=lambda e: e.line),
    )


def import_events_file(
    store: Store, path: str | Path, now: float | None = None, ts_unit: TsUnit = "auto"
) -> ImportResult:
    """Validate an events file and store its valid rows (duplicates of stored events are skipped).

    Args:
        store: the store to write to.
        path: the file.
        now: reference time for the timestamp window (default: wall clock).
        ts_unit: how epoch numbers in ``ts`` are read (see the module docs).

    Raises:
        ImportRejectedError: if the file cannot be read or lacks a required column.
    """
    checked = check_file(path, "events", now=now, ts_unit=ts_unit)
    stored = store.add_events(checked.valid) if checked.valid.height else 0
    return ImportResult(checked.rows, checked.valid.height, stored, checked.errors)


def import_catalog_file(
    store: Store, path: str | Path, now: float | None = None, ts_unit: TsUnit = "auto"
) -> ImportResult:
    """Validate a catalog file and upsert its valid rows.

    Args:
        store: the store to write to.
        path: the file.
        now: default ``updated_at`` and reference time for its window (default: wall clock).
        ts_unit: how epoch numbers in ``updated_at`` are read (see the module docs).

    Raises:
        ImportRejectedError: if the file cannot be read or lacks a required column.
    """
    checked = check_file(path, "catalog", now=now, ts_unit=ts_unit)
    stored = store.upsert_items(checked.valid) if checked.valid.height else 0
    return ImportResult(checked.rows, checked.valid.height, stored, checked.errors)
