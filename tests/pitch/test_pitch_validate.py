"""Validator rules on the model-written sentence: every rule fails on a real output, good ones pass.

The failing sentences below are real outputs of the packaged model (SmolLM2-135M) from the issue
and from benchmark runs (benchmarks/pitch_labels/); the facts are those of the product pitched,
built the way the catalogs build them (recsys.datasets.demo for MovieLens, the clothing benchmark).
"""

from __future__ import annotations

import pytest

from recsys.pitch.facts import ItemFacts, RecentItem, ShopperContext
from recsys.pitch.template import link_sentence
from recsys.pitch.validate import RULES, CatalogNames, Verdict, count_sentences, validate

# MovieLens-100K genres and the clothing data's departments and classes
GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip
CLOTHING = (
    "Dresses", "Tops", "Bottoms", "Jackets", "Intimate", "Blouses", "Jeans", "Lounge",
    "Outerwear", "Pants", "Shorts", "Skirts", "Sweaters",
)  # fmt: skip


def film(item_id: str, title: str, *genres: str, year: int | None = None) -> ItemFacts:
    """A film as recsys.datasets.demo loads MovieLens: first genre as category, genres attribute."""
    attributes: dict[str, object] = {"genres": list(genres), "product_type": "film"}
    if year is not None:
        attributes["year"] = year
    return ItemFacts.from_item(
        {
            "item_id": item_id,
            "title": title,
            "category": genres[0],
            "description": f"{title}. Genres: {', '.join(genres)}.",
            "attributes": attributes,
        }
    )


def garment(item_id: str, kind: str, department: str, cls: str, description: str = "") -> ItemFacts:
    """A clothing item as the pitch benchmark loads it: "Dress 1076", kind, department, class."""
    return ItemFacts.from_item(
        {
            "item_id": item_id,
            "title": f"{kind[:1].upper()}{kind[1:]} {item_id}",
            "category": department,
            "description": description,
            "attributes": {"product_type": kind, "division": "General", "class": cls},
        }
    )


BARB_WIRE = film("bw", "Barb Wire (1996)", "Action", "Sci-Fi", year=1996)
STAR_TREK = film("st", "Star Trek: First Contact (1996)", "Action", "Adventure", "Sci-Fi")
AIR_AMERICA = film("aa", "Air America (1990)", "Action", "Adventure", year=1990)
CLUELESS = film("cl", "Clueless (1995)", "Comedy", year=1995)
FUGITIVE = film("fu", "Fugitive, The (1993)", "Action", "Adventure", "Thriller", year=1993)
SUPERCOP = film("sc", "Supercop (1992)", "Action", "Thriller", year=1992)
DEAD_MAN = film("dm", "Dead Man Walking (1995)", "Drama", year=1995)
CONTACT = film("co", "Contact (1997)", "Drama", "Sci-Fi", year=1997)
VERTIGO = film("479", "Vertigo (1958)", "Mystery", "Thriller", year=1958)
ENGLISH_PATIENT = film("286", "English Patient, The (1996)", "Drama", "Romance", "War", year=1996)
DRESS = garment("1076", "dress", "Dresses", "Dresses")
JACKET = garment("1001", "jacket", "Jackets", "Jackets")
SHORTS = garment("1002", "shorts", "Bottoms", "Shorts")
SWEATER = garment("1003", "sweater", "Tops", "Sweaters")
BLOUSE = garment("1004", "blouse", "Tops", "Blouses")
SKIRT = garment("1005", "skirt", "Bottoms", "Skirts")
LOUNGEWEAR = garment("780", "loungewear", "Intimate", "Lounge")
COAT = garment("1118", "coat", "Jackets", "Outerwear")
PANTS = garment("1006", "pants", "Bottoms", "Pants")
JEANS = garment("1007", "jeans", "Bottoms", "Jeans", "The snaps at the ankle are a cute idea.")
KNIT = garment("1013", "fine-gauge knit", "Tops", "Fine gauge")
KNIT_TOP = garment("1014", "knit top", "Tops", "Knits")
SLEEP_BRA = garment(
    "368",
    "intimates",
    "Intimate",
    "Intimates",
    "I bought this to wear as a sleep bra while pregnant, and it is so comfortable.",
)
OLD_PANTS = garment(
    "1020",
    "pants",
    "Bottoms",
    "Pants",
    "I'm 51 years old and these make me feel like a little girl again.",
)
SWIMSUIT = garment(
    "240",
    "swimsuit",
    "Intimate",
    "Swim",
    "I had the seafolly garden suit last year (same cut) and loved it. i decided the light blue "
    "color didn't look great on me so i decided to get this one.",
)
TROUSERS = garment(
    "1054",
    "pants",
    "Bottoms",
    "Pants",
    "Note: the inseam runs a little longer than stated above. if you are truly a 29' inseam, you "
    "may want to get the petite size.",
)
SUMMER_JEANS = garment(
    "1189",
    "jeans",
    "Bottoms",
    "Jeans",
    "the material is lightweight and perfect for summer. however i felt they were cut narrow in "
    "the hips. i am a solid size 30/8 and i couldn't get the 30 over my hips.",
)
KIDS_COMEDY = film("kc", "Kids Comedy (1995)", "Children's", "Comedy", year=1995)

PRODUCTS = (
    BARB_WIRE, STAR_TREK, AIR_AMERICA, CLUELESS, FUGITIVE, SUPERCOP, DEAD_MAN, CONTACT, VERTIGO,
    ENGLISH_PATIENT, DRESS, JACKET, SHORTS, SWEATER, BLOUSE, SKIRT, LOUNGEWEAR, COAT, PANTS, JEANS,
)  # fmt: skip
OTHERS = {
    "50": "Star Wars (1977)",
    "rh": "Robin Hood: Men in Tights (1993)",
    "6": "Heat (1995)",
    "ti": "Titanic (1997)",
}
NAMES = CatalogNames({f.item_id: f.title for f in PRODUCTS} | OTHERS, GENRES + CLOTHING)
NO_HISTORY = ShopperContext()
# the shopper bought Robin Hood: Men in Tights (1993): the link names it, the sentence may not
OWN = ShopperContext((RecentItem("rh", "Robin Hood: Men in Tights (1993)", "bought"),))


def check(text: str, facts: ItemFacts, ctx: ShopperContext = NO_HISTORY) -> tuple[str, ...]:
    return validate(text, facts, ctx, names=NAMES).problems


# (rule, product, real model output): the output breaks the rule (and may break others)
REAL_FAILURES = [
    ("other_product", BARB_WIRE, "This film is a great pick for fans of Star Wars."),
    ("other_product", CLUELESS, "This film is as funny as Robin Hood: Men in Tights."),
    ("other_product", FUGITIVE, "This film is a thriller full of Heat and fury."),
    ("other_title", BARB_WIRE, 'This film is a classic like "The Hunger Games" with a twist.'),
    ("other_title", BARB_WIRE, "This film is the sequel to Star Wars: The Last Jedi (2003)."),
    (
        "invented_category",
        STAR_TREK,
        "This film is a gentle romantic comedy that will make you smile.",
    ),
    (
        "invented_category",
        AIR_AMERICA,
        "This film is a thrilling thriller with a strong focus on action.",
    ),
    ("invented_category", DRESS, "This dress is perfect with your favorite jeans and a sweater."),
    (
        "invented_number",
        CLUELESS,
        "This film is a comedy of the 1970s, featuring characters from the genre.",
    ),
    (
        "invented_claim",
        BARB_WIRE,
        "This film is a 1996 action superhero film created by Chris Nolan and released by "
        "Disney Studios.",
    ),
    ("invented_claim", JACKET, "This jacket is a luxury item from a high-end brand."),
    ("invented_claim", SHORTS, "These shorts are a great deal at half price."),
    ("invented_claim", SWEATER, "This sweater is a top seller in the market."),
    ("invented_claim", BLOUSE, "This blouse comes with a complimentary refund of the purchase."),
    ("unknown_name", CLUELESS, "This film is a comedy starring Kevin Spacey as a detective."),
    ("invented_claim", CLUELESS, "This film is a comedy starring Kevin Spacey as a detective."),
    (
        "unknown_name",
        CLUELESS,
        "This film is a classic that was filmed in Paris for the whole family.",
    ),
    ("elsewhere", CLUELESS, "This film is a must-visit for any comedy fan."),
    ("elsewhere", CLUELESS, "This film is a gem, and I recommend that you visit this shop."),
    ("elsewhere", CLUELESS, "This film is great, but try Titanic instead."),
    ("prompt_leak", CLUELESS, "This film is a great product to have on your diet."),
    (
        "prompt_leak",
        SKIRT,
        "This skirt is a stylish option that will surely make your customers happy.",
    ),
    ("first_person", LOUNGEWEAR, "This loungewear is so adorable it makes me want to buy it."),
    ("first_person", COAT, "This coat is a must-buy, and I'm sure it will make your list."),
    # held-out set 2 (benchmarks/pitch_labels/heldout2): labelled odd, passed before these rules
    (
        "negative",
        KNIT,
        "This fine-gauge knit is a dull off white color, and it looks old-fashioned.",
    ),
    (
        "negative",
        KNIT_TOP,
        "This knit top is adorable, but it's shorter than the 27-inch height they say.",
    ),
    # held-out set 3 (benchmarks/pitch_labels/heldout3): labelled invented_fact, and served,
    # before this rule; the detail is in the review shown as the description, about the reviewer
    (
        "unstated_detail",
        SWIMSUIT,
        "This swimsuit is a must-buy for anyone who loves a light blue color.",
    ),
    ("unstated_detail", TROUSERS, "These pants are a great choice for a 29-inch inseam."),
    (
        "unstated_detail",
        SUMMER_JEANS,
        "These jeans are a great choice for summer, perfect for a solid size 30/8.",
    ),
    # held-out sets 4 and 5: labelled invented_fact and served; the reviewer's situation
    ("unstated_detail", SLEEP_BRA, "These intimates are a great sleep bra for pregnant women."),
    (
        "unstated_detail",
        OLD_PANTS,
        "These pants are a great choice for a little girl of 51 years old.",
    ),
    ("unstated_detail", KNIT, "This fine-gauge knit is a great choice for a petite size."),
    ("odd_phrase", KIDS_COMEDY, "This film is a must-see for children's lovers."),
    ("odd_phrase", KIDS_COMEDY, "This film is a must-see for children's fans of animation."),
    ("odd_phrase", COAT, "This coat is a must-buy for anyone who loves Jackets."),
    (
        "odd_phrase",
        VERTIGO,
        "This film is a must-see in any holiday destination, and it's sure to leave a lasting "
        "impression.",
    ),
    ("odd_phrase", ENGLISH_PATIENT, "This film is a must-see for any romantic tale."),
    ("odd_phrase", VERTIGO, "This film is a must-see for thrillers."),
    ("odd_phrase", VERTIGO, "This film is a must-watch for a mystery fans."),
    ("odd_phrase", ENGLISH_PATIENT, "This film is a drama with a romantic undertones."),
    ("repetition", DRESS, "This dress is a masterpiece of fashion, a masterpiece of fashion."),
    (
        "repetition",
        SHORTS,
        "These shorts are perfect for warm weather, perfect for warm weather, and perfect for "
        "warm weather.",
    ),
    (
        "fragment",
        FUGITIVE,
        "This film is a must-see for thrillers and action fans, with a fast-paced and engaging "
        "storyline that keeps your audience on the edge of their",
    ),
    ("fragment", SUPERCOP, "This film is Hong Kong cinema at its best (a.k.a."),
    ("fragment", JEANS, "This film is great: the snaps at the ankle are a cute idea."),
]

# rules without a real output of their own: kept examples, adapted to the one-sentence design
SHOES = ItemFacts(
    "r1",
    "Trail running shoes",
    "Running",
    89.0,
    "EUR",
    attributes=(("weight", "250 g"),),
    kind="shoes",
)
CONSTRUCTED_FAILURES = [
    ("empty", SHOES, "   ...  "),
    ("length", SHOES, "Great shoes!"),
    ("length", SHOES, "These shoes are light, " + "comfortable and grippy, " * 6 + "on trails."),
    ("sentences", SHOES, "These shoes are light. They grip on every trail."),
    ("fragment", SHOES, "You will love these shoes on every trail you run"),
    ("invented_number", SHOES, "These shoes are 30% off today."),
    ("invented_number", SHOES, "These shoes cost 59 EUR today."),
    ("invented_number", SHOES, "Over 1000 runners love these shoes."),
    ("profanity", SHOES, "These shoes are damn good on muddy trails."),
    ("markup", SHOES, "Get these shoes at https://shop.example now."),
    ("markup", SHOES, "**These shoes** are great on every trail."),
    ("language", SHOES, "Diese Schuhe sind ideal für Sie und Ihre Läufe."),
]


@pytest.mark.parametrize(
    ("rule", "facts", "text"),
    [pytest.param(*case, id=f"{case[0]}-{case[2][:40]}") for case in REAL_FAILURES],
)
def test_each_rule_rejects_a_real_model_output(rule: str, facts: ItemFacts, text: str) -> None:
    ctx = OWN if "Robin Hood" in text else NO_HISTORY
    verdict = validate(text, facts, ctx, names=NAMES)
    assert not verdict.ok and rule in verdict.problems, verdict.problems


@pytest.mark.parametrize(
    ("rule", "facts", "text"),
    [pytest.param(*case, id=f"{case[0]}-{case[2][:40]}") for case in CONSTRUCTED_FAILURES],
)
def test_each_rule_has_a_failing_example(rule: str, facts: ItemFacts, text: str) -> None:
    assert rule in check(text, facts)


def test_every_rule_is_covered() -> None:
    covered = {rule for rule, _, _ in REAL_FAILURES + CONSTRUCTED_FAILURES}
    assert covered == set(RULES)
    # the rules of the old design are gone: the link sentence names the product
    assert "names_product" not in RULES and "example_copy" not in RULES


@pytest.mark.parametrize(
    ("facts", "text"),
    [
        (DEAD_MAN, "This film is a must-see for anyone who loves drama."),
        (FUGITIVE, "This film is a gripping adventure that will leave you wanting more."),
        (CONTACT, "This film is a must-see for any sci-fi fan."),
        (PANTS, "These pants are incredibly comfortable and feature a stylish and modern design."),
        (DRESS, "This dress is a must-buy for any fashion enthusiast."),
    ],
)
def test_good_real_outputs_pass(facts: ItemFacts, text: str) -> None:
    assert validate(text, facts, OWN, names=NAMES) == Verdict(True, ())


def test_the_shoppers_own_items_may_not_be_named() -> None:
    """The link sentence names the shopper's item; the model's sentence naming it is a list."""
    text = "This film is as funny as Robin Hood: Men in Tights."
    assert "other_product" in check(text, CLUELESS, OWN)
    assert "other_product" in check(text, CLUELESS, NO_HISTORY)


def test_one_word_title_counts_only_capitalised_mid_sentence() -> None:
    assert "other_product" in check("This film is a thriller full of Heat and fury.", FUGITIVE)
    assert check("This film turns up the heat on every scene.", FUGITIVE) == ()


def test_plural_prompt_word_is_a_prompt_leak() -> None:
    text = "These shorts are a favorite among the shoppers."
    assert "prompt_leak" in check(text, SHORTS)


def test_plural_prompt_word_sentence_is_also_a_popularity_claim() -> None:
    # the same real output also claims popularity ("favorite among") that no fact states
    problems = check("These shorts are a favorite among the shoppers.", SHORTS)
    assert problems == ("invented_claim", "prompt_leak")


def test_capitalised_genre_with_apostrophe_is_a_known_name() -> None:
    toy_story = film("1", "Toy Story (1995)", "Animation", "Children's", "Comedy", year=1995)
    text = "This film is a Children's comedy that the whole family will enjoy."
    assert check(text, toy_story) == ()


def test_praise_near_the_new_rules_passes() -> None:
    # what the negative, possessive and category-label rules must let through
    assert check("This knit top is soft, light and easy to wear.", KNIT_TOP) == ()
    assert check("This coat is a must-buy for anyone who loves jackets.", COAT) == ()
    assert check("This film is a must-see for children and their parents.", KIDS_COMEDY) == ()
    assert check("This film is a must-see for comedy fans.", KIDS_COMEDY) == ()


def test_colours_and_sizes_from_the_products_own_facts_pass() -> None:
    # a shop's attributes state them: the same phrasings pass
    own = ItemFacts.from_item(
        {
            "item_id": "p1",
            "title": "Linen trousers",
            "description": "I'm a size 8 and wore them in navy.",
            "attributes": {"product_type": "trousers", "colour": "light blue", "inseam": "29 in"},
        }
    )
    assert check("These trousers are a great choice for a 29-inch inseam.", own) == ()
    assert check("These trousers come in a soft light blue for summer.", own) == ()
    # the description's own size and colour are not the product's
    assert check("These trousers are perfect for a size 8.", own) == ("unstated_detail",)
    assert check("These trousers look great in navy for summer.", own) == ("unstated_detail",)
    # compounds, decades and a film's colours in its title are no colour or size claims
    assert check("This film is a white-knuckle thriller from start to end.", VERTIGO) == ()
    assert "unstated_detail" not in check(
        "This film is a must-see for 90's thriller fans.", VERTIGO
    )
    # a petite line says so in its attributes (the clothing data's division "General Petite")
    petite = ItemFacts.from_item(
        {
            "item_id": "p2",
            "title": "Dress 2",
            "attributes": {"product_type": "dress", "division": "General Petite"},
        }
    )
    assert check("This dress is a great choice for a petite size.", petite) == ()
    colour_purple = film("cp", "Color Purple, The (1985)", "Drama", year=1985)
    assert check("This film is a moving drama in every shade of purple.", colour_purple) == ()


def test_fact_numbers_are_allowed() -> None:
    assert check("These shoes weigh only 250 g and cost 89 EUR.", SHOES) == ()
    assert check("These shoes cost 89.00 EUR and grip on every trail.", SHOES) == ()


def test_language_is_the_configured_one() -> None:
    german = ShopperContext((), "de")
    assert check("Diese Schuhe sind ideal für Sie und Ihre Läufe.", SHOES, german) == ()
    assert check("These shoes are light and grip well on every trail.", SHOES, german) == (
        "language",
    )
    assert check("These shoes are light and grip well on every trail.", SHOES) == ()


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("Matrix, The (1999)", "The Matrix (1999)"),
        ("Usual Suspects, The (1995)", "The Usual Suspects (1995)"),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", "The City of Lost "
         "Children (1995)"),
        ("Trail running shoes", "Trail running shoes"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
@pytest.mark.parametrize("action", ["bought", "added to cart", "viewed", None])
def test_the_link_sentence_always_names_the_product_as_a_storefront_does(
    title: str, shown: str, language: str, action: str | None
) -> None:
    """Replaces the old ``names_product`` rule: code names the product, so it cannot be missed."""
    recent = (RecentItem("t", "Tron (1982)", action),) if action else ()
    link = link_sentence(ItemFacts("p", title), ShopperContext(recent, language))
    assert shown in link
    assert title == shown or title not in link
    assert ("Tron (1982)" in link) == bool(action)


def test_title_with_dots_and_digits_is_not_counted_as_sentences_or_numbers() -> None:
    opus = film("15", "Mr. Holland's Opus (1995)", "Drama", year=1995)
    assert check("Mr. Holland's Opus (1995) is a warm and moving drama.", opus) == ()
    assert "other_title" in check("This drama is as warm as Mr. Smith's Opus (1989).", opus)


def test_count_sentences() -> None:
    assert count_sentences("One. Two! Three?") == 3
    assert count_sentences("Costs 12.50 EUR.") == 1


def test_markup_characters_inside_a_title_are_not_markup() -> None:
    mash = film("m3", "M*A*S*H (1970)", "Comedy", "War", year=1970)
    assert check("M*A*S*H (1970) is a sharp and funny comedy for you.", mash) == ()
    assert "markup" in check("*M*A*S*H (1970)* is a sharp and funny comedy.", mash)


def test_category_with_separators_is_not_markup() -> None:
    toy = ItemFacts("m4", "Toy Story (1995)", "Animation|Comedy", kind="film")
    # the label's separator is no markup; the label written mid-sentence is odd copy, though
    assert check("This film is Animation|Comedy fun for the whole evening.", toy) == ("odd_phrase",)
    assert "markup" in check("This film is a fun ride with a | in it.", toy)


def test_from_catalog_reads_titles_and_category_vocabulary() -> None:
    rows = [
        {
            "item_id": "1",
            "title": "Toy Story (1995)",
            "category": "Animation",
            "attributes": '{"genres": ["Animation", "Children\'s", "Comedy"], "year": 1995, '
            '"product_type": "film"}',
        },
        {
            "item_id": "1076",
            "title": "Dress 1076",
            "category": "Dresses",
            "attributes": {"class": "Dresses", "division": "General Petite", "color": "Navy"},
        },
        {"item_id": "9", "title": "Jeans 9", "category": "", "attributes": {"class": "Jeans"}},
        {"item_id": "10", "title": "Odd", "attributes": "not json"},
    ]
    names = CatalogNames.from_catalog(rows)
    assert len(names) == 4
    canon = set(names.vocabulary.values())
    assert {"animation", "children s", "comedy", "film", "dress", "jean", "general petite"} <= canon
    # a several-word class counts only as a whole (else "Must Haves" would make "must" a claim)
    assert "petite" not in names.vocabulary
    assert names.vocabulary["kid"] == "children s"  # a synonym of a genre
    assert "navy" not in canon and "1995" not in canon  # not category-like attributes
    assert "general" not in names.vocabulary  # too common a word to count as a category
    assert "romantic" not in names.vocabulary  # no Romance in this catalog: no synonym
    assert names.mentioned("This film is as good as Toy Story.", allowed={"1076"}) == ["1"]
    dress = ItemFacts.from_item(rows[1])
    text = "This dress is perfect with your favorite jeans."
    assert validate(text, dress, NO_HISTORY, names=names).problems == ("invented_category",)
