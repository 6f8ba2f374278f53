"""Items similar to an item: by behavior (cosine of item factors), by text, or both blended.

Two ways to the same answer. Live (:func:`similar_items`): gather the item's nearest items by
behavior and by text, standardize and blend their scores, select. Precomputed
(:func:`rank_similar_lists`, at training): the same stages for every item and mode with no
request filters, keeping the head of each order in :class:`~recsys.precomputed.SimilarLists`;
:func:`answer_from_similar` then cuts a request's answer from the stored head the way
:func:`recsys.serving.ranked.answer_from_list` cuts a user's (same terms: no category filter,
the trained stock rule, ``n <= candidates / 4``; items out of stock now or excluded by the request
are skipped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.config import HybridConfig
from recsys.errors import InvalidInputError, UnknownItemError
from recsys.lang import ShopLanguage, bundle_language
from recsys.models.base import is_factor_model, top_n, unique_ints
from recsys.precomputed import SimilarLists
from recsys.serving import select as sel
from recsys.serving.blend import Contributions, blend
from recsys.serving.phrases import phrase
from recsys.serving.ranked import serves_ranked, walk_list
from recsys.serving.sources import REASON_NAMES, reason_code
from recsys.serving.sources.behavior import unit
from recsys.types import (
    SIMILAR_MODES,
    Filters,
    RankedList,
    Reason,
    Recommendations,
    RecommendedItem,
    SimilarMode,
    Strategy,
)

if TYPE_CHECKING:
    from recsys.bundle import Bundle

Floor = Callable[[str], float]
IntArray = npt.NDArray[np.int64]


def behavior_cosine(bundle: Bundle, item_idx: int, cand: IntArray) -> npt.NDArray[np.float32]:
    """Behavior similarity of ``item_idx`` to the candidates only (not the whole catalog).

    Factor models: cosine of the factors (what ``item_similarities`` computes, restricted to
    ``cand``); items without factors (appended after training) get ``-inf``. Other models fall
    back to their similarity row.
    """
    vectors = bundle.behavior.item_vectors
    if vectors is None:
        row = bundle.behavior.item_similarities(np.asarray([item_idx]))[0]
        return np.asarray(row[cand], dtype=np.float32)
    out = np.full(cand.size, -np.inf, dtype=np.float32)
    inside = cand < vectors.shape[0]
    v = vectors[cand[inside]]
    unit_v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    out[inside] = unit_v @ unit(vectors[item_idx])
    return out


@dataclass(frozen=True)
class _Plan:
    """Which sources a mode uses for one item, and their weights."""

    weights: dict[str, float]

    @property
    def strategy(self) -> Strategy:
        return "hybrid" if "behavior" in self.weights else "content"


def _plan(bundle: Bundle, config: HybridConfig, idx: int, mode: str) -> _Plan:
    b, c = bundle, config
    weights: dict[str, float] = {}
    if mode in ("hybrid", "behavior") and bool(b.behavior.known_items[idx]):
        weights["behavior"] = c.content_behavior_weight if mode == "hybrid" else 1.0
    if mode in ("hybrid", "content") and b.text_index is not None and bool(b.text_mask[idx]):
        weights["text"] = c.content_text_weight if mode == "hybrid" else 1.0
    return _Plan(weights)


def _check(bundle: Bundle, item_id: str, n: int, mode: str) -> tuple[int, int]:
    n = sel.check_n(n)
    if mode not in SIMILAR_MODES:
        raise InvalidInputError(f"mode={mode!r} is not allowed: must be one of {SIMILAR_MODES}")
    idx = bundle.items.index(item_id)
    if idx < 0:
        raise UnknownItemError(item_id)
    return idx, n


def _scored(
    bundle: Bundle,
    floor: Floor,
    idx: int,
    found: dict[str, IntArray],
    weights: dict[str, float],
    allowed: npt.NDArray[np.bool_],
) -> tuple[IntArray, npt.NDArray[np.float64], Contributions] | None:
    """The allowed candidates and their blended scores (None: no candidate is allowed)."""
    b = bundle
    cand = unique_ints(np.concatenate([*found.values(), np.empty(0, np.int64)]))
    cand = cand[allowed[cand]]
    if cand.size == 0:
        return None
    scores: dict[str, npt.NDArray[np.float32]] = {}
    if "behavior" in found:
        sims = behavior_cosine(b, idx, cand)
        scores["behavior"] = np.where(b.behavior.known_items[cand], sims, -np.inf).astype(
            np.float32
        )
    if "text" in found:
        assert b.text_vectors is not None
        tv = (b.text_vectors[cand] @ b.text_vectors[idx]).astype(np.float32)
        scores["text"] = np.where(b.text_mask[cand], tv, -np.inf).astype(np.float32)
    blended, contrib = blend(scores, weights, floor)
    return cand, blended, contrib


def _top_source(contrib: Contributions, pos: int) -> str:
    return max(contrib, key=lambda s: contrib[s][pos]) if contrib else "text"


def similar_items(
    bundle: Bundle,
    config: HybridConfig,
    floor: Floor,
    item_id: str,
    n: int,
    mode: SimilarMode,
    filters: Filters,
    language: ShopLanguage | None = None,
) -> Recommendations:
    """Items similar to ``item_id``, ranked live; see ``HybridRecommender.similar``.

    ``language``: of the reasons' text (None: the catalog's, ``recsys.lang.bundle_language``).
    """
    b, c = bundle, config
    idx, n = _check(b, item_id, n, mode)
    plan = _plan(b, c, idx, mode)
    k = max(c.candidates, 4 * n)
    found: dict[str, IntArray] = {}
    if "behavior" in plan.weights:
        found["behavior"] = next(behavior_neighbours(b, np.asarray([idx]), k))
    if "text" in plan.weights:
        assert b.text_vectors is not None and b.text_index is not None
        found["text"] = b.text_index.search(b.text_vectors[idx], k + 1)[0]
    allowed = sel.allowed_mask(b, c, filters, exclude_idx=np.asarray([idx]))
    scored = _scored(b, floor, idx, found, plan.weights, allowed)
    if scored is None:
        return Recommendations(plan.strategy, [], b.version)
    cand, blended, contrib = scored
    chosen = sel.select(b, c, cand, blended, n)
    reason = _reasons(b, idx, item_id, language)
    items = [
        RecommendedItem(
            b.items.id(int(cand[p])), float(blended[p]), reason(_top_source(contrib, p))
        )
        for p in chosen
    ]
    return Recommendations(plan.strategy, items, b.version)


def _reasons(
    bundle: Bundle, idx: int, item_id: str, language: ShopLanguage | None
) -> Callable[[str], Reason]:
    lang = language or bundle_language(bundle.manifest)
    text = phrase(lang, "similar_to", title=bundle.item_table.title(idx))
    return lambda source: Reason("similar", source, (item_id,), text)


def answer_from_similar(
    bundle: Bundle,
    config: HybridConfig,
    lists: SimilarLists,
    item_id: str,
    n: int,
    mode: SimilarMode,
    filters: Filters,
    language: ShopLanguage | None = None,
) -> Recommendations | None:
    """Answer a similar-items request from the precomputed :class:`SimilarLists`.

    ``language``: of the reasons' text (None: the catalog's), as in :func:`similar_items`.

    Returns:
        The answer :func:`similar_items` gives for an unchanged catalog, or None when the lists
        cannot answer (a category filter, another stock rule, ``n > candidates / 4``, no stored
        row, or fewer than ``n`` usable items): rank it live then.

    Raises:
        UnknownItemError, InvalidInputError: as :func:`similar_items`.
    """
    idx, n = _check(bundle, item_id, n, mode)
    if not serves_ranked(config, n, filters):
        return None
    ranked = lists.get(mode, idx)
    if ranked is None:
        return None
    chosen = walk_list(bundle, config, ranked, n, filters)
    if chosen is None:
        return None
    reason = _reasons(bundle, idx, item_id, language)
    ids = bundle.items.ids(ranked.items[chosen])
    scores, codes_ = ranked.scores[chosen].tolist(), ranked.sources[chosen].tolist()
    items = [
        RecommendedItem(i, s, reason(REASON_NAMES[r]))
        for i, s, r in zip(ids, scores, codes_, strict=True)
    ]
    return Recommendations(_plan(bundle, config, idx, mode).strategy, items, bundle.version)


# ---------------------------------------------------------------------------- precomputing
def behavior_neighbours(bundle: Bundle, batch: IntArray, k: int) -> Iterator[IntArray]:
    """Per item of ``batch``, its ``k`` nearest items by behavior (``behavior.similar_items``).

    Factor models: one matrix product for the batch. A batch of one is computed as a batch of
    two: BLAS computes a one-row product with another kernel (matrix-vector), whose rounding
    differs in the last bit, which reorders exact ties (items with the same factors) and so
    would make a live answer differ from the precomputed one.
    """
    model = bundle.behavior
    known = model.known_items
    if not is_factor_model(model) or model.item_vectors is None:
        for idx in batch:
            yield model.similar_items(int(idx), k)[0] if known[idx] else np.empty(0, np.int64)
        return
    rows = np.concatenate([batch, batch[:1]]) if batch.size == 1 else batch
    sims = model.item_similarities(rows)[: batch.size]
    sims[:, ~known] = -np.inf
    sims[np.arange(batch.size), batch] = -np.inf
    for row, idx in zip(sims, batch, strict=True):
        yield top_n(row, k) if known[idx] else np.empty(0, np.int64)


def rank_similar_lists(
    bundle: Bundle, config: HybridConfig, floor: Floor, depth: int, show_progress: bool = False
) -> SimilarLists:
    """Every item's similar items in every mode, as :func:`similar_items` ranks them unfiltered.

    The head (``depth`` items) of each order a request with ``n = 1`` and no filters picks from;
    :func:`answer_from_similar` answers ``n <= candidates / 4`` from it. Behavior neighbours
    come from one matrix product per batch of items, text ones from the text index.

    Args:
        bundle: the trained bundle.
        config: blend settings (the bundle's).
        floor: the spread floor per source (``HybridRecommender.spread_floor``).
        depth: items kept per item and mode.
        show_progress: progress bar over items.
    """
    from tqdm.auto import tqdm

    b, c = bundle, config
    n_items, modes = len(b.items), SIMILAR_MODES
    items = np.full((len(modes), n_items, depth), -1, dtype=np.int32)
    scores = np.zeros((len(modes), n_items, depth), dtype=np.float32)
    codes = np.zeros((len(modes), n_items, depth), dtype=np.int8)
    k = max(c.candidates, 4)
    allowed = sel.allowed_mask(b, c, Filters(), exclude_idx=np.empty(0, np.int64))
    batch_size = 256
    bar = tqdm(total=n_items, desc="similar items", unit="item", disable=not show_progress)
    for start in range(0, n_items, batch_size):
        batch = np.arange(start, min(start + batch_size, n_items), dtype=np.int64)
        for idx, behavior in zip(batch, behavior_neighbours(b, batch, k), strict=True):
            i = int(idx)
            text = None
            if b.text_index is not None and b.text_vectors is not None and b.text_mask[i]:
                text = b.text_index.search(b.text_vectors[i], k + 1)[0]
            was = bool(allowed[i])
            allowed[i] = False
            for m, mode in enumerate(modes):
                plan = _plan(b, c, i, mode)
                found = {}
                if "behavior" in plan.weights:
                    found["behavior"] = behavior
                if "text" in plan.weights and text is not None:
                    found["text"] = text
                scored = _scored(b, floor, i, found, plan.weights, allowed)
                if scored is None:
                    continue
                cand, blended, contrib = scored
                order = sel.order(b, cand, blended, min(depth, cand.size))[:depth]
                items[m, i, : len(order)] = cand[order]
                scores[m, i, : len(order)] = blended[order]
                codes[m, i, : len(order)] = [reason_code(_top_source(contrib, p)) for p in order]
            allowed[i] = was
        bar.update(batch.size)
    bar.close()
    return SimilarLists(modes=tuple(modes), items=items, scores=scores, sources=codes)


__all__ = [
    "RankedList",
    "answer_from_similar",
    "behavior_cosine",
    "behavior_neighbours",
    "rank_similar_lists",
    "similar_items",
]
