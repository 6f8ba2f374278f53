"""Behavior models behind one interface (see :class:`BehaviorModel`)."""

from __future__ import annotations

from recsys.config import BehaviorConfig
from recsys.errors import ConfigError
from recsys.models.base import BehaviorModel, top_n
from recsys.models.implicit_models import ALSModel, BPRModel, ItemKNNModel, PopularityModel

MODELS: dict[str, type[BehaviorModel]] = {
    "als": ALSModel,
    "bpr": BPRModel,
    "itemknn": ItemKNNModel,
}


def make_model(config: BehaviorConfig) -> BehaviorModel:
    """Return an unfitted model for ``config.algorithm``.

    Raises:
        ConfigError: for an unknown algorithm.
    """
    try:
        cls = MODELS[config.algorithm]
    except KeyError:
        raise ConfigError(
            f"behavior.algorithm={config.algorithm!r} is not allowed: must be one of {list(MODELS)}"
        ) from None
    return cls(config)


__all__ = [
    "MODELS",
    "ALSModel",
    "BPRModel",
    "BehaviorModel",
    "ItemKNNModel",
    "PopularityModel",
    "make_model",
    "top_n",
]
