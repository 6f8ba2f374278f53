"""The nightly job in-process: gate decisions, idempotency, reports, lock, rollback, pitches."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from nightly_data import (
    T0,
    catalog,
    clustered_events,
    config,
    noise_events,
    weak_train,
)

from jobs.nightly import ExitCode, NightlyConfig, rollback_current, run_nightly
from jobs.nightly.lock import RunLock
from recsys.bundle import current_version, list_versions, load_bundle
from recsys.catalog_overlay import training_started
from recsys.cli import main as cli_main
from recsys.errors import BundleError, LockedError
from recsys.gate import decide
from recsys.home import Home
from recsys.overlay_embed import TRAINING_MARGIN_S
from recsys.pitch.batch import PrewriteReport
from recsys.store import SQLiteStore
from recsys.text import TextEncoder


def _seed_store(home: Home, events: pl.DataFrame, cat: pl.DataFrame | None = None) -> None:
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog() if cat is None else cat)
        store.add_events(events)


def _split(events: pl.DataFrame, frac: float = 0.8) -> tuple[pl.DataFrame, pl.DataFrame]:
    cut = int(events.height * frac)
    return events.head(cut), events.tail(events.height - cut)


# ------------------------------------------------------------------------------ first run
def test_first_run_publishes_and_writes_report(home: Home) -> None:
    _seed_store(home, clustered_events())
    result = run_nightly(home, config())

    assert result.decision == "published"
    assert result.exit_code == ExitCode.OK == 0
    assert result.current_before is None
    assert current_version(home.artifacts) == result.current_after
    bundle = load_bundle(home.artifacts)
    assert bundle.manifest["nightly"]["run_id"] == result.run_id
    assert bundle.manifest["metrics"]["recall@20"]["mean"] > 0.3  # the groups are learnable
    # the API's precomputed lists, and when the store was read (erasures after it are honoured)
    assert bundle.precomputed is not None and bundle.precomputed.n_lists > 0
    with SQLiteStore(home.db_path) as store:
        assert bundle.precomputed.watermark == store.last_seq()
    created = datetime.fromisoformat(bundle.manifest["created_at"]).timestamp()
    assert created - 600 < bundle.manifest["read_at"] < created
    assert training_started(bundle) == bundle.manifest["read_at"] - TRAINING_MARGIN_S

    reports = home.root / "reports"
    names = {p.name for p in reports.iterdir()}
    assert {f"{result.run_id}.json", f"{result.run_id}.md", "latest.json", "latest.md"} <= names
    assert "metrics.png" in names
    assert (reports / "metrics.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((reports / f"{result.run_id}.json").read_text(encoding="utf-8"))
    assert report["decision"] == "published"
    assert report["data"]["events"] == 150 * 14
    assert report["metrics"]["live_mode"] == "none"
    assert report["gate"]["passed"] is True
    assert {"recover", "inbox", "read", "evaluate", "train", "write", "publish"} <= set(
        report["timings_s"]
    )
    assert report["bundle"]["candidate"] == result.current_after
    md = (reports / f"{result.run_id}.md").read_text(encoding="utf-8")
    assert "**Decision: published**" in md
    assert "| recall@20 |" in md
    assert (home.root / "nightly.lock").read_text(encoding="utf-8") == ""  # released cleanly


def test_second_run_on_same_data_is_idempotent(home: Home) -> None:
    events = clustered_events()
    _seed_store(home, events)
    inbox = home.root / "inbox"
    inbox.mkdir()
    events.head(300).write_csv(inbox / "events-again.csv")  # already stored: no duplicates

    first = run_nightly(home, config())
    assert first.decision == "published"
    inbox_report = first.report["inbox"][0]
    assert (inbox_report["status"], inbox_report["rows"], inbox_report["stored"]) == (
        "done",
        300,
        0,
    )
    events.head(300).write_csv(inbox / "events-again.csv")
    second = run_nightly(home, config())

    assert second.decision == "up_to_date"
    assert second.exit_code == 0
    assert second.current_after == first.current_after
    assert list_versions(home.artifacts) == [first.current_after]
    with SQLiteStore(home.db_path) as store:
        assert store.count_events() == events.height


@pytest.mark.slow
def test_kept_live_is_repeated_on_the_same_data(home: Home) -> None:
    clean = clustered_events()
    old, new = _split(clean)
    _seed_store(home, old)
    current = run_nightly(home, config()).current_after
    noise = noise_events(3, 6000, 150, 6, 12, T0, float(old["ts"].max()))
    with SQLiteStore(home.db_path) as store:
        store.add_events(pl.concat([new, noise]))

    verdicts = [run_nightly(home, config()) for _ in range(2)]
    assert [v.decision for v in verdicts] == ["kept_live", "kept_live"]
    assert verdicts[0].report["gate"] == verdicts[1].report["gate"]
    assert current_version(home.artifacts) == current
    assert list_versions(home.artifacts) == [current]


# ------------------------------------------------------------------------------ the gate
def test_gate_keeps_current_bundle_when_candidate_trained_on_corrupted_data(home: Home) -> None:
    clean = clustered_events()
    old, new = _split(clean)
    _seed_store(home, old)
    first = run_nightly(home, config())
    assert first.decision == "published"

    # new real behavior arrives, together with a corrupted export of past events
    inbox = home.root / "inbox"
    inbox.mkdir()
    new.write_parquet(inbox / "events-day21.parquet")
    noise = noise_events(3, 6000, 150, 6, 12, T0, float(old["ts"].max()))
    noise.write_parquet(inbox / "events-backfill.parquet")

    result = run_nightly(home, config())
    assert result.decision == "kept_live"
    assert result.exit_code == ExitCode.KEPT_LIVE == 3
    assert current_version(home.artifacts) == first.current_after
    assert list_versions(home.artifacts) == [first.current_after]  # the candidate was never written
    metrics = result.report["metrics"]
    assert metrics["live_mode"] == "as_is"  # judged on events newer than the current bundle's data
    cand = metrics["candidate"]["recall@20"]["mean"]
    base = metrics["live"]["recall@20"]["mean"]
    assert cand < base * 0.98
    assert result.report["gate"]["passed"] is False
    assert "quality gate" in result.reason
    assert {f["status"] for f in result.report["inbox"]} == {"done"}

    forced = run_nightly(home, config(), force=True)
    assert forced.decision == "published"
    assert forced.report["forced"] is True
    assert current_version(home.artifacts) == forced.current_after != first.current_after
    assert "forced past a failing gate" in forced.reason


def test_gate_publishes_when_candidate_is_better(home: Home) -> None:
    clean = clustered_events()
    old, new = _split(clean)
    _seed_store(home, old)
    weak = run_nightly(home, replace(config(), train=weak_train()))
    assert weak.decision == "published"
    with SQLiteStore(home.db_path) as store:
        store.add_events(new)

    result = run_nightly(home, config())
    assert result.decision == "published"
    metrics = result.report["metrics"]
    assert metrics["live_mode"] == "as_is"
    assert metrics["live_version"] == weak.current_after
    assert metrics["candidate"]["recall@20"]["mean"] > metrics["live"]["recall@20"]["mean"]
    assert current_version(home.artifacts) == result.current_after
    assert list_versions(home.artifacts) == [weak.current_after, result.current_after]


@pytest.mark.slow
def test_current_bundle_that_saw_the_holdout_is_judged_by_a_replica(home: Home) -> None:
    """Same data, different config: the current config is retrained on the pre-holdout slice."""
    _seed_store(home, clustered_events())
    weak = run_nightly(home, replace(config(), train=weak_train()))
    result = run_nightly(home, config())
    assert result.report["metrics"]["live_mode"] == "replica"
    assert "current_replica" in result.report["build_timings_s"]
    assert result.decision == "published"
    assert result.current_before == weak.current_after


def test_decide_tolerance_modes() -> None:
    def summary(v: float) -> dict[str, dict[str, float]]:
        return {"recall@20": {"mean": v, "ci95": 0.0}, "ndcg@20": {"mean": v, "ci95": 0.0}}

    rel = NightlyConfig(tolerance=0.1)
    assert decide(summary(0.45), summary(0.5), rel).passed  # 10% worse is allowed
    assert not decide(summary(0.44), summary(0.5), rel).passed
    absolute = NightlyConfig(tolerance=0.02, tolerance_mode="absolute")
    assert decide(summary(0.48), summary(0.5), absolute).passed
    assert not decide(summary(0.47), summary(0.5), absolute).passed
    assert decide(summary(0.0), None, rel).passed  # nothing current to compare with
    ndcg = NightlyConfig(gate_metric="ndcg@20", tolerance=0.0)
    assert decide(summary(0.5), summary(0.5), ndcg).metric == "ndcg@20"


def test_not_enough_data(home: Home) -> None:
    _seed_store(home, clustered_events(n_users=10, events_per_user=5))
    result = run_nightly(home, config())
    assert result.decision == "not_enough_data"
    assert result.exit_code == ExitCode.NOT_ENOUGH_DATA == 5
    assert "min_events=100" in result.reason
    assert current_version(home.artifacts) is None
    assert list_versions(home.artifacts) == []
    assert (home.root / "reports" / f"{result.run_id}.json").is_file()

    too_few_judged = run_nightly(home, config(min_events=10, min_eval_users=500))
    assert too_few_judged.decision == "not_enough_data"
    assert "min_eval_users=500" in too_few_judged.reason
    forced = run_nightly(home, config(min_events=10, min_eval_users=500), force=True)
    assert forced.decision == "published"


# ------------------------------------------------------------------------------ lock
def test_second_concurrent_run_is_refused(home: Home) -> None:
    _seed_store(home, clustered_events())
    holder = RunLock(home.root / "nightly.lock")
    holder.acquire("holder-run")
    try:
        with pytest.raises(LockedError, match="holder-run"):
            run_nightly(home, config())
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["--home", str(home.root), "nightly"])
        assert exit_info.value.code == ExitCode.LOCKED == 4
        with pytest.raises(LockedError):
            rollback_current(home)
    finally:
        holder.release()
    assert current_version(home.artifacts) is None
    assert run_nightly(home, config()).decision == "published"


def test_stale_lock_of_dead_process_is_recovered(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    _seed_store(home, clustered_events())
    record = {"pid": 2**22 + 12345, "host": "elsewhere", "run_id": "crashed-run", "step": "train"}
    (home.root / "nightly.lock").write_text(json.dumps(record), encoding="utf-8")
    with caplog.at_level("WARNING"):
        result = run_nightly(home, config())
    assert result.decision == "published"
    assert "recovered a stale lock: run crashed-run" in caplog.text
    assert result.report["recovered"]["run_id"] == "crashed-run"
    assert result.report["recovered"]["step"] == "train"
    assert (home.root / "nightly.lock").read_text(encoding="utf-8") == ""


# ------------------------------------------------------------------------------ rollback
def test_rollback_points_current_back(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _split(clustered_events())
    _seed_store(home, old)
    v1 = run_nightly(home, config()).current_after
    with SQLiteStore(home.db_path) as store:
        store.add_events(new)
    v2 = run_nightly(home, replace(config(), tolerance=0.9)).current_after
    assert v1 and v2 and v1 != v2

    cli_main(["--home", str(home.root), "rollback"])  # returns normally: exit code 0
    assert f"{v2} -> {v1}" in capsys.readouterr().out
    assert current_version(home.artifacts) == v1
    assert load_bundle(home.artifacts).version == v1
    with pytest.raises(BundleError, match="nothing to roll back to"):
        rollback_current(home)
    assert rollback_current(home, v2) == (v1, v2)
    with pytest.raises(BundleError, match="v-nope"):
        rollback_current(home, "v-nope")
    assert current_version(home.artifacts) == v2
    # after a rollback the next run compares with the rolled-back bundle
    rollback_current(home, v1)
    again = run_nightly(home, replace(config(), tolerance=0.9))
    assert again.current_before == v1


# ------------------------------------------------------------------------------ pitches
def test_pitch_step_calls_the_batch_writer_for_most_active_users(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []

    def prewrite_pitches(home_, bundle, store, user_ids, items_per_user, budget_s, **kw):  # type: ignore[no-untyped-def]
        calls.append(
            {
                "home": home_,
                "version": bundle.version,
                "store": store,
                "users": list(user_ids),
                "items": items_per_user,
                "budget": budget_s,
                **kw,
            }
        )
        return PrewriteReport(
            written=len(user_ids) * items_per_user, cached=1, template=2, failed=0, elapsed_s=0.5
        )

    fake = types.ModuleType("recsys.pitch.batch")
    fake.prewrite_pitches = prewrite_pitches  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recsys.pitch.batch", fake)
    events = clustered_events()
    # u0 is by far the most active user in the last week
    extra = pl.DataFrame(
        {
            "user_id": ["u0"] * 30,
            "item_id": ["g0-i1"] * 30,
            "type": ["view"] * 30,
            "ts": [float(events["ts"].max()) - i for i in range(30)],
            "session_id": [""] * 30,
        }
    )
    _seed_store(home, pl.concat([events, extra]))
    cfg = config(pitch_users=5, pitch_items_per_user=2, pitch_budget_s=9.0)
    result = run_nightly(home, cfg)

    assert result.decision == "published"
    assert len(calls) == 1
    call = calls[0]
    assert call["version"] == result.current_after
    assert call["home"] == home
    assert len(call["users"]) == 5  # type: ignore[arg-type]
    assert call["users"][0] == "u0"  # type: ignore[index]
    assert (call["items"], call["budget"]) == (2, 9.0)
    assert result.report["pitches"] == {
        "status": "done",
        "users": 5,
        "written": 10,
        "cached": 1,
        "template": 2,
        "failed": 0,
        "elapsed_s": 0.5,
        "skipped": 0,
    }


def test_pitch_step_with_the_real_batch_writer_template_backend(home: Home) -> None:
    _seed_store(home, clustered_events())
    cfg = config(pitch_users=4, pitch_items_per_user=2, pitch={"backend": "template"})
    result = run_nightly(home, cfg)
    assert result.decision == "published"
    pitches = result.report["pitches"]
    assert pitches["status"] == "done"
    assert pitches["users"] == 4
    assert pitches["written"] + pitches["template"] + pitches["cached"] == 8
    assert pitches["failed"] == 0


def test_failing_pitch_writer_does_not_fail_the_night(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("model missing")

    fake = types.ModuleType("recsys.pitch.batch")
    fake.prewrite_pitches = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recsys.pitch.batch", fake)
    _seed_store(home, clustered_events())
    result = run_nightly(home, config(pitch_users=3))
    assert result.decision == "published"
    assert result.report["pitches"]["status"] == "failed"
    assert "model missing" in result.report["pitches"]["reason"]


# ------------------------------------------------------------------------------ embeddings
def test_second_run_embeds_only_changed_items(home: Home, encoder: TextEncoder) -> None:
    old, new = _split(clustered_events())
    cat = catalog()
    _seed_store(home, old, cat)
    cfg = replace(config(), train=replace(config().train, text=NightlyConfig().train.text))
    first = run_nightly(home, cfg, encoder=encoder)
    assert first.report["embedding"]["candidate_eval"] == {"embedded": cat.height, "cached": 0}
    assert first.report["embedding"]["candidate"] == {"embedded": 0, "cached": cat.height}

    inbox = home.root / "inbox"
    inbox.mkdir()
    cat.head(3).with_columns(pl.col("description") + " New edition.").write_csv(
        inbox / "catalog-update.csv"
    )
    new.write_csv(inbox / "events-new.csv")
    second = run_nightly(home, replace(cfg, tolerance=0.5), encoder=encoder)
    assert second.report["embedding"]["candidate_eval"] == {
        "embedded": 3,
        "cached": cat.height - 3,
    }
    assert second.decision == "published"
    assert load_bundle(home.artifacts).manifest["counts"]["items_with_text"] == cat.height


@pytest.mark.slow
def test_report_plot_covers_recent_runs(home: Home) -> None:
    old, new = _split(clustered_events())
    _seed_store(home, old)
    run_nightly(home, config())
    with SQLiteStore(home.db_path) as store:
        store.add_events(new)
    second = run_nightly(home, replace(config(), tolerance=0.9))
    report = json.loads(Path(home.root / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert report["run_id"] == second.run_id
    assert report["plot"] == "metrics.png"
    assert "recall@20 and NDCG@20" in (home.root / "reports" / "latest.md").read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize("text", [False, True], ids=["text-off", "text-auto"])
def test_a_backfill_under_the_same_config_reuses_the_candidates_judgement(
    home: Home, encoder: TextEncoder, text: bool
) -> None:
    """Late events older than the current bundle's newest: the current bundle saw the holdout,
    and its config is the job's, so its judgement is the candidate's (no replica is trained).

    With ``[text] model = "auto"`` the bundle records the model it chose (MiniLM here), not
    ``auto``; the job compares against the config training would record.
    """
    events = clustered_events().sort("ts")
    newest = float(events["ts"].max())
    # a few shoppers' events arrive late; the newest event is in the first run already
    is_late = pl.col("user_id").is_in(["u3", "u4", "u5"]) & (pl.col("ts") < newest)
    _seed_store(home, events.filter(~is_late))
    cfg = config()
    if text:
        cfg = replace(cfg, train=replace(cfg.train, text=NightlyConfig().train.text))
        assert cfg.train.text.model == "auto"
    first = run_nightly(home, cfg, encoder=encoder)
    assert first.decision == "published"
    backfill = events.filter(is_late)
    assert backfill.height > 0
    with SQLiteStore(home.db_path) as store:
        store.add_events(backfill)
    result = run_nightly(home, cfg, encoder=encoder)
    assert result.report["metrics"]["live_mode"] == "same_config"
    assert "current_replica" not in result.report["build_timings_s"]
