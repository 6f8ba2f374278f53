"""The HTTP API (Flask) over :class:`recsys.service.RecommendationService`.

:func:`create_app` (``api.app``) builds the app; ``api.routes`` holds one blueprint per resource,
``api.fastpath`` the lean path for ``GET /v1/users/<id>/recommendations``, ``api.answers`` the
JSON the routes send, ``api.openapi`` the served OpenAPI document and the request schemas,
``api.serve`` the gunicorn runner behind ``recsys serve``, ``api.testing`` a real server for
tests and benchmarks.

``create_app`` is imported on first use: importing ``api.serve`` or ``api.testing`` does not load
Flask, the library's engines or ``prometheus_client`` (which picks its metrics storage when it is
first imported, so it must not be imported before ``recsys serve`` sets it up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.app import create_app

        return create_app
    raise AttributeError(f"module 'api' has no attribute {name!r}")
