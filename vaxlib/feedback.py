"""Citizens' feedback (phản ánh): link, read, answer claim by claim, resolve or queue, and track the SLA.

A citizen reports a problem on the vaccination portal (a dose missing from
the certificate, a misspelt name, the wrong vaccine, a dose recorded twice),
or asks a question.  A wrong closure tells a citizen their problem is solved
when it is not, so :func:`track_feedback` closes a report only when the data
answers every claim in it:

1. **link** — the report's typed name, date of birth, sex, ID number and phone
   go through the dose-record matcher (:func:`vaxlib.match.pipeline.run_match`)
   as if the report were one more dose record, against the register persons it
   could be paired with (:func:`candidate_mask`: the matcher's own blocking
   keys; the answers are the whole register's), with the model of the
   register's own match for what depends on the register (u, the namesake pi)
   and m and rho fitted on the reports' pairs in the same matcher pass
   (``run_match(refit=True)``).  Blank and placeholder numbers (``0``,
   ``không có``) are blanks; without a usable number the candidates
   come from the name and birth year, and an uncertain link is confirmed when
   the report's phone is on the verified dose records of exactly one person
   whose name and birth year fit.  A parent writing for a child (the parent's
   own details and number, the child's name in the message) reaches the
   child.  A report whose person is not in the register is ``no_person``; its
   own dose records (same number or phone) are linked for visibility;
2. **read** — :func:`vaxlib.complaints.understand.read_message` turns the
   message into claims (which doses, dates, products, fields, who); the
   system category is what the message asks about;
3. **answer** — questions and account problems are routed (never closed as
   fixed); a report stays open while its link is uncertain, while a record it
   concerns is undecided (``review``/``unmatched`` naming the person, or
   carrying the report's number or phone) or not yet verified after the
   fixes; otherwise :func:`vaxlib.complaints.answer.answer_claims` answers
   each claim against the consolidated history and the first unanswered
   claim is the queue reason.  A closed report gets a Vietnamese reply
   (what was found and done);
4. **SLA** — every item's due time, status, age at ``as_of``, owner facility
   (or support desk) and the overdue count per owner.  The Ministry asks that
   feedback be handled within 48 hours (Công văn 9458/BYT-CNTT, 2021, on
   handling citizens' feedback on vaccination data); the limit is a parameter.

Timestamps: every form the importer accepts; without a zone they are Viet Nam
time (UTC+07:00), a date alone is the start of that day.  A report whose time
cannot be read is quarantined with its row and reason, never dropped.  An
automatically resolved item is taken as resolved at the first run of the
feedback job after its submission (every ``batch_hours`` from midnight Viet
Nam time), never later than ``as_of``; an item of the review queue is
resolved by a ledger decision on one of its records taken after submission.

``vax feedback --data DIR`` (the ``vax demo`` folder layout) writes into
``DIR/feedback/``: ``feedback_status.parquet`` (one row per report, no
personal fields besides the register person id), ``queue.parquet`` (open
items with their reasons), ``feedback_links.parquet`` (feedback_id,
record_id), ``review_records.parquet`` (undecided records with the report
about them, for the review queue), ``replies.parquet`` (the reply per closed
report), ``overdue_by_facility.parquet`` and ``quarantine.parquet``.  The
register, dose records and match may be folders of ``part-*.parquet``
(``vax synth --partitioned``, ``vax match --engine dask``); only the rows the
reports can touch are read into pandas, a slice at a time
(:func:`load_inputs`), with the answers of the whole tables.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaxlib.errors import VaxError
from vaxlib.i18n import FEEDBACK_REASON_LABELS, FEEDBACK_RESOLUTION_LABELS
from vaxlib.vn.text import text_or_empty as _text  # missing values as ""

__all__ = [
    "FeedbackSettings",
    "TableMissingError",
    "RepeatedIdError",
    "FeedbackResult",
    "ITEM_COLUMNS",
    "QUEUE_COLUMNS",
    "REASONS",
    "RESOLUTIONS",
    "VN_TZ",
    "track_feedback",
    "link_feedback",
    "candidate_registry",
    "candidate_mask",
    "candidate_keys",
    "candidate_reasons",
    "RegisterStats",
    "usable_ids",
    "parse_timestamps",
    "sla_state",
    "load_inputs",
    "read_model",
    "read_feedback_run",
    "run_feedback",
    "register",
]

log = logging.getLogger(__name__)

#: Viet Nam time (no daylight saving)
VN_TZ = "+07:00"

#: why an item went to the review queue (wording in :mod:`vaxlib.i18n`)
REASONS: dict[str, dict[str, str]] = FEEDBACK_REASON_LABELS

#: how an item was resolved (wording in :mod:`vaxlib.i18n`)
RESOLUTIONS: dict[str, dict[str, str]] = FEEDBACK_RESOLUTION_LABELS
#: resolutions the job grants by itself (the others need a person)
AUTO_RESOLUTIONS = ("applied_fix", "consolidated_history", "already_recorded")

ITEM_COLUMNS = [
    "feedback_id", "submitted_at", "province", "category_citizen", "category_system", "intent",
    "link_status", "match_probability", "person_id", "candidate_person_id", "person_key", "n_records", "record_ids",
    "pending_record_ids", "status", "resolution", "reason", "unanswered", "owner", "owner_province", "resolved_at",
    "due_at",
    "age_hours", "sla_state", "resubmission_of",
]
QUEUE_COLUMNS = [
    "feedback_id", "submitted_at", "due_at", "age_hours", "overdue", "category_citizen",
    "category_system", "reason", "reason_vi", "reason_en", "unanswered", "owner", "person_id", "record_ids",
    "pending_record_ids", "province", "resubmission_of",
]
#: the Vietnamese reply to each automatically closed complaint (for the portal)
REPLY_COLUMNS = ["feedback_id", "reply_vi"]
#: undecided records with the complaint about them (for the review queue; join on record_id)
REVIEW_RECORD_COLUMNS = ["record_id", "record_status", "feedback_id", "submitted_at", "due_at", "overdue",
                         "category_system", "reason", "feedback_status"]
#: open and overdue complaints per owner (facility or support desk) for the report
OVERDUE_COLUMNS = ["owner", "owner_province", "open", "overdue", "oldest_age_hours"]

QUARANTINE_COLUMNS = ["stage", "feedback_id", "row", "column", "reason"]


class TableMissingError(VaxError, FileNotFoundError):
    """An input table of ``vax feedback`` is not in the data folder (worded in :mod:`vaxlib.i18n`)."""


class RepeatedIdError(VaxError, ValueError):
    """A ``feedback_id`` is in two parts of ``data/feedback/`` (worded in :mod:`vaxlib.i18n`)."""


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
    quarantine
        Reports that could not be handled (:data:`QUARANTINE_COLUMNS`: the
        feedback id, its row in the input, the column and the reason), so
        that input rows = items + reports after ``as_of`` + quarantined.
    replies
        :data:`REPLY_COLUMNS`: the Vietnamese reply per automatically closed item.
    review_records
        :data:`REVIEW_RECORD_COLUMNS`: undecided records with the complaint about them.
    overdue
        :data:`OVERDUE_COLUMNS`: open and overdue items per owner facility.
    """

    items: pd.DataFrame
    queue: pd.DataFrame
    links: pd.DataFrame
    stats: dict[str, Any]
    quarantine: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=QUARANTINE_COLUMNS))
    replies: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=REPLY_COLUMNS))
    review_records: pd.DataFrame = dataclasses.field(
        default_factory=lambda: pd.DataFrame(columns=REVIEW_RECORD_COLUMNS))
    overdue: pd.DataFrame = dataclasses.field(default_factory=lambda: pd.DataFrame(columns=OVERDUE_COLUMNS))


# --------------------------------------------------------------------------- time

def _timestamp_utc(value: Any) -> pd.Timestamp:
    """One submission time -> UTC, or NaT; see :func:`parse_timestamps`."""
    import datetime as _dt

    from vaxlib.io import _parse_timestamp  # the importer's reading: one implementation

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return pd.NaT
    if isinstance(value, (pd.Timestamp, _dt.datetime)):
        ts = pd.Timestamp(value)
    else:
        iso = _parse_timestamp(str(value))
        if iso is None:
            return pd.NaT
        try:
            ts = pd.Timestamp(_dt.datetime.fromisoformat(iso))
        except ValueError:
            return pd.NaT
    if ts.tzinfo is None:
        ts = ts.tz_localize(VN_TZ)
    return ts.tz_convert("UTC")


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Submission times -> UTC timestamps (NaT where unreadable).

    Every form the importer (:func:`vaxlib.io.read_table`) accepts is read:
    ISO 8601 with or without a zone, a date alone (``2022-04-20``: the start of
    that day), ``20/04/2022`` and ``20/04/2022 09:15``.  A time without a zone
    is Viet Nam time (UTC+07:00, no daylight saving).
    """
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    parsed = [_timestamp_utc(u) for u in uniques]
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if len(parsed):
        table = pd.Series(parsed, dtype="datetime64[ns, UTC]")
        taken = table.take(np.where(codes < 0, 0, codes)).to_numpy()
        out[:] = taken
        out[codes < 0] = pd.NaT
    return out


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

def _digits(s: pd.Series) -> pd.Series:
    return _text(s).str.replace(r"\D", "", regex=True)


_PLACEHOLDER_IDS = {"123456789", "0123456789", "123456789012", "012345678901"}


def usable_ids(values: pd.Series) -> pd.Series:
    """The digits of typed ID numbers, with blanks and placeholders as ``""``.

    Citizens who do not know or do not want to give their number type
    ``0``, ``000000000000``, ``123456789`` or ``không có``; such a value
    identifies nobody and must not be compared (nor used as a block key:
    an empty former CMND would otherwise "match" every blank).
    """
    d = _digits(values)
    placeholder = d.str.len().lt(8) | d.str.fullmatch(r"(\d)\1*").fillna(False) | d.isin(_PLACEHOLDER_IDS)
    return d.where(~placeholder, "")


def candidate_registry(feedback: pd.DataFrame, registry: pd.DataFrame, settings: Any = None) -> pd.DataFrame:
    """The rows of ``registry`` that :func:`candidate_mask` keeps (``settings``: the matcher's, for its
    block caps)."""
    return registry[candidate_mask(feedback, registry, candidate_keys(feedback, settings))]


def _match_records(feedback: pd.DataFrame) -> pd.DataFrame:
    """The reports as the dose records the matcher links (:func:`link_feedback`): ``record_id`` (the
    feedback id), name, dob, sex, number and phone; placeholder numbers (``0``, ``không có``) blank."""
    as_records = feedback.rename(columns={"feedback_id": "record_id"})
    if "id_number" in as_records:
        # placeholders ("0", "không có") are blanks to the matcher; a usable number stays as typed
        as_records = as_records.assign(
            id_number=as_records["id_number"].where(usable_ids(as_records["id_number"]).ne(""), None))
    keep = [c for c in ("record_id", "full_name", "dob", "sex", "id_number", "phone") if c in as_records.columns]
    return as_records[keep]


def _candidate_reasons_names() -> tuple[str, ...]:
    """The columns of :func:`candidate_reasons`: the matcher's blocking rules, ``number``, ``name_year_nearby``."""
    from vaxlib.match.blocking import RULES

    return tuple(RULES) + ("number", "name_year_nearby")


def candidate_keys(feedback: pd.DataFrame, settings: Any = None) -> dict[str, Any]:
    """The reports' side of :func:`candidate_mask`, computed once for a register tested a part at a time
    (the parts in the register's order, with this one object: it counts the rows kept per key).

    ``rules``: per blocking rule of the matcher, the reports' keys (the matcher's own key
    functions on the reports prepared as it prepares them: :func:`vaxlib.match.blocking.hashed_rule_keys`,
    two 64-bit hashes per key, and the ID pair masks); ``limit``: per rule, the matcher's block cap
    (``settings``: :class:`vaxlib.match.pipeline.MatchSettings`, default its defaults) + 1;
    ``seen``: per rule, the register rows kept so far per key; ``ids``: the usable numbers typed;
    ``name_years`` / ``any_year``: for reports without a usable number, (folded name, birth year +-1)
    and the names typed without a readable year.  The reports may lack any column (then that part is
    empty)."""
    from vaxlib.match.blocking import TEXT_RULES, hashed_rule_keys, id_pair_mask_keys
    from vaxlib.match.prepare import prepare_records
    from vaxlib.vn.dates import parse_dobs

    from vaxlib.match.pipeline import MatchSettings

    s = settings or MatchSettings()
    ids = set(usable_ids(feedback["id_number"])) - {""} if "id_number" in feedback else set()
    out: dict[str, Any] = {"ids": ids, "rules": {}, "name_years": set(), "any_year": set(),
                           "limit": {name: min(s.max_block, s.rule_max_block.get(name, s.max_block)) + 1
                                     for name in TEXT_RULES},
                           "seen": {name: pd.Series(dtype=np.float64) for name in TEXT_RULES}}
    if not len(feedback):
        return out
    rec = prepare_records(_match_records(feedback))
    memo: dict = {}
    for name in TEXT_RULES:
        ok, a, b = hashed_rule_keys(rec, "rec", name, memo)
        # chain A -> chain B of each key (two keys sharing chain A: about 2**-64, the second is left out)
        want = pd.Series(b[ok], index=a[ok])
        out["rules"][name] = (want[~want.index.duplicated()], None)
    masks = id_pair_mask_keys(rec["id_digits"].where(rec["id_digits"].str.len() == 12, ""))
    values = masks.to_numpy().ravel()
    out["rules"]["id_pair_mask"] = (pd.Index(np.unique(values[values != 0])), None)
    if "full_name" in feedback:
        # no usable number: the name and the birth year (+-1, a typed dob is often a day or a digit off)
        from vaxlib.vn.text import fold_key

        blank = usable_ids(feedback["id_number"]).eq("") if "id_number" in feedback else pd.Series(
            True, index=feedback.index)
        rest = feedback[blank]
        if len(rest):
            names = _text(rest["full_name"]).map(fold_key)
            years = parse_dobs(_text(rest["dob"]))["dob"].astype(object).map(
                lambda x: int(str(x)[:4]) if isinstance(x, str) and x[:4].isdigit() else None) \
                if "dob" in rest else pd.Series(None, index=rest.index)
            out["name_years"] = {(n, y + d) for n, y in zip(names, years) if y is not None for d in (-1, 0, 1)}
            out["any_year"] = {n for n, y in zip(names, years) if y is None}
    return out


def candidate_reasons(feedback: pd.DataFrame, registry: pd.DataFrame,
                      keys: dict[str, Any] | None = None, cache: dict | None = None) -> pd.DataFrame:
    """Per register row (``registry``'s index), why :func:`candidate_mask` keeps it: one bool column per
    blocking rule of the matcher (it shares that rule's key with a report), ``number`` (its CCCD or
    former CMND is a report's usable number) and ``name_year_nearby`` (its folded name and birth year +-1 are a
    report's without a usable number).  ``keys``: :func:`candidate_keys` of ``feedback`` (counting the rows
    kept per key: give the parts of one register in order, each once).  ``cache``: a dict kept for these
    register rows while several sets of reports are tested on them (the rows prepared and their keys
    hashed once)."""
    from vaxlib.match.blocking import TEXT_RULES, hashed_rule_keys, id_pair_mask_keys
    from vaxlib.match.prepare import prepare_registry
    from vaxlib.vn.text import fold_key, map_unique

    k = keys if keys is not None else candidate_keys(feedback)
    n = len(registry)
    out: dict[str, np.ndarray] = {}
    cache = {} if cache is None else cache
    if "reg" not in cache:
        cache["reg"], cache["memo"] = prepare_registry(registry), {}  # the matcher's own preparation, row by row
    reg, memo = cache["reg"], cache["memo"]
    for name in TEXT_RULES:
        hit = np.zeros(n, dtype=bool)
        want = k["rules"].get(name, (pd.Series(dtype=np.uint64), None))[0]
        if len(want) and n:
            ok, a, b = hashed_rule_keys(reg, "reg", name, memo)
            at = np.flatnonzero(ok & pd.Index(a).isin(want.index))
            at = at[want.reindex(a[at]).to_numpy() == b[at]]  # both 64-bit chains of the key
            # a block larger than the matcher's cap makes no pair: cap + 1 of its rows (the first in the
            # register's order) keep it over the cap in the pool too; a smaller block is kept whole
            key = pd.Series(a[at])
            before = key.map(k["seen"][name]).fillna(0).to_numpy()
            keep = before + key.groupby(key).cumcount().to_numpy() + 1 <= k["limit"][name]
            counts = key.value_counts()
            k["seen"][name] = k["seen"][name].add(counts, fill_value=0) if len(k["seen"][name]) else \
                counts.astype(np.float64)
            hit[at[keep]] = True
        out[name] = hit
    index = k["rules"].get("id_pair_mask", (pd.Index([]), None))[0]
    hit = np.zeros(n, dtype=bool)
    if len(index) and n:  # (blocks of 10 of 12 digits: small, kept whole)
        masks = id_pair_mask_keys(reg["person_id"])
        for c in masks.columns:
            v = masks[c].to_numpy()
            hit |= (v != 0) & pd.Index(v).isin(index)
    out["id_pair_mask"] = hit
    pid, old = reg["person_id"], reg["old_id"]
    out["number"] = (pid.isin(k["ids"]) | (old.ne("") & old.isin(k["ids"]))).to_numpy()
    hit = np.zeros(n, dtype=bool)
    if (k["name_years"] or k["any_year"]) and n:
        if "rname" not in cache:
            cache["rname"] = map_unique(reg["full_name"], fold_key)
            cache["ryear"] = pd.to_numeric(reg["dob"].str[:4], errors="coerce").fillna(-1).astype(int)
        rname, ryear = cache["rname"], cache["ryear"]
        if k["name_years"]:
            pairs = pd.MultiIndex.from_arrays([rname.to_numpy(dtype=object), ryear.to_numpy()])
            hit |= pairs.isin(list(k["name_years"]))
        hit |= rname.isin(k["any_year"]).to_numpy()
    out["name_year_nearby"] = hit
    return pd.DataFrame(out, index=registry.index)[list(_candidate_reasons_names())]


def candidate_mask(feedback: pd.DataFrame, registry: pd.DataFrame, keys: dict[str, Any] | None = None,
                   cache: dict | None = None) -> pd.Series:
    """Which register persons a report could be linked to: every person the matcher could pair
    with a report against the whole register, and the owners of the numbers typed.

    A register row is kept when it shares a blocking key of the matcher
    (:mod:`vaxlib.match.blocking`: ID, former CMND, ID with two adjacent
    digits masked, folded name + date of birth, name + year, sorted name
    tokens + year, family name + date of birth, ...) with any report, when its
    CCCD or former CMND is a report's usable number, or (for a report without
    a usable number) when its folded name and birth year +-1 are the report's.
    The reports' keys are computed by the matcher's own functions on the
    reports prepared as the matcher prepares them (:func:`candidate_keys`), the
    register's by the same functions on its rows.

    * The pool does not grow with the register for a fixed set of reports:
      a person is kept for what they share with a report, not for a date of
      birth every large register holds (the rule "same date of birth as any
      report" kept 96.6 % of a 10M register), and a block too large for the
      matcher is not kept whole.
    * Every pair the matcher forms against the whole register is formed
      against the pool, and no other: a block of at most the matcher's cap
      (``max_block``, ``rule_max_block``) that a report's key names is kept
      whole, so its size is exact; of a larger block, which the matcher skips,
      the first cap + 1 rows are kept, so the pool's block is over the cap and
      skipped too (rows kept for other reasons only make it larger).
    * Row by row on the register side but for that count (the reports' keys
      are a union; the rows kept per key are counted in the register's order),
      so a register read part by part, in order, gives the same rows.
    * A parent writing for a child: the caller adds the child's name and
      date of birth read from the message as one more report
      (:func:`_narrowed_inputs`).

    ``keys``: :func:`candidate_keys` of ``feedback``, when the register is tested a part at a time (the
    parts in order, each once: it counts the rows kept per key); ``cache``: as :func:`candidate_reasons`'s.
    """
    return pd.Series(candidate_reasons(feedback, registry, keys, cache).to_numpy().any(axis=1),
                     index=registry.index)


@dataclasses.dataclass
class RegisterStats:
    """What linking needs of a register that is not all in memory (:func:`load_inputs` narrows it).

    Attributes
    ----------
    n
        Persons in the whole register.
    counts
        ``_tf_name`` / ``_tf_dob`` -> persons of the whole register per folded
        name / typed date of birth (:func:`_frequency_keys`), at least for every
        value the kept rows carry.
    """

    n: int
    counts: dict[str, pd.Series]


def _frequency_keys(df: pd.DataFrame) -> dict[str, pd.Series]:
    """The values term frequencies are counted on: the folded name and the date of birth as typed."""
    from vaxlib.vn.text import fold_key, map_unique

    return {"_tf_name": map_unique(_text(df["full_name"]), fold_key), "_tf_dob": _text(df["dob"])}


def _with_register_frequencies(cands: pd.DataFrame, registry: pd.DataFrame,
                               register: RegisterStats | None = None) -> pd.DataFrame:
    """``cands`` with the term frequencies of the *whole* register (``_tf_name``, ``_tf_dob``).

    The candidates were chosen by name and date of birth, so within them every
    report's name and date are common: frequencies counted there would price an
    agreement on a rare name as on Nguyễn Văn Hùng.  The matcher keeps
    frequencies it finds on the register it is given
    (:func:`vaxlib.match.model.add_term_frequencies`).  ``register``: the whole
    register's counts when ``registry`` is only part of it.
    """
    n = max(register.n if register is not None else len(registry), 1)
    out = cands.copy()
    whole = register.counts if register is not None else _frequency_keys(registry)
    mine_keys = _frequency_keys(cands)
    for column in ("_tf_name", "_tf_dob"):
        counts = whole[column] if register is not None else whole[column].value_counts()
        mine = mine_keys[column]
        out[column] = (mine.map(counts).fillna(1) / n).where(mine.ne(""), 1.0).to_numpy(dtype=float)
    return out


def link_feedback(
    feedback: pd.DataFrame,
    registry: pd.DataFrame,
    settings: Any = None,
    model: Any = None,
    *,
    prefilter: bool | None = None,
    register: RegisterStats | None = None,
    pool: Any = None,
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
        A fitted :class:`vaxlib.match.model.FSModel`: the register's own match's
        (``match/model.json``, :func:`read_model`), so that nothing the link
        estimates depends on which register rows it is given.  None: a model is
        fitted on the reports against the whole ``registry`` (no prefilter then);
        against a narrowed register (``register`` given) without a model, on the
        candidates, whose estimates (u, namesake pi, rho) then depend on them.
    prefilter
        Match against :func:`candidate_registry` only, with the prior odds of
        the whole register (``n_registry`` of :func:`vaxlib.match.pipeline.run_match`)
        and its term frequencies; None: when the register has more than 5 000
        persons.  With a model the answers are those of the whole register:
        the candidates hold every pair the matcher forms against it, with
        exact block sizes (``tests/test_feedback_pool.py``).
    register
        When ``registry`` is only the rows of a larger register that
        :func:`load_inputs` kept (every candidate row of these reports, and
        more): that register's size and term frequencies; ``registry`` is then
        the pool as it is.  The answer is the one the whole register gives.
    pool
        With ``register``: rows of ``registry`` that hold every candidate of
        these reports (:func:`load_inputs` finds the children named in reports
        while it reads the register): the candidates are taken from them, not
        from the whole narrowed register, which is not prepared again.

    Returns
    -------
    DataFrame
        ``feedback_id, link_status`` (the matcher's status), ``person_id``,
        ``match_probability``, ``error_codes``, in the order of ``feedback``.
    """
    from vaxlib.match.pipeline import run_match

    records = _match_records(feedback)
    # m and rho are fitted on the reports' own pairs in the link's one matcher pass, u and the namesake
    # pi held from the register's match (run_match's refit: what depends on which register rows are
    # given comes from the whole register; citizens type their details otherwise than vaccination
    # staff, and with the match's m and rho reports without a number fell to review: 100k seed 5,
    # person link accuracy without a number 0.995 -> 0.989).  Reports with a repeated id keep the
    # register's model as it is.
    held = len(records) > 0 and pd.Index(_text(records["record_id"])).is_unique
    n_register = register.n if register is not None else len(registry)
    narrowed = register is not None and register.n != len(registry)
    if prefilter is None:
        prefilter = n_register > 5000
    if narrowed and not prefilter:
        raise ValueError("a narrowed register is only matched through its candidates (prefilter)")
    if prefilter and model is None and not narrowed:
        prefilter = False  # the whole register is here: the model is fitted on it, not on a subset
    if prefilter:
        # a narrowed register holds every candidate already (load_inputs keeps them), and rows beyond the
        # candidates change no pair (a block under the cap is whole in it, one over the cap stays over it):
        # it is the pool as it is, unless it is far larger than these reports need (the children named in
        # the reports: a few hundred against the candidates of all reports), then masked again
        rows = pool if pool is not None and narrowed else registry  # (pool: these reports' candidates are in it)
        pool = rows if narrowed and len(rows) <= 100 * len(feedback) else candidate_registry(
            feedback, rows, settings)
        reg = _with_register_frequencies(pool, registry, register)
        if len(reg) == 0:
            reg = registry.iloc[:1]
        refit = model is not None and held
        if model is None:
            # no model of the register's match: fitted on the candidates (their u, pi and rho)
            log.warning("feedback: no model of the register's match; the link's model is fitted on "
                        "%d candidate persons", len(reg))
            model = run_match(reg, records, settings, progress=lambda _: None, n_registry=n_register).model
            model.n_registry = n_register
        result = run_match(reg, records, settings, model=model, progress=lambda _: None, n_registry=n_register,
                           refit=refit)
    else:
        if model is not None:
            # the term frequencies the pool gets (_with_register_frequencies), for the same answers
            registry = _with_register_frequencies(registry, registry)
        result = run_match(registry, records, settings, model=model, progress=lambda _: None,
                           refit=model is not None and held)
    m = result.matches
    return pd.DataFrame({
        "feedback_id": m["record_id"].to_numpy(dtype=object),
        "link_status": m["status"].to_numpy(dtype=object),
        "person_id": m["person_id"].to_numpy(dtype=object),
        "match_probability": m["match_probability"].to_numpy(dtype=float),
        "error_codes": m["error_codes"].to_numpy(dtype=object),
    })


def _history_findings(records: pd.DataFrame, duplicate_days: int) -> dict[str, Any]:
    """What a person's consolidated dose history shows (records: dose_number, date)."""
    doses = [int(x) for x in records["dose_number"].to_numpy(dtype=object) if str(x).strip().isdigit()]
    days = sorted(d for d in pd.to_datetime(pd.Series(records["vaccination_date"].to_numpy(dtype=object)),
                                            errors="coerce") if pd.notna(d))
    gap = bool(doses) and bool(set(range(1, max(doses) + 1)) - set(doses))
    close = any((b - a).days < duplicate_days for a, b in zip(days, days[1:]))
    dup = len(doses) != len(set(doses)) or close
    return {"gap": gap, "duplicate": dup, "max_dose": max(doses) if doses else 0}


#: the columns of the dose records the job reads
_RECORD_COLUMNS = ["record_id", "dose_number", "vaccination_date", "vaccine", "facility_id", "facility_province",
                   "id_number", "phone"]
_CODE_FIELD = {"id": "id", "name": "name", "dob": "dob", "sex": "sex"}
_CHANGE_FIELD = {"full_name": "name", "dob": "dob", "sex": "sex", "id_number": "id"}


def _record_table(vaccinations: pd.DataFrame, matches: pd.DataFrame, current: pd.DataFrame,
                  changes: pd.DataFrame | None) -> pd.DataFrame:
    """One row per dose record: its state now and before the fixes, and what the fixes changed."""
    from vaxlib.vaccines import normalise_vaccine
    from vaxlib.vn.phones import normalise_phones

    cur = current[["record_id", "status", "person_id", "person_key"]].copy()
    cur["record_id"] = cur["record_id"].astype(str)
    first = matches[["record_id", "status", "error_codes"]].rename(
        columns={"status": "status_first", "error_codes": "codes_first"})
    first["record_id"] = first["record_id"].astype(str)
    vcols = _RECORD_COLUMNS
    v = vaccinations[[c for c in vcols if c in vaccinations.columns]].copy()
    v["record_id"] = v["record_id"].astype(str)
    rec = cur.merge(v, on="record_id", how="left").merge(first, on="record_id", how="left")
    for c in vcols:
        if c not in rec:
            rec[c] = None
    rec["person_id"] = rec["person_id"].astype(object).where(rec["person_id"].notna(), None)
    products = {t: normalise_vaccine(t) for t in pd.unique(_text(rec["vaccine"]))}
    rec["product"] = _text(rec["vaccine"]).map(products)
    rec["id_digits"] = _digits(rec["id_number"])
    rec["phone_norm"] = normalise_phones(_text(rec["phone"]))
    codes = _text(rec["codes_first"])
    fields: dict[str, set[str]] = {}
    for rid, cs in zip(rec["record_id"], codes):
        if cs:
            fields[rid] = {_CODE_FIELD[c.split(":")[0]] for c in cs.split(";") if c.split(":")[0] in _CODE_FIELD}
    changed: set[str] = set()
    if changes is not None and len(changes):
        ch = changes.assign(record_id=changes["record_id"].astype(str))
        changed = set(ch["record_id"])
        if "field" in ch:
            for rid, f in zip(ch["record_id"], ch["field"].astype(str)):
                if f in _CHANGE_FIELD:
                    fields.setdefault(rid, set()).add(_CHANGE_FIELD[f])
    rec["fixed_fields"] = rec["record_id"].map(lambda r: frozenset(fields.get(r, ())))
    # plain object columns: the job takes a few rows per complaint, which Arrow strings make slow
    for c in rec.columns:
        if rec[c].dtype != object and not pd.api.types.is_numeric_dtype(rec[c]) and not pd.api.types.is_bool_dtype(
                rec[c]):
            rec[c] = rec[c].astype(object).where(rec[c].notna(), None)
    rec["was_wrong"] = (rec["status_first"].isin(["fix", "review", "unmatched", "invalid"]) | codes.ne("")
                        | rec["record_id"].isin(changed)).to_numpy()
    return rec


def _identity_doubt(typed: str, person: pd.Series | None, owner: str | None, own_ids: set[str],
                    subject: str) -> bool:
    """True when the typed number speaks against the linked person (a namesake outside the register).

    The number is fine when it is the person's (CCCD or former CMND), one
    typo away from it, seen on the person's own dose records, or -- for a
    report about a child or relative -- a register person's (the writer's).
    """
    from vaxlib.complaints.understand import _edit1

    if not typed or person is None:
        return False
    pid, old = str(person["person_id"]), str(person.get("old_id") or "")
    if typed in (pid, old) or typed in own_ids or _edit1(typed, pid) or (old and _edit1(typed, old)):
        return False
    if owner is not None:
        return subject == "self"
    return True


def _pending_records(rec: pd.DataFrame, candidates: pd.DataFrame | None) -> dict[str, list[str]]:
    """Register person -> records still undecided (``review``/``unmatched``) that name them as a candidate."""
    open_rec = rec[rec["status"].isin(["review", "unmatched"])]
    out: dict[str, list[str]] = {}
    for rid, pid in zip(open_rec["record_id"], open_rec["person_id"]):
        if pid:
            out.setdefault(str(pid), []).append(rid)
    if candidates is not None and len(candidates):
        c = candidates[candidates["record_id"].astype(str).isin(set(open_rec["record_id"]))]
        for rid, pid in zip(c["record_id"].astype(str), c["person_id"].astype(str)):
            lst = out.setdefault(pid, [])
            if rid not in lst:
                lst.append(rid)
    return out


def _owner(records: pd.DataFrame) -> str:
    """The facility that must act: the one that entered the latest of these records."""
    best: tuple[str, str] | None = None
    for fac, day in zip(records["facility_id"].to_numpy(dtype=object), records["vaccination_date"].to_numpy(dtype=object)):
        if isinstance(fac, str) and fac and (best is None or str(day) >= best[0]):
            best = (str(day), fac)
    return best[1] if best else ""


class _Groups:
    """``df`` grouped by ``key``, a group taken only when asked for (most persons never write in)."""

    def __init__(self, df: pd.DataFrame, key: str) -> None:
        self.df = df
        self.pos = df.groupby(key, sort=False).indices

    def get(self, k: Any, default: pd.DataFrame) -> pd.DataFrame:
        p = self.pos.get(k)
        return self.df.iloc[p] if p is not None else default


def _name_fits(typed: str, registered: str) -> bool:
    """Most of the typed name's syllables (folded) are in the registered name."""
    from vaxlib.vn.text import fold_key

    a, b = fold_key(typed or "").split(), set(fold_key(registered or "").split())
    return bool(a) and sum(w in b for w in a) >= max(2, int(0.6 * len(a) + 0.999))


def _confirm_by_phone(fb: pd.DataFrame, registry: pd.DataFrame, rec: pd.DataFrame) -> pd.DataFrame:
    """A complaint the matcher is unsure of (no usable number, a typo in the dob or name) is linked
    when its phone is on the dose records of exactly one person whose name and birth year fit.

    The register has no phones; the person's own verified dose records do.
    A namesake outside the register has another phone, so this never links
    them to the register namesake.
    """
    from vaxlib.vn.dates import parse_dobs

    conf = rec[rec["status"].isin(["verified", "fix"]) & rec["person_id"].notna() & rec["phone_norm"].notna()]
    persons_of_phone = conf.groupby("phone_norm")["person_id"].agg(lambda x: sorted(set(x))).to_dict()
    unsure = fb["link_status"].isin(["review", "unmatched"]) & fb["phone_norm"].notna()
    if not unsure.any() or not persons_of_phone:
        return fb
    reg = registry.assign(person_id=_text(registry["person_id"])).set_index("person_id")
    years = parse_dobs(_text(fb["dob"]))["dob"].astype(object)
    fb = fb.copy()
    for i in np.flatnonzero(unsure.to_numpy()):
        persons = persons_of_phone.get(fb.at[i, "phone_norm"], [])
        y = years.iat[i][:4] if isinstance(years.iat[i], str) else None
        fits = [p for p in persons if p in reg.index and _name_fits(str(fb.at[i, "full_name"]), reg.at[p, "full_name"])
                and (y is None or not str(reg.at[p, "dob"])[:4].isdigit()
                     or abs(int(str(reg.at[p, "dob"])[:4]) - int(y)) <= 1)]
        if len(fits) == 1:
            fb.at[i, "person_id"], fb.at[i, "link_status"] = fits[0], "fix"
    return fb


def _link_children(fb: pd.DataFrame, claims: list, registry: pd.DataFrame, rec: pd.DataFrame,
                   match_settings: Any, register: RegisterStats | None = None,
                   model: Any = None, pool: Any = None) -> dict[str, tuple[str | None, str]]:
    """feedback_id -> (child's register person, link status) for complaints a parent writes for a child
    (or anyone for a relative).

    The child is found, in this order: among the persons whose dose records
    were typed with the number the parent gave (a child's dose entered under
    a parent's CCCD), by the name in the message; by the child's name and
    date of birth in the message, through the matcher; or, when the parent's
    number was typed on one other person's records only (and the report is
    about a child), that person.  ``pool``: as :func:`link_feedback`'s.
    """
    from vaxlib.complaints.understand import child_named
    from vaxlib.vn.text import fold_key

    out: dict[str, tuple[str | None, str]] = {}
    about = [i for i, c in enumerate(claims) if c.subject in ("child", "relative")]
    # the numbers these reports give (typed, or the writer's person) -> the persons of the confirmed
    # records typed with each, found in one pass over the records (not one per report)
    given = {v for i in about for v in (fb["typed_id"].iat[i], fb["person_id"].iat[i])
             if isinstance(v, str) and v}
    conf = rec[rec["status"].isin(["verified", "fix"]) & rec["person_id"].notna() & rec["id_digits"].isin(given)]
    on_number: dict[str, list[Any]] = {}
    for d, p in zip(conf["id_digits"].to_numpy(dtype=object), conf["person_id"].to_numpy(dtype=object)):
        on_number.setdefault(d, []).append(p)
    names: dict[str, str] = {}
    folded: dict[str, str] = {}

    def reg_name(pid: str) -> str | None:
        if not names:  # (when first asked; a name folded only when a child's is compared with it)
            names.update(zip(_text(registry["person_id"]), _text(registry["full_name"])))
        name = names.get(pid)
        if name is not None and name not in folded:
            folded[name] = fold_key(name)
        return None if name is None else folded[name]

    to_match = []
    for i in about:
        c = claims[i]
        it = fb.iloc[i]
        fid = str(it["feedback_id"])
        named = child_named(it["message"])
        parent = it["person_id"] if isinstance(it["person_id"], str) else None
        numbers = {it["typed_id"], parent} - {None, ""}
        kids = sorted({str(p) for n in numbers for p in on_number.get(n, ()) if p not in numbers})
        if named:
            same = [k for k in kids if reg_name(k) == fold_key(named[0])]
            if len(same) == 1:
                out[fid] = (same[0], "fix")
                continue
            to_match.append({"feedback_id": fid, "full_name": named[0], "dob": named[1] or None, "sex": None,
                             "id_number": None, "phone": it["phone"]})
        if len(kids) == 1 and c.subject == "child":
            out[fid] = (kids[0], "fix")
    if to_match:
        link = link_feedback(pd.DataFrame(to_match), registry, match_settings, model, register=register,
                             pool=pool).set_index("feedback_id")
        for fid, row in link.iterrows():
            if fid not in out and row["link_status"] in ("verified", "fix", "review") and isinstance(row["person_id"], str):
                out[fid] = (row["person_id"], row["link_status"])
    return out


def _whom(fb: pd.DataFrame, registry: pd.DataFrame, rec: pd.DataFrame, match_settings: Any,
          register: RegisterStats | None, model: Any = None,
          pool: Any = None) -> tuple[pd.DataFrame, list, dict[str, tuple[str | None, str]]]:
    """(the linked reports with their phone confirmations, the claims of each, the children's links)."""
    from vaxlib.complaints.understand import read_message

    fb = _confirm_by_phone(fb, registry, rec)
    all_claims = [read_message(str(m) if isinstance(m, str) else "") for m in fb["message"]]
    return fb, all_claims, _link_children(fb, all_claims, registry, rec, match_settings, register, model, pool)


def _received(feedback: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(the reports received by ``as_of`` with their UTC ``submitted`` time, the quarantine, which rows
    came after ``as_of``)."""
    fb = feedback.reset_index(drop=True).copy()
    fb.attrs = {}  # pandas deep-copies attrs on every operation: keep the import quarantine out of the way
    fb["submitted"] = parse_timestamps(fb["submitted_at"])
    bad_time = fb["submitted"].isna()
    quarantine = pd.DataFrame({
        "stage": "feedback", "feedback_id": _text(fb.loc[bad_time, "feedback_id"]).to_numpy(dtype=object),
        "row": np.flatnonzero(bad_time.to_numpy()).astype(np.int64),
        "column": "submitted_at", "reason": "bad_submitted_at"}, columns=QUARANTINE_COLUMNS)
    imported = feedback.attrs.get("import_quarantine")
    if imported is not None and len(imported):
        # rows the importer could not accept: carried into this run's count, never dropped
        quarantine = pd.concat([imported.assign(stage="import", feedback_id=None)[QUARANTINE_COLUMNS], quarantine],
                               ignore_index=True)
    if len(quarantine):
        log.warning("feedback: %d report(s) quarantined", len(quarantine))
    later = ~bad_time & (fb["submitted"] > as_of)
    fb = fb[~bad_time & ~later].reset_index(drop=True)
    for c in ("full_name", "dob", "sex", "id_number", "phone", "category", "message"):
        if c not in fb:
            fb[c] = None
    return fb, quarantine, later


def track_feedback(
    feedback: pd.DataFrame,
    registry: pd.DataFrame,
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    *,
    matches_current: pd.DataFrame | None = None,
    changes: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    candidates: pd.DataFrame | None = None,
    settings: FeedbackSettings | None = None,
    match_settings: Any = None,
    model: Any = None,
    register: RegisterStats | None = None,
    link: pd.DataFrame | None = None,
    link_pool: Any = None,
) -> FeedbackResult:
    """Link, read, answer claim by claim, resolve or queue every report, and its SLA state.

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
    candidates
        The current match's ``candidates.parquet`` (``record_id, person_id``),
        or None: an undecided record whose candidates include the person keeps
        that person's complaints open.
    settings
        :class:`FeedbackSettings`.
    match_settings, model
        Passed to :func:`link_feedback`.
    register
        The whole register's size and frequencies when ``registry``,
        ``vaccinations``, ``matches``, ``matches_current`` and ``candidates``
        hold only the rows the reports can touch (:func:`load_inputs`);
        passed to :func:`link_feedback`.
    link
        :func:`link_feedback` of the received reports, when already computed
        (by :func:`load_inputs`, which needs it to know which rows to keep).
    link_pool
        The register rows holding every candidate of the children named in the
        reports (:func:`load_inputs` finds them while it reads the register):
        ``pool`` of the children's :func:`link_feedback`.

    Returns
    -------
    FeedbackResult
    """
    from vaxlib.complaints.answer import ROUTED, answer_claims, reply_text
    from vaxlib.vaccines import BY_CODE
    from vaxlib.vn.phones import normalise_phones

    s = settings or FeedbackSettings()
    as_of = _as_of(s.as_of)
    fb, quarantine, later = _received(feedback, as_of)

    current = matches_current if matches_current is not None else matches
    if link is None:
        link = link_feedback(fb, registry, match_settings, model, register=register) if len(fb) else pd.DataFrame(
            columns=["feedback_id", "link_status", "person_id", "match_probability", "error_codes"])
    fb = fb.merge(link, on="feedback_id", how="left")
    fb["typed_id"] = usable_ids(fb["id_number"])
    fb["phone_norm"] = normalise_phones(_text(fb["phone"]))

    rec = _record_table(vaccinations, matches, current, changes)
    hist_of = _Groups(rec[rec["person_id"].notna() & rec["status"].isin(["verified", "fix", "review"])], "person_id")
    pending_of = _pending_records(rec, candidates)
    open_rec = rec[~rec["status"].isin(["verified", "fix"])]
    open_by_id = open_rec[open_rec["id_digits"].str.len() >= 8].groupby("id_digits")["record_id"].apply(list).to_dict()
    open_by_phone = open_rec[open_rec["phone_norm"].notna()].groupby("phone_norm")["record_id"].apply(list).to_dict()
    key_by_id = dict(zip(open_rec["id_digits"], open_rec["person_key"]))
    key_by_phone = dict(zip(open_rec["phone_norm"].dropna(), open_rec.loc[open_rec["phone_norm"].notna(), "person_key"]))
    by_key = _Groups(rec.assign(person_key=rec["person_key"].astype(str)), "person_key")
    rec_by_id = rec.set_index("record_id", drop=False)
    # records typed with a register number that now belong, verified, to somebody else
    moved = rec[rec["status"].eq("verified") & rec["id_digits"].ne("") & (rec["id_digits"] != rec["person_id"].astype(str))]
    moved_away = moved.groupby("id_digits")["record_id"].apply(list).to_dict()
    reg = registry.assign(person_id=_text(registry["person_id"]),
                          old_id=_text(registry["old_id"]) if "old_id" in registry else "")
    reg_by_pid = reg.set_index("person_id", drop=False)
    owner_of_number = {**{o: p for o, p in zip(reg["old_id"], reg["person_id"]) if o},
                       **dict(zip(reg["person_id"], reg["person_id"]))}
    reg_province = dict(zip(reg["person_id"], _text(reg["province_code"]))) if "province_code" in reg else {}

    dec = None
    if decisions is not None and len(decisions):
        dec = decisions[decisions["action"].isin(["accept", "bulk_accept", "edit", "reject"])].copy()
        dec["record_id"] = dec["record_id"].astype(str)
        dec["time"] = parse_timestamps(dec["time"])
        dec = dec.groupby("record_id")["time"].max()
    names = {p.code: p.display for p in BY_CODE.values()}
    facility_province = dict(zip(_text(rec["facility_id"]), _text(rec["facility_province"])))

    fb, all_claims, children = _whom(fb, registry, rec, match_settings, register, model, link_pool)

    rows, link_rows, replies = [], [], []
    t0 = time.perf_counter()
    for i, it in enumerate(fb.itertuples(index=False)):
        if i and i % 10_000 == 0:
            log.info("feedback: %d of %d reports answered (%.0f s)", i, len(fb), time.perf_counter() - t0)
        fid = str(it.feedback_id)
        claims = all_claims[i]
        status_link = it.link_status if isinstance(it.link_status, str) else "unmatched"
        pid = it.person_id if isinstance(it.person_id, str) and it.person_id else None
        if status_link not in ("verified", "fix", "review"):
            pid = None
        if claims.subject in ("child", "relative"):
            # the writer's own details (and often number) are the parent's: the complaint is the child's
            pid, status_link = children.get(fid, (None, "review"))
        candidate = pid if status_link == "review" else None
        typed, phone = it.typed_id, it.phone_norm if isinstance(it.phone_norm, str) else None
        person = reg_by_pid.loc[pid] if pid is not None and pid in reg_by_pid.index else None
        hist_all = hist_of.get(pid, rec.iloc[0:0]) if pid else rec.iloc[0:0]
        key = pid
        if pid is None:
            # not a register person: their own dose records (same ID number or phone) stay visible
            key = key_by_id.get(typed) if typed else None
            key = key or (key_by_phone.get(phone) if phone else None)
            hist_all = by_key.get(str(key), rec.iloc[0:0]) if key else rec.iloc[0:0]
        # undecided records about this complaint: naming the person, or carrying the typed number/phone
        pend = list(pending_of.get(pid, [])) if pid else []
        for r in (open_by_id.get(typed, []) if typed else []) + (open_by_phone.get(phone, []) if phone else []):
            if r not in pend:
                pend.append(r)
        if pid is None:
            pend = [r for r in pend if r not in set(hist_all["record_id"])] + list(
                hist_all.loc[~hist_all["status"].isin(["verified", "fix"]), "record_id"])
        hist = hist_all[hist_all["status"].isin(["verified", "fix"])] if pid else hist_all.iloc[0:0]
        unfixed = bool(len(hist)) and not hist["status"].eq("verified").all()
        own_ids = set(hist["id_digits"]) if len(hist) else set()
        doubt = _identity_doubt(typed, person, owner_of_number.get(typed), own_ids, claims.subject)
        fixed_records = set(hist.loc[hist["was_wrong"], "record_id"]) if len(hist) else set()
        fixed_fields = set().union(*hist["fixed_fields"]) if len(hist) else set()
        citizen = str(it.category) if isinstance(it.category, str) else "other"
        system = claims.category
        if claims.subject == "child" and "id" in fixed_fields and system == "missing_dose":
            system = "wrong_personal_info"  # the child's dose was entered under a parent's number

        verdict = None
        if claims.intent in ROUTED:
            reason = ROUTED[claims.intent][0]
        elif pid is None:
            # a child not identified is not "outside the register"
            reason = "uncertain_link" if claims.subject != "self" else "no_person"
        elif status_link == "review" or doubt:
            reason = "uncertain_link"
        elif pend:
            reason = "records_pending"
        elif unfixed:
            reason = "records_not_verified"
        elif _history_findings(hist, s.duplicate_days)["duplicate"] and claims.intent != "not_mine":
            reason = "duplicate_record"
        else:
            verdict = answer_claims(claims, hist, fixed_fields=fixed_fields, fixed_records=fixed_records,
                                    moved_away=moved_away.get(str(person["person_id"]), []) + moved_away.get(
                                        str(person.get("old_id") or "-"), []))
            reason = verdict.reason
        resolution = verdict.resolution if verdict is not None else None
        if resolution is not None:
            reason = None
        unanswered = (verdict.unanswered if verdict is not None and verdict.resolution is None
                      else ("" if resolution else reason))

        rids = sorted(set(hist_all["record_id"]) | set(pend) | set(verdict.concerned if verdict else []))
        for r in rids:
            link_rows.append((fid, r))
        province = reg_province.get(pid, "") if pid else ""
        if not province and len(hist_all):
            fp = _text(hist_all["facility_province"])
            fp = fp[fp.ne("")]
            province = str(fp.mode().iloc[0]) if len(fp) else ""
        if claims.intent in ROUTED:
            owner = ROUTED[claims.intent][1]
        elif pend:
            owner = _owner(rec_by_id.loc[pend])
        elif verdict is not None and verdict.concerned:
            owner = _owner(rec_by_id.loc[[r for r in verdict.concerned if r in rec_by_id.index]])
        else:
            owner = _owner(hist_all) if len(hist_all) else (f"province:{province}" if province else "")
        resolved_at = pd.NaT
        if resolution is not None:
            resolved_at = "auto"
            local = it.submitted.tz_convert(VN_TZ)
            replies.append((fid, reply_text(fid, local.strftime("%Y-%m-%d"), verdict, hist, names)))
        elif dec is not None and rids:
            times = dec.reindex(rids).dropna()
            times = times[times >= it.submitted]
            if len(times) and times.max() <= as_of and not claims.intent in ROUTED:
                resolution, reason, resolved_at = "review_decision", None, times.max()
        rows.append({
            "feedback_id": fid, "submitted": it.submitted, "province": province,
            "category_citizen": citizen, "category_system": system, "intent": claims.intent,
            "link_status": status_link,
            "match_probability": float(it.match_probability) if pd.notna(it.match_probability) else 0.0,
            # a link the typed number speaks against is a candidate, not the person
            "person_id": pid if status_link in ("verified", "fix") and not doubt else None,
            "candidate_person_id": pid if doubt and candidate is None else candidate,
            "person_key": key, "n_records": len(rids), "record_ids": ";".join(rids),
            "pending_record_ids": ";".join(sorted(pend)),
            "status": "resolved" if resolution else "in_review", "resolution": resolution, "reason": reason,
            "unanswered": unanswered or "", "owner": owner, "owner_province": facility_province.get(owner, ""),
            "resolved_at": resolved_at,
        })

    items = pd.DataFrame(rows, columns=[
        "feedback_id", "submitted", "province", "category_citizen", "category_system", "intent", "link_status",
        "match_probability", "person_id", "candidate_person_id", "person_key", "n_records", "record_ids",
        "pending_record_ids", "status", "resolution", "reason", "unanswered", "owner", "owner_province",
        "resolved_at"])
    if items.empty:  # no complaints: the time columns still need their dtype for the SLA arithmetic below
        items["submitted"] = pd.to_datetime(items["submitted"], utc=True)
    auto = items["resolved_at"].astype(object).eq("auto")
    run_time = _next_run(items["submitted"], s.batch_hours) if len(items) else items["submitted"]
    resolved_at = pd.to_datetime(items["resolved_at"].where(~auto, None), utc=True)
    resolved_at = resolved_at.where(~auto, run_time.where(run_time <= as_of, as_of))
    items["resolved_at"] = resolved_at
    items["due_at"] = items["submitted"] + pd.Timedelta(hours=s.sla_hours)
    end = items["resolved_at"].where(items["status"].eq("resolved"), as_of)
    items["age_hours"] = ((end - items["submitted"]) / pd.Timedelta(hours=1)).astype(float).round(1)
    items["sla_state"] = sla_state(items["status"], items["resolved_at"], items["due_at"], as_of)
    items["resubmission_of"] = _resubmissions(items)
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
        "by_reason": {k: int(v) for k, v in items["reason"].value_counts().items()},
        "quarantined": int(len(quarantine)),
        "after_as_of": int(later.sum()),
    }
    return FeedbackResult(items=items.reset_index(drop=True), queue=queue, links=links, stats=stats,
                          quarantine=quarantine,
                          replies=pd.DataFrame(replies, columns=REPLY_COLUMNS),
                          review_records=review_records(items, current),
                          overdue=overdue_by_owner(items))


def _resubmissions(items: pd.DataFrame) -> pd.Series:
    """The first earlier complaint of the same person with the same intent, or None."""
    out = pd.Series(None, index=items.index, dtype=object)
    who = items["person_id"].where(items["person_id"].notna(), items["person_key"])
    ok = who.notna()
    df = items.loc[ok, ["feedback_id", "submitted", "intent"]].assign(who=who[ok].astype(str))
    df = df.sort_values(["submitted", "feedback_id"], kind="stable")
    first = df.groupby(["who", "intent"])["feedback_id"].transform("first")
    out.loc[first.index] = first.where(first != df["feedback_id"], None)
    return out


def review_records(items: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Undecided records a complaint is about, with the complaint beside them (for the review queue).

    One row per (record, complaint): :data:`REVIEW_RECORD_COLUMNS`.  The
    review widgets join it on ``record_id``; no personal field is in it.
    """
    rows = []
    for it in items.itertuples(index=False):
        for r in filter(None, str(it.pending_record_ids or "").split(";")):
            rows.append((r, it.feedback_id, it.submitted_at, it.due_at, it.sla_state == "overdue",
                         it.category_system, it.reason, it.status))
    out = pd.DataFrame(rows, columns=["record_id", "feedback_id", "submitted_at", "due_at", "overdue",
                                      "category_system", "reason", "feedback_status"])
    st = current.assign(record_id=current["record_id"].astype(str)).set_index("record_id")["status"]
    out.insert(1, "record_status", out["record_id"].map(st))
    return out[REVIEW_RECORD_COLUMNS].sort_values(["submitted_at", "record_id"], kind="stable").reset_index(drop=True)


def overdue_by_owner(items: pd.DataFrame) -> pd.DataFrame:
    """Open and overdue complaints per owner (facility, or the support desk a question is routed to).

    :data:`OVERDUE_COLUMNS`, most overdue first: what the province report lists.
    """
    open_ = items[items["status"].ne("resolved")]
    if not len(open_):
        return pd.DataFrame(columns=OVERDUE_COLUMNS)
    g = open_.assign(overdue=open_["sla_state"].eq("overdue")).groupby(["owner", "owner_province"], dropna=False)
    out = g.agg(open=("feedback_id", "size"), overdue=("overdue", "sum"),
                oldest_age_hours=("age_hours", "max")).reset_index()
    out["overdue"] = out["overdue"].astype(int)
    return out.sort_values(["overdue", "oldest_age_hours"], ascending=False, kind="stable")[OVERDUE_COLUMNS] \
        .reset_index(drop=True)


# --------------------------------------------------------------------------- files and CLI

def _read_run_table(run_dir: Path, name: str, kind: str, command: str, *, optional: bool) -> pd.DataFrame | None:
    """``run_dir/name`` of a complete run of ``command``; None when the run is absent and ``optional``."""
    from vaxlib.io import read_output
    from vaxlib.runs import run_file

    if optional and not run_dir.exists():
        return None
    return read_output(run_file(run_dir, name, command=command), kind)


def _current_candidates(rf: Any) -> pd.DataFrame | None:
    """``record_id, person_id`` of the current match's candidates (match-corrected/ when there, else match/)."""
    from vaxlib.io import read_output
    from vaxlib.runs import CANDIDATES, check_run, lists_table

    run = rf.match_corrected if rf.match_corrected.exists() else rf.match
    if not run.exists() or not lists_table(check_run(run, command="match")["files"], CANDIDATES):
        return None
    return read_output(run / CANDIDATES, "candidates", columns=["record_id", "person_id"])


# --------------------------------------------------------------------------- narrowed inputs

class _Picked:
    """Rows of one (possibly partitioned) Parquet table picked over several passes, a slice at a time.

    Each pass reads the table once (:func:`vaxlib.io.read_output_batches`) and keeps
    the rows ``pick`` chooses that no earlier pass kept; :meth:`frame` gives them in
    the table's order, indexed by their row number in the whole table (what
    ``read_output(...)[mask]`` gives).
    """

    def __init__(self, path: Path, kind: str, columns: list[str]) -> None:
        from vaxlib.io import parquet_columns, parquet_rows, table_parts

        names = set(parquet_columns(path))
        self.path, self.kind = path, kind
        self.columns = [c for c in columns if c in names]
        self.n = sum(parquet_rows(p) for p in table_parts(path))
        self.taken = np.zeros(self.n, dtype=bool)
        self.pieces: list[tuple[np.ndarray, Any]] = []

    def scan(self, pick: Any) -> Any:
        """Keep the rows ``pick(batch, first_row)`` (a bool array per slice) chooses; the newly kept rows (Arrow)."""
        import pyarrow as pa

        from vaxlib.io import read_output_batches

        new, off = [], 0
        for batch in read_output_batches(self.path, self.kind, columns=self.columns):
            n = batch.num_rows
            at = np.flatnonzero(np.asarray(pick(batch, off), dtype=bool) & ~self.taken[off:off + n])
            if len(at):
                self.taken[off + at] = True
                rows = batch.take(pa.array(at))
                self.pieces.append((off + at, rows))
                new.append(rows)
            off += n
        return pa.concat_tables(new) if new else None

    def where(self, column: str, values: set[str]) -> Any:
        """The kept rows whose ``column`` is one of ``values`` (Arrow), or None."""
        import pyarrow as pa

        vs = _value_set(values)
        hits = [t.filter(pa.array(_in(t, column, vs))) for _, t in self.pieces]
        hits = [t for t in hits if t.num_rows]
        return pa.concat_tables(hits, promote_options="permissive") if hits else None

    def values(self, column: str) -> set[str]:
        """The distinct text of ``column`` over every kept row (None left out)."""
        return {v for _, t in self.pieces for v in t.column(column).to_pylist() if v is not None}

    def frame(self) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from vaxlib.io import table_parts

        if not self.pieces:
            schema = pq.read_schema(table_parts(self.path)[0])
            empty = pa.schema([schema.field(c) for c in self.columns], metadata=schema.metadata)
            return empty.empty_table().to_pandas()
        pos = np.concatenate([p for p, _ in self.pieces])
        order = np.argsort(pos, kind="stable")
        table = pa.concat_tables([t for _, t in self.pieces], promote_options="permissive").take(pa.array(order))
        df = table.to_pandas()
        df.index = pd.Index(pos[order], dtype=np.int64)
        return df


def _text_column(batch: Any, column: str) -> Any:
    """``column`` of an Arrow slice as text (strings as they are; other types as ``str()`` of them)."""
    import pyarrow as pa

    col = batch.column(column).combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pa.array([None if v is None else str(v) for v in col.to_pylist()], type=pa.string())
    return col


def _in(batch: Any, column: str, values: Any) -> np.ndarray:
    """Per row of ``batch``: its ``column`` (as text) is one of ``values`` (a set, or :func:`_value_set` of one
    when the same set is tested on every slice)."""
    import pyarrow.compute as pc

    if not len(values) or column not in batch.column_names:
        return np.zeros(batch.num_rows, dtype=bool)
    col = _text_column(batch, column)
    vs = _value_set(values) if isinstance(values, (set, frozenset)) else values
    hit = pc.is_in(col, value_set=vs if vs.type == col.type else vs.cast(col.type))
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def _value_set(values: set[str]) -> Any:
    """``values`` as an Arrow string array, built once for a pass."""
    import pyarrow as pa

    return pa.array(list(values), type=pa.string())


def _by_value(batch: Any, column: str, test: Any) -> np.ndarray:
    """Per row: ``test`` (a Series of distinct values, None among them -> bool array) of its ``column``,
    computed once per distinct value (the functions the job itself applies, so no second reading of a value)."""
    import pyarrow.compute as pc

    if column not in batch.column_names:
        return np.zeros(batch.num_rows, dtype=bool)
    enc = _text_column(batch, column).dictionary_encode()
    uniq = pd.Series(enc.dictionary.to_pylist() + [None], dtype=object)
    hit = np.asarray(test(uniq), dtype=bool)
    idx = pc.fill_null(enc.indices, len(uniq) - 1).to_numpy(zero_copy_only=False)
    return hit[idx]


def _feedback_table(rf: Any) -> pd.DataFrame:
    """The reports: one file through the importer (any format), or a folder of Parquet parts, each through it."""
    from vaxlib.io import read_table, table_parts
    from vaxlib.runs import check_input

    path = rf.table("feedback")
    parts = [path] if path is not None else table_parts(rf.data / "feedback.parquet") or table_parts(
        rf.root / "feedback.parquet")
    if not parts:
        raise TableMissingError.say("feedback_table_missing", path=rf.data, stem="feedback")
    check_input(path if path is not None else parts[0].parent.with_suffix(".parquet"))
    tables, quarantined, offset = [], [], 0
    for part in parts:
        res = read_table(part, "feedback")
        if len(res.quarantine):
            log.warning("%s: %d row(s) quarantined", part.name, res.quarantine["row"].nunique())
        # the raw text stays out (personal data); file row, column and reason travel on (rows counted over the parts)
        quarantined.append(res.quarantine[["row", "column", "reason"]].assign(row=res.quarantine["row"] + offset))
        offset += len(res.table) + res.quarantine["row"].nunique()
        tables.append(res.table)
    out = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    if len(tables) > 1:  # the importer finds a repeated feedback_id within a file, not across the parts
        part_of = np.repeat(np.arange(len(tables)), [len(t) for t in tables])
        again = out["feedback_id"].duplicated(keep=False).to_numpy()
        if again.any():
            fid = out["feedback_id"].to_numpy(dtype=object)[again][0]
            where = sorted({parts[i].name for i in part_of[again & (out["feedback_id"] == fid).to_numpy()]})
            raise RepeatedIdError.say("feedback_id_repeated", path=parts[0].parent, fid=fid, parts=", ".join(where))
    out.attrs["import_quarantine"] = pd.concat(quarantined, ignore_index=True) if len(quarantined) > 1 \
        else quarantined[0]
    return out


def _parquet_input(rf: Any, stem: str) -> Path | None:
    """``data/<stem>.parquet``, one file or a folder of parts (``vax synth --partitioned``); None otherwise."""
    from vaxlib.io import table_parts

    path = rf.table(stem)
    if path is not None:
        return path if path.suffix == ".parquet" else None
    for folder in (rf.data, rf.root):
        if table_parts(folder / f"{stem}.parquet"):
            return folder / f"{stem}.parquet"
    return None


def _narrowed_inputs(rf: Any, feedback: pd.DataFrame, settings: FeedbackSettings) -> dict[str, Any]:
    """The inputs of :func:`track_feedback` cut down to the rows the reports can touch, read a slice at a time.

    :func:`track_feedback` looks dose records up by person, by typed number, by
    phone, by person_key and by facility, and register persons by number and
    by the candidates of :func:`candidate_mask`.  Every row that one of its
    look-ups for these reports can reach is kept, with *all* rows of each key
    looked up (so groups, their order and "the last one wins" dictionaries are
    those of the whole tables), and every table's row of each kept record; the
    rest never becomes pandas.  The register's size and term frequencies are
    counted on the whole register (:class:`RegisterStats`).  The answers are
    those of the whole tables (``tests/test_feedback_narrow.py``).
    """
    from vaxlib.complaints.understand import child_named, read_message
    from vaxlib.runs import CANDIDATES, MATCHES, check_input, check_run, lists_table
    from vaxlib.vn.phones import normalise_phones

    reg_path, vac_path = _parquet_input(rf, "registry"), _parquet_input(rf, "vaccinations")
    for p in (reg_path, vac_path):
        check_input(p)
    run = rf.match_corrected if rf.match_corrected.exists() else rf.match
    for r in {rf.match, run}:  # before any long pass: a missing or changed match stops the job at once
        check_run(r, command="match")
    model = read_model(rf.model)
    fb, _, _ = _received(feedback, _as_of(settings.as_of))
    typed = set(usable_ids(fb["id_number"])) - {""}
    phones = set(normalise_phones(_text(fb["phone"])).dropna())
    # the children's names and dates the job may match (a superset of what _link_children matches)
    kids = []
    for m in fb["message"]:
        subject = read_message(str(m) if isinstance(m, str) else "").subject  # as _link_children reads it
        named = child_named(m) if subject in ("child", "relative") else None
        if named:
            kids.append({"full_name": named[0], "dob": named[1] or None, "id_number": None})
    columns = ["full_name", "dob", "id_number"]
    kids = pd.DataFrame(kids, columns=columns)
    looked_up = pd.concat([fb[columns], kids], ignore_index=True)

    # the register: every candidate row (and the first row, the matcher's stand-in when none), counted whole
    t0 = time.perf_counter()
    reg = _Picked(reg_path, "table", ["person_id", "full_name", "dob", "sex", "old_id", "province_code"])
    register: RegisterStats | None = None
    kid_rows: list[np.ndarray] = []  # the children's own candidates (register row numbers): their link's pool
    if reg.n > 5000:  # link_feedback's prefilter
        lookup_keys, kid_keys = candidate_keys(looked_up), candidate_keys(kids)
        typed_set = _value_set(typed)

        def candidates(batch: Any, first: int) -> np.ndarray:
            rows, cache = batch.to_pandas(), {}  # (prepared once for both sets of keys)
            hit = candidate_mask(looked_up, rows, lookup_keys, cache).to_numpy() \
                | _in(batch, "person_id", typed_set) | _in(batch, "old_id", typed_set)
            if len(kids):
                kid_rows.append(first + np.flatnonzero(candidate_mask(kids, rows, kid_keys, cache).to_numpy()))
            if first == 0 and len(hit):
                hit[0] = True
            return hit
        reg.scan(candidates)
        kept = int(reg.taken.sum())
        log.info("feedback: %d of %d register persons are candidates (%.1f %%, %.0f s)", kept, reg.n,
                 100 * kept / reg.n, time.perf_counter() - t0)
        wanted: dict[str, set[str]] = {"_tf_name": set(), "_tf_dob": set()}
        for _, kept in reg.pieces:  # the values of the kept rows, a piece at a time
            for k, v in _frequency_keys(kept.select(["full_name", "dob"]).to_pandas()).items():
                wanted[k].update(v)
        counts: dict[str, list[pd.Series]] = {k: [] for k in wanted}

        def count(batch: Any, first: int) -> np.ndarray:
            for k, v in _frequency_keys(batch.select(["full_name", "dob"]).to_pandas()).items():
                vc = v.value_counts()
                counts[k].append(vc[[x in wanted[k] for x in vc.index.to_numpy(dtype=object)]])
            return np.zeros(batch.num_rows, dtype=bool)
        reg.scan(count)
        register = RegisterStats(reg.n, {k: pd.concat(v).groupby(level=0, sort=False).sum() for k, v in counts.items()})
        log.info("feedback: the register's term frequencies counted (%.0f s)", time.perf_counter() - t0)
    else:
        reg.scan(lambda batch, first: np.ones(batch.num_rows, dtype=bool))
    t0 = time.perf_counter()
    frame, pool = reg.frame(), None
    if register is not None:  # every candidate of the children named in the reports (a few, kept by the scan)
        pool = frame[frame.index.isin(np.concatenate(kid_rows) if kid_rows else [])]
    link = link_feedback(fb, frame, model=model, register=register) if len(fb) else pd.DataFrame(
        columns=["feedback_id", "link_status", "person_id", "match_probability", "error_codes"])
    del frame
    log.info("feedback: %d reports matched (%.0f s)", len(link), time.perf_counter() - t0)
    linked = {p for p in link["person_id"] if isinstance(p, str) and p}

    # dose records
    vac = _Picked(vac_path, "table", _RECORD_COLUMNS)
    first_cols = ["record_id", "status", "error_codes"]
    cur = _Picked(run / MATCHES, "matches", ["record_id", "status", "person_id", "person_key"]
                  + (first_cols[2:] if run == rf.match else []))
    first = cur if run == rf.match else _Picked(rf.match / MATCHES, "matches", first_cols)
    cand = _Picked(run / CANDIDATES, "candidates", ["record_id", "person_id"]) \
        if run.exists() and lists_table(check_run(run, command="match")["files"], CANDIDATES) else None
    tables = [t for t in (vac, cur, first if first is not cur else None, cand) if t is not None]
    done_ids: set[str] = set()
    done_pids: set[str] = set()
    done_keys: set[str] = set()

    def digits_in(numbers: set[str]) -> Any:
        return lambda u: _digits(u).isin(numbers).to_numpy()

    def registered(persons: set[str]) -> dict[str, str]:
        """Their register rows kept; person -> former CMND."""
        rows = reg.where("person_id", persons)
        known = set(rows.column("person_id").to_pylist()) if rows is not None else set()
        if persons - known:
            missing = _value_set(persons - known)
            reg.scan(lambda b, _: _in(b, "person_id", missing))
            rows = reg.where("person_id", persons)
        if rows is None or "old_id" not in rows.column_names:
            return {}
        return {p: o for p, o in zip(rows.column("person_id").to_pylist(), rows.column("old_id").to_pylist())
                if isinstance(o, str) and o}

    def more(pids: set[str], ids: set[str], keys: set[str]) -> None:
        """Every record of these persons, typed with these numbers or of these person_keys;
        then every table's row of every kept record."""
        ids, pids, keys = ids - done_ids, pids - done_pids, keys - done_keys
        if ids:
            vac.scan(lambda b, _: _by_value(b, "id_number", digits_in(ids)))
        if pids or keys:
            p_set, k_set = _value_set(pids), _value_set(keys)
            cur.scan(lambda b, _: _in(b, "person_id", p_set) | _in(b, "person_key", k_set))
            if cand is not None:
                cand.scan(lambda b, _: _in(b, "person_id", p_set))
        done_ids.update(ids), done_pids.update(pids), done_keys.update(keys)
        rids = set().union(*(t.values("record_id") for t in tables))
        r_set = _value_set(rids)
        for t in tables:
            if rids - t.values("record_id"):
                t.scan(lambda b, _: _in(b, "record_id", r_set))

    # by typed number (and the linked persons' own numbers), by phone, one record per facility
    provinces: dict[str, set[str]] = {}

    def first_pass(batch: Any, first: int) -> np.ndarray:
        fac = _text(pd.Series(_text_column(batch, "facility_id").to_pylist(), dtype=object)) \
            if "facility_id" in batch.column_names else pd.Series("", index=range(batch.num_rows))
        prov = _text(pd.Series(_text_column(batch, "facility_province").to_pylist(), dtype=object)) \
            if "facility_province" in batch.column_names else pd.Series("", index=range(batch.num_rows))
        new_fac = ~fac.duplicated().to_numpy() & ~fac.isin(provinces).to_numpy()
        for f, pr in set(zip(fac.to_numpy(), prov.to_numpy())):
            provinces.setdefault(f, set()).add(pr)
        return (_by_value(batch, "id_number", digits_in(numbers))
                | _by_value(batch, "phone", lambda u: normalise_phones(_text(u)).isin(phones).to_numpy())
                | new_fac)
    numbers = typed | linked | set(registered(linked).values())
    vac.scan(first_pass)
    done_ids.update(numbers)
    # a facility seen with two provinces: the job's facility -> province is its last record's (in the
    # current match's order), so that record
    mixed = {f for f, ps in provinces.items() if len(ps) > 1}
    del provinces
    last = _last_records(vac, cur, mixed) if mixed else set()
    if last:
        last_set = _value_set(last)
        vac.scan(lambda b, _: _in(b, "record_id", last_set))
    more(linked, set(), set())
    # the persons of these records (phone confirmations, children): their records and numbers
    persons = cur.values("person_id")
    more(persons, persons | set(registered(persons).values()), set())
    registered(cur.values("person_id"))

    # whom the job links in the end (phone confirmations, children), and the person_keys it looks up
    log.info("feedback: %d reports linked, %d dose records kept (%.0f s)", len(link), len(vac.taken.nonzero()[0]),
             time.perf_counter() - t0)
    inputs = _frames(rf, reg, vac, cur, first, cand)
    rec = _record_table(inputs["vaccinations"], inputs["matches"], inputs["matches_current"]
                        if inputs["matches_current"] is not None else inputs["matches"], None)
    fbl = fb.merge(link, on="feedback_id", how="left")
    fbl["typed_id"] = usable_ids(fbl["id_number"])
    fbl["phone_norm"] = normalise_phones(_text(fbl["phone"]))
    fbl, _, children = _whom(fbl, inputs["registry"], rec, None, register, model, pool)
    final = {p for p in fbl["person_id"] if isinstance(p, str) and p} | {p for p, _ in children.values() if p}
    touched = rec["id_digits"].isin(typed) | rec["phone_norm"].isin(phones)
    keys = {str(k) for k in rec.loc[touched, "person_key"] if k is not None}
    del inputs, rec, fbl  # the final frames are built anew below
    more(final, final | set(registered(final).values()), keys)
    registered(cur.values("person_id"))
    return dict(_frames(rf, reg, vac, cur, first, cand), register=register, link=link, model=model, link_pool=pool)


def _last_records(vac: _Picked, cur: _Picked, facilities: set[str]) -> set[str]:
    """Per facility of ``facilities`` (as text, "" for none), its record that comes last in the current
    match's order (the one :func:`track_feedback`'s facility -> province keeps)."""
    import pyarrow as pa

    from vaxlib.io import read_output_batches

    rows = [b.filter(pa.array(m)) for b in read_output_batches(vac.path, vac.kind, columns=["record_id", "facility_id"])
            for m in [_by_value(b, "facility_id", lambda u: _text(u).isin(facilities).to_numpy())] if m.any()]
    if not rows:
        return set()
    t = pa.concat_tables(rows)
    ids = pd.Index(t.column("record_id").to_pylist(), dtype=object)
    if not ids.is_unique:  # a record id twice: keep every record of these facilities (a superset is exact too)
        return set(ids)
    facility = _text(pd.Series(t.column("facility_id").to_pylist(), dtype=object)).to_numpy(dtype=object)
    at = np.full(len(ids), -1, dtype=np.int64)  # position in the current match, per row of t
    off = 0
    for b in read_output_batches(cur.path, cur.kind, columns=["record_id"]):
        hit = ids.get_indexer(pd.Index(b.column("record_id").to_pylist(), dtype=object))
        found = hit >= 0
        at[hit[found]] = off + np.flatnonzero(found)  # a record twice in the match: its later row wins
        off += b.num_rows
    df = pd.DataFrame({"facility": facility, "at": at, "record_id": ids.to_numpy(dtype=object)})
    df = df[df["at"] >= 0].sort_values("at", kind="stable")
    return set(df.drop_duplicates("facility", keep="last")["record_id"])


def _frames(rf: Any, reg: _Picked, vac: _Picked, cur: _Picked, first: _Picked, cand: _Picked | None) -> dict[str, Any]:
    """:func:`track_feedback`'s keyword inputs from the kept rows (and the small tables whole)."""
    from vaxlib.runs import CHANGES

    current = cur.frame()
    changes = _read_run_table(rf.apply, CHANGES, "changes", "apply", optional=True)
    if changes is not None:
        changes = changes[changes["record_id"].astype(str).isin(set(current["record_id"].astype(str)))]
    out = {
        "registry": reg.frame(),
        "vaccinations": vac.frame(),
        "matches": current if first is cur else first.frame(),
        "matches_current": None if first is cur else current,
        "changes": changes,
        "candidates": cand.frame() if cand is not None else None,
        "decisions": _decisions(rf),
    }
    return out


def load_inputs(data_dir: str | os.PathLike[str], settings: FeedbackSettings | None = None, *,
                narrow: bool = True) -> dict[str, Any]:
    """Read the tables of a ``vax demo``-style folder (:class:`vaxlib.runs.RunFolder`) for :func:`track_feedback`.

    ``DIR/data/{feedback,registry,vaccinations}`` (Parquet, CSV in any encoding or xlsx, through
    :func:`vaxlib.io.read_table`; Parquet also as a folder of ``part-*.parquet``), ``DIR/match/matches.parquet``
    (one file or parts), and when present ``DIR/match-corrected/matches.parquet``,
    ``DIR/apply/changes.parquet`` and ``DIR/ledger.db``.  Each stage folder must be a complete run
    (its manifest is checked).

    With ``narrow`` (and a Parquet register and dose records), only the rows the
    reports received by ``settings.as_of`` can touch are read into pandas, a slice
    at a time (:func:`_narrowed_inputs`): memory follows the reports, not the
    register.  The result then also holds ``register`` and ``link`` for
    :func:`track_feedback`, whose answers are those of the whole tables.

    Raises
    ------
    vaxlib.errors.ManifestError
        A stage folder is incomplete or changed.
    FileNotFoundError
        No feedback, registry or vaccinations table.
    """
    from vaxlib.io import read_output, read_table
    from vaxlib.runs import CHANGES, MATCHES, RunFolder, check_input

    rf = RunFolder(data_dir)
    feedback = _feedback_table(rf)
    if narrow and _parquet_input(rf, "registry") is not None and _parquet_input(rf, "vaccinations") is not None:
        return dict(feedback=feedback, **_narrowed_inputs(rf, feedback, settings or FeedbackSettings()))

    def table(stem: str, kind: str) -> pd.DataFrame:
        path = rf.table(stem)
        if path is None:
            raise TableMissingError.say("feedback_table_missing", path=rf.data, stem=stem)
        check_input(path)
        if path.suffix == ".parquet":
            # the pipeline's own contract tables (written by vax synth / vax apply): read as they are
            return read_output(path, "table")
        res = read_table(path, kind)  # type: ignore[arg-type]
        if len(res.quarantine):
            log.warning("%s: %d row(s) quarantined", path.name, res.quarantine["row"].nunique())
        return res.table

    return {
        "feedback": feedback,
        "registry": table("registry", "registry"),
        "vaccinations": table("vaccinations", "vaccinations"),
        "matches": _read_run_table(rf.match, MATCHES, "matches", "match", optional=False),
        "matches_current": _read_run_table(rf.match_corrected, MATCHES, "matches", "match", optional=True),
        "changes": _read_run_table(rf.apply, CHANGES, "changes", "apply", optional=True),
        # the candidates of the current match only (the first match's are stale after the fixes)
        "candidates": _current_candidates(rf),
        "decisions": _decisions(rf),
        "model": read_model(rf.model),
    }


def read_model(path: str | os.PathLike[str]) -> Any:
    """The fitted model of a ``vax match`` run (``match/model.json``) as a
    :class:`vaxlib.match.model.FSModel`, or None when the run has none.

    ``vax feedback`` links the reports with the model of the register's own
    match: every estimate of the link (u, m, rho per kind of number, the
    namesake pi, the register's size) then comes from the whole register, never
    from the candidate persons the reports single out.
    """
    import json

    from vaxlib.match.compare import FIELDS, LEVELS
    from vaxlib.match.model import FSModel

    path = Path(path)
    if not path.is_file():
        return None
    d = json.loads(path.read_text(encoding="utf-8"))

    def levels(per: dict[str, dict[str, float]], f: str) -> np.ndarray:
        return np.array([float(per[f][name]) for name in LEVELS[f]], dtype=float)

    namesake = {}
    for cell, pi in d.get("namesake_pi", {}).items():
        name, dob = cell.split("|")
        namesake[(LEVELS["name"].index(name), LEVELS["dob"].index(dob))] = float(pi)
    return FSModel(m={f: levels(d["m"], f) for f in FIELDS}, u={f: levels(d["u"], f) for f in FIELDS},
                   n_registry=int(d["n_registry"]), rho=float(d["rho"]),
                   rho_by_kind={k: float(v) for k, v in d.get("rho_by_kind", {}).items()},
                   namesake=namesake, u_idless={f: levels(d["u_idless"], f) for f in d.get("u_idless", {})})


def _decisions(rf: Any) -> pd.DataFrame | None:
    """The review ledger's current decisions, or None without a ledger."""
    if not rf.ledger.exists():
        return None
    from vaxlib.review.ledger import Ledger

    with Ledger.open(str(rf.ledger), readonly=True) as led:
        return led.current_decisions()


def _input_paths(data_dir: str | os.PathLike[str]) -> list[Path]:
    from vaxlib.runs import RunFolder

    rf = RunFolder(data_dir)
    paths = []
    for stem in ("feedback", "registry", "vaccinations"):
        p = rf.table(stem) or _parquet_input(rf, stem)
        if p is not None:
            paths.append(p if p.exists() else p.with_suffix(""))  # a folder of parts: the folder
    return paths + [d for d in (rf.match, rf.match_corrected, rf.apply) if d.exists()] + (
        [rf.ledger] if rf.ledger.exists() else [])


def run_feedback(
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    settings: FeedbackSettings | None = None,
    *,
    run_args: dict[str, Any] | None = None,
) -> FeedbackResult:
    """:func:`track_feedback` on a ``vax demo``-style folder; writes ``out_dir`` (default ``DIR/feedback``)
    as one atomic run (:func:`vaxlib.runs.atomic_run`)."""
    import dataclasses

    from vaxlib.io import write_json, write_output
    from vaxlib.runs import (FEEDBACK_LINKS, FEEDBACK_QUEUE, FEEDBACK_STATUS, FEEDBACK_SUMMARY, QUARANTINE,
                             RunFolder, atomic_run)

    out = Path(out_dir) if out_dir is not None else RunFolder(data_dir).feedback_dir
    used = settings or FeedbackSettings()
    with atomic_run(out, command="feedback", args=run_args or {"data": str(data_dir)},
                    inputs=_input_paths(data_dir), settings=dataclasses.asdict(used)) as staging:
        inputs = load_inputs(data_dir, used)
        result = track_feedback(**inputs, settings=used)
        write_output(result.items, staging / FEEDBACK_STATUS, "feedback_status")
        write_output(result.queue, staging / FEEDBACK_QUEUE, "feedback_queue")
        write_output(result.links, staging / FEEDBACK_LINKS, "feedback_links")
        write_output(result.quarantine, staging / QUARANTINE, "table")
        write_output(result.replies, staging / "replies.parquet", "table")
        write_output(result.review_records, staging / "review_records.parquet", "table")
        write_output(result.overdue, staging / "overdue_by_facility.parquet", "table")
        write_json(result.stats, staging / FEEDBACK_SUMMARY)
    return result


def read_feedback_run(run_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``feedback_status.parquet`` and the settings of a complete ``vax feedback`` run.

    Raises
    ------
    vaxlib.errors.ManifestError
        The folder is not a complete ``vax feedback`` run.
    """
    from vaxlib.io import read_output
    from vaxlib.runs import FEEDBACK_STATUS, check_run

    manifest = check_run(run_dir, command="feedback")
    return read_output(Path(run_dir) / FEEDBACK_STATUS, "feedback_status"), manifest.get("settings", {})


def _cmd_feedback(args: argparse.Namespace) -> int:
    from vaxlib.cli import CommandError
    from vaxlib.runs import FEEDBACK_QUEUE, RunFolder

    settings = FeedbackSettings(sla_hours=args.sla_hours, batch_hours=args.batch_hours, as_of=args.as_of)
    try:
        result = run_feedback(args.data, args.out, settings,
                              run_args={k: v for k, v in vars(args).items() if k != "func"})
    except VaxError:
        raise  # worded: printed in the user's language
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    st = result.stats
    from vaxlib import i18n
    from vaxlib.cli import cli_lang

    L = cli_lang(args)
    n = lambda v: i18n.fmt_int(v, L)  # noqa: E731
    word = lambda k: i18n.t(f"cli.fb_{k}", L) if i18n.has(f"cli.fb_{k}") else k  # noqa: E731
    as_of = f"{i18n.fmt_datetime(pd.Timestamp(st['as_of']).tz_convert(VN_TZ), L)} (UTC+07)"  # as analysts read it
    print(i18n.t("cli.feedback_summary", L, items=n(st["items"]), as_of=as_of,
                 statuses=", ".join(f"{word(k)}: {n(v)}" for k, v in sorted(st["by_status"].items())),
                 sla=", ".join(f"{word(k)}: {n(v)}" for k, v in sorted(st["by_sla_state"].items()))))
    out = Path(args.out) if args.out else RunFolder(args.data).feedback_dir
    print(i18n.t("cli.feedback_queue", L, n=n(len(result.queue)), path=out / FEEDBACK_QUEUE)
          + (i18n.t("cli.feedback_quarantined", L, n=n(st["quarantined"])) if st.get("quarantined") else ""))
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
