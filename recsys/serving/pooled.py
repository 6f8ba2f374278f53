"""A browsing shopper's pooled answer in one compiled pass: the stages of a pooled request, fused.

A shopper with a precomputed list and events since training is ranked live over a small pool
(:mod:`recsys.serving.pool`). Through the general stages that request builds a
:class:`~recsys.serving.query.Query` (a mask over the whole catalog of what may be returned, a
memo of values shared between stages), runs each source's ``prepare`` and ``score``, blends,
selects and explains: some forty numpy calls and Python loops for a pool of a few hundred
items. Each is cheap alone, but together they touched enough code and memory that each ran two
to four times slower inside a request than called alone in a loop (benchmarks/README.md, "Issue 20,
seventh pass"). :meth:`FusedRanker.answer` computes the same answer in one compiled call
(:func:`recsys.serving.pool_kernel.rank_pool`); ``HybridRecommender.recommend_pooled`` asks it
first.

It answers only requests whose answer it reproduces, and returns None for the rest (the
caller ranks them through the stages):

- the ``hybrid`` strategy with the ALS model (``behavior.engine = "als"`` without Spark's
  per-item ridge): the trained vector, and the fold-in of the newest events;
- bare reasons (no ``explain``), no request filters and no diversity cap;
- the built-in sources only, with repeat purchases and trending taking no part (the repeat
  source is off whenever bought items are excluded, the default; trending is off by default);
- the cases :mod:`~recsys.serving.pool_kernel` reports back (a narrow catalog, candidates
  added after training, tied scores, ...).

Its answer equals the stages': the same items in the same order with the same reasons, and
scores equal to float rounding (a few 1e-6: the kernel sums dot products in another order).
Wherever two neighbouring scores in the answer or at its edge are within ``NEAR`` (1e-5) of
each other, the rounding could swap them, so the stages answer (and break exact ties by item
id).
``tests/serving/test_pooled.py`` compares the two on many requests.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recsys.config import HybridConfig
from recsys.matrix import decay_rate
from recsys.models.implicit_models import FEW_ITEMS, ALSModel
from recsys.precomputed import SimilarLists
from recsys.serving.query import csr_row, owning_types
from recsys.types import (
    EVENT_TYPES,
    Filters,
    RankedList,
    Reason,
    Recommendations,
    RecommendedItem,
    UserEvent,
)

if TYPE_CHECKING:
    from recsys.bundle import Bundle
    from recsys.serving.sources import CandidateSource

# the sources a fused answer computes itself: when others are registered, it is not used
FUSED_SOURCES = frozenset({"popularity", "behavior", "recent", "text", "repeat", "trending"})
SOURCE_ORDER = ("popularity", "behavior", "recent", "text")  # blend order: pool_kernel.SOURCES
_COMPILE = threading.Lock()
_READY = threading.Event()
_STARTED = 0  # the process that started compiling
log = logging.getLogger(__name__)


def unfiltered(filters: Filters) -> bool:
    """Whether ``filters`` asks for nothing (the only filters a fused answer applies)."""
    return filters.category is None and not filters.exclude and filters.in_stock_only is None


class FusedRanker:
    """Fused pooled answers for one recommender: what every answer reads, gathered once.

    Args:
        bundle: the recommender's bundle.
        config: its blend settings.
        sources: its candidate sources, by name.
        pop_order: every item, most popular first (the popularity source's order).
        spread_floor: the smallest spread each source is standardized with.
        bare_reasons: the bare reason of each source, by name.

    Attributes:
        fuses: whether the sources, model and settings allow fused answers at all (False:
            :meth:`answer` always returns None).
    """

    def __init__(
        self,
        bundle: Bundle,
        config: HybridConfig,
        sources: Mapping[str, CandidateSource],
        pop_order: npt.NDArray[np.int64],
        spread_floor: Callable[[str], float],
        bare_reasons: Mapping[str, Reason],
    ) -> None:
        self.bundle, self.config, self.bare_reasons = bundle, config, bare_reasons
        c, b = config, bundle
        model = b.behavior
        trending = sources.get("trending")
        self.fuses = bool(
            set(sources) == FUSED_SOURCES
            and (c.exclude_purchased or c.repeat_weight <= 0)
            and (getattr(trending, "trend", None) is None or c.trending_weight <= 0)
            and c.max_category_share is None
            and type(model) is ALSModel  # a subclass may fold in otherwise
            and model.ridge_per_item is None
            and model.item_vectors is not None
        )
        self.plan: dict[str, Any] = {}
        self._stock: tuple[npt.NDArray[np.bool_], int] | None = None
        self._similar: tuple[SimilarLists, int, npt.NDArray[np.int32]] | None = None
        self._scratch = threading.local()  # each thread's marks (pool_kernel.rank_pool)
        if not self.fuses or not isinstance(model, ALSModel):
            return
        mc = b.config.matrix
        text_vectors, text_mask = b.text_vectors, b.text_mask
        if text_vectors is None:  # no text: the text source takes part in no answer
            text_vectors, text_mask = np.zeros((1, 1), np.float32), np.zeros(1, np.bool_)
        weights_by_type = {t: mc.weight(t) for t in EVENT_TYPES}
        self.plan = {
            "owning": owning_types(mc, c),
            "codes": {t: j for j, t in enumerate(EVENT_TYPES)},
            "type_weights": np.array([weights_by_type[t] for t in EVENT_TYPES], np.float64),
            "purchase": EVENT_TYPES.index("purchase"),
            "no_items": np.empty(0, np.int64),
            "rate": 0.0 if mc.half_life_days is None else decay_rate(mc.half_life_days),
            "pop_order": np.ascontiguousarray(pop_order, dtype=np.int64),
            "vectors": np.ascontiguousarray(model.item_vectors, dtype=np.float32),
            "known": np.ascontiguousarray(model.known_items, dtype=np.bool_),
            "gram_inv": np.ascontiguousarray(model.gram_inverse(), dtype=np.float64),
            "offset": np.float32(model.confidence_offset),
            "alpha": np.float32(model.config.alpha),
            "text_vectors": np.ascontiguousarray(text_vectors, dtype=np.float32),
            "text_mask": np.ascontiguousarray(text_mask, dtype=np.bool_),
            "use_text": b.text_index is not None and b.text_vectors is not None,
            "popularity": np.ascontiguousarray(b.popularity, dtype=np.float32),
            "weights": np.array(
                [c.popularity_weight, c.behavior_weight, c.recent_weight, c.text_weight],
                dtype=np.float64,
            ),
            "floors": np.array([spread_floor(s) for s in SOURCE_ORDER], dtype=np.float64),
            "no_stock": np.ones(0, dtype=np.bool_),
            "empty_row": csr_row(np.empty(0, np.float32), np.empty(0, np.int32), len(b.items)),
            "model": model,
        }

    def answer(
        self,
        user_idx: int,
        history: Sequence[UserEvent],
        n: int,
        item_types: Sequence[tuple[str, str]] | None,
        ranked: RankedList,
        similar: SimilarLists,
        newest_items: int,
        owned: npt.NDArray[np.int64] | None,
    ) -> Recommendations | None:
        """The ``hybrid`` answer over the user's pool with bare reasons, or None when not fused.

        Args:
            user_idx: the user's row in the trained model (the ``hybrid`` strategy's).
            history: the user's events, newest first.
            n: items asked for (checked).
            item_types: the ``(item_id, type)`` pairs the owned-items rules also cover.
            ranked: the user's precomputed list; with ``similar`` and ``newest_items``, the pool
                (``recsys.serving.pool.user_pool``).
            similar: the precomputed similar items.
            newest_items: how many of the newest distinct items bring their similar items.
            owned: item indices also excluded (the user's training row).

        Returns:
            What ``HybridRecommender.recommend_user(..., explain=False, pool=user_pool(...,
            config.live_pool_similar), owned=owned)`` returns for the request (to float
            rounding), or None when this request needs the general stages.
        """
        plan = self.plan
        if not self.fuses or "hybrid" not in similar.modes or not kernel_ready():
            return None
        kernel = _kernel()
        b, c = self.bundle, self.config
        n_ev = len(history)
        if n_ev:
            item_ids, kinds, times = zip(*history, strict=False)
        else:
            item_ids = kinds = times = ()
        codes = plan["codes"]
        if not codes.keys() >= set(kinds):
            return None  # a type the config gives no weight to (not an event type)
        ev_idx = b.items.indices(item_ids)
        ev_code = np.fromiter(map(codes.__getitem__, kinds), np.int64, n_ev)
        ev_ts = np.fromiter(times, np.float64, n_ev)
        seen, bought = c.exclude_seen, c.exclude_purchased
        extra_owned = owned_row = plan["no_items"]
        if item_types and (seen or bought):  # -1 for an item the bundle does not know
            owning = plan["owning"]
            extra_owned = b.items.indices([item for item, kind in item_types if kind in owning])
        if owned is not None and owned.size and (seen or bought):
            owned_row = np.ascontiguousarray(owned, dtype=np.int64)
        stock = b.item_table.in_stock
        use_stock = bool(c.in_stock_only)
        status, chosen, scores, tops = kernel.rank_pool(
            n,
            max(c.candidates, 4 * n),
            ev_idx,
            ev_code,
            ev_ts,
            plan["type_weights"],
            plan["purchase"],
            plan["rate"],
            c.recent_events,
            c.recent_items,
            extra_owned,
            owned_row,
            seen,
            bought,
            np.ascontiguousarray(ranked.items, dtype=np.int32),
            self._similar_rows(similar, c.live_pool_similar),
            newest_items,
            plan["pop_order"],
            stock if use_stock else plan["no_stock"],
            use_stock,
            self._count(stock) if use_stock else 0,
            len(b.items),
            plan["vectors"],
            plan["known"],
            plan["model"].user_vector(user_idx, plan["empty_row"]),  # the trained row
            c.recent_weight > 0,
            plan["gram_inv"],
            plan["offset"],
            plan["alpha"],
            FEW_ITEMS,
            plan["text_vectors"],
            plan["text_mask"],
            plan["use_text"],
            plan["popularity"],
            plan["weights"],
            plan["floors"],
            self._marks(len(b.items)),
        )
        if status != kernel.OK:
            return None
        named = self.bare_reasons
        reasons = [named[kernel.SOURCES[t]] for t in tops.tolist()]
        ids = b.items.ids(chosen)
        items = [
            RecommendedItem(i, s, r) for i, s, r in zip(ids, scores.tolist(), reasons, strict=True)
        ]
        return Recommendations("hybrid", items, b.version)

    def _similar_rows(self, similar: SimilarLists, count: int) -> npt.NDArray[np.int32]:
        """The first ``count`` columns of ``similar``'s ``hybrid`` table, remembered per table.

        A contiguous copy: each item's row is the part of its list the pool takes
        (``live_pool_similar``), so a pool's rows are read whole and nothing else is.
        """
        held = self._similar
        if held is None or held[0] is not similar or held[1] != count:
            mode = similar.modes.index("hybrid")
            rows = np.ascontiguousarray(similar.items[mode][:, :count], dtype=np.int32)
            held = self._similar = (similar, count, rows)
        return held[2]

    def _marks(self, n_items: int) -> npt.NDArray[np.int64]:
        """This thread's marks for ``n_items`` items (``pool_kernel.rank_pool``'s ``mark``)."""
        marks: npt.NDArray[np.int64] | None = getattr(self._scratch, "marks", None)
        if marks is None or marks.size != n_items + 1:  # first call, or the catalog grew
            marks = self._scratch.marks = np.zeros(n_items + 1, np.int64)
        return marks

    def _count(self, mask: npt.NDArray[np.bool_]) -> int:
        """``count_nonzero(mask)``, remembered per array (a bundle's stock does not change)."""
        if self._stock is None or self._stock[0] is not mask:
            self._stock = (mask, int(np.count_nonzero(mask)))
        return self._stock[1]


@functools.cache
def _kernel() -> Any:
    """:mod:`recsys.serving.pool_kernel`, imported once, on first use (it imports numba)."""
    from recsys.serving import pool_kernel

    return pool_kernel


def kernel_ready() -> bool:
    """Whether the compiled kernel can answer; the first call starts compiling it.

    Compiling takes about 13 s of CPU on a machine where numba has no cached copy (then well
    under a second: numba keeps it on disk), so it runs in a thread of its own, started once
    per process; until it is done, pooled answers go through the stages, which give the same
    answers. A server starts it at boot (``warm_up``).
    """
    if _READY.is_set():
        return True
    warm_up()
    return False


def warm_up() -> None:
    """Start compiling the kernel in a background thread (once per process)."""
    global _STARTED
    with _COMPILE:
        if os.getpid() == _STARTED:  # a process forked while compiling starts again
            return
        _STARTED = os.getpid()
    threading.Thread(target=_compile_quietly, name="recsys-pool-kernel", daemon=True).start()


def _compile_quietly() -> None:
    try:
        compile_kernel()
    except Exception:  # the stages keep answering: slower, not wrong
        log.warning("the pooled answers' kernel did not compile; the stages answer", exc_info=True)


def compile_kernel() -> None:
    """Compile (or load from numba's cache) the kernel, for the types a request passes it.

    Blocks until done (seconds on a machine without a cached copy); :func:`warm_up` runs it
    in a thread. Pooled answers use the kernel from then on.
    """
    from recsys.serving import pool_kernel as kernel

    none = np.empty(0, np.int64)
    known = np.ones(4, np.bool_)
    # the same argument types as FusedRanker.answer passes (numba compiles one version per types)
    kernel.rank_pool(
        1, 1, np.array([0], np.int64), np.array([0], np.int64), np.array([0.0]),
        np.ones(len(EVENT_TYPES)), 3, 0.0, 1, 1, none, none, True, True,
        np.array([1], np.int32), np.full((4, 1), -1, np.int32), 1,
        np.arange(4, dtype=np.int64), known, True, 4, 4,
        np.zeros((4, 2), np.float32), known, np.zeros(2, np.float32), True, np.eye(2),
        np.float32(1.0), np.float32(1.0), FEW_ITEMS, np.zeros((4, 3), np.float32), known, True,
        np.zeros(4, np.float32), np.ones(4), np.zeros(4), np.zeros(5, np.int64),
    )  # fmt: skip
    _READY.set()
