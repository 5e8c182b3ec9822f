"""Evaluate `vax match` output against the truth written by `vax synth`.

Metrics (all on dose records):

* automatic links (``verified`` + ``fix``): precision, and recall among the
  records whose person is in the registry;
* review rate, and how often the review row's best candidate is right;
* records of people not in the registry linked automatically (false links);
* per error code recall and precision (a record's code set against the truth's);
* person_key pairwise precision, recall and F1 (pairs of records put together);
* corrected values equal to the registry's in correctly linked rows;
* blocking recall (from the match run's statistics, when it had the truth);
* a threshold sweep of the automatic-link threshold.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import plotly.graph_objects as go

__all__ = ["evaluate", "threshold_sweep", "pr_figure", "pairwise_f1", "code_scores", "calibration"]


def _codes(s: str | None) -> set[str]:
    return {c for c in (s or "").split(";") if c}


def pairwise_f1(pred_key: pd.Series, true_key: pd.Series) -> dict[str, float]:
    """Pairwise precision/recall/F1 of a clustering (records sharing a key)."""
    def pairs(counts: pd.Series) -> float:
        c = counts.to_numpy(dtype=float)
        return float((c * (c - 1) / 2).sum())

    df = pd.DataFrame({"p": pred_key.astype(str).to_numpy(), "t": true_key.astype(str).to_numpy()})
    tp = pairs(df.groupby(["p", "t"]).size())
    pp = pairs(df.groupby("p").size())
    tt = pairs(df.groupby("t").size())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def code_scores(pred: pd.Series, truth: pd.Series) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-code and micro-averaged recall/precision of error-code sets."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for p, t in zip(pred.to_numpy(dtype=object), truth.to_numpy(dtype=object)):
        ps, ts = _codes(p), _codes(t)
        for c in ps & ts:
            tp[c] += 1
        for c in ps - ts:
            fp[c] += 1
        for c in ts - ps:
            fn[c] += 1
    rows = []
    for c in sorted(set(tp) | set(fp) | set(fn)):
        rows.append({
            "code": c, "truth": tp[c] + fn[c], "predicted": tp[c] + fp[c], "correct": tp[c],
            "recall": tp[c] / (tp[c] + fn[c]) if tp[c] + fn[c] else np.nan,
            "precision": tp[c] / (tp[c] + fp[c]) if tp[c] + fp[c] else np.nan,
        })
    T, P, F = sum(tp.values()), sum(fp.values()), sum(fn.values())
    micro = {"recall": T / (T + F) if T + F else 1.0, "precision": T / (T + P) if T + P else 1.0}
    return pd.DataFrame(rows), micro


def threshold_sweep(matches: pd.DataFrame, truth: pd.DataFrame,
                    thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Precision and recall of automatic links if the auto threshold were t."""
    m = matches.merge(truth[["record_id", "person_id"]].rename(columns={"person_id": "true_pid"}),
                      on="record_id", how="left")
    in_reg = m["true_pid"].notna() & m["true_pid"].astype(str).ne("")
    has = m["person_id"].notna() & m["status"].isin(["verified", "fix", "review"])
    right = has & (m["person_id"].astype(str) == m["true_pid"].astype(str))
    p = m["match_probability"].to_numpy()
    verified = (m["status"] == "verified").to_numpy()
    if thresholds is None:
        thresholds = np.array([0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999])
    rows = []
    for t in thresholds:
        auto = has.to_numpy() & ((p >= t) | verified)
        n_auto = auto.sum()
        correct = (auto & right.to_numpy()).sum()
        rows.append({"threshold": float(t), "auto_links": int(n_auto),
                     "precision": correct / n_auto if n_auto else 1.0,
                     "recall": correct / max(in_reg.sum(), 1)})
    return pd.DataFrame(rows)


def calibration(matches: pd.DataFrame, truth: pd.DataFrame,
                bins: tuple[float, ...] = (0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0)) -> pd.DataFrame:
    """Reliability table: mean predicted probability vs observed share of right links per bin."""
    m = matches.merge(truth[["record_id", "person_id"]].rename(columns={"person_id": "true_pid"}),
                      on="record_id", how="left")
    m = m[m["person_id"].notna() & m["status"].isin(["fix", "review"])]
    right = (m["person_id"].astype(str) == m["true_pid"].astype(str)).astype(float)
    cut = pd.cut(m["match_probability"], bins=list(bins), include_lowest=True)
    out = pd.DataFrame({"bin": cut, "p": m["match_probability"], "right": right}).groupby("bin", observed=True)
    return out.agg(records=("p", "size"), mean_probability=("p", "mean"), observed_right=("right", "mean")
                   ).reset_index().astype({"bin": str})


def pr_figure(sweep: pd.DataFrame, lang: str = "vi") -> go.Figure:
    """Precision–recall curve of the automatic-link threshold."""
    labels = {"vi": ("Độ bao phủ (recall)", "Độ chính xác (precision)", "Ngưỡng tự động"),
              "en": ("Recall", "Precision", "Auto threshold")}[lang]
    fig = go.Figure(go.Scatter(x=sweep["recall"], y=sweep["precision"], mode="lines+markers",
                               text=[f"{labels[2]} {t:g}" for t in sweep["threshold"]]))
    # both axes are shares: 0 to 1 (plotly's autorange ran to 2 on a curve near 1)
    fig.update_layout(xaxis_title=labels[0], yaxis_title=labels[1], template="plotly_white",
                      xaxis=dict(range=[0, 1.02]), yaxis=dict(range=[0, 1.02]),
                      separators=",." if lang == "vi" else ".,")
    return fig


def evaluate(matches: pd.DataFrame, truth: pd.DataFrame, vaccinations: pd.DataFrame | None = None,
             stats: dict | None = None) -> dict:
    """All metrics as a dict (see module docstring); tables under ``codes`` and ``sweep``.

    ``vaccinations`` (the typed records) is needed for ``corrected_equal_rate``.
    """
    t = truth.rename(columns={"person_id": "true_pid", "error_codes": "true_codes"})
    m = matches.merge(t, on="record_id", how="left", validate="one_to_one")
    if vaccinations is not None:
        typed = vaccinations[["record_id", "full_name", "dob", "id_number"]]
        m = m.merge(typed, on="record_id", how="left", validate="one_to_one")
    n = len(m)
    in_reg = m["true_pid"].notna() & m["true_pid"].astype(str).ne("")
    auto = m["status"].isin(["verified", "fix"])
    review = m["status"].eq("review")
    right = m["person_id"].notna() & (m["person_id"].astype(str) == m["true_pid"].astype(str))
    n_auto = int(auto.sum())
    out: dict = {
        "records": n,
        "in_registry": int(in_reg.sum()),
        "status_counts": m["status"].value_counts().to_dict(),
        "auto_precision": float((auto & right).sum() / n_auto) if n_auto else 1.0,
        "auto_recall": float((auto & right).sum() / max(int(in_reg.sum()), 1)),
        "review_rate": float(review.mean()),
        "review_top_right": float((review & right).sum() / review.sum()) if review.any() else float("nan"),
        "nonregistry_auto_linked": float((auto & ~in_reg).sum() / max(int((~in_reg).sum()), 1)),
    }
    codes, micro = code_scores(m["error_codes"].fillna(""), m["true_codes"].fillna(""))
    out["code_recall"], out["code_precision"] = micro["recall"], micro["precision"]
    out["codes"] = codes
    key = pairwise_f1(m["person_key"], m["human_id"])
    out.update({f"person_key_{k}": v for k, v in key.items()})
    linked_right = auto & right
    ok = pd.Series(True, index=m.index)
    for f in ("full_name", "dob", "id_number"):
        if f"true_{f}" in m.columns and f in m.columns:
            value = m[f"corrected_{f}"].where(m[f"corrected_{f}"].notna(), m[f])
            ok &= value.astype(str) == m[f"true_{f}"].astype(str)
    out["corrected_equal_rate"] = float(ok[linked_right].mean()) if linked_right.any() else float("nan")
    if stats and "blocking_recall" in stats:
        out["blocking_recall"] = stats["blocking_recall"]
    out["sweep"] = threshold_sweep(matches, truth)
    out["calibration"] = calibration(matches, truth)
    return out
