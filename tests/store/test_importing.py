"""Bulk import: every bad row is reported with its line and reason, every good row is stored."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from recsys.cli import main
from recsys.errors import ImportRejectedError
from recsys.home import Home
from recsys.store import RowError, SQLiteStore, Store, import_catalog_file, import_events_file
from recsys.store.importing import parse_timestamps, validate_events

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HEADER = "user_id,item_id,type,ts,session_id"


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


MIXED = [
    HEADER,  # line 1
    "u1,i1,view,1700000000,s1",  # 2 ok
    ",i1,view,1700000000,",  # 3
    "u2,,view,1700000000,",  # 4
    "u3,i1,like,1700000000,",  # 5
    "u4,i1,view,yesterday,",  # 6
    "u5,i1,view,4102444800,",  # 7: year 2100
    "u6,i1,view,-5,",  # 8
    "u\x00x,i1,view,1700000000,",  # 9
    "u" * 257 + ",i1,view,1700000000,",  # 10
    "u7,i2,PURCHASE,2023-11-14T21:13:20Z,",  # 11 ok (type is case-insensitive)
    "u8,i2,view,,",  # 12
    "u9,i3,click,1699999000000,",  # 13 ok (epoch ms)
]
MIXED_ERRORS = [
    RowError(3, "missing user_id"),
    RowError(4, "missing item_id"),
    RowError(5, "unknown event type 'like' (allowed: view, click, add_to_cart, purchase)"),
    RowError(6, "unparsable timestamp 'yesterday'"),
    RowError(
        7,
        "timestamp '4102444800' is in the future "
        "(2100-01-01 as seconds; 1970-02-17 as milliseconds)",
    ),
    RowError(8, "timestamp '-5' is before 1990-01-01 (1969-12-31 as seconds)"),
    RowError(9, "user_id contains a NUL character"),
    RowError(10, "user_id longer than 256 characters"),
    RowError(12, "missing ts"),
]
MIXED_VALID = [
    ("u1", "i1", "view", 1_700_000_000.0, "s1"),
    ("u7", "i2", "purchase", 1_699_996_400.0, ""),
    ("u9", "i3", "click", 1_699_999_000.0, ""),
]


# ------------------------------------------------------------------------------------ events
def test_mixed_csv_reports_each_bad_row_and_stores_the_good_ones(
    store: Store, tmp_path: Path
) -> None:
    path = _write(tmp_path / "events.csv", MIXED)
    result = import_events_file(store, path, now=NOW)
    assert result.errors == MIXED_ERRORS
    assert (result.rows, result.valid, result.stored, result.rejected) == (12, 3, 3, 9)
    assert store.events_frame().rows() == MIXED_VALID


def test_reimporting_the_same_file_stores_nothing_new(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", MIXED)
    import_events_file(store, path, now=NOW)
    again = import_events_file(store, path, now=NOW)
    assert (again.valid, again.stored) == (3, 0)
    assert store.count_events() == 3


def test_id_of_exactly_256_characters_is_accepted(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", [HEADER, "u" * 256 + ",i,view,1700000000,"])
    result = import_events_file(store, path, now=NOW)
    assert result.errors == []
    assert result.stored == 1


def test_future_tolerance_is_one_day(store: Store, tmp_path: Path) -> None:
    lines = [HEADER, f"a,i,view,{NOW + 86_000:.0f},", f"b,i,view,{NOW + 87_000:.0f},"]
    result = import_events_file(store, _write(tmp_path / "e.csv", lines), now=NOW)
    assert [e.line for e in result.errors] == [3]
    assert store.events_frame()["user_id"].to_list() == ["a"]


def test_line_numbers_count_lines_of_multiline_quoted_fields(store: Store, tmp_path: Path) -> None:
    lines = [
        HEADER,
        'u1,i1,view,1700000000,"a session id\nthat spans\nthree lines"',  # lines 2-4
        ",i1,view,1700000000,",  # line 5
    ]
    result = import_events_file(store, _write(tmp_path / "e.csv", lines), now=NOW)
    assert result.errors == [RowError(5, "missing user_id")]
    assert result.stored == 1


def test_epoch_ms_and_iso_8601_parse_to_the_same_seconds() -> None:
    raw = [
        "1700000000",
        "1700000000000",
        "1700000000.0",
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20",
        "2023-11-14 22:13:20",
        "2023-11-14T23:13:20+01:00",
        " 1700000000 ",
    ]
    assert parse_timestamps(pl.Series(raw)).to_list() == [NOW] * len(raw)
    assert parse_timestamps(pl.Series(["x", "", None, "nan", "inf"])).to_list() == [None] * 5


def test_iso_and_epoch_rows_are_the_same_event(store: Store, tmp_path: Path) -> None:
    lines = [
        HEADER,
        "u,i,view,1700000000,",
        "u,i,view,1700000000000,",
        "u,i,view,2023-11-14T22:13:20Z,",
        "u,i,view,2023-11-14T22:13:20,",
    ]
    result = import_events_file(store, _write(tmp_path / "e.csv", lines), now=NOW)
    assert (result.valid, result.stored) == (4, 1)
    assert store.events_frame()["ts"].to_list() == [NOW]


def test_column_aliases_are_accepted(store: Store, tmp_path: Path) -> None:
    lines = ["User,Product_ID,Event_Type,Timestamp", "u,i,add_to_cart,1700000000"]
    result = import_events_file(store, _write(tmp_path / "e.csv", lines), now=NOW)
    assert result.errors == []
    assert store.events_frame().rows() == [("u", "i", "add_to_cart", NOW, "")]


def test_jsonl_reports_bad_lines_by_line_number(store: Store, tmp_path: Path) -> None:
    lines = [
        json.dumps({"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1700000000}),
        "{not json",
        "",  # blank lines are skipped but still counted
        "[1, 2, 3]",
        json.dumps({"user_id": "u2", "item_id": "i1", "type": "nope", "ts": 1700000000}),
        json.dumps({"user_id": 7, "item_id": "i2", "type": "click", "ts": "2023-11-14T22:13:20Z"}),
    ]
    result = import_events_file(store, _write(tmp_path / "e.jsonl", lines), now=NOW)
    assert [e.line for e in result.errors] == [2, 4, 5]
    assert result.errors[0].reason.startswith("invalid JSON")
    assert result.errors[1].reason == "a line must be a JSON object"
    assert result.errors[2].reason.startswith("unknown event type 'nope'")
    assert (result.rows, result.valid, result.stored) == (5, 2, 2)
    assert store.events_frame().rows() == [
        ("u1", "i1", "view", NOW, ""),
        ("7", "i2", "click", NOW, ""),
    ]


def test_parquet_file_is_imported(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "user_id": ["u1", "u2", ""],
            "item_id": ["i1", "i2", "i3"],
            "type": ["view", "purchase", "view"],
            "ts": [1_700_000_000, 1_700_000_060, 1_700_000_000],
        }
    ).write_parquet(path)
    result = import_events_file(store, path, now=NOW)
    assert result.errors == [RowError(3, "missing user_id")]  # parquet: 1-based row number
    assert store.events_frame().rows() == [
        ("u1", "i1", "view", NOW, ""),
        ("u2", "i2", "purchase", NOW + 60, ""),
    ]


def test_missing_required_column_is_rejected_by_name(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", ["user_id,item_id,ts", "u,i,1700000000"])
    with pytest.raises(ImportRejectedError, match=r"\['type'\]"):
        import_events_file(store, path, now=NOW)
    assert store.count_events() == 0


def test_unsupported_suffix_is_rejected(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "events.xlsx", [HEADER])
    with pytest.raises(ImportRejectedError, match=r"unsupported file type '\.xlsx'"):
        import_events_file(store, path)


def test_missing_file_is_rejected(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ImportRejectedError, match="does not exist"):
        import_events_file(store, tmp_path / "nope.csv")


def test_validate_events_numbers_api_records_from_one() -> None:
    frame = pl.DataFrame(
        {
            "user_id": ["u", ""],
            "item_id": ["i", "i"],
            "type": ["view"] * 2,
            "ts": ["1700000000"] * 2,
        }
    )
    valid, errors = validate_events(frame, now=NOW)
    assert errors == [RowError(2, "missing user_id")]
    assert valid.rows() == [("u", "i", "view", NOW, "")]


# ----------------------------------------------------------------------------------- catalog
CATALOG = [
    "item_id,title,price,currency,in_stock,attributes",  # 1
    'a,Alpha,10.5,eur,no,"{""color"": ""red""}"',  # 2 ok
    "b,Beta,-1,EUR,yes,",  # 3
    "c,Gamma,abc,EUR,yes,",  # 4
    "d,Delta,1,EURO,yes,",  # 5
    "e,Eps,1,EUR,maybe,",  # 6
    'f,Phi,1,EUR,yes,"[1, 2]"',  # 7
    "g,,1,EUR,yes,",  # 8
    "h,Eta,,,,",  # 9 ok: everything optional left empty
]


def test_catalog_rejects_bad_rows_with_reasons(store: Store, tmp_path: Path) -> None:
    result = import_catalog_file(store, _write(tmp_path / "c.csv", CATALOG), now=NOW)
    assert result.errors == [
        RowError(3, "negative price -1"),
        RowError(4, "unparsable price 'abc'"),
        RowError(5, "currency 'EURO' is not a 3-letter code"),
        RowError(6, "in_stock 'maybe' is not true/false"),
        RowError(7, "attributes must be a JSON object"),
        RowError(8, "missing title"),
    ]
    assert (result.rows, result.valid, result.stored) == (8, 2, 2)
    a = store.get_item("a")
    assert a is not None
    assert (a["title"], a["price"], a["currency"], a["in_stock"]) == ("Alpha", 10.5, "EUR", False)
    assert a["attributes"] == {"color": "red"}
    assert a["updated_at"] == NOW
    h = store.get_item("h")
    assert h is not None
    assert (h["price"], h["currency"], h["in_stock"], h["attributes"]) == (None, "", True, {})
    assert store.get_item("b") is None


def test_catalog_duplicate_id_last_row_wins(store: Store, tmp_path: Path) -> None:
    lines = ["item_id,title,price", "a,First,1", "b,Other,2", "a,Second,3"]
    result = import_catalog_file(store, _write(tmp_path / "c.csv", lines), now=NOW)
    assert (result.valid, result.stored) == (2, 2)
    a = store.get_item("a")
    assert a is not None
    assert (a["title"], a["price"]) == ("Second", 3.0)


def test_catalog_reimport_upserts(store: Store, tmp_path: Path) -> None:
    import_catalog_file(store, _write(tmp_path / "c1.csv", ["item_id,title", "a,Old", "b,B"]))
    result = import_catalog_file(store, _write(tmp_path / "c2.csv", ["item_id,name", "a,New"]))
    assert result.stored == 1
    assert store.count_items() == 2
    assert store.catalog_frame().select("item_id", "title").rows() == [("a", "New"), ("b", "B")]


def test_catalog_without_title_column_is_rejected(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", ["item_id,price", "a,1"])
    with pytest.raises(ImportRejectedError, match=r"\['title'\]"):
        import_catalog_file(store, path)


def test_catalog_line_numbers_survive_multiline_descriptions(store: Store, tmp_path: Path) -> None:
    lines = [
        "item_id,title,description",
        'a,Alpha,"line one\nline two"',  # lines 2-3
        "b,,no title",  # line 4
    ]
    result = import_catalog_file(store, _write(tmp_path / "c.csv", lines), now=NOW)
    assert result.errors == [RowError(4, "missing title")]
    a = store.get_item("a")
    assert a is not None
    assert a["description"] == "line one\nline two"


# -------------------------------------------------------------------------------------- CLI
def _cli(home: Home, *args: str) -> int:
    try:
        main(["--home", str(home.root), *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_import_exits_1_when_rows_are_rejected(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [HEADER, "u1,i1,view,1700000000,", ",i1,view,1700000000,"]
    path = _write(tmp_path / "e.csv", lines)
    with pytest.raises(SystemExit) as exc:
        main(["--home", str(home.root), "import-events", str(path)])
    assert exc.value.code == 1
    out, err = capsys.readouterr()
    assert "1 stored, 1 rejected" in out
    assert "line 3: missing user_id" in err
    assert "error: 1 of 2 rows were rejected" in err
    with SQLiteStore(home.db_path) as store:
        assert store.count_events() == 1


def test_cli_import_missing_file_exits_2_with_one_line(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(home, "import-events", str(tmp_path / "nope.csv")) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert "does not exist" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_import_clean_file_succeeds(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "e.csv", [HEADER, "u1,i1,view,1700000000,", "u2,i1,click,1700000001,"])
    assert _cli(home, "import-events", str(path)) == 0
    out, err = capsys.readouterr()
    assert "events: read 2 rows, 2 valid, 2 stored, 0 rejected" in out
    assert "error" not in err
    # importing again is still a success; nothing new is stored
    assert _cli(home, "import-events", str(path)) == 0
    assert "0 stored" in capsys.readouterr().out


def test_cli_import_catalog_exits_1_on_rejected_rows(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "c.csv", ["item_id,title,price", "a,A,1", "b,B,-2"])
    assert _cli(home, "import-catalog", str(path)) == 1
    out, err = capsys.readouterr()
    assert "catalog: read 2 rows, 1 valid, 1 stored, 1 rejected" in out
    assert "line 3: negative price -2" in err
