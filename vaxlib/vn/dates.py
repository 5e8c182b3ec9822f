"""Dates of birth as typed at vaccination facilities.

:func:`parse_typed_dob` reads every form the vaccination platform received
(see the data contract): ``dd/mm/yyyy``, ``d/m/yyyy``, ``dd-mm-yyyy``,
``dd.mm.yyyy``, ``yyyy-mm-dd``, ``yyyy/mm/dd``, ``ddmmyyyy``, ``yyyymmdd``,
two-digit years (``dd/mm/yy``, ``dd-mm-yy``), partial dates (``yyyy``,
``mm/yyyy``, ``yyyy-mm``), Excel serial day numbers, a date followed by a
``00:00:00`` time (how a spreadsheet date cell reads as text) and the
Vietnamese words ``ngày 5 tháng 3 năm 1980``.  It returns ISO partial strings
(``YYYY-MM-DD``, ``YYYY-MM``, ``YYYY``); an ambiguous ``05/03/1980`` gives
two readings, day-first (the Vietnamese convention) first.

:func:`compare_dob` names how a typed dob differs from the register's, with
the ``dob:*`` codes of the error taxonomy.

Nothing here raises on odd input: unusable text gives a
:class:`ParsedDob` with ``error`` set to one of the codes in
:data:`ERROR_MESSAGES`.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd

from vaxlib.vn.text import fold_key

__all__ = [
    "ParsedDob",
    "ERROR_MESSAGES",
    "DOB_CODES",
    "parse_typed_dob",
    "parse_dobs",
    "compare_dob",
    "compare_dobs",
    "compare_dob_many",
    "excel_serial_to_date",
    "date_to_excel_serial",
    "is_typo",
]

#: Reference year of the campaign: ages are computed at this year.
DEFAULT_REF_YEAR = 2021

#: The taxonomy codes :func:`compare_dob` can return.
DOB_CODES = (
    "dob:format",
    "dob:day_month_swap",
    "dob:year_only_default",
    "dob:partial",
    "dob:typo",
    "dob:other",
)

#: Error codes of :class:`ParsedDob` with their Vietnamese and English messages.
ERROR_MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("Không có ngày sinh", "No date of birth"),
    "unrecognised": ("Không nhận ra dạng ngày sinh", "Unrecognised date form"),
    "invalid_date": ("Ngày không tồn tại (ví dụ 31/02)", "No such date (e.g. 31/02)"),
    "invalid_month": ("Tháng không hợp lệ", "Invalid month"),
    "future": ("Ngày sinh sau thời điểm tiêm", "Date of birth after the vaccination campaign"),
    "before_1900": ("Ngày sinh trước năm 1900", "Date of birth before 1900"),
    "excel_fake_leap_day": (
        "Số ngày Excel 60 là ngày 29/02/1900 không tồn tại",
        "Excel serial 60 is the non-existent 1900-02-29",
    ),
    "implausible_serial": ("Số ngày Excel ngoài khoảng ngày sinh hợp lý", "Excel serial outside plausible births"),
}


class ParsedDob(NamedTuple):
    """The result of :func:`parse_typed_dob`.

    Attributes
    ----------
    readings : tuple of str
        ISO partial dates; two when day and month are ambiguous (the
        day-first reading first), empty when ``error`` is set.
    precision : {"day", "month", "year"} or None
        How much of the date the text gives; ``None`` on error.
    form : str
        The text's shape: ``"dd/mm/yyyy"``, ``"d/m/yyyy"``, ``"dd-mm-yy"``,
        ``"mm/dd/yyyy"`` (when only the month-first reading is a date),
        ``"yyyy-mm-dd"``, ``"yyyy-dd-mm"``, ``"ddmmyyyy"``, ``"yyyymmdd"``,
        ``"ddmmyy"``, ``"yyyy"``, ``"mm/yyyy"``, ``"yyyy-mm"``, ``"mmyyyy"``,
        ``"excel_serial"``, ``"words"`` (``ngày … tháng … năm …``), with
        ``" hh:mm:ss"`` appended when a time followed; ``""`` when
        unrecognised.
    error : str or None
        A key of :data:`ERROR_MESSAGES`, or ``None``.
    """

    readings: tuple[str, ...]
    precision: str | None
    form: str
    error: str | None


class _Analysis(NamedTuple):
    parsed: ParsedDob
    # The date as written, in its natural order (day-first for d/m/y text),
    # even when it is not a valid date; None parts are absent.
    year: int | None
    month: int | None
    day: int | None
    two_digit_year: bool


_EXCEL_EPOCH = date(1899, 12, 30)  # serial 61 = 1900-03-01 with the fake leap day
_TIME_RE = re.compile(r"^(.*?\d)(?:[ t]+|\s*,\s*)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:am|pm|z|sa|ch)?$", re.ASCII)
_FLOAT_SUFFIX_RE = re.compile(r"^(\d+)\.0+$", re.ASCII)
_SEP_DATE_RE = re.compile(r"^(\d{1,4})\s*([/\-.\s])\s*(\d{1,4})(?:\s*([/\-.\s])\s*(\d{1,4}))?$", re.ASCII)
_WORDS_RE = re.compile(r"^(?:ngay\s*(\d{1,2})\s*)?(?:thang\s*(\d{1,2})\s*)?nam\s*(\d{4})$", re.ASCII)


def excel_serial_to_date(serial: int) -> date | None:
    """Date of an Excel (1900 date system) serial day number.

    Excel counts 1900-01-01 as 1 and, copying Lotus 1-2-3, treats 1900 as a
    leap year: serial 60 is the non-existent 1900-02-29 (``None`` here) and
    every serial after it is one day ahead of a plain day count (Microsoft,
    "Excel incorrectly assumes that the year 1900 is a leap year", KB 214326).
    """
    if serial < 1 or serial == 60:
        return None
    if serial < 60:
        return date(1899, 12, 31) + timedelta(days=serial)
    return _EXCEL_EPOCH + timedelta(days=serial)


def date_to_excel_serial(d: date) -> int:
    """Inverse of :func:`excel_serial_to_date`."""
    n = (d - _EXCEL_EPOCH).days
    return n if n > 60 else n - 1


def _valid(y: int, m: int, d: int) -> bool:
    if not 1 <= m <= 12 or d < 1:
        return False
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def _pivot_year(yy: int, ref_year: int) -> int:
    """Century for a two-digit year: the reading whose age at ``ref_year`` is
    plausible (0–105), preferring 12–100; ties go to the age nearer that band."""

    def score(y: int) -> tuple[int, int]:
        age = ref_year - y
        plausible = 0 <= age <= 105
        distance = 0 if 12 <= age <= 100 else min(abs(age - 12), abs(age - 100))
        return (0 if plausible else 1, distance)

    return min(((c + yy) for c in (1900, 2000)), key=score)


def _err(code: str, form: str = "", y=None, m=None, d=None, two=False) -> _Analysis:
    return _Analysis(ParsedDob((), None, form, code), y, m, d, two)


def _width(part: str, letter: str) -> str:
    return letter * (2 if len(part) >= 2 else 1)


def _bounds_error(y: int, max_date: date, m: int = 1, d: int = 1) -> str | None:
    if y < 1900:
        return "before_1900"
    if date(y, m, d) > max_date:
        return "future"
    return None


def _full(y: int, m: int, d: int, form: str, max_date: date, two: bool, alt: tuple[int, int] | None = None):
    """A day-precision result; ``alt`` = (month, day) of a second reading."""
    readings = []
    errors = []
    for mm, dd in [(m, d)] + ([alt] if alt else []):
        if not _valid(y, mm, dd):
            errors.append("invalid_date")
            continue
        e = _bounds_error(y, max_date, mm, dd)
        if e:
            errors.append(e)
            continue
        readings.append(f"{y:04d}-{mm:02d}-{dd:02d}")
    if not readings:
        return _err(errors[0], form, y, m, d, two)
    return _Analysis(ParsedDob(tuple(readings), "day", form, None), y, m, d, two)


def _month(y: int, m: int, form: str, max_date: date) -> _Analysis:
    if not 1 <= m <= 12:
        return _err("invalid_month", form, y, m)
    e = _bounds_error(y, max_date, m, 1)
    if e:
        return _err(e, form, y, m)
    return _Analysis(ParsedDob((f"{y:04d}-{m:02d}",), "month", form, None), y, m, None, False)


def _year(y: int, form: str, max_date: date) -> _Analysis:
    e = _bounds_error(y, max_date)
    if e:
        return _err(e, form, y)
    return _Analysis(ParsedDob((f"{y:04d}",), "year", form, None), y, None, None, False)


def _day_first(p1: str, p2: str, y: int, seps: tuple[str, str], ylabel: str, max_date: date, two: bool) -> _Analysis:
    """A day-first text ``p1 s1 p2 s2 year``."""
    a, b = int(p1), int(p2)
    s1, s2 = seps
    form = f"{_width(p1, 'd')}{s1}{_width(p2, 'm')}{s2}{ylabel}"
    if a == 0 or b == 0:
        return _err("invalid_date", form, y, b, a, two)
    if a <= 12 and b <= 12 and a != b:
        return _full(y, b, a, form, max_date, two, alt=(a, b))
    if b > 12 and a <= 12:
        # only the month-first reading is a date: the text is mm/dd
        mdy = f"{_width(p1, 'm')}{s1}{_width(p2, 'd')}{s2}{ylabel}"
        res = _full(y, a, b, mdy, max_date, two)
        return res._replace(month=b, day=a)
    if b > 12:
        return _err("invalid_month", form, y, b, a, two)
    return _full(y, b, a, form, max_date, two)


def _analyse_digits(s: str, ref_year: int, max_date: date) -> _Analysis:
    n = len(s)
    v = int(s)
    if n == 4 and 1900 <= v <= max_date.year:
        return _year(v, "yyyy", max_date)
    if n == 8:
        d, m, y = int(s[:2]), int(s[2:4]), int(s[4:])
        if _valid(y, m, d) and y >= 1900:
            return _full(y, m, d, "ddmmyyyy", max_date, False)
        y2, m2, d2 = int(s[:4]), int(s[4:6]), int(s[6:])
        if 1900 <= y2 <= max_date.year and _valid(y2, m2, d2):
            return _full(y2, m2, d2, "yyyymmdd", max_date, False)
        if 1 <= m <= 12 or not 1 <= m2 <= 12:
            return _full(y, m, d, "ddmmyyyy", max_date, False)
        return _full(y2, m2, d2, "yyyymmdd", max_date, False)
    if n == 6:
        d, m, yy = int(s[:2]), int(s[2:4]), int(s[4:])
        if _valid(2000, m, d):
            y = _pivot_year(yy, ref_year)
            return _full(y, m, d, "ddmmyy", max_date, True)
        m2, y2 = int(s[:2]), int(s[2:])
        if 1 <= m2 <= 12 and 1900 <= y2 <= max_date.year:
            return _month(y2, m2, "mmyyyy", max_date)
        return _err("unrecognised")
    if 2 <= n <= 5:
        if v == 60:
            return _err("excel_fake_leap_day", "excel_serial")
        d = excel_serial_to_date(v)
        if d is None or d.year < ref_year - 110 or d > max_date:
            return _err("implausible_serial", "excel_serial")
        return _Analysis(ParsedDob((d.isoformat(),), "day", "excel_serial", None), d.year, d.month, d.day, False)
    return _err("unrecognised")


def _analyse(text: object, ref_year: int = DEFAULT_REF_YEAR) -> _Analysis:
    if text is None or (isinstance(text, float) and text != text):
        return _err("empty")
    s = unicodedata.normalize("NFKC", str(text)).strip().lower().strip("'\"’")
    s = s.strip()
    if not s:
        return _err("empty")
    max_date = date(ref_year + 1, 12, 31)
    suffix = ""
    m = _TIME_RE.match(s)
    if m:
        s = m.group(1).strip()
        suffix = " hh:mm:ss"
    m = _FLOAT_SUFFIX_RE.match(s)
    if m:
        s = m.group(1)
    if s.isdigit() and s.isascii():
        res = _analyse_digits(s, ref_year, max_date)
        return res._replace(parsed=res.parsed._replace(form=res.parsed.form + suffix)) if suffix else res
    m = _SEP_DATE_RE.match(s)
    if m:
        res = _analyse_separated(m, ref_year, max_date)
        return res._replace(parsed=res.parsed._replace(form=res.parsed.form + suffix)) if suffix else res
    key = fold_key(s).replace(",", " ").replace(":", " ")
    key = re.sub(r"\s+", " ", key).strip()
    m = _WORDS_RE.match(key)
    if m:
        d, mo, y = (int(g) if g else None for g in m.groups())
        if d is not None and mo is None:
            return _err("unrecognised")
        if d is not None:
            return _full(y, mo, d, "words", max_date, False)
        if mo is not None:
            return _month(y, mo, "words", max_date)
        return _year(y, "words", max_date)
    return _err("unrecognised")


def _analyse_separated(m: re.Match, ref_year: int, max_date: date) -> _Analysis:
    p1, s1, p2, s2, p3 = m.groups()
    s1 = s1 if s1.strip() else " "
    if p3 is None:
        if len(p1) == 4 and len(p2) <= 2:
            return _month(int(p1), int(p2), f"yyyy{s1}mm", max_date)
        if len(p2) == 4 and len(p1) <= 2:
            return _month(int(p2), int(p1), f"{_width(p1, 'm')}{s1}yyyy", max_date)
        return _err("unrecognised")
    s2 = s2 if s2.strip() else " "
    if len(p1) == 4 and len(p2) <= 2 and len(p3) <= 2:
        y, a, b = int(p1), int(p2), int(p3)
        form = f"yyyy{s1}{_width(p2, 'm')}{s2}{_width(p3, 'd')}"
        if a > 12 and 1 <= b <= 12:
            res = _full(y, b, a, form.replace("mm", "§").replace("dd", "mm").replace("§", "dd"), max_date, False)
            return res._replace(month=a, day=b)
        if not 1 <= a <= 12:
            return _err("invalid_month", form, y, a, b)
        return _full(y, a, b, form, max_date, False)
    if len(p1) <= 2 and len(p2) <= 2 and len(p3) in (2, 4):
        two = len(p3) == 2
        y = _pivot_year(int(p3), ref_year) if two else int(p3)
        return _day_first(p1, p2, y, (s1, s2), "yy" if two else "yyyy", max_date, two)
    return _err("unrecognised")


def parse_typed_dob(s: object, ref_year: int = DEFAULT_REF_YEAR) -> ParsedDob:
    """Parse a typed date of birth.

    Parameters
    ----------
    s : str
        The text as typed (``None``/NaN give error ``"empty"``).
    ref_year : int
        Year of vaccination: two-digit years are read in the century giving
        an age of 0–105 at ``ref_year`` (12–100 preferred); dates after the
        end of ``ref_year + 1`` are ``"future"``; Excel serials must fall
        within ``ref_year - 110`` … ``ref_year + 1``.

    Returns
    -------
    ParsedDob

    Notes
    -----
    When day and month are both ≤ 12 and differ, both readings are returned,
    day-first first.  When only the month-first reading is a date
    (``03/25/1980``) it is the only reading, with form ``mm/dd/yyyy``.  A
    4-digit number from 1900 to ``ref_year + 1`` is a year; other 3–5 digit
    numbers are Excel serials; 8 digits are ``ddmmyyyy`` (or ``yyyymmdd``
    when only that reads as a date); 6 digits are ``ddmmyy`` (or ``mmyyyy``).

    Examples
    --------
    >>> parse_typed_dob("05/03/1980").readings
    ('1980-03-05', '1980-05-03')
    >>> parse_typed_dob("29281").readings
    ('1980-03-01',)
    >>> parse_typed_dob("31/02/1980").error
    'invalid_date'
    """
    try:
        return _analyse(s, ref_year).parsed
    except (ValueError, OverflowError):  # e.g. a 40-digit "year"
        return ParsedDob((), None, "", "unrecognised")


def parse_dobs(series: pd.Series, ref_year: int = DEFAULT_REF_YEAR) -> pd.DataFrame:
    """Vectorised :func:`parse_typed_dob`, computed once per distinct value.

    Returns
    -------
    DataFrame
        Same index as ``series``; columns ``dob`` (first reading or None),
        ``dob_alt`` (second reading or None), ``precision``, ``form``,
        ``error``.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    uniq = np.asarray(uniques, dtype=object)
    n = len(uniq)
    iso = _plain_iso_dates(uniq, ref_year)
    dob = np.empty(n + 1, dtype=object)
    alt = np.empty(n + 1, dtype=object)
    precision = np.empty(n + 1, dtype=object)
    form = np.empty(n + 1, dtype=object)
    error = np.empty(n + 1, dtype=object)
    # a valid yyyy-mm-dd in range (most of a column) reads as itself: no Python call per value
    dob[:n][iso], precision[:n][iso], form[:n][iso] = uniq[iso], "day", "yyyy-mm-dd"
    # dd/mm/yyyy (also with - or .; most of the others), read with numpy as _day_first reads it
    done = iso.copy()
    done[_day_first_dates(uniq, ref_year, dob, alt, precision, form, error)] = True
    rest = np.append(np.flatnonzero(~done), n)  # n: the missing value (code -1)
    results = [parse_typed_dob(uniq[k] if k < n else None, ref_year) for k in rest.tolist()]
    dob[rest] = [r.readings[0] if r.readings else None for r in results]
    alt[rest] = [r.readings[1] if len(r.readings) > 1 else None for r in results]
    precision[rest] = [r.precision for r in results]
    form[rest] = [r.form for r in results]
    error[rest] = [r.error for r in results]
    idx = np.where(codes < 0, n, codes)
    cols = {"dob": dob, "dob_alt": alt, "precision": precision, "form": form, "error": error}
    return pd.DataFrame({k: pd.Series(v[idx], index=series.index, dtype=object, copy=False) for k, v in cols.items()},
                        index=series.index)


def _plain_iso_dates(values: np.ndarray, ref_year: int) -> np.ndarray:
    """Per value: a ``str`` ``yyyy-mm-dd`` (ASCII digits) naming a real day from 1900 to the end
    of ``ref_year + 1``, which :func:`parse_typed_dob` reads as itself, form ``yyyy-mm-dd``."""
    return iso_day_flags(values, 1900, ref_year + 1)


def _digits10(values: np.ndarray) -> np.ndarray:
    """The ten characters of each of ``values`` (10-character ASCII ``str``) as numbers (a digit's value;
    the other characters, e.g. separators, give numbers nobody reads)."""
    return np.array(values.tolist(), dtype="U10").view(np.uint32).reshape(-1, 10).astype(np.int64) - 48


def _day_first_dates(values: np.ndarray, ref_year: int, dob: np.ndarray, alt: np.ndarray, precision: np.ndarray,
                     form: np.ndarray, error: np.ndarray) -> np.ndarray:
    """The positions of the values that are ``dd/mm/yyyy``, ``dd-mm-yyyy`` or ``dd.mm.yyyy`` (ASCII
    digits, two, two and four), their :func:`parse_typed_dob` fields written at those positions of
    the five arrays without a Python call per value: the reading of :func:`_day_first` for two-digit
    day and month, one separator and a four-digit year (two readings, both day and month <= 12, are
    both real days or, in year 0, neither; the bounds are the year's, 1900 … ``ref_year + 1``)."""
    from vaxlib.vn.text import fullmatch_flags

    if not len(values):
        return np.zeros(0, dtype=np.int64)
    at = np.flatnonzero(fullmatch_flags(values, "[0-9]{2}/[0-9]{2}/[0-9]{4}|[0-9]{2}-[0-9]{2}-[0-9]{4}"
                                                "|[0-9]{2}[.][0-9]{2}[.][0-9]{4}"))
    if not len(at):
        return at
    digits = _digits10(values[at])
    a = digits[:, 0] * 10 + digits[:, 1]  # the first part: the day, unless only the month-first reading is a date
    b = digits[:, 3] * 10 + digits[:, 4]
    y = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    sep = np.array([v[2] for v in values[at].tolist()], dtype=object)
    dmy = "dd" + sep + "mm" + sep + "yyyy"
    mdy = "mm" + sep + "dd" + sep + "yyyy"
    bound = np.where(y < 1900, "before_1900", np.where(y > ref_year + 1, "future", ""))
    zero = (a == 0) | (b == 0)
    both = ~zero & (a <= 12) & (b <= 12) & (a != b)  # two readings, both real days or neither (year 0)
    month_first = ~zero & (b > 12) & (a <= 12)  # only mm/dd is a date
    no_month = ~zero & (b > 12) & (a > 12)
    plain = ~zero & ~both & ~month_first & ~no_month  # b <= 12 and (a > 12 or a == b): dd/mm
    month = np.where(month_first, a, b)
    day = np.where(month_first, b, a)
    real = _is_valid_ymd(y, month, day)
    code = np.where(zero | (~no_month & ~real), "invalid_date",
                    np.where(no_month, "invalid_month", bound)).astype(object)
    ok = code == ""
    first = np.array([f"{yy:04d}-{mm:02d}-{dd:02d}" for yy, mm, dd in zip(y.tolist(), month.tolist(), day.tolist())],
                     dtype=object)
    second = np.array([f"{yy:04d}-{dd:02d}-{mm:02d}" for yy, mm, dd in zip(y.tolist(), month.tolist(), day.tolist())],
                      dtype=object)
    dob[at] = np.where(ok, first, None)
    alt[at] = np.where(ok & both, second, None)
    precision[at] = np.where(ok, "day", None)
    form[at] = np.where(month_first, mdy, dmy)
    error[at] = np.where(ok, None, code)
    return at


def iso_ymd(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions, years, months, days) of the entries of an object array that are a ``str``
    ``yyyy-mm-dd`` of ASCII digits (any numbers: ``0000-99-00`` too), read without a Python call each."""
    from vaxlib.vn.text import fullmatch_flags

    at = np.flatnonzero(fullmatch_flags(values, "[0-9]{4}-[0-9]{2}-[0-9]{2}")) if len(values) else \
        np.zeros(0, dtype=np.int64)
    if not len(at):
        z = np.zeros(0, dtype=np.int64)
        return at, z, z, z
    digits = _digits10(values[at])
    y = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    m = digits[:, 5] * 10 + digits[:, 6]
    d = digits[:, 8] * 10 + digits[:, 9]
    return at, y, m, d


def iso_day_flags(values: np.ndarray, first_year: int, last_year: int) -> np.ndarray:
    """Per entry of an object array: a ``str`` ``yyyy-mm-dd`` (ASCII digits) naming a real day of
    the years ``first_year`` … ``last_year``."""
    out = np.zeros(len(values), dtype=bool)
    at, y, m, d = iso_ymd(np.asarray(values, dtype=object))
    out[at] = _is_valid_ymd(y, m, d) & (y >= first_year) & (y <= last_year)
    return out


def is_typo(a: str, b: str) -> bool:
    """True when two equal-length digit strings differ in exactly one
    position, or by exactly one swap of adjacent digits."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


_ISO_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$", re.ASCII)


def _register_parts(register: object) -> tuple[int, int | None, int | None] | None:
    if not isinstance(register, str):
        return None
    m = _ISO_RE.match(register.strip())
    if not m:
        return None
    y, mo, d = (int(g) if g else None for g in m.groups())
    return y, mo, d


def _digits(parts: tuple) -> str:
    widths = (4, 2, 2)
    return "".join(f"{p:0{w}d}" for p, w in zip(parts, widths) if p is not None)


# The register's own layout (YYYY, YYYY-MM, YYYY-MM-DD): typed so, the text is not a dob:format error.
_ISO_TEXT = re.compile(r"^[0-9]{4}(?:-[0-9]{2}){0,2}$")


def compare_dob(typed: object, register: object, ref_year: int = DEFAULT_REF_YEAR) -> tuple[str, ...]:
    """Name how a typed dob differs from the register's ISO dob.

    Parameters
    ----------
    typed : str
        The dob as typed (any form :func:`parse_typed_dob` reads).
    register : str
        The register's dob: ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``.

    Returns
    -------
    tuple of str
        Sorted codes; ``()`` when the two texts are identical.  Let the typed
        text, read as written, give year Y, month M, day D (day-first for a
        ``d/m/y`` text, whichever parts it has) and the register give
        year R_Y, month R_M, day R_D; "common precision" is the coarser of
        the two.

        * ``dob:format`` — same precision, text not in the register's ISO
          layout (``5/3/1980``, ``05-03-80``, ``29281`` for ``1980-03-05``).
          A two-digit year agrees with any register year ending in those
          digits.  Syntactic, so it is added to ``dob:day_month_swap``,
          ``dob:year_only_default`` and ``dob:typo`` (``15/01/1970`` for
          ``1979-01-15`` is ``dob:format;dob:typo``); never to
          ``dob:partial`` nor ``dob:other``.
        * ``dob:day_month_swap`` — both full dates; the date read as written
          differs from the register, but exchanging day and month gives it,
          i.e. the month-first reading of the text is the register date
          (``03/05/1980`` for ``1980-03-05``, ``03/25/1980`` or
          ``1980-25-03`` for ``1980-03-25``).
        * ``dob:year_only_default`` — both full dates, typed day and month
          are 01/01, the year equals R_Y and the register's day/month is not
          01/01 (a register 01-01 would make the texts agree: then it is at
          most ``dob:format``, since 01/01 is often the genuine default).
        * ``dob:partial`` — the precisions differ and the parts both have
          agree (``1980`` or ``03/1980`` for ``1980-03-05``; ``01/01/1980``
          or ``05/03/1980`` for a register ``1980``).  Combined with
          ``dob:typo`` or ``dob:day_month_swap`` when the common parts agree
          only that way.
        * ``dob:typo`` — the digits of the common parts (``YYYYMMDD``,
          ``YYYYMM`` or ``YYYY``) differ in exactly one position or by one
          swap of adjacent digits (``15/03/1980`` or ``05/03/1908`` for
          ``1980-03-05``; ``1981`` for ``1980``).
        * ``dob:other`` — anything else, including an empty or unreadable
          typed value and a register dob that is not ISO.
    """
    if isinstance(typed, str) and isinstance(register, str) and typed == register:
        return ()
    reg = _register_parts(register)
    if reg is None:
        return ("dob:other",)
    try:
        an = _analyse(typed, ref_year)
    except (ValueError, OverflowError):
        return ("dob:other",)
    if an.year is None:
        return ("dob:other",)
    y, m, d = an.year, an.month, an.day
    ry, rm, rd = reg
    if an.two_digit_year and y % 100 == ry % 100:
        y = ry
    typed_parts = (y, m, d)
    t_n = 3 - typed_parts.count(None)
    r_n = 3 - reg.count(None)
    k = min(t_n, r_n)
    same_precision = t_n == r_n
    t_common, r_common = typed_parts[:k], reg[:k]
    # dob:format is syntactic and adds to the semantic codes; dob:partial
    # (a coarser precision) already says the text differs, so never both.
    if same_precision:
        extra = () if isinstance(typed, str) and _ISO_TEXT.match(typed) else ("dob:format",)
    else:
        extra = ("dob:partial",)

    if t_common == r_common:
        return extra if extra else ("dob:format",)
    if k >= 2 and m is not None and d is not None and _valid(y, d, m):
        swapped = (y, d, m)[:k]
        if swapped == r_common:
            return tuple(sorted(extra + ("dob:day_month_swap",)))
    if k == 3 and (m, d) == (1, 1) and y == ry:
        return tuple(sorted(extra + ("dob:year_only_default",)))
    if is_typo(_digits(t_common), _digits(r_common)):
        return tuple(sorted(extra + ("dob:typo",)))
    return ("dob:other",)


# Typed texts whose reading as written is fixed by their shape, without the parser: (pattern,
# group of the year, month, day; 0 = absent).  ``d/m/yyyy`` is read day-first and ``yyyy-m-d``
# year-month-day whichever part exceeds 12 (see _day_first, _analyse_separated); a dot is
# no separator of the partial forms (``12.0000`` is the float 12).
_SHAPES = (
    (re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", re.ASCII), (3, 2, 1)),
    (re.compile(r"(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})", re.ASCII), (1, 2, 3)),
    (re.compile(r"(\d{1,2})[/\-](\d{4})", re.ASCII), (2, 1, 0)),
    (re.compile(r"(\d{4})[/\-](\d{1,2})", re.ASCII), (1, 2, 0)),
)
_YEAR_TEXT = re.compile(r"\d{4}", re.ASCII)


def _as_written(text: str, ref_year: int) -> tuple[int, int, int, bool]:
    """(year, month, day, two-digit year) of a typed text as written, -1 for an absent part
    (year -1: no reading).  What :func:`_analyse` gives, read off the common shapes directly."""
    for rx, groups in _SHAPES:
        m = rx.fullmatch(text)
        if m:
            return (*(int(m.group(g)) if g else -1 for g in groups), False)
    if _YEAR_TEXT.fullmatch(text) and 1900 <= int(text) <= ref_year + 1:
        return int(text), -1, -1, False
    try:
        an = _analyse(text, ref_year)
    except (ValueError, OverflowError):
        return -1, -1, -1, False
    if an.year is None:
        return -1, -1, -1, False
    return an.year, -1 if an.month is None else an.month, -1 if an.day is None else an.day, an.two_digit_year


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` (tuples stay elements)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _is_valid_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """:func:`_valid` on arrays (``date(y, m, d)`` exists)."""
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = _DAYS_IN_MONTH[np.clip(m, 0, 12)] + (leap & (m == 2))
    return (1 <= y) & (y <= 9999) & (1 <= m) & (m <= 12) & (1 <= d) & (d <= dim)


def _is_typo_digits(a: np.ndarray, b: np.ndarray, width: np.ndarray) -> np.ndarray:
    """:func:`is_typo` on rows of digit matrices, comparing the first ``width`` digits of each row."""
    live = np.arange(a.shape[1])[None, :] < width[:, None]
    diff = (a != b) & live
    n = diff.sum(axis=1)
    first = diff.argmax(axis=1)
    rows = np.arange(len(a))
    nxt = np.minimum(first + 1, a.shape[1] - 1)
    swap = (n == 2) & diff[rows, nxt] & (a[rows, first] == b[rows, nxt]) & (a[rows, nxt] == b[rows, first])
    return (n == 1) | swap


def _digit_matrix(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """YYYYMMDD digits per row (parts within their widths)."""
    return np.stack([y // 1000 % 10, y // 100 % 10, y // 10 % 10, y % 10, m // 10 % 10, m % 10,
                     d // 10 % 10, d % 10], axis=1)


def compare_dob_many(typed: np.ndarray, register: np.ndarray, ref_year: int = DEFAULT_REF_YEAR) -> np.ndarray:
    """``[compare_dob(t, r) for t, r in zip(typed, register)]`` as an object array of tuples, vectorised.

    Each distinct typed text is read once (the common shapes directly, the rest by the parser)
    and each distinct register dob once; the rules of :func:`compare_dob` are then applied to
    all pairs at once.  Pairs with a part too wide for the digit comparison, or a value that is
    not text, are left to :func:`compare_dob`.
    """
    typed = np.asarray(typed, dtype=object)
    register = np.asarray(register, dtype=object)
    n = len(typed)
    out = np.empty(n, dtype=object)
    t_str = np.fromiter((isinstance(v, str) for v in typed), bool, count=n)
    r_str = np.fromiter((isinstance(v, str) for v in register), bool, count=n)
    both = t_str & r_str
    slow = np.flatnonzero(~both)
    same = np.zeros(n, dtype=bool)
    same[both] = typed[both] == register[both]
    out[same] = _objects([()])[np.zeros(int(same.sum()), dtype=np.int64)]
    k_ = np.flatnonzero(both & ~same)
    if len(k_):
        tc, tu = pd.factorize(typed[k_])
        rc, ru = pd.factorize(register[k_])
        tv = np.array([_as_written(v, ref_year) for v in tu], dtype=np.int64).reshape(-1, 4)
        iso = np.fromiter((bool(_ISO_TEXT.match(v)) for v in tu), bool, count=len(tu))[tc]
        rv = np.array([p if p is not None else (-2, -1, -1) for p in map(_register_parts, ru)],
                      dtype=np.float64).reshape(-1, 3)
        rv = np.nan_to_num(rv, nan=-1).astype(np.int64)[rc]
        y, m, d, two = tv[tc, 0], tv[tc, 1], tv[tc, 2], tv[tc, 3].astype(bool)
        ry, rm, rd = rv[:, 0], rv[:, 1], rv[:, 2]
        y = np.where(two & (y >= 0) & (ry >= 0) & (y % 100 == ry % 100), ry, y)
        t_n = 1 + (m >= 0) + (d >= 0)
        r_n = 1 + (rm >= 0) + (rd >= 0)
        k = np.minimum(t_n, r_n)
        same_prec = t_n == r_n
        t_parts, r_parts = np.stack([y, m, d], axis=1), np.stack([ry, rm, rd], axis=1)
        live = np.arange(3)[None, :] < k[:, None]
        common_eq = ((t_parts == r_parts) | ~live).all(axis=1)
        # the digit comparison needs every common part present and within its width
        wide = ((t_parts < 0) | (r_parts < 0) | (t_parts > [9999, 99, 99]) | (r_parts > [9999, 99, 99])) & live
        fits = ~wide.any(axis=1)
        swapped = np.stack([y, d, m], axis=1)
        swap = (k >= 2) & (m >= 0) & (d >= 0) & _is_valid_ymd(y, d, m) & ((swapped == r_parts) | ~live).all(axis=1)
        yod = (k == 3) & (m == 1) & (d == 1) & (y == ry)
        typo = fits & _is_typo_digits(_digit_matrix(np.maximum(y, 0), np.maximum(m, 0), np.maximum(d, 0)),
                                      _digit_matrix(np.maximum(ry, 0), np.maximum(rm, 0), np.maximum(rd, 0)),
                                      np.array([0, 4, 6, 8])[k])
        # extra: 0 none (same precision, register layout), 1 dob:format, 2 dob:partial
        extra = np.where(same_prec, np.where(iso, 0, 1), 2)
        semantic = np.select([common_eq, swap, yod, typo], [0, 1, 2, 3], 4)  # 4: dob:other
        table = {}
        for e, name in enumerate(((), ("dob:format",), ("dob:partial",))):
            table[(e, 0)] = name if name else ("dob:format",)
            for s_, code in ((1, "dob:day_month_swap"), (2, "dob:year_only_default"), (3, "dob:typo")):
                table[(e, s_)] = tuple(sorted(name + (code,)))
            table[(e, 4)] = ("dob:other",)
        # a text without a year, or a register dob that is not ISO (year -2): dob:other
        ok = (y >= 0) & (ry >= 0)
        codes = np.where(ok, extra * 5 + semantic, -1)
        lookup = np.empty(16, dtype=object)
        for (e, s_), v in table.items():
            lookup[e * 5 + s_] = v
        lookup[-1] = ("dob:other",)
        res = lookup[codes]
        # a typo judged on digits that do not fit: the reference rule
        res_slow = ok & ~fits & ~common_eq & ~swap & ~yod
        out[k_] = res
        slow = np.concatenate([slow, k_[res_slow]])
    for i in slow:
        out[i] = compare_dob(typed[i], register[i], ref_year)
    return out


def compare_dobs(typed: pd.Series, register: pd.Series, ref_year: int = DEFAULT_REF_YEAR) -> pd.Series:
    """Vectorised :func:`compare_dob`, computed once per distinct (typed, register) pair.

    Returns
    -------
    Series of str
        The codes joined with ``";"`` (``""`` when none), index of ``typed``.
    """
    codes = compare_dob_many(typed.to_numpy(dtype=object), register.to_numpy(dtype=object), ref_year)
    return pd.Series([";".join(c) for c in codes], index=typed.index, dtype=object)
