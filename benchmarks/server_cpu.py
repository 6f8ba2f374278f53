"""The server's CPU per answer, with and without an A/A experiment: the logging cost in CPU.

``api_latency.py`` measures the experiment's cost as a throughput ratio, which moves by several
percent from run to run on a shared 2-core machine (the load generator, the bare twin and
other work share the cores). This script measures what the throughput ratio stands for: the
CPU time our server's processes (gunicorn's master and workers, every thread, the exposure
writer included) spend per answer, read from the operating system before and after each run.

Per round, two servers run one after the other (alternating which goes first): ``recsys
serve`` over a copy of the home as it is (``plain``), and over a copy with ``api_latency.py``'s
A/A experiment started in its store (``ab``: two variants that serve what the plain path
serves, every user enrolled), each loaded by ``wrk -t1 -c16`` rotating over every user's
``GET /v1/users/<id>/recommendations?n=20`` (answered from the precomputed lists), ``--warmup``
seconds unmeasured, then ``--duration`` seconds measured and 2.5 s for the exposure writer's last
batch. Reported: CPU µs per answer (median over rounds), the extra of ``ab``, and **logging
cost = 1 − plain CPU / ab CPU**: the throughput a CPU-bound server loses. After each ``ab`` run
the store's exposures are counted against the answers sent.

``--side-by-side``: both servers run at the same time, each loaded by its own ``wrk -t1 -c16``
over the same window, so whatever else the machine does in that window (other work, a slower
moment of the VM) falls on both. Per round it reports each server's CPU per answer and its
throughput in that window; the costs are the medians of the rounds' paired ratios: **CPU cost
= 1 − plain CPU / ab CPU** and **throughput cost = 1 − ab req/s / plain req/s** (the two servers
share the cores, so a server that needs more CPU per answer answers fewer in the window). The
scheduler shares the cores per thread, so the exposure writer's thread, busy a few
milliseconds a second, gets its time beside the request threads: the throughput cost leaves
that out and the CPU cost counts it.

Usage (``make bench-tools`` installs wrk; the homes come from ``api_latency.py``)::

    .venv/bin/python benchmarks/server_cpu.py --dataset both   # -> results/server_cpu.{json,md}
    .venv/bin/python benchmarks/server_cpu.py --dataset both --side-by-side --rounds 7 \
        --out benchmarks/results/server_cpu_side_by_side.json
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from api_latency import (  # noqa: E402
    EXPOSURE_SETTLE_S,
    MAX_LOGGING_COST,
    ML_HOME,
    SYNTH_HOME,
    WRK_SCRIPT,
    count_exposures,
    machine_line,
    start_ab_experiment,
    start_server,
    write_result,
)

from api.testing import free_port, stop_server, wait_ready  # noqa: E402
from recsys.bundle import load_bundle  # noqa: E402
from recsys.home import Home  # noqa: E402
from recsys.service.exposures import OS_THREAD_NAME  # noqa: E402

HOMES = {"ml-100k": ML_HOME, "synthetic": SYNTH_HOME}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of ``proc`` and its live descendants."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _threads(proc: psutil.Process) -> dict[str, float]:
    """Per-thread counters of ``proc`` and its children, summed: the exposure writer apart.

    Read from ``/proc/<pid>/task/*/`` (a process's own ``status`` counts its main thread only):
    ``voluntary`` and ``involuntary`` context switches of every thread, and ``writer_s``, the
    CPU seconds of the threads named :data:`~recsys.service.exposures.OS_THREAD_NAME` (the
    exposure writers). A thread that ended before the read is not counted.
    """
    found = {"voluntary": 0.0, "involuntary": 0.0, "writer_s": 0.0}
    for p in [proc, *proc.children(recursive=True)]:
        for task in Path(f"/proc/{p.pid}/task").glob("*"):
            try:
                status, stat = (task / "status").read_text(), (task / "stat").read_text()
            except OSError:
                continue
            for key, field in (("voluntary", "voluntary"), ("involuntary", "nonvoluntary")):
                hit = re.search(rf"^{field}_ctxt_switches:\s+(\d+)", status, re.M)
                found[key] += int(hit.group(1)) if hit else 0
            if stat[stat.index("(") + 1 : stat.rindex(")")] == OS_THREAD_NAME:
                fields = stat[stat.rindex(")") + 2 :].split()  # utime, stime: fields 14, 15
                found["writer_s"] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def _per_answer(
    before: dict[str, float], after: dict[str, float], answers: int
) -> dict[str, float]:
    """Context switches and the writer's CPU µs per answer between two :func:`_threads` reads."""
    return {
        "writer_cpu_us": round((after["writer_s"] - before["writer_s"]) / answers * 1e6, 1),
        "voluntary_switches_per_answer": round(
            (after["voluntary"] - before["voluntary"]) / answers, 3
        ),
        "involuntary_switches_per_answer": round(
            (after["involuntary"] - before["involuntary"]) / answers, 3
        ),
    }


def _wrk_start(port: int, paths: Path, seconds: int) -> subprocess.Popen[str]:
    """Start one ``wrk -t1 -c16`` run against ``port`` (read it with :func:`_wrk_read`)."""
    url = f"http://127.0.0.1:{port}"
    return subprocess.Popen(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(WRK_SCRIPT), url, "--", str(paths)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wrk_read(proc: subprocess.Popen[str], strict: bool = True) -> tuple[int, float]:
    """``(answers, req/s)`` of a finished wrk run; non-2xx answers or a failure fail the run.

    ``strict=False`` (a warm-up) lets socket errors pass: two servers reading a large catalog
    at once can stall a warm-up's first requests past wrk's 2 s timeout.
    """
    out, err = proc.communicate()
    errors = "Non-2xx" in out or ("Socket errors" in out and strict)
    if proc.returncode != 0 or errors:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    answers = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return answers, rate


def _wrk(port: int, paths: Path, seconds: int) -> tuple[int, float]:
    """``(answers, req/s)`` of one wrk run; non-2xx answers fail the run."""
    return _wrk_read(_wrk_start(port, paths, seconds))


def run_once(home: Path, paths: Path, warmup: int, duration: int, log: Path) -> dict[str, Any]:
    """One server over ``home``: CPU µs per measured answer, req/s, answers."""
    port = free_port()
    server = start_server("ours", home, port, 2, 4, log)
    try:
        wait_ready(port, proc=server, log=log)
        tree = psutil.Process(server.pid)
        warm, _ = _wrk(port, paths, warmup)
        before, counted = _cpu_seconds(tree), _threads(tree)
        answers, rate = _wrk(port, paths, duration)
        time.sleep(EXPOSURE_SETTLE_S)  # the exposure writer's last batch is the run's cost too
        cpu = _cpu_seconds(tree) - before
        threads = _per_answer(counted, _threads(tree), answers)
    finally:
        stop_server(server)
    return {
        "cpu_us": round(cpu / answers * 1e6, 1),
        **threads,
        "rps": round(rate, 1),
        "answers": answers,
        "all_answers": answers + warm,
    }


def _source_users(dataset: str, source: Path | None) -> tuple[Path, list[str]]:
    """The home to copy (the dataset's benchmark home unless ``source``) and its users, shuffled."""
    source = HOMES[dataset] if source is None else source
    if not (source / "recsys.sqlite3").exists():
        raise SystemExit(f"{source} is missing: run benchmarks/api_latency.py first")
    users = load_bundle(Home(source).artifacts).users.ids()
    random.Random(3).shuffle(users)
    return source, users


def _write_paths(tmp: Path, users: list[str]) -> Path:
    """wrk's request paths: every user's ``?n=20`` recommendations, one a line."""
    paths = tmp / "paths.txt"
    paths.write_text("".join(f"/v1/users/{u}/recommendations?n=20\n" for u in users))
    return paths


def _fresh_home(source: Path, tmp: Path, kind: str) -> Path:
    """A copy of ``source`` for one run; ``ab`` gets the A/A experiment started in its store."""
    home = tmp / kind
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(source, home, ignore=shutil.ignore_patterns("*.log"))
    if kind == "ab":
        start_ab_experiment(home)
    return home


def _count_exposures(home: Path, run: dict[str, Any]) -> None:
    """Add the store's exposure count to an ``ab`` run; fail when answers went unrecorded."""
    run["exposures"] = count_exposures(home)
    if run["exposures"] < run["all_answers"]:
        raise RuntimeError(f"exposures lost: {run}")


def run_side_by_side(
    homes: dict[str, Path], paths: Path, warmup: int, duration: int, tmp: Path
) -> dict[str, dict[str, Any]]:
    """Both servers at once, each under its own wrk in the same window: CPU µs per answer."""
    ports = {kind: free_port() for kind in homes}
    servers: dict[str, subprocess.Popen[Any]] = {}
    try:
        for kind, home in homes.items():
            servers[kind] = start_server("ours", home, ports[kind], 2, 4, tmp / f"{kind}.log")
        for kind in homes:
            wait_ready(ports[kind], proc=servers[kind], log=tmp / f"{kind}.log")
        trees = {kind: psutil.Process(servers[kind].pid) for kind in homes}
        warming = [(kind, _wrk_start(ports[kind], paths, warmup)) for kind in homes]
        warm = {kind: _wrk_read(proc, strict=False) for kind, proc in warming}
        before = {kind: _cpu_seconds(trees[kind]) for kind in homes}
        counted = {kind: _threads(trees[kind]) for kind in homes}
        started = [(kind, _wrk_start(ports[kind], paths, duration)) for kind in homes]
        found = {kind: _wrk_read(proc) for kind, proc in started}
        time.sleep(EXPOSURE_SETTLE_S)  # the exposure writer's last batch is the run's cost too
        cpu = {kind: _cpu_seconds(trees[kind]) - before[kind] for kind in homes}
        after = {kind: _threads(trees[kind]) for kind in homes}
    finally:
        for server in servers.values():
            stop_server(server)
    return {
        kind: {
            "cpu_us": round(cpu[kind] / found[kind][0] * 1e6, 1),
            **_per_answer(counted[kind], after[kind], found[kind][0]),
            "rps": round(found[kind][1], 1),
            "answers": found[kind][0],
            "all_answers": found[kind][0] + warm[kind][0],
        }
        for kind in homes
    }


def measure_side_by_side(
    dataset: str, rounds: int, warmup: int, duration: int, source: Path | None = None
) -> dict[str, Any]:
    """Rounds of plain and ab servers loaded at the same time (which starts first alternates)."""
    source, users = _source_users(dataset, source)
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "ab": []}
    with tempfile.TemporaryDirectory(prefix="server-cpu-") as tmp_name:
        tmp = Path(tmp_name)
        paths = _write_paths(tmp, users)
        for r in range(rounds):
            order = ("plain", "ab") if r % 2 == 0 else ("ab", "plain")
            homes = {kind: _fresh_home(source, tmp, kind) for kind in order}
            pair = run_side_by_side(homes, paths, warmup, duration, tmp)
            _count_exposures(homes["ab"], pair["ab"])
            for kind in ("plain", "ab"):
                runs[kind].append(pair[kind])
            print(
                f"{dataset} round {r + 1}: plain {pair['plain']['cpu_us']:6.1f} us "
                f"{pair['plain']['rps']:7.1f} req/s | ab {pair['ab']['cpu_us']:6.1f} us "
                f"{pair['ab']['rps']:7.1f} req/s, writer {pair['ab']['writer_cpu_us']} us",
                flush=True,
            )
    cpu_ratios = [p["cpu_us"] / a["cpu_us"] for p, a in zip(runs["plain"], runs["ab"], strict=True)]
    rps_ratios = [a["rps"] / p["rps"] for p, a in zip(runs["plain"], runs["ab"], strict=True)]
    cpu_cost = 1 - statistics.median(cpu_ratios)
    rps_cost = 1 - statistics.median(rps_ratios)
    return {
        "dataset": dataset,
        "users": len(users),
        "side_by_side": True,
        "plain_cpu_us": round(statistics.median(x["cpu_us"] for x in runs["plain"]), 1),
        "ab_cpu_us": round(statistics.median(x["cpu_us"] for x in runs["ab"]), 1),
        "plain_rps": statistics.median(x["rps"] for x in runs["plain"]),
        "ab_rps": statistics.median(x["rps"] for x in runs["ab"]),
        "cpu_cost_per_round": [round(1 - x, 4) for x in cpu_ratios],
        "throughput_cost_per_round": [round(1 - x, 4) for x in rps_ratios],
        "logging_cost": round(cpu_cost, 4),
        "throughput_cost": round(rps_cost, 4),
        "met": cpu_cost <= MAX_LOGGING_COST and rps_cost <= MAX_LOGGING_COST,
        "runs": runs,
    }


def measure(
    dataset: str, rounds: int, warmup: int, duration: int, source: Path | None = None
) -> dict[str, Any]:
    """Alternating plain/ab runs on copies of the dataset's benchmark home (or ``source``)."""
    source, users = _source_users(dataset, source)
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "ab": []}
    with tempfile.TemporaryDirectory(prefix="server-cpu-") as tmp_name:
        tmp = Path(tmp_name)
        paths = _write_paths(tmp, users)
        for r in range(rounds):
            for kind in ("plain", "ab") if r % 2 == 0 else ("ab", "plain"):
                home = _fresh_home(source, tmp, kind)
                run = run_once(home, paths, warmup, duration, tmp / f"{kind}.log")
                if kind == "ab":
                    _count_exposures(home, run)
                runs[kind].append(run)
                print(
                    f"{dataset} round {r + 1} {kind:5s}: {run['cpu_us']:6.1f} us CPU/answer, "
                    f"{run['rps']:7.1f} req/s, writer {run['writer_cpu_us']} us, switches "
                    f"{run['voluntary_switches_per_answer']} voluntary, "
                    f"{run['involuntary_switches_per_answer']} involuntary",
                    flush=True,
                )
    plain = statistics.median(x["cpu_us"] for x in runs["plain"])
    ab = statistics.median(x["cpu_us"] for x in runs["ab"])
    cost = 1 - plain / ab
    return {
        "dataset": dataset,
        "users": len(users),
        "plain_cpu_us": round(plain, 1),
        "ab_cpu_us": round(ab, 1),
        "extra_us": round(ab - plain, 1),
        "logging_cost": round(cost, 4),
        "met": cost <= MAX_LOGGING_COST,
        "runs": runs,
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown section."""
    lines = [
        "## Server CPU per answer with an A/A experiment",
        "",
        f"Run {result['run_at']} on {result['machine']}; `{result['command']}`. "
        f"{result['rounds']} rounds; load average before `{result['load_before']}`.",
        "",
        "| dataset | shoppers | plain µs/answer | ab µs/answer | extra µs | logging cost "
        "| target (≤ 5%) | ab/plain CPU per round |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    if result.get("side_by_side"):
        return markdown_side_by_side(result)
    for d in result["datasets"]:
        pairs = ", ".join(
            f"{a['cpu_us']}/{p['cpu_us']}"
            for a, p in zip(d["runs"]["ab"], d["runs"]["plain"], strict=True)
        )
        lines.append(
            f"| {d['dataset']} | {d['users']:,} | {d['plain_cpu_us']} | {d['ab_cpu_us']} | "
            f"{d['extra_us']} | {d['logging_cost']:.1%} | "
            f"{'**met**' if d['met'] else '**not met**'} | {pairs} |"
        )
    lines.append("")
    return "\n".join(lines)


def markdown_side_by_side(result: dict[str, Any]) -> str:
    """The side-by-side result as a Markdown section."""
    lines = [
        "## Server CPU per answer with an A/A experiment, both servers at once",
        "",
        f"Run {result['run_at']} on {result['machine']}; `{result['command']}`. "
        f"{result['rounds']} rounds; load average before `{result['load_before']}`.",
        "",
        "| dataset | shoppers | plain µs/answer | ab µs/answer | plain req/s | ab req/s "
        "| CPU cost | throughput cost | target (≤ 5%, both) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for d in result["datasets"]:
        lines.append(
            f"| {d['dataset']} | {d['users']:,} | {d['plain_cpu_us']} | {d['ab_cpu_us']} | "
            f"{d['plain_rps']} | {d['ab_rps']} | {d['logging_cost']:.1%} | "
            f"{d['throughput_cost']:.1%} | {'**met**' if d['met'] else '**not met**'} |"
        )
    lines += ["", "Per round (CPU cost / throughput cost):", ""]
    for d in result["datasets"]:
        rounds = ", ".join(
            f"{c:.1%} / {t:.1%}"
            for c, t in zip(d["cpu_cost_per_round"], d["throughput_cost_per_round"], strict=True)
        )
        lines.append(f"- {d['dataset']}: {rounds}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=[*HOMES, "both"], default="ml-100k")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="seconds (wrk takes whole seconds)")
    parser.add_argument("--duration", type=int, default=12, help="seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/server_cpu.json")
    parser.add_argument(
        "--home", type=Path, help="a trained home to serve instead of the dataset's (one dataset)"
    )
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="run the plain and ab servers at the same time, each under its own wrk",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: make bench-tools")
    datasets = list(HOMES) if args.dataset == "both" else [args.dataset]
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.home is not None and len(datasets) > 1:
        parser.error("--home serves one dataset's place: name it with --dataset")
    how = measure_side_by_side if args.side_by_side else measure
    found = [how(d, args.rounds, args.warmup, args.duration, args.home) for d in datasets]
    for d in found:
        print(
            f"{d['dataset']}: plain {d['plain_cpu_us']} us, ab {d['ab_cpu_us']} us per answer: "
            f"logging cost {d['logging_cost']:.1%}"
            + (f", throughput cost {d['throughput_cost']:.1%}" if args.side_by_side else "")
        )
    result = {
        "run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_line(),
        "command": " ".join(["python", "benchmarks/server_cpu.py", *sys.argv[1:]]),
        "rounds": args.rounds,
        "side_by_side": args.side_by_side,
        "load_before": load_before,
        "datasets": found,
    }
    write_result(args.out, result, markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
