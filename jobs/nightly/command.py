"""``recsys nightly`` (the retraining job) and ``recsys rollback [VERSION]``.

Both are registered with the ``recsys`` CLI through the ``recsys.commands`` entry-point group
(pyproject.toml).

Exit codes of ``recsys nightly``: 0 published or already up to date, 1 error, 2 usage, 3 the
quality gate kept the current bundle, 4 another run holds the lock, 5 not enough data
(see ``docs/operations.md``). ``recsys rollback`` exits 0, 1 (nothing to roll back to, broken
target) or 4 (a nightly run is in progress).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from recsys.commands.engine_options import engine_from_options, engine_options
from recsys.errors import LockedError

if TYPE_CHECKING:
    from recsys.cli import Context


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML or JSON nightly config ([train] table for the training config).",
)
@click.option("--force", is_flag=True, help="Publish even if the quality gate fails.")
@click.option("--no-inbox", is_flag=True, help="Do not import files from <home>/inbox.")
@click.option("--no-pitches", is_flag=True, help="Skip pre-writing pitches.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@engine_options(
    inputs=False, engine_help="Who trains (the judged candidates too): this process or Spark."
)
@click.pass_obj
def nightly(
    obj: Context,
    config_path: Path | None,
    force: bool,
    no_inbox: bool,
    no_pitches: bool,
    as_json: bool,
    engine: str,
    master: str,
    stage: Path | None,
    spark_conf: tuple[str, ...],
) -> None:
    """Import the inbox, retrain, gate against the current bundle, publish, write a report."""
    from dataclasses import replace

    from jobs.nightly.job import ExitCode, run_nightly
    from recsys.nightly.config import load_nightly_config

    config = load_nightly_config(config_path)
    if no_inbox:
        config = replace(config, inbox=False)
    spark = engine_from_options(engine, master, spark_conf, stage)
    try:
        result = run_nightly(
            obj.home,
            config,
            force=force,
            show_progress=obj.progress,
            pitches=not no_pitches,
            engine=spark,
        )
    except LockedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(ExitCode.LOCKED))
    finally:
        if spark is not None:
            spark.close()
    if as_json:
        click.echo(json.dumps(result.report, indent=2))
    else:
        click.echo(f"{result.decision} (exit {result.exit_code}): {result.reason}")
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in result.report["timings_s"].items())
        click.echo(f"steps: {steps}")
        md = [p for p in result.report_paths if p.suffix == ".md"]
        if md:
            click.echo(f"report: {md[0]}")
    sys.exit(result.exit_code)


@click.command()
@click.argument("version", required=False)
@click.pass_obj
def rollback(obj: Context, version: str | None) -> None:
    """Point CURRENT back at VERSION (default: the version before the current one)."""
    from jobs.nightly.job import ExitCode, rollback_current

    try:
        before, after = rollback_current(obj.home, version)
    except LockedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(ExitCode.LOCKED))
    click.echo(f"CURRENT: {before or 'none'} -> {after}")
