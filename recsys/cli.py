"""The ``recsys`` command line: import, load demo data, train, recommend, inspect.

Expected errors print one line (``error: ...``) and exit with code 2 for usage mistakes (bad
arguments, unknown ids, bad files) or 1 for other failures; no tracebacks. ``-v`` shows debug logs.
"""

from __future__ import annotations

import json
import logging
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from recsys.commands import all_commands
from recsys.commands.engine_options import engine_from_options, engine_options
from recsys.errors import (
    BundleError,
    ConfigError,
    DatasetUnavailableError,
    ImportRejectedError,
    InvalidInputError,
    RecsysError,
    UnknownItemError,
)
from recsys.home import Home
from recsys.types import MAX_N, SIMILAR_MODES

if TYPE_CHECKING:
    from recsys.service import ServedRecommendations

USAGE_ERRORS = (
    ConfigError,
    DatasetUnavailableError,
    ImportRejectedError,
    InvalidInputError,
    UnknownItemError,
)
MAX_ERRORS_SHOWN = 20
COMMAND_GROUP = "recsys.commands"  # entry-point group of commands that live outside the library


class Context:
    """Options shared by all sub-commands."""

    def __init__(self, home: Home, progress: bool) -> None:
        self.home = home
        self.progress = progress


class CommandGroup(click.Group):
    """The ``recsys`` group: the library's commands plus those registered by other packages.

    Applications outside the library (the API's ``serve``, the nightly job's ``nightly`` and
    ``rollback``) register their click commands under the entry-point group
    :data:`COMMAND_GROUP` (``[project.entry-points."recsys.commands"]`` in pyproject.toml), so
    the library never imports them. They are loaded when first needed: a command by its name when
    it is run, all of them for ``--help``. A library command keeps its name over a registered one.
    """

    def _registered(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}

    def _add_registered(self, name: str, entry: EntryPoint) -> click.Command:
        command = entry.load()
        if not isinstance(command, click.Command):
            raise TypeError(f"entry point {entry.value!r} ({COMMAND_GROUP}) is no click command")
        self.add_command(command, name)
        return command

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named ``cmd_name``, loading a registered one on first use."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self._registered().get(cmd_name)
        return None if entry is None else self._add_registered(cmd_name, entry)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, sorted; a registered command that fails to load is left out."""
        for name, entry in self._registered().items():
            if name in self.commands:
                continue
            try:
                self._add_registered(name, entry)
            except Exception as exc:  # one broken plugin must not hide the others' help
                click.echo(f"warning: command {name!r} ({entry.value}) not loaded: {exc}", err=True)
        return super().list_commands(ctx)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data home (default: $RECSYS_HOME or ./var).",
)
@click.option(
    "--store",
    default=None,
    help="The store: a postgresql:// URL shared by several hosts (default: $RECSYS_STORE, "
    "else the SQLite file in the data home). Prefer the variable or ~/.pgpass for passwords.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars (default: when stderr is a terminal).",
)
@click.version_option(package_name="recsys-shop")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    store: str | None,
    verbose: bool,
    progress: bool | None,
) -> None:
    """Personalized hybrid recommendations for online shops."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("sentence_transformers", "transformers", "faiss", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    show = sys.stderr.isatty() if progress is None else progress
    ctx.obj = Context(Home.resolve(home, store=store), show)


def _report_import(kind: str, result: Any) -> None:
    for err in result.errors[:MAX_ERRORS_SHOWN]:
        click.echo(f"  rejected {err}", err=True)
    if result.rejected > MAX_ERRORS_SHOWN:
        click.echo(f"  ... and {result.rejected - MAX_ERRORS_SHOWN} more", err=True)
    click.echo(
        f"{kind}: read {result.rows} rows, {result.valid} valid, {result.stored} stored, "
        f"{result.rejected} rejected"
    )
    if result.rejected:
        click.echo(f"error: {result.rejected} of {result.rows} rows were rejected", err=True)
        sys.exit(1)


TsUnitChoice = Literal["auto", "s", "ms"]  # recsys.store.importing.TsUnit (not imported: startup)
TS_UNIT_OPTION = click.option(
    "--ts-unit",
    type=click.Choice(["auto", "s", "ms"]),
    default="auto",
    show_default=True,
    help="Unit of epoch-number timestamps: s (seconds), ms (milliseconds), or auto: seconds, "
    "unless a number is over a day in the future as seconds and between 1990-01-01 and "
    "tomorrow as milliseconds. ISO 8601 strings need no unit.",
)


@cli.command("import-events")
@click.argument("file", type=click.Path(path_type=Path))
@TS_UNIT_OPTION
@click.pass_obj
def import_events(obj: Context, file: Path, ts_unit: TsUnitChoice) -> None:
    """Import events from FILE (.csv, .tsv, .parquet, .jsonl; text in UTF-8).

    Columns: user_id, item_id, type (view|click|add_to_cart|purchase), ts (ISO 8601 or an epoch
    number, see --ts-unit), optional session_id. Ids are strings (integers are read as text;
    floats, lists or objects are refused). A ts before 1990-01-01 or over a day in the future is
    rejected, never reinterpreted.

    Exits 1 if any row was rejected (valid rows are stored; rows with bytes that are not UTF-8 are
    rejected with their byte offset), 2 if the file cannot be imported at all (missing, a
    directory, empty, a required column missing, an id column of another type).
    """
    from recsys.store import import_events_file, open_store

    with open_store(obj.home.ensure()) as store:
        _report_import("events", import_events_file(store, file, ts_unit=ts_unit))


@cli.command("import-catalog")
@click.argument("file", type=click.Path(path_type=Path))
@TS_UNIT_OPTION
@click.pass_obj
def import_catalog(obj: Context, file: Path, ts_unit: TsUnitChoice) -> None:
    """Import (upsert) catalog items from FILE (.csv, .tsv, .parquet, .jsonl; text in UTF-8).

    Columns: item_id, title, optional description, category, price, currency, in_stock,
    attributes (JSON object), updated_at (ISO 8601 or an epoch number, see --ts-unit; 0 means
    unknown; over a day in the future is rejected).

    Exits 1 if any row was rejected, 2 if the file cannot be imported at all (as for
    import-events).
    """
    from recsys.store import import_catalog_file, open_store

    with open_store(obj.home.ensure()) as store:
        _report_import("catalog", import_catalog_file(store, file, ts_unit=ts_unit))


@cli.command("load-demo")
@click.option(
    "--dataset",
    type=click.Choice(["ml-100k", "instacart", "zh-shop"]),
    default="ml-100k",
    show_default=True,
    help="Real dataset read from its installed package (ml-100k, instacart), or the synthetic "
    "bilingual Chinese shop (zh-shop).",
)
@click.pass_obj
def load_demo(obj: Context, dataset: str) -> None:
    """Load a demo dataset (MovieLens-100K, Instacart or the synthetic zh-shop) into the store."""
    from recsys.datasets import load_dataset
    from recsys.store import open_store

    events, catalog = load_dataset(dataset)
    with open_store(obj.home.ensure()) as store:
        n_items = store.upsert_items(catalog)
        n_events = store.add_events(events)
        total = store.count_events()
        where = store.location
    click.echo(
        f"{dataset}: {n_items} catalog items, {n_events} new events "
        f"({events.height - n_events} already stored); {total} events in {where}"
    )
    if dataset == "zh-shop":
        from recsys.datasets.zh_shop import SYNTHETIC_NOTE

        click.echo(SYNTHETIC_NOTE)


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML or JSON training config (defaults otherwise).",
)
@click.option("--no-publish", is_flag=True, help="Write the bundle but do not point CURRENT at it.")
@engine_options(
    inputs=True,
    engine_help="Who trains: this process (implicit) or Apache Spark (the [spark] extra, Java 17).",
)
@click.pass_obj
def train(
    obj: Context,
    config_path: Path | None,
    no_publish: bool,
    engine: str,
    master: str,
    spark_conf: tuple[str, ...],
    events_path: str | None,
    catalog_path: str | None,
    stage: Path | None,
) -> None:
    """Train on all stored events and publish a new model bundle."""
    from recsys.config import load_config
    from recsys.training import train as run_train

    config = load_config(config_path)
    spark = engine_from_options(engine, master, spark_conf, stage, events_path, catalog_path)
    try:
        report = run_train(
            obj.home,
            config,
            show_progress=obj.progress,
            publish_bundle=not no_publish,
            engine=spark,
        )
    finally:
        if spark is not None:
            spark.close()  # Spark's copies of the staged bundle and shuffle files go with it
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    click.echo(
        f"bundle {report.version}{' published' if report.published else ' written'}: "
        f"{report.n_users} users, {report.n_items} items, {report.n_interactions} interactions; "
        f"text: {report.n_embedded} embedded, {report.n_cached} from cache; {steps}"
    )


def _filters(category: str | None, exclude: str | None, include_out_of_stock: bool) -> Any:
    from recsys.types import Filters

    ids = frozenset(x.strip() for x in (exclude or "").split(",") if x.strip())
    return Filters(
        category=category, exclude=ids, in_stock_only=False if include_out_of_stock else None
    )


def _print_items(answer: ServedRecommendations) -> None:
    for rank, (item, facts) in enumerate(answer.pairs(), start=1):
        cat = f" [{facts.category}]" if facts.category else ""
        click.echo(
            f"  {rank:>2}. {facts.title}{cat}  (id {item.item_id}, score {item.score:.3f})"
            f"\n      {item.reason.text}"
        )


def _answer_json(
    answer: ServedRecommendations, head: dict[str, str], ranking: bool = False
) -> dict[str, Any]:
    """The answer as JSON, with the HTTP API's field names (reasons included)."""
    from recsys.service.served import item_record

    items = [item_record(item, facts, reasons=True) for item, facts in answer.pairs()]
    return {
        **head,
        "model_version": answer.model_version,
        "strategy": answer.strategy,
        **({"ranking": answer.ranking} if ranking else {}),
        "items": items,
        "recommendation_id": answer.recommendation_id,
        "experiment": answer.experiment,
        "variant": answer.variant,
    }


@cli.command()
@click.argument("user_id")
@click.option("-n", type=click.IntRange(1, MAX_N), default=10, show_default=True)
@click.option("--category", default=None, help="Only items of this category.")
@click.option("--exclude", default=None, help="Comma-separated item ids never to show.")
@click.option("--include-out-of-stock", is_flag=True, help="Do not filter out-of-stock items.")
@click.option(
    "--lang",
    default=None,
    metavar="en|zh",
    help="Language of the reasons (zh-CN and zh-TW read as zh). Default: the catalog's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def recommend(
    obj: Context,
    user_id: str,
    n: int,
    category: str | None,
    exclude: str | None,
    include_out_of_stock: bool,
    lang: str | None,
    as_json: bool,
) -> None:
    """Recommend N items for USER_ID, with the reason for each."""
    from recsys.lang import parse_language
    from recsys.service import RecommendationService

    language = parse_language(lang)  # InvalidInputError: a usage error (exit 2)
    service = RecommendationService(obj.home)
    try:
        answer = service.recommend_user(
            user_id,
            n=n,
            filters=_filters(category, exclude, include_out_of_stock),
            language=language,
        )
    finally:
        service.close()
    if as_json:
        _echo_json(_answer_json(answer, {"user_id": user_id}, ranking=True))
        return
    in_experiment = f", experiment {answer.experiment}: {answer.variant}" if answer.variant else ""
    click.echo(
        f"Recommendations for user {user_id} (strategy: {answer.strategy}, "
        f"model {answer.model_version}{in_experiment}):"
    )
    _print_items(answer)


@cli.command()
@click.argument("item_id")
@click.option("-n", type=click.IntRange(1, MAX_N), default=10, show_default=True)
@click.option(
    "--mode",
    type=click.Choice(SIMILAR_MODES),
    default="hybrid",
    show_default=True,
)
@click.option(
    "--lang",
    default=None,
    metavar="en|zh",
    help="Language of the reasons (zh-CN and zh-TW read as zh). Default: the catalog's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def similar(obj: Context, item_id: str, n: int, mode: str, lang: str | None, as_json: bool) -> None:
    """Items similar to ITEM_ID by behavior, text (content) or both."""
    from recsys.lang import parse_language
    from recsys.service import RecommendationService

    language = parse_language(lang)  # InvalidInputError: a usage error (exit 2)
    service = RecommendationService(obj.home)
    try:
        answer = service.similar(item_id, n=n, mode=mode, language=language)  # type: ignore[arg-type]
        title = service.bundle.item_table.title(service.bundle.items.index(item_id))
    finally:
        service.close()
    if as_json:
        _echo_json(_answer_json(answer, {"item_id": item_id, "mode": mode}))
        return
    click.echo(f"Similar to {title} (id {item_id}, mode {mode}, model {answer.model_version}):")
    _print_items(answer)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def info(obj: Context, as_json: bool) -> None:
    """Show the current bundle's manifest and the store's counts."""
    from recsys.bundle import current_version, list_versions
    from recsys.store import open_store

    artifacts = obj.home.artifacts
    version = current_version(artifacts)
    manifest = None
    if version is not None:
        try:
            manifest = json.loads(
                (artifacts / version / "manifest.json").read_text(encoding="utf-8")
            )
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(
                f"CURRENT names bundle {version!r} but its manifest is unreadable: {exc}"
            ) from exc
    with open_store(obj.home.ensure()) as store:
        counts = {
            "events": store.count_events(),
            "items": store.count_items(),
            "location": store.location,
        }
    versions = list_versions(artifacts)
    data: dict[str, Any] = {
        "home": str(obj.home.root),
        "store": counts,
        "current": version,
        "versions": versions,
        "manifest": manifest,
    }
    if as_json:
        _echo_json(data)
        return
    click.echo(f"home: {data['home']}")
    click.echo(
        f"store: {counts['events']} events, {counts['items']} catalog items ({counts['location']})"
    )
    click.echo(f"versions on disk: {', '.join(versions) or 'none'}")
    if manifest is None:
        click.echo("current bundle: none (run `recsys train`)")
        return
    c = manifest["counts"]
    click.echo(
        f"current bundle: {version} (created {manifest['created_at']}), "
        f"{manifest['config']['behavior']['algorithm']}, {c['users']} users, {c['items']} items, "
        f"{c['interactions']} interactions, {c['items_with_text']} items with text"
    )
    chosen = manifest.get("text_model")
    if chosen:  # bundles since issue 23
        click.echo(
            f"text model: {chosen['model']} ({chosen['reason']}); "
            f"catalog language: {manifest.get('catalog_language', 'en')}"
        )
    if manifest.get("metrics"):
        click.echo(f"metrics: {json.dumps(manifest['metrics'])}")


for _command in all_commands():
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning expected errors into one line."""
    try:
        cli.main(args=argv, prog_name="recsys", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except USAGE_ERRORS as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except RecsysError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
