"""``recsys experiment``: create, list, stop and report A/B experiments (as the admin API does).

Experiments live in the store, so a server sharing it follows a start or a stop within one poll
(``swap_poll_s``); its answers then carry the experiment and the shopper's variant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from recsys.experiments.spec import METRICS


@click.group()
def experiment() -> None:
    """A/B experiments: split shoppers between variants and report what each earns."""


@experiment.command("create")
@click.argument("name")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    required=True,
    help="NAME=SPEC, the control first. SPEC: current, or key=value pairs joined by commas: "
    "bundle=<version>, pitch=on|off, holdout=popular|none, or a blend setting such as "
    "text_weight=0.6 (e.g. --variant control=current --variant treatment=trending_weight=1).",
)
@click.option("--traffic", default=None, help="Percent per variant, e.g. 50/50 (default: equal).")
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default="conversion",
    show_default=True,
    help="The metric the decision is made on.",
)
@click.option("--alpha", type=float, default=0.05, show_default=True, help="False-positive rate.")
@click.option(
    "--window",
    "window_h",
    type=float,
    default=24.0,
    show_default=True,
    help="Attribution window in hours: an event counts for an answer it follows within it.",
)
@click.option(
    "--min-users",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="No decision before every variant has this many shoppers.",
)
@click.option(
    "--salt",
    default=None,
    help="The assignment hash's salt (default: random). The same salt and shares put every "
    "shopper in the same variant again: for a demo or a rerun, not to choose who gets what.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the experiment as JSON.")
@click.pass_obj
def create(
    obj: Any,
    name: str,
    variants: tuple[str, ...],
    traffic: str | None,
    metric: str,
    alpha: float,
    window_h: float,
    min_users: int,
    salt: str | None,
    as_json: bool,
) -> None:
    """Start experiment NAME (one runs at a time; shoppers are assigned at once)."""
    from recsys.bundle import list_versions
    from recsys.experiments import make_experiment, start_experiment
    from recsys.store import open_store

    made = make_experiment(
        name,
        list(variants),
        traffic,
        primary=metric,
        alpha=alpha,
        window_s=window_h * 3600.0,
        min_users=min_users,
        salt=salt,
    )
    home = obj.home.ensure()
    with open_store(home) as store:
        started = start_experiment(store, made, list_versions(home.artifacts))
    if as_json:
        click.echo(started.to_json())
        return
    click.echo(f"experiment {started.name} started:")
    for v in started.variants:
        click.echo(f"  {v.name:<12} {v.share:5.1f}%  {v.describe()}")


@experiment.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_(obj: Any, as_json: bool) -> None:
    """Every experiment, oldest first, with its state."""
    from recsys.experiments import list_experiments
    from recsys.store import open_store

    with open_store(obj.home) as store:
        found = list_experiments(store)
    if as_json:
        click.echo(json.dumps([json.loads(e.to_json()) for e in found], indent=2))
        return
    if not found:
        click.echo("no experiments")
    for e in found:
        state = "running" if e.running else "stopped"
        arms = ", ".join(f"{v.name} {v.share:g}%" for v in e.variants)
        click.echo(f"{e.name}: {state}; {arms}; decides on {e.primary}")


@experiment.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def status(obj: Any, name: str, as_json: bool) -> None:
    """Where NAME stands: shoppers per variant, the primary metric and the decision."""
    from recsys.experiments import report_for
    from recsys.store import open_store

    with open_store(obj.home) as store:
        report = report_for(store, name)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
        return
    click.echo(report.markdown())


@experiment.command("stop")
@click.argument("name")
@click.pass_obj
def stop(obj: Any, name: str) -> None:
    """Stop NAME: shoppers are no longer assigned (its records stay for the report)."""
    from recsys.experiments import stop_experiment
    from recsys.store import open_store

    with open_store(obj.home) as store:
        stopped = stop_experiment(store, name)
    click.echo(f"experiment {stopped.name} stopped")


@experiment.command("report")
@click.argument("name")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for <name>.json, <name>.md and <name>.png (default: <home>/reports/experiments).",
)
@click.option("--json", "as_json", is_flag=True, help="Also print the report as JSON.")
@click.pass_obj
def report(obj: Any, name: str, out: Path | None, as_json: bool) -> None:
    """Write NAME's report (JSON, Markdown and a plot) and print the Markdown."""
    from recsys.experiments import report_for
    from recsys.store import open_store

    with open_store(obj.home) as store:
        result = report_for(store, name)
    folder = out or obj.home.root / "reports" / "experiments"
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(result.to_dict(), indent=2, allow_nan=False)
    (folder / f"{name}.json").write_text(data + "\n", encoding="utf-8")
    (folder / f"{name}.md").write_text(result.markdown() + "\n", encoding="utf-8")
    result.plot_png(folder / f"{name}.png")
    click.echo(data if as_json else result.markdown())
    click.echo(f"written: {folder / name}.json, .md, .png", err=True)


@experiment.command("simulate")
@click.option(
    "--rounds",
    type=click.IntRange(1, 365),
    default=3,
    show_default=True,
    help="Visits per shopper (a round stands for a day).",
)
@click.option(
    "--shoppers",
    type=click.IntRange(1),
    default=300,
    show_default=True,
    help="How many trained users visit (a seeded sample).",
)
@click.option("-n", "n", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--yes",
    "confirmed",
    is_flag=True,
    help="Confirm: the simulated events are stored under real user ids and the next training "
    "learns from them (for demo and test data homes only).",
)
@click.pass_obj
def simulate_traffic(
    obj: Any, rounds: int, shoppers: int, n: int, seed: int, confirmed: bool
) -> None:
    """Simulated shoppers visit, click and buy through the running experiment (a demo, a test).

    Each shopper's hidden taste is their share of events per category in the store: they click
    an item more often the more of their taste its category is. Events and exposures are
    written to the store as the API would write them, so the experiment's report fills up.
    """
    import numpy as np

    from recsys.service import RecommendationService
    from recsys.simulate import CategoryPreferences, simulate

    if not confirmed:
        raise click.UsageError(
            "simulated events are stored under real user ids and trained on: pass --yes "
            "(demo and test data homes only)"
        )
    service = RecommendationService(obj.home)
    try:
        running = service.read_experiment()
        if running is None:
            raise click.UsageError("no experiment is running: `recsys experiment create` first")
        vocab = service.bundle.users
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(vocab), size=min(shoppers, len(vocab)), replace=False)
        users = [vocab.id(int(i)) for i in sorted(chosen)]
        prefs = CategoryPreferences.from_store(service.store)

        def show(r: int, counts: Any) -> None:
            parts = [
                f"{v}: {counts.visits[v]} visits, {counts.clicks.get(v, 0)} clicks, "
                f"{counts.purchases.get(v, 0)} purchases"
                for v in sorted(counts.visits)
            ]
            click.echo(f"round {r + 1}/{rounds}: " + "; ".join(parts))

        simulate(service, users, prefs, rounds=rounds, n=n, seed=seed, on_round=show)
    finally:
        service.close()
    click.echo(f"`recsys experiment status {running.name}` reports on it")


COMMANDS: list[click.Command] = [experiment]
