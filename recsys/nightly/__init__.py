"""The nightly job's settings, :class:`NightlyConfig`.

The job itself is the application ``jobs/nightly``; its gate (:mod:`recsys.gate`) and its training
door (:mod:`recsys.training`) are library parts.
"""

from recsys.nightly.config import NightlyConfig, load_nightly_config

__all__ = ["NightlyConfig", "load_nightly_config"]
