"""Test data in legacy Vietnamese byte encodings, written independently of vaxlib.

vaxlib decodes these (``vaxlib.vn.encodings``); the tests must not produce their inputs with the
code under test, so this module spells the encoders out itself.  Used by ``tests/test_io.py``,
``tests/test_io_coded.py`` and ``tests/data/hostile/make_corpus.py``.
"""
from __future__ import annotations

import unicodedata

#: the five Vietnamese tone marks as combining characters
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def encode_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters precomposed, tone marks combining."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", ch)
        tone = [m for m in marks if m in TONE_MARKS]
        rest = [m for m in marks if m not in tone]
        out += unicodedata.normalize("NFC", base + "".join(rest)).encode("cp1258")
        out += "".join(tone).encode("cp1258")
    return bytes(out)


def sloppy_cp1252(s: str) -> str:
    """UTF-8 bytes decoded as Windows-1252 the way Windows does it (undefined bytes pass through)."""
    out = []
    for b in s.encode("utf-8"):
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))
    return "".join(out)
