"""API keys and request ids: who may call a route, and the id a request is logged and echoed by.

Keys are sent as ``Authorization: Bearer <key>`` and compared in constant time. Reads are open
unless ``read_requires_key``; writes need a write or admin key; erasures need an admin key.
"""

from __future__ import annotations

import hmac
import os
import re
from typing import Literal

from flask import request

from api.config import ApiConfig
from api.errors import ApiError
from api.state import state

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
KeyKind = Literal["read", "write", "admin"]


def require_key(kind: KeyKind) -> None:
    """Check the request's ``Authorization`` header for a route of this kind.

    Raises:
        ApiError: 401 without an accepted key, 403 for a write key on an admin route.
    """
    check_key(state().config, kind, request.headers.get("Authorization", ""))


def check_key(cfg: ApiConfig, kind: KeyKind, header: str) -> None:
    """Check an ``Authorization`` header value for a route of this kind.

    Args:
        cfg: the API configuration (its keys and ``read_requires_key``).
        kind: what the route does: ``read``, ``write`` or ``admin``.
        header: the ``Authorization`` header value (``""`` when missing).

    Raises:
        ApiError: 401 without an accepted key, 403 for a write key on an admin route.
    """
    if kind == "read" and not cfg.read_requires_key:
        return
    accepted = {"read": cfg.all_keys, "write": cfg.all_keys, "admin": cfg.admin_keys}[kind]
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <api key>")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in accepted):
        if kind == "admin" and any(
            hmac.compare_digest(key.encode(), k.encode()) for k in cfg.all_keys
        ):
            raise ApiError(403, "forbidden", "this route needs an admin key")
        if not cfg.all_keys:
            raise ApiError(401, "unauthorized", "no API keys are configured on this server")
        raise ApiError(401, "unauthorized", "the API key is not valid")


def request_id(given: str) -> str:
    """The request id to use and echo: the caller's ``X-Request-ID`` if sane, else a new one.

    A new one is 32 random hex characters (128 bits, as a UUID4's hex less its version digits;
    a third of the CPU of building the UUID object, on every answer).
    """
    if given and REQUEST_ID.fullmatch(given):
        return given
    return os.urandom(16).hex()
