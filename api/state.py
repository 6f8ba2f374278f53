"""What the routes share: the config, the recommendation service, metrics and the pitch writer.

One :class:`ApiState` per app, stored as ``app.extensions["recsys"]`` by the factory
(:func:`api.app.create_app`); routes reach it with :func:`state`, the lean request path
(:mod:`api.fastpath`) holds it directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from flask import current_app

from api.config import ApiConfig
from api.metrics import Metrics
from recsys.service import RecommendationService
from recsys.types import RecommendedItem, UserEvent

log = logging.getLogger(__name__)

EXTENSION = "recsys"  # the key of the app's ApiState in ``app.extensions``


class PitchText(Protocol):
    """One pitch as the API shows it (``recsys.pitch.writer.Pitch`` is one)."""

    @property
    def text(self) -> str:
        """The pitch sentences."""
        ...

    @property
    def source(self) -> str:
        """Who wrote it: ``llm``, ``template`` or ``cache``."""
        ...


class PitchSource(Protocol):
    """What ``?pitch=true`` needs (``recsys.pitch.serving.PitchProvider``; tests inject fakes)."""

    def pitches_for(
        self,
        user_id: str,
        history: Sequence[UserEvent],
        items: Sequence[RecommendedItem],
        wait_ms: int = 0,
        language: str | None = None,
    ) -> Sequence[PitchText]:
        """One pitch per item, in the items' order, within ``wait_ms`` milliseconds.

        ``language``: the one the request asked for (``?lang=``; None: the shop's).
        """
        ...


class ApiState:
    """Everything the routes share, stored as ``app.extensions["recsys"]``.

    Args:
        config: the API configuration.
        service: the recommendation service the routes call.
        pitch_provider: the pitch writer to use (default: ``PitchProvider`` on first use).
    """

    def __init__(
        self,
        config: ApiConfig,
        service: RecommendationService,
        pitch_provider: PitchSource | None = None,
    ) -> None:
        self.config = config
        self.service = service
        self.metrics = Metrics()
        self._pitch_provider = pitch_provider
        self._pitch_lock = threading.Lock()
        self._pitch_checked = pitch_provider is not None
        service.on_erasures(self.forget_erased_pitches)

    def pitch_provider(self) -> PitchSource | None:
        """The pitch provider: the injected one, else ``recsys.pitch.serving.PitchProvider``.

        Built on first use (it may load a language model); None when the module is missing.
        """
        with self._pitch_lock:
            if not self._pitch_checked:
                self._pitch_checked = True
                try:
                    from recsys.pitch.serving import PitchProvider
                except ImportError:
                    log.warning("recsys.pitch.serving is not available: ?pitch=true disabled")
                else:
                    self._pitch_provider = PitchProvider(self.service.home, self.config.pitch)
            return self._pitch_provider

    def forget_erased_pitches(self, tombstones: dict[str, float]) -> None:
        """Delete this host's cached pitches of shoppers erased anywhere (a watcher callback).

        Erasing through one API host deletes that host's cached pitches at once; the other hosts
        learn of the erasure from the shared store's tombstones at their next poll and delete
        theirs here, with or without a pitch provider built yet.
        """
        provider = self._pitch_provider
        forget = getattr(provider, "forget_erased", None)
        if callable(forget):
            forget(tombstones)
            return
        from recsys.pitch.cache import PitchCache
        from recsys.pitch.serving import forget_erased, pitch_cache_path

        path = pitch_cache_path(self.service.home)
        if path.is_file():
            cache = PitchCache(path)
            try:
                forget_erased(cache, self.service.store, tombstones)
            finally:
                cache.close()

    def close(self) -> None:
        """Stop the watcher, close the pitch provider and the store."""
        close = getattr(self._pitch_provider, "close", None)
        if callable(close):
            close()
        self.service.close()


def state() -> ApiState:
    """The current app's :class:`ApiState` (inside a request or app context)."""
    api: ApiState = current_app.extensions[EXTENSION]
    return api
