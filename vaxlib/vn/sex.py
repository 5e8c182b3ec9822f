"""Sex as typed at vaccination facilities.

The platform received ``Nam``/``Nữ`` (any case, with or without diacritics),
``M``/``F``, ``1``/``0`` (1 = Nam, as the data contract states), English
``male``/``female`` and colloquial ``trai``/``gái``.  These spellings are the
same value, not an error.  ``2`` is read as female: Vietnamese statistical
forms code 1 = Nam, 2 = Nữ (e.g. the GSO census questionnaires), and no
convention in use gives 2 to men.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from vaxlib.vn.text import fold_key

__all__ = ["parse_sex", "parse_sexes", "SEX_SPELLINGS", "TYPED_SEX_SPELLINGS"]

#: how facilities' forms write sex, in pairs (male, female): Nam/Nữ, M/F, 1/0 (the synthetic data's spellings)
TYPED_SEX_SPELLINGS: tuple[str, ...] = ("Nam", "Nữ", "M", "F", "1", "0")

#: Folded spellings (see :func:`vaxlib.vn.text.fold_key`) and their value.
SEX_SPELLINGS: dict[str, str] = {
    "nam": "M", "m": "M", "male": "M", "man": "M", "1": "M", "trai": "M", "con trai": "M",
    "nam gioi": "M", "gioi tinh nam": "M", "ong": "M", "boy": "M",
    "nu": "F", "f": "F", "female": "F", "woman": "F", "0": "F", "2": "F", "gai": "F", "con gai": "F",
    "nu gioi": "F", "gioi tinh nu": "F", "ba": "F", "girl": "F", "w": "F",
}

_FLOAT_RE = re.compile(r"^([012])\.0+$")
_TRIM_RE = re.compile(r"^[\s.,;:'\"()\[\]-]+|[\s.,;:'\"()\[\]-]+$")


def parse_sex(s: object) -> str | None:
    """``"M"``, ``"F"`` or ``None`` (empty or unknown) for a typed sex.

    >>> [parse_sex(v) for v in ["Nữ ", "NAM", "nu", "1", "F", None, "?"]]
    ['F', 'M', 'F', 'M', 'F', None, None]
    """
    if s is None or (isinstance(s, float) and s != s):
        return None
    if isinstance(s, bool):
        return None
    if isinstance(s, (int, float, np.integer, np.floating)):
        s = f"{float(s):.1f}"
    text = unicodedata.normalize("NFKC", str(s))
    key = _TRIM_RE.sub("", fold_key(text))
    m = _FLOAT_RE.match(key)
    if m:
        key = m.group(1)
    return SEX_SPELLINGS.get(key)


def parse_sexes(series: pd.Series) -> pd.Series:
    """Vectorised :func:`parse_sex`, once per distinct value; object Series of M/F/None."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    vals = np.array([parse_sex(u) for u in uniques] + [None], dtype=object)
    return pd.Series(vals[np.where(codes < 0, len(vals) - 1, codes)], index=series.index, dtype=object)
