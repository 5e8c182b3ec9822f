"""Helpers behind notebooks/03-tune-thresholds.ipynb (researchers).

Load a match run and its truth, sweep thresholds, inspect m/u weights and
term frequencies, find the hardest pairs, and write chosen thresholds back to
``parameters/matching.yaml`` (keeping the file's other settings and comments).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vaxlib.match.compare import FIELDS

__all__ = ["MatchRun", "load_run", "hardest_pairs", "model_weights", "top_name_frequencies", "save_thresholds",
           "review_load", "review_sweep", "record_priors", "thresholds_from", "compare_pair"]


@dataclass
class MatchRun:
    matches: pd.DataFrame
    candidates: pd.DataFrame
    model: dict
    truth: pd.DataFrame | None
    registry: pd.DataFrame | None
    vaccinations: pd.DataFrame | None


def load_run(data_dir: str | Path, match_dir: str | Path) -> MatchRun:
    """Read a complete `vax match` run (its manifest is checked) and the `vax synth` folder it was run on."""
    from vaxlib.io import read_json, read_output
    from vaxlib.runs import CANDIDATES, MATCHES, MODEL, check_input, check_run

    data_dir, match_dir = Path(data_dir), Path(match_dir)
    check_run(match_dir, command="match")

    def opt(p: Path, kind: str) -> pd.DataFrame | None:
        if not p.exists():
            return None
        check_input(p)
        return read_output(p, kind)

    return MatchRun(
        matches=read_output(match_dir / MATCHES, "matches"),
        candidates=read_output(match_dir / CANDIDATES, "candidates"),
        model=read_json(match_dir / MODEL),
        truth=opt(data_dir / "truth_vaccinations.parquet", "truth_vaccinations"),
        registry=opt(data_dir / "registry.parquet", "table"),
        vaccinations=opt(data_dir / "vaccinations.parquet", "table"),
    )


def model_weights(model: dict) -> pd.DataFrame:
    """One row per field level: m, u and log2(m/u)."""
    rows = []
    for f in FIELDS:
        for level, m in model["m"][f].items():
            u = model["u"][f][level]
            rows.append({"field": f, "level": level, "m": m, "u": u, "log2_bf": float(np.log2(m / u))})
    return pd.DataFrame(rows)


def top_name_frequencies(registry: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The most frequent folded full names and their term-frequency weight penalty."""
    from vaxlib.vn.text import fold_key

    folded = registry["full_name"].map(fold_key)
    counts = folded.value_counts().head(n)
    total = len(registry)
    return pd.DataFrame({"name_folded": counts.index, "count": counts.to_numpy(),
                         "log2_u_tf": np.log2(counts.to_numpy() / total)})


def hardest_pairs(run: MatchRun, n: int = 10) -> pd.DataFrame:
    """Best candidates of the records the model got wrong or was least sure of.

    Wrong links first (needs the truth), then the lowest-probability links.
    ``person_id`` and ``true_person_id`` are masked (``0790******34``): the
    table is meant for a notebook, which JupyterLab saves to disk.
    """
    from vaxlib.privacy import mask_id

    best = run.candidates[run.candidates["rank"] == 1].copy()
    if run.truth is not None:
        t = run.truth[["record_id", "person_id"]].rename(columns={"person_id": "true_person_id"})
        best = best.merge(t, on="record_id", how="left")
        best["wrong"] = best["true_person_id"].notna() & (best["person_id"] != best["true_person_id"])
        best["true_person_id"] = best["true_person_id"].map(mask_id)
    else:
        best["wrong"] = False
    best["person_id"] = best["person_id"].map(mask_id)
    best["uncertainty"] = -np.abs(best["match_probability"] - 0.5)
    return best.sort_values(["wrong", "uncertainty"], ascending=[False, False]).head(n).reset_index(drop=True)


def compare_pair(run: MatchRun, record_id: str, rank: int = 1, lang: str = "vi") -> pd.DataFrame:
    """A record and one of its candidates side by side: per field the typed value, the register's,
    the comparison level in words and its weight (log2 Bayes factor), as Splink's comparison viewer.

    ID and phone numbers are masked.  Fields the register does not hold
    (phone, dose history) show ``—`` on its side.
    """
    from vaxlib.i18n import fmt_date, fmt_decimal
    from vaxlib.match.explain import FIELD_LABELS, level_label
    from vaxlib.privacy import mask_id
    from vaxlib.widgets import display_sex

    c = run.candidates
    row = c[(c["record_id"].astype(str) == str(record_id)) & (c["rank"] == rank)]
    if row.empty:
        raise KeyError(f"record {record_id!r} has no candidate of rank {rank}")
    cand = row.iloc[0]
    typed = reg = None
    if run.vaccinations is not None:
        v = run.vaccinations[run.vaccinations["record_id"].astype(str) == str(record_id)]
        typed = v.iloc[0] if len(v) else None
    if run.registry is not None:
        r = run.registry[run.registry["person_id"].astype(str) == str(cand["person_id"])]
        reg = r.iloc[0] if len(r) else None

    def get(src, col: str) -> str:
        if src is None or col not in src.index or pd.isna(src[col]):
            return "—"
        return str(src[col])

    shown = {
        "name": (get(typed, "full_name"), get(reg, "full_name")),
        "dob": (get(typed, "dob"), fmt_date(get(reg, "dob"), lang) if reg is not None else "—"),
        "id": (mask_id(get(typed, "id_number")) if typed is not None else "—", mask_id(str(cand["person_id"]))),
        "sex": (get(typed, "sex"), display_sex(get(reg, "sex"), lang) if reg is not None else "—"),
        "phone": (mask_id(get(typed, "phone"), keep_start=3, keep_end=3) if typed is not None else "—", "—"),
        "dose": (f"{get(typed, 'dose_number')} · {fmt_date(get(typed, 'vaccination_date'), lang)}"
                 if typed is not None else "—", "—"),
    }
    labels = FIELD_LABELS[lang]
    heads = {"vi": ("Trường", "Bản ghi (như đã nhập)", "CSDL dân cư", "Mức so sánh", "Trọng số"),
             "en": ("Field", "Record (as typed)", "Register", "Level", "Weight")}[lang]
    rows = []
    for f in FIELDS:
        level = str(cand.get(f"level_{f}", ""))
        typed_v, reg_v = shown.get(f, ("—", "—"))
        rows.append((labels[f], typed_v, reg_v, level_label(f, level, lang), fmt_decimal(cand[f"bf_{f}"], lang, 2)))
    return pd.DataFrame(rows, columns=list(heads))


def review_load(matches: pd.DataFrame, auto: float, review: float, lang: str = "vi") -> pd.DataFrame:
    """Records that would be verified / fixed automatically / reviewed / unmatched at the given thresholds.

    One row per status: its label, the number of records and their share
    (formatted the ``lang`` way); the raw share is in ``share_value``.
    """
    from vaxlib.i18n import fmt_int, fmt_pct, t

    linked = matches["person_id"].notna() | matches["match_probability"].gt(0)
    p = matches["match_probability"]
    verified = matches["status"].eq("verified")
    fix = ~verified & linked & (p >= auto)
    rev = ~verified & linked & (p < auto) & (p >= review)
    rest = ~(verified | fix | rev)
    rows = []
    for status, mask in (("verified", verified), ("fix", fix), ("review", rev), ("unmatched", rest)):
        share = float(mask.mean()) if len(mask) else float("nan")
        rows.append({"status": status, "label": t(f"status.{status}", lang),
                     "records": fmt_int(int(mask.sum()), lang), "share": fmt_pct(share, lang), "share_value": share})
    return pd.DataFrame(rows)


def thresholds_from(path: str | Path, auto: float | None = None, review: float | None = None) -> tuple[float, float]:
    """The thresholds to study: the given ones, else those in ``path`` (``parameters/matching.yaml``)."""
    params = yaml.safe_load(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else {}
    params = params or {}
    a = float(auto if auto is not None else params.get("auto_threshold", 0.99))
    r = float(review if review is not None else params.get("review_threshold", 0.50))
    return a, r


def review_sweep(matches: pd.DataFrame, truth: pd.DataFrame, candidates: pd.DataFrame | None = None,
                 thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) -> pd.DataFrame:
    """What the review queue would hold if the review threshold were t.

    For every record not linked automatically (status ``review`` or
    ``unmatched``) whose best candidate has probability at least t: how many
    such records, their share of all records, the share whose best candidate
    is the true person, and how many belong to people outside the register.
    The best candidate comes from ``candidates`` (rank 1) when given, since
    ``matches`` names no person for an ``unmatched`` record.
    """
    m = matches[["record_id", "status", "person_id", "match_probability"]].copy()
    if candidates is not None:
        best = candidates.loc[candidates["rank"] == 1, ["record_id", "person_id"]]
        m = m.drop(columns="person_id").merge(best, on="record_id", how="left")
    t = truth[["record_id", "person_id"]].rename(columns={"person_id": "true_pid"})
    m = m.merge(t, on="record_id", how="left")
    open_ = m["status"].isin(["review", "unmatched"]) & m["person_id"].notna()
    outside = m["true_pid"].isna() | m["true_pid"].astype(str).eq("")
    right = m["person_id"].astype(str) == m["true_pid"].astype(str)
    rows = []
    for th in thresholds:
        q = open_ & (m["match_probability"] >= th)
        n = int(q.sum())
        rows.append({"review_threshold": float(th), "review_rows": n, "review_rate": n / max(len(m), 1),
                     "top_candidate_right": float((q & right).sum() / n) if n else np.nan,
                     "outside_register": int((q & outside).sum())})
    return pd.DataFrame(rows)


def record_priors(model: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The record-level parts of a fitted model (``model.json``): ρ per kind of typed ID,
    and the namesake excess π per (name group, dob level) cell with its weight
    discount for a name borne by one registry person."""
    rho = pd.DataFrame([{"id_kind": k, "rho": v} for k, v in sorted(model.get("rho_by_kind", {}).items())])
    rows = []
    for cell, pi in sorted(model.get("namesake_pi", {}).items(), key=lambda kv: -kv[1]):
        name, dob = cell.split("|")
        # N·u of a pair whose name one registry person bears: N · (1/N) · u_dob = u_dob
        u_dob = model["u"]["dob"][dob]
        rows.append({"name": name, "dob": dob, "pi": pi,
                     "log2_discount_unique_name": float(np.log2(1 + pi / u_dob))})
    table = pd.DataFrame(rows, columns=["name", "dob", "pi", "log2_discount_unique_name"])
    # an empty table says why (shown as its caption in a notebook)
    table.attrs["note"] = ("" if rows else
                           "no namesake excess in this model: either every same-name same-dob pair in the "
                           "register is as rare as chance predicts, or model.json predates the namesake "
                           "calibration (re-run vax match)")
    return rho, table


def save_thresholds(path: str | Path, auto_threshold: float, review_threshold: float) -> dict:
    """Write the two thresholds into a matching.yaml, keeping every other key and every comment.

    The file is edited as a round trip (``ruamel.yaml``): comments, key order
    and layout stay; a value already equal is not rewritten, so saving the
    file's own thresholds leaves it byte for byte unchanged.  Written to a
    temporary file and moved into place, so a crash never leaves half a file.
    """
    import io
    import os

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    if not 0 <= review_threshold <= auto_threshold <= 1:
        raise ValueError("thresholds must satisfy 0 <= review <= auto <= 1")
    path = Path(path)
    y = YAML()  # round-trip mode
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long comment line
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    params = y.load(text) if text.strip() else None
    params = params if params is not None else CommentedMap()
    changed = False
    for key, value in (("auto_threshold", float(auto_threshold)), ("review_threshold", float(review_threshold))):
        old = params.get(key)
        try:
            same = old is not None and float(old) == value
        except (TypeError, ValueError):
            same = False
        if not same:
            params[key] = value
            changed = True
    if changed:
        buf = io.StringIO()
        y.dump(params, buf)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, path)
    return {k: params[k] for k in params}
