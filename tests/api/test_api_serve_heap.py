"""``recsys serve``'s workers keep their long-lived objects out of the garbage collector's sight."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from api.serve import settle_heap, worker_app
from recsys.home import Home


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Leave the test process's collector as it found it (nothing frozen)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Node:
    ref: object = None


def test_settle_heap_freezes_what_lives_and_frees_frozen_cycles_at_the_next_settle(
    unfrozen: None,
) -> None:
    kept = _Node()
    kept.ref = kept  # a reference cycle, alive
    settle_heap()
    assert gc.get_freeze_count() > 0
    gone = weakref.ref(kept)
    del kept  # now cyclic garbage, but frozen: no collection sees it
    gc.collect()
    assert gone() is not None
    settle_heap()  # unfreezes and collects before freezing again
    assert gone() is None


def test_a_worker_app_settles_its_heap_now_and_at_each_bundle_load(
    api_home: Home, unfrozen: None
) -> None:
    app = worker_app({"home": str(api_home.root)}, None)
    try:
        service = app.extensions["recsys"].service
        assert service.loaded  # create_app loaded the published bundle
        assert gc.get_freeze_count() > 0  # ... and the worker froze it with the rest
        assert settle_heap in service._state.load_listeners
        gc.unfreeze()
        for listener in service._state.load_listeners:  # as a swap calls them
            listener(service.snapshot)
        assert gc.get_freeze_count() > 0
    finally:
        app.extensions["recsys"].close()
