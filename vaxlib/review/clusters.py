"""Mismatch clusters: where do the errors come from?

A *cluster* is a group of mismatch records (match status ``fix``, ``review``
or ``unmatched``) that share an error pattern, a vaccination facility, the
facility's province and a period (the month of vaccination).  Facilities tend
to have habits — one clinic's data-entry clerk types every date of birth as
mm/dd/yyyy, another's Excel sheet drops leading zeros — and a cluster makes a
habit visible as one line::

    CS-79-0123 đảo ngày và tháng sinh ở 412 bản ghi trong tháng 10/2021
    CS-79-0123 swapped day and month on 412 records in October 2021

Two kinds of pattern are counted:

* ``"code"``: one error code; a record with three codes is in three of them;
* ``"combination"``: the record's full set of two or more codes
  (``"dob:day_month_swap;name:no_diacritics"``).

Clusters therefore overlap; each one is exactly reproducible with
:func:`cluster_records` (the drill-down) from its ``cluster_id``.

Inputs are the contract's ``vaccinations`` and ``matches`` tables
(``shared/spec/data-contract.md``).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vaxlib.review.labels import (
    NO_CODE,
    check_lang,
    error_phrase,
    field_of,
    join_phrases,
    month_label,
)
from vaxlib.i18n import t
from vaxlib.vn.provinces import BY_GSO
from vaxlib.vn.text import text_or_empty as _text  # missing values as ""

__all__ = [
    "MISMATCH_STATUSES",
    "DIMENSIONS",
    "KINDS",
    "CLUSTER_COLUMNS",
    "UnknownClusterError",
    "CodedMismatches",
    "split_codes",
    "mismatch_records",
    "coded_mismatches",
    "exploded_codes",
    "count_clusters",
    "describe_clusters",
    "group_codes",
    "index_in",
    "is_in",
    "arrow_text",
    "as_array",
    "encode_text",
    "map_text",
    "periods",
    "explode_error_codes",
    "find_clusters",
    "describe_cluster",
    "cluster_records",
    "cluster_record_ids",
    "facility_names",
]

log = logging.getLogger(__name__)

#: match statuses that count as a mismatch
MISMATCH_STATUSES: tuple[str, ...] = ("fix", "review", "unmatched")
#: grouping dimensions besides the error pattern
DIMENSIONS: tuple[str, ...] = ("facility", "province", "period")
#: kinds of error pattern
KINDS: tuple[str, ...] = ("code", "combination")

#: columns of the table returned by :func:`find_clusters`, in order
CLUSTER_COLUMNS: tuple[str, ...] = (
    "cluster_id", "rank", "kind", "pattern", "facility_id", "facility_province", "period",
    "n_records", "n_fix", "n_review", "n_unmatched", "description_vi", "description_en", "facility_name",
)

#: value of a dimension that was not grouped on
ANY = "*"

_MATCH_COLUMNS = ("record_id", "status", "person_id", "match_probability", "error_codes")


class UnknownClusterError(KeyError):
    """The cluster id is not in the clusters table."""


def split_codes(value: object) -> tuple[str, ...]:
    """``"dob:format;name:typo"`` -> ``("dob:format", "name:typo")`` (sorted, unique).

    Empty, ``None`` and NaN give ``()``.
    """
    if value is None or (isinstance(value, float) and value != value):
        return ()
    text = str(value).strip()
    if not text:
        return ()
    return tuple(sorted({c.strip() for c in text.split(";") if c.strip()}))


def mismatch_records(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    statuses: Sequence[str] = MISMATCH_STATUSES,
) -> pd.DataFrame:
    """The mismatch records with what clustering needs.

    Parameters
    ----------
    vaccinations, matches
        Contract tables; joined on ``record_id``.
    statuses
        Match statuses kept (default ``fix``, ``review``, ``unmatched``).

    Returns
    -------
    DataFrame
        ``record_id, status, person_id, match_probability, error_codes,
        codes`` (tuple), ``facility_id, facility_province, period``
        (``YYYY-MM`` of ``vaccination_date``; ``""`` when unknown).
    """
    missing = [c for c in ("record_id", "status", "error_codes") if c not in matches.columns]
    if missing:
        raise KeyError(f"matches table lacks column(s) {missing}")
    m = matches[[c for c in _MATCH_COLUMNS if c in matches.columns]]
    m = m[m["status"].isin(list(statuses))]
    v = vaccinations[["record_id", "facility_id", "facility_province", "vaccination_date"]]
    out = m.merge(v, on="record_id", how="left", validate="one_to_one")
    out["facility_id"] = _text(out["facility_id"])
    out["facility_province"] = _text(out["facility_province"])
    out["period"] = pd.Series(periods(out["vaccination_date"]).to_numpy(zero_copy_only=False), index=out.index,
                              dtype="str")
    out["codes"] = [split_codes(c) for c in out["error_codes"]]
    return out.drop(columns=["vaccination_date"]).reset_index(drop=True)


def explode_error_codes(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    statuses: Sequence[str] = MISMATCH_STATUSES,
) -> pd.DataFrame:
    """One row per (mismatch record, error code), for plots and counts.

    A record without any code appears once with code :data:`NO_CODE`.

    Returns
    -------
    DataFrame
        ``record_id, status, code, field, facility_id, facility_province, period``.
    """
    cm = coded_mismatches(vaccinations, matches, statuses=statuses)
    record, code, values = exploded_codes(cm)
    ids = arrow_text(_column(matches, "record_id")).take(pa.array(cm.rows[record]))
    fields = np.array([field_of(c) for c in values], dtype=object)
    # no row: the float columns an empty explode gives (what callers saw before)
    text = _str if len(record) else (lambda a: pd.Series(np.zeros(0), dtype=float))
    return pd.DataFrame({
        "record_id": pd.Series(ids.to_numpy(zero_copy_only=False), dtype="str"),
        "status": _str(np.array(cm.statuses, dtype=object)[cm.status[record]]),
        "code": text(values[code]),
        "field": text(fields[code]),
        **{name: _str(cm.dims[name][1][cm.dims[name][0][record]])
           for name in ("facility_id", "facility_province", "period")},
    })


def _subject(facility_id: str, province: str, lang: str, facility_name: str = "") -> str:
    if facility_id != ANY:
        if facility_id and facility_name:  # what a supervisor calls it, and the code the platform uses
            return f"{facility_name} ({facility_id})"
        return facility_id or t("review.cluster_unknown_facility", lang)
    if province != ANY:
        p = BY_GSO.get(province)
        if p is None:
            return t("review.cluster_province_code", lang, code=province) if province else \
                t("review.cluster_unknown_province", lang)
        return p.name if lang == "vi" else p.name_en
    return t("review.cluster_all_facilities", lang)


def describe_cluster(cluster: pd.Series | dict, lang: str = "vi") -> str:
    """One sentence describing a cluster row of :func:`find_clusters`.

    >>> describe_cluster({"kind": "code", "pattern": "dob:day_month_swap", "facility_id": "CS-79-0123",
    ...                   "facility_province": "79", "period": "2021-10", "n_records": 412})
    'CS-79-0123 đảo ngày và tháng sinh ở 412 bản ghi trong tháng 10/2021'

    With the facility's name (``facility_name``, when the data has it): ``'Trạm Y tế phường Tân Định
    (CS-79-0123) đảo ngày và tháng sinh ở 412 bản ghi trong tháng 10/2021'``.
    """
    check_lang(lang)
    codes = split_codes(cluster["pattern"]) or (NO_CODE,)
    what = join_phrases([error_phrase(c, lang) for c in codes], lang)
    name = cluster.get("facility_name", "") if hasattr(cluster, "get") else ""
    name = "" if name is None or (isinstance(name, float) and name != name) else str(name)
    subject = _subject(str(cluster["facility_id"]), str(cluster["facility_province"]), lang, name)
    n = int(cluster["n_records"])
    period = str(cluster["period"])
    text = t("review.cluster_one" if n == 1 else "review.cluster_many", lang, subject=subject, what=what, n=n)
    if period != ANY:
        text += t("review.cluster_month", lang, month=month_label(period, lang)) if period else \
            t("review.cluster_no_date", lang)
    return text


def _cluster_id(pattern: str, province: str, facility: str, period: str) -> str:
    return f"{pattern}|{province}|{facility}|{period}"


def find_clusters(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    kinds: Iterable[str] = KINDS,
    dims: Iterable[str] = DIMENSIONS,
    statuses: Sequence[str] = MISMATCH_STATUSES,
    min_size: int = 1,
    top: int | None = None,
) -> pd.DataFrame:
    """Group mismatch records into clusters, largest first.

    Parameters
    ----------
    vaccinations, matches
        Contract tables.
    kinds
        Pattern kinds to count: ``"code"`` (each error code) and/or
        ``"combination"`` (a record's full set of two or more codes).
    dims
        Grouping dimensions besides the pattern, among ``"facility"``,
        ``"province"`` (of the facility) and ``"period"`` (month of
        vaccination).  A dimension left out is shown as ``"*"``.
    statuses
        Match statuses counted as mismatches.
    min_size
        Drop clusters with fewer records.
    top
        Keep only the ``top`` largest clusters.

    Returns
    -------
    DataFrame
        Columns :data:`CLUSTER_COLUMNS`; ``rank`` 1 is the largest; ties are
        broken by kind (single codes first), pattern, province, facility and
        period so the order is deterministic.  ``cluster_id`` is
        ``"pattern|province|facility|period"``, stable across runs on the same data.
    """
    g = count_clusters(coded_mismatches(vaccinations, matches, statuses=statuses), kinds=kinds, dims=dims,
                       min_size=min_size, top=top)
    if g is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTER_COLUMNS})
    return describe_clusters(g, facility_names(vaccinations))[list(CLUSTER_COLUMNS)]


def facility_names(vaccinations: pd.DataFrame) -> pd.Series:
    """facility_id -> its ``facility_name`` (io carries it as an extra column), first non-empty one; empty
    when the data has no names."""
    if "facility_name" not in vaccinations.columns:
        return pd.Series(dtype=object, index=pd.Index([], dtype=object))
    v = pd.DataFrame({"facility_id": _text(vaccinations["facility_id"]),
                      "facility_name": _text(vaccinations["facility_name"]).str.strip()})
    v = v[v["facility_name"].ne("")].drop_duplicates("facility_id")
    return v.set_index("facility_id")["facility_name"]


def _cluster_row(clusters: pd.DataFrame, cluster_id: str) -> pd.Series:
    hit = clusters[clusters["cluster_id"] == cluster_id]
    if hit.empty:
        raise UnknownClusterError(f"no cluster with id {cluster_id!r}")
    return hit.iloc[0]


def _cluster_mask(m: pd.DataFrame, row: pd.Series) -> pd.Series:
    pattern = str(row["pattern"])
    if row["kind"] == "combination":
        target = split_codes(pattern)
        mask = pd.Series([c == target for c in m["codes"]], index=m.index)
    elif pattern == NO_CODE:
        mask = pd.Series([len(c) == 0 for c in m["codes"]], index=m.index)
    else:
        mask = pd.Series([pattern in c for c in m["codes"]], index=m.index)
    for col in ("facility_id", "facility_province", "period"):
        if row[col] != ANY:
            mask &= m[col] == row[col]
    return mask


def cluster_records(
    clusters: pd.DataFrame,
    cluster_id: str,
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    statuses: Sequence[str] = MISMATCH_STATUSES,
    mismatches: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Drill down: the records of one cluster.

    Parameters
    ----------
    clusters
        Table from :func:`find_clusters`.
    cluster_id
        A value of ``clusters["cluster_id"]``.
    vaccinations, matches
        The tables the clusters were computed from.
    statuses
        Must equal the ``statuses`` given to :func:`find_clusters`.
    mismatches
        Optional :func:`mismatch_records` of the same tables, computed once
        and reused for fast repeated drill-downs (then ``statuses`` is ignored).

    Returns
    -------
    DataFrame
        The cluster's vaccination rows (all contract columns) followed by the
        match columns (``status``, ``person_id``, ``match_probability``,
        ``error_codes``, ``corrected_*``, ``person_key``), ordered by ``record_id``.

    Raises
    ------
    UnknownClusterError
        ``cluster_id`` is not in ``clusters``.
    """
    row = _cluster_row(clusters, cluster_id)
    m = mismatches if mismatches is not None else mismatch_records(vaccinations, matches, statuses=statuses)
    ids = m.loc[_cluster_mask(m, row), "record_id"]
    v = vaccinations[vaccinations["record_id"].isin(ids)]
    extra = [c for c in matches.columns if c == "record_id" or c not in v.columns]
    out = v.merge(matches[extra], on="record_id", how="left")
    return out.sort_values("record_id", kind="stable").reset_index(drop=True)


def cluster_record_ids(
    clusters: pd.DataFrame,
    cluster_id: str,
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    statuses: Sequence[str] = MISMATCH_STATUSES,
    mismatches: pd.DataFrame | None = None,
) -> list[str]:
    """The ``record_id`` values of one cluster, sorted (for a bulk decision)."""
    return cluster_records(clusters, cluster_id, vaccinations, matches, statuses=statuses,
                           mismatches=mismatches)["record_id"].astype(str).tolist()


# ---------------------------------------------------------------------------- coded records
#
# A national result has ~4M mismatch records: a Python tuple of codes, a list to explode and a
# string per record and dimension took more than 10 GB.  Everything below counts on integer
# codes into small sorted dictionaries (code order = text order, so sorting codes sorts the text
# the way pandas' groupby and sort_values do).


@dataclass(frozen=True)
class CodedMismatches:
    """The mismatch records of :func:`mismatch_records` as integer codes (no Python object per record).

    Attributes
    ----------
    rows
        Each mismatch record's row in the matches table (int64, table order).
    status
        Index into ``statuses`` (int8).
    statuses
        The statuses kept, as given.
    codeset
        Index into ``code_sets`` (int32): the record's :func:`split_codes` value.
    code_sets
        The distinct code tuples.
    dims
        ``facility_id``, ``facility_province``, ``period`` -> (codes int32, sorted values):
        the text :func:`mismatch_records` gives (``""`` when unknown).
    vaccination_rows
        Each record's row in the vaccinations table (int64, -1 when it has none).
    """

    rows: np.ndarray
    status: np.ndarray
    statuses: tuple[str, ...]
    codeset: np.ndarray
    code_sets: tuple[tuple[str, ...], ...]
    dims: dict[str, tuple[np.ndarray, np.ndarray]]
    vaccination_rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def as_array(values) -> "pa.Array":
    """A pandas column, Arrow array or chunked array as one Arrow array."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        return values
    arr = pa.array(values, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _column(table, name: str):
    """A column of a DataFrame or pyarrow Table as one Arrow array."""
    return as_array(table[name])


def arrow_text(arr) -> "pa.Array":
    """:func:`_text` on Arrow: missing values ``""``, other values their text (large_string).

    Dictionary arrays are decoded; non-text types go through :func:`_text` (their Python ``str``).
    """
    if not isinstance(arr, (pa.Array, pa.ChunkedArray)):
        arr = pa.array(arr, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_null(arr.type):
        arr = arr.cast(pa.large_string())
        return pc.fill_null(arr, "") if arr.null_count else arr  # no copy of 24M ids without a gap
    return pa.array(_text(pd.Series(arr.to_pandas())).to_numpy(dtype=object), type=pa.large_string())


#: values per hash table when looking up millions of IDs (pyarrow's table costs ~70 bytes a value)
LOOKUP_CHUNK = 4_000_000


def index_in(values, value_set, chunk: int = LOOKUP_CHUNK) -> np.ndarray:
    """``pc.index_in`` of :func:`arrow_text` values (first position, -1 when absent) as int64, with
    the value set hashed ``chunk`` values at a time: 24M record IDs in one table took 1.7 GB."""
    values, value_set = arrow_text(values), arrow_text(value_set)
    out = np.full(len(values), -1, dtype=np.int64)
    for start in range(0, len(value_set), chunk):
        at = pc.index_in(values, value_set=value_set.slice(start, chunk))
        at = at.fill_null(-1).to_numpy(zero_copy_only=False)
        new = (out < 0) & (at >= 0)  # earlier chunks hold earlier positions: the first one wins
        out[new] = at[new] + start
    return out


def is_in(values, value_set, chunk: int = LOOKUP_CHUNK) -> np.ndarray:
    """``pc.is_in`` of :func:`arrow_text` values (null never in) as numpy bools, ``chunk`` values of the
    set hashed at a time."""
    values, value_set = arrow_text(values), arrow_text(value_set)
    out = np.zeros(len(values), dtype=bool)
    for start in range(0, len(value_set), chunk):
        out |= pc.fill_null(pc.is_in(values, value_set=value_set.slice(start, chunk)), False).to_numpy(
            zero_copy_only=False)
    return out


def encode_text(arr, extra: Iterable[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Text as (int32 codes, sorted distinct values): ``values[codes]`` is :func:`arrow_text` of ``arr``.

    ``extra`` values are put in the dictionary even when absent (e.g. ``""`` for rows to fill later).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if isinstance(arr, pa.Array) and pa.types.is_dictionary(arr.type) and \
            (pa.types.is_string(arr.type.value_type) or pa.types.is_large_string(arr.type.value_type)):
        # only the dictionary is text: decode nothing per row
        values = arrow_text(arr.dictionary).to_pylist()
        idx = arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        distinct = sorted(set(values) | set(extra) | ({""} if arr.null_count else set()))
        where = {v: i for i, v in enumerate(distinct)}
        remap = np.array([where[v] for v in values] + [where.get("", 0)], dtype=np.int32)
        return remap[idx], np.array(distinct, dtype=object)  # idx -1 (null) takes the last: ""
    text = arrow_text(arr)
    distinct = sorted(set(pc.unique(text).to_pylist()) | set(extra))
    codes = pc.index_in(text, value_set=pa.array(distinct, type=pa.large_string()))
    return codes.to_numpy(zero_copy_only=False).astype(np.int32), np.array(distinct, dtype=object)


def periods(dates) -> "pa.Array":
    """``YYYY-MM`` of each vaccination date, ``""`` when the text does not start like ``2021-10``.

    A dictionary array stays one (only its dictionary is computed on; null stays null)."""
    return map_text(dates, lambda text: pc.if_else(
        pc.fill_null(pc.match_substring_regex(text, r"^\d{4}-\d{2}"), False), pc.utf8_slice_codeunits(text, 0, 7), ""))


def map_text(arr, fn) -> "pa.Array":
    """``fn`` (an Arrow text function) on :func:`arrow_text` of ``arr``; on a dictionary array only its
    dictionary is mapped (24M dates have a few hundred distinct values) and null rows stay null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if isinstance(arr, pa.Array) and pa.types.is_dictionary(arr.type):
        return pa.DictionaryArray.from_arrays(arr.indices, fn(arrow_text(arr.dictionary)))
    return fn(arrow_text(arr))


def coded_mismatches(
    vaccinations,
    matches,
    *,
    statuses: Sequence[str] = MISMATCH_STATUSES,
    vaccination_rows=None,
) -> CodedMismatches:
    """:func:`mismatch_records` as :class:`CodedMismatches`.

    Parameters
    ----------
    vaccinations, matches
        Contract tables (pandas DataFrames or pyarrow Tables); joined on ``record_id``.
    statuses
        Match statuses kept.
    vaccination_rows
        Optional: each matches row's row in ``vaccinations`` (Arrow or numpy integers, null or
        negative when absent), when the caller has joined them already.
    """
    need = ("status", "error_codes") if vaccination_rows is not None else ("record_id", "status", "error_codes")
    missing = [c for c in need if c not in _names(matches)]
    if missing:
        raise KeyError(f"matches table lacks column(s) {missing}")
    statuses = tuple(statuses)
    status = arrow_text(_column(matches, "status"))
    keep = pc.fill_null(pc.is_in(status, value_set=pa.array(statuses, type=pa.large_string())), False)
    rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    take = pa.array(rows)
    st = pc.index_in(status.take(take), value_set=pa.array(statuses, type=pa.large_string()))
    codes, values = encode_text(_column(matches, "error_codes").take(take))
    code_sets = tuple(split_codes(v) for v in values)
    if vaccination_rows is None:
        at = index_in(_column(matches, "record_id").take(take), _column(vaccinations, "record_id"))
    else:
        at = vaccination_rows
        if isinstance(at, (pa.Array, pa.ChunkedArray)):
            at = at.fill_null(-1).to_numpy(zero_copy_only=False)
        at = np.asarray(at)[rows].astype(np.int64)
    found = at >= 0
    where = pa.array(np.where(found, at, 0))
    dims = {}
    for name in ("facility_id", "facility_province", "period"):
        col = _column(vaccinations, "vaccination_date" if name == "period" else name)
        col = col.take(where) if len(col) else pa.nulls(len(rows), pa.large_string())  # no row to take from
        if name == "period":
            col = periods(col)
        c, vals = encode_text(col, extra=("",))
        c[~found] = int(np.searchsorted(vals.astype(str), ""))  # "" sorts first: code 0
        dims[name] = (c, vals)
    return CodedMismatches(rows=rows.astype(np.int64), status=st.to_numpy(zero_copy_only=False).astype(np.int8),
                           statuses=statuses, codeset=codes, code_sets=code_sets, dims=dims,
                           vaccination_rows=at)


def _names(table) -> list[str]:
    return list(table.column_names) if isinstance(table, pa.Table) else list(table.columns)


def exploded_codes(cm: CodedMismatches) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One entry per (mismatch record, error code), :data:`NO_CODE` for a record without codes.

    Returns
    -------
    record, code, values
        The record's position in ``cm`` (int64), the code (int32 into ``values``) and the sorted
        distinct codes; records in order, each record's codes sorted (as :func:`explode_error_codes`).
    """
    lists = [list(s) if s else [NO_CODE] for s in cm.code_sets]
    values = np.array(sorted({c for s in lists for c in s}), dtype=object)
    where = {v: i for i, v in enumerate(values)}
    flat = np.array([where[c] for s in lists for c in s], dtype=np.int32)
    lens = np.array([len(s) for s in lists], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    per = lens[cm.codeset] if len(lists) else np.zeros(0, dtype=np.int64)
    record = np.repeat(np.arange(len(cm), dtype=np.int64), per)
    first = np.repeat(np.cumsum(per) - per, per)
    pos = np.repeat(starts[cm.codeset], per) + (np.arange(len(record), dtype=np.int64) - first)
    return record, flat[pos] if len(record) else np.zeros(0, dtype=np.int32), values


def group_codes(keys: Sequence[tuple[np.ndarray, int]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Distinct combinations of integer-coded keys, in ascending (lexicographic) order.

    Parameters
    ----------
    keys
        (codes, number of distinct values) per key, all the same length.

    Returns
    -------
    group, codes
        Each row's group number (int64, 0..G-1, groups in key order) and each key's codes of the
        G groups.
    """
    n = len(keys[0][0]) if keys else 0
    size = 1
    for _, k in keys:
        size *= max(int(k), 1)
    if size >= 2**62:
        raise ValueError("too many key combinations to group on one integer")
    combined = np.zeros(n, dtype=np.int64)
    for codes, k in keys:
        combined *= max(int(k), 1)
        combined += codes
    if size <= max(4 * n, 1 << 20):  # a counting table is cheaper than a sort
        seen = np.zeros(size, dtype=bool)
        seen[combined] = True
        uniq = np.flatnonzero(seen)
        lookup = np.zeros(size, dtype=np.int64)
        lookup[uniq] = np.arange(len(uniq))
        group = lookup[combined]
    else:
        uniq, group = np.unique(combined, return_inverse=True)
    out = []
    rest = uniq.copy()
    for _, k in reversed(keys):
        out.append(rest % max(int(k), 1))
        rest //= max(int(k), 1)
    return group, out[::-1]


def _str(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def count_clusters(
    cm: CodedMismatches,
    *,
    kinds: Iterable[str] = KINDS,
    dims: Iterable[str] = DIMENSIONS,
    min_size: int = 1,
    top: int | None = None,
) -> pd.DataFrame | None:
    """The counting and ranking of :func:`find_clusters` on coded records.

    Returns
    -------
    DataFrame or None
        ``kind, pattern, facility_province, facility_id, period, n_fix, n_review, n_unmatched,
        n_records, rank`` in rank order (no descriptions, ids or names: :func:`describe_clusters`);
        None when no record has a pattern of these kinds.
    """
    kinds, dims = tuple(kinds), tuple(dims)
    bad = [k for k in kinds if k not in KINDS] + [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise ValueError(f"unknown kind/dimension {bad}; kinds {KINDS}, dims {DIMENSIONS}")
    # (record position, pattern text) for each kind
    parts = []
    if "code" in kinds:
        record, code, values = exploded_codes(cm)
        parts.append((0, record, code, values))
    if "combination" in kinds:
        joined = np.array([";".join(s) for s in cm.code_sets], dtype=object)
        multi = np.array([len(s) >= 2 for s in cm.code_sets], dtype=bool)
        record = np.flatnonzero(multi[cm.codeset]) if len(cm.code_sets) else np.zeros(0, dtype=np.int64)
        parts.append((1, record, cm.codeset[record], joined))
    if not parts or not sum(len(p[1]) for p in parts):
        return None
    patterns = np.array(sorted({str(v) for _, _, _, vals in parts for v in vals}), dtype=object)
    where = {v: i for i, v in enumerate(patterns)}
    kind_c, pat_c, rec_c = [], [], []
    for k, record, code, vals in parts:
        remap = np.array([where[str(v)] for v in vals], dtype=np.int64)
        kind_c.append(np.full(len(record), k, dtype=np.int64))
        pat_c.append(remap[code] if len(remap) else np.zeros(0, dtype=np.int64))
        rec_c.append(record)
    kind_c, pat_c, rec_c = (np.concatenate(x) for x in (kind_c, pat_c, rec_c))
    dim_names = {"facility": "facility_id", "province": "facility_province", "period": "period"}
    keys = [(kind_c, len(KINDS)), (pat_c, len(patterns))]
    dim_values = {}
    for dim in ("province", "facility", "period"):  # the order of the sort: province, facility, period
        name = dim_names[dim]
        if dim in dims:
            codes, vals = cm.dims[name]
            keys.append((codes[rec_c].astype(np.int64), len(vals)))
            dim_values[name] = vals
        else:
            keys.append((np.zeros(len(rec_c), dtype=np.int64), 1))
            dim_values[name] = np.array([ANY], dtype=object)
    group, gcodes = group_codes(keys)
    n_groups = len(gcodes[0])
    status = cm.status[rec_c].astype(np.int64)
    counts = {}
    for s in MISMATCH_STATUSES:
        if s in cm.statuses:
            sel = status == cm.statuses.index(s)
            counts[s] = np.bincount(group[sel], minlength=n_groups).astype(np.int64)
        else:
            counts[s] = np.zeros(n_groups, dtype=np.int64)
    n_records = sum(counts.values())
    # groups come in (kind, pattern, province, facility, period) order: a stable sort on the
    # size alone gives find_clusters' order
    keep = np.flatnonzero(n_records >= min_size)
    order = keep[np.argsort(-n_records[keep], kind="stable")]
    if top is not None:
        order = order[:top]
    g = pd.DataFrame({
        "kind": _str(np.array(KINDS, dtype=object)[gcodes[0][order]]),
        "pattern": _str(patterns[gcodes[1][order]]),
        "facility_province": _str(dim_values["facility_province"][gcodes[2][order]]),
        "facility_id": _str(dim_values["facility_id"][gcodes[3][order]]),
        "period": _str(dim_values["period"][gcodes[4][order]]),
        **{f"n_{s}": counts[s][order] for s in MISMATCH_STATUSES},
        "n_records": n_records[order].astype(np.int64),
    })
    g["rank"] = np.arange(1, len(g) + 1, dtype=np.int64)
    return g


def describe_clusters(g: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """Add ``cluster_id``, ``facility_name`` and the two descriptions to :func:`count_clusters` rows.

    ``names``: :func:`facility_names` of the vaccinations the clusters were counted on.
    """
    g = g.copy()
    g["cluster_id"] = [
        _cluster_id(p, pr, f, pe)
        for p, pr, f, pe in zip(g["pattern"], g["facility_province"], g["facility_id"], g["period"])
    ]
    g["facility_name"] = [str(names.get(f, "")) for f in g["facility_id"]]
    rows = g.to_dict("records")
    g["description_vi"] = [describe_cluster(r, "vi") for r in rows]
    g["description_en"] = [describe_cluster(r, "en") for r in rows]
    return g
