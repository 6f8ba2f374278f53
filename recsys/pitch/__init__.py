"""Personalized pitch text: one or two grounded sentences per recommended product.

Pieces: :mod:`~recsys.pitch.config` (settings), :mod:`~recsys.pitch.facts` (the only inputs),
:mod:`~recsys.pitch.prompt`, :mod:`~recsys.pitch.backends` (local model, OpenAI-compatible HTTP),
:mod:`~recsys.pitch.validate`, :mod:`~recsys.pitch.template`, :mod:`~recsys.pitch.cache`,
:mod:`~recsys.pitch.writer` (best-of-n + re-rank + fallback), :mod:`~recsys.pitch.serving`
(request time, background worker) and :mod:`~recsys.pitch.batch` (pre-writing with a budget).
"""

from recsys.pitch.config import OpenAIConfig, PitchConfig
from recsys.pitch.writer import Pitch, PitchWriter, WriteResult

__all__ = ["OpenAIConfig", "Pitch", "PitchConfig", "PitchWriter", "WriteResult"]
