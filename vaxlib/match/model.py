"""Fellegi–Sunter model: u by random sampling, m by EM, term-frequency adjustment.

* ``u[field][level]`` — probability of the level among non-matching pairs,
  estimated on random record × registry pairs (they are almost all non-matches).
* ``m[field][level]`` — probability of the level among matching pairs,
  estimated by expectation–maximisation on the candidate pairs with ``u``
  held fixed (as Splink does).
* Term frequencies: for the name levels that assert equality
  (exact … folded) and the dob levels exact/same_date, ``u`` is replaced by the
  frequency of the registry value (Nguyễn Văn Hùng agrees by chance far more
  often than a rare name), so the weight of an agreement on a common value is
  lower and on a rare value higher.
* The probability that a record belongs to candidate *i* among its candidates
  is ``π·BF_i / (1 + Σ_j π·BF_j)``, with ``π = ρ / N`` (ρ the share of records
  whose person is in the register, N the registry size): competing candidates
  (twins, namesakes) share the probability instead of each looking certain.
* ρ is estimated per kind of typed ID (CCCD, CMND, passport, Excel-mangled,
  malformed, missing) by EM on the records' own candidates
  (:func:`estimate_rho`): people outside the register (foreigners, children
  without a number, people never registered) come mostly without a usable ID,
  so an ID-less record is a priori much less likely to be in the register than
  one carrying a CCCD number, and a namesake outside the register should not
  borrow the confidence earned by the well-identified majority.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vaxlib.match.compare import FIELDS, LEVELS, compare_pairs

__all__ = ["FSModel", "estimate_u", "estimate_rho", "fit_model", "fit_namesake_calibration", "namesake_penalty",
           "outside_reference", "TF_LEVELS", "FitCounts", "fit_counts", "fit_from_counts", "u_sample_pairs",
           "u_from_levels", "namesake_observed", "namesake_from_counts",
           "session_masks", "pair_tf", "fit_held",
           "record_log2_evidence", "rho_from_evidence", "distinct_vectors", "merge_vectors"]

log = logging.getLogger(__name__)

#: levels whose u is replaced by the value's term frequency in the registry
TF_LEVELS: dict[str, tuple[int, ...]] = {
    "name": (0, 1, 2, 3),
    "dob": (0, 1),
}

#: field -> registry column whose value frequency is the field's term-frequency u
TF_COLUMNS: dict[str, str] = {"name": "name_fold", "dob": "dob"}


def add_term_frequencies(reg: pd.DataFrame, counts: dict[str, pd.Series] | None = None,
                         n: int | None = None) -> pd.DataFrame:
    """Add ``_tf_name`` and ``_tf_dob`` (share of the registry with the person's value; 1 when
    empty) to a prepared registry, unless present (a registry index carries them).

    ``counts`` (field -> persons per value of the whole register) and ``n`` (its size) give a
    part of the register the whole register's frequencies (the dask engine's partitions)."""
    n = max(len(reg) if n is None else n, 1)
    for f, column in TF_COLUMNS.items():
        cache = f"_tf_{f}"
        if cache not in reg.columns:
            if counts is None:
                c = reg.groupby(column, sort=False)[column].transform("size").to_numpy(dtype=float)
            else:
                c = reg[column].map(counts[f]).to_numpy(dtype=float)
            reg[cache] = np.where(reg[column].to_numpy(dtype=object) == "", 1.0, c / n)
    return reg


# Starting values for EM (sensible priors from the error taxonomy's typical rates).
_M_START: dict[str, list[float]] = {
    "name": [0.80, 0.03, 0.02, 0.08, 0.01, 0.03, 0.01, 0.01, 0.01],
    "dob": [0.80, 0.05, 0.02, 0.02, 0.02, 0.03, 0.03, 0.03],
    "id": [0.80, 0.04, 0.02, 0.01, 0.03, 0.02, 0.01, 0.01, 0.06],
    "sex": [0.97, 0.03],
    "province": [0.90, 0.03, 0.07],
    "phone": [0.85, 0.15],
    "dose": [0.97, 0.03],
}

#: EM training sessions (as in Splink): the pairs anchored by agreement on some
#: fields are almost all matches, and the m of the *other* fields is estimated
#: on them.  Anchoring keeps EM from mistaking a cluster of look-alike non-matches
#: (namesakes not in the registry) for matches.
TRAINING_SESSIONS: tuple[tuple[dict[str, tuple[int, ...]], tuple[str, ...]], ...] = (
    ({"id": (0, 1)}, ("name", "dob", "sex", "province", "phone", "dose")),
    ({"name": (0, 1, 2, 3), "dob": (0, 1)}, ("id",)),
)


@dataclass
class FSModel:
    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    n_registry: int
    rho: float = 0.95  #: share of records whose person is in the registry
    #: ρ per kind of typed ID (``vaxlib.vn.ids`` kinds); kinds not listed use ``rho``
    rho_by_kind: dict[str, float] = field(default_factory=dict)
    #: π per (name group, dob level) for pairs without ID evidence (:func:`fit_namesake_calibration`)
    namesake: dict[tuple[int, int], float] = field(default_factory=dict)
    #: u of the dose-history fields for pairs without ID evidence (:func:`_namesake_u`)
    u_idless: dict[str, np.ndarray] = field(default_factory=dict)

    # ------------------------------------------------------------------ scoring
    def log2_bf(self, levels: pd.DataFrame, tf_u: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Per-field log2 Bayes factors for each pair (0 for null levels)."""
        out = {}
        idless = levels["id"].to_numpy() < 0
        for f in FIELDS:
            lv = levels[f].to_numpy()
            # log2(m) - log2(u) per level, gathered: the same floats as per pair, computed per level
            at = lv.astype(np.intp) + 1  # 0: null
            table = np.r_[0.0, np.log2(self.m[f]) - np.log2(self.u[f])]
            bf = table[at]
            if f in self.u_idless:
                idl = np.r_[0.0, np.log2(self.m[f]) - np.log2(self.u_idless[f])]
                bf = np.where(idless, idl[at], bf)
            if tf_u is not None and f in tf_u and f in TF_LEVELS:
                k = np.flatnonzero(np.isin(lv, TF_LEVELS[f]))
                u = np.maximum(np.asarray(tf_u[f])[k], 1.0 / max(self.n_registry, 1))
                bf[k] = np.log2(self.m[f][lv[k]]) - np.log2(u)
            out[f] = bf
        return pd.DataFrame(out, index=levels.index)

    @property
    def prior_log2(self) -> float:
        """log2 of π = ρ / N, the prior odds of one given registry person."""
        return float(np.log2(self.rho) - np.log2(max(self.n_registry, 1)))

    def rho_for(self, kinds: np.ndarray) -> np.ndarray:
        """ρ of each record from its kind of typed ID."""
        codes, uniques = pd.factorize(np.asarray(kinds, dtype=object))
        # per distinct kind, gathered (a kind not listed, or a code -1 for a missing value, takes rho)
        per = np.array([self.rho_by_kind.get(k, self.rho) for k in uniques] + [self.rho], dtype=float)
        return per[codes]

    def tf_u(self, reg: pd.DataFrame, reg_idx: np.ndarray) -> dict[str, np.ndarray]:
        """Term-frequency u of each pair's registry name and dob (share of the registry with that value)."""
        return pair_tf(reg, reg_idx)

    # --------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        return {
            "m": {f: {LEVELS[f][i]: float(v) for i, v in enumerate(self.m[f])} for f in FIELDS},
            "u": {f: {LEVELS[f][i]: float(v) for i, v in enumerate(self.u[f])} for f in FIELDS},
            "n_registry": self.n_registry,
            "rho": self.rho,
            "rho_by_kind": dict(self.rho_by_kind),
            "u_idless": {f: {LEVELS[f][i]: float(v) for i, v in enumerate(a)} for f, a in self.u_idless.items()},
            "namesake_pi": {f"{LEVELS['name'][g]}|{LEVELS['dob'][d]}": v
                                    for (g, d), v in sorted(self.namesake.items())},
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")


def u_sample_pairs(n_records: int, n_registry: int, n_pairs: int = 200_000, seed: int = 0) -> pd.DataFrame:
    """The random (record, registry) positions whose levels estimate u (a function of the sizes and the seed
    alone: a partitioned engine draws the same pairs and fetches their rows)."""
    rng = np.random.default_rng(seed)
    n = min(n_pairs, max(n_records * n_registry, 1))
    return pd.DataFrame({"rec": rng.integers(0, n_records, n), "reg": rng.integers(0, n_registry, n)})


def estimate_u(rec: pd.DataFrame, reg: pd.DataFrame, n_pairs: int = 200_000, seed: int = 0,
               anchors: pd.DataFrame | None = None, cache=None) -> dict[str, np.ndarray]:
    """u probabilities from random record × registry pairs (``cache``: as :func:`compare_pairs`)."""
    pairs = u_sample_pairs(len(rec), len(reg), n_pairs, seed)
    return u_from_levels(compare_pairs(rec, reg, pairs, anchors, cache=cache), len(reg))


def u_from_levels(levels: pd.DataFrame, n_registry: int) -> dict[str, np.ndarray]:
    """u from the levels of the :func:`u_sample_pairs` pairs."""
    n = len(levels)
    floor = min(0.5 / n, 1.0 / max(n_registry, 1))
    u = {}
    for f in FIELDS:
        lv = levels[f].to_numpy()
        lv = lv[lv >= 0]
        counts = np.bincount(lv, minlength=len(LEVELS[f])).astype(float)
        total = max(counts.sum(), 1.0)
        u[f] = np.maximum(counts / total, floor)
        u[f] = u[f] / u[f].sum()
    return u


#: fields whose u is taken from look-alike non-matches among the candidates
BLOCKED_U_FIELDS = ("phone", "dose")


def _blocked_u_mask(levels: pd.DataFrame) -> np.ndarray:
    """Candidate pairs whose name and date of birth both disagree (see :func:`_blocked_u`)."""
    clear = np.isin(levels["name"].to_numpy(), [LEVELS["name"].index("similar"), LEVELS["name"].index("different")])
    clear &= np.isin(levels["dob"].to_numpy(), [LEVELS["dob"].index("same_year"), LEVELS["dob"].index("different")])
    return clear


def _blocked_u(u: dict[str, np.ndarray], levels: pd.DataFrame, min_pairs: int = 200) -> None:
    """u of the dose-history fields among candidate pairs that clearly do not match.

    Random pairs almost never share a phone, but the people a record is
    compared with are look-alikes: relatives share family names, middle
    names and a household phone.  Among candidates whose name and date of
    birth both disagree, phone agreement is far more common, and that is the
    chance agreement the model must discount.
    """
    u.update(_history_u(levels, _blocked_u_mask(levels), min_pairs))


def _history_counts(levels: pd.DataFrame, nonmatch: np.ndarray) -> dict[str, np.ndarray]:
    """Level counts of the dose-history fields among the ``nonmatch`` pairs (null levels left out)."""
    out = {}
    for f in BLOCKED_U_FIELDS:
        x = levels[f].to_numpy()[nonmatch]
        out[f] = np.bincount(x[x >= 0], minlength=len(LEVELS[f])).astype(np.int64)
    return out


def _history_u_from_counts(counts: dict[str, np.ndarray], min_pairs: int) -> dict[str, np.ndarray]:
    """Level shares (+0.5 smoothing) from :func:`_history_counts`; a field seen on fewer
    than ``min_pairs`` pairs is left out."""
    out = {}
    for f in BLOCKED_U_FIELDS:
        c = counts[f]
        if c.sum() < min_pairs:
            continue
        c = c.astype(float) + 0.5
        out[f] = c / c.sum()
    return out


def _history_u(levels: pd.DataFrame, nonmatch: np.ndarray, min_pairs: int) -> dict[str, np.ndarray]:
    """Level shares (+0.5 smoothing) of the dose-history fields among the ``nonmatch``
    pairs; a field seen on fewer than ``min_pairs`` of them is left out."""
    return _history_u_from_counts(_history_counts(levels, nonmatch), min_pairs)


def distinct_vectors(lv: pd.DataFrame, tf: dict[str, np.ndarray]) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """The distinct (levels, term-frequency u) vectors among the pairs, and how many pairs share each.

    A pair's Bayes factor depends on nothing else, so EM on the distinct
    vectors weighted by their counts is EM on the pairs.
    """
    cols = {f: lv[f].to_numpy() for f in lv.columns}
    cols.update({f"_tf_{k}": np.asarray(v, dtype=float) for k, v in tf.items()})
    frame = pd.DataFrame(cols)
    grouped = frame.groupby(list(frame.columns), sort=True, dropna=False).size()
    keys = grouped.index.to_frame(index=False)
    levels = keys[list(lv.columns)].astype(lv.dtypes.to_dict())
    return levels, {k: keys[f"_tf_{k}"].to_numpy() for k in tf}, grouped.to_numpy().astype(float)


def _em(model: FSModel, lv: pd.DataFrame, tf: dict[str, np.ndarray], fields: tuple[str, ...],
        iterations: int, prior_strength: float, lam: float) -> float:
    """EM updating ``model.m`` of ``fields`` on the pairs ``lv`` (u fixed); returns λ.

    Runs on the distinct comparison vectors with their counts (:func:`_distinct_vectors`).
    """
    return _em_counts(model, *distinct_vectors(lv, tf), fields, iterations, prior_strength, lam)


def merge_vectors(parts: list[tuple[pd.DataFrame, dict, np.ndarray]]) -> tuple[pd.DataFrame, dict, np.ndarray]:
    """:func:`distinct_vectors` of the union of pair sets, from each set's distinct vectors
    (the same table, in the same sorted order, as on all the pairs at once)."""
    full = [p for p in parts if len(p[2])]
    if not full:
        return parts[0]
    lv0, tf0, _ = full[0]
    frame = pd.concat([pd.concat([lv.reset_index(drop=True),
                                  pd.DataFrame({f"_tf_{k}": v for k, v in tf.items()})], axis=1)
                       .assign(_n=c) for lv, tf, c in full], ignore_index=True)
    keys = [c for c in frame.columns if c != "_n"]
    grouped = frame.groupby(keys, sort=True, dropna=False)["_n"].sum()
    table = grouped.index.to_frame(index=False)
    levels = table[list(lv0.columns)].astype(lv0.dtypes.to_dict())
    return levels, {k: table[f"_tf_{k}"].to_numpy() for k in tf0}, grouped.to_numpy().astype(float)


def _em_counts(model: FSModel, lv: pd.DataFrame, tf: dict[str, np.ndarray], count: np.ndarray,
               fields: tuple[str, ...], iterations: int, prior_strength: float, lam: float) -> float:
    """:func:`_em` on distinct comparison vectors ``lv``/``tf`` shared by ``count`` pairs each."""
    total = count.sum()
    for _ in range(iterations):
        bf = model.log2_bf(lv, tf)[list(fields)].sum(axis=1).to_numpy()
        logit = bf + np.log2(lam / (1 - lam))
        p = 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))
        delta = 0.0
        for f in fields:
            x = lv[f].to_numpy()
            ok = x >= 0
            counts = np.bincount(x[ok], weights=(p * count)[ok], minlength=len(LEVELS[f]))
            # Dirichlet prior (pseudo-counts from the starting values): small
            # data sets keep sensible m values and no level becomes impossible.
            counts = counts + prior_strength * np.asarray(_M_START[f]) / np.sum(_M_START[f])
            new = counts / counts.sum()
            delta = max(delta, float(np.abs(new - model.m[f]).max()))
            model.m[f] = new
        lam = float(np.clip((p * count).sum() / total, 1e-4, 1 - 1e-4))
        if delta < 1e-5:
            break
    return lam


def _namesake_u_mask(levels: pd.DataFrame) -> np.ndarray:
    """Namesakes born in another year without ID agreement (see :func:`_namesake_u`)."""
    nl, dl, il = levels["name"].to_numpy(), levels["dob"].to_numpy(), levels["id"].to_numpy()
    look = np.isin(nl, _SAME_FOLD)
    look &= np.isin(dl, [LEVELS["dob"].index("same_year"), LEVELS["dob"].index("different")])
    look &= (il < 0) | (il >= LEVELS["id"].index("other_consistent"))
    return look


def _namesake_u(levels: pd.DataFrame, min_pairs: int = 200) -> dict[str, np.ndarray]:
    """u of the dose-history fields among namesakes: the look-alikes a pair without ID evidence meets.

    :func:`_blocked_u` measures chance phone agreement on candidates whose name
    and date of birth both disagree; those were found through an ID, and a
    record carrying someone else's ID mostly carries a relative's, who shares
    the household phone.  A record without an ID meets its look-alikes through
    its name: namesakes born in another year (same folded name, dob at most the
    same year, no ID agreement), who are mostly other families with other phones.
    """
    return _history_u(levels, _namesake_u_mask(levels), min_pairs)


@dataclass
class FitCounts:
    """What fitting m takes from the candidate pairs, as counts that add up over pair sets
    (a partitioned engine sums each partition's, :meth:`merge`)."""

    #: dose-history level counts among clear non-matches (:func:`_blocked_u_mask`)
    blocked: dict[str, np.ndarray]
    #: the same among namesakes (:func:`_namesake_u_mask`)
    look: dict[str, np.ndarray]
    #: per training session: pairs in it, and its distinct vectors (:func:`distinct_vectors`)
    #: of the pairs EM runs on (None below 20 pairs)
    sessions: list[tuple[int, tuple | None]]

    @classmethod
    def merge(cls, parts: list["FitCounts"]) -> "FitCounts":
        """The counts of the union of disjoint pair sets (no session subsampled)."""
        add = lambda dicts: {f: sum(d[f] for d in dicts) for f in BLOCKED_U_FIELDS}  # noqa: E731
        sessions = []
        for k in range(len(TRAINING_SESSIONS)):
            n = sum(p.sessions[k][0] for p in parts)
            vecs = [p.sessions[k][1] for p in parts if p.sessions[k][1] is not None]
            sessions.append((n, merge_vectors(vecs) if n >= 20 and vecs else None))
        return cls(add([p.blocked for p in parts]), add([p.look for p in parts]), sessions)


def session_masks(levels: pd.DataFrame) -> list[np.ndarray]:
    """The pairs of each training session (:data:`TRAINING_SESSIONS`)."""
    out = []
    for anchor, _ in TRAINING_SESSIONS:
        mask = np.ones(len(levels), dtype=bool)
        for f, allowed in anchor.items():
            mask &= np.isin(levels[f].to_numpy(), allowed)
        out.append(mask)
    return out


def fit_counts(levels: pd.DataFrame, tf: dict[str, np.ndarray], *, em_sample: int | None = 500_000,
               seed: int = 0, min_session: int = 20, vectors: bool = True,
               masks: list[np.ndarray] | None = None) -> FitCounts:
    """:class:`FitCounts` of candidate pairs with their levels and term-frequency u (``tf``, one
    value per pair).  A session with more than ``em_sample`` pairs runs on a random sample of them
    (drawn from ``seed`` over the pairs in their order); ``None`` never samples.  ``vectors=False``
    counts each session's pairs only (vectors None): a partitioned engine learns the sessions' sizes
    first and then gathers only the vectors EM runs on.  ``masks``: :func:`session_masks` of
    ``levels`` when the caller has them."""
    rng = np.random.default_rng(seed)
    sessions = []
    for mask in session_masks(levels) if masks is None else masks:
        idx = np.flatnonzero(mask)
        if len(idx) < min_session or not vectors:
            sessions.append((len(idx), None))
            continue
        n = len(idx)
        if em_sample is not None and n > em_sample:
            idx = np.sort(rng.choice(idx, em_sample, replace=False))
        sessions.append((n, distinct_vectors(levels.iloc[idx], {k: np.asarray(v)[idx] for k, v in tf.items()})))
    return FitCounts(_history_counts(levels, _blocked_u_mask(levels)), _history_counts(levels, _namesake_u_mask(levels)),
                     sessions)


def fit_from_counts(u: dict[str, np.ndarray], counts: FitCounts, n_registry: int, *, em_iterations: int = 25,
                    prior_strength: float = 20.0, min_pairs: int = 200) -> FSModel:
    """The model from u (:func:`estimate_u`) and the pairs' :class:`FitCounts`: the dose-history u
    among look-alikes, then m by EM in the anchored training sessions."""
    u = dict(u)
    u.update(_history_u_from_counts(counts.blocked, min_pairs))
    model = FSModel(
        m={f: np.array(_M_START[f], dtype=float) / sum(_M_START[f]) for f in FIELDS},
        u=u, n_registry=n_registry, u_idless=_history_u_from_counts(counts.look, min_pairs),
    )
    for (anchor, fields), (n, vectors) in zip(TRAINING_SESSIONS, counts.sessions):
        if vectors is None:
            log.warning("training session anchored on %s has %d pairs: keeping prior m for %s",
                        list(anchor), n, fields)
            continue
        lam = _em_counts(model, *vectors, fields, em_iterations, prior_strength, lam=0.95)
        log.info("EM session anchored on %s: %d pairs, λ=%.4f", list(anchor), n, lam)
    return model


def fit_held(held: FSModel, levels: pd.DataFrame, tf: dict[str, np.ndarray], no_id_evidence: np.ndarray,
             pair_rec: np.ndarray, kinds: np.ndarray, n_registry: int, *, order: np.ndarray | None = None,
             em_iterations: int = 25, seed: int = 0) -> FSModel:
    """m (EM in the training sessions), the dose-history u and ρ fitted on these candidate pairs, with u
    and the namesake π held from ``held`` (a model fitted on a whole register, e.g. its ``model.json``).

    For records matched against only a part of the register that holds all their pairs (``vax
    feedback``'s candidates): what depends on which register rows are given (u from random pairs, π
    from registry persons per name) comes from ``held``; what the records' own pairs tell (how these
    records are typed: m, and ρ per kind of number) is fitted on them, with ``n_registry`` the whole
    register's size.  ``levels``, ``tf`` (term-frequency u per pair), ``no_id_evidence`` and
    ``pair_rec`` are per pair; ``kinds`` per record.  ``order``: the pairs' order to fit in (the EM
    sample and the sums of ρ follow it), default as given.
    """
    if order is not None:
        levels = levels.iloc[order].reset_index(drop=True)
        tf = {k: np.asarray(v)[order] for k, v in tf.items()}
        no_id_evidence, pair_rec = np.asarray(no_id_evidence)[order], np.asarray(pair_rec)[order]
    fitted = fit_from_counts(held.u, fit_counts(levels, tf, seed=seed), n_registry, em_iterations=em_iterations)
    fitted.namesake = dict(held.namesake)
    bf = fitted.log2_bf(levels, tf)
    bf["namesake"] = -namesake_penalty(levels, bf, fitted, no_id_evidence)
    fitted.rho, fitted.rho_by_kind = estimate_rho(pair_rec, bf.sum(axis=1).to_numpy(), kinds, n_registry)
    return fitted


def pair_tf(reg: pd.DataFrame, reg_idx: np.ndarray) -> dict[str, np.ndarray]:
    """Term-frequency u of each pair's registry name and dob (share of the registry with that value)."""
    add_term_frequencies(reg)
    return {f: reg[f"_tf_{f}"].to_numpy()[reg_idx] for f in TF_COLUMNS}


def fit_model(
    rec: pd.DataFrame,
    reg: pd.DataFrame,
    levels: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    anchors: pd.DataFrame | None = None,
    u_pairs: int = 100_000,
    em_iterations: int = 25,
    em_sample: int = 500_000,
    prior_strength: float = 20.0,
    seed: int = 0,
    cache=None,
) -> FSModel:
    """Estimate u (random sampling) then m (EM in anchored training sessions); ``cache``: a
    :class:`~vaxlib.match.levels.FrameCache` of (rec, reg) from comparing the candidates."""
    u = estimate_u(rec, reg, n_pairs=u_pairs, seed=seed, anchors=anchors, cache=cache)
    counts = fit_counts(levels, pair_tf(reg, pairs["reg"].to_numpy()), em_sample=em_sample, seed=seed)
    return fit_from_counts(u, counts, len(reg), em_iterations=em_iterations, prior_strength=prior_strength)


def record_log2_evidence(pair_rec: np.ndarray, weight: np.ndarray, n_records: int, n_registry: int) -> np.ndarray:
    """log2 of Σ_j BF_j / N per record (−inf for a record without candidates)."""
    mx = np.full(n_records, -np.inf)
    if len(pair_rec):
        s = pd.Series(weight).groupby(pair_rec).max()
        mx[s.index.to_numpy()] = s.to_numpy()
    tot = np.bincount(pair_rec, weights=np.exp2(weight - mx[pair_rec]), minlength=n_records) if len(pair_rec) \
        else np.zeros(n_records)
    with np.errstate(divide="ignore"):
        return mx + np.log2(tot) - np.log2(max(n_registry, 1))


def estimate_rho(
    pair_rec: np.ndarray,
    weight: np.ndarray,
    kinds: np.ndarray,
    n_registry: int,
    *,
    iterations: int = 200,
    prior_records: float = 50.0,
    bounds: tuple[float, float] = (0.001, 0.9999),
) -> tuple[float, dict[str, float]]:
    """ρ, the share of records whose person is in the register, overall and per ID kind.

    EM for the mixing weight of the two-component mixture "the record's person
    is one of the N registry persons / is outside the register": with
    W_r = Σ_j BF_rj / N over the record's candidates (registry persons that
    share no blocking key contribute nothing), a record is in the register
    with posterior q_r = ρ·W_r / ((1 − ρ) + ρ·W_r), and ρ is updated to the
    mean of q_r.  Records without candidates count with q_r = 0.  Each kind's
    ρ is shrunk towards the overall one by ``prior_records`` pseudo-records
    (ρ_k = (Σ q_r + a·ρ) / (n_k + a)): a kind with few records leans on the
    overall share, a large kind speaks for itself.

    Parameters
    ----------
    pair_rec : array of int
        Record position of each candidate pair.
    weight : array of float
        The pair's match weight (sum of log2 Bayes factors).
    kinds : array of str
        Kind of typed ID of every record (its length is the number of records).
    n_registry : int
        Registry size N.
    """
    kinds = np.asarray(kinds, dtype=object)
    log_w = record_log2_evidence(np.asarray(pair_rec), np.asarray(weight, dtype=float), len(kinds), n_registry)
    return rho_from_evidence(log_w, kinds, iterations=iterations, prior_records=prior_records, bounds=bounds)


def rho_from_evidence(log_w: np.ndarray, kinds: np.ndarray, *, iterations: int = 200, prior_records: float = 50.0,
                      bounds: tuple[float, float] = (0.001, 0.9999)) -> tuple[float, dict[str, float]]:
    """:func:`estimate_rho` from each record's evidence (:func:`record_log2_evidence`, records in order)."""
    kinds = np.asarray(kinds, dtype=object)
    lo, hi = bounds

    def fit(lw: np.ndarray, prior: float | None = None) -> float:
        rho = 0.9 if prior is None else prior
        a = 0.0 if prior is None else prior_records
        for _ in range(iterations):
            # q = 1 / (1 + 2^clip(log2((1-ρ)/ρ) - lw)), in one buffer: 24M records at 10M persons
            # made four temporaries of 190 MB each
            q = np.subtract(np.log2((1 - rho) / rho), lw)
            np.clip(q, -60, 60, out=q)
            np.exp2(q, out=q)
            q += 1.0
            np.reciprocal(q, out=q)
            new = float(np.clip((q.sum() + a * (prior or 0.0)) / max(len(q) + a, 1e-9), lo, hi))
            if abs(new - rho) < 1e-7:
                rho = new
                break
            rho = new
        return rho

    rho = fit(log_w)
    codes, uniques = pd.factorize(kinds)  # the order of pd.unique
    if (codes < 0).any():  # a missing kind (None, NaN): each its own, as pd.unique and == have them
        return rho, {str(kind): fit(log_w[kinds == kind], prior=rho) for kind in pd.unique(kinds)}
    by_kind = {str(kind): fit(log_w[codes == j], prior=rho) for j, kind in enumerate(uniques)}
    return rho, by_kind


#: name levels that assert the same folded name (one group for the namesake calibration)
_SAME_FOLD = (0, 1, 2, 3)


def _name_group(name_level: np.ndarray) -> np.ndarray:
    """Name level with the four same-folded-name levels merged into 0 (−1 stays null)."""
    return np.where(np.isin(name_level, _SAME_FOLD), 0, name_level)


def outside_reference(rec: pd.DataFrame, pairs: pd.DataFrame, levels: pd.DataFrame) -> np.ndarray:
    """Records of people outside the register identified by their own number.

    A record carrying a usable CCCD/CMND that matches no candidate's (every
    candidate's ID level is ``other_consistent`` or ``different``, or there is
    no candidate): its number belongs to nobody in the register, so it cannot
    be a registry person's record with a wrong ID of someone else (that ID would
    match its owner).
    """
    p_rec = pairs["rec"].to_numpy()
    usable = rec["id_kind"].isin(["cccd", "cmnd"]).to_numpy()
    other = np.isin(levels["id"].to_numpy(), (LEVELS["id"].index("other_consistent"), LEVELS["id"].index("different")))
    near = np.zeros(len(rec), dtype=bool)
    near[p_rec[~other]] = True
    return usable & ~near


def fit_namesake_calibration(
    rec: pd.DataFrame,
    reg: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    u: dict[str, np.ndarray],
    m: dict[str, np.ndarray],
    *,
    max_name_count: int = 20,
    min_reference: int = 200,
    reference: np.ndarray | None = None,
) -> dict[tuple[int, int], float]:
    """π per (name group, dob level): the chance that a person *outside* the
    register has a look-alike registry person in that cell beyond what
    independence predicts.

    Fellegi–Sunter prices an agreement on name and date of birth by ``u``, the
    chance that a random non-match agrees.  People outside the register are
    not random: many are namesakes of a registry person born the same year
    (relatives named after each other, a common name in one cohort), so "same
    name, date of birth one digit off" is much weaker evidence for a record
    without ID evidence than ``u`` claims, above all for a rare name.  Among
    the :func:`outside_reference` records whose folded name is shared by at most
    ``max_name_count`` registry persons (their candidates are all found: no
    blocking cap hides any), π_c = (observed candidates in cell c − expected
    under independence) / reference records, where expected = Σ_r (registry
    persons sharing r's folded name, or N·u_name for the other name levels) ×
    u_dob.  The non-match probability of such a pair becomes u + π_c/N (one
    registry person is the look-alike), i.e. its weight drops by
    log2(1 + π_c / (N·u)) (:func:`namesake_penalty`): a lot for a rare name, almost
    nothing for Nguyễn Văn Hùng.  Returns ``{}`` with fewer than
    ``min_reference`` reference records.  ``reference`` is the
    :func:`outside_reference` mask when the caller has it already.
    """
    same_fold = _registry_value_counts(rec, reg, "name_fold")
    if reference is None:
        reference = outside_reference(rec, pairs, levels)
    ref = reference & (same_fold <= max_name_count)
    n_ref = int(ref.sum())
    if n_ref < min_reference:
        return {}
    observed = namesake_observed(ref, pairs["rec"].to_numpy(), levels)
    return namesake_from_counts(observed, n_ref, float(same_fold[ref].sum()), len(reg), u, m,
                                min_reference=min_reference)


def _registry_value_counts(rec: pd.DataFrame, reg: pd.DataFrame, col: str) -> np.ndarray:
    """Per record: how many registry persons have the record's value of ``col`` (float), counted
    on the frames' shared integer codes when both carry them."""
    from vaxlib.match.codes import PREFIX

    if PREFIX + col in rec.columns and PREFIX + col in reg.columns:
        g, r = reg[PREFIX + col].to_numpy(), rec[PREFIX + col].to_numpy()
        n = max(int(g.max()) + 1 if len(g) else 0, int(r.max()) + 1 if len(r) else 0)
        return np.bincount(g, minlength=n).astype(float)[r]
    return rec[col].map(reg[col].value_counts()).fillna(0).to_numpy(dtype=float)


def namesake_observed(ref: np.ndarray, pair_rec: np.ndarray, levels: pd.DataFrame) -> np.ndarray:
    """Candidates of the reference records (``ref``, one flag per record) per (name group, dob level)."""
    in_ref = ref[pair_rec]
    ng = _name_group(levels["name"].to_numpy()[in_ref])
    dl = levels["dob"].to_numpy()[in_ref]
    n_name, n_dob = len(LEVELS["name"]), len(LEVELS["dob"])
    ok = (ng >= 0) & (dl >= 0)
    return np.bincount(ng[ok] * n_dob + dl[ok], minlength=n_name * n_dob).reshape(n_name, n_dob)


def namesake_from_counts(observed: np.ndarray, n_ref: int, same_fold_sum: float, n_registry: int,
                         u: dict[str, np.ndarray], m: dict[str, np.ndarray], *,
                         min_reference: int = 200) -> dict[tuple[int, int], float]:
    """:func:`fit_namesake_calibration` from its counts: the reference records' candidates per cell
    (:func:`namesake_observed`), how many reference records, and how many registry persons share
    their folded names in all."""
    if n_ref < min_reference:
        return {}
    n_reg = max(n_registry, 1)
    n_name, n_dob = len(LEVELS["name"]), len(LEVELS["dob"])
    expected_names = np.array([n_ref * n_reg * u["name"][g] for g in range(n_name)])
    expected_names[0] = same_fold_sum
    expected = expected_names[:, None] * np.asarray(u["dob"])[None, :]
    # Registry persons whose record carries a wrong number nobody owns are in the
    # reference set too.  A reference record agreeing exactly on name and date is
    # taken to be one of them (an outside twin is left to the other evidence), and
    # their own typing errors (C·m) are taken off the other cells.
    m_name = np.array([m["name"][list(_SAME_FOLD)].sum()] + [m["name"][g] for g in range(1, n_name)])
    exact_dates = [LEVELS["dob"].index("exact"), LEVELS["dob"].index("same_date")]
    c_in = observed[0, exact_dates].sum() / max(m_name[0] * m["dob"][exact_dates].sum(), 1e-9)
    n_out = max(n_ref - c_in, 1.0)
    out = {}
    for g in (0, *[i for i in range(n_name) if i not in _SAME_FOLD and LEVELS["name"][i] != "different"]):
        for d in range(n_dob):
            if LEVELS["dob"][d] == "different" or d in exact_dates:
                continue
            pi = (observed[g, d] - expected[g, d] - c_in * m_name[g] * m["dob"][d]) / n_out
            if pi > 0:
                out[(int(g), int(d))] = float(pi)
    return out


def namesake_penalty(
    levels: pd.DataFrame,
    bf: pd.DataFrame,
    model: "FSModel",
    no_id_evidence: np.ndarray,
) -> np.ndarray:
    """log2(1 + π_c / (N·u)) for each pair without ID evidence, 0 elsewhere.

    ``u`` is the pair's modelled chance agreement on name and dob (term
    frequencies included), recovered from its Bayes factors; ``no_id_evidence``
    marks the pairs whose weight gets the discount (ID level null, or a record
    of :func:`outside_reference`).  See :func:`fit_namesake_calibration`.
    """
    out = np.zeros(len(levels))
    if not model.namesake:
        return out
    nl = levels["name"].to_numpy()
    dl = levels["dob"].to_numpy()
    ng = _name_group(nl)
    n_dob = len(LEVELS["dob"])
    table = np.zeros(len(LEVELS["name"]) * n_dob)
    for (g, d), v in model.namesake.items():
        table[g * n_dob + d] = v
    sel = np.asarray(no_id_evidence, dtype=bool) & (ng >= 0) & (dl >= 0)
    pi = table[ng[sel] * n_dob + dl[sel]]
    log_m = np.log2(model.m["name"][nl[sel]]) + np.log2(model.m["dob"][dl[sel]])
    log_u = log_m - bf["name"].to_numpy()[sel] - bf["dob"].to_numpy()[sel]
    n_u = np.exp2(log_u + np.log2(max(model.n_registry, 1)))
    out[sel] = np.log2(1.0 + pi / n_u)
    return out
