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
- ``unstated_detail`` (English): a colour, a size or body measurement, an age, or a body or
  life situation (pregnant, petite, curvy...) that the product's own facts (title, kind,
  category, attributes) do not state. Its description does not count: a description's sizes,
  colours and situations are often a reviewer's or another variant's, and the model pins them
  on the product ("a great choice for a 29-inch inseam", "perfect for a solid size 30/8",
  "anyone who loves a light blue color", "a great sleep bra for pregnant women").
- ``unknown_name`` (English): a capitalised word mid-sentence that is in no fact (an invented
  actor, place or publisher).
- ``elsewhere`` (English): sends the shopper elsewhere ("visit", "shop", "store", "instead").
- ``prompt_leak`` (English): the prompt's words ("product", "shopper", "facts", "sentence") or
  addressing the shop ("your customers").
- ``first_person`` (English): the model speaks as a reviewer ("I love these shorts").
- ``negative`` (English): it finds fault with the product, as the reviews it was shown do
  ("a dull off white color", "but it's shorter than the 27-inch height they say").
- ``repetition``: a word (or its plural) twice in a row, a content word twice (the product's
  kind aside), or a repeated word triple.
- ``odd_phrase`` (English): phrasings the small model gets wrong: "a must-see in any ...",
  "for any ..." that ends on no audience or occasion ("a must-see for any romantic tale"), an
  article before a plural ("a romantic undertones"), genres standing for people ("a must-see
  for thrillers"), a possessive before the audience ("children's fans"), and the product's
  category label capitalised mid-sentence ("anyone who loves Jackets").
- ``profanity``: a word from a small profanity list.
- ``markup``: a link, e-mail address, markdown, code or a line break.
- ``language``: the text reads as another supported language than the configured one (a
  Chinese pitch must be Chinese by :func:`recsys.lang.detect_language`, and a pitch in any other
  language must not be).

Chinese (``zh``) sentences have no spaces and no capitals, so the rules read them differently:

- names are found as substrings (a title's short names, :func:`title_names`, are its core, the
  title without bracketed parts or a trailing size); only Chinese
  titles have Chinese names, looked up by name (:class:`CatalogNames`), and common words are
  none: a shortened name under three characters, a category or kind word, a short name inside
  five or more other titles ("杯子", "T恤", "小米");
- ``length`` counts characters (``min_chars_zh`` to ``max_chars_zh``, 6 to 40 by default:
  about as long as 14 English words), not words;
- ``fragment``: no end mark (。！？), an ellipsis, a colon or semicolon, unbalanced brackets
  (（）【】《》「」) or a dangling conjunction before the end (以及, 而且, ...; 和, 与, 及, 或, 跟
  after a comma or after any word but those they end: 柔和, 触手可及 and 鞋跟 are finished);
- ``sentences`` splits on 。！？ as well;
- ``invented_number`` reads Chinese numerals (三, 五百, 两千五, 一万五, 3千, 1万5, 一点五, 半小时)
  as well as digits, by value: ``五百毫升`` passes when the facts say 500; a percentage (50%,
  百分之五十) must be one of the facts' percentages and a discount (五折, 8.5折) one of their
  discounts; the article-like ``一`` (一款, 一个好帮手, but not 一年, 一个小时) and idioms (一起,
  十分, 百搭, 四季; but not 十分钟, 二十分, 三千万) are not numbers;
- ``invented_claim``, ``elsewhere``, ``prompt_leak``, ``first_person`` and ``profanity`` use
  short Chinese lists (保修, 包邮, 品牌, 纯棉, 第一, 全网, 最低, 限时, 秒杀, 买一送一, 券 ...;
  访问, 官网; 顾客, 文案; 我, 本店); a claim is checked against the facts' text and attribute
  values, not their keys ("质保: 无" states no warranty);
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
    "RULES_VERSION",
    "CatalogNames",
    "Verdict",
    "chinese_number",
    "core_title",
    "count_sentences",
    "normalize",
    "product_names",
    "validate",
]

# the rules' version, part of a cached pitch's key: raised when a rule rejects more, so a
# pitch cached under older rules is written afresh instead of served unchecked
RULES_VERSION = "r3"  # r2: unstated_detail; r3: its ages and situations

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
    "unstated_detail",
    "unknown_name",
    "elsewhere",
    "prompt_leak",
    "first_person",
    "negative",
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
# a possessive genre or group before the audience: "a must-see for children's fans"
_POSSESSIVE_AUDIENCE = re.compile(r"\b[a-z]+'s (?:fans|lovers|enthusiasts|buffs|viewers)\b", re.I)
# fault found with the product (clothing reviews complain, and the model repeats them)
NEGATIVE = re.compile(
    r"\b(?:dull|old-fashioned|frumpy|flimsy|itchy|scratchy|see-through|unflattering|"
    r"disappointing|boring|baggy|boxy|cheap(?:ly)?|wrinkles?|"
    r"(?:shorter|longer|smaller|bigger|tighter|looser) than|"
    r"too (?:short|long|big|small|tight|loose|thin|thick|low|high|sheer)|"
    r"runs? (?:small|large|big))\b"
    r"|\bbut (?:it|they)(?:'s| is| are|'re)\b",
    re.I,
)
# colour names a shopper takes literally (not words with another common sense: gold, silver,
# cream, tan, rust, wine, mint, peach, plum, nude...); one before a hyphen is a compound's part
# ("a white-knuckle thriller", "blue-collar"), not a colour
COLOURS = frozenset(
    [
        "red", "blue", "green", "yellow", "black", "white", "pink", "purple", "orange", "brown",
        "grey", "gray", "navy", "beige", "ivory", "teal", "burgundy", "maroon", "olive", "khaki",
        "coral", "lavender", "turquoise", "charcoal", "mauve", "magenta", "fuchsia", "indigo",
        "violet", "lilac", "mustard", "emerald", "taupe",
    ]
)  # fmt: skip
_COLOUR = re.compile(r"\b(" + "|".join(sorted(COLOURS)) + r")\b(?!-[a-z])", re.I)
# a size or a measurement: "size 8", "a 29-inch inseam", "5'5\"", "145lbs", "a 26-in", "30/8"
_MEASUREMENT = re.compile(
    r"\bsize\s+(\d+(?:[./]\d+)?)"
    r"|(\d+(?:\.\d+)?)\s*-?\s*(?:inch(?:es)?|cm|mm|lbs?|pounds?|kg|oz|ft|feet|foot)\b"
    r"|(\d+)-in\b"
    r"|(\d+)\s*(?:['′’](?!s\b)|[\"″”])"
    r"|\b(\d+/\d+)\b"
    r"|\b(\d+)[\s-]+years?[\s-]+old\b",
    re.I,
)
# a body or a life situation: a review's is the reviewer's ("a great sleep bra for pregnant
# women", "a great choice for a petite size"); the product suits it only when its own facts say
SITUATIONS = frozenset(
    [
        "pregnant", "pregnancy", "maternity", "nursing", "breastfeeding", "postpartum",
        "petite", "curvy", "busty", "plus-size", "cancer", "mastectomy",
    ]
)  # fmt: skip
_SITUATION = re.compile(r"\b(" + "|".join(sorted(SITUATIONS, key=len, reverse=True)) + r")\b", re.I)
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
_CJK_SEARCH = re.compile(_CJK)  # the characters recsys.lang.is_cjk accepts
# a word where a run of Chinese is one word, apart from the Latin words and digits around it
_WORD_CJK = re.compile(f"{_CJK}+|[^\\W_{_CJK_CHARS}]+", re.UNICODE)
# . ! ? before a space or the end; a Chinese 。！？ anywhere; ! ? right before a Chinese character
_SENTENCE_END = re.compile(f"[.!?]+(?=\\s|$)|[。！？]+|[!?]+(?={_CJK})")
_PERCENT = re.compile(r"%|\bpercent\b|\bprozent\b|\bpour ?cent\b|\bpor ?ciento\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”„«»《「『]|(?:^|\s)'[A-Z][^']{2,}'")
_YEAR = re.compile(r"\((1[89]\d\d|20\d\d)\)")


# every combining character (all below U+20000), deleted by str.translate: what accents become
_COMBINING = dict.fromkeys(cp for cp in range(0x20000) if unicodedata.combining(chr(cp)))


def normalize(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces (for substring matching).

    Example:
        >>> normalize("Café  Crème, 2-pack!")
        'cafe creme 2 pack'
    """
    plain = unicodedata.normalize("NFKD", text).translate(_COMBINING).lower()
    if _has_cjk(plain):  # a run of Chinese is one word, apart from Latin words and digits
        return " ".join(_WORD_CJK.findall(plain))
    return " ".join(_WORD.findall(plain))


def _has_cjk(text: str) -> bool:
    """Whether ``text`` has a CJK ideograph (:func:`recsys.lang.is_cjk`, as one regex search)."""
    return _CJK_SEARCH.search(text) is not None


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
# materials, warranties, offers, prices, popularity, and the absolute claims China's advertising
# law bans: 最佳, 第一, 国家级 ...). Not 最 alone (最近, 最适合 are fine), nor 送 alone (送给家人)
ZH_CLAIMS = (
    "品牌", "名牌", "大牌", "奢华", "奢侈", "限量", "独家", "获奖", "畅销", "热销",
    "爆款", "销量", "好评", "人气", "网红", "明星", "同款", "导演", "主演", "纯棉",
    "真皮", "羊毛", "羊绒", "丝绸", "亚麻", "防水", "有机", "手工", "保修", "质保",
    "保障", "包邮", "免费", "折扣", "打折", "优惠", "特价", "促销", "降价", "便宜",
    "实惠", "划算", "性价比", "退款", "退货", "赠品", "赠送", "发货", "送货", "新款",
    "最新", "上市", "正品", "进口", "专利",
    # absolute claims
    "最低", "最便宜", "最好", "最佳", "最优", "最强", "最棒", "最高级", "最先进", "最顶级",
    "最受欢迎", "最火", "第一", "首选", "首款", "全网", "全球", "全国", "顶级", "国家级",
    "世界级", "极致", "极品", "王牌", "冠军", "领先",
    # offers, prices and urgency
    "秒杀", "限时", "抢购", "满减", "立减", "直降", "半价", "低价", "底价", "买一送一",
    "加送", "附送", "券", "返现", "返利", "清仓", "包退", "包换", "退换", "运费",
    "下单", "仅剩", "库存", "手慢无", "快来", "赶快", "赶紧",
)  # fmt: skip
# words that contain a claim but state none ("第一时间": at once)
_ZH_CLAIM_EXCEPTIONS = ("第一时间",)
ZH_ELSEWHERE = (
    "访问", "光临", "网站", "官网", "网店", "链接", "点击", "别家", "其他店", "淘宝",
    "京东", "天猫", "拼多多",
)  # fmt: skip
ZH_PROMPT_WORDS = ("事实", "句子", "文案", "指令", "购物者", "顾客", "客户", "商品信息")
ZH_FIRST_PERSON = ("我", "本店", "咱")
ZH_PROFANITY = ("他妈", "妈的", "傻逼", "狗屎", "混蛋", "王八蛋", "去死", "屁话")
# a sentence does not end on a conjunction: these anywhere before the end mark
ZH_DANGLING = (
    "以及", "并且", "而且", "或者", "还有", "同时", "但是", "不过", "然而", "而是", "因为",
    "所以", "以便", "例如", "比如", "抑或",
)  # fmt: skip
# one-character conjunctions: dangling at the end right after a comma, or after any word but
# the common words they end (柔和, 温和, 触手可及, 鞋跟 are finished sentences)
ZH_DANGLING_CHARS = "和与及或跟"
ZH_WORDS_ENDING_LIKE_A_CONJUNCTION = (
    "柔和", "温和", "暖和", "平和", "缓和", "祥和", "谦和", "随和", "调和", "中和", "饱和",
    "总和", "融和", "和和", "可及", "普及", "涉及", "不及", "企及", "所及", "遍及", "顾及",
    "来得及", "参与", "给与", "鞋跟", "高跟", "后跟", "脚跟", "平跟", "低跟", "中跟", "粗跟",
    "细跟", "坡跟", "紧跟",
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
# attribute values that say "yes": the key itself is then a fact ("防水: 是" states 防水)
_YES = frozenset({"是", "有", "支持", "yes", "true", "y", "1", "✓", "√"})
# a Chinese product name shorter than this is no name when it is not the whole title: "T恤"
# from "T恤（白色）" is a common word, not a product
MIN_DERIVED_NAME_CHARS_ZH = 3
# a Chinese name of at most GENERIC_NAME_CHARS characters that is inside at least
# GENERIC_TITLES other titles is a common word of the catalog ("水杯", "小米"), not a product
GENERIC_TITLES = 5
GENERIC_NAME_CHARS = 6

# Chinese numerals: digits, units, and the runs they form ("五百", "两千五", "3千", "1.5万")
_ZH_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
    "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}
_ZH_DIGIT_CHARS = "零〇一二两三四五六七八九"
_ZH_NUMERALS = "零〇一二两三四五六七八九十百千万亿"
_DIGIT_RUN = r"\d+(?:[.,]\d+)*"
# digits and numerals mixed ("1万5", "3千"), with a decimal 点 between numerals ("一点五")
_ZH_NUMBER = (
    rf"(?:{_DIGIT_RUN}|[{_ZH_NUMERALS}])"
    rf"(?:{_DIGIT_RUN}|[{_ZH_NUMERALS}]|(?<=[{_ZH_NUMERALS}])点(?=[{_ZH_DIGIT_CHARS}]))*"
)
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
# after a lone 一 (or 一个) these make it a quantity ("一年保修", "一个小时"); otherwise it is an
# article ("一款", "一个好帮手")
_ZH_MEASURES = (
    "年", "折", "倍", "天", "月", "周", "星期", "小时", "分钟", "秒", "升", "毫升",
    "克", "千克", "公斤", "斤", "米", "厘米", "毫米", "寸", "码", "元", "块", "岁",
    "度", "%", "成", "像素", "毫安", "瓦", "帧", "公里", "千米", "季度",
)  # fmt: skip
_MEASURE = "|".join(map(re.escape, sorted(_ZH_MEASURES, key=len, reverse=True)))
_MEASURE_AFTER = re.compile(rf"\s*个?(?:{_MEASURE})")
# an idiom is no number only with no numeral next to it and no unit after it: 十分 is "very",
# but 十分钟 is ten minutes, 二十分 twenty, 三千万 thirty million, 一点五 one and a half
_ZH_IDIOM = re.compile(
    rf"(?<![{_ZH_NUMERALS}\d点.])"
    + "(?:"
    + "|".join(map(re.escape, sorted(ZH_NUMERAL_WORDS, key=len, reverse=True)))
    + ")"
    + rf"(?![{_ZH_NUMERALS}\d]|钟|\s*个?(?:{_MEASURE}))"
)
# a quantity: a number, maybe 百分之 before it (a percentage), 个半 after it (and a half), and
# % or 折 after it (a percentage, a discount: not 折叠, 折扣); 百分百; 半 before a unit
_FOLD_WORDS = "叠扣痕射服腾纸断合弯线页边角起"
_ZH_QUANTITY = re.compile(
    r"(?P<full>百分之?百)"
    rf"|(?P<pct>百分之)?(?P<num>{_ZH_NUMBER})"
    rf"(?P<half>个半(?=\s*(?:{_MEASURE})))?"
    rf"(?P<unit>\s*[%％]|折(?![{_FOLD_WORDS}]))?"
    rf"|(?<![{_ZH_NUMERALS}\d])(?P<halfonly>半)(?=\s*个?(?:{_MEASURE}))"
)


@dataclass(frozen=True)
class Quantity:
    """One number a Chinese text states.

    Attributes:
        token: the text of it (``"五百"``, ``"3000"``, ``"百分之五十"``, ``"五折"``).
        value: its value; None for plain digits (compared as written, like English numbers).
        kind: ``""``, ``"percent"`` (50%, 百分之五十: value 50) or ``"discount"`` (五折: 5).
    """

    token: str
    value: float | None
    kind: str = ""


def _digits_value(text: str) -> float:
    """Digits with thousands commas (``3,000``) or a decimal point or comma (``1.5``, ``1,5``)."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        return float(text.replace(",", ""))
    return float(text.replace(",", "."))


def chinese_number(token: str) -> float | None:
    """The value of a number in Chinese numerals, digits or both (None if it is none).

    Units multiply what is before them (三千万: 30,000,000); a single digit after a unit of a
    hundred or more stands for the next lower place (两千五: 2500, 一万五: 15,000, 1万5:
    15,000); 点 is a decimal point (一点五: 1.5); numerals without a unit are read digit by
    digit (二〇二四: 2024).

    Example:
        >>> [chinese_number(t) for t in ("三", "五百", "两千五", "3千", "1.5万", "二〇二四")]
        [3.0, 500.0, 2500.0, 3000.0, 15000.0, 2024.0]
        >>> [chinese_number(t) for t in ("一万一千", "三万五", "1万5", "一点五", "三千万")]
        [11000.0, 35000.0, 15000.0, 1.5, 30000000.0]
    """
    if re.fullmatch(_DIGIT_RUN, token):
        return _digits_value(token)
    whole, _, fraction = token.partition("点")
    scale = 1.0
    if fraction:  # 一点五 (1.5), 一点五万 (15,000): decimals, then maybe 万 or 亿
        digits = fraction.rstrip("万亿")
        if not digits or any(ch not in _ZH_DIGITS for ch in digits):
            return None
        for big in fraction[len(digits) :]:
            scale *= _ZH_BIG[big]
    atoms: list[tuple[str, float | None]] = []  # (text, value): value None for a unit
    for match in re.finditer(rf"{_DIGIT_RUN}|.", whole, flags=re.S):
        part = match.group()
        if part[0].isdigit():
            atoms.append((part, _digits_value(part)))
        elif part in _ZH_DIGITS:
            atoms.append((part, float(_ZH_DIGITS[part])))
        elif part in _ZH_UNITS or part in _ZH_BIG:
            atoms.append((part, None))
        else:
            return None
    if not atoms:
        return None
    if fraction:
        decimals = float("0." + "".join(str(_ZH_DIGITS[ch]) for ch in digits))
        integer = chinese_number(whole)
        return None if integer is None else (integer + decimals) * scale
    if len(atoms) > 1 and all(text in _ZH_DIGITS for text, _ in atoms):
        return float("".join(str(_ZH_DIGITS[text]) for text, _ in atoms))  # 二〇二四
    total = section = 0.0
    number: float | None = None
    last_unit = 0
    after_unit = False
    for i, (text, value) in enumerate(atoms):
        if value is not None:
            number = value
            single = len(text) == 1
            if i == len(atoms) - 1 and after_unit and last_unit >= 100 and single:
                number = value * last_unit / 10  # 两千五: 2500, 一万五: 15,000
            after_unit = False
            continue
        if text in _ZH_UNITS:
            last_unit = _ZH_UNITS[text]
            section += (1.0 if number is None else number) * last_unit
        elif text == "万":
            last_unit = _ZH_BIG[text]
            total += (section + (number or 0.0) or 1.0) * last_unit
            section = 0.0
        else:  # 亿: everything before it is counted in 亿
            last_unit = _ZH_BIG[text]
            total = (total + section + (number or 0.0) or 1.0) * last_unit
            section = 0.0
        number, after_unit = None, True
    return total + section + (number or 0.0)


def _zh_quantities(text: str) -> list[Quantity]:
    """The numbers a Chinese text states, percentages and discounts marked.

    Idioms (一起, 十分, 百搭) are no numbers unless a numeral or a unit is next to them (十分钟);
    a lone 一 is an article (一款) unless a unit follows it (一年, 一个小时), and 每一 is "every"
    (每一天); 半 before a unit is
    0.5 (半小时), 个半 after a number adds 0.5 (一个半小时: 1.5).
    """
    text = _ZH_IDIOM.sub(" ", text)
    found: list[Quantity] = []
    for match in _ZH_QUANTITY.finditer(text):
        if match.group("full"):
            found.append(Quantity(match.group(), 100.0, "percent"))
            continue
        if match.group("halfonly"):
            found.append(Quantity(match.group(), 0.5))
            continue
        token, unit = match.group("num"), (match.group("unit") or "").strip()
        kind = "percent" if match.group("pct") or unit in ("%", "％") else ""
        kind = "discount" if unit == "折" and not kind else kind
        if not kind and not match.group("half") and re.fullmatch(_DIGIT_RUN, token):
            found.append(Quantity(token, None))
            continue
        value = chinese_number(token)
        if value is None:
            continue
        if (
            token == "一"
            and not kind
            and not match.group("half")
            and (not _MEASURE_AFTER.match(text, match.end()) or text[: match.start()][-1:] == "每")
        ):
            continue  # "一款", "一双": an article; "每一天": every day; not a count
        if match.group("half"):
            value += 0.5
        if kind == "discount" and value >= 10:
            value /= 10  # 八五折, 95折: 8.5
        found.append(Quantity(match.group().strip(), value, kind))
    return found


def _zh_numbers(text: str) -> list[tuple[str, float | None]]:
    """Numbers a Chinese text states: ``(token, value)``; value None for plain digits."""
    return [(q.token, q.value) for q in _zh_quantities(text)]


def _rounded(value: float) -> float:
    return round(value, 6)


def _number_values(facts: ItemFacts) -> set[float]:
    """Every number the facts state, by value (digits and Chinese numerals)."""
    values: set[float] = set()
    for token, value in _zh_numbers(unicodedata.normalize("NFKC", facts.fact_text())):
        if value is None:
            for reading in (token.replace(",", ""), token.replace(",", ".")):
                number = _float(reading)
                if number is not None:
                    values.add(_rounded(number))
        else:
            values.add(_rounded(value))
    if facts.price is not None:
        values.add(_rounded(float(facts.price)))
    return values


def _zh_claim_text(facts: ItemFacts) -> str:
    """What a Chinese claim is checked against: the facts' text and attribute values.

    Attribute keys are not facts ("质保: 无" states no warranty), except a brand key with a value
    (the product has a brand: 品牌) and a key whose value says yes ("防水: 是").
    """
    parts = [facts.title, facts.kind, facts.category, facts.price_text, facts.description]
    for key, value in facts.attributes:
        parts.append(value)
        if key.lower() in BRAND_KEYS and value.strip():
            parts.append("品牌")
        elif value.strip().lower() in _YES:
            parts.append(key)
    return compact(" ".join(p for p in parts if p))


def _invented_claim_zh(text: str, facts: ItemFacts) -> bool:
    """Whether a Chinese sentence makes a claim (:data:`ZH_CLAIMS`) the facts do not."""
    text_c, facts_c = compact(text), _zh_claim_text(facts)
    for word in _ZH_CLAIM_EXCEPTIONS:
        text_c = text_c.replace(word, " ")
    if any(c in text_c and c not in facts_c for c in ZH_CLAIMS):
        return True
    offer = re.compile(rf"买[{_ZH_NUMERALS}\d]+送")  # 买二送一, 买1送1
    return any(m.group() not in facts_c for m in offer.finditer(text_c))


def _invented_number_zh(text: str, facts: ItemFacts) -> bool:
    """Whether a Chinese sentence states a number, percentage or discount the facts do not.

    Numbers compare by value (五百 is 500); a percentage must be one of the facts'
    percentages (百分之五十 is 50%), a discount (五折) must be in the facts as written or with the
    same value (5折).
    """
    facts_text = unicodedata.normalize("NFKC", facts.fact_text())
    allowed, values = _allowed_numbers(facts), _number_values(facts)
    stated = _zh_quantities(facts_text)
    percents = {_rounded(q.value) for q in stated if q.kind == "percent" and q.value is not None}
    discounts = {_rounded(q.value) for q in stated if q.kind == "discount" and q.value is not None}
    for quantity in _zh_quantities(unicodedata.normalize("NFKC", text)):
        token, value = quantity.token, quantity.value
        if value is None:  # digits: as in English, or the same value in other words
            reading = token.rstrip(".,")
            known = token in allowed or reading in allowed
            number = _float(reading.replace(",", ""))
            known = known or (number is not None and _rounded(number) in values)
        elif quantity.kind == "percent":
            known = _rounded(value) in percents
        elif quantity.kind == "discount":
            known = token in facts_text or _rounded(value) in discounts
        else:
            known = _rounded(value) in values
        if not known:
            return True
    return False


def title_names(title: str) -> list[str]:
    """The names a title goes by: itself, its core, and without bracketed parts or a size.

    Example:
        >>> title_names("【新品】保温杯（黑色）500ml")
        ['【新品】保温杯（黑色）500ml', '【新品】保温杯（黑色）', '保温杯 500ml', '保温杯']
    """
    return list(_title_names(title))


def _title_names(title: str) -> dict[str, str]:
    """:func:`title_names`, each with its :func:`compact` form (name -> compact name)."""
    title = title.strip()
    names = [title, core_title(title)]
    bare = _BRACKETED.sub(" ", title).strip()
    names += [_SIZE_TAIL.sub("", title).strip(), bare, _SIZE_TAIL.sub("", bare).strip()]
    out: dict[str, str] = {}
    for name in names:
        if name not in out and len(short := compact(name)) >= 2:
            out[name] = short
    return out


def product_names(facts: ItemFacts) -> list[str]:
    """The names of the product pitched: :func:`title_names`, also without a leading brand.

    The brand is the ``brand`` (or ``品牌``) attribute: "Nike 轻便跑鞋" is also "轻便跑鞋".
    """
    names = title_names(facts.title)
    brands = [v for k, v in facts.attributes if k.lower() in BRAND_KEYS and v.strip()]
    for brand in brands:
        names += [n[len(brand) :].strip() for n in names if n.lower().startswith(brand.lower())]
    return list(dict.fromkeys(n for n in names if len(compact(n)) >= 2))


class CatalogNames:
    """What a sentence may not name: the catalog's titles and its category vocabulary.

    Chinese titles are matched as substrings (no word boundaries), by their short names
    (:func:`title_names`) kept in :attr:`cjk_names`, a dict keyed by name; a sentence is checked
    by looking up its substrings of the lengths those names have. A Chinese name is no product
    name when it is a common word of the catalog: a shortened name under
    :data:`MIN_DERIVED_NAME_CHARS_ZH` characters ("T恤" from "T恤（白色）"), a category or kind
    word of the vocabulary ("杯子"), or a short name inside :data:`GENERIC_TITLES` or more other
    titles ("小米" in "小米手环8", "小米电视", ...).

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
        vocabulary = list(vocabulary)
        # first word -> [(item id, words, single)]; "single": one distinctive word ("Heat",
        # "The Crow"), matched only when capitalised mid-sentence
        self._by_first: dict[str, list[tuple[str, tuple[str, ...], bool]]] = {}
        self._count = 0
        # Chinese short names (compact form, with a CJK character) -> ids of the items so named
        self.cjk_names: dict[str, list[str]] = {}
        cjk_titles: list[tuple[str, str]] = []  # (item id, compact title)
        for item_id, title in pairs:
            item_id, title = str(item_id), str(title)
            if _has_cjk(title):  # only Chinese titles have Chinese names: English ones skip this
                full = compact(title)
                cjk_titles.append((item_id, full))
                for short in _title_names(title).values():
                    if not _has_cjk(short) or (
                        short != full and len(short) < MIN_DERIVED_NAME_CHARS_ZH
                    ):
                        continue
                    owners = self.cjk_names.setdefault(short, [])
                    if item_id not in owners:
                        owners.append(item_id)
            words = tuple(normalize(core_title(title)).split())
            content = [w for w in words if w not in STOPWORDS]
            if not content:
                continue
            single = len(content) == 1
            key = content[0] if single else words[0]
            match = (content[0],) if single else words
            self._by_first.setdefault(key, []).append((item_id, match, single))
            self._count += 1
        self._drop_common_names(cjk_titles, vocabulary)
        # the lengths the Chinese names have, shortest first (a sentence's substrings looked up)
        self._cjk_lengths = sorted({len(name) for name in self.cjk_names})
        self.vocabulary = _vocabulary(vocabulary)

    def _drop_common_names(self, titles: list[tuple[str, str]], vocabulary: list[str]) -> None:
        """Drop Chinese names that are common words: category/kind words, names in many titles."""
        words = {compact(part) for word in vocabulary for part in re.split(r"[|,/;>]", str(word))}
        for name in words & self.cjk_names.keys():
            del self.cjk_names[name]
        short = {name for name in self.cjk_names if len(name) <= GENERIC_NAME_CHARS}
        if not short:
            return
        lengths = sorted({len(name) for name in short})
        inside: dict[str, int] = {}  # name -> titles it is inside, its own items' aside
        for item_id, full in titles:
            found = {full[i : i + n] for n in lengths for i in range(len(full) - n + 1)} & short
            for name in found:
                if item_id not in self.cjk_names[name]:
                    inside[name] = inside.get(name, 0) + 1
        for name, count in inside.items():
            if count >= GENERIC_TITLES:
                del self.cjk_names[name]

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
        if self.cjk_names and _has_cjk(text):
            # no word boundaries: a name anywhere in a stretch of the text between masked titles,
            # unless it is part of a masked title itself ("跑步鞋" in "轻便男士跑步鞋")
            masked_list = list(masked)
            pieces = [
                compact(p) for p in _mask_titles(text, masked_list, token="\x00").split("\x00")
            ]
            own = [compact(t) for t in masked_list]
            for piece in pieces:
                for name in self._cjk_names_in(piece):
                    if any(name in o for o in own):
                        continue
                    found += [
                        i for i in self.cjk_names[name] if i not in allowed and i not in found
                    ]
        return found

    def _cjk_names_in(self, piece: str) -> list[str]:
        """The Chinese names that are substrings of ``piece`` (compact), in text order."""
        found: list[str] = []
        for start in range(len(piece)):
            for length in self._cjk_lengths:
                if start + length > len(piece):
                    break
                name = piece[start : start + length]
                if name in self.cjk_names and name not in found:
                    found.append(name)
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
    if _dangling_zh(text.rstrip("。！？!? ")):
        return True
    pairs = (*_ZH_BRACKETS, ("(", ")"), ("[", "]"))
    return any(text.count(a) != text.count(b) for a, b in pairs) or text.count('"') % 2 == 1


def _dangling_zh(text: str) -> bool:
    """Whether a Chinese sentence (without its end mark) ends on a conjunction.

    Example:
        >>> [_dangling_zh(t) for t in ("适合上班族和", "触感格外柔和", "触手可及", "轻便，以及")]
        [True, False, False, True]
    """
    if text.endswith(ZH_DANGLING):
        return True
    if not text or text[-1] not in ZH_DANGLING_CHARS:
        return False
    if len(text) == 1 or text[-2] in "，,、；;：:":
        return True
    return not text.endswith(ZH_WORDS_ENDING_LIKE_A_CONJUNCTION)


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
    if _POSSESSIVE_AUDIENCE.search(text):
        return True
    for match in _FOR_ANY.finditer(text):
        last = normalize(match.group(1)).split()[-1:]
        if last and stem(last[0]) not in AUDIENCE_NOUNS:
            return True
    return False


def _category_label(text: str, category: str) -> bool:
    """Whether the product's capitalised category label stands mid-sentence ("loves Jackets").

    Example:
        >>> _category_label("This coat is a must-buy for anyone who loves Jackets.", "Jackets")
        True
        >>> _category_label("This coat is a must-buy for anyone who loves jackets.", "Jackets")
        False
    """
    if not category[:1].isupper():
        return False
    return bool(re.search(r"(?<=[\s(])" + re.escape(category) + r"\b", text))


def _unstated_detail(text: str, facts: ItemFacts) -> bool:
    """Whether ``text`` gives a colour or a size that the product's own facts do not state.

    Its own facts are the title, kind, category and attribute values; the description is not
    one of them (its sizes and colours are often a reviewer's or another variant's).

    Example:
        >>> dress = ItemFacts("1", "Dress 1", kind="dress", description="I'm a size 8 in blue.")
        >>> _unstated_detail("This dress is perfect for a size 8.", dress)
        True
        >>> _unstated_detail("This dress is perfect for a white-knuckle night out.", dress)
        False
        >>> blue = ItemFacts("2", "Dress 2", kind="dress", attributes=(("colour", "light blue"),))
        >>> _unstated_detail("This dress is a light blue dream.", blue)
        False
    """
    own = " ".join([facts.title, facts.kind, facts.category, *(v for _, v in facts.attributes)])
    own_words = set(normalize(own).split())
    for words in (_COLOUR, _SITUATION):  # each stated word must be among the own facts' words
        if any(not set(normalize(m.group(1)).split()) <= own_words for m in words.finditer(text)):
            return True
    own_numbers = set(re.findall(r"\d+(?:[./]\d+)?", own))
    for match in _MEASUREMENT.finditer(text):
        number = next(g for g in match.groups() if g is not None)
        if number not in own_numbers:
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
        if _unstated_detail(masked, facts):
            problems.append("unstated_detail")
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
        if NEGATIVE.search(stripped.replace("’", "'")):
            problems.append("negative")
    if _repetition(normalize(masked).split(), facts.kind):
        problems.append("repetition")
    if english and (_odd_phrase(masked) or _category_label(masked, facts.category)):
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
    if _invented_number_zh(masked, facts):
        problems.append("invented_number")
    if _invented_claim_zh(masked, facts):
        problems.append("invented_claim")
    text_c = compact(masked)
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
