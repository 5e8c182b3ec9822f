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
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vaxlib.match.compare import FIELDS, LEVELS, compare_pairs

__all__ = ["FSModel", "estimate_u", "fit_model", "TF_LEVELS"]

log = logging.getLogger(__name__)

#: levels whose u is replaced by the value's term frequency in the registry
TF_LEVELS: dict[str, tuple[int, ...]] = {
    "name": (0, 1, 2, 3),
    "dob": (0, 1),
}

# Starting values for EM (sensible priors from the error taxonomy's typical rates).
_M_START: dict[str, list[float]] = {
    "name": [0.80, 0.03, 0.02, 0.08, 0.01, 0.03, 0.01, 0.01, 0.01],
    "dob": [0.80, 0.05, 0.02, 0.02, 0.02, 0.03, 0.03, 0.03],
    "id": [0.80, 0.04, 0.02, 0.01, 0.03, 0.02, 0.01, 0.01, 0.06],
    "sex": [0.97, 0.03],
    "phone": [0.85, 0.15],
    "dose": [0.97, 0.03],
}

#: EM training sessions (as in Splink): the pairs anchored by agreement on some
#: fields are almost all matches, and the m of the *other* fields is estimated
#: on them.  Anchoring keeps EM from mistaking a cluster of look-alike non-matches
#: (namesakes not in the registry) for matches.
TRAINING_SESSIONS: tuple[tuple[dict[str, tuple[int, ...]], tuple[str, ...]], ...] = (
    ({"id": (0, 1)}, ("name", "dob", "sex", "phone", "dose")),
    ({"name": (0, 1, 2, 3), "dob": (0, 1)}, ("id",)),
)


@dataclass
class FSModel:
    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    n_registry: int
    rho: float = 0.95  #: share of records whose person is in the registry

    # ------------------------------------------------------------------ scoring
    def log2_bf(self, levels: pd.DataFrame, tf_u: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
        """Per-field log2 Bayes factors for each pair (0 for null levels)."""
        out = {}
        for f in FIELDS:
            lv = levels[f].to_numpy()
            m = self.m[f][np.clip(lv, 0, None)]
            u = self.u[f][np.clip(lv, 0, None)]
            if tf_u is not None and f in tf_u and f in TF_LEVELS:
                use_tf = np.isin(lv, TF_LEVELS[f])
                u = np.where(use_tf, np.maximum(tf_u[f], 1.0 / max(self.n_registry, 1)), u)
            bf = np.log2(m) - np.log2(u)
            out[f] = np.where(lv < 0, 0.0, bf)
        return pd.DataFrame(out, index=levels.index)

    @property
    def prior_log2(self) -> float:
        """log2 of π = ρ / N, the prior odds of one given registry person."""
        return float(np.log2(self.rho) - np.log2(max(self.n_registry, 1)))

    def tf_u(self, reg: pd.DataFrame, reg_idx: np.ndarray) -> dict[str, np.ndarray]:
        """Term-frequency u of each pair's registry name and dob (share of the registry with that value)."""
        n = max(len(reg), 1)
        out = {}
        for f, column in (("name", "name_fold"), ("dob", "dob")):
            cache = f"_tf_{f}"
            if cache not in reg.columns:
                counts = reg.groupby(column, sort=False)[column].transform("size").to_numpy(dtype=float)
                reg[cache] = np.where(reg[column].to_numpy(dtype=object) == "", 1.0, counts / n)
            out[f] = reg[cache].to_numpy()[reg_idx]
        return out

    # --------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        return {
            "m": {f: {LEVELS[f][i]: float(v) for i, v in enumerate(self.m[f])} for f in FIELDS},
            "u": {f: {LEVELS[f][i]: float(v) for i, v in enumerate(self.u[f])} for f in FIELDS},
            "n_registry": self.n_registry,
            "rho": self.rho,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")


def estimate_u(rec: pd.DataFrame, reg: pd.DataFrame, n_pairs: int = 200_000, seed: int = 0,
               anchors: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """u probabilities from random record × registry pairs."""
    rng = np.random.default_rng(seed)
    n = min(n_pairs, max(len(rec) * len(reg), 1))
    pairs = pd.DataFrame({"rec": rng.integers(0, len(rec), n), "reg": rng.integers(0, len(reg), n)})
    levels = compare_pairs(rec, reg, pairs, anchors)
    floor = min(0.5 / n, 1.0 / max(len(reg), 1))
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


def _blocked_u(u: dict[str, np.ndarray], levels: pd.DataFrame, min_pairs: int = 200) -> None:
    """u of the dose-history fields among candidate pairs that clearly do not match.

    Random pairs almost never share a phone, but the people a record is
    compared with are look-alikes: relatives share family names, middle
    names and a household phone.  Among candidates whose name and date of
    birth both disagree, phone agreement is far more common, and that is the
    chance agreement the model must discount.
    """
    clear = np.isin(levels["name"].to_numpy(), [LEVELS["name"].index("similar"), LEVELS["name"].index("different")])
    clear &= np.isin(levels["dob"].to_numpy(), [LEVELS["dob"].index("same_year"), LEVELS["dob"].index("different")])
    for f in BLOCKED_U_FIELDS:
        x = levels[f].to_numpy()[clear]
        x = x[x >= 0]
        if len(x) < min_pairs:
            continue
        counts = np.bincount(x, minlength=len(LEVELS[f])).astype(float) + 0.5
        u[f] = counts / counts.sum()


def _em(model: FSModel, lv: pd.DataFrame, tf: dict[str, np.ndarray], fields: tuple[str, ...],
        iterations: int, prior_strength: float, lam: float) -> float:
    """EM updating ``model.m`` of ``fields`` on the pairs ``lv`` (u fixed); returns λ."""
    for _ in range(iterations):
        bf = model.log2_bf(lv, tf)[list(fields)].sum(axis=1).to_numpy()
        logit = bf + np.log2(lam / (1 - lam))
        p = 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))
        delta = 0.0
        for f in fields:
            x = lv[f].to_numpy()
            ok = x >= 0
            counts = np.bincount(x[ok], weights=p[ok], minlength=len(LEVELS[f]))
            # Dirichlet prior (pseudo-counts from the starting values): small
            # data sets keep sensible m values and no level becomes impossible.
            counts = counts + prior_strength * np.asarray(_M_START[f]) / np.sum(_M_START[f])
            new = counts / counts.sum()
            delta = max(delta, float(np.abs(new - model.m[f]).max()))
            model.m[f] = new
        lam = float(np.clip(p.mean(), 1e-4, 1 - 1e-4))
        if delta < 1e-5:
            break
    return lam


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
) -> FSModel:
    """Estimate u (random sampling) then m (EM in anchored training sessions)."""
    u = estimate_u(rec, reg, n_pairs=u_pairs, seed=seed, anchors=anchors)
    _blocked_u(u, levels)
    model = FSModel(
        m={f: np.array(_M_START[f], dtype=float) / sum(_M_START[f]) for f in FIELDS},
        u=u, n_registry=len(reg),
    )
    rng = np.random.default_rng(seed)
    for anchor, fields in TRAINING_SESSIONS:
        mask = np.ones(len(levels), dtype=bool)
        for f, allowed in anchor.items():
            mask &= np.isin(levels[f].to_numpy(), allowed)
        idx = np.flatnonzero(mask)
        if len(idx) < 20:
            log.warning("training session anchored on %s has %d pairs: keeping prior m for %s",
                        list(anchor), len(idx), fields)
            continue
        if len(idx) > em_sample:
            idx = np.sort(rng.choice(idx, em_sample, replace=False))
        lv = levels.iloc[idx]
        tf = model.tf_u(reg, pairs["reg"].to_numpy()[idx])
        lam = _em(model, lv, tf, fields, em_iterations, prior_strength, lam=0.95)
        log.info("EM session anchored on %s: %d pairs, λ=%.4f", list(anchor), len(idx), lam)
    # ρ: expected share of records with a match, from one E-step over all pairs.
    idx = np.arange(len(levels))
    if len(idx) > em_sample:
        idx = np.sort(rng.choice(idx, em_sample, replace=False))
    bf = model.log2_bf(levels.iloc[idx], model.tf_u(reg, pairs["reg"].to_numpy()[idx])).sum(axis=1).to_numpy()
    share = len(idx) / max(len(levels), 1)
    n_rec = max(pairs["rec"].nunique(), 1)
    rho = 0.95
    for _ in range(10):  # fixed point: prior odds per pair follow from ρ
        a = np.log2(rho) - np.log2(max(len(reg), 1)) + bf
        p = 1.0 / (1.0 + np.exp2(-np.clip(a, -60, 60)))
        rho = float(np.clip(p.sum() / share / max(len(rec), n_rec), 0.5, 0.999))
    model.rho = rho
    return model
