"""Checks before anything is signed: the document signer, each person's data, and pending records.

Why here and not in the verifier: a certificate signed with an expired DSC, or
carrying a vaccination date of 1800-01-01, verifies nowhere (or worse, verifies
and is wrong), and once it is in a citizen's phone it cannot be taken back
except by revocation.  So ``vax sign`` refuses up front:

* **the signer** (:func:`check_signer`): a DSC that is expired, not yet valid
  or revoked (``keystore.json`` ``revoked``) is a one-line error; one that
  expires within :data:`ROTATE_WARNING_DAYS` days is a warning naming
  ``vax keys rotate``;
* **a person's data** (:func:`refuse_records`): a vaccination date before the
  first COVID-19 vaccination in Viet Nam (:data:`FIRST_VACCINATION`, 8 March
  2021, Bệnh viện Bệnh Nhiệt đới Trung ương) or after today (Viet Nam's date,
  UTC+7), a dob in the future, more than :data:`MAX_AGE_YEARS` years back or
  after a vaccination, and dose numbers inconsistent with the person's own
  history (outside 1–:data:`MAX_DOSE_NUMBER`, the slots of QĐ 43/QĐ-BYT; the
  same number on two dates; two numbers on one day; a higher number given
  before a lower one).  Missing doses are *not* refused: a person whose dose 1
  record is still being fixed is blocked by that record, not by the gap;
* **pending records** (:func:`held_by_pending`): a person listed among the top
  candidates of a ``review`` or ``unmatched`` record in ``candidates.parquet``
  waits, since that record may be their latest dose.

Every refusal is one row ``(person_id, reason, record_id, detail)``; the
reasons are stable codes with Vietnamese and English labels
(:data:`REFUSAL_LABELS`).  The checks are vectorised over the whole table
(1M dose records in well under a second) because ``vax sign`` runs them on
every person, every time.
"""
from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from vaxlib.sign.errors import SignError

__all__ = ["FIRST_VACCINATION", "MAX_AGE_YEARS", "MAX_DOSE_NUMBER", "ROTATE_WARNING_DAYS",
           "REFUSAL_COLUMNS", "REFUSAL_LABELS", "SignerUnusable", "check_signer", "vn_today",
           "refuse_records", "held_by_pending"]

log = logging.getLogger(__name__)

#: first COVID-19 vaccination in Viet Nam (8 March 2021)
FIRST_VACCINATION = "2021-03-08"
MAX_AGE_YEARS = 125
MAX_DOSE_NUMBER = 7  # QĐ 43/QĐ-BYT: primary series, additional and booster doses, 7 slots
ROTATE_WARNING_DAYS = 30
VN_UTC_OFFSET = dt.timedelta(hours=7)

REFUSAL_COLUMNS = ["person_id", "reason", "record_id", "detail"]
#: reason code -> (Vietnamese, English)
REFUSAL_LABELS = {
    "vaccination_date_too_early": ("ngày tiêm trước 08/03/2021 (mũi tiêm COVID-19 đầu tiên ở Việt Nam)",
                                   "vaccination date before 8 March 2021 (first COVID-19 dose in Viet Nam)"),
    "vaccination_date_future": ("ngày tiêm ở tương lai", "vaccination date in the future"),
    "vaccination_before_birth": ("ngày tiêm trước ngày sinh", "vaccination date before the date of birth"),
    "dob_future": ("ngày sinh ở tương lai", "date of birth in the future"),
    "dob_too_old": (f"ngày sinh cách đây hơn {MAX_AGE_YEARS} năm", f"date of birth more than {MAX_AGE_YEARS} years ago"),
    "dose_inconsistent": ("số mũi không khớp với lịch sử tiêm", "dose numbers inconsistent with the person's history"),
    "held_pending": ("đang chờ: một hồ sơ review/unmatched có thể là của người này",
                     "held: a review/unmatched record lists this person among its candidates"),
}


class SignerUnusable(SignError):
    """The document signer is expired, not yet valid or revoked: nothing may be signed with it."""


def vn_today(at: dt.datetime) -> dt.date:
    """The calendar date in Viet Nam (UTC+7) at ``at`` (a dose given at 06:00 there is on that date)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return (at.astimezone(dt.timezone.utc) + VN_UTC_OFFSET).date()


def check_signer(cert, kid_hex: str, at: dt.datetime, revoked: set[str] | frozenset = frozenset()) -> int | None:
    """Refuse a DSC that cannot sign at ``at``; return its days left when fewer than 30 (else None).

    Raises
    ------
    SignerUnusable
        Revoked, expired or not yet valid (message: one line, names the kid and what to do).
    """
    if kid_hex in revoked:
        raise SignerUnusable(f"DSC {kid_hex} is revoked; run `vax keys rotate` for a new signer")
    if at < cert.not_valid_before_utc:
        raise SignerUnusable(f"DSC {kid_hex} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if at > cert.not_valid_after_utc:
        raise SignerUnusable(f"DSC {kid_hex} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
                             "run `vax keys rotate`")
    left = cert.not_valid_after_utc - at
    if left < dt.timedelta(days=ROTATE_WARNING_DAYS):
        return left.days
    return None


def _refusals(mask: np.ndarray, frame: pd.DataFrame, reason: str, detail) -> pd.DataFrame:
    sub = frame.loc[mask, ["person_id", "record_id"]]
    det = detail[mask] if isinstance(detail, (pd.Series, np.ndarray)) else detail
    return sub.assign(reason=reason, detail=det)[REFUSAL_COLUMNS]


def refuse_records(recs: pd.DataFrame, dobs: pd.Series, at: dt.datetime) -> pd.DataFrame:
    """Refusals for impossible dates and inconsistent dose histories (one row per finding).

    Parameters
    ----------
    recs : DataFrame
        ``record_id, person_id, dose_number (int), vaccination_date (str)`` -- every usable
        dose record of the persons about to be signed.
    dobs : Series
        The register's dob (``YYYY[-MM[-DD]]``) indexed by person_id.
    at : datetime
        Issue time; "future" means after Viet Nam's calendar date at that time.
    """
    today = vn_today(at)
    today_iso = today.isoformat()
    oldest = dt.date(today.year - MAX_AGE_YEARS, today.month, min(today.day, 28)).isoformat()
    vdate = recs["vaccination_date"].astype(str).str.slice(0, 10)
    parts = [
        _refusals((vdate < FIRST_VACCINATION).to_numpy(), recs, "vaccination_date_too_early", "dt"),
        _refusals((vdate > today_iso).to_numpy(), recs, "vaccination_date_future", "dt"),
    ]
    # dob: compare the earliest and the latest day a partial dob can mean
    dob = dobs.astype(str).str.strip()
    dob_first = dob.where(dob.str.len() != 4, dob + "-01-01").where(dob.str.len() != 7, dob + "-01")
    dob_last = dob.where(dob.str.len() != 4, dob + "-12-31").where(dob.str.len() != 7, dob + "-31")
    known = dob.str.len().isin([4, 7, 10])
    per = pd.DataFrame({"person_id": dobs.index, "record_id": "", "first": dob_first.to_numpy(),
                        "last": dob_last.to_numpy(), "known": known.to_numpy()})
    parts.append(_refusals((per["known"] & (per["first"] > today_iso)).to_numpy(), per, "dob_future", "dob"))
    parts.append(_refusals((per["known"] & (per["last"] < oldest)).to_numpy(), per, "dob_too_old", "dob"))
    first = recs["person_id"].map(pd.Series(dob_first.to_numpy(), index=dobs.index)).fillna("").astype(str)
    before = (known.reindex(recs["person_id"]).fillna(False).to_numpy(dtype=bool)
              & (vdate < first).to_numpy())
    parts.append(_refusals(before, recs, "vaccination_before_birth", "dt"))
    parts.append(_dose_history(recs.assign(vaccination_date=vdate)))
    out = pd.concat(parts, ignore_index=True)
    return out.drop_duplicates(["person_id", "reason", "record_id"]).reset_index(drop=True)


def _dose_history(recs: pd.DataFrame) -> pd.DataFrame:
    """Refusals for dose numbers that contradict the person's own dated history."""
    dn = recs["dose_number"].to_numpy()
    parts = [_refusals((dn < 1) | (dn > MAX_DOSE_NUMBER), recs, "dose_inconsistent",
                       f"dose number outside 1–{MAX_DOSE_NUMBER}")]
    # the same dose entered twice (same number, same day) is one dose, not a contradiction
    h = (recs.drop_duplicates(["person_id", "dose_number", "vaccination_date"])
             .sort_values(["person_id", "vaccination_date", "dose_number"], kind="mergesort"))
    same_person = (h["person_id"].to_numpy()[1:] == h["person_id"].to_numpy()[:-1])
    d, n = h["vaccination_date"].to_numpy(), h["dose_number"].to_numpy()
    same_day = same_person & (d[1:] == d[:-1])
    not_up = same_person & ~same_day & (n[1:] <= n[:-1])
    tail = h.iloc[1:]
    parts.append(_refusals(same_day, tail, "dose_inconsistent", "two dose numbers on one day"))
    parts.append(_refusals(not_up, tail, "dose_inconsistent",
                           "dose number not above the one given before it"))
    return pd.concat(parts, ignore_index=True)


def held_by_pending(matches: pd.DataFrame, candidates: pd.DataFrame | None) -> pd.DataFrame:
    """Persons held back by a pending record: ``(person_id, "held_pending", record_id, status)``.

    A person is held while a ``review`` or ``unmatched`` record has them among
    its top candidates in ``candidates.parquet`` (as ``vax match`` keeps them),
    or, for ``review``, as its linked best candidate in ``matches``.
    """
    pending = matches.loc[matches["status"].astype(str).isin(["review", "unmatched"]),
                          ["record_id", "status", "person_id"]]
    if pending.empty:
        return pd.DataFrame(columns=REFUSAL_COLUMNS)
    links = [pending.loc[pending["person_id"].notna(), ["record_id", "person_id", "status"]]]
    if candidates is not None and len(candidates):
        c = candidates[["record_id", "person_id"]].merge(pending[["record_id", "status"]], on="record_id")
        links.append(c[["record_id", "person_id", "status"]])
    held = (pd.concat(links, ignore_index=True).dropna(subset=["person_id"])
              .drop_duplicates(["person_id", "record_id"]))
    return pd.DataFrame({"person_id": held["person_id"].astype(str).to_numpy(), "reason": "held_pending",
                         "record_id": held["record_id"].astype(str).to_numpy(),
                         "detail": held["status"].astype(str).to_numpy()})[REFUSAL_COLUMNS]
