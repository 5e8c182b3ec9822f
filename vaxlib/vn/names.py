"""Vietnamese personal names: canonical form, parts, and how a typed name differs.

Vietnamese names are written family name first, then zero or more middle
names (tên đệm / tên lót), then the given name (tên): ``Nguyễn Thị Minh Khai``
= family ``Nguyễn``, middle ``Thị Minh``, given ``Khai``.  Each word is one
syllable and is written with a capital initial.

:func:`compare_names` names every visible way a typed name differs from the
register's, with the ``name:*`` codes of the error taxonomy
(``shared/spec/data-contract.md``); :func:`compare_names_many` does it for
two pandas columns, once per distinct pair.

Comparison pipeline (each step removes one kind of difference, so the codes
describe what a person comparing the two texts would see):

1. code points: NFC and look-alike letters (Ð U+00D0 → Đ) — ``unicode_form``;
2. white space and letter case — ``case_spacing``;
3. the ASCII skeleton (:func:`vaxlib.vn.text.fold_key`) gives the letters
   alone; tokens are aligned on it to find ``order``, ``missing_part`` and
   ``typo``;
4. aligned tokens are compared for their diacritics — ``tone_placement``,
   ``no_diacritics``, ``diacritic_error``.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd
from rapidfuzz.distance import DamerauLevenshtein

from vaxlib.vn.keystrokes import _reading, repair_keystrokes
from vaxlib.vn.text import clean_spacing, fold_diacritics, nfc, tone_key

__all__ = [
    "NAME_CODES",
    "NameParts",
    "canonical_name",
    "canonical_names",
    "split_name",
    "compare_names",
    "compare_names_many",
    "compare_names_array",
    "repair_keystrokes",
    "vietnamese_title",
]

NAME_CODES = (
    "name:unicode_form",
    "name:case_spacing",
    "name:no_diacritics",
    "name:tone_placement",
    "name:diacritic_error",
    "name:typo",
    "name:order",
    "name:missing_part",
    "name:other",
)

# Ð (U+00D0 Icelandic eth) and Ɖ (U+0189 African D) look exactly like Đ
# (U+0110); keyboards and OCR produce them for Vietnamese Đ.
_LOOKALIKE = str.maketrans({"Ð": "Đ", "ð": "đ", "Ɖ": "Đ", "ɖ": "đ"})


def _build_fold_table() -> dict[int, int | None]:
    table: dict[int, int | None] = {}
    for cp in list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        folded = fold_diacritics(ch)
        if folded != ch and len(folded) == 1 and folded.isascii():
            table[cp] = ord(folded)
    for cp in range(0x300, 0x370):
        table[cp] = None
    return table


_FOLD_TABLE = _build_fold_table()


def _fold(s: str) -> str:
    """:func:`fold_diacritics`, fast path for Latin text."""
    out = s.translate(_FOLD_TABLE)
    return out if out.isascii() else fold_diacritics(s)


class _Word(NamedTuple):
    lower: str
    fold: str  # lower-case ASCII skeleton
    case: str
    has_dia: bool
    tone: str  # tone_key: lower, old tone convention


@lru_cache(maxsize=100_000)
def _word(word: str) -> _Word:
    folded = _fold(word)
    low = word.lower()
    return _Word(low, folded.lower(), _case_class_of_fold(folded), folded != word, tone_key(low))


def _codepoints(s: str) -> str:
    """NFC with look-alike letters replaced: the text as a reader sees it."""
    return nfc(s).translate(_LOOKALIKE)


@lru_cache(maxsize=100_000)
def _title_word(word: str) -> str:
    if not word:
        return word
    first = word[0]
    head = first if first.istitle() else first.title()
    if len(head) != 1:  # e.g. 'ß'.title() == 'Ss': keep the letter as typed
        head = first
    return head + word[1:].lower()


def vietnamese_title(text: str) -> str:
    """Capitalise the first letter of each word (and after a hyphen), lower-case the rest.

    Unlike :meth:`str.title` it does not capitalise after an apostrophe or a
    combining mark.

    >>> vietnamese_title("NGUYỄN thị ĐÀO")
    'Nguyễn Thị Đào'
    """
    return " ".join("-".join(_title_word(p) for p in w.split("-")) for w in text.split(" "))


# Latin and Vietnamese letters, whose case mapping is one-to-one.
_SAFE_CASE = re.compile(r"^[\x00-\x7f\u00c0-\u00de\u00e0-\u00fe\u0100-\u0130\u0132-\u017f"
                        r"\u01a0-\u01b0\u1ea0-\u1ef9]*$")


@lru_cache(maxsize=200_000)
def canonical_name(s: str) -> str:
    """Canonical written form of a name.

    NFC, look-alike Ð/ð → Đ/đ, white space collapsed (incl. NBSP, tabs) and
    trimmed, each word Title-cased the Vietnamese way.  The tone-mark
    convention (hòa/hoà) is kept as typed: both are correct, and the
    register decides which one a person's name uses.

    >>> canonical_name("  nguyễn   VĂN\\u00a0an ")
    'Nguyễn Văn An'
    >>> canonical_name("ÐẶNG thị thuỷ")
    'Đặng Thị Thuỷ'
    """
    out = vietnamese_title(_analyse(s).spaced)  # shared with compare_names
    if _SAFE_CASE.match(out) and unicodedata.is_normalized("NFC", out):
        return out
    # Case mapping in some scripts (ß, İ, ǅ, Greek) changes length or
    # leaves non-NFC text; settle it.
    for _ in range(3):
        again = vietnamese_title(clean_spacing(nfc(out)))
        if again == out:
            break
        out = again
    return out


def canonical_names(values: pd.Series) -> pd.Series:
    """:func:`canonical_name` for a column, once per distinct value; nulls stay null."""
    return _map_unique(values, canonical_name)


class NameParts(NamedTuple):
    """A Vietnamese name split into family name, middle names and given name."""

    family: str
    middle: tuple[str, ...]
    given: str


def split_name(s: str) -> NameParts:
    """Split a name into (family, middle, given), after :func:`canonical_name`.

    The first word is the family name and the last the given name.  A single
    word is taken as the given name (family ""); an empty name gives
    ``NameParts("", (), "")``.  Two-word family names (Tôn Nữ, Tôn Thất, Âu
    Dương) cannot be told from a family + middle name by the text alone and
    are split as family + middle.

    >>> split_name("nguyễn thị minh khai")
    NameParts(family='Nguyễn', middle=('Thị', 'Minh'), given='Khai')
    """
    words = canonical_name(s).split()
    if not words:
        return NameParts("", (), "")
    if len(words) == 1:
        return NameParts("", (), words[0])
    return NameParts(words[0], tuple(words[1:-1]), words[-1])


# --------------------------------------------------------------------- compare
def _case_class_of_fold(folded: str) -> str:
    letters = [ch for ch in folded if ch.isalpha()]
    if not letters:
        return "none"
    if all(ch.islower() for ch in letters):
        return "lower"
    if all(ch.isupper() for ch in letters):
        return "upper" if len(letters) > 1 else "title"
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]):
        return "title"
    return "mixed"


def _has_diacritics(text: str) -> bool:
    return _fold(text) != text


class _Analysed(NamedTuple):
    raw: str
    cp: str  # code points canonical
    spaced: str  # + spacing cleaned
    words: tuple[str, ...]  # words of ``spaced``
    folds: tuple[str, ...]  # lower ASCII skeleton per word
    joined: str  # skeleton without spaces


@lru_cache(maxsize=200_000)
def _analyse(s: str) -> _Analysed:
    cp = s if s.isascii() else _codepoints(s)
    if "\u200b" in cp or "\ufeff" in cp:
        spaced = clean_spacing(cp)
        words = tuple(spaced.split(" ")) if spaced else ()
    else:
        words = tuple(cp.split())  # str.split() knows every Unicode space
        spaced = " ".join(words)
    folds = tuple(_word(w).fold for w in words)
    return _Analysed(s, cp, spaced, words, folds, "".join(folds))


def _max_edits(a: str, b: str) -> int:
    # Two edits on a short name change it into another name (An -> Anh -> Ánh).
    return 1 if min(len(a), len(b)) < 6 else 2


def _word_edits(a: str, b: str) -> int:
    """Keystroke edits between two words as typed.

    A word typed with diacritics is compared with its diacritics (a typo
    does not also change the tone: Khánh → Hạnh is another name, Hiếu →
    Jiếu a typo); a word typed bare is compared on the skeleton.
    """
    la, lb = a.lower(), b.lower()
    if _fold(la) == la:
        return DamerauLevenshtein.distance(la, _fold(lb))
    return DamerauLevenshtein.distance(la, lb)


def _positional_typo(tw: tuple[str, ...], rw: tuple[str, ...]) -> bool:
    """Words differ in place by small edits: each within its own budget, two in all."""
    total = 0
    for a, b in zip(tw, rw):
        fa, fb = _word(a).fold, _word(b).fold
        if fa == fb:
            continue
        d = _word_edits(a, b)
        if d > _max_edits(fa, fb):
            return False
        total += d
    return 0 < total <= 2


def _align(t: tuple[str, ...], r: tuple[str, ...], tw: tuple[str, ...] | None = None,
           rw: tuple[str, ...] | None = None):
    """Match each typed word to a distinct register word.

    Returns (pairs, fuzzy) where pairs is a list of (typed index, register
    index), exact skeleton matches first, then the closest word within the
    typo budget; None when some typed word has no partner.
    """
    free = list(range(len(r)))
    pairs: list[tuple[int, int]] = []
    pending = []
    for i, w in enumerate(t):
        j = next((j for j in free if r[j] == w), None)
        if j is None:
            pending.append(i)
        else:
            free.remove(j)
            pairs.append((i, j))
    fuzzy = 0
    for i in pending:
        best, best_d = None, None
        for j in free:
            d = _word_edits(tw[i], rw[j]) if tw is not None and rw is not None \
                else DamerauLevenshtein.distance(t[i], r[j])
            if d <= _max_edits(t[i], r[j]) and (best_d is None or d < best_d):
                best, best_d = j, d
        if best is None:
            return None, 0
        free.remove(best)
        pairs.append((i, best))
        fuzzy += 1
    pairs.sort()
    return pairs, fuzzy


@lru_cache(maxsize=500_000)
def compare_names(typed: str, register: str) -> tuple[str, ...]:
    """Taxonomy codes for the visible differences between a typed and a register name.

    Returns the codes sorted, ``()`` when the two texts are identical.
    Several codes can apply at once ("NGUYEN VAN AN" vs "Nguyễn Văn An" →
    case_spacing + no_diacritics).  Words are aligned on their ASCII skeleton
    (lower case, no diacritics, đ → d).

    Codes
    -----
    name:unicode_form
        The code points differ in a way that is invisible on screen: the
        typed (or register) text is not in NFC (e.g. decomposed tone marks
        from a Mac or a Windows-1258 file) or uses a look-alike letter
        (Ð U+00D0 for Đ U+0110).
    name:case_spacing
        Letter case differs on aligned words (``NGUYỄN``, ``nguyễn`` vs
        ``Nguyễn``), or white space differs: extra, leading, trailing or
        non-breaking spaces, or words run together / split apart
        (``NguyễnVăn An``).
    name:no_diacritics
        The typed name carries no diacritic at all (pure ASCII letters, as
        typed without a Vietnamese keyboard) while the register's aligned
        words do.
    name:tone_placement
        Some aligned word differs only by the tone-mark convention of open
        oa/oe/uy syllables (hoà/hòa, thuỷ/thủy, khoẻ/khỏe); see
        :func:`vaxlib.vn.text.set_tone_style`.  hoàn, huỳnh, quý, suýt are
        written alike in both conventions and never give this code.
    name:diacritic_error
        Some aligned word has the same letters but different diacritics
        (a tone or vowel mark wrong, missing or extra: ``Nguyễn Van An``,
        ``Nguyến``), and the typed name is not wholly without diacritics.
    name:typo
        Aligned words differ by a small keystroke edit: Damerau–Levenshtein
        distance ≤ 1 per word (≤ 2 for words of 6 letters or more), two in
        all, measured with the diacritics the typist used (a typo does not
        also change a tone: ``Nguyễn Duy Hạnh`` for ``Khánh`` is another name,
        ``Dương Đức Jiếu`` for ``Hiếu`` a typo).
        Telex / VNI keystroke residue (``Nguyeenx Vawn Coong``, ``Nguye64n``,
        repaired by :func:`vaxlib.vn.keystrokes.repair_keystrokes` with the
        register name as reference) is ``name:typo`` whatever the number of
        letters, and the rest of the name is compared as repaired
        (``Nguyeenx Van An`` is typo + diacritic_error).
    name:order
        The same words in another order (given name first: ``An Nguyễn Văn``).
    name:missing_part
        The typed words are a strict subset of the register's (a middle name
        dropped: ``Nguyễn An`` vs ``Nguyễn Văn An``).
    name:other
        Anything else: extra words, different names, empty typed name.
    """
    if typed == register:
        return ()
    if _has_residue(typed):
        repaired = repair_keystrokes(typed, reference=register)
        if repaired != typed:
            # Keystroke residue is one typing error (the keys for the marks stayed as
            # letters), however many letters it adds: name:typo, and the rest of the
            # name compared as the typist meant it.
            return tuple(sorted({"name:typo", *compare_names(repaired, register)}))
    t, r = _analyse(typed), _analyse(register)
    codes: set[str] = set()
    if (t.cp != typed) != (r.cp != register):
        codes.add("name:unicode_form")
    if not t.words or not r.words:
        codes.add("name:other")
        return tuple(sorted(codes))
    if (t.spaced != t.cp) and (r.spaced == r.cp):
        codes.add("name:case_spacing")

    pairs: list[tuple[int, int]] | None = None
    if t.joined == r.joined:
        if t.folds != r.folds:
            codes.add("name:case_spacing")  # words run together or split
            # Compare diacritics and case on the joined text instead.
            tw, rw = ("".join(t.words),), ("".join(r.words),)
            _diacritic_codes(tw, rw, [(0, 0)], codes, bare_typed=not _has_diacritics(t.spaced))
            return tuple(sorted(codes))
        pairs = [(i, i) for i in range(len(t.words))]
    else:
        ct, cr = Counter(t.folds), Counter(r.folds)
        if ct == cr:
            codes.add("name:order")
            pairs, _ = _align(t.folds, r.folds)
        elif not (ct - cr) and len(t.folds) < len(r.folds):
            codes.add("name:missing_part")
            pairs, _ = _align(t.folds, r.folds)
        elif len(t.folds) == len(r.folds) and _positional_typo(t.words, r.words):
            codes.add("name:typo")
            pairs = [(i, i) for i in range(len(t.words))]
        else:
            pairs, fuzzy = _align(t.folds, r.folds, t.words, r.words)
            if pairs is None:
                codes.add("name:other")
                if not _has_diacritics(t.spaced) and _has_diacritics(r.spaced):
                    codes.add("name:no_diacritics")
                return tuple(sorted(codes))
            if fuzzy:
                codes.add("name:typo")
            if len(t.folds) < len(r.folds):
                codes.add("name:missing_part")
        if "name:order" not in codes and pairs:
            reg_order = [j for _, j in pairs]
            if reg_order != sorted(reg_order):
                codes.add("name:order")
    _diacritic_codes(t.words, r.words, pairs, codes, bare_typed=not _has_diacritics(t.spaced))
    if not codes:
        # The texts differ but no rule saw it: white space or code points
        # differ on the register side (e.g. a register name with two spaces).
        codes.add("name:unicode_form" if t.cp == r.cp else "name:case_spacing")
    return tuple(sorted(codes))


def _diacritic_codes(tw, rw, pairs, codes: set[str], *, bare_typed: bool) -> None:
    for i, j in pairs:
        a, b = tw[i], rw[j]
        if a == b:
            continue
        wa, wb = _word(a), _word(b)
        # On a typo word ("CChiến") the case class says nothing unless the
        # whole word is in upper or lower case.
        if wa.case != wb.case and (wa.fold == wb.fold or wa.case in ("upper", "lower")):
            codes.add("name:case_spacing")
        if wa.lower == wb.lower:
            continue
        if wa.fold != wb.fold:
            # A typo word: only the presence of diacritics can be judged.
            if bare_typed and wb.has_dia:
                codes.add("name:no_diacritics")
            continue
        if wa.tone == wb.tone:
            codes.add("name:tone_placement")
        elif bare_typed:
            codes.add("name:no_diacritics")
        else:
            codes.add("name:diacritic_error")


@lru_cache(maxsize=200_000)
def _has_residue(typed: str) -> bool:
    """Some word of ``typed`` reads as Telex/VNI keys (cheap test before repairing)."""
    return any(_reading(w) is not None for w in typed.split())


# ------------------------------------------------------------------ vectorised
#: words per name the vectorised comparison aligns; longer names go to compare_names
_MAX_WORDS = 8
_CODE_BIT = {c: 1 << i for i, c in enumerate(NAME_CODES)}


def _codes_of(mask: int) -> tuple[str, ...]:
    return tuple(sorted(c for c, b in _CODE_BIT.items() if mask & b))


def _name_table(names: np.ndarray) -> dict:
    """What :func:`_analyse` gives of each name, as arrays: code points changed, spacing
    changed, no diacritics, word count, and the words (codes into ``vocab``, -1 padded).

    All names are read as one text joined by a separator that no name holds, a control
    character that neither composes, folds nor counts as white space: NFC, the look-alike
    letters and the diacritic fold then run once, and :meth:`str.split` finds every word.
    """
    names = [str(v) for v in names]
    n = len(names)
    raw = "".join(names)
    sep_char = next((c for c in "\x01\x02\x03\x04\x05\x06\x07\x08" if c not in raw), None)
    if sep_char is None and n > 1:  # every candidate separator is typed somewhere: one name at a time
        parts = [_name_table(np.array([v], dtype=object)) for v in names]
        return _stack_tables(parts)
    one = n <= 1  # a single name needs no separator
    sep = f" {sep_char or chr(1)} "
    big = sep.join(names)
    # _codepoints (a translate table costs a dict lookup per letter: look-alikes are replaced where found)
    cp_big = big if big.isascii() else _LOOKALIKE_RX.sub(_replace_lookalike, nfc(big))
    cps = [cp_big] if one else cp_big.split(sep)
    cps = cps if n else []
    cp_len = np.fromiter(map(len, cps), np.int64, count=n)
    cp_changed = np.fromiter((a != b for a, b in zip(cps, names)), bool, count=n)
    starts = np.cumsum(cp_len + len(sep)) - cp_len - len(sep)
    odd = np.zeros(n, dtype=bool)  # zero-width spaces: spacing is cleaned another way
    if "\u200b" in cp_big or "\ufeff" in cp_big:
        odd = np.fromiter(("\u200b" in v or "\ufeff" in v for v in cps), bool, count=n)
    # the words: every token of the joined text, the separators marking where a name ends
    tokens = np.array(cp_big.split(), dtype=object)
    marker = np.zeros(len(tokens), dtype=bool) if one else tokens == sep_char
    owner = np.cumsum(marker)[~marker]
    words = tokens[~marker]
    w_len = np.fromiter(map(len, words), np.int64, count=len(words))
    n_words = np.bincount(owner, minlength=n)[:n]
    # spacing is unchanged when only single spaces stand between the words
    odd_space = np.zeros(n, dtype=bool)
    hits = [m.start() for m in _ODD_SPACE.finditer(cp_big)]
    if hits:
        odd_space[np.searchsorted(starts, hits, side="right") - 1] = True
    letters = np.bincount(owner, weights=w_len, minlength=n)[:n]
    sp_changed = odd_space | (cp_len != letters + np.maximum(n_words - 1, 0))
    w_codes, vocab = pd.factorize(words) if len(words) else (np.zeros(0, np.int64), [])
    # no diacritics (_has_diacritics of the spaced name): the fold table changes no letter of any
    # word; a word whose folded letters are not all ASCII is folded the slow way, name by name
    w_folded = [w.translate(_FOLD_TABLE) for w in vocab]
    w_dia = np.fromiter((f != w for f, w in zip(w_folded, vocab)), bool, count=len(vocab))
    w_slow = np.fromiter((not f.isascii() for f in w_folded), bool, count=len(vocab))
    bare = np.bincount(owner, weights=w_dia[w_codes], minlength=n)[:n] == 0 if len(vocab) else np.ones(n, bool)
    slow = np.bincount(owner, weights=w_slow[w_codes], minlength=n)[:n] > 0 if len(vocab) else np.zeros(n, bool)
    for i in np.flatnonzero(slow):
        bare[i] = not _has_diacritics(" ".join(cps[i].split()))
    keep = ~odd[owner]
    w_codes, owner = w_codes[keep], owner[keep]
    n_words = np.where(odd, 0, n_words)
    matrix = np.full((n, _MAX_WORDS), -1, dtype=np.int64)
    pos = np.arange(len(owner)) - np.repeat(np.cumsum(n_words) - n_words, n_words)
    fits = pos < _MAX_WORDS
    matrix[owner[fits], pos[fits]] = w_codes[fits]
    return {"cp": cps, "cp_changed": cp_changed & ~odd, "sp_changed": sp_changed & ~odd, "bare": bare & ~odd,
            "odd": odd, "n_words": n_words, "words": matrix, "vocab": np.asarray(vocab, dtype=object)}


_LOOKALIKE_RX = re.compile("[" + "".join(map(chr, _LOOKALIKE)) + "]")


def _replace_lookalike(m: re.Match) -> str:
    return m.group().translate(_LOOKALIKE)


#: white space other than the one space between words (str.split's white space, as re's \s)
_ODD_SPACE = re.compile(r"[^\S ]")


def _stack_tables(parts: list[dict]) -> dict:
    """One :func:`_name_table` of several, their word codes renumbered into one vocabulary."""
    vocab = pd.Index(np.concatenate([p["vocab"] for p in parts])).unique()
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("cp_changed", "sp_changed", "bare", "odd", "n_words")}
    out["cp"] = [c for p in parts for c in p["cp"]]
    mats = []
    for p in parts:
        m = p["words"].copy()
        m[m >= 0] = vocab.get_indexer(p["vocab"][m[m >= 0]])
        mats.append(m)
    out["words"] = np.concatenate(mats)
    out["vocab"] = np.asarray(vocab, dtype=object)
    return out


def compare_names_array(typed: np.ndarray, register: np.ndarray) -> np.ndarray:
    """``[compare_names(t, r) for t, r in zip(typed, register)]`` as an object array of tuples.

    The common differences are decided on arrays: names of the same number of words whose
    words pair up in place (the same skeleton word by word, or small typing errors within
    :func:`_positional_typo`'s budget), typed without keystroke residue.  Each distinct name
    is analysed once, and each distinct pair of words once, by the functions
    :func:`compare_names` uses (:func:`_diacritic_codes`, :func:`_word_edits`); the codes of
    a name pair are the union of its words' codes.  Every other pair (words missing, in
    another order, run together, residue, more than eight words) goes to
    :func:`compare_names`.
    """
    typed = np.asarray(typed, dtype=object)
    register = np.asarray(register, dtype=object)
    n = len(typed)
    out = np.empty(n, dtype=object)
    is_str = np.fromiter((isinstance(a, str) and isinstance(b, str) for a, b in zip(typed, register)), bool,
                         count=n)
    same = is_str & (typed == register)
    for i in np.flatnonzero(same):
        out[i] = ()
    todo = np.flatnonzero(is_str & ~same)
    fast = np.zeros(n, dtype=bool)
    if len(todo):
        codes, names = pd.factorize(np.concatenate([typed[todo], register[todo]]))
        tc, rc = codes[:len(todo)], codes[len(todo):]
        tab = _name_table(np.asarray(names, dtype=object))
        vocab = tab["vocab"]
        wv = [_word(w) for w in vocab]
        fold_c = pd.factorize(np.array([w.fold for w in wv], dtype=object))[0] if len(wv) else np.zeros(0, np.int64)
        fold_len = np.fromiter((len(w.fold) for w in wv), np.int64, count=len(wv))
        residue_w = np.fromiter((_reading(w) is not None for w in vocab), bool, count=len(vocab))
        # keystroke residue is read on the typed text's own words
        t_names = np.unique(tc)
        residue = np.zeros(len(names), dtype=bool)
        words = tab["words"]
        clean = ~tab["cp_changed"][t_names] & ~tab["odd"][t_names]
        w = words[t_names[clean]]
        residue[t_names[clean]] = (residue_w[np.maximum(w, 0)] & (w >= 0)).any(axis=1)
        for k in t_names[~clean]:
            residue[k] = _has_residue(names[k])

        nw_t, nw_r = tab["n_words"][tc], tab["n_words"][rc]
        W = _MAX_WORDS
        ok = (~tab["odd"][tc] & ~tab["odd"][rc] & ~residue[tc] & (nw_t >= 1) & (nw_r >= 1)
              & (nw_t <= W) & (nw_r <= W))
        live_t = np.arange(W)[None, :] < nw_t[:, None]
        live_r = np.arange(W)[None, :] < nw_r[:, None]
        A, B = np.where(live_t, words[tc], 0), np.where(live_r, words[rc], 0)
        if not len(vocab):
            ok[:] = False
            fold_c = fold_len = np.zeros(1, dtype=np.int64)
        FA, FB = np.where(live_t, fold_c[A], -1), np.where(live_r, fold_c[B], -2)
        LA, LB = np.where(live_t, fold_len[A], 0), np.where(live_r, fold_len[B], 0)
        same_n = nw_t == nw_r
        in_place = same_n & ~((FA != FB) & live_t).any(axis=1)  # the same skeleton word by word
        # skeletons joined without spaces equal while the words differ: words run together (compare_names)
        maybe = ok & ~in_place & (LA.sum(axis=1) == LB.sum(axis=1))
        joined_eq = np.zeros(len(todo), dtype=bool)
        if maybe.any():
            fold_s = np.array([w.fold for w in wv], dtype=object)
            joined = {}
            for k in np.unique(np.concatenate([tc[maybe], rc[maybe]])):
                joined[k] = "".join(fold_s[words[k, :tab["n_words"][k]]])
            joined_eq[maybe] = [joined[a] == joined[b] for a, b in zip(tc[maybe], rc[maybe])]
        ok &= ~joined_eq
        # every typed word's skeleton found among the register's, the typed ones distinct: the same
        # words in another order, or some missing.  compare_names pairs each typed word with the
        # first free register word of its skeleton (_align), which for distinct typed skeletons
        # is the first of its skeleton.
        match = (FA[:, :, None] == FB[:, None, :])
        found = match.any(axis=2)
        J = np.where(found, match.argmax(axis=2), -1)
        dup_t = ((FA[:, :, None] == FA[:, None, :]) & live_t[:, :, None]).sum(axis=(1, 2)) > nw_t
        subset = (found | ~live_t).all(axis=1) & (nw_t <= nw_r)
        aligned = ok & ~in_place & subset & ~dup_t
        # the same word count, words in place within the typing budget (_positional_typo)
        ident = np.where(live_t, np.arange(W)[None, :], -1)
        positional = ok & same_n & ~in_place & ~subset & ~(np.sort(FA, axis=1) == np.sort(np.where(live_r, FB, -1),
                                                                                         axis=1)).all(axis=1)
        typo = np.zeros(len(todo), dtype=bool)
        cand = np.flatnonzero(positional)
        if len(cand):
            fdiff = (FA[cand] != FB[cand]) & live_t[cand]
            ri, ci = np.nonzero(fdiff)
            wa, wb = A[cand][ri, ci], B[cand][ri, ci]
            pc, pu = pd.factorize(wa * len(vocab) + wb)
            edits = np.empty(len(pu), dtype=np.int64)
            within = np.empty(len(pu), dtype=bool)
            for j, key in enumerate(pu.tolist()):
                a, b = vocab[key // len(vocab)], vocab[key % len(vocab)]
                edits[j] = _word_edits(a, b)
                within[j] = edits[j] <= _max_edits(_word(a).fold, _word(b).fold)
            total = np.bincount(ri, weights=edits[pc], minlength=len(cand))
            good = np.bincount(ri, weights=~within[pc], minlength=len(cand)) == 0
            typo[cand] = good & (total > 0) & (total <= 2)
        ok &= in_place | aligned | typo
        pairing = np.where(aligned[:, None], J, ident)
        jt = np.where(live_t, pairing, 0)
        out_of_order = ((jt[:, 1:] < jt[:, :-1]) & live_t[:, 1:]).any(axis=1)
        mask = np.zeros(len(todo), dtype=np.int64)
        mask |= np.where(typo, _CODE_BIT["name:typo"], 0)
        mask |= np.where(aligned & (same_n | out_of_order), _CODE_BIT["name:order"], 0)
        mask |= np.where(aligned & ~same_n, _CODE_BIT["name:missing_part"], 0)
        # diacritics, case: once per distinct (typed word, register word, typed name bare) of the paired words
        rows = np.flatnonzero(ok)
        if len(rows):
            Bp = np.take_along_axis(B[rows], jt[rows], axis=1)
            ri, ci = np.nonzero((A[rows] != Bp) & live_t[rows])
            bare_t = tab["bare"][tc[rows]][ri]
            key = (A[rows][ri, ci] * len(vocab) + Bp[ri, ci]) * 2 + bare_t
            pc, pu = pd.factorize(key)
            word_mask = np.empty(len(pu), dtype=np.int64)
            for j, k in enumerate(pu.tolist()):
                pair, b_ = divmod(k, 2)
                got: set[str] = set()
                _diacritic_codes((vocab[pair // len(vocab)],), (vocab[pair % len(vocab)],), [(0, 0)], got,
                                 bare_typed=bool(b_))
                word_mask[j] = sum(_CODE_BIT[c] for c in got)
            m = np.zeros(len(rows), dtype=np.int64)
            np.bitwise_or.at(m, ri, word_mask[pc])
            mask[rows] |= m
        mask |= np.where(tab["cp_changed"][tc] != tab["cp_changed"][rc], _CODE_BIT["name:unicode_form"], 0)
        mask |= np.where(tab["sp_changed"][tc] & ~tab["sp_changed"][rc], _CODE_BIT["name:case_spacing"], 0)
        # the texts differ but no rule saw it (compare_names' last step)
        for j in np.flatnonzero(ok & (mask == 0)):
            same_cp = tab["cp"][tc[j]] == tab["cp"][rc[j]]
            mask[j] = _CODE_BIT["name:unicode_form" if same_cp else "name:case_spacing"]
        mc, mu = pd.factorize(mask[ok])
        tuples = np.empty(len(mu), dtype=object)
        for j, v in enumerate(mu.tolist()):
            tuples[j] = _codes_of(v)
        out[todo[ok]] = tuples[mc]
        fast[todo[ok]] = True
    for i in np.flatnonzero(~same & ~fast):
        out[i] = compare_names(typed[i], register[i])
    return out


def _map_unique(values: pd.Series, func) -> pd.Series:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([func(v) for v in uniques], dtype=object)
    out = np.empty(len(values), dtype=object)
    valid = codes >= 0
    out[valid] = mapped[codes[valid]]
    out[~valid] = None
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def compare_names_many(typed: pd.Series, register: pd.Series) -> pd.Series:
    """:func:`compare_names` for two aligned columns, as ';'-joined code strings.

    Computed once per distinct (typed, register) pair.  A missing typed name
    gives ``"name:other"`` when the register has a name; both missing give "".
    """
    if len(typed) != len(register):
        raise ValueError("typed and register must have the same length")
    tc, tu = pd.factorize(typed, use_na_sentinel=True)
    rc, ru = pd.factorize(register, use_na_sentinel=True)
    key = (tc.astype(np.int64) + 1) * (len(ru) + 1) + (rc.astype(np.int64) + 1)
    uniq, inverse = np.unique(key, return_inverse=True)
    n_r = len(ru) + 1
    results = np.empty(len(uniq), dtype=object)
    tu_list, ru_list = [None, *tu.tolist()], [None, *ru.tolist()]
    for k, packed in enumerate(uniq.tolist()):
        ti, ri = divmod(packed, n_r)
        t, r = tu_list[ti], ru_list[ri]
        if t is None and r is None:
            results[k] = ""
        elif t is None or r is None:
            results[k] = "name:other"
        else:
            results[k] = ";".join(compare_names(t, r))
    return pd.Series(results[inverse], index=typed.index, name="name_codes", dtype=object)
