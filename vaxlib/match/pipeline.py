"""`vax match` end to end: prepare → candidates → compare → score → classify → keys.

The work is done by plain functions on pandas frames, in two stages:

1. every record is compared with the registry person that owns its ID
   number (an exact join); records whose name and date of birth then agree
   up to form (case, Unicode, tone convention, diacritics, date format) are
   settled — they are this person;
2. the remaining records go through every blocking rule of
   :mod:`vaxlib.match.blocking`.

Scoring adds three record-level pieces to the pairwise Fellegi–Sunter weights
(:mod:`vaxlib.match.model`): ρ, the prior share of records in the register, is
estimated per kind of typed ID; a pair without ID evidence is discounted by
the namesake excess measured on people outside the register who carry their
own number; and such a pair's dose history is the record's whole own history
(same folded name, dob and phone), not the single dose.  After scoring, a
review record joins the automatic link of its own dose history
(:mod:`vaxlib.match.own_history`).

Stage 2 works on independent groups of records, so it can be partitioned
(``partitions``) and, later, handed to a distributed engine that runs the same
functions.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.arrays import ArrowStringArray

from vaxlib.match.blocking import RULES, candidate_pairs, combine_pairs, record_columns, rule_pairs
from vaxlib.match.codes import add_codes, add_record_codes
from vaxlib.match.classify import RegistryNumbers, classify_links, unlinked_error_codes
from vaxlib.match.compare import FIELDS, LEVELS, compare_pairs, history_levels, own_group_dose_conflict
from vaxlib.match.model import (
    FSModel,
    estimate_rho,
    fit_held,
    fit_model,
    fit_namesake_calibration,
    namesake_penalty,
    outside_reference,
)
from vaxlib.match.index import RegistryIndex, build_index
from vaxlib.match.levels import FrameCache
from vaxlib.match.own_history import own_history_links
from vaxlib.match.prepare import ReaderCodes, prepare_records

__all__ = ["MatchSettings", "MatchResult", "run_match", "compare_partitioned", "candidates_partitioned",
           "classify_partitioned", "score_pairs", "record_matches",
           "MATCH_COLUMNS", "CANDIDATE_COLUMNS"]

log = logging.getLogger(__name__)

MATCH_COLUMNS = [
    "record_id", "status", "person_id", "match_probability", "error_codes",
    "corrected_full_name", "corrected_dob", "corrected_sex", "corrected_id_number", "person_key",
]
CANDIDATE_COLUMNS = (
    ["record_id", "person_id", "rank", "match_weight", "match_probability", "prior_weight", "rules"]
    + [f"level_{f}" for f in FIELDS] + [f"bf_{f}" for f in FIELDS] + ["bf_namesake"]
)


@dataclass
class MatchSettings:
    auto_threshold: float = 0.99  #: probability at or above which a link is a `fix`
    review_threshold: float = 0.50  #: below this the record is `unmatched`
    max_block: int = 100  #: skip blocking keys shared by more registry persons
    #: lower caps for single broad rules (rule name -> max registry persons per key)
    rule_max_block: dict = field(default_factory=lambda: {"famgiven_year": 20})
    top_candidates: int = 3  #: candidates kept per record in candidates.parquet
    guard_idless: bool = True  #: records with no ID evidence need an exact dob or their own phone to be fixed
    u_pairs: int = 100_000
    em_iterations: int = 25
    seed: int = 0
    #: processes for the partitioned steps (blocking rules, pair comparison); 1 = all in this process.
    #: Partitions are plain function calls on (forked) copies of the frames, so results do not depend on it.
    workers: int = 1

    @classmethod
    def from_dict(cls, d: dict | None, source: str | None = None) -> "MatchSettings":
        """Settings from a mapping (``parameters/matching.yaml``); an unknown key is an error.

        Raises
        ------
        vaxlib.errors.SettingsError
            A key that is not a setting (a typo would otherwise be ignored silently); names ``source``.
        """
        from vaxlib.errors import SettingsError

        d = dict(d or {})
        unknown = sorted(k for k in d if k not in cls.__dataclass_fields__)
        if unknown:
            where = f"{source}: " if source else ""
            raise SettingsError(f"{where}unknown matching setting(s) {', '.join(map(repr, unknown))}; known: "
                                + ", ".join(sorted(cls.__dataclass_fields__)))
        return cls(**d)


@dataclass
class MatchResult:
    matches: pd.DataFrame
    candidates: pd.DataFrame
    model: FSModel
    stats: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- partitions
#: frames the forked workers read (set just before the pool forks, cleared after)
_SHARED: dict = {}


def _fork_available() -> bool:
    return "fork" in mp.get_all_start_methods()


def _run_partitions(task: Callable, args: list[tuple], workers: int) -> list:
    """``[task(*a) for a in args]``, the first partition in this process and the
    others in up to ``workers - 1`` forked processes that share ``_SHARED``
    copy-on-write.  Results come back in the order of ``args``."""
    if workers <= 1 or len(args) <= 1 or not _fork_available():
        return [task(*a) for a in args]
    ctx = mp.get_context("fork")
    from vaxlib.runs import die_with_parent

    # the workers die with this process, even on SIGKILL (no orphan keeps computing)
    with ctx.Pool(min(workers, len(args)) - 1, initializer=die_with_parent) as pool:
        jobs = [pool.apply_async(task, a) for a in args[1:]]
        first = task(*args[0])
        return [first] + [j.get() for j in jobs]


def _compare_slice(lo: int, hi: int) -> pd.DataFrame:
    return compare_pairs(_SHARED["rec"], _SHARED["reg"], _SHARED["pairs"].iloc[lo:hi], cache=_SHARED["cache"])


def compare_partitioned(rec: pd.DataFrame, reg: pd.DataFrame, pairs: pd.DataFrame, workers: int = 1,
                        min_pairs: int = 200_000, cache: FrameCache | None = None) -> pd.DataFrame:
    """:func:`~vaxlib.match.compare.compare_pairs` on ``workers`` contiguous slices of
    the pairs (each pair's levels depend on that pair alone: same result); ``cache``
    as there."""
    n = len(pairs)
    if workers <= 1 or n < min_pairs:
        return compare_pairs(rec, reg, pairs, cache=cache)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    if cache is not None:
        # fill the cache from a thin sample before forking: the workers inherit it instead of
        # each deriving the same per-frame arrays again
        compare_pairs(rec, reg, pairs.iloc[:: max(n // 5000, 1)], cache=cache)
    _SHARED.update(rec=rec, reg=reg, pairs=pairs, cache=cache)
    try:
        parts = _run_partitions(_compare_slice, [(int(bounds[k]), int(bounds[k + 1])) for k in range(workers)],
                                workers)
    finally:
        _SHARED.clear()
    out = pd.concat(parts)
    out.index = pairs.index
    return out


def _classify_slice(lo: int, hi: int) -> pd.DataFrame:
    s = _SHARED
    return classify_links(s["rec"], s["reg"], s["li"][lo:hi], s["best"][lo:hi], s["reg_ids"])


def classify_partitioned(rec: pd.DataFrame, reg: pd.DataFrame, rec_idx: np.ndarray, reg_idx: np.ndarray,
                         registry_ids, workers: int = 1, min_links: int = 50_000) -> pd.DataFrame:
    """:func:`~vaxlib.match.classify.classify_links` on ``workers`` contiguous slices of
    the links (each link's codes depend on that link alone: same result)."""
    n = len(rec_idx)
    if workers <= 1 or n < min_links:
        return classify_links(rec, reg, rec_idx, reg_idx, registry_ids)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    _SHARED.update(rec=rec, reg=reg, li=rec_idx, best=reg_idx, reg_ids=registry_ids)
    try:
        parts = _run_partitions(_classify_slice, [(int(bounds[k]), int(bounds[k + 1])) for k in range(workers)],
                                workers)
    finally:
        _SHARED.clear()
    return pd.concat(parts)


def _rules_part(names: tuple[str, ...], max_block: int, caps: dict) -> list[pd.DataFrame]:
    return [rule_pairs(_SHARED["rec"], _SHARED["reg"], name, min(max_block, caps.get(name, max_block)),
                       _SHARED["keys"], _SHARED["cache"]) for name in names]


def candidates_partitioned(rec: pd.DataFrame, reg: pd.DataFrame, max_block: int = 100,
                           workers: int = 1, rule_max_block: dict | None = None,
                           keys: dict | None = None, cache: FrameCache | None = None) -> pd.DataFrame:
    """:func:`~vaxlib.match.blocking.candidate_pairs` with all rules, the rules
    dealt round-robin to ``workers`` processes (same pairs, same order); ``cache``
    as there."""
    if workers <= 1:
        return candidate_pairs(rec, reg, max_block=max_block, rule_max_block=rule_max_block, keys=keys,
                               cache=cache)
    groups = [tuple(RULES[k::workers]) for k in range(workers)]
    _SHARED.update(rec=rec, reg=reg, keys=keys, cache=cache)
    try:
        parts = _run_partitions(_rules_part, [(g, max_block, dict(rule_max_block or {})) for g in groups],
                                workers)
    finally:
        _SHARED.clear()
    by_rule = {name: df for g, part in zip(groups, parts) for name, df in zip(g, part)}
    return combine_pairs([by_rule[name] for name in RULES])


def _settled(levels: pd.DataFrame) -> np.ndarray:
    return (levels["name"].between(0, 3) & levels["dob"].between(0, 1)).to_numpy()


def _rank_within(rec: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, rank): pair positions sorted by record then weight descending (stable:
    ties keep pair order), and each sorted pair's rank (1 = best) within its record
    (:func:`vaxlib.match.kernels.rank_within`, ``np.lexsort((-weight, rec))`` in one pass)."""
    from vaxlib.match.kernels import rank_within

    return rank_within(rec, weight)


def _group_probabilities(rec: np.ndarray, a: np.ndarray, rho: float | np.ndarray) -> np.ndarray:
    """Posterior that the record belongs to candidate i among its candidates.

    p_i = 2^a_i / ((1 - ρ) + Σ_j 2^a_j), a = log2(ρ/N) + weight: the record's
    person is one of its candidates or not in the registry at all (prior
    1 - ρ); registry persons sharing no blocking key add a negligible amount.
    ``rho`` may be given per pair (the same value for all pairs of a record).
    """
    top = np.full(int(rec.max()) + 1 if len(rec) else 0, np.nan)
    np.fmax.at(top, rec, a)  # each record's largest a (NaN skipped, as pandas' max does)
    shift = np.maximum(top[rec], 0.0)
    e = np.exp2(a - shift)
    none = (1.0 - rho) * np.exp2(-shift)
    denom = none + pd.Series(e).groupby(rec).transform("sum").to_numpy()
    return e / denom


def _components(n: int, groups: list[np.ndarray]) -> np.ndarray:
    """Connected components of ``n`` items linked by shared group codes.

    ``groups`` holds one code array per kind of key (-1: the item has no such
    key); items sharing a code are connected.  Returns each item's component
    label, the smallest item position in its component.  Min-label propagation
    over the groups with pointer jumping, all in numpy.
    """
    label = np.arange(n, dtype=np.int64)
    members = []
    for codes in groups:
        ok = np.flatnonzero(codes >= 0)
        order = ok[np.argsort(codes[ok], kind="stable")]
        c = codes[order]
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if len(c) else np.zeros(0, dtype=np.int64)
        members.append((order, starts, np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(c)]))))
    while True:
        before = label.copy()
        for order, starts, grp in members:
            if len(order) == 0:
                continue
            low = np.minimum.reduceat(label[order], starts)  # each group's smallest label
            np.minimum.at(label, order, low[grp])
        while True:  # pointer jumping: a label's own label is smaller still
            jumped = label[label]
            if (jumped == label).all():
                break
            label = jumped
        if (label == before).all():
            return label


def _person_keys(rec: pd.DataFrame, person_id: np.ndarray, linked: np.ndarray) -> np.ndarray:
    """person_key: the registry ID for linked records; for the rest, a key shared by
    records that agree on (folded name, dob) or (folded name, phone) or (usable ID, name)."""
    keys = np.where(linked, person_id, None).astype(object)
    rest = np.flatnonzero(~linked)
    if len(rest) == 0:
        return keys
    # each key column's values as integer codes (-1: missing), once per column
    codes = {}
    for c in ("name_fold", "dob_r0", "phone_n", "id_digits", "given"):
        v = rec[c].to_numpy(dtype=object)[rest]
        k, uniq = pd.factorize(v, use_na_sentinel=True)
        empty = np.flatnonzero(np.asarray(uniq, dtype=object) == "")
        codes[c] = np.where(np.isin(k, empty), -1, k).astype(np.int64), len(uniq)
    groups = []
    for a, b in (("name_fold", "dob_r0"), ("name_fold", "phone_n"), ("id_digits", "given")):
        (ka, _), (kb, nb) = codes[a], codes[b]
        valid = (ka >= 0) & (kb >= 0)
        groups.append(np.where(valid, pd.factorize(ka * max(nb, 1) + kb)[0], -1))  # one code per (a, b)
    root = _components(len(rest), groups)
    # The key of a group is derived from its first record's id: stable across runs.
    rids = rec["record_id"].to_numpy(dtype=object)[rest]
    keys[rest] = "U-" + pd.Series(rids[root], dtype=object).astype(str).to_numpy(dtype=object)
    return keys


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished (forked) workers."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def score_pairs(model: FSModel, levels: pd.DataFrame, tf: dict[str, np.ndarray],
                no_id_evidence: np.ndarray) -> pd.DataFrame:
    """Per-field log2 Bayes factors of each pair and the namesake discount (``bf_namesake``);
    the pair's match weight is their sum.  Pair by pair: any partition of the pairs gives the same."""
    bf = model.log2_bf(levels, tf)
    bf["namesake"] = -namesake_penalty(levels, bf, model, no_id_evidence)
    return bf


def _text_series(table, idx: np.ndarray | None = None) -> pd.Series:
    """``pd.Series(table[idx])`` for a table of text (None: missing; ``idx`` -1: missing too),
    in the dtype pandas gives text.  With pandas' Arrow-backed text the rows are gathered by an
    Arrow take instead of converting one Python string per row."""
    table = np.asarray(table, dtype=object) if not isinstance(table, pa.Array) else table
    if not _ARROW_TEXT:
        values = table if idx is None else np.where(idx >= 0, table[np.maximum(idx, 0)], None)
        return pd.Series(values)
    arr = table if isinstance(table, pa.Array) else _arrow_text(table)
    if idx is not None:
        missing = idx < 0
        arr = arr.take(pa.array(idx, mask=missing) if missing.any() else idx)
    if arr.null_count == len(arr):  # no text at all: pandas keeps such a column as objects
        return pd.Series(np.full(len(arr), None, dtype=object))
    return pd.Series(ArrowStringArray(pa.chunked_array([arr]), dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _arrow_text(values: np.ndarray) -> pa.Array:
    """Object text as an Arrow large-string array (None and NaN: null, as pandas reads them)."""
    return pa.array(values, type=pa.large_string(), from_pandas=True)


def _arrow_ids(values: pd.Series) -> pa.Array:
    """:func:`_arrow_text` of a text column; one held as pandas' Arrow-backed text (the dask finish
    task keeps record_id so) is taken as it is, with no Python str made."""
    if isinstance(values.array, ArrowStringArray) and values.dtype.na_value is not pd.NA:
        arr = pa.array(values.array)
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        return arr.cast(pa.large_string())
    return _arrow_text(values.to_numpy(dtype=object))


def _coded_text(values: np.ndarray) -> pd.Series:
    """:func:`_text_series` of an object array with few distinct values."""
    codes, uniq = pd.factorize(values, use_na_sentinel=True)
    return _text_series(np.asarray(uniq, dtype=object), codes)


_probe = pd.Series(np.array(["a"], dtype=object)).dtype
#: pandas stores inferred text as Arrow large strings (pandas 3's "str")
_ARROW_TEXT = isinstance(_probe, pd.StringDtype) and _probe.storage == "pyarrow" and _probe.na_value is not pd.NA


def record_matches(rec: pd.DataFrame, reg: pd.DataFrame, pairs: pd.DataFrame, levels: pd.DataFrame,
                   bf: pd.DataFrame, weight: np.ndarray, rho_pair: np.ndarray, n_registry: int,
                   s: MatchSettings, registry_ids, promote: Callable | None = None
                   ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Each record's links from its scored candidate pairs: probabilities, ranks, status, error
    codes and corrections (every column of :data:`MATCH_COLUMNS` but ``person_key``), the records
    whose link joins the candidate's dose history for person_key, and the top candidates.

    Works on any set of records that comes with all of its pairs, in pair order (ties in weight
    keep it); ``reg`` needs only the rows the pairs name, ``n_registry`` is the whole register's
    size and ``registry_ids`` answers "does somebody own this number" for the records' own IDs.
    ``promote(rec, status, best_reg, p_best, conflict)`` gives (records to promote, the probability
    they inherit), :func:`~vaxlib.match.own_history.own_history_links` by default; a partitioned
    engine answers it from every record's groups.
    """
    prior_pair = np.log2(rho_pair) - np.log2(max(n_registry, 1))
    pair_rec = pairs["rec"].to_numpy()
    pair_reg = pairs["reg"].to_numpy()
    prob = _group_probabilities(pair_rec, prior_pair + weight, rho_pair)
    # Rank within each record (weight descending, ties in pair order) and keep only
    # the top candidates; the columns are gathered for those pairs alone.
    order, rank = _rank_within(pair_rec, weight)
    keep = rank <= max(s.top_candidates, 1)
    order, rank = order[keep], rank[keep]
    first = order[rank == 1]  # each record's best pair
    b_rec = pair_rec[first]
    lv = {f: levels[f].to_numpy() for f in levels.columns}

    n = len(rec)
    has = np.zeros(n, dtype=bool)
    has[b_rec] = True
    best_reg = np.full(n, -1, dtype=np.int64)
    best_reg[b_rec] = pair_reg[first]
    p_best = np.zeros(n)
    p_best[b_rec] = prob[first]
    # verified: the record already equals the registry's text (sex: the same value).
    all_exact = np.zeros(n, dtype=bool)
    all_exact[b_rec] = np.logical_and.reduce([lv[f][first] == 0 for f in ("name", "dob", "id", "sex")])

    no_name = rec["name_fold"].to_numpy(dtype=object) == ""
    kinds = rec["id_kind"].to_numpy(dtype=object)
    no_id = np.isin(kinds, ["missing", "malformed", ""])
    invalid = no_name & (no_id | (rec["dob_r0"].to_numpy(dtype=object) == ""))

    status = np.full(n, "unmatched", dtype=object)
    status[has & (p_best >= s.review_threshold)] = "review"
    status[has & (p_best >= s.auto_threshold)] = "fix"
    if s.guard_idless:
        # Without any ID evidence, names and dates of birth of namesakes outside
        # the registry agree far more often than chance (the independence the
        # model assumes fails among look-alikes).  Such a link is automatic only
        # with the exact date of birth or the person's own phone number.
        phone = lv["phone"][first]
        home = (lv["province"][first] == LEVELS["province"].index("same")) & (phone < 0)
        unsafe = (lv["id"][first] < 0) & ~np.isin(lv["dob"][first], [0, 1]) & (phone != 0) & ~home
        guard = np.zeros(n, dtype=bool)
        guard[b_rec] = unsafe
        status[(status == "fix") & guard] = "review"
    status[has & all_exact] = "verified"
    # A review record joins the automatic link of its own dose history (own_history_links).
    conflict = np.zeros(n, dtype=bool)
    conflict[b_rec] = lv["dose"][first] == LEVELS["dose"].index("conflict")
    up, inherited = (promote or own_history_links)(rec, status, best_reg, p_best, conflict)
    up &= inherited >= s.auto_threshold
    status[up], p_best[up] = "fix", inherited[up]
    status[invalid] = "invalid"

    linked = np.isin(status, ["verified", "fix", "review"])
    cols = {"error_codes": np.full(n, "", dtype=object)}
    for c in ("corrected_full_name", "corrected_dob", "corrected_sex", "corrected_id_number"):
        cols[c] = np.full(n, None, dtype=object)
    li = np.flatnonzero(linked & (status != "verified"))
    if len(li):
        cls = classify_partitioned(rec, reg, li, best_reg[li], registry_ids, workers=s.workers)
        for c in cls.columns:
            cols[c][li] = cls[c].to_numpy(dtype=object)
    ui = np.flatnonzero(~linked)
    if len(ui):
        cols["error_codes"][ui] = unlinked_error_codes(rec, ui, registry_ids)
    record_ids, person_ids = rec["record_id"], reg["person_id"]
    if _ARROW_TEXT:  # each id converted once (Arrow-backed text not at all), gathered for matches and candidates
        record_ids, person_ids = _arrow_ids(record_ids), _arrow_ids(person_ids)
    else:
        record_ids, person_ids = record_ids.to_numpy(dtype=object), person_ids.to_numpy(dtype=object)
    matches = pd.DataFrame({"record_id": _text_series(record_ids), "status": _coded_text(status),
                            "person_id": _text_series(person_ids, np.where(linked, best_reg, -1)),
                            "match_probability": np.where(has, p_best, 0.0),
                            "error_codes": _coded_text(cols.pop("error_codes"))}, copy=False)
    for c, v in cols.items():
        matches[c] = pd.Series(v, dtype=object)
    # Review rows the model favours join their candidate's dose history
    # (analysts confirm or undo it); the others stay on their own.
    key_linked = np.isin(status, ["verified", "fix"]) | ((status == "review") & (p_best >= 0.5))

    shown = rank <= s.top_candidates
    top, t_rank = order[shown], rank[shown]
    out = {"record_id": _text_series(record_ids, pair_rec[top]), "person_id": _text_series(person_ids, pair_reg[top]),
           "rank": t_rank, "match_weight": weight[top], "match_probability": prob[top],
           "prior_weight": prior_pair[top], "rules": pairs["rules"].to_numpy()[top]}
    for f in FIELDS:
        out[f"level_{f}"] = _text_series(np.array(["null", *LEVELS[f]], dtype=object), lv[f][top].astype(np.int64) + 1)
    for c in bf.columns:
        out[f"bf_{c}"] = bf[c].to_numpy()[top]
    candidates = pd.DataFrame({c: out[c] for c in CANDIDATE_COLUMNS}, copy=False)  # fresh arrays: no copy
    return matches, key_linked, candidates


def candidates_stage(rec: pd.DataFrame, reg: pd.DataFrame, keys: dict | None, s: MatchSettings,
                     cache: FrameCache | None = None):
    """The candidate pairs of every record: stage 1 (the ID owner, compared at once: a record whose
    name and dob agree up to form is settled) and stage 2 (every blocking rule for the others).

    Returns (stage1, its levels, anchors, open_mask, keep1, stage2, pairs): ``anchors`` are the
    settled (rec, reg) links, ``open_mask`` the records that went to stage 2, ``keep1`` the stage-1
    pairs kept (those of settled records) and ``pairs`` = stage1[keep1] + stage2.  ``cache``: a
    :class:`~vaxlib.match.levels.FrameCache` of (rec, reg) that the later stages share."""
    stage1 = candidate_pairs(rec, reg, rules=("id",), max_block=s.max_block, keys=keys, cache=cache)
    lv1 = compare_partitioned(rec, reg, stage1, workers=s.workers, cache=cache)
    settled = _settled(lv1)
    # Certain links: each registry person's dose history, used as evidence for the others.
    anchors = stage1.loc[settled, ["rec", "reg"]].reset_index(drop=True)
    open_mask = np.ones(len(rec), dtype=bool)
    open_mask[stage1["rec"].to_numpy()[settled]] = False
    rest = rec.loc[open_mask, record_columns(rec)]  # (copying the other columns costs, for nothing)
    stage2 = candidates_partitioned(rest, reg, max_block=s.max_block, workers=s.workers,
                                    rule_max_block=s.rule_max_block, keys=keys, cache=cache)
    # stage 2 re-runs the id rule for the open records, so keep stage 1 only for the settled ones
    keep1 = ~open_mask[stage1["rec"].to_numpy()]
    pairs = pd.concat([stage1[keep1], stage2], ignore_index=True)
    return stage1, lv1, anchors, open_mask, keep1, stage2, pairs


def compare_stage(rec: pd.DataFrame, reg: pd.DataFrame, pairs: pd.DataFrame, anchors: pd.DataFrame,
                  lv1: pd.DataFrame, stage2: pd.DataFrame, s: MatchSettings, cache: FrameCache | None = None):
    """Levels of every pair (``lv1``: the kept stage-1 pairs' levels, compared already), the dose-history
    fields from the anchors, and (levels, outside-reference records, pairs without ID evidence)."""
    # Stage-1 pairs were compared already; only their dose-history fields are new.
    lv2 = compare_partitioned(rec, reg, stage2, workers=s.workers, cache=cache)
    levels = pd.concat([lv1, lv2], ignore_index=True)
    hist = history_levels(rec, pairs, anchors, cache=cache)
    levels["phone"] = hist["phone"].to_numpy()
    levels["dose"] = hist["dose"].to_numpy()
    # Pairs without ID evidence (no usable ID, or a number nobody in the register owns):
    # the record's whole own dose history counts, not just this dose.
    reference = outside_reference(rec, pairs, levels)
    no_id_evidence = (levels["id"].to_numpy() < 0) | reference[pairs["rec"].to_numpy()]
    group_clash = own_group_dose_conflict(rec, pairs, anchors, no_id_evidence, cache=cache)
    levels.loc[group_clash, "dose"] = LEVELS["dose"].index("conflict")
    return levels, reference, no_id_evidence


def score_stage(rec: pd.DataFrame, reg: pd.DataFrame, pairs: pd.DataFrame, levels: pd.DataFrame,
                anchors: pd.DataFrame, reference: np.ndarray, no_id_evidence: np.ndarray,
                model: FSModel | None, s: MatchSettings, cache: FrameCache | None = None,
                refit: bool = False, n_registry: int | None = None):
    """(model, Bayes factors, match weights, ρ per pair); the model (with ρ and the namesake
    calibration) is fitted on these pairs when ``model`` is None; with ``refit``, m and ρ are
    fitted on them with u and π held from ``model`` (:func:`~vaxlib.match.model.fit_held`,
    ``n_registry`` the whole register's size)."""
    fitted = model is None
    if refit and not fitted and len(pairs):
        tf = model.tf_u(reg, pairs["reg"].to_numpy())
        held = score_pairs(model, levels, tf, no_id_evidence).sum(axis=1).to_numpy()
        # fitted in the order of the candidates table the held model ranks (EM's sample, ρ's sums)
        order, _ = _rank_within(pairs["rec"].to_numpy(), held)
        model = fit_held(model, levels, tf, no_id_evidence, pairs["rec"].to_numpy(),
                         rec["id_kind"].to_numpy(dtype=object), len(reg) if n_registry is None else n_registry,
                         order=order, em_iterations=s.em_iterations, seed=s.seed)
    if fitted:
        model = fit_model(rec, reg, levels, pairs, anchors=anchors, u_pairs=s.u_pairs,
                          em_iterations=s.em_iterations, seed=s.seed, cache=cache)
        model.namesake = fit_namesake_calibration(rec, reg, pairs, levels, model.u, model.m,
                                                  reference=reference)
    bf = score_pairs(model, levels, model.tf_u(reg, pairs["reg"].to_numpy()), no_id_evidence)
    weight = bf.sum(axis=1).to_numpy()
    pair_rec = pairs["rec"].to_numpy()
    kinds = rec["id_kind"].to_numpy(dtype=object)
    if fitted:
        model.rho, model.rho_by_kind = estimate_rho(pair_rec, weight, kinds, len(reg))
    rho_pair = model.rho_for(kinds)[pair_rec]
    return model, bf, weight, rho_pair


def _without_cyclic_gc(fn: Callable) -> Callable:
    """``fn`` run with Python's cyclic garbage collector paused (:func:`vaxlib.io._gc_paused`).

    Matching allocates millions of short-lived containers (per-value lists, tuples of codes)
    and no reference cycles of any size (reference counting frees it all), yet every burst of
    allocations set off collections, the oldest generation walking every live container: at
    100k persons half a CPU second of a 5 s run.  Paused, the forked workers inherit it paused
    too, so they do not write to the pages of the parent's objects either (copy-on-write).
    A collector paused by the caller stays paused.
    """
    import functools

    @functools.wraps(fn)
    def paused(*args, **kwargs):
        from vaxlib.io import _gc_paused

        with _gc_paused():
            return fn(*args, **kwargs)

    return paused


@_without_cyclic_gc
def run_match(
    registry: pd.DataFrame,
    vaccinations: pd.DataFrame,
    settings: MatchSettings | None = None,
    model: FSModel | None = None,
    progress: Callable[[str], None] | None = None,
    truth_person: pd.Series | None = None,
    index: RegistryIndex | None = None,
    coded: ReaderCodes | dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    n_registry: int | None = None,
    refit: bool = False,
) -> MatchResult:
    """Match every dose record against the registry (see module docstring).

    ``truth_person`` (record_id -> true registry person_id, for evaluation
    only) makes the statistics include the blocking recall.  ``index`` (a
    :class:`~vaxlib.match.index.RegistryIndex` of ``registry``) spares
    preparing the registry; without it one is built (``registry`` may then
    be ``None`` when an index is given).  ``coded`` is ``read_table``'s coding
    of ``vaccinations`` (:func:`~vaxlib.match.prepare.prepare_records`); a
    :class:`~vaxlib.match.prepare.ReaderCodes` is taken and let go once prepared (a dict is
    read, not changed).  ``n_registry``: the size of the whole register when ``registry`` is
    only the part of it the records can be paired with (``vax feedback``'s candidates), for
    the prior odds of a registry person (default ``len(registry)``).  ``refit`` (with ``model``):
    m and ρ are re-estimated on these records' own pairs, u and the namesake π held from
    ``model`` (:func:`~vaxlib.match.model.fit_held`), in this one pass.
    """
    s = settings or MatchSettings()
    step = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    timings = {}
    cpu = [_cpu_seconds()]

    def cpu_lap(stage: str) -> None:
        # CPU seconds per stage beside the wall seconds: on a shared machine wall time is mostly waiting
        now = _cpu_seconds()
        timings[f"cpu_{stage}"] = now - cpu[0]
        cpu[0] = now

    step("prepare")
    if index is None:
        index = build_index(registry)
    timings["index"] = time.perf_counter() - t0
    reg, keys = index.reg, index.keys
    dicts: dict = {}
    rec = prepare_records(vaccinations, registry=reg, dicts=dicts,
                          coded=coded.take() if isinstance(coded, ReaderCodes) else coded)
    add_codes(rec, reg, dicts=dicts)  # integer codes shared by both sides: equality levels compare integers
    add_record_codes(rec, dicts)  # and the records' phone (own-history groups, the phone level)
    del dicts
    timings["prepare"] = time.perf_counter() - t0 - timings["index"]
    cpu_lap("prepare")

    step("candidates")
    t = time.perf_counter()
    cache = FrameCache(rec, reg)  # what the three comparison batches derive from the frames alone
    stage1, lv1, anchors, open_mask, keep1, stage2, pairs = candidates_stage(rec, reg, keys, s, cache)
    timings["candidates"] = time.perf_counter() - t
    cpu_lap("candidates")
    blocking_recall = None
    if truth_person is not None:
        true_pid = rec["record_id"].map(truth_person).to_numpy(dtype=object)
        cand_pid = reg["person_id"].to_numpy(dtype=object)[pairs["reg"].to_numpy()]
        hit = np.zeros(len(rec), dtype=bool)
        hit[pairs["rec"].to_numpy()[cand_pid == true_pid[pairs["rec"].to_numpy()]]] = True
        has_truth = np.array([isinstance(x, str) and x != "" for x in true_pid])
        blocking_recall = float(hit[has_truth].mean()) if has_truth.any() else None

    step("compare")
    t = time.perf_counter()
    levels, reference, no_id_evidence = compare_stage(rec, reg, pairs, anchors, lv1[keep1], stage2, s, cache)
    timings["compare"] = time.perf_counter() - t
    cpu_lap("compare")

    step("score")
    t = time.perf_counter()
    model, bf, weight, rho_pair = score_stage(rec, reg, pairs, levels, anchors, reference, no_id_evidence, model, s,
                                              cache, refit=refit, n_registry=n_registry)
    del cache  # its per-frame arrays are not needed by classify
    timings["score"] = time.perf_counter() - t
    cpu_lap("score")

    step("classify")
    t = time.perf_counter()
    reg_ids = RegistryNumbers(reg, rec)
    matches, key_linked, candidates = record_matches(rec, reg, pairs, levels, bf, weight, rho_pair,
                                                     len(reg) if n_registry is None else n_registry, s, reg_ids)
    n = len(rec)
    matches["person_key"] = _person_keys(rec, matches["person_id"].to_numpy(dtype=object), key_linked)
    timings["classify"] = time.perf_counter() - t
    cpu_lap("classify")

    timings["total"] = time.perf_counter() - t0
    stats = {
        "records": n,
        "registry": len(reg),
        "pairs": len(pairs),
        "stage1_pairs": len(stage1),
        "stage2_records": int(open_mask.sum()),
        "stage2_pairs": len(stage2),
        "status_counts": matches["status"].value_counts().to_dict(),
        "timings": timings,
        "rho": model.rho,
        "rho_by_kind": dict(model.rho_by_kind),
    }
    if blocking_recall is not None:
        stats["blocking_recall"] = blocking_recall
    return MatchResult(matches=matches[MATCH_COLUMNS], candidates=candidates, model=model, stats=stats)
