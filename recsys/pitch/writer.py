"""Write one pitch: cache → link + best-of-n model sentences → validate → re-rank → template.

A pitch is two sentences. The first, the link, is composed by code from the shopper's events
(:func:`recsys.pitch.template.link_sentence`); the model writes only the second, about the
product, from its catalog facts (:mod:`recsys.pitch.prompt`); the validator judges that sentence
(:mod:`recsys.pitch.validate`). When no sample passes, the template sentence follows the link.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recsys.config import TextConfig
from recsys.errors import ConfigError, PitchModelError
from recsys.pitch.backends import PitchModel
from recsys.pitch.cache import CacheKey, PitchCache
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, ShopperContext
from recsys.pitch.prompt import LANGUAGE_NAMES, build_messages, prompt_version
from recsys.pitch.template import compose, link_sentence, template_pitch
from recsys.pitch.validate import RULES_VERSION, CatalogNames, Verdict, validate
from recsys.text import TextEncoder

log = logging.getLogger(__name__)

Source = Literal["llm", "template", "cache"]
# why a pitch is the template although a model is configured (None: it is not, or the model
# wrote but no sample passed the validator)
Fallback = Literal["model_language"]
TEMPLATE_MODEL = "template"
# the text model that re-ranks samples in these languages (others: the writer's encoder)
RERANK_MODELS = {"zh": "multilingual"}

_QUOTES = "\"'“”„«»「」『』"
_LEAD = re.compile(
    r"^(?:(?:pitch|answer|sentence|response)\s*:|(?:文案|回答|答案|句子)\s*[:：])\s*", re.IGNORECASE
)
# a sentence ends at . ! ? before a space or the end, at a Chinese 。！？, or at ! ? right before a
# Chinese character (as the validator splits sentences: "很轻!穿着舒适。" is two)
_END = re.compile(
    r"[.!?](?=\s|$)|[。！？]|[!?](?=[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f])"
)


@dataclass(frozen=True)
class Pitch:
    """One pitch for one recommended item.

    Attributes:
        item_id: the product pitched.
        text: the link sentence, then the model's (or the template's) sentence.
        source: who wrote it: ``"llm"`` (just generated and validated), ``"template"``
            (deterministic fallback) or ``"cache"`` (a validated LLM pitch from the cache).
        model: the model that wrote it (``"template"`` for templates).
        language: the language it is written in (``"en"``, ``"zh"``, ...).
        fallback: why it is the template although a model is configured: ``"model_language"``
            (the model does not write this language: the packaged local model writes English
            only); None otherwise.
        fallback_reason: that reason in words, for people (``""`` without a fallback).
    """

    item_id: str
    text: str
    source: Source
    model: str = TEMPLATE_MODEL
    language: str = "en"
    fallback: Fallback | None = None
    fallback_reason: str = ""


@dataclass(frozen=True)
class WriteResult:
    """A pitch plus what happened on the way (for benchmarks and logs).

    Attributes:
        pitch: the final pitch (always grounded: an LLM pitch that passed, or the template).
        samples: cleaned model sentences in generation order (empty for cache hits / template).
        verdicts: the validator's verdict on each sample.
        first_ok: whether the first (single-sample) output passed; None when no LLM ran.
        seconds: wall time of this call.
        error: the model error that forced the template, if any.
        link: the link sentence every sample was composed with.
        scores: each sample's mean token log-probability (None: the model gives none).
    """

    pitch: Pitch
    samples: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    first_ok: bool | None = None
    seconds: float = 0.0
    error: str | None = None
    similarities: tuple[float, ...] = field(default=())
    link: str = ""
    scores: tuple[float | None, ...] = ()


def clean_sample(text: str) -> str:
    """Tidy one raw model reply into one sentence: first line, no wrapping quotes or label.

    Only the first sentence is kept (the model was asked for one; what follows is where it
    rambles). A reply cut off by the token limit before any sentence ends is kept as it is, and
    the validator rejects it as a fragment.

    Example:
        >>> clean_sample('"This film is a gentle comedy. It stars a cat and')
        'This film is a gentle comedy.'
        >>> clean_sample("文案：这款保温杯小巧轻便。它还能保温一整天")
        '这款保温杯小巧轻便。'
        >>> clean_sample("很轻!穿着舒适。")
        '很轻!'
    """
    text = text.strip().split("\n")[0].strip()
    if not text:  # an empty reply (a model that ends at once): the validator says "empty"
        return ""
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    elif text[:1] in _QUOTES and text.count(text[0]) == 1:
        text = text[1:].strip()
    text = _LEAD.sub("", text).strip()
    text = " ".join(text.split())
    end = _END.search(text)
    return text[: end.end()].strip() if end else text


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
        encoders: dict[str, TextEncoder | None] | None = None,
    ) -> None:
        self.model = model
        self.config = config or PitchConfig()
        self.cache = cache
        self.encoder = encoder
        self.names = names
        # per language, the encoder that re-ranks its samples, built on first use (encoder_for);
        # None: it could not load, and that language is not re-ranked
        self.encoders: dict[str, TextEncoder | None] = dict(encoders or {})

    @property
    def model_name(self) -> str:
        """Name of the writing model (``"template"`` without one)."""
        return self.model.name if self.model is not None else TEMPLATE_MODEL

    def key(self, facts: ItemFacts, context: ShopperContext) -> CacheKey:
        """The cache key of a pitch for ``facts`` and ``context``.

        Its version is the prompt's and the validator's (``p3/r2``): a pitch cached under an
        older prompt or older rules is not served (it could break a newer rule).
        """
        version = f"{prompt_version(context.language)}/{RULES_VERSION}"
        return CacheKey(facts.item_id, context.key(), version, self.model_name)

    def cached(self, facts: ItemFacts, context: ShopperContext) -> Pitch | None:
        """The cached pitch, if any (a cached template fallback is reported as ``template``)."""
        if self.cache is None or self.model is None:
            return None
        hit = self.cache.get(self.key(facts, context))
        if hit is None:
            return None
        language = context.language
        if hit.origin == "llm":
            return Pitch(facts.item_id, hit.text, "cache", self.model_name, language)
        return Pitch(facts.item_id, hit.text, "template", TEMPLATE_MODEL, language)

    def template(self, facts: ItemFacts, context: ShopperContext) -> Pitch:
        """The deterministic template pitch.

        When a model is configured that does not write the context's language (the packaged
        local model and Chinese), the pitch says so: ``fallback="model_language"``.
        """
        language = context.language
        fallback: Fallback | None = None
        reason = ""
        if self.model is not None and not self.writes(language):
            fallback, reason = "model_language", self.language_reason(language)
        return Pitch(
            facts.item_id,
            template_pitch(facts, context),
            "template",
            TEMPLATE_MODEL,
            language,
            fallback,
            reason,
        )

    def writes(self, language: str) -> bool:
        """Whether the model writes ``language`` (the packaged local model: English only)."""
        languages = getattr(self.model, "languages", None)
        return self.model is not None and (languages is None or language in languages)

    def language_reason(self, language: str) -> str:
        """Why the model does not write ``language``, in words.

        The model is "the local model" with the ``local`` backend (the packaged one), else it is
        named ("the model openai/qwen2.5 writes English only; ...").

        Example:
            >>> PitchWriter(local_model).language_reason("zh")
            'the local model writes English only; Chinese pitches use the template'
        """
        languages = getattr(self.model, "languages", None) or ()
        known = " and ".join(LANGUAGE_NAMES.get(lang, lang) for lang in languages) or "no language"
        name = LANGUAGE_NAMES.get(language, language)
        model = (
            "the local model" if self.config.backend == "local" else f"the model {self.model_name}"
        )
        return f"{model} writes {known} only; {name} pitches use the template"

    def encoder_for(self, language: str) -> TextEncoder | None:
        """The encoder that re-ranks samples in ``language`` (None: no re-ranking).

        Re-ranking is on when the writer has an encoder (:attr:`encoder`). English and the other
        Latin-script languages use it; Chinese uses ``TextEncoder(TextConfig(model=
        "multilingual"))``, built here on first use (an English model reads Chinese as noise).
        """
        if self.encoder is None:
            return None
        if language not in RERANK_MODELS:
            return self.encoder
        if language not in self.encoders:
            self.encoders[language] = TextEncoder(TextConfig(model=RERANK_MODELS[language]))
        return self.encoders[language]

    def check(
        self, text: str, facts: ItemFacts, context: ShopperContext, score: float | None = None
    ) -> Verdict:
        """Validate one model-written sentence with this writer's limits and catalog names.

        Besides the rules of :func:`~recsys.pitch.validate.validate`, a sample whose mean token
        log-probability under the model (``score``; only models with ``generate_scored`` give
        one) is below ``config.min_logprob`` fails with ``unlikely``.
        """
        verdict = validate(
            text,
            facts,
            context,
            names=self.names,
            max_chars=self.config.max_chars,
            min_chars=self.config.min_chars,
            max_words=self.config.max_words,
            max_chars_zh=self.config.max_chars_zh,
            min_chars_zh=self.config.min_chars_zh,
        )
        if score is not None and score < self.config.min_logprob:
            return Verdict(False, (*verdict.problems, "unlikely"))
        return verdict

    def max_new_tokens(self, language: str) -> int:
        """The generation length cap for a sentence in ``language`` (Chinese has its own)."""
        cfg = self.config
        return cfg.max_new_tokens_zh if language == "zh" else cfg.max_new_tokens

    def _generate(
        self, messages: list[dict[str, str]], n: int, seed: int, language: str = "en"
    ) -> list[tuple[str, float | None]]:
        """``n`` replies with their scores (None when the model gives no score)."""
        assert self.model is not None
        cfg = self.config
        limit = self.max_new_tokens(language)
        scored = getattr(self.model, "generate_scored", None)
        if callable(scored):
            return list(scored(messages, n, limit, cfg.temperature, seed, one_sentence=True))
        texts = self.model.generate(
            messages, n=n, max_new_tokens=limit, temperature=cfg.temperature, seed=seed
        )
        return [(text, None) for text in texts]

    def _rank(self, facts: ItemFacts, texts: list[str], language: str = "en") -> list[float]:
        # the encoder is asked for only now: a Chinese one is built when Chinese samples compete
        encoder = self.encoder_for(language) if self.config.rerank and len(texts) >= 2 else None
        if encoder is None:
            return [0.0] * len(texts)
        try:
            vectors = encoder.encode([facts.product_text(), *texts])
        except ConfigError as exc:  # e.g. the multilingual model's package is not installed
            if language not in RERANK_MODELS:
                raise
            log.warning("pitch re-ranking off for %s: %s", language, exc)
            self.encoders[language] = None
            return [0.0] * len(texts)
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
        if self.model is None or not self.writes(context.language):
            return WriteResult(self.template(facts, context), seconds=time.perf_counter() - started)
        key = self.key(facts, context)
        cfg = self.config
        n = cfg.n_samples if cfg.temperature > 0 else 1
        seed = pitch_seed(cfg.seed, facts.item_id, key.context_hash)
        messages = build_messages(facts, context.language)
        link = link_sentence(facts, context)
        # a model that samples one at a time anyway (onnx) stops at the first valid sample;
        # batched models (transformers, HTTP) draw all n at once and the re-ranker picks
        one_by_one = bool(getattr(self.model, "sequential", False)) and cfg.first_valid
        samples: list[str] = []
        scores: list[float | None] = []
        verdicts: list[Verdict] = []
        try:
            longest = 0.0  # the slowest sample so far
            for i in range(n if one_by_one else 1):
                elapsed = time.perf_counter() - started
                if i and elapsed + longest > cfg.budget_s:  # it would end past the budget
                    break
                sample_started = time.perf_counter()
                raw = self._generate(messages, 1 if one_by_one else n, seed + i, context.language)
                longest = max(longest, time.perf_counter() - sample_started)
                batch = [clean_sample(text) for text, _ in raw]
                samples += batch
                scores += [score for _, score in raw]
                verdicts += [
                    self.check(text, facts, context, score)
                    for text, (_, score) in zip(batch, raw, strict=True)
                ]
                if one_by_one and verdicts[-1].ok:
                    break
        except PitchModelError as exc:
            log.warning("pitch model failed for item %s: %s", facts.item_id, exc)
            return WriteResult(
                self.template(facts, context),
                seconds=time.perf_counter() - started,
                error=str(exc),
                link=link,
            )
        valid = [s for s, v in zip(samples, verdicts, strict=True) if v.ok]
        valid = list(dict.fromkeys(valid))
        sims: list[float] = []
        if valid:
            sims = self._rank(facts, valid, context.language)
            best = valid[int(np.argmax(sims))]
            text = compose(link, best, context.language)
            pitch = Pitch(facts.item_id, text, "llm", self.model_name, context.language)
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
            link=link,
            scores=tuple(scores),
        )
