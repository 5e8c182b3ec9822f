"""Per-province progress reports and the national summary (papermill + nbconvert).

Every number the reports show is computed here; the notebooks
(``notebooks/province-report.ipynb``, ``notebooks/national-summary.ipynb``)
only call these functions.  The work is split in two:

1. :func:`compute_aggregates` reads a ``vax demo``-style folder once
   (``data/``, ``match/``, ``apply/``, ``match-corrected/``, ``certificates/``,
   ``ledger.db``) and reduces it to small aggregate tables with a province
   column (counts only: no names, ID numbers, phones or dates of birth);
   :func:`load_aggregates` caches them under ``DIR/report-cache/``;
2. each notebook reads its province's rows (:func:`province_report`,
   :func:`national_report`) and draws tables and plotly figures.

A record belongs to the province of its vaccination facility (the facility's
head answers for its data); a person to the province of residence in the
register.  Privacy: the reports carry aggregates only, and every count from
1 to ``SMALL_CELL - 1`` is shown as ``"<5"`` (shares computed on fewer than
``SMALL_CELL`` records are not shown), so that no cell singles out a person.

Deadlines (Bộ Y tế, 2022 campaign to clean vaccination data, Công văn
9458/BYT-CNTT and the Ministry's April 2022 instructions): feedback handled
and certificates signed by 25/4/2022, data cleaned by 30/4/2022, report by
5/5/2022 (:data:`vaxlib.config.DEADLINES`).

``vax report --province 79`` / ``--provinces 79,01`` / ``--all`` renders the
reports into ``outputs/reports/<code>-<slug>.html`` (in parallel, one
process per core) and the national summary ``national-summary.html``.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import html
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vaxlib import i18n as _i18n
from vaxlib.errors import RunError
from vaxlib.io import parquet_columns, read_json, read_output, table_parts, write_output
from vaxlib.plots import wrap_label
from vaxlib.runs import APPLY_SUMMARY, MATCH_STATS, RunFolder, atomic_run, check_input, check_run, die_with_parent
from vaxlib.i18n import fmt_date, fmt_int, fmt_pct
from vaxlib.config import DEADLINES, DEMO_DIR, NOTEBOOKS_DIR, PARAMETERS_DIR, PROJECT_ROOT, REPORTS_DIR, load_yaml
from vaxlib.vn.provinces import BY_GSO, PROVINCES, slug
from vaxlib.vn.text import text_or_empty as _text  # missing values as ""

__all__ = [
    "SMALL_CELL",
    "STATES",
    "DEFAULT_PARAMETERS",
    "ProvinceReport",
    "NationalReport",
    "fmt_int",
    "fmt_count",
    "fmt_pct",
    "fmt_date",
    "compute_aggregates",
    "load_aggregates",
    "province_report",
    "national_report",
    "setup_notebook",
    "report_path",
    "national_path",
    "html_exporter",
    "render_one",
    "render_reports",
    "write_parameter_files",
    "register",
]

log = logging.getLogger(__name__)

#: counts below this are shown as "<5"
SMALL_CELL = 5
#: cleaning states of a dose record, in display order
STATES = ("verified", "fixed", "pending_fix", "review", "unmatched")
#: the report notebook's parameters (keys of parameters/provinces/NN.yaml)
DEFAULT_PARAMETERS: dict[str, Any] = {
    "province": "79",
    "data_dir": "outputs/demo",
    "report_date": "2022-04-30",
    "lang": "vi",
    "sla_hours": 48,
}
PROVINCE_NOTEBOOK = NOTEBOOKS_DIR / "province-report.ipynb"
NATIONAL_NOTEBOOK = NOTEBOOKS_DIR / "national-summary.ipynb"
CACHE_DIR_NAME = "report-cache"
CACHE_VERSION = "5"  # 4: facility names, facility_todo, facility_codes; 5: complaints in parts, parts in the key


_STATE_COLOURS = {"verified": "#2e7d32", "fixed": "#66bb6a", "pending_fix": "#ffca28", "review": "#fb8c00",
                  "unmatched": "#c62828"}


def t(key: str, lang: str = "vi") -> str:
    """Report wording in Vietnamese or English (:mod:`vaxlib.i18n`, section ``report``;
    feedback categories by their code); an unknown key is returned as is."""
    for k in (f"report.{key}", f"fbcat.{key}"):
        if _i18n.has(k):
            return _i18n.t(k, lang)
    return key


# --------------------------------------------------------------------------- formatting

def fmt_count(n: Any, lang: str = "vi", small: int = SMALL_CELL) -> str:
    """A count for a report cell: 1 to ``small - 1`` become ``"<5"``, 0 stays ``"0"``."""
    if n is None or (isinstance(n, float) and np.isnan(n)):
        return "—"
    n = int(n)
    return f"<{small}" if 0 < n < small else fmt_int(n, lang)


def share(num: Any, den: Any, small: int = SMALL_CELL) -> float:
    """num/den, or NaN (not shown) when the denominator is below ``small`` or the
    numerator is a suppressed small count (1 to ``small - 1``), so that a share
    never gives a hidden count away."""
    num, den = float(num), float(den)
    if den < small or 0 < num < small:
        return float("nan")
    return num / den


#: the share each deadline's measure must reach to count as met (Bộ Y tế, April 2022: every
#: feedback item answered; records and certificates as good as the register allows, i.e. 95 %:
#: people outside the register and records with no usable identity can never be matched)
DEADLINE_TARGETS: dict[str, float] = {"m_feedback": 1.0, "m_signed": 0.95, "m_clean": 0.95}
#: the measures due at each deadline (``m_report``: this report itself)
DEADLINE_MEASURES: dict[str, tuple[str, ...]] = {
    "feedback_and_signing": ("m_feedback", "m_signed"),
    "cleaning": ("m_clean",),
    "report": ("m_report",),
}
#: verdict -> (text colour, background) for the Đạt / Chưa đạt marks
VERDICT_COLOURS = {"met": ("#1b5e20", "#e8f5e9"), "missed": ("#b71c1c", "#ffebee"), "due": ("#7a5900", "#fff8e1"),
                   "unknown": ("#555", "#f5f5f5")}


def judge(value: float | None, target: float, deadline: str, report_date: str) -> str:
    """A deadline's verdict at the report date.

    ``"met"`` (Đạt) when the measure has reached its target, ``"missed"``
    (Chưa đạt, deadline passed), ``"due"`` (Chưa đạt yet, deadline ahead) or
    ``"unknown"`` when the measure cannot be shown (no data, or a small cell).
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    if value >= target - 1e-12:
        return "met"
    return "missed" if pd.Timestamp(report_date) > pd.Timestamp(deadline) else "due"


def verdict_html(verdict: str, lang: str, days_left: int | None = None) -> str:
    """The coloured Đạt / Chưa đạt mark (symbol and word, so it reads without colour)."""
    fg, bg = VERDICT_COLOURS[verdict]
    text = {"met": "✔ " + t("met", lang), "missed": "✘ " + t("missed", lang),
            "due": "… " + t("missed", lang), "unknown": "? " + t("unknown_verdict", lang)}[verdict]
    if verdict == "due" and days_left is not None:
        text += f" ({t('days_to_go', lang).format(n=fmt_int(days_left, lang))})"
    return (f'<span class="vax-verdict vax-{verdict}" style="color:{fg};background:{bg};'
            f'padding:1px 6px;border-radius:3px;white-space:nowrap;font-weight:600">{html.escape(text)}</span>')


def deadline_verdicts(numbers: dict[str, Any], report_date: str) -> list[dict[str, Any]]:
    """One row per deadline measure: key, deadline, measure, value, target, verdict, days_left."""
    values = {"m_feedback": numbers.get("fb_resolved_share"), "m_signed": numbers.get("signed_share"),
              "m_clean": numbers.get("clean_share")}
    rd = pd.Timestamp(report_date)
    rows = []
    for key, day in DEADLINES.items():
        left = (pd.Timestamp(day) - rd).days
        for m in DEADLINE_MEASURES[key]:
            if m == "m_report":  # this report, made on the report date: met when made by the deadline
                verdict = "met" if left >= 0 else "missed"
                rows.append(dict(key=key, deadline=day, measure=m, value=None, target=None, verdict=verdict,
                                 days_left=left, shortfall=0.0 if left >= 0 else 1.0))
                continue
            v, target = values[m], DEADLINE_TARGETS[m]
            verdict = judge(v, target, day, report_date)
            short = 0.0 if verdict in ("met", "unknown") else float(target - v)
            rows.append(dict(key=key, deadline=day, measure=m, value=v, target=target, verdict=verdict,
                             days_left=left, shortfall=short))
    return rows


def _table_html(columns: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1,
                raw: Sequence[int] = (), caption: str = "") -> Any:
    """An HTML table in a horizontally scrollable box; cells escaped except the ``raw`` column indexes."""
    from IPython.display import HTML

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{c if i in raw else html.escape(str(c))}</td>" for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return HTML(f'<div class="vax-scroll"><table class="vax-table vax-left{min(text_columns, 9)}">{cap}'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


# --------------------------------------------------------------------------- aggregates

def _inputs(data_dir: Path) -> dict[str, Path]:
    rf = RunFolder(data_dir)
    return {
        "registry": rf.registry,
        "vaccinations": rf.vaccinations,
        "feedback": rf.feedback,
        "matches": rf.matches,
        "model": rf.model,
        "match_stats": rf.match_stats,
        "matches_current": rf.matches_current,
        "changes": rf.changes,
        "apply_summary": rf.apply_summary,
        "certificates": rf.certificates,
        "feedback_status": rf.feedback_status,
        "ledger": rf.ledger,
    }


def _stage_runs(rf: RunFolder) -> dict[str, dict[str, Any]]:
    """Manifests of the stage runs the report reads; ``match`` must be there, the others are optional.

    Raises
    ------
    vaxlib.errors.ManifestError
        A stage folder that exists but is not a complete run of its command.
    """
    stages = {"match": (rf.match, "match"), "match_corrected": (rf.match_corrected, "match"),
              "apply": (rf.apply, "apply"), "certificates": (rf.certificates_dir, "sign"),
              "feedback": (rf.feedback_dir, "feedback")}
    runs = {}
    for name, (folder, command) in stages.items():
        if name == "match" or folder.exists():
            runs[name] = check_run(folder, command=command)
    return runs


def _signature(paths: dict[str, Path], report_date: str, sla_hours: float) -> str:
    h = hashlib.sha256(f"{CACHE_VERSION}|{report_date}|{float(sla_hours)}".encode())
    for k, p in sorted(paths.items()):
        # a folder of parts (``vax synth --partitioned``, ``vax match --engine dask``) by each part: the
        # folder's own mtime does not move when a part is rewritten in place
        for f in table_parts(p) if p.suffix == ".parquet" else [p] if p.exists() else []:
            st = f.stat()
            h.update(f"|{k}:{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def record_states(matches: pd.DataFrame, matches_current: pd.DataFrame | None) -> pd.Series:
    """Cleaning state of every record (index record_id), see :data:`STATES`.

    Computed on Arrow arrays and integer codes (:func:`_state_codes`)."""
    from vaxlib.review.clusters import arrow_text

    code = _state_codes(matches["record_id"], matches["status"],
                        None if matches_current is None else matches_current["record_id"],
                        None if matches_current is None else matches_current["status"])
    names = pa.array(list(STATES), type=pa.large_string())
    ids = arrow_text(matches["record_id"])
    return _taken(names, pa.array(code), pd.Index(_taken(ids, None, None), name="record_id")).rename("state")


#: status -> small code for the state rule (3: any other status, 4: missing)
_STATUS_CODES = {"verified": 0, "fix": 1, "review": 2}


def _status_codes(values) -> np.ndarray:
    """Match statuses as int8 codes of :data:`_STATUS_CODES` (3: another status, 4: missing)."""
    from vaxlib.review.clusters import encode_text

    arr = _arrow(values)
    codes, names = encode_text(arr)
    remap = np.array([_STATUS_CODES.get(str(n), 3) for n in names] or [3], dtype=np.int8)
    out = remap[codes]
    out[~pc.is_valid(arr).to_numpy(zero_copy_only=False)] = 4
    return out


def _arrow(values) -> "pa.Array":
    """A pandas column, Arrow array or chunked array as one Arrow array (:func:`~vaxlib.review.clusters.as_array`)."""
    from vaxlib.review.clusters import as_array

    return as_array(values)


def _state_codes(ids, status, current_ids=None, current_status=None) -> np.ndarray:
    """Each record's state as an int8 index into :data:`STATES`.

    The match on the corrected table (``current_*``) decides when it has the record with a status;
    else the first match does.  No Python object per record (24M records at 10M persons).
    """
    from vaxlib.review.clusters import index_in

    first = _status_codes(status)
    cur = first
    if current_ids is not None:
        at = index_in(ids, current_ids)
        now = _status_codes(current_status)
        there = at >= 0
        cur = first.copy()
        took = now[at[there]]
        cur[there] = np.where(took != 4, took, first[there])
    # the first condition that holds names the state (np.select's rule), as codes into STATES
    return np.select([(cur == 0) & (first == 0), cur == 0, cur == 1, cur == 2], [0, 1, 2, 3],
                     default=4).astype(np.int8)


def _taken(values: "pa.Array", at: "pa.Array | None", index: pd.Index | None) -> pd.Series:
    """``values`` at positions ``at`` (all of them when None; null: ``""``) as pandas text, indexed by
    ``index`` (None: 0, 1, ...)."""
    out = pc.fill_null(values if at is None else values.take(at), "")
    text = out.to_pandas(types_mapper=pd.ArrowDtype).astype("str")
    if index is not None:
        text.index = index
    return text


def compute_aggregates(
    data_dir: str | os.PathLike[str],
    report_date: str = "2022-04-30",
    sla_hours: float = 48.0,
    feedback_items: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """Reduce a ``vax demo``-style folder to the report's aggregate tables (all provinces).

    Parameters
    ----------
    data_dir
        Folder with ``data/``, ``match/`` and, when present, ``apply/``,
        ``match-corrected/``, ``certificates/``, ``ledger.db``, ``feedback/``.
    report_date
        Feedback received after this day (Viet Nam time) is left out; the SLA
        is measured at its end.
    sla_hours
        Feedback handling limit (Công văn 9458/BYT-CNTT: 48 hours).
    feedback_items
        :attr:`vaxlib.feedback.FeedbackResult.items`; None computes them.

    Returns
    -------
    dict of DataFrame
        ``records`` (province, state, n), ``persons`` (province, persons, signed),
        ``errors`` (province, code, n), ``clusters`` (top clusters per province),
        ``facilities`` (province, facility_id, records, wrong_entry, wrong_now),
        ``facility_months`` (… per month), ``fixes`` (province, period, source, n),
        ``feedback`` (province, category_citizen, category_system, status,
        sla_state, reason, n), ``meta`` (one row: data date, thresholds, …).
    """
    from vaxlib.io import read_output_arrow
    from vaxlib.review.clusters import (
        CLUSTER_COLUMNS, arrow_text, coded_mismatches, count_clusters, describe_clusters, encode_text,
        exploded_codes, facility_names, index_in, is_in, map_text,
    )

    d = Path(data_dir)
    rf = RunFolder(d)
    paths = _inputs(d)
    runs = _stage_runs(rf)
    t0 = time.perf_counter()
    # Arrow tables and integer codes throughout: a 10M-person result has 24M records and 4M
    # mismatch records, and a Python string or tuple per record took more than 15 GB.  Columns with
    # few distinct values are read dictionary-encoded (codes, not strings).
    check_input(paths["vaccinations"])
    has_name = "facility_name" in parquet_columns(paths["vaccinations"])
    low = ["facility_id", "facility_province", "vaccination_date", *(["facility_name"] if has_name else [])]
    vacc = read_output_arrow(paths["vaccinations"], "table", columns=["record_id", *low], dictionary=low)
    matches = read_output_arrow(paths["matches"], "matches", columns=["record_id", "status", "person_id",
                                                                      "error_codes"],
                                dictionary=["status", "error_codes"])
    current = read_output_arrow(paths["matches_current"], "matches", columns=["record_id", "status", "person_id"],
                                dictionary=["status"]) if "match_corrected" in runs else None
    state = _state_codes(matches["record_id"], matches["status"],
                         *((current["record_id"], current["status"]) if current is not None else ()))
    state_names = np.array(sorted(STATES), dtype=object)  # sorted: the order pandas' groupby gave
    state = np.array([STATES.index(s) for s in state_names]).argsort().astype(np.int8)[state]
    # each record's row in the vaccinations table, found once (-1: not there); the IDs are not needed after
    at = index_in(matches["record_id"], vacc["record_id"])
    there = at >= 0
    vacc = vacc.drop_columns(["record_id"])
    match_ids = matches["record_id"] if "apply" in runs else None  # the changes name their records
    matches = matches.drop_columns(["record_id"])

    def per_record(col) -> tuple[np.ndarray, np.ndarray]:
        codes, values = encode_text(col, extra=("",))
        empty = int(np.searchsorted(values.astype(str), ""))  # "" sorts first
        return np.where(there, codes[np.where(there, at, 0)], empty).astype(np.int32), values

    prov = per_record(vacc["facility_province"])
    fac = per_record(vacc["facility_id"])
    period = per_record(map_text(vacc["vaccination_date"], lambda s: pc.utf8_slice_codeunits(s, 0, 7)))
    states = (state, state_names)
    wrong_entry = _status_codes(matches["status"]) != 0
    wrong_now = ~np.isin(state, np.flatnonzero(np.isin(state_names, ["verified", "fixed"])))

    out: dict[str, pd.DataFrame] = {}
    out["records"] = _counts({"province": prov, "state": states}, size="n")
    out["facility_months"] = _counts({"province": prov, "facility_id": fac, "period": period}, size="records",
                                     flags={"wrong_entry": wrong_entry, "wrong_now": wrong_now})
    out["facilities"] = _counts({"province": prov, "facility_id": fac}, size="records",
                                flags={"wrong_entry": wrong_entry, "wrong_now": wrong_now})
    # facility names (synthetic data and platform exports carry them; else the code stands in): each
    # facility's first row's name
    names = pd.Series(dtype=object)
    if has_name:
        raw = vacc["facility_id"].combine_chunks()
        codes, values = encode_text(raw)
        valid = np.flatnonzero(pc.is_valid(raw).to_numpy(zero_copy_only=False))
        seen, first = np.unique(codes[valid], return_index=True)
        name = vacc["facility_name"].combine_chunks().take(pa.array(valid[first]))
        names = pd.Series(arrow_text(name).to_numpy(zero_copy_only=False), index=values[seen].astype(str))
        names = names.where(pc.is_valid(name).to_numpy(zero_copy_only=False), "")
    out["facilities"]["facility_name"] = out["facilities"]["facility_id"].map(names).astype(object).fillna(
        "").astype(str)
    # what each facility still has to fix: its still-wrong records by state
    out["facility_todo"] = _counts({"province": prov, "facility_id": fac, "state": states}, size="n",
                                   mask=wrong_now)
    log.info("report: records aggregated (%.1f s)", time.perf_counter() - t0)

    # persons of each province of residence who have linked doses, and those signed
    check_input(paths["registry"])
    reg = read_output_arrow(paths["registry"], "table", columns=["person_id", "province_code"],
                            dictionary=["province_code"])
    src = current if current is not None else matches
    pid = _arrow(src["person_id"])
    ok = np.isin(_status_codes(src["status"]), [0, 1]) & pc.is_valid(pid).to_numpy(zero_copy_only=False)
    linked = pid.filter(pa.array(ok))
    del pid, ok
    reg_pid = _arrow(reg["person_id"])
    in_reg = is_in(reg_pid, linked) & pc.is_valid(reg_pid).to_numpy(zero_copy_only=False)
    del linked
    signed = np.zeros(len(reg_pid), dtype=bool)
    if "certificates" in runs:
        cert = _arrow(read_output_arrow(paths["certificates"], "certificates", columns=["person_id"])["person_id"])
        signed = is_in(reg_pid, cert.filter(pc.is_valid(cert)))
    del reg_pid
    out["persons"] = _counts({"province": encode_text(reg["province_code"])}, size="persons",
                             flags={"signed": signed}, mask=in_reg)

    # error types as entered (first match) and the largest clusters, on the mismatch records' codes
    cm = coded_mismatches(vacc, matches, vaccination_rows=at)
    record, code, code_values = exploded_codes(cm)
    codes = (code, code_values)
    m_prov = (cm.dims["facility_province"][0][record], cm.dims["facility_province"][1])
    m_fac = (cm.dims["facility_id"][0][record], cm.dims["facility_id"][1])
    out["errors"] = _counts({"province": m_prov, "code": codes}, size="n")
    # the error codes of each facility's still-wrong records (its to-do list names the main ones)
    out["facility_codes"] = _counts({"province": m_prov, "facility_id": m_fac, "code": codes}, size="n",
                                    mask=wrong_now[cm.rows[record]])
    del record, code, m_prov, m_fac, codes
    # names as find_clusters gives them: from the mismatch records' vaccination rows
    rows = np.unique(cm.vaccination_rows[cm.vaccination_rows >= 0])
    take = pa.array(rows)
    mm_v = pd.DataFrame({c: pd.Series(_decoded(vacc[c].take(take)).to_pandas())
                         for c in ("facility_id", *(["facility_name"] if has_name else []))})
    mm_names = facility_names(mm_v)
    # clusters at three grains: facility and month, facility, province; the report
    # shows the finest grain that has clusters of at least SMALL_CELL records
    parts = []
    for level, dims in enumerate((("facility", "province", "period"), ("facility", "province"), ("province",))):
        g = count_clusters(cm, kinds=("code",), dims=dims, min_size=SMALL_CELL)
        if g is None:
            cl = pd.DataFrame({c: pd.Series(dtype=object) for c in CLUSTER_COLUMNS})
        else:
            g = g.groupby("facility_province", sort=False).head(10)  # rank order: the ten largest
            cl = describe_clusters(g, mm_names)[list(CLUSTER_COLUMNS)]
        parts.append(cl.assign(level=level))
    cl = pd.concat(parts, ignore_index=True)
    out["clusters"] = cl.rename(columns={"facility_province": "province"})[[
        "province", "level", "rank", "pattern", "facility_id", "period", "n_records", "n_fix", "n_review",
        "n_unmatched", "description_vi", "description_en"]].reset_index(drop=True)
    del cm
    log.info("report: errors and clusters (%.1f s)", time.perf_counter() - t0)

    # fixes: records changed by vax apply, by month of vaccination and source
    if "apply" in runs:
        ch = read_output_arrow(paths["changes"], "changes", columns=["record_id", "source"], dictionary=["source"])
        ids = arrow_text(ch["record_id"])
        first = pc.index_in(ids, value_set=ids).to_numpy(zero_copy_only=False)
        keep = first == np.arange(len(ids))  # each record once: its first change
        src = encode_text(ch["source"])
        auto = (src[1] == "automatic")[src[0]]
        row = index_in(ids, match_ids)
        known = row >= 0

        def of_record(col):
            codes, values = col
            empty = int(np.searchsorted(values.astype(str), ""))
            return np.where(known, codes[np.where(known, row, 0)], empty), values

        source = (np.where(auto, 0, 1), np.array(["automatic", "decision"], dtype=object))
        out["fixes"] = _counts({"province": of_record(prov), "period": of_record(period), "source": source},
                               size="n", mask=keep)
    else:
        out["fixes"] = pd.DataFrame({"province": [], "period": [], "source": [], "n": []})

    # feedback at the report date
    # the reports as one file or as `vax synth --partitioned`'s data/feedback/part-*.parquet (seen only by
    # the first, a 10M report said "0 phản ánh"), or a `vax feedback` run already there
    if feedback_items is None and (rf.table_files("feedback") or rf.feedback_dir.exists()):
        feedback_items = _feedback_items(rf, report_date, sla_hours)
    if feedback_items is not None and len(feedback_items):
        out["feedback"] = feedback_items.assign(reason=_text(feedback_items["reason"])).groupby(
            ["province", "category_citizen", "category_system", "status", "sla_state", "reason"]
        ).size().rename("n").reset_index()
    else:
        out["feedback"] = pd.DataFrame({c: [] for c in ("province", "category_citizen", "category_system",
                                                         "status", "sla_state", "reason", "n")})

    # the thresholds the match run really used (its manifest), not today's parameter file
    params = runs["match"].get("settings", {})
    match_stats = read_json(paths["match_stats"]) if MATCH_STATS in runs["match"]["files"] else {}
    match_q = match_stats.get("quarantined", {}).get("vaccinations", 0)
    apply_summary = read_json(paths["apply_summary"]) if "apply" in runs and \
        APPLY_SUMMARY in runs["apply"]["files"] else {}
    dcodes, dvalues = encode_text(vacc["vaccination_date"])
    data_date = dvalues[dcodes.max()] if len(dcodes) else _text(pd.Series([], dtype="str")).max()
    out["meta"] = pd.DataFrame([{
        "data_date": data_date, "report_date": report_date, "sla_hours": float(sla_hours),
        "auto_threshold": float(params.get("auto_threshold", 0.99)),
        "review_threshold": float(params.get("review_threshold", 0.50)),
        "has_apply": "apply" in runs, "has_certificates": "certificates" in runs,
        "records": int(len(matches)),
        # rows the importer could not use (counts only): every row in is reported somewhere
        "rows_quarantined_match": int(match_q),
        "rows_quarantined_apply": int(apply_summary.get("rows_quarantined", 0)),
    }])
    log.info("report: aggregates done (%.1f s)", time.perf_counter() - t0)
    return out


def _decoded(values) -> "pa.Array":
    """One Arrow array, dictionary-decoded."""
    arr = _arrow(values)
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _counts(keys: dict[str, tuple[np.ndarray, np.ndarray]], *, size: str,
            flags: dict[str, np.ndarray] | None = None, mask: np.ndarray | None = None) -> pd.DataFrame:
    """Rows per distinct combination of coded text keys, as ``groupby(keys)`` on the decoded text gives them.

    Parameters
    ----------
    keys
        Column name -> (codes, sorted distinct values), one code per row; sorted values make the
        groups come in the text's order, as pandas sorts them.
    size
        Name of the column counting each group's rows.
    flags
        Column name -> boolean per row: each counts its group's True rows (``sum`` of a bool column).
    mask
        Only these rows.
    """
    from vaxlib.review.clusters import group_codes

    flags = flags or {}
    if mask is not None:
        keys = {k: (c[mask], v) for k, (c, v) in keys.items()}
        flags = {k: f[mask] for k, f in flags.items()}
    group, codes = group_codes([(c, len(v)) for c, v in keys.values()])
    n = len(codes[0])
    df = pd.DataFrame({name: pd.Series(np.asarray(values, dtype=object)[gc], dtype="str")
                       for (name, (_, values)), gc in zip(keys.items(), codes)})
    df[size] = np.bincount(group, minlength=n).astype(np.int64)
    for name, f in flags.items():
        df[name] = np.bincount(group[f], minlength=n).astype(np.int64)
    return df


def _feedback_items(rf: RunFolder, report_date: str, sla_hours: float) -> pd.DataFrame:
    """The items of the ``vax feedback`` run in ``DIR/feedback`` (never re-linked here).

    Raises
    ------
    vaxlib.errors.RunError
        No feedback run, or one computed for another date or SLA than the report's.
    """
    from vaxlib.feedback import read_feedback_run

    if not rf.feedback_dir.exists():
        raise RunError(f"{rf.feedback_dir}: no vax feedback run for {rf.feedback.name}; run "
                       f"`vax feedback --data {rf.root} --as-of {report_date}` first")
    items, used = read_feedback_run(rf.feedback_dir)
    as_of = str(used.get("as_of") or "")[:10]
    if as_of != str(report_date)[:10] or float(used.get("sla_hours", sla_hours)) != float(sla_hours):
        raise RunError(f"{rf.feedback_dir}: feedback was tracked as of {as_of or 'the time it ran'} with a "
                       f"{used.get('sla_hours')} h SLA, the report is for {report_date} with {sla_hours:g} h; run "
                       f"`vax feedback --data {rf.root} --as-of {report_date} --sla-hours {sla_hours:g}` first")
    return items


_MEMO: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}


def load_aggregates(
    data_dir: str | os.PathLike[str],
    report_date: str = "2022-04-30",
    sla_hours: float = 48.0,
    *,
    refresh: bool = False,
) -> dict[str, pd.DataFrame]:
    """:func:`compute_aggregates`, cached in ``DIR/report-cache/`` (keyed by the inputs and parameters)."""
    d = Path(data_dir)
    sig = _signature(_inputs(d), str(report_date), sla_hours)
    cache = d / CACHE_DIR_NAME / sig
    key = (str(d.resolve()), sig)
    if key in _MEMO and not refresh:
        return _MEMO[key]
    if cache.is_dir() and (cache / "done").exists() and not refresh:
        aggs = {p.stem: read_output(p, "table") for p in sorted(cache.glob("*.parquet"))}
        _MEMO.clear()
        _MEMO[key] = aggs
        return aggs
    aggs = compute_aggregates(d, report_date, sla_hours)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=d / CACHE_DIR_NAME if (d / CACHE_DIR_NAME).exists()
                                else _mkdir(d / CACHE_DIR_NAME)))
    for name, df in aggs.items():
        write_output(df, tmp / f"{name}.parquet", "table")
    (tmp / "done").write_text(sig, encoding="utf-8")
    try:
        os.replace(tmp, cache)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return aggs


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


# --------------------------------------------------------------------------- figures and tables

def setup_notebook() -> Any:
    """Render plotly figures as inline HTML that nbconvert keeps and that opens offline.

    Registers and selects the ``vaxlib_offline`` renderer (each figure is a
    ``<div>`` and a script, no CDN, no require.js, no MathJax) and returns an
    HTML object carrying plotly.js itself: display it once, before the first
    figure (the report notebooks do), so the exported HTML embeds plotly.js
    exactly once.
    """
    import plotly.io as pio
    from IPython.display import HTML
    from plotly.io._base_renderers import HtmlRenderer
    from plotly.offline import get_plotlyjs

    class _OfflineRenderer(HtmlRenderer):
        def to_mimebundle(self, fig_dict: dict) -> dict:
            from plotly.io import to_html

            return {"text/html": to_html(fig_dict, config={"displaylogo": False, "responsive": True},
                                         include_plotlyjs=False, include_mathjax=False, full_html=False,
                                         default_width="100%", default_height=420, validate=False)}

    pio.renderers["vaxlib_offline"] = _OfflineRenderer(global_init=False, include_plotlyjs=False)
    pio.renderers.default = "vaxlib_offline"
    config = '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>\n'
    if os.environ.get(_PLOTLYJS_ENV) == "placeholder":
        # rendered by render_one: plotly.js is put in at HTML export, so that the
        # executed notebook does not carry (and papermill/nbconvert do not copy) 4.6 MB
        return HTML(config + _PLOTLYJS_MARK)
    return HTML(config + f'<script type="text/javascript">{get_plotlyjs()}</script>')


_PLOTLYJS_ENV = "VAXLIB_PLOTLYJS"
_PLOTLYJS_MARK = "<!--vaxlib:plotly.js-->"


def _html_table(df: pd.DataFrame, text_columns: int = 1) -> Any:
    """An HTML table; the first ``text_columns`` columns left-aligned, the rest (numbers) right-aligned."""
    from IPython.display import HTML

    css = f"vax-table vax-left{min(text_columns, 9)}"
    # a wide table scrolls inside its own box: the page itself never runs off a phone's screen
    return HTML('<div class="vax-scroll">' + df.to_html(index=False, escape=True, classes=css, border=0, na_rep="—")
                + "</div>")


def _md(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(text)


def _layout(lang: str, fig: Any, title: str, height: int = 380) -> Any:
    """Common look; Vietnamese number format on the axes (1.234,5) or English (1,234.5)."""
    fig.update_xaxes(separatethousands=True)
    fig.update_yaxes(separatethousands=True)
    fig.update_layout(separators=_i18n.plotly_separators(lang))
    # automargin: category labels ("Đà Nẵng") are never cut; a vertical toolbar at the right
    # keeps clear of the title, which sits in its own top margin
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    title = wrap_label(title, 40)  # a phone shows about 45 characters of a 15 px title
    lines = title.count("<br>")
    # anchored at its bottom just above the plot: a multi-line title grows up into the top margin
    # (top-anchored multi-line titles are drawn partly above the figure)
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", xref="container", y=1, yanchor="bottom",
                                 yref="paper", pad=dict(b=20, l=10), font=dict(size=15)),
                      height=height + 20 * lines, margin=dict(l=10, r=40, t=60 + 20 * lines, b=40),
                      modebar=dict(orientation="v"),
                      template="plotly_white", font=dict(family="Noto Sans, Arial, sans-serif", size=13),
                      legend=dict(orientation="h", y=-0.15))
    return fig


#: a horizontal bar chart's geometry (px): one line of label, the gap around a row, one bar
_LABEL_LINE_PX, _ROW_PAD_PX, _BAR_PX = 17, 12, 22
#: characters of a label per line: a 390 px phone gives the plot ~330 px at 13 px Noto Sans
_LABEL_CHARS = 46


def _hbar_rows(fig: Any, labels: Sequence[str], bars: Sequence[dict[str, Any]], *, xmax: float,
               bar_px: int = _BAR_PX) -> int:
    """Horizontal bars, each category's label written above its bars across the whole plot width.

    On a phone, labels left of the axis took half of its ~330 px, wrapped into
    each other and squeezed the bars (the 390 px screenshots).  Here the y axis
    is numeric: row ``i`` (bottom to top) holds its bars in the lower part and
    its label (a tick label drawn *inside, on top* of its tick) in the upper
    part, so the two never overlap at any width.  ``bars`` are the traces'
    keyword arguments (``x``, ``name``, ``marker_color``, ``text`` …), drawn
    side by side in each row.  Returns the plot area's height in pixels.
    """
    import plotly.graph_objects as go

    n, k = len(labels), max(len(bars), 1)
    wrapped = [wrap_label(x, _LABEL_CHARS) for x in labels]
    lines = max((w.count("<br>") + 1 for w in wrapped), default=1)
    row_px = _LABEL_LINE_PX * lines + bar_px * k + _ROW_PAD_PX
    u = 1.0 / row_px  # one pixel in y units
    bottom = [i - 0.5 + 3 * u for i in range(n)]
    for j, kw in enumerate(bars):
        centre = [b + (j + 0.5) * bar_px * u for b in bottom]
        fig.add_trace(go.Bar(y=centre, width=bar_px * u * 0.9, orientation="h", textangle=0,
                             cliponaxis=False, constraintext="none", **kw))
    # an inside-top tick label puts its first line above the tick and the others below it:
    # raise the tick by the extra lines so that the last line sits just above the bars
    ticks = [b + k * bar_px * u + (2 + _LABEL_LINE_PX * w.count("<br>")) * u for b, w in zip(bottom, wrapped)]
    fig.update_yaxes(tickmode="array", tickvals=ticks, ticktext=wrapped, ticklabelposition="inside top",
                     ticks="", showgrid=False, zeroline=False, range=[-0.5, n - 0.5], fixedrange=True,
                     automargin=False)
    # every bar writes its value; plotly would hide most x tick labels behind the inside labels anyway
    fig.update_xaxes(range=[0, xmax], fixedrange=True, showticklabels=False)
    fig.update_layout(barmode="overlay", bargap=0)
    return n * row_px


@dataclass
class ProvinceReport:
    """Everything the province report shows, for one province (counts only)."""

    province: str
    lang: str
    report_date: str
    tables: dict[str, pd.DataFrame]
    meta: dict[str, Any]
    numbers: dict[str, Any] = field(default_factory=dict)

    # ---- headline
    @property
    def name(self) -> str:
        p = BY_GSO[self.province]
        return p.name if self.lang == "vi" else p.name_en

    def title(self) -> Any:
        """The heading and the one-paragraph summary."""
        L, n = self.lang, self.numbers
        head = f"# {t('title', L)} — {self.name}\n\n"
        sub = (f"**{t('report_date', L)}:** {fmt_date(self.report_date, L)} · "
               f"**{t('as_of', L)}:** {fmt_date(self.meta['data_date'], L)}\n\n")
        body = t("summary", L).format(
            records=fmt_count(n['records'], L), clean=fmt_pct(n['clean_share'], L), review=fmt_count(n['review'], L),
            unmatched=fmt_count(n['unmatched'], L), signed=fmt_count(n['signed'], L),
            signed_share=fmt_pct(n['signed_share'], L), received=fmt_count(n['fb_received'], L),
            resolved=fmt_count(n['fb_resolved'], L), overdue=fmt_count(n['fb_overdue'], L))
        return _md(head + sub + body)

    def heading(self, key: str) -> Any:
        """A section heading."""
        return _md(f"## {t('head_' + key, self.lang)}")

    # ---- progress
    def progress_table(self) -> Any:
        """Records by cleaning state, and persons signed."""
        L, n = self.lang, self.numbers
        rows = [(t(s, L), fmt_count(n["states"][s], L), fmt_pct(share(n["states"][s], n["records"]), L))
                for s in STATES]
        rows.append((t("signed", L) + f" ({t('persons', L).lower()})", fmt_count(n["signed"], L),
                     fmt_pct(n["signed_share"], L)))
        return _html_table(pd.DataFrame(rows, columns=["", t("records", L), t("share", L)]))

    def progress_figure(self) -> Any:
        """One stacked bar: the share of records in each state."""
        import plotly.graph_objects as go

        L, n = self.lang, self.numbers
        fig = go.Figure()
        for s in STATES:
            v = n["states"][s]
            sh = share(v, n["records"])
            fig.add_bar(y=[t("records", L)], x=[0 if np.isnan(sh) else 100 * sh], orientation="h",
                        name=t(s, L), marker_color=_STATE_COLOURS[s],
                        text=[fmt_pct(sh, L)], textposition="inside", textangle=0,
                        hovertemplate=f"{t(s, L)}: {fmt_count(v, L)} ({fmt_pct(sh, L)})<extra></extra>")
        # a share too thin for its label shows none (legend and table have it), never a sideways one
        fig.update_layout(barmode="stack", xaxis=dict(range=[0, 100], ticksuffix="%"), legend_traceorder="normal",
                          uniformtext=dict(minsize=11, mode="hide"))
        return _layout(L, fig, t("fig_state", L), 230)

    def deadline_table(self) -> Any:
        """The Ministry's deadlines, each measure against its target, judged Đạt / Chưa đạt at the report date."""
        L = self.lang
        rows = []
        for r in deadline_verdicts(self.numbers, self.report_date):
            left = r["days_left"]
            when = (t("days_to_go", L).format(n=fmt_int(left, L)) if left >= 0
                    else t("days_past", L).format(n=fmt_int(-left, L)))
            if r["measure"] == "m_report":
                now = t("made_on", L).format(date=fmt_date(self.report_date, L))
                target = t("by_deadline", L)
            else:
                now, target = fmt_pct(r["value"], L), "≥ " + fmt_pct(r["target"], L, 0)
            head = (f"<b>{html.escape(t('dl_' + r['key'], L))}</b><br>"
                    f"<span style='white-space:nowrap'>{html.escape(fmt_date(r['deadline'], L))}</span> "
                    f"<small style='white-space:nowrap'>({html.escape(when)})</small>")
            rows.append((head, html.escape(t(r["measure"], L)),
                         verdict_html(r["verdict"], L, left if left >= 0 else None)
                         + f"<br><span style='white-space:nowrap'>{html.escape(now)}</span> "
                         f"<small style='white-space:nowrap;color:#555'>({html.escape(t('target', L).lower())} "
                         f"{html.escape(target)})</small>"))
        return _table_html([t("deadline", L), t("measure", L), t("verdict", L)], rows,
                           text_columns=3, raw=(0, 1, 2))

    def deadline_figure(self) -> Any:
        """Each deadline's measure against its target (the tick), coloured by its verdict."""
        import plotly.graph_objects as go

        L = self.lang
        rows = [r for r in deadline_verdicts(self.numbers, self.report_date) if r["measure"] != "m_report"][::-1]
        labels = [f"{t(r['measure'], L)} ({t('due_on', L)} {fmt_date(r['deadline'], L)})" for r in rows]
        vals = [0 if r["value"] is None or np.isnan(r["value"]) else 100 * r["value"] for r in rows]
        colours = [VERDICT_COLOURS[r["verdict"]][0] for r in rows]
        word = {"met": "met", "missed": "missed", "due": "missed", "unknown": "unknown_verdict"}
        text = [f"{fmt_pct(r['value'], L)} · {t(word[r['verdict']], L)}" for r in rows]
        fig = go.Figure()
        plot_px = _hbar_rows(fig, labels, [dict(x=vals, marker_color=colours, text=text, textposition="auto",
                                                insidetextanchor="start",
                                                hoverinfo="skip", showlegend=False)], xmax=105)
        centres = list(fig.data[0].y)
        fig.add_scatter(y=centres, x=[100 * r["target"] for r in rows], mode="markers", name=t("target", L),
                        marker=dict(symbol="line-ns-open", size=_BAR_PX + 6, color="#111", line=dict(width=3)),
                        customdata=labels, cliponaxis=False,
                        hovertemplate="%{customdata}: " + t("target", L) + " %{x:.0f}%<extra></extra>")
        fig.update_layout(showlegend=False)
        return _layout(L, fig, t("fig_deadlines", L), plot_px + 70)

    # ---- errors
    def error_figure(self) -> Any:
        """Records with each error code (as entered), largest first."""
        import plotly.graph_objects as go
        from vaxlib.review.labels import error_label

        L = self.lang
        e = self.tables["errors"].sort_values("n", ascending=True)
        e = e[e["n"] >= SMALL_CELL]
        fig = go.Figure()
        plot_px = _hbar_rows(fig, [error_label(c, L) for c in e["code"]],
                             [dict(x=list(e["n"]), marker_color="#6a1b9a", text=[fmt_count(x, L) for x in e["n"]],
                                   textposition="outside", customdata=[error_label(c, L) for c in e["code"]],
                                   hovertemplate="%{customdata}: %{text}<extra></extra>")],
                             xmax=1.18 * max(e["n"].max() if len(e) else 1, 1))
        return _layout(L, fig, t("fig_errors", L), plot_px + 70)

    def cluster_table(self) -> Any:
        """The largest clusters (vaxlib.review.clusters), counts of 5 or more only."""
        L = self.lang
        c = self.tables["clusters"]
        # a facility's habit over all months first; by month, or the province as a whole, when
        # facilities have too few records for clusters of 5
        for level in (1, 0, 2):
            if (c["level"] == level).sum() >= 3:
                c = c[c["level"] == level]
                break
        else:
            c = c[c["level"] == c["level"].min()] if len(c) else c
        c = c.sort_values("n_records", ascending=False, kind="stable")
        c = c.drop_duplicates(["pattern", "facility_id"]).head(10)
        if c.empty:
            return _md("*" + t("none", L) + "*")
        desc = c["description_vi" if L == "vi" else "description_en"]
        # the description repeats the count; write it the report's way
        df = pd.DataFrame({"#": range(1, len(c) + 1), t("cluster", L): desc.to_numpy(),
                           t("records", L): [fmt_count(x, L) for x in c["n_records"]]})
        return _html_table(df, text_columns=2)

    # ---- facilities
    def facility_table(self, top: int = 15) -> Any:
        """Facilities with the largest share of records still wrong, with the coloured trend of entry errors."""
        L = self.lang
        f = self.facility_league()
        if f.empty:
            return _md("*" + t("none", L) + "*")
        f = f.head(top)
        colours = {"improving": "#1b5e20", "worsening": "#b71c1c", "stable": "#555", "no_trend": "#999"}
        rows = [(_facility_label(r), fmt_count(r["records"], L), fmt_count(r["wrong_now"], L),
                 fmt_pct(r["wrong_now_share"], L), fmt_pct(r["wrong_entry_share"], L),
                 f'<span style="color:{colours[r["trend"]]};font-weight:600;white-space:nowrap">'
                 f'{html.escape(t(r["trend"], L))}</span>') for _, r in f.iterrows()]
        table = _table_html([t("facility", L), t("records", L), t("still_wrong", L), t("still_wrong_pct", L),
                             t("entry_wrong_pct", L), t("trend", L)], rows, raw=(5,))
        from IPython.display import HTML

        return HTML(table.data + f'<p class="vax-note">{html.escape(t("trend_note", L))}</p>')

    def facility_todo(self, top: int = 15) -> Any:
        """What each facility must still fix by the next deadline (worst first), in words."""
        from IPython.display import HTML

        from vaxlib.review.labels import error_phrase

        L = self.lang
        todo = self.tables.get("facility_todo")
        if todo is None or todo.empty:
            return _md("*" + t("todo_none", L) + "*")
        rd = pd.Timestamp(self.report_date)
        ahead = [d for d in DEADLINES.values() if pd.Timestamp(d) >= rd]
        due = ahead[0] if ahead else DEADLINES["cleaning"]
        intro = (t("todo_intro", L) if ahead else t("todo_intro_late", L)).format(date=fmt_date(due, L))
        by = todo.pivot_table(index="facility_id", columns="state", values="n", aggfunc="sum", fill_value=0)
        by["total"] = by.sum(axis=1)
        by = by.sort_values("total", ascending=False).head(top)
        fac = self.tables["facilities"].set_index("facility_id")
        codes = self.tables.get("facility_codes", pd.DataFrame(columns=["facility_id", "code", "n"]))
        items = []
        for fid, r in by.iterrows():
            label = _facility_label(fac.loc[fid] if fid in fac.index else {"facility_id": fid})
            present = [st for st in ("pending_fix", "review", "unmatched") if r.get(st, 0)]
            # with one part suppressed ("<5") the others would give it away by subtraction from
            # the total: then no part carries a count
            hide = any(0 < r.get(st, 0) < SMALL_CELL for st in present) and len(present) > 1
            parts = [t(f"todo_{st}", L).format(n="" if hide else fmt_count(r.get(st, 0), L)).strip()
                     for st in present]
            top_codes = codes[codes["facility_id"] == fid].sort_values("n", ascending=False).head(2)
            main = ", ".join(error_phrase(c, L) for c in top_codes["code"])
            tail = f" {t('todo_main', L)} {main}." if main else ""
            items.append(f"<li><b>{html.escape(label)}</b>: {html.escape(fmt_count(r['total'], L))} "
                         f"{html.escape(t('todo_records', L))} — {html.escape('; '.join(parts))}.{html.escape(tail)}</li>")
        return HTML(f"<p>{html.escape(intro)}</p><ol class='vax-todo'>{''.join(items)}</ol>")

    def facility_league(self) -> pd.DataFrame:
        """League table data: facilities with at least 5 records, worst first."""
        f = self.tables["facilities"]
        f = f[f["records"] >= SMALL_CELL].copy()
        f["wrong_now_share"] = [share(a, b) for a, b in zip(f["wrong_now"], f["records"])]
        f["wrong_entry_share"] = [share(a, b) for a, b in zip(f["wrong_entry"], f["records"])]
        # order by the true share (shown suppressed where it would reveal a small count)
        f["_order"] = f["wrong_now"] / f["records"]
        fm = self.tables["facility_months"]
        periods = sorted(p for p in fm["period"].unique() if p)
        recent, before = set(periods[-3:]), set(periods[-6:-3])
        g_r = fm[fm["period"].isin(recent)].groupby("facility_id")[["records", "wrong_entry"]].sum()
        g_b = fm[fm["period"].isin(before)].groupby("facility_id")[["records", "wrong_entry"]].sum()
        both = g_r.join(g_b, lsuffix="_r", rsuffix="_b", how="inner")
        both = both[(both["records_r"] >= SMALL_CELL) & (both["records_b"] >= SMALL_CELL)]
        delta = both["wrong_entry_r"] / both["records_r"] - both["wrong_entry_b"] / both["records_b"]
        # a trend is shown only where it gives no small count away
        both = both[[not (0 < x < SMALL_CELL) for x in both["wrong_entry_r"]]]
        delta = delta.reindex(both.index)
        trend = np.select([delta <= -0.02, delta >= 0.02], ["improving", "worsening"], default="stable")
        f["trend"] = f["facility_id"].map(pd.Series(trend, index=both.index)).fillna("no_trend")
        return f.sort_values(["_order", "records", "facility_id"], ascending=[False, False, True]).drop(
            columns="_order")

    def facility_figure(self, top: int = 15) -> Any:
        """Share of records still wrong at the worst facilities (their share wrong when entered beside it)."""
        import plotly.graph_objects as go

        L = self.lang
        f = self.facility_league().head(top).iloc[::-1]
        labels = [_facility_label(r) for _, r in f.iterrows()]
        entry, now = 100 * f["wrong_entry_share"].astype(float), 100 * f["wrong_now_share"].astype(float)
        fig = go.Figure()
        bars = [dict(x=list(now), name=t("still_wrong_pct", L), marker_color="#c62828",
                     text=[fmt_pct(v, L) for v in f["wrong_now_share"]], textposition="outside",
                     customdata=labels, hovertemplate="%{customdata}: %{text}<extra></extra>"),
                dict(x=list(entry), name=t("entry_wrong_pct", L), marker_color="#bdbdbd",
                     text=[fmt_pct(v, L) for v in f["wrong_entry_share"]], textposition="outside",
                     customdata=labels, hovertemplate="%{customdata}: %{text}<extra></extra>")]
        top_x = float(np.nanmax([entry.max(), now.max(), 1])) if len(f) else 1.0
        plot_px = _hbar_rows(fig, labels, bars, xmax=1.25 * top_x, bar_px=15)
        fig.update_layout(legend_traceorder="normal")
        return _layout(L, fig, t("fig_facilities", L), plot_px + 90)

    # ---- fixes
    def fixes_figure(self) -> Any:
        """Records fixed by ``vax apply``, by month of vaccination and source."""
        import plotly.graph_objects as go

        L = self.lang
        fx = self.tables["fixes"]
        fig = go.Figure()
        for src, colour in (("automatic", "#66bb6a"), ("decision", "#1565c0")):
            s = fx[fx["source"] == src].groupby("period")["n"].sum().sort_index()
            s = s[s.index != ""]
            if s.empty:
                continue
            y = s.where(s >= SMALL_CELL, 0)
            fig.add_bar(x=[fmt_month(p, L) for p in s.index], y=y, name=t(src, L), marker_color=colour,
                        text=[fmt_count(v, L) for v in s], textposition="outside",
                        hovertemplate="%{x}: %{text}<extra></extra>")
        fig.update_layout(barmode="stack", xaxis=dict(title=t("month", L)), yaxis=dict(title=t("records", L)))
        return _layout(L, fig, t("fig_fixes", L), 360)

    # ---- feedback
    def feedback_table(self) -> Any:
        """Feedback received, resolved (on time) and overdue by the citizen's category."""
        L = self.lang
        g = self.feedback_summary()
        df = pd.DataFrame({
            t("category", L): [t(c, L) if c != "total" else t("sum", L) for c in g.index],
            t("received", L): [fmt_count(x, L) for x in g["received"]],
            t("resolved", L): [fmt_count(x, L) for x in g["resolved"]],
            t("resolved_on_time", L): [fmt_count(x, L) for x in g["on_time"]],
            t("open", L): [fmt_count(x, L) for x in g["open"]],
            t("overdue", L): [fmt_count(x, L) for x in g["overdue"]],
        })
        return _html_table(df)

    def feedback_summary(self) -> pd.DataFrame:
        """received/resolved/on_time/open/overdue by the citizen's category (plus ``total``)."""
        fb = self.tables["feedback"]
        cats = ["missing_dose", "wrong_personal_info", "wrong_vaccine", "duplicate_record", "other"]
        rows = {}
        for c in cats + ["total"]:
            x = fb if c == "total" else fb[fb["category_citizen"] == c]
            rows[c] = {
                "received": int(x["n"].sum()),
                "resolved": int(x.loc[x["status"] == "resolved", "n"].sum()),
                "on_time": int(x.loc[x["sla_state"] == "on_time", "n"].sum()),
                "open": int(x.loc[x["sla_state"] == "open", "n"].sum()),
                "overdue": int(x.loc[x["sla_state"] == "overdue", "n"].sum()),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def feedback_figure(self) -> Any:
        """Bars per category with 5 or more items: received, resolved and overdue, each bar with its count.

        A count under 5 (or 0) has no bar and is said once in words: in its category's label
        ("Thiếu mũi tiêm (đã xử lý <5)"), or, for a category with fewer than 5 items, in one line under
        the chart.  Drawn as "<5" beside empty bars, three of them stacked into an unreadable column on
        a phone (the demo's reports).
        """
        import plotly.graph_objects as go

        L = self.lang
        g = self.feedback_summary().drop(index="total")
        few, g = [t(c, L) for c in g.index[g["received"] < SMALL_CELL]], g[g["received"] >= SMALL_CELL].iloc[::-1]
        if g.empty:  # every bar would be "<5" or 0: the table says it better
            return _md("*" + t("fig_feedback_few", L) + "*")
        labels = []
        for cat, r in g.iterrows():
            small = ", ".join(f"{t(col, L).lower()} {fmt_count(r[col], L)}" for col in ("resolved", "overdue")
                              if r[col] < SMALL_CELL)
            labels.append(f"{t(cat, L)} ({small})" if small else t(cat, L))
        bars = []
        for col, colour in (("overdue", "#c62828"), ("resolved", "#2e7d32"), ("received", "#90a4ae")):
            vals = g[col]
            drawn = vals >= SMALL_CELL
            bars.append(dict(x=list(vals.where(drawn, 0)), name=t(col, L), marker_color=colour,
                             text=[fmt_count(v, L) if d else "" for v, d in zip(vals, drawn)],
                             textposition="outside", customdata=[fmt_count(v, L) for v in vals],
                             hovertemplate=f"{t(col, L)}: %{{customdata}}<extra></extra>"))
        fig = go.Figure()
        plot_px = _hbar_rows(fig, labels, bars, xmax=1.25 * int(g["received"].max()), bar_px=12)
        fig.update_layout(legend_traceorder="reversed")
        fig = _layout(L, fig, t("fig_feedback", L), plot_px + 90)
        if few:
            note = wrap_label(t("fb_few_note", L).format(small=SMALL_CELL, categories=", ".join(few)), 56)
            fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0, y=0, xanchor="left",
                               yanchor="top", yshift=-44, align="left", font=dict(size=12, color="#555"))
            extra = 16 * (note.count("<br>") + 1)
            fig.update_layout(height=fig.layout.height + extra, margin_b=fig.layout.margin.b + extra + 10,
                              legend=dict(y=-0.02, yanchor="top"))
        return fig

    def feedback_system_table(self) -> Any:
        """How the citizens' categories compare with what the system found (counts)."""
        L = self.lang
        fb = self.tables["feedback"]
        if fb.empty:
            return _md("*" + t("none", L) + "*")
        x = fb.pivot_table(index="category_citizen", columns="category_system", values="n", aggfunc="sum",
                           fill_value=0)
        x = x.map(lambda v: fmt_count(v, L))
        x.index = [t(c, L) for c in x.index]
        x.columns = [t(c, L) for c in x.columns]
        x = x.reset_index().rename(columns={"index": t("citizen_vs_system", L)})
        return _html_table(x)

    # ---- method
    def method_note(self) -> Any:
        """Thresholds, data date, SLA and the small-cell rule."""
        L, m = self.lang, self.meta
        text = t("method_note", L).format(
            auto=fmt_pct(m['auto_threshold'], L, 1), review=fmt_pct(m['review_threshold'], L, 1),
            sla=fmt_int(m['sla_hours'], L), report_date=fmt_date(self.report_date, L),
            data_date=fmt_date(m['data_date'], L), small=SMALL_CELL, small_1=SMALL_CELL - 1)
        return _md(text)


def _facility_label(row: Any, short: bool = False) -> str:
    """``"Trạm Y tế phường 3 (CS-79-0001)"``; the code alone when the data has no name."""
    fid = str(row["facility_id"]) if "facility_id" in row else str(getattr(row, "name", ""))
    name = str(row.get("facility_name", "") or "") if hasattr(row, "get") else ""
    if name and name != "nan":
        if short and len(name) > 28:
            name = name[:27] + "…"
        return f"{name} ({fid})"
    return fid


def fmt_month(period: str, lang: str = "vi") -> str:
    """``"2021-10"`` -> ``"10/2021"`` (vi) / ``"Oct 2021"`` (en)."""
    try:
        ts = pd.Timestamp(period + "-01")
    except (ValueError, TypeError):
        return str(period)
    return _i18n.fmt_month(ts, lang)


def _numbers(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    r = tables["records"].groupby("state")["n"].sum()
    states = {s: int(r.get(s, 0)) for s in STATES}
    records = sum(states.values())
    p = tables["persons"]
    persons, signed = int(p["persons"].sum()), int(p["signed"].sum())
    fb = tables["feedback"]
    received = int(fb["n"].sum())
    resolved = int(fb.loc[fb["status"] == "resolved", "n"].sum())
    return {
        "states": states, "records": records, "review": states["review"], "unmatched": states["unmatched"],
        "clean": states["verified"] + states["fixed"],
        "clean_share": share(states["verified"] + states["fixed"], records),
        "persons": persons, "signed": signed, "signed_share": share(signed, persons),
        "fb_received": received, "fb_resolved": resolved,
        "fb_resolved_share": share(resolved, received),
        "fb_overdue": int(fb.loc[fb["sla_state"] == "overdue", "n"].sum()),
    }


def province_report(data_dir: str | os.PathLike[str], province: str, report_date: str = "2022-04-30",
                    lang: str = "vi", sla_hours: float = 48.0) -> ProvinceReport:
    """The report data of one province (reads the cached aggregates)."""
    if province not in BY_GSO:
        raise ValueError(f"unknown province code {province!r} (GSO 2-digit code, e.g. '79')")
    if lang not in ("vi", "en"):
        raise ValueError(f"lang must be 'vi' or 'en', not {lang!r}")
    aggs = load_aggregates(_resolve(data_dir), report_date, sla_hours)
    tables = {k: v[v["province"].astype(str) == province].reset_index(drop=True)
              for k, v in aggs.items() if k != "meta"}
    meta = aggs["meta"].iloc[0].to_dict()
    return ProvinceReport(province, lang, str(report_date), tables, meta, _no_signing(_numbers(tables), meta))


def _no_signing(numbers: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Without a certificates table signing has not been measured: show "—", not 0 %."""
    if not bool(meta.get("has_certificates", True)):
        numbers["signed_share"] = float("nan")
    return numbers


def _resolve(data_dir: str | os.PathLike[str]) -> Path:
    p = Path(data_dir)
    return p if p.is_absolute() or p.exists() else PROJECT_ROOT / p


@dataclass
class NationalReport:
    """Provinces compared (counts only)."""

    lang: str
    report_date: str
    table: pd.DataFrame  #: one row per province with residents in the data: numbers of :func:`_numbers`
    meta: dict[str, Any]
    numbers: dict[str, Any]
    #: provinces whose only records are doses given there to residents of other provinces (no one of their
    #: own in the data, so no deadline can be judged): one line under the table, not 42 rows of "?"
    visitors: pd.DataFrame = field(default_factory=pd.DataFrame)

    def title(self) -> Any:
        L, n = self.lang, self.numbers
        head = f"# {t('national_title', L)}\n\n"
        sub = (f"**{t('report_date', L)}:** {fmt_date(self.report_date, L)} · "
               f"**{t('as_of', L)}:** {fmt_date(self.meta['data_date'], L)}\n\n")
        body = t("national_summary", L).format(
            provinces=fmt_int(len(self.table), L), records=fmt_count(n['records'], L),
            clean=fmt_pct(n['clean_share'], L), signed=fmt_count(n['signed'], L),
            received=fmt_count(n['fb_received'], L), overdue=fmt_count(n['fb_overdue'], L))
        if len(self.visitors):
            body += " " + t("national_visitors_short", L).format(n=fmt_int(len(self.visitors), L))
        body += self._quarantine_note()
        return _md(head + sub + body)

    def _quarantine_note(self) -> str:
        """Rows the importer could not use (not in any table above): counted, so every row in is accounted for."""
        L, m = self.lang, self.meta
        qm, qa = int(m.get("rows_quarantined_match", 0) or 0), int(m.get("rows_quarantined_apply", 0) or 0)
        if not (qm or qa):
            return ""
        return "\n\n" + t("quarantine_note", L).format(match=fmt_int(qm, L), apply=fmt_int(qa, L))

    def comparison_table(self) -> Any:
        """Provinces furthest behind first, each deadline's measure judged Đạt / Chưa đạt."""
        L = self.lang
        x = self.table
        rd = self.report_date
        measures = [("m_feedback", "fb_resolved_share", DEADLINES["feedback_and_signing"]),
                    ("m_signed", "signed_share", DEADLINES["feedback_and_signing"]),
                    ("m_clean", "clean_share", DEADLINES["cleaning"])]
        cols = [t("province", L), t("behind", L)]
        cols += [f"{fmt_date(d, L)} · {t(m, L)}" for m, _, d in measures]
        cols += [f"{fmt_date(DEADLINES['report'], L)} · {t('m_report', L)}", t("records", L), t("review_pct", L),
                 t("unmatched_pct", L), t("fb_received", L), t("fb_overdue", L)]
        left = (pd.Timestamp(DEADLINES["report"]) - pd.Timestamp(rd)).days
        rows = []
        for _, r in x.iterrows():
            cells = [html.escape(str(r["name"])), html.escape(_i18n.fmt_decimal(r["behind"], L, 1))]
            for m, col, d in measures:
                dl = (pd.Timestamp(d) - pd.Timestamp(rd)).days
                cells.append(f"{html.escape(fmt_pct(r[col], L))} "
                             f"{verdict_html(r[f'v_{m}'], L, dl if dl >= 0 else None)}")
            cells.append(verdict_html(r["v_m_report"], L, left if left >= 0 else None))
            cells += [html.escape(fmt_count(r["records"], L)), html.escape(fmt_pct(r["review_share"], L)),
                      html.escape(fmt_pct(r["unmatched_share"], L)), html.escape(fmt_count(r["fb_received"], L)),
                      html.escape(fmt_count(r["fb_overdue"], L))]
            rows.append(cells)
        from IPython.display import HTML

        table = _table_html(cols, rows, raw=tuple(range(len(cols))))
        return table if self.visitors.empty else HTML(table.data + self.visitors_note())

    def visitors_note(self) -> str:
        """One line for the provinces with visitors' doses only: how many, their records together, the names
        folded away (a supervisor on a phone scrolls past 42 rows of "Chưa đủ số liệu" otherwise)."""
        L, v = self.lang, self.visitors
        records = int(v["records"].sum())
        clean = share(float((v["clean_share_n"]).sum()), records)
        text = t("national_visitors", L).format(n=fmt_int(len(v), L), records=fmt_count(records, L),
                                                clean=fmt_pct(clean, L))
        from vaxlib.vn.text import fold_key

        names = ", ".join(html.escape(x) for x in sorted(map(str, v["name"]), key=fold_key))
        return (f'<div class="vax-note vax-visitors"><p>{html.escape(text)}</p><details><summary>'
                f'{html.escape(t("national_visitors_names", L))}</summary>{names}</details></div>')

    def comparison_figure(self) -> Any:
        import plotly.graph_objects as go

        L = self.lang
        x = self.table.dropna(subset=["clean_share"]).iloc[::-1]  # furthest behind at the top
        fig = go.Figure()
        fig.add_bar(y=x["name"], x=100 * x["clean_share"], orientation="h", name=t("clean_pct", L),
                    marker_color="#2e7d32", text=[fmt_pct(v, L) for v in x["clean_share"]],
                    textposition="auto", hovertemplate="%{y}: %{text}<extra></extra>")
        fig.add_vline(x=100, line_dash="dash", line_color="#555")
        fig.update_layout(xaxis=dict(range=[0, 105], ticksuffix="%"))
        return _layout(L, fig, t("fig_national_clean", L).format(date=fmt_date(DEADLINES["cleaning"], L)),
                       max(320, 26 * len(x) + 120))

    def signed_figure(self) -> Any:
        """Each province's share of records clean against its share of persons signed.

        Names are written only where they overlap no other name or point on the
        narrowest screen the report is read on (:func:`place_point_labels`);
        every point names its province on hover or tap, and the table above
        has all the figures.
        """
        import plotly.graph_objects as go

        L = self.lang
        x = self.table.dropna(subset=["signed_share", "clean_share"])
        if x.empty:
            return _md("*" + t("no_signing_data", L) + "*")
        px_, py_ = (100 * x["clean_share"].astype(float)).tolist(), (100 * x["signed_share"].astype(float)).tolist()
        xr, yr = _pct_range(px_), _pct_range(py_)
        plot_h = 360
        where = place_point_labels(px_, py_, [str(n) for n in x["name"]], xr, yr, _PHONE_PLOT_PX, plot_h)
        fig = go.Figure(go.Scatter(
            x=px_, y=py_, mode="markers+text", text=[str(n) if w else "" for n, w in zip(x["name"], where)],
            textposition=[w or "top center" for w in where], marker=dict(size=10, color="#1565c0"),
            cliponaxis=False, customdata=list(x["name"]), hovertemplate="%{customdata}<extra></extra>"))
        for axis, rng, title in ((fig.update_xaxes, xr, "clean_pct"), (fig.update_yaxes, yr, "signed_pct")):
            ticks = _pct_ticks(rng)
            axis(range=rng, tickvals=ticks, ticktext=[_i18n.fmt_pct(v / 100, L, 0 if v == int(v) else 1)
                                                      for v in ticks], title=t(title, L), fixedrange=True)
        note = wrap_label(t("fig_national_signed_note", L), 56)
        fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper", x=0, y=0, xanchor="left",
                           yanchor="top", yshift=-58, align="left", font=dict(size=11, color="#555"))
        fig = _layout(L, fig, t("fig_national_signed", L), plot_h + 150)
        fig.update_layout(margin_b=60 + 16 * (note.count("<br>") + 1))
        return fig


#: the plot area of a chart on a 390 px phone (page padding, margins and axis labels off)
_PHONE_PLOT_PX = 280
#: a 13 px label: width per character (generous for Vietnamese capitals and diacritics), height
_CHAR_PX, _TEXT_PX, _MARKER_PX = 7.6, 17.0, 12.0


def place_point_labels(xs: Sequence[float], ys: Sequence[float], names: Sequence[str],
                       x_range: Sequence[float], y_range: Sequence[float], width_px: float,
                       height_px: float) -> list[str | None]:
    """Where to write each point's name so that no two names, and no name and point, overlap.

    Points are taken in order (put the most important first); each tries
    above, below, right and left of its marker, estimated in pixels for a
    plot ``width_px`` × ``height_px`` (the narrowest screen: a wider one only
    spreads the points).  Returns a plotly ``textposition`` per point, or
    None where the name is left to the hover.
    """
    def to_px(x: float, y: float) -> tuple[float, float]:
        return ((x - x_range[0]) / (x_range[1] - x_range[0]) * width_px,
                (y - y_range[0]) / (y_range[1] - y_range[0]) * height_px)

    pts = [to_px(x, y) for x, y in zip(xs, ys)]
    r = _MARKER_PX / 2
    boxes = [(px - r, py - r, px + r, py + r) for px, py in pts]  # every marker
    out: list[str | None] = []

    def free(b: tuple[float, float, float, float], own: int) -> bool:
        if b[0] < 0 or b[2] > width_px or b[1] < 0 or b[3] > height_px:
            return False
        return not any(i != own and b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3]
                       for i, o in enumerate(boxes))

    for i, ((px, py), name) in enumerate(zip(pts, names)):
        w = _CHAR_PX * len(name) + 4
        tries = {"top center": (px - w / 2, py + r + 1, px + w / 2, py + r + 1 + _TEXT_PX),
                 "bottom center": (px - w / 2, py - r - 1 - _TEXT_PX, px + w / 2, py - r - 1),
                 "middle right": (px + r + 2, py - _TEXT_PX / 2, px + r + 2 + w, py + _TEXT_PX / 2),
                 "middle left": (px - r - 2 - w, py - _TEXT_PX / 2, px - r - 2, py + _TEXT_PX / 2)}
        chosen = next((pos for pos, b in tries.items() if free(b, i)), None)
        if chosen is not None:
            boxes.append(tries[chosen])
        out.append(chosen)
    return out


def _pct_range(values: Sequence[float]) -> list[float]:
    """An axis range around percentages, a little wider than the data (never below 0)."""
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.12, 1.5)
    return [max(lo - pad, 0.0), hi + pad]


def _pct_ticks(rng: Sequence[float]) -> list[float]:
    """Round tick values inside ``rng`` and never above 100 %: a share cannot exceed it."""
    span = rng[1] - rng[0]
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 25, 50) if span / s <= 6)
    first = np.ceil(rng[0] / step) * step
    return [float(v) for v in np.arange(first, min(rng[1], 100) + 1e-9, step)]


def national_report(data_dir: str | os.PathLike[str], report_date: str = "2022-04-30", lang: str = "vi",
                    sla_hours: float = 48.0) -> NationalReport:
    """The national summary: every province with records, compared."""
    aggs = load_aggregates(_resolve(data_dir), report_date, sla_hours)
    rows = []
    provs = set(aggs["records"]["province"].astype(str)) & set(BY_GSO)
    for p in [p.gso for p in PROVINCES if p.gso in provs]:
        tables = {k: v[v["province"].astype(str) == p] for k, v in aggs.items() if k != "meta"}
        n = _numbers(tables)
        verdicts = deadline_verdicts(n, str(report_date))
        rows.append({"province": p, "name": BY_GSO[p].name if lang == "vi" else BY_GSO[p].name_en,
                     **{f"v_{v['measure']}": v["verdict"] for v in verdicts},
                     "behind": 100 * sum(v["shortfall"] for v in verdicts),
                     "fb_resolved_share": n["fb_resolved_share"],
                     "records": n["records"], "clean_share": n["clean_share"], "clean_share_n": n["clean"],
                     "residents": n["persons"],
                     "review_share": share(n["review"], n["records"]),
                     "unmatched_share": share(n["unmatched"], n["records"]),
                     "signed": n["signed"], "signed_share": n["signed_share"],
                     "fb_received": n["fb_received"], "fb_overdue": n["fb_overdue"]})
    table = pd.DataFrame(rows)
    visitors = table.iloc[:0]
    if len(table):  # no resident in the data: only doses given there to people of other provinces
        visitors = table[table["residents"] == 0].reset_index(drop=True)
        table = table[table["residents"] > 0].reset_index(drop=True)
    meta = aggs["meta"].iloc[0].to_dict()
    if not bool(meta.get("has_certificates", True)) and len(table):
        table["signed_share"] = float("nan")
        table["v_m_signed"] = "unknown"
    if len(table):  # furthest behind the deadlines' targets first
        table = table.sort_values(["behind", "clean_share", "province"], ascending=[False, True, True],
                                  na_position="last").reset_index(drop=True)
    total = _no_signing(_numbers({k: v for k, v in aggs.items() if k != "meta"}), meta)
    return NationalReport(lang, str(report_date), table, meta, total, visitors)


# --------------------------------------------------------------------------- rendering

_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<style type="text/css">
body { max-width: 1100px; margin: 0 auto; font-family: "Noto Sans", Arial, sans-serif; }
.jp-Cell { padding: 2px 0; }
table.vax-table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
table.vax-table th, table.vax-table td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
table.vax-left1 td:nth-child(-n+1), table.vax-left1 th:nth-child(-n+1) { text-align: left; }
table.vax-left2 td:nth-child(-n+2), table.vax-left2 th:nth-child(-n+2) { text-align: left; }
table.vax-left3 td:nth-child(-n+3), table.vax-left3 th:nth-child(-n+3) { text-align: left; }
table.vax-left4 td:nth-child(-n+4), table.vax-left4 th:nth-child(-n+4) { text-align: left; }
table.vax-left5 td:nth-child(-n+5), table.vax-left5 th:nth-child(-n+5) { text-align: left; }
table.vax-left6 td:nth-child(-n+6), table.vax-left6 th:nth-child(-n+6) { text-align: left; }
table.vax-left7 td:nth-child(-n+7), table.vax-left7 th:nth-child(-n+7) { text-align: left; }
table.vax-left8 td:nth-child(-n+8), table.vax-left8 th:nth-child(-n+8) { text-align: left; }
table.vax-left9 td:nth-child(-n+9), table.vax-left9 th:nth-child(-n+9) { text-align: left; }
table.vax-table th { background: #f3f5f7; }
.vax-scroll { overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch; }
.vax-scroll.vax-overflows { box-shadow: inset -12px 0 10px -10px rgba(0, 0, 0, .35); }
.vax-scroll.vax-overflows::before { display: block; font-size: 12px; color: #555; position: sticky; left: 0; }
html[lang="vi"] .vax-scroll.vax-overflows::before { content: "__HINT_VI__"; }
html[lang="en"] .vax-scroll.vax-overflows::before { content: "__HINT_EN__"; }
.vax-note { font-size: 12px; color: #555; margin-top: 0; }
ol.vax-todo li { margin-bottom: 4px; }
.jp-RenderedHTMLCommon, .jp-OutputArea-output, .jp-RenderedHTML { max-width: 100%; }
.jp-RenderedHTMLCommon p, .jp-RenderedHTMLCommon li { overflow-wrap: break-word; }
table.vax-table td, table.vax-table th { vertical-align: top; }
table.vax-table td { white-space: nowrap; }
table.vax-left1 td:nth-child(1), table.vax-left2 td:nth-child(-n+2), table.vax-left3 td:nth-child(-n+3) {
  white-space: normal; min-width: 7em; }
.jp-OutputArea-output { overflow-x: hidden; }
.js-plotly-plot, .plotly-graph-div { max-width: 100%; }
@media (max-width: 700px) {
  body { padding: 0 6px; }
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea-child, .jp-OutputArea-output { padding: 0 !important; margin: 0; }
  .jp-OutputPrompt, .jp-InputPrompt { display: none; }
  table.vax-table { font-size: 12px; }
  .vax-scroll table.vax-table td:first-child, .vax-scroll table.vax-table th:first-child {
    position: sticky; left: 0; background: #fff; z-index: 1; }
  .vax-scroll table.vax-table th:first-child { background: #f3f5f7; }
  table.vax-table th, table.vax-table td { padding: 3px 6px; }
  .jp-RenderedHTMLCommon h1, h1 { font-size: 1.4em; } .jp-RenderedHTMLCommon h2, h2 { font-size: 1.15em; }
}
</style>
<script type="text/javascript">
// mark tables wider than their box, so the scroll hint and shadow show only where needed
function vaxMarkOverflow() {
  document.querySelectorAll('.vax-scroll').forEach(function (el) {
    el.classList.toggle('vax-overflows', el.scrollWidth > el.clientWidth + 1);
  });
}
window.addEventListener('load', vaxMarkOverflow);
window.addEventListener('resize', vaxMarkOverflow);
</script>
{% endblock extra_css %}
"""
_TEMPLATE = (_TEMPLATE.replace("__HINT_VI__", _i18n.t("report.scroll_hint", "vi"))
             .replace("__HINT_EN__", _i18n.t("report.scroll_hint", "en")))


def html_exporter() -> Any:
    """nbconvert HTMLExporter: inputs hidden, no require.js/MathJax/CDN scripts."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exp = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"vaxreport.html.j2": _TEMPLATE})])
    exp.template_file = "vaxreport.html.j2"
    exp.exclude_input = True
    exp.exclude_input_prompt = True
    exp.exclude_output_prompt = True
    return exp


_EXPORTER: Any = None


def _exporter() -> Any:
    """One exporter per process (building it parses the templates)."""
    global _EXPORTER
    if _EXPORTER is None:
        _EXPORTER = html_exporter()
    return _EXPORTER


def report_path(out_dir: str | os.PathLike[str], province: str) -> Path:
    """``OUT/<code>-<slug>.html``."""
    return Path(out_dir) / f"{province}-{slug(province)}.html"


def national_path(out_dir: str | os.PathLike[str]) -> Path:
    """``OUT/national-summary.html``."""
    return Path(out_dir) / "national-summary.html"


PLOTLYJS_FILE = "plotly.min.js"


def write_shared_plotlyjs(folder: str | os.PathLike[str]) -> Path:
    """Write plotly.js once into a report folder (``plotly.min.js``), unless the same text is there."""
    from plotly.offline import get_plotlyjs

    path = Path(folder) / PLOTLYJS_FILE
    text = get_plotlyjs()
    if path.exists() and path.stat().st_size == len(text.encode("utf-8")) and path.read_text(encoding="utf-8") == text:
        return path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_one(notebook: str | os.PathLike[str], parameters: dict[str, Any], out_html: str | os.PathLike[str],
               lang: str = "vi", km: Any = None, plotlyjs: str = "inline") -> Path:
    """Execute ``notebook`` with papermill and export it to HTML (inputs hidden).

    ``km`` is an (unstarted or running) ``jupyter_client`` kernel manager to
    reuse across calls; None starts and stops a kernel for this notebook.
    ``plotlyjs="inline"`` (default) embeds plotly.js, so the file opens
    alone, offline; ``"shared"`` links the report folder's ``plotly.min.js``
    (:func:`write_shared_plotlyjs`; still offline, ~4.6 MB saved per report).
    """
    if plotlyjs not in ("inline", "shared"):
        raise ValueError(f"plotlyjs must be 'inline' or 'shared', not {plotlyjs!r}")
    import nbformat
    import papermill as pm

    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    extra = {"km": km} if km is not None else {}
    os.environ[_PLOTLYJS_ENV] = "placeholder"  # inherited by the kernels started from here
    with tempfile.TemporaryDirectory(prefix="vaxreport-") as tmp:
        executed = Path(tmp) / "executed.ipynb"
        pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name="python3",
                            progress_bar=False, log_output=False, cwd=str(PROJECT_ROOT),
                            request_save_on_cell_execute=False, **extra)
        nb = nbformat.read(executed, as_version=4)
    title = nb.metadata.get("title")
    nb.metadata["title"] = title or out_html.stem
    t0 = time.perf_counter()
    exporter = _exporter()
    exporter.language_code = lang  # <html lang="vi">: the exporter ignores resources["language_code"]
    body, _ = exporter.from_notebook_node(nb, resources={"language_code": lang})
    if _PLOTLYJS_MARK in body:
        from plotly.offline import get_plotlyjs

        head, tail = body.split(_PLOTLYJS_MARK, 1)
        if plotlyjs == "shared":
            write_shared_plotlyjs(out_html.parent)
            script = f'<script type="text/javascript" src="{PLOTLYJS_FILE}"></script>'
        else:
            script = f'<script type="text/javascript">{get_plotlyjs()}</script>'
        body = head + script + tail.replace(_PLOTLYJS_MARK, "")
    log.debug("%s: exported in %.2f s", out_html.name, time.perf_counter() - t0)
    tmp_html = out_html.with_name(f".{out_html.name}.{os.getpid()}.tmp")
    tmp_html.write_text(body, encoding="utf-8")
    os.replace(tmp_html, out_html)
    return out_html


# One kernel per worker process, reused for all its notebooks: starting a
# kernel and importing pandas/plotly costs more than running a report.
_WORKER_KM: Any = None


def _worker_km() -> Any:
    global _WORKER_KM
    if _WORKER_KM is None:
        import multiprocessing.util

        from jupyter_client.manager import AsyncKernelManager

        # IPC sockets in a private folder instead of TCP on localhost: no other user can
        # connect, and the kernel does not warn "running over TCP without encryption"
        ipc_dir = tempfile.mkdtemp(prefix="vaxkernel-")
        _WORKER_KM = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(ipc_dir, "kernel"))
        _WORKER_KM._vax_ipc_dir = ipc_dir
        multiprocessing.util.Finalize(None, _shutdown_worker_km, exitpriority=10)
    return _WORKER_KM


def _shutdown_worker_km() -> None:
    global _WORKER_KM
    km, _WORKER_KM = _WORKER_KM, None
    if km is None:
        return
    if km.has_kernel:
        from jupyter_core.utils import run_sync

        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - best effort at worker exit
            pass
    if getattr(km, "_vax_ipc_dir", None):
        shutil.rmtree(km._vax_ipc_dir, ignore_errors=True)


def _render_in_worker(notebook: Path, params: dict[str, Any], out_html: Path, plotlyjs: str = "inline") -> Path:
    logging.getLogger("papermill").setLevel(logging.WARNING)
    # jupyter_client's "Could not destroy zmq context" at kernel shutdown is harmless noise
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    try:
        return render_one(notebook, params, out_html, lang=params["lang"], km=_worker_km(), plotlyjs=plotlyjs)
    except Exception:
        _shutdown_worker_km()  # a failed notebook may leave the kernel in any state
        raise


def _render_province(args: tuple[str, dict[str, Any], str, str]) -> tuple[str, str, int]:
    province, params, out, plotlyjs = args
    path = _render_in_worker(PROVINCE_NOTEBOOK, params, report_path(out, province), plotlyjs)
    return province, str(path), path.stat().st_size


def render_reports(
    data_dir: str | os.PathLike[str],
    provinces: Sequence[str],
    out_dir: str | os.PathLike[str] = REPORTS_DIR,
    *,
    report_date: str = "2022-04-30",
    lang: str = "vi",
    sla_hours: float = 48.0,
    national: bool = True,
    workers: int | None = None,
    progress: bool = True,
    run_args: dict[str, Any] | None = None,
    plotlyjs: str = "inline",
) -> dict[str, Path]:
    """Render the province reports (and the national summary) in parallel, as one atomic run in ``out_dir``.

    The aggregates are computed once here, then each worker process runs
    papermill + nbconvert on one notebook at a time.  ``plotlyjs``: see
    :func:`render_one` (``"shared"`` writes ``plotly.min.js`` into ``out_dir``).

    Returns
    -------
    dict
        province code (and ``"national"``) -> HTML path.
    """
    from tqdm import tqdm

    d = _resolve(data_dir).resolve()
    unknown = [p for p in provinces if p not in BY_GSO]
    if unknown:
        raise ValueError(f"unknown province code(s) {unknown}")
    out = Path(out_dir)
    rf = RunFolder(d)
    settings = {"provinces": list(provinces), "report_date": str(report_date), "lang": lang,
                "sla_hours": float(sla_hours), "national": bool(national), "plotlyjs": plotlyjs}
    inputs = [p for p in (rf.registry, rf.vaccinations, rf.feedback, rf.match, rf.match_corrected, rf.apply,
                          rf.certificates_dir, rf.feedback_dir) if p.exists() or table_parts(p)]
    paths: dict[str, Path] = {}
    with atomic_run(out, command="report", args=run_args or settings, inputs=inputs,
                    settings=settings) as staging:
        load_aggregates(d, report_date, sla_hours)
        jobs = [(p, {"province": p, "data_dir": str(d), "report_date": str(report_date), "lang": lang,
                     "sla_hours": float(sla_hours)}, str(staging.path), plotlyjs) for p in provinces]
        if plotlyjs == "shared":  # once, before the workers link it
            write_shared_plotlyjs(staging.path)
        n_workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) + int(national)))
        bar = tqdm(total=len(jobs) + int(national), desc="vax report", unit="report", disable=not progress)
        from tqdm.contrib.logging import logging_redirect_tqdm

        # workers (and through ipykernel's parent poller, their kernels) die with this process, even on SIGKILL;
        # log lines are written above the bar instead of through it
        with logging_redirect_tqdm(), cf.ProcessPoolExecutor(max_workers=n_workers,
                                                             initializer=die_with_parent) as pool:
            futures = [pool.submit(_render_province, j) for j in jobs]
            if national:
                futures.append(pool.submit(_render_national, (
                    {"data_dir": str(d), "report_date": str(report_date), "lang": lang,
                     "sla_hours": float(sla_hours)}, str(staging.path), plotlyjs)))
            for fut in cf.as_completed(futures):
                key, path, _size = fut.result()
                paths[key] = out / Path(path).name
                bar.update(1)
        bar.close()
    return paths


def _render_national(args: tuple[dict[str, Any], str, str]) -> tuple[str, str, int]:
    params, out, plotlyjs = args
    path = _render_in_worker(NATIONAL_NOTEBOOK, params, national_path(out), plotlyjs)
    return "national", str(path), path.stat().st_size


def write_parameter_files(folder: str | os.PathLike[str] = PARAMETERS_DIR / "provinces") -> list[Path]:
    """Write ``parameters/provinces/NN.yaml`` for the 63 provinces (keys = the notebook's parameters)."""
    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for p in PROVINCES:
        params = {**DEFAULT_PARAMETERS, "province": p.gso}
        text = (f"# {p.name} ({p.name_en}): parameters of notebooks/province-report.ipynb\n"
                f"# generated by vaxlib.report.write_parameter_files(); keys = the notebook's parameters cell\n"
                + yaml.safe_dump(params, allow_unicode=True, sort_keys=False))
        path = folder / f"{p.gso}.yaml"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- CLI

def _cli_lang(args: argparse.Namespace) -> str:
    from vaxlib.cli import cli_lang

    return cli_lang(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from vaxlib.cli import CommandError

    if args.all:
        provinces = [p.gso for p in PROVINCES]
    elif args.provinces:
        provinces = [p.strip().zfill(2) for p in args.provinces.split(",") if p.strip()]
    elif args.province:
        provinces = [args.province.zfill(2)]
    else:
        raise CommandError("give --province CODE, --provinces A,B or --all")
    base = dict(DEFAULT_PARAMETERS)
    if len(provinces) == 1 and (PARAMETERS_DIR / "provinces" / f"{provinces[0]}.yaml").exists():
        base.update(load_yaml(PARAMETERS_DIR / "provinces" / f"{provinces[0]}.yaml"))
    data = args.data or base["data_dir"]
    report_date = args.report_date or base["report_date"]
    lang = args.lang or base["lang"]
    sla = args.sla_hours if args.sla_hours is not None else base["sla_hours"]
    d = _resolve(data)
    if not RunFolder(d).match.exists():
        raise CommandError(f"{d}: no match/ run (run vax demo, or vax synth + vax match first)")
    try:
        paths = render_reports(d, provinces, args.out, report_date=report_date, lang=lang, sla_hours=sla,
                               national=not args.no_national, workers=args.workers, progress=not args.quiet,
                               run_args={k: v for k, v in vars(args).items() if k != "func"},
                               plotlyjs=args.plotlyjs)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    for key in provinces + (["national"] if "national" in paths else []):
        p = paths[key]
        print(f"{p}  ({fmt_int(p.stat().st_size / 1024, _cli_lang(args))} KiB)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vax report``."""
    p = subparsers.add_parser(
        "report", help="render per-province progress reports and the national summary (HTML)",
        description="Runs notebooks/province-report.ipynb with papermill for each province and "
                    "exports HTML with nbconvert (inputs hidden, opens offline).")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--province", help="GSO code, e.g. 79 (parameters/provinces/79.yaml gives the defaults)")
    g.add_argument("--provinces", help="comma-separated GSO codes, e.g. 79,01,48")
    g.add_argument("--all", action="store_true", help="all 63 provinces")
    p.add_argument("--data", default=None, help=f"folder laid out like vax demo's (default {DEMO_DIR})")
    p.add_argument("--out", default=str(REPORTS_DIR), help="output folder (default outputs/reports)")
    p.add_argument("--report-date", dest="report_date", default=None, help="YYYY-MM-DD (default 2022-04-30)")
    p.add_argument("--lang", choices=("vi", "en"), default=None)
    p.add_argument("--sla-hours", dest="sla_hours", type=float, default=None)
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--no-national", dest="no_national", action="store_true", help="skip the national summary")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plotlyjs", choices=("inline", "shared"), default="inline",
                   help="inline: each report one self-contained file (~5 MB); shared: one local plotly.min.js "
                        "in the output folder, linked by every report (~0.4 MB each, still offline)")
    p.set_defaults(func=_cmd_report)
