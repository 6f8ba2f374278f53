"""The compiled part of a fused pooled answer (:mod:`recsys.serving.pooled`), with numba.

One call ranks a browsing shopper's pool: the history rows, the owned items, the stock check,
the popular candidates, the fold-in of the newest events (ALS, through the Woodbury identity as
``ALSModel._fold_in_few`` computes it), the text profile, every source's scores, the blend,
the order and each chosen item's top source. The same arithmetic as the stages, written as
loops over a few hundred candidates: in Python each of those steps is a numpy call or a loop
of its own, and a request paid for the code and data they touch more than for the arithmetic.

Results equal the stages' to float rounding, not bit for bit: the dot products here are
summed in another order (vectorized, ``fastmath``), as are the means of the blend. The caller
answers through the stages whenever the order could depend on that (:data:`TIE`).

The functions are compiled on first use and cached on disk (numba's ``cache=True``: beside
this module, or in ``NUMBA_CACHE_DIR``); :func:`compile_kernel` compiles ahead of a server's
first request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# what rank_pool reports besides an answer (the caller then ranks through the stages)
OK = 0
NARROW = 1  # stock and exclusions leave at most 2 k items: the stages score all of them
FEW_POPULAR = 2  # the popular head has too few allowed items: the stages read further
FEW_CANDIDATES = 3  # fewer allowed candidates than asked: the stages fill with popular items
APPENDED = 4  # a candidate was added to the catalog after training (no factors)
FOLD_IN = 5  # the fold-in needs the full solve (more than FEW_ITEMS items, or singular)
TIE = 6  # two neighbouring scores in the answer (or at its edge) are within NEAR of each other

NO_WEIGHT = 7  # no source has a weight: the stages rank by popularity
STATUS_NAMES = {
    OK: "ok",
    NARROW: "narrow",
    FEW_POPULAR: "few_popular",
    FEW_CANDIDATES: "few_candidates",
    APPENDED: "appended",
    FOLD_IN: "fold_in",
    TIE: "tie",
    NO_WEIGHT: "no_weight",
}
SOURCES = ("popularity", "behavior", "recent", "text")  # blend order (their ``position``)
# the kernel's scores differ from the stages' by a few 1e-6 at most (measured: 2.9e-6 on
# ML-100K, 1.7e-6 on the synthetic catalog); where two neighbours are closer than this, their
# order could differ, so the stages answer (and break exact ties by item id)
NEAR = 1e-5


AHEAD = 8  # rows fetched ahead of the one scored (measured: 4-16 all help; 8 helped most)
PREFETCH_LINES = 4  # cache lines of each such row (the hardware streams the rest)


def _prefetch_intrinsic(typingctx: Any, array: Any, index: Any) -> Any:
    """Hint the CPU to fetch ``array[index]``'s cache line (LLVM's ``prefetch``: read, keep).

    A browsing shopper's few hundred candidates are random rows of the item and text matrices
    (153 MB of text vectors on the 100k-item catalog). Scored one after another, each row's
    first access waits for memory; fetched a few rows ahead, the waits overlap. A hint only:
    it changes no result, and a CPU may ignore it.
    """
    sig = types.void(array, index)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        kind = signature.args[0]
        view = context.make_array(kind)(context, builder, args[0])
        ptr = _item_pointer(context, builder, kind, view, [args[1]], wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        hint = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = _declared(builder.module, hint, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


_item_pointer: Any = cgutils.get_item_pointer  # numba's helpers are untyped
_declared: Any = cgutils.get_or_insert_function
_prefetch: Any = intrinsic(_prefetch_intrinsic)  # called from compiled code: _prefetch(a, i)


@njit(cache=True)
def _fetch_row(flat: npt.NDArray[Any], start: int, lines: int, per_line: int) -> None:
    """Prefetch ``lines`` cache lines of ``flat`` from ``start`` (``per_line`` values each)."""
    for t in range(lines):
        _prefetch(flat, start + t * per_line)


@njit(cache=True, fastmath=True)
def _dot32(row: npt.NDArray[np.float32], vec: npt.NDArray[np.float32]) -> np.float32:
    acc = np.float32(0.0)
    for t in range(vec.size):
        acc += row[t] * vec[t]
    return acc


@njit(cache=True)
def _row_sums(
    idx: npt.NDArray[np.int64],
    w: npt.NDArray[np.float64],
    ts: npt.NDArray[np.float64],
    count: int,
    rate: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``history_row`` of the first ``count`` events: sorted items and float64 sums."""
    newest = -np.inf
    for e in range(count):
        newest = max(newest, ts[e])
    items = np.empty(count, np.int64)
    sums = np.empty(count, np.float64)
    m = 0
    for e in range(count):
        weight = w[e]
        if rate != 0.0:
            weight = weight * np.exp(max(newest - ts[e], 0.0) * rate)
        if weight > 0 and idx[e] >= 0:
            j = 0
            while j < m and items[j] != idx[e]:
                j += 1
            if j == m:
                items[m] = idx[e]
                sums[m] = 0.0
                m += 1
            sums[j] += weight
    order = np.argsort(items[:m])
    return items[:m][order], sums[:m][order]


@njit(cache=True)
def _zscore(
    v: npt.NDArray[np.float32], floor: float, weight: float, out: npt.NDArray[np.float64]
) -> None:
    """``weight * blend.zscore(v, floor)`` into ``out`` (the blend's contribution)."""
    m = v.size
    total = 0.0
    cnt = 0
    for j in range(m):
        if np.isfinite(v[j]):
            total += np.float64(v[j])
            cnt += 1
    if cnt == 0:
        out[:] = 0.0
        return
    mean = total / cnt
    squares = 0.0
    for j in range(m):
        if np.isfinite(v[j]):
            d = np.float64(v[j]) - mean
            squares += d * d
    spread = max(np.sqrt(squares / cnt), floor)
    lowest = np.inf
    for j in range(m):
        if np.isfinite(v[j]):
            z = (np.float64(v[j]) - mean) / spread if spread > 1e-12 else 0.0
            lowest = min(lowest, z)
            out[j] = weight * np.float64(np.float32(z))
    for j in range(m):
        if not np.isfinite(v[j]):
            out[j] = weight * np.float64(np.float32(lowest))


@njit(cache=True)
def _solve(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``a x = b`` by Gaussian elimination with partial pivoting (empty: singular)."""
    k = b.size
    a = a.copy()
    x = b.copy()
    for col in range(k):
        pivot = col
        for r in range(col + 1, k):
            if abs(a[r, col]) > abs(a[pivot, col]):
                pivot = r
        if a[pivot, col] == 0.0:
            return np.empty(0, np.float64)
        if pivot != col:
            for t in range(k):
                a[col, t], a[pivot, t] = a[pivot, t], a[col, t]
            x[col], x[pivot] = x[pivot], x[col]
        for r in range(col + 1, k):
            f = a[r, col] / a[col, col]
            if f != 0.0:
                for t in range(col, k):
                    a[r, t] -= f * a[col, t]
                x[r] -= f * x[col]
    for col in range(k - 1, -1, -1):
        s = x[col]
        for t in range(col + 1, k):
            s -= a[col, t] * x[t]
        x[col] = s / a[col, col]
    return x


@njit(cache=True)
def _fold_in(
    items: npt.NDArray[np.int64],
    sums: npt.NDArray[np.float64],
    vectors: npt.NDArray[np.float32],
    gram_inv: npt.NDArray[np.float64],
    offset: np.float32,
    alpha: np.float32,
    few: int,
) -> npt.NDArray[np.float32]:
    """``ALSModel._fold_in`` of a history row (empty: it needs the full solve)."""
    d = vectors.shape[1]
    keep = 0
    for j in range(sums.size):
        if np.float32(sums[j]) > 0:
            keep += 1
    if keep == 0:
        return np.zeros(d, np.float32)
    if keep > few:
        return np.empty(0, np.float32)
    c = np.empty(keep, np.float64)
    y = np.empty((keep, d), np.float64)
    j = 0
    for i in range(sums.size):
        data = np.float32(sums[i])
        if data > 0:
            c[j] = np.float64(offset + alpha * data)
            for t in range(d):
                y[j, t] = vectors[items[i], t]
            j += 1
    p = gram_inv @ y.T  # d x k
    m = y @ p  # k x k
    dd = c - 1.0
    a = m * dd.reshape((keep, 1))
    for i in range(keep):
        a[i, i] += 1.0
    w = _solve(a, dd * (m @ c))
    if w.size == 0:
        return np.empty(0, np.float32)
    return (p @ (c - w)).astype(np.float32)


@njit(cache=True)
def rank_pool(
    n: int,
    k: int,
    ev_idx: npt.NDArray[np.int64],
    ev_code: npt.NDArray[np.int64],
    ev_ts: npt.NDArray[np.float64],
    type_weights: npt.NDArray[np.float64],
    purchase: int,
    rate: float,
    recent_events: int,
    recent_items: int,
    extra_owned: npt.NDArray[np.int64],
    owned_row: npt.NDArray[np.int64],
    exclude_seen: bool,
    exclude_purchased: bool,
    ranked_items: npt.NDArray[np.int32],
    similar_rows: npt.NDArray[np.int32],
    newest_items: int,
    pop_order: npt.NDArray[np.int64],
    stock: npt.NDArray[np.bool_],
    use_stock: bool,
    stock_count: int,
    n_items: int,
    vectors: npt.NDArray[np.float32],
    known: npt.NDArray[np.bool_],
    user: npt.NDArray[np.float32],
    fold: bool,
    gram_inv: npt.NDArray[np.float64],
    offset: np.float32,
    alpha: np.float32,
    few: int,
    text_vectors: npt.NDArray[np.float32],
    text_mask: npt.NDArray[np.bool_],
    use_text: bool,
    popularity: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float64],
    floors: npt.NDArray[np.float64],
    mark: npt.NDArray[np.int64],
) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Rank a pooled request: ``(status, chosen items, their scores, their top sources)``.

    ``status`` is :data:`OK` or why the stages must answer instead; the top source is an index
    into :data:`SOURCES`. The arguments are the request's events (newest first: item index,
    type weight, time, whether a purchase), the config's switches and the bundle's arrays.
    The owned items beyond the events are ``extra_owned`` (from the pairs since training; -1,
    an item the bundle does not know, is skipped) and ``owned_row`` (the training row).

    ``mark`` is scratch space of ``n_items + 1`` integers, owned by the calling thread and
    kept between calls: the owned items and the candidates are marked in it (a set in one
    array read, where sorting and searching a few hundred items cost more than the scoring),
    and its last entry counts the marks used, so it is never cleared between calls. The
    candidates stay in the order they were found (the popular head, the list, the similar
    items) instead of by item index: that changes only the order in which sums are added, and
    near ties go to the stages anyway.
    """
    empty_i = np.empty(0, np.int64)
    empty_f = np.empty(0, np.float64)
    n_ev = ev_idx.size
    ev_w = np.empty(n_ev, np.float64)
    ev_buy = np.empty(n_ev, np.bool_)
    for e in range(n_ev):
        ev_w[e] = type_weights[ev_code[e]]
        ev_buy[e] = ev_code[e] == purchase
    # -- owned items (``query.owned_items`` and the training row), marked in ``mark``
    base = mark[n_items]
    if base > 4_000_000_000_000_000_000:  # never in practice: two marks per call
        mark[:] = 0
        base = 0
    own = base + 1
    took = base + 2
    mark[n_items] = took
    n_allowed = stock_count if use_stock else n_items
    newest_ts = -np.inf
    for e in range(n_ev):
        newest_ts = max(newest_ts, ev_ts[e])
    for e in range(n_ev):
        i = ev_idx[e]
        if i < 0:
            continue
        owns = False
        if exclude_seen:
            weight = ev_w[e]
            if rate != 0.0:
                weight = weight * np.exp(max(newest_ts - ev_ts[e], 0.0) * rate)
            owns = weight > 0
        if exclude_purchased and ev_buy[e]:
            owns = True
        if owns and mark[i] != own:
            mark[i] = own
            if not use_stock or stock[i]:
                n_allowed -= 1
    for i in extra_owned:  # -1: an item the bundle does not know
        if i >= 0 and mark[i] != own:
            mark[i] = own
            if not use_stock or stock[i]:
                n_allowed -= 1
    for i in owned_row:
        if mark[i] != own:
            mark[i] = own
            if not use_stock or stock[i]:
                n_allowed -= 1
    if n_allowed <= 2 * k:
        return NARROW, empty_i, empty_f, empty_i
    # -- candidates: the popular head's allowed items, and the pool (``pool.user_pool``: the
    # list and the similar items of the newest distinct items)
    at_least = max(k, 2 * n)
    take = max(n, k // 4)
    head = min(4 * at_least, pop_order.size)
    newest = _newest_items(ev_idx, similar_rows.shape[0], newest_items)
    cand = np.empty(take + ranked_items.size + newest.size * similar_rows.shape[1], np.int64)
    found = 0
    m = 0
    for j in range(head):
        i = pop_order[j]
        if (not use_stock or stock[i]) and mark[i] != own:
            if found < take:
                cand[m] = i
                mark[i] = took
                m += 1
            found += 1
    if found < at_least and head < pop_order.size:
        return FEW_POPULAR, empty_i, empty_f, empty_i
    m = _add_pool(cand, m, newest, ranked_items, similar_rows, stock, use_stock, mark, own, took)
    cand = cand[:m]
    size = m
    if size < n:
        return FEW_CANDIDATES, empty_i, empty_f, empty_i
    limit = min(vectors.shape[0], known.size)
    for j in range(size):
        if cand[j] >= limit:
            return APPENDED, empty_i, empty_f, empty_i
    # -- the sources' scores and the blend, in blend order
    contrib = np.zeros((4, size), np.float64)
    takes_part = np.zeros(4, np.bool_)
    scores = np.empty(size, np.float32)
    if weights[0] > 0:
        for j in range(size):
            scores[j] = popularity[cand[j]]
        _zscore(scores, floors[0], weights[0], contrib[0])
        takes_part[0] = True
    rank = vectors.shape[1]
    vector_lines = min(PREFETCH_LINES, (rank + 15) // 16)
    rows = vectors.ravel()
    for j in range(min(AHEAD, size)):
        _fetch_row(rows, cand[j] * rank, vector_lines, 16)
    for j in range(size):
        if j + AHEAD < size:
            _fetch_row(rows, cand[j + AHEAD] * rank, vector_lines, 16)
        i = cand[j]
        scores[j] = _dot32(vectors[i], user) if known[i] else -np.inf
    if weights[1] > 0:
        _zscore(scores, floors[1], weights[1], contrib[1])
        takes_part[1] = True
    if fold:
        items, sums = _row_sums(ev_idx, ev_w, ev_ts, min(recent_events, n_ev), rate)
        if items.size:
            recent = _fold_in(items, sums, vectors, gram_inv, offset, alpha, few)
            if recent.size == 0:
                return FOLD_IN, empty_i, empty_f, empty_i
            for j in range(size):
                i = cand[j]
                scores[j] = _dot32(vectors[i], recent) if known[i] else -np.inf
            if weights[2] > 0:
                _zscore(scores, floors[2], weights[2], contrib[2])
                takes_part[2] = True
    if use_text:
        dim = text_vectors.shape[1]
        acc = np.zeros(dim, np.float64)
        chosen_text = np.empty(min(recent_items, n_ev), np.int64)
        t_count = 0
        for e in range(n_ev):
            if t_count == recent_items:
                break
            i = ev_idx[e]
            if i < 0 or not text_mask[i]:
                continue
            if _in_first(chosen_text, t_count, i):
                continue
            chosen_text[t_count] = i
            t_count += 1
            pw = (ev_w[e] + 1e-3) / (1.0 + 0.1 * e)
            for t in range(dim):
                acc[t] += pw * np.float64(text_vectors[i, t])
        norm = np.sqrt(np.sum(acc * acc)) if t_count else 0.0
        if norm > 0:
            profile = (acc / norm).astype(np.float32)
            flat = text_vectors.ravel()
            lines = min(PREFETCH_LINES, (dim + 15) // 16)
            for j in range(min(AHEAD, size)):
                _fetch_row(flat, cand[j] * dim, lines, 16)
            for j in range(size):
                if j + AHEAD < size:
                    _fetch_row(flat, cand[j + AHEAD] * dim, lines, 16)
                i = cand[j]
                scores[j] = _dot32(text_vectors[i], profile) if text_mask[i] else -np.inf
            if weights[3] > 0:
                _zscore(scores, floors[3], weights[3], contrib[3])
                takes_part[3] = True
    if not takes_part.any():
        return NO_WEIGHT, empty_i, empty_f, empty_i
    blended = np.zeros(size, np.float64)
    for s in range(4):
        if takes_part[s]:
            blended += contrib[s]
    # -- the order: best first; a near tie inside the answer or at its edge goes to the stages
    by_score = np.argsort(-blended, kind="mergesort")
    last = min(n, size - 1)
    for j in range(last):
        if blended[by_score[j]] - blended[by_score[j + 1]] < NEAR:
            return TIE, empty_i, empty_f, empty_i
    top = by_score[:n]
    tops = np.empty(n, np.int64)
    for j in range(n):
        best = -1
        for s in range(4):
            if takes_part[s] and (best < 0 or contrib[s, top[j]] > contrib[best, top[j]]):
                best = s
        tops[j] = best
    return OK, cand[top], blended[top], tops


@njit(cache=True)
def _in_first(values: npt.NDArray[np.int64], count: int, value: int) -> bool:
    for j in range(count):  # noqa: SIM110 - numba compiles this loop, not a generator
        if values[j] == value:
            return True
    return False


@njit(cache=True)
def _newest_items(
    ev_idx: npt.NDArray[np.int64], rows: int, newest_items: int
) -> npt.NDArray[np.int64]:
    """The newest ``newest_items`` distinct items of the history that have a similar list."""
    newest = np.empty(newest_items, np.int64)
    count = 0
    for e in range(ev_idx.size):
        if count >= newest_items:
            break
        i = ev_idx[e]
        if 0 <= i < rows and not _in_first(newest, count, i):
            newest[count] = i
            count += 1
    return newest[:count]


@njit(cache=True)
def _add_pool(
    cand: npt.NDArray[np.int64],
    m: int,
    newest: npt.NDArray[np.int64],
    ranked_items: npt.NDArray[np.int32],
    similar_rows: npt.NDArray[np.int32],
    stock: npt.NDArray[np.bool_],
    use_stock: bool,
    mark: npt.NDArray[np.int64],
    own: int,
    took: int,
) -> int:
    """Append the pool's allowed items to ``cand[:m]``; return the new count.

    The pool is ``pool.user_pool``'s: the user's list and the similar items of ``newest``
    (:func:`_newest_items`). An item marked ``own`` (owned) or ``took`` (already a
    candidate) is left out; each one added is marked ``took``.
    """
    for i in ranked_items:
        if i >= 0 and (not use_stock or stock[i]) and mark[i] != own and mark[i] != took:
            cand[m] = i
            mark[i] = took
            m += 1
    for j in newest:
        for t in range(similar_rows.shape[1]):
            i = similar_rows[j, t]
            if i >= 0 and (not use_stock or stock[i]) and mark[i] != own and mark[i] != took:
                cand[m] = i
                mark[i] = took
                m += 1
    return m
