"""HTTP API (Flask). The full API is its own issue; this package holds the app factory."""

from api.app import create_app

__all__ = ["create_app"]
