"""Citizens' feedback (phản ánh): link, categorise, resolve or queue, and track the SLA.

A citizen reports a problem on the vaccination portal (a dose missing from
the certificate, a misspelt name, the wrong vaccine, a dose recorded twice).
:func:`track_feedback` handles every report in four steps:

1. **link** — the report's typed name, date of birth, sex, ID number and phone
   go through the dose-record matcher (:func:`vaxlib.match.pipeline.run_match`,
   the same prepare → blocking → compare → Fellegi–Sunter model) as if the
   report were one more dose record, which links it to a register person;
   that person's dose records are the records the matcher (after ``vax apply``,
   the second match) links to the same person.  A report whose person is not
   in the register is linked to unregistered dose records that carry the same
   ID number or phone (their shared ``person_key``);
2. **categorise** — the citizen's category is kept as typed; the system's
   category is what the consolidated dose history shows
   (:data:`vaxlib.schema.FEEDBACK_CATEGORIES`);
3. **resolve** — automatically where an applied fix (the person's records are
   verified after ``vax apply``) or the consolidated dose history (all doses
   present, none twice) answers the report; everything else goes to the
   review queue with a reason;
4. **SLA** — every item's due time, status and age at ``as_of``.  The
   Ministry asks that feedback be handled within 48 hours (Công văn
   9458/BYT-CNTT, 2021, on handling citizens' feedback on vaccination data);
   the limit is a parameter.

Timestamps without a zone are Viet Nam time (UTC+07:00).  An automatically
resolved item is taken as resolved at the first run of the feedback job after
its submission (the job runs every ``batch_hours``, at midnight Viet Nam time
by default), never later than ``as_of``; an item of the review queue is
resolved by a ledger decision on one of its records taken after submission.

``vax feedback --data DIR`` (the ``vax demo`` folder layout) writes
``DIR/feedback/feedback_status.parquet`` (one row per report, no personal
fields besides the register person id), ``DIR/feedback/queue.parquet`` (the
open items with their reasons, for ``notebooks/02-review-queue.ipynb``) and
``DIR/feedback/feedback_links.parquet`` (feedback_id, record_id).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaxlib.schema import FEEDBACK_CATEGORIES

__all__ = [
    "FeedbackSettings",
    "FeedbackResult",
    "ITEM_COLUMNS",
    "QUEUE_COLUMNS",
    "REASONS",
    "RESOLUTIONS",
    "VN_TZ",
    "track_feedback",
    "link_feedback",
    "candidate_registry",
    "parse_timestamps",
    "sla_state",
    "load_inputs",
    "run_feedback",
    "register",
]

log = logging.getLogger(__name__)

#: Viet Nam time (no daylight saving)
VN_TZ = "+07:00"

#: why an item went to the review queue
REASONS: dict[str, dict[str, str]] = {
    "no_person": {"vi": "Không tìm thấy người trong CSDL dân cư", "en": "Person not found in the register"},
    "uncertain_link": {"vi": "Liên kết chưa chắc chắn", "en": "Uncertain link"},
    "no_records": {"vi": "Không tìm thấy mũi tiêm nào", "en": "No dose record found"},
    "missing_dose": {"vi": "Lịch sử tiêm còn thiếu mũi", "en": "Dose history still has a gap"},
    "duplicate_record": {"vi": "Mũi tiêm bị ghi trùng", "en": "Dose recorded twice"},
    "wrong_vaccine": {"vi": "Cần cơ sở tiêm kiểm tra loại vắc xin", "en": "Facility must check the vaccine"},
    "records_not_verified": {"vi": "Bản ghi chưa được sửa/xác minh", "en": "Records not yet fixed or verified"},
    "nothing_found": {"vi": "Hệ thống không phát hiện lỗi", "en": "The system found no problem"},
}

#: how an item was resolved
RESOLUTIONS: dict[str, dict[str, str]] = {
    "applied_fix": {"vi": "Đã sửa theo CSDL dân cư", "en": "Fixed from the register"},
    "consolidated_history": {"vi": "Đã gộp lịch sử tiêm", "en": "Dose history consolidated"},
    "review_decision": {"vi": "Chuyên viên đã xử lý", "en": "Handled by an analyst"},
}

ITEM_COLUMNS = [
    "feedback_id", "submitted_at", "province", "category_citizen", "category_system",
    "link_status", "match_probability", "person_id", "person_key", "n_records", "record_ids",
    "status", "resolution", "reason", "resolved_at", "due_at", "age_hours", "sla_state",
]
QUEUE_COLUMNS = [
    "feedback_id", "submitted_at", "due_at", "age_hours", "overdue", "category_citizen",
    "category_system", "reason", "reason_vi", "reason_en", "person_id", "record_ids", "province",
]

_DOSE_RE = re.compile(r"\bmui\s*(?:thu\s*)?(\d)\b|\bdose\s*(\d)\b")


@dataclasses.dataclass
class FeedbackSettings:
    """Parameters of :func:`track_feedback`."""

    sla_hours: float = 48.0  #: Công văn 9458/BYT-CNTT: handle within 48 hours
    batch_hours: float = 24.0  #: the feedback job runs this often (aligned to midnight VN time)
    as_of: str | pd.Timestamp | None = None  #: the status date; None = now
    duplicate_days: int = 7  #: two doses this close together are one dose recorded twice


@dataclasses.dataclass
class FeedbackResult:
    """Result of :func:`track_feedback`.

    Attributes
    ----------
    items
        One row per report received by ``as_of``, :data:`ITEM_COLUMNS`.
    queue
        The open items (review queue), :data:`QUEUE_COLUMNS`, oldest first.
    links
        ``feedback_id, record_id``: the dose records each report was linked to.
    stats
        Counts by status and link status.
    """

    items: pd.DataFrame
    queue: pd.DataFrame
    links: pd.DataFrame
    stats: dict[str, Any]


# --------------------------------------------------------------------------- time

def parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 texts -> UTC timestamps; texts without a zone are Viet Nam time."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    has_zone = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    local = text.where(has_zone | text.eq(""), text + VN_TZ)
    return pd.to_datetime(local.where(local.ne(""), None), utc=True, errors="coerce", format="ISO8601")


def _as_of(value: str | pd.Timestamp | None) -> pd.Timestamp:
    if value is None:
        return pd.Timestamp.now(tz="UTC")
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        text = str(value)
        if len(text) <= 10:  # a date: the end of that day in Viet Nam
            ts = ts + pd.Timedelta(hours=23, minutes=59, seconds=59)
        ts = ts.tz_localize(VN_TZ)
    return ts.tz_convert("UTC")


def _next_run(submitted: pd.Series, batch_hours: float) -> pd.Series:
    """The first batch run (every ``batch_hours`` from midnight VN time) after submission."""
    local = submitted.dt.tz_convert(VN_TZ)
    midnight = local.dt.normalize()
    step = pd.Timedelta(hours=batch_hours)
    n = np.floor((local - midnight) / step) + 1
    return (midnight + n * step).dt.tz_convert("UTC")


def sla_state(status: pd.Series, resolved_at: pd.Series, due_at: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """``on_time`` / ``late`` for resolved items, ``open`` / ``overdue`` for the others."""
    resolved = status.eq("resolved").to_numpy()
    on_time = (resolved_at <= due_at).fillna(False).to_numpy()
    overdue = (due_at < as_of).fillna(False).to_numpy()
    out = np.where(resolved, np.where(on_time, "on_time", "late"), np.where(overdue, "overdue", "open"))
    return pd.Series(out, index=status.index, dtype=object)


# --------------------------------------------------------------------------- linking

def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").astype(str)


def _digits(s: pd.Series) -> pd.Series:
    return _text(s).str.replace(r"\D", "", regex=True)


def candidate_registry(feedback: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    """The register persons a report could be: its ID number (CCCD or former CMND) or,
    for reports whose ID number is nobody's, its date of birth (either reading).

    Citizens type their own data; this keeps the matcher's blocking to a few
    register persons per report instead of preparing the whole register
    (1 million persons take a minute to prepare, 15 000 reports a second).
    """
    from vaxlib.vn.dates import parse_dobs

    ids = set(_digits(feedback["id_number"])) - {""} if "id_number" in feedback else set()
    pid = _text(registry["person_id"])
    old = _text(registry["old_id"]) if "old_id" in registry else pd.Series("", index=registry.index)
    by_id = pid.isin(ids) | (old.ne("") & old.isin(ids))
    known = set(pid[by_id]) | set(old[by_id])
    rest = feedback[~_digits(feedback["id_number"]).isin(known)] if "id_number" in feedback else feedback
    by_dob = pd.Series(False, index=registry.index)
    if len(rest) and "dob" in rest:
        d = parse_dobs(_text(rest["dob"]))
        readings = (set(_text(d["dob"])) | set(_text(d["dob_alt"]))) - {""}
        partial = {r[:4] for r in readings} | {r[:7] for r in readings}
        rdob = _text(registry["dob"])
        by_dob = rdob.isin(readings) | (rdob.str.len() < 10) & rdob.isin(partial)
    return registry[by_id | by_dob]


def link_feedback(
    feedback: pd.DataFrame,
    registry: pd.DataFrame,
    settings: Any = None,
    model: Any = None,
    *,
    prefilter: bool | None = None,
) -> pd.DataFrame:
    """Link each report to a register person with the dose-record matcher.

    Parameters
    ----------
    feedback
        Contract feedback table.
    registry
        Contract registry table.
    settings
        :class:`vaxlib.match.pipeline.MatchSettings` (thresholds), or None.
    model
        A fitted :class:`vaxlib.match.model.FSModel`, or None to fit one on the reports.
    prefilter
        Match against :func:`candidate_registry` only (the model's prior still
        uses the size of the whole register); None: when the register has more
        than 5 000 persons.

    Returns
    -------
    DataFrame
        ``feedback_id, link_status`` (the matcher's status), ``person_id``,
        ``match_probability``, ``error_codes``, in the order of ``feedback``.
    """
    from vaxlib.match.pipeline import run_match

    as_records = feedback.rename(columns={"feedback_id": "record_id"})
    keep = [c for c in ("record_id", "full_name", "dob", "sex", "id_number", "phone") if c in as_records.columns]
    reg = registry
    if prefilter or (prefilter is None and len(registry) > 5000):
        reg = candidate_registry(feedback, registry)
        if model is None and len(reg):
            # fit on the candidates, then score with the prior odds of the whole register
            model = run_match(reg, as_records[keep], settings, progress=lambda _: None).model
            model.n_registry = len(registry)
    if len(reg) == 0:
        reg = registry.iloc[:1]
    result = run_match(reg, as_records[keep], settings, model=model, progress=lambda _: None)
    m = result.matches
    return pd.DataFrame({
        "feedback_id": m["record_id"].to_numpy(dtype=object),
        "link_status": m["status"].to_numpy(dtype=object),
        "person_id": m["person_id"].to_numpy(dtype=object),
        "match_probability": m["match_probability"].to_numpy(dtype=float),
        "error_codes": m["error_codes"].to_numpy(dtype=object),
    })


def _mentioned_dose(message: str) -> int | None:
    from vaxlib.vn.text import fold_key

    hits = [int(a or b) for a, b in _DOSE_RE.findall(fold_key(message or ""))]
    return max(hits) if hits else None


def _mentioned_products(message: str) -> set[str]:
    from vaxlib.vaccines import PRODUCTS
    from vaxlib.vn.text import fold_key

    text = " " + re.sub(r"[^a-z0-9]+", " ", fold_key(message or "")) + " "
    found = set()
    for p in PRODUCTS:
        for alias in p.aliases:
            a = " " + re.sub(r"[^a-z0-9]+", " ", alias).strip() + " "
            if len(a.strip()) >= 4 and a in text:
                found.add(p.code)
    return found


def _history_findings(records: pd.DataFrame, duplicate_days: int) -> dict[str, bool]:
    """What a person's consolidated dose history shows (records: dose_number, date, product)."""
    doses = pd.to_numeric(records["dose_number"], errors="coerce").dropna().astype(int)
    dates = pd.to_datetime(records["vaccination_date"], errors="coerce").dropna().sort_values()
    gap = bool(len(doses)) and set(range(1, int(doses.max()) + 1)) - set(doses) != set()
    close = bool(len(dates) > 1 and (dates.diff().dt.days.dropna() < duplicate_days).any())
    dup = bool(doses.duplicated().any()) or close
    return {"gap": bool(gap), "duplicate": dup, "max_dose": int(doses.max()) if len(doses) else 0}


def track_feedback(
    feedback: pd.DataFrame,
    registry: pd.DataFrame,
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    matches_current: pd.DataFrame | None = None,
    changes: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    settings: FeedbackSettings | None = None,
    match_settings: Any = None,
    model: Any = None,
) -> FeedbackResult:
    """Link, categorise, resolve or queue every report, and its SLA state.

    Parameters
    ----------
    feedback, registry, vaccinations
        Contract tables (``vaccinations`` as typed; record ids are shared with
        the corrected table of ``vax apply``).
    matches
        ``vax match`` on the typed records (the errors as entered).
    matches_current
        ``vax match`` on the corrected records (after ``vax apply``); None when
        no fix has been applied (then ``matches`` is the current state).
    changes
        ``vax apply`` change log (``record_id, field, ...``), or None.
    decisions
        Ledger decisions (:meth:`vaxlib.review.ledger.Ledger.current_decisions`:
        ``record_id, action, time``), or None.
    settings
        :class:`FeedbackSettings`.
    match_settings, model
        Passed to :func:`link_feedback`.

    Returns
    -------
    FeedbackResult
    """
    s = settings or FeedbackSettings()
    as_of = _as_of(s.as_of)
    fb = feedback.reset_index(drop=True).copy()
    fb["submitted"] = parse_timestamps(fb["submitted_at"])
    bad_time = fb["submitted"].isna()
    if bad_time.any():
        log.warning("feedback: %d report(s) without a readable submitted_at left out", int(bad_time.sum()))
    fb = fb[~bad_time & (fb["submitted"] <= as_of)].reset_index(drop=True)

    current = matches_current if matches_current is not None else matches
    if len(fb):
        link = link_feedback(fb, registry, match_settings, model)
    else:
        link = pd.DataFrame(columns=["feedback_id", "link_status", "person_id", "match_probability", "error_codes"])
    fb = fb.merge(link, on="feedback_id", how="left")

    # ---- dose records of each person: the current matches' links (after fixes)
    cur = current[["record_id", "status", "person_id", "person_key"]].copy()
    cur["record_id"] = cur["record_id"].astype(str)
    first = matches[["record_id", "status", "error_codes"]].rename(
        columns={"status": "status_first", "error_codes": "codes_first"})
    first["record_id"] = first["record_id"].astype(str)
    vcols = ["record_id", "dose_number", "vaccination_date", "vaccine", "facility_province", "id_number", "phone"]
    v = vaccinations[[c for c in vcols if c in vaccinations.columns]].copy()
    v["record_id"] = v["record_id"].astype(str)
    rec = cur.merge(v, on="record_id", how="left").merge(first, on="record_id", how="left")

    linked_person = fb["link_status"].isin(["verified", "fix", "review"])
    pids = set(fb.loc[linked_person, "person_id"].dropna().astype(str))
    by_person = rec[rec["person_id"].astype(object).isin(pids) & rec["status"].isin(["verified", "fix", "review"])]

    # unregistered people: dose records outside the register with the same ID number or phone
    from vaxlib.vaccines import normalise_vaccine
    from vaxlib.vn.phones import normalise_phones

    unl = fb[~linked_person]
    key_of_fb: dict[str, str] = {}
    if len(unl):
        outside = rec[~rec["status"].isin(["verified", "fix"])]
        fb_id = _digits(unl["id_number"]) if "id_number" in unl else pd.Series("", index=unl.index)
        fb_ph = normalise_phones(_text(unl["phone"])) if "phone" in unl else pd.Series(None, index=unl.index)
        o_id = _digits(outside["id_number"]) if "id_number" in outside else pd.Series("", index=outside.index)
        o_ph = normalise_phones(_text(outside["phone"])) if "phone" in outside else pd.Series(None, index=outside.index)
        id_to_key = dict(zip(o_id[o_id.str.len() >= 8], outside.loc[o_id.str.len() >= 8, "person_key"]))
        ph_to_key = dict(zip(o_ph.dropna(), outside.loc[o_ph.dropna().index, "person_key"]))
        for fid, i, p in zip(unl["feedback_id"], fb_id, fb_ph):
            k = id_to_key.get(i) if len(i) >= 8 else None
            if k is None and p:
                k = ph_to_key.get(p)
            if k is not None:
                key_of_fb[str(fid)] = str(k)
    by_key = rec[rec["person_key"].astype(object).isin(set(key_of_fb.values()))]

    person_groups = {k: g for k, g in by_person.groupby(by_person["person_id"].astype(str))}
    key_groups = {k: g for k, g in by_key.groupby(by_key["person_key"].astype(str))}

    # ---- per item: records, system category, resolution
    changed = set(changes["record_id"].astype(str)) if changes is not None and len(changes) else set()
    dec = None
    if decisions is not None and len(decisions):
        dec = decisions[decisions["action"].isin(["accept", "bulk_accept", "edit", "reject"])].copy()
        dec["record_id"] = dec["record_id"].astype(str)
        dec["time"] = parse_timestamps(dec["time"])
        dec = dec.groupby("record_id")["time"].max()

    reg_province: dict[str, str] = {}
    if "province_code" in registry.columns:
        r = registry[registry["person_id"].astype(object).isin(pids)]
        reg_province = dict(zip(r["person_id"].astype(str), _text(r["province_code"])))
    product_of = {t: normalise_vaccine(t) for t in pd.unique(_text(rec["vaccine"]))} if "vaccine" in rec else {}
    rows = []
    link_rows = []
    for it in fb.itertuples(index=False):
        fid = str(it.feedback_id)
        pid = it.person_id if isinstance(it.person_id, str) and it.person_id else None
        status_link = it.link_status if isinstance(it.link_status, str) else "unmatched"
        if pid is not None and status_link in ("verified", "fix", "review"):
            g = person_groups.get(pid)
            key = pid
        else:
            key = key_of_fb.get(fid)
            g = key_groups.get(key) if key else None
            pid = None
        g = g if g is not None else rec.iloc[0:0]
        # records the matcher is sure about make the consolidated history
        sure = g[g["status"].isin(["verified", "fix"]) | (g["person_key"].astype(str) == str(key))]
        hist = _history_findings(sure, s.duplicate_days)
        message = str(getattr(it, "message", "") or "")
        wanted_dose = _mentioned_dose(message)
        products = _mentioned_products(message)
        recorded = {c for c in (product_of.get(x) for x in _text(sure["vaccine"])) if c} if "vaccine" in sure else set()
        had_errors = bool((sure["status_first"].isin(["fix", "review", "unmatched"])
                           | _text(sure["codes_first"]).ne("")).any()) if len(sure) else False
        all_verified = bool(len(sure)) and bool(sure["status"].eq("verified").all())
        missing = (len(sure) == 0) or hist["gap"] or (wanted_dose is not None and hist["max_dose"] < wanted_dose)
        if products and wanted_dose is not None and len(sure):
            at_dose = sure[pd.to_numeric(sure["dose_number"], errors="coerce") == wanted_dose]
            recorded_at = {product_of.get(x) for x in _text(at_dose["vaccine"])} - {None}
            vaccine_mismatch = bool(recorded_at) and not products <= recorded_at
        else:
            vaccine_mismatch = bool(products) and bool(recorded) and not products <= recorded
        citizen = str(it.category) if isinstance(it.category, str) else "other"

        if hist["duplicate"]:
            system = "duplicate_record"
        elif missing:
            system = "missing_dose"
        elif vaccine_mismatch:
            system = "wrong_vaccine"
        elif had_errors:
            system = "wrong_personal_info"
        else:
            system = "other"

        resolution = reason = None
        if status_link in ("unmatched", "invalid") and key is None:
            reason = "no_person"
        elif status_link == "review":
            reason = "uncertain_link"
        elif len(sure) == 0:
            reason = "no_records"
        elif system in ("duplicate_record", "missing_dose", "wrong_vaccine"):
            reason = system
        elif citizen == "wrong_vaccine":
            reason = "wrong_vaccine"
        elif not all_verified:
            reason = "records_not_verified"
        elif citizen == "missing_dose":
            # every dose is there once the mistyped records are linked to the person
            resolution = "consolidated_history"
        elif had_errors or bool(set(sure["record_id"]) & changed):
            resolution = "applied_fix"
        else:
            reason = "nothing_found"

        rids = sorted(g["record_id"].astype(str))
        for r in rids:
            link_rows.append((fid, r))
        province = reg_province.get(pid, "") if pid else ""
        if not province and len(g):
            fp = _text(g["facility_province"])
            fp = fp[fp.ne("")]
            province = str(fp.mode().iloc[0]) if len(fp) else ""
        resolved_at = pd.NaT
        if resolution is not None:
            resolved_at = "auto"
        elif dec is not None and rids:
            times = dec.reindex(rids).dropna()
            times = times[times >= it.submitted]
            if len(times) and times.max() <= as_of:
                resolution, reason, resolved_at = "review_decision", None, times.max()
        rows.append({
            "feedback_id": fid, "submitted": it.submitted, "province": province,
            "category_citizen": citizen, "category_system": system, "link_status": status_link,
            "match_probability": float(it.match_probability) if pd.notna(it.match_probability) else 0.0,
            "person_id": pid, "person_key": key, "n_records": len(rids), "record_ids": ";".join(rids),
            "status": "resolved" if resolution else "in_review", "resolution": resolution, "reason": reason,
            "resolved_at": resolved_at,
        })

    items = pd.DataFrame(rows, columns=[
        "feedback_id", "submitted", "province", "category_citizen", "category_system", "link_status",
        "match_probability", "person_id", "person_key", "n_records", "record_ids", "status", "resolution",
        "reason", "resolved_at"])
    auto = items["resolved_at"].astype(object).eq("auto")
    run_time = _next_run(items["submitted"], s.batch_hours) if len(items) else items["submitted"]
    resolved_at = pd.to_datetime(items["resolved_at"].where(~auto, None), utc=True)
    resolved_at = resolved_at.where(~auto, run_time.where(run_time <= as_of, as_of))
    items["resolved_at"] = resolved_at
    items["due_at"] = items["submitted"] + pd.Timedelta(hours=s.sla_hours)
    end = items["resolved_at"].where(items["status"].eq("resolved"), as_of)
    items["age_hours"] = ((end - items["submitted"]) / pd.Timedelta(hours=1)).astype(float).round(1)
    items["sla_state"] = sla_state(items["status"], items["resolved_at"], items["due_at"], as_of)
    items = items.rename(columns={"submitted": "submitted_at"})[ITEM_COLUMNS]

    q = items[items["status"].ne("resolved")].copy()
    q["overdue"] = q["sla_state"].eq("overdue")
    q["reason_vi"] = q["reason"].map(lambda r: REASONS.get(r, {}).get("vi", r))
    q["reason_en"] = q["reason"].map(lambda r: REASONS.get(r, {}).get("en", r))
    queue = q.sort_values(["submitted_at", "feedback_id"], kind="stable")[QUEUE_COLUMNS].reset_index(drop=True)
    links = pd.DataFrame(link_rows, columns=["feedback_id", "record_id"])
    stats = {
        "as_of": as_of.isoformat(),
        "items": int(len(items)),
        "by_status": {k: int(v) for k, v in items["status"].value_counts().items()},
        "by_sla_state": {k: int(v) for k, v in items["sla_state"].value_counts().items()},
        "by_link_status": {k: int(v) for k, v in items["link_status"].value_counts().items()},
        "by_resolution": {k: int(v) for k, v in items["resolution"].value_counts().items()},
    }
    return FeedbackResult(items=items.reset_index(drop=True), queue=queue, links=links, stats=stats)


# --------------------------------------------------------------------------- files and CLI

def _read_optional(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.exists() else None


def load_inputs(data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the tables of a ``vax demo``-style folder for :func:`track_feedback`.

    ``DIR/data/{feedback,registry,vaccinations}.parquet``,
    ``DIR/match/matches.parquet`` (and ``model.json``),
    ``DIR/match-corrected/matches.parquet``, ``DIR/apply/changes.parquet`` and
    ``DIR/ledger.db`` when present.  The feedback file is imported with
    :func:`vaxlib.io.read_table` (Parquet, CSV in any encoding, xlsx); the
    registry and dose records too unless they are the pipeline's Parquet files.
    """
    from vaxlib.io import read_table

    d = Path(data_dir)
    data = d / "data" if (d / "data").is_dir() else d

    def table(stem: str, kind: str) -> pd.DataFrame:
        if kind != "feedback" and (data / f"{stem}.parquet").exists():
            # the pipeline's own contract tables (written by vax synth / vax apply): read as they are
            return pd.read_parquet(data / f"{stem}.parquet")
        for ext in (".parquet", ".csv", ".xlsx"):
            if (data / f"{stem}{ext}").exists():
                res = read_table(data / f"{stem}{ext}", kind)  # type: ignore[arg-type]
                if len(res.quarantine):
                    log.warning("%s: %d row(s) quarantined", f"{stem}{ext}", res.quarantine["row"].nunique())
                return res.table
        raise FileNotFoundError(f"{data}: no {stem}.parquet/.csv/.xlsx")

    out: dict[str, Any] = {
        "feedback": table("feedback", "feedback"),
        "registry": table("registry", "registry"),
        "vaccinations": table("vaccinations", "vaccinations"),
        "matches": pd.read_parquet(d / "match" / "matches.parquet"),
        "matches_current": _read_optional(d / "match-corrected" / "matches.parquet"),
        "changes": _read_optional(d / "apply" / "changes.parquet"),
        "decisions": None,
    }
    ledger = d / "ledger.db"
    if ledger.exists():
        from vaxlib.review.ledger import Ledger

        with Ledger.open(str(ledger), readonly=True) as led:
            out["decisions"] = led.current_decisions()
    return out


def run_feedback(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    settings: FeedbackSettings | None = None,
) -> FeedbackResult:
    """:func:`track_feedback` on a ``vax demo``-style folder; writes ``out_dir`` (default ``DIR/feedback``)."""
    inputs = load_inputs(data_dir)
    result = track_feedback(**inputs, settings=settings)
    out = Path(out_dir) if out_dir is not None else Path(data_dir) / "feedback"
    out.mkdir(parents=True, exist_ok=True)
    result.items.to_parquet(out / "feedback_status.parquet", index=False)
    result.queue.to_parquet(out / "queue.parquet", index=False)
    result.links.to_parquet(out / "feedback_links.parquet", index=False)
    (out / "feedback_summary.json").write_text(json.dumps(result.stats, indent=2, ensure_ascii=False),
                                                encoding="utf-8")
    return result


def _cmd_feedback(args: argparse.Namespace) -> int:
    from vaxlib.cli import CommandError

    settings = FeedbackSettings(sla_hours=args.sla_hours, batch_hours=args.batch_hours, as_of=args.as_of)
    try:
        result = run_feedback(args.data, args.out, settings)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    st = result.stats
    print(f"{st['items']:,} reports as of {st['as_of']}: "
          + ", ".join(f"{k}: {v:,}" for k, v in sorted(st["by_status"].items()))
          + "; SLA " + ", ".join(f"{k}: {v:,}" for k, v in sorted(st["by_sla_state"].items())))
    print(f"queue: {len(result.queue):,} open items -> {Path(args.out or Path(args.data) / 'feedback') / 'queue.parquet'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``vax feedback``."""
    p = subparsers.add_parser(
        "feedback", help="link citizens' feedback to persons and dose records, resolve or queue it",
        description="Reads DIR/data/feedback.parquet (and the match/apply outputs in DIR), writes "
                    "DIR/feedback/feedback_status.parquet and queue.parquet.")
    p.add_argument("--data", required=True, help="folder laid out like vax demo's (data/, match/, apply/, ...)")
    p.add_argument("--out", default=None, help="output folder (default DIR/feedback)")
    p.add_argument("--sla-hours", type=float, default=48.0, dest="sla_hours",
                   help="hours within which an item must be handled (Công văn 9458/BYT-CNTT: 48)")
    p.add_argument("--batch-hours", type=float, default=24.0, dest="batch_hours",
                   help="how often the feedback job runs (automatic resolutions are dated by it)")
    p.add_argument("--as-of", default=None, dest="as_of",
                   help="status date/time (YYYY-MM-DD = end of that day, VN time); default now")
    p.set_defaults(func=_cmd_feedback)
