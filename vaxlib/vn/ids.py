"""Vietnamese personal ID numbers as typed at vaccination facilities.

Three kinds of number are in use in 2021–2022:

* **CCCD / số định danh cá nhân** — 12 digits: a 3-digit province-of-birth
  code (``001`` Hà Nội … ``096`` Cà Mau), one century/sex digit, the last two
  digits of the birth year and a 6-digit random serial.  Sources: Nghị định
  137/2015/NĐ-CP, Điều 13 (cấu trúc số định danh cá nhân); Thông tư
  07/2016/TT-BCA, Điều 7 and Phụ lục (mã tỉnh, mã thế kỷ và giới tính).  There
  is **no check digit**, so a typo can only be caught when it breaks the
  structure.  Every valid number starts with ``0`` (the province codes run
  from 001 to 096), which is why a spreadsheet that stores it as a number
  drops that zero.
* **CMND** — the former 9-digit identity card number (many start with ``0``).
* **Passport** — one letter and 7 digits (Vietnamese passports, e.g.
  ``C1234567``; 8 digits since 2022) or, for foreigners, 1–2 letters and 6–9
  digits.

:func:`parse_id` strips what a spreadsheet or a typist adds (spaces, dots,
dashes, the apostrophe Excel uses to force text, quotes), restores a lost
leading zero, recognises Excel's scientific notation and floats and says which
digits are still known, and classifies the result.  :func:`check_cccd_structure`
reports where a 12-digit number disagrees with the person's sex and dob.
"""
from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

import numpy as np
import pandas as pd

from vaxlib.vn.provinces import BY_CCCD
from vaxlib.vn.text import fold_key

__all__ = [
    "ParsedId",
    "parse_id",
    "parse_ids",
    "normalise_id",
    "cccd_parts",
    "century_sex_digit",
    "check_cccd_structure",
    "check_cccd_structures",
    "pattern_matches",
    "MISSING_PLACEHOLDERS",
]


class ParsedId(NamedTuple):
    """The result of :func:`parse_id`.

    Attributes
    ----------
    kind : str
        ``"cccd"`` (12 digits), ``"cmnd"`` (9 digits), ``"passport"``,
        ``"excel"`` (Excel lost some digits; see ``pattern``), ``"malformed"``
        or ``"missing"``.
    digits : str or None
        The canonical number: digits only (a passport keeps its letters,
        upper-cased), leading zero restored when that is certain.  ``None``
        for ``excel``, ``missing`` and ``malformed`` values.
    pattern : str or None
        For ``excel`` values, the digits still known with ``?`` for each lost
        one, e.g. ``"0791234?????"``; for every other kind equal to ``digits``
        (``None`` when ``digits`` is ``None``).  The last known digit of an
        Excel display is rounded (``7.91234E+10`` shows ``...234`` for a
        cell holding ``...2345...``, and ``8.00000E+10`` may stand for
        ``79999...``), so a matcher should compare the number within half a
        unit of the last known place rather than digit by digit
        (:func:`pattern_matches`).
    issues : tuple of str
        Sorted notes: taxonomy codes ``id:missing``, ``id:malformed``,
        ``id:passport``, ``id:old_cmnd``, ``id:lost_leading_zero``,
        ``id:excel_mangled``, and ``separators`` when only spaces, dots,
        dashes, quotes or the Excel apostrophe had to be removed (a matter of
        form, not an error of the number).
    """

    kind: str
    digits: str | None
    pattern: str | None
    issues: tuple[str, ...]


#: Typed values meaning "no number" (compared after folding diacritics and case).
MISSING_PLACEHOLDERS = frozenset(
    {
        "", "0", "-", "--", "_", ".", "x", "na", "n/a", "n.a", "none", "null", "nan", "khong", "khong co",
        "ko", "ko co", "k co", "kco", "chua co", "chua", "khong ro", "chua cap", "khong co cmnd",
        "khong co cccd", "khong co cmnd/cccd", "tre em", "/",
    }
)

# Separators a typist or a spreadsheet inserts; removing them changes only the form.
_SEPARATORS_RE = re.compile(r"[\s.\-_/\\,'\"`´‘’“”]+")
_EXCEL_FLOAT_RE = re.compile(r"^([0-9]+)[.,]0+$")
# Mantissa with '.' or ',' decimal mark, exponent with optional sign.
_EXCEL_SCI_RE = re.compile(r"^([0-9])(?:[.,]([0-9]*))?e\+?([0-9]{1,2})$", re.IGNORECASE)
_PASSPORT_VN_RE = re.compile(r"^[A-Z][0-9]{7,8}$")
_PASSPORT_OTHER_RE = re.compile(r"^[A-Z]{1,2}[0-9]{6,9}$")
_DIGITS_RE = re.compile(r"^[0-9]+$")
_HAS_DIGIT_RE = re.compile(r"[0-9]")
_CLEAN_CCCD = r"0[0-9]{11}"


def _restore_zeros(d: str) -> str | None:
    """The 12-digit CCCD a shorter all-digit value was, if it lost its leading
    zero(s) in a spreadsheet: 11 digits lost one zero (province 010–096),
    10 digits lost two (Hà Nội 001, Hà Giang 002, Cao Bằng 004, Bắc Kạn 006,
    Tuyên Quang 008).  The century digit must be 0–3 (people born
    1900–2099, Thông tư 07/2016/TT-BCA, Điều 7)."""
    if len(d) not in (10, 11):
        return None
    full = "0" * (12 - len(d)) + d
    if full[:3] in BY_CCCD and full[3] in "0123":
        return full
    return None


def _classify_digits(d: str, issues: set[str]) -> ParsedId:
    """Classify an all-digit string (separators already gone)."""
    n = len(d)
    if set(d) == {"0"}:
        return ParsedId("missing", None, None, tuple(sorted(issues | {"id:missing"})))
    if n == 12:
        if d[0] == "0":
            return ParsedId("cccd", d, d, tuple(sorted(issues)))
        return ParsedId("malformed", None, None, tuple(sorted(issues | {"id:malformed"})))
    full = _restore_zeros(d)
    if full is not None:
        return ParsedId("cccd", full, full, tuple(sorted(issues | {"id:lost_leading_zero"})))
    if n == 9:
        return ParsedId("cmnd", d, d, tuple(sorted(issues | {"id:old_cmnd"})))
    if n == 8:
        full = "0" + d
        return ParsedId("cmnd", full, full, tuple(sorted(issues | {"id:old_cmnd", "id:lost_leading_zero"})))
    return ParsedId("malformed", None, None, tuple(sorted(issues | {"id:malformed"})))


def _parse_scientific(mantissa_int: str, mantissa_frac: str, exponent: int) -> ParsedId:
    """Excel's General format: ``7.91234E+10`` is a number of ``exponent + 1``
    digits of which only the shown significant digits are known."""
    sig = (mantissa_int + mantissa_frac).rstrip("0") or "0"
    length = exponent + 1
    issues = {"id:excel_mangled"}
    if len(sig) > length:  # '1.5E+2' is not an integer: not an ID
        return ParsedId("malformed", None, None, ("id:excel_mangled", "id:malformed"))
    # The digits shown (zeros included) are known, up to rounding of the
    # last one; nothing beyond them is.
    known = mantissa_int + mantissa_frac
    known = known[:length]
    # Excel keeps 15 significant digits: with as many digits as the number has
    # (e.g. '7.9123456789E+10') nothing was lost.
    if len(known) >= length:
        return _classify_digits(known, issues)
    pattern = known + "?" * (length - len(known))
    if length in (10, 11):
        # No province test here: rounding may have carried into the
        # province digits ('096999999999' shows as 9.70000E+10).
        zeros = "0" * (12 - length)
        return ParsedId("excel", None, zeros + pattern, ("id:excel_mangled", "id:lost_leading_zero"))
    if length == 8:
        return ParsedId("excel", None, "0" + pattern, ("id:excel_mangled", "id:lost_leading_zero"))
    if length == 9:
        return ParsedId("excel", None, pattern, ("id:excel_mangled", "id:old_cmnd"))
    if length == 12:
        return ParsedId("excel", None, pattern, ("id:excel_mangled", "id:malformed"))
    return ParsedId("malformed", None, None, ("id:excel_mangled", "id:malformed"))


def parse_id(typed: object) -> ParsedId:
    """Parse a typed ID number into a :class:`ParsedId`.

    Never raises: anything unrecognisable is ``malformed``, and ``None``/NaN
    or a placeholder such as ``"0"``, ``"không có"``, ``"-"``, ``"N/A"`` is
    ``missing``.

    Examples
    --------
    >>> parse_id("079 123 456 789")
    ParsedId(kind='cccd', digits='079123456789', pattern='079123456789', issues=('separators',))
    >>> parse_id("79123456789").issues
    ('id:lost_leading_zero',)
    >>> parse_id("7.91234E+10").pattern
    '0791234?????'
    """
    if typed is None or (isinstance(typed, float) and typed != typed):
        return ParsedId("missing", None, None, ("id:missing",))
    if isinstance(typed, (int, np.integer)):
        typed = str(int(typed))
    elif isinstance(typed, (float, np.floating)):
        # A number object carries no text form: an integral float is the same
        # value as the int (and pandas de-duplicates them together).
        f = float(typed)
        typed = str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    # NFKC turns full-width digits and letters into ASCII.
    s = str(typed)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    s = s.strip()
    # Placeholders have no digit other than a lone '0'; skip the costly fold otherwise.
    if (s == "0" or not _HAS_DIGIT_RE.search(s)) and fold_key(s) in MISSING_PLACEHOLDERS:
        return ParsedId("missing", None, None, ("id:missing",))

    compact = s.replace(" ", "").replace("\u00a0", "")
    # Excel: apostrophe prefix forcing text, then the number shapes it writes.
    core = compact.lstrip("'’`").strip("\"“”")
    m = _EXCEL_SCI_RE.match(core)
    if m:
        return _parse_scientific(m.group(1), m.group(2) or "", int(m.group(3)))
    m = _EXCEL_FLOAT_RE.match(core)
    if m:
        return _classify_digits(m.group(1), {"id:excel_mangled"})

    stripped = _SEPARATORS_RE.sub("", s).upper()
    issues: set[str] = set()
    if stripped != s.upper():
        issues.add("separators")
    if not stripped:
        return ParsedId("missing", None, None, ("id:missing",))
    if _DIGITS_RE.match(stripped):
        return _classify_digits(stripped, issues)
    if _PASSPORT_VN_RE.match(stripped) or _PASSPORT_OTHER_RE.match(stripped):
        return ParsedId("passport", stripped, stripped, tuple(sorted(issues | {"id:passport"})))
    return ParsedId("malformed", None, None, tuple(sorted(issues | {"id:malformed"})))


def normalise_id(typed: object) -> str | None:
    """The canonical form of a typed ID (``ParsedId.digits``), or ``None``.

    Idempotent: ``normalise_id(normalise_id(x)) == normalise_id(x)`` whenever
    the first call returns a string.
    """
    return parse_id(typed).digits


def parse_ids(series: pd.Series) -> pd.DataFrame:
    """Vectorised :func:`parse_id`, computed once per distinct value.

    Values that are already a clean 12-digit number starting with 0 (most of
    a real column) are recognised with one vectorised regular expression;
    the rest are parsed once per distinct value.

    Returns
    -------
    DataFrame
        Same index as ``series``; columns ``kind``, ``digits``, ``pattern``
        and ``issues`` (the issue codes joined with ``";"``, ``""`` when none).
    """
    from vaxlib.vn.text import fullmatch_flags

    n = len(series)
    obj = series.to_numpy(dtype=object)
    # matched in C (Arrow), not one Python regex call per value: most IDs are distinct
    clean = fullmatch_flags(obj, _CLEAN_CCCD) & (obj != "0" * 12)  # all zeros is a placeholder
    kind = np.empty(n, dtype=object)
    digits = np.empty(n, dtype=object)
    pattern = np.empty(n, dtype=object)
    issues = np.empty(n, dtype=object)
    if clean.any():
        values = obj[clean]
        kind[clean], digits[clean], pattern[clean], issues[clean] = "cccd", values, values, ""
    rest = ~clean
    if rest.any():
        codes, uniques = pd.factorize(series[rest], use_na_sentinel=True)
        uniques = np.asarray(uniques, dtype=object)
        # ASCII digits only (most of the rest: lost zeros, old CMND): what parse_id would do, minus its
        # text clean-up, which leaves such a value as it is
        digits_only = fullmatch_flags(uniques, "[0-9]+")
        parsed = [_classify_digits(u, set()) if d else parse_id(u)
                  for u, d in zip(uniques.tolist(), digits_only.tolist())] + [parse_id(None)]
        # code -1 (missing) indexes the extra last entry
        idx = np.where(codes < 0, len(parsed) - 1, codes)
        kind[rest] = np.array([p.kind for p in parsed], dtype=object)[idx]
        digits[rest] = np.array([p.digits for p in parsed], dtype=object)[idx]
        pattern[rest] = np.array([p.pattern for p in parsed], dtype=object)[idx]
        issues[rest] = np.array([";".join(p.issues) for p in parsed], dtype=object)[idx]
    cols = {"kind": kind, "digits": digits, "pattern": pattern, "issues": issues}
    return pd.DataFrame({k: pd.Series(v, index=series.index, dtype=object) for k, v in cols.items()}, index=series.index)


def pattern_matches(pattern: str, digits: str) -> bool:
    """Whether a canonical number ``digits`` could be what an Excel-mangled
    ``pattern`` (see :class:`ParsedId`) was displaying.

    Excel rounds to the digits it shows, so ``digits`` must lie within half a
    unit of the last known place of the pattern read with ``?`` as 0:
    ``pattern_matches("0791234?????", "079123449999")`` and
    ``pattern_matches("0800000?????", "079999999999")`` are both true.
    Without ``?`` it is plain equality.
    """
    if not isinstance(pattern, str) or not isinstance(digits, str) or len(pattern) != len(digits):
        return False
    lost = pattern.count("?")
    if lost == 0:
        return pattern == digits
    known = pattern.replace("?", "0")
    if not (known.isascii() and known.isdigit() and digits.isascii() and digits.isdigit()):
        return False
    if pattern.rstrip("?") != pattern[: len(pattern) - lost]:
        return False  # '?' only at the end
    return abs(int(digits) - int(known)) * 2 <= 10**lost


def cccd_parts(id12: str) -> tuple[str, int, str, str]:
    """Split a 12-digit CCCD number into its parts.

    Returns
    -------
    (province_cccd, century_sex, year2, serial)
        ``("079", 0, "85", "123456")`` for ``"079085123456"``.

    Raises
    ------
    ValueError
        When ``id12`` is not 12 ASCII digits.
    """
    if not (isinstance(id12, str) and len(id12) == 12 and id12.isascii() and id12.isdigit()):
        raise ValueError("a CCCD number has exactly 12 digits")
    return id12[:3], int(id12[3]), id12[4:6], id12[6:]


def century_sex_digit(sex: str, birth_year: int) -> int:
    """The century/sex digit a person born in ``birth_year`` should carry.

    Thông tư 07/2016/TT-BCA, Điều 7: the 20th century (1900–1999) is male 0,
    female 1; the 21st (2000–2099) 2/3; the 22nd 4/5; the 23rd 6/7; the 24th
    (2300–2399) 8/9.

    Raises
    ------
    ValueError
        For a sex other than ``"M"``/``"F"`` or a year outside 1900–2399.
    """
    if sex not in ("M", "F") or not 1900 <= birth_year <= 2399:
        raise ValueError("sex must be 'M' or 'F' and the year within 1900–2399")
    return 2 * ((birth_year - 1900) // 100) + (1 if sex == "F" else 0)


def _century_of_digit(digit: int) -> int:
    """First year of the century coded by a century/sex digit (1900 for 0/1)."""
    return 1900 + 100 * (digit // 2)


def check_cccd_structure(id12: str, sex: str | None = None, dob: str | None = None) -> tuple[str, ...]:
    """Report where a 12-digit CCCD disagrees with its own structure, the sex and the dob.

    Parameters
    ----------
    id12 : str
        Canonical 12 digits (see :func:`parse_id`).
    sex : {"M", "F"} or None
        The person's sex; ``None`` skips the sex part of the check.
    dob : str or None
        ISO date, ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``; ``None`` skips the
        year checks.

    Returns
    -------
    tuple of str
        Sorted disagreements, ``()`` when none:

        * ``not_12_digits`` — not a 12-digit string (nothing else is checked);
        * ``province_unknown`` — digits 1–3 are not a province code of
          Thông tư 07/2016/TT-BCA, Phụ lục (001 … 096);
        * ``century_sex_mismatch`` — digit 4 codes the other sex
          (Thông tư 07/2016/TT-BCA, Điều 7);
        * ``century_mismatch`` — digit 4 codes another century than the
          birth year's (or, without a dob, a century after 2099, in which
          nobody vaccinated in 2021–2022 was born);
        * ``year_mismatch`` — digits 5–6 are not the last two digits of the
          birth year.

        There is no check digit (Nghị định 137/2015/NĐ-CP, Điều 13), so a
        number that passes may still be mistyped.
    """
    if not (isinstance(id12, str) and len(id12) == 12 and id12.isascii() and id12.isdigit()):
        return ("not_12_digits",)
    province, cs, year2, _serial = cccd_parts(id12)
    out = []
    if province not in BY_CCCD:
        out.append("province_unknown")
    if sex in ("M", "F") and (cs % 2 == 1) != (sex == "F"):
        out.append("century_sex_mismatch")
    year = None
    if isinstance(dob, str) and len(dob) >= 4 and dob[:4].isdigit():
        year = int(dob[:4])
    if year is not None:
        if _century_of_digit(cs) != 1900 + 100 * ((year - 1900) // 100):
            out.append("century_mismatch")
        if year2 != f"{year % 100:02d}":
            out.append("year_mismatch")
    elif cs >= 4:
        out.append("century_mismatch")
    return tuple(sorted(out))


_STRUCTURE_CODES = ("century_mismatch", "century_sex_mismatch", "province_unknown", "year_mismatch")
# every combination of the four flags (bit i = code i), codes in sorted order
_STRUCTURE_JOINED = np.array(
    [";".join(c for i, c in enumerate(_STRUCTURE_CODES) if mask >> i & 1) for mask in range(16)], dtype=object
)


def check_cccd_structures(ids: pd.Series, sexes: pd.Series | None = None, dobs: pd.Series | None = None) -> pd.Series:
    """Vectorised :func:`check_cccd_structure` (whole-column string operations).

    ``ids`` should hold canonical digits (``parse_ids(...)["digits"]``);
    values that are not 12 digits give ``"not_12_digits"``.  Returns the
    disagreements joined with ``";"`` (``""`` when none), index of ``ids``.
    """
    n = len(ids)
    idx = ids.index
    id_s = pd.Series(ids.to_numpy(dtype=object), dtype="str")
    ok = id_s.str.fullmatch(r"[0-9]{12}").fillna(False).to_numpy(dtype=bool)
    safe = id_s.where(ok, "000000000000")
    province_bad = ~safe.str.slice(0, 3).isin(list(BY_CCCD)).to_numpy(dtype=bool)
    cs = safe.str.slice(3, 4).astype("int64").to_numpy()
    yy = safe.str.slice(4, 6).astype("int64").to_numpy()
    flags = province_bad.astype(np.int64) << 2
    if sexes is not None:
        sx = pd.Series(sexes.to_numpy(dtype=object), dtype="str").to_numpy(dtype=object)
        is_m, is_f = sx == "M", sx == "F"
        flags |= (((is_m | is_f) & ((cs % 2 == 1) != is_f)).astype(np.int64)) << 1
    if dobs is not None:
        d = pd.Series(dobs.to_numpy(dtype=object), dtype="str").str.slice(0, 4)
        has_year = d.str.fullmatch(r"[0-9]{4}").fillna(False).to_numpy(dtype=bool)
        year = d.where(has_year, "0").astype("int64").to_numpy()
    else:
        has_year = np.zeros(n, dtype=bool)
        year = np.zeros(n, dtype=np.int64)
    century_of_id = 1900 + 100 * (cs // 2)
    century_of_year = 1900 + 100 * np.floor_divide(year - 1900, 100)
    century_bad = np.where(has_year, century_of_id != century_of_year, cs >= 4)
    flags |= century_bad.astype(np.int64)
    flags |= (has_year & (yy != year % 100)).astype(np.int64) << 3
    out = _STRUCTURE_JOINED[flags]
    out[~ok] = "not_12_digits"
    return pd.Series(out, index=idx, dtype=object)
