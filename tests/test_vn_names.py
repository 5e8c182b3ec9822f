"""Names: canonical form, parts, taxonomy comparison, keystroke residue."""
from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.vn.keystrokes import is_skeleton, is_syllable, place_tone, repair_keystrokes
from vaxlib.vn.names import (
    NAME_CODES,
    NameParts,
    canonical_name,
    canonical_names,
    compare_names,
    compare_names_many,
    split_name,
)
from vaxlib.vn.text import set_tone_style

# Real Vietnamese name parts (most frequent family names; common middle and given names).
FAMILIES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
            "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Quách", "Khổng"]
MIDDLES = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Xuân", "Thu",
           "Bảo", "Khánh", "Hoài", "Thuỳ", "Quỳnh"]
GIVENS = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hòa", "Hoà", "Huệ", "Hùng", "Khoẻ",
          "Khỏe", "Lan", "Linh", "Mai", "Nga", "Nhung", "Phúc", "Quý", "Suýt", "Thủy", "Thuỷ",
          "Tuấn", "Tuyết", "Uyên", "Vy", "Xuân", "Yến", "Hoàn", "Huỳnh", "Thoả", "Hoạ"]

names = st.builds(
    lambda f, m, g: " ".join([f, *m, g]),
    st.sampled_from(FAMILIES),
    st.lists(st.sampled_from(MIDDLES), min_size=0, max_size=2),
    st.sampled_from(GIVENS),
)


# ------------------------------------------------------------ canonical_name
@pytest.mark.parametrize(
    "typed, expected",
    [
        ("nguyễn văn an", "Nguyễn Văn An"),
        ("  NGUYỄN   THỊ\u00a0MINH\tKHAI ", "Nguyễn Thị Minh Khai"),
        (unicodedata.normalize("NFD", "Trần Thị Thuỷ"), "Trần Thị Thuỷ"),
        ("ÐẶNG văn lâm", "Đặng Văn Lâm"),  # U+00D0 look-alike
        ("ðinh tiến dũng", "Đinh Tiến Dũng"),  # U+00F0 look-alike
        ("lê thị hòa", "Lê Thị Hòa"),  # tone convention kept as typed
        ("lê thị hoà", "Lê Thị Hoà"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_canonical_name(typed, expected):
    assert canonical_name(typed) == expected


@given(st.text())
def test_canonical_name_idempotent_any_text(s):
    once = canonical_name(s)
    assert canonical_name(once) == once


@given(names, st.sampled_from(["upper", "lower", "nfd", "spaces"]))
def test_canonical_name_undoes_case_and_form(name, how):
    variant = {
        "upper": name.upper(),
        "lower": name.lower(),
        "nfd": unicodedata.normalize("NFD", name),
        "spaces": "  " + name.replace(" ", " \u00a0 ") + "\t",
    }[how]
    assert canonical_name(variant) == name


def test_canonical_names_once_per_value_and_nulls():
    s = pd.Series(["nguyễn an", None, "nguyễn an", "LÊ HÀ"], index=[10, 11, 12, 13])
    out = canonical_names(s)
    assert out.tolist() == ["Nguyễn An", None, "Nguyễn An", "Lê Hà"]
    assert out.index.tolist() == [10, 11, 12, 13]


# ------------------------------------------------------------------ split_name
@pytest.mark.parametrize(
    "name, parts",
    [
        ("Nguyễn Thị Minh Khai", NameParts("Nguyễn", ("Thị", "Minh"), "Khai")),
        ("nguyễn văn an", NameParts("Nguyễn", ("Văn",), "An")),
        ("Lê Hà", NameParts("Lê", (), "Hà")),
        ("Hà", NameParts("", (), "Hà")),
        ("", NameParts("", (), "")),
        ("  Tôn Nữ  Thị Ninh ", NameParts("Tôn", ("Nữ", "Thị"), "Ninh")),
    ],
)
def test_split_name(name, parts):
    assert split_name(name) == parts


# --------------------------------------------------------------- compare_names
NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731

COMPARE_CASES = [
    # identical
    ("Nguyễn Văn An", "Nguyễn Văn An", ()),
    ("Huỳnh Quý Hoàn", "Huỳnh Quý Hoàn", ()),
    # unicode_form: invisible code-point differences
    (NFD("Nguyễn Văn An"), "Nguyễn Văn An", ("name:unicode_form",)),
    ("Ðặng Thị Huệ", "Đặng Thị Huệ", ("name:unicode_form",)),
    # case_spacing
    ("nguyễn văn an", "Nguyễn Văn An", ("name:case_spacing",)),
    ("NGUYỄN VĂN AN", "Nguyễn Văn An", ("name:case_spacing",)),
    ("Nguyễn  Văn An ", "Nguyễn Văn An", ("name:case_spacing",)),
    ("Nguyễn\u00a0Văn An", "Nguyễn Văn An", ("name:case_spacing",)),
    ("NguyễnVăn An", "Nguyễn Văn An", ("name:case_spacing",)),
    ("NGuyễn Văn An", "Nguyễn Văn An", ("name:case_spacing",)),
    # no_diacritics
    ("Nguyen Van An", "Nguyễn Văn An", ("name:no_diacritics",)),
    ("Dang Thi Hue", "Đặng Thị Huệ", ("name:no_diacritics",)),
    ("NGUYEN VAN AN", "Nguyễn Văn An", ("name:case_spacing", "name:no_diacritics")),
    # tone_placement: only oa / oe / uy open syllables
    ("Lê Thị Hoà", "Lê Thị Hòa", ("name:tone_placement",)),
    ("Trần Thị Thủy", "Trần Thị Thuỷ", ("name:tone_placement",)),
    ("Phạm Văn Khoẻ", "Phạm Văn Khỏe", ("name:tone_placement",)),
    ("Bùi Thị Thuỳ Dương", "Bùi Thị Thùy Dương", ("name:tone_placement",)),
    # diacritic_error: same letters, some marks wrong or missing (not all)
    ("Nguyễn Van An", "Nguyễn Văn An", ("name:diacritic_error",)),
    ("Nguyến Văn An", "Nguyễn Văn An", ("name:diacritic_error",)),
    ("Huỳnh Quí Hoàn", "Huỳnh Quý Hoàn", ("name:typo",)),  # i/y is a letter, not a mark
    ("Huỳnh Quý Hoan", "Huỳnh Quý Hoàn", ("name:diacritic_error",)),
    ("Lê Thi Hoà", "Lê Thị Hòa", ("name:diacritic_error", "name:tone_placement")),
    ("Trần Văn Đức", "Trần Văn Dức", ("name:diacritic_error",)),
    # typo: small edit on the skeleton
    ("Nguyễn Văn Anh", "Nguyễn Văn An", ("name:typo",)),
    ("Ngyễn Văn An", "Nguyễn Văn An", ("name:typo",)),
    ("Nguễyn Thị Hồng", "Nguyễn Thị Hồng", ("name:typo",)),
    ("Nguyeenx Văn An", "Nguyễn Văn An", ("name:typo",)),  # keystroke residue shows as typo
    ("Nguyen Vna An", "Nguyễn Văn An", ("name:no_diacritics", "name:typo")),
    # order: given name first, or family last
    ("An Nguyễn Văn", "Nguyễn Văn An", ("name:order",)),
    ("Văn An Nguyễn", "Nguyễn Văn An", ("name:order",)),
    ("Van An Nguyen", "Nguyễn Văn An", ("name:no_diacritics", "name:order")),
    # missing_part: typed words a strict subset
    ("Nguyễn An", "Nguyễn Văn An", ("name:missing_part",)),
    ("Trần Thị Lan", "Trần Thị Ngọc Lan", ("name:missing_part",)),
    ("Nguyen An", "Nguyễn Văn An", ("name:missing_part", "name:no_diacritics")),
    ("An Nguyễn", "Nguyễn Văn An", ("name:missing_part", "name:order")),
    ("Nguyễn Anh", "Nguyễn Văn An", ("name:missing_part", "name:typo")),
    # other
    ("Trần Thị Bích", "Nguyễn Văn An", ("name:other",)),
    ("Nguyễn Thị Thu Hà", "Nguyễn Thị Hà", ("name:other",)),  # an extra word
    ("", "Nguyễn Văn An", ("name:other",)),
]


@pytest.mark.parametrize("typed, register, codes", COMPARE_CASES)
def test_compare_names(typed, register, codes):
    assert compare_names(typed, register) == codes


def test_every_code_is_exercised():
    seen = {c for _, _, codes in COMPARE_CASES for c in codes}
    assert seen == set(NAME_CODES)


@given(names)
def test_compare_identical_is_empty(name):
    assert compare_names(name, name) == ()


@given(st.text(max_size=30))
def test_compare_identical_any_text(s):
    assert compare_names(s, s) == ()


name_alphabet = st.sampled_from(list("aăâeêioôơuưy dđnghtANĐ\u00a0\u0300\u0301\u0303\u0309\u0323ÐỄễ"))


@given(st.text(name_alphabet, max_size=12), st.text(name_alphabet, max_size=12))
def test_compare_empty_only_when_identical(a, b):
    codes = compare_names(a, b)
    assert (codes == ()) == (a == b)
    assert set(codes) <= set(NAME_CODES)
    assert list(codes) == sorted(codes)


def test_register_side_spacing_is_reported():
    assert compare_names("Nguyễn Văn An", "Nguyễn Văn  An") == ("name:case_spacing",)


@given(names)
def test_tone_style_round_trip(name):
    old, new = set_tone_style(name, "old"), set_tone_style(name, "new")
    assert set_tone_style(new, "old") == old
    assert set_tone_style(old, "new") == new
    codes = compare_names(new, old)
    assert codes == (("name:tone_placement",) if new != old else ())


@pytest.mark.parametrize("word", ["Hoàn", "Huỳnh", "Quý", "Suýt", "Quỳnh", "Khuyết"])
def test_tone_style_never_touches_closed_or_qu(word):
    assert set_tone_style(word, "old") == word == set_tone_style(word, "new")
    assert compare_names(f"Lê {word}", f"Lê {set_tone_style(word, 'new')}") == ()


SYMMETRIC = {"name:unicode_form", "name:tone_placement", "name:order", "name:typo", "name:case_spacing"}


@given(names, st.sampled_from(["nfd", "tone", "order", "typo"]))
def test_symmetric_codes_are_symmetric(name, how):
    words = name.split()
    if how == "nfd":
        other = NFD(name)
    elif how == "tone":
        other = set_tone_style(name, "new" if set_tone_style(name, "old") == name else "old")
    elif how == "order":
        other = " ".join(words[1:] + words[:1])
    else:
        family = words[0]  # transpose two letters, keeping the diacritics
        other = " ".join([family[1] + family[0] + family[2:]] + words[1:])
    ab, ba = compare_names(name, other), compare_names(other, name)
    assert ab == ba
    assert set(ab) <= SYMMETRIC


def test_compare_names_many_matches_scalar_and_handles_nulls():
    typed = pd.Series(["Nguyen Van An", "Nguyễn Văn An", None, "Lê Thị Hoà", "Nguyen Van An", None],
                      index=list("abcdef"))
    reg = pd.Series(["Nguyễn Văn An", "Nguyễn Văn An", "Lê Hà", "Lê Thị Hòa", "Nguyễn Văn An", None],
                    index=list("abcdef"))
    out = compare_names_many(typed, reg)
    assert out.tolist() == ["name:no_diacritics", "", "name:other", "name:tone_placement",
                            "name:no_diacritics", ""]
    assert out.index.tolist() == list("abcdef")


@settings(max_examples=50)
@given(st.lists(st.tuples(names, names), min_size=1, max_size=20))
def test_compare_names_many_equals_scalar(pairs):
    typed = pd.Series([p[0] for p in pairs])
    reg = pd.Series([p[1] for p in pairs])
    expected = [";".join(compare_names(a, b)) for a, b in pairs]
    assert compare_names_many(typed, reg).tolist() == expected


# ------------------------------------------------------------------ keystrokes
@pytest.mark.parametrize(
    "typed, expected",
    [
        ("Nguyeenx", "Nguyễn"),
        ("Thij", "Thị"),
        ("Hoangf", "Hoàng"),
        ("Truowngf", "Trường"),
        ("Truongw", "Trương"),
        ("Ddawngj", "Đặng"),
        ("Dduwcs", "Đức"),
        ("Tuaans", "Tuấn"),
        ("Huyeenf", "Huyền"),
        ("Nguye6n~", "Nguyễn"),
        ("Nguye64n", "Nguyễn"),
        ("Nguye6n4", "Nguyễn"),
        ("Tra62n", "Trần"),
        ("D9a85ng", "Đặng"),
        ("Lee Thij Quys", "Lê Thị Quý"),
        ("NGUYEENX", "NGUYỄN"),
        ("Nguyeenx Thij Hoangf", "Nguyễn Thị Hoàng"),
        ("Nguye64n Va8n An", "Nguyễn Văn An"),
    ],
)
def test_repair_keystrokes(typed, expected):
    assert repair_keystrokes(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "Tuyen", "Nguyen Van An", "Hoang", "Thi", "Truong",  # diacritic-free names stay
        "Nguyễn Thị Hồng", "Hoà", "Quý",  # already Vietnamese
        "Jones", "Maria", "O'Brien", "Smith", "Chris",  # foreign names
        "Tuans",  # 'tuán' is not a syllable: ambiguous, left alone
        "A.", "T. Hà", "123",
    ],
)
def test_repair_keystrokes_leaves_alone(typed):
    assert repair_keystrokes(typed) == typed


@pytest.mark.parametrize(
    "word, ok",
    [("Nguyễn", True), ("thị", True), ("Quỳnh", True), ("giếng", True), ("khuỷu", True),
     ("thuở", True), ("hoạt", True), ("Ưng", True), ("Khuê", True),
     ("hoàt", False), ("NguyÔn", False), ("thÞ", False), ("nguyeãn", False), ("ki", True),
     ("ca", True), ("ke", True), ("ce", False), ("hồngg", False)],
)
def test_is_syllable(word, ok):
    assert is_syllable(word) is ok


def test_is_skeleton_and_place_tone():
    assert is_skeleton("Nguyen") and is_skeleton("tuyen") and not is_skeleton("thij")
    assert place_tone("nguyên", "\u0303") == "nguyễn"
    assert place_tone("hoa", "\u0300") == "hòa"  # old convention
    assert place_tone("hoan", "\u0300") == "hoàn"
    assert place_tone("giêng", "\u0301") == "giếng"
    assert place_tone("quynh", "\u0300") == "quỳnh"
    assert place_tone("hoat", "\u0300") is None  # stop coda takes sắc / nặng only


@given(names)
def test_repair_keystrokes_leaves_real_names(name):
    assert repair_keystrokes(name) == name


@pytest.mark.parametrize("typed, register, expected", [
    # a doubled capital is a typo, not a case difference
    ("Đỗ Minh CChiến", "Đỗ Minh Chiến", ("name:typo",)),
    # a whole given name replaced by another is not a typo
    ("Nguyễn Ngọc Tân", "Nguyễn Ngọc Huấn", ("name:other",)),
    ("Dương Thị Lệ", "Dương Thị Mơ", ("name:other",)),
    # a typo does not also change the tone: another name
    ("Nguyễn Duy Khánh", "Nguyễn Duy Hạnh", ("name:other",)),
    ("Dương Đức Jiếu", "Dương Đức Hiếu", ("name:typo",)),
    ("Trần Hữi Anh", "Trần Hữu Anh", ("name:typo",)),
    ("NGUYEN VAN HUNH", "Nguyễn Văn Hùng", ("name:case_spacing", "name:no_diacritics", "name:typo")),
])
def test_typo_is_a_keystroke_slip_not_another_name(typed, register, expected):
    assert compare_names(typed, register) == expected


# ------------------------------------------- compare_names_array: the vectorised comparison
from keystroke_cases import FULL_NAMES, type_name  # noqa: E402

from vaxlib import synth  # noqa: E402
from vaxlib.vn import namedata as nd  # noqa: E402
from vaxlib.vn.names import compare_names_array  # noqa: E402


def _parts(table):
    return sorted({n for rows in table.values() for n, _ in rows if n})


_wide_names = st.builds(
    lambda f, m, g: " ".join([f, *m, g]),
    st.sampled_from([n for n, _ in nd.FAMILY_NAMES]), st.lists(st.sampled_from(_parts(nd.MIDDLE_NAMES)), max_size=3),
    st.sampled_from(_parts(nd.GIVEN_NAMES)))
# the harsh data's mechanisms (vaxlib.synth), keystroke residue, and what else reaches a register
_MECHANISMS = [c for c in NAME_CODES] + ["telex", "vni", "lookalike", "nbsp", "zero_width", "foreign", "long"]


def _mangle(name: str, how: str, u: float, v: float, other: str) -> str:
    if how in ("telex", "vni"):
        return type_name(name, how, u < 0.5)
    if how == "lookalike":
        return name.replace("Đ", "Ð").replace("đ", "ð") if "Đ" in name or "đ" in name else "Ð" + name
    if how == "nbsp":
        return name.replace(" ", "\u00a0", 1)
    if how == "zero_width":
        return name.replace(" ", " \u200b", 1)
    if how == "foreign":
        return "KIM JI HOON" if u < 0.5 else "Lee Min Jun"
    if how == "long":
        return " ".join([name] * 3)
    return synth._apply_name(how, name, u, v, other) or name


@st.composite
def _name_pair(draw):
    """A register name and the name as typed: one to three of the harsh mechanisms applied
    in turn (sometimes to the register side too), or another person's name."""
    register, other = draw(_wide_names), draw(_wide_names)
    typed = register if draw(st.integers(0, 5)) else other
    for how in draw(st.lists(st.sampled_from(_MECHANISMS), max_size=3)):
        typed = _mangle(typed, how, draw(st.floats(0, 0.999)), draw(st.floats(0, 0.999)), other.split()[-1])
    if not draw(st.integers(0, 7)):
        register = _mangle(register, draw(st.sampled_from(["name:unicode_form", "name:case_spacing", "lookalike"])),
                           draw(st.floats(0, 0.999)), 0.5, other)
    return typed, register


@settings(max_examples=400, deadline=None)
@given(st.lists(_name_pair(), min_size=1, max_size=30))
def test_compare_names_array_equals_compare_names(pairs):
    typed = np.array([t for t, _ in pairs], dtype=object)
    register = np.array([r for _, r in pairs], dtype=object)
    got = compare_names_array(typed, register)
    assert [tuple(g) for g in got] == [compare_names(t, r) for t, r in pairs]


# Pairs the vectorised comparison must not take for words paired in place: the same words
# in another order within the typo budget, words split elsewhere (the same skeleton run
# together), spacing odd on both sides, code points odd on both sides.
ARRAY_EDGES = [
    ("Nguyen  Van An", "Nguyễn  Văn An", ("name:no_diacritics",)),
    ("Lan Lam Hu", "Lam Lan Ha", ("name:order", "name:typo")),
    ("Trần Lam Lan", "Trần Lan Lam", ("name:order",)),
    ("Nguyễn Vă Nan", "Nguyễn Văn An", ("name:case_spacing",)),
    (NFD("Đặng Văn An"), "Ðặng Văn An", ("name:unicode_form",)),
    ("Ngyen Vn Anh", "Nguyen Van An", ("name:typo",)),
    ("Nguyễn  Văn An", "Nguyễn Văn  An", ("name:case_spacing",)),
    # a skeleton twice in one name: each typed word takes the first register word still free
    ("Lê Thi Hà", "Lê Thị Thi Hà", ("name:diacritic_error", "name:missing_part")),
    ("Thi Lê Thị", "Lê Thị Thi", ("name:diacritic_error", "name:order")),
    ("Hòa Lan Hòa", "Hòa Lan Hòa Mai", ("name:missing_part",)),
    ("Thị Lê Thi Hà", "Lê Thị Thi Hà", ("name:order",)),
    # a word of combining marks alone has an empty skeleton
    ("A \u0301", "A \u0301 B", ("name:missing_part",)),
    ("Nguyễn An", "Nguyễn \u0301 An", ("name:case_spacing", "name:diacritic_error")),
    # letters outside the Latin fold table: a Greek accent is a diacritic, a Chinese character is not
    ("Le Thi ά", "Lê Thị ά", ("name:diacritic_error",)),
    ("Le Thi 李", "Lê Thị 李", ("name:no_diacritics",)),
]


def test_compare_names_array_on_the_tables():
    cases = COMPARE_CASES + ARRAY_EDGES + [(n.upper(), n, ("name:case_spacing",)) for n in FULL_NAMES]
    typed = np.array([c[0] for c in cases], dtype=object)
    register = np.array([c[1] for c in cases], dtype=object)
    got = compare_names_array(typed, register)
    for (t, r, codes), g in zip(cases, got):
        assert g == codes, (t, r)


def test_compare_names_array_when_names_hold_every_separator():
    # the names are joined by a control character no name holds; when every candidate is
    # typed somewhere they are read one at a time, with the same answers
    odd = "Nguyễn\x01\x02\x03\x04\x05\x06\x07\x08 Văn An"
    cases = [(odd, "Nguyễn Văn An"), ("NGUYỄN VĂN AN", "Nguyễn Văn An"), ("\x01", "\x01 A"), ("\x00 B", "\x00 b"),
             ("Lê Thi Hoà", "Lê Thị Hòa"), ("Nguyen Van An", odd)]
    got = compare_names_array(np.array([c[0] for c in cases], dtype=object),
                              np.array([c[1] for c in cases], dtype=object))
    assert list(got) == [compare_names(t, r) for t, r in cases]
    assert got[1] == ("name:case_spacing",) and got[4] == ("name:diacritic_error", "name:tone_placement")

@pytest.mark.parametrize("values, dtype, expected", [
    (["Hà Nội", None, "x"], object, ["Hà Nội", "", "x"]),
    ([1.5, float("nan"), 2.0], float, ["1.5", "", "2.0"]),
    (["a", pd.NA], "string", ["a", ""]),
    (["a", None], "string[pyarrow]", ["a", ""]),
    ([pd.Timestamp("2022-04-30"), pd.NaT], "datetime64[ns]", ["2022-04-30 00:00:00", ""]),
    ([], object, []),
])
def test_text_or_empty_makes_missing_values_empty_strings(values, dtype, expected):
    """One helper for report, review clusters and feedback: every missing kind becomes "" and the index stays."""
    from vaxlib.vn.text import text_or_empty

    s = pd.Series(values, dtype=dtype, index=range(10, 10 + len(values)))
    out = text_or_empty(s)
    assert out.tolist() == expected and list(out.index) == list(s.index)
    assert pd.api.types.is_string_dtype(out) and all(isinstance(v, str) for v in out)
