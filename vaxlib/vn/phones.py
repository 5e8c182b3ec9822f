"""Vietnamese telephone numbers as typed.

Canonical forms returned by :func:`normalise_phone`:

* mobile: 10 digits ``0xxxxxxxxx`` with a mobile network code (03x, 05x, 07x,
  08x, 09x);
* landline: 11 digits ``02xxxxxxxxx`` (area codes 02xx since the 2017
  switch-over of Quyết định 2036/QĐ-BTTTT, 21/11/2016).

Between 15/09/2018 and 30/06/2019 every 11-digit mobile number (``01xx`` +
7 digits) became a 10-digit one: the 4-digit network code was replaced and the
last 7 digits kept (Bộ Thông tin và Truyền thông, plan announced 29/05/2018;
operators' published tables, e.g. MobiFone "Kế hoạch triển khai chuyển đổi
thuê bao"): see :data:`OLD_MOBILE_PREFIXES`.  Numbers typed in the old form
are converted.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

__all__ = ["normalise_phone", "normalise_phones", "normalise_phone_values", "OLD_MOBILE_PREFIXES", "is_mobile", "is_landline"]

#: 11-digit network code (4 digits) -> 10-digit code (3 digits), 2018 conversion.
OLD_MOBILE_PREFIXES: dict[str, str] = {
    # MobiFone
    "0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
    # VinaPhone
    "0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
    # Viettel
    "0162": "032", "0163": "033", "0164": "034", "0165": "035", "0166": "036",
    "0167": "037", "0168": "038", "0169": "039",
    # Vietnamobile
    "0186": "056", "0188": "058",
    # Gmobile
    "0199": "059",
}

_MOBILE_RE = re.compile(r"^0(?:3[2-9]|5[2-9]|7[06-9]|8[1-9]|9\d)\d{7}$", re.ASCII)
_LANDLINE_RE = re.compile(r"^02\d{9}$", re.ASCII)
_SEPARATORS_RE = re.compile(r"[\s.\-()/_'\"‘’“”]+")
_SCI_RE = re.compile(r"^\d(?:[.,]\d+)?e\+?\d{1,2}$", re.IGNORECASE | re.ASCII)


def is_mobile(canonical: str) -> bool:
    """Whether a 10-digit string has a Vietnamese mobile network code."""
    return bool(_MOBILE_RE.match(canonical))


def is_landline(canonical: str) -> bool:
    """Whether an 11-digit string is a Vietnamese landline (02xx area codes)."""
    return bool(_LANDLINE_RE.match(canonical))


def _canonical(d: str) -> str | None:
    if d.startswith("0084"):
        d = "0" + d[4:]
    elif d.startswith("84") and len(d) in (11, 12):
        d = "0" + d[2:]
    if not d.startswith("0") and len(d) in (9, 10):
        d = "0" + d  # a spreadsheet dropped the leading zero
    if len(d) == 11 and d[:4] in OLD_MOBILE_PREFIXES:
        d = OLD_MOBILE_PREFIXES[d[:4]] + d[4:]
    if _MOBILE_RE.match(d) or _LANDLINE_RE.match(d):
        return d
    return None


def normalise_phone(s: object) -> str | None:
    """The canonical number, or ``None`` when ``s`` is not a plausible VN number.

    Handles ``+84``/``84``/``0084`` prefixes, spaces, dots, dashes and
    brackets, a leading zero lost in a spreadsheet, Excel floats
    (``912345678.0``) and scientific notation that kept every digit, and the
    2018 conversion of 11-digit mobile numbers (``0162 345 6789`` ->
    ``0323456789``).

    >>> normalise_phone("+84 912 345 678")
    '0912345678'
    >>> normalise_phone("01689876543")
    '0389876543'
    """
    if s is None or (isinstance(s, float) and s != s) or isinstance(s, bool):
        return None
    if isinstance(s, (int, np.integer)):
        s = str(int(s))
    elif isinstance(s, (float, np.floating)):
        s = repr(float(s))
    text = unicodedata.normalize("NFKC", str(s)).strip()
    if not text:
        return None
    compact = text.replace(" ", "").lstrip("'")
    if _SCI_RE.match(compact):
        try:
            value = Decimal(compact.replace(",", "."))
        except InvalidOperation:
            return None
        if value != value.to_integral_value():
            return None
        compact = str(int(value))
        mantissa = re.split(r"[eE]", text.replace(",", "."))[0].replace(".", "").strip()
        if len(mantissa) < 9:  # Excel kept too few significant digits
            return None
    elif re.match(r"^[0-9]+\.0+$", compact):
        compact = compact.split(".")[0]
    plus = compact.startswith("+")
    digits = _SEPARATORS_RE.sub("", compact.lstrip("+"))
    if not digits.isdigit() or not digits.isascii():
        return None
    if plus and not digits.startswith("84"):
        return None  # a foreign number
    return _canonical(digits)


# Already canonical 10-digit mobiles (most of a real column); everything else
# goes through normalise_phone once per distinct value.
_CANONICAL_MOBILE = r"0(?:3[2-9]|5[25689]|7[06-9]|8[1-9]|9[0-46-9])[0-9]{7}"


def normalise_phones(series: pd.Series) -> pd.Series:
    """Vectorised :func:`normalise_phone`, once per distinct value; object Series."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    vals = np.append(normalise_phone_values(np.asarray(uniques, dtype=object)), None)
    return pd.Series(vals[np.where(codes < 0, len(vals) - 1, codes)], index=series.index, dtype=object)


def normalise_phone_values(values: np.ndarray) -> np.ndarray:
    """:func:`normalise_phone` of every entry of an object array (no de-duplication: give distinct
    values).  Canonical mobiles, most of a real column, are recognised in C and kept as they are."""
    from vaxlib.vn.text import fullmatch_flags

    values = np.asarray(values, dtype=object)
    clean = fullmatch_flags(values, _CANONICAL_MOBILE)
    out = np.empty(len(values), dtype=object)
    out[clean] = values[clean]
    out[~clean] = [normalise_phone(u) for u in values[~clean]]
    return out
