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

import pandas as pd

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

__all__ = [
    "MISMATCH_STATUSES",
    "DIMENSIONS",
    "KINDS",
    "CLUSTER_COLUMNS",
    "UnknownClusterError",
    "split_codes",
    "mismatch_records",
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


def _text(series: pd.Series) -> pd.Series:
    """Strings with missing values as ``""`` (object dtype, for stable grouping)."""
    return series.astype(object).where(series.notna(), "").astype(str)


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
    dates = _text(out["vaccination_date"])
    out["period"] = dates.where(dates.str.match(r"^\d{4}-\d{2}"), "").str.slice(0, 7)
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
    m = mismatch_records(vaccinations, matches, statuses=statuses)
    m["code"] = [list(c) if c else [NO_CODE] for c in m["codes"]]
    out = m.explode("code", ignore_index=True)
    out["field"] = [field_of(c) for c in out["code"]]
    return out[["record_id", "status", "code", "field", "facility_id", "facility_province", "period"]]


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
    kinds = tuple(kinds)
    dims = tuple(dims)
    bad = [k for k in kinds if k not in KINDS] + [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise ValueError(f"unknown kind/dimension {bad}; kinds {KINDS}, dims {DIMENSIONS}")
    m = mismatch_records(vaccinations, matches, statuses=statuses)
    if "facility" not in dims:
        m["facility_id"] = ANY
    if "province" not in dims:
        m["facility_province"] = ANY
    if "period" not in dims:
        m["period"] = ANY

    parts = []
    if "code" in kinds:
        c = m.assign(pattern=[list(x) if x else [NO_CODE] for x in m["codes"]]).explode("pattern")
        parts.append(c.assign(kind="code"))
    if "combination" in kinds:
        combo = m[m["codes"].map(len).ge(2).to_numpy(dtype=bool)]  # a list mask would pick columns when empty
        parts.append(combo.assign(pattern=[";".join(x) for x in combo["codes"]], kind="combination"))
    if not parts or not sum(len(p) for p in parts):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTER_COLUMNS})
    long = pd.concat(parts, ignore_index=True)
    keys = ["kind", "pattern", "facility_province", "facility_id", "period"]
    status_counts = pd.crosstab(
        [long[k] for k in keys], long["status"]
    ).reindex(columns=list(MISMATCH_STATUSES), fill_value=0)
    g = status_counts.reset_index()
    g.columns.name = None
    g["n_records"] = status_counts.sum(axis=1).to_numpy()
    g = g.rename(columns={s: f"n_{s}" for s in MISMATCH_STATUSES})
    g = g[g["n_records"] >= min_size]
    g["_kind_order"] = g["kind"].map({k: i for i, k in enumerate(KINDS)})
    g = g.sort_values(
        ["n_records", "_kind_order", "pattern", "facility_province", "facility_id", "period"],
        ascending=[False, True, True, True, True, True], kind="stable",
    ).drop(columns="_kind_order")
    if top is not None:
        g = g.head(top)
    g = g.reset_index(drop=True)
    g["rank"] = range(1, len(g) + 1)
    g["cluster_id"] = [
        _cluster_id(p, pr, f, pe)
        for p, pr, f, pe in zip(g["pattern"], g["facility_province"], g["facility_id"], g["period"])
    ]
    names = facility_names(vaccinations)
    g["facility_name"] = [str(names.get(f, "")) for f in g["facility_id"]]
    rows = g.to_dict("records")
    g["description_vi"] = [describe_cluster(r, "vi") for r in rows]
    g["description_en"] = [describe_cluster(r, "en") for r in rows]
    for col in ("n_fix", "n_review", "n_unmatched", "n_records"):
        g[col] = g[col].astype("int64")
    return g[list(CLUSTER_COLUMNS)]


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
