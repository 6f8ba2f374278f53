"""One vocabulary object maps external string ids to matrix rows and back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recsys.errors import BundleError, InvalidInputError

UNKNOWN = -1


class IdVocabulary:
    """A bijection between external ids (strings) and dense indices ``0..len-1``.

    Indices follow first appearance order. Unknown ids map to ``-1`` (:data:`UNKNOWN`).

    Example:
        >>> vocab = IdVocabulary(["b", "a", "b"])
        >>> vocab.index("a"), vocab.index("zzz"), vocab.id(0)
        (1, -1, 'b')
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self.extend(ids)

    def extend(self, ids: Iterable[str]) -> IdVocabulary:
        """Add ids not yet known (in order) and return self."""
        for raw in ids:
            if not isinstance(raw, str):
                raise InvalidInputError(f"ids must be strings, got {type(raw).__name__}: {raw!r}")
            if raw not in self._index:
                self._index[raw] = len(self._ids)
                self._ids.append(raw)
        return self

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdVocabulary) and self._ids == other._ids

    def __hash__(self) -> int:  # pragma: no cover - vocabularies are mutable, not hashable keys
        raise TypeError("IdVocabulary is not hashable")

    def index(self, external_id: str) -> int:
        """Return the index of ``external_id``, or ``-1`` if unknown."""
        return self._index.get(external_id, UNKNOWN)

    def indices(self, external_ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """Return indices for many ids (``-1`` for unknown ones), shape ``(len(external_ids),)``."""
        n = len(external_ids)
        return np.fromiter(map(self._index.get, external_ids, repeat(UNKNOWN, n)), np.int64, n)

    def id(self, index: int) -> str:
        """Return the external id at ``index``.

        Raises:
            InvalidInputError: if ``index`` is out of range (including ``-1``).
        """
        if not 0 <= index < len(self._ids):
            raise InvalidInputError(f"index {index} out of range [0, {len(self._ids)})")
        return self._ids[index]

    def ids(self, indices: Iterable[int] | None = None) -> list[str]:
        """Return the external ids at ``indices`` (all ids, in index order, when None)."""
        if indices is None:
            return list(self._ids)
        if isinstance(indices, np.ndarray) and indices.dtype.kind in "iu":
            rows: list[int] = indices.tolist()
        else:
            rows = [int(i) for i in indices]
        size, ids = len(self._ids), self._ids
        for i in rows:
            if not 0 <= i < size:
                self.id(i)  # raises the out-of-range error
        return [ids[i] for i in rows]

    def save(self, path: str | Path) -> None:
        """Write the ids as a JSON list."""
        Path(path).write_text(json.dumps(self._ids, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> IdVocabulary:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            BundleError: if the file is not a JSON list of unique strings.
        """
        try:
            ids = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BundleError(f"cannot read vocabulary {str(path)!r}: {exc}") from exc
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise BundleError(f"vocabulary {str(path)!r} is not a JSON list of strings")
        vocab = cls(ids)
        if len(vocab) != len(ids):
            raise BundleError(f"vocabulary {str(path)!r} has duplicate ids")
        return vocab
