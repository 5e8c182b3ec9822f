"""Why a record was linked: each field's contribution to the match weight.

As in Splink's waterfall chart: the prior (log2 odds that a record belongs to
one given registry person), then one bar per field with its log2 Bayes factor,
the namesake discount of a pair without ID evidence
(:func:`vaxlib.match.model.fit_namesake_calibration`), ending at the final
match weight and probability.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from vaxlib.i18n import fmt_decimal
from vaxlib.match.compare import COMPARISONS, FIELDS

__all__ = ["waterfall_data", "waterfall_figure", "FIELD_LABELS", "LEVEL_LABELS", "level_label"]

#: words that are not a comparison field's (bars, title, axis, the note under the title)
_TEXT = {
    "vi": {"prior": "Xác suất tiên nghiệm", "namesake": "Người trùng tên ngoài sổ",
           "note": "p là xác suất hậu nghiệm: đã tính các ứng viên khác và khả năng người này không có trong sổ đăng ký",
           "total": "Tổng trọng số", "title": "Đóng góp của từng trường vào trọng số ghép",
           "axis": "Trọng số (log2 tỉ số Bayes)", "null": "không có"},
    "en": {"prior": "Prior", "namesake": "Namesakes outside the register",
           "note": "p is the posterior: it counts the other candidates and the chance the person is not in the register",
           "total": "Final weight", "title": "Each field's contribution to the match weight",
           "axis": "Weight (log2 Bayes factor)", "null": "missing"},
}

#: bar and chart words per language; the fields' own come from their Comparison objects
FIELD_LABELS = {lang: {**{c.field: (c.en if lang == "en" else c.vi) for c in COMPARISONS},
                       **{k: v for k, v in words.items() if k != "null"}}
                for lang, words in _TEXT.items()}

#: comparison levels in words, from the ComparisonLevel objects; "null" is a missing value on either side
LEVEL_LABELS: dict[str, dict] = {
    lang: {**{c.field: {lvl.name: lvl.label(lang) for lvl in c.levels} for c in COMPARISONS},
           "null": _TEXT[lang]["null"]}
    for lang in ("vi", "en")
}


def _signed(x: float, lang: str) -> str:
    if not np.isfinite(x):
        return "—"
    return ("+" if x >= 0 else "−") + fmt_decimal(abs(x), lang, 1)


def level_label(field: str, level: str, lang: str = "vi") -> str:
    """A comparison level in words (the code itself when unknown)."""
    table = LEVEL_LABELS["en" if lang == "en" else "vi"]
    if level == "null":
        return table["null"]
    return table.get(field, {}).get(level, level)


def waterfall_data(candidate: pd.Series | dict) -> pd.DataFrame:
    """Rows prior, one per field and the namesake discount, with level, log2 BF and the running total."""
    c = dict(candidate)
    rows = [{"field": "prior", "level": "", "log2_bf": float(c["prior_weight"])}]
    for f in FIELDS:
        if f"bf_{f}" not in c:  # candidates written before the field existed (province) lack it
            continue
        rows.append({"field": f, "level": str(c.get(f"level_{f}", "")), "log2_bf": float(c[f"bf_{f}"])})
    if "bf_namesake" in c:  # candidates written before the namesake calibration lack it
        rows.append({"field": "namesake", "level": "", "log2_bf": float(c["bf_namesake"])})
    df = pd.DataFrame(rows)
    df["cumulative"] = df["log2_bf"].cumsum()
    return df


def waterfall_figure(candidate: pd.Series | dict, lang: str = "vi") -> go.Figure:
    """Waterfall of :func:`waterfall_data`; the title carries the probability."""
    labels = FIELD_LABELS[lang]
    data = waterfall_data(candidate)
    x = [labels[f] + (f" ({level_label(f, lvl, lang)})" if lvl else "") for f, lvl in zip(data["field"], data["level"])]
    total = float(data["cumulative"].iloc[-1])
    prob = float(dict(candidate).get("match_probability", 1 / (1 + np.exp2(-total))))
    fig = go.Figure(go.Waterfall(
        x=x + [labels["total"]],
        y=list(data["log2_bf"]) + [total],
        measure=["relative"] * len(data) + ["total"],
        text=[_signed(v, lang) for v in data["log2_bf"]] + [_signed(total, lang)],
        textposition="outside",
    ))
    # numbers the Vietnamese way (0,9854; +3,0) in the Vietnamese chart
    fig.update_layout(title=f"{labels['title']} — p = {fmt_decimal(prob, lang, 4)}", yaxis_title=labels["axis"],
                      template="plotly_white", showlegend=False, separators=",." if lang == "vi" else ".,")
    # the final weight alone is not p: the record's other candidates and the prior share
    # of records outside the register enter the posterior too
    fig.add_annotation(text=labels["note"], xref="paper", yref="paper", x=0, y=1.06, showarrow=False,
                       xanchor="left", font={"size": 11, "color": "#555"})
    return fig
