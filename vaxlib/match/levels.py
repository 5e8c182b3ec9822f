"""Comparison levels as objects, in the manner of Splink's ``ComparisonLevel``.

A :class:`ComparisonLevel` holds, in one place, everything the matcher, the
model, the charts and the error taxonomy need to know about one level: its
code name, its vectorised condition (a *kernel*), its label in Vietnamese and
English, and the error codes of the contract's taxonomy that a link at this
level can carry.  A :class:`Comparison` is a field's ordered list of levels;
a pair takes the first level whose condition holds (the cascade), and level
``-1`` ("null") means the comparison is impossible.

Kernels are plain functions ``kernel(pairs: PairFrame, i: ndarray) -> bool
ndarray`` over the pair positions ``i`` that no earlier level took, so each
condition runs only where it can still decide something.  A :class:`PairFrame`
is a function of one batch of pairs and its two frames only (no global
state), so a batch can be compared in any process.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["ComparisonLevel", "Comparison", "PairFrame", "FrameCache", "Kernel", "equal", "cascade"]


class _Lazy:
    """A column gathered for pairs on demand: ``lazy[i]`` is ``values[idx[i]]``."""

    __slots__ = ("values", "idx")

    def __init__(self, values: np.ndarray, idx: np.ndarray):
        self.values, self.idx = values, idx

    def __getitem__(self, i):
        return self.values[self.idx[i]]

    def __len__(self) -> int:
        return len(self.idx)


class FrameCache:
    """What is derived from a (records, registry) pair of frames alone, shared by every batch of
    pairs compared between them (the stage-1 pairs, the stage-2 pairs and the u sample of one run).

    It holds the frames it belongs to: a :class:`PairFrame` of other frames does not use it.  The
    frames must not change while it is in use.
    """

    def __init__(self, rec: pd.DataFrame, reg: pd.DataFrame):
        self.rec, self.reg = rec, reg
        self.values: dict = {}

    def fits(self, rec: pd.DataFrame, reg: pd.DataFrame) -> bool:
        return self.rec is rec and self.reg is reg


class PairFrame:
    """One batch of candidate pairs: ``rec``/``reg`` frames and the pairs' positions in them.

    Columns are read once per frame and gathered for the pairs on demand;
    derived arrays (``memo``) are computed once per batch, those of the
    frames alone (``frame_memo``) once per :class:`FrameCache` (once per batch
    without one).  Text columns of a :data:`~vaxlib.match.codes.DOMAINS`
    domain are also read as integer codes shared by the two sides (the
    frames' ``_c_`` columns when both carry them, else coded here), and what
    is derived from a value is computed once per distinct value
    (:meth:`per_value`).
    """

    def __init__(self, rec: pd.DataFrame, reg: pd.DataFrame, r: np.ndarray, g: np.ndarray,
                 cache: FrameCache | None = None):
        self.frames = {"rec": rec, "reg": reg}
        self.idx = {"rec": r, "reg": g}
        self.r, self.g = r, g
        self._cache: dict = {}
        self._frame_cache: dict = cache.values if cache is not None and cache.fits(rec, reg) else self._cache

    def __len__(self) -> int:
        return len(self.r)

    def memo(self, key, make: Callable[[], object]):
        """``make()`` computed once per batch under ``key``."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def frame_memo(self, key, make: Callable[[], object]):
        """``make()`` of the frames alone (no pair positions), computed once per :class:`FrameCache`."""
        if key not in self._frame_cache:
            self._frame_cache[key] = make()
        return self._frame_cache[key]

    def full(self, side: str, name: str) -> np.ndarray:
        """A whole column of one side as an object array."""
        return self.frame_memo((side, name), lambda: self.frames[side][name].to_numpy(dtype=object))

    def col(self, side: str, name: str) -> _Lazy:
        """A column of one side, gathered for the pairs on demand."""
        return _Lazy(self.full(side, name), self.idx[side])

    def values(self, side: str, name: str) -> _Lazy:
        """A (numeric) column of one side, gathered for the pairs on demand (``values(...)[i]``)."""
        return _Lazy(self.frame_memo((side, name, "numpy"), lambda: self.frames[side][name].to_numpy()),
                     self.idx[side])

    # ------------------------------------------------------------------ integer codes
    def _domain(self, domain: str) -> dict:
        """Codes of every column of ``domain`` in both frames, keyed by (side, column)."""
        from vaxlib.match.codes import DOMAINS, PREFIX, domain_codes

        def make():
            rec, reg = self.frames["rec"], self.frames["reg"]
            cols = [(side, c) for side, f, names in (("rec", rec, DOMAINS[domain][0]), ("reg", reg, DOMAINS[domain][1]))
                    for c in names if c in f.columns]
            if all(PREFIX + c in self.frames[side].columns for side, c in cols):
                return {(side, c): self.frames[side][PREFIX + c].to_numpy() for side, c in cols}
            return domain_codes(rec, reg, domain)
        return self.frame_memo(("domain", domain), make)

    def code(self, side: str, name: str) -> np.ndarray:
        """Integer codes (int32) of a whole column, shared with the other side's columns of its domain."""
        from vaxlib.match.codes import domain_of

        return self._domain(domain_of(side, name))[(side, name)]

    def dictionary(self, domain: str) -> np.ndarray:
        """The value (str) of every code of ``domain``."""
        from vaxlib.match.codes import dictionary

        return self.frame_memo(("dict", domain), lambda: dictionary(
            [(codes, self.full(side, c)) for (side, c), codes in self._domain(domain).items()]))

    def per_value(self, domain: str, what: str, make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``make(values)`` over the distinct values of ``domain`` (index = code), once per batch."""
        return self.frame_memo(("per_value", domain, what), lambda: make(self.dictionary(domain)))

    def pair_codes(self, side: str, name: str, i: np.ndarray) -> np.ndarray:
        """Codes of a column gathered for the pairs ``i``."""
        return self.code(side, name)[self.idx[side][i]]

    def empty(self, side: str, name: str) -> np.ndarray:
        """Per pair: the side's value is the empty string."""
        from vaxlib.match.codes import domain_of

        dom = domain_of(side, name)
        if dom is None:
            return self.frame_memo((side, name, "empty"), lambda: self.full(side, name) == "")[self.idx[side]]
        blank = self.per_value(dom, "empty", lambda v: v == "")
        return self.frame_memo((side, name, "empty"), lambda: blank[self.code(side, name)])[self.idx[side]]

    def lengths(self, side: str, name: str) -> np.ndarray:
        """Per value of a whole column: its length (int32)."""
        from vaxlib.match.codes import domain_of

        dom = domain_of(side, name)
        if dom is not None:
            per = self.per_value(dom, "len", lambda v: np.fromiter(map(len, v), np.int32, count=len(v)))
            return self.frame_memo((side, name, "len"), lambda: per[self.code(side, name)])

        def make():
            v = self.full(side, name)
            return np.fromiter(map(len, v), np.int32, count=len(v))
        return self.frame_memo((side, name, "len"), make)

    def chars(self, side: str, name: str, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(code-point matrix, lengths) of a whole column; values longer than ``width`` become ""."""
        return self.frame_memo((side, name, "U", width), lambda: _char_matrix(_fit_width(self.full(side, name), width), width))

    def one_edit(self, domain: str, ca: np.ndarray, cb: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Per pair k: (one substitution, one adjacent transposition) between the values of codes
        ``ca[k]`` and ``cb[k]`` of ``domain`` (values longer than ``width`` take neither): each distinct
        value's characters read once, the pairs compared by code (no per-pair character rows)."""
        from vaxlib.match.kernels import one_edit_codes

        n = len(ca)
        codes, uniq = pd.factorize(np.concatenate([np.asarray(ca, dtype=np.int64), np.asarray(cb, dtype=np.int64)]))
        M, lens = _char_matrix(_fit_width(self.dictionary(domain)[uniq], width), width)
        return one_edit_codes(M, lens, codes[:n], codes[n:])


def _char_matrix(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(n × width uint32 code points, lengths) of short strings, zero-padded."""
    arr = np.asarray(values, dtype=f"U{width}")
    return arr.view(np.uint32).reshape(len(arr), width), np.strings.str_len(arr)


def _fit_width(values: np.ndarray, width: int) -> np.ndarray:
    """Object strings longer than ``width`` replaced by "" (they can take no one-edit level)."""
    n = len(values)
    ok = np.fromiter(map(len, values), np.int64, count=n) <= width
    return np.where(ok, values, "")


#: a level's condition over the pair positions ``i`` still open
Kernel = Callable[[PairFrame, np.ndarray], np.ndarray]


def equal(rec_col: str, reg_col: str) -> Kernel:
    """Kernel: the record's ``rec_col`` equals the registry's ``reg_col`` (the same integer code when
    both belong to one :data:`~vaxlib.match.codes.DOMAINS` domain)."""
    from vaxlib.match.codes import domain_of

    coded = domain_of("rec", rec_col) is not None and domain_of("rec", rec_col) == domain_of("reg", reg_col)

    def kernel(p: PairFrame, i: np.ndarray) -> np.ndarray:
        if coded:
            return p.pair_codes("rec", rec_col, i) == p.pair_codes("reg", reg_col, i)
        return p.col("rec", rec_col)[i] == p.col("reg", reg_col)[i]  # columns of no code domain: as text
    kernel.__name__ = f"equal_{rec_col}_{reg_col}"
    return kernel


@dataclass(frozen=True)
class ComparisonLevel:
    """One level of a field's comparison.

    Attributes
    ----------
    name : str
        Code name (stored in ``candidates.parquet`` and ``model.json``).
    vi, en : str
        The level in words, for charts and review screens.
    condition : Kernel or None
        Vectorised condition; ``None`` for the last ("else") level and for
        levels decided outside the cascade (the dose-history fields).
    codes : tuple of str
        Error codes of the taxonomy a link at this level can carry.
    """

    name: str
    vi: str
    en: str
    condition: Kernel | None = None
    codes: tuple[str, ...] = ()

    def label(self, lang: str = "vi") -> str:
        return self.en if lang == "en" else self.vi


def cascade(null: np.ndarray, conds: list[Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
    """First level whose condition holds; each condition is evaluated only on the
    pairs no earlier level took (``cond(idx) -> bool array`` over pair positions).
    Pairs taken by none get ``len(conds)`` (the else level); null pairs get -1."""
    out = np.full(len(null), len(conds), dtype=np.int8)
    remaining = np.flatnonzero(~null)
    for code, cond in enumerate(conds):
        if len(remaining) == 0:
            break
        hit = np.asarray(cond(remaining), dtype=bool)
        out[remaining[hit]] = code
        remaining = remaining[~hit]
    out[null] = -1
    return out


@dataclass(frozen=True)
class Comparison:
    """A field's ordered comparison levels (the first that holds wins).

    ``null`` says per pair that the comparison is impossible; it is ``None``
    for fields whose levels come from elsewhere (the dose-history fields,
    from the candidate's other settled records).
    """

    field: str
    vi: str
    en: str
    levels: tuple[ComparisonLevel, ...]
    null: Callable[[PairFrame], np.ndarray] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lvl.name for lvl in self.levels)

    def code(self, name: str) -> int:
        """Level code (index) of the level called ``name``."""
        return self.names.index(name)

    def level(self, code: int) -> ComparisonLevel | None:
        """The level of a code (``None`` for -1, the null level)."""
        return None if code < 0 else self.levels[code]

    def evaluate(self, p: PairFrame) -> np.ndarray:
        """Level code (int8) of every pair of ``p``."""
        if self.null is None:
            raise ValueError(f"{self.field}: levels are not decided pair by pair")
        conds = [lvl.condition for lvl in self.levels[:-1]]
        return cascade(self.null(p), [lambda i, c=c: c(p, i) for c in conds])
