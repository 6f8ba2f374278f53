"""``recsys erase``: erase shoppers' data from the data home (as ``POST /v1/erasures``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.command()
@click.argument("user_ids", nargs=-1)
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Also erase the user ids in this file (one per line, UTF-8; blank lines skipped).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--compact/--no-compact",
    default=None,
    help="Rewrite the store now (default: when it is at most 128 MB; else the next nightly "
    "run or `recsys compact` does it). Writers wait meanwhile (about 15 ms per MB).",
)
@click.option(
    "--checkpoint-wait",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="Seconds to wait for readers before truncating the store's write-ahead log.",
)
@click.pass_obj
def erase(
    obj: Any,
    user_ids: tuple[str, ...],
    from_file: Path | None,
    as_json: bool,
    compact: bool | None,
    checkpoint_wait: float,
) -> None:
    """Erase USER_IDS: events, sessions, pitches, their rows in every kept bundle and import file.

    Erasing many users at once rewrites each bundle once. An audit line (counts, never ids) is
    appended to <home>/audit.log. Servers stop personalizing for them at once.
    """
    from recsys.erasure import erase_users
    from recsys.store import open_store

    ids = list(user_ids)
    if from_file is not None:
        text = from_file.read_text(encoding="utf-8")
        ids += [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not ids:
        raise click.UsageError("name at least one USER_ID (or --from-file)")
    home = obj.home.ensure()
    with open_store(home) as store:
        report = erase_users(
            home,
            store,
            ids,
            source="cli",
            checkpoint_wait_s=checkpoint_wait,
            compact=compact,
        )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(
        f"erased {report.users} user(s): {report.events} events, {report.pitches} pitches, "
        f"{len(report.bundles)} bundle(s) and {report.inbox_files} import file(s) rewritten "
        f"({report.inbox_rows} rows); write-ahead log "
        + ("truncated" if report.wal_truncated else "NOT truncated (a reader held it; rerun)")
        + ("; store compacted" if report.compacted else "; compaction due (`recsys compact`)")
        + f"; audit id {report.erasure_id}"
    )
    for path in report.unreadable_files:
        click.echo(f"warning: {path} could not be read and may still hold the data", err=True)


@click.command()
@click.pass_obj
def compact(obj: Any) -> None:
    """Rewrite the store and the pitch cache so no stale copy of an erased row remains.

    Erasures do it at once for a store up to 128 MB; for a larger one they leave it due, and the
    nightly job (or this command) does it. Writers wait meanwhile (about 15 ms per MB).
    """
    from recsys.erasure import compact_home
    from recsys.store import open_store

    home = obj.home.ensure()
    with open_store(home) as store:
        due = store.compact_due()
        seconds = compact_home(home, store)
    was = "" if due is None else " (due since an erasure)"
    click.echo(f"compacted the store and pitch cache in {seconds:.1f} s{was}")


COMMANDS: list[click.Command] = [erase, compact]
