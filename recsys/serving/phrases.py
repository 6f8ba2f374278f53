"""Every sentence a reason can carry, in each shop language: one table, named placeholders.

A reason's text is written where it is made (:mod:`recsys.serving.explain`, the sources,
:mod:`recsys.serving.similar`) as ``PHRASES[language][name].format(**values)``. The language
is resolved once per request (``Query.language``; the catalog's, ``recsys.lang.bundle_language``,
unless the caller asked for another) and the table is looked up once per item, so localizing
costs one ``str.format`` per reason.

The English sentences are pinned byte for byte by the tests. "Because you added {title} to
your cart" replaced "Because you added to your cart {title}" on 2026-12-06: the title sat
where a reader expects the object.

Example:
    >>> phrase("zh", "because_bought", title="跑步鞋")
    '因为您购买了跑步鞋'
    >>> phrase("en", "repeat", title="Milk", n=3)
    'You bought Milk 3x before'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from recsys.lang import ShopLanguage

PhraseName = Literal[
    "because_bought",
    "because_added_to_cart",
    "because_clicked",
    "because_viewed",
    "repeat",
    "popular_in",
    "popular_now",
    "trending_in",
    "trending_now",
    "similar_to",
]

# placeholders: {title} an item's title, {n} a count, {category} an item's category
PHRASES: Mapping[ShopLanguage, Mapping[PhraseName, str]] = {
    "en": {
        "because_bought": "Because you bought {title}",
        "because_added_to_cart": "Because you added {title} to your cart",
        "because_clicked": "Because you clicked {title}",
        "because_viewed": "Because you viewed {title}",
        "repeat": "You bought {title} {n}x before",
        "popular_in": "Popular in {category}",
        "popular_now": "Popular right now",
        "trending_in": "Trending in {category}",
        "trending_now": "Trending now",
        "similar_to": "Similar to {title}",
    },
    "zh": {
        "because_bought": "因为您购买了{title}",
        "because_added_to_cart": "因为您把{title}加入了购物车",
        "because_clicked": "因为您点击了{title}",
        "because_viewed": "因为您浏览了{title}",
        "repeat": "您之前买过{title} {n} 次",
        "popular_in": "{category}热销",
        "popular_now": "当前热销",
        "trending_in": "{category}正在流行",
        "trending_now": "正在流行",
        "similar_to": "与{title}相似",
    },
}

# the phrase explaining an item by the user's event of this type (other types read as a view)
BECAUSE: Mapping[str, PhraseName] = {
    "purchase": "because_bought",
    "add_to_cart": "because_added_to_cart",
    "click": "because_clicked",
    "view": "because_viewed",
}


def phrase(language: ShopLanguage, name: PhraseName, **values: object) -> str:
    """The sentence ``name`` in ``language`` with its placeholders filled in.

    Args:
        language: ``en`` or ``zh``.
        name: a key of :data:`PHRASES`.
        **values: the phrase's placeholders (``title``, ``n``, ``category``).

    Returns:
        The sentence; values are inserted as ``str(value)`` (braces in a title are kept).

    Raises:
        KeyError: for an unknown language or phrase, or a missing placeholder.
    """
    return PHRASES[language][name].format(**values)


__all__ = ["BECAUSE", "PHRASES", "PhraseName", "phrase"]
