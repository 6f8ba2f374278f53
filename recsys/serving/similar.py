"""Items similar to an item: by behavior (cosine of item factors), by text, or both blended."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.config import HybridConfig
from recsys.errors import InvalidInputError, UnknownItemError
from recsys.serving.blend import blend
from recsys.serving.select import allowed_mask, check_n, select
from recsys.serving.sources.behavior import unit
from recsys.types import (
    SIMILAR_MODES,
    Filters,
    Reason,
    Recommendations,
    RecommendedItem,
    SimilarMode,
    Strategy,
)

if TYPE_CHECKING:
    from recsys.bundle import Bundle


def behavior_cosine(
    bundle: Bundle, item_idx: int, cand: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
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


def similar_items(
    bundle: Bundle,
    config: HybridConfig,
    floor: Callable[[str], float],
    item_id: str,
    n: int,
    mode: SimilarMode,
    filters: Filters,
) -> Recommendations:
    """Items similar to ``item_id``; see ``HybridRecommender.similar``."""
    n = check_n(n)
    if mode not in SIMILAR_MODES:
        raise InvalidInputError(f"mode={mode!r} is not allowed: must be one of {SIMILAR_MODES}")
    b, c = bundle, config
    idx = b.items.index(item_id)
    if idx < 0:
        raise UnknownItemError(item_id)
    k = max(c.candidates, 4 * n)
    found: dict[str, npt.NDArray[np.int64]] = {}
    weights: dict[str, float] = {}
    use_behavior = mode in ("hybrid", "behavior") and bool(b.behavior.known_items[idx])
    use_text = mode in ("hybrid", "content") and b.text_index is not None and bool(b.text_mask[idx])
    if use_behavior:
        found["behavior"] = b.behavior.similar_items(idx, k)[0]
        weights["behavior"] = c.content_behavior_weight if mode == "hybrid" else 1.0
    if use_text:
        assert b.text_vectors is not None and b.text_index is not None
        found["text"] = b.text_index.search(b.text_vectors[idx], k + 1)[0]
        weights["text"] = c.content_text_weight if mode == "hybrid" else 1.0
    allowed = allowed_mask(b, c, filters, exclude_idx=np.asarray([idx]))
    cand = np.unique(np.concatenate([*found.values(), np.empty(0, np.int64)]))
    cand = cand[allowed[cand]]
    if cand.size == 0:
        return Recommendations("content" if mode == "content" else "hybrid", [], b.version)
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
    chosen = select(b, c, cand, blended, n)
    title = b.item_table.title(idx)
    items = []
    for pos in chosen:
        source = max(contrib, key=lambda s: contrib[s][pos]) if contrib else "text"
        reason = Reason("similar", source, (item_id,), f"Similar to {title}")
        items.append(RecommendedItem(b.items.id(int(cand[pos])), float(blended[pos]), reason))
    strategy: Strategy = "content" if mode == "content" or not use_behavior else "hybrid"
    return Recommendations(strategy, items, b.version)
