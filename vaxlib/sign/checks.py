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


def _iso_days(values, *, last: bool = False) -> np.ndarray:
    """``YYYY[-MM[-DD]]`` texts -> ``YYYYMMDD`` integers, vectorised; -1 where not of that shape.

    A partial date stands for its first day (``last``: its last possible day, 31 for
    a month, so ``1990-02`` -> 19900231: only ever compared, never a calendar date).
    """
    vals = np.array(values, dtype=object)
    vals[pd.isna(vals)] = ""
    arr = vals.astype("U10")  # the first 10 characters, as UCS-4 code points
    n = arr.size
    b = arr.view(np.uint32).reshape(n, 10) if n else np.zeros((0, 10), np.uint32)
    length = np.char.str_len(arr)
    d = b.astype(np.int64) - 48
    digit = (d >= 0) & (d <= 9)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    day = d[:, 8] * 10 + d[:, 9]
    ok4 = digit[:, :4].all(axis=1)
    ok7 = ok4 & (b[:, 4] == 45) & digit[:, 5:7].all(axis=1)
    ok10 = ok7 & (b[:, 7] == 45) & digit[:, 8:10].all(axis=1)
    out = np.full(n, -1, np.int64)
    m10 = (length == 10) & ok10
    m7 = (length == 7) & ok7
    m4 = (length == 4) & ok4
    out[m10] = year[m10] * 10000 + month[m10] * 100 + day[m10]
    out[m7] = year[m7] * 10000 + month[m7] * 100 + (31 if last else 1)
    out[m4] = year[m4] * 10000 + (1231 if last else 101)
    return out


def _day(d: dt.date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


_FIRST_DAY = int(FIRST_VACCINATION.replace("-", ""))


def _rows(mask: np.ndarray, person_id: np.ndarray, record_id: np.ndarray, reason: str,
          detail: str) -> pd.DataFrame:
    n = int(mask.sum())
    return pd.DataFrame({"person_id": pd.Series(person_id[mask], dtype=object),
                         "reason": pd.Series([reason] * n, dtype=object),
                         "record_id": pd.Series(record_id[mask], dtype=object),
                         "detail": pd.Series([detail] * n, dtype=object)})


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
    today_i = _day(today)
    oldest = _day(dt.date(today.year - MAX_AGE_YEARS, today.month, min(today.day, 28)))
    pid = recs["person_id"].to_numpy(dtype=object)
    rid = recs["record_id"].to_numpy(dtype=object)
    vday = _iso_days(recs["vaccination_date"])
    known_v = vday >= 0
    parts = [
        _rows(known_v & (vday < _FIRST_DAY), pid, rid, "vaccination_date_too_early", "dt"),
        _rows(known_v & (vday > today_i), pid, rid, "vaccination_date_future", "dt"),
    ]
    # dob: compare the earliest and the latest day a partial dob can mean
    dob_pid = dobs.index.to_numpy(dtype=object)
    first, last = _iso_days(dobs.to_numpy(dtype=object)), _iso_days(dobs.to_numpy(dtype=object), last=True)
    no_rec = np.full(len(dob_pid), "", dtype=object)
    parts.append(_rows((first >= 0) & (first > today_i), dob_pid, no_rec, "dob_future", "dob"))
    parts.append(_rows((last >= 0) & (last < oldest), dob_pid, no_rec, "dob_too_old", "dob"))
    pos = pd.Index(dob_pid).get_indexer(pid)
    born = np.where(pos >= 0, first[pos.clip(0)] if len(first) else -1, -1)
    parts.append(_rows(known_v & (born >= 0) & (vday < born), pid, rid, "vaccination_before_birth", "dt"))
    parts.append(_dose_history(pid, rid, recs["dose_number"].to_numpy(dtype=np.int64), vday))
    out = pd.concat(parts, ignore_index=True)
    return out.drop_duplicates(["person_id", "reason", "record_id"]).reset_index(drop=True)


def _dose_history(pid: np.ndarray, rid: np.ndarray, dn: np.ndarray, vday: np.ndarray) -> pd.DataFrame:
    """Refusals for dose numbers that contradict the person's own dated history."""
    parts = [_rows((dn < 1) | (dn > MAX_DOSE_NUMBER), pid, rid, "dose_inconsistent",
                   f"dose number outside 1–{MAX_DOSE_NUMBER}")]
    code = pd.factorize(pid)[0].astype(np.int64)
    # by person, date, dose number; the same dose entered twice (same number, same day) is one dose
    order = np.lexsort((dn, vday, code))
    c, d, n = code[order], vday[order], dn[order]
    dup = np.zeros(len(order), bool)
    dup[1:] = (c[1:] == c[:-1]) & (d[1:] == d[:-1]) & (n[1:] == n[:-1])
    keep = order[~dup]
    c, d, n = code[keep], vday[keep], dn[keep]
    same_person = c[1:] == c[:-1]
    same_day = same_person & (d[1:] == d[:-1])
    not_up = same_person & ~same_day & (n[1:] <= n[:-1])
    tail_p, tail_r = pid[keep][1:], rid[keep][1:]
    parts.append(_rows(same_day, tail_p, tail_r, "dose_inconsistent", "two dose numbers on one day"))
    parts.append(_rows(not_up, tail_p, tail_r, "dose_inconsistent",
                       "dose number not above the one given before it"))
    return pd.concat(parts, ignore_index=True)


def held_by_pending(matches: pd.DataFrame, candidates: pd.DataFrame | None) -> pd.DataFrame:
    """Persons held back by a pending record: ``(person_id, "held_pending", record_id, status)``.

    A person is held while a ``review`` or ``unmatched`` record has them among
    its top candidates in ``candidates.parquet`` (as ``vax match`` keeps them),
    or, for ``review``, as its linked best candidate in ``matches``.
    """
    status = matches["status"].astype(str).to_numpy(dtype=object)
    is_pending = (status == "review") | (status == "unmatched")
    if not is_pending.any():
        return pd.DataFrame(columns=REFUSAL_COLUMNS)
    rec = matches["record_id"].to_numpy(dtype=object)[is_pending]
    pid = matches["person_id"].to_numpy(dtype=object, na_value=None)[is_pending]
    links = [pd.DataFrame({"record_id": rec, "person_id": pid, "status": status[is_pending]})]
    if candidates is not None and len(candidates):
        # hash lookups on plain objects: Arrow-string isin on millions of rows is ~10x slower
        first = ~pd.Index(rec).duplicated()
        urec, ustatus = rec[first], status[is_pending][first]
        at = pd.Index(urec).get_indexer(candidates["record_id"].to_numpy(dtype=object))
        hit = at >= 0
        links.append(pd.DataFrame({"record_id": urec[at[hit]],
                                   "person_id": candidates["person_id"].to_numpy(dtype=object)[hit],
                                   "status": ustatus[at[hit]]}))
    held = (pd.concat(links, ignore_index=True).dropna(subset=["person_id"])
              .drop_duplicates(["person_id", "record_id"]))
    return pd.DataFrame({"person_id": held["person_id"].astype(str).to_numpy(), "reason": "held_pending",
                         "record_id": held["record_id"].astype(str).to_numpy(),
                         "detail": held["status"].astype(str).to_numpy()})[REFUSAL_COLUMNS]
