"""Figure builders for the workbench and the reports.

Every function returns a :class:`plotly.graph_objects.Figure` and never calls
``.show()`` (the caller decides where it goes: a notebook, an HTML report, a
test).  Text is Vietnamese by default; pass ``lang="en"`` for English.  The
wording comes from :mod:`vaxlib.review.labels`.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from vaxlib.review.clusters import MISMATCH_STATUSES, explode_error_codes
from vaxlib.review.labels import (
    NO_CODE,
    check_lang,
    error_label,
    field_label,
    field_of,
    month_label,
    ui_label,
)

__all__ = ["wrap_label", "error_treemap", "facility_error_heatmap", "errors_over_time", "cluster_bar"]

#: one colour per field group, used by every figure so a field looks the same everywhere
FIELD_COLOURS = {"id": "#1f77b4", "name": "#ff7f0e", "dob": "#2ca02c", "sex": "#9467bd", NO_CODE: "#7f7f7f"}
_FIELD_ORDER = ("id", "name", "dob", "sex", NO_CODE)


def wrap_label(text: str, width: int = 24) -> str:
    """A long chart label as lines of at most ``width`` characters (plotly ``<br>``), each HTML-escaped,
    so that a phone does not cut it and plotly does not read ``<``/``&`` in a name as markup."""
    lines, cur = [], ""
    for w in str(text).split():
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "<br>".join(html.escape(x) for x in lines)


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", margin=dict(l=10, r=10, t=50, b=10),
                      font=dict(family="Noto Sans, Arial, sans-serif"))
    return fig


def error_treemap(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    lang: str = "vi",
    statuses: Sequence[str] = MISMATCH_STATUSES,
) -> go.Figure:
    """Treemap of error codes in mismatch records, grouped by field (ID, name, dob, sex).

    A record with several codes counts once under each code.
    """
    check_lang(lang)
    codes = explode_error_codes(vaccinations, matches, statuses=statuses)
    counts = codes.groupby("code").size()
    root = ui_label("all_errors", lang)
    ids, labels, parents, values, colours = ["all"], [root], [""], [int(counts.sum())], ["#ffffff"]
    for field in _FIELD_ORDER:
        sub = counts[[field_of(c) == field for c in counts.index]]
        if sub.empty:
            continue
        ids.append(field)
        labels.append(field_label(field, lang))
        parents.append("all")
        values.append(int(sub.sum()))
        colours.append(FIELD_COLOURS[field])
        for code, n in sub.sort_values(ascending=False).items():
            ids.append(code)
            labels.append(error_label(code, lang))
            parents.append(field)
            values.append(int(n))
            colours.append(FIELD_COLOURS[field])
    unit = ui_label("records", lang)
    fig = go.Figure(go.Treemap(
        ids=ids, labels=labels, parents=parents, values=values, branchvalues="total",
        marker=dict(colors=colours), customdata=ids,
        hovertemplate=f"%{{label}}<br>%{{customdata}}<br>{unit}: %{{value}}<br>%{{percentRoot:.1%}}<extra></extra>",
        textinfo="label+value",
    ))
    return _layout(fig, ui_label("treemap_title", lang))


def facility_error_heatmap(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    top: int = 25,
    lang: str = "vi",
    statuses: Sequence[str] = MISMATCH_STATUSES,
) -> go.Figure:
    """Heatmap of error-code counts: the ``top`` facilities with most mismatches × error codes.

    Rows are ordered by the facility's number of mismatch records (largest at
    the top), columns by the code's total count.
    """
    check_lang(lang)
    codes = explode_error_codes(vaccinations, matches, statuses=statuses)
    per_facility = codes.groupby("facility_id")["record_id"].nunique().sort_values(ascending=False, kind="stable")
    keep = per_facility.head(top).index
    table = pd.crosstab(codes["facility_id"], codes["code"]).reindex(index=keep, fill_value=0)
    order = table.sum(axis=0).sort_values(ascending=False, kind="stable").index
    table = table[order]
    x_codes = list(table.columns)
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(), x=[error_label(c, lang) for c in x_codes], y=list(table.index),
        customdata=[[c for c in x_codes] for _ in table.index],
        colorscale="Reds", colorbar=dict(title=ui_label("records", lang)),
        hovertemplate=(f"{ui_label('facility', lang)}: %{{y}}<br>{ui_label('error', lang)}: %{{x}} "
                       f"(%{{customdata}})<br>{ui_label('records', lang)}: %{{z}}<extra></extra>"),
    ))
    # every facility and every code labelled (plotly thins category ticks to every other one by default)
    fig.update_yaxes(autorange="reversed", title=ui_label("facility", lang), tickmode="array",
                     tickvals=list(table.index), ticktext=list(table.index), automargin=True)
    x_labels = [error_label(c, lang) for c in x_codes]
    fig.update_xaxes(title=ui_label("error", lang), tickangle=-40, tickmode="array", tickvals=x_labels,
                     ticktext=x_labels, automargin=True)
    fig.update_layout(height=max(360, 22 * len(table.index) + 220))
    return _layout(fig, ui_label("heatmap_title", lang))


def errors_over_time(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    by: str = "field",
    top_codes: int = 8,
    lang: str = "vi",
    statuses: Sequence[str] = MISMATCH_STATUSES,
) -> go.Figure:
    """Stacked bars of error counts per month of vaccination.

    Parameters
    ----------
    by
        ``"field"`` (one series per field group) or ``"code"`` (the
        ``top_codes`` most frequent codes, the rest together).
    """
    check_lang(lang)
    if by not in ("field", "code"):
        raise ValueError(f"by must be 'field' or 'code', not {by!r}")
    codes = explode_error_codes(vaccinations, matches, statuses=statuses)
    codes = codes[codes["period"] != ""]
    if by == "field":
        key = codes["field"]
        series = [f for f in _FIELD_ORDER if f in set(key)]
        names = {f: field_label(f, lang) for f in series}
        colours = {f: FIELD_COLOURS[f] for f in series}
    else:
        totals = codes["code"].value_counts()
        top = list(totals.index[:top_codes])
        other = "__other__"
        key = codes["code"].where(codes["code"].isin(top), other)
        series = top + ([other] if (key == other).any() else [])
        names = {c: error_label(c, lang) for c in top} | {other: field_label(NO_CODE, lang)}
        colours = {}
    months = sorted(codes["period"].unique())
    table = pd.crosstab(codes["period"], key).reindex(index=months, columns=series, fill_value=0)
    ticks = [month_label(m, lang) for m in months]
    fig = go.Figure()
    for s in series:
        fig.add_bar(x=ticks, y=table[s].tolist(), name=names[s],
                    marker_color=colours.get(s),
                    hovertemplate=f"{names[s]}<br>%{{x}}: %{{y}}<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=ui_label("month", lang), type="category")
    fig.update_yaxes(title=ui_label("records", lang))
    return _layout(fig, ui_label("time_title", lang))


def cluster_bar(clusters: pd.DataFrame, *, top: int = 15, lang: str = "vi") -> go.Figure:
    """Horizontal bars of the ``top`` largest clusters, labelled with their descriptions.

    ``clusters`` is the table of :func:`vaxlib.review.clusters.find_clusters`.
    """
    check_lang(lang)
    head = clusters.head(top).iloc[::-1]  # largest at the top
    colours = [FIELD_COLOURS.get(field_of(str(p).split(";")[0]), "#7f7f7f") for p in head["pattern"]]
    fig = go.Figure(go.Bar(
        x=head["n_records"].tolist(), y=head[f"description_{lang}"].tolist(), orientation="h",
        marker_color=colours, customdata=head["cluster_id"].tolist(),
        hovertemplate=f"%{{y}}<br>{ui_label('records', lang)}: %{{x}}<br>%{{customdata}}<extra></extra>",
    ))
    fig.update_xaxes(title=ui_label("records", lang))
    fig.update_yaxes(automargin=True)
    # long descriptions wrap (plotly <br>) so the bars keep most of the width
    fig.update_yaxes(automargin=True, tickmode="array", tickvals=head[f"description_{lang}"].tolist(),
                     ticktext=[wrap_label(d, 48) for d in head[f"description_{lang}"]])
    fig.update_layout(height=max(300, 40 * len(head) + 100))
    return _layout(fig, ui_label("clusters_title", lang))
