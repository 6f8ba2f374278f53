"""Train and publish a bundle: ``python -m jobs.train [--config FILE]`` (``recsys train``)."""

from __future__ import annotations

import sys

from recsys.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
