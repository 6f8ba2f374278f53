"""Configuration of the pitch writer: one frozen dataclass per concern, validated on creation.

Read like every other config (:mod:`recsys.config`): the ``[pitch]`` table of a config file (the
nightly job's, the API's, or any file given to ``recsys pitch --config``), with the endpoint of
the ``openai`` backend in ``[pitch.openai]``.

Example:
    >>> PitchConfig.from_dict({"backend": "openai", "openai": {"model": "smollm2"}}).openai.model
    'smollm2'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, get_args

from recsys.config import Config, check, check_range, from_dict, read_config_file

Backend = Literal["local", "openai", "template"]
# ``auto``: the catalog's language, unless a product's own text is clearly the other (Chinese or
# English; ``recsys.pitch.facts.pitch_language``)
Language = Literal["auto", "en", "de", "fr", "es", "zh"]
Precision = Literal["fp32", "bf16", "int8", "int4"]
Runtime = Literal["onnx", "transformers", "llamacpp"]

BACKENDS: tuple[str, ...] = get_args(Backend)
LANGUAGES: tuple[str, ...] = get_args(Language)
PRECISIONS: tuple[str, ...] = get_args(Precision)
RUNTIMES: tuple[str, ...] = get_args(Runtime)

# the precisions each local runtime can load (the onnx builder writes int8/int4/fp32 models;
# transformers loads the GGUF as fp32/bf16/int8; llama.cpp runs the GGUF as it is)
_RUNTIME_PRECISIONS: dict[str, tuple[str, ...]] = {
    "onnx": ("int8", "int4", "fp32"),
    "transformers": ("fp32", "bf16", "int8"),
    "llamacpp": ("fp32", "int8"),
}


@dataclass(frozen=True)
class OpenAIConfig(Config):
    """An OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, a hosted API).

    Example:
        >>> OpenAIConfig(base_url="http://127.0.0.1:11434/v1", model="smollm2").model
        'smollm2'
    """

    SECTION: ClassVar[str] = "pitch.openai"

    base_url: str = "http://127.0.0.1:8000/v1"  # up to and including the version path (/v1)
    model: str = "smollm2"  # model name sent in the request body
    api_key: str = ""  # bearer token; empty -> $RECSYS_PITCH_API_KEY, else no header
    timeout_s: float = 10.0  # per HTTP request (connect, and each wait for data)
    rate_limit_per_s: float = 5.0  # most requests started per second by this process
    # a connection error, timeout or HTTP 429/500/502/503/504 is retried this many more times
    retries: int = 2
    backoff_s: float = 0.5  # wait before the first retry, doubling; Retry-After wins when sent
    deadline_s: float = 20.0  # one generate call (retries, waits, top-up requests) ends by then

    def validate(self) -> None:  # noqa: D102
        check(
            self,
            "base_url",
            self.base_url.startswith(("http://", "https://")),
            "a URL that starts with http:// or https://",
        )
        check(self, "model", bool(self.model), "a non-empty string")
        check_range(self, "timeout_s", "rate_limit_per_s", "deadline_s", gt=0)
        check_range(self, "retries", ge=0, le=10)
        check_range(self, "backoff_s", ge=0)

    @property
    def resolved_api_key(self) -> str:
        """The key to send: the configured one, else ``$RECSYS_PITCH_API_KEY``, else ''."""
        return self.api_key or os.environ.get("RECSYS_PITCH_API_KEY", "")


@dataclass(frozen=True)
class PitchConfig(Config):
    """How pitches are written, validated, cached and served.

    Example:
        >>> PitchConfig(backend="template", language="de").language
        'de'
    """

    SECTION: ClassVar[str] = "pitch"

    backend: Backend = "local"  # local packaged model | openai endpoint | template only
    # language of the pitch (prompt, template and language check); auto: the catalog's (the
    # published bundle's), a product switching to Chinese or English only when its own text
    # clearly is; without a recorded catalog language, the product's own text decides
    language: Language = "auto"
    n_samples: int = 5  # best-of-n: samples drawn per pitch before falling back to the template
    max_new_tokens: int = 32  # generation length cap per sample (one sentence)
    # the same for a Chinese sentence: a Chinese character often takes one to three tokens, so a
    # 40-character sentence does not fit in 32
    max_new_tokens_zh: int = 80
    temperature: float = 0.3  # sampling temperature (0 = greedy; then n_samples is forced to 1)
    top_p: float = 0.9  # nucleus sampling
    seed: int = 0  # base seed; each pitch derives its own from (seed, item, context)
    max_chars: int = 160  # validator: longest model-written sentence accepted
    min_chars: int = 20  # validator: shortest model-written sentence accepted
    max_words: int = 14  # validator: most words in the model-written sentence
    # validator, Chinese: most / fewest characters (not words: Chinese has no spaces) in the
    # model-written sentence, punctuation included; 40 is about as long as 14 English words
    max_chars_zh: int = 40
    min_chars_zh: int = 6
    # a sample whose mean token log-probability under the local model is lower is rejected
    # ("unlikely"; chosen on the judged dev sets, benchmarks/README.md); -100 turns it off
    min_logprob: float = -1.1
    recent_items: int = 3  # shopper's recent items put in the prompt
    # local backend runtime: onnx (onnxruntime-genai; falls back to transformers if missing) |
    # transformers | llamacpp (the GGUF as is; optional extra that compiles llama.cpp)
    runtime: Runtime = "onnx"
    # local model weights: int8 | int4 (onnx only) | fp32 | bf16 (transformers only)
    precision: Precision = "int8"
    first_valid: bool = True  # one-at-a-time runtimes: stop at the first valid sample
    # one-at-a-time runtimes: no further sample is started that would end after this many
    # seconds of the pitch (the slowest sample so far is the estimate); then the template
    budget_s: float = 3.5
    threads: int = 0  # threads of the local model (0: torch's default; onnx/llamacpp min(4, cpus))
    generate_timeout_s: float = 30.0  # background generation of one pitch gives up after this
    queue_size: int = 256  # background queue bound; misses beyond it are not queued
    rerank: bool = True  # re-rank valid samples by embedding similarity to the product text
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)  # used when backend == "openai"

    def validate(self) -> None:  # noqa: D102
        precisions = _RUNTIME_PRECISIONS[self.runtime]
        check(
            self,
            "precision",
            self.precision in precisions,
            f"one of {', '.join(map(repr, precisions))} with runtime {self.runtime!r}",
        )
        check_range(self, "n_samples", ge=1, le=16)
        check_range(self, "max_new_tokens", "max_new_tokens_zh", ge=8, le=256)
        check_range(self, "recent_items", ge=0, le=10)
        check_range(self, "queue_size", ge=1, le=100_000)
        check_range(self, "threads", ge=0, le=256)
        check_range(self, "max_words", ge=5, le=60)
        check_range(self, "min_logprob", ge=-100, le=0)
        check_range(self, "temperature", ge=0, le=2)
        check_range(self, "top_p", gt=0, le=1)
        check(
            self,
            "min_chars",
            0 < self.min_chars < self.max_chars,
            f"an integer > 0 and < max_chars ({self.max_chars})",
        )
        check_range(self, "budget_s", "generate_timeout_s", gt=0)
        check(
            self,
            "min_chars_zh",
            0 < self.min_chars_zh < self.max_chars_zh,
            f"an integer > 0 and < max_chars_zh ({self.max_chars_zh})",
        )


def load_pitch_config(path: str | Path | None) -> PitchConfig:
    """The ``[pitch]`` table of a TOML/JSON config file (the defaults without a file or table).

    Raises:
        ConfigError: when the file cannot be read or parsed, or a key or value is invalid.
    """
    if path is None:
        return PitchConfig()
    table = read_config_file(path).get("pitch", {})
    return from_dict(PitchConfig, table, "pitch.")
