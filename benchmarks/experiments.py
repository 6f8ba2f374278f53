"""Simulated A/B experiments: does the report name the good variant, and stay quiet on A/A?

Usage:
    python benchmarks/experiments.py                  # 14 rounds, every shopper (about 10 min)
    python benchmarks/experiments.py --rounds 3 --shoppers 100 --aa-splits 20   # a smoke run

The data are MovieLens-100K's real shoppers, each one's newest 20% of events held out
(``recsys.evaluation.temporal_split``, the warm protocol of ``benchmarks/recall.py``): a bundle
is trained on the rest, and each of the 943 shoppers becomes a simulated shopper who wants
exactly the items they really went on to rate (``recsys.simulate.HeldOutPreferences``).
Shoppers visit once per round (a round stands for a day), are served by the real
``RecommendationService`` with the experiment running (assignment, variants, exposure log as in
production), click with a chance that grows with the item's relevance and falls with its
position, cart and buy some clicks
(``recsys.simulate.ShopperModel``), and their events go back into the store naming the answer
and position. Prices are synthetic (ML-100K has none): 5 to 30 by a hash of the item id.

Three experiments, each on a fresh copy of the trained home:

* ``good_vs_worse``: ``control=current`` (the hybrid ranker) against ``worse=holdout=popular``
  (the shop-wide popular items, owned ones excluded): the report must name ``control`` the
  winner (or ``worse`` the loser), and the round it first did is printed.
* ``aa``: ``a=current`` against ``b=current``: the report must never call a winner.
* A/A false-positive rate: the A/A run's log re-split ``--aa-splits`` times by random salts
  (as if the shoppers had been assigned by another salt: in an A/A test the label changes
  nothing they see), the report computed after every round of each split; the share of splits
  that ever call a winner is the false-positive rate of reading the report daily. The splits
  share one population, so they are not independent runs; the Monte-Carlo test with
  independent runs is ``tests/experiments/test_stats.py``.

The primary metric is ``ctr`` (clicks per impression), alpha 0.05. Results:
``<out>/experiments/{summary.json,summary.md}`` and each experiment's report
(``good_vs_worse.{json,md,png}``, ``aa.{json,md,png}``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys.datasets.demo import load_ml100k  # noqa: E402
from recsys.evaluation import temporal_split  # noqa: E402
from recsys.experiments import make_experiment, report_for, start_experiment  # noqa: E402
from recsys.experiments.analysis import analyze  # noqa: E402
from recsys.experiments.spec import bucket  # noqa: E402
from recsys.home import Home  # noqa: E402
from recsys.service import RecommendationService  # noqa: E402
from recsys.simulate import HeldOutPreferences, RoundCounts, ShopperModel, simulate  # noqa: E402
from recsys.store import SQLiteStore  # noqa: E402
from recsys.training import train  # noqa: E402

PRIMARY = "ctr"


def synthetic_price(item_id: str) -> float:
    """A price from 5 to 30, fixed per item (ML-100K has none)."""
    digest = hashlib.sha256(item_id.encode()).digest()
    return round(5.0 + 25.0 * int.from_bytes(digest[:4], "big") / 2**32, 2)


def build_home(root: Path) -> tuple[Home, HeldOutPreferences, list[str]]:
    """Train on ML-100K's past; return the home, the shoppers' hidden wants and their ids."""
    events, catalog = load_ml100k()
    catalog = catalog.with_columns(
        pl.col("item_id").map_elements(synthetic_price, return_dtype=pl.Float64).alias("price"),
        pl.lit("USD").alias("currency"),
    )
    past, future = temporal_split(events, frac=0.2)
    home = Home(root).ensure()
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(past)
        t0 = time.perf_counter()
        train(home, store=store)
        print(f"trained on {past.height} events in {time.perf_counter() - t0:.0f} s", flush=True)
    known = set(past["user_id"].unique().to_list())
    future = future.filter(pl.col("user_id").is_in(list(known)))
    prefs = HeldOutPreferences.from_events(future)
    users = sorted(prefs.wanted)
    return home, prefs, users


def run_experiment(
    template: Path,
    work: Path,
    name: str,
    variants: list[str],
    prefs: HeldOutPreferences,
    users: list[str],
    rounds: int,
    seed: int,
    model: ShopperModel,
) -> dict[str, Any]:
    """Run one simulated experiment on a copy of ``template``; the report after every round."""
    root = work / name
    shutil.copytree(template, root)
    home = Home(root)
    with SQLiteStore(home.db_path) as store:
        made = make_experiment(name, variants, "50/50", primary=PRIMARY, min_users=100)
        start_experiment(store, made)
    service = RecommendationService(home)
    daily: list[dict[str, Any]] = []
    ends: list[float] = []

    def look(r: int, counts: RoundCounts) -> None:
        report = report_for(service.store, name)
        lift = report.lifts[0] if report.lifts else None
        ends.append(counts.ended_at)
        row = {
            "round": r + 1,
            "users": {v.name: v.users for v in report.variants},
            "ctr": {
                v.name: v.metrics[PRIMARY].value for v in report.variants if PRIMARY in v.metrics
            },
            "lift": None if lift is None else lift.lift.value,
            "p": None if lift is None else lift.p_value,
            "decision": report.decision,
            "seconds": round(counts.ended_at - counts.started_at, 1),
        }
        daily.append(row)
        print(
            f"  {name} round {r + 1}: ctr {row['ctr']}, lift {row['lift']}, p {row['p']}, "
            f"{report.decision} ({row['seconds']} s)",
            flush=True,
        )

    try:
        simulate(service, users, prefs, rounds=rounds, n=10, model=model, seed=seed, on_round=look)
        final = report_for(service.store, name)
        log = service.store.experiment_log(name, 0.0)
        catalog = service.store.catalog_frame().select("item_id", "price")
    finally:
        service.close()
    return {
        "name": name,
        "variants": variants,
        "daily": daily,
        "final": final,
        "log": log,
        "prices": catalog,
        "round_ends": ends,
    }


def aa_false_positive_rate(aa: dict[str, Any], splits: int, alpha: float) -> dict[str, Any]:
    """Re-split the A/A log by ``splits`` salts; the share that ever called a winner daily."""
    log = aa["log"]
    ever = 0
    first_rounds: list[int] = []
    for s in range(splits):
        salt = f"aa-resplit-{s}"
        relabel = {u: ("a" if bucket(salt, u) < 0.5 else "b") for u in log.exposures["user_id"]}
        exposures = log.exposures.with_columns(
            pl.col("user_id").replace_strict(relabel, return_dtype=pl.String).alias("variant")
        )
        for r, end in enumerate(aa["round_ends"]):
            report = analyze(
                exposures.filter(pl.col("ts") <= end),
                log.impressions,
                log.events.filter(pl.col("ts") <= end),
                aa["prices"],
                variants=["a", "b"],
                shares=[50.0, 50.0],
                primary=PRIMARY,
                alpha=alpha,
                min_users=100,
                now=end,
            )
            if report.decision.startswith(("winner", "loser")):
                ever += 1
                first_rounds.append(r + 1)
                break
    return {
        "splits": splits,
        "looks_per_split": len(aa["round_ends"]),
        "called_a_winner": ever,
        "false_positive_rate": ever / splits if splits else None,
        "first_rounds": first_rounds,
    }


def _markdown(summary: dict[str, Any]) -> str:
    lines = [
        "# Simulated experiments (MovieLens-100K shoppers, held-out wants)",
        "",
        f"Command: `{summary['command']}`",
        "",
        f"{summary['shoppers']} simulated shoppers, {summary['rounds']} rounds (one visit each "
        f"per round, 10 recommendations), primary metric {PRIMARY}, alpha {summary['alpha']}.",
        "",
    ]
    for key in ("good_vs_worse", "aa"):
        run = summary[key]
        lines += [
            f"## {key}: {' vs '.join(run['variants'])}",
            "",
            "| round | users | ctr | lift | always-valid p | decision |",
            "|---:|---|---|---:|---:|---|",
        ]
        for row in run["daily"]:
            ctr = ", ".join(f"{k} {v:.4f}" for k, v in row["ctr"].items() if v is not None)
            users = ", ".join(f"{k} {v}" for k, v in row["users"].items())
            lift = "—" if row["lift"] is None else f"{row['lift']:+.1%}"
            p = "—" if row["p"] is None else f"{row['p']:.4f}"
            lines.append(f"| {row['round']} | {users} | {ctr} | {lift} | {p} | {row['decision']} |")
        lines += ["", f"First round with a decision: {run['first_decision_round']}", ""]
    fpr = summary["aa_false_positive_rate"]
    lines += [
        "## A/A false-positive rate, report read after every round",
        "",
        f"{fpr['called_a_winner']} of {fpr['splits']} re-splits of the A/A log called a winner "
        f"at some look ({fpr['looks_per_split']} looks each): rate "
        f"{fpr['false_positive_rate']:.3f} (stated level {summary['alpha']}). The re-splits "
        "share one simulated population, so they are not independent runs.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code (1 when a decision is wrong)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=14)
    parser.add_argument("--shoppers", type=int, default=0, help="0: every shopper with wants")
    parser.add_argument("--aa-splits", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    model = ShopperModel()
    out = args.out / "experiments"
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home, prefs, users = build_home(work / "trained")
        if args.shoppers:
            users = users[: args.shoppers]
        print(f"{len(users)} simulated shoppers", flush=True)
        good = run_experiment(
            home.root,
            work,
            "good_vs_worse",
            ["control=current", "worse=holdout=popular"],
            prefs,
            users,
            args.rounds,
            args.seed,
            model,
        )
        aa = run_experiment(
            home.root,
            work,
            "aa",
            ["a=current", "b=current"],
            prefs,
            users,
            args.rounds,
            args.seed + 1,
            model,
        )
        fpr = aa_false_positive_rate(aa, args.aa_splits, 0.05)
    summary: dict[str, Any] = {
        "command": "python benchmarks/experiments.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "shoppers": len(users),
        "rounds": args.rounds,
        "alpha": 0.05,
        "shopper_model": model.__dict__,
        "seconds": round(time.time() - t_start),
        "aa_false_positive_rate": fpr,
    }
    for run in (good, aa):
        report = run["final"]
        first = next(
            (d["round"] for d in run["daily"] if d["decision"].startswith(("winner", "loser"))),
            None,
        )
        summary[run["name"]] = {
            "variants": run["variants"],
            "daily": run["daily"],
            "first_decision_round": first,
            "final_decision": report.decision,
        }
        (out / f"{run['name']}.json").write_text(
            json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        (out / f"{run['name']}.md").write_text(report.markdown() + "\n", encoding="utf-8")
        report.plot_png(out / f"{run['name']}.png")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(_markdown(summary), encoding="utf-8")
    print(_markdown(summary))
    right = summary["good_vs_worse"]["final_decision"] in ("winner: control", "loser: worse")
    quiet = summary["aa"]["first_decision_round"] is None  # at no daily look
    if not (right and quiet):
        print("WRONG DECISION: see the reports", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
