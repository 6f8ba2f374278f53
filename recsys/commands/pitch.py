"""``recsys pitch USER_ID [ITEM_ID]``: write (or show cached) pitches for a shopper.

See :mod:`recsys.pitch`. Without ITEM_ID, pitches the user's top-N recommendations.
``recsys prepare-pitch-model`` converts the packaged model ahead of time (``make`` runs it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import click

COMMANDS: list[click.Command] = []
F = TypeVar("F", bound=Callable[..., Any])


# the local model's options, shared by `pitch` and `prepare-pitch-model`
RUNTIME_OPTION = click.option(
    "--runtime",
    type=click.Choice(["onnx", "transformers", "llamacpp"]),
    default=None,
    help="Local model runtime (default onnx when onnxruntime-genai is installed).",
)


def precision_option(help_text: str) -> Callable[[F], F]:
    """The ``--precision`` option with its own help line."""
    return click.option(
        "--precision",
        type=click.Choice(["fp32", "bf16", "int8", "int4"]),
        default=None,
        help=help_text,
    )


@click.command("pitch")
@click.argument("user_id")
@click.argument("item_id", required=False)
@click.option("-n", type=click.IntRange(1, 50), default=3, show_default=True, help="Top-N items.")
@click.option(
    "--backend",
    type=click.Choice(["local", "openai", "template"]),
    default=None,
    help="Who writes the pitch (default: the config's, else local).",
)
@click.option(
    "--language",
    type=click.Choice(["auto", "en", "de", "fr", "es", "zh"]),
    default=None,
    help="Pitch language (default: the config's, else auto: the catalog's language as the "
    "current bundle records it, a product in another script switching to its own). The local "
    "model writes English only: other languages get the template, and the output says why.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TOML/JSON file whose [pitch] table (and [pitch.openai]) sets the writer, as for the "
    "API and the nightly job; the options here override it.",
)
@RUNTIME_OPTION
@precision_option("Local model weights (bf16: transformers only; int4: onnx only).")
@click.option("--samples", type=click.IntRange(1, 16), default=None, help="Best-of-n samples.")
@click.option("--no-cache", is_flag=True, help="Write fresh pitches (and overwrite the cache).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with samples and verdicts).")
@click.pass_obj
def pitch_cmd(
    obj: Any,
    user_id: str,
    item_id: str | None,
    n: int,
    backend: str | None,
    language: str | None,
    config_path: str | None,
    runtime: str | None,
    precision: str | None,
    samples: int | None,
    no_cache: bool,
    as_json: bool,
) -> None:
    """Write pitches for USER_ID's top-N recommendations, or for ITEM_ID only."""
    from recsys.errors import UnknownItemError
    from recsys.pitch.batch import write_for_user
    from recsys.pitch.config import load_pitch_config
    from recsys.service import RecommendationService
    from recsys.store import open_store

    changes: dict[str, Any] = {}
    if backend:
        changes["backend"] = backend
    if runtime:
        changes["runtime"] = runtime
    if precision:
        changes["precision"] = precision
    if samples:
        changes["n_samples"] = samples
    config = replace(load_pitch_config(config_path), **changes)
    obj.home.ensure()
    store = open_store(obj.home)
    try:
        if item_id is not None:
            row = store.get_item(item_id)
            if row is None:
                raise UnknownItemError(item_id)
            items: list[dict[str, Any]] = [row]
        else:
            service = RecommendationService(obj.home, store=store, live_catalog=False)
            try:
                answer = service.recommend_user(user_id, n=n)
            finally:
                service.close()  # writes the answer's exposure when an experiment runs
            items = [
                {"item_id": i.item_id, "reason": {"item_ids": list(i.reason.item_ids)}}
                for i in answer.items
            ]
        results = write_for_user(
            obj.home, store, user_id, items, config, use_cache=not no_cache, language=language
        )
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "item_id": facts.item_id,
                        "title": facts.title,
                        "pitch": r.pitch.text,
                        "source": r.pitch.source,
                        "model": r.pitch.model,
                        "language": r.pitch.language,
                        "fallback": r.pitch.fallback,
                        "fallback_reason": r.pitch.fallback_reason or None,
                        "seconds": round(r.seconds, 3),
                        "samples": [
                            {"text": s, "problems": list(v.problems)}
                            for s, v in zip(r.samples, r.verdicts, strict=True)
                        ],
                    }
                    for facts, r in results
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for facts, r in results:
        source = f"{r.pitch.source}: {r.pitch.fallback}" if r.pitch.fallback else r.pitch.source
        click.echo(f"{facts.display_title} (id {facts.item_id}) [{source}, {r.seconds:.2f} s]")
        click.echo(f"  {r.pitch.text}")
        if r.pitch.fallback_reason:
            click.echo(f"  ({r.pitch.fallback_reason})")


COMMANDS.append(pitch_cmd)


@click.command("prepare-pitch-model")
@RUNTIME_OPTION
@precision_option("Local model weights (default int8).")
@click.option("--check", is_flag=True, help="Only report; exit 1 if it is not prepared.")
@click.pass_obj
def prepare_pitch_model_cmd(
    obj: Any, runtime: str | None, precision: str | None, check: bool
) -> None:
    """Convert the packaged pitch model once, so that no pitch waits for it.

    The int8 ONNX model is built from the packaged GGUF (about two minutes on 2 cores) into a
    cache shared by every data home of this Python environment ($RECSYS_MODEL_CACHE overrides
    it). Idempotent: when the model is there already, it says so and returns at once.
    """
    from recsys.pitch.backends import (
        find_local_model,
        local_runtime,
        model_cache_dir,
        prepare_local_model,
    )
    from recsys.pitch.config import PitchConfig

    changes: dict[str, Any] = {}
    if runtime:
        changes["runtime"] = runtime
    if precision:
        changes["precision"] = precision
    config = PitchConfig(**changes)
    what = f"{local_runtime(config)} {config.precision}"
    found = find_local_model(obj.home, config)
    if found is not None:
        click.echo(f"pitch model ({what}) ready: {found} (already prepared)")
        return
    if check:
        click.echo(f"pitch model ({what}) not prepared; run `recsys prepare-pitch-model`", err=True)
        sys.exit(1)
    click.echo(
        f"preparing the pitch model ({what}) under {model_cache_dir()}: a one-time conversion "
        "of the packaged model, about two minutes on 2 cores ...",
        err=True,
    )
    prepared = prepare_local_model(obj.home, config)
    click.echo(
        f"pitch model ({what}) ready: {prepared.path} (converted in {prepared.seconds:.1f} s)"
    )


COMMANDS.append(prepare_pitch_model_cmd)
