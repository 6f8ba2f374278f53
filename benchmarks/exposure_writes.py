"""What an experiment's exposure log costs the store: CPU per answer written, and erasure time.

Every answer served inside an experiment is one ``exposures`` row, written by a background
thread of each API worker (``recsys.service.exposures``) in batches, about one a second. This
script measures the store's side of it on SQLite, the way the writer calls it
(``SQLiteStore.add_exposures``), with two indexes of the table:

* ``time``: the index of schema version 3, ``(experiment, ts, user_id)``: entries appended in
  the order answers are served;
* ``user``: version 2's ``(experiment, user_id)``: every answer's entry lands on a random page of
  the index, and a transaction writes every page it touched to the write-ahead log.

Each is measured with few shoppers (943, ML-100K's) and many (50,000, the synthetic catalog's):
the table is first filled with ``--prefill`` answers of random shoppers, then ``--batches``
batches of ``--batch`` answers (one writer's second at ~1,500 answers/s) are written; reported:
the median CPU per answer over the batches, with the min and max.

Then the price of the ``time`` index: erasing a shopper reads every experiment's index entries
(the index covers ``user_id``, so the table is not read). ``delete_user`` is timed on a store
holding ``--erase-rows`` answers (median of 3 shoppers, wall time; the write lock is held for it).

Usage::

    .venv/bin/python benchmarks/exposure_writes.py    # -> results/exposure_writes.{json,md}
    .venv/bin/python benchmarks/exposure_writes.py --prefill 50000 --erase-rows 200000  # quick
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from api_latency import machine_line, write_result  # noqa: E402

from recsys.store import SQLiteStore  # noqa: E402
from recsys.types import Exposure  # noqa: E402

INDEXES = {
    "time": "CREATE INDEX exposures_time ON exposures (experiment, ts, user_id)",
    "user": "CREATE INDEX exposures_experiment ON exposures (experiment, user_id)",
}
ITEMS = tuple(f"item-{i}" for i in range(20))  # a 20-item answer


def _answers(rng: random.Random, n: int, users: int, t0: float) -> list[Exposure]:
    return [
        Exposure(
            f"{rng.getrandbits(64):016x}",
            "bench",
            "b",
            f"user-{rng.randrange(users)}",
            t0 + k * 1e-3,
            ITEMS,
        )
        for k in range(n)
    ]


def _store(folder: Path, index: str) -> SQLiteStore:
    """A new store whose exposures carry ``index`` (the store's own, or version 2's)."""
    path = folder / f"{index}.sqlite3"
    store = SQLiteStore(path)
    store.put_experiment("bench", "{}")
    if index != "time":  # swapped on a connection of its own (the open would drop version 2's)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("DROP INDEX exposures_time")
        conn.execute(INDEXES[index])
        conn.close()
    return store


def write_cost(index: str, users: int, prefill: int, batches: int, batch: int) -> dict[str, Any]:
    """CPU per answer of ``add_exposures`` batches on a table of ``prefill`` answers."""
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp), index)
        try:
            t0 = time.time()
            for start in range(0, prefill, 50_000):
                store.add_exposures(_answers(rng, min(50_000, prefill - start), users, t0))
                t0 += 50.0
            costs = []
            for _ in range(batches):
                answers = _answers(rng, batch, users, t0)
                t0 += batch * 1e-3
                cpu = time.process_time()
                store.add_exposures(answers)
                costs.append((time.process_time() - cpu) / batch * 1e6)
        finally:
            store.close()
    return {
        "index": index,
        "users": users,
        "us_per_answer": round(statistics.median(costs), 2),
        "min": round(min(costs), 2),
        "max": round(max(costs), 2),
    }


def erase_time(rows: int, users: int) -> dict[str, Any]:
    """Wall seconds of ``delete_user`` on a store holding ``rows`` answers (version 3)."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp), "time")
        try:
            t0 = time.time()
            for start in range(0, rows, 50_000):
                store.add_exposures(_answers(rng, min(50_000, rows - start), users, t0))
                t0 += 50.0
            shown = store.experiment_log("bench", 0.0).exposures["user_id"].to_list()
            erased = [f"user-{k}" for k in range(3)]
            seconds = []
            for user in erased:
                wall = time.perf_counter()
                store.delete_user(user)
                seconds.append(time.perf_counter() - wall)
            left = store.experiment_log("bench", 0.0).exposures["user_id"].to_list()
            if set(left) & set(erased) or len(left) != len(shown) - sum(u in erased for u in shown):
                raise RuntimeError("the erasure did not delete exactly the erased users' answers")
        finally:
            store.close()
    return {
        "answers": rows,
        "seconds": round(statistics.median(seconds), 3),
        "runs": [round(s, 3) for s in seconds],
        "answers_erased": len(shown) - len(left),
        "answers_left": len(left),
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown section."""
    args = result["args"]
    lines = [
        "## Exposure writes (SQLite)",
        "",
        f"Run {result['run_at']} on {result['machine']}; `{result['command']}`. Batches of "
        f"{args['batch']} answers on a table already holding {args['prefill']:,}; median CPU per "
        f"answer over {args['batches']} batches [min, max].",
        "",
        "| index | shoppers | CPU per answer (us) | [min, max] |",
        "|---|---:|---:|---|",
    ]
    for row in result["writes"]:
        name = {"time": "(experiment, ts, user_id), v3", "user": "(experiment, user_id), v2"}[
            row["index"]
        ]
        lines.append(
            f"| {name} | {row['users']:,} | {row['us_per_answer']} | [{row['min']}, {row['max']}] |"
        )
    erase = result["erase"]
    lines += [
        "",
        f"Erasing a shopper with {erase['answers']:,} answers in the store (version 3, wall time, "
        "the write lock held): "
        f"{erase['seconds']} s (median of {erase['runs']}); {erase['answers_erased']:,} answers "
        f"of the 3 shoppers deleted, {erase['answers_left']:,} left.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefill", type=int, default=200_000)
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1_500)
    parser.add_argument("--users", type=int, nargs="+", default=[943, 50_000])
    parser.add_argument("--erase-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/exposure_writes.json"
    )
    args = parser.parse_args(argv)
    writes = []
    for users in args.users:
        for index in ("time", "user"):
            row = write_cost(index, users, args.prefill, args.batches, args.batch)
            print(f"index {index:4s} users {users:6d}: {row['us_per_answer']:6.2f} us/answer")
            writes.append(row)
    erase = erase_time(args.erase_rows, max(args.users))
    print(f"erase one shopper among {args.erase_rows:,} answers: {erase['seconds']} s")
    result = {
        "run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_line(),
        "command": " ".join(["python", "benchmarks/exposure_writes.py", *sys.argv[1:]]),
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "writes": writes,
        "erase": erase,
    }
    write_result(args.out, result, markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
