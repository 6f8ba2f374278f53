"""``recsys tune``: tune the model on the stored events with a validation split.

See :mod:`recsys.tuning`. Prints a table of the trials and writes the best config as TOML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

COMMANDS: list[click.Command] = []


@click.command("tune")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Start from this TOML/JSON config (its matrix weights and filters are kept).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("recsys-tuned.toml"),
    show_default=True,
    help="Where to write the best config (use with `recsys train --config`).",
)
@click.option(
    "--behavior-trials",
    type=click.IntRange(1, 8),
    default=6,
    show_default=True,
    help="Behavior (ALS) configs tried.",
)
@click.option(
    "--blend-trials",
    type=click.IntRange(1, 6),
    default=6,
    show_default=True,
    help="Blend weight sets tried.",
)
@click.option(
    "--max-val-users",
    type=click.IntRange(1),
    default=300,
    show_default=True,
    help="Validation users served in the blend stage (seeded sample).",
)
@click.pass_obj
def tune_cmd(
    obj: Any,
    config_path: Path | None,
    out: Path,
    behavior_trials: int,
    blend_trials: int,
    max_val_users: int,
) -> None:
    """Tune on stored events (last 20% of each user's events = validation); write the best config.

    The budget is fixed and small: up to 8 behavior configs, then up to 6 blend weight sets
    (x3 repeat weights when the config allows re-buying). The metric is recall@20.
    """
    from recsys.config import load_config
    from recsys.errors import EmptyDataError
    from recsys.store.sqlite import Store
    from recsys.text import EmbeddingCache, TextEncoder
    from recsys.tuning import Trial, TuneSettings, to_toml, tune

    base = load_config(config_path)
    settings = TuneSettings(
        behavior_trials=behavior_trials, blend_trials=blend_trials, max_val_users=max_val_users
    )
    obj.home.ensure()
    store = Store(obj.home.db_path)
    try:
        events, catalog = store.events_frame(), store.catalog_frame()
    finally:
        store.close()
    if events.height == 0:
        raise EmptyDataError("no events to tune on: import events first (recsys import-events)")
    click.echo(f"{'stage':8s} {'recall@20':>9s} {'ndcg@20':>8s} {'users':>6s} {'secs':>6s}  params")

    def show(t: Trial) -> None:
        params = ", ".join(f"{k}={v}" for k, v in t.params.items())
        click.echo(
            f"{t.stage:8s} {t.recall:9.4f} {t.ndcg:8.4f} {t.users:6d} {t.seconds:6.1f}  {params}"
        )

    cache = EmbeddingCache(obj.home.embedding_cache_path)
    try:
        encoder = TextEncoder(base.text) if base.text.enabled else None
        result = tune(
            events, catalog, base, settings=settings, encoder=encoder, cache=cache, on_trial=show
        )
    finally:
        cache.close()
    out.write_text(to_toml(result.config), encoding="utf-8")
    best_b, best_h = result.best("behavior"), result.best("blend")
    click.echo(
        f"best: behavior {best_b.params} (recall@20 {best_b.recall:.4f}); blend {best_h.params} "
        f"(recall@20 {best_h.recall:.4f}); wrote {out} — train with: recsys train --config {out}"
    )


COMMANDS.append(tune_cmd)
