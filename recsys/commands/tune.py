"""``recsys tune``: tune the model on the stored events with a validation split.

See :mod:`recsys.tuning`. Prints a table of the trials, each compared with the defaults on the same
users, says whether it kept the defaults or chose a candidate (and why), and writes that config as
TOML with the same sentences in its header.
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
    help="Start from this TOML/JSON config: the defaults to beat (its matrix weights and "
    "filters are kept). Default: the built-in defaults.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("recsys-tuned.toml"),
    show_default=True,
    help="Where to write the chosen config: the defaults unless a candidate beat them "
    "(use with `recsys train --config`).",
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
    default=None,
    help="Cap the validation users served in the blend stage to a seeded sample of this many "
    "(faster, less certain). Default: all of them.",
)
@click.pass_obj
def tune_cmd(
    obj: Any,
    config_path: Path | None,
    out: Path,
    behavior_trials: int,
    blend_trials: int,
    max_val_users: int | None,
) -> None:
    """Tune on stored events (last 20% of each user's events = validation); write the config.

    The budget is fixed and small: up to 8 behavior configs, then up to 6 blend weight sets
    (x3 repeat weights when the config allows re-buying). Each is compared with the defaults
    (--config, or the built-in defaults) on the same validation users: the recall@20 difference
    and its 95% interval. The defaults are kept unless a candidate is better beyond the interval.
    """
    from recsys.config import load_config
    from recsys.errors import EmptyDataError
    from recsys.store import open_store
    from recsys.text import EmbeddingCache, TextEncoder
    from recsys.tuning import Trial, TuneSettings, to_toml, tune

    base = load_config(config_path)
    settings = TuneSettings(
        behavior_trials=behavior_trials, blend_trials=blend_trials, max_val_users=max_val_users
    )
    obj.home.ensure()
    store = open_store(obj.home)
    try:
        events, catalog = store.events_frame(), store.catalog_frame()
    finally:
        store.close()
    if events.height == 0:
        raise EmptyDataError("no events to tune on: import events first (recsys import-events)")
    click.echo(
        f"{'stage':8s} {'recall@20':>9s} {'ndcg@20':>8s} {'vs defaults [95% interval]':>28s} "
        f"{'users':>11s} {'secs':>6s}  params"
    )

    def show(t: Trial) -> None:
        diff = "(the defaults)" if t.vs_defaults is None else str(t.vs_defaults)
        users = f"{t.users}/{t.val_users}"
        click.echo(
            f"{t.stage:8s} {t.recall:9.4f} {t.ndcg:8.4f} {diff:>28s} {users:>11s} "
            f"{t.seconds:6.1f}  {t.label()}"
        )

    cache = EmbeddingCache(obj.home.embedding_cache_path)
    try:
        encoder = TextEncoder(base.text) if base.text.enabled else None
        result = tune(
            events, catalog, base, settings=settings, encoder=encoder, cache=cache, on_trial=show
        )
    finally:
        cache.close()
    notes = [
        f"behavior stage (behavior model alone, the blend builds on its pick): "
        f"{result.decisions['behavior']}",
        f"result (served end to end, against the defaults): {result.decision}",
    ]
    out.write_text(to_toml(result.config, notes), encoding="utf-8")
    for note in notes:
        click.echo(note)
    click.echo(f"wrote {out}; train with: recsys train --config {out}")


COMMANDS.append(tune_cmd)
