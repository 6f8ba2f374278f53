"""Crash safety of the nightly job: a real ``recsys nightly`` process killed with SIGKILL.

``paused_nightly.py <step>`` runs the job so that it writes ``<home>/.nightly-paused-<step>`` and
sleeps when it reaches that step; the test kills it there. The rerun is the plain ``recsys``
console script (its ``nightly`` command found through the ``recsys.commands`` entry points).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nightly_data import FAST_TRAIN, catalog, clustered_events

from jobs.nightly import NightlyConfig, run_nightly
from recsys.bundle import TMP_PREFIX, current_version, list_versions, load_bundle
from recsys.home import Home
from recsys.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
RECSYS = Path(sys.executable).parent / "recsys"
PAUSED_NIGHTLY = Path(__file__).resolve().parent / "paused_nightly.py"
CONFIG = {"train": FAST_TRAIN, "min_events": 100, "min_eval_users": 10, "pitch_users": 0}


def _job(home: Home, pause_at: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    env["RECSYS_HOME"] = str(home.root)
    options = ["--config", str(home.root / "nightly.json")]
    if pause_at:
        command = [sys.executable, str(PAUSED_NIGHTLY), pause_at, "120", *options]
    else:
        command = [str(RECSYS), "nightly", *options]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"job exited {proc.returncode} before pausing:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"job never reached {path.name}")
        time.sleep(0.05)


def _prepared_home(tmp_path: Path) -> tuple[Home, str, int]:
    """A home with a current bundle and new events waiting in the inbox; returns its version."""
    home = Home(tmp_path / "home").ensure()
    events = clustered_events()
    cut = int(events.height * 0.8)
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog())
        store.add_events(events.head(cut))
    (home.root / "nightly.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    before = run_nightly(home, NightlyConfig.from_dict(CONFIG))
    assert before.decision == "published" and before.current_after
    inbox = home.root / "inbox"
    inbox.mkdir()
    events.tail(events.height - cut).write_csv(inbox / "events-new.csv")
    return home, before.current_after, events.height


CRASH_STEPS = [
    pytest.param("inbox", marks=pytest.mark.slow),
    pytest.param("evaluate", marks=pytest.mark.slow),
    "write",
    pytest.param("publish", marks=pytest.mark.slow),
    pytest.param("report", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_sigkill_at_a_step_leaves_valid_current_and_next_run_recovers(
    tmp_path: Path, step: str
) -> None:
    home, before, n_events = _prepared_home(tmp_path)
    artifacts = home.artifacts
    proc = _job(home, pause_at=step)
    _wait_for(home.root / f".nightly-paused-{step}", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # right after the crash: CURRENT names a complete, loadable bundle
    after_crash = current_version(artifacts)
    assert after_crash is not None
    assert load_bundle(artifacts).version == after_crash
    if step == "report":  # killed after publishing: the new bundle is current and complete
        assert after_crash != before
    else:
        assert after_crash == before
    lock_record = json.loads((home.root / "nightly.lock").read_text(encoding="utf-8"))
    assert lock_record["pid"] == proc.pid
    assert lock_record["step"] == step
    leftovers = [p.name for p in artifacts.iterdir() if p.name.startswith(TMP_PREFIX)]
    if step == "write":  # killed with the bundle complete in its temp folder, not yet renamed
        assert len(leftovers) == 1
    if step == "publish":  # killed after writing, before publishing: an orphan version
        assert len(list_versions(artifacts)) == 2

    rerun = _job(home)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, f"{out}\n{err}"
    report = json.loads((home.root / "reports" / "latest.json").read_text(encoding="utf-8"))
    assert report["recovered"]["pid"] == proc.pid
    assert report["recovered"]["step"] == step
    assert "recovered a stale lock" in err
    if step == "report":
        assert report["decision"] == "up_to_date"
    else:
        assert report["decision"] == "published"
        assert report["bundle"]["live_before"] == before
    final = current_version(artifacts)
    assert final is not None and load_bundle(artifacts).version == final
    assert not [p.name for p in artifacts.iterdir() if p.name.startswith(TMP_PREFIX)]
    assert not [p.name for p in artifacts.iterdir() if p.name.startswith("CURRENT.tmp")]
    assert set(list_versions(artifacts)) == {before, final}  # no orphan of the killed run
    assert (home.root / "nightly.lock").read_text(encoding="utf-8") == ""
    assert (home.root / "inbox" / "done" / "events-new.csv").is_file()
    assert not (home.root / "inbox" / "events-new.csv").exists()
    with SQLiteStore(home.db_path) as store:
        assert store.count_events() == n_events  # imported once, whatever the crash point


def test_second_concurrent_process_exits_with_locked_code(tmp_path: Path) -> None:
    home, before, _ = _prepared_home(tmp_path)
    first = _job(home, pause_at="evaluate")
    try:
        _wait_for(home.root / ".nightly-paused-evaluate", first)
        start = time.monotonic()
        second = _job(home)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 4, f"{out}\n{err}"
        assert f"pid {first.pid}" in err
        assert "step evaluate" in err
        assert time.monotonic() - start < 30  # refused at once, not after waiting
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert current_version(home.artifacts) == before
