"""Comparison levels per field for candidate pairs (Fellegi–Sunter gamma vectors).

Each field has an ordered list of levels; a pair takes the first level whose
condition holds.  Level ``-1`` means the comparison is impossible (a value is
missing or unusable) and contributes no evidence.  Everything is vectorised
over the pair arrays; string distances use rapidfuzz's ``cpdist``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

__all__ = ["LEVELS", "compare_pairs", "level_name", "history_levels", "own_group_dose_conflict"]

#: field -> level names in order (index = level code)
LEVELS: dict[str, tuple[str, ...]] = {
    "name": (
        "exact",  # same text
        "canonical",  # same after NFC, case and spacing
        "tone_placement",  # same but for the oa/oe/uy tone convention
        "folded",  # same ASCII skeleton (no or wrong diacritics)
        "reordered",  # same tokens, other order
        "typo",  # folded Damerau–Levenshtein <= 2
        "missing_part",  # one token list contains the other
        "similar",  # Jaro–Winkler on the folded form >= 0.85 and on the given name >= 0.8
        "different",
    ),
    "dob": (
        "exact",  # same text
        "same_date",  # same date, other format (or one reading of dd/mm vs mm/dd)
        "day_month_swap",
        "partial",  # one side knows only the year (and month) and agrees
        "default_0101",  # typed 01/01 of the right year
        "one_digit",  # one digit changed or two adjacent digits swapped
        "same_year",
        "different",
    ),
    "id": (
        "exact",  # same text
        "same_digits",  # same digits after separators / lost zero / Excel float repaired
        "old_id",  # the person's former 9-digit CMND
        "excel_compatible",  # Excel kept only some digits and they agree
        "one_edit",  # one digit substituted
        "transposition",  # two adjacent digits swapped
        "truncated",  # digits cut off or one digit dropped/added
        "other_consistent",  # a different, well-formed CCCD that fits the record's own birth year and sex
        "different",
    ),
    "sex": ("same", "different"),
    # Dose history: the candidate's other records that are already settled (stage 1).
    "phone": ("same", "different"),  # the record's phone is / is not one the candidate uses
    "dose": ("compatible", "conflict"),  # conflict: the candidate already had this dose on another date
}

FIELDS = tuple(LEVELS)


def level_name(field: str, code: int) -> str:
    return "null" if code < 0 else LEVELS[field][code]


def _char_matrix(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(n × width uint32 code points, lengths) of short strings, zero-padded."""
    arr = np.asarray(values, dtype=f"U{width}")
    return arr.view(np.uint32).reshape(len(arr), width), np.strings.str_len(arr)


def _fit_width(values: np.ndarray, width: int) -> np.ndarray:
    """Object strings longer than ``width`` replaced by "" (they can take no one-edit level)."""
    n = len(values)
    ok = np.fromiter(map(len, values), np.int64, count=n) <= width
    return np.where(ok, values, "")


def _one_edit_matrix(A: np.ndarray, la: np.ndarray, B: np.ndarray, lb: np.ndarray,
                     width: int) -> tuple[np.ndarray, np.ndarray]:
    """(one substitution, one adjacent transposition) between rows of two code-point matrices."""
    n = len(A)
    same_len = (la == lb) & (la > 0)
    diff = A != B
    count = diff.sum(axis=1)
    sub = same_len & (count == 1)
    first = diff.argmax(axis=1)
    nxt = np.minimum(first + 1, width - 1)
    rows = np.arange(n)
    trans = (same_len & (count == 2) & (first + 1 < width) & diff[rows, nxt]
             & (A[rows, first] == B[rows, nxt]) & (A[rows, nxt] == B[rows, first]))
    return sub, trans


def _digits_one_edit(a: np.ndarray, b: np.ndarray, width: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """(one substitution, one adjacent transposition) between equal-length strings, vectorised."""
    n = len(a)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    ok = (np.fromiter(map(len, a), np.int64, count=n) <= width) & (np.fromiter(map(len, b), np.int64, count=n) <= width)
    a = np.where(ok, a, "")
    b = np.where(ok, b, "")
    A, la = _char_matrix(a, width)
    B, lb = _char_matrix(b, width)
    return _one_edit_matrix(A, la, B, lb, width)


def _swap_iso(iso: np.ndarray) -> np.ndarray:
    s = pd.Series(iso, dtype="str")
    out = s.str.slice(0, 5) + s.str.slice(8, 10) + "-" + s.str.slice(5, 7)
    return out.where(s.str.len() == 10, "").to_numpy(dtype=object)


def _dob_one_digit(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sub, trans = _digits_one_edit(a, b, width=10)
    return sub | trans


def _pattern_fits(pattern: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Could an Excel-mangled pattern such as '0791234?????' (rounded) be the target?"""
    from vaxlib.vn.ids import pattern_matches

    return np.fromiter((pattern_matches(p, t) for p, t in zip(pattern, target)), bool, count=len(pattern))


def is_truncated(typed: str, full: str) -> bool:
    """``typed`` is ``full`` cut short (>= 6 digits kept) or with one digit dropped or added."""
    if not typed or not full or typed == full:
        return False
    if len(typed) < len(full):
        if len(typed) >= 6 and full.startswith(typed):
            return True
        if len(typed) == len(full) - 1:
            return any(full[:k] + full[k + 1:] == typed for k in range(len(full)))
        return False
    if len(typed) == len(full) + 1:
        return any(typed[:k] + typed[k + 1:] == full for k in range(len(typed)))
    return False


def id_fits_record(digits: str, year: int, sex: str) -> bool:
    """A 12-digit CCCD whose year digits and century/sex digit agree with the
    record's own typed birth year and sex (Thông tư 07/2016/TT-BCA, Điều 7)."""
    if len(digits) != 12 or not digits.isdigit() or year <= 0:
        return False
    if digits[4:6] != f"{year % 100:02d}":
        return False
    century = {0: 1900, 2: 2000, 4: 2100, 6: 2200, 8: 1800}[int(digits[3]) // 2 * 2]
    if not century <= year < century + 100:
        return False
    if sex in ("M", "F"):
        return (int(digits[3]) % 2 == 1) == (sex == "F")
    return True


def _token_subset_py(a, b) -> np.ndarray:
    """Reference (pure Python) form of :func:`_token_subset`."""
    out = np.zeros(len(a), dtype=bool)
    for i, (x, y) in enumerate(zip(a, b)):
        tx, ty = x.split(), y.split()
        if tx and ty and len(tx) != len(ty):
            sx, sy = set(tx), set(ty)
            out[i] = sx < sy or sy < sx
    return out


#: names with more tokens than this are checked by the pure-Python fallback
_MAX_TOKENS = 8


def _token_table(uniques) -> tuple[np.ndarray, np.ndarray]:
    """(n × _MAX_TOKENS int32 token ids padded with -1, token counts) of distinct names."""
    vocab: dict[str, int] = {}
    n = len(uniques)
    table = np.full((n, _MAX_TOKENS), -1, dtype=np.int32)
    counts = np.zeros(n, dtype=np.int32)
    for k, name in enumerate(uniques):
        toks = name.split()
        counts[k] = len(toks)
        if len(toks) <= _MAX_TOKENS:
            for j, t in enumerate(toks):
                table[k, j] = vocab.setdefault(t, len(vocab))
    return table, counts


def _token_subset_codes(ca: np.ndarray, cb: np.ndarray, table: np.ndarray, counts: np.ndarray,
                        uniques) -> np.ndarray:
    """:func:`_token_subset` for names given as codes into ``uniques`` (see :func:`_token_table`)."""
    na, nb = counts[ca], counts[cb]
    out = np.zeros(len(ca), dtype=bool)
    cand = np.flatnonzero((na > 0) & (nb > 0) & (na != nb))
    if len(cand) == 0:
        return out
    long_ = (na[cand] > _MAX_TOKENS) | (nb[cand] > _MAX_TOKENS)
    if long_.any():
        lc = cand[long_]
        out[lc] = _token_subset_py(np.asarray(uniques, dtype=object)[ca[lc]], np.asarray(uniques, dtype=object)[cb[lc]])
        cand = cand[~long_]
    A, B = table[ca[cand]], table[cb[cand]]
    # every token of A appears in B (padding counts as present), and vice versa
    a_in_b = ((A[:, :, None] == B[:, None, :]).any(axis=2) | (A < 0)).all(axis=1)
    b_in_a = ((B[:, :, None] == A[:, None, :]).any(axis=2) | (B < 0)).all(axis=1)
    # strict subset one way or the other: sx < sy  <=>  sx <= sy and not sy <= sx
    out[cand] = a_in_b ^ b_in_a
    return out


def _token_subset(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs whose token lists differ in length and whose token sets are a strict subset one of the other."""
    codes, uniques = pd.factorize(np.concatenate([np.asarray(a, dtype=object), np.asarray(b, dtype=object)]))
    table, counts = _token_table(uniques)
    return _token_subset_codes(codes[: len(a)], codes[len(a):], table, counts, uniques)


def _maybe_truncated(lt: np.ndarray, lf: np.ndarray) -> np.ndarray:
    """Length conditions without which :func:`is_truncated` is always False."""
    return (lt > 0) & (lf > 0) & (((lt < lf) & ((lt >= 6) | (lt == lf - 1))) | (lt == lf + 1))


class _Lazy:
    """A column gathered for pairs on demand: ``lazy[i]`` is ``values[idx[i]]``."""

    __slots__ = ("values", "idx")

    def __init__(self, values: np.ndarray, idx: np.ndarray):
        self.values, self.idx = values, idx

    def __getitem__(self, i):
        return self.values[self.idx[i]]

    def __len__(self) -> int:
        return len(self.idx)


def _cascade(null: np.ndarray, conds: list) -> np.ndarray:
    """First level whose condition holds; each condition is evaluated only on the
    pairs no earlier level took (``cond(idx) -> bool array`` over pair positions)."""
    out = np.full(len(null), len(conds), dtype=np.int8)  # last level = "different"
    remaining = np.flatnonzero(~null)
    for code, cond in enumerate(conds):
        if len(remaining) == 0:
            break
        hit = np.asarray(cond(remaining), dtype=bool)
        out[remaining[hit]] = code
        remaining = remaining[~hit]
    out[null] = -1
    return out


#: days apart beyond which two records of the same dose number cannot be one dose
DOSE_CONFLICT_DAYS = 14


def _ranges(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query index, position in ``sorted_keys``) for every element equal to each query key."""
    lo = np.searchsorted(sorted_keys, query, side="left")
    hi = np.searchsorted(sorted_keys, query, side="right")
    cnt = hi - lo
    q = np.repeat(np.arange(len(query)), cnt)
    offs = np.arange(len(q)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return q, np.repeat(lo, cnt) + offs


def history_levels(rec: pd.DataFrame, pairs: pd.DataFrame, anchors: pd.DataFrame | None) -> pd.DataFrame:
    """Phone and dose-slot levels from the candidate's *other* settled records.

    ``anchors`` holds (rec, reg) links that are already certain.  A person
    mostly keeps one phone number, and cannot receive the same dose number
    twice weeks apart: a record whose dose slot is already taken by the
    candidate on another date is most likely somebody else (a twin, a
    namesake, a child carrying a parent's ID).
    """
    n = len(pairs)
    phone = np.full(n, -1, dtype=np.int8)
    dose = np.full(n, -1, dtype=np.int8)
    if anchors is None or anchors.empty or n == 0:
        return pd.DataFrame({"phone": phone, "dose": dose}, index=pairs.index)
    ph_codes, _ = pd.factorize(rec["phone_n"].to_numpy(dtype=object))
    ph_empty = rec["phone_n"].to_numpy(dtype=object) == ""
    dn = rec["dose_n"].to_numpy()
    vd = rec["vdate"].to_numpy()
    # Every (pair, other anchored record of the pair's registry person), by a
    # sorted-range expansion instead of a hash join.
    a_reg = anchors["reg"].to_numpy()
    a_rec = anchors["rec"].to_numpy()
    srt = np.argsort(a_reg, kind="stable")
    a_reg, a_rec = a_reg[srt], a_rec[srt]
    p_rec, p_reg = pairs["rec"].to_numpy(), pairs["reg"].to_numpy()
    pair, apos = _ranges(a_reg, p_reg)
    if len(pair) == 0:
        return pd.DataFrame({"phone": phone, "dose": dose}, index=pairs.index)
    arec = a_rec[apos]
    mrec = p_rec[pair]
    other = mrec != arec
    pair, arec, mrec = pair[other], arec[other], mrec[other]
    if len(pair) == 0:
        return pd.DataFrame({"phone": phone, "dose": dose}, index=pairs.index)
    ok = ~ph_empty[mrec] & ~ph_empty[arec]
    if ok.any():
        grp = pair[ok]
        same = np.bincount(grp, weights=(ph_codes[mrec[ok]] == ph_codes[arec[ok]]), minlength=n) > 0
        seen = np.bincount(grp, minlength=n) > 0
        phone[seen] = np.where(same[seen], 0, 1)
    r_dn, a_dn = dn[mrec], dn[arec]
    r_vd, a_vd = vd[mrec], vd[arec]
    ok = (r_dn > 0) & (a_dn > 0) & (r_vd >= 0) & (a_vd >= 0)
    if ok.any():
        grp = pair[ok]
        clash = (r_dn[ok] == a_dn[ok]) & (np.abs(r_vd[ok].astype(np.int64) - a_vd[ok]) > DOSE_CONFLICT_DAYS)
        anyc = np.bincount(grp, weights=clash, minlength=n) > 0
        seen = np.bincount(grp, minlength=n) > 0
        dose[seen] = np.where(anyc[seen], 1, 0)
    return pd.DataFrame({"phone": phone, "dose": dose}, index=pairs.index)


def own_group_dose_conflict(rec: pd.DataFrame, pairs: pd.DataFrame, anchors: pd.DataFrame | None,
                            select: np.ndarray) -> np.ndarray:
    """Dose conflict of the record's *own* dose history with the candidate's.

    The records of one person typed without an ID share name, date of birth
    and phone; judged one at a time, each dose of a namesake outside the
    register may fit a gap in a registry person's history (dose 3 where the
    registry person had doses 1 and 2), while together they cannot (the
    namesake's dose 1 clashes with the registry person's).  For the selected
    pairs, the conflict is sought among every record sharing the record's
    (folded name, dob, phone), unless one of them is already anchored to the
    candidate (then the group is the candidate's own history).
    """
    out = np.zeros(len(pairs), dtype=bool)
    idx = np.flatnonzero(select)
    if anchors is None or anchors.empty or len(idx) == 0:
        return out
    n = len(rec)
    fold = rec["name_fold"].to_numpy(dtype=object)
    dob = rec["dob_r0"].to_numpy(dtype=object)
    phone = rec["phone_n"].to_numpy(dtype=object)
    ok = (fold != "") & (dob != "") & (phone != "")
    group = np.arange(n, dtype=np.int64) + n  # a record without the three keys is its own group
    if ok.any():
        key = pd.Series(fold[ok]) + "|" + pd.Series(dob[ok]) + "|" + pd.Series(phone[ok])
        group[ok] = pd.factorize(key)[0]
    by_group = np.argsort(group, kind="stable")
    g_sorted = group[by_group]
    p_rec, p_reg = pairs["rec"].to_numpy()[idx], pairs["reg"].to_numpy()[idx]
    # every (selected pair, member of its record's group)
    qi, pos = _ranges(g_sorted, group[p_rec])
    member = by_group[pos]
    reg_of = p_reg[qi]
    a_reg, a_rec = anchors["reg"].to_numpy(), anchors["rec"].to_numpy()
    srt = np.argsort(a_reg, kind="stable")
    a_reg, a_rec = a_reg[srt], a_rec[srt]
    # a member already anchored to the candidate: the group is the candidate's own
    anchored_to = pd.Series(a_reg, index=a_rec)
    anchored_to = anchored_to[~anchored_to.index.duplicated()]
    own = pd.Series(member).map(anchored_to).to_numpy(dtype=float) == reg_of
    skip = np.bincount(qi[own], minlength=len(idx)) > 0
    # every (pair, member, anchored record of the candidate)
    qj, apos = _ranges(a_reg, reg_of)
    pj = qi[qj]
    mem = member[qj]
    arec = a_rec[apos]
    dn, vd = rec["dose_n"].to_numpy(), rec["vdate"].to_numpy()
    clash = (mem != arec) & (dn[mem] > 0) & (dn[mem] == dn[arec]) & (vd[mem] >= 0) & (vd[arec] >= 0) & (
        np.abs(vd[mem].astype(np.int64) - vd[arec]) > DOSE_CONFLICT_DAYS)
    hit = (np.bincount(pj[clash], minlength=len(idx)) > 0) & ~skip
    out[idx[hit]] = True
    return out


def compare_pairs(rec: pd.DataFrame, reg: pd.DataFrame, pairs: pd.DataFrame,
                  anchors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Level code (int8) per field for every pair (``rec``/``reg`` positions).

    ``anchors`` (certain links) enable the dose-history fields; without them
    those fields are null.
    """
    r = pairs["rec"].to_numpy()
    g = pairs["reg"].to_numpy()
    cache: dict[tuple[int, str], np.ndarray] = {}

    def full(df: pd.DataFrame, name: str) -> np.ndarray:
        key = (id(df), name)
        if key not in cache:
            cache[key] = df[name].to_numpy(dtype=object)
        return cache[key]

    def col(df: pd.DataFrame, name: str, idx: np.ndarray) -> "_Lazy":
        # gathered per cascade step, only for the pairs that reach it
        return _Lazy(full(df, name), idx)

    def empty(df: pd.DataFrame, name: str, idx: np.ndarray) -> np.ndarray:
        return (full(df, name) == "")[idx]

    def eq(a: np.ndarray, b: np.ndarray):
        return lambda i: a[i] == b[i]

    def chars(df: pd.DataFrame, name: str, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(code-point matrix, lengths) of a whole column, once per column."""
        key = (id(df), f"{name}#U{width}")
        if key not in cache:
            cache[key] = _char_matrix(_fit_width(df[name].to_numpy(dtype=object), width), width)
        return cache[key]

    def one_edit(a: tuple, ia: np.ndarray, b: tuple, ib: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        return _one_edit_matrix(a[0][ia], a[1][ia], b[0][ib], b[1][ib], width)

    def lengths(df: pd.DataFrame, name: str, idx: np.ndarray) -> np.ndarray:
        key = (id(df), name + "#len")
        if key not in cache:
            v = df[name].to_numpy(dtype=object)
            cache[key] = np.fromiter(map(len, v), np.int32, count=len(v))
        return cache[key][idx]

    # --- name
    rn, gn = col(rec, "full_name", r), col(reg, "full_name", g)
    rf, gf = col(rec, "name_fold", r), col(reg, "name_fold", g)

    rf_len, gf_len = lengths(rec, "name_fold", r), lengths(reg, "name_fold", g)

    def typo(i):
        # Damerau–Levenshtein is at least the length difference: only pairs within 2 are scored
        out = np.zeros(len(i), dtype=bool)
        k = np.flatnonzero(np.abs(rf_len[i] - gf_len[i]) <= 2)
        if len(k):
            out[k] = process.cpdist(list(rf[i[k]]), list(gf[i[k]]), scorer=DamerauLevenshtein.distance,
                                    dtype=np.int32, workers=-1, score_cutoff=2) <= 2
        return out

    rgiv, ggiv = col(rec, "given", r), col(reg, "given", g)

    def similar(i):
        # Relatives share family and middle names: the given name must be alike too.
        whole = process.cpdist(list(rf[i]), list(gf[i]), scorer=JaroWinkler.normalized_similarity, workers=-1)
        out = whole >= 0.85
        k = np.flatnonzero(out)
        if len(k):
            given = process.cpdist(list(rgiv[i[k]]), list(ggiv[i[k]]), scorer=JaroWinkler.normalized_similarity,
                                   workers=-1)
            out[k] = given >= 0.8
        return out

    def token_subset(i):
        # distinct folded names of both sides, tokenised once
        ca, ua = pd.factorize(rf[i])
        cb, ub = pd.factorize(gf[i])
        codes, uniques = pd.factorize(np.concatenate([np.asarray(ua, dtype=object), np.asarray(ub, dtype=object)]))
        table, counts = _token_table(uniques)
        return _token_subset_codes(codes[: len(ua)][ca], codes[len(ua):][cb], table, counts, uniques)

    name = _cascade(empty(rec, "name_fold", r) | empty(reg, "name_fold", g), [
        eq(rn, gn),
        eq(col(rec, "name_canon", r), col(reg, "name_canon", g)),
        eq(col(rec, "name_tone", r), col(reg, "name_tone", g)),
        eq(rf, gf),
        eq(col(rec, "name_sorted", r), col(reg, "name_sorted", g)),
        typo,
        token_subset,
        similar,
    ])

    # --- dob
    typed, gd = col(rec, "dob", r), col(reg, "dob", g)
    r0, r1 = col(rec, "dob_r0", r), col(rec, "dob_r1", r)
    ry = rec["year"].to_numpy()[r]
    gy = reg["year"].to_numpy()[g]
    rlen = rec["dob_r0"].str.len().to_numpy()[r]
    glen = reg["dob"].str.len().to_numpy()[g]
    full_both = (rlen == 10) & (glen == 10)
    # day and month swapped, computed once per distinct date
    d_codes, d_uniq = pd.factorize(rec["dob_r0"].to_numpy(dtype=object))
    r0_swapped = _swap_iso(np.asarray(d_uniq, dtype=object))[d_codes][r] if len(d_uniq) else np.full(len(r), "", object)

    def partial(i):
        a, b = r0[i].astype("U10"), gd[i].astype("U10")
        return ~full_both[i] & (np.strings.startswith(a, b) | np.strings.startswith(b, a))

    def default_0101(i):
        a, b = r0[i].astype("U10"), gd[i].astype("U10")
        return full_both[i] & (ry[i] == gy[i]) & np.strings.endswith(a, "-01-01") & ~np.strings.endswith(b, "-01-01")

    dob = _cascade(empty(rec, "dob_r0", r) | empty(reg, "dob", g), [
        eq(typed, gd),
        lambda i: (r0[i] == gd[i]) | ((r1[i] != "") & (r1[i] == gd[i])),
        lambda i: full_both[i] & (r0_swapped[i] == gd[i]),
        partial,
        default_0101,
        lambda i: full_both[i] & np.logical_or(*one_edit(chars(rec, "dob_r0", 10), r[i], chars(reg, "dob", 10), g[i], 10)),
        lambda i: (ry[i] == gy[i]) & (ry[i] > 0),
    ])

    # --- id
    tid, gid = col(rec, "id_number", r), col(reg, "person_id", g)
    digits = col(rec, "id_digits", r)
    pattern = col(rec, "id_pattern", r)
    old = col(reg, "old_id", g)
    ryear = rec["year"].to_numpy()[r]
    rsex = col(rec, "sex_p", r)
    raw = col(rec, "id_raw_digits", r)
    # per record, then gathered for the pairs
    kind_all, digits_all = full(rec, "id_kind"), full(rec, "id_digits")
    is_excel_rec = (kind_all == "excel") & (full(rec, "id_pattern") != "")
    comparable_rec = (np.isin(kind_all, ["cccd", "cmnd"]) & (digits_all != "")) | (
        (kind_all == "malformed") & (lengths(rec, "id_raw_digits", slice(None)) >= 6))
    is_excel = is_excel_rec[r]
    null = (~comparable_rec & ~is_excel_rec)[r] | empty(reg, "person_id", g)
    # A 9-digit CMND can only be compared when the registry knows the person's old ID.
    null |= (kind_all == "cmnd")[r] & empty(reg, "old_id", g)
    raw_len, gid_len = lengths(rec, "id_raw_digits", r), lengths(reg, "person_id", g)

    def excel_fits(i):
        out = is_excel[i]
        k = np.flatnonzero(out)
        out[k] = _pattern_fits(pattern[i[k]], gid[i[k]])
        return out

    def truncated(i):
        out = np.zeros(len(i), dtype=bool)
        lt, lf = raw_len[i], gid_len[i]
        k = np.flatnonzero(_maybe_truncated(lt, lf))
        if len(k) == 0:
            return out
        # cut short (>= 6 digits kept): a vectorised prefix test
        prefix = (lt[k] < lf[k]) & (lt[k] >= 6)
        if prefix.any():
            kp = k[prefix]
            out[kp] = np.strings.startswith(gid[i[kp]].astype(str), raw[i[kp]].astype(str))
        # one digit dropped or added: the plain-Python check on what is left
        k = k[~out[k] & ((lt[k] == lf[k] - 1) | (lt[k] == lf[k] + 1))]
        if len(k):
            out[k] = np.fromiter((is_truncated(a, b) for a, b in zip(raw[i[k]], gid[i[k]])), bool, count=len(k))
        return out

    def fits_record(i):
        # depends on the record only: evaluated once per record
        ur, inv = np.unique(r[i], return_inverse=True)
        d = rec["id_digits"].to_numpy(dtype=object)[ur]
        y = rec["year"].to_numpy()[ur]
        x = rec["sex_p"].to_numpy(dtype=object)[ur]
        per = np.fromiter((id_fits_record(a, yy, xx) for a, yy, xx in zip(d, y, x)), bool, count=len(ur))
        return per[inv]

    idl = _cascade(null, [
        eq(tid, gid),
        eq(digits, gid),
        lambda i: (old[i] != "") & (digits[i] == old[i]),
        excel_fits,
        lambda i: one_edit(chars(rec, "id_digits", 12), r[i], chars(reg, "person_id", 12), g[i], 12)[0],
        # cheap: only pairs left after one_edit
        lambda i: one_edit(chars(rec, "id_digits", 12), r[i], chars(reg, "person_id", 12), g[i], 12)[1],
        truncated,
        fits_record,
    ])

    # --- sex
    rs, gs = col(rec, "sex_p", r), col(reg, "sex", g)
    sex = _cascade(empty(rec, "sex_p", r) | empty(reg, "sex", g), [eq(rs, gs)])

    hist = history_levels(rec, pairs, anchors)
    return pd.DataFrame({"name": name, "dob": dob, "id": idl, "sex": sex,
                         "phone": hist["phone"].to_numpy(), "dose": hist["dose"].to_numpy()}, index=pairs.index)
