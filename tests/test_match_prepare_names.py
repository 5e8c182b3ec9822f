"""prepare._name_table (the name columns of every distinct name) against the pandas pipeline that
defined it: the same strings for every code point and for random names of Vietnamese letters,
spacing, combining marks and the characters the steps single out."""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.match import prepare
from vaxlib.vn.text import tone_key


def reference_name_table(values: np.ndarray) -> dict[str, np.ndarray]:
    """The name columns as pandas string methods computed them (the definition, step by step)."""
    u = pd.Series(values, dtype="str")
    spaced = u.str.replace(r"[\s\u00a0\u200b\ufeff\x00]+", " ", regex=True).str.strip()
    canon = spaced.str.normalize("NFC").str.translate(prepare._D_LOOKALIKE).str.lower()
    tone = canon.copy()
    new_style = canon.str.contains(prepare._NEW_TONE_RE, regex=True).fillna(False).to_numpy(dtype=bool)
    if new_style.any():
        tone[new_style] = [tone_key(x) for x in canon[new_style]]
    fold = canon.str.translate(prepare._D_FOLD).str.normalize("NFD").str.replace(r"[\u0300-\u036f]", "", regex=True)
    family = fold.str.extract(r"^(\S+)", expand=False).fillna("")
    given_ = fold.str.extract(r"(\S+)$", expand=False).fillna("")
    multi = fold.str.contains(" ", regex=False).fillna(False)
    fam_given = (family + " " + given_).where(multi, family)
    sorted_tokens = pd.Series([" ".join(sorted(x.split())) for x in fold.to_numpy(dtype=object)], dtype="str")
    table = {"name_canon": canon, "name_tone": tone, "name_fold": fold, "name_sorted": sorted_tokens,
             "family": family, "given": given_, "fam_given": fam_given}
    return {k: v.to_numpy(dtype=object) for k, v in table.items()}


def _assert_same(values: list[str]) -> None:
    arr = np.array(values, dtype=object)
    want, got = reference_name_table(arr), prepare._name_table(arr)
    assert set(got) == set(want) == set(prepare.NAME_COLS)
    for k in want:
        assert got[k].dtype == object and len(got[k]) == len(arr)
        bad = [(values[i], want[k][i], got[k][i]) for i in range(len(arr))
               if type(got[k][i]) is not str or got[k][i] != want[k][i]]
        assert not bad, (k, bad[:5])


def test_the_spacing_class_is_what_split_takes_plus_three():
    """[\\s\\u00a0\\u200b\\ufeff\\x00] (the spacing a name collapses) is str.isspace plus U+200B, U+FEFF and
    NUL, for every code point: why split() after translating those three is the same as the regex."""
    cls = re.compile(r"[\s\u00a0\u200b\ufeff\x00]")
    for c in range(0x110000):
        ch = chr(c)
        assert bool(cls.fullmatch(ch)) == (ch.isspace() or ch in "\u200b\ufeff\x00"), hex(c)


def test_every_code_point_gives_the_pipelines_columns():
    """Each code point (surrogates aside: Arrow holds no lone surrogate, in either version) between
    letters, beside a Vietnamese syllable and alone."""
    cps = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    _assert_same([f"Đ{c} văn{c}{c}" if i % 2 else f" {c}" for i, c in enumerate(cps)])


_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐEÊOÔƠUƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
_ODD = " \t\n\u00a0\u200b\ufeff\x00\u3000\u2003\u180eÐðƉɖ\u0300\u0301\u0303\u0309\u0323İẞΣς"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=_LETTERS + _ODD, max_size=24), min_size=1, max_size=40))
def test_random_names_give_the_pipelines_columns(names):
    _assert_same(names)


@pytest.mark.parametrize("name", ["", " ", "  Nguyễn   Văn  An ", "Hoà", "NGUYỄN\u200bTHỊ\ufeffBÉ", "\u0301 an",
                                  "a \u0301 b", "Ðặng Ɖức", "Thúy Quỳnh", "x\x00y", "İ", "ẞ"])
def test_edge_names_give_the_pipelines_columns(name):
    _assert_same([name, name])


def test_the_split_spaces_listed_are_every_space_split_takes_plus_three():
    """prepare._SPLIT_SPACES (the characters the Arrow prefilter looks for) is every code point
    str.isspace takes, plus NUL, U+200B and U+FEFF: a Python with newer Unicode tables fails here."""
    want = {chr(c) for c in range(0x110000) if chr(c).isspace()} | {"\x00", "\u200b", "\ufeff"}
    assert set(prepare._SPLIT_SPACES) == want


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=_LETTERS + _ODD, max_size=12), min_size=1, max_size=20),
       st.lists(st.text(alphabet=_LETTERS + _ODD, max_size=12), max_size=20), st.integers(0, 20), st.booleans())
def test_name_columns_taken_from_a_registry_equal_those_computed(names, others, shared, coded):
    """name_columns_reusing takes the columns of the names a prepared registry holds from it
    (looked up in Arrow) and computes the rest: the same frame as name_columns, whether the
    registry carries its name codes or not, with names it holds, lacks and repeats."""
    from vaxlib.match.codes import registry_codes

    held = others + names[:shared] + others[:2]
    reg = prepare.prepare_registry(pd.DataFrame({"person_id": [f"{i:012d}" for i in range(len(held))],
                                                 "full_name": pd.Series(held, dtype=object)}))
    if coded:
        registry_codes(reg)
    typed = pd.Series(names + names[:3], dtype=object)
    pd.testing.assert_frame_equal(prepare.name_columns_reusing(typed, reg), prepare.name_columns(typed))


# ------------------------------------------------------------------ names read word by word
#: syllables of real names in both tone conventions (hoà/hòa, thuỷ/thủy, khoẻ/khỏe), with đ and its
#: look-alikes, capitals, and words that fold to nothing ASCII (a lone combining mark, a CJK letter)
_SYLLABLES = ["Nguyễn", "nguyễn", "NGUYỄN", "Văn", "Thị", "Hoà", "Hòa", "hoà", "Thuỷ", "Thủy", "Khoẻ", "Khỏe",
              "Quý", "Huỳnh", "Đặng", "đức", "Ðức", "ɖức", "Ɖặng", "An", "Minh", "Khai", "Trần", "Lê", "Phạm",
              "Ngọc", "Uyên", "Oanh", "Toàn", "Thoả", "\u0301", "Σ", "ΑΣ", "İ", "ẞ", "x", "漢", "O'Neil", "a-b"]
_FORMS = st.sampled_from(["NFC", "NFD", "none"])


@st.composite
def _vietnamese_names(draw):
    """Names of those syllables in NFC or NFD, mostly with one space between words (the per-word
    path), sometimes odd spacing (the per-name path), sharing words with each other."""
    names = []
    for _ in range(draw(st.integers(1, 30))):
        words = draw(st.lists(st.sampled_from(_SYLLABLES) | st.text(alphabet=_LETTERS, min_size=1, max_size=6),
                              min_size=0, max_size=5))
        form = draw(_FORMS)
        if form != "none":
            words = [unicodedata.normalize(form, w) for w in words]
        sep = draw(st.sampled_from([" "] * 6 + ["  ", "\u00a0", "\t", " \u200b"]))
        name = sep.join(words)
        if draw(st.integers(0, 9)) == 0:
            name = " " + name
        names.append(name)
    return names


@settings(max_examples=300, deadline=None)
@given(_vietnamese_names())
def test_names_read_word_by_word_give_the_pipelines_columns(names):
    _assert_same(names)


@settings(max_examples=200, deadline=None)
@given(_vietnamese_names())
def test_the_word_path_equals_the_name_path(names):
    """Every name the per-word path takes gets the columns the name-by-name steps give it."""
    import pyarrow as pa

    arr = pa.array(names, type=pa.large_string())
    at = np.flatnonzero(~prepare._flags(arr, prepare._SPACING_TO_DO))
    out = {k: np.empty(len(names), dtype=object) for k in prepare.NAME_COLS}
    left = prepare._by_words(arr, at, out) if len(at) else at
    taken = np.setdiff1d(at, left)
    want = prepare._by_names(arr.take(pa.array(taken, type=pa.int64()))) if len(taken) else None
    for k in prepare.NAME_COLS:
        assert (len(taken) == 0) or out[k][taken].tolist() == want[k].tolist(), k
