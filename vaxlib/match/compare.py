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

from vaxlib.match.codes import PREFIX
from vaxlib.match.levels import Comparison, ComparisonLevel, FrameCache, PairFrame, _char_matrix, equal
from vaxlib.match.province import PROVINCE

__all__ = ["COMPARISONS", "LEVELS", "FIELDS", "compare_pairs", "level_name", "history_levels",
           "own_group_dose_conflict", "group_dose_conflict", "record_groups", "record_group_ok"]


def _one_edit_matrix(A: np.ndarray, la: np.ndarray, B: np.ndarray, lb: np.ndarray,
                     width: int) -> tuple[np.ndarray, np.ndarray]:
    """(one substitution, one adjacent transposition) between rows of two code-point matrices
    (``width`` columns): :func:`vaxlib.match.kernels.one_edit_rows`."""
    from vaxlib.match.kernels import one_edit_rows

    return one_edit_rows(A[:, :width], la, B[:, :width], lb)


def _swap_iso(iso: np.ndarray) -> np.ndarray:
    s = pd.Series(iso, dtype="str")
    out = s.str.slice(0, 5) + s.str.slice(8, 10) + "-" + s.str.slice(5, 7)
    return out.where(s.str.len() == 10, "").to_numpy(dtype=object)


def _pattern_fits_py(pattern: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Reference (plain Python) form of :func:`_pattern_fits`."""
    from vaxlib.vn.ids import pattern_matches

    return np.fromiter((pattern_matches(p, t) for p, t in zip(pattern, target)), bool, count=len(pattern))


def _digit_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int64 value, ok) of strings of 1-18 ASCII digits ('?' read as 0 when given); ok False otherwise."""
    n = len(values)
    lens = np.fromiter(map(len, values), np.int64, count=n)
    ok = (lens > 0) & (lens <= 18) & np.fromiter(map(str.isascii, values), bool, count=n)
    num = np.zeros(n, dtype=np.int64)
    k = np.flatnonzero(ok)
    if len(k):
        width = int(lens[k].max())
        D = np.asarray(values[k], dtype=f"U{width}").view(np.uint32).reshape(len(k), width).astype(np.int64)
        pad = np.arange(width)[None, :] >= lens[k][:, None]
        digit = (D >= 48) & (D <= 57)
        ok[k] = (digit | pad).all(axis=1)
        D = np.where(digit, D - 48, 0)
        for j in range(width):  # Horner over the columns; padding adds no digit
            num[k] = np.where(pad[:, j], num[k], num[k] * 10 + D[:, j])
    return num, ok


def _pattern_fits(pattern: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Could an Excel-mangled pattern such as '0791234?????' (rounded) be the target?

    :func:`vaxlib.vn.ids.pattern_matches` pair by pair, computed per distinct pattern and target:
    the pattern read with '?' as 0 and the target as integers, within half a unit of the last
    known place."""
    pattern, target = np.asarray(pattern, dtype=object), np.asarray(target, dtype=object)
    n = len(pattern)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if not all(isinstance(x, str) for x in pattern) or not all(isinstance(x, str) for x in target):
        return _pattern_fits_py(pattern, target)
    pc, pu = pd.factorize(pattern)
    tc, tu = pd.factorize(target)
    pu, tu = np.asarray(pu, dtype=object), np.asarray(tu, dtype=object)
    p_len = np.fromiter(map(len, pu), np.int64, count=len(pu))
    lost = np.fromiter((x.count("?") for x in pu), np.int64, count=len(pu))
    # '?' only at the end
    tail = np.fromiter((x.rstrip("?") == x[: len(x) - q] for x, q in zip(pu, lost)), bool, count=len(pu))
    known, known_ok = _digit_values(np.array([x.replace("?", "0") for x in pu], dtype=object))
    t_len = np.fromiter(map(len, tu), np.int64, count=len(tu))
    digits, digits_ok = _digit_values(tu)
    out = np.zeros(n, dtype=bool)
    same_len = p_len[pc] == t_len[tc]
    plain = same_len & (lost[pc] == 0)
    out[plain] = pu[pc[plain]] == tu[tc[plain]]
    fuzzy = same_len & (lost[pc] > 0)
    exact = fuzzy & known_ok[pc] & digits_ok[tc] & tail[pc]
    out[exact] = np.abs(digits[tc[exact]] - known[pc[exact]]) * 2 <= 10 ** lost[pc[exact]]
    # longer numbers (or other digits) than int64 holds: the plain definition
    rest = np.flatnonzero(fuzzy & ~exact & ((p_len[pc] > 18) | ~known_ok[pc] | ~digits_ok[tc]))
    if len(rest):
        out[rest] = _pattern_fits_py(pattern[rest], target[rest])
    return out


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


def _token_table_py(uniques) -> tuple[np.ndarray, np.ndarray]:
    """Reference (pure Python) form of :func:`_token_table`."""
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


#: ASCII characters other than " " that ``str.split()`` splits on
_ASCII_SPACES = "[\t\n\r\x0b\x0c\x1c-\x1f]"


def _token_table(uniques) -> tuple[np.ndarray, np.ndarray]:
    """(n × _MAX_TOKENS int32 token ids padded with -1, token counts) of distinct names.

    Tokens are ``str.split()``'s; equal tokens share an id.  ASCII names whose only
    whitespace is " " are split by Arrow in C; the others by Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(uniques, dtype=object)
    n = len(values)
    try:
        arr = pa.array(values, type=pa.large_string())
    except (pa.ArrowException, UnicodeError, TypeError):
        return _token_table_py(values)
    simple = pc.and_(pc.string_is_ascii(arr), pc.invert(pc.match_substring_regex(arr, _ASCII_SPACES)))
    simple = simple.to_numpy(zero_copy_only=False)
    easy = np.flatnonzero(simple)
    lists = pc.split_pattern(arr.take(pa.array(easy)), " ")
    tokens = pc.list_flatten(lists)
    parent = easy[pc.list_parent_indices(lists).to_numpy()]
    keep = pc.not_equal(tokens, "").to_numpy(zero_copy_only=False)  # runs of spaces give empty pieces
    tokens, parent = tokens.filter(pa.array(keep)), parent[keep]
    odd = np.flatnonzero(~simple)
    if len(odd):
        split = [values[k].split() for k in odd]
        tokens = pa.concat_arrays([tokens, pa.array([t for toks in split for t in toks], type=pa.large_string())])
        parent = np.concatenate([parent, np.repeat(odd, [len(t) for t in split])])
    ids = tokens.dictionary_encode().indices.to_numpy(zero_copy_only=False).astype(np.int32)
    # each name's tokens in order: a stable sort by name keeps their order within a name
    order = np.argsort(parent, kind="stable")
    parent, ids = parent[order], ids[order]
    counts = np.bincount(parent, minlength=n).astype(np.int32)
    start = np.cumsum(counts) - counts
    col = np.arange(len(parent)) - start[parent]
    table = np.full((n, _MAX_TOKENS), -1, dtype=np.int32)
    short = counts[parent] <= _MAX_TOKENS
    table[parent[short], col[short]] = ids[short]
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


#: days apart beyond which two records of the same dose number cannot be one dose
DOSE_CONFLICT_DAYS = 14


def _key_ranges(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first position, count) in ``sorted_keys`` of the elements equal to each query key."""
    n_keys = int(sorted_keys[-1]) + 1 if len(sorted_keys) else 0
    if (sorted_keys.dtype.kind in "iu" and query.dtype.kind in "iu" and len(sorted_keys)
            and sorted_keys[0] >= 0 and n_keys <= 4 * (len(sorted_keys) + len(query)) + 1024):
        # dense non-negative keys (positions, group codes): each key's range from a count of the
        # keys, read by the queries in one gather (a binary search per query misses the cache)
        size = np.bincount(sorted_keys, minlength=n_keys)
        start = np.cumsum(size) - size
        inside = (query >= 0) & (query < n_keys)
        q_key = np.where(inside, query, 0)
        return start[q_key], np.where(inside, size[q_key], 0)
    lo = np.searchsorted(sorted_keys, query, side="left")
    return lo, np.searchsorted(sorted_keys, query, side="right") - lo


def _rec_memo(cache: FrameCache | None, rec: pd.DataFrame, key: str, make):
    """``make()`` of the records alone, kept in ``cache`` when it belongs to ``rec``."""
    if cache is None or cache.rec is not rec:
        return make()
    if key not in cache.values:
        cache.values[key] = make()
    return cache.values[key]


def _phone_codes(rec: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(code per record, empty phone); the records' phone codes when they have them."""
    if PREFIX + "phone_n" in rec.columns:
        codes = rec[PREFIX + "phone_n"].to_numpy()
        return codes, codes < 0
    phones = rec["phone_n"].to_numpy(dtype=object)
    return pd.factorize(phones)[0], phones == ""


def history_levels(rec: pd.DataFrame, pairs: pd.DataFrame, anchors: pd.DataFrame | None,
                   cache: FrameCache | None = None) -> pd.DataFrame:
    """Phone and dose-slot levels from the candidate's *other* settled records.

    ``anchors`` holds (rec, reg) links that are already certain.  A person
    mostly keeps one phone number, and cannot receive the same dose number
    twice weeks apart: a record whose dose slot is already taken by the
    candidate on another date is most likely somebody else (a twin, a
    namesake, a child carrying a parent's ID).  ``cache``: as :func:`compare_pairs`.
    """
    n = len(pairs)
    phone = np.full(n, -1, dtype=np.int8)
    dose = np.full(n, -1, dtype=np.int8)
    if anchors is None or anchors.empty or n == 0:
        return pd.DataFrame({"phone": phone, "dose": dose}, index=pairs.index)
    from vaxlib.match.kernels import history_flags

    ph_codes, ph_empty = _rec_memo(cache, rec, "phone_codes", lambda: _phone_codes(rec))
    ph = _rec_memo(cache, rec, "phone_codes_or_missing", lambda: np.where(ph_empty, -1, ph_codes).astype(np.int64))
    phone, dose = history_flags(pairs["rec"].to_numpy(), pairs["reg"].to_numpy(), anchors["rec"].to_numpy(),
                                anchors["reg"].to_numpy(), ph, rec["dose_n"].to_numpy(), rec["vdate"].to_numpy(),
                                DOSE_CONFLICT_DAYS)
    return pd.DataFrame({"phone": phone, "dose": dose}, index=pairs.index)


def own_group_dose_conflict(rec: pd.DataFrame, pairs: pd.DataFrame, anchors: pd.DataFrame | None,
                            select: np.ndarray, cache: FrameCache | None = None) -> np.ndarray:
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
    out[idx] = group_dose_conflict(record_groups(rec, cache), rec["dose_n"].to_numpy(), rec["vdate"].to_numpy(),
                                   pairs["rec"].to_numpy()[idx], pairs["reg"].to_numpy()[idx],
                                   anchors["rec"].to_numpy(), anchors["reg"].to_numpy())
    return out


def record_group_ok(rec: pd.DataFrame) -> np.ndarray:
    """Records that have all three keys of an own-history group (folded name, dob, phone)."""
    return ((rec["name_fold"].to_numpy(dtype=object) != "") & (rec["dob_r0"].to_numpy(dtype=object) != "")
            & (rec["phone_n"].to_numpy(dtype=object) != ""))


def record_groups(rec: pd.DataFrame, cache: FrameCache | None = None) -> np.ndarray:
    """Each record's own-history group code: records sharing folded name, dob and phone share
    a code; a record without the three keys is its own group (codes ``n + position``)."""
    return _rec_memo(cache, rec, "record_groups", lambda: _record_groups(rec, cache))


#: combined keys of own-history groups stay below this (int64)
_ONE_KEY_LIMIT = 2.0 ** 62


def _record_groups(rec: pd.DataFrame, cache: FrameCache | None) -> np.ndarray:
    n = len(rec)
    ok = record_group_ok(rec)
    group = np.arange(n, dtype=np.int64) + n
    if ok.any():
        # the three values' integer codes combined (the text key "name|dob|phone" splits back into
        # its parts from the right, as neither dob nor phone holds a "|": the same groups)
        parts = []
        for col in ("name_fold", "dob_r0", "phone_n"):
            if PREFIX + col in rec.columns:
                part = rec[PREFIX + col].to_numpy()[ok].astype(np.int64)
                n_part = int(part.max()) + 1
            elif col == "phone_n":
                codes = _rec_memo(cache, rec, "phone_codes", lambda: _phone_codes(rec))[0]
                part = codes[ok].astype(np.int64)
                n_part = int(part.max()) + 1
            else:
                part, uniq = pd.factorize(rec[col].to_numpy(dtype=object)[ok])
                n_part = len(uniq)
            parts.append((part, n_part))
        # the three codes as one integer, factorised once (first appearance of each triple, as
        # factorising pair by pair numbers them); pair by pair where the product could overflow
        if np.prod([float(n) for _, n in parts]) < _ONE_KEY_LIMIT:
            key = np.zeros(int(ok.sum()), dtype=np.int64)
            for part, n_part in parts:
                key = key * n_part + part
            key = pd.factorize(key)[0].astype(np.int64)
        else:
            key = np.zeros(int(ok.sum()), dtype=np.int64)
            for part, n_part in parts:
                key = pd.factorize(key * n_part + part)[0].astype(np.int64)
        group[ok] = key
    return group


def group_dose_conflict(group: np.ndarray, dn: np.ndarray, vd: np.ndarray, p_rec: np.ndarray, p_reg: np.ndarray,
                        a_rec: np.ndarray, a_reg: np.ndarray,
                        order: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """:func:`own_group_dose_conflict` of the pairs (``p_rec``, ``p_reg``) from per-record arrays
    (group code, dose number, vaccination day; indexed by record position) and the anchors.
    ``order``: ``(argsort(group, kind="stable"), group in that order)`` when the caller has them
    (a partitioned engine sorts the whole set's groups once for all its partitions)."""
    from vaxlib.match.kernels import group_conflicts

    if len(a_rec) == 0 or len(p_rec) == 0:
        return np.zeros(len(p_rec), dtype=bool)
    by_group, group_sorted = order if order is not None else (None, None)
    if by_group is None:
        by_group = np.argsort(group, kind="stable")
        group_sorted = group[by_group]
    lo, cnt = _key_ranges(group_sorted, group[p_rec])  # each pair's record's group members
    return group_conflicts(by_group, lo, cnt, p_reg, a_rec, a_reg, dn, vd, DOSE_CONFLICT_DAYS)


# --------------------------------------------------------------------------- name kernels
def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first codes, second codes, inverse) of the distinct (a, b) code pairs: a string
    distance is computed once per distinct pair of values and gathered back."""
    key = a.astype(np.int64) << 32 | b.astype(np.int64)
    inv, uniq = pd.factorize(key)
    return (uniq >> 32).astype(np.int64), (uniq & 0xFFFFFFFF).astype(np.int64), inv


def _pair_scores(p: PairFrame, domain: str, col: str, i: np.ndarray, scorer, **kw) -> np.ndarray:
    """``scorer`` of the record's and the registry's ``col`` for the pairs ``i``, once per distinct pair."""
    ua, ub, inv = _distinct_pairs(p.pair_codes("rec", col, i), p.pair_codes("reg", col, i))
    values = p.dictionary(domain)
    return process.cpdist(list(values[ua]), list(values[ub]), scorer=scorer, workers=-1, **kw)[inv]


def _name_null(p: PairFrame) -> np.ndarray:
    return p.empty("rec", "name_fold") | p.empty("reg", "name_fold")


def _name_typo(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """Folded Damerau–Levenshtein distance <= 2."""
    rl, gl = p.lengths("rec", "name_fold")[p.r[i]], p.lengths("reg", "name_fold")[p.g[i]]
    # the distance is at least the length difference: only pairs within 2 are scored
    out = np.zeros(len(i), dtype=bool)
    k = np.flatnonzero(np.abs(rl - gl) <= 2)
    if len(k):
        out[k] = _pair_scores(p, "name_fold", "name_fold", i[k], DamerauLevenshtein.distance, dtype=np.int32,
                              score_cutoff=2) <= 2
    return out


def _name_missing_part(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """One folded token list is a strict subset of the other."""
    ca, cb = p.pair_codes("rec", "name_fold", i), p.pair_codes("reg", "name_fold", i)
    # the distinct folded names of both sides, tokenised once
    codes, uniques = pd.factorize(np.concatenate([ca, cb]))
    names = p.dictionary("name_fold")[uniques]
    table, counts = _token_table(names)
    return _token_subset_codes(codes[: len(i)], codes[len(i):], table, counts, names)


def _name_similar(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """Jaro–Winkler >= 0.85 on the folded name and >= 0.8 on the given name."""
    out = _pair_scores(p, "name_fold", "name_fold", i, JaroWinkler.normalized_similarity) >= 0.85
    k = np.flatnonzero(out)
    if len(k):
        # relatives share family and middle names: the given name must be alike too
        out[k] = _pair_scores(p, "given", "given", i[k], JaroWinkler.normalized_similarity) >= 0.8
    return out


# --------------------------------------------------------------------------- dob kernels
def _dob_null(p: PairFrame) -> np.ndarray:
    return p.empty("rec", "dob_r0") | p.empty("reg", "dob")


def _dob_full_both(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """For the pairs ``i``: both sides know a whole date (10 characters)."""
    rec_full = p.frame_memo(("rec", "dob_r0", "full"), lambda: p.lengths("rec", "dob_r0") == 10)
    reg_full = p.frame_memo(("reg", "dob", "full"), lambda: p.lengths("reg", "dob") == 10)
    return rec_full[p.r[i]] & reg_full[p.g[i]]


def _dob_same_date(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """The typed date read as ISO (or its other dd/mm reading) is the register's."""
    gd = p.pair_codes("reg", "dob", i)
    r1 = p.pair_codes("rec", "dob_r1", i)
    has_r1 = ~p.per_value("dob", "empty", lambda v: v == "")[r1]
    return (p.pair_codes("rec", "dob_r0", i) == gd) | (has_r1 & (r1 == gd))


def _dob_day_month_swap(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """Day and month swapped: the typed date with its day and month exchanged is the register's."""
    k = np.flatnonzero(_dob_full_both(p, i))
    out = np.zeros(len(i), dtype=bool)
    if len(k):
        # the swapped form of each distinct date, compared as text (it need not be a value of the domain)
        swapped = p.per_value("dob", "swapped", _swap_iso)
        out[k] = swapped[p.pair_codes("rec", "dob_r0", i[k])] == p.dictionary("dob")[p.pair_codes("reg", "dob", i[k])]
    return out


def _dob_partial(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """One side knows only the year (and month) and it agrees."""
    out = np.zeros(len(i), dtype=bool)
    k = np.flatnonzero(~_dob_full_both(p, i))
    if len(k):
        values = p.dictionary("dob")
        a = values[p.pair_codes("rec", "dob_r0", i[k])].astype("U10")
        b = values[p.pair_codes("reg", "dob", i[k])].astype("U10")
        out[k] = np.strings.startswith(a, b) | np.strings.startswith(b, a)
    return out


def _dob_default_0101(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """01/01 typed for a person born on another day of the same year."""
    jan1 = p.per_value("dob", "0101", lambda v: np.strings.endswith(v.astype(str), "-01-01"))
    ry, gy = p.values("rec", "year"), p.values("reg", "year")
    return (_dob_full_both(p, i) & (ry[i] == gy[i]) & jan1[p.pair_codes("rec", "dob_r0", i)]
            & ~jan1[p.pair_codes("reg", "dob", i)])


def _dob_one_digit(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """One digit changed or two adjacent digits swapped."""
    out = np.zeros(len(i), dtype=bool)
    k = np.flatnonzero(_dob_full_both(p, i))
    if len(k):
        out[k] = np.logical_or(*p.one_edit("dob", p.pair_codes("rec", "dob_r0", i[k]), p.pair_codes("reg", "dob", i[k]),
                                           10))
    return out


def _dob_same_year(p: PairFrame, i: np.ndarray) -> np.ndarray:
    ry, gy = p.values("rec", "year"), p.values("reg", "year")
    return (ry[i] == gy[i]) & (ry[i] > 0)


# --------------------------------------------------------------------------- id kernels
def _id_null(p: PairFrame) -> np.ndarray:
    def per_record():
        kind = p.full("rec", "id_kind")
        comparable = (np.isin(kind, ["cccd", "cmnd"]) & (p.full("rec", "id_digits") != "")) | (
            (kind == "malformed") & (p.lengths("rec", "id_raw_digits") >= 6))
        return ~comparable & ~_id_is_excel_rec(p), kind == "cmnd"
    no_number, cmnd = p.frame_memo("id_null_rec", per_record)
    null = no_number[p.r] | p.empty("reg", "person_id")
    # A 9-digit CMND can only be compared when the registry knows the person's old ID.
    return null | (cmnd[p.r] & p.empty("reg", "old_id"))


def _id_is_excel_rec(p: PairFrame) -> np.ndarray:
    """Per record: an Excel-mangled number with a digit pattern to fit."""
    return p.frame_memo("id_is_excel", lambda: (p.full("rec", "id_kind") == "excel") & (p.full("rec", "id_pattern") != ""))


def _id_old(p: PairFrame, i: np.ndarray) -> np.ndarray:
    old = p.pair_codes("reg", "old_id", i)
    return ~p.per_value("id", "empty", lambda v: v == "")[old] & (p.pair_codes("rec", "id_digits", i) == old)


def _id_excel_fits(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """The digits Excel kept (a pattern such as '0791234?????') fit the registry ID."""
    out = _id_is_excel_rec(p)[p.r[i]]
    k = np.flatnonzero(out)
    out[k] = _pattern_fits(p.col("rec", "id_pattern")[i[k]], p.col("reg", "person_id")[i[k]])
    return out


def _id_edits(p: PairFrame, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one substitution, one adjacent transposition) of the pairs ``i``, computed once per batch:
    the one_edit level computes both, the transposition level reads its pairs' answers back."""
    done = p.memo("id_edits", dict)
    if "at" in done and np.isin(i, done["at"]).all():
        k = np.searchsorted(done["at"], i)
        return done["sub"][k], done["trans"][k]
    sub, trans = p.one_edit("id", p.pair_codes("rec", "id_digits", i), p.pair_codes("reg", "person_id", i), 12)
    if len(i) == 0 or (np.diff(i) > 0).all():  # the cascade hands positions in ascending order
        done.update(at=i, sub=sub, trans=trans)
    return sub, trans


def _id_one_edit(p: PairFrame, i: np.ndarray) -> np.ndarray:
    return _id_edits(p, i)[0]


def _id_transposition(p: PairFrame, i: np.ndarray) -> np.ndarray:
    # the pairs left after one_edit: answered when one_edit was
    return _id_edits(p, i)[1]


def _id_truncated(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """Digits cut off (>= 6 kept) or one digit dropped or added."""
    raw, gid = p.col("rec", "id_raw_digits"), p.col("reg", "person_id")
    lt, lf = p.lengths("rec", "id_raw_digits")[p.r[i]], p.lengths("reg", "person_id")[p.g[i]]
    out = np.zeros(len(i), dtype=bool)
    k = np.flatnonzero(_maybe_truncated(lt, lf))
    if len(k) == 0:
        return out
    # cut short: a vectorised prefix test
    prefix = (lt[k] < lf[k]) & (lt[k] >= 6)
    if prefix.any():
        kp = k[prefix]
        out[kp] = np.strings.startswith(gid[i[kp]].astype(str), raw[i[kp]].astype(str))
    # one digit dropped or added
    k = k[~out[k] & ((lt[k] == lf[k] - 1) | (lt[k] == lf[k] + 1))]
    if len(k):
        out[k] = _one_digit_dropped(raw[i[k]], gid[i[k]])
    return out


def _one_digit_dropped(typed: np.ndarray, full: np.ndarray) -> np.ndarray:
    """:func:`is_truncated` for pairs whose lengths differ by one: the shorter string is the
    longer one with one character deleted.  It is exactly when deleting the longer one's
    character at the first position where the two differ gives the shorter."""
    typed, full = np.asarray(typed, dtype=object), np.asarray(full, dtype=object)
    n = len(typed)
    if "\x00" in "".join(typed) + "".join(full):  # numpy's str arrays drop trailing NULs
        return np.fromiter((is_truncated(a, b) for a, b in zip(typed, full)), bool, count=n)
    lt = np.fromiter(map(len, typed), np.int64, count=n)
    lf = np.fromiter(map(len, full), np.int64, count=n)
    short = np.where(lt < lf, typed, full)
    long_ = np.where(lt < lf, full, typed)
    ls = np.minimum(lt, lf)
    out = np.zeros(n, dtype=bool)
    ok = (ls > 0) & (np.abs(lt - lf) == 1)
    if not ok.any():
        return out
    width = int(np.maximum(lt, lf)[ok].max())
    S = np.asarray(np.where(ok, short, ""), dtype=f"U{width}").view(np.uint32).reshape(n, width)
    L = np.asarray(np.where(ok, long_, ""), dtype=f"U{width}").view(np.uint32).reshape(n, width)
    col = np.arange(width)[None, :]
    inside = col < ls[:, None]
    differ = (S != L) & inside
    first = np.where(differ.any(axis=1), differ.argmax(axis=1), ls)
    # after the first difference, the short string is the long one shifted by one
    shifted = np.ones((n, width), dtype=bool)
    shifted[:, : width - 1] = S[:, : width - 1] == L[:, 1:]
    tail = (col >= first[:, None]) & inside
    out[ok] = (shifted | ~tail).all(axis=1)[ok]
    return out


def id_fits_record_array(digits: np.ndarray, year: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """:func:`id_fits_record` of many (digits, year, sex), vectorised over ASCII digit strings."""
    digits = np.asarray(digits, dtype=object)
    n = len(digits)
    lens = np.fromiter(map(len, digits), np.int64, count=n)
    out = np.zeros(n, dtype=bool)
    k = np.flatnonzero((lens == 12) & (np.asarray(year) > 0))
    if len(k) == 0:
        return out
    cand = digits[k]
    ascii_ = np.fromiter(map(str.isascii, cand), bool, count=len(k))
    if not ascii_.all():  # other Unicode digits: the plain definition
        odd = k[~ascii_]
        out[odd] = [id_fits_record(a, int(y), x) for a, y, x in zip(digits[odd], np.asarray(year)[odd],
                                                                       np.asarray(sex, dtype=object)[odd])]
        k, cand = k[ascii_], cand[ascii_]
    D = np.asarray(cand, dtype="U12").view(np.uint32).reshape(len(k), 12).astype(np.int64) - 48
    y = np.asarray(year)[k].astype(np.int64)
    x = np.asarray(sex, dtype=object)[k]
    ok = ((D >= 0) & (D <= 9)).all(axis=1)
    ok &= D[:, 4] * 10 + D[:, 5] == y % 100
    century = np.array([1900, 1900, 2000, 2000, 2100, 2100, 2200, 2200, 1800, 1800])[np.clip(D[:, 3], 0, 9)]
    ok &= (century <= y) & (y < century + 100)
    female = D[:, 3] % 2 == 1
    known = (x == "M") | (x == "F")
    ok &= ~known | (female == (x == "F"))
    out[k] = ok
    return out


def _id_fits_record(p: PairFrame, i: np.ndarray) -> np.ndarray:
    """A well-formed CCCD that fits the record's own birth year and sex (once per record)."""
    ur, inv = np.unique(p.r[i], return_inverse=True)
    rec = p.frames["rec"]
    per = id_fits_record_array(rec["id_digits"].to_numpy(dtype=object)[ur], rec["year"].to_numpy()[ur],
                               rec["sex_p"].to_numpy(dtype=object)[ur])
    return per[inv]


# --------------------------------------------------------------------------- sex
def _sex_null(p: PairFrame) -> np.ndarray:
    return p.empty("rec", "sex_p") | p.empty("reg", "sex")


L = ComparisonLevel
#: every field's comparison, in the order of the gamma vector
COMPARISONS: tuple[Comparison, ...] = (
    Comparison("name", "Họ và tên", "Full name", null=_name_null, levels=(
        L("exact", "trùng khớp", "exact", equal("full_name", "full_name")),
        L("canonical", "khác dạng chữ, hoa thường hoặc khoảng trắng", "Unicode, case or spacing",
          equal("name_canon", "name_canon"), ("name:unicode_form", "name:case_spacing")),
        L("tone_placement", "khác vị trí dấu thanh", "tone-mark placement",
          equal("name_tone", "name_tone"), ("name:tone_placement",)),
        L("folded", "giống khi bỏ dấu", "same without diacritics",
          equal("name_fold", "name_fold"), ("name:no_diacritics", "name:diacritic_error")),
        L("reordered", "đảo thứ tự", "reordered", equal("name_sorted", "name_sorted"),
          ("name:order", "name:diacritic_error")),
        L("typo", "lỗi gõ", "typo", _name_typo, ("name:typo", "name:other")),
        L("missing_part", "thiếu hoặc thừa một phần", "part missing or added", _name_missing_part,
          ("name:missing_part",)),
        L("similar", "gần giống", "similar", _name_similar,
          ("name:typo", "name:other", "name:diacritic_error", "name:missing_part")),
        L("different", "khác", "different", None, ("name:other",)),
    )),
    Comparison("dob", "Ngày sinh", "Date of birth", null=_dob_null, levels=(
        L("exact", "trùng khớp", "exact", equal("dob", "dob")),
        L("same_date", "cùng ngày, khác định dạng", "same date, other format", _dob_same_date,
          ("dob:format", "dob:day_month_swap")),
        L("day_month_swap", "đảo ngày và tháng", "day and month swapped", _dob_day_month_swap,
          ("dob:day_month_swap",)),
        L("partial", "chỉ biết năm hoặc tháng", "only year or month known", _dob_partial, ("dob:partial",)),
        L("default_0101", "mặc định 01/01", "01/01 default", _dob_default_0101, ("dob:year_only_default",)),
        L("one_digit", "sai một chữ số", "one digit off", _dob_one_digit, ("dob:typo",)),
        L("same_year", "cùng năm", "same year", _dob_same_year, ("dob:other", "dob:typo")),
        L("different", "khác", "different", None, ("dob:other", "dob:typo")),
    )),
    Comparison("id", "Số CMND/CCCD", "ID number", null=_id_null, levels=(
        L("exact", "trùng khớp", "exact", equal("id_number", "person_id")),
        L("same_digits", "cùng dãy số", "same digits", equal("id_digits", "person_id"),
          ("id:malformed", "id:lost_leading_zero", "id:excel_mangled")),
        L("old_id", "số CMND cũ", "former CMND", _id_old, ("id:old_cmnd",)),
        L("excel_compatible", "khớp các chữ số Excel còn giữ", "fits the digits Excel kept", _id_excel_fits,
          ("id:excel_mangled",)),
        L("one_edit", "sai một chữ số", "one digit off", _id_one_edit, ("id:typo",)),
        L("transposition", "đảo hai chữ số", "two digits swapped", _id_transposition, ("id:transposition",)),
        L("truncated", "thiếu hoặc thừa chữ số", "digits cut or added", _id_truncated, ("id:malformed",)),
        L("other_consistent", "một số hợp lệ khác", "another valid number", _id_fits_record,
          ("id:other_person", "id:unknown")),
        L("different", "khác", "different", None, ("id:other_person", "id:unknown", "id:malformed")),
    )),
    Comparison("sex", "Giới tính", "Sex", null=_sex_null, levels=(
        L("same", "trùng khớp", "same", equal("sex_p", "sex")),
        L("different", "khác", "different", None, ("sex:mismatch",)),
    )),
    PROVINCE,  # the record's province of residence or facility against the register's
    # Dose history: the candidate's other records that are already settled (history_levels).
    Comparison("phone", "Số điện thoại", "Phone", levels=(
        L("same", "số người này đã dùng", "a number this person uses"),
        L("different", "khác", "different"),
    )),
    Comparison("dose", "Lịch sử mũi tiêm", "Dose history", levels=(
        L("compatible", "phù hợp", "compatible"),
        L("conflict", "mũi này đã tiêm vào ngày khác", "dose already given on another date"),
    )),
)
del L

#: field -> its comparison
BY_FIELD: dict[str, Comparison] = {c.field: c for c in COMPARISONS}
#: field -> level names in order (index = level code)
LEVELS: dict[str, tuple[str, ...]] = {c.field: c.names for c in COMPARISONS}
FIELDS = tuple(LEVELS)


def level_name(field: str, code: int) -> str:
    return "null" if code < 0 else LEVELS[field][code]


def compare_pairs(rec: pd.DataFrame, reg: pd.DataFrame, pairs: pd.DataFrame,
                  anchors: pd.DataFrame | None = None, cache: FrameCache | None = None) -> pd.DataFrame:
    """Level code (int8) per field for every pair (``rec``/``reg`` positions).

    The pairwise fields run their :data:`COMPARISONS` cascade; ``anchors``
    (certain links) enable the dose-history fields, which are null without them.
    ``cache`` (a :class:`~vaxlib.match.levels.FrameCache` of ``rec``, ``reg``)
    keeps what is derived from the frames alone for the next batch.
    """
    p = PairFrame(rec, reg, pairs["rec"].to_numpy(), pairs["reg"].to_numpy(), cache)
    out = {c.field: c.evaluate(p) for c in COMPARISONS if c.null is not None}
    hist = history_levels(rec, pairs, anchors, cache)
    out.update(phone=hist["phone"].to_numpy(), dose=hist["dose"].to_numpy())
    return pd.DataFrame(out, index=pairs.index)
