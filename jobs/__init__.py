"""Applications that run offline over the :mod:`recsys` library (the nightly retraining job).

Each registers its commands with the ``recsys`` CLI through the ``recsys.commands`` entry-point
group (pyproject.toml), so ``recsys nightly`` works while the library never imports ``jobs``.
"""
