"""Run reports of the nightly job: ``<home>/reports/<run_id>.json`` and ``.md``, plus a plot.

The JSON keys are an interface for operators' scripts and for this module's plot of older runs, so
they keep their names: ``metrics.live``, ``metrics.live_mode`` and ``bundle.live_before`` /
``live_after`` hold the current bundle's (the one ``CURRENT`` names) values. Each run writes its
JSON (the source of truth) and a Markdown rendering of it, then redraws
``reports/metrics.png`` (recall@20 and NDCG@20 of candidate and current bundle over the recent
runs)
and copies the run's files to ``latest.json`` / ``latest.md``. Files are written to a temp name and
renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PLOT_NAME = "metrics.png"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def cleanup_report_tmp(folder: Path) -> list[str]:
    """Remove temp files a killed run left in the reports folder."""
    removed = []
    if folder.is_dir():
        for p in folder.iterdir():
            if p.name.startswith(".") and ".tmp-" in p.name:
                p.unlink(missing_ok=True)
                removed.append(p.name)
    return removed


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "mean" in value:
        return f"{value['mean']:.4f} ± {value['ci95']:.4f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def render_markdown(report: dict[str, Any]) -> str:
    """Render one run report as Markdown."""
    lines = [
        f"# Nightly run {report['run_id']}",
        "",
        f"**Decision: {report['decision']}** (exit code {report['exit_code']}). {report['reason']}",
        "",
        f"- started {report['started_at']}, finished {report.get('finished_at', '?')} "
        f"on {report['host']} (pid {report['pid']}){' — forced' if report.get('forced') else ''}",
        f"- current bundle before: {report['bundle'].get('live_before') or 'none'}; "
        f"after: {report['bundle'].get('live_after') or 'none'}; "
        f"candidate written: {report['bundle'].get('candidate') or 'none'}",
    ]
    if report["bundle"].get("pruned"):
        lines.append(f"- pruned old versions: {', '.join(report['bundle']['pruned'])}")
    if report.get("recovered"):
        rec = report["recovered"]
        lines.append(
            f"- recovered from an interrupted run {rec.get('run_id', '?')} (pid {rec.get('pid')}, "
            f"stopped at step {rec.get('step', '?')}); removed: "
            f"{', '.join(rec.get('removed', [])) or 'nothing'}"
        )
    if report.get("inbox"):
        lines += ["", "## Inbox", "", "| file | kind | status | rows | stored | invalid |"]
        lines.append("|---|---|---|---:|---:|---:|")
        for f in report["inbox"]:
            lines.append(
                f"| {f['name']} | {f['kind'] or '?'} | {f['status']} | {f['rows']} | "
                f"{f['stored']} | {f['rejected_rows']} |"
            )
    data = report.get("data") or {}
    if data:
        lines += ["", "## Data", ""]
        for key in (
            "events",
            "users",
            "items_with_events",
            "catalog_items",
            "first_event",
            "last_event",
            "window",
        ):
            if key in data:
                lines.append(f"- {key.replace('_', ' ')}: {data[key]}")
    gate = report.get("gate") or {}
    metrics = report.get("metrics") or {}
    if metrics.get("candidate"):
        hold = report.get("holdout") or {}
        lines += [
            "",
            "## Metrics on the holdout",
            "",
            f"Holdout: {hold.get('rule', '?')} ({hold.get('events', '?')} events from "
            f"{hold.get('cut', '?')}); {metrics['candidate'].get('users', '?')} users judged. "
            f"Current bundle judged: {metrics.get('live_mode', '?')}."
            + (f" (Metrics of run {metrics['from_run']}.)" if metrics.get("from_run") else ""),
            "",
            "| metric | candidate | current | delta |",
            "|---|---:|---:|---:|",
        ]
        current = metrics.get("live") or {}  # report key "live": the current bundle
        for key in ("recall@20", "ndcg@20", "recall@10", "ndcg@10"):
            c = metrics["candidate"].get(key)
            v = current.get(key)
            delta = f"{c['mean'] - v['mean']:+.4f}" if c and v else "—"
            lines.append(f"| {key} | {_fmt(c)} | {_fmt(v)} | {delta} |")
        if gate:
            lines += ["", f"Gate ({gate.get('metric')}): {gate.get('reason')}"]
    emb = report.get("embedding") or {}
    if emb:
        lines += ["", "## Text embeddings", ""]
        for name, counts in emb.items():
            lines.append(
                f"- {name}: {counts['embedded']} embedded, {counts['cached']} from the cache"
            )
    pitches = report.get("pitches")
    if pitches:
        lines += ["", "## Pitches", ""]
        lines.append(
            "- " + ", ".join(f"{k}: {v}" for k, v in pitches.items() if not isinstance(v, list))
        )
    timings = report.get("timings_s") or {}
    if timings:
        lines += ["", "## Time per step", "", "| step | seconds |", "|---|---:|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in timings.items()]
    if report.get("plot"):
        lines += ["", f"![recall@20 and NDCG@20 over recent runs]({report['plot']})"]
    return "\n".join(lines) + "\n"


def recent_reports(folder: Path, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` run reports (oldest first); unreadable files are skipped."""
    if not folder.is_dir():
        return []
    names = sorted(p for p in folder.glob("*.json") if not p.name.startswith((".", "latest")))
    out = []
    for p in names[-limit:]:
        try:
            out.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            log.warning("skipping unreadable report %s", p)
    return out


def plot_history(reports: list[dict[str, Any]], path: Path) -> bool:
    """Draw recall@20 and NDCG@20 (candidate and current) over ``reports``; return if drawn."""
    from matplotlib.figure import Figure

    points = [
        r
        for r in reports
        if (r.get("metrics") or {}).get("candidate") and r["decision"] in ("published", "kept_live")
    ]
    if not points:
        return False
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    x = list(range(len(points)))
    labels = [datetime.fromisoformat(r["started_at"]).strftime("%m-%d %H:%M") for r in points]
    for ax, metric in zip(axes, ("recall@20", "ndcg@20"), strict=True):
        for who, label, style in (("candidate", "candidate", "o-"), ("live", "current", "s--")):
            ys = [
                ((r["metrics"].get(who) or {}).get(metric) or {}).get("mean", float("nan"))
                for r in points
            ]
            ax.plot(x, ys, style, label=label, markersize=4)
        kept = [i for i, r in enumerate(points) if r["decision"] == "kept_live"]
        if kept:
            ys = [points[i]["metrics"]["candidate"][metric]["mean"] for i in kept]
            ax.plot(kept, ys, "x", color="red", markersize=9, label="kept current (gate)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    axes[0].set_title("Nightly runs: candidate vs current bundle on each run's holdout")
    axes[1].set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)
    return True


def write_report(folder: Path, report: dict[str, Any], history: int = 30) -> list[Path]:
    """Write ``<run_id>.json`` / ``.md``, redraw the plot, refresh ``latest.*``.

    Returns:
        The paths written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    run_id = report["run_id"]
    json_path = folder / f"{run_id}.json"
    _atomic_write(json_path, json.dumps(report, indent=2).encode("utf-8"))
    written = [json_path]
    plot = folder / PLOT_NAME
    try:
        drawn = plot_history(recent_reports(folder, history), plot)
    except Exception as exc:  # a plot must never fail the night
        log.warning("could not draw %s: %s", plot, exc)
        drawn = False
    if drawn:
        report["plot"] = PLOT_NAME
        _atomic_write(json_path, json.dumps(report, indent=2).encode("utf-8"))
        written.append(plot)
    md = render_markdown(report).encode("utf-8")
    md_path = folder / f"{run_id}.md"
    _atomic_write(md_path, md)
    written.append(md_path)
    _atomic_write(folder / "latest.json", json.dumps(report, indent=2).encode("utf-8"))
    _atomic_write(folder / "latest.md", md)
    return written
