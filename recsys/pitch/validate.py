"""Validation of the model-written sentence of a pitch: it must say only what the facts say.

The link sentence that names the product and the shopper's item is composed by code
(:mod:`recsys.pitch.template`), so there is no "names the product" rule: that could not fail.
The model writes one sentence about the product, and these rules judge its meaning (each
returns its name in :attr:`Verdict.problems` when broken; every rule has a test built from a
real output of the packaged model):

- ``empty``: nothing but whitespace/punctuation.
- ``length``: shorter than ``min_chars``, longer than ``max_chars`` or than ``max_words`` words
  (labelled samples: 3 in 4 sentences of up to 14 words were publishable, 1 in 4 longer ones).
- ``fragment``: not a finished sentence: no end mark, under five words, unbalanced brackets or
  quotes, or it ends on "and"/"with"/"the"...
- ``sentences``: more than one sentence.
- ``other_product``: names any other catalog product, the shopper's own items included
  (word-bounded, any length; a one-word title counts only when capitalised mid-sentence).
- ``other_title``: a quoted title, or a title with a year that is not the product's.
- ``invented_category``: a category/genre word of the catalog that is not among the product's
  facts ("romantic comedy" for a sci-fi film; "jeans" for a dress).
- ``invented_number``: a number, price or percentage that is not in the facts.
- ``invented_claim`` (English): credits, brands, awards, materials, release news, offers and
  prices that the facts do not state ("directed by", "luxury brand", "half price", "refund").
- ``unknown_name`` (English): a capitalised word mid-sentence that is in no fact (an invented
  actor, place or publisher).
- ``elsewhere`` (English): sends the shopper elsewhere ("visit", "shop", "store", "instead").
- ``prompt_leak`` (English): the prompt's words ("product", "shopper", "facts", "sentence") or
  addressing the shop ("your customers").
- ``first_person`` (English): the model speaks as a reviewer ("I love these shorts").
- ``repetition``: a word (or its plural) twice in a row, a content word twice (the product's
  kind aside), or a repeated word triple.
- ``odd_phrase`` (English): phrasings the small model gets wrong: "a must-see in any ...",
  "for any ..." that ends on no audience or occasion ("a must-see for any romantic tale"), an
  article before a plural ("a romantic undertones"), genres standing for people ("a must-see
  for thrillers").
- ``profanity``: a word from a small profanity list.
- ``markup``: a link, e-mail address, markdown, code or a line break.
- ``language``: the text reads as another supported language than the configured one.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from recsys.pitch.facts import ItemFacts, ShopperContext, core_title

__all__ = [
    "RULES",
    "CatalogNames",
    "Verdict",
    "core_title",
    "count_sentences",
    "normalize",
    "validate",
]

RULES = (
    "empty",
    "length",
    "fragment",
    "sentences",
    "other_product",
    "other_title",
    "invented_category",
    "invented_number",
    "invented_claim",
    "unknown_name",
    "elsewhere",
    "prompt_leak",
    "first_person",
    "repetition",
    "odd_phrase",
    "profanity",
    "markup",
    "language",
)

STOPWORDS = frozenset(
    [
        "a", "an", "the", "of", "and", "or", "for", "to", "in", "on", "at", "by", "with",
        "from", "your", "you", "our", "this", "that", "these", "is", "are", "be", "it",
        "its", "my", "me", "we", "us", "de", "la", "le", "les", "el", "los", "las", "der",
        "die", "das", "und", "en", "et", "y",
    ]
)  # fmt: skip
PROFANITY = frozenset(
    [
        "fuck", "fucking", "shit", "shitty", "bitch", "bastard", "asshole", "crap", "damn",
        "dick", "cunt", "piss", "wanker", "slut", "whore", "scheisse", "scheiße", "merde",
        "putain", "mierda", "puta", "joder",
    ]
)  # fmt: skip
LANGUAGE_WORDS = {
    "en": frozenset(
        [
            "the",
            "and",
            "you",
            "your",
            "for",
            "with",
            "this",
            "that",
            "will",
            "is",
            "are",
            "of",
            "to",
            "it",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "sie",
            "ihr",
            "ihre",
            "mit",
            "für",
            "ist",
            "sind",
            "den",
            "dem",
            "ein",
            "eine",
            "weil",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "vous",
            "votre",
            "pour",
            "avec",
            "est",
            "sont",
            "des",
            "une",
            "un",
            "comme",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "y",
            "usted",
            "su",
            "para",
            "con",
            "es",
            "son",
            "una",
            "un",
            "como",
        ]
    ),
}
# English phrases the facts must state before a sentence may (compared in :func:`stems` form)
CLAIMS = (
    "brand, designer, designed by, luxury, high end, limited edition, exclusive, award, oscar, "
    "bestseller, best selling, top selling, bestselling, acclaimed, critic, directed, director, "
    "starring, cast, actor, actress, written by, author, publisher, published, studio, tv season, "
    "series, episode, sequel, remake, true story, novel, book, game, video, tv, franchise, "
    "released, latest, newest, new collection, cotton, wool, silk, leather, linen, polyester, "
    "cashmere, waterproof, organic, handmade, sustainable, vegan, guarantee, warranty, discount, "
    "sale, free, refund, coupon, voucher, deal, offer, shipping, delivery, half price, price, "
    "cheap, budget, affordable, save, saving, bargain, complimentary, "
    # people the facts do not name: the sentence speaks to the shopper ("you"), not of others
    "man, men, male, boy, guy, gentleman, his, he, him, pet, staff, team, local, "
    # popularity and history the facts do not state
    "favorite among, favourite among, top seller, best seller, popular, highly rated, "
    "highly regarded, market, industry, worldwide, icon, decade, history, upcoming, "
    # plots, themes and reputations the facts do not give
    "adapted, known for, based on, story of, story about, journey, protagonist, plot, "
    "character, hero, heroine, supernatural, festival, troupe, "
    # make and materials
    "luxurious, made of, made with, tailored, craftsmanship, handcrafted, "
    # settings and senses that do not belong to a shop's product copy unless the facts say so
    "delicious, tasty, eater, diet, recipe, flavor, home, room, hair, birthday, gym"
)
ELSEWHERE = frozenset(
    [
        "visit", "shop", "store", "shopping", "retailer", "website", "online", "instead",
        "alternatively",
    ]
)  # fmt: skip
ELSEWHERE_PHRASES = frozenset({"check out"})
PROMPT_WORDS = frozenset(
    [
        "product", "products", "shopper", "shoppers", "facts", "sentence", "sentences",
        "tagline", "description", "category", "categories", "catalog",
    ]
)  # fmt: skip
AUDIENCE = re.compile(
    r"\b(?:customers?|clients?)\b"
    r"|\byour (?:viewers?|audiences?|readers?|guests?|users?|business)\b",
    re.I,
)
FIRST_PERSON = frozenset(
    ["i", "im", "i'm", "ive", "i've", "my", "me", "mine", "myself", "we", "our", "us"]
)
# what may follow "for any"/"for every"/"for all": who the product is for, or when it is worn
AUDIENCE_NOUNS = frozenset(
    [
        "fan", "buff", "lover", "enthusiast", "fashionista", "seeker", "thrill", "viewer",
        "family", "kid", "child", "occasion", "outfit", "wardrobe", "closet", "season", "party",
        "event", "wedding", "guest", "trip", "holiday", "vacation",
        "day", "night", "evening", "weekend", "weather", "look", "style", "taste", "one",
        "age", "audience", "movie-goer", "moviegoer", "cinephile", "girl", "woman", "person",
    ]
)  # fmt: skip
_MUST_IN = re.compile(r"\bmust[- ](?:see|watch|buy|have|try|own|read)\s+(?:in|at|on)\b", re.I)
_FOR_ANY = re.compile(
    r"\bfor (?:any|every|all)\s+((?:[\w'-]+\s+){0,3}?[\w'-]+?)"
    r"(?=[.,!?;]|\s+(?:who|that|and|or|of|with|looking|wanting|to)\b|$)",
    re.I,
)
# "a romantic undertones", "a mystery fans": an article before a plural
_PLURAL_AFTER_A = re.compile(
    r"\ban? (?:[a-z-]+ )?(?:fans|lovers|enthusiasts|buffs|undertones|viewers|thrillers|"
    r"mysteries|comedies|dramas|romantics|adventurers|seekers)\b",
    re.I,
)
# genres standing for the people who like them: "a must-see for thrillers", "thrillers alike"
_GENRE_AS_PEOPLE = re.compile(
    r"\b(?:for (?:any |all |every )?(?:[a-z-]+ )?(?:thrillers|mysteries|comedies|dramas|"
    r"westerns|musicals|romances|romantics|horrors)(?! (?:fans|lovers|enthusiasts|buffs))\b"
    r"|(?:thrillers|mysteries|comedies|dramas|westerns|musicals) alike)",
    re.I,
)
DANGLING = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "with", "of", "to", "for", "from", "in", "on",
        "at", "by", "as", "that",
    ]
)  # fmt: skip
# category words that are also common English words: never counted as a category claim
AMBIGUOUS_VOCAB = frozenset(
    ["top", "bottom", "short", "general", "fine", "casual", "trend", "style", "new", "classic"]
)
# genre words and the other words that say the same (English)
SYNONYMS = {
    "romance": ("romantic", "romcom"),
    "comedy": ("comedic", "comedies"),
    "sci fi": ("science fiction", "scifi"),
    "children s": ("children", "kid", "family friendly"),
    "animation": ("animated", "cartoon"),
    "documentary": ("documentaries",),
    "thriller": ("thrillers",),
    "mystery": ("mysteries",),
    "drama": ("dramatic", "dramas"),
    "action": ("action packed",),
    "adventure": ("adventurous", "adventures"),
    "film noir": ("noir",),
    "musical": ("musicals",),
    "western": ("westerns",),
}
# attribute keys whose values are category-like words of the catalog
VOCAB_KEYS = frozenset(
    [
        "genres", "genre", "class", "department", "division", "product_type", "kind",
        "type", "subcategory",
    ]
)  # fmt: skip

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MARKUP = re.compile(r"https?://|www\.|[^\s@]+@[^\s@]+\.\w|[*#`<>\[\]{}|_]|\n")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CASED_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_PERCENT = re.compile(r"%|\bpercent\b|\bprozent\b|\bpour ?cent\b|\bpor ?ciento\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”„«»]|(?:^|\s)'[A-Z][^']{2,}'")
_YEAR = re.compile(r"\((1[89]\d\d|20\d\d)\)")


def normalize(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces (for substring matching).

    Example:
        >>> normalize("Café  Crème, 2-pack!")
        'cafe creme 2 pack'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return " ".join(_WORD.findall(plain))


# compared after normalize(), which strips accents ("für" -> "fur")
LANGUAGE_WORDS = {
    lang: frozenset(normalize(w) for w in words) for lang, words in LANGUAGE_WORDS.items()
}


def stem(word: str) -> str:
    """A crude English singular ("dresses" -> "dress", "comedies" -> "comedy")."""
    if len(word) <= 3 or word.endswith("ss"):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("us", "is")):
        return word[:-1]
    return word


def stems(text: str) -> str:
    """``normalize`` then :func:`stem` every word (phrases compared in this form)."""
    return " ".join(stem(w) for w in normalize(text).split())


def _contains(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


CLAIM_PHRASES = frozenset(stems(p) for p in CLAIMS.split(","))


class CatalogNames:
    """What a sentence may not name: the catalog's titles and its category vocabulary.

    Example:
        >>> names = CatalogNames({"r1": "Running shoes", "k1": "Chef knife set"})
        >>> names.mentioned("Pair it with a chef knife set.", allowed={"r1"})
        ['k1']
    """

    def __init__(
        self,
        titles: Mapping[str, str] | Iterable[tuple[str, str]],
        vocabulary: Iterable[str] = (),
    ) -> None:
        pairs = titles.items() if isinstance(titles, Mapping) else titles
        # first word -> [(item id, words, single)]; "single": one distinctive word ("Heat",
        # "The Crow"), matched only when capitalised mid-sentence
        self._by_first: dict[str, list[tuple[str, tuple[str, ...], bool]]] = {}
        self._count = 0
        for item_id, title in pairs:
            words = tuple(normalize(core_title(str(title))).split())
            content = [w for w in words if w not in STOPWORDS]
            if not content:
                continue
            single = len(content) == 1
            key = content[0] if single else words[0]
            match = (content[0],) if single else words
            self._by_first.setdefault(key, []).append((str(item_id), match, single))
            self._count += 1
        self.vocabulary = _vocabulary(vocabulary)

    @classmethod
    def from_catalog(cls, rows: Iterable[Mapping[str, Any]]) -> CatalogNames:
        """Names and vocabulary from catalog rows.

        Rows have ``item_id``, ``title``, ``category`` and ``attributes`` (a dict or JSON text).
        """
        titles: list[tuple[str, str]] = []
        vocab: set[str] = set()
        for row in rows:
            titles.append((str(row["item_id"]), str(row.get("title") or row["item_id"])))
            if row.get("category"):
                vocab.add(str(row["category"]))
            attrs = row.get("attributes") or {}
            if isinstance(attrs, str):
                try:
                    attrs = json.loads(attrs) if attrs else {}
                except json.JSONDecodeError:
                    attrs = {}
            if not isinstance(attrs, Mapping):
                continue
            for key, value in attrs.items():
                if str(key).lower() not in VOCAB_KEYS or not value:
                    continue
                values = value if isinstance(value, list | tuple) else str(value).split(",")
                vocab.update(str(v).strip() for v in values if str(v).strip())
        return cls(titles, vocab)

    def __len__(self) -> int:
        return self._count

    def mentioned(
        self, text: str, allowed: set[str], masked: Iterable[str] = (), cased: bool = True
    ) -> list[str]:
        """Ids of catalog products named in ``text``, except ``allowed`` ids.

        Args:
            text: the sentence.
            allowed: ids that may be named (the product itself).
            masked: titles removed from the text first (a product whose title contains another
                title, e.g. "Star Wars: Return of the Jedi" contains "Return of the Jedi").
            cased: whether a capitalised word mid-sentence may name a one-word title (not in
                German, where every noun is capitalised).
        """
        words_cased = _CASED_WORD.findall(_mask_titles(text, masked, token="\x00"))
        words = [normalize(w) for w in words_cased]
        starts = _sentence_starts(text, words_cased)
        found: list[str] = []
        for i, word in enumerate(words):
            for item_id, match, single in self._by_first.get(word, ()):
                if item_id in allowed or item_id in found:
                    continue
                if single:
                    if cased and words_cased[i][:1].isupper() and i not in starts:
                        found.append(item_id)
                elif tuple(words[i : i + len(match)]) == match:
                    found.append(item_id)
        return found


def _vocabulary(words: Iterable[str]) -> dict[str, str]:
    """Stemmed phrase -> canonical phrase, for every category and its synonyms.

    A several-word category counts only as a whole ("Must Haves" does not make "must" a
    category word, nor "Best Sellers" "best").
    """
    vocab: dict[str, str] = {}
    for word in words:
        for part in re.split(r"[|,/;]", str(word)):
            phrase = stems(part)
            if not phrase or phrase in AMBIGUOUS_VOCAB or len(phrase) < 3:
                continue
            vocab[phrase] = phrase
            for synonym in SYNONYMS.get(phrase, ()):
                vocab[stems(synonym)] = phrase
    return vocab


def _sentence_starts(text: str, cased: list[str]) -> set[int]:
    """Indexes of words that begin a sentence (capitalised there for grammar, not as a name)."""
    starts = {0}
    pos = 0
    for i, word in enumerate(cased):
        at = text.find(word, pos)
        if at < 0:
            continue
        before = text[pos:at].strip()
        if i and before and before[-1] in ".!?:":
            starts.add(i)
        pos = at + len(word)
    return starts


@dataclass(frozen=True)
class Verdict:
    """The result of validating one sentence."""

    ok: bool
    problems: tuple[str, ...] = ()


def _allowed_numbers(facts: ItemFacts) -> set[str]:
    allowed: set[str] = set()
    for num in _NUMBER.findall(facts.fact_text()):
        allowed.add(num)
        allowed.add(num.replace(",", "."))
        allowed.add(num.replace(",", ""))
        try:
            value = float(num.replace(",", ""))
        except ValueError:
            continue
        if value.is_integer():
            allowed.update({f"{value:.0f}", f"{value:.2f}", f"{value:.1f}"})
        else:
            allowed.update({f"{value:.2f}", f"{value:g}"})
    if facts.price is not None:
        allowed.update({f"{facts.price:.2f}", f"{facts.price:g}", f"{facts.price:.0f}"})
    return allowed


def _mask_titles(text: str, titles: Iterable[str], token: str = "PRODUCT") -> str:
    """Replace known titles (which may contain '.', '!' or digits) by a neutral token."""
    variants = {v for t in titles for v in (t, core_title(t)) if v}
    for variant in sorted(variants, key=len, reverse=True):
        text = re.sub(r"(?<!\w)" + re.escape(variant) + r"(?!\w)", token, text, flags=re.I)
    return text


def count_sentences(text: str) -> int:
    """Number of sentences (runs ending in . ! or ? followed by a space or the end).

    Example:
        >>> count_sentences("Great socks. Buy them!")
        2
    """
    return len([p for p in _SENTENCE_END.split(text) if normalize(p)])


def _fragment(text: str) -> bool:
    words = normalize(text).split()
    if len(words) < 5 or not re.search(r"[.!?]$", text) or "..." in text or "…" in text:
        return True
    if ":" in text or ";" in text:  # a list or a second clause glued on: not one shop line
        return True
    if words[-1] in DANGLING:
        return True
    pairs = (("(", ")"), ("[", "]"), ("{", "}"))
    if any(text.count(a) != text.count(b) for a, b in pairs):
        return True
    return text.count('"') % 2 == 1 or text.count("“") != text.count("”")


def _repetition(words: list[str], kind: str = "") -> bool:
    if any(stem(a) == stem(b) for a, b in itertools.pairwise(words)):
        return True
    skip = set(stems(kind).split()) | {"must"}
    content = [stem(w) for w in words if w not in STOPWORDS and len(w) >= 4]
    if any(content.count(w) >= 2 for w in set(content) - skip):
        return True
    triples = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(triples) != len(set(triples))


def _odd_phrase(text: str) -> bool:
    if _MUST_IN.search(text) or _PLURAL_AFTER_A.search(text) or _GENRE_AS_PEOPLE.search(text):
        return True
    for match in _FOR_ANY.finditer(text):
        last = normalize(match.group(1)).split()[-1:]
        if last and stem(last[0]) not in AUDIENCE_NOUNS:
            return True
    return False


def _invented_categories(text_stems: str, fact_stems: str, vocab: Mapping[str, str]) -> bool:
    """Whether the sentence names a category word that the product's facts do not."""
    allowed = {canon for phrase, canon in vocab.items() if _contains(fact_stems, phrase)}
    return any(
        canon not in allowed and _contains(text_stems, phrase) for phrase, canon in vocab.items()
    )


def validate(
    text: str,
    facts: ItemFacts,
    context: ShopperContext,
    names: CatalogNames | None = None,
    max_chars: int = 160,
    min_chars: int = 20,
    max_words: int = 14,
) -> Verdict:
    """Check one model-written sentence against every rule.

    Args:
        text: the sentence (the part after the link sentence).
        facts: facts of the product pitched.
        context: the shopper context (its language; its items may not be named).
        names: catalog titles and vocabulary (``other_product``/``invented_category`` are
            skipped when None).
        max_chars: longest text accepted.
        min_chars: shortest text accepted.
        max_words: most words accepted.

    Returns:
        A :class:`Verdict`; ``problems`` lists the broken rules in :data:`RULES` order.
    """
    stripped = text.strip()
    norm = normalize(stripped)
    if not norm:
        return Verdict(False, ("empty",))
    problems: list[str] = []
    english = context.language == "en"
    if not min_chars <= len(stripped) <= max_chars or len(stripped.split()) > max_words:
        problems.append("length")
    masked = _mask_titles(stripped, [facts.title])
    if _fragment(masked):
        problems.append("fragment")
    if count_sentences(masked) > 1:
        problems.append("sentences")
    # the kind is the sentence's own noun ("These running shoes are"), not another product
    own_names = [facts.title, facts.kind] if facts.kind else [facts.title]
    if names is not None and names.mentioned(stripped, {facts.item_id}, own_names, cased=english):
        problems.append("other_product")
    years = _YEAR.findall(masked)
    own_year = re.findall(r"\((\d{4})\)", facts.title)
    if _QUOTED.search(masked) or any(y not in own_year for y in years):
        problems.append("other_title")
    text_stems = stems(masked)
    fact_stems = stems(facts.fact_text())
    if names is not None and _invented_categories(text_stems, fact_stems, names.vocabulary):
        problems.append("invented_category")
    allowed_numbers = _allowed_numbers(facts)
    numbers = _NUMBER.findall(masked)
    percent_in_facts = bool(_PERCENT.search(facts.fact_text()))
    if any(n not in allowed_numbers and n.rstrip(".,") not in allowed_numbers for n in numbers) or (
        _PERCENT.search(masked) and not percent_in_facts
    ):
        problems.append("invented_number")
    words = norm.split()
    if english:
        if any(_contains(text_stems, p) and not _contains(fact_stems, p) for p in CLAIM_PHRASES):
            problems.append("invented_claim")
        allowed_names = set(fact_stems.split()) | set(stems(core_title(facts.title)).split())
        cased = _CASED_WORD.findall(masked)
        starts = _sentence_starts(masked, cased)
        if any(
            w[:1].isupper()
            and i not in starts
            and w not in ("PRODUCT", "I")  # "I" is the first_person rule's
            and not set(stems(w).split()) <= allowed_names
            for i, w in enumerate(cased)
        ):
            problems.append("unknown_name")
        word_stems = set(text_stems.split())
        if word_stems & ELSEWHERE or any(_contains(norm, p) for p in ELSEWHERE_PHRASES):
            problems.append("elsewhere")
        if set(words) & PROMPT_WORDS or AUDIENCE.search(stripped):
            problems.append("prompt_leak")
        cased_lower = {w.lower().replace("’", "'") for w in _CASED_WORD.findall(stripped)}
        if cased_lower & FIRST_PERSON:
            problems.append("first_person")
    if _repetition(normalize(masked).split(), facts.kind):
        problems.append("repetition")
    if english and _odd_phrase(masked):
        problems.append("odd_phrase")
    if set(words) & PROFANITY:
        problems.append("profanity")
    if _MARKUP.search(_mask_titles(masked, [facts.category]) if facts.category else masked):
        problems.append("markup")
    masked_words = set(normalize(masked).split())
    hits = {lang: len(masked_words & vocab) for lang, vocab in LANGUAGE_WORDS.items()}
    own = hits.get(context.language, 0)
    if max(hits.values()) > 0 and own < max(hits.values()):
        problems.append("language")
    ordered = tuple(r for r in RULES if r in problems)
    return Verdict(not ordered, ordered)
