"""``recsys pitch USER_ID [ITEM_ID]``: write (or show cached) pitches for a shopper.

See :mod:`recsys.pitch`. Without ITEM_ID, pitches the user's top-N recommendations.
"""

from __future__ import annotations

import json
from typing import Any

import click

COMMANDS: list[click.Command] = []


@click.command("pitch")
@click.argument("user_id")
@click.argument("item_id", required=False)
@click.option("-n", type=click.IntRange(1, 50), default=3, show_default=True, help="Top-N items.")
@click.option(
    "--backend",
    type=click.Choice(["local", "openai", "template"]),
    default="local",
    show_default=True,
    help="Who writes the pitch.",
)
@click.option("--language", type=click.Choice(["en", "de", "fr", "es"]), default="en")
@click.option(
    "--runtime",
    type=click.Choice(["onnx", "transformers", "llamacpp"]),
    default=None,
    help="Local model runtime (default onnx when onnxruntime-genai is installed).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "int8", "int4"]),
    default=None,
    help="Local model weights (bf16: transformers only; int4: onnx only).",
)
@click.option("--samples", type=click.IntRange(1, 16), default=None, help="Best-of-n samples.")
@click.option("--no-cache", is_flag=True, help="Write fresh pitches (and overwrite the cache).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with samples and verdicts).")
@click.pass_obj
def pitch_cmd(
    obj: Any,
    user_id: str,
    item_id: str | None,
    n: int,
    backend: str,
    language: str,
    runtime: str | None,
    precision: str | None,
    samples: int | None,
    no_cache: bool,
    as_json: bool,
) -> None:
    """Write pitches for USER_ID's top-N recommendations, or for ITEM_ID only."""
    from recsys.errors import UnknownItemError
    from recsys.pitch.batch import write_for_user
    from recsys.pitch.config import PitchConfig
    from recsys.service import RecommendationService
    from recsys.store.sqlite import Store

    changes: dict[str, Any] = {"backend": backend, "language": language}
    if runtime:
        changes["runtime"] = runtime
    if precision:
        changes["precision"] = precision
    if samples:
        changes["n_samples"] = samples
    config = PitchConfig(**changes)
    obj.home.ensure()
    store = Store(obj.home.db_path)
    try:
        if item_id is not None:
            row = store.get_item(item_id)
            if row is None:
                raise UnknownItemError(item_id)
            items: list[dict[str, Any]] = [row]
        else:
            service = RecommendationService(obj.home, store=store, live_catalog=False)
            items = service.recommend_user(user_id, n=n)["items"]
        results = write_for_user(obj.home, store, user_id, items, config, use_cache=not no_cache)
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
        click.echo(f"{facts.title} (id {facts.item_id}) [{r.pitch.source}, {r.seconds:.2f} s]")
        click.echo(f"  {r.pitch.text}")


COMMANDS.append(pitch_cmd)
