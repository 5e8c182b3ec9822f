"""Answering a complaint's claims against a person's consolidated dose history.

:func:`answer_claims` takes the :class:`~vaxlib.complaints.understand.Claims`
of one message and the person's history after the fixes (only records the
matcher links to the person and that are ``verified``; the caller checks that
first) and says, claim by claim, whether the data answers it.  A complaint
is closed only when every claim is answered; otherwise the first claim left
unanswered is the reason it is queued.  :func:`reply_text` writes the
Vietnamese reply for a closed complaint (what was found and what was done).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from vaxlib.complaints.understand import Claims

__all__ = ["Verdict", "answer_claims", "reply_text", "ROUTED"]

#: intents that are not about the data: routed to whoever can act, never closed as fixed
ROUTED = {"question": ("routed_question", "portal_support"), "account": ("routed_account", "vneid_support")}
#: days between the date a citizen gives and the recorded date that still count as the same dose
DATE_SLACK_DAYS = 3


@dataclass
class Verdict:
    """What the data says about one complaint."""

    resolution: str | None = None  #: applied_fix / consolidated_history / already_recorded, or None
    reason: str | None = None  #: why it stays open (a :data:`vaxlib.feedback.REASONS` key)
    unanswered: str = ""  #: the first claim the data does not answer, e.g. ``dose:3``
    concerned: list[str] = field(default_factory=list)  #: the records the claims are about
    fixed_fields: list[str] = field(default_factory=list)  #: fields corrected on the person's records


def _date_hits(hist: pd.DataFrame, dates: tuple) -> pd.Series:
    """Rows of ``hist`` whose date is one of ``dates`` (day/month when the year is not given)."""
    hit = pd.Series(False, index=hist.index)
    d = pd.to_datetime(hist["vaccination_date"], errors="coerce")
    for day, month, year in dates:
        if year is None:
            hit |= (d.dt.day == day) & (d.dt.month == month)
        else:
            try:
                ts = pd.Timestamp(year=year, month=month, day=day)
            except ValueError:
                continue
            hit |= (d - ts).abs() <= pd.Timedelta(days=DATE_SLACK_DAYS)
    return hit


def _missing_dose(c: Claims, hist: pd.DataFrame) -> tuple[str, list[str]]:
    dose = pd.to_numeric(hist["dose_number"], errors="coerce")
    concerned: list[str] = []
    asked = False
    for n in c.doses:
        asked = True
        rows = hist[dose.eq(n)]
        if c.dates and len(c.doses) == 1:
            rows = rows[_date_hits(rows, c.dates)]
        if not len(rows):
            return f"dose:{n}", concerned
        if c.received and len(c.doses) == 1 and not set(rows["product"].dropna()) & set(c.received):
            return f"vaccine_at_dose:{n}", concerned
        concerned += list(rows["record_id"])
    if c.booster and not c.doses:
        asked = True
        rows = hist[dose.ge(3)]
        if c.dates:
            rows = rows[_date_hits(rows, c.dates)]
        if not len(rows):
            return "booster", concerned
        concerned += list(rows["record_id"])
    if c.total_doses:
        asked = True
        if dose.dropna().nunique() < c.total_doses:
            return f"total:{c.total_doses}", concerned
        concerned += [r for r in hist["record_id"] if r not in concerned]
    if c.dates and not c.doses and not c.booster:
        asked = True
        rows = hist[_date_hits(hist, c.dates)]
        if not len(rows):
            return "date", concerned
        concerned += list(rows["record_id"])
    if not asked:
        return "dose_unspecified", concerned
    return "", concerned


def answer_claims(c: Claims, hist: pd.DataFrame, *, fixed_fields: set[str], fixed_records: set[str],
                  moved_away: list[str]) -> Verdict:
    """Answer every claim of ``c`` against ``hist``.

    Parameters
    ----------
    c
        The complaint's claims.
    hist
        The person's records, all ``verified`` after the fixes: ``record_id,
        dose_number, vaccination_date, product`` (vaccine code).
    fixed_fields
        Fields (name, dob, id, sex) that were wrong on one of these records
        before the fixes.
    fixed_records
        Records of ``hist`` that were wrong or unlinked before the fixes.
    moved_away
        Records typed with this person's number that the fixes gave to
        someone else.
    """
    if c.intent in ROUTED:
        return Verdict(reason=ROUTED[c.intent][0], unanswered=c.intent)
    if c.intent == "vague":
        return Verdict(reason="vague", unanswered="unspecified")
    if c.intent in ("duplicate_record", "wrong_vaccine"):
        # the facility must delete or correct a record: the data cannot close it
        return Verdict(reason=c.intent, unanswered=c.intent)
    if not len(hist):
        return Verdict(reason="no_records", unanswered="history")
    if c.intent == "missing_dose":
        miss, concerned = _missing_dose(c, hist)
        if miss:
            return Verdict(reason="missing_dose" if miss != "dose_unspecified" else "vague", unanswered=miss,
                           concerned=concerned)
        if set(concerned) & fixed_records:
            return Verdict(resolution="consolidated_history", concerned=concerned)
        return Verdict(resolution="already_recorded", concerned=concerned)
    if c.intent == "not_mine":
        rows = hist[_date_hits(hist, c.dates)] if c.dates else hist.iloc[0:0]
        if c.doses and not c.dates:
            rows = hist[pd.to_numeric(hist["dose_number"], errors="coerce").isin(c.doses)]
        if len(rows) or not moved_away:
            return Verdict(reason="not_mine", unanswered="record_still_linked" if len(rows) else "nothing_moved",
                           concerned=list(rows["record_id"]))
        return Verdict(resolution="applied_fix", concerned=list(moved_away), fixed_fields=["id"])
    fields = list(c.fields) or (["id"] if c.subject == "child" else [])
    if c.intent == "wrong_personal_info":
        if not fields:
            return Verdict(reason="vague", unanswered="field_unspecified")
        for f in fields:
            if f not in fixed_fields:
                return Verdict(reason="nothing_found", unanswered=f"field:{f}")
        if c.doses or c.dates:
            miss, concerned = _missing_dose(c, hist)
            if miss and miss != "dose_unspecified":
                return Verdict(reason="missing_dose", unanswered=miss, concerned=concerned)
        return Verdict(resolution="applied_fix", fixed_fields=fields,
                       concerned=sorted(fixed_records & set(hist["record_id"])))
    if c.intent == "no_certificate":
        if c.total_doses and pd.to_numeric(hist["dose_number"], errors="coerce").nunique() < c.total_doses:
            return Verdict(reason="missing_dose", unanswered=f"total:{c.total_doses}")
        if not fixed_records:
            return Verdict(reason="nothing_found", unanswered="certificate")
        return Verdict(resolution="applied_fix", fixed_fields=sorted(fixed_fields),
                       concerned=sorted(fixed_records & set(hist["record_id"])))
    return Verdict(reason="vague", unanswered=c.intent)


def reply_text(feedback_id: str, submitted: pd.Timestamp | str, verdict: Verdict, hist: pd.DataFrame,
               product_names: dict[str, str], lang: str = "vi") -> str:
    """The reply to a closed complaint, for the portal: what was found and done (no name, no ID number).

    Vietnamese by default; the wording is in :mod:`vaxlib.i18n` (``fbreply.*``).
    """
    from vaxlib.i18n import fmt_date, t

    h = hist.assign(_d=pd.to_numeric(hist["dose_number"], errors="coerce")).sort_values(["vaccination_date", "_d"])
    doses = "; ".join(
        t("fbreply.dose", lang, n=int(d) if pd.notna(d) else "?", date=fmt_date(str(v), lang))
        + (f" ({product_names.get(p, p)})" if isinstance(p, str) and p else "")
        for d, v, p in zip(h["_d"], h["vaccination_date"], h["product"]))
    head = t("fbreply.head", lang, fid=feedback_id, date=fmt_date(submitted, lang))
    if verdict.resolution in ("consolidated_history", "already_recorded"):
        done = t(f"fbreply.{verdict.resolution}", lang)
    else:
        fields = ", ".join(t(f"fbreply.field_{f}", lang) for f in verdict.fixed_fields) \
            or t("fbreply.personal_info", lang)
        done = t("fbreply.applied_fix", lang, fields=fields)
    return head + done + t("fbreply.history", lang, n=len(h), doses=doses)
