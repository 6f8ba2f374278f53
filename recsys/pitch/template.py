"""The parts of a pitch that code writes: the personal link and the template fallback.

Every pitch starts with a link sentence composed from facts, grammatical for every event type
("Because you added Tron (1982) to your cart, we picked The Matrix (1999) for you."). The model
writes only the sentence after it (:mod:`recsys.pitch.prompt`); when no sample passes the
validator, a deterministic sentence from the catalog facts follows instead.
"""

from __future__ import annotations

import re

from recsys.pitch.facts import ItemFacts, ShopperContext

# per language: link with a recent item (by action), link without one, category and price
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "bought": "Because you bought {recent}, we picked {title} for you.",
        "added to cart": "Because you added {recent} to your cart, we picked {title} for you.",
        "viewed": "Because you looked at {recent}, we picked {title} for you.",
        "plain": "We picked {title} for you.",
        "category": "It is from our {category} range.",
        "price": "It costs {price}.",
    },
    "de": {
        "bought": "Weil Sie {recent} gekauft haben, haben wir {title} für Sie ausgewählt.",
        "added to cart": (
            "Weil Sie {recent} in den Warenkorb gelegt haben, haben wir {title} für Sie ausgewählt."
        ),
        "viewed": "Weil Sie {recent} angesehen haben, haben wir {title} für Sie ausgewählt.",
        "plain": "Für Sie ausgewählt: {title}.",
        "category": "Aus unserem Sortiment {category}.",
        "price": "Der Preis: {price}.",
    },
    "fr": {
        "bought": "Comme vous avez acheté {recent}, nous avons choisi {title} pour vous.",
        "added to cart": (
            "Comme vous avez ajouté {recent} au panier, nous avons choisi {title} pour vous."
        ),
        "viewed": "Comme vous avez regardé {recent}, nous avons choisi {title} pour vous.",
        "plain": "Nous avons choisi {title} pour vous.",
        "category": "De notre rayon {category}.",
        "price": "Prix : {price}.",
    },
    "es": {
        "bought": "Como compró {recent}, elegimos {title} para usted.",
        "added to cart": "Como añadió {recent} al carrito, elegimos {title} para usted.",
        "viewed": "Como miró {recent}, elegimos {title} para usted.",
        "plain": "Elegimos {title} para usted.",
        "category": "De nuestra sección {category}.",
        "price": "Precio: {price}.",
    },
    # full-width punctuation; sentences follow one another with no space (see compose)
    "zh": {
        "bought": "因为您购买了{recent}，我们为您挑选了{title}。",
        "added to cart": "因为您把{recent}加入了购物车，我们为您挑选了{title}。",
        "viewed": "因为您浏览了{recent}，我们为您挑选了{title}。",
        "plain": "为您挑选：{title}。",
        "category": "来自{category}专区。",
        "price": "售价{price}。",
    },
}
# languages whose sentences are joined without a space
_NO_SPACE = frozenset({"zh"})


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["en"])


def link_sentence(facts: ItemFacts, context: ShopperContext) -> str:
    """The personal first sentence: why this product, from the shopper's strongest recent event.

    Titles are shown as a storefront shows them ("The Matrix (1999)", not "Matrix, The (1999)").

    Example:
        >>> from recsys.pitch.facts import RecentItem
        >>> ctx = ShopperContext((RecentItem("t", "Tron (1982)", "added to cart"),))
        >>> link_sentence(ItemFacts("m", "Matrix, The (1999)"), ctx)
        'Because you added Tron (1982) to your cart, we picked The Matrix (1999) for you.'
    """
    words = _words(context.language)
    title = facts.display_title
    if context.recent:
        first = context.recent[0]
        return words[first.action].format(recent=first.title, title=title)
    return words["plain"].format(title=title)


def joiner(language: str) -> str:
    """What goes between two sentences: a space, or nothing in Chinese."""
    return "" if language in _NO_SPACE else " "


def compose(link: str, sentence: str, language: str = "en") -> str:
    """The pitch a shopper reads: the link, then the model's (or the template's) sentence.

    Example:
        >>> compose("为您挑选：保温杯。", "来自厨房专区。", "zh")
        '为您挑选：保温杯。来自厨房专区。'
    """
    return f"{link}{joiner(language)}{sentence}".strip() if sentence else link


def category_name(category: str, language: str = "en") -> str:
    """The category as the template sentence names it.

    In Chinese, the last part of a category path (``服装/男装``: ``男装``) without a trailing
    ``专区`` (the sentence says it); other languages keep the category as it is.

    Example:
        >>> category_name("服装/男装", "zh"), category_name("新品专区", "zh")
        ('男装', '新品')
    """
    if language != "zh":
        return category
    last = re.split(r"\s*[>/|›»＞／]\s*", category.strip())[-1].strip() or category.strip()
    return last.removesuffix("专区").strip()  # "" for a category named only 专区: not said


def template_sentence(facts: ItemFacts, language: str = "en") -> str:
    """The deterministic sentence after the link: category and price when known ('' if none).

    Chinese: ``来自跑步专区。售价¥399。`` (see :func:`category_name`).
    """
    words = _words(language)
    parts = []
    category = category_name(facts.category, language) if facts.category else ""
    if category:
        parts.append(words["category"].format(category=category))
    price = facts.price_in(language)
    if price:
        parts.append(words["price"].format(price=price))
    return joiner(language).join(parts)


def template_pitch(facts: ItemFacts, context: ShopperContext) -> str:
    """The template pitch for one product and shopper: the link and the template sentence.

    Example:
        >>> from recsys.pitch.facts import RecentItem
        >>> ctx = ShopperContext((RecentItem("r2", "Running socks", "bought"),))
        >>> template_pitch(ItemFacts("r1", "Trail shoes", price=80.0, currency="EUR"), ctx)
        'Because you bought Running socks, we picked Trail shoes for you. It costs 80 EUR.'
    """
    return compose(
        link_sentence(facts, context),
        template_sentence(facts, context.language),
        context.language,
    )
