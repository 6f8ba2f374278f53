"""Validation of a generated pitch: grounded, names the product, short, clean.

Rules (each returns its name in :attr:`Verdict.problems` when broken):

- ``empty``: nothing but whitespace/punctuation.
- ``length``: shorter than ``min_chars`` or longer than ``max_chars``.
- ``sentences``: not one or two sentences.
- ``names_product``: neither the title nor a clear part of it appears.
- ``other_product``: names another catalog product that is not one of the shopper's own items.
- ``invented_number``: a number, price or percentage that is not in the facts.
- ``profanity``: a word from a small profanity list.
- ``markup``: a link, e-mail address, markdown, code or a line break.
- ``language``: the text reads as another supported language than the configured one.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from recsys.pitch.facts import ItemFacts, ShopperContext

RULES = (
    "empty",
    "length",
    "sentences",
    "names_product",
    "other_product",
    "invented_number",
    "profanity",
    "markup",
    "language",
)

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "your",
        "you",
        "our",
        "this",
        "that",
        "these",
        "is",
        "are",
        "be",
        "it",
        "its",
        "my",
        "me",
        "we",
        "us",
        "de",
        "la",
        "le",
        "les",
        "el",
        "los",
        "las",
        "der",
        "die",
        "das",
        "und",
        "en",
        "et",
        "y",
    ]
)
PROFANITY = frozenset(
    [
        "fuck",
        "fucking",
        "shit",
        "shitty",
        "bitch",
        "bastard",
        "asshole",
        "crap",
        "damn",
        "dick",
        "cunt",
        "piss",
        "wanker",
        "slut",
        "whore",
        "scheisse",
        "scheiße",
        "merde",
        "putain",
        "mierda",
        "puta",
        "joder",
    ]
)
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
MIN_NAME_CHARS = 8  # catalog titles shorter than this are too generic to count as "another product"

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MARKUP = re.compile(r"https?://|www\.|\S+@\S+\.\w|[*#`<>\[\]{}|_]|\n")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PAREN = re.compile(r"\s*\([^)]*\)")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_PERCENT = re.compile(r"%|\bpercent\b|\bprozent\b|\bpour ?cent\b|\bpor ?ciento\b", re.IGNORECASE)


def normalize(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces (for substring matching).

    Example:
        >>> normalize("Café  Crème, 2-pack!")
        'cafe creme 2 pack'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return " ".join(_WORD.findall(plain))


def core_title(title: str) -> str:
    """The title without parenthesised parts (e.g. a film's year) and a trailing ', The'.

    Example:
        >>> core_title("Usual Suspects, The (1995)")
        'The Usual Suspects'
    """
    core = _PAREN.sub("", title).strip()
    for article in ("The", "A", "An", "Les", "La", "Le", "Il", "Der", "Die", "Das", "El"):
        suffix = f", {article}"
        if core.endswith(suffix):
            core = f"{article} {core[: -len(suffix)]}"
    return core or title


def _title_parts(title: str) -> list[str]:
    """Normalised spans of ``title`` that clearly name it (full, core, head, long word pairs)."""
    core = core_title(title)
    parts = {normalize(title), normalize(core)}
    for sep in (":", " - ", " – ", "/"):
        if sep in core:
            head = normalize(core.split(sep)[0])
            if len(head) >= 4:
                parts.add(head)
    words = normalize(core).split()
    if words and words[0] in {"the", "a", "an"} and len(words) > 1:
        parts.add(" ".join(words[1:]))
    if len(words) >= 3:
        for a, b in itertools.pairwise(words):
            if (a not in STOPWORDS or b not in STOPWORDS) and max(len(a), len(b)) >= 4:
                parts.add(f"{a} {b}")
    if len(words) == 2:
        # a distinctive single word of a two-word title ("Merino socks" -> "merino")
        parts.update(w for w in words if len(w) >= 6 and w not in STOPWORDS)
    return sorted(p for p in parts if p)


def _contains(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


class CatalogNames:
    """Normalised names of catalog products, for the ``other_product`` rule.

    Example:
        >>> names = CatalogNames({"r1": "Running shoes", "k1": "Chef knife set"})
        >>> names.mentioned("Pair it with our chef knife set.", allowed={"r1"})
        ['k1']
    """

    def __init__(self, titles: dict[str, str] | Iterable[tuple[str, str]]) -> None:
        pairs = titles.items() if isinstance(titles, dict) else titles
        self._names: list[tuple[str, str]] = []
        for item_id, title in pairs:
            name = normalize(core_title(str(title)))
            if len(name) >= MIN_NAME_CHARS and " " in name:
                self._names.append((str(item_id), name))

    def __len__(self) -> int:
        return len(self._names)

    def mentioned(self, text: str, allowed: set[str], masked: Iterable[str] = ()) -> list[str]:
        """Ids of catalog products named in ``text``, except ``allowed`` ids.

        Args:
            text: the pitch.
            allowed: ids that may be named (the product itself and the shopper's own items).
            masked: titles removed from the text first (a product whose title contains another
                title, e.g. "Star Wars: Return of the Jedi" contains "Return of the Jedi").
        """
        norm = f" {normalize(text)} "
        for title in masked:
            for part in (normalize(title), normalize(core_title(title))):
                if part:
                    norm = norm.replace(f" {part} ", " | ")
        return [i for i, name in self._names if i not in allowed and f" {name} " in norm]


@dataclass(frozen=True)
class Verdict:
    """The result of validating one pitch."""

    ok: bool
    problems: tuple[str, ...] = ()


def _allowed_numbers(facts: ItemFacts, context: ShopperContext) -> set[str]:
    texts = [facts.fact_text()] + [r.title for r in context.recent]
    allowed: set[str] = set()
    for text in texts:
        for num in _NUMBER.findall(text):
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


def _mask_titles(text: str, titles: Iterable[str]) -> str:
    """Replace known titles (which may contain '.', '!' or digits) by a neutral token."""
    for title in sorted(set(titles), key=len, reverse=True):
        for variant in (title, core_title(title)):
            if variant:
                text = re.sub(re.escape(variant), "PRODUCT", text, flags=re.IGNORECASE)
    return text


def count_sentences(text: str) -> int:
    """Number of sentences (runs ending in . ! or ? followed by a space or the end).

    Example:
        >>> count_sentences("Great socks. Buy them!")
        2
    """
    pieces = [p for p in _SENTENCE_END.split(text) if normalize(p)]
    return len(pieces)


def validate(
    text: str,
    facts: ItemFacts,
    context: ShopperContext,
    names: CatalogNames | None = None,
    max_chars: int = 220,
    min_chars: int = 20,
) -> Verdict:
    """Check one pitch against every rule.

    Args:
        text: the candidate pitch.
        facts: facts of the product pitched.
        context: the shopper context the prompt used (its items may be named).
        names: catalog names for the ``other_product`` rule (skipped when None).
        max_chars: longest text accepted.
        min_chars: shortest text accepted.

    Returns:
        A :class:`Verdict`; ``problems`` lists the broken rules in :data:`RULES` order.
    """
    problems: list[str] = []
    stripped = text.strip()
    norm = normalize(stripped)
    if not norm:
        return Verdict(False, ("empty",))
    if not min_chars <= len(stripped) <= max_chars:
        problems.append("length")
    own_titles = [facts.title] + [r.title for r in context.recent]
    masked = _mask_titles(stripped, own_titles)
    if count_sentences(masked) not in (1, 2) or not re.search(r"[.!?]$", stripped):
        problems.append("sentences")
    if not any(_contains(norm, part) for part in _title_parts(facts.title)):
        problems.append("names_product")
    if names is not None:
        allowed = {facts.item_id} | {r.item_id for r in context.recent}
        if names.mentioned(stripped, allowed, masked=own_titles):
            problems.append("other_product")
    allowed_numbers = _allowed_numbers(facts, context)
    numbers = _NUMBER.findall(masked)
    percent_in_facts = bool(_PERCENT.search(facts.fact_text()))
    if any(n not in allowed_numbers and n.rstrip(".,") not in allowed_numbers for n in numbers) or (
        _PERCENT.search(masked) and not percent_in_facts
    ):
        problems.append("invented_number")
    words = set(norm.split())
    if words & PROFANITY:
        problems.append("profanity")
    if _MARKUP.search(_mask_titles(masked, [facts.category]) if facts.category else masked):
        problems.append("markup")
    masked_words = set(normalize(masked).split())
    hits = {lang: len(masked_words & vocab) for lang, vocab in LANGUAGE_WORDS.items()}
    own = hits.get(context.language, 0)
    if max(hits.values()) > 0 and own < max(hits.values()):
        problems.append("language")
    problems = [r for r in RULES if r in problems]
    return Verdict(not problems, tuple(problems))
