"""Catalogs unlike the two benchmarked ones: variants in brackets, taxonomy paths as product
types, collection names made of common words, empty replies, German nouns, long inputs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.config import load_api_config
from recsys.errors import ConfigError
from recsys.pitch.config import PitchConfig
from recsys.pitch.facts import ItemFacts, ShopperContext, display_title, kind_noun_of
from recsys.pitch.prompt import answer_start
from recsys.pitch.validate import CatalogNames, validate
from recsys.pitch.writer import PitchWriter, clean_sample

EN, DE = ShopperContext(), ShopperContext((), "de")


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("Classic Tee (Black)", "Classic Tee (Black)"),  # a variant is not an alternative title
        ("Socks (3-Pack)", "Socks (3-Pack)"),
        ("(500) Days of Summer (2009)", "(500) Days of Summer (2009)"),
        ("Enfer, L' (1994)", "L'Enfer (1994)"),
        ("Matrix, The (1999)", "The Matrix (1999)"),
    ],
)
def test_display_titles_keep_what_tells_products_apart(title: str, shown: str) -> None:
    assert display_title(title) == shown


@pytest.mark.parametrize(
    ("product_type", "kind", "start"),
    [
        ("Dresses", "dresses", "These dresses are"),
        ("T-Shirts", "t-shirts", "These t-shirts are"),
        ("Apparel & Accessories > Clothing > Dresses", "dresses", "These dresses are"),
        ("home/kitchen/cookware", "cookware", "This cookware is"),
        ("Glass", "glass", "This glass is"),
        ("SKU-123 > 456", "", "This pick is"),
    ],
)
def test_a_product_type_becomes_a_grammatical_noun(
    product_type: str, kind: str, start: str
) -> None:
    facts = ItemFacts.from_item(
        {"item_id": "1", "title": "x", "attributes": {"product_type": product_type}}
    )
    assert kind_noun_of(product_type) == kind and facts.kind == kind
    assert answer_start(facts) == start


def test_collection_names_of_common_words_are_no_category_claims() -> None:
    names = CatalogNames.from_catalog(
        [
            {"item_id": "1", "title": "Heat (1995)", "category": "Action"},
            {"item_id": "2", "title": "Mug", "category": "Must Haves"},
            {"item_id": "3", "title": "Pen", "category": "Best Sellers"},
        ]
    )
    film = ItemFacts("1", "Heat (1995)", "Action", kind="film")
    assert validate("This film is a must-see for action fans.", film, EN, names).ok
    assert validate("This film is the best pick for action fans.", film, EN, names).ok


def test_the_sentences_own_noun_is_not_another_product() -> None:
    names = CatalogNames({"1": "Trail Runner", "2": "Running Shoes", "3": "Kleid"})
    shoes = ItemFacts("1", "Trail Runner", "Running", kind="running shoes")
    assert (
        "other_product"
        not in validate("These running shoes are light on every trail.", shoes, EN, names).problems
    )
    dress = ItemFacts("4", "Sommerkleid", "Damen", kind="kleid")
    # German capitalises every noun: a capitalised word is no one-word title there
    german = validate("Dieses Kleid ist leicht und ideal für den Sommer.", dress, DE, names)
    assert "other_product" not in german.problems and german.ok


def test_words_are_counted_as_a_reader_counts_them() -> None:
    film = ItemFacts(
        "1", "Heat (1995)", "Action", attributes=(("genres", "Action, Sci-Fi, Thriller"),)
    )
    text = "This film is a must-see sci-fi thriller that action fans won't forget."  # 12 words
    assert validate(text, film, EN, max_words=12).ok
    assert validate(text, film, EN, max_words=11).problems == ("length",)


def test_a_long_degenerate_reply_is_judged_quickly() -> None:
    started = time.perf_counter()
    verdict = validate("a@" * 2000, ItemFacts("1", "x"), EN)
    assert not verdict.ok and time.perf_counter() - started < 1.0


def test_an_empty_reply_is_an_empty_sample_not_a_crash() -> None:
    assert clean_sample("") == "" and clean_sample("   \n ") == ""

    class EmptyThenGood:
        name = "empty-then-good"

        def generate(self, messages, n, max_new_tokens, temperature, seed):  # type: ignore[no-untyped-def]
            return ["", "This pick is light and quick on every trail."][:n]

    writer = PitchWriter(EmptyThenGood(), PitchConfig(n_samples=2, rerank=False))
    result = writer.write(ItemFacts("1", "Trail shoes", "Running"), EN, use_cache=False)
    assert result.verdicts[0].problems == ("empty",)
    assert result.pitch.source == "llm" and result.pitch.text.endswith("every trail.")


def test_pitch_tables_are_type_checked_and_may_sit_under_api(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text('[api]\npitch_wait_ms = 5\n\n[api.pitch]\nbackend = "template"\n')
    assert load_api_config(environ={"RECSYS_API_CONFIG": str(path)}).pitch.backend == "template"
    for table in ('rerank = "false"', 'budget_s = "3.5"', 'openai = "http://x/v1"'):
        path.write_text(f"[pitch]\n{table}\n")
        with pytest.raises(ConfigError, match="pitch"):
            load_api_config(environ={"RECSYS_API_CONFIG": str(path)})
