"""``recsys insights``: segments of shoppers, each described by its facts (:mod:`recsys.insights`).

Reads the published bundle (its user vectors) and the store (events, catalog); prints Markdown, or
the same facts as JSON with ``--json``. Exits 1 when no bundle is published, 2 for a ``--k`` above
the shoppers that have a vector.
"""

from __future__ import annotations

import json
from typing import Any

import click

MAX_K = 50  # recsys.insights.MAX_K (not imported here: it loads the bundle code, slow at startup)


@click.command("insights")
@click.option(
    "--k",
    "k",
    type=click.IntRange(1, MAX_K),
    default=None,
    help="Number of segments. Default: the k in 2..8 with the best silhouette on a seeded "
    "sample of at most 2000 shoppers.",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Seed of the sample and of k-means (same data and seed: same segments).",
)
@click.option(
    "--lang",
    default=None,
    metavar="en|zh",
    help="Language of the descriptions (zh-CN and zh-TW read as zh). Default: the catalog's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def insights(obj: Any, k: int | None, seed: int, lang: str | None, as_json: bool) -> None:
    """Segment the shoppers of the published bundle and describe each segment.

    Each segment: size, top categories, price band, what rose in the last 7 days of the data, and
    a short description written from those facts.
    """
    from recsys.bundle import load_bundle
    from recsys.insights import shopper_segments
    from recsys.lang import parse_language
    from recsys.store import open_store

    language = parse_language(lang)  # InvalidInputError: a usage error (exit 2)
    home = obj.home.ensure()
    bundle = load_bundle(home.artifacts)  # NoBundleError: "run recsys train" (exit 1)
    with open_store(home) as store:
        result = shopper_segments(bundle, store, k=k, seed=seed, language=language)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(result.markdown(), nl=False)


COMMANDS: list[click.Command] = [insights]
