"""Offline jobs: thin entry points over :mod:`recsys` (training now; the nightly job later)."""
