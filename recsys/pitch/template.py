"""Deterministic template pitches: always grounded (only facts), in the configured language."""

from __future__ import annotations

from recsys.pitch.facts import ItemFacts, ShopperContext

# per language: (with a recent item, without one, price sentence, action words)
_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "recent": "Since you {action} {recent}, you may like {title}{category}.",
        "plain": "Take a look at {title}{category}, picked for you.",
        "category": ", from our {category} range",
        "price": " It costs {price}.",
        "bought": "bought",
        "added to cart": "added to your cart",
        "viewed": "looked at",
    },
    "de": {
        "recent": "Weil Sie {recent} {action}, gefällt Ihnen vielleicht {title}{category}.",
        "plain": "Entdecken Sie {title}{category}, für Sie ausgewählt.",
        "category": " aus unserem Sortiment {category}",
        "price": " Der Preis: {price}.",
        "bought": "gekauft haben",
        "added to cart": "in den Warenkorb gelegt haben",
        "viewed": "angesehen haben",
    },
    "fr": {
        "recent": "Comme vous avez {action} {recent}, vous aimerez peut-être {title}{category}.",
        "plain": "Découvrez {title}{category}, choisi pour vous.",
        "category": ", de notre rayon {category}",
        "price": " Prix : {price}.",
        "bought": "acheté",
        "added to cart": "ajouté au panier",
        "viewed": "regardé",
    },
    "es": {
        "recent": "Como {action} {recent}, quizá le guste {title}{category}.",
        "plain": "Descubra {title}{category}, elegido para usted.",
        "category": ", de nuestra sección {category}",
        "price": " Precio: {price}.",
        "bought": "compró",
        "added to cart": "añadió al carrito",
        "viewed": "miró",
    },
}


def template_pitch(facts: ItemFacts, context: ShopperContext) -> str:
    """The template pitch for one product and shopper (one or two sentences).

    Example:
        >>> from recsys.pitch.facts import RecentItem
        >>> ctx = ShopperContext((RecentItem("r2", "Running socks", "bought"),))
        >>> template_pitch(ItemFacts("r1", "Trail shoes", price=80.0, currency="EUR"), ctx)
        'Since you bought Running socks, you may like Trail shoes. It costs 80 EUR.'
    """
    words = _TEMPLATES.get(context.language, _TEMPLATES["en"])
    category = words["category"].format(category=facts.category) if facts.category else ""
    if context.recent:
        first = context.recent[0]
        text = words["recent"].format(
            action=words[first.action], recent=first.title, title=facts.title, category=category
        )
    else:
        text = words["plain"].format(title=facts.title, category=category)
    if facts.price_text:
        text += words["price"].format(price=facts.price_text)
    return text
