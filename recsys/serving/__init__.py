"""The ranker, made of parts: a request, candidate sources, blend, selection, explanation.

``HybridRecommender`` (in :mod:`recsys.serving.recommender`) picks the strategy and runs the
stages; each stage is its own module, and each candidate source its own class in
:mod:`recsys.serving.sources`. See ``docs/architecture.md`` for where a change goes.
"""

from recsys.serving.query import EventLog, FrameEvents, Query
from recsys.serving.recommender import HybridRecommender
from recsys.serving.sources import CandidateSource, reason_sources

__all__ = [
    "CandidateSource",
    "EventLog",
    "FrameEvents",
    "HybridRecommender",
    "Query",
    "reason_sources",
]
