"""Telex / VNI keystroke residue: repaired where it is residue, foreign names left alone."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from keystroke_cases import FOREIGN, FULL_NAMES, type_name

from vaxlib.vn import namedata as nd
from vaxlib.vn.keystrokes import repair_keystrokes, repair_token
from vaxlib.vn.text import set_tone_style


@pytest.mark.parametrize("method", ["telex", "vni"])
@pytest.mark.parametrize("tone_last", [True, False])
@pytest.mark.parametrize("name", FULL_NAMES)
def test_residue_of_a_whole_name_is_repaired(name, method, tone_last):
    assert repair_keystrokes(type_name(name, method, tone_last)) == name


@pytest.mark.parametrize("name", FULL_NAMES)
def test_real_names_are_never_touched(name):
    assert repair_keystrokes(name) == name
    assert repair_keystrokes(name.upper()) == name.upper()


@pytest.mark.parametrize("typed, expected", [
    # toneless ô-syllables: oong is a loan rhyme (boong, xoong), never a name
    ("Nguyeenx Vawn Coong", "Nguyễn Văn Công"),
    ("Nguyen Van Coong", "Nguyen Van Công"),  # the rest typed bare: still residue
    ("Lee Thoong", "Lê Thông"),
    ("Noong Vawn Deenf", "Nông Văn Dền"),
    ("Oong Vawn Taam", "Ông Văn Tâm"),
    ("Mai Thij Soong", "Mai Thị Sông"),
    ("Khoong Minh Ddwcs", "Không Minh Đức"),
    ("Coong", "Công"),
    ("COONG", "CÔNG"),
    ("Khoongr Minh Dduwcs", "Khổng Minh Đức"),
    # the horn typed once on ươ (Unikey puts it on both vowels)
    ("Truwongf Vawn Hai", "Trường Văn Hai"),
    ("Tru7o2ng Va8n Hai", "Trường Văn Hai"),
    ("Nguye64n Thi5 Hu7o7ng", "Nguyễn Thị Hương"),
    ("Nguye64n Thi5 Hu7ong", "Nguyễn Thị Hương"),
    ("Nguye64n Thi5 Huo7ng", "Nguyễn Thị Hương"),
    ("Nguye64n Anh Quo7i1", "Nguyễn Anh Quới"),  # the u of qu takes no horn
    # w alone is ư (Unikey, EVKey)
    ("Bufi Thij Thw", "Bùi Thị Thư"),
    ("Ddoox Vawn Hwng", "Đỗ Văn Hưng"),
])
def test_telex_residue_cases(typed, expected):
    assert repair_keystrokes(typed) == expected


@pytest.mark.parametrize("name", FOREIGN)
def test_foreign_and_minority_names_stay(name):
    assert repair_keystrokes(name) == name


@pytest.mark.parametrize("typed, reference, expected", [
    ("LEE", "LEE MIN JUN", "LEE"),  # the register has it so: not residue
    ("LEE", None, "LÊ"),  # a lone word, and Lê is one family name in ten
    ("Nguyen Thi Mary", "Nguyễn Thị Mary", "Nguyen Thi Mary"),
    ("Kim Thij Mary", "Kim Thị Mary", "Kim Thị Mary"),
    ("Hoang Vawn Hans", None, "Hoang Văn Hans"),  # Hán is no name syllable
    ("Traanf Vawn Kyf", "Trần Văn Kỳ", "Trần Văn Kỳ"),
    ("Max", "Mã Văn Tài", "Mã"),  # the register says so
    ("Le Thi Thuy3", "Lê Thị Thuỷ", "Le Thi Thuỷ"),  # in the register's tone convention
    ("Le Thi Thuy3", None, "Le Thi Thủy"),  # without one: the old convention
    ("TRAANF THIJ HOAF", "Trần Thị Hoà", "TRẦN THỊ HOÀ"),
])
def test_the_register_candidate_decides(typed, reference, expected):
    assert repair_keystrokes(typed, reference=reference) == expected


def test_repair_token_is_the_permissive_reading():
    assert repair_token("Max") == "Mã" and repair_keystrokes("Max") == "Max"
    assert repair_token("Hans") == "Hán" and repair_keystrokes("Hans") == "Hans"


def _names_of(table):
    return [n for rows in table.values() for n, _ in rows if n]


_family = st.sampled_from([n for n, s in nd.FAMILY_NAMES if s >= 0.3])
_middle = st.sampled_from(sorted(set(_names_of(nd.MIDDLE_NAMES))))
_given = st.sampled_from(sorted(set(_names_of(nd.GIVEN_NAMES))))


@settings(max_examples=300, deadline=None)
@given(_family, _middle, _given, st.sampled_from(["telex", "vni"]), st.booleans())
def test_any_generated_name_typed_with_the_method_off_comes_back(family, middle, given_name, method, tone_last):
    name = f"{family} {middle} {given_name}"
    typed = type_name(name, method, tone_last)
    assert repair_keystrokes(typed) == name


# ------------------------------------------------------- taxonomy of residue
@pytest.mark.parametrize("typed, register, codes", [
    # whole-name residue is one keystroke error, however many letters it adds
    ("Nguyeenx Vawn Coong", "Nguyễn Văn Công", ("name:typo",)),
    ("Truowng Thij Ngocj Bichs", "Trương Thị Ngọc Bích", ("name:typo",)),
    ("Nguye64n Va8n Co6ng", "Nguyễn Văn Công", ("name:typo",)),
    ("NGUYEENX THIJ HOONGF", "Nguyễn Thị Hồng", ("name:case_spacing", "name:typo")),
    # the rest of the name is compared as the typist meant it
    ("Nguyeenx Van An", "Nguyễn Văn An", ("name:diacritic_error", "name:typo")),
    ("Nguyeenx An", "Nguyễn Văn An", ("name:missing_part", "name:typo")),
    ("An Nguyeenx Vawn", "Nguyễn Văn An", ("name:order", "name:typo")),
    ("Traanf Thij Bichs", "Nguyễn Văn An", ("name:other", "name:typo")),
    # foreign names in the register are compared as typed
    ("LEE MIN JUN", "Lee Min Jun", ("name:case_spacing",)),
    ("KIM JI HOON", "KIM JI HOON", ()),
])
def test_keystroke_residue_is_name_typo(typed, register, codes):
    from vaxlib.vn.names import compare_names

    assert compare_names(typed, register) == codes


@pytest.mark.parametrize("method", ["telex", "vni"])
def test_every_whole_name_residue_is_labelled_typo_alone(method):
    from vaxlib.vn.names import compare_names

    for name in FULL_NAMES:
        for style in ("old", "new"):  # hòa / hoà: the register's convention is kept
            reg = set_tone_style(name, style)
            for tone_last in (True, False):
                assert compare_names(type_name(reg, method, tone_last), reg) == ("name:typo",), reg
