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

from vaxlib.match.compare import FIELDS

__all__ = ["waterfall_data", "waterfall_figure", "FIELD_LABELS", "LEVEL_LABELS", "level_label"]

FIELD_LABELS = {
    "vi": {"prior": "Xác suất tiên nghiệm", "name": "Họ và tên", "dob": "Ngày sinh", "id": "Số CMND/CCCD",
           "sex": "Giới tính", "phone": "Số điện thoại", "dose": "Lịch sử mũi tiêm",
           "namesake": "Người trùng tên ngoài sổ",
           "note": "p là xác suất hậu nghiệm: đã tính các ứng viên khác và khả năng người này không có trong sổ đăng ký",
           "total": "Tổng trọng số", "title": "Đóng góp của từng trường vào trọng số ghép",
           "axis": "Trọng số (log2 tỉ số Bayes)"},
    "en": {"prior": "Prior", "name": "Full name", "dob": "Date of birth", "id": "ID number", "sex": "Sex",
           "phone": "Phone", "dose": "Dose history",
           "namesake": "Namesakes outside the register",
           "note": "p is the posterior: it counts the other candidates and the chance the person is not in the register",
           "total": "Final weight", "title": "Each field's contribution to the match weight",
           "axis": "Weight (log2 Bayes factor)"},
}


#: comparison levels in words (vaxlib.match.compare.LEVELS); "null" is a missing value on either side
LEVEL_LABELS: dict[str, dict[str, dict[str, str]]] = {
    "vi": {
        "name": {"exact": "trùng khớp", "canonical": "khác dạng chữ, hoa thường hoặc khoảng trắng",
                 "tone_placement": "khác vị trí dấu thanh", "folded": "giống khi bỏ dấu",
                 "reordered": "đảo thứ tự", "typo": "lỗi gõ", "missing_part": "thiếu hoặc thừa một phần",
                 "similar": "gần giống", "different": "khác"},
        "dob": {"exact": "trùng khớp", "same_date": "cùng ngày, khác định dạng",
                "day_month_swap": "đảo ngày và tháng", "partial": "chỉ biết năm hoặc tháng",
                "default_0101": "mặc định 01/01", "one_digit": "sai một chữ số", "same_year": "cùng năm",
                "different": "khác"},
        "id": {"exact": "trùng khớp", "same_digits": "cùng dãy số", "old_id": "số CMND cũ",
               "excel_compatible": "khớp các chữ số Excel còn giữ", "one_edit": "sai một chữ số",
               "transposition": "đảo hai chữ số", "truncated": "thiếu hoặc thừa chữ số",
               "other_consistent": "một số hợp lệ khác", "different": "khác"},
        "sex": {"same": "trùng khớp", "different": "khác"},
        "phone": {"same": "số người này đã dùng", "different": "khác"},
        "dose": {"compatible": "phù hợp", "conflict": "mũi này đã tiêm vào ngày khác"},
        "null": "không có",
    },
    "en": {
        "name": {"exact": "exact", "canonical": "Unicode, case or spacing", "tone_placement": "tone-mark placement",
                 "folded": "same without diacritics", "reordered": "reordered", "typo": "typo",
                 "missing_part": "part missing or added", "similar": "similar", "different": "different"},
        "dob": {"exact": "exact", "same_date": "same date, other format", "day_month_swap": "day and month swapped",
                "partial": "only year or month known", "default_0101": "01/01 default", "one_digit": "one digit off",
                "same_year": "same year", "different": "different"},
        "id": {"exact": "exact", "same_digits": "same digits", "old_id": "former CMND",
               "excel_compatible": "fits the digits Excel kept", "one_edit": "one digit off",
               "transposition": "two digits swapped", "truncated": "digits cut or added",
               "other_consistent": "another valid number", "different": "different"},
        "sex": {"same": "same", "different": "different"},
        "phone": {"same": "a number this person uses", "different": "different"},
        "dose": {"compatible": "compatible", "conflict": "dose already given on another date"},
        "null": "missing",
    },
}


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
        text=[f"{v:+.1f}" for v in data["log2_bf"]] + [f"{total:+.1f}"],
        textposition="outside",
    ))
    fig.update_layout(title=f"{labels['title']} — p = {prob:.4f}", yaxis_title=labels["axis"],
                      template="plotly_white", showlegend=False)
    # the final weight alone is not p: the record's other candidates and the prior share
    # of records outside the register enter the posterior too
    fig.add_annotation(text=labels["note"], xref="paper", yref="paper", x=0, y=1.06, showarrow=False,
                       xanchor="left", font={"size": 11, "color": "#555"})
    return fig
