"""Which language a shop's text is in, and the one Unicode normalisation applied at import.

A shop's language decides three things: the text model (``[text] model = "auto"``), the language
of reasons and template pitches, and whether the packaged English-only pitch model may write.
The rules are deliberately simple and stated (:class:`ScriptShares` counts a CJK ideograph, a
kana, a Hangul or Thai character, or a word of another script as one unit):

* a text is Chinese (``zh``) when at least :data:`CJK_SHARE_ZH` of its units are CJK ideographs
  and under :data:`KANA_SHARE_MAX` are kana (Japanese mixes kanji with kana); otherwise ``en``,
  the language reasons and templates fall back to;
* MiniLM reads English only: when at least :data:`NON_LATIN_SHARE` of the units are in
  non-Latin scripts (Chinese, Japanese, Korean, Cyrillic, Arabic, Thai, ...), ``auto`` picks the
  multilingual model. Latin-script languages other than English (French, Spanish, ...) are not
  told apart from English here: such shops set ``[text] model = "multilingual"``.

Example:
    >>> detect_language(["轻便透气男士跑步鞋", "Trail shoes"])
    'zh'
    >>> normalize_text("ＡＢＣ　１２３，轻便")
    'ABC 123，轻便'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from recsys.errors import InvalidInputError

ShopLanguage = Literal["en", "zh"]
SHOP_LANGUAGES: tuple[str, ...] = get_args(ShopLanguage)
CJK_SHARE_ZH = 0.3  # share of a text's units that are CJK ideographs from which it is Chinese
KANA_SHARE_MAX = 0.05  # ... unless this much of it is kana (Japanese writes kanji with kana)
NON_LATIN_SHARE = 0.3  # share of units in non-Latin scripts from which MiniLM is the wrong model

# accepted spellings of ``?lang=`` and ``--lang`` (BCP 47 tags are matched on their first part)
_ALIASES = {"en": "en", "zh": "zh", "cn": "zh"}


def is_cjk(char: str) -> bool:
    """Whether ``char`` is a CJK ideograph (unified, extension A, compatibility)."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FA1F
    )


def _is_kana(code: int) -> bool:
    return 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F


def _is_syllabic(code: int) -> bool:
    """Whether a script is read one character at a time: kana, Hangul syllables, Thai.

    (A CJK ideograph is one too, counted apart.)
    """
    return _is_kana(code) or 0xAC00 <= code <= 0xD7AF or 0x0E00 <= code <= 0x0E7F


def _is_latin(code: int) -> bool:
    return code < 0x0250 or 0x1E00 <= code <= 0x1EFF or 0xFF21 <= code <= 0xFF5A


@dataclass(frozen=True)
class ScriptShares:
    """How a text divides between scripts, in *units*.

    A CJK ideograph, a kana, a Hangul or Thai character is a unit; so is a word of any other
    script (a run of its letters). A Chinese
    character carries about as much as an English word, so ``华为 HUAWEI MateBook 笔记本电脑`` is
    mostly Chinese (7 units of 9), although most of its letters are Latin.
    """

    units: int
    cjk: float  # share of units that are CJK ideographs
    kana: float  # share of units that are Japanese kana
    non_latin: float  # share of units in any script but Latin (CJK, kana, Cyrillic, ...)


def script_shares(texts: Iterable[str]) -> ScriptShares:
    """Count the units of ``texts`` by script.

    Digits, punctuation, emoji and spaces count neither way; all shares are 0.0 without letters.
    """
    units = cjk = kana = latin = 0
    for text in texts:
        word: bool | None = None  # None: not inside a word; else: whether the word is Latin
        for char in text:
            code = ord(char)
            if not unicodedata.category(char).startswith("L"):
                word = None
            elif is_cjk(char) or _is_syllabic(code):
                units += 1
                cjk += is_cjk(char)
                kana += _is_kana(code)
                word = None
            elif word is None:  # the first letter of a word
                word = _is_latin(code)
                units += 1
                latin += word
    if not units:
        return ScriptShares(0, 0.0, 0.0, 0.0)
    return ScriptShares(units, cjk / units, kana / units, (units - latin) / units)


def cjk_share(texts: Iterable[str]) -> float:
    """Share of the units of ``texts`` that are CJK ideographs (see :class:`ScriptShares`)."""
    return script_shares(texts).cjk


def language_of(shares: ScriptShares) -> ShopLanguage:
    """``zh`` when enough units are CJK ideographs and almost none are kana, else ``en``.

    Thresholds: :data:`CJK_SHARE_ZH` and :data:`KANA_SHARE_MAX` (Japanese mixes kanji with kana).
    """
    chinese = shares.cjk >= CJK_SHARE_ZH and shares.kana < KANA_SHARE_MAX
    return "zh" if chinese else "en"


def detect_language(texts: Iterable[str]) -> ShopLanguage:
    """The language of ``texts`` by :func:`language_of` (``zh`` or ``en``)."""
    return language_of(script_shares(texts))


def parse_language(value: str | None) -> ShopLanguage | None:
    """Read a language a caller asked for (``?lang=``): ``en``, ``zh``, ``zh-CN``, ``zh-TW``.

    Returns:
        The shop language, or None when ``value`` is None or blank (use the catalog's).

    Raises:
        InvalidInputError: for a language the engine does not write.
    """
    if value is None or not value.strip():
        return None
    head = value.strip().replace("_", "-").split("-")[0].lower()
    if head not in _ALIASES:
        raise InvalidInputError(
            f"lang={value!r} is not supported: use one of {list(SHOP_LANGUAGES)} "
            "(zh-CN and zh-TW are read as zh)"
        )
    return _ALIASES[head]  # type: ignore[return-value]


# Unicode White_Space, and the control characters (Cc) that are not white space; the same
# classes are written for polars (Rust regex) in ``recsys.store.importing``
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
CONTROLS = "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"
_NEWLINES = re.compile("\r\n|\r")
_CONTROLS = re.compile(f"[{CONTROLS}]")
_SPACES = re.compile(f"[{WHITE_SPACE}]+")
_SPACES_IN_LINE = re.compile("[" + WHITE_SPACE.replace("\n", "") + "]+")
_LINE_BREAKS = re.compile("( ?\n ?)+")


# Full-width punctuation that Chinese text uses on purpose (，not ,): NFKC would fold it to ASCII,
# so it is kept. Each mark is swapped for a private-use code point around NFKC and back (the
# importer's polars expression does the same swap); the private-use characters U+F0000-U+F0007
# in the input read back as those marks.
KEPT_PUNCTUATION = "！（），：；？～"
_SWAPS = {mark: chr(0xF0000 + k) for k, mark in enumerate(KEPT_PUNCTUATION)}
_TO_PRIVATE = str.maketrans(_SWAPS)
_FROM_PRIVATE = str.maketrans({v: k for k, v in _SWAPS.items()})


def normalize_text(text: str, keep_lines: bool = False) -> str:
    r"""NFKC, control characters dropped, runs of white space made one space, ends trimmed.

    NFKC folds full-width Latin letters and digits (``ＡＢＣ１２３``) to ASCII, the ideographic
    space to a space and compatibility ideographs to their unified forms, so the same product
    typed two ways embeds, dedupes and matches as one. The full-width punctuation of Chinese
    text (:data:`KEPT_PUNCTUATION`: ``，（）：；？！～``) is kept: a copy editor would not
    accept ``轻便,透气`` for ``轻便，透气``. Format characters that carry meaning (zero-width
    joiners inside emoji, right-to-left marks) are kept.

    Args:
        text: the text.
        keep_lines: keep line breaks (``\r\n`` and ``\r`` read as ``\n``; a run of breaks
            and blank lines becomes one); for descriptions.
    """
    # controls go first: "e\x00\u0301" must compose to "é" here, not on a second pass
    cleaned = _CONTROLS.sub("", _NEWLINES.sub("\n", text)).translate(_TO_PRIVATE)
    folded = unicodedata.normalize("NFKC", cleaned).translate(_FROM_PRIVATE)
    if not keep_lines:
        return _SPACES.sub(" ", folded).strip(" ")
    return _LINE_BREAKS.sub("\n", _SPACES_IN_LINE.sub(" ", folded)).strip(" \n")


# The characters a title may not consist of alone: control (Cc), format (Cf) and white-space
# (Zs, Zl, Zp) characters of the Basic Multilingual Plane, by Unicode 14 (tests/test_lang.py
# checks the list against Python's database). The API's schema (``api.openapi.VISIBLE_TITLE``)
# and the importer (a polars expression) are built from this one list, so a title the schema
# accepts is one the importer accepts.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0020),
    (0x007F, 0x00A0),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x2064),
    (0x2066, 0x206F),
    (0x3000, 0x3000),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
)


def invisible_class(escape: Callable[[int], str]) -> str:
    """The body of a regex character class of :data:`INVISIBLE_RANGES`.

    ``escape`` writes one code point in the regex dialect at hand.
    """
    return "".join(
        escape(lo) if lo == hi else f"{escape(lo)}-{escape(hi)}" for lo, hi in INVISIBLE_RANGES
    )


_VISIBLE = re.compile("[^" + invisible_class(lambda c: f"\\u{c:04x}") + "]")


def has_visible(text: str) -> bool:
    """Whether ``text`` has a character outside :data:`INVISIBLE_RANGES`.

    That is a letter, digit, mark, symbol, emoji, punctuation mark, or any other character that
    is not a control, format or white-space character.
    """
    return _VISIBLE.search(text) is not None


def bundle_language(manifest: dict[str, object]) -> ShopLanguage:
    """The catalog language a bundle was trained on (``manifest["catalog_language"]``).

    ``en`` for bundles written before it was recorded.
    """
    value = manifest.get("catalog_language")
    return "zh" if value == "zh" else "en"
