"""Typed ID numbers: table-driven rules and hypothesis properties."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.vn.ids import (
    ParsedId,
    cccd_parts,
    pattern_matches,
    century_sex_digit,
    check_cccd_structure,
    check_cccd_structures,
    normalise_id,
    parse_id,
    parse_ids,
)
from vaxlib.vn.provinces import BY_CCCD

# (typed, kind, digits, pattern, issues)
CASES = [
    # well-formed
    ("079085001234", "cccd", "079085001234", "079085001234", ()),
    ("001190123456", "cccd", "001190123456", "001190123456", ()),
    ("023456789", "cmnd", "023456789", "023456789", ("id:old_cmnd",)),
    ("272345678", "cmnd", "272345678", "272345678", ("id:old_cmnd",)),
    # separators only
    ("079 085 001 234", "cccd", "079085001234", "079085001234", ("separators",)),
    ("079.085.001.234", "cccd", "079085001234", "079085001234", ("separators",)),
    ("079-085-001234", "cccd", "079085001234", "079085001234", ("separators",)),
    ("'079085001234", "cccd", "079085001234", "079085001234", ("separators",)),
    ('"079085001234"', "cccd", "079085001234", "079085001234", ("separators",)),
    ("  079085001234\t", "cccd", "079085001234", "079085001234", ()),
    ("０７９０８５００１２３４", "cccd", "079085001234", "079085001234", ()),  # full-width digits
    # lost leading zero
    ("79085001234", "cccd", "079085001234", "079085001234", ("id:lost_leading_zero",)),
    ("1190123456", "cccd", "001190123456", "001190123456", ("id:lost_leading_zero",)),  # Hà Nội: two zeros
    ("4190123456", "cccd", "004190123456", "004190123456", ("id:lost_leading_zero",)),  # Cao Bằng 004
    ("3190123456", "malformed", None, None, ("id:malformed",)),  # '003' is no province
    ("9190123456", "malformed", None, None, ("id:malformed",)),  # '009' is no province
    ("79585001234", "malformed", None, None, ("id:malformed",)),  # century digit 5: born 2100s
    ("23456789", "cmnd", "023456789", "023456789", ("id:lost_leading_zero", "id:old_cmnd")),
    ("99085001234", "malformed", None, None, ("id:malformed",)),  # '099' is no province
    # Excel
    ("7.90850E+10", "excel", None, "0790850?????", ("id:excel_mangled", "id:lost_leading_zero")),
    ("7.90850e+10", "excel", None, "0790850?????", ("id:excel_mangled", "id:lost_leading_zero")),
    ("7,9085E+10", "excel", None, "079085??????", ("id:excel_mangled", "id:lost_leading_zero")),
    ("1.19012E+09", "excel", None, "00119012????", ("id:excel_mangled", "id:lost_leading_zero")),
    ("1.23457E+11", "excel", None, "123457??????", ("id:excel_mangled", "id:malformed")),
    ("1.23457E+05", "malformed", None, None, ("id:excel_mangled", "id:malformed")),
    ("2.72346E+08", "excel", None, "272346???", ("id:excel_mangled", "id:old_cmnd")),
    ("2.3457E+07", "excel", None, "023457???", ("id:excel_mangled", "id:lost_leading_zero")),
    ("7.9085001234E+10", "cccd", "079085001234", "079085001234", ("id:excel_mangled", "id:lost_leading_zero")),
    ("79085001234.0", "cccd", "079085001234", "079085001234", ("id:excel_mangled", "id:lost_leading_zero")),
    ("79085001234,0", "cccd", "079085001234", "079085001234", ("id:excel_mangled", "id:lost_leading_zero")),
    (79085001234.0, "cccd", "079085001234", "079085001234", ("id:lost_leading_zero",)),  # a number, not text
    (79085001234, "cccd", "079085001234", "079085001234", ("id:lost_leading_zero",)),
    ("1.5E+2", "malformed", None, None, ("id:excel_mangled", "id:malformed")),
    # passports
    ("C1234567", "passport", "C1234567", "C1234567", ("id:passport",)),
    ("b12345678", "passport", "B12345678", "B12345678", ("id:passport",)),
    ("N 1234567", "passport", "N1234567", "N1234567", ("id:passport", "separators")),
    ("AB123456", "passport", "AB123456", "AB123456", ("id:passport",)),
    ("PA1234567", "passport", "PA1234567", "PA1234567", ("id:passport",)),
    # malformed
    ("07908500123", "malformed", None, None, ("id:malformed",)),  # 11 digits from '07...'? province '007' absent
    ("0790850012345", "malformed", None, None, ("id:malformed",)),
    ("179085001234", "malformed", None, None, ("id:malformed",)),
    ("07908500123A", "malformed", None, None, ("id:malformed",)),
    ("C123", "malformed", None, None, ("id:malformed",)),
    ("ABC1234567", "malformed", None, None, ("id:malformed",)),
    # missing
    ("", "missing", None, None, ("id:missing",)),
    ("   ", "missing", None, None, ("id:missing",)),
    ("0", "missing", None, None, ("id:missing",)),
    ("000000000000", "missing", None, None, ("id:missing",)),
    ("khong co", "missing", None, None, ("id:missing",)),
    ("Không có", "missing", None, None, ("id:missing",)),
    ("KHÔNG CÓ", "missing", None, None, ("id:missing",)),
    ("chưa có", "missing", None, None, ("id:missing",)),
    ("-", "missing", None, None, ("id:missing",)),
    ("N/A", "missing", None, None, ("id:missing",)),
    (None, "missing", None, None, ("id:missing",)),
    (float("nan"), "missing", None, None, ("id:missing",)),
]


@pytest.mark.parametrize(("typed", "kind", "digits", "pattern", "issues"), CASES)
def test_parse_id_table(typed, kind, digits, pattern, issues):
    assert parse_id(typed) == ParsedId(kind, digits, pattern, issues)


def test_parse_ids_vectorised_matches_scalar_and_keeps_index():
    values = [c[0] for c in CASES if not isinstance(c[0], (int, float))] + [None]
    s = pd.Series(values * 3, index=range(100, 100 + 3 * len(values)), dtype=object)
    out = parse_ids(s)
    assert list(out.columns) == ["kind", "digits", "pattern", "issues"]
    assert out.index.equals(s.index)
    for v, row in zip(s, out.itertuples()):
        p = parse_id(v)
        assert (row.kind, row.digits, row.pattern, row.issues) == (p.kind, p.digits, p.pattern, ";".join(p.issues))


def test_parse_ids_on_pandas_str_dtype():
    s = pd.Series(["079085001234", None, "79085001234"], dtype="str")
    out = parse_ids(s)
    assert out["kind"].tolist() == ["cccd", "missing", "cccd"]
    assert out["digits"].tolist() == ["079085001234", None, "079085001234"]


# --- CCCD structure -----------------------------------------------------------

def test_cccd_parts():
    assert cccd_parts("079185123456") == ("079", 1, "85", "123456")
    with pytest.raises(ValueError):
        cccd_parts("79185123456")


@pytest.mark.parametrize(
    ("sex", "year", "digit"),
    [("M", 1985, 0), ("F", 1985, 1), ("M", 2005, 2), ("F", 2010, 3), ("M", 1900, 0), ("F", 1999, 1),
     ("M", 2100, 4), ("F", 2250, 7), ("M", 2399, 8)],
)
def test_century_sex_digit(sex, year, digit):
    # Thông tư 07/2016/TT-BCA, Điều 7
    assert century_sex_digit(sex, year) == digit


@pytest.mark.parametrize(
    ("id12", "sex", "dob", "expected"),
    [
        ("079085001234", "M", "1985-03-05", ()),
        ("079185001234", "F", "1985-03-05", ()),
        ("001305001234", "F", "2005", ()),
        ("001205001234", "M", "2005-11", ()),
        ("079085001234", None, None, ()),
        ("079185001234", "M", "1985-03-05", ("century_sex_mismatch",)),
        ("079085001234", "F", None, ("century_sex_mismatch",)),
        ("079085001234", "M", "1986-03-05", ("year_mismatch",)),
        ("079285001234", "M", "1985-03-05", ("century_mismatch",)),
        ("079385001234", "M", "1958-01-01", ("century_mismatch", "century_sex_mismatch", "year_mismatch")),
        ("003085001234", "M", "1985", ("province_unknown",)),
        ("099085001234", "M", "1985", ("province_unknown",)),
        ("079485001234", None, None, ("century_mismatch",)),
        ("07908500123", "M", "1985", ("not_12_digits",)),
    ],
)
def test_check_cccd_structure(id12, sex, dob, expected):
    assert check_cccd_structure(id12, sex, dob) == expected


# --- properties -----------------------------------------------------------------

PROVINCES = sorted(BY_CCCD)


@st.composite
def valid_person_ids(draw):
    province = draw(st.sampled_from(PROVINCES))
    sex = draw(st.sampled_from(["M", "F"]))
    year = draw(st.integers(1900, 2021))
    serial = draw(st.integers(0, 999_999))
    dob = f"{year:04d}-{draw(st.integers(1, 12)):02d}-{draw(st.integers(1, 28)):02d}"
    digit = century_sex_digit(sex, year)
    return f"{province}{digit}{year % 100:02d}{serial:06d}", sex, dob


@given(valid_person_ids())
def test_structure_agrees_with_generated_valid_ids(case):
    id12, sex, dob = case
    assert check_cccd_structure(id12, sex, dob) == ()
    assert parse_id(id12) == ParsedId("cccd", id12, id12, ())


@given(valid_person_ids())
def test_generated_ids_survive_typical_mangling(case):
    id12 = case[0]
    assert normalise_id(id12[1:]) == id12  # lost leading zero
    assert normalise_id(f"{id12[:3]} {id12[3:6]} {id12[6:]}") == id12
    assert normalise_id(f"{int(id12)}.0") == id12
    sci = f"{int(id12):.5E}"  # 6 significant digits, like Excel's General format
    p = parse_id(sci)
    assert p.kind == "excel" and len(p.pattern) == 12
    lost = p.pattern.count("?")
    shown = int(p.pattern.replace("?", "0"))
    # the known digits are the id rounded at the last known place
    assert abs(shown - int(id12)) <= 5 * 10 ** (lost - 1)


@given(st.sampled_from(["079999999999", "001999995000", "079123449999", "096999999999", "008999999999"]))
def test_excel_rounding_can_carry_into_known_digits(id12):
    p = parse_id(f"{int(id12):.5E}")
    assert abs(int(p.pattern.replace("?", "0")) - int(id12)) <= 5 * 10 ** (p.pattern.count("?") - 1)


@given(valid_person_ids(), st.sampled_from(["M", "F"]), st.integers(1900, 2021))
def test_structure_flags_a_wrong_sex_or_year(case, other_sex, other_year):
    id12, sex, dob = case
    got = check_cccd_structure(id12, other_sex, f"{other_year}-06-15")
    assert ("century_sex_mismatch" in got) == (other_sex != sex)
    assert ("year_mismatch" in got) == (other_year % 100 != int(dob[:4]) % 100)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=30), st.from_regex(r"[0-9 .\-'Ee+,]{0,20}", fullmatch=True)))
def test_parse_never_raises_and_normalising_is_idempotent(text):
    p = parse_id(text)
    assert p.kind in {"cccd", "cmnd", "passport", "excel", "malformed", "missing"}
    if p.digits is not None:
        again = parse_id(p.digits)
        assert again.digits == p.digits
        assert again.kind == p.kind
        assert "separators" not in again.issues
        assert "id:lost_leading_zero" not in again.issues
    if p.kind == "excel":
        assert p.digits is None and "?" in p.pattern


def test_parse_ids_on_numbers_and_mixed_objects():
    mixed = pd.Series([79085001234, "079085001234", None, 79085001234.0, "000000000000"], dtype=object)
    out = parse_ids(mixed)
    assert out["digits"].tolist() == ["079085001234"] * 2 + [None, "079085001234", None]
    assert out["issues"].tolist() == [
        "id:lost_leading_zero", "", "id:missing", "id:lost_leading_zero", "id:missing"]
    ints = parse_ids(pd.Series([79085001234, 23456789]))
    assert ints["kind"].tolist() == ["cccd", "cmnd"]


@pytest.mark.parametrize(
    ("pattern", "digits", "expected"),
    [
        ("0791234?????", "079123400000", True),
        ("0791234?????", "079123449999", True),
        ("0791234?????", "079123350000", True),  # rounds up to ...234
        ("0791234?????", "079123450001", False),
        ("0791234?????", "079123349999", False),
        ("0800000?????", "079999999999", True),  # the carry reached the province code
        ("079123456789", "079123456789", True),
        ("079123456789", "079123456788", False),
        ("0791234?????", "07912340000", False),
        ("07912?4?????", "079123400000", False),
    ],
)
def test_pattern_matches(pattern, digits, expected):
    assert pattern_matches(pattern, digits) is expected


@given(valid_person_ids(), st.integers(1, 11))
def test_excel_pattern_matches_its_source(case, sig):
    id12 = case[0]
    p = parse_id(f"{int(id12):.{sig - 1}E}")
    assert pattern_matches(p.pattern, id12)


def test_check_cccd_structures_vectorised_matches_scalar():
    ids = pd.Series(["079085001234", "079185001234", None, "079085001234", "003085001234", "079085001234"],
                    index=list("uvwxyz"), dtype="str")
    sexes = pd.Series(["M", "M", "F", None, "M", "F"], index=ids.index, dtype="str")
    dobs = pd.Series(["1985-03-05", "1985", None, "1986-01-01", "1985", None], index=ids.index, dtype="str")
    out = check_cccd_structures(ids, sexes, dobs)
    assert out.index.equals(ids.index)
    assert out.tolist() == ["", "century_sex_mismatch", "not_12_digits", "year_mismatch", "province_unknown",
                            "century_sex_mismatch"]
    assert check_cccd_structures(ids).tolist() == ["", "", "not_12_digits", "", "province_unknown", ""]


@settings(max_examples=50)
@given(st.lists(st.tuples(
    st.one_of(st.none(), st.from_regex(r"0[0-9]{11}", fullmatch=True), st.from_regex(r"[0-9]{10,13}", fullmatch=True)),
    st.sampled_from(["M", "F", None, "x"]),
    st.one_of(st.none(), st.sampled_from(["1985", "1985-03", "2005-07-01", "1899-01-01", "abcd", ""]))), max_size=30))
def test_check_cccd_structures_agrees_with_scalar(rows):
    ids = pd.Series([r[0] for r in rows], dtype=object)
    sexes = pd.Series([r[1] for r in rows], dtype=object)
    dobs = pd.Series([r[2] for r in rows], dtype=object)
    expected = [";".join(check_cccd_structure(i if isinstance(i, str) else "", s, d)) for i, s, d in rows]
    assert check_cccd_structures(ids, sexes, dobs).tolist() == expected
