"""Moved to :mod:`api.testing` (shared with ``benchmarks/``); kept for test_api_durability.py.

Import from ``api.testing`` directly; this module goes once nothing imports it.
"""

from __future__ import annotations

from api.testing import (
    ITEMS,
    DurabilityResult,
    acknowledged,
    client_main,
    count_stored,
    post_until_acknowledged,
    start_clients,
    summarize_run,
)
from api.testing import kill_server as kill_process_group

__all__ = [
    "ITEMS",
    "DurabilityResult",
    "acknowledged",
    "client_main",
    "count_stored",
    "kill_process_group",
    "post_until_acknowledged",
    "start_clients",
    "summarize_run",
]
