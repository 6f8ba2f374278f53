"""Imports never guess (issue 17, section 2): files the importer cannot read as what they claim to
be are usage errors, bad bytes and bad types are rejected rather than coerced, and a timestamp is
read in one documented unit and rejected, never reinterpreted, when it is out of the sane window.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from jobs.nightly.inbox import import_inbox
from recsys.cli import main
from recsys.errors import ImportRejectedError
from recsys.home import Home
from recsys.store import SQLiteStore, Store, import_catalog_file, import_events_file
from recsys.store.importing import records_to_frame, validate_events

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HEADER = "user_id,item_id,type,ts"
YEAR_9999_S = 253_402_300_799  # 9999-12-31T23:59:59Z in epoch seconds (1978-01-11 if read as ms)


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(home: Home, *args: str) -> int:
    try:
        main(["--home", str(home.root), *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# ------------------------------------------------------------ header-only and garbage files
def test_header_only_csv_is_a_usage_error_naming_the_missing_columns(
    store: Store, tmp_path: Path
) -> None:
    path = _write(tmp_path / "events.csv", ["user_id,item_id"])
    with pytest.raises(ImportRejectedError, match=r"\['type', 'ts'\]"):
        import_events_file(store, path, now=NOW)


def test_header_only_catalog_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "catalog.csv", ["item_id,price"])
    with pytest.raises(ImportRejectedError, match=r"\['title'\]"):
        import_catalog_file(store, path, now=NOW)


def test_header_only_csv_with_the_right_columns_imports_nothing_and_succeeds(
    store: Store, tmp_path: Path
) -> None:
    result = import_events_file(store, _write(tmp_path / "e.csv", [HEADER]), now=NOW)
    assert (result.rows, result.stored, result.errors) == (0, 0, [])


def test_garbage_csv_exits_2_with_a_short_message_naming_the_missing_columns(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_bytes(tmp_path / "events.csv", b"x" * 3_000_000)  # one 3 MB "column name"
    assert _cli(home, "import-events", str(path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert "['user_id', 'item_id', 'type', 'ts']" in err
    assert err.count("\n") == 1
    assert len(err) < 600  # the 3 MB header is not echoed back


def test_an_empty_file_is_a_usage_error(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("events.csv", "events.jsonl"):
        path = _write_bytes(tmp_path / name, b"")
        assert _cli(home, "import-events", str(path)) == 2
        err = capsys.readouterr().err
        assert "empty" in err
        assert err.count("\n") == 1


def test_the_inbox_rejects_a_header_only_file(home: Home, store: Store) -> None:
    inbox = home.root / "inbox"
    inbox.mkdir()
    _write(inbox / "events-empty.csv", ["user_id,item_id"])
    [result] = import_inbox(store, inbox, now=NOW)
    assert result.status == "rejected"
    assert "['type', 'ts']" in result.reason


# ---------------------------------------------------------------------------- invalid UTF-8
def test_invalid_utf8_rows_are_rejected_by_line_and_do_not_merge_users(
    store: Store, tmp_path: Path
) -> None:
    data = (
        b"user_id,item_id,type,ts\n"  # line 1: 24 bytes
        b"a\xff,i1,view,1700000000\n"  # line 2: the bad byte is at offset 25
        b"a\xfe,i1,view,1700000001\n"  # line 3
        b"b,i1,view,1700000002\n"  # line 4 ok
        b"\xc3\xa9t\xc3\xa9,i1,view,1700000003\n"  # line 5 ok: valid UTF-8 ("ete" accented)
    )
    result = import_events_file(store, _write_bytes(tmp_path / "e.csv", data), now=NOW)
    assert [e.line for e in result.errors] == [2, 3]
    assert "invalid UTF-8" in result.errors[0].reason
    assert "byte offset 25" in result.errors[0].reason
    assert (result.rows, result.valid, result.stored) == (4, 2, 2)
    assert sorted(store.events_frame()["user_id"].to_list()) == ["b", "\u00e9t\u00e9"]


def test_invalid_utf8_in_a_multiline_field_rejects_the_record_by_its_first_line(
    store: Store, tmp_path: Path
) -> None:
    data = (
        b"user_id,item_id,type,ts,session_id\n"
        b'u1,i1,view,1700000000,"first\nsecond \xff"\n'  # lines 2-3, bad byte on line 3
        b"u2,i1,view,1700000000,\n"  # line 4
    )
    result = import_events_file(store, _write_bytes(tmp_path / "e.csv", data), now=NOW)
    assert [e.line for e in result.errors] == [2]
    assert store.events_frame()["user_id"].to_list() == ["u2"]


def test_invalid_utf8_rejects_the_file_when_record_starts_are_unknown(
    store: Store, tmp_path: Path
) -> None:
    # a quoted field over the csv module's 128 KiB limit: where records start is not known, so
    # the row holding the bad byte cannot be told and the file is rejected with the byte offset
    field = b"y" * 200_000
    data = (
        b"user_id,item_id,type,ts,session_id\n"
        b'u1,i1,view,1700000000,"' + field + b'\nz"\n'
        b"\xff,i1,view,1700000000,\n"
    )
    path = _write_bytes(tmp_path / "e.csv", data)
    with pytest.raises(ImportRejectedError, match=r"byte offset 200062 \(line 4\)"):
        import_events_file(store, path, now=NOW)
    assert store.count_events() == 0


def test_invalid_utf8_in_the_header_rejects_the_file_with_the_byte_offset(
    store: Store, tmp_path: Path
) -> None:
    path = _write_bytes(tmp_path / "e.csv", b"user_id,it\xffem_id,type,ts\nu,i,view,1700000000\n")
    with pytest.raises(ImportRejectedError, match="byte offset 10"):
        import_events_file(store, path, now=NOW)


def test_invalid_utf8_jsonl_lines_are_rejected_and_the_rest_imported(
    store: Store, tmp_path: Path
) -> None:
    good = json.dumps({"user_id": "b", "item_id": "i", "type": "view", "ts": 1_700_000_000})
    data = (
        b'{"user_id": "a\xff", "item_id": "i", "type": "view", "ts": 1700000000}\n'
        + good.encode()
        + b"\n"
    )
    result = import_events_file(store, _write_bytes(tmp_path / "e.jsonl", data), now=NOW)
    assert [e.line for e in result.errors] == [1]
    assert "invalid UTF-8" in result.errors[0].reason
    assert store.events_frame()["user_id"].to_list() == ["b"]


# ------------------------------------------------------------------------ deep JSON nesting
def test_a_deeply_nested_jsonl_row_is_rejected_and_the_others_imported(
    store: Store, tmp_path: Path
) -> None:
    row = {"item_id": "i", "type": "view", "ts": 1_700_000_000}
    deep = '{"user_id": "x", "item_id": "i", "type": "view", "ts": 1, "extra": ' + (
        "[" * 100_000 + "]" * 100_000 + "}"
    )
    lines = [json.dumps({**row, "user_id": "a"}), deep, json.dumps({**row, "user_id": "b"})]
    result = import_events_file(store, _write(tmp_path / "e.jsonl", lines), now=NOW)
    assert [e.line for e in result.errors] == [2]
    assert "nested too deeply" in result.errors[0].reason
    assert sorted(store.events_frame()["user_id"].to_list()) == ["a", "b"]


# ------------------------------------------------------------------------- typed id columns
@pytest.mark.parametrize(
    ("column", "values", "dtype_name"),
    [
        ("user_id", [1.0, 2.0], "Float64"),
        ("item_id", [[1, 2], [3]], "List"),
        ("user_id", [{"a": 1}, {"a": 2}], "Struct"),
        ("session_id", [True, False], "Boolean"),
    ],
)
def test_parquet_ids_of_other_types_than_string_or_integer_are_rejected(
    store: Store, tmp_path: Path, column: str, values: list[object], dtype_name: str
) -> None:
    columns: dict[str, object] = {
        "user_id": ["u1", "u2"],
        "item_id": ["i1", "i2"],
        "type": ["view", "view"],
        "ts": [1_700_000_000, 1_700_000_001],
    }
    columns[column] = values
    path = tmp_path / "events.parquet"
    pl.DataFrame(columns).write_parquet(path)
    with pytest.raises(ImportRejectedError, match=rf"{column}.*{dtype_name}.*strings or integers"):
        import_events_file(store, path, now=NOW)
    assert store.count_events() == 0


def test_parquet_integer_and_categorical_ids_are_accepted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "user_id": pl.Series([1, 2], dtype=pl.Int64),
            "item_id": pl.Series(["i1", "i2"], dtype=pl.Categorical),
            "type": ["view", "click"],
            "ts": [1_700_000_000, 1_700_000_001],
        }
    ).write_parquet(path)
    result = import_events_file(store, path, now=NOW)
    assert result.errors == []
    assert store.events_frame()["user_id"].to_list() == ["1", "2"]


def test_parquet_catalog_with_a_float_item_id_is_rejected(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "catalog.parquet"
    pl.DataFrame({"item_id": [1.0], "title": ["A"]}).write_parquet(path)
    with pytest.raises(ImportRejectedError, match=r"item_id.*Float64"):
        import_catalog_file(store, path, now=NOW)


def test_jsonl_ids_that_are_not_strings_or_integers_are_rejected_per_line(
    store: Store, tmp_path: Path
) -> None:
    base = {"item_id": "i", "type": "view", "ts": 1_700_000_000}
    lines = [
        json.dumps({**base, "user_id": 1}),  # ok: integer ids are read as "1"
        json.dumps({**base, "user_id": 1.0}),
        json.dumps({**base, "user_id": [1, 2]}),
        json.dumps({**base, "user_id": {"a": 1}}),
        json.dumps({**base, "user_id": True}),
        json.dumps({**base, "user_id": "u", "item_id": 2.5}),
    ]
    result = import_events_file(store, _write(tmp_path / "e.jsonl", lines), now=NOW)
    assert [e.line for e in result.errors] == [2, 3, 4, 5, 6]
    assert result.errors[0].reason == "user_id must be a string or an integer, not a float (1.0)"
    assert "item_id must be a string or an integer" in result.errors[4].reason
    assert store.events_frame()["user_id"].to_list() == ["1"]


# ------------------------------------------------------------------------------- timestamps
def test_year_9999_epoch_seconds_are_rejected_not_read_as_milliseconds(
    store: Store, tmp_path: Path
) -> None:
    lines = [HEADER, f"u1,i1,view,{YEAR_9999_S}", "u2,i1,view,1700000000"]
    result = import_events_file(store, _write(tmp_path / "e.csv", lines), now=NOW)
    assert [e.line for e in result.errors] == [2]
    assert "in the future" in result.errors[0].reason
    assert "9999-12-31" in result.errors[0].reason
    assert store.events_frame()["user_id"].to_list() == ["u2"]


def test_timestamps_before_1990_are_rejected(store: Store, tmp_path: Path) -> None:
    lines = [HEADER, "u1,i1,view,0", "u2,i1,view,1970-01-02T00:00:00Z", "u3,i1,view,874965758"]
    result = import_events_file(store, _write(tmp_path / "e.csv", lines), now=NOW)
    assert [e.line for e in result.errors] == [2, 3]
    assert all("before 1990-01-01" in e.reason for e in result.errors)
    assert store.events_frame()["ts"].to_list() == [874_965_758.0]  # MovieLens-100K era


def test_ts_unit_is_explicit_on_the_command_line(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ms = _write(tmp_path / "ms.csv", [HEADER, "u1,i1,view,1700000000000"])
    seconds = _write(tmp_path / "s.csv", [HEADER, "u2,i1,view,1700000000"])
    assert _cli(home, "import-events", "--ts-unit", "s", str(ms)) == 1
    assert "line 2: timestamp '1700000000000' is in the future" in capsys.readouterr().err
    assert _cli(home, "import-events", "--ts-unit", "ms", str(seconds)) == 1
    assert "before 1990-01-01" in capsys.readouterr().err
    assert _cli(home, "import-events", "--ts-unit", "ms", str(ms)) == 0
    assert _cli(home, "import-events", "--ts-unit", "s", str(seconds)) == 0
    with SQLiteStore(home.db_path) as store:
        assert store.events_frame()["ts"].to_list() == [NOW, NOW]
    assert _cli(home, "import-events", "--help") == 0
    assert "--ts-unit" in capsys.readouterr().out


def test_api_records_keep_reading_seconds_and_milliseconds_but_not_year_9999() -> None:
    frame = records_to_frame(
        [
            {"user_id": "a", "item_id": "i", "type": "view", "ts": 1_700_000_000},
            {"user_id": "b", "item_id": "i", "type": "view", "ts": 1_700_000_000_000},
            {"user_id": "c", "item_id": "i", "type": "view", "ts": YEAR_9999_S},
        ]
    )
    valid, errors = validate_events(frame, now=NOW)
    assert [e.line for e in errors] == [3]
    assert valid["ts"].to_list() == [NOW, NOW]


def test_catalog_updated_at_follows_the_same_unit_rule(store: Store, tmp_path: Path) -> None:
    lines = ["item_id,title,updated_at", f"a,A,{YEAR_9999_S}", "b,B,1700000000000", "c,C,0"]
    result = import_catalog_file(store, _write(tmp_path / "c.csv", lines), now=NOW)
    assert [e.line for e in result.errors] == [2]
    b, c = store.get_item("b"), store.get_item("c")
    assert b is not None and c is not None
    assert (b["updated_at"], c["updated_at"]) == (NOW, 0.0)  # 0: "unknown", as the demo data


# ------------------------------------------------------------------------------- not a file
def test_a_directory_is_reported_as_a_directory(
    home: Home, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "exports.csv"
    folder.mkdir()
    with pytest.raises(ImportRejectedError, match="is a directory"):
        import_events_file(store, folder)
    assert _cli(home, "import-events", str(folder)) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err
    assert "does not exist" not in err


def test_a_gzip_compressed_csv_is_read_decompressed_and_checked_the_same(
    store: Store, tmp_path: Path
) -> None:
    data = b"user_id,item_id,type,ts\nu1,i1,view,1700000000\na\xff,i1,view,1700000000\n"
    path = _write_bytes(tmp_path / "events.csv", gzip.compress(data))  # polars reads gzip as is
    result = import_events_file(store, path, now=NOW)
    assert [e.line for e in result.errors] == [3]
    assert "invalid UTF-8" in result.errors[0].reason
    assert store.events_frame()["user_id"].to_list() == ["u1"]
