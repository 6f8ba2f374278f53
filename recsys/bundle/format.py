"""The bundle format: what a version folder holds, and writing and loading it.

Layout of ``artifacts/<version>/``::

    manifest.json         config, config hash, data window, counts, metrics, library versions
    users.json items.json id vocabularies (JSON lists)
    items.parquet         catalog snapshot (title, category, price, stock, ...) in item_idx order
    user_items.npz        training confidences (CSR, no pickle)
    popularity.npy        log(1 + users per item), float32
    behavior/             model.json + model.npz
    behavior.faiss        item factors (factor models only)
    text_vectors.npy      unit text vectors, float32 (n_items, d); text_mask.npy says which exist
    text.faiss            text vectors of items with text
    toplists.npz          optional: each user's ranked candidates, precomputed (recsys.precomputed)
    similar.npz           optional: each item's similar items per mode, precomputed (same module)

A bundle folder is first written as ``artifacts/.tmp-<version>`` and renamed when complete, so a
crash never leaves a half-written folder under a version name. While it is being written, the temp
folder holds ``.writer.json`` (pid and host of the writer), so
:func:`recsys.bundle.versions.cleanup_stale` can remove the leftovers of a killed writer at once.
Arrays load with ``allow_pickle=False``. Which version is served is
:mod:`recsys.bundle.versions`' business.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from recsys.config import TrainConfig, stable_dict
from recsys.errors import BundleError, NoBundleError
from recsys.index import VectorIndex
from recsys.matrix import load_csr, save_csr
from recsys.models.base import BehaviorModel
from recsys.precomputed import PrecomputedLists, SimilarLists
from recsys.vocab import IdVocabulary

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"  # the file in the artifacts folder naming the published version
TMP_PREFIX = ".tmp-"
WRITER_FILE = ".writer.json"  # inside a temp folder while its writer runs: {"pid", "host"}
LIBRARIES = ("recsys-shop", "implicit", "faiss-cpu", "sentence-transformers", "polars", "numpy")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a bundle."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class ItemRow(NamedTuple):
    """What a recommendation answer shows of an item (see :meth:`ItemTable.facts`)."""

    item_id: str
    title: str
    category: str | None
    price: float | None
    currency: str | None
    in_stock: bool | None


@dataclass
class ItemTable:
    """Catalog facts per ``item_idx`` used for filters, explanations and responses.

    Attributes:
        frame: polars frame in item_idx order with ``item_id, title, description, category,
            price, currency, in_stock, attributes``.
        category_codes: int32 code per item (``-1`` for no category); ``categories`` maps codes.
        in_stock: bool per item.
    """

    frame: pl.DataFrame
    categories: list[str]
    category_codes: npt.NDArray[np.int32]
    in_stock: npt.NDArray[np.bool_]
    _facts: list[ItemRow] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> ItemTable:
        """Build from a frame in item_idx order."""
        cats = frame["category"].fill_null("").to_list()
        names = sorted({c for c in cats if c})
        code = {c: i for i, c in enumerate(names)}
        codes = np.asarray([code.get(c, -1) for c in cats], dtype=np.int32)
        stock = frame["in_stock"].fill_null(True).to_numpy().astype(bool)
        return cls(frame=frame, categories=names, category_codes=codes, in_stock=stock)

    def category_code(self, category: str) -> int:
        """Return the code of ``category`` or -1 if no item has it."""
        try:
            return self.categories.index(category)
        except ValueError:
            return -1

    def row(self, item_idx: int) -> dict[str, Any]:
        """Return the facts of one item as a dict."""
        return self.frame.row(int(item_idx), named=True)

    def facts(self, item_idx: int) -> ItemRow:
        """The facts an answer shows for one item (from a per-table cache: no frame access).

        The cache is built on first use (``HybridRecommender`` warm-up does it off the request
        path); the table is never modified afterwards (a catalog change builds a new table).
        """
        rows = self._facts
        if rows is None:
            columns = self.frame.select(ItemRow._fields).rows()
            rows = self._facts = [ItemRow._make(r) for r in columns]
        return rows[int(item_idx)]

    def title(self, item_idx: int) -> str:
        """Return the item's title (or its id if it has none)."""
        facts = self.facts(item_idx)
        return str(facts.title or facts.item_id)


@dataclass
class Bundle:
    """Everything the recommender needs at request time, loaded from one version folder."""

    version: str
    path: Path
    manifest: dict[str, Any]
    config: TrainConfig
    users: IdVocabulary
    items: IdVocabulary
    user_items: sp.csr_matrix
    popularity: npt.NDArray[np.float32]
    behavior: BehaviorModel
    behavior_index: VectorIndex | None
    text_vectors: npt.NDArray[np.float32] | None
    text_mask: npt.NDArray[np.bool_]
    text_index: VectorIndex | None
    item_table: ItemTable
    precomputed: PrecomputedLists | None = None  # precomputed per-user lists (recsys.precomputed)
    similar: SimilarLists | None = None  # precomputed similar items per item and mode (same module)


def new_version(config_hash: str, artifacts: Path) -> str:
    """Return an unused version name: UTC time (microseconds) plus the config hash prefix.

    Names sort in creation order (``list_versions`` and ``prune`` rely on it): the stamp has
    microseconds, so bundles written within one second with different configs still sort by
    time, and the rare same-stamp collision gets a zero-padded counter (``-002`` sorts after
    the first name and ``-010`` after ``-009``).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    base = f"v{stamp}-{config_hash[:8]}"
    version, k = base, 1
    while (artifacts / version).exists() or (artifacts / f"{TMP_PREFIX}{version}").exists():
        k += 1
        version = f"{base}-{k:03d}"
    return version


def fsync_dir(path: Path) -> None:
    """Sync a folder, so a rename or a new file in it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())
    for p in sorted({q.parent for q in path.rglob("*")} | {path}):
        fsync_dir(p)


def write_bundle(
    artifacts: Path, bundle: Bundle, on_complete: Callable[[Path], None] | None = None
) -> str:
    """Write an in-memory bundle as a complete version folder (not yet published).

    The folder appears under its version name only once everything is written and synced.

    Args:
        artifacts: the artifacts folder.
        bundle: the trained bundle.
        on_complete: called with the temp folder once it is complete and synced, just before it
            is renamed (the nightly job uses it to make this moment observable in crash tests).

    Returns:
        The new version name (``bundle.version`` and ``bundle.path`` are updated to it).
    """
    artifacts.mkdir(parents=True, exist_ok=True)
    config_hash = bundle.config.config_hash()
    version = new_version(config_hash, artifacts)
    tmp = artifacts / f"{TMP_PREFIX}{version}"
    tmp.mkdir()
    try:
        writer = {"pid": os.getpid(), "host": socket.gethostname()}
        (tmp / WRITER_FILE).write_text(json.dumps(writer), encoding="utf-8")
        bundle.users.save(tmp / "users.json")
        bundle.items.save(tmp / "items.json")
        bundle.item_table.frame.write_parquet(tmp / "items.parquet")
        save_csr(tmp / "user_items.npz", bundle.user_items)
        np.save(tmp / "popularity.npy", bundle.popularity, allow_pickle=False)
        bundle.behavior.save(tmp / "behavior")
        if bundle.behavior_index is not None:
            bundle.behavior_index.save(tmp / "behavior.faiss")
        np.save(tmp / "text_mask.npy", bundle.text_mask.astype(bool), allow_pickle=False)
        if bundle.text_vectors is not None and bundle.text_index is not None:
            np.save(tmp / "text_vectors.npy", bundle.text_vectors, allow_pickle=False)
            bundle.text_index.save(tmp / "text.faiss")
        if bundle.precomputed is not None:
            bundle.precomputed.save(tmp / "toplists.npz")
        if bundle.similar is not None:
            bundle.similar.save(tmp / "similar.npz")
        manifest = {
            "format": FORMAT_VERSION,
            "version": version,
            "created_at": datetime.now(UTC).isoformat(),
            "config": stable_dict(bundle.config),  # readable by the release before
            "config_hash": config_hash,
            "counts": {
                "users": len(bundle.users),
                "items": len(bundle.items),
                "interactions": int(bundle.user_items.nnz),
                "items_with_text": int(bundle.text_mask.sum()),
            },
            "libraries": library_versions(),
            "toplists": None
            if bundle.precomputed is None
            else {
                "users": bundle.precomputed.n_lists,
                "depth": bundle.precomputed.depth,
                "watermark": bundle.precomputed.watermark,
            },
            "similar_lists": None
            if bundle.similar is None
            else {"modes": list(bundle.similar.modes), "depth": bundle.similar.depth},
            **{k: v for k, v in bundle.manifest.items() if k not in ("version", "created_at")},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _fsync_tree(tmp)
        if on_complete is not None:
            on_complete(tmp)
        (tmp / WRITER_FILE).unlink()
        os.rename(tmp, artifacts / version)
        fsync_dir(artifacts)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    bundle.version, bundle.path, bundle.manifest = version, artifacts / version, manifest
    return version


def current_version(artifacts: Path) -> str | None:
    """Return the version ``CURRENT`` names, or None if nothing is published."""
    try:
        text = (artifacts / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def load_bundle(artifacts: Path, version: str | None = None) -> Bundle:
    """Load ``version`` (default: the one ``CURRENT`` names).

    Raises:
        NoBundleError: if nothing is published yet.
        BundleError: if the folder is incomplete or unreadable.
    """
    version = version or current_version(artifacts)
    if version is None:
        raise NoBundleError(
            f"no model bundle published under {artifacts}: run `recsys train` first"
        )
    path = artifacts / version
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle {version!r} has no readable manifest: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise BundleError(
            f"bundle {version!r} has format {manifest.get('format')!r}; "
            f"this recsys reads format {FORMAT_VERSION}"
        )
    try:
        config = TrainConfig.from_dict(manifest["config"])
        users = IdVocabulary.load(path / "users.json")
        items = IdVocabulary.load(path / "items.json")
        user_items = load_csr(path / "user_items.npz")
        popularity = np.load(path / "popularity.npy", allow_pickle=False)
        behavior = BehaviorModel.load(path / "behavior")
        behavior_index = (
            VectorIndex.load(path / "behavior.faiss", config.index)
            if (path / "behavior.faiss").is_file()
            else None
        )
        text_mask = np.load(path / "text_mask.npy", allow_pickle=False).astype(bool)
        text_vectors = None
        text_index = None
        if (path / "text_vectors.npy").is_file():
            text_vectors = np.load(path / "text_vectors.npy", allow_pickle=False)
            text_index = VectorIndex.load(path / "text.faiss", config.index)
        item_frame = pl.read_parquet(path / "items.parquet")
        precomputed = (
            PrecomputedLists.load(path / "toplists.npz")
            if (path / "toplists.npz").is_file()
            else None
        )
        if precomputed is not None and precomputed.items.shape[0] != len(users):
            rows = precomputed.items.shape[0]
            raise ValueError(f"toplists.npz has {rows} rows for {len(users)} users")
        similar = (
            SimilarLists.load(path / "similar.npz") if (path / "similar.npz").is_file() else None
        )
        if similar is not None and similar.n_items != len(items):
            raise ValueError(f"similar.npz has {similar.n_items} rows for {len(items)} items")
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"bundle {version!r} is incomplete or unreadable: {exc}") from exc
    return Bundle(
        version=version,
        path=path,
        manifest=manifest,
        config=config,
        users=users,
        items=items,
        user_items=user_items,
        popularity=popularity,
        behavior=behavior,
        behavior_index=behavior_index,
        text_vectors=text_vectors,
        text_mask=text_mask,
        text_index=text_index,
        item_table=ItemTable.from_frame(item_frame),
        precomputed=precomputed,
        similar=similar,
    )
