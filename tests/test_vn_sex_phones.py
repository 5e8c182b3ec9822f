"""Typed sex and Vietnamese phone numbers."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.vn.phones import OLD_MOBILE_PREFIXES, is_mobile, normalise_phone, normalise_phones
from vaxlib.vn.sex import parse_sex, parse_sexes

SEX = [
    ("Nam", "M"), ("nam", "M"), ("NAM", "M"), (" Nam ", "M"), ("Nam giới", "M"), ("M", "M"), ("m", "M"),
    ("1", "M"), ("1.0", "M"), (1, "M"), ("male", "M"), ("Male", "M"), ("Trai", "M"), ("con trai", "M"),
    ("Nữ", "F"), ("nữ ", "F"), ("NỮ", "F"), ("nu", "F"), ("Nu", "F"), ("Nữ giới", "F"), ("Nữ", "F"),
    ("F", "F"), ("f", "F"), ("0", "F"), (0, "F"), ("0.0", "F"), ("2", "F"), ("female", "F"), ("Gái", "F"),
    ("gai", "F"), ("Nữ.", "F"),
    ("", None), ("  ", None), (None, None), (float("nan"), None), ("?", None), ("x", None), ("3", None),
    ("Khác", None), ("nam nu", None), (True, None),
]


@pytest.mark.parametrize(("typed", "expected"), SEX)
def test_parse_sex(typed, expected):
    assert parse_sex(typed) == expected


def test_parse_sex_decomposed_unicode():
    assert parse_sex("Nu\u0303") == "F"  # 'Nữ' typed in NFD ('u' + horn would be ư; this is 'ũ')
    assert parse_sex("Nư\u0303") == "F"  # NFD of 'Nữ'


def test_parse_sexes_vectorised():
    s = pd.Series(["Nam", None, "nữ", "1", "?", "Nam"], index=list("abcdef"), dtype="str")
    out = parse_sexes(s)
    assert out.tolist() == ["M", None, "F", "M", None, "M"]
    assert out.index.equals(s.index)


PHONES = [
    # mobile, canonical
    ("0912345678", "0912345678"),
    ("0912 345 678", "0912345678"),
    ("0912.345.678", "0912345678"),
    ("0912-345-678", "0912345678"),
    ("(0912) 345678", "0912345678"),
    ("+84912345678", "0912345678"),
    ("+84 912 345 678", "0912345678"),
    ("84912345678", "0912345678"),
    ("0084912345678", "0912345678"),
    ("912345678", "0912345678"),  # leading zero lost in Excel
    ("912345678.0", "0912345678"),
    (912345678, "0912345678"),
    ("9.12345678E+8", "0912345678"),
    ("'0912345678", "0912345678"),
    ("0362345678", "0362345678"),
    ("0589876543", "0589876543"),
    ("0702345678", "0702345678"),
    ("0812345678", "0812345678"),
    # 11-digit mobiles converted in 2018 (last 7 digits kept)
    ("01695678945", "0395678945"),  # the MIC's own example: 0169 -> 039
    ("0169 567 8945", "0395678945"),
    ("1695678945", "0395678945"),  # and lost its zero
    ("+841695678945", "0395678945"),
    ("01287878888", "0787878888"),
    ("01298222888", "0828222888"),
    ("01888555888", "0588555888"),
    ("01995959999", "0595959999"),
    # landlines (area codes 02xx since 2017)
    ("02838291234", "02838291234"),
    ("(028) 3829 1234", "02838291234"),
    ("024.3825.1234", "02438251234"),
    ("2438251234", "02438251234"),
    ("+84 24 3825 1234", "02438251234"),
    ("02363822222", "02363822222"),
    # not plausible
    ("", None), (None, None), (float("nan"), None), ("0", None), ("không có", None), ("0123", None),
    ("0912345", None), ("09123456789", None), ("0112345678", None), ("0612345678", None),
    ("01112345678", None),  # no such 11-digit network code
    ("9.12346E+8", None),  # Excel kept 6 digits: the number is lost
    ("+1 415 555 1234", None), ("+44 20 7946 0958", None), ("abc0912345678", None), ("0912345678a", None),
]


@pytest.mark.parametrize(("typed", "expected"), PHONES)
def test_normalise_phone(typed, expected):
    assert normalise_phone(typed) == expected


def test_conversion_table_is_the_2018_one():
    # 21 network codes, each to a 3-digit code in the 03/05/07/08 ranges, none reused
    assert len(OLD_MOBILE_PREFIXES) == 21
    assert len(set(OLD_MOBILE_PREFIXES.values())) == 21
    assert {v[:2] for v in OLD_MOBILE_PREFIXES.values()} == {"03", "05", "07", "08"}
    assert OLD_MOBILE_PREFIXES["0162"] == "032" and OLD_MOBILE_PREFIXES["0120"] == "070"


def test_normalise_phones_vectorised():
    s = pd.Series(["0912 345 678", None, "01695678945", "abc", "0912 345 678"], dtype="str")
    assert normalise_phones(s).tolist() == ["0912345678", None, "0395678945", None, "0912345678"]


mobiles = st.builds(
    lambda p, rest: p + rest,
    st.sampled_from(["032", "039", "056", "070", "079", "083", "086", "090", "098", "099"]),
    st.from_regex(r"[0-9]{7}", fullmatch=True),
)


@given(mobiles, st.sampled_from(["0{}", "+84{}", "84{}", "0084{}", "+84 {}", "{}"]), st.sampled_from(["", " ", ".", "-"]))
def test_mobile_spellings_normalise_to_the_same_number(number, prefix, sep):
    body = number[1:]  # the 9 digits after the trunk zero
    typed = prefix.format(sep.join([body[:2], body[2:5], body[5:]]))
    assert normalise_phone(typed) == number
    assert normalise_phone(f"{body}.0") == number  # Excel float that lost the zero
    assert normalise_phone(number) == number  # idempotent


@given(st.sampled_from(sorted(OLD_MOBILE_PREFIXES)), st.from_regex(r"[0-9]{7}", fullmatch=True))
def test_old_mobiles_convert_keeping_the_last_seven_digits(old, rest):
    new = normalise_phone(old + rest)
    assert new == OLD_MOBILE_PREFIXES[old] + rest
    assert is_mobile(new)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=25), st.from_regex(r"[+0-9 .\-()]{0,18}", fullmatch=True)))
def test_never_raises_and_output_is_canonical(text):
    out = normalise_phone(text)
    if out is not None:
        assert out.isdigit() and out[0] == "0" and len(out) in (10, 11)
        assert normalise_phone(out) == out
    assert parse_sex(text) in ("M", "F", None)


def test_vectorised_fast_path_agrees_with_the_scalar_parser_on_every_prefix():
    values = [f"0{p:03d}1234567"[:10] for p in range(1000)] + [f"0{p:02d}12345678" for p in range(100)]
    fast = normalise_phones(pd.Series(values))
    assert list(fast) == [normalise_phone(v) for v in values]
