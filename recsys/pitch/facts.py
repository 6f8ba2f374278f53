"""The only inputs a pitch may use: catalog facts of one product and the shopper's recent items.

Everything here is *data*. Product text may contain anything (including text that looks like
instructions); it is normalised to one line, length-limited and later quoted in the prompt.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recsys.lang import cjk_share, detect_language

MAX_TITLE_CHARS = 120
MAX_VALUE_CHARS = 60
MAX_ATTRIBUTES = 4
# attribute keys never shown to the model (ids, internal fields, long free text)
SKIP_ATTRIBUTE_KEYS = frozenset({"id", "sku", "ean", "gtin", "url", "image", "description"})
# attribute keys that name what kind of thing the product is ("film", "dress"): the noun of the
# model-written sentence ("This film is ..."); the first one present wins
KIND_KEYS = ("product_type", "kind", "type")
# kinds that are plural in English ("These jeans are ...")
PLURAL_KINDS = frozenset(
    ["jeans", "shorts", "pants", "trousers", "leggings", "tights", "pajamas", "overalls",
     "glasses", "sunglasses", "scissors", "headphones", "earbuds", "socks", "shoes", "boots",
     "bottoms", "intimates", "clothes", "pajamas", "jeggings"]
)  # fmt: skip
MAX_DESCRIPTION_CHARS = 160
_ARTICLES = ("The", "A", "An", "Les", "La", "Le", "L'", "Il", "Der", "Die", "Das", "El", "Los")
_PAREN = re.compile(r"\s+\([^()]*\)")
_YEAR_PAREN = re.compile(r"\((\d{4})\)\s*$")

ACTION_BY_EVENT = {
    "purchase": "bought",
    "add_to_cart": "added to cart",
    "click": "viewed",
    "view": "viewed",
}
ACTION_RANK = {"bought": 3, "added to cart": 2, "viewed": 1}

_SPACE = re.compile(r"\s+")
# sentence ends: . ! ? before a space, or a Chinese full stop, exclamation or question mark
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")
_CJK_ENDS = ("。", "！", "？")
# where a long Chinese description is cut (the last of these before the limit)
_ZH_CUT_MARKS = ("。", "，", "、", "；", "！", "？")


def one_line(text: Any, limit: int) -> str:
    r"""Collapse whitespace and control characters into single spaces and cut to ``limit`` chars.

    Example:
        >>> one_line("Trail\n  shoes", 20)
        'Trail shoes'
    """
    clean = _SPACE.sub(" ", "".join(ch if ch.isprintable() else " " for ch in str(text or "")))
    clean = clean.replace('"', "'").strip()
    return clean[:limit].rstrip()


def _split_year(title: str) -> tuple[str, str | None]:
    """``(title without a trailing "(YYYY)", the year)``; the year is None when there is none."""
    match = _YEAR_PAREN.search(title)
    return (title[: match.start()].rstrip(), match.group(1)) if match else (title, None)


def core_title(title: str) -> str:
    """The title as a person says it: no trailing year, its article in front.

    A film catalog's title ("City of Lost Children, The (Cité des enfants perdus, La) (1995)")
    also loses its bracketed alternative titles; brackets of other titles are kept ("Classic
    Tee (Black)" is another product than "Classic Tee (White)").

    Example:
        >>> core_title("Usual Suspects, The (1995)")
        'The Usual Suspects'
    """
    core, year = _split_year(title.strip())
    if year is not None:
        core = _PAREN.sub("", core).strip()  # alternative titles, not a leading "(500)"
    for article in _ARTICLES:
        suffix = f", {article}"
        if core.endswith(suffix):
            core = core[: -len(suffix)]
            core = f"{article}{core}" if article.endswith("'") else f"{article} {core}"
    return core or title


def display_title(title: str) -> str:
    """A catalog title as a storefront shows it: the article in front, a year kept at the end.

    Catalog exports often sort titles by their main word ("Matrix, The (1999)") and carry
    alternative titles in brackets; a shopper reads "The Matrix (1999)".

    Example:
        >>> display_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)")
        'The City of Lost Children (1995)'
    """
    year = _split_year(title.strip())[1]
    core = core_title(title)
    return f"{core} ({year})" if year else core


def kind_noun_of(value: str) -> str:
    """A product type as the noun of a sentence ('' when it is no short noun phrase).

    A taxonomy path gives its last segment, lower-case.

    Example:
        >>> kind_noun_of("Apparel & Accessories > Clothing > Dresses")
        'dresses'
    """
    last = re.split(r"\s*[>/|]\s*", str(value).strip())[-1]
    noun = one_line(last, 200).lower()
    if not noun or len(noun) > 30 or not re.fullmatch(r"[^\W\d_][\w' -]*", noun):
        return ""
    return noun


# how a Chinese sentence writes an amount of each currency: a sign before it, or a word after it;
# yuan however the catalog spells them (and no currency at all: a Chinese shop's are yuan)
ZH_CURRENCY_SIGNS = {"CNY": "¥", "RMB": "¥", "": "¥", "元": "¥", "人民币": "¥", "¥": "¥", "￥": "¥"}
ZH_CURRENCY_WORDS = {
    "USD": "美元", "EUR": "欧元", "GBP": "英镑", "HKD": "港元", "JPY": "日元", "TWD": "新台币",
    "SGD": "新加坡元", "AUD": "澳元", "CAD": "加元", "KRW": "韩元",
}  # fmt: skip


def format_price(price: float | None, currency: str = "", language: str = "en") -> str:
    """Render a price as the pitch would show it ('' when unknown).

    In Chinese, yuan are written ``¥199`` (currency ``CNY``, ``RMB``, ``元``, ``人民币``, ``¥``
    or none) and other known currencies with their Chinese name (``89欧元``); an unknown code
    stays as it is (``89 XYZ``).

    Example:
        >>> format_price(12.5, "EUR")
        '12.50 EUR'
        >>> format_price(199, "CNY", "zh")
        '¥199'
    """
    if price is None or price != price or price < 0:  # None, NaN or negative: unknown
        return ""
    text = f"{price:.0f}" if float(price).is_integer() else f"{price:.2f}"
    if language == "zh":
        code = currency.strip().upper()
        if code in ZH_CURRENCY_SIGNS:
            return f"{ZH_CURRENCY_SIGNS[code]}{text}"
        if code in ZH_CURRENCY_WORDS:
            return f"{text}{ZH_CURRENCY_WORDS[code]}"
    return f"{text} {currency}".strip()


@dataclass(frozen=True)
class ItemFacts:
    """Catalog facts of the product being pitched.

    Attributes:
        item_id: external item id.
        title: product title (one line).
        category: category name ('' when unknown).
        price: price, or None when unknown.
        currency: ISO currency code ('' when unknown).
        attributes: up to four (key, value) pairs shown to the model.
        description: product description (one line); its first phrases are shown to the model
            as data, and re-ranking compares samples with it.
        kind: what the product is, as a noun ("film", "dress"; '' when unknown): from the
            ``product_type``/``kind``/``type`` attribute.
    """

    item_id: str
    title: str
    category: str = ""
    price: float | None = None
    currency: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    description: str = ""
    kind: str = ""

    @classmethod
    def from_item(
        cls, item: Mapping[str, Any], catalog_row: Mapping[str, Any] | None = None
    ) -> ItemFacts:
        """Facts from an API item dict, completed by the full catalog row when given.

        Args:
            item: a recommended item (keys ``item_id``, ``title``, ``category``, ``price``, ...).
            catalog_row: the store's row of the same item (``description``, ``attributes``).
        """
        row: dict[str, Any] = dict(catalog_row or {})
        row.update({k: v for k, v in item.items() if v is not None})
        attrs = row.get("attributes") or {}
        if isinstance(attrs, str):
            try:
                attrs = json.loads(attrs) if attrs else {}
            except json.JSONDecodeError:
                attrs = {}
        pairs: list[tuple[str, str]] = []
        kind = ""
        if isinstance(attrs, Mapping):
            for key in KIND_KEYS:
                if isinstance(attrs.get(key), str) and attrs[key].strip():
                    kind = kind_noun_of(attrs[key])
                    break
            for key, value in attrs.items():
                if str(key).lower() in SKIP_ATTRIBUTE_KEYS or value in (None, "", [], {}):
                    continue
                if str(key).lower() in KIND_KEYS:
                    continue
                if isinstance(value, list | tuple):
                    value = ", ".join(str(v) for v in value)
                pairs.append((one_line(key, 30), one_line(value, MAX_VALUE_CHARS)))
                if len(pairs) >= MAX_ATTRIBUTES:
                    break
        price = row.get("price")
        return cls(
            item_id=str(row["item_id"]),
            title=one_line(row.get("title") or row["item_id"], MAX_TITLE_CHARS),
            category=one_line(row.get("category") or "", MAX_VALUE_CHARS),
            price=float(price) if isinstance(price, int | float) else None,
            currency=one_line(row.get("currency") or "", 8),
            attributes=tuple(pairs),
            description=one_line(row.get("description") or "", 600),
            kind=kind,
        )

    @property
    def display_title(self) -> str:
        """The title as a storefront shows it (see :func:`display_title`)."""
        return display_title(self.title)

    @property
    def plural(self) -> bool:
        """Whether :attr:`kind` is a plural noun ("jeans", "casual bottoms")."""
        if not self.kind:
            return False
        last = self.kind.split()[-1]
        if last in PLURAL_KINDS:
            return True
        # "dresses", "t-shirts": an English plural (not "glass", "bus", "dress")
        return last.endswith("s") and not last.endswith(("ss", "us", "is"))

    def description_phrases(self, limit: int = MAX_DESCRIPTION_CHARS) -> str:
        """The description's opening phrases, without sentences that only restate the title.

        A longer text is cut: English at the last space before ``limit`` (then " ..."),
        Chinese at the last 。，、；！？ before it (or at it, when that mark is in the first half),
        then "…".

        Example:
            >>> film = ItemFacts("1", "Heat (1995)", description="Heat (1995). Genres: Crime.")
            >>> film.description_phrases()
            ''
            >>> cup = ItemFacts("2", "保温杯", description="双层真空，保温十二小时。")
            >>> cup.description_phrases(9)
            '双层真空…'
        """
        names = {self.title.lower(), core_title(self.title).lower()} - {""}
        kept = [
            s.strip()
            for s in _SENTENCE_SPLIT.split(self.description)
            if s.strip()
            and not any(name in s.lower() for name in names)
            and not s.lower().startswith("genres:")
        ]
        # Chinese sentences (ending in 。！？) follow one another without a space
        text = "".join(
            f"{s}{'' if s.endswith(_CJK_ENDS) or i == len(kept) - 1 else ' '}"
            for i, s in enumerate(kept)
        )
        if len(text) <= limit:
            return text
        if detect_language([text]) == "zh":  # no spaces: at the last mark, else at the limit
            head = text[:limit]
            mark = max(head.rfind(m) for m in _ZH_CUT_MARKS)
            cut = head[:mark] if mark >= limit // 2 else head[: limit - 1]
            return cut.rstrip("".join(_ZH_CUT_MARKS) + ",;: ") + "…"
        cut = text[:limit].rsplit(" ", 1)[0]
        return cut.rstrip(",;:") + " ..."

    @property
    def price_text(self) -> str:
        """Price as shown in the prompt and the template ('' when unknown)."""
        return format_price(self.price, self.currency)

    def price_in(self, language: str) -> str:
        """Price as a sentence in ``language`` writes it (``¥199`` in Chinese).

        See :func:`format_price`.
        """
        return format_price(self.price, self.currency, language)

    @property
    def text_language(self) -> str:
        """The language of the product's own text (title and description): ``zh`` or ``en``.

        See :func:`recsys.lang.detect_language` (a CJK character weighs as much as a word).
        """
        return detect_language([self.title, self.description])

    def fact_text(self) -> str:
        """Every fact in one string (what the validator allows a sentence to say)."""
        parts = [self.title, self.kind, self.category, self.price_text, self.description]
        parts += [f"{k} {v}" for k, v in self.attributes]
        return " ".join(p for p in parts if p)

    def product_text(self) -> str:
        """Title, category, description and attributes: what re-ranking compares a pitch with."""
        parts = [self.title, self.category, self.description]
        parts += [f"{k}: {v}" for k, v in self.attributes]
        return ". ".join(p for p in parts if p)


@dataclass(frozen=True)
class RecentItem:
    """One of the shopper's own items, as the pitch may mention it."""

    item_id: str
    title: str
    action: str  # "bought" | "added to cart" | "viewed"


@dataclass(frozen=True)
class ShopperContext:
    """The shopper's recent items (newest or most relevant first) and the pitch language."""

    recent: tuple[RecentItem, ...] = ()
    language: str = "en"

    def key(self) -> str:
        """A short stable hash of everything in the context (part of the cache key).

        Example:
            >>> len(ShopperContext().key())
            16
        """
        payload = json.dumps(
            [self.language, [(r.item_id, r.title, r.action) for r in self.recent]],
            ensure_ascii=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


# a product in an English shop is Chinese from this share of CJK (recsys.lang.cjk_share), or this
# many CJK characters, in its title and description
CJK_SHARE_IN_EN_SHOP = 0.15
CJK_CHARS_IN_EN_SHOP = 4
_CJK_CHAR = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


def product_language(facts: ItemFacts, catalog: str | None = None) -> str:
    """The language of one product's pitch under ``auto``, given the catalog's language.

    A product follows its catalog (``catalog``: the current bundle's recorded
    ``catalog_language``) unless its own text is clearly the other language: in a Chinese shop, a
    product with no CJK character at all is English; in an English shop, a product with a
    substantial share of CJK (:data:`CJK_SHARE_IN_EN_SHOP` by :func:`recsys.lang.cjk_share`, or
    :data:`CJK_CHARS_IN_EN_SHOP` characters) is Chinese. Without a known catalog language the
    product's own text decides (:func:`recsys.lang.detect_language`, which weighs a CJK
    character like a word, so brand-heavy Chinese titles read as Chinese).

    Example:
        >>> product_language(ItemFacts("1", "华为 HUAWEI MateBook X Pro 笔记本电脑"), "zh")
        'zh'
        >>> product_language(ItemFacts("2", "USB-C cable"), "zh")
        'en'
    """
    texts = [facts.title, facts.description]
    if catalog == "zh":
        return "zh" if any(_CJK_CHAR.search(t) for t in texts) else "en"
    if catalog == "en":
        chars = sum(len(_CJK_CHAR.findall(t)) for t in texts)
        clear = chars >= CJK_CHARS_IN_EN_SHOP or cjk_share(texts) >= CJK_SHARE_IN_EN_SHOP
        return "zh" if chars and clear else "en"
    return detect_language(texts)


def pitch_language(facts: ItemFacts, language: str = "auto", catalog: str | None = None) -> str:
    """The language one pitch is written in: ``language``, or for ``auto`` the product's.

    ``auto`` follows the catalog's language when it is known (``catalog``: ``en`` or ``zh``),
    switching for a product whose text is clearly the other language; otherwise the product's own
    title and description decide (see :func:`product_language`).

    Example:
        >>> pitch_language(ItemFacts("1", "轻便透气跑步鞋"))
        'zh'
        >>> pitch_language(ItemFacts("1", "轻便透气跑步鞋"), "en")
        'en'
    """
    return product_language(facts, catalog) if language == "auto" else language


def build_context(
    history: Sequence[Any],
    titles: Mapping[str, str],
    limit: int,
    language: str = "en",
    prefer: Sequence[str] = (),
    exclude: str | None = None,
) -> ShopperContext:
    """The shopper context for one pitch from their event history.

    Args:
        history: events newest first, each with ``item_id`` and ``type`` (``UserEvent``).
        titles: item id -> title for the history's items (items without a title are skipped).
        limit: most recent items kept.
        language: pitch language (a written one, not ``auto``: see :func:`pitch_language`).
        prefer: item ids to put first when they are in the history (e.g. the items a
            recommendation's reason names: "because you bought X").
        exclude: an item id never used (the product being pitched).

    Returns:
        A :class:`ShopperContext` with up to ``limit`` distinct items; each item carries its
        strongest action (bought > added to cart > viewed).
    """
    best: dict[str, str] = {}
    order: list[str] = []
    for event in history:
        item_id = str(event.item_id)
        if item_id == exclude or item_id not in titles:
            continue
        action = ACTION_BY_EVENT.get(str(event.type), "viewed")
        if item_id not in best:
            order.append(item_id)
            best[item_id] = action
        elif ACTION_RANK[action] > ACTION_RANK[best[item_id]]:
            best[item_id] = action
    preferred = [i for i in dict.fromkeys(str(p) for p in prefer) if i in best]
    chosen = (preferred + [i for i in order if i not in preferred])[:limit]
    return ShopperContext(
        recent=tuple(
            RecentItem(i, display_title(one_line(titles[i], MAX_TITLE_CHARS)), best[i])
            for i in chosen
        ),
        language=language,
    )
