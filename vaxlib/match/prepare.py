"""Normalise the registry and the dose records into the columns the matcher needs.

Every derived column is computed once per distinct typed value (names, dates and
ID numbers repeat a lot) with the parsers of :mod:`vaxlib.vn`.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from vaxlib.vn.text import tone_key

__all__ = ["prepare_registry", "prepare_records", "prepare_both", "name_columns", "name_columns_reusing"]


def _as_text(s: pd.Series) -> pd.Series:
    """Object Series of str with "" for missing values.

    Built through factorisation so that equal values share one Python string:
    object columns then cost 8 bytes a row, and the matcher's comparisons read
    them without converting from Arrow again and again.
    """
    if s.dtype == object:
        # Already Python strings (vaxlib.io shares equal values): only missing values change.
        arr = s.to_numpy(dtype=object)
        missing = pd.isna(arr)
        if pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty"):
            if not missing.any():
                return pd.Series(arr, index=s.index, dtype=object, copy=False)  # nothing to change: shared
            out = arr.copy()
            out[missing] = ""
            return pd.Series(out, index=s.index, dtype=object, copy=False)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = np.append(np.asarray(uniques, dtype=object).astype(str).astype(object), "")
    return pd.Series(values[np.where(codes < 0, len(values) - 1, codes)], index=s.index, dtype=object)


def _text_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values as str) of a Series, missing values read as "" (no -1 codes)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = np.append(np.asarray(uniques, dtype=object).astype(str).astype(object), "")
    return np.where(codes < 0, len(values) - 1, codes), values


NAME_COLS = ["name_canon", "name_tone", "name_fold", "name_sorted", "family", "given", "fam_given"]

# Letters Unicode decomposition does not fold, and the look-alikes of Đ.
_D_FOLD_CHARS = {"đ": "d", "Đ": "d", "Ð": "d", "ð": "d", "Ɖ": "d", "ɖ": "d"}  # đ, the common one, first
_D_LOOKALIKE_CHARS = {"Ð": "Đ", "ð": "đ", "Ɖ": "Đ", "ɖ": "đ"}
_D_FOLD = str.maketrans(_D_FOLD_CHARS)
_D_LOOKALIKE = str.maketrans(_D_LOOKALIKE_CHARS)
# A tone on the second vowel of an open oa/oe/uy syllable (the "new" convention).
_NEW_TONE_RE = r"[oòóỏõọ][àáảãạèéẻẽẹ]\b|[uùúủũụ][ỳýỷỹỵ]\b"
_NEW_TONE = re.compile(_NEW_TONE_RE)
# The characters split() does not take for spaces but a name's spacing does (and NUL).
_SPACES = str.maketrans({"\u200b": " ", "\ufeff": " ", "\x00": " "})
# Combining diacritical marks, as the characters themselves (RE2, the pattern Arrow runs: a class
# of code points, the same as Python's [\u0300-\u036f])
_COMBINING = "[\u0300-\u036f]"
_FIRST_WORD = re.compile(r"^(\S+)")
_LAST_WORD = re.compile(r"(\S+)$")


def name_columns(names: pd.Series) -> pd.DataFrame:
    """Matching keys of every name, computed once per distinct name with
    vectorised string operations (1 million names in a few seconds).

    * ``name_canon`` — NFC, look-alike Ð fixed, spacing collapsed, lower case:
      two names with the same key differ only by Unicode form, case or spacing;
    * ``name_tone`` — ``name_canon`` in the old tone convention
      (:func:`vaxlib.vn.text.tone_key`);
    * ``name_fold`` — the ASCII skeleton (:func:`vaxlib.vn.text.fold_key`);
    * ``name_sorted`` — skeleton words in sorted order (reordered names);
    * ``family``, ``given``, ``fam_given`` — first, last and first + last skeleton words.
    """
    codes, uniques = _text_codes(names)
    return _gathered(_name_table(uniques), codes, names.index)


def _gathered(table: dict[str, np.ndarray], codes: np.ndarray, index: pd.Index) -> pd.DataFrame:
    """The per-value name ``table`` gathered to rows by ``codes``."""
    # object columns of shared strings (one Python str per distinct name), not Arrow strings:
    # the comparisons read them as Python objects without converting again.
    return pd.DataFrame({k: pd.Series(table[k][codes], index=index, dtype=object) for k in NAME_COLS}, index=index)


#: every character ``str.split()`` takes for a space (``str.isspace``, Python 3.11's Unicode), and
#: NUL, U+200B, U+FEFF (:data:`_SPACES`); tests/test_match_prepare_names.py checks it over every code point
_SPLIT_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                 "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\x00\u200b\ufeff")
#: RE2 (Arrow): a name whose spacing changes when collapsed: a space character other than " ",
#: two spaces, or a space at either end (every other name is its own collapsed form)
_SPACING_TO_DO = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPLIT_SPACES if c != " ") + "]|  |^ | $"
#: RE2 (Arrow): a superset of the names :data:`_NEW_TONE` finds: its tone pair followed by the end or by
#: anything but a-z (Python's ``\b`` there needs a non-word character or the end; a-z are word characters)
_NEW_TONE_MAYBE = "[oòóỏõọ][àáảãạèéẻẽẹ](?:[^a-z]|$)|[uùúủũụ][ỳýỷỹỵ](?:[^a-z]|$)"
#: RE2 (Arrow): folded names of printable ASCII words with one space between (nearly all): split in Arrow
_PLAIN_WORDS = "^[!-~]+(?: [!-~]+)*$"


def _objects(values) -> np.ndarray:
    """A 1-d object array of ``values``."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _objects_of(arr) -> np.ndarray:
    """A 1-d object array of an Arrow string array's values (Python str)."""
    out = np.empty(len(arr), dtype=object)
    out[:] = arr.to_numpy(zero_copy_only=False)
    return out


def _flags(arr, pattern: str) -> np.ndarray:
    """Which values of an Arrow string array the RE2 ``pattern`` finds (searched)."""
    import pyarrow.compute as pc

    return pc.match_substring_regex(arr, pattern).to_numpy(zero_copy_only=False).astype(bool)


def _replaced(arr, mapping: dict[str, str]):
    """``str.translate`` of single characters to text holding none of them, in Arrow (one pass per character;
    none for the characters after the first when no value holds one)."""
    import pyarrow.compute as pc

    first, *rest = mapping
    arr = pc.replace_substring(arr, first, mapping[first])
    if rest and len(arr) and pc.any(pc.match_substring_regex(arr, "[" + "".join(rest) + "]")).as_py():
        for a in rest:
            arr = pc.replace_substring(arr, a, mapping[a])
    return arr


def _word_columns(fold: np.ndarray, fold_arr) -> dict[str, np.ndarray]:
    """family, given, fam_given and name_sorted of folded names (``fold``, and as an Arrow array).

    Names of printable ASCII words with single spaces (nearly every folded name) are split and
    sorted in Arrow (byte order is code point order for ASCII, as Python's ``sorted``); the others
    take the regular expressions and ``split()`` of the definition, one by one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(fold)
    out = {k: np.empty(n, dtype=object) for k in ("family", "given", "fam_given", "name_sorted")}
    plain = _flags(fold_arr, _PLAIN_WORDS) if n else np.zeros(0, dtype=bool)
    at = np.flatnonzero(plain)
    if len(at):
        space = pa.scalar(" ", pa.large_string())
        words = pc.split_pattern(fold_arr.take(pa.array(at)), " ")
        flat = pc.list_flatten(words)
        offsets = words.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        offsets -= offsets[0]
        family = flat.take(pa.array(offsets[:-1]))
        given = flat.take(pa.array(offsets[1:] - 1))
        several = pa.array(np.diff(offsets) > 1)
        both = pc.if_else(several, pc.binary_join_element_wise(family, given, space), family)
        parents = np.repeat(np.arange(len(at), dtype=np.int64), np.diff(offsets))
        order = pa.table({"p": parents, "w": flat}).sort_by([("p", "ascending"), ("w", "ascending")])["w"]
        joined = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), order.combine_chunks()),
                                space)
        for k, v in (("family", family), ("given", given), ("fam_given", both), ("name_sorted", joined)):
            out[k][at] = v.to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~plain).tolist():
        x = fold[i]
        m = _FIRST_WORD.search(x)
        fa = m.group(1) if m else ""
        m = _LAST_WORD.search(x)
        gi = m.group(1) if m else ""
        out["family"][i] = fa
        out["given"][i] = gi
        out["fam_given"][i] = fa + " " + gi if " " in x else fa
        out["name_sorted"][i] = " ".join(sorted(x.split()))
    return out


def _name_table(values: np.ndarray) -> dict[str, np.ndarray]:
    """The name columns of every entry of an object array of str (entries may repeat).

    Arrow does in C what it does exactly as Python does (trimming, lower case, NFD, single-character
    replacements, splitting and sorting ASCII words) and finds the few names a Python-only step must
    see (odd spacing, a possible new-style tone, words that are not plain ASCII); Python does the
    rest one string at a time (NFC, the tone rewrite, the regular expressions with Unicode ``\\s``
    and ``\\b``).  No pandas Series is made between two steps.

    Names of words with one space between (nearly all) are read word by word (:func:`_by_words`):
    the canonical and folded forms of each distinct word (a few thousand among 80k names) are
    computed once and joined per name; the others take the steps name by name."""
    import pyarrow as pa

    vals = _objects([str(x) for x in values])
    arr = pa.array(vals, type=pa.large_string())
    # NUL counts as a space: a name never holds one, and text that went through a numpy
    # str array has already lost its trailing NULs, so both codings must agree without it.
    # The class [\s\u00a0\u200b\ufeff\x00] is str.isspace plus three: split() on runs of it
    # (tests/test_match_prepare_names.py checks every code point)
    odd = _flags(arr, _SPACING_TO_DO) if len(vals) else np.zeros(0, dtype=bool)
    out = {k: np.empty(len(vals), dtype=object) for k in NAME_COLS}
    rest = np.flatnonzero(odd)
    if (~odd).any():
        rest = np.sort(np.concatenate([rest, _by_words(arr, np.flatnonzero(~odd), out)]))
    if len(rest):
        sub = vals[rest]
        sub[:] = [" ".join(x.translate(_SPACES).split()) for x in sub]
        table = _by_names(pa.array(sub, type=pa.large_string()))
        for k in NAME_COLS:
            out[k][rest] = table[k]
    return out


def _canon_fold(spaced):
    """(``name_canon``, ``name_fold``) as Arrow arrays of names or words whose spacing is already
    collapsed (one space between words, none at either end): NFC, look-alike Ð fixed, lower case;
    then đ folded, NFD, combining marks removed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    nfc = [unicodedata.normalize("NFC", x) for x in spaced.to_pylist()]
    canon = pc.utf8_lower(_replaced(pa.array(nfc, type=pa.large_string()), _D_LOOKALIKE_CHARS))
    # str.translate of the d letters as one Arrow replacement each (đ, the common one, first)
    decomposed = pc.utf8_normalize(_replaced(canon, _D_FOLD_CHARS), form="NFD")
    return canon, pc.replace_substring_regex(decomposed, pattern=_COMBINING, replacement="")


def _tones(canon_o: np.ndarray, canon) -> np.ndarray:
    """``name_tone`` of canonical names (object array, and as Arrow): only names with a new-style
    tone need the syllable-level rewrite (Python's \\b: Unicode words)."""
    tone_o = canon_o.copy()
    maybe = np.flatnonzero(_flags(canon, _NEW_TONE_MAYBE)) if len(canon_o) else np.zeros(0, dtype=np.int64)
    for i in maybe.tolist():
        x = canon_o[i]
        if _NEW_TONE.search(x):
            tone_o[i] = tone_key(x)
    return tone_o


def _by_names(spaced) -> dict[str, np.ndarray]:
    """The name columns of names whose spacing is collapsed (an Arrow array), name by name."""
    import pyarrow.compute as pc

    canon, fold_arr = _canon_fold(pc.utf8_trim_whitespace(spaced))
    canon_o = _objects_of(canon)
    fold_o = _objects_of(fold_arr)
    return {"name_canon": canon_o, "name_tone": _tones(canon_o, canon), "name_fold": fold_o,
            **_word_columns(fold_o, fold_arr)}


def _by_words(arr, at: np.ndarray, out: dict[str, np.ndarray]) -> np.ndarray:
    """Fill ``out``'s rows ``at`` (names of ``arr`` with one space between words, none at either end)
    from their words' forms; returns the rows left to :func:`_by_names`.

    Canonical and folded forms are computed per distinct word (:func:`_canon_fold`, the very steps
    of a whole name: none of them reads or makes a space, so a name's form is its words' forms
    joined by one space).  A name is taken only when each of its words folds to printable ASCII
    without a space: ``family``, ``given`` and ``name_sorted`` are then its first, last and sorted
    folded words (Python's ``\\S+`` and ``split()`` find exactly those; code point order is byte
    order).  ``name_tone`` is computed from the joined canonical name as :func:`_by_names` does."""
    import pyarrow as pa
    import pyarrow.compute as pc

    words = pc.split_pattern(arr.take(pa.array(at)), " ")
    offsets = words.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    offsets -= offsets[0]
    enc = pc.list_flatten(words).dictionary_encode()
    w_codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    w_canon, w_fold = _canon_fold(enc.dictionary)
    w_plain = _flags(w_fold, "^[!-~]+$") if len(w_fold) else np.zeros(0, dtype=bool)
    counts = np.diff(offsets)
    bad = np.bincount(np.repeat(np.arange(len(at)), counts), weights=~w_plain[w_codes], minlength=len(at)) > 0
    bad |= counts == 0
    if bad.any():
        keep = np.repeat(~bad, counts)
        w_codes = w_codes[keep]
        counts = counts[~bad]
        offsets = np.concatenate([[0], np.cumsum(counts)])
    rows = at[~bad]
    if not len(rows):
        return at[bad]
    space = pa.scalar(" ", pa.large_string())
    lists = pa.LargeListArray.from_arrays
    off = pa.array(offsets, pa.int64())
    take = pa.array(w_codes)
    canon = pc.binary_join(lists(off, w_canon.take(take)), space)
    fold_w = w_fold.cast(pa.large_string())
    fold = pc.binary_join(lists(off, fold_w.take(take)), space)
    family = fold_w.take(pa.array(w_codes[offsets[:-1]]))
    given = fold_w.take(pa.array(w_codes[offsets[1:] - 1]))
    both = pc.if_else(pa.array(counts > 1), pc.binary_join_element_wise(family, given, space), family)
    # each name's folded words in sorted order: the distinct folded words ranked once, then integers sorted
    fold_words = _objects_of(w_fold)
    f_codes, f_uniq = pd.factorize(fold_words)
    rank = np.empty(len(f_uniq), dtype=np.int64)
    rank[np.argsort(np.asarray(f_uniq, dtype=object), kind="stable")] = np.arange(len(f_uniq))
    parents = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
    order = np.lexsort((rank[f_codes[w_codes]], parents))
    ordered = lists(off, fold_w.take(pa.array(w_codes[order])))
    canon_o = _objects_of(canon)
    out["name_canon"][rows] = canon_o
    out["name_tone"][rows] = _tones(canon_o, canon)
    for k, v in (("name_fold", fold), ("family", family), ("given", given), ("fam_given", both),
                 ("name_sorted", pc.binary_join(ordered, space))):
        out[k][rows] = v.to_numpy(zero_copy_only=False)
    return at[bad]


def _registry_names(known: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct names of a prepared registry, the first row holding each).

    A registry with its name codes (``_c_full_name``, as an index stores them)
    is grouped by code, without hashing its strings again.
    """
    from vaxlib.match.codes import PREFIX

    col = PREFIX + "full_name"
    if col in known.columns:
        kcodes = known[col].to_numpy().astype(np.int64)
    else:
        kcodes = pd.factorize(known["full_name"].to_numpy(dtype=object))[0]
    first = np.full(int(kcodes.max()) + 1 if len(kcodes) else 0, -1, dtype=np.int64)
    first[kcodes[::-1]] = np.arange(len(kcodes))[::-1]  # first row of each distinct registry name
    first = np.sort(first[first >= 0])
    return known["full_name"].to_numpy(dtype=object)[first], first


def _name_table_reusing(values: np.ndarray, known: pd.DataFrame,
                        hints: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """:func:`_name_table` of ``values``, taking the columns of every name the prepared
    registry ``known`` holds from it (the columns are a function of the text alone).

    ``hints``, when given, is filled with ``column -> registry code of each entry's value``
    (-1 for names the registry lacks) for ``full_name`` and every name column whose codes
    ``known`` holds (``_c_<column>``): :func:`vaxlib.match.codes.add_codes` need not look
    those values up again.
    """
    from vaxlib.match.codes import PREFIX, _positions

    kuniq, first = _registry_names(known)
    at = _positions(kuniq, np.asarray(values, dtype=object))  # hashed in C on Arrow's UTF-8 (values may repeat)
    found = at >= 0
    rows = first[at[found]]
    new = _name_table(values[~found]) if (~found).any() else None
    out = {}
    for c in NAME_COLS:
        col = np.empty(len(values), dtype=object)
        col[found] = known[c].to_numpy(dtype=object)[rows]
        if new is not None:
            col[~found] = new[c]
        out[c] = col
    if hints is not None:
        for c in ["full_name"] + NAME_COLS:
            if PREFIX + c in known.columns:
                h = np.full(len(values), -1, dtype=np.int64)
                h[found] = known[PREFIX + c].to_numpy()[rows]
                hints[c] = h
    return out


def name_columns_reusing(names: pd.Series, known: pd.DataFrame) -> pd.DataFrame:
    """:func:`name_columns` of ``names``, taking the columns of every name ``known``
    (a prepared registry, whose ``full_name`` holds its text) already has.

    The columns are a function of the name's text alone, so this equals
    :func:`name_columns`; most typed names are a registry name, so only the
    others are computed.
    """
    codes, uniques = _text_codes(names)
    return _gathered(_name_table_reusing(uniques, known), codes, names.index)


def _dob_parts(iso: pd.Series, coding: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Year, month, day integers (0 where unknown) of ISO partial dates (parsed once per distinct value;
    a ``yyyy-mm-dd`` of ASCII digits, nearly every value, by numpy, the others by pandas).
    ``coding``: the column as (codes, values) (values may repeat), not factorised again."""
    from vaxlib.vn.dates import iso_ymd

    codes, uniques = _text_codes(iso) if coding is None else coding
    at, y, m, d = iso_ymd(uniques)
    rest = np.ones(len(uniques), dtype=bool)
    rest[at] = False
    text = pd.Series(uniques[rest], dtype=object)
    year = np.zeros(len(uniques), dtype=np.int32)
    month = np.zeros(len(uniques), dtype=np.int8)
    day = np.zeros(len(uniques), dtype=np.int8)
    year[at], month[at], day[at] = y, m, d
    if len(text):
        year[rest] = pd.to_numeric(text.str.slice(0, 4), errors="coerce").fillna(0).astype(np.int32).to_numpy()
        month[rest] = pd.to_numeric(text.str.slice(5, 7), errors="coerce").fillna(0).astype(np.int8).to_numpy()
        day[rest] = pd.to_numeric(text.str.slice(8, 10), errors="coerce").fillna(0).astype(np.int8).to_numpy()
    return pd.DataFrame({"year": year[codes], "month": month[codes], "day": day[codes]}, index=iso.index)


def _with_text(df: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    """A 0..N-1 indexed copy whose ``cols`` are object text columns ("" when missing or absent)."""
    out = df.reset_index(drop=True).copy()
    for col in cols:
        out[col] = _as_text(out[col]) if col in out.columns else pd.Series("", index=out.index, dtype=object)
    return out


def _names(df: pd.DataFrame, names: pd.DataFrame | None) -> pd.DataFrame:
    """``df`` with its name columns: ``names`` (computed elsewhere, row for row) or computed here."""
    cols = name_columns(df["full_name"]) if names is None else names.set_axis(df.index)
    return pd.concat([df, cols], axis=1)


def prepare_both(registry: pd.DataFrame, vaccinations: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`prepare_registry` and :func:`prepare_records`; the records' name columns are
    computed only for names the registry does not hold (:func:`name_columns_reusing`)."""
    reg = prepare_registry(registry)
    return reg, prepare_records(vaccinations, names=name_columns_reusing(vaccinations["full_name"], reg))


#: the registry columns prepare_registry reads as text ("" when missing)
REGISTRY_TEXT = ("person_id", "full_name", "dob", "sex", "old_id", "province_code")


def prepare_registry(registry: pd.DataFrame, names: pd.DataFrame | None = None, *,
                     coded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                     dicts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
    """Registry with derived matching columns; index is 0..N-1 (the registry position).

    Parameters
    ----------
    names : DataFrame, optional
        The name columns, row for row (computed here when omitted).
    coded : dict, optional
        ``read_table``'s coding of ``registry`` (``ImportResult.codes``, any of
        :data:`REGISTRY_TEXT`): the names and birth dates are not factorised again.
    dicts : dict, optional
        Filled with ``column -> (codes, values)`` (``values[codes]`` is the column, row for
        row) for every text column of the result whose coding is known here: the columns of
        ``coded`` and, when computed here, the name columns; a caller storing the frame by
        its codes need not factorise those columns again.
    """
    reg = _with_text(registry, REGISTRY_TEXT)
    given = {c: _reader_codes(*v) for c, v in (coded or {}).items()
             if c in REGISTRY_TEXT and c in registry.columns and len(v[0]) == len(reg)}
    out: dict[str, tuple[np.ndarray, np.ndarray]] = dict(given)
    if names is None and "full_name" in given:
        codes, values = given["full_name"]
        table = _name_table(values)
        reg = pd.concat([reg, _gathered(table, codes, reg.index)], axis=1)
        out.update({c: (codes, table[c]) for c in NAME_COLS})
    else:
        reg = _names(reg, names)
    parts = _dob_parts(reg["dob"], given.get("dob"))
    reg["year"], reg["month"], reg["day"] = parts["year"], parts["month"], parts["day"]
    if dicts is not None:
        dicts.update(out)
    return reg


def _per_value(codes: np.ndarray, values: np.ndarray | pd.Series, index: pd.Index) -> pd.Series:
    """The object column whose row ``i`` is ``values[codes[i]]`` (a per-distinct table gathered)."""
    return pd.Series(np.asarray(values, dtype=object)[codes], index=index, dtype=object, copy=False)


def _reader_codes(codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_text_codes` of a column given as ``read_table``'s coding (``codes`` -1 and
    ``None`` values are missing): "" for missing, no -1 codes, nothing hashed."""
    table = np.empty(len(values) + 1, dtype=object)
    table[:-1] = values
    table[-1] = ""
    table[pd.isna(table)] = ""
    return np.where(codes < 0, len(values), codes), table


#: the typed columns prepare_records reads as text (``read_table(..., codes=TEXT_COLUMNS)`` hands them over coded)
TEXT_COLUMNS = ("full_name", "dob", "sex", "id_number", "phone", "dose_number", "vaccination_date")


class ReaderCodes:
    """``read_table``'s coding of the dose records (``ImportResult.codes``), handed over once.

    :func:`~vaxlib.match.pipeline.run_match` takes the codes for preparing and lets them go,
    so the run does not hold them to its end (about 130 MB at 2.4M records) while the caller's
    own mappings stay untouched.
    """

    def __init__(self, codes: dict[str, tuple[np.ndarray, np.ndarray]]):
        self._codes = dict(codes)

    def take(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The codes; the holder is empty afterwards."""
        codes, self._codes = self._codes, {}
        return codes

    def __len__(self) -> int:
        return len(self._codes)


def prepare_records(vaccinations: pd.DataFrame, names: pd.DataFrame | None = None, *,
                    registry: pd.DataFrame | None = None,
                    dicts: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                    coded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
    """Dose records with parsed name, dob readings, ID, sex and phone; index 0..M-1.

    Every typed column is factorised once, and every derived column is computed
    on its distinct values and gathered by code.

    Parameters
    ----------
    names : DataFrame, optional
        The name columns, row for row (computed here when omitted).
    registry : DataFrame, optional
        A prepared registry: the name columns of the names it holds are taken
        from it (:func:`name_columns_reusing`) instead of being computed.
    dicts : dict, optional
        Filled with ``column -> (codes, values)`` for every text column the
        matcher codes (:data:`vaxlib.match.codes.DOMAINS`), so that
        :func:`vaxlib.match.codes.add_codes` numbers distinct values, not rows.
    coded : dict, optional
        ``read_table``'s coding of ``vaccinations`` (``ImportResult.codes``,
        any of :data:`TEXT_COLUMNS`): those columns are not factorised again.
    """
    from vaxlib.vn.dates import parse_dobs
    from vaxlib.vn.ids import parse_ids
    from vaxlib.vn.phones import normalise_phone_values
    from vaxlib.vn.sex import parse_sexes
    from vaxlib.vn.text import fullmatch_flags

    src = vaccinations.reset_index(drop=True)
    index = src.index
    given = {c: v for c, v in (coded or {}).items() if c in src.columns and len(v[0]) == len(src)}
    cols: dict[str, pd.Series] = {c: src[c] for c in src.columns}
    codings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for col in ("full_name", "dob", "sex", "id_number", "phone"):
        if col in given:
            codes, values = _reader_codes(*given[col])
        elif col in src.columns:
            codes, values = _text_codes(src[col])
        else:
            codes, values = np.zeros(len(src), dtype=np.int64), np.array([""], dtype=object)
        codings[col] = (codes, values)
        if col in given and src[col].dtype == object and not (given[col][0] < 0).any() \
                and not pd.isna(given[col][1]).any():
            cols[col] = src[col]  # no missing value: the table's column is already this text, shared
        else:
            cols[col] = _per_value(codes, values, index)
    cols["record_id"] = _as_text(src["record_id"]) if "record_id" in src.columns else \
        pd.Series("", index=index, dtype=object)
    out_dicts: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def derive(name: str, base: str, values) -> None:
        codes = codings[base][0]
        table = np.asarray(values, dtype=object)
        cols[name] = _per_value(codes, table, index)
        out_dicts[name] = (codes, table)

    out_dicts.update({c: codings[c] for c in ("full_name", "dob", "id_number")})
    n_values = codings["full_name"][1]
    if names is not None:
        for c in NAME_COLS:
            cols[c] = names[c].set_axis(index)
    else:
        hints: dict[str, np.ndarray] = {}
        table = _name_table_reusing(n_values, registry, hints) if registry is not None else _name_table(n_values)
        for c in NAME_COLS:
            derive(c, "full_name", table[c])
        # the registry codes of the names it holds: add_codes hashes only the others
        for c, h in hints.items():
            out_dicts[c] = out_dicts[c] + (h,)

    d_values = pd.Series(codings["dob"][1], dtype=object)
    dobs = parse_dobs(d_values)
    r0 = _as_text(dobs["dob"])  # the dd/mm reading
    derive("dob_r0", "dob", r0.to_numpy(dtype=object))
    derive("dob_r1", "dob", _as_text(dobs["dob_alt"]).to_numpy(dtype=object))  # mm/dd of an ambiguous date
    derive("dob_form", "dob", _as_text(dobs["form"]).to_numpy(dtype=object))
    parts = _dob_parts(r0)
    d_codes = codings["dob"][0]
    year, month, day = (parts[c].to_numpy()[d_codes] for c in ("year", "month", "day"))

    i_values = codings["id_number"][1]
    ids = parse_ids(pd.Series(i_values, dtype=object))
    derive("id_kind", "id_number", _as_text(ids["kind"]).to_numpy(dtype=object))
    derive("id_digits", "id_number", _as_text(ids["digits"]).to_numpy(dtype=object))
    derive("id_pattern", "id_number", _as_text(ids["pattern"]).to_numpy(dtype=object))
    derive("id_issues", "id_number", _as_text(ids["issues"]).to_numpy(dtype=object))
    # Every digit typed, in order: what is left of a truncated or malformed number. A number of
    # digits only (nearly all) is its own: only the others are rewritten (and new strings made).
    raw = i_values.copy()
    other = ~fullmatch_flags(i_values, "[0-9]*")
    if other.any():
        raw[other] = pd.Series(i_values[other], dtype="str").str.replace(r"[^0-9]", "", regex=True) \
            .to_numpy(dtype=object)
    derive("id_raw_digits", "id_number", raw)
    derive("sex_p", "sex", _as_text(parse_sexes(pd.Series(codings["sex"][1], dtype=object))).to_numpy(dtype=object))
    dose_n = _typed_numbers(src, given, "dose_number", lambda u: pd.to_numeric(u, errors="coerce").fillna(0)
                            .astype(np.int16).to_numpy(), np.int16(0))
    vdate = _typed_numbers(src, given, "vaccination_date", lambda u: (
        (pd.to_datetime(u, format="%Y-%m-%d", errors="coerce") - pd.Timestamp("1970-01-01")).dt.days)
        .fillna(-1).astype(np.int32).to_numpy(), np.int32(-1))
    phones = normalise_phone_values(codings["phone"][1])
    derive("phone_n", "phone", _as_text(pd.Series(phones, dtype=object)).to_numpy(dtype=object))

    # the column order of the row-by-row definition: typed columns, names, dob, ids, sex, dose, date, phone
    order = list(src.columns) + [c for c in ("record_id", "full_name", "dob", "sex", "id_number", "phone")
                                 if c not in src.columns] + NAME_COLS
    cols.update({"year": year, "month": month, "day": day, "dose_n": dose_n, "vdate": vdate})
    order += ["dob_r0", "dob_r1", "dob_form", "year", "month", "day", "id_kind", "id_digits", "id_pattern",
              "id_issues", "id_raw_digits", "sex_p", "dose_n", "vdate", "phone_n"]
    # one block per column, nothing copied: a consolidated 2-d object block would copy every
    # column again (about 2 CPU s at 2.4M records)
    rec = pd.DataFrame({c: cols[c] for c in order}, index=index, copy=False)
    if dicts is not None:
        dicts.update({c: v for c, v in out_dicts.items() if c in rec.columns})
    return rec


def _typed_numbers(src: pd.DataFrame, given: dict, col: str, convert, missing) -> np.ndarray:
    """``convert`` (object Series of the distinct values, None last -> numpy array) gathered to rows;
    ``missing`` when the frame has no such column."""
    if col not in src.columns:
        return np.full(len(src), missing)
    if col in given:
        codes, uniq = given[col]
    else:
        codes, uniq = pd.factorize(src[col], use_na_sentinel=True)
    values = convert(pd.Series(np.append(np.asarray(uniq, dtype=object), None), dtype=object))
    return values[np.where(codes < 0, len(values) - 1, codes)]
