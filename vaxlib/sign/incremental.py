"""Re-planning only the people whose signing inputs changed since the previous ``vax sign`` run.

Why: :func:`~vaxlib.sign.batch.plan_signing` decides, for every register person,
whether they are signed, held, refused or skipped -- a join of the register, the
dose records, the matches and the candidates of a million people.  A rerun after
a day of corrections changes a few thousand of them; planning everyone again
cost more than signing the changed ones.

How, so that the result equals a full plan (``tests/test_sign_incremental.py``
checks it on random changes):

* every run keeps the plan's inputs, as parsed text, in ``input-cache/``
  (:data:`PLAN_INPUTS`: register, dose records, matches; and the *held* rows,
  person -- pending record, computed from the whole matches and candidates),
  its plan-level skip counts and issue time in the manifest settings, and
  ``sign-state.parquet`` (persons holding a certificate without being signable,
  ``carried``; persons signable whose signing failed, ``failed``).  All of it is
  checked against the manifest's SHA-256 before use (or, for a large file, shown
  untouched since by its inode and change time: :func:`vaxlib.runs.unchanged_since`):
  a changed file is refused;
* a person's plan depends only on the rows of their *unit*: the connected group
  of register persons and ``person_key`` groups joined by matches rows, their
  dose records, and their held rows.  :func:`dirty_units` compares the previous
  inputs with the new ones column by column, row by row (Arrow, vectorised),
  marks the persons and keys of every differing row in either version, and
  closes the set over the matches of both versions;
* the plan is run on the dirty units only, twice: on the new inputs (who is
  signed now) and on the previous inputs at the previous issue time (what the
  previous run had counted for them).  Skip counts are the previous counts minus
  the second plus the first; the held/refused list is the previous one without
  the dirty persons, plus theirs.  Everyone else keeps their outcome and their
  certificate row, which is reused without rebuilding a payload.

Also re-planned, though their inputs did not change: persons whose previous
certificate expired or was revoked (or its signer), whose signing failed last
time, who were refused for a date in the future, or whose dob is near the
125-year limit (time moves).  A full plan is made instead when the previous run
cannot be compared (older run, other vaxlib source, another issuer or hold
setting, an issue time before the previous one, ``--person``), or when more than
:data:`MAX_DIRTY_SHARE` of the rows differ (e.g. rows inserted in the middle).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["PLAN_INPUTS", "HELD_FILE", "STATE_FILE", "PLAN_SCHEME", "MAX_DIRTY_SHARE", "text_table",
           "held_rows", "dirty_units", "restrict", "restrict_held", "combine_skipped", "time_marked", "Dirty"]

log = logging.getLogger(__name__)

#: columns of each input that the plan reads (stored as text in a run's ``input-cache/``)
PLAN_INPUTS = {"registry": ["person_id", "full_name", "dob"],
               "vaccinations": ["record_id", "dose_number", "vaccination_date", "vaccine"],
               "matches": ["record_id", "status", "person_id", "person_key"]}
HELD_FILE = "held"  #: input-cache/held.arrow: person_id, reason, record_id, detail (all held rows)
STATE_FILE = "sign-state.parquet"
PLAN_SCHEME = "sign-plan-v1"
#: above this share of differing rows, a full plan is cheaper than tracking the changes
MAX_DIRTY_SHARE = 0.25
PENDING = ("review", "unmatched")


def text_table(frame, columns: list[str]):
    """``columns`` of ``frame`` (pandas or Arrow) as an Arrow table of strings (nulls kept), or None.

    ``person_key`` missing from matches is the ``person_id`` (as the plan does).
    None when a column holds values that are not text and cannot be made text
    exactly (the caller then plans everyone).
    """
    import pyarrow as pa

    arrays = {}
    for c in columns:
        src = c if c in (frame.column_names if isinstance(frame, pa.Table) else frame.columns) else None
        if src is None and c == "person_key":
            src = "person_id"
        if src is None:
            return None
        col = frame.column(src) if isinstance(frame, pa.Table) else frame[src]
        try:
            arr = col if isinstance(frame, pa.Table) else pa.array(col, from_pandas=True)
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
                    or pa.types.is_null(arr.type)):
                return None
            arrays[c] = arr.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeEncodeError):
            return None
    return pa.table(arrays)


def held_rows(matches, candidates) -> pd.DataFrame:
    """:func:`~vaxlib.sign.checks.held_by_pending` of the whole tables, from their pending part only.

    ``matches`` (Arrow, :data:`PLAN_INPUTS` columns) and ``candidates`` (Arrow
    ``record_id, person_id``, or None).  Only pending rows and the candidates of
    pending records matter to the hold, in the same order, so the result is the
    same rows in the same order; the million verified rows are never converted.
    """
    import pyarrow.compute as pc

    from vaxlib.sign.checks import held_by_pending

    pending = pc.fill_null(pc.is_in(matches["status"], value_set=_strings(PENDING)), False)
    m = matches.filter(pending)
    c = None
    if candidates is not None:
        c = candidates.filter(pc.fill_null(pc.is_in(candidates["record_id"], value_set=m["record_id"].combine_chunks()),
                                           False)).to_pandas()
    return held_by_pending(m.to_pandas(), c).reset_index(drop=True)


def _strings(values):
    import pyarrow as pa

    return pa.array(list(values), pa.string())


def _row_diff(old, new) -> tuple[np.ndarray, np.ndarray]:
    """Positions of rows of ``old`` and of ``new`` that differ from the row at the same position in the other.

    A row that is in both tables at the same position is unchanged; anything else
    (an edit, an insertion that shifts what follows, an appended or dropped tail)
    is a difference in both versions.  That over-marks after an insertion, never
    under-marks: a unit none of whose rows is marked has the same rows in both.
    """
    import pyarrow.compute as pc

    n = min(old.num_rows, new.num_rows)
    same = np.ones(n, bool)
    for c in new.column_names:
        a, b = old[c].slice(0, n), new[c].slice(0, n)
        eq = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b)))
        same &= eq.to_numpy(zero_copy_only=False)
    diff = np.flatnonzero(~same)
    return (np.concatenate([diff, np.arange(n, old.num_rows)]),
            np.concatenate([diff, np.arange(n, new.num_rows)]))


@dataclass
class Dirty:
    """Persons (register ``person_id``) and ``person_key`` groups to plan again."""

    persons: set
    keys: set
    share: float  #: largest share of differing rows over the compared tables
    #: per kind: positions of the rows of the previous and of the new table that differ from the other
    #: table's row at the same position (:func:`_row_diff`); every other row is the same in both
    changed: dict = field(default_factory=dict)


def _values(col, rows: np.ndarray) -> set:
    if not len(rows):
        return set()
    return {v for v in col.take(rows).to_pylist() if v is not None}


def dirty_units(old: dict, new: dict, held_old: pd.DataFrame, held_new: pd.DataFrame,
                marked: set) -> Dirty:
    """The units to plan again: rows that differ, their persons and keys, closed over the matches.

    ``old`` / ``new``: Arrow tables per :data:`PLAN_INPUTS` kind; ``marked``:
    person_ids to plan again whatever their inputs.  The closure scans the new
    matches only: a previous matches row is either the new row at the same
    position, or a row that differs, whose persons and keys are marked already;
    so scanning the previous table too (as this did) found nothing more, at the
    cost of a second pass over a million rows per round.
    """
    import pyarrow.compute as pc

    persons, keys = set(marked), set()
    share = 0.0
    records = set()
    changed = {}
    for kind in ("registry", "matches", "vaccinations"):
        o, n = old[kind], new[kind]
        ro, rn = changed[kind] = _row_diff(o, n)
        share = max(share, (len(ro) + len(rn)) / max(1, o.num_rows + n.num_rows))
        if kind == "registry":
            persons |= _values(o["person_id"], ro) | _values(n["person_id"], rn)
        elif kind == "matches":
            persons |= _values(o["person_id"], ro) | _values(n["person_id"], rn)
            keys |= _values(o["person_key"], ro) | _values(n["person_key"], rn)
        else:
            records |= _values(o["record_id"], ro) | _values(n["record_id"], rn)
    if share > MAX_DIRTY_SHARE:
        return Dirty(persons, keys, share, changed)
    # held rows: a person whose set of holding records changed
    h = held_old[["person_id", "record_id", "detail"]].merge(
        held_new[["person_id", "record_id", "detail"]].drop_duplicates(), how="outer", indicator=True)
    persons |= set(h.loc[h["_merge"] != "both", "person_id"])
    m = new["matches"]  # the previous matches add nothing (see above)
    if records:  # a changed dose record belongs to the units of its matches rows (either version)
        sel = pc.fill_null(pc.is_in(m["record_id"], value_set=_strings(records)), False)
        persons |= {v for v in m["person_id"].filter(sel).to_pylist() if v is not None}
        keys |= {v for v in m["person_key"].filter(sel).to_pylist() if v is not None}
    while True:  # close over the matches: a key's persons, a person's keys
        size = (len(persons), len(keys))
        sel = _in_units(m, "matches", _strings(persons), _strings(keys))
        persons |= {v for v in m["person_id"].filter(sel).to_pylist() if v is not None}
        keys |= {v for v in m["person_key"].filter(sel).to_pylist() if v is not None}
        if (len(persons), len(keys)) == size:
            return Dirty(persons, keys, share, changed)


def _in_units(table, kind: str, ps, ks):
    """Rows of a registry or matches table that belong to the persons ``ps`` or keys ``ks`` (Arrow mask)."""
    import pyarrow.compute as pc

    sel = pc.fill_null(pc.is_in(table["person_id"], value_set=ps), False)
    if kind == "matches":
        sel = pc.or_(sel, pc.fill_null(pc.is_in(table["person_key"], value_set=ks), False))
    return sel


def restrict(old: dict, new: dict, dirty: Dirty) -> tuple[tuple[pd.DataFrame, ...], tuple[pd.DataFrame, ...]]:
    """The plan's inputs for the dirty units only, of the new and of the previous version:
    ``((registry, vaccinations, matches), (registry, vaccinations, matches))`` (pandas).

    Every row a dirty person's plan reads is kept, in its original order (the plan
    takes the first register row of a person and the first dose row of a record).
    The previous version's register and matches rows are chosen as the new ones
    at the same position, except the rows that differ (``dirty.changed``), which
    are looked at themselves.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    ps, ks = _strings(dirty.persons), _strings(dirty.keys)
    picked: dict = {"new": {}, "old": {}}
    for kind in ("registry", "matches"):
        n, o = new[kind], old[kind]
        sel = _in_units(n, kind, ps, ks).to_numpy(zero_copy_only=False)
        ro, _ = dirty.changed[kind]
        same = np.zeros(o.num_rows, bool)
        k = min(o.num_rows, n.num_rows)
        same[:k] = sel[:k]
        if len(ro):
            same[ro] = _in_units(o.take(pa.array(ro, pa.int64())), kind, ps, ks).to_numpy(zero_copy_only=False)
        picked["new"][kind] = n.filter(pa.array(sel))
        picked["old"][kind] = o.filter(pa.array(same))
    out = []
    for version, tables in (("new", new), ("old", old)):
        reg, mat = picked[version]["registry"], picked[version]["matches"]
        v = tables["vaccinations"]
        vac = v.filter(pc.fill_null(pc.is_in(v["record_id"], value_set=mat["record_id"].combine_chunks()), False))
        out.append((reg.to_pandas(), vac.to_pandas(), mat.to_pandas()))
    return out[0], out[1]


def restrict_held(held: pd.DataFrame, dirty: Dirty) -> pd.DataFrame:
    """The held rows of the dirty persons."""
    return held[held["person_id"].isin(dirty.persons)].reset_index(drop=True)


def combine_skipped(previous: dict, old_part: Counter, new_part: Counter) -> Counter:
    """Previous plan-level skip counts, minus what the dirty units counted then, plus what they count now."""
    out = Counter()
    for k in set(previous) | set(old_part) | set(new_part):
        v = int(previous.get(k, 0)) - int(old_part.get(k, 0)) + int(new_part.get(k, 0))
        if v:
            out[k] = v
    return out


def time_marked(registry, refused_prev: pd.DataFrame, prev_at: dt.datetime, at: dt.datetime) -> set:
    """Persons whose refusal may change with the clock alone, between ``prev_at`` and ``at``.

    A vaccination date or dob "in the future" becomes possible; a dob becomes
    more than 125 years old.  The last is found by text comparison of the dob
    with the first year that could cross the limit (over-marks a little).
    """
    import pyarrow.compute as pc

    from vaxlib.sign.checks import MAX_AGE_YEARS, vn_today

    out = set(refused_prev.loc[refused_prev["reason"].isin(["vaccination_date_future", "dob_future"]),
                               "person_id"])
    bound = f"{vn_today(at).year - MAX_AGE_YEARS + 1:04d}"
    dob = registry["dob"]
    old = pc.and_(pc.fill_null(pc.less(dob, bound), False), pc.fill_null(pc.greater_equal(dob, "0"), False))
    out |= {v for v in registry["person_id"].filter(old).to_pylist() if v is not None}
    return out
