"""The exposure log: answers queued by requests, written in batches, kept through an outage."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pytest

from recsys.errors import StoreUnavailableError
from recsys.service import exposures as module
from recsys.service.exposures import ExposureLog
from recsys.types import Exposure


class FakeStore:
    """Records each write; fails while ``down``."""

    def __init__(self) -> None:
        self.batches: list[list[Exposure]] = []
        self.down = False

    def add_exposures(self, rows: Sequence[Exposure]) -> int:
        if self.down:
            raise StoreUnavailableError("the store is down")
        self.batches.append(list(rows))
        return len(rows)


def _exposure(i: int) -> Exposure:
    return Exposure(f"r{i}", "exp", "a", f"u{i}", float(i), ("x",))


def _log(store: FakeStore, **kwargs: Any) -> ExposureLog:
    return ExposureLog(lambda: store, flush_s=3600, **kwargs)  # type: ignore[arg-type,return-value]


def test_queued_answers_are_written_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "WRITE_CHUNK", 3)
    store = FakeStore()
    log = _log(store)
    for i in range(7):
        log.record(_exposure(i))
    assert log.pending == 7
    assert log.flush() == 7
    assert [len(b) for b in store.batches] == [3, 3, 1]
    assert [e.recommendation_id for b in store.batches for e in b] == [f"r{i}" for i in range(7)]
    assert log.written == 7 and log.pending == 0
    log.close()


def test_an_outage_keeps_answers_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "WRITE_CHUNK", 2)
    store = FakeStore()
    log = _log(store, max_pending=5)
    for i in range(4):
        log.record(_exposure(i))
    store.down = True
    assert log.flush() == 0 and log.pending == 4  # kept for the next try
    for i in range(4, 8):
        log.record(_exposure(i))
    assert log.pending == 5 and log.dropped == 3  # new answers past the bound are dropped
    store.down = False
    assert log.flush() == 5
    assert [e.recommendation_id for b in store.batches for e in b] == [
        "r0",
        "r1",
        "r2",
        "r3",
        "r4",
    ]
    log.close()


def test_a_failure_mid_batch_keeps_only_the_unwritten_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "WRITE_CHUNK", 2)
    store = FakeStore()
    writes = 0
    real = store.add_exposures

    def second_write_fails(rows: Sequence[Exposure]) -> int:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise StoreUnavailableError("down for a moment")
        return real(rows)

    store.add_exposures = second_write_fails  # type: ignore[method-assign]
    log = _log(store)
    for i in range(5):
        log.record(_exposure(i))
    assert log.flush() == 2 and log.pending == 3  # r0, r1 written; r2..r4 kept
    assert log.flush() == 3
    assert [e.recommendation_id for b in store.batches for e in b] == [f"r{i}" for i in range(5)]
    log.close()


def test_close_writes_what_is_left_and_a_forked_child_starts_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeStore()
    log = _log(store)
    log.record(_exposure(1))
    assert log._thread is not None  # started on first use
    log.close()
    assert store.batches == [[_exposure(1)]]
    # what a parent queued before a fork is the parent's to write, not the child's
    log.record(_exposure(2))
    monkeypatch.setattr(os, "getpid", lambda: -1)
    log.record(_exposure(3))
    assert log.pending == 1 and log._pid == -1
    log.close()
    assert store.batches[-1] == [_exposure(3)]


def test_answers_recorded_while_a_flush_runs_are_written_once() -> None:
    """Requests append without a lock: none is lost or written twice by a concurrent flush."""
    import threading

    store = FakeStore()
    log = _log(store)
    per_thread, threads = 5_000, 4
    go = threading.Barrier(threads + 1)

    def requests(t: int) -> None:
        go.wait()
        for i in range(per_thread):
            log.record(_exposure(t * per_thread + i))

    workers = [threading.Thread(target=requests, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    go.wait()
    flushes = 0
    while any(w.is_alive() for w in workers):
        log.flush()
        flushes += 1
    for w in workers:
        w.join()
    log.close()
    written = [e.recommendation_id for b in store.batches for e in b]
    assert sorted(written) == sorted(f"r{i}" for i in range(threads * per_thread))
    assert log.written == threads * per_thread and log.pending == 0 and log.dropped == 0
    assert flushes > 1 and len(store.batches) > 1  # the flushes did overlap the requests
