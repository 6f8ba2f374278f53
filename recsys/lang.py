"""Which language a shop's text is in, and the one Unicode normalisation applied at import.

A shop's language decides three things: the text model (``[text] model = "auto"``), the language
of reasons and template pitches, and whether the packaged English-only pitch model may write.
The rule is deliberately simple and stated: a text is Chinese (``zh``) when at least
:data:`CJK_SHARE_ZH` of its letters are CJK ideographs; otherwise English (``en``). Latin-script
languages are not told apart here (the ``[pitch] language`` setting names them).

Example:
    >>> detect_language(["轻便透气男士跑步鞋", "Trail shoes"])
    'zh'
    >>> normalize_text("ＡＢＣ　１２３，轻便")
    'ABC 123，轻便'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Literal, get_args

from recsys.errors import InvalidInputError

ShopLanguage = Literal["en", "zh"]
SHOP_LANGUAGES: tuple[str, ...] = get_args(ShopLanguage)
CJK_SHARE_ZH = 0.3  # share of a text's letters that are CJK ideographs from which it is Chinese

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


def cjk_share(texts: Iterable[str]) -> float:
    """Share of the letters in ``texts`` that are CJK ideographs (0.0 when there are none).

    Letters are characters whose Unicode category starts with ``L`` (digits, punctuation, emoji
    and spaces do not count either way).
    """
    letters = cjk = 0
    for text in texts:
        for char in text:
            if unicodedata.category(char).startswith("L"):
                letters += 1
                cjk += is_cjk(char)
    return cjk / letters if letters else 0.0


def detect_language(texts: Iterable[str]) -> ShopLanguage:
    """``zh`` when at least :data:`CJK_SHARE_ZH` of the letters are CJK ideographs, else ``en``."""
    return "zh" if cjk_share(texts) >= CJK_SHARE_ZH else "en"


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
    nfkc = unicodedata.normalize("NFKC", text.translate(_TO_PRIVATE)).translate(_FROM_PRIVATE)
    folded = _CONTROLS.sub("", _NEWLINES.sub("\n", nfkc))
    if not keep_lines:
        return _SPACES.sub(" ", folded).strip(" ")
    return _LINE_BREAKS.sub("\n", _SPACES_IN_LINE.sub(" ", folded)).strip(" \n")


def has_visible(text: str) -> bool:
    """Whether ``text`` has a letter, digit, symbol (emoji included) or punctuation mark."""
    return any(unicodedata.category(char)[0] in "LNSP" for char in text)


def bundle_language(manifest: dict[str, object]) -> ShopLanguage:
    """The catalog language a bundle was trained on (``manifest["catalog_language"]``).

    ``en`` for bundles written before it was recorded.
    """
    value = manifest.get("catalog_language")
    return "zh" if value == "zh" else "en"
