"""Compiled loops (numba) for the comparison kernels numpy can only write with large temporaries.

The dose-history levels and the own-history dose conflict expand every pair into (pair, other
record of the candidate) rows and reduce them again: in numpy that is a dozen gathers over
millions of rows.  One edit / one transposition between two 12-digit IDs compares whole rows
where the loop stops at the third difference.  Measured at 1M (same answers): dose history
3.82 → 1.37 CPU s, one edit 0.98 → 0.47 s (DuckDB and Polars were slower than numpy; see the
session-6 closing note).

The kernels are compiled once and kept in numba's on-disk cache (``cache=True``): beside this
file in ``__pycache__`` when that is writable, else in the user's cache folder
(``~/.cache/numba``, or ``NUMBA_CACHE_DIR`` when set).  Where no folder is writable they are
compiled in memory once per process: the same answers, about a second more.  ``nogil``: the
loops do not hold the GIL, so a thread may run one beside other work.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["history_flags", "group_conflicts", "one_edit_rows", "one_edit_codes", "rank_within"]


def _arg(a, dtype=np.int64) -> np.ndarray:
    """``a`` as a C-ordered, writeable array of ``dtype``: numba compiles (and caches) one version
    per array type, and read-only or strided arrays (pandas' ``to_numpy`` of Arrow data) are
    other types; copying such an array costs milliseconds, compiling a second version a second."""
    return np.require(a, dtype, ["C_CONTIGUOUS", "WRITEABLE"])


def _compiled(fn):
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # no writable cache folder: compile in memory in each process
        return numba.njit(nogil=True)(fn)


@_compiled
def _by_key(keys, n_keys):
    """(start, size, order): positions of ``keys`` grouped by key (counting sort, stable)."""
    size = np.zeros(n_keys, np.int64)
    for k in keys:
        size[k] += 1
    start = np.empty(n_keys, np.int64)
    s = 0
    for k in range(n_keys):
        start[k] = s
        s += size[k]
    fill = start.copy()
    order = np.empty(len(keys), np.int64)
    for j in range(len(keys)):
        order[fill[keys[j]]] = j
        fill[keys[j]] += 1
    return start, size, order


@_compiled
def _history_flags(p_rec, p_reg, a_rec, a_reg, n_reg, phone_code, dose_n, vdate, days, phone, dose):
    start, size, order = _by_key(a_reg, n_reg)
    for k in range(len(p_rec)):
        r = p_rec[k]
        g = p_reg[k]
        if g < 0 or g >= n_reg:
            continue
        ph_seen = False
        ph_same = False
        d_seen = False
        d_clash = False
        for j in range(start[g], start[g] + size[g]):
            a = a_rec[order[j]]
            if a == r:
                continue
            if phone_code[r] >= 0 and phone_code[a] >= 0:
                ph_seen = True
                if phone_code[r] == phone_code[a]:
                    ph_same = True
            if dose_n[r] > 0 and dose_n[a] > 0 and vdate[r] >= 0 and vdate[a] >= 0:
                d_seen = True
                if dose_n[r] == dose_n[a] and abs(vdate[r] - vdate[a]) > days:
                    d_clash = True
        if ph_seen:
            phone[k] = 0 if ph_same else 1
        if d_seen:
            dose[k] = 1 if d_clash else 0


def _dense_keys(a_key: np.ndarray, p_key: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(anchor keys, pair keys, number of keys) with the registry positions renumbered densely
    when they are sparse (a partition's slice of a large register); a pair key no anchor holds
    becomes -1."""
    a_key, p_key = _arg(a_key), _arg(p_key)
    n = int(max(a_key.max(initial=-1), p_key.max(initial=-1))) + 1
    if n <= 4 * (len(a_key) + len(p_key)) + 1024:
        return a_key, p_key, n
    u, a_dense = np.unique(a_key, return_inverse=True)
    at = np.minimum(np.searchsorted(u, p_key), max(len(u) - 1, 0))
    hit = (u[at] == p_key) if len(u) else np.zeros(len(p_key), dtype=bool)
    return a_dense.astype(np.int64), np.where(hit, at, -1), len(u)


def history_flags(p_rec: np.ndarray, p_reg: np.ndarray, a_rec: np.ndarray, a_reg: np.ndarray,
                  phone_code: np.ndarray, dose_n: np.ndarray, vdate: np.ndarray, days: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(phone, dose) level codes (int8, -1 null) of the pairs (``p_rec``, ``p_reg``) from the
    candidate's other anchored records (``a_rec`` anchored to ``a_reg``).

    phone: 0 when one of them shares the record's phone code, 1 when some pair of codes was
    comparable (both ``>= 0``) and none agreed.  dose: 1 when one holds the same dose number
    more than ``days`` apart, 0 when some (dose number > 0, day >= 0) pair was comparable.
    Registry positions are non-negative integers; per-record arrays are indexed by record position.
    """
    n = len(p_rec)
    phone = np.full(n, -1, np.int8)
    dose = np.full(n, -1, np.int8)
    if n == 0 or len(a_rec) == 0:
        return phone, dose
    a_key, p_key, n_reg = _dense_keys(a_reg, p_reg)
    _history_flags(_arg(p_rec), p_key, _arg(a_rec), a_key, n_reg,
                   _arg(phone_code), _arg(dose_n), _arg(vdate),
                   int(days), phone, dose)
    return phone, dose


@_compiled
def _group_conflicts(members, lo, cnt, p_reg, a_rec, a_reg, n_reg, dose_n, vdate, days, out):
    start, size, order = _by_key(a_reg, n_reg)
    # each record's anchor (the smallest registry key when several), -1 none
    anchored_to = np.full(len(dose_n), -1, np.int64)
    for j in range(len(a_rec)):
        r = a_rec[j]
        if anchored_to[r] < 0 or a_reg[j] < anchored_to[r]:
            anchored_to[r] = a_reg[j]
    for k in range(len(lo)):
        g = p_reg[k]
        if g < 0:  # nobody is anchored to the candidate: no conflict
            continue
        own = False
        for m in range(lo[k], lo[k] + cnt[k]):
            if anchored_to[members[m]] == g:
                own = True
                break
        if own:
            continue
        clash = False
        for m in range(lo[k], lo[k] + cnt[k]):
            mem = members[m]
            if dose_n[mem] <= 0 or vdate[mem] < 0:
                continue
            for j in range(start[g], start[g] + size[g]):
                a = a_rec[order[j]]
                if a != mem and dose_n[a] == dose_n[mem] and vdate[a] >= 0 and abs(vdate[mem] - vdate[a]) > days:
                    clash = True
                    break
            if clash:
                break
        out[k] = clash


def group_conflicts(members: np.ndarray, lo: np.ndarray, cnt: np.ndarray, p_reg: np.ndarray, a_rec: np.ndarray,
                    a_reg: np.ndarray, dose_n: np.ndarray, vdate: np.ndarray, days: int) -> np.ndarray:
    """Per pair k: a member ``members[lo[k]:lo[k]+cnt[k]]`` of the record's own-history group holds
    the dose number of another record anchored (``a_rec`` to ``a_reg``) to the candidate
    ``p_reg[k]``, more than ``days`` apart, and no member is anchored to that candidate (a record
    anchored to several registry persons counts for the smallest position only).  Per-record
    arrays (``dose_n``, ``vdate``) are indexed by record position, as ``members`` and ``a_rec``."""
    out = np.zeros(len(lo), dtype=bool)
    if len(lo) == 0 or len(a_rec) == 0:
        return out
    a_key, p_key, n_reg = _dense_keys(a_reg, p_reg)  # renumbering keeps the order: "smallest" holds
    _group_conflicts(_arg(members), _arg(lo), _arg(cnt),
                     p_key, _arg(a_rec), a_key, n_reg, _arg(dose_n),
                     _arg(vdate), int(days), out)
    return out


@_compiled
def _one_edit_codes(M, lens, ca, cb, sub, trans):
    w = M.shape[1]
    for k in range(len(ca)):
        a = ca[k]
        b = cb[k]
        if lens[a] != lens[b] or lens[a] == 0:
            continue
        c = 0
        f = -1
        for j in range(w):
            if M[a, j] != M[b, j]:
                c += 1
                if f < 0:
                    f = j
                if c > 2:
                    break
        if c == 1:
            sub[k] = True
        elif c == 2 and f + 1 < w and M[a, f + 1] != M[b, f + 1] and M[a, f] == M[b, f + 1] and M[a, f + 1] == M[b, f]:
            trans[k] = True


def one_edit_codes(M: np.ndarray, lens: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one substitution, one adjacent transposition) between the rows ``M[ca[k]]`` and ``M[cb[k]]``
    of one code-point matrix (e.g. of distinct values: no matrix of rows per pair is gathered), rows
    of equal non-zero length only (``lens``)."""
    sub = np.zeros(len(ca), dtype=bool)
    trans = np.zeros(len(ca), dtype=bool)
    if len(ca):
        _one_edit_codes(_arg(M, np.uint32), _arg(lens), _arg(ca), _arg(cb), sub, trans)
    return sub, trans


def one_edit_rows(A: np.ndarray, la: np.ndarray, B: np.ndarray, lb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one substitution, one adjacent transposition) between the rows of two code-point
    matrices of equal width, rows of equal non-zero length only (``la``, ``lb``): row ``k`` of
    ``A`` against row ``k`` of ``B``, as :func:`one_edit_codes` of the two stacked."""
    n = len(A)
    ks = np.arange(n, dtype=np.int64)
    return one_edit_codes(np.vstack([A, B]), np.concatenate([la, lb]), ks, ks + n)


@_compiled
def _rank_within(rec, weight, n_rec, order, rank):
    start, size, by_rec = _by_key(rec, n_rec)
    for g in range(n_rec):
        lo = start[g]
        for j in range(lo, lo + size[g]):
            # insertion into the record's sorted run: weight descending, NaN last, ties keep pair order
            p = by_rec[j]
            w = weight[p]
            k = j
            while k > lo:
                q = order[k - 1]
                v = weight[q]
                if np.isnan(w) or not (np.isnan(v) or w > v):
                    break
                order[k] = q
                k -= 1
            order[k] = p
        for j in range(lo, lo + size[g]):
            rank[j] = j - lo + 1


def rank_within(rec: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, rank): pair positions sorted by record (non-negative positions) then weight
    descending (NaN last; ties keep pair order), and each sorted pair's rank (1 = best) within
    its record: ``np.lexsort((-weight, rec))`` in one pass (records hold few pairs each)."""
    n = len(rec)
    order = np.empty(n, np.int64)
    rank = np.empty(n, np.int64)
    if n:
        rec = _arg(rec)
        _rank_within(rec, _arg(weight, np.float64), int(rec.max()) + 1, order, rank)
    return order, rank
