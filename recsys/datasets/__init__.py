"""Real demo datasets read from installed packages (never downloaded, never committed)."""

from recsys.datasets.demo import DATASETS, load_dataset

__all__ = ["DATASETS", "load_dataset"]
