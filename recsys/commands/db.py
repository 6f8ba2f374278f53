"""``recsys db``: create, migrate and inspect the store's tables (SQLite or PostgreSQL).

A PostgreSQL store (``RECSYS_STORE=postgresql://...``) is never created implicitly: run
``recsys db migrate`` once before the first import or ``recsys serve``, and again after an
upgrade that says so (several hosts may run it at once; they take turns). A SQLite store creates
its tables when it is opened, so ``migrate`` only reports its version.
"""

from __future__ import annotations

import json
from typing import Any

import click


@click.group("db")
def db() -> None:
    """The store's tables: `migrate` creates or upgrades them, `status` shows them."""


@db.command("migrate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def migrate_command(obj: Any, as_json: bool) -> None:
    """Create or upgrade the store's tables (idempotent; safe from several hosts at once)."""
    from recsys.store import SQLiteStore, store_kind

    home = obj.home
    kind = store_kind(home)
    if kind == "postgresql":
        from recsys.store.postgres import migrate, redact_url

        before, after = migrate(home.store)
        where = redact_url(home.store)
    else:
        with SQLiteStore(home.ensure().db_path) as store:
            before = after = store.schema_version()
            where = store.location
    result = {"store": where, "kind": kind, "before": before, "after": after}
    if as_json:
        click.echo(json.dumps(result))
        return
    if before == after:
        click.echo(f"{where}: schema version {after} (up to date)")
    else:
        change = "created" if before == 0 else f"migrated from version {before}"
        click.echo(f"{where}: schema version {after} ({change})")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def status_command(obj: Any, as_json: bool) -> None:
    """Which store the home uses, its schema version, and its row counts."""
    from recsys.store import open_store, store_kind

    with open_store(obj.home) as store:
        result: dict[str, Any] = {
            "store": store.location,
            "kind": store_kind(obj.home),
            "schema_version": store.schema_version(),
            "events": store.count_events(),
            "items": store.count_items(),
            "last_seq": store.last_seq(),
            "bytes": store.size_bytes(),
        }
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(
        f"{result['store']} ({result['kind']}): schema version {result['schema_version']}, "
        f"{result['events']} events, {result['items']} catalog items, "
        f"{result['bytes'] / 1e6:.1f} MB"
    )


COMMANDS: list[click.Command] = [db]
