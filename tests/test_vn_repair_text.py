"""repair_text on single strings: decided word by word, never changing a correct word,
and leaving (flagging) what two garblings would read as two different names."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from keystroke_cases import FULL_NAMES

from vaxlib.vn.encodings import _cp1252_text, encode_tcvn3, encode_vni, repair_text, text_encoding_of


def vni_as_cp1252(s: str) -> str:
    return _cp1252_text(encode_vni(s))


def tcvn3_as_cp1252(s: str) -> str:
    return _cp1252_text(encode_tcvn3(s))


def utf8_as_cp1252(s: str) -> str:
    return _cp1252_text(s.encode("utf-8"))


@pytest.mark.parametrize("typed, expected, label", [
    # VNI misread as TCVN3 gave another real word: decided by the name, or left alone
    ("Thö", "Thư", "vni-as-cp1252"),  # TCVN3 would read Thử
    ("Höng", "Hưng", "vni-as-cp1252"),  # not Hửng
    ("Coâng", "Công", "vni-as-cp1252"),  # not Coõng
    ("Thò", "Thò", "unicode"),  # VNI Thị, or the word thò: alone it stays
    ("Buøi Thò Thö", "Bùi Thị Thư", "vni-as-cp1252"),
    ("Noâng Thò Hoa", "Nông Thị Hoa", "vni-as-cp1252"),
    # mixed strings: real Unicode words and VNI garbled ones
    ("Nguyễn Vieät An", "Nguyễn Việt An", "vni-as-cp1252"),
    ("Nông Trung Haäu", "Nông Trung Hậu", "vni-as-cp1252"),  # Nông is never touched
    ("Trần Thò Hoàng Yeán", "Trần Thị Hoàng Yến", "vni-as-cp1252"),
    ("Phạm Vaên Ñoàng", "Phạm Văn Đồng", "vni-as-cp1252"),
    # good text is never changed
    ("Nguyễn Thị Hồng", "Nguyễn Thị Hồng", "unicode"),
    ("Hoà Thò", "Hoà Thò", "unicode"),
    ("Tạ Quang Khôi", "Tạ Quang Khôi", "unicode"),
])
def test_repair_text_cases(typed, expected, label):
    assert repair_text(typed) == expected
    assert text_encoding_of(typed) == label


@pytest.mark.parametrize("typed", ["böng", "buû", "bö"])  # VNI bưng, bủ, bư: TCVN3 reads bửng, bũ, bử
def test_ambiguous_values_are_left_and_flagged(typed):
    # two garblings give two different words and neither is a name: leave it, flagged
    assert repair_text(typed) == typed
    assert text_encoding_of(typed) == "ambiguous"


@pytest.mark.parametrize("garble", [vni_as_cp1252, tcvn3_as_cp1252, utf8_as_cp1252])
@pytest.mark.parametrize("name", FULL_NAMES)
def test_whole_name_garbling_is_undone_or_left(name, garble):
    typed = garble(name)
    out = repair_text(typed)
    # TCVN3 keeps no capital with a tone: the case is restored by canonical_name later
    assert out in (typed,) or out.lower() == name.lower()


@pytest.mark.parametrize("name", FULL_NAMES)
def test_correct_names_never_change(name):
    assert repair_text(name) == name
    assert repair_text(name.upper()) == name.upper()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FULL_NAMES), st.data())
def test_one_garbled_word_never_damages_the_others(name, data):
    words = name.split()
    k = data.draw(st.integers(0, len(words) - 1))
    garbled = vni_as_cp1252(words[k])
    typed = " ".join(words[:k] + [garbled] + words[k + 1:])
    out = repair_text(typed).split()
    assert len(out) == len(words)
    # every word that was not garbled and is not cp1252-only text stays as it was
    for j, w in enumerate(words):
        if j != k and any(ord(ch) > 0xFF for ch in w):
            assert out[j] == w, (typed, out)
    assert out[k] in (garbled, words[k])
