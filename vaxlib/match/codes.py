"""Integer codes for the text fields the matcher compares, shared by the registry and the records.

Every text column that a comparison level or a blocking rule compares with a
column of the other side belongs to a *domain* (:data:`DOMAINS`): the registry's
values of a domain are numbered 0..K-1 (in order of first appearance), and a
record's value takes the registry's number when the registry holds it, or a
number from K on when it does not (equal record values share one number).  Two
values are then equal exactly when their codes are, so equality levels and
blocking joins compare integers, and whatever is derived from a value (its
length, its characters, its swapped date) is computed once per distinct value
and gathered by code.

The codes are plain int32 columns of the two frames (``_c_<column>``), a
function of (records, registry) alone: a records partition is coded against
the (broadcast) registry it is matched with.  Codes from different
(records, registry) calls are not comparable.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DOMAINS", "PREFIX", "domain_of", "add_codes", "registry_codes", "domain_codes", "dictionary",
           "RECORD_ONLY", "add_record_codes"]

#: domain -> (record columns, registry columns) whose values are compared with each other
DOMAINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "full_name": (("full_name",), ("full_name",)),
    "name_canon": (("name_canon",), ("name_canon",)),
    "name_tone": (("name_tone",), ("name_tone",)),
    "name_fold": (("name_fold",), ("name_fold",)),
    "name_sorted": (("name_sorted",), ("name_sorted",)),
    "given": (("given",), ("given",)),
    "family": (("family",), ("family",)),
    "fam_given": (("fam_given",), ("fam_given",)),
    "dob": (("dob", "dob_r0", "dob_r1"), ("dob",)),
    "id": (("id_number", "id_digits", "id_raw_digits"), ("person_id", "old_id")),
    "sex": (("sex_p",), ("sex",)),
}
#: prefix of the code columns added to the frames
PREFIX = "_c_"
#: record columns no registry column shares, coded on their own (``-1``: the empty value):
#: the phone keys own-history groups and the dose-history phone level
RECORD_ONLY = ("phone_n",)

_BY_COLUMN = {(side, col): dom for dom, cols in DOMAINS.items()
              for side, names in zip(("rec", "reg"), cols) for col in names}


def domain_of(side: str, column: str) -> str | None:
    """The domain of a record (``side="rec"``) or registry (``"reg"``) column; None when it has none."""
    return _BY_COLUMN.get((side, column))


def _objects(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].to_numpy(dtype=object)


def _registry_side(reg: pd.DataFrame, cols: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(codes per registry column, the registry's distinct values in code order); the frame's
    code columns are reused when it has them (a registry index stores them)."""
    if all(PREFIX + c in reg.columns for c in cols):
        codes = {c: reg[PREFIX + c].to_numpy() for c in cols}
        return codes, dictionary([(codes[c], _objects(reg, c)) for c in cols])
    g = np.concatenate([_objects(reg, c) for c in cols])
    g_codes, g_uniq = pd.factorize(g)
    n = len(reg)
    return ({c: g_codes[k * n: (k + 1) * n].astype(np.int32) for k, c in enumerate(cols)},
            np.asarray(g_uniq, dtype=object))


def domain_codes(rec: pd.DataFrame | None, reg: pd.DataFrame, domain: str,
                 dicts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> dict[tuple[str, str], np.ndarray]:
    """Codes (int32) of every column of ``domain`` present in the frames, keyed by (side, column).

    The registry's columns are factorised together (first appearance order);
    the records' distinct values are looked up among the registry's, and the
    others numbered after them.  ``rec`` None: the registry's codes alone.
    """
    rec_cols, reg_cols = DOMAINS[domain]
    reg_cols = [c for c in reg_cols if c in reg.columns]
    out: dict[tuple[str, str], np.ndarray] = {}
    known = np.zeros(0, dtype=object)
    if reg_cols:
        codes, known = _registry_side(reg, reg_cols)
        out.update({("reg", c): v for c, v in codes.items()})
    rec_cols = [c for c in rec_cols if c in rec.columns] if rec is not None else []
    if rec_cols:
        if dicts is not None and all(c in dicts for c in rec_cols):
            out.update({("rec", c): v for c, v in zip(rec_cols, _record_side_coded([dicts[c] for c in rec_cols],
                                                                                    known))})
            return out
        r_codes, to = _record_side([_objects(rec, c) for c in rec_cols], known)
        new = to < 0
        to[new] = len(known) + np.arange(int(new.sum()))
        r_codes = to[r_codes].astype(np.int32)
        for k, c in enumerate(rec_cols):
            out[("rec", c)] = r_codes[k * len(rec): (k + 1) * len(rec)]
    return out


def _record_side(columns: list[np.ndarray], known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code of each value among the distinct values, each distinct value's registry code or -1).

    Arrow's dictionary encoding and set lookup hash the UTF-8 bytes in C (2-3x faster than
    hashing Python strings at 2.4 M records); text Arrow cannot hold (lone surrogates) takes
    the pandas path, which gives the same equalities.
    """
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.concat_arrays([pa.array(c, type=pa.large_string()) for c in columns])
        enc = arr.dictionary_encode()
        at = pc.index_in(enc.dictionary, value_set=pa.array(known, type=pa.large_string()))
        return (enc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                at.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64))
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        r_codes, r_uniq = pd.factorize(np.concatenate(columns))
        return r_codes, pd.Index(known, dtype=object).get_indexer(pd.Index(r_uniq, dtype=object))


def _record_side_coded(columns: list[tuple[np.ndarray, ...]], known: np.ndarray) -> list[np.ndarray]:
    """The int32 codes of each column given as (row codes, per-code values[, per-code registry
    codes]): the codes :func:`_record_side` gives from the rows (a registry value takes the
    registry's code, the others ``len(known)`` on in order of first appearance along the
    concatenated columns), found per value instead of per row.

    A column's values may repeat (two typed names with one folded form) or be unused by any
    row.  A value whose registry code is already known (a third array, -1 where unknown:
    names the registry holds, taken from its index) is not hashed at all.  The others are
    looked up among the registry's values first, all at once (most typed values are a
    registry's: 3.3M ID values at 1M persons), and only the few the registry lacks are
    numbered among themselves.
    """
    n = len(columns[0][0]) if columns else 0
    never = np.iinfo(np.int64).max
    firsts, offsets, hints, total = [], [], [], 0
    for k, (codes, values, *hint) in enumerate(columns):
        first = np.full(len(values), never, dtype=np.int64)
        rows = np.arange(k * n + len(codes) - 1, k * n - 1, -1, dtype=np.int64)
        first[codes[::-1]] = rows  # the last write wins: each value's first row
        firsts.append(first)
        offsets.append(total)
        hints.append(np.asarray(hint[0], dtype=np.int64) if hint else np.full(len(values), -1, dtype=np.int64))
        total += len(values)
    values = np.concatenate([np.asarray(c[1], dtype=object) for c in columns])
    first = np.concatenate(firsts)
    code = np.concatenate(hints)
    alias = _same_entries(columns, offsets, total, code)
    open_ = np.flatnonzero((code < 0) & (alias < 0))
    code[open_] = _positions(known, values[open_])
    unknown = open_[code[open_] < 0]
    d_codes, d_uniq = _factorize_text(values[unknown])
    d_first = np.full(len(d_uniq), never, dtype=np.int64)
    np.minimum.at(d_first, d_codes, first[unknown])
    used = np.flatnonzero(d_first < never)
    used = used[np.argsort(d_first[used], kind="stable")]  # first appearance order
    rank = np.full(len(d_uniq), -1, dtype=np.int64)
    rank[used] = np.arange(len(used))
    code[unknown] = np.where(rank[d_codes] >= 0, len(known) + rank[d_codes], -1)  # -1: a value no row uses
    aliased = np.flatnonzero(alias >= 0)
    code[aliased] = code[alias[aliased]]
    code = code.astype(np.int32)
    return [code[off: off + len(c[1])][c[0]] for off, c in zip(offsets, columns)]


def _same_entries(columns: list[tuple[np.ndarray, ...]], offsets: list[int], total: int,
                  hint: np.ndarray) -> np.ndarray:
    """Per entry of the concatenated per-value tables: an earlier entry holding the same text
    at the same place of a column with the very same row codes, or -1.

    Columns derived from one typed column (``id_digits`` and ``id_raw_digits`` beside
    ``id_number``: one table entry per typed ID) share its row codes and mostly its text;
    such an entry takes the earlier entry's code instead of being looked up again.  The
    earlier entry is used by the same rows in an earlier column, so the order of first
    appearance does not change.  Entries with a ``hint`` (a known registry code) keep it.
    """
    alias = np.full(total, -1, dtype=np.int64)
    for k in range(1, len(columns)):
        ck = columns[k]
        for j in range(k):
            cj = columns[j]
            if cj[0] is not ck[0] or len(cj[1]) != len(ck[1]):
                continue
            same = np.asarray(np.asarray(ck[1], dtype=object) == np.asarray(cj[1], dtype=object), dtype=bool)
            here = offsets[k] + np.flatnonzero(same & (alias[offsets[k]: offsets[k] + len(ck[1])] < 0))
            here = here[hint[here] < 0]
            there = here - offsets[k] + offsets[j]
            alias[here] = np.where(alias[there] >= 0, alias[there], there)  # the first entry of a chain
    return alias


def _positions(known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The position of each of ``values`` (repeats allowed) among the distinct ``known``, or -1."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if 4 * len(values) >= len(known):
        return _lookup(known, values)  # Arrow's path takes repeated values as they are
    codes, uniq = pd.factorize(values)
    return _lookup(known, np.asarray(uniq, dtype=object))[codes]


def _factorize_text(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of an object array of str (codes in first-appearance order, the distinct
    values), hashed in C on Arrow's UTF-8 (several times faster than hashing Python strings);
    text Arrow cannot hold (a lone surrogate) takes the pandas path, with the same answer."""
    import pyarrow as pa

    try:
        enc = pa.array(values, type=pa.large_string()).dictionary_encode()
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        codes, uniques = pd.factorize(values)
        return codes.astype(np.int64), np.asarray(uniques, dtype=object)
    return (enc.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            enc.dictionary.to_numpy(zero_copy_only=False))


def _lookup(known: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The position of each of the distinct ``values`` in ``known`` (distinct where not None), or -1.

    Many values: Arrow's set lookup, hashed in C; a few values against a large registry:
    hash the few and probe with the registry's strings (their hashes are cached).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if 4 * len(values) >= len(known):
        try:
            at = pc.index_in(pa.array(values, type=pa.large_string()),
                             value_set=pa.array(known, type=pa.large_string(), from_pandas=True))
            return at.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        except (pa.ArrowException, UnicodeError, TypeError, ValueError):
            return pd.Index(known, dtype=object).get_indexer(pd.Index(values, dtype=object)).astype(np.int64)
    out = np.full(len(values), -1, dtype=np.int64)
    at = pd.Index(values, dtype=object).get_indexer(pd.Index(known, dtype=object))
    hit = np.flatnonzero(at >= 0)[::-1]  # reversed: the first registry code wins, as get_indexer's
    out[at[hit]] = hit
    return out


def registry_codes(reg: pd.DataFrame) -> None:
    """Add the registry's ``_c_<column>`` code columns (a function of the registry alone), in place."""
    for domain in DOMAINS:
        for (_, col), codes in domain_codes(None, reg, domain).items():
            reg[PREFIX + col] = codes


def add_codes(rec: pd.DataFrame, reg: pd.DataFrame, domains=None,
              dicts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """Add the ``_c_<column>`` code columns of ``domains`` (default: all) to both frames, in place
    (the registry's are kept when it has them); ``dicts`` as in :func:`domain_codes`."""
    for domain in domains or DOMAINS:
        for (side, col), codes in domain_codes(rec, reg, domain, dicts).items():
            frame = rec if side == "rec" else reg
            if side == "rec" or PREFIX + col not in frame.columns:
                frame[PREFIX + col] = codes


def add_record_codes(rec: pd.DataFrame, dicts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """Add the ``_c_<column>`` codes of :data:`RECORD_ONLY` to the records, in place: equal values
    share a code, ``""`` is ``-1``.  From ``dicts`` (prepare's per-value tables) when it holds the
    column, so only distinct values are hashed."""
    for col in RECORD_ONLY:
        if col not in rec.columns:
            continue
        if dicts and col in dicts:
            codes, table = dicts[col][0], dicts[col][1]
            per_value, uniq = pd.factorize(np.asarray(table, dtype=object))
            blank = np.flatnonzero(np.asarray(uniq, dtype=object) == "")
            per_value = np.where(np.isin(per_value, blank), -1, per_value)
            rec[PREFIX + col] = per_value[codes].astype(np.int32)
        else:
            values = rec[col].to_numpy(dtype=object)
            rec[PREFIX + col] = np.where(values == "", -1, pd.factorize(values)[0]).astype(np.int32)


def dictionary(columns: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The value of every code, from (codes, values) of the columns that use them.

    The columns of one domain hold equal text under equal codes, so each code's value is taken
    from the first column that uses it (the columns after it only fill the codes still open:
    the registry's ID columns and the records' three hold mostly the same numbers)."""
    n = max((int(c.max()) + 1 for c, _ in columns if len(c)), default=0)
    out = np.empty(n, dtype=object)
    filled = np.zeros(n, dtype=bool)
    for codes, values in columns:
        if len(codes) == 0:
            continue
        # one row per code found with integers, then one object gathered per code (assigning every
        # row's object, as ``out[codes] = values`` does, touches a million reference counts)
        row = np.full(n, -1, dtype=np.int64)
        row[codes] = np.arange(len(codes))  # the last row of each code, as that assignment leaves it
        have = np.flatnonzero((row >= 0) & ~filled)
        values = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
        out[have] = values[row[have]]
        filled[have] = True
    return out
