"""Validator rules: each rule has an example that breaks it, and good pitches pass."""

from __future__ import annotations

import pytest

from recsys.pitch.facts import ItemFacts, RecentItem, ShopperContext
from recsys.pitch.template import template_pitch
from recsys.pitch.validate import CatalogNames, count_sentences, validate

FACTS = ItemFacts(
    "r1",
    "Trail running shoes",
    "Running",
    89.0,
    "EUR",
    attributes=(("weight", "250 g"),),
)
CTX = ShopperContext((RecentItem("r2", "Merino running socks", "bought"),))
NAMES = CatalogNames(
    {
        "r1": "Trail running shoes",
        "r2": "Merino running socks",
        "k1": "Chef knife set",
        "k2": "Cast iron pan",
    }
)
GOOD = "Since you bought Merino running socks, the Trail running shoes will carry you far."


def check(text: str, facts: ItemFacts = FACTS, ctx: ShopperContext = CTX) -> tuple[str, ...]:
    return validate(text, facts, ctx, names=NAMES).problems


def test_good_pitch_passes() -> None:
    assert validate(GOOD, FACTS, CTX, names=NAMES).ok


def test_fact_numbers_are_allowed() -> None:
    assert check("The Trail running shoes weigh only 250 g and cost 89 EUR.") == ()
    assert check("The Trail running shoes cost 89.00 EUR.") == ()


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("   ...  ", "empty"),
        ("Trail running!", "length"),
        ("Trail running shoes. " + "They are very light and comfortable. " * 6, "length"),
        ("Trail running shoes are light. They grip. They last.", "sentences"),
        ("You will love these shoes on every trail you run", "sentences"),
        ("Since you bought Merino running socks, these will carry you far.", "names_product"),
        ("The Trail running shoes go well with our Chef knife set.", "other_product"),
        ("The Trail running shoes are 30% off today.", "invented_number"),
        ("The Trail running shoes cost 59 EUR today.", "invented_number"),
        ("Over 1000 runners love the Trail running shoes.", "invented_number"),
        ("The Trail running shoes are damn good on mud.", "profanity"),
        ("Get the Trail running shoes at https://shop.example now.", "markup"),
        ("**Trail running shoes** are great for you.", "markup"),
        ("Die Trail running shoes sind ideal für Sie und Ihre Läufe.", "language"),
    ],
)
def test_each_rule_has_a_failing_example(text: str, rule: str) -> None:
    assert rule in check(text)


def test_shoppers_own_items_may_be_named() -> None:
    # r2 is the shopper's item: naming it is allowed, naming k1 is not
    assert "other_product" not in check(GOOD)
    assert "other_product" in check("Trail running shoes pair well with a Cast iron pan.")


def test_clear_part_of_title_counts_as_naming() -> None:
    film = ItemFacts("m1", "Usual Suspects, The (1995)", "Crime")
    assert "names_product" not in check(
        "Since you liked thrillers, watch The Usual Suspects.", film
    )
    assert "names_product" not in check("You will enjoy Usual Suspects tonight.", film)


def test_title_with_dots_and_digits_is_not_counted_as_sentences_or_numbers() -> None:
    film = ItemFacts("m2", "Mr. Holland's Opus (1995)", "Drama")
    text = "Since you bought Merino running socks, Mr. Holland's Opus (1995) is a warm pick."
    assert check(text, film) == ()


def test_count_sentences() -> None:
    assert count_sentences("One. Two! Three?") == 3
    assert count_sentences("Costs 12.50 EUR.") == 1


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
def test_template_passes_its_own_validator(language: str) -> None:
    ctx = ShopperContext(CTX.recent, language)
    for facts in (FACTS, ItemFacts("x", "Usual Suspects, The (1995)"), ItemFacts("y", "Socks")):
        for context in (ctx, ShopperContext((), language)):
            text = template_pitch(facts, context)
            assert validate(text, facts, context, names=NAMES).ok, text


def test_markup_characters_inside_a_title_are_not_markup() -> None:
    film = ItemFacts("m3", "M*A*S*H (1970)", "Comedy")
    assert (
        check("Since you bought Merino running socks, M*A*S*H (1970) is a fine pick.", film) == ()
    )
    assert "markup" in check("Since you bought socks, *M*A*S*H (1970)* is a fine pick.", film)


def test_category_with_separators_is_not_markup() -> None:
    film = ItemFacts("m4", "Toy Story (1995)", "Animation|Children's|Comedy")
    text = template_pitch(film, CTX)
    assert "|" in text and check(text, film) == ()
