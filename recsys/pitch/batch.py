"""Pre-write pitches for many users' top items within a time budget (the nightly job's step)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from recsys.bundle import Bundle
from recsys.errors import InvalidInputError
from recsys.home import Home
from recsys.pitch.backends import PitchModel, make_model
from recsys.pitch.cache import PitchCache
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, build_context, pitch_language
from recsys.pitch.serving import (
    catalog_language,
    pitch_cache_path,
    reason_item_ids,
    recorded_language,
    requested_language,
)
from recsys.pitch.validate import CatalogNames
from recsys.pitch.writer import PitchWriter
from recsys.serving import HybridRecommender
from recsys.store.contract import Store
from recsys.text import TextEncoder
from recsys.types import HISTORY_LIMIT as RANKING_HISTORY_LIMIT
from recsys.types import UserHistory

log = logging.getLogger(__name__)

HISTORY_LIMIT = 200  # newest events a pitch's context is chosen from


@dataclass(frozen=True)
class PrewriteReport:
    """What a pre-write run did.

    Attributes:
        written: new LLM pitches that passed validation and were cached.
        cached: pitches already in the cache (nothing to do).
        template: items where every LLM sample failed validation (template cached instead), or
            whose language the model does not write (Chinese with the local model; not cached).
        failed: items where the model raised an error (nothing cached; retried next run).
        elapsed_s: wall time of the run.
        skipped: items not attempted because the time budget ran out.
    """

    written: int
    cached: int
    template: int
    failed: int
    elapsed_s: float
    skipped: int = 0


def _item_dicts(
    bundle: Bundle, recommender: HybridRecommender, user_id: str, history: UserHistory, n: int
) -> list[dict[str, Any]]:
    """The items the API would recommend (whole-history exclusion), as pitch inputs."""
    answer = recommender.recommend_user(user_id, history.events, n=n, item_types=history.item_types)
    table = bundle.item_table
    out = []
    for rec in answer.items:
        row = table.row(bundle.items.index(rec.item_id))
        out.append(
            {
                "item_id": rec.item_id,
                "title": row["title"],
                "category": row["category"] or None,
                "price": row["price"],
                "currency": row["currency"] or None,
                "reason": {"item_ids": list(rec.reason.item_ids)},
            }
        )
    return out


def prewrite_pitches(
    home: Home,
    bundle: Bundle,
    store: Store,
    user_ids: Sequence[str],
    items_per_user: int,
    budget_s: float,
    show_progress: bool = False,
    config: PitchConfig | None = None,
    *,
    model: PitchModel | None = None,
    encoder: TextEncoder | None = None,
) -> PrewriteReport:
    """Write and cache pitches for each user's top ``items_per_user`` recommendations.

    Users are served in the given order (put the most active first); the run stops starting new
    pitches once ``budget_s`` seconds have passed (the pitch in progress finishes).

    Args:
        home: data home (the cache lives there).
        bundle: the model bundle recommendations come from.
        store: event and catalog store (histories, descriptions, attributes).
        user_ids: users to pre-write for.
        items_per_user: top-n items per user (1..100).
        budget_s: time budget in seconds (> 0).
        show_progress: draw a tqdm progress bar on stderr (for CLIs).
        config: pitch configuration (default :class:`PitchConfig`).
        model: a model to use instead of the configured backend (tests, a shared loaded model).
        encoder: text encoder for re-ranking (default: loaded when re-ranking is on).

    Returns:
        A :class:`PrewriteReport`.

    Raises:
        InvalidInputError: if ``items_per_user`` or ``budget_s`` is out of range.
    """
    if not isinstance(items_per_user, int) or not 1 <= items_per_user <= 100:
        raise InvalidInputError(
            f"items_per_user must be an integer in [1, 100], got {items_per_user!r}"
        )
    if not budget_s > 0:
        raise InvalidInputError(f"budget_s must be > 0, got {budget_s!r}")
    config = config or PitchConfig()
    started = time.monotonic()
    model = model if model is not None else make_model(home, config)
    if encoder is None and model is not None and config.rerank and config.n_samples > 1:
        encoder = TextEncoder()
    cache = PitchCache(pitch_cache_path(home))
    catalog = store.catalog_frame()
    titles = dict(zip(catalog["item_id"].to_list(), catalog["title"].to_list(), strict=True))
    rows = {str(r["item_id"]): r for r in catalog.iter_rows(named=True)}
    writer = PitchWriter(
        model, config, cache=cache, encoder=encoder, names=CatalogNames.from_catalog(rows.values())
    )
    recommender = HybridRecommender(bundle, events=store)
    shop_language = recorded_language(bundle.manifest)  # the language auto follows
    counts = {"written": 0, "cached": 0, "template": 0, "failed": 0, "skipped": 0}
    total = len(user_ids) * items_per_user
    bar: Any = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="pitch", desc="pitches")
    try:
        for user_id in user_ids:
            if time.monotonic() - started >= budget_s:
                counts["skipped"] += items_per_user
                continue
            # ranked from what a request reads (the same newest events, whole-history exclusion)
            history = store.user_history(str(user_id), RANKING_HISTORY_LIMIT)
            user_started = time.time()
            if not history.events and store.erased_at(str(user_id)) is not None:
                counts["skipped"] += items_per_user  # erased (e.g. while the bundle trained)
                continue
            items = _item_dicts(bundle, recommender, str(user_id), history, items_per_user)
            counts["skipped"] += items_per_user - len(items)
            for item in items:
                if time.monotonic() - started >= budget_s:
                    counts["skipped"] += 1
                    continue
                facts = ItemFacts.from_item(item, rows.get(item["item_id"]))
                context = build_context(
                    history.events[:HISTORY_LIMIT],
                    titles,
                    config.recent_items,
                    pitch_language(facts, config.language, shop_language),
                    prefer=reason_item_ids(item),
                    exclude=facts.item_id,
                )
                key = writer.key(facts, context)
                cache.link(str(user_id), [key])  # erasing the user deletes it
                result = writer.write(facts, context)
                cache.drop_unlinked([key])  # the user was erased while it was written
                if result.error is not None:
                    counts["failed"] += 1
                elif result.pitch.fallback is not None:  # the model does not write its language
                    counts["template"] += 1
                elif result.pitch.source == "cache" or (
                    result.pitch.source == "template" and not result.samples and model is not None
                ):
                    counts["cached"] += 1
                elif result.pitch.source == "llm":
                    counts["written"] += 1
                else:
                    counts["template"] += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(counts, refresh=False)
            erased = store.erased_at(str(user_id))
            if erased is not None and erased >= user_started:  # erased while written
                cache.forget_users([str(user_id)])
    finally:
        if bar is not None:
            bar.close()
        cache.close()
    report = PrewriteReport(elapsed_s=round(time.monotonic() - started, 3), **counts)
    log.info("pre-wrote pitches: %s", report)
    return report


def write_for_user(
    home: Home,
    store: Store,
    user_id: str,
    items: Sequence[dict[str, Any]],
    config: PitchConfig | None = None,
    *,
    model: PitchModel | None = None,
    encoder: TextEncoder | None = None,
    use_cache: bool = True,
    language: str | None = None,
) -> list[tuple[ItemFacts, Any]]:
    """Write the pitches for one user's ``items`` now (synchronously), caching them.

    Args:
        home: data home (the cache lives there).
        store: event and catalog store.
        user_id: the shopper.
        items: item dicts (at least ``item_id``; catalog rows fill in the rest).
        config: pitch configuration.
        model: a model to use instead of the configured backend.
        encoder: text encoder for re-ranking (default: loaded when re-ranking is on).
        use_cache: serve cached pitches (False: write fresh ones and overwrite the cache).
        language: the pitch language (``auto``: the catalog's, see
            :func:`recsys.pitch.facts.pitch_language`); None: ``config.language``.

    Returns:
        ``(facts, WriteResult)`` per item, in order.

    Raises:
        InvalidInputError: for a language pitches are not written in.
    """
    config = config or PitchConfig()
    chosen = requested_language(language, config)
    model = model if model is not None else make_model(home, config)
    if encoder is None and model is not None and config.rerank and config.n_samples > 1:
        encoder = TextEncoder()
    catalog = store.catalog_frame()
    titles = dict(zip(catalog["item_id"].to_list(), catalog["title"].to_list(), strict=True))
    rows = {str(r["item_id"]): r for r in catalog.iter_rows(named=True)}
    history = store.user_events(str(user_id), limit=HISTORY_LIMIT)
    shop_language = catalog_language(home) if chosen == "auto" else None
    cache = PitchCache(pitch_cache_path(home))
    writer = PitchWriter(
        model, config, cache=cache, encoder=encoder, names=CatalogNames.from_catalog(rows.values())
    )
    out = []
    try:
        for item in items:
            facts = ItemFacts.from_item(item, rows.get(str(item["item_id"])))
            context = build_context(
                history,
                titles,
                config.recent_items,
                pitch_language(facts, chosen, shop_language),
                prefer=reason_item_ids(item),
                exclude=facts.item_id,
            )
            key = writer.key(facts, context)
            cache.link(str(user_id), [key])  # erasing the user deletes it
            out.append((facts, writer.write(facts, context, use_cache=use_cache)))
            cache.drop_unlinked([key])  # the user was erased while it was written
    finally:
        cache.close()
    return out
