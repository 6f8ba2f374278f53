"""The selection stage: which items a request may return, their order, and the category cap."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recsys.config import HybridConfig
from recsys.errors import InvalidInputError
from recsys.models.base import unique_ints
from recsys.types import MAX_N, Filters

if TYPE_CHECKING:
    from recsys.bundle import Bundle
    from recsys.serving.query import Query

SELECT_PREFIX = 8  # select() sorts the best SELECT_PREFIX x n candidates first (see there)


def check_n(n: int) -> int:
    """``n`` as an int, or InvalidInputError when it is not an integer in ``[1, MAX_N]``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= MAX_N:
        raise InvalidInputError(f"n={n!r} is not allowed: must be an integer in [1, {MAX_N}]")
    return int(n)


def allowed_mask(
    bundle: Bundle, config: HybridConfig, filters: Filters, exclude_idx: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Per item, whether a request with ``filters`` may return it (stock, category, exclusions)."""
    table = bundle.item_table
    in_stock_only = config.in_stock_only if filters.in_stock_only is None else filters.in_stock_only
    allowed = table.in_stock.copy() if in_stock_only else np.ones(len(bundle.items), dtype=bool)
    if filters.category is not None:
        code = table.category_code(filters.category)
        if code < 0:  # no item has this category: nothing is allowed (-1 means "none")
            allowed[:] = False
        else:
            allowed &= table.category_codes == code
    if filters.exclude:
        ex = bundle.items.indices(sorted(filters.exclude))
        allowed[ex[ex >= 0]] = False
    if exclude_idx.size:
        allowed[exclude_idx] = False
    return allowed


def popular_allowed(q: Query, at_least: int) -> npt.NDArray[np.int64]:
    """The most popular allowed items of ``q``, best first: at least ``at_least`` if there are."""
    key = f"popular_allowed:{at_least}"
    if key not in q.memo:
        pop_order = q.memo["pop_order"]
        head = pop_order[: 4 * at_least]
        out = head[q.allowed[head]]
        if out.size < at_least and head.size < pop_order.size:
            out = pop_order[q.allowed[pop_order]]
        q.memo[key] = out
    return q.memo[key]  # type: ignore[no-any-return]


def candidate_set(q: Query, found: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """The candidates a request scores: the sources' own, allowed, sorted and unique.

    Under a narrow filter (at most ``2 k`` items allowed) every allowed item is scored exactly;
    when filters leave fewer than ``n``, the most popular allowed items fill in.
    """
    cand = unique_ints(np.concatenate([*found, np.empty(0, np.int64)]))
    cand = cand[q.allowed[cand]]
    if np.count_nonzero(q.allowed) <= 2 * q.k:  # a narrow filter: score every allowed item exactly
        return np.flatnonzero(q.allowed).astype(np.int64)
    if cand.size < q.n:  # filters left too few: fill with the most popular allowed items
        pop = popular_allowed(q, max(q.k, 2 * q.n))
        cand = unique_ints(np.concatenate([cand, pop[: q.n * 2]]))
    return cand


def capped_walk(
    order: list[int], codes: npt.NDArray[np.int32], n: int, cap: int
) -> tuple[list[int], list[int]]:
    """Walk ``order`` keeping at most ``cap`` items per category code until ``n`` are kept.

    Returns:
        ``(chosen, overflow)``: kept positions, and the positions skipped for the cap on the way.
        Items without a category (code -1) are never capped.
    """
    counts: dict[int, int] = {}
    chosen: list[int] = []
    overflow: list[int] = []
    for p in order:
        code = int(codes[p])
        if code >= 0 and counts.get(code, 0) >= cap:
            overflow.append(p)
            continue
        counts[code] = counts.get(code, 0) + 1
        chosen.append(p)
        if len(chosen) == n:
            break
    return chosen, overflow


def category_cap(n: int, share: float) -> int:
    """Items per category allowed in a list of ``n`` under ``max_category_share``."""
    return max(1, math.ceil(n * share))


def order(
    bundle: Bundle, cand: npt.NDArray[np.int64], blended: npt.NDArray[np.float64], m: int
) -> list[int]:
    """Positions of the best ``m`` candidates (score descending, ties by external item id)."""
    if m < cand.size:
        part = np.argpartition(-blended, m - 1)[:m]
        # every candidate tied with the m-th joins, so the id tie-break stays exact
        part = np.flatnonzero(blended >= blended[part].min())
    else:
        part = np.arange(cand.size)
    vals = blended[part]
    by_score = np.argsort(-vals, kind="stable")
    if np.isfinite(vals).all() and not (np.diff(vals[by_score]) == 0).any():
        # no ties: the score alone gives the order (the id only breaks ties)
        return part[by_score].tolist()  # type: ignore[no-any-return]
    ids = bundle.items.ids(cand[part])
    ranked = sorted(range(part.size), key=lambda j: (-vals[j], ids[j]))
    return [int(part[j]) for j in ranked]


def select(
    bundle: Bundle,
    config: HybridConfig,
    cand: npt.NDArray[np.int64],
    blended: npt.NDArray[np.float64],
    n: int,
) -> list[int]:
    """Positions into ``cand`` of the chosen items, best first, with the diversity cap.

    Order: score descending, ties by external item id. Only a prefix of that order is sorted
    (``SELECT_PREFIX`` x ``n``, plus ties); the cap walks the prefix and falls back to the full
    order only when the prefix cannot fill the list, so the answer is the same as sorting every
    candidate. With too few categories to fill ``n`` under the cap, the cap is relaxed.
    """
    share = config.max_category_share
    if share is None:
        return order(bundle, cand, blended, n)[:n]
    ranked = order(bundle, cand, blended, n * SELECT_PREFIX)
    cap = category_cap(n, share)
    codes = bundle.item_table.category_codes[cand]
    while True:
        chosen, overflow = capped_walk(ranked, codes, n, cap)
        if len(chosen) == n:
            return chosen
        if len(ranked) == cand.size:
            return chosen + overflow[: n - len(chosen)]  # too few categories: relax the cap
        ranked = order(bundle, cand, blended, cand.size)
