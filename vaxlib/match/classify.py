"""Error codes (the contract's taxonomy) and corrections for linked records.

Given a dose record and the registry person it is linked to, name exactly
what differs (``name:*`` from :func:`vaxlib.vn.names.compare_names`, ``dob:*``
from :func:`vaxlib.vn.dates.compare_dob`, ``id:*`` and ``sex:*`` here) and the
registry values that make the record verifiable.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from vaxlib.match.codes import PREFIX
from vaxlib.match.compare import _one_edit_matrix

__all__ = ["id_codes", "id_codes_array", "classify_links", "unlinked_codes", "intrinsic_codes",
           "unlinked_error_codes", "RegistryNumbers", "StoredColumns", "StoredText"]


class RegistryNumbers:
    """The register's numbers (``person_id``), asked "does somebody own this number".

    ``number in numbers`` answers one number.  :meth:`owned` answers the ID digits of many
    records of ``rec`` at once: through the ``id`` domain's integer codes (a record's digits
    have a registry person_id's code exactly when they are that number), one gather instead
    of hashing millions of digit strings against a million numbers (2.8 CPU s at 1M).
    """

    def __init__(self, reg: pd.DataFrame, rec: pd.DataFrame | None = None):
        self.index = pd.Index(reg["person_id"])
        self._rec, self._reg = rec, reg
        self._is_number = None
        if rec is not None and PREFIX + "person_id" in reg.columns and PREFIX + "id_digits" in rec.columns:
            codes = reg[PREFIX + "person_id"].to_numpy()
            self._is_number = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=bool)
            self._is_number[codes] = True

    def __contains__(self, number) -> bool:
        return number in self.index

    def coded_with(self, rec: pd.DataFrame, reg: pd.DataFrame) -> bool:
        """``rec`` and ``reg`` are the frames this was built for (coded together by
        :func:`~vaxlib.match.codes.add_codes`: their ``_c_`` codes are comparable)."""
        return rec is self._rec and reg is self._reg

    def owned(self, rec: pd.DataFrame, rows: np.ndarray, digits: np.ndarray) -> np.ndarray:
        """Per record position of ``rows`` (its ID digits ``digits``): a registry person owns the number."""
        digits = np.asarray(digits, dtype=object)
        if self._is_number is None or rec is not self._rec:  # codes of other frames: hash the text
            return np.fromiter(map(bool, digits), bool, count=len(digits)) & \
                pd.Series(digits, dtype=object).isin(self.index).to_numpy()
        code = rec[PREFIX + "id_digits"].to_numpy()[rows]
        inside = code < len(self._is_number)
        return inside & self._is_number[np.where(inside, code, 0)] & (digits != "")


def _owned(registry_ids, rec: pd.DataFrame, rows: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Per row: ``digits`` non-empty and owned by somebody in ``registry_ids`` (a set, an Index or
    a :class:`RegistryNumbers`)."""
    if isinstance(registry_ids, RegistryNumbers):
        return registry_ids.owned(rec, rows, digits)
    digits = np.asarray(digits, dtype=object)
    return np.fromiter(map(bool, digits), bool, count=len(digits)) & \
        pd.Series(digits, dtype=object).isin(registry_ids).to_numpy()


class StoredColumns:
    """Text columns as a work file keeps them: per column the codes of its rows into a table of
    values (an Arrow string array, or an object array), or the column itself (an object array).

    :meth:`values` makes Python str only for the rows asked for, one per distinct value used;
    :meth:`coded` gives the codes and table of those rows, no str made at all.
    """

    def __init__(self, columns: dict):
        self._columns = dict(columns)

    def __contains__(self, name) -> bool:
        return name in self._columns

    def coded(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, object]:
        """(codes of ``rows`` into the table, the table); a plain column is its own table."""
        col = self._columns[name]
        if isinstance(col, tuple):
            return np.asarray(col[0])[rows], col[1]
        return np.asarray(rows), col

    def values(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The column at ``rows`` as an object array (None where a value is missing)."""
        codes, table = self.coded(name, rows)
        if isinstance(table, np.ndarray):
            return np.asarray(table, dtype=object)[codes]
        used, inv = np.unique(codes, return_inverse=True)
        import pyarrow as pa

        text = np.asarray(table.take(pa.array(used.astype(np.int64))).to_numpy(zero_copy_only=False), dtype=object)
        return text[inv.reshape(-1)]


class StoredText:
    """The ``registry_ids`` argument of :func:`classify_links` and :func:`unlinked_error_codes`
    when the frames hold no text of theirs (the partitioned engine's finish task): the records'
    and the linked registry persons' text as :class:`StoredColumns` (rows as the frames' rows),
    and ``registry_ids`` itself (a set or Index of the register's numbers).

    The links' text is then read for their rows only, and the name and dob comparisons are
    keyed by each side's codes: no Python str is made for a record that is not classified.
    """

    def __init__(self, registry_ids, rec: StoredColumns, reg: StoredColumns):
        self.registry_ids, self.rec, self.reg = registry_ids, rec, reg

    def __contains__(self, number) -> bool:
        return number in self.registry_ids


def _common_codes(rec_side: tuple[np.ndarray, object], reg_side: tuple[np.ndarray, object]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Codes of two (codes, table) columns in one numbering: equal codes exactly where the texts
    are equal (None equal to None alone), each distinct value hashed once."""
    (rc, rt), (gc, gt) = rec_side, reg_side
    ru, rinv = np.unique(rc, return_inverse=True)
    gu, ginv = np.unique(gc, return_inverse=True)
    both = _text_values(rt, ru), _text_values(gt, gu)
    if all(not isinstance(x, np.ndarray) for x in both):
        import pyarrow as pa
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(pa.concat_arrays([x.cast(pa.large_string()) for x in both]),
                                   null_encoding="encode")
        idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    else:  # text that Arrow does not hold: by the values themselves (None a value of its own)
        values = np.concatenate([_as_objects(x) for x in both])
        idx = pd.factorize(values, use_na_sentinel=False)[0].astype(np.int64)
    return idx[:len(ru)][rinv.reshape(-1)], idx[len(ru):][ginv.reshape(-1)]


def _text_values(table, at: np.ndarray):
    """``table[at]``: an Arrow take, or the object array's rows."""
    if isinstance(table, np.ndarray):
        return np.asarray(table, dtype=object)[at]
    import pyarrow as pa

    return table.take(pa.array(at.astype(np.int64)))


def _as_objects(x) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else np.asarray(x.to_numpy(zero_copy_only=False), dtype=object)


def id_codes(typed: str, kind: str, digits: str, pattern: str, issues: str,
             person_id: str, old_id: str, registry_ids: "set[str] | pd.Index", raw_digits: str = "") -> tuple[str, ...]:
    """ID error code(s) of a typed ID against the linked person's registry ID.

    ``registry_ids`` answers "does this 12-digit number belong to somebody"
    (for ``id:other_person`` versus ``id:unknown``).  One link of
    :func:`id_codes_array`.
    """
    code = id_codes_array(*(np.array([v], dtype=object) for v in (typed, kind, digits, issues, person_id, old_id,
                                                                   raw_digits)), registry_ids)[0]
    return tuple(code.split(";")) if code else ()


def _one_edit(a: str, b: str) -> str | None:
    """``id:typo`` for one digit substituted, inserted or deleted, ``id:transposition``
    for two adjacent digits swapped; None otherwise (or when equal)."""
    if not a or not b or a == b:
        return None
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return "id:typo"
        if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
            return "id:transposition"
        return None
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(long_) - len(short) != 1:
        return None
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return "id:typo" if short[i:] == long_[i + 1:] else None


# Letters a typist puts for the digit they look like: still a readable number.
_LOOKALIKE_DIGITS = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "i": "1", "|": "1"})


def _form_codes(typed: str, kind: str, digits: str, issues: str, person_id: str, old_id: str,
                raw_digits: str, registry_ids) -> str:
    """The ID codes of a link whose text has separators, padding or stray characters,
    or whose digits need the as-typed reading (a lost zero restored, a digit dropped).

    Codes are additive (contract, "How codes combine"): ``id:malformed`` for the
    form, together with what is wrong with the digits (``id:typo`` for one digit
    substituted, inserted or deleted, also when that breaks the CCCD structure;
    ``id:transposition``; ``id:old_cmnd``; ``id:other_person``; ``id:unknown``).
    A number cut short by more than one digit is ``id:malformed`` (no other code
    says it).
    """
    from vaxlib.match.compare import is_truncated

    issue_set = set(issues.split(";")) if issues else set()
    form: set[str] = {"id:malformed"} if "separators" in issue_set else set()
    if digits and digits == person_id:
        if "id:excel_mangled" in issue_set:
            return "id:excel_mangled"
        if "id:lost_leading_zero" in issue_set:
            return ";".join(sorted({"id:lost_leading_zero", *form}))
        return "id:malformed"
    if kind == "malformed" and typed:
        # a look-alike letter (O for 0, l for 1) keeps the number readable; any other
        # character stands where a digit was
        readable = "".join(ch for ch in str(typed).translate(_LOOKALIKE_DIGITS) if ch.isdigit())
        if readable != raw_digits:
            form = {"id:malformed"}
            if readable == person_id:
                return "id:malformed"
            edit = _one_edit(readable, person_id)
            if edit:
                return ";".join(sorted({edit, *form}))
        elif any(not (ch.isdigit() or ch in " .-_/\\,'\"`") for ch in str(typed)):
            form = {"id:malformed"}
    d = digits or raw_digits
    if old_id and d == old_id:
        return ";".join(sorted({"id:old_cmnd", *form}))
    edit_raw = _one_edit(raw_digits, person_id) if raw_digits != d else None
    if edit_raw and "id:lost_leading_zero" in issue_set:
        # 04184223524 for 040184223524: one digit dropped as typed, not a lost zero
        # restored and then two digits swapped
        edit = edit_raw
    else:
        edit = _one_edit(d, person_id) or edit_raw
    if edit:
        return ";".join(sorted({edit, *form}))
    if is_truncated(raw_digits or d, person_id):
        return "id:malformed"
    if digits and digits in registry_ids:
        return ";".join(sorted({"id:other_person", *form}))
    if kind in ("cccd", "cmnd"):
        return ";".join(sorted({"id:unknown", *form}))
    return "id:malformed"


def id_codes_array(typed: np.ndarray, kind: np.ndarray, digits: np.ndarray, issues: np.ndarray,
                   person_id: np.ndarray, old_id: np.ndarray, raw_digits: np.ndarray,
                   registry_ids, owned: np.ndarray | None = None) -> np.ndarray:
    """The ID error codes of each link, ``;``-joined ("" when the typed ID is the registry's), vectorised.

    The rules are taken in order and the first that holds names the error:
    Excel's notation is the error whether or not the kept digits fit the
    person; a number one edit away is a typo or a transposition; a number
    cut short is malformed; a well-formed number owned by somebody else is
    ``id:other_person``.  Links whose text has separators or stray
    characters, or whose digits need the as-typed reading (a digit dropped or
    added, a restored lost zero that does not fit), are named by
    :func:`_form_codes`, where codes add up (``id:malformed;id:transposition``).
    ``owned``: per link, the typed digits are somebody's number (asked of ``registry_ids`` when None).
    """
    from vaxlib.match.compare import _maybe_truncated, is_truncated
    from vaxlib.match.levels import _char_matrix

    n = len(typed)
    out = np.full(n, "", dtype=object)
    todo = typed != person_id

    def take(cond: np.ndarray, code) -> None:
        nonlocal todo
        hit = todo & cond
        out[hit] = code if isinstance(code, str) else code[hit]
        todo = todo & ~hit

    take(kind == "missing", "id:missing")
    take(kind == "passport", "id:passport")
    # the issue flags, read once per distinct issues text
    iss_c, iss_u = pd.factorize(pd.Series(issues, dtype=object).fillna("").astype(str).to_numpy(dtype=object))

    def flagged(text: str) -> np.ndarray:
        return np.fromiter((text in v for v in iss_u), bool, count=len(iss_u))[iss_c]

    # the few links whose form or as-typed digits matter: one link at a time
    special = np.flatnonzero(todo & (kind != "excel") & (
        (kind == "malformed") | (digits == "")
        | flagged("separators") | (flagged("id:lost_leading_zero") & (digits != person_id))))
    if len(special):
        out[special] = [_form_codes(*(str(x[i]) if x[i] is not None else "" for x in
                                      (typed, kind, digits, issues, person_id, old_id, raw_digits)), registry_ids)
                        for i in special]
        todo[special] = False
    same = np.where(flagged("id:excel_mangled"), "id:excel_mangled",
                    np.where(flagged("id:lost_leading_zero"), "id:lost_leading_zero",
                             "id:malformed")).astype(object)
    take(digits == person_id, same)
    take(kind == "excel", "id:excel_mangled")
    take((old_id != "") & (digits == old_id), "id:old_cmnd")
    # one digit substituted, or two adjacent digits swapped
    typed_digits = np.where(digits != "", digits, raw_digits)
    lt = np.fromiter(map(len, typed_digits), np.int64, count=n)
    lp = np.fromiter(map(len, person_id), np.int64, count=n)
    k = np.flatnonzero(todo & (lt == lp) & (lt > 0))
    if len(k):
        width = int(lt[k].max())
        A, la = _char_matrix(typed_digits[k], width)
        B, lb = _char_matrix(person_id[k], width)
        sub, trans = _one_edit_matrix(A, la, B, lb, width)
        edit = np.zeros(n, dtype=bool)
        edit[k] = sub | trans
        take(edit, np.where(np.isin(np.arange(n), k[sub]), "id:typo", "id:transposition").astype(object))
    # digits cut off or one dropped or added: the plain-Python check where the lengths allow it
    raw_first = np.where(raw_digits != "", raw_digits, digits)
    lr = np.fromiter(map(len, raw_first), np.int64, count=n)
    k = np.flatnonzero(todo & _maybe_truncated(lr, lp))
    trunc = np.zeros(n, dtype=bool)
    trunc[k] = np.fromiter((is_truncated(a, b) for a, b in zip(raw_first[k], person_id[k])), bool, count=len(k))
    take(trunc, "id:malformed")
    ask = np.flatnonzero(todo & (digits != ""))  # does somebody own the number: only where still open
    if owned is None:
        owned = np.zeros(n, dtype=bool)
        owned[ask] = pd.Series(digits[ask], dtype=object).isin(registry_ids).to_numpy()
    take(owned & (digits != ""), "id:other_person")
    take(np.isin(kind, ["cccd", "cmnd"]), "id:unknown")
    take(np.ones(n, dtype=bool), "id:malformed")
    return out


def intrinsic_codes(full_name: str, dob: str, dob_iso: str, sex_p: str) -> tuple[str, ...]:
    """Errors visible in a record without a registry person to compare with.

    Decomposed Unicode, odd case or spacing, a date of birth not in the
    register's ISO form, and an empty sex can all be seen in the record alone.
    """
    from vaxlib.vn.names import canonical_name
    from vaxlib.vn.text import nfc

    codes = []
    if full_name:
        composed = nfc(full_name)
        if composed != full_name:
            codes.append("name:unicode_form")
        spaced = " ".join(composed.split())
        # An all-capital ASCII name is how passports write foreigners' names:
        # only its spacing can be judged without the register.
        passport_style = composed.isascii() and composed.upper() == composed
        if spaced != composed or (not passport_style and canonical_name(composed) != composed):
            codes.append("name:case_spacing")
    if dob and dob_iso and dob != dob_iso:
        codes.append("dob:format")
    if not sex_p:
        codes.append("sex:missing")
    return tuple(codes)


def unlinked_codes(kind: str, digits: str, registry_ids) -> tuple[str, ...]:
    """What can be said of an unlinked record's ID without a person to compare with."""
    if kind == "missing":
        return ("id:missing",)
    if kind == "passport":
        return ("id:passport",)
    if kind == "malformed":
        return ("id:malformed",)
    if kind == "excel":
        return ("id:excel_mangled",)
    if digits and digits in registry_ids:
        return ("id:other_person",)
    if kind in ("cccd", "cmnd"):
        return ("id:unknown",)
    return ()


def _representatives(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, one row per code) of an integer key."""
    codes, uniq = pd.factorize(key)
    rep = np.zeros(len(uniq), dtype=np.int64)
    rep[codes[::-1]] = np.arange(len(key))[::-1]  # the first row of each code
    return codes, rep


def unlinked_error_codes(rec: pd.DataFrame, rows: np.ndarray, registry_ids) -> np.ndarray:
    """The ``;``-joined error codes of the unlinked records ``rows``: :func:`unlinked_codes`
    and :func:`intrinsic_codes`, each called once per distinct value of what it reads
    (``registry_ids`` a :class:`StoredText`: the records' text read from it, for ``rows`` only)."""
    if isinstance(registry_ids, StoredText):
        def col(c: str) -> np.ndarray:
            return registry_ids.rec.values(c, rows)
        ids = registry_ids.registry_ids
        ids = ids.index if isinstance(ids, RegistryNumbers) else ids
    else:
        def col(c: str) -> np.ndarray:
            return rec[c].to_numpy(dtype=object)[rows]
        ids = registry_ids
    kinds, digits = col("id_kind"), col("id_digits")
    # unlinked_codes reads the kind and whether somebody owns the digits
    owned = _owned(ids, rec, rows, digits)
    id_c, id_rep = _representatives(pd.factorize(kinds, use_na_sentinel=False)[0] * 2 + owned)
    id_u = [unlinked_codes(kinds[i], digits[i], ids) for i in id_rep]
    # intrinsic_codes: the name part reads the name alone; the rest whether the dob differs
    # from its ISO reading and whether the sex is empty
    names = col("full_name")
    name_c, name_rep = _representatives(pd.factorize(names, use_na_sentinel=False)[0])
    name_u = [intrinsic_codes(names[i], "", "", "x") for i in name_rep]
    dobs, isos = col("dob"), col("dob_r0")
    sexes = col("sex_p")
    reformatted = np.fromiter((bool(d and i and d != i) for d, i in zip(dobs, isos)), bool, count=len(rows))
    no_sex = np.fromiter((not v for v in sexes), bool, count=len(rows))
    rest_c, rest_rep = _representatives(reformatted * 2 + no_sex)
    rest_u = [intrinsic_codes("", dobs[i], isos[i], sexes[i]) for i in rest_rep]
    # one joined string per distinct combination
    nn, nr = len(name_u), len(rest_u)
    combo_c, combo_rep = _representatives((id_c.astype(np.int64) * nn + name_c) * nr + rest_c)
    joined = np.array([";".join(sorted(id_u[id_c[i]] + name_u[name_c[i]] + rest_u[rest_c[i]])) for i in combo_rep]
                      + [""], dtype=object)[:-1]
    return joined[combo_c]


def _per_distinct_pair(typed: np.ndarray, reg: np.ndarray, compare_many, if_empty: tuple[str, ...]
                       ) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """``compare_many(typed, reg)`` once per distinct differing pair (``if_empty`` for an empty
    typed value); returns (index per link into the distinct code tuples, -1 = same; the tuples)."""
    n = len(typed)
    idx = np.full(n, -1, dtype=np.int64)
    diff = np.flatnonzero(typed != reg)
    if len(diff) == 0:
        return idx, []
    t_c, t_u = pd.factorize(typed[diff])
    g_c, g_u = pd.factorize(reg[diff])
    p_c, p_u = pd.factorize(t_c.astype(np.int64) * len(g_u) + g_c)
    a = np.asarray(t_u, dtype=object)[p_u // len(g_u)]
    b = np.asarray(g_u, dtype=object)[p_u % len(g_u)]
    tuple_c, tuples = _compare_distinct(a, b, compare_many, if_empty)
    idx[diff] = tuple_c[p_c]
    return idx, tuples


def _joined_codes(id_c, id_u, name_i, name_codes, dob_i, dob_codes, sex_c, sex_u) -> np.ndarray:
    """Each link's error_codes: the four fields' codes (``*_c``/``*_i`` per link into ``*_u``/``*_codes``; -1 for
    no name/dob code) joined, sorted and deduplicated, one string built per distinct combination."""
    nn, nd, ns = len(name_codes) + 1, len(dob_codes) + 1, len(sex_u)
    combo_c, combo_u = pd.factorize(((np.asarray(id_c).astype(np.int64) * nn + name_i + 1) * nd + dob_i + 1) * ns
                                    + sex_c)
    joined = np.empty(len(combo_u), dtype=object)
    for j, key in enumerate(combo_u.tolist()):
        key, si = divmod(key, ns)
        key, di = divmod(key, nd)
        ii, ni = divmod(key, nn)
        parts = [*(name_codes[ni - 1] if ni else ()), *(dob_codes[di - 1] if di else ()),
                 *id_u[ii].split(";"), sex_u[si]]
        joined[j] = ";".join(sorted(dict.fromkeys(c for c in parts if c)))
    return joined[combo_c]


def _compare_distinct(a: np.ndarray, b: np.ndarray, compare_many,
                      if_empty: tuple[str, ...]) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """``compare_many`` on each distinct differing (typed ``a``, registry ``b``) pair, ``if_empty`` where
    nothing was typed; returns (each pair's index into the distinct results, the distinct results)."""
    out = np.empty(len(a), dtype=object)
    empty = np.fromiter((not v for v in a), bool, count=len(a))  # "" or None typed
    out[~empty] = compare_many(a[~empty], b[~empty])
    for i in np.flatnonzero(empty):
        out[i] = if_empty
    tuple_c, tuples = pd.factorize(out)
    return tuple_c, list(tuples)


def classify_links(rec: pd.DataFrame, reg: pd.DataFrame, rec_idx: np.ndarray, reg_idx: np.ndarray,
                   registry_ids) -> pd.DataFrame:
    """Error codes and corrected_* values for each (record, registry person) link.

    Names and dates are compared once per distinct (typed, registry) pair, the common
    differences on arrays (:func:`~vaxlib.vn.names.compare_names_array`,
    :func:`~vaxlib.vn.dates.compare_dob_many`), ID codes are vectorised
    (:func:`id_codes_array`), and the joined code string is built once per distinct
    combination of the four fields' codes.  A corrected_* value is missing (NaN) where the
    record already has the registry's.

    When the frames carry the integer codes they were coded with together (``registry_ids`` a
    :class:`RegistryNumbers` of these very frames, as ``run_match`` makes it), equality and the
    distinct pairs are read off the codes, and text is gathered only for one link per distinct
    pair and for the links that differ (:func:`_classify_links_coded`); otherwise from the text
    of every link (:func:`_classify_links_text`).  Both give the same table.  With
    ``registry_ids`` a :class:`StoredText` (the frames hold no text), from its columns, the two
    sides coded together from the values the links use (:func:`_classify_links_stored`): the same
    table again.
    """
    if isinstance(registry_ids, StoredText):
        return _classify_links_stored(rec, rec_idx, reg_idx, registry_ids)
    if isinstance(registry_ids, RegistryNumbers) and registry_ids.coded_with(rec, reg):
        out = _classify_links_coded(rec, reg, rec_idx, reg_idx, registry_ids)
        if out is not None:
            return out
    return _classify_links_text(rec, reg, rec_idx, reg_idx, registry_ids)


#: (field, record column, registry column) of the four classified fields, each pair one code domain
_CODED_FIELDS = (("name", "full_name", "full_name"), ("dob", "dob", "dob"), ("sex", "sex_p", "sex"),
                 ("id", "id_number", "person_id"))


def _first_of_each(key: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct-key index per element of ``key``, the ``at`` of each distinct key's first element)."""
    codes, uniq = pd.factorize(key)
    rep = np.empty(len(uniq), dtype=np.int64)
    rep[codes[::-1]] = at[::-1]  # the last write wins: each key's first element
    return codes, rep


def _per_distinct_code_pair(rc: np.ndarray, gc: np.ndarray, typed_at, reg_at, compare_many,
                            if_empty: tuple[str, ...]) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """:func:`_per_distinct_pair` from the two sides' codes (equal codes: equal text):
    ``typed_at(links)`` / ``reg_at(links)`` give the text of one link per distinct differing pair."""
    idx = np.full(len(rc), -1, dtype=np.int64)
    diff = np.flatnonzero(rc != gc)
    if len(diff) == 0:
        return idx, []
    p_c, rep = _first_of_each(rc[diff] << 32 | gc[diff], diff)
    a, b = typed_at(rep), reg_at(rep)
    tuple_c, tuples = _compare_distinct(a, b, compare_many, if_empty)
    idx[diff] = tuple_c[p_c]
    return idx, tuples


def _classify_links_coded(rec: pd.DataFrame, reg: pd.DataFrame, rec_idx: np.ndarray, reg_idx: np.ndarray,
                          registry_ids: RegistryNumbers) -> pd.DataFrame | None:
    """:func:`classify_links` on the frames' ``_c_`` codes; None when a code column is missing or
    a code is negative (no value: the text path decides)."""
    n = len(rec_idx)
    codes = {}
    for field, rc_, gc_ in _CODED_FIELDS:
        if PREFIX + rc_ not in rec.columns or PREFIX + gc_ not in reg.columns:
            return None
        r = rec[PREFIX + rc_].to_numpy()[rec_idx].astype(np.int64)
        g = reg[PREFIX + gc_].to_numpy()[reg_idx].astype(np.int64)
        if n and (r.min() < 0 or g.min() < 0):
            return None
        codes[field] = (r, g)

    def rtext(c: str):
        values = rec[c].to_numpy(dtype=object)
        return lambda links: values[rec_idx[links]]

    def gtext(c: str):
        values = reg[c].to_numpy(dtype=object)
        return lambda links: values[reg_idx[links]]

    out = _classify_by_codes(codes, rtext, gtext, "id_issues" in rec, registry_ids,
                             lambda sub, digits: registry_ids.owned(rec, rec_idx[sub], digits))
    return out.set_axis(rec.index[rec_idx])


def _classify_links_stored(rec: pd.DataFrame, rec_idx: np.ndarray, reg_idx: np.ndarray,
                           stored: StoredText) -> pd.DataFrame:
    """:func:`classify_links` from the text of :class:`StoredText`: each field's two sides coded in
    one numbering from the values the links use (:func:`_common_codes`), the text of a link made
    only where :func:`_classify_by_codes` reads it."""
    codes = {field: _common_codes(stored.rec.coded(rc_, rec_idx), stored.reg.coded(gc_, reg_idx))
             for field, rc_, gc_ in _CODED_FIELDS}

    def rtext(c: str):
        return lambda links: stored.rec.values(c, rec_idx[links])

    def gtext(c: str):
        return lambda links: stored.reg.values(c, reg_idx[links])

    ids = stored.registry_ids.index if isinstance(stored.registry_ids, RegistryNumbers) else stored.registry_ids
    out = _classify_by_codes(codes, rtext, gtext, "id_issues" in stored.rec, ids, None)
    return out.set_axis(rec.index[rec_idx])


def _classify_by_codes(codes: dict, rtext, gtext, has_issues: bool, registry_ids, owned) -> pd.DataFrame:
    """:func:`classify_links` given each field's codes per link, (record side, registry side), equal
    exactly where the texts are (``codes[field]``, fields of :data:`_CODED_FIELDS`);
    ``rtext(column)(links)`` / ``gtext(column)(links)``: the records' / persons' text of those links;
    ``owned(links, digits)``: somebody owns the links' typed digits (None: asked of ``registry_ids``)."""
    from vaxlib.vn.dates import compare_dob_many
    from vaxlib.vn.names import compare_names_array

    n = len(codes["name"][0])
    name_i, name_codes = _per_distinct_code_pair(*codes["name"], rtext("full_name"), gtext("full_name"),
                                                 compare_names_array, ("name:missing_part",))
    dob_i, dob_codes = _per_distinct_code_pair(*codes["dob"], rtext("dob"), gtext("dob"),
                                               compare_dob_many, ("dob:other",))
    # ID codes: only the links whose typed ID is not the registry's ("" for the others)
    sub = np.flatnonzero(codes["id"][0] != codes["id"][1])
    id_c = np.zeros(n, dtype=np.int64)
    id_u = [""]
    if len(sub):
        def at(get):
            return get(sub)
        digits = at(rtext("id_digits"))
        issues = at(rtext("id_issues")) if has_issues else np.full(len(sub), "", dtype=object)
        sub_codes = id_codes_array(at(rtext("id_number")), at(rtext("id_kind")), digits, issues,
                                   at(gtext("person_id")), at(gtext("old_id")), at(rtext("id_raw_digits")),
                                   registry_ids, None if owned is None else owned(sub, digits))
        sub_c, sub_u = pd.factorize(sub_codes)
        id_c[sub] = sub_c + 1
        id_u += list(sub_u)
    # sex: "" missing (read once per distinct typed code), else mismatch where the codes differ
    rs, gs = codes["sex"]
    s_c, s_rep = _first_of_each(rs, np.arange(n))
    no_sex = (pd.Series(rtext("sex_p")(s_rep), dtype=object).fillna("").to_numpy() == "")[s_c]
    sex_u = ["", "sex:mismatch", "sex:missing"]
    sex_c = np.where(no_sex, 2, (rs != gs).astype(np.int64))
    out = {"error_codes": _joined_codes(id_c, id_u, name_i, name_codes, dob_i, dob_codes, sex_c, sex_u)}
    for c, field, right in (("corrected_full_name", "name", "full_name"), ("corrected_dob", "dob", "dob"),
                            ("corrected_sex", "sex", "sex"), ("corrected_id_number", "id", "person_id")):
        differs = codes[field][0] != codes[field][1]
        # as pandas reads the column: missing is NaN beside text, None when no link differs
        col = np.full(n, np.nan if differs.any() else None, dtype=object)
        k = np.flatnonzero(differs)
        col[k] = gtext(right)(k)
        out[c] = col
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in out.items()})


def _classify_links_text(rec: pd.DataFrame, reg: pd.DataFrame, rec_idx: np.ndarray, reg_idx: np.ndarray,
                   registry_ids) -> pd.DataFrame:
    """:func:`classify_links` from the text columns of every link (frames without comparable codes)."""
    from vaxlib.vn.dates import compare_dob_many
    from vaxlib.vn.names import compare_names_array

    def rcol(c: str, at: np.ndarray | None = None) -> np.ndarray:
        """The records' column ``c`` per link (``at``: of those links only)."""
        return rec[c].to_numpy(dtype=object)[rec_idx if at is None else rec_idx[at]]

    def gcol(c: str, at: np.ndarray | None = None) -> np.ndarray:
        return reg[c].to_numpy(dtype=object)[reg_idx if at is None else reg_idx[at]]

    tn, gn = rcol("full_name"), gcol("full_name")
    td, gd = rcol("dob"), gcol("dob")
    id_typed = rcol("id_number")
    pids = gcol("person_id")
    issues = rcol("id_issues") if "id_issues" in rec else np.full(len(rec_idx), "", dtype=object)
    rsex, gsex = rcol("sex_p"), gcol("sex")

    name_i, name_codes = _per_distinct_pair(tn, gn, compare_names_array, ("name:missing_part",))
    dob_i, dob_codes = _per_distinct_pair(td, gd, compare_dob_many, ("dob:other",))
    # ID codes: only the links whose typed ID is not the registry's text ("" for the others, as
    # id_codes_array gives them; each link's codes are its own): about a third of the links
    sub = np.flatnonzero(id_typed != pids)
    id_code = np.full(len(rec_idx), "", dtype=object)
    if len(sub):
        digits = rcol("id_digits", sub)
        owned = registry_ids.owned(rec, rec_idx[sub], digits) if isinstance(registry_ids, RegistryNumbers) else None
        id_code[sub] = id_codes_array(id_typed[sub], rcol("id_kind", sub), digits, issues[sub], pids[sub],
                                      gcol("old_id", sub), rcol("id_raw_digits", sub), registry_ids, owned)
    no_sex = pd.Series(rsex, dtype=object).fillna("").to_numpy() == ""
    sex_code = np.where(no_sex, "sex:missing", np.where(rsex != gsex, "sex:mismatch", "")).astype(object)
    id_c, id_u = pd.factorize(id_code)
    sex_c, sex_u = pd.factorize(sex_code)
    out = {"error_codes": _joined_codes(id_c, id_u, name_i, name_codes, dob_i, dob_codes, sex_c, sex_u)}
    for c, typed, right in (("corrected_full_name", tn, gn), ("corrected_dob", td, gd),
                            ("corrected_sex", rsex, gsex), ("corrected_id_number", id_typed, pids)):
        differs = typed != right
        # as pandas reads the column: missing is NaN beside text, None when no link differs
        out[c] = np.where(differs, right, np.nan if differs.any() else None)
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in out.items()}).set_axis(rec.index[rec_idx])
