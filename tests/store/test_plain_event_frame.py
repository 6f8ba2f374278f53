"""The HTTP API's fast path for events: ``plain_event_frame`` is ``validate_events``, or abstains.

``plain_event_frame`` checks JSON event records in Python; whenever it returns a frame, that frame
must be exactly what ``records_to_frame`` + ``validate_events`` make of the same records (same
ids, types, sessions, and seconds to the last bit), with no error; anything it is unsure of it
leaves to them (None).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.store.events import event_rows
from recsys.store.importing import (
    FUTURE_TOLERANCE_S,
    MAX_ID_LENGTH,
    MIN_TS,
    PLAIN_EVENT_SCHEMA,
    SMALL_BATCH,
    plain_event_frame,
    plain_event_rows,
    records_to_frame,
    validate_events,
)
from recsys.types import EVENT_TYPES

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HI = NOW + FUTURE_TOLERANCE_S


def full_way(records: list[dict[str, Any]], now: float = NOW) -> tuple[pl.DataFrame, list[Any]]:
    """What the route did before the fast path: the valid frame with ``event_id``, and errors."""
    frame = records_to_frame(records)
    valid, errors = validate_events(frame, now=now)
    ids = frame["event_id"] if "event_id" in frame.columns else None
    if ids is None or errors:
        ids = pl.Series("event_id", [None] * valid.height, dtype=pl.String)
    return valid.with_columns(ids.alias("event_id")), errors


def assert_same(records: list[dict[str, Any]], now: float = NOW) -> pl.DataFrame | None:
    fast = plain_event_frame(records, now=now)
    rows = plain_event_rows(records, now=now)
    if fast is None:
        assert rows is None
        return None
    valid, errors = full_way(records, now)
    assert errors == []
    assert fast.schema == pl.Schema(PLAIN_EVENT_SCHEMA)
    assert fast.rows() == valid.rows()  # floats compared exactly
    assert rows == event_rows(valid)  # what the store writes from the full validation's frame
    return fast


CLEAN_IDS = st.sampled_from(["u1", "k1", "ü-7", "a b", "x" * MAX_ID_LENGTH, "1"])
ODD_IDS = st.one_of(
    st.sampled_from(
        ["", " ", " u1", "u1 ", "\u3000u", "u\x1c", "u\x00", "x" * (MAX_ID_LENGTH + 1)]
    ),
    st.text(max_size=5),
    st.integers(0, 9),
    st.none(),
)
ODD_TYPES = st.sampled_from(["View", " view", "view ", "buy", "", "PURCHASE"]) | st.integers(0, 1)
# seconds, milliseconds and times outside the window, as JSON numbers
NUMBERS = st.one_of(
    st.integers(int(MIN_TS), int(HI)),
    st.floats(MIN_TS, HI),
    st.integers(int(MIN_TS * 1000), int(HI * 1000)),
    st.floats(MIN_TS * 1000, HI * 1000),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([MIN_TS, MIN_TS - 1, HI, HI + 1, MIN_TS * 1000, HI * 1000, 2**53, 2**53 + 1]),
    st.booleans(),
)
TIMES = st.datetimes(datetime(1985, 1, 1), datetime(2030, 1, 1))
ZONES = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
)
ISO_FORMATS = [
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S+02:00",
    "%Y-%m-%dT%H:%M:%S.%f-05:30",
]
ISO = st.builds(lambda t, f: t.strftime(f), TIMES, st.sampled_from(ISO_FORMATS)) | st.builds(
    lambda t, z: t.replace(tzinfo=z).isoformat(), TIMES, ZONES
)
ODD_STRINGS = st.sampled_from(
    [
        *(" 2023-11-14", "2023-11-14 ", "20231114", "1700000000", "1.7e9", "nan", "inf"),
        *("yesterday", "2023-02-30", "2023-11-14T22:13:20.1234567", "2023-11-14T25:00"),
        *("1989-12-31", ""),
    ]
)
TS = NUMBERS | ISO | ODD_STRINGS | st.none()
SESSIONS = st.sampled_from([None, "", "s1", " s", "s ", "\u3000", "s" * MAX_ID_LENGTH, "s" * 257])
EVENT_IDS = st.sampled_from([None, "e1", "e2", "", " e "]) | st.integers(0, 2)


IN_WINDOW = st.one_of(
    st.integers(int(MIN_TS), int(NOW)),
    st.floats(MIN_TS, HI),
    st.integers(int(MIN_TS * 1000), int(HI * 1000)),
    st.floats(MIN_TS * 1000, HI * 1000),
    ISO,
)
ODD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "user_id": ODD_IDS,
    "item_id": ODD_IDS,
    "type": ODD_TYPES,
    "ts": TS,
    "session_id": SESSIONS,
    "event_id": EVENT_IDS,
    "extra": st.just("x"),
    "timestamp": st.just(NOW),
}


@st.composite
def records(draw: st.DrawFn, clean: bool) -> list[dict[str, Any]]:
    """Event records as the route hands them over (``ts`` filled in).

    Plainly valid if ``clean`` (seconds only); else in- and out-of-window times of every kind,
    and up to three odd values (or unknown keys) anywhere in the batch.
    """
    out = []
    for _ in range(draw(st.integers(1, 6))):
        record: dict[str, Any] = {
            "user_id": draw(CLEAN_IDS),
            "item_id": draw(CLEAN_IDS),
            "type": draw(st.sampled_from(EVENT_TYPES)),
            "ts": draw(st.integers(int(MIN_TS), int(NOW)) | st.floats(MIN_TS, HI))
            if clean
            else draw(IN_WINDOW),
        }
        session = draw(st.sampled_from([None, "", "s1", "s 2"]))
        if session is not None or draw(st.booleans()):
            record["session_id"] = session
        event_id = draw(st.sampled_from([None, "e1", "e2", ""]))
        if event_id is not None or draw(st.booleans()):
            record["event_id"] = event_id
        out.append(record)
    for _ in range(0 if clean else draw(st.integers(0, 3))):
        field = draw(st.sampled_from(sorted(ODD_FIELDS)))
        out[draw(st.integers(0, len(out) - 1))][field] = draw(ODD_FIELDS[field])
    return out


@settings(max_examples=400)
@given(rows=records(clean=False))
def test_a_frame_from_the_fast_path_is_the_full_validations(rows: list[dict[str, Any]]) -> None:
    assert_same(rows)


@settings(max_examples=200)
@given(rows=records(clean=True))
def test_plainly_valid_records_take_the_fast_path(rows: list[dict[str, Any]]) -> None:
    assert assert_same(rows) is not None, rows


@settings(max_examples=40)
@given(parts=st.lists(records(clean=True), min_size=SMALL_BATCH // 2, max_size=SMALL_BATCH))
def test_batches_past_a_small_batch_are_the_full_validations(
    parts: list[list[dict[str, Any]]],
) -> None:
    """The frame is built per column past SMALL_BATCH events, per event below: both the same."""
    rows = [record for part in parts for record in part]
    assert assert_same(rows) is not None
    assert assert_same(rows[:SMALL_BATCH]) is not None
    if len(rows) > SMALL_BATCH:
        assert assert_same(rows[: SMALL_BATCH + 1]) is not None


@given(ts=ISO)
def test_iso_times_are_read_as_the_full_validation_reads_them(ts: str) -> None:
    assert_same([{"user_id": "u1", "item_id": "k1", "type": "view", "ts": ts}])


@pytest.mark.parametrize(
    "ts",
    [
        1_681_709_863_610,  # milliseconds: polars' division gives 1681709863.6100001
        1_699_999_000_000,
        NOW,
        NOW + 0.1,
        int(MIN_TS),
        "2023-11-14T22:13:20Z",
        "2023-11-14T23:13:20+01:00",
        "2023-11-14",
    ],
)
def test_typical_times_take_the_fast_path(ts: Any) -> None:
    row = {"user_id": "u1", "item_id": "k1", "type": "click", "ts": ts, "event_id": "e1"}
    fast = assert_same([row, {**row, "session_id": "s1", "event_id": None}])
    assert fast is not None


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": " u1"},  # stripped by the full validation
        {"type": "Click"},  # lower-cased by it
        {"session_id": "s1 "},
        {"ts": "1700000000"},  # a number in a string
        {"ts": HI + 1},  # too late as seconds and as milliseconds: an error
        {"ts": MIN_TS - 1},
        {"ts": float("nan")},
        {"ts": True},
        {"user_id": "u\x00"},
        {"item_id": "x" * (MAX_ID_LENGTH + 1)},
        {"event_id": 7},
        {"timestamp": NOW},
    ],
)
def test_anything_else_is_left_to_the_full_validation(change: dict[str, Any]) -> None:
    row = {"user_id": "u1", "item_id": "k1", "type": "click", "ts": NOW}
    assert plain_event_frame([row, {**row, **change}], now=NOW) is None


def test_whitespace_polars_strips_is_whitespace_to_python() -> None:
    """What ``_unpadded`` relies on: ``str.isspace`` holds for each character polars strips."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    stripped = pl.Series([c + "a" for c in chars]).str.strip_chars().to_list()
    polars_space = {c for c, s in zip(chars, stripped, strict=True) if s == "a"}
    assert polars_space
    assert all(c.isspace() for c in polars_space)


def test_an_empty_batch_is_an_empty_frame() -> None:
    fast = plain_event_frame([], now=NOW)
    assert fast is not None and fast.height == 0
    assert fast.schema == pl.Schema(PLAIN_EVENT_SCHEMA)
    assert plain_event_rows([], now=NOW) == []


def test_reference_time_defaults_to_the_clock() -> None:
    recent = (datetime.now(UTC) - timedelta(minutes=1)).timestamp()
    row = {"user_id": "u1", "item_id": "k1", "type": "view", "ts": recent}
    fast = plain_event_frame([row])
    assert fast is not None and fast["ts"].to_list() == [recent]
