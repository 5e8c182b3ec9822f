"""Core Vietnamese text primitives shared by every other module.

* :func:`nfc` — canonical Unicode composition.
* :func:`clean_spacing` — trim and collapse white space (incl. NBSP, tabs).
* :func:`fold_diacritics` — ASCII skeleton: every tone and vowel mark
  removed, and đ/Đ (and the look-alike Ð U+00D0 / ð U+00F0) mapped to d/D,
  which Unicode decomposition does not do.
* :func:`set_tone_style` — move the tone mark of open ``oa``, ``oe``, ``uy``
  syllables between the two conventions in use:

  - ``"old"`` (kiểu cũ, the mark on the first vowel): hòa, khỏe, thủy;
  - ``"new"`` (kiểu mới, the mark on the second vowel): hoà, khoẻ, thuỷ.

  Syllables with a final consonant (hoàn, huỳnh, suýt) and ``qu`` + y (quý,
  where ``u`` belongs to the consonant) are never touched: both conventions
  write them the same way.
* :func:`map_unique` — apply a scalar function to a pandas column once per
  distinct value (names repeat a lot).

All functions accept any ``str`` and never raise on odd input; ``None`` and
NaN pass through :func:`map_unique` unchanged.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable, Literal

import pandas as pd

__all__ = [
    "TONE_MARKS",
    "VOWEL_MARK_DROP",
    "nfc",
    "clean_spacing",
    "fold_diacritics",
    "fold_key",
    "strip_tone",
    "tone_of",
    "set_tone_style",
    "tone_key",
    "map_unique",
    "text_or_empty",
    "fullmatch_flags",
]

# Combining characters of the five Vietnamese tones (the sixth, ngang, is none).
GRAVE, ACUTE, HOOK, TILDE, DOT = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
TONE_MARKS = (GRAVE, ACUTE, HOOK, TILDE, DOT)
_TONE_SET = frozenset(TONE_MARKS)

_WS_RE = re.compile(r"[\s\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]+")

# Letters that Unicode does not decompose into a base + mark.
# Ð (U+00D0, Icelandic eth) and Ɖ (U+0189) look like Đ (U+0110) and are typed
# for it by some keyboards and OCR; they mean Đ in a Vietnamese name.
_LOOKALIKE_D = str.maketrans({"Ð": "Đ", "ð": "đ", "Ɖ": "Đ", "ɖ": "đ"})
#: the vowel marks (breve, circumflex, horn) and the stroke of đ dropped, tone marks kept: a typist's slip
VOWEL_MARK_DROP = str.maketrans({"ư": "u", "ơ": "o", "â": "a", "ê": "e", "ô": "o", "ă": "a", "đ": "d",
                                 "Ư": "U", "Ơ": "O", "Â": "A", "Ê": "E", "Ô": "O", "Ă": "A", "Đ": "D"})
_FOLD_EXTRA = str.maketrans({"đ": "d", "Đ": "D", "Ð": "D", "ð": "d", "Ɖ": "D", "ɖ": "d"})


def nfc(text: str) -> str:
    """Return ``text`` in Unicode Normalization Form C."""
    return unicodedata.normalize("NFC", text)


def clean_spacing(text: str) -> str:
    """Trim and collapse every run of white space to a single ASCII space."""
    return _WS_RE.sub(" ", text).strip()


def fold_diacritics(text: str) -> str:
    """Remove every diacritic, keeping case: ``"Đặng Thị Huệ"`` -> ``"Dang Thi Hue"``."""
    decomposed = unicodedata.normalize("NFD", text.translate(_FOLD_EXTRA))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)


def fold_key(text: str) -> str:
    """Lower-case, spacing-normalised ASCII skeleton used for blocking and comparison."""
    return clean_spacing(fold_diacritics(text)).lower()


def strip_tone(syllable: str) -> tuple[str, str]:
    """Split a syllable into (NFD text without its tone mark, tone mark or "")."""
    decomposed = unicodedata.normalize("NFD", syllable)
    tone = ""
    kept = []
    for ch in decomposed:
        if ch in _TONE_SET:
            tone = ch
        else:
            kept.append(ch)
    return "".join(kept), tone


def tone_of(syllable: str) -> str:
    """The tone mark (a combining character) carried by ``syllable``, or ``""``."""
    return strip_tone(syllable)[1]


# An open syllable ending in oa / oe / uy (u not preceded by q). The groups are
# the onset, the first vowel and the second vowel, in NFD without tone.
_OPEN_DIPHTHONG = re.compile(r"^(.*?)([oO][aAeE]|(?<![qQ])[uU][yY])$")


def _restyle_syllable(syllable: str, style: str) -> str:
    bare, tone = strip_tone(syllable)
    if not tone:
        return syllable
    m = _OPEN_DIPHTHONG.match(bare)
    if not m:
        return syllable
    onset, pair = m.group(1), m.group(2)
    # The onset must be consonants only: "khoa" yes, "ngoa" yes, but in
    # "hoai" the match fails anyway because the syllable does not end in oa.
    if any(ch.lower() in "aeiouy" or unicodedata.combining(ch) for ch in onset):
        return syllable
    if style == "old":
        out = onset + pair[0] + tone + pair[1]
    else:
        out = onset + pair[0] + pair[1] + tone
    return unicodedata.normalize("NFC", out)


_WORD_RE = re.compile(r"\w+", re.UNICODE)


def set_tone_style(text: str, style: Literal["old", "new"]) -> str:
    """Rewrite open oa/oe/uy syllables in ``text`` to the given tone-mark convention.

    >>> set_tone_style("Nguyễn Thị Thuỷ", "old")
    'Nguyễn Thị Thủy'
    >>> set_tone_style("Lê Hòa", "new")
    'Lê Hoà'
    >>> set_tone_style("Huỳnh Quý Hoàn", "old")
    'Huỳnh Quý Hoàn'
    """
    if style not in ("old", "new"):
        raise ValueError(f"style must be 'old' or 'new', not {style!r}")
    text = nfc(text)
    return _WORD_RE.sub(lambda m: _restyle_syllable(m.group(0), style), text)


def tone_key(text: str) -> str:
    """NFC, spacing-normalised, lower-case text in the old tone convention.

    Two spellings that differ only by case, spacing, Unicode form or the
    tone-mark convention have the same key.
    """
    text = text.translate(_LOOKALIKE_D)
    return set_tone_style(clean_spacing(nfc(text)).lower(), "old")


def map_unique(values: pd.Series, func: Callable[[str], object]) -> pd.Series:
    """Apply ``func`` once per distinct non-null value of ``values``.

    Nulls stay null; the result keeps the index of ``values``.
    """
    uniques = pd.unique(values.dropna())
    table = {v: func(v) for v in uniques}
    return values.map(table)


def text_or_empty(values: pd.Series) -> pd.Series:
    """``values`` as strings (``astype(str)``), missing values (None, NaN, ``pd.NA``, NaT) as ``""``.

    For grouping and comparing text columns whatever way they were read (object,
    Arrow or pandas strings); the index is kept.
    """
    return values.astype(object).where(values.notna(), "").astype(str)


def fullmatch_flags(values, pattern: str):
    """Per entry of an object array, whether it is a ``str`` that ``pattern`` matches in full.

    Matched in C on Arrow's UTF-8 (RE2) instead of one Python ``re`` call per
    value: ``pattern`` must mean the same in both (ASCII classes such as
    ``[0-9]``, no look-around).  Values Arrow cannot hold (a lone surrogate,
    a non-str) take the ``re`` path, which gives the same answers.
    """
    import numpy as np  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    arr = np.asarray(values, dtype=object)
    try:
        text = pa.array(arr, type=pa.large_string(), from_pandas=True)
        return pc.match_substring_regex(text, f"^(?:{pattern})$").fill_null(False).to_numpy(zero_copy_only=False)
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        rx = re.compile(pattern)
        return np.fromiter((isinstance(v, str) and rx.fullmatch(v) is not None for v in arr), dtype=bool,
                           count=len(arr))
