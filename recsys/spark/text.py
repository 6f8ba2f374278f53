"""Catalog text embedded on Spark executors, one text model per executor process.

:class:`SparkTextEncoder` has the interface of :class:`~recsys.text.TextEncoder` (``model_id``,
``dim``, ``encode``), so :func:`recsys.text.embed_with_cache` uses it unchanged: the driver looks
every text's content hash up in the embedding cache, sends only the misses to the executors, and
stores what comes back. Unchanged items are never embedded again, whichever engine embedded them
first (the cache key is the text and the model name, not the engine).

Executors run ``mapInArrow`` (Arrow batches in and out, no pandas): each Python worker loads the
packaged model once (:func:`_encoder`, kept for the worker's life; Spark reuses Python workers
between tasks) and encodes its partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from recsys.config import TextConfig
from recsys.text import TextEncoder, canonical_model

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

_ENCODERS: dict[TextConfig, TextEncoder] = {}  # per executor process


def _encoder(config: TextConfig) -> TextEncoder:
    """This process's encoder for ``config`` (loaded once)."""
    if config not in _ENCODERS:
        _ENCODERS[config] = TextEncoder(config)
    return _ENCODERS[config]


def _embed_partition(
    batches: Iterator[pa.RecordBatch], config: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Executor side: ``pos, text`` batches in, ``pos, vector`` batches out."""
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one core per task: the executors are the parallelism
        import torch

        torch.set_num_threads(1)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            encoder = _encoder(TextConfig.from_dict(config))  # loaded once per process
            texts = batch.column("text").to_pylist()
            vectors = encoder.encode(texts)
            flat = pa.array(vectors.ravel(), pa.float32())
            offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
            yield pa.RecordBatch.from_arrays(
                [batch.column("pos"), pa.ListArray.from_arrays(offsets, flat)],
                names=["pos", "vector"],
            )


class SparkTextEncoder:
    """Texts in, unit vectors out, computed on the Spark executors.

    Args:
        spark: the session.
        config: the text config (the executors load ``config.model`` from the package).
        partitions: how many tasks the texts are split into.
    """

    def __init__(self, spark: SparkSession, config: TextConfig, partitions: int) -> None:
        self.spark = spark
        self.config = config
        self.partitions = max(1, partitions)
        self._dim: int | None = None

    @property
    def model_id(self) -> str:
        """The cache key's model part: the same as the local encoder's."""
        return canonical_model(self.config.model)

    @property
    def dim(self) -> int:
        """The embedding width (loads the model on the driver once, only when asked)."""
        if self._dim is None:
            self._dim = TextEncoder(self.config).dim
        return self._dim

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> npt.NDArray[np.float32]:
        """Embed ``texts`` on the executors; rows in input order, unit L2 norm."""
        import pyarrow as pa

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        table = pa.table(
            {"pos": np.arange(len(texts), dtype=np.int64), "text": pa.array(list(texts))}
        )
        frame = self.spark.createDataFrame(table).repartition(
            min(self.partitions, len(texts)), "pos"
        )
        config = self.config.to_dict()
        out = frame.mapInArrow(
            partial(_embed_partition, config=config), "pos long, vector array<float>"
        ).toArrow()
        order = np.argsort(out.column("pos").to_numpy())
        flat = out.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        vectors = np.asarray(flat, dtype=np.float32).reshape(len(texts), -1)[order]
        self._dim = int(vectors.shape[1])
        return np.ascontiguousarray(vectors)
