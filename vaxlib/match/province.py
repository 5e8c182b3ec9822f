"""Province of residence: the record's against the register's (issue 16 item 6).

People are vaccinated mostly where they live, and the dose record says where:
its typed province of residence, and the province of the facility.  The
register knows the province of residence.  A namesake outside the register
lives anywhere, so agreement is evidence of identity and disagreement against
it; both weights come from the data (``m`` by EM on pairs anchored by the ID,
``u`` on random pairs), so migrants vaccinated far from home count as often as
they occur.  Above all this separates a record typed without an ID from a
registry person of the same name and date of birth in another province, whom
name and date alone cannot tell apart.

Levels: ``same`` (the typed province of residence is the register's),
``facility`` (it is not, or was not typed, but the facility is in the
register's province), ``different``; null when the register has no province
or the record has neither.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from vaxlib.match.levels import Comparison, ComparisonLevel, PairFrame

__all__ = ["PROVINCE", "province_codes"]


def province_codes(values) -> np.ndarray:
    """GSO codes as typed, made comparable: trimmed, a lone digit zero-padded (``7`` -> ``07``);
    anything else that is not two digits becomes "" (unknown)."""
    s = pd.Series(values, dtype=object).fillna("").astype(str).str.strip()
    s = s.where(~s.str.fullmatch(r"\d"), "0" + s)
    return s.where(s.str.fullmatch(r"\d\d"), "").to_numpy(dtype=object)


def _codes(p: PairFrame, side: str, col: str) -> np.ndarray:
    """A side's province column as the number of its GSO code (int16; -1 where
    :func:`province_codes` gives "", and everywhere when the frame has no such column)."""
    def make():
        frame = p.frames[side]
        if col not in frame.columns:
            return np.full(len(frame), -1, dtype=np.int16)
        # a few dozen distinct values: cleaned once each
        codes, uniques = pd.factorize(frame[col].to_numpy(dtype=object), use_na_sentinel=False)
        gso = province_codes(np.asarray(uniques, dtype=object))
        number = np.array([int(c) if c else -1 for c in gso], dtype=np.int16)
        return number[codes] if len(codes) else np.zeros(0, dtype=np.int16)
    return p.frame_memo((side, col, "province"), make)


def _null(p: PairFrame) -> np.ndarray:
    reg = _codes(p, "reg", "province_code")[p.g]
    res = _codes(p, "rec", "province_code")[p.r]
    fac = _codes(p, "rec", "facility_province")[p.r]
    return (reg < 0) | ((res < 0) & (fac < 0))


def _same(p: PairFrame, i: np.ndarray) -> np.ndarray:
    return _codes(p, "rec", "province_code")[p.r[i]] == _codes(p, "reg", "province_code")[p.g[i]]


def _facility(p: PairFrame, i: np.ndarray) -> np.ndarray:
    return _codes(p, "rec", "facility_province")[p.r[i]] == _codes(p, "reg", "province_code")[p.g[i]]


PROVINCE = Comparison("province", "Tỉnh cư trú", "Province of residence", null=_null, levels=(
    ComparisonLevel("same", "cùng tỉnh cư trú", "same province of residence", _same),
    ComparisonLevel("facility", "tiêm tại tỉnh cư trú", "vaccinated in the province of residence", _facility),
    ComparisonLevel("different", "khác tỉnh", "another province"),
))
