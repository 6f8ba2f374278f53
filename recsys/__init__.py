"""recsys: personalized hybrid recommendations for online shops.

Behavior (clicks, carts, purchases) is modeled with the ``implicit`` library, product text with
``sentence-transformers``; both are indexed with FAISS and blended at request time.
"""

__version__ = "0.1.0"
