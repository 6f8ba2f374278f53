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
- ``language``: the text reads as another supported language than the configured one (a
  Chinese pitch must be Chinese by :func:`recsys.lang.detect_language`, and a pitch in any other
  language must not be).

Chinese (``zh``) sentences have no spaces and no capitals, so the rules read them differently:

- names are found as substrings (:func:`names_product`; a title's short names are its core, the
  title without bracketed parts or a trailing size, and without a leading brand);
- ``length`` counts characters (``min_chars_zh`` to ``max_chars_zh``, 6 to 40 by default:
  about as long as 14 English words), not words;
- ``fragment``: no end mark (。！？), an ellipsis, a colon or semicolon, unbalanced brackets
  (（）【】《》「」) or a dangling conjunction (和, 与, 以及, ...) before the end;
- ``sentences`` splits on 。！？ as well;
- ``invented_number`` reads Chinese numerals (三, 五百, 两千五, 3千, 1.5万) and discounts (五折,
  百分之五十) as well as digits, by value: ``五百毫升`` passes when the facts say 500; the
  article-like ``一`` (一款, 一双) and idioms (一起, 十分, 百搭, 四季) are not numbers;
- ``invented_claim``, ``elsewhere``, ``prompt_leak``, ``first_person`` and ``profanity`` use
  short Chinese lists (保修, 包邮, 品牌, 纯棉 ...; 访问, 官网; 顾客, 文案; 我, 本店);
- ``repetition`` also finds a phrase said twice in a row (舒适舒适) or any four characters twice;
- ``unknown_name`` and ``odd_phrase`` are English only, as before.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from recsys.lang import CJK_SHARE_ZH, cjk_share, is_cjk
from recsys.pitch.facts import ItemFacts, ShopperContext, core_title

__all__ = [
    "RULES",
    "CatalogNames",
    "Verdict",
    "chinese_number",
    "core_title",
    "count_sentences",
    "names_product",
    "normalize",
    "product_names",
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
_CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_CJK = f"[{_CJK_CHARS}]"
_CJK_BOUNDARY = re.compile(f"(?<={_CJK})(?!{_CJK})|(?<!{_CJK})(?={_CJK})")
# . ! ? before a space or the end; a Chinese 。！？ anywhere; ! ? right before a Chinese character
_SENTENCE_END = re.compile(f"[.!?]+(?=\\s|$)|[。！？]+|[!?]+(?={_CJK})")
_PERCENT = re.compile(r"%|\bpercent\b|\bprozent\b|\bpour ?cent\b|\bpor ?ciento\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”„«»《「『]|(?:^|\s)'[A-Z][^']{2,}'")
_YEAR = re.compile(r"\((1[89]\d\d|20\d\d)\)")


def normalize(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces (for substring matching).

    Example:
        >>> normalize("Café  Crème, 2-pack!")
        'cafe creme 2 pack'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    if _has_cjk(plain):  # a run of Chinese is one word, apart from Latin words and digits
        plain = _CJK_BOUNDARY.sub(" ", plain)
    return " ".join(_WORD.findall(plain))


def _has_cjk(text: str) -> bool:
    return any(is_cjk(ch) for ch in text)


def compact(text: str) -> str:
    """``normalize`` without spaces: what Chinese names are compared in (no word boundaries).

    Example:
        >>> compact("轻便 透气（黑色）Run-Pro")
        '轻便透气黑色runpro'
    """
    return normalize(text).replace(" ", "")


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

# -- Chinese --------------------------------------------------------------------------------------
# phrases the facts must state before a Chinese sentence may (substrings: brands, awards,
# materials, warranties, offers, prices, popularity)
ZH_CLAIMS = (
    "品牌", "名牌", "大牌", "奢华", "奢侈", "限量", "独家", "获奖", "畅销", "热销",
    "爆款", "销量", "好评", "人气", "网红", "明星", "同款", "导演", "主演", "纯棉",
    "真皮", "羊毛", "羊绒", "丝绸", "亚麻", "防水", "有机", "手工", "保修", "质保",
    "保障", "包邮", "免费", "折扣", "打折", "优惠", "特价", "促销", "降价", "便宜",
    "实惠", "划算", "性价比", "退款", "退货", "赠品", "赠送", "发货", "送货", "新款",
    "最新", "上市", "正品", "进口", "专利",
)  # fmt: skip
ZH_ELSEWHERE = (
    "访问", "光临", "网站", "官网", "网店", "链接", "点击", "别家", "其他店", "淘宝",
    "京东", "天猫", "拼多多",
)  # fmt: skip
ZH_PROMPT_WORDS = ("事实", "句子", "文案", "指令", "购物者", "顾客", "客户", "商品信息")
ZH_FIRST_PERSON = ("我", "本店", "咱")
ZH_PROFANITY = ("他妈", "妈的", "傻逼", "狗屎", "混蛋", "王八蛋", "去死", "屁话")
# a sentence does not end on a conjunction
ZH_DANGLING = (
    "和", "与", "及", "或", "跟", "以及", "而且", "并且", "但是", "因为", "所以", "还有",
)  # fmt: skip
_ZH_BRACKETS = (("（", "）"), ("【", "】"), ("《", "》"), ("「", "」"), ("『", "』"), ("“", "”"))
# bracketed parts and a trailing size or pack of a title ("保温杯（黑色）500ml"): a shorter name
_BRACKETED = re.compile(r"\s*(?:（[^（）]*）|【[^【】]*】|\[[^\[\]]*\]|\([^()]*\))\s*")
_SIZE_TAIL = re.compile(
    r"[\s,，/]*\d+(?:\.\d+)?\s*(?:ml|毫升|l|升|g|克|kg|千克|公斤|cm|厘米|mm|毫米|寸|码|"
    r"件装|只装|双装|支装|瓶装|盒装|片装|包|瓶|盒|片|粒|支|件|双|只)$",
    re.IGNORECASE,
)
BRAND_KEYS = ("brand", "品牌", "manufacturer")

# Chinese numerals: digits, units, and the runs they form ("五百", "两千五", "3千", "1.5万")
_ZH_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
    "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}
_ZH_NUMERALS = "零〇一二两三四五六七八九十百千万亿"
_ZH_NUMBER = re.compile(rf"\d+(?:[.,]\d+)*(?:[{_ZH_NUMERALS}]+)?|[{_ZH_NUMERALS}]+")
# words with a numeral in them that state no number ("一起", "十分", "百搭", "四季")
ZH_NUMERAL_WORDS = (
    "一起", "一定", "一直", "一样", "一些", "一切", "一般", "一流", "一致", "一体",
    "一贯", "一向", "一点", "一下", "一旦", "一边", "一同", "一身", "一路", "一眼",
    "一手", "一心", "一来", "一整天", "一年四季", "一应俱全", "一如既往", "一丝不苟",
    "一尘不染", "一目了然", "一见钟情", "一针一线", "一举两得", "独一无二", "唯一",
    "统一", "同一", "专一", "万一", "十分", "十足", "十全十美", "千万", "万分", "万千",
    "百搭", "百变", "万能", "万用", "千姿百态", "三思", "两全其美", "两者", "五彩",
    "五颜六色", "七彩", "四季", "四面八方", "一方面", "第一时间",
)  # fmt: skip
# after a lone 一 these make it a quantity ("一年保修"); otherwise it is an article ("一款")
_ZH_MEASURES = (
    "年", "折", "倍", "天", "月", "周", "星期", "小时", "分钟", "秒", "升", "毫升",
    "克", "千克", "公斤", "斤", "米", "厘米", "毫米", "寸", "码", "元", "块", "岁",
    "度", "%", "成",
)  # fmt: skip
_ZH_PERCENT = re.compile(rf"百分之|[%％]|(?:\d|[{_ZH_NUMERALS}])折")


def chinese_number(token: str) -> float | None:
    """The value of a number written with Chinese numerals, maybe after digits (None if none).

    Example:
        >>> [chinese_number(t) for t in ("三", "五百", "两千五", "3千", "1.5万", "二〇二四")]
        [3.0, 500.0, 2500.0, 3000.0, 15000.0, 2024.0]
    """
    lead = re.match(r"\d+(?:\.\d+)?", token)
    rest = token[lead.end() :] if lead else token
    if not rest or any(
        ch not in _ZH_DIGITS and ch not in _ZH_UNITS and ch not in _ZH_BIG for ch in rest
    ):
        return float(lead.group()) if lead and not rest else None
    if lead is None and len(rest) > 1 and all(ch in _ZH_DIGITS for ch in rest):
        return float("".join(str(_ZH_DIGITS[ch]) for ch in rest))  # 二〇二四: digit by digit
    total = section = 0.0
    number = float(lead.group()) if lead else 0.0
    seen = lead is not None
    last_unit = 0
    for i, ch in enumerate(rest):
        if ch in _ZH_DIGITS:
            number, seen = float(_ZH_DIGITS[ch]), True
            if i == len(rest) - 1 and last_unit >= 100 and rest[i - 1] in _ZH_UNITS:
                number *= last_unit / 10  # 两千五: 2500, 三百五: 350
        elif ch in _ZH_UNITS:
            last_unit = _ZH_UNITS[ch]
            section += (number if seen else 1.0) * last_unit
            number, seen = 0.0, False
        else:
            section = (section + number) * _ZH_BIG[ch] or float(_ZH_BIG[ch])
            total += section
            section, number, seen, last_unit = 0.0, 0.0, False, 0
    return total + section + number


def _zh_numbers(text: str) -> list[tuple[str, float | None]]:
    """Numbers a Chinese text states: ``(token, value)``; value None for plain digits."""
    for word in ZH_NUMERAL_WORDS:
        text = text.replace(word, " ")
    found: list[tuple[str, float | None]] = []
    for match in _ZH_NUMBER.finditer(text):
        token = match.group()
        if re.fullmatch(r"\d+(?:[.,]\d+)*", token):
            found.append((token, None))
            continue
        if token == "一" and not text[match.end() :].lstrip().startswith(_ZH_MEASURES):
            continue  # "一款", "一双": an article, not a count
        found.append((token, chinese_number(token)))
    return found


def _number_values(facts: ItemFacts) -> set[float]:
    """Every number the facts state, by value (digits and Chinese numerals)."""
    values: set[float] = set()
    for token, value in _zh_numbers(unicodedata.normalize("NFKC", facts.fact_text())):
        if value is None:
            for reading in (token.replace(",", ""), token.replace(",", ".")):
                number = _float(reading)
                if number is not None:
                    values.add(number)
        else:
            values.add(value)
    if facts.price is not None:
        values.add(float(facts.price))
    return values


def title_names(title: str) -> list[str]:
    """The names a title goes by: itself, its core, and without bracketed parts or a size.

    Example:
        >>> title_names("【新品】保温杯（黑色）500ml")
        ['【新品】保温杯（黑色）500ml', '【新品】保温杯（黑色）', '保温杯 500ml', '保温杯']
    """
    title = title.strip()
    names = [title, core_title(title)]
    bare = _BRACKETED.sub(" ", title).strip()
    names += [_SIZE_TAIL.sub("", title).strip(), bare, _SIZE_TAIL.sub("", bare).strip()]
    names = [n for n in names if len(compact(n)) >= 2]
    return list(dict.fromkeys(names))


def product_names(facts: ItemFacts) -> list[str]:
    """The names of the product pitched: :func:`title_names`, also without a leading brand.

    The brand is the ``brand`` (or ``品牌``) attribute: "Nike 轻便跑鞋" is also "轻便跑鞋".
    """
    names = title_names(facts.title)
    brands = [v for k, v in facts.attributes if k.lower() in BRAND_KEYS and v.strip()]
    for brand in brands:
        names += [n[len(brand) :].strip() for n in names if n.lower().startswith(brand.lower())]
    return list(dict.fromkeys(n for n in names if len(compact(n)) >= 2))


def names_product(text: str, facts: ItemFacts) -> bool:
    """Whether ``text`` names the product: one of its :func:`product_names`.

    A Chinese name counts as a substring (Chinese has no word boundaries), any other as whole
    words.

    Example:
        >>> cup = ItemFacts("c1", "不锈钢保温杯（黑色）500ml")
        >>> names_product("这款不锈钢保温杯适合通勤。", cup)
        True
        >>> names_product("这款杯子很好。", cup)
        False
    """
    text_words, text_compact = normalize(text), compact(text)
    for name in product_names(facts):
        if _has_cjk(name):
            if compact(name) in text_compact:
                return True
        elif _contains(text_words, normalize(name)):
            return True
    return False


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
        # Chinese titles (any short name with a CJK character), matched as substrings
        self._cjk: list[tuple[str, str]] = []
        for item_id, title in pairs:
            cjk_names = {compact(n) for n in title_names(str(title)) if _has_cjk(n)}
            self._cjk += [(str(item_id), name) for name in sorted(cjk_names, key=len)]
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
        if self._cjk and _has_cjk(text):
            # no word boundaries: a name anywhere in a stretch of the text between masked titles,
            # unless it is part of a masked title itself ("跑步鞋" in "轻便男士跑步鞋")
            masked_list = list(masked)
            pieces = [
                compact(p) for p in _mask_titles(text, masked_list, token="\x00").split("\x00")
            ]
            own = [compact(t) for t in masked_list]
            for item_id, name in self._cjk:
                if item_id in allowed or item_id in found or any(name in o for o in own):
                    continue
                if any(name in piece for piece in pieces):
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
            if (
                not phrase
                or phrase in AMBIGUOUS_VOCAB
                or len(phrase) < (2 if _has_cjk(phrase) else 3)
            ):
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
        if _has_cjk(variant):  # Chinese has no word boundaries: the name anywhere
            text = re.sub(re.escape(variant), token, text, flags=re.I)
        else:
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


def _fragment_zh(text: str) -> bool:
    """Whether a Chinese sentence is not finished.

    No end mark, an ellipsis, a colon, unbalanced brackets, fewer than four Chinese characters or
    a conjunction before the end.
    """
    if not re.search(r"[。！？!?]$", text) or "..." in text or "…" in text:
        return True
    if re.search(r"[:：;；]", text) or sum(map(is_cjk, text)) < 4:
        return True
    if text.rstrip("。！？!? ").endswith(ZH_DANGLING):
        return True
    pairs = (*_ZH_BRACKETS, ("(", ")"), ("[", "]"))
    return any(text.count(a) != text.count(b) for a, b in pairs) or text.count('"') % 2 == 1


def _repetition_zh(text: str) -> bool:
    """Chinese said twice: a phrase twice in a row (舒适舒适) or any four characters twice."""
    if re.search(f"({_CJK}{{2,}})\\1", text):
        return True
    runs = re.findall(f"{_CJK}+", text)
    grams = [run[i : i + 4] for run in runs for i in range(len(run) - 3)]
    return len(grams) != len(set(grams))


def _odd_phrase(text: str) -> bool:
    if _MUST_IN.search(text) or _PLURAL_AFTER_A.search(text) or _GENRE_AS_PEOPLE.search(text):
        return True
    for match in _FOR_ANY.finditer(text):
        last = normalize(match.group(1)).split()[-1:]
        if last and stem(last[0]) not in AUDIENCE_NOUNS:
            return True
    return False


def _has_phrase(words: str, phrase: str) -> bool:
    """``phrase`` in ``words`` (both :func:`stems` form): whole words, or anywhere if Chinese."""
    if _has_cjk(phrase):
        return phrase.replace(" ", "") in words.replace(" ", "")
    return _contains(words, phrase)


def _invented_categories(text_stems: str, fact_stems: str, vocab: Mapping[str, str]) -> bool:
    """Whether the sentence names a category word that the product's facts do not."""
    allowed = {canon for phrase, canon in vocab.items() if _has_phrase(fact_stems, phrase)}
    return any(
        canon not in allowed and _has_phrase(text_stems, phrase) for phrase, canon in vocab.items()
    )


def validate(
    text: str,
    facts: ItemFacts,
    context: ShopperContext,
    names: CatalogNames | None = None,
    max_chars: int = 160,
    min_chars: int = 20,
    max_words: int = 14,
    max_chars_zh: int = 40,
    min_chars_zh: int = 6,
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
        max_chars_zh: longest Chinese text accepted, in characters (spaces not counted).
        min_chars_zh: shortest Chinese text accepted, in characters.

    Returns:
        A :class:`Verdict`; ``problems`` lists the broken rules in :data:`RULES` order.
    """
    stripped = text.strip()
    norm = normalize(stripped)
    if not norm:
        return Verdict(False, ("empty",))
    if context.language == "zh":
        return _validate_zh(stripped, facts, names, max_chars_zh, min_chars_zh)
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
    # words of another language, or Chinese where another language was asked for
    if (max(hits.values()) > 0 and own < max(hits.values())) or cjk_share([masked]) >= CJK_SHARE_ZH:
        problems.append("language")
    ordered = tuple(r for r in RULES if r in problems)
    return Verdict(not ordered, ordered)


def _validate_zh(
    text: str, facts: ItemFacts, names: CatalogNames | None, max_chars: int, min_chars: int
) -> Verdict:
    """:func:`validate` for a Chinese sentence.

    See the module docstring: substring names, character lengths, Chinese numerals, 。！？.
    """
    problems: list[str] = []
    if not min_chars <= len("".join(text.split())) <= max_chars:
        problems.append("length")
    own_names = product_names(facts) + ([facts.kind] if facts.kind else [])
    masked = _mask_titles(text, own_names)
    if _fragment_zh(masked):
        problems.append("fragment")
    if count_sentences(masked) > 1:
        problems.append("sentences")
    if names is not None and names.mentioned(text, {facts.item_id}, own_names, cased=False):
        problems.append("other_product")
    own_year = re.findall(r"\((\d{4})\)", facts.title)
    if _QUOTED.search(masked) or any(y not in own_year for y in _YEAR.findall(masked)):
        problems.append("other_title")
    text_stems, fact_stems = stems(masked), stems(facts.fact_text())
    if names is not None and _invented_categories(text_stems, fact_stems, names.vocabulary):
        problems.append("invented_category")
    facts_text = unicodedata.normalize("NFKC", facts.fact_text())
    folded = unicodedata.normalize("NFKC", masked)
    allowed, values = _allowed_numbers(facts), _number_values(facts)
    for token, value in _zh_numbers(folded):
        if value is None:  # digits: as in English, or the same value in other words
            reading = token.rstrip(".,")
            known = token in allowed or reading in allowed
            known = known or _float(reading.replace(",", "")) in values
        else:
            known = value in values
        if not known:
            problems.append("invented_number")
            break
    if _ZH_PERCENT.search(folded) and not _ZH_PERCENT.search(facts_text):
        problems.append("invented_number")
    text_c, facts_c = compact(masked), compact(facts.fact_text())
    if any(c in text_c and c not in facts_c for c in ZH_CLAIMS):
        problems.append("invented_claim")
    if any(w in text_c for w in ZH_ELSEWHERE):
        problems.append("elsewhere")
    if any(w in text_c for w in ZH_PROMPT_WORDS):
        problems.append("prompt_leak")
    if any(w in text_c for w in ZH_FIRST_PERSON):
        problems.append("first_person")
    if _repetition(normalize(masked).split(), facts.kind) or _repetition_zh(masked):
        problems.append("repetition")
    if set(normalize(text).split()) & PROFANITY or any(w in text_c for w in ZH_PROFANITY):
        problems.append("profanity")
    if _MARKUP.search(_mask_titles(masked, [facts.category]) if facts.category else masked):
        problems.append("markup")
    if cjk_share([masked.replace("PRODUCT", "")]) < CJK_SHARE_ZH:
        problems.append("language")
    ordered = tuple(r for r in RULES if r in problems)
    return Verdict(not ordered, ordered)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
