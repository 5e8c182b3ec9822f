"""A record joins the link of its own dose history (issue 16 item 6).

One person's dose records are typed at different times, often by different
people: dose 1 with the CCCD number and the name right, dose 3 without an ID
and with a tone mark misplaced.  Judged alone, the second is a review case;
judged with its own history it is not.  Records typed with the same folded
name and the same phone number are one person's (two people of one household
share the phone, never the whole name), and so are records giving the same
passport number (a document has one holder).  When every automatically linked
record of such a group is linked to one registry person, and that person is
also the record's own best candidate, the record takes the same link (a review
record; with a passport number also one the model left unmatched).  A candidate
whose dose history already holds this dose number on another date is never
taken this way.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["own_history_links"]


def own_history_links(rec: pd.DataFrame, status: np.ndarray, best_reg: np.ndarray, probability: np.ndarray,
                      dose_conflict: np.ndarray, auto: tuple[str, ...] = ("verified", "fix")
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(records to promote, the probability they inherit).

    Parameters
    ----------
    rec : DataFrame
        Prepared records (``name_fold``, ``phone_n``), row ``i`` is record ``i``.
    status, best_reg, probability : ndarray
        Per record: its status so far, its best candidate's registry position
        (-1: none) and that candidate's probability.
    dose_conflict : ndarray of bool
        Per record: its best candidate's dose history clashes with this dose.

    Returns
    -------
    promote : ndarray of bool
        ``review`` records with a group (same folded name and phone, or same
        passport number; for the passport also ``unmatched`` ones) whose
        automatic links all go to the record's best candidate.
    inherited : ndarray of float
        For promoted records, the smallest probability among the group's
        automatic links (the evidence the record borrows); elsewhere the
        record's own probability.
    """
    inherited = np.asarray(probability, dtype=float).copy()
    promote = np.zeros(len(rec), dtype=bool)
    open_ = (best_reg >= 0) & ~np.asarray(dose_conflict, bool)
    linked = np.isin(status, auto) & (best_reg >= 0)
    for group, takes in zip(_own_groups(rec), _TAKES):
        cand = np.flatnonzero(open_ & np.isin(status, takes) & (group >= 0))
        sure = linked & (group >= 0)
        if len(cand) == 0 or not sure.any():
            continue
        # per group of automatic links: smallest and largest registry position, smallest probability
        grp, reg, prob = group[sure], best_reg[sure], np.asarray(probability, dtype=float)[sure]
        size = int(grp.max()) + 1
        lo = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(size, np.iinfo(np.int64).min, dtype=np.int64)
        p_min = np.full(size, np.nan)
        np.minimum.at(lo, grp, reg)
        np.maximum.at(hi, grp, reg)
        np.fmin.at(p_min, grp, prob)  # NaN skipped, as pandas' min does
        one = lo == hi  # every automatic link of the group goes to one person (groups without any: never)
        at = np.minimum(group[cand], size - 1)
        ok = (group[cand] < size) & one[at] & (lo[at] == best_reg[cand])
        cand, at = cand[ok], at[ok]
        promote[cand] = True
        inherited[cand] = np.maximum(inherited[cand], p_min[at])
    return promote, inherited


#: statuses a record may have to join its group's link, per key of :func:`_own_groups`: a
#: household shares a phone, so the name-and-phone group lends only to records the model
#: already favours (review); one passport number is one document, so its group lends to
#: any record whose best candidate is the group's person (a passport record's prior is
#: low: most passport holders are foreigners outside the register)
_TAKES = (("review",), ("review", "unmatched"))


def _own_groups(rec: pd.DataFrame) -> list[np.ndarray]:
    """Group codes (-1: no group) of the keys that mark one person's records:
    (folded name, phone) and the passport number.  Groups are numbered in order of first
    appearance; the name is read through its integer code when the frame has one."""
    fold = rec["name_fold"].to_numpy(dtype=object)
    passport = np.where(rec["id_kind"].to_numpy(dtype=object) == "passport",
                        rec["id_digits"].to_numpy(dtype=object), "")
    out = []
    if "_c_phone_n" in rec:  # the records' phone codes (-1: no phone)
        phone_code = rec["_c_phone_n"].to_numpy()
        keyed = (fold != "") & (phone_code >= 0)
    else:
        phone = rec["phone_n"].to_numpy(dtype=object)
        keyed = (fold != "") & (phone != "")
    group = np.full(len(rec), -1, dtype=np.int64)
    if keyed.any():
        f = rec["_c_name_fold"].to_numpy()[keyed] if "_c_name_fold" in rec else pd.factorize(fold[keyed])[0]
        if "_c_phone_n" in rec:
            p = phone_code[keyed].astype(np.int64)
            n_p = int(p.max()) + 1
        else:
            p, p_u = pd.factorize(phone[keyed])
            n_p = len(p_u)
        # numbered in order of first appearance of (name, phone): the same whatever the phone codes
        group[keyed] = pd.factorize(f.astype(np.int64) * n_p + p)[0]
    out.append(group)
    group = np.full(len(rec), -1, dtype=np.int64)
    keyed = passport != ""
    if keyed.any():
        group[keyed] = pd.factorize(passport[keyed])[0]
    out.append(group)
    return out
