"""Typed dates of birth: parsing and comparison with the register."""
from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vaxlib.vn.dates import (
    DOB_CODES,
    ERROR_MESSAGES,
    ParsedDob,
    compare_dob,
    compare_dob_many,
    compare_dobs,
    date_to_excel_serial,
    excel_serial_to_date,
    is_typo,
    parse_dobs,
    parse_typed_dob,
)

# (typed, readings, precision, form)
PARSE_OK = [
    ("15/03/1980", ("1980-03-15",), "day", "dd/mm/yyyy"),
    ("05/03/1980", ("1980-03-05", "1980-05-03"), "day", "dd/mm/yyyy"),
    ("5/3/1980", ("1980-03-05", "1980-05-03"), "day", "d/m/yyyy"),
    ("5/03/1980", ("1980-03-05", "1980-05-03"), "day", "d/mm/yyyy"),
    ("07/07/1975", ("1975-07-07",), "day", "dd/mm/yyyy"),
    ("1/1/1975", ("1975-01-01",), "day", "d/m/yyyy"),
    ("25-12-1962", ("1962-12-25",), "day", "dd-mm-yyyy"),
    ("25.12.1962", ("1962-12-25",), "day", "dd.mm.yyyy"),
    ("25 / 12 / 1962", ("1962-12-25",), "day", "dd/mm/yyyy"),
    ("03/25/1980", ("1980-03-25",), "day", "mm/dd/yyyy"),
    ("29/02/2000", ("2000-02-29",), "day", "dd/mm/yyyy"),
    ("1980-03-15", ("1980-03-15",), "day", "yyyy-mm-dd"),
    ("1980/03/15", ("1980-03-15",), "day", "yyyy/mm/dd"),
    ("1980-3-5", ("1980-03-05",), "day", "yyyy-m-d"),
    ("1980-25-03", ("1980-03-25",), "day", "yyyy-dd-mm"),
    ("1980-03-15 00:00:00", ("1980-03-15",), "day", "yyyy-mm-dd hh:mm:ss"),
    ("15/03/1980 0:00", ("1980-03-15",), "day", "dd/mm/yyyy hh:mm:ss"),
    ("15031980", ("1980-03-15",), "day", "ddmmyyyy"),
    ("19800315", ("1980-03-15",), "day", "yyyymmdd"),
    ("150380", ("1980-03-15",), "day", "ddmmyy"),
    ("15/03/80", ("1980-03-15",), "day", "dd/mm/yy"),
    ("15-03-05", ("2005-03-15",), "day", "dd-mm-yy"),  # 1905 would be 116 years old
    ("15-03-15", ("2015-03-15",), "day", "dd-mm-yy"),  # 1915: 106, implausible
    ("15-03-21", ("1921-03-15",), "day", "dd-mm-yy"),  # 100 preferred to 0
    ("1980", ("1980",), "year", "yyyy"),
    ("1980.0", ("1980",), "year", "yyyy"),
    ("03/1980", ("1980-03",), "month", "mm/yyyy"),
    ("3/1980", ("1980-03",), "month", "m/yyyy"),
    ("1980-03", ("1980-03",), "month", "yyyy-mm"),
    ("031980", ("1980-03",), "month", "mmyyyy"),
    ("29281", ("1980-03-01",), "day", "excel_serial"),  # Excel: =DATE(1980,3,1) is 29281
    ("29281.0", ("1980-03-01",), "day", "excel_serial"),
    ("36526", ("2000-01-01",), "day", "excel_serial"),
    ("ngày 5 tháng 3 năm 1980", ("1980-03-05",), "day", "words"),
    ("Ngày 05 tháng 03 năm 1980", ("1980-03-05",), "day", "words"),
    ("tháng 3 năm 1980", ("1980-03",), "month", "words"),
    ("năm 1980", ("1980",), "year", "words"),
    ("  15/03/1980 ", ("1980-03-15",), "day", "dd/mm/yyyy"),
    ("'15/03/1980", ("1980-03-15",), "day", "dd/mm/yyyy"),
]


@pytest.mark.parametrize(("typed", "readings", "precision", "form"), PARSE_OK)
def test_parse_typed_dob_accepts(typed, readings, precision, form):
    assert parse_typed_dob(typed) == ParsedDob(readings, precision, form, None)


PARSE_ERR = [
    ("31/02/1980", "invalid_date"),
    ("29/02/1981", "invalid_date"),
    ("31/04/1990", "invalid_date"),
    ("00/03/1980", "invalid_date"),
    ("13/13/1980", "invalid_month"),
    ("25/14/1980", "invalid_month"),
    ("1980-13-14", "invalid_month"),
    ("13/1980", "invalid_month"),
    ("05/03/2030", "future"),
    ("05/03/2023", "future"),
    ("15/03/1850", "before_1900"),
    ("60", "excel_fake_leap_day"),
    ("100", "implausible_serial"),
    ("99999", "implausible_serial"),
    ("", "empty"),
    ("   ", "empty"),
    (None, "empty"),
    (float("nan"), "empty"),
    ("không rõ", "unrecognised"),
    ("15/03", "unrecognised"),
    ("1980-03-15-01", "unrecognised"),
    ("123456789", "unrecognised"),
]


@pytest.mark.parametrize(("typed", "error"), PARSE_ERR)
def test_parse_typed_dob_rejects_with_reason(typed, error):
    p = parse_typed_dob(typed)
    assert p.error == error
    assert p.readings == () and p.precision is None
    assert error in ERROR_MESSAGES


def test_ref_year_moves_the_pivot_and_the_future():
    assert parse_typed_dob("15/03/20", ref_year=2021).readings == ("1920-03-15",)
    assert parse_typed_dob("15/03/10", ref_year=2021).readings == ("2010-03-15",)
    assert parse_typed_dob("05/03/2023", ref_year=2022).readings == ("2023-03-05", "2023-05-03")
    assert parse_typed_dob("05/03/2023", ref_year=2021).error == "future"


@pytest.mark.parametrize(
    ("serial", "iso"),
    # 1900-01-01 is 1, the fake 1900-02-29 is 60, 1900-03-01 is 61 (Microsoft KB 214326)
    [(1, "1900-01-01"), (59, "1900-02-28"), (61, "1900-03-01"), (25569, "1970-01-01"), (44197, "2021-01-01")],
)
def test_excel_serials(serial, iso):
    assert excel_serial_to_date(serial).isoformat() == iso
    assert date_to_excel_serial(date.fromisoformat(iso)) == serial
    assert excel_serial_to_date(60) is None


# --- comparison -------------------------------------------------------------------

COMPARE = [
    # identical text
    ("1980-03-15", "1980-03-15", ()),
    ("1980", "1980", ()),
    # format: same date, other text
    ("15/03/1980", "1980-03-15", ("dob:format",)),
    ("15-03-80", "1980-03-15", ("dob:format",)),
    ("15031980", "1980-03-15", ("dob:format",)),
    ("29295", "1980-03-15", ("dob:format",)),
    ("05/03/1980", "1980-03-05", ("dob:format",)),  # ambiguous: the day-first reading is the date
    ("01/01/1980", "1980-01-01", ("dob:format",)),  # 01/01 genuinely registered
    ("1/1/1980", "1980-01-01", ("dob:format",)),
    ("03/1980", "1980-03", ("dob:format",)),
    (" 1980", "1980", ("dob:format",)),
    ("15/03/20", "2020-03-15", ("dob:format",)),  # the register settles the century
    # day/month swap
    # (dob:format is syntactic and adds to the semantic codes: contract, "How codes combine")
    ("03/05/1980", "1980-03-05", ("dob:day_month_swap", "dob:format")),
    ("03/15/1980", "1980-03-15", ("dob:day_month_swap", "dob:format")),
    ("1980-15-03", "1980-03-15", ("dob:day_month_swap",)),
    ("1980-05-03", "1980-03-05", ("dob:day_month_swap",)),
    # year-only default
    ("01/01/1980", "1980-03-15", ("dob:format", "dob:year_only_default")),
    ("1/1/1980", "1980-07-22", ("dob:format", "dob:year_only_default")),
    ("1980-01-01", "1980-12-31", ("dob:year_only_default",)),
    ("01/01/1981", "1980-03-15", ("dob:other",)),
    # partial
    ("1980", "1980-03-15", ("dob:partial",)),
    ("03/1980", "1980-03-15", ("dob:partial",)),
    ("1980-03", "1980-03-15", ("dob:partial",)),
    ("15/03/1980", "1980", ("dob:partial",)),
    ("01/01/1980", "1980", ("dob:partial",)),
    ("15/03/1980", "1980-03", ("dob:partial",)),
    ("1980", "1980-03", ("dob:partial",)),
    ("03/15/1980", "1980-03", ("dob:day_month_swap", "dob:partial")),
    ("1981", "1980-03-15", ("dob:partial", "dob:typo")),
    ("1980", "1981", ("dob:typo",)),
    # typo
    ("16/03/1980", "1980-03-15", ("dob:format", "dob:typo")),
    ("15/08/1980", "1980-03-15", ("dob:format", "dob:typo")),
    ("15/03/1908", "1980-03-15", ("dob:format", "dob:typo")),
    ("15/03/1981", "1980-03-15", ("dob:format", "dob:typo")),
    ("15/03/1890", "1980-03-15", ("dob:format", "dob:typo")),  # before 1900: still one digit off
    ("51/03/1980", "1980-03-15", ("dob:format", "dob:typo")),  # impossible date, transposed digits
    ("31/02/1980", "1980-02-13", ("dob:format", "dob:typo")),
    ("15/01/1970", "1979-01-15", ("dob:format", "dob:typo")),  # the contract's example
    ("1980-03-16", "1980-03-15", ("dob:typo",)),  # typed in the register's layout: no format
    ("1980-01-01", "1980-03-15", ("dob:year_only_default",)),
    ("03/1981", "1980-03", ("dob:format", "dob:typo")),
    # other
    ("16/04/1980", "1980-03-15", ("dob:other",)),
    ("15/03/1995", "1980-03-15", ("dob:other",)),
    ("", "1980-03-15", ("dob:other",)),
    (None, "1980-03-15", ("dob:other",)),
    ("không rõ", "1980-03-15", ("dob:other",)),
    ("15/03/1980", None, ("dob:other",)),
    ("15/03/1980", "15-03-1980", ("dob:other",)),  # a register dob must be ISO
    ("15/03/1980", "15/03/1980", ()),  # ...but identical texts are identical
]


@pytest.mark.parametrize(("typed", "register", "codes"), COMPARE)
def test_compare_dob(typed, register, codes):
    assert compare_dob(typed, register) == codes
    assert set(codes) <= set(DOB_CODES)


def test_compare_dobs_vectorised():
    typed = pd.Series([c[0] for c in COMPARE] * 2, index=range(7, 7 + 2 * len(COMPARE)), dtype=object)
    register = pd.Series([c[1] for c in COMPARE] * 2, index=typed.index, dtype=object)
    out = compare_dobs(typed, register)
    assert out.index.equals(typed.index)
    assert out.tolist() == [";".join(c[2]) for c in COMPARE] * 2


def test_parse_dobs_vectorised():
    s = pd.Series(["05/03/1980", None, "1980", "31/02/1980", "05/03/1980"], dtype="str")
    out = parse_dobs(s)
    assert out["dob"].tolist() == ["1980-03-05", None, "1980", None, "1980-03-05"]
    assert out["dob_alt"].tolist() == ["1980-05-03", None, None, None, "1980-05-03"]
    assert out["precision"].tolist() == ["day", None, "year", None, "day"]
    assert out["error"].tolist() == [None, "empty", None, "invalid_date", None]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("19800315", "19800316", True), ("19800315", "19080315", True), ("19800315", "19800351", True),
     ("19800315", "19800315", False), ("19800315", "19810316", False), ("1980", "198", False),
     ("19800315", "18900315", True), ("19800315", "19900325", False)],
)
def test_is_typo(a, b, expected):
    assert is_typo(a, b) is expected


# --- properties -------------------------------------------------------------------

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2022, 12, 31))


def _forms(d: date) -> dict[str, str]:
    return {
        "dd/mm/yyyy": f"{d.day:02d}/{d.month:02d}/{d.year}",
        "d/m/yyyy": f"{d.day}/{d.month}/{d.year}",
        "dd-mm-yyyy": f"{d.day:02d}-{d.month:02d}-{d.year}",
        "dd.mm.yyyy": f"{d.day:02d}.{d.month:02d}.{d.year}",
        "yyyy-mm-dd": d.isoformat(),
        "yyyy/mm/dd": f"{d.year}/{d.month:02d}/{d.day:02d}",
        "ddmmyyyy": f"{d.day:02d}{d.month:02d}{d.year}",
        "yyyymmdd": f"{d.year}{d.month:02d}{d.day:02d}",
        "words": f"ngày {d.day} tháng {d.month} năm {d.year}",
        "datetime": f"{d.isoformat()} 00:00:00",
    }


@given(dates)
def test_every_full_form_round_trips(d):
    for form, text in _forms(d).items():
        p = parse_typed_dob(text)
        assert p.error is None, (form, text)
        assert p.readings[0] == d.isoformat(), (form, text)
        assert p.precision == "day"
        # two readings exactly when day and month could be swapped
        ambiguous = d.day <= 12 and d.month <= 12 and d.day != d.month and form not in (
            "yyyy-mm-dd", "yyyy/mm/dd", "yyyymmdd", "words", "ddmmyyyy", "datetime")
        assert len(p.readings) == (2 if ambiguous else 1), (form, text)
        assert compare_dob(text, d.isoformat()) == (() if text == d.isoformat() else ("dob:format",))


@given(st.dates(min_value=date(1921, 1, 1), max_value=date(2009, 12, 31)))
def test_two_digit_years_round_trip_for_plausible_ages(d):
    # born 1921–2009: aged 12–100 in 2021, the only century giving a plausible age
    for text in (f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}", f"{d.day:02d}-{d.month:02d}-{d.year % 100:02d}",
                 f"{d.day:02d}{d.month:02d}{d.year % 100:02d}"):
        assert parse_typed_dob(text).readings[0] == d.isoformat(), text


@given(st.dates(min_value=date(1911, 1, 1), max_value=date(2022, 12, 31)))
def test_excel_serials_round_trip(d):
    serial = date_to_excel_serial(d)
    assert parse_typed_dob(str(serial)).readings == (d.isoformat(),)
    assert parse_typed_dob(f"{serial}.0").readings == (d.isoformat(),)


@given(dates)
def test_partial_forms_round_trip(d):
    ym = f"{d.year:04d}-{d.month:02d}"
    for text in (f"{d.month:02d}/{d.year}", f"{d.month}/{d.year}", ym, f"{d.month:02d}{d.year}",
                 f"tháng {d.month} năm {d.year}"):
        assert parse_typed_dob(text).readings == (ym,), text
    assert parse_typed_dob(str(d.year)).readings == (str(d.year),)


@given(dates)
def test_swapping_day_and_month_is_named(d):
    assume(d.day <= 12 and d.day != d.month)
    swapped = f"{d.month:02d}/{d.day:02d}/{d.year}"
    assert compare_dob(swapped, d.isoformat()) == ("dob:day_month_swap", "dob:format")
    iso_swapped = f"{d.year:04d}-{d.day:02d}-{d.month:02d}"  # the register's layout: no format
    assert compare_dob(iso_swapped, d.isoformat()) == ("dob:day_month_swap",)


@given(dates, st.integers(0, 7), st.integers(0, 9))
def test_one_digit_changed_is_a_typo_or_something_more_specific(d, pos, digit):
    digits = f"{d.day:02d}{d.month:02d}{d.year}"
    assume(digits[pos] != str(digit))
    typed_digits = digits[:pos] + str(digit) + digits[pos + 1:]
    typed = f"{typed_digits[:2]}/{typed_digits[2:4]}/{typed_digits[4:]}"
    codes = compare_dob(typed, d.isoformat())
    # dd/mm/yyyy is not the register's layout: dob:format always joins the semantic code
    assert codes in {("dob:format", "dob:typo"), ("dob:day_month_swap", "dob:format"),
                     ("dob:format", "dob:year_only_default")}


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=40), st.from_regex(r"[0-9/\-. ]{0,14}", fullmatch=True)))
def test_parse_never_raises_on_arbitrary_text(text):
    p = parse_typed_dob(text)
    assert (p.error is None) == bool(p.readings)
    for r in p.readings:
        # every reading is a real ISO partial date within the accepted range
        full = date.fromisoformat(r + "-01-01"[len(r) - 4:])
        assert date(1900, 1, 1) <= full <= date(2022, 12, 31)
    codes = compare_dob(text, "1980-03-15")
    assert set(codes) <= set(DOB_CODES) and len(codes) >= 1


# --- compare_dob_many: the vectorised rules give compare_dob's answer, pair by pair ---------

def _typed_forms(d: date, two: int, swap: bool, pos: int, digit: int) -> list[str]:
    day, month = (d.month, d.day) if swap and d.day <= 12 else (d.day, d.month)
    digits = f"{day:02d}{month:02d}{d.year}"
    typo = digits[:pos] + str(digit) + digits[pos + 1:]
    return [*_forms(d).values(), f"{day}/{month}/{d.year}", f"{d.year}-{day:02d}-{month:02d}",
            f"{day:02d}/{month:02d}/{d.year % 100:02d}", f"{day:02d}{month:02d}{d.year % 100:02d}",
            f"{typo[:2]}/{typo[2:4]}/{typo[4:]}", f"{typo[4:]}-{typo[2:4]}-{typo[:2]}", typo,
            f"01/01/{d.year}", f"{d.month}/{d.year}", f"{d.year}-{d.month:02d}", f"{d.year}/{d.month}",
            f"{d.month:02d}.{d.year}", f"{d.year}.{two:02d}", str(d.year), str(d.year + two - 50),
            str(date_to_excel_serial(d)), f"{date_to_excel_serial(d)}.0", f"{two:02d}.0000",
            f"31/02/{d.year}", f"00/{month:02d}/{d.year}", f"{d.year}-13-{day:02d}", f"{d.year}-{two:02d}-13",
            f" {day:02d}/{month:02d}/{d.year} ", f"{day:02d}/{month:02d}/{d.year}\n", "", "??", "1/2/3"]


_odd_registers = st.sampled_from(["", "15-03-1980", "1980-3-5", " 1980-03-05", "0000-00-00", "1980-13-45"])


@st.composite
def _dob_pair(draw):
    """A typed dob and a register dob: mostly the same date as typed by a careless hand
    (another layout, day and month swapped, one digit wrong, a part missing, 01/01 for a
    full date), some unrelated, some texts that are not dates at all."""
    d = draw(dates)
    typed = draw(st.one_of(
        st.builds(_typed_forms, st.just(d), st.integers(0, 99), st.booleans(), st.integers(0, 7),
                  st.integers(0, 9)).flatmap(st.sampled_from),
        st.from_regex(r"[0-9/\-. ]{0,14}", fullmatch=True), st.text(max_size=12)))
    register = draw(st.one_of(st.sampled_from([d.isoformat(), d.isoformat()[:7], str(d.year)]),
                              dates.map(date.isoformat), _odd_registers))
    return typed, register


@settings(max_examples=300)
@given(st.lists(_dob_pair(), min_size=1, max_size=40))
def test_compare_dob_many_equals_compare_dob(pairs):
    typed = np.array([t for t, _ in pairs], dtype=object)
    register = np.array([r for _, r in pairs], dtype=object)
    got = compare_dob_many(typed, register)
    assert [tuple(g) for g in got] == [compare_dob(t, r) for t, r in zip(typed, register)]


# Cases where a shortcut of the vectorised reading would go wrong: a dot is no separator of a
# partial date (12.0000 is the float 12, an Excel serial), 01/01 against a month-precision
# register is a typo of the month, not the year-only default, a year-month-day text reads so
# even when the day could be a month.
EDGES = [
    ("01/01/1980", "1980-03", ("dob:partial", "dob:typo")),
    ("05.0000", "2000-05", ("dob:other",)),
    ("1980.00", "1980", ("dob:format",)),
    ("1980.00", "1981", ("dob:format", "dob:typo")),
    ("12/1980", "1980", ("dob:partial",)),
    ("31/02/1980", "1980-02-13", ("dob:format", "dob:typo")),
    ("13/13/1980", "1980-13-13", ("dob:format",)),
    ("01/01/80", "1980-05-06", ("dob:format", "dob:year_only_default")),
    ("1980-05-13", "1980-13-05", ("dob:other",)),
    ("00/05/1980", "1980-05-01", ("dob:format", "dob:typo")),
    ("29/02/1981", "1981-02-29", ("dob:format",)),
    ("1/13/1980", "1980-01-13", ("dob:day_month_swap", "dob:format")),
    # month first: a swap only when the swapped date exists (29 February of leap years)
    ("02/29/1981", "1981-02-29", ("dob:other",)),
    ("02/29/1980", "1980-02-29", ("dob:day_month_swap", "dob:format")),
    ("02/29/1900", "1900-02-29", ("dob:other",)),
    ("02/29/2000", "2000-02-29", ("dob:day_month_swap", "dob:format")),
]


@pytest.mark.parametrize(("typed", "register", "codes"), COMPARE + EDGES)
def test_compare_dob_many_on_the_table(typed, register, codes):
    assert compare_dob(typed, register) == codes
    got = compare_dob_many(np.array([typed, "x"], dtype=object), np.array([register, "1980"], dtype=object))
    assert got[0] == codes


iso_like = st.one_of(st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
                     st.from_regex(r"(17|18|19|20|21|22)[0-9]{2}-(0[0-9]|1[0-3])-([0-3][0-9])", fullmatch=True),
                     st.sampled_from(["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "1800-01-01",
                                      "1799-12-31", "2199-12-31", "2200-01-01", "١٩٨٥-03-12", " 1985-03-12",
                                      "1985-3-12", "1985-03", "1985", ""]),
                     st.none(), st.text(alphabet="0123456789-/ ", max_size=11))


@settings(max_examples=300, deadline=None)
@given(st.lists(iso_like, max_size=30))
def test_iso_day_flags_are_the_values_parse_platform_date_returns_as_they_are(values):
    """io reads a date flagged here as itself without calling parse_platform_date: a flag must mean
    exactly that the parser returns the value unchanged (partial or not), and every yyyy-mm-dd the
    parser returns unchanged is flagged (else the shortcut would not be taken, a slowness only)."""
    from vaxlib.io import _iso_days, parse_platform_date

    arr = np.array(values, dtype=object)
    flags = _iso_days(arr)
    for v, f in zip(values, flags.tolist()):
        same = v is not None and parse_platform_date(v, partial=True) == v == parse_platform_date(v, partial=False)
        assert f == (same and v.isascii()), v


@settings(max_examples=200, deadline=None)
@given(st.lists(iso_like, max_size=30))
def test_iso_ymd_reads_the_numbers_the_text_holds(values):
    from vaxlib.vn.dates import iso_ymd

    arr = np.array(values, dtype=object)
    at, y, m, d = iso_ymd(arr)
    want = [i for i, v in enumerate(values) if v is not None and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v, re.ASCII)]
    assert at.tolist() == want
    assert [(int(values[i][:4]), int(values[i][5:7]), int(values[i][8:10])) for i in want] == list(zip(y, m, d))
