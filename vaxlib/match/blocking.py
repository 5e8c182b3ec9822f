"""Candidate generation (blocking): which registry persons to compare with each record.

Each rule is a pair of key functions (records, registry) -> Series of keys; a
record and a registry person sharing a non-empty key under any rule become a
candidate pair.  The rules are chosen so that the true person is found despite
any single-field error and most double errors (see :data:`RULES`):

======================  ====================================================
rule                    finds the person when …
======================  ====================================================
``id``                  the ID digits are right (also after a lost leading
                        zero or separators were repaired)
``old_id``              the former 9-digit CMND was typed
``id_pair_mask``        one digit is wrong or two adjacent digits are swapped
                        (the ID with each adjacent pair of positions masked)
``name_dob``            folded name and a full date agree (either reading of
                        an ambiguous dd/mm date)
``name_dob_swap``       folded name agrees and day and month were swapped
``name_year``           folded name and birth year agree (dob partial,
                        01/01 default, day or month typo)
``name_monthday``       folded name, month and day agree (year typo)
``sorted_year``         the name tokens were reordered
``famgiven_year``       a middle name was dropped or added
``given_dob``           the family or middle name has a typo
``family_dob``          the given name has a typo
======================  ====================================================

Blocks larger than ``max_block`` registry persons are skipped for that rule
(they carry no information and blow up the pair count).
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["RULES", "TEXT_RULES", "INT_RULES", "int_rule_keys", "record_columns", "registry_keys", "record_keys", "id_pair_mask_frames",
           "nonempty_keys", "registry_key_codes", "hashed_rule_keys", "candidate_pairs", "combine_pairs", "id_pair_mask_keys", "rule_names", "rule_pairs"]

log = logging.getLogger(__name__)

KeyFn = Callable[[pd.DataFrame], pd.Series]


def _cat(*parts: pd.Series) -> pd.Series:
    """Join key parts with '|'; the key is '' when any part is empty."""
    out = parts[0].astype(str)
    empty = out.eq("")
    for p in parts[1:]:
        p = p.astype(str)
        empty |= p.eq("") | p.eq("0")
        out = out + "|" + p
    return out.where(~empty, "")


def _year(df: pd.DataFrame) -> pd.Series:
    return df["year"].astype(str).where(df["year"] > 0, "")


def _monthday(df: pd.DataFrame) -> pd.Series:
    md = df["month"].astype(str) + "-" + df["day"].astype(str)
    return md.where((df["month"] > 0) & (df["day"] > 0), "")


def _full_dob(df: pd.DataFrame, col: str = "dob") -> pd.Series:
    s = df[col].astype(str)
    return s.where(s.str.len() == 10, "")


def _swapped(iso: pd.Series) -> pd.Series:
    ok = iso.str.len() == 10
    sw = iso.str.slice(0, 5) + iso.str.slice(8, 10) + "-" + iso.str.slice(5, 7)
    day = pd.to_numeric(iso.str.slice(8, 10), errors="coerce")
    return sw.where(ok & (day <= 12), "")


def _rec_id12(rec: pd.DataFrame) -> pd.Series:
    d = rec["id_digits"]
    return d.where(d.str.len() == 12, "")


def id_pair_mask_keys(ids: pd.Series) -> pd.DataFrame:
    """For 12-digit IDs, one int64 key per adjacent position pair with both digits masked.

    A single substituted digit at position i survives the masks (i-1, i) and
    (i, i+1); a swap of positions i, i+1 survives mask (i, i+1).  Keys carry
    the mask position so that different masks never collide.
    """
    valid, num = _id12_numbers(ids)
    cols = {}
    for i in range(11):
        hi = 10 ** (11 - i)  # place value of digit i (0 = leftmost)
        lo = 10 ** (10 - i)
        d_i = (num // hi) % 10
        d_j = (num // lo) % 10
        masked = num - d_i * hi - d_j * lo
        key = masked * 16 + i + 1
        cols[f"m{i}"] = np.where(valid, key, 0)
    return pd.DataFrame(cols, index=ids.index)


def _id12_numbers_pandas(ids: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(12 digits, int64 value or 0): the definition :func:`_id12_numbers` follows."""
    valid = ids.str.len().eq(12) & ids.str.isdigit()
    num = pd.to_numeric(ids.where(valid, "0"), errors="coerce").fillna(0).astype(np.int64).to_numpy()
    return valid, num


def _id12_numbers(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(the value has 12 digits, its int64 value or 0) of every ID: ASCII digits read by Arrow;
    other digits (``str.isdigit`` is Unicode's) take the pandas definition."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = ids.to_numpy(dtype=object)
    try:
        arr = pa.array(values, type=pa.large_string())
    except (pa.ArrowException, UnicodeError, TypeError):  # not text, or text Arrow cannot hold
        valid, num = _id12_numbers_pandas(ids)
        return valid.to_numpy(dtype=bool), num
    if arr.null_count:
        valid, num = _id12_numbers_pandas(ids)
        return valid.to_numpy(dtype=bool), num
    ascii12 = pc.match_substring_regex(arr, r"^[0-9]{12}$")
    num = pc.cast(pc.if_else(ascii12, arr, "0"), pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)
    valid = ascii12.to_numpy(zero_copy_only=False).astype(bool)
    odd = np.flatnonzero((pc.utf8_length(arr).to_numpy(zero_copy_only=False) == 12) & ~valid)
    if len(odd):
        v, n = _id12_numbers_pandas(ids.iloc[odd])
        valid[odd], num[odd] = v.to_numpy(dtype=bool), n
    return valid, num


def _rules() -> dict[str, tuple[KeyFn, KeyFn]]:
    return {
        "id": (_rec_id12, lambda g: g["person_id"]),
        "old_id": (
            lambda r: r["id_digits"].where(r["id_digits"].str.len() == 9, ""),
            lambda g: g["old_id"],
        ),
        "name_dob": (lambda r: _cat(r["name_fold"], r["dob_r0"].where(r["dob_r0"].str.len() == 10, "")),
                     lambda g: _cat(g["name_fold"], _full_dob(g))),
        "name_dob_r1": (lambda r: _cat(r["name_fold"], r["dob_r1"].where(r["dob_r1"].str.len() == 10, "")),
                        lambda g: _cat(g["name_fold"], _full_dob(g))),
        "name_dob_swap": (lambda r: _cat(r["name_fold"], _swapped(r["dob_r0"])),
                          lambda g: _cat(g["name_fold"], _full_dob(g))),
        "name_year": (lambda r: _cat(r["name_fold"], _year(r)), lambda g: _cat(g["name_fold"], _year(g))),
        "name_monthday": (lambda r: _cat(r["name_fold"], _monthday(r)),
                          lambda g: _cat(g["name_fold"], _monthday(g))),
        "sorted_year": (lambda r: _cat(r["name_sorted"], _year(r)), lambda g: _cat(g["name_sorted"], _year(g))),
        "famgiven_year": (lambda r: _cat(r["fam_given"], _year(r)), lambda g: _cat(g["fam_given"], _year(g))),
        "given_dob": (lambda r: _cat(r["given"], r["dob_r0"].where(r["dob_r0"].str.len() == 10, "")),
                      lambda g: _cat(g["given"], _full_dob(g))),
        "family_dob": (lambda r: _cat(r["family"], r["dob_r0"].where(r["dob_r0"].str.len() == 10, "")),
                       lambda g: _cat(g["family"], _full_dob(g))),
    }


RULES: tuple[str, ...] = tuple(_rules()) + ("id_pair_mask",)


def _nonempty(keys: pd.Series) -> np.ndarray:
    """Keys that are neither "" nor 0 (numeric keys are never "", text keys never 0)."""
    if pd.api.types.is_numeric_dtype(keys.dtype):
        return keys.ne(0).to_numpy()
    if keys.dtype == object:
        return (keys.ne("") & keys.ne(0)).to_numpy()
    return keys.ne("").to_numpy(dtype=bool, na_value=True)


def _sorted_join(r_codes: np.ndarray, r_pos: np.ndarray, g_codes: np.ndarray, g_pos: np.ndarray,
                 n_codes: int) -> pd.DataFrame:
    """Pairs of positions with equal integer codes (dense, ``0 <= code < n_codes``), in
    record order and, within a record, in registry order (the order of an inner hash
    join): the registry side grouped by code with a counting sort, then each record's
    range read off the group offsets (no search)."""
    order = np.argsort(g_codes, kind="stable")
    size = np.bincount(g_codes, minlength=n_codes)
    start = np.cumsum(size) - size
    cnt = size[r_codes]
    lo = start[r_codes]
    total = int(cnt.sum())
    q = np.repeat(np.arange(len(r_codes)), cnt)
    at = np.repeat(lo, cnt) + np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return pd.DataFrame({"rec": r_pos[q], "reg": g_pos[order][at]})


def _keyed_join(rk: np.ndarray, r_pos: np.ndarray, gk: np.ndarray, g_pos: np.ndarray,
                max_block: int) -> pd.DataFrame:
    """Pairs of positions whose (non-empty) keys are equal, registry blocks larger than
    ``max_block`` left out; in record order and, within a record, in registry order.

    The smaller side's keys are hashed and the other side's looked up among them: only keys
    both sides hold make pairs, and a block's size is the same counted either way, so the
    pairs do not depend on which side is hashed."""
    if len(rk) == 0 or len(gk) == 0:
        return pd.DataFrame({"rec": np.array([], dtype=np.int64), "reg": np.array([], dtype=np.int64)})
    if len(gk) <= len(rk):
        g_codes, uniq = pd.factorize(gk)
        r_codes = pd.Index(uniq).get_indexer(rk)
    else:
        r_codes, uniq = pd.factorize(rk)
        g_codes = pd.Index(uniq).get_indexer(gk)
    r_found, g_found = r_codes >= 0, g_codes >= 0
    r_codes, r_pos = r_codes[r_found].astype(np.int64), r_pos[r_found]
    g_codes, g_pos = g_codes[g_found].astype(np.int64), g_pos[g_found]
    sizes = np.bincount(g_codes, minlength=len(uniq))
    keep_g = sizes[g_codes] <= max_block
    return _sorted_join(r_codes, r_pos, g_codes[keep_g], g_pos[keep_g], len(uniq))


def _join(rec_keys: pd.Series, reg_keys: pd.Series, max_block: int) -> pd.DataFrame:
    """Pairs (rec, reg) of positions whose keys are equal and non-empty."""
    rk = rec_keys[_nonempty(rec_keys)]
    gk = reg_keys[_nonempty(reg_keys)]
    if rk.dtype != gk.dtype:  # keys of two kinds: compared as one column, as concat does
        both = pd.concat([gk, rk], ignore_index=True)
        gk = pd.Series(both.to_numpy()[: len(gk)], index=gk.index, dtype=both.dtype)
        rk = pd.Series(both.to_numpy()[len(gk):], index=rk.index, dtype=both.dtype)
    return _keyed_join(rk.to_numpy(), rk.index.to_numpy(dtype=np.int64), gk.to_numpy(),
                       gk.index.to_numpy(dtype=np.int64), max_block)


def _join_coded(rec_keys: pd.Series, reg_codes: np.ndarray, dictionary, max_block: int) -> pd.DataFrame:
    """:func:`_join` against registry keys stored as integer codes into ``dictionary``
    (an Arrow array of the distinct non-empty registry keys; code -1 = no key)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rk = rec_keys[_nonempty(rec_keys)]
    ok = reg_codes >= 0
    if rk.empty or not ok.any():
        return pd.DataFrame({"rec": np.array([], dtype=np.int64), "reg": np.array([], dtype=np.int64)})
    # keys built by pandas' Arrow-backed str dtype go to Arrow without a round trip through Python objects
    arr = pa.array(rk) if hasattr(rk.array, "__arrow_array__") else pa.array(rk.to_numpy(dtype=object))
    r_codes = pc.index_in(arr.cast(dictionary.type), value_set=dictionary).fill_null(-1).to_numpy(
        zero_copy_only=False)
    found = r_codes >= 0
    g_pos = np.flatnonzero(ok)
    g_codes = reg_codes[ok]
    sizes = np.bincount(g_codes, minlength=len(dictionary))
    keep_g = sizes[g_codes] <= max_block
    return _sorted_join(r_codes[found].astype(np.int64), rk.index.to_numpy(dtype=np.int64)[found],
                        g_codes[keep_g].astype(np.int64), g_pos[keep_g].astype(np.int64), len(dictionary))


# --------------------------------------------------------------------------- integer keys
#: rule -> (record parts, registry parts).  A part is a column of a code domain
#: (:mod:`vaxlib.match.codes`) with the condition under which it is a key
#: ("any": not empty, "len10"/"len12"/"len9": a value of that length), or
#: "swap" (the record's date with day and month exchanged, day <= 12), "year"
#: (birth year > 0) or "monthday" (month and day > 0).  A key is the parts'
#: integer codes combined; it is empty when any part is, as the text key
#: ``part|part`` of :func:`_rules` is.
INT_RULES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "id": ((("id_digits", "len12"),), (("person_id", "any"),)),
    "old_id": ((("id_digits", "len9"),), (("old_id", "any"),)),
    "name_dob": ((("name_fold", "any"), ("dob_r0", "len10")), (("name_fold", "any"), ("dob", "len10"))),
    "name_dob_r1": ((("name_fold", "any"), ("dob_r1", "len10")), (("name_fold", "any"), ("dob", "len10"))),
    "name_dob_swap": ((("name_fold", "any"), ("dob_r0", "swap")), (("name_fold", "any"), ("dob", "len10"))),
    "name_year": ((("name_fold", "any"), ("", "year")), (("name_fold", "any"), ("", "year"))),
    "name_monthday": ((("name_fold", "any"), ("", "monthday")), (("name_fold", "any"), ("", "monthday"))),
    "sorted_year": ((("name_sorted", "any"), ("", "year")), (("name_sorted", "any"), ("", "year"))),
    "famgiven_year": ((("fam_given", "any"), ("", "year")), (("fam_given", "any"), ("", "year"))),
    "given_dob": ((("given", "any"), ("dob_r0", "len10")), (("given", "any"), ("dob", "len10"))),
    "family_dob": ((("family", "any"), ("dob_r0", "len10")), (("family", "any"), ("dob", "len10"))),
}
_WANT_LEN = {"len9": 9, "len10": 10, "len12": 12}


def record_columns(rec: pd.DataFrame) -> list[str]:
    """The columns of prepared records that the rules read (with their code columns): a frame
    of these alone gives the same pairs."""
    from vaxlib.match.codes import DOMAINS, PREFIX, domain_of

    cols = {"id_digits", "year", "month", "day"}
    for rec_parts, _ in INT_RULES.values():
        for col, _ in rec_parts:
            if col:
                cols.update(DOMAINS[domain_of("rec", col)][0])
    cols |= {PREFIX + c for c in cols}
    return [c for c in rec.columns if c in cols]


class _Coded:
    """Code columns of a (records, registry) pair of frames (:mod:`vaxlib.match.codes`), and the
    registry's distinct values per domain.  Keys only take registry codes: a record value the
    registry does not hold can match nothing, and its key part is empty."""

    def __init__(self, rec: pd.DataFrame | None, reg: pd.DataFrame, cache=None):
        self.frames = {"rec": rec, "reg": reg}
        self._codes: dict = {}
        # what depends on the registry alone is shared by every call with a FrameCache of this registry
        self._registry: dict = (cache.values.setdefault(("blocking", "registry"), {})
                                if cache is not None and cache.reg is reg else {})
        self._values: dict = self._registry.setdefault("values", {})

    def registry_memo(self, key, make):
        """``make()`` of the registry alone, once per FrameCache (or per instance)."""
        if key not in self._registry:
            self._registry[key] = make()
        return self._registry[key]

    def code(self, side: str, col: str) -> np.ndarray:
        from vaxlib.match.codes import PREFIX, domain_codes, domain_of

        frame = self.frames[side]
        if PREFIX + col in frame.columns:
            return frame[PREFIX + col].to_numpy()
        dom = domain_of(side, col)
        if (side, dom) not in self._codes:
            self._codes[(side, dom)] = domain_codes(self.frames["rec"] if side == "rec" else None,
                                                    self.frames["reg"], dom)
        return self._codes[(side, dom)][(side, col)]

    def registry_values(self, domain: str) -> np.ndarray:
        """The registry's distinct values of ``domain``, index = code."""
        from vaxlib.match.codes import DOMAINS, dictionary

        if domain not in self._values:
            reg = self.frames["reg"]
            self._values[domain] = dictionary([(self.code("reg", c), reg[c].to_numpy(dtype=object))
                                               for c in DOMAINS[domain][1] if c in reg.columns])
        return self._values[domain]


#: radix of the year and month-day key parts
_YEARS, _MONTHDAYS = 10_000, 100 * 100


def _part(c: _Coded, side: str, col: str, cond: str) -> tuple[np.ndarray, int]:
    """(int64 value with -1 where the part is empty, radix) of one key part."""
    from vaxlib.match.codes import domain_of

    f = c.frames[side]
    if cond == "year":
        y = f["year"].to_numpy().astype(np.int64)
        return np.where((y > 0) & (y < _YEARS), y, -1), _YEARS
    if cond == "monthday":
        m, d = f["month"].to_numpy().astype(np.int64), f["day"].to_numpy().astype(np.int64)
        return np.where((m > 0) & (d > 0) & (m < 100) & (d < 100), m * 100 + d, -1), _MONTHDAYS
    dom = domain_of(side, col)
    values = c.registry_values(dom)
    n = len(values)
    codes = c.code(side, col).astype(np.int64)
    if cond == "swap":
        # the swapped date's registry code (-1: no registry person has that date)
        from vaxlib.match.compare import _swap_iso

        # (the typed date itself need not be a registry date: its text is read from the frame)
        used, first = np.unique(codes, return_index=True)
        sw = _swap_iso(f[col].to_numpy(dtype=object)[first])
        at = np.where(sw != "", pd.Index(values).get_indexer(sw), -1)
        return at[np.searchsorted(used, codes)], n
    def make_ok():
        if cond == "any":
            ok = values != ""
        else:
            ok = np.fromiter(map(len, values), np.int64, count=n) == _WANT_LEN[cond]
        return np.append(ok, False)  # codes >= n: a value the registry does not hold
    ok = c.registry_memo(("ok", dom, cond), make_ok)
    return np.where(ok[np.minimum(codes, n)], codes, -1), n


def int_rule_keys(c: _Coded, side: str, name: str) -> np.ndarray:
    """int64 keys of one side under rule ``name`` (-1: no key); equal keys are equal text keys."""
    key, empty = None, None
    for col, cond in INT_RULES[name][0 if side == "rec" else 1]:
        v, n = _part(c, side, col, cond)
        if key is None:
            key, empty = v, v < 0
        else:
            key, empty = key * n + np.maximum(v, 0), empty | (v < 0)
    return np.where(empty, -1, key)


#: hash keys of the two independent 64-bit chains of :func:`hashed_rule_keys` (SipHash keys, 16 bytes)
_HASH_KEYS = ("vaxlib-blockingA", "vaxlib-blockingB")
#: odd multiplier folding a chain with the next key part (invertible mod 2**64: distinct parts stay distinct)
_FOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(v: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mix of each value (pandas' integer hash, the same in every process)."""
    return pd.util.hash_array(v.astype(np.uint64), categorize=False)


def _text_part_hashes(values: np.ndarray, cond: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(part present, chain-A hash, chain-B hash) of a text key part, hashed once per distinct value."""
    codes, uniq = pd.factorize(values)
    uniq = np.asarray(uniq, dtype=object)
    if cond == "swap":
        from vaxlib.match.compare import _swap_iso

        uniq = _swap_iso(uniq)
        ok = uniq != ""
    elif cond == "any":
        ok = uniq != ""
    else:
        ok = np.fromiter(map(len, uniq), np.int64, count=len(uniq)) == _WANT_LEN[cond]
    ha, hb = (pd.util.hash_array(uniq, categorize=False, hash_key=k) if len(uniq) else np.zeros(0, np.uint64)
              for k in _HASH_KEYS)
    found = codes >= 0
    at = np.maximum(codes, 0)
    return found & ok[at] if len(uniq) else found, ha[at] if len(uniq) else np.zeros(len(codes), np.uint64), \
        hb[at] if len(uniq) else np.zeros(len(codes), np.uint64)


def hashed_rule_keys(frame: pd.DataFrame, side: str, name: str,
                     memo: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keys of one side under text rule ``name`` that compare equal across frames: (has a key,
    chain-A uint64, chain-B uint64).  Equal keys of :func:`int_rule_keys` (same parts of
    :data:`INT_RULES`, same conditions) have equal hashes; two different keys share both 64-bit
    chains with probability about 2**-128.  Unlike the integer keys these need no codes shared
    by the two frames, so a partitioned engine can send them to ``hash mod P`` and join there.
    ``memo`` (one dict per frame): the text parts already hashed for other rules of this frame
    (the folded name is a part of five rules, the date of birth of five)."""
    n = len(frame)
    ok = np.ones(n, dtype=bool)
    acc = [np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)]
    for col, cond in INT_RULES[name][0 if side == "rec" else 1]:
        if cond == "year":
            y = frame["year"].to_numpy().astype(np.int64)
            good, v = (y > 0) & (y < _YEARS), y
            parts = (v, v)
        elif cond == "monthday":
            m, d = frame["month"].to_numpy().astype(np.int64), frame["day"].to_numpy().astype(np.int64)
            good, v = (m > 0) & (d > 0) & (m < 100) & (d < 100), m * 100 + d
            parts = (v, v)
        elif memo is not None:
            if (col, cond) not in memo:
                memo[(col, cond)] = _text_part_hashes(frame[col].to_numpy(dtype=object), cond)
            good, ha, hb = memo[(col, cond)]
            parts = (ha, hb)
        else:
            good, ha, hb = _text_part_hashes(frame[col].to_numpy(dtype=object), cond)
            parts = (ha, hb)
        ok &= good
        with np.errstate(over="ignore"):
            acc = [_mix(a * _FOLD + np.asarray(v).astype(np.uint64)) for a, v in zip(acc, parts)]
    return ok, acc[0], acc[1]


def _join_int(rk: np.ndarray, r_pos: np.ndarray, gk: np.ndarray, max_block: int) -> pd.DataFrame:
    """Pairs (rec, reg) of positions whose int64 keys are equal and not -1."""
    r_ok, g_ok = rk >= 0, gk >= 0
    return _keyed_join(rk[r_ok], r_pos[r_ok], gk[g_ok], np.flatnonzero(g_ok).astype(np.int64), max_block)


def registry_key_codes(reg: pd.DataFrame) -> dict:
    """Per text rule: the registry's int64 keys (-1 = no key), as a registry index stores them.

    They are a function of the registry alone (its code columns, :func:`vaxlib.match.codes.registry_codes`)."""
    c = _Coded(None, reg)
    return {name: int_rule_keys(c, "reg", name) for name in TEXT_RULES}


#: rules whose registry keys a registry index stores (the ID pair masks are cheap integers)
TEXT_RULES: tuple[str, ...] = tuple(_rules())


def registry_keys(reg: pd.DataFrame, name: str) -> pd.Series:
    """The registry's text keys under a rule (the definition the integer keys follow)."""
    return _rules()[name][1](reg)


def rule_pairs(rec: pd.DataFrame, reg: pd.DataFrame, name: str, max_block: int = 100,
               keys: dict | None = None, cache=None) -> pd.DataFrame:
    """Pairs (``rec``, ``reg``, ``rule_bit``) proposed by one rule of :data:`RULES`.

    Keys are integers built from the frames' shared codes (:mod:`vaxlib.match.codes`);
    ``keys`` (from :func:`registry_key_codes`, kept in a registry index) spares
    computing the registry's.  ``cache`` (a :class:`~vaxlib.match.levels.FrameCache`
    whose registry is ``reg``; its records may be others) keeps what is derived from
    the registry alone for the next rule.
    """
    if name == "id_pair_mask":
        rk = id_pair_mask_keys(_rec_id12(rec))
        gk = _Coded(None, reg, cache).registry_memo("id_pair_mask", lambda: id_pair_mask_keys(reg["person_id"]))
        parts = [_join(rk[c], gk[c], max_block=max_block) for c in rk.columns]
        pairs = pd.concat(parts, ignore_index=True)
    else:
        c = _Coded(rec, reg, cache)
        gk = keys[name] if keys is not None and name in keys else int_rule_keys(c, "reg", name)
        pairs = _join_int(int_rule_keys(c, "rec", name), rec.index.to_numpy(dtype=np.int64), gk, max_block)
    pairs["rule_bit"] = np.int32(1 << RULES.index(name))
    log.debug("blocking rule %s: %d pairs", name, len(pairs))
    return pairs


def combine_pairs(found: list[pd.DataFrame]) -> pd.DataFrame:
    """Deduplicated pairs with the bitmask of their rules, from :func:`rule_pairs` results in rule order."""
    rec = np.concatenate([f["rec"].to_numpy(dtype=np.int64) for f in found]) if found else np.zeros(0, np.int64)
    reg = np.concatenate([f["reg"].to_numpy(dtype=np.int64) for f in found]) if found else np.zeros(0, np.int64)
    bit = np.concatenate([f["rule_bit"].to_numpy(dtype=np.int64) for f in found]) if found else np.zeros(0, np.int64)
    width = int(reg.max()) + 1 if len(reg) else 1
    # one code per (rec, reg) in order of first appearance; rules OR-ed bit by bit
    codes, uniques = pd.factorize(rec * width + reg)
    rules = np.zeros(len(uniques), dtype=np.int64)
    np.bitwise_or.at(rules, codes, bit)
    return pd.DataFrame({"rec": (uniques // width).astype(np.int64), "reg": (uniques % width).astype(np.int64),
                         "rules": rules.astype(np.int32)})


def candidate_pairs(
    rec: pd.DataFrame,
    reg: pd.DataFrame,
    rules: tuple[str, ...] | None = None,
    max_block: int = 100,
    rule_max_block: dict[str, int] | None = None,
    keys: dict | None = None,
    cache=None,
) -> pd.DataFrame:
    """All candidate pairs under ``rules`` (default: all), deduplicated.

    ``rule_max_block`` lowers the block cap of single rules (broad keys such as
    family name + given name + birth year make large blocks of look-alikes).
    Returns a DataFrame with ``rec`` and ``reg`` positions and ``rules``, a
    bitmask of the rules (positions in :data:`RULES`) that proposed the pair.
    ``cache``: as :func:`rule_pairs`.
    """
    wanted = rules or RULES
    caps = rule_max_block or {}
    return combine_pairs([rule_pairs(rec, reg, name, min(max_block, caps.get(name, max_block)), keys, cache)
                          for name in wanted])


def rule_names(bits: int) -> list[str]:
    """Names of the rules set in a ``rules`` bitmask."""
    return [name for i, name in enumerate(RULES) if bits & (1 << i)]


def nonempty_keys(keys: pd.Series) -> np.ndarray:
    """Keys that are neither "" nor 0 (as the joins read them)."""
    return _nonempty(keys)


def record_keys(rec: pd.DataFrame, name: str) -> pd.Series:
    """The prepared records' text keys under a rule ("" = no key)."""
    return _rules()[name][0](rec)


def id_pair_mask_frames(rec: pd.DataFrame, reg: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The records' and the registry's :func:`id_pair_mask_keys` (one column per masked position; 0 = no key)."""
    return id_pair_mask_keys(_rec_id12(rec)), id_pair_mask_keys(reg["person_id"])
