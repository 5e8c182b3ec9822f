"""The compiled kernels (vaxlib.match.kernels) against plain per-pair definitions."""
from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.match import kernels
from vaxlib.match.compare import DOSE_CONFLICT_DAYS, _one_edit_matrix, group_dose_conflict, history_levels
from vaxlib.match.levels import _char_matrix

DAYS = DOSE_CONFLICT_DAYS


# ------------------------------------------------------------------ dose history (phone, dose levels)
def _history_reference(phone, dn, vd, p_rec, p_reg, a_rec, a_reg):
    """Per pair: the candidate's other anchored records, one at a time."""
    out_phone, out_dose = [], []
    for r, g in zip(p_rec, p_reg):
        others = [a for a, ga in zip(a_rec, a_reg) if ga == g and a != r]
        ph = [phone[r] == phone[a] for a in others if phone[r] != "" and phone[a] != ""]
        ds = [dn[r] == dn[a] and abs(int(vd[r]) - int(vd[a])) > DAYS
              for a in others if dn[r] > 0 and dn[a] > 0 and vd[r] >= 0 and vd[a] >= 0]
        out_phone.append(-1 if not ph else (0 if any(ph) else 1))
        out_dose.append(-1 if not ds else (1 if any(ds) else 0))
    return np.array(out_phone, dtype=np.int8), np.array(out_dose, dtype=np.int8)


@st.composite
def _history_case(draw):
    n_rec = draw(st.integers(1, 12))
    n_reg = draw(st.integers(1, 6))
    phone = draw(st.lists(st.sampled_from(["", "0901", "0902", "0903"]), min_size=n_rec, max_size=n_rec))
    dn = draw(st.lists(st.integers(0, 3), min_size=n_rec, max_size=n_rec))
    vd = draw(st.lists(st.sampled_from([-1, 0, 5, 14, 15, 30, 400]), min_size=n_rec, max_size=n_rec))
    pairs = draw(st.lists(st.tuples(st.integers(0, n_rec - 1), st.integers(0, n_reg - 1)), max_size=25))
    anchors = draw(st.lists(st.tuples(st.integers(0, n_rec - 1), st.integers(0, n_reg - 1)), max_size=15))
    return phone, dn, vd, pairs, anchors


@settings(max_examples=300, deadline=None)
@given(_history_case(), st.sampled_from([0, 10**9]))
def test_history_levels_equal_the_per_pair_definition(case, reg_offset):
    phone, dn, vd, pairs, anchors = case
    rec = pd.DataFrame({"phone_n": pd.Series(phone, dtype=object), "dose_n": np.array(dn, dtype=np.int16),
                        "vdate": np.array(vd, dtype=np.int32)})
    p = pd.DataFrame(pairs or np.zeros((0, 2), int), columns=["rec", "reg"], dtype=np.int64)
    a = pd.DataFrame(anchors or np.zeros((0, 2), int), columns=["rec", "reg"], dtype=np.int64)
    want = _history_reference(phone, dn, vd, p["rec"], p["reg"], a["rec"], a["reg"])
    got = history_levels(rec, p, a)
    assert (got["phone"].to_numpy() == want[0]).all() and (got["dose"].to_numpy() == want[1]).all()
    # registry positions far apart (a partition of a large register): the renumbered path
    codes = pd.factorize(pd.Series(phone, dtype=object))[0]
    codes = np.where(np.array(phone, dtype=object) == "", -1, codes)
    got = kernels.history_flags(p["rec"].to_numpy(), p["reg"].to_numpy() * 7 + reg_offset, a["rec"].to_numpy(),
                                a["reg"].to_numpy() * 7 + reg_offset, codes, np.array(dn), np.array(vd), DAYS)
    assert (got[0] == want[0]).all() and (got[1] == want[1]).all()


def test_history_levels_examples():
    # records 1 and 2 are anchored to registry person 0; record 0 is a candidate of person 0
    rec = pd.DataFrame({"phone_n": pd.Series(["0901", "0901", "0902"], dtype=object),
                        "dose_n": np.array([1, 2, 1], dtype=np.int16), "vdate": np.array([0, 40, 15], dtype=np.int32)})
    anchors = pd.DataFrame({"rec": [1, 2], "reg": [0, 0]})
    pairs = pd.DataFrame({"rec": [0, 1, 2, 0], "reg": [0, 0, 0, 1]})
    got = history_levels(rec, pairs, anchors)
    # pair 0: record 1 shares the phone; record 2 holds dose 1 15 days later (> 14): conflict
    # pair 1: its other anchor (record 2) has another phone; doses differ: compatible
    # pair 2: the other phone again; dose 2 vs dose 1: compatible; pair 3: nobody anchored: null
    assert got["phone"].tolist() == [0, 1, 1, -1]
    assert got["dose"].tolist() == [1, 0, 0, -1]


# ------------------------------------------------------------------ own-history group conflict
def _group_reference(group, dn, vd, p_rec, p_reg, a_rec, a_reg):
    anchored_to = {}
    for r, g in sorted(zip(a_rec, a_reg), key=lambda t: t[1]):
        anchored_to.setdefault(r, g)
    out = []
    for r, g in zip(p_rec, p_reg):
        members = [m for m in range(len(group)) if group[m] == group[r]]
        if any(anchored_to.get(m) == g for m in members):
            out.append(False)
            continue
        anchored = [a for a, ga in zip(a_rec, a_reg) if ga == g]
        out.append(any(m != a and dn[m] > 0 and dn[m] == dn[a] and vd[m] >= 0 and vd[a] >= 0
                       and abs(int(vd[m]) - int(vd[a])) > DAYS for m in members for a in anchored))
    return np.array(out, dtype=bool)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(["dense", "hashed"]))
def test_group_dose_conflict_equals_the_per_pair_definition(data, labels):
    n_rec = data.draw(st.integers(1, 12))
    group = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n_rec, max_size=n_rec)), dtype=np.int64)
    if labels == "hashed":  # the dask engine's labels: 64-bit hashes with the top bit set
        group = (group.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1 << 63)
    dn = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n_rec, max_size=n_rec)), dtype=np.int16)
    vd = np.array(data.draw(st.lists(st.sampled_from([-1, 0, 14, 15, 29, 300]), min_size=n_rec, max_size=n_rec)),
                  dtype=np.int32)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n_rec - 1), st.integers(0, 5)), max_size=20))
    anchors = data.draw(st.lists(st.tuples(st.integers(0, n_rec - 1), st.integers(0, 5)), max_size=15))
    p_rec = np.array([r for r, _ in pairs], dtype=np.int64)
    p_reg = np.array([g for _, g in pairs], dtype=np.int64) * 1000
    a_rec = np.array([r for r, _ in anchors], dtype=np.int64)
    a_reg = np.array([g for _, g in anchors], dtype=np.int64) * 1000
    want = _group_reference(group, dn, vd, p_rec, p_reg, a_rec, a_reg)
    got = group_dose_conflict(group, dn, vd, p_rec, p_reg, a_rec, a_reg)
    assert (got == want).all()


def test_group_dose_conflict_examples():
    # records 0 and 1: one person's own history (group 7); record 2 anchored to registry person 5
    group = np.array([7, 7, 9, 7])
    dn, vd = np.array([3, 1, 1, 2]), np.array([100, 0, 60, 50])
    # record 0 (dose 3) fits person 5 alone, but its group's dose 1 (day 0) clashes with person 5's (day 60)
    assert group_dose_conflict(group, dn, vd, np.array([0]), np.array([5]), np.array([2]), np.array([5]))[0]
    # the group is person 5's own history once one of its members (record 3) is anchored to it
    assert not group_dose_conflict(group, dn, vd, np.array([0]), np.array([5]), np.array([2, 3]),
                                   np.array([5, 5]))[0]
    # a record anchored to two persons counts for the smaller only
    assert not group_dose_conflict(group, dn, vd, np.array([0]), np.array([5]), np.array([2, 3, 3]),
                                   np.array([5, 5, 8]))[0]
    assert group_dose_conflict(group, dn, vd, np.array([0]), np.array([5]), np.array([2, 3, 3]),
                               np.array([5, 5, 4]))[0]


# ------------------------------------------------------------------ one edit / transposition
def _edit_reference(a: str, b: str) -> tuple[bool, bool]:
    if len(a) != len(b) or not a:
        return False, False
    diff = [k for k in range(len(a)) if a[k] != b[k]]
    sub = len(diff) == 1
    trans = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    return sub, trans


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text("0123456789", max_size=12), st.text("0123456789", max_size=12)), max_size=30),
       st.data())
def test_one_edit_equals_the_string_definition(pairs, data):
    # derive near misses from the first string so that edits and swaps are common
    rows = []
    for a, b in pairs:
        kind = data.draw(st.sampled_from(["free", "sub", "swap", "same"]))
        if kind == "sub" and a:
            k = data.draw(st.integers(0, len(a) - 1))
            b = a[:k] + data.draw(st.sampled_from("0123456789")) + a[k + 1:]
        elif kind == "swap" and len(a) >= 2:
            k = data.draw(st.integers(0, len(a) - 2))
            b = a[:k] + a[k + 1] + a[k] + a[k + 2:]
        elif kind == "same":
            b = a
        rows.append((a, b))
    A, la = _char_matrix(np.array([a for a, _ in rows], dtype=object), 12)
    B, lb = _char_matrix(np.array([b for _, b in rows], dtype=object), 12)
    sub, trans = _one_edit_matrix(A, la, B, lb, 12)
    want = [_edit_reference(a, b) for a, b in rows]
    assert sub.tolist() == [w[0] for w in want]
    assert trans.tolist() == [w[1] for w in want]


# ------------------------------------------------------------------ no writable cache folder
def test_kernels_compile_in_memory_without_a_cache_folder(monkeypatch):
    import numba

    real = numba.njit

    def no_cache_folder(*args, **kw):
        if kw.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kw)

    monkeypatch.setattr(numba, "njit", no_cache_folder)
    try:
        fresh = importlib.reload(kernels)
        sub, trans = fresh.one_edit_rows(np.array([[1, 2, 3]], np.uint32), np.array([3]),
                                         np.array([[1, 3, 2]], np.uint32), np.array([3]))
        assert not sub[0] and trans[0]
        assert type(fresh._one_edit_codes._cache).__name__ == "NullCache"
    finally:
        monkeypatch.undo()
        importlib.reload(kernels)


# ------------------------------------------------------------------ rank within each record
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from([-2.5, -0.0, 0.0, 1.0, 1.5, 7.25, float("nan"),
                                                                float("inf"), float("-inf")])), max_size=40))
def test_rank_within_equals_lexsort(pairs):
    rec = np.array([r for r, _ in pairs], dtype=np.int64)
    weight = np.array([w for _, w in pairs], dtype=np.float64)
    order, rank = kernels.rank_within(rec, weight)
    want = np.lexsort((-weight, rec))
    assert order.tolist() == want.tolist()
    r = rec[want]
    want_rank = [sum(1 for j in range(i) if r[j] == r[i]) + 1 for i in range(len(r))]
    assert rank.tolist() == want_rank
