"""Legacy Vietnamese encodings, encoding detection and mojibake repair.

Files from facilities arrive in UTF-8, in the legacy 8-bit encodings of the
1990s–2000s Vietnamese Windows world, or garbled by a wrong decode:

``tcvn3``
    TCVN3 / "ABC" (the VN3 subset of TCVN 5712:1993), used with the .VnTime
    fonts.  Byte table from GNU libiconv ``lib/tcvn.h`` (TCVN-5712; the same
    table as glibc ``iconvdata/tcvn5712-1.c``), which covers the full VN1
    variant.  **TCVN3 has no capital letters with tones**: a document shows
    ``NGUYỄN`` by writing the lower-case code ``ễ`` (0xD4) in an upper-case
    font (.VnTimeH).  The case lives in the font, not in the bytes, so
    :func:`decode_tcvn3` yields ``NGUYễN``; :func:`vaxlib.vn.names.canonical_name`
    restores the case of names.  :func:`encode_tcvn3` writes capitals with
    tones as their lower-case codes (``variant="vn3"``, the default), or as
    the VN1 capital codes 0x80–0x9F/C0 (``variant="vn1"``).  Decoding accepts
    the VN1 superset (as libiconv does), so both decode.
``vni-windows``
    VNI for Windows (VNI-Times fonts): a vowel is written as the base letter
    followed by a mark byte (``ễ`` = ``e`` + 0xE3, shown as ``eã`` in
    cp1252); a few letters have single bytes (ơ 0xF4, ư 0xF6, đ 0xF1, í ì ỉ
    ĩ ị, ỵ).  Table as used by Vietnamese input methods and converters:
    xvnkb ``vni.h`` (Dao Hai Lam, 2002), Unikey's charset tables, and the
    ``vietnamese-conversion`` package (duydev, ``src/charsets.ts``), which
    agree.  Bytes outside the table are read as Windows-1252 (VNI fonts are
    Windows fonts).
``cp1258``
    Windows-1258 (Python's codec), which stores most tones as separate
    combining marks (``ễ`` = ``ê`` + U+0303); decoded text is NFC-composed.

:func:`decode_bytes` chooses among UTF-8 (with or without BOM), UTF-16,
cp1258, VNI and TCVN3 by scoring how plausible the decoded text is as
Vietnamese (share of words that are well-formed Vietnamese syllables,
penalising mojibake signs), and falls back to charset-normalizer for text
that is not Vietnamese.  :func:`repair_text` fixes a single string that was
decoded with the wrong code page and stored: UTF-8 read as cp1252/Latin-1
(``Nguyá»…n``, repaired by ftfy), TCVN3 read as cp1252 (``NguyÔn ThÞ Hång``)
and VNI read as cp1252 (``Nguyeãn Thò Hoàng``).  A string that is already
good Vietnamese is never changed.
"""
from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import Counter
from typing import Iterable, Literal, NamedTuple

import ftfy
import pandas as pd

from vaxlib.vn.keystrokes import is_skeleton, is_syllable
from vaxlib.vn.text import fold_diacritics, nfc, tone_key

__all__ = [
    "Decoded",
    "DecodedLines",
    "decode_bytes",
    "decode_lines",
    "decode_legacy_line",
    "decode_tcvn3",
    "encode_tcvn3",
    "decode_vni",
    "encode_vni",
    "decode_cp1258",
    "encode_cp1258",
    "repair_text",
    "repair_texts",
    "text_encoding_of",
    "detect_text_encoding",
    "vietnamese_score",
]

log = logging.getLogger(__name__)

# ------------------------------------------------------------------- TCVN3
# GNU libiconv lib/tcvn.h, tcvn_2uni_1 (bytes 0x00-0x17) and tcvn_2uni_2
# (bytes 0x80-0xFF); bytes not listed map to themselves.
_TCVN_C0 = {
    0x01: 0x00DA, 0x02: 0x1EE4, 0x04: 0x1EEA, 0x05: 0x1EEC, 0x06: 0x1EEE,
    0x11: 0x1EE8, 0x12: 0x1EF0, 0x13: 0x1EF2, 0x14: 0x1EF6, 0x15: 0x1EF8,
    0x16: 0x00DD, 0x17: 0x1EF4,
}
_TCVN_HIGH = [
    # 0x80
    0x00C0, 0x1EA2, 0x00C3, 0x00C1, 0x1EA0, 0x1EB6, 0x1EAC, 0x00C8,
    0x1EBA, 0x1EBC, 0x00C9, 0x1EB8, 0x1EC6, 0x00CC, 0x1EC8, 0x0128,
    # 0x90
    0x00CD, 0x1ECA, 0x00D2, 0x1ECE, 0x00D5, 0x00D3, 0x1ECC, 0x1ED8,
    0x1EDC, 0x1EDE, 0x1EE0, 0x1EDA, 0x1EE2, 0x00D9, 0x1EE6, 0x0168,
    # 0xA0
    0x00A0, 0x0102, 0x00C2, 0x00CA, 0x00D4, 0x01A0, 0x01AF, 0x0110,
    0x0103, 0x00E2, 0x00EA, 0x00F4, 0x01A1, 0x01B0, 0x0111, 0x1EB0,
    # 0xB0 (0xB0-0xB4: combining grave, hook, tilde, acute, dot below)
    0x0300, 0x0309, 0x0303, 0x0301, 0x0323, 0x00E0, 0x1EA3, 0x00E3,
    0x00E1, 0x1EA1, 0x1EB2, 0x1EB1, 0x1EB3, 0x1EB5, 0x1EAF, 0x1EB4,
    # 0xC0
    0x1EAE, 0x1EA6, 0x1EA8, 0x1EAA, 0x1EA4, 0x1EC0, 0x1EB7, 0x1EA7,
    0x1EA9, 0x1EAB, 0x1EA5, 0x1EAD, 0x00E8, 0x1EC2, 0x1EBB, 0x1EBD,
    # 0xD0
    0x00E9, 0x1EB9, 0x1EC1, 0x1EC3, 0x1EC5, 0x1EBF, 0x1EC7, 0x00EC,
    0x1EC9, 0x1EC4, 0x1EBE, 0x1ED2, 0x0129, 0x00ED, 0x1ECB, 0x00F2,
    # 0xE0
    0x1ED4, 0x1ECF, 0x00F5, 0x00F3, 0x1ECD, 0x1ED3, 0x1ED5, 0x1ED7,
    0x1ED1, 0x1ED9, 0x1EDD, 0x1EDF, 0x1EE1, 0x1EDB, 0x1EE3, 0x00F9,
    # 0xF0
    0x1ED6, 0x1EE7, 0x0169, 0x00FA, 0x1EE5, 0x1EEB, 0x1EED, 0x1EEF,
    0x1EE9, 0x1EF1, 0x1EF3, 0x1EF7, 0x1EF9, 0x00FD, 0x1EF5, 0x1ED0,
]
_TCVN_DECODE = [chr(_TCVN_C0.get(b, b)) for b in range(0x80)] + [chr(c) for c in _TCVN_HIGH]

_TCVN_TRANSLATE = {b: ch for b, ch in enumerate(_TCVN_DECODE) if ch != chr(b)}

_TCVN_ENCODE_VN1: dict[str, int] = {}
for _b, _ch in enumerate(_TCVN_DECODE):
    if _b >= 0x80 or _b in _TCVN_C0:
        _TCVN_ENCODE_VN1.setdefault(_ch, _b)

# VN3 (TCVN3/ABC): only the lower-case letters with tones (0xB5-0xFE) and
# the seven capitals without tone Ă Â Ê Ô Ơ Ư Đ (0xA1-0xA7).  A capital with
# a tone is written with its lower-case code.
# (VN1 also puts some toned capitals in 0xA0-0xFF, e.g. Ắ 0xC0, Ố 0xFF; VN3
# leaves them out as well.)


def _has_tone(ch: str) -> bool:
    return any(m in _TCVN_COMBINING for m in unicodedata.normalize("NFD", ch))


_TCVN_COMBINING = {"\u0300": 0xB0, "\u0309": 0xB1, "\u0303": 0xB2, "\u0301": 0xB3, "\u0323": 0xB4}
_TCVN_ENCODE_VN3: dict[str, int] = {
    ch: b for ch, b in _TCVN_ENCODE_VN1.items()
    if 0xA0 <= b <= 0xFF and not (ch.isupper() and _has_tone(ch))
}
for _ch in list(_TCVN_ENCODE_VN1):
    if _ch not in _TCVN_ENCODE_VN3 and _ch.lower() in _TCVN_ENCODE_VN3:
        _TCVN_ENCODE_VN3[_ch] = _TCVN_ENCODE_VN3[_ch.lower()]


def decode_tcvn3(data: bytes) -> str:
    """Decode TCVN3 (ABC) / TCVN 5712 bytes to NFC text.

    >>> decode_tcvn3(b"Nguy\\xd4n Th\\xde H\\xe5ng")
    'Nguyễn Thị Hồng'
    """
    return nfc(data.decode("latin-1").translate(_TCVN_TRANSLATE))


def _encode_table(text: str, table: dict[str, int], combining: dict[str, int] | None,
                  errors: str, name: str) -> bytes:
    out = bytearray()
    for i, ch in enumerate(nfc(text)):
        if ch < "\x80" and ord(ch) not in _TCVN_C0:
            out.append(ord(ch))
            continue
        b = table.get(ch) if ch >= "\x80" else None
        if b is not None:
            out.append(b)
            continue
        if combining is not None:
            # base + tone, as libiconv does for letters without a code.
            decomposed = unicodedata.normalize("NFD", ch)
            base, marks = decomposed[0], decomposed[1:]
            base = nfc(base + "".join(m for m in marks if m not in combining))
            tones = [m for m in marks if m in combining]
            if len(tones) == 1 and (base < "\x80" or base in table):
                out.append(ord(base) if base < "\x80" else table[base])
                out.append(combining[tones[0]])
                continue
        if errors == "replace":
            out.append(ord("?"))
        elif errors == "ignore":
            continue
        else:
            raise UnicodeEncodeError(name, text, i, i + 1, "character not in the table")
    return bytes(out)


def encode_tcvn3(text: str, *, variant: Literal["vn3", "vn1"] = "vn3",
                 errors: Literal["strict", "replace", "ignore"] = "strict") -> bytes:
    """Encode text as TCVN3 bytes.

    ``variant="vn3"`` (TCVN3/ABC, the default) writes a capital with a tone
    with its lower-case code, so decoding gives the lower-case letter;
    ``"vn1"`` uses the VN1 capital codes.

    >>> encode_tcvn3("Đặng Thị Hồng")
    b'\\xa7\\xc6ng Th\\xde H\\xe5ng'
    >>> decode_tcvn3(encode_tcvn3("ĐẶNG"))
    'ĐặNG'
    """
    table = _TCVN_ENCODE_VN3 if variant == "vn3" else _TCVN_ENCODE_VN1
    return _encode_table(text, table, _TCVN_COMBINING, errors, "tcvn3")


# --------------------------------------------------------------------- VNI
_VNI_TONE_MARKS = {"\u0301": "ù", "\u0300": "ø", "\u0309": "û", "\u0303": "õ", "\u0323": "ï"}
_VNI_CIRC = {"": "â", "\u0301": "á", "\u0300": "à", "\u0309": "å", "\u0303": "ã", "\u0323": "ä"}
_VNI_BREVE = {"": "ê", "\u0301": "é", "\u0300": "è", "\u0309": "ú", "\u0303": "ü", "\u0323": "ë"}
_VNI_I = {"\u0301": "í", "\u0300": "ì", "\u0309": "æ", "\u0303": "ó", "\u0323": "ò"}


def _build_vni() -> dict[str, str]:
    """Unicode letter -> VNI sequence (as cp1252 text), lower and upper case."""
    table: dict[str, str] = {"đ": "ñ", "ơ": "ô", "ư": "ö"}
    for base in "aeouy":
        for tone, mark in _VNI_TONE_MARKS.items():
            table[nfc(base + tone)] = base + mark
    table["ỵ"] = "î"  # y with dot below has its own byte
    for base in "aeo":
        for tone, mark in _VNI_CIRC.items():
            table[nfc(base + "\u0302" + tone)] = base + mark
    for tone, mark in _VNI_BREVE.items():
        table[nfc("a\u0306" + tone)] = "a" + mark
    for tone, mark in _VNI_I.items():
        table[nfc("i" + tone)] = mark
    for horned, seq in (("ơ", "ô"), ("ư", "ö")):
        for tone, mark in _VNI_TONE_MARKS.items():
            table[nfc(horned + tone)] = seq + mark
    upper = {}
    for ch, seq in table.items():
        up = ch.upper()
        if up != ch:
            upper[up] = seq.upper()
    table.update(upper)
    return table


_VNI_ENCODE = _build_vni()
_VNI_DECODE = {seq: ch for ch, seq in _VNI_ENCODE.items()}
# Accept a mark in the other case than its base letter (caps fonts mix them).
for _seq, _ch in list(_VNI_DECODE.items()):
    if len(_seq) == 2:
        for _alt in (_seq[0] + _seq[1].swapcase(),):
            _VNI_DECODE.setdefault(_alt, _ch)
_VNI_RE = re.compile("|".join(re.escape(s) for s in sorted(_VNI_DECODE, key=len, reverse=True)))

# cp1252 with the five undefined bytes read as their Latin-1 code points
# ("sloppy" cp1252, what most software actually does).
_CP1252_DECODE = [
    bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256)
]
_CP1252_ENCODE = {ch: b for b, ch in enumerate(_CP1252_DECODE)}
# Text read as Latin-1 instead of cp1252 holds C1 controls U+0080-U+009F.
for _b in range(0x80, 0xA0):
    _CP1252_ENCODE.setdefault(chr(_b), _b)


_CP1252_TRANSLATE = {b: ch for b, ch in enumerate(_CP1252_DECODE) if ch != chr(b)}


def _cp1252_text(data: bytes) -> str:
    return data.decode("latin-1").translate(_CP1252_TRANSLATE)


_CP1252_TO_LATIN1 = {ord(ch): chr(b) for ch, b in _CP1252_ENCODE.items() if ord(ch) != b}


def _cp1252_bytes(text: str) -> bytes | None:
    """The bytes that sloppy cp1252 decoding turned into ``text``, or None."""
    try:
        return text.translate(_CP1252_TO_LATIN1).encode("latin-1")
    except UnicodeEncodeError:
        return None


def _vni_from_cp1252_text(text: str) -> str:
    return nfc(_VNI_RE.sub(lambda m: _VNI_DECODE[m.group(0)], text))


def decode_vni(data: bytes) -> str:
    """Decode VNI-Windows bytes to NFC text.

    >>> decode_vni("Nguyeãn Thò Hoàng".encode("cp1252"))
    'Nguyễn Thị Hồng'
    """
    return _vni_from_cp1252_text(_cp1252_text(data))


def encode_vni(text: str, *, errors: Literal["strict", "replace", "ignore"] = "strict") -> bytes:
    """Encode text as VNI-Windows bytes (other characters as cp1252).

    >>> encode_vni("Trần Văn Đức").decode("cp1252")
    'Traàn Vaên Ñöùc'
    """
    seq = "".join(_VNI_ENCODE.get(ch, ch) for ch in nfc(text))
    out = bytearray()
    for i, ch in enumerate(seq):
        b = _CP1252_ENCODE.get(ch)
        if b is not None:
            out.append(b)
        elif errors == "replace":
            out.append(ord("?"))
        elif errors == "strict":
            raise UnicodeEncodeError("vni-windows", text, 0, len(text), f"character {ch!r} not in VNI")
    return bytes(out)


# ------------------------------------------------------------ Windows-1258
def decode_cp1258(data: bytes, errors: str = "strict") -> str:
    """Decode Windows-1258 and compose its separate tone marks (NFC)."""
    return nfc(data.decode("cp1258", errors=errors))


def encode_cp1258(text: str, errors: str = "strict") -> bytes:
    """Encode as Windows-1258 the way Windows does: a precomposed letter when the
    code page has one, otherwise base letter (with its vowel mark) + tone mark."""
    out = []
    for ch in nfc(text):
        try:
            out.append(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", ch)
        tones = "".join(m for m in decomposed if m in "\u0300\u0301\u0303\u0309\u0323")
        base = nfc("".join(m for m in decomposed if m not in tones))
        out.append((base + tones).encode("cp1258", errors=errors))
    return b"".join(out)


# ----------------------------------------------------------- plausibility
_WORD_RE = re.compile(r"[^\W\d_]+")
# Characters that are rare in Vietnamese data but typical of mojibake.
_SUSPICIOUS = frozenset(
    "¡¢£¤¥¦§¨©ª«¬\xad®¯°±²³´µ¶·¸¹º»¼½¾¿×÷ÞþÐðÆæÅåÄäËëÏïÖöÜüÑñÎîØøÛû"
    "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ\ufffd"
)


# A UTF-8 lead byte read as cp1252 (Ã Â Ä Å Æ) followed by a continuation
# byte read as cp1252/Latin-1 (0x80-0xBF): 'Ã\xa0' is à, 'Ã©' is é.
_UTF8_PAIR_RE = re.compile(
    "[ÃÂÄÅÆ][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)


def _is_suspicious(ch: str) -> bool:
    if ch in _SUSPICIOUS:
        return True
    cat = unicodedata.category(ch)
    return cat in ("Cc", "Co", "Cs") and ch not in "\t\n\r" or cat == "Mn"


def vietnamese_score(text: str) -> float:
    """How plausible ``text`` is as Vietnamese, from -1 (garbage) to 1.

    Words with non-ASCII letters count fully: +1 when a well-formed
    Vietnamese syllable, -1 otherwise; ASCII words count 0.1 (+ when the
    skeleton of a syllable); each mojibake sign (C1 controls, stray combining
    marks, ``§¬®Þ…``) counts -1.  The sum is divided by the total weight.
    """
    text = nfc(text)
    good = bad = weight = 0.0
    for w in _WORD_RE.findall(text):
        if w.isascii():
            weight += 0.1
            if is_skeleton(w) or is_syllable(w):
                good += 0.1
            continue
        weight += 1.0
        if is_syllable(w):
            good += 1.0
        else:
            bad += 1.0
    n_susp = sum(1 for ch in text if not ch.isascii() and _is_suspicious(ch))
    n_susp += len(_UTF8_PAIR_RE.findall(text))
    bad += n_susp
    weight += n_susp
    if weight == 0:
        return 0.0
    return (good - bad) / weight


def _vietnamese_words(text: str) -> int:
    return sum(1 for w in _WORD_RE.findall(text) if not w.isascii() and is_syllable(w))


# ------------------------------------------------------------------ repair
_TEXT_LABELS = ("unicode", "utf8-as-cp1252", "tcvn3-as-cp1252", "vni-as-cp1252")


def _candidates(s: str):
    fixed = nfc(ftfy.fix_encoding(s))
    if fixed != s:
        yield "utf8-as-cp1252", fixed
    raw = _cp1252_bytes(s)
    if raw is not None:
        # ftfy is cautious on short strings ('Nguyá»…n Trinh'); the plain
        # reversal is tried too and judged by the same plausibility score.
        try:
            direct = nfc(raw.decode("utf-8"))
        except UnicodeDecodeError:
            direct = None
        if direct is not None and direct != s and direct != fixed:
            yield "utf8-as-cp1252", direct
        tcvn = decode_tcvn3(raw)
        if tcvn != s:
            yield "tcvn3-as-cp1252", tcvn
        vni = _vni_from_cp1252_text(s)
        if vni != s:
            yield "vni-as-cp1252", vni


_BLANKS = re.compile(r"([ \t\r\n]+)")  # not NBSP: UTF-8 mojibake of à is 'Ã' + NBSP


@functools.lru_cache(maxsize=1 << 16)
def _word_ok(w: str) -> bool:
    """Every letter run of ``w`` is ASCII or a Vietnamese syllable, and no mojibake sign.

    Cached: the words of a column's names repeat (Nguyễn, Thị, Văn …), and a column's
    detection (:func:`detect_text_encoding`) looks at a thousand names per file."""
    if any(not ch.isascii() and _is_suspicious(ch) for ch in w) or _UTF8_PAIR_RE.search(w):
        return False
    return all(run.isascii() or is_syllable(run) for run in _WORD_RE.findall(w))


def _word_readings(w: str) -> dict[str, str]:
    """label -> the word as that garbling undone, for the readings that are good Vietnamese.

    A reading with the loan rhyme oo/ôô (``Coõng``: VNI ``Công`` misread as TCVN3)
    does not count: no name and hardly any word has it.
    """
    out: dict[str, str] = {}
    for label, cand in _candidates(w):
        if label not in out and cand != w and _word_ok(cand) and _vietnamese_words(cand) \
                and "oo" not in fold_diacritics(cand).lower():
            out[label] = cand
    return out


def _is_name(text: str) -> bool:
    """Every letter run of ``text`` is a name syllable (:mod:`vaxlib.vn.namedata`)."""
    from vaxlib.vn.keystrokes import _name_syllable_shares

    shares = _name_syllable_shares()["any"]
    runs = _WORD_RE.findall(text)
    return bool(runs) and all(tone_key(r) in shares for r in runs)


def _repair(s: str) -> tuple[str, str]:
    """(repaired text, label), deciding word by word.

    A string garbled by one wrong decode as a whole holds only cp1252
    characters; then the garbling shown by the words that are not Vietnamese
    as they stand (their *votes*) is undone on every word it turns into
    Vietnamese (``Nguyeãn Thò Hoàng`` → ``Nguyễn Thị Hồng``).  A string that
    also holds characters no cp1252 misreading produces (``ễ``) mixes real
    Unicode with garbled words: only the words that are not Vietnamese are
    repaired, so a correct word is never changed (``Nông Trung Haäu`` →
    ``Nông Trung Hậu``, not ``Nụng``), except a word that is no name but reads
    as one (``Thò`` for ``Thị``).  When two garblings give different
    Vietnamese (VNI ``Thư`` read as cp1252 is ``Thö``, which TCVN3 reads as
    ``Thử``) and nothing else in the string decides, the text is left as
    it is and labelled ``"ambiguous"``.
    """
    if not isinstance(s, str) or s.isascii():
        return s, "unicode"
    parts = _BLANKS.split(s)
    idx = [i for i, p in enumerate(parts) if p and not p.isascii() and not p.isspace()]
    ok = {i: _word_ok(parts[i]) for i in idx}
    if all(ok.values()):
        return s, "unicode"  # no word votes for a garbling (the readings, ftfy's, are not needed)
    readings = {i: _word_readings(parts[i]) for i in idx}
    whole = _cp1252_bytes(s) is not None  # could be one wrong decode of the whole string
    votes: Counter[str] = Counter()
    for i in idx:
        if not ok[i]:
            votes.update(readings[i].keys())
    if not votes:
        return s, "unicode"
    top = max(votes.values())
    leaders = [lab for lab in _TEXT_LABELS if votes.get(lab) == top]

    def apply(label: str) -> list[str]:
        out = list(parts)
        for i in idx:
            r = readings[i]
            if label in r and not ok[i]:
                out[i] = r[label]
            elif label in r and whole and not (_is_name(parts[i]) and not _is_name(r[label])):
                # a good word in a wholly garbled string is garbled too (VNI Thị reads Thò),
                # unless it is a name and its reading is none (Khôi, not Khơi)
                out[i] = r[label]
            elif label in r and not whole and _is_name(r[label]) and not _is_name(parts[i]):
                out[i] = r[label]  # mixed string: a good word that is no name but reads as one (Thò)
            elif not ok[i] and not whole and len(r) == 1:
                out[i] = next(iter(r.values()))  # a mixed string: each bad word its own reading
        return out

    results = {lab: "".join(apply(lab)) for lab in leaders}
    if len(set(results.values())) > 1:
        # Two garblings give two texts: decide only when one is a name and no other is
        # (Thö: Thư, not Thử); otherwise leave it, flagged.
        named = [lab for lab in leaders if _is_name(results[lab])]
        if len(named) != 1:
            return s, "ambiguous"
        leaders = named
    label = leaders[0]
    best = results[label]
    if best == s or vietnamese_score(best) <= vietnamese_score(s) or _vietnamese_words(best) == 0:
        return s, "unicode"
    return best, label


def repair_text(s: str) -> str:
    """Repair a string garbled by a wrong decode; unchanged when it is fine.

    Decided word by word (see :func:`text_encoding_of` for the flag when it
    cannot be decided): a correct word is never changed, and a string that
    two garblings would turn into two different names stays as it is.

    >>> repair_text("Nguyá»…n Thá»‹ Há»“ng")
    'Nguyễn Thị Hồng'
    >>> repair_text("NguyÔn ThÞ Hång")
    'Nguyễn Thị Hồng'
    >>> repair_text("Nguyeãn Thò Hoàng")
    'Nguyễn Thị Hồng'
    >>> repair_text("Lê Hà")
    'Lê Hà'
    """
    return _repair(s)[0]


def text_encoding_of(s: str) -> str:
    """Which garbling :func:`repair_text` undoes for ``s``: one of "unicode",
    "utf8-as-cp1252", "tcvn3-as-cp1252", "vni-as-cp1252", or "ambiguous" when
    two garblings would give different Vietnamese and ``s`` is left unchanged
    (flagged, for a person or the column's encoding to decide)."""
    return _repair(s)[1]


def _force(s: str, label: str) -> str:
    """Undo the garbling ``label`` on ``s`` unless that makes it less plausible."""
    if not isinstance(s, str) or s.isascii():
        return s
    if label == "utf8-as-cp1252":
        cand = next((c for lab, c in _candidates(s) if lab == label), s)
    else:
        raw = _cp1252_bytes(s)
        if raw is None:
            return s
        cand = decode_tcvn3(raw) if label == "tcvn3-as-cp1252" else _vni_from_cp1252_text(s)
    return cand if vietnamese_score(cand) >= vietnamese_score(s) else s


def repair_texts(values: pd.Series, *, assume: str | None = None) -> pd.Series:
    """Repair a column, once per distinct value; nulls stay null.

    ``assume=None`` repairs each value on its own (:func:`repair_text`).  A
    garbled short name can itself be valid Vietnamese — VNI ``Hồ Thị`` read
    as cp1252 is ``Hoà Thò`` — and is then left alone.  A column comes from
    one file in one encoding, so ``assume="auto"`` detects the column's
    garbling (:func:`detect_text_encoding`) and undoes it on every value
    where that does not lower plausibility; or pass the label explicitly.
    """
    if assume == "auto":
        assume = detect_text_encoding(values)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if assume in (None, "unicode"):
        fix = repair_text if assume is None else (lambda v: v)
    elif assume in _TEXT_LABELS:
        fix = lambda v: _force(v, assume)  # noqa: E731
    else:
        raise ValueError(f"assume must be None, 'auto' or one of {_TEXT_LABELS}, not {assume!r}")
    table = [fix(v) if isinstance(v, str) else v for v in uniques]
    out = [table[c] if c >= 0 else None for c in codes]
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def detect_text_encoding(values: Iterable[str], *, sample: int = 5000) -> str:
    """Which garbling a column of already-decoded strings shows.

    Returns "unicode" when the values are fine (or ASCII), otherwise the most
    common label of :func:`text_encoding_of` among the non-ASCII values
    ("utf8-as-cp1252", "tcvn3-as-cp1252", "vni-as-cp1252").
    """
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for v in values:
        if not isinstance(v, str) or v.isascii() or v in seen:
            continue
        seen.add(v)
        counts[text_encoding_of(v)] += 1
        if len(seen) >= sample:
            break
    garbled = {k: n for k, n in counts.items() if k not in ("unicode", "ambiguous")}
    if not garbled or sum(garbled.values()) < counts.get("unicode", 0):
        return "unicode"
    return max(garbled, key=lambda k: (garbled[k], -_TEXT_LABELS.index(k)))


# ------------------------------------------------------------------ decode
class Decoded(NamedTuple):
    """Result of :func:`decode_bytes`."""

    text: str
    encoding: str
    confidence: float


_SAMPLE_BYTES = 256 * 1024
_LATIN_PAGES = frozenset({
    "cp1250", "cp1252", "cp1254", "cp1257", "latin_1", "iso8859_1", "iso8859_2",
    "iso8859_9", "iso8859_15", "mac_roman", "mac_latin2", "cp850", "cp437",
})


def _legacy_candidates(data: bytes):
    yield "cp1258", decode_cp1258(data, errors="replace")
    yield "vni-windows", decode_vni(data)
    yield "tcvn3", decode_tcvn3(data)
    yield "cp1252", nfc(_cp1252_text(data))


def _utf16_without_bom(data: bytes) -> str | None:
    if len(data) < 4 or len(data) % 2:
        return None
    even = data[0::2].count(0) / (len(data) / 2)
    odd = data[1::2].count(0) / (len(data) / 2)
    for enc, ratio in (("utf-16-le", odd), ("utf-16-be", even)):
        if ratio > 0.3:
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                return None
    return None


def _repair_lines(text: str, sample_lines: int = 2000) -> tuple[str, str]:
    """Detect mojibake on a sample of lines, then undo it on every line.

    Returns (text, label); label "unicode" means nothing to repair.
    """
    lines = text.splitlines(keepends=True)
    label = detect_text_encoding(
        (line for line in lines if not line.isascii()), sample=sample_lines
    )
    if label == "unicode":
        return text, "unicode"
    # A file is in one encoding: undo the garbling on the whole text when
    # that is exact, line by line (keeping lines it would spoil) otherwise.
    raw = _cp1252_bytes(text)
    if raw is not None:
        if label == "tcvn3-as-cp1252":
            return decode_tcvn3(raw), label
        if label == "vni-as-cp1252":
            return _vni_from_cp1252_text(text), label
        try:
            return nfc(raw.decode("utf-8")), label
        except UnicodeDecodeError:
            pass
    return "".join(_force(line, label) for line in lines), label


def decode_bytes(data: bytes) -> Decoded:
    """Decode the bytes of a text file in whatever encoding it is in.

    Labels: "utf-8", "utf-8-sig", "utf-16", "cp1258", "vni-windows",
    "tcvn3", "cp1252-mojibake-utf8" (UTF-8 text that had been read as cp1252
    and saved again: repaired), "tcvn3-as-cp1252" / "vni-as-cp1252" (legacy
    text read as cp1252 and saved as UTF-8: repaired), or another
    charset-normalizer name (e.g. "cp1252") for non-Vietnamese text.
    ``confidence`` is 1.0 for a BOM or pure ASCII, otherwise the Vietnamese
    plausibility of the chosen reading (0–1).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return Decoded(nfc(data[3:].decode("utf-8", errors="replace")), "utf-8-sig", 1.0)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Decoded(nfc(data.decode("utf-16", errors="replace")), "utf-16", 1.0)
    if data.isascii():
        return Decoded(data.decode("ascii"), "utf-8", 1.0)
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return Decoded(nfc(utf16), "utf-16", 0.9)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        text = nfc(text)
        fixed, label = _repair_lines(text)
        if label == "unicode":
            return Decoded(text, "utf-8", max(0.9, min(1.0, vietnamese_score(text[:_SAMPLE_BYTES]))))
        name = {"utf8-as-cp1252": "cp1252-mojibake-utf8"}.get(label, label)
        return Decoded(fixed, name, max(0.0, min(1.0, vietnamese_score(fixed[:_SAMPLE_BYTES]))))

    sample = data[:_SAMPLE_BYTES]
    scored = []
    for order, (label, decoded) in enumerate(_legacy_candidates(sample)):
        scored.append((vietnamese_score(decoded), _vietnamese_words(decoded), -order, label))
    scored.sort(reverse=True)
    score, n_words, _, label = scored[0]
    if label == "cp1252" or n_words == 0 or score < 0.25:
        # Not Vietnamese: let charset-normalizer judge (Latin-1, cp1252, …).
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            latin = best.encoding in _LATIN_PAGES
            if latin and b"\x81" not in data and b"\x8d" not in data:
                # On short Western text charset-normalizer hesitates between
                # single-byte Latin pages; cp1252 is the Windows default.
                try:
                    return Decoded(nfc(data.decode("cp1252")), "cp1252", float(1.0 - best.chaos))
                except UnicodeDecodeError:
                    pass
            return Decoded(nfc(str(best)), best.encoding, float(1.0 - best.chaos))
        return Decoded(nfc(_cp1252_text(data)), "cp1252", 0.0)
    decoders = {
        "cp1258": lambda d: decode_cp1258(d, errors="replace"),
        "vni-windows": decode_vni,
        "tcvn3": decode_tcvn3,
    }
    second = scored[1][0] if len(scored) > 1 else -1.0
    confidence = max(0.0, min(1.0, score)) * min(1.0, 0.5 + (score - second))
    log.debug("decode_bytes: %s (score %.2f, runner-up %.2f)", label, score, second)
    return Decoded(decoders[label](data), label, round(confidence, 3))


# ------------------------------------------------------------ per region
class DecodedLines(NamedTuple):
    """Result of :func:`decode_lines`: a file decoded line by line.

    ``text`` has exactly one line per physical line of the bytes (same
    terminators), so line ``i`` of the text is line ``i`` of the file.
    ``bad_lines`` maps a 0-based line index to why it could not be decoded
    (its text is the bytes with ``\\xNN`` escapes, never U+FFFD);
    ``legacy_lines`` maps a line read in another encoding than ``encoding``
    to that encoding.
    """

    text: str
    encoding: str
    bad_lines: dict[int, str]
    legacy_lines: dict[int, str]


_LINE_BYTES = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
#: a line read in a legacy encoding is kept only when it is this plausible as Vietnamese
_LEGACY_LINE_SCORE = 0.5


def _strict_cp1258(data: bytes) -> str | None:
    try:
        return decode_cp1258(data)
    except UnicodeDecodeError:
        return None


_LINE_DECODERS = {
    "cp1258": _strict_cp1258,
    "vni-windows": decode_vni,
    "tcvn3": decode_tcvn3,
}


def decode_legacy_line(line: bytes) -> tuple[str, str] | None:
    """(text, encoding) of one line that is not UTF-8, if a legacy Vietnamese encoding reads it cleanly.

    Clean means: no undefined byte, no control character, at least one
    well-formed Vietnamese syllable with a diacritic and a
    :func:`vietnamese_score` of at least 0.5 -- binary garbage never is.
    Ties go to cp1258, then VNI, then TCVN3 (the order of their frequency).
    """
    best = None
    for order, (label, dec) in enumerate(_LINE_DECODERS.items()):
        text = dec(line)
        if text is None:
            continue
        body = text.rstrip("\r\n")
        if _CONTROL.search(body) or _vietnamese_words(body) == 0:
            continue
        score = vietnamese_score(body)
        if score >= _LEGACY_LINE_SCORE and (best is None or score > best[0] + 1e-9):
            best = (score, text, label)
    return (best[1], best[2]) if best else None


def _escaped(line: bytes) -> str:
    """A line that cannot be decoded, shown as UTF-8 with its bad bytes as ``\\xNN``."""
    return line.decode("utf-8", errors="backslashreplace")


def _why_not_utf8(line: bytes) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte {exc.start + 1} (0x{line[exc.start]:02x}) is not UTF-8"
    return "not UTF-8"


def decode_lines(data: bytes) -> DecodedLines:
    """Decode a text file region by region: one bad line never changes how the others are read.

    * UTF-8 (with or without BOM) is kept for every line that is UTF-8 when the
      file has a BOM or enough UTF-8 lines with non-ASCII text (at least one for
      every ten lines that are not UTF-8); a line that is not UTF-8 is read in a
      legacy Vietnamese encoding when :func:`decode_legacy_line` accepts it, and
      is otherwise a bad line.
    * Otherwise the file's legacy encoding is chosen on the whole file
      (:func:`decode_bytes`) and applied line by line; a line that encoding
      cannot read, or reads into control characters or U+FFFD, is tried as
      another legacy encoding and is otherwise a bad line.

    UTF-8 lines are not normalised (a decomposed name stays as typed); legacy
    lines are NFC, as their encodings store tone marks apart.  UTF-16 files
    are not handled here.
    """
    bom = data.startswith(b"\xef\xbb\xbf")
    body = data[3:] if bom else data
    lines = _LINE_BYTES.findall(body)
    utf8: list[str | None] = []
    n_unicode = n_bad = 0
    for line in lines:
        try:
            t = line.decode("utf-8")
        except UnicodeDecodeError:
            utf8.append(None)
            n_bad += 1
            continue
        utf8.append(t)
        if not line.isascii():
            n_unicode += 1
    bad: dict[int, str] = {}
    legacy: dict[int, str] = {}
    out: list[str] = []
    if bom or (n_unicode >= 1 and n_unicode * 10 >= n_bad):
        main = "utf-8-sig" if bom else "utf-8"
        for i, (line, t) in enumerate(zip(lines, utf8)):
            if t is None:
                got = decode_legacy_line(line)
                if got is None:
                    bad[i] = _why_not_utf8(line)
                    t = _escaped(line)
                else:
                    t, legacy[i] = got
            out.append(t)
        return DecodedLines("".join(out), main, bad, legacy)

    main = decode_bytes(body).encoding
    decoder = _LINE_DECODERS.get(main)
    for i, line in enumerate(lines):
        if line.isascii():
            out.append(line.decode("ascii"))
            continue
        if decoder is not None:
            t = decoder(line)
        else:
            try:
                t = nfc(line.decode(main))
            except (UnicodeDecodeError, LookupError):
                t = None
        if t is None or _CONTROL.search(t.rstrip("\r\n")):
            got = decode_legacy_line(line)
            if got is None:
                bad[i] = f"cannot be read as {main}"
                t = _escaped(line)
            else:
                t, legacy[i] = got
        out.append(t)
    return DecodedLines("".join(out), main, bad, legacy)
