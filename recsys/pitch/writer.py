"""Write one pitch: cache → best-of-n LLM samples → validate → re-rank → template fallback."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recsys.errors import PitchModelError
from recsys.pitch.backends import PitchModel
from recsys.pitch.cache import CacheKey, PitchCache
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, ShopperContext
from recsys.pitch.prompt import EXAMPLE_ANSWER, PROMPT_VERSION, build_messages
from recsys.pitch.template import template_pitch
from recsys.pitch.validate import CatalogNames, Verdict, normalize, validate
from recsys.text import TextEncoder

log = logging.getLogger(__name__)

Source = Literal["llm", "template", "cache"]
TEMPLATE_MODEL = "template"

_QUOTES = "\"'“”„«»"
_LEAD = re.compile(r"^(?:pitch|answer|sentence|response)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Pitch:
    """One pitch for one recommended item.

    Attributes:
        item_id: the product pitched.
        text: one or two sentences for the shopper.
        source: who wrote it: ``"llm"`` (just generated and validated), ``"template"``
            (deterministic fallback) or ``"cache"`` (a validated LLM pitch from the cache).
        model: the model that wrote it (``"template"`` for templates).
    """

    item_id: str
    text: str
    source: Source
    model: str = TEMPLATE_MODEL


@dataclass(frozen=True)
class WriteResult:
    """A pitch plus what happened on the way (for benchmarks and logs).

    Attributes:
        pitch: the final pitch (always grounded: an LLM pitch that passed, or the template).
        samples: cleaned LLM samples in generation order (empty for cache hits / template).
        verdicts: the validator's verdict on each sample.
        first_ok: whether the first (single-sample) output passed; None when no LLM ran.
        seconds: wall time of this call.
        error: the model error that forced the template, if any.
    """

    pitch: Pitch
    samples: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    first_ok: bool | None = None
    seconds: float = 0.0
    error: str | None = None
    similarities: tuple[float, ...] = field(default=())


def clean_sample(text: str) -> str:
    """Tidy one raw model reply: first paragraph, no wrapping quotes or 'Pitch:' label.

    A reply cut off by the token limit keeps its complete sentences only.

    Example:
        >>> clean_sample('"Try the socks. They are warm and')
        'Try the socks.'
    """
    text = text.strip().split("\n\n")[0].strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    elif text[:1] in _QUOTES and text.count(text[0]) == 1:
        text = text[1:].strip()
    text = _LEAD.sub("", text).strip()
    text = " ".join(text.split())
    if text and text[-1] not in ".!?":
        ends = [m.end() for m in re.finditer(r"[.!?](?=\s)", text)]
        if ends:
            text = text[: ends[-1]].strip()
    return text


def copies_example(text: str, facts: ItemFacts, span: int = 4) -> bool:
    """Whether ``text`` repeats ``span`` consecutive words of the prompt's example answer.

    Word runs that also occur in the product's own facts do not count.
    """
    example = normalize(EXAMPLE_ANSWER).split()
    grams = {" ".join(example[i : i + span]) for i in range(len(example) - span + 1)}
    own = f" {normalize(facts.fact_text())} "
    words = normalize(text).split()
    for i in range(len(words) - span + 1):
        gram = " ".join(words[i : i + span])
        if gram in grams and f" {gram} " not in own:
            return True
    return False


def pitch_seed(seed: int, item_id: str, context_hash: str) -> int:
    """A deterministic per-pitch seed from the config seed, the item and the shopper context."""
    digest = hashlib.sha256(f"{seed}|{item_id}|{context_hash}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class PitchWriter:
    """Writes grounded pitches with a model, a validator, a re-ranker and a cache.

    Example:
        >>> writer = PitchWriter(model, PitchConfig(), cache=PitchCache(path), encoder=encoder)
        >>> writer.write(facts, context).pitch.source
        'llm'
    """

    def __init__(
        self,
        model: PitchModel | None,
        config: PitchConfig | None = None,
        cache: PitchCache | None = None,
        encoder: TextEncoder | None = None,
        names: CatalogNames | None = None,
    ) -> None:
        self.model = model
        self.config = config or PitchConfig()
        self.cache = cache
        self.encoder = encoder
        self.names = names

    @property
    def model_name(self) -> str:
        """Name of the writing model (``"template"`` without one)."""
        return self.model.name if self.model is not None else TEMPLATE_MODEL

    def key(self, facts: ItemFacts, context: ShopperContext) -> CacheKey:
        """The cache key of a pitch for ``facts`` and ``context``."""
        return CacheKey(facts.item_id, context.key(), PROMPT_VERSION, self.model_name)

    def cached(self, facts: ItemFacts, context: ShopperContext) -> Pitch | None:
        """The cached pitch, if any (a cached template fallback is reported as ``template``)."""
        if self.cache is None or self.model is None:
            return None
        hit = self.cache.get(self.key(facts, context))
        if hit is None:
            return None
        if hit.origin == "llm":
            return Pitch(facts.item_id, hit.text, "cache", self.model_name)
        return Pitch(facts.item_id, hit.text, "template", TEMPLATE_MODEL)

    def template(self, facts: ItemFacts, context: ShopperContext) -> Pitch:
        """The deterministic template pitch."""
        return Pitch(facts.item_id, template_pitch(facts, context), "template", TEMPLATE_MODEL)

    def check(self, text: str, facts: ItemFacts, context: ShopperContext) -> Verdict:
        """Validate ``text`` with this writer's limits and catalog names.

        Besides the rules of :func:`~recsys.pitch.validate.validate`, a sample that copies four
        or more words in a row from the prompt's worked example fails with ``example_copy``
        (small models parrot it: "... will keep your feet comfortable on long runs").
        """
        verdict = validate(
            text,
            facts,
            context,
            names=self.names,
            max_chars=self.config.max_chars,
            min_chars=self.config.min_chars,
        )
        if copies_example(text, facts):
            return Verdict(False, (*verdict.problems, "example_copy"))
        return verdict

    def _rank(self, facts: ItemFacts, texts: list[str]) -> list[float]:
        if not self.config.rerank or self.encoder is None or len(texts) < 2:
            return [0.0] * len(texts)
        vectors = self.encoder.encode([facts.product_text(), *texts])
        sims = np.asarray(vectors[1:] @ vectors[0], dtype=np.float64)
        return [float(s) for s in sims]

    def write(
        self, facts: ItemFacts, context: ShopperContext, use_cache: bool = True
    ) -> WriteResult:
        """Write (or fetch) the pitch for one product and shopper.

        Args:
            facts: the product's catalog facts.
            context: the shopper context.
            use_cache: read the cache first (the result is always stored when a cache is set).

        Returns:
            A :class:`WriteResult`; its pitch is always valid or the template.
        """
        started = time.perf_counter()
        if use_cache:
            hit = self.cached(facts, context)
            if hit is not None:
                return WriteResult(hit, seconds=time.perf_counter() - started)
        if self.model is None:
            return WriteResult(self.template(facts, context), seconds=time.perf_counter() - started)
        key = self.key(facts, context)
        cfg = self.config
        n = cfg.n_samples if cfg.temperature > 0 else 1
        seed = pitch_seed(cfg.seed, facts.item_id, key.context_hash)
        messages = build_messages(facts, context)
        # a model that samples one at a time anyway (onnx) stops at the first valid sample;
        # batched models (transformers, HTTP) draw all n at once and the re-ranker picks
        one_by_one = bool(getattr(self.model, "sequential", False)) and cfg.first_valid
        samples: list[str] = []
        verdicts: list[Verdict] = []
        try:
            for i in range(n if one_by_one else 1):
                raw = self.model.generate(
                    messages,
                    n=1 if one_by_one else n,
                    max_new_tokens=cfg.max_new_tokens,
                    temperature=cfg.temperature,
                    seed=seed + i,
                )
                batch = [clean_sample(r) for r in raw]
                samples += batch
                verdicts += [self.check(s, facts, context) for s in batch]
                if one_by_one and verdicts[-1].ok:
                    break
        except PitchModelError as exc:
            log.warning("pitch model failed for item %s: %s", facts.item_id, exc)
            return WriteResult(
                self.template(facts, context),
                seconds=time.perf_counter() - started,
                error=str(exc),
            )
        valid = [s for s, v in zip(samples, verdicts, strict=True) if v.ok]
        valid = list(dict.fromkeys(valid))
        sims: list[float] = []
        if valid:
            sims = self._rank(facts, valid)
            best = valid[int(np.argmax(sims))]
            pitch = Pitch(facts.item_id, best, "llm", self.model_name)
        else:
            pitch = self.template(facts, context)
        if self.cache is not None:
            self.cache.put(key, pitch.text, "llm" if pitch.source == "llm" else "template")
        return WriteResult(
            pitch,
            samples=tuple(samples),
            verdicts=tuple(verdicts),
            first_ok=verdicts[0].ok if verdicts else False,
            seconds=time.perf_counter() - started,
            similarities=tuple(sims),
        )
