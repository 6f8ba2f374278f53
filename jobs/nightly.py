"""The nightly retraining job: ``python -m jobs.nightly [--config FILE] [--force]``.

Same as ``recsys nightly``; see docs/operations.md for cron / systemd and the exit codes.
"""

from __future__ import annotations

import sys

from recsys.cli import main

if __name__ == "__main__":
    main(["nightly", *sys.argv[1:]])
