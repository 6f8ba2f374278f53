"""The training-engine options that ``recsys train`` and ``recsys nightly`` share.

``--engine local|spark``, ``--master``, ``--conf KEY=VALUE`` and ``--stage`` (and, for
``train``, ``--events`` / ``--catalog``: a shop's own files); :func:`engine_from_options` turns
them into the engine ``recsys.training.train`` takes, or a usage error when a Spark option is
given without ``--engine spark``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from recsys.spark.engine import SparkEngine

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(*, inputs: bool, engine_help: str) -> Callable[[F], F]:
    """Add the engine options to a command (``inputs``: also ``--events`` and ``--catalog``)."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(["local", "spark"]),
            default="local",
            show_default=True,
            help=engine_help,
        ),
        click.option(
            "--master",
            default="local[*]",
            show_default=True,
            help="Spark master: local[*], local[N] or spark://host:7077 (--engine spark).",
        ),
        click.option(
            "--conf",
            "spark_conf",
            multiple=True,
            metavar="KEY=VALUE",
            help="Spark property passed through, repeatable (--engine spark).",
        ),
        click.option(
            "--stage",
            type=click.Path(path_type=Path),
            default=None,
            help="Folder for Spark's export and staged bundle (shared by every node on a "
            "cluster; default: a temporary folder).",
        ),
    ]
    if inputs:
        options += [
            click.option(
                "--events",
                "events_path",
                default=None,
                help="Train on this Parquet file/folder of events instead of the store "
                "(--engine spark).",
            ),
            click.option(
                "--catalog",
                "catalog_path",
                default=None,
                help="The catalog file for --events (any format import-catalog reads; "
                "default: the store's).",
            ),
        ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def engine_from_options(
    engine: str,
    master: str,
    spark_conf: tuple[str, ...],
    stage: Path | None,
    events_path: str | None = None,
    catalog_path: str | None = None,
) -> SparkEngine | None:
    """The engine the options ask for (None: the local trainer).

    Raises:
        click.UsageError: for a Spark option without ``--engine spark``.
        ConfigError: for a ``--conf`` that is not ``KEY=VALUE``.
    """
    if engine == "spark":
        from recsys.spark.engine import SparkEngine
        from recsys.spark.session import SparkSettings

        settings = SparkSettings(master=master, conf=SparkSettings.parse_conf(spark_conf))
        return SparkEngine(
            settings, events_path=events_path, catalog_path=catalog_path, stage=stage
        )
    given = {
        "--master": master != "local[*]",
        "--conf": bool(spark_conf),
        "--stage": stage is not None,
        "--events": events_path is not None,
        "--catalog": catalog_path is not None,
    }
    named = [name for name, set_ in given.items() if set_]
    if named:
        raise click.UsageError(f"{', '.join(named)}: these options need --engine spark")
    return None
