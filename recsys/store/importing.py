"""Read and validate event and catalog files (CSV, Parquet, JSONL) with polars.

Every row is either imported or reported with its line number and the reason it was rejected;
nothing valid is dropped silently. The same validators serve the HTTP API (records from JSON
bodies).

Line numbers: CSV counts the header as line 1 (the first data row is line 2; a quoted field that
spans lines counts all of them); JSONL counts every line of the file; Parquet has no lines, so its
"line" is the 1-based row number.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recsys.config import EVENT_TYPES
from recsys.errors import ImportRejectedError
from recsys.store.sqlite import ITEM_COLUMNS, Store

MAX_ID_LENGTH = 256
FUTURE_TOLERANCE_S = 86_400.0  # timestamps up to a day ahead are accepted (clock skew)
MS_THRESHOLD = 1e11  # epoch numbers above this are milliseconds (1e11 s is the year 5138)
LINE = "_line"

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
def read_records_file(path: str | Path) -> tuple[pl.DataFrame, list[RowError]]:
    """Read a CSV, Parquet or JSONL file into a frame of strings with a ``_line`` column.

    Returns:
        The frame (all columns as strings, JSON-encoded for nested values) and the rows that could
        not even be parsed (JSONL lines that are not JSON objects).

    Raises:
        ImportRejectedError: if the file is missing, of an unknown format, or unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise ImportRejectedError(f"file {str(p)!r} does not exist")
    suffixes = [s.lower() for s in p.suffixes]
    try:
        if suffixes and suffixes[-1] in (".csv", ".tsv"):
            sep = "\t" if suffixes[-1] == ".tsv" else ","
            frame = pl.read_csv(p, infer_schema=False, separator=sep, encoding="utf8-lossy")
            lines = _csv_record_lines(p, sep, frame.height)
            if lines is None:
                frame = frame.with_row_index(LINE, offset=2)
            else:
                frame = frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
            return _stringify(frame), []
        if suffixes and suffixes[-1] == ".parquet":
            frame = pl.read_parquet(p).with_row_index(LINE, offset=1)
            return _stringify(frame), []
        if suffixes and suffixes[-1] in (".jsonl", ".ndjson", ".json"):
            return _read_jsonl(p)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise ImportRejectedError(f"cannot read {str(p)!r}: {exc}") from exc
    raise ImportRejectedError(
        f"unsupported file type {p.suffix!r} for {str(p)!r}: use .csv, .tsv, .parquet or .jsonl"
    )


def _csv_record_lines(path: Path, sep: str, height: int) -> list[int] | None:
    """Return the line on which each data record starts, or None when it is row number + 1.

    Quoted fields may span lines (a description with a newline), so records and lines differ;
    only then is the file scanned again with :mod:`csv` to find where each record starts.
    """
    newlines, last = 0, b"\n"
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    n_lines = newlines + (0 if last == b"\n" else 1)
    if n_lines == height + 1:
        return None
    starts: list[int] = []
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep)
        end = 0
        try:
            for _ in reader:
                starts.append(end + 1)
                end = reader.line_num
        except csv.Error:  # e.g. a field over csv's size limit: keep the row numbers
            return None
    return starts[1:] if len(starts) == height + 1 else None


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


def _read_jsonl(path: Path) -> tuple[pl.DataFrame, list[RowError]]:
    records: list[dict[str, Any]] = []
    errors: list[RowError] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(RowError(number, f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                errors.append(RowError(number, "a line must be a JSON object"))
                continue
            records.append({**obj, LINE: number})
    return records_to_frame(records), errors


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
            if value is None:
                cell = None
            elif isinstance(value, dict | list):
                cell = json.dumps(value, sort_keys=True)
            elif isinstance(value, bool):
                cell = "true" if value else "false"
            else:
                cell = str(value)
            columns[str(key)][i] = cell
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
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = [c for c in frame.columns if c != LINE]
        raise ImportRejectedError(
            f"{what} need column(s) {missing}; found {found}. Required: {list(required)}"
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


def parse_timestamps(values: pl.Series) -> pl.Series:
    """Parse epoch seconds, epoch milliseconds or ISO 8601 strings into float epoch seconds.

    Unparsable values become null. Naive ISO times are taken as UTC.

    Example:
        >>> parse_timestamps(pl.Series(["1700000000", "2023-11-14T22:13:20Z", "x"])).to_list()
        [1700000000.0, 1700000000.0, None]
    """
    text = values.cast(pl.String).str.strip_chars()
    numeric = text.cast(pl.Float64, strict=False)
    numeric = pl.Series(
        values.name,
        [
            None if v is None or not math.isfinite(v) else (v / 1000.0 if v > MS_THRESHOLD else v)
            for v in numeric.to_list()
        ],
        dtype=pl.Float64,
    )
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


def validate_events(
    frame: pl.DataFrame, now: float | None = None
) -> tuple[pl.DataFrame, list[RowError]]:
    """Validate raw event rows (strings) and return the valid ones, typed, plus the errors.

    Args:
        frame: columns ``user_id, item_id, type, ts`` (aliases such as ``timestamp`` accepted),
            optional ``session_id``, and ``_line`` for error positions.
        now: reference time for the "in the future" check (default: wall clock).

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
    frame = frame.with_columns(parse_timestamps(frame["_ts_raw"]).alias("ts"))
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
        .when(pl.col("ts") < 0)
        .then(pl.format("negative timestamp {}", pl.col("_ts_raw")))
        .when(pl.col("ts") > now + FUTURE_TOLERANCE_S)
        .then(pl.format("timestamp '{}' is in the future", pl.col("_ts_raw")))
        .otherwise(None),
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
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def validate_items(
    frame: pl.DataFrame, now: float | None = None
) -> tuple[pl.DataFrame, list[RowError]]:
    """Validate raw catalog rows (strings) and return the valid ones, typed, plus the errors.

    Later rows win over earlier rows with the same ``item_id``.

    Args:
        frame: columns ``item_id, title`` and optionally ``description, category, price, currency,
            in_stock, attributes (JSON object), updated_at``, plus ``_line``.
        now: default ``updated_at`` (default: wall clock).

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
        pl.col("title").cast(pl.String).str.strip_chars(),
        pl.col("description").cast(pl.String).fill_null(""),
        pl.col("category").cast(pl.String).str.strip_chars().fill_null(""),
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
        parse_timestamps(frame["_upd_raw"]).alias("updated_at"),
    )
    has_price = pl.col("_price_raw").is_not_null() & (pl.col("_price_raw") != "")
    has_upd = pl.col("_upd_raw").is_not_null() & (pl.col("_upd_raw").str.strip_chars() != "")
    reason = pl.coalesce(
        _id_problem("item_id"),
        pl.when(pl.col("title").is_null() | (pl.col("title") == ""))
        .then(pl.lit("missing title"))
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
        .otherwise(None),
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
def import_events_file(store: Store, path: str | Path, now: float | None = None) -> ImportResult:
    """Validate an events file and store its valid rows (duplicates of stored events are skipped).

    Raises:
        ImportRejectedError: if the file cannot be read or lacks a required column.
    """
    frame, parse_errors = read_records_file(path)
    valid, errors = validate_events(frame, now=now) if frame.height else (frame, [])
    stored = store.add_events(valid) if frame.height else 0
    all_errors = sorted(parse_errors + errors, key=lambda e: e.line)
    return ImportResult(
        rows=frame.height + len(parse_errors),
        valid=valid.height if frame.height else 0,
        stored=stored,
        errors=all_errors,
    )


def import_catalog_file(store: Store, path: str | Path, now: float | None = None) -> ImportResult:
    """Validate a catalog file and upsert its valid rows.

    Raises:
        ImportRejectedError: if the file cannot be read or lacks a required column.
    """
    frame, parse_errors = read_records_file(path)
    valid, errors = validate_items(frame, now=now) if frame.height else (frame, [])
    stored = store.upsert_items(valid) if frame.height else 0
    all_errors = sorted(parse_errors + errors, key=lambda e: e.line)
    return ImportResult(
        rows=frame.height + len(parse_errors),
        valid=valid.height if frame.height else 0,
        stored=stored,
        errors=all_errors,
    )
