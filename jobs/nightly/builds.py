"""What the run's trainings share: the text encoder and the embedding cache.

A run trains up to three times: in memory to judge the candidate (``candidate_eval``) and maybe a
replica of the current bundle (``current_replica``), then the candidate that is written, through
the training door. They share one text encoder (when their text config is the job's) and one open
embedding cache, so a normal night embeds only new and changed products once.
"""

from __future__ import annotations

import time
from dataclasses import replace

import polars as pl

from jobs.nightly.run_report import EmbeddingCounts, RunReport
from recsys.bundle import Bundle
from recsys.config import TextConfig, TrainConfig
from recsys.home import Home
from recsys.nightly.config import NightlyConfig
from recsys.text import EmbeddingCache, TextEncoder
from recsys.training import TrainingData, TrainingEngine, build_bundle


class Builds:
    """The run's text encoder and embedding cache; in-memory builds for judging."""

    def __init__(
        self,
        config: NightlyConfig,
        report: RunReport,
        *,
        encoder: TextEncoder | None,
        show_progress: bool,
        engine: TrainingEngine | None = None,
    ) -> None:
        self.config = config
        self.report = report
        self.encoder = encoder
        self.show_progress = show_progress
        self.engine = engine
        self.cache: EmbeddingCache | None = None

    def open_cache(self, home: Home) -> EmbeddingCache:
        """Open the home's embedding cache (closed by :meth:`close`)."""
        if self.cache is None:
            self.cache = EmbeddingCache(home.embedding_cache_path)
        return self.cache

    def close(self) -> None:
        """Close the embedding cache (when it was opened)."""
        if self.cache is not None:
            self.cache.close()

    def encoder_for(self, text: TextConfig) -> TextEncoder | None:
        """The shared encoder for a build with this text config (None: the build makes its own)."""
        if not text.enabled:
            return None
        if text != self.config.train.text:
            return None  # build_bundle makes one for that text config
        if self.encoder is None:
            self.encoder = TextEncoder(self.config.train.text)
        return self.encoder

    def build(
        self, name: str, events: pl.DataFrame, catalog: pl.DataFrame, train_config: TrainConfig
    ) -> Bundle:
        """An in-memory bundle for judging (never written); its timings go to the report."""
        timings: dict[str, float] = {}
        if self.engine is not None:  # judged as it will be trained (no lists: not judged)
            hybrid = replace(train_config.hybrid, precomputed_items=0, precomputed_similar=0)
            built = self.engine.build_frames(
                TrainingData(events, events, catalog, 0, time.time()),
                replace(train_config, hybrid=hybrid),
                cache=self.cache,
                show_progress=self.show_progress,
                timings=timings,
            )
            bundle, counts = built.bundle, built.counts
        else:
            bundle, counts = build_bundle(
                events,
                catalog,
                train_config,
                encoder=self.encoder_for(train_config.text),
                cache=self.cache,
                show_progress=self.show_progress,
                timings=timings,
            )
        self.report.build_timings[name] = timings
        if train_config.text.enabled:
            self.report.embedding[name] = EmbeddingCounts(counts["embedded"], counts["cached"])
        return bundle
