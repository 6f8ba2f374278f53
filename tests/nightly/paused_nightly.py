"""Run ``recsys nightly`` in this process and pause it at one step (for the crash tests).

Usage: ``python paused_nightly.py STEP SECONDS [recsys nightly options...]`` with ``RECSYS_HOME``
set. When the job reaches STEP (its lock file records the step) it writes
``<home>/.nightly-paused-<STEP>`` and sleeps SECONDS, so a test can kill it at a known point.
``write`` pauses inside the bundle writer instead, with the temp folder complete but not yet
renamed. The job is patched from here, so production code carries no test hook.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import recsys.training
from jobs.nightly.lock import RunLock
from recsys.cli import main
from recsys.home import Home


def pause(home: Home, step: str, seconds: float) -> None:
    """Write the marker for ``step`` and sleep."""
    (home.root / f".nightly-paused-{step}").write_text(f"{os.getpid()}\n", encoding="utf-8")
    time.sleep(seconds)


def install(step: str, seconds: float) -> None:
    """Patch the job so that it pauses at ``step``."""
    home = Home.resolve()
    if step == "write":
        write_bundle = recsys.training.write_bundle

        def paused_write(artifacts: Path, bundle: Any, on_complete: Any = None) -> str:
            return write_bundle(
                artifacts, bundle, on_complete=lambda tmp: pause(home, step, seconds)
            )

        recsys.training.write_bundle = paused_write  # type: ignore[assignment]
        return
    update = RunLock.update

    def paused_update(self: RunLock, **fields: Any) -> None:
        update(self, **fields)
        if fields.get("step") == step:
            pause(home, step, seconds)

    RunLock.update = paused_update  # type: ignore[method-assign]


if __name__ == "__main__":
    install(sys.argv[1], float(sys.argv[2]))
    main(["nightly", *sys.argv[3:]])
