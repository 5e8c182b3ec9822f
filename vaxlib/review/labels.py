"""Vietnamese and English labels of the error taxonomy, and helpers to look them up.

The tables themselves live in :mod:`vaxlib.i18n` (every user-facing word in
one place); this module keeps the look-up helpers widgets, plots, reports
and cluster descriptions use.  Vietnamese (``"vi"``) is the
default language; ``"en"`` is available everywhere.

Each error code of the contract's taxonomy (``shared/spec/data-contract.md``)
has two wordings per language:

* a *label* (noun phrase, for legends and table headers):
  ``"Đảo ngày và tháng sinh"`` / ``"Day and month swapped"``;
* a *phrase* (what a facility did, for sentences):
  ``"đảo ngày và tháng sinh"`` / ``"swapped day and month"``, as in
  "CS-79-0123 đảo ngày và tháng sinh ở 412 bản ghi trong tháng 10/2021".
"""
from __future__ import annotations

from vaxlib import i18n as _i18n

from vaxlib.i18n import (  # noqa: F401  (re-exported: the tables live in vaxlib.i18n)
    ACTION_LABELS,
    DEFAULT_LANG,
    ERROR_LABELS,
    ERROR_PHRASES,
    FEEDBACK_CATEGORY_LABELS,
    FIELD_LABELS,
    LANGS,
    NO_CODE,
    STATUS_LABELS,
    UI_LABELS,
    Lang,
    check_lang,
)

__all__ = [
    "Lang",
    "LANGS",
    "ERROR_LABELS",
    "ERROR_PHRASES",
    "FIELD_LABELS",
    "STATUS_LABELS",
    "ACTION_LABELS",
    "UI_LABELS",
    "NO_CODE",
    "error_label",
    "error_phrase",
    "field_of",
    "field_label",
    "status_label",
    "action_label",
    "ui_label",
    "month_label",
    "join_phrases",
    "check_lang",
    "FEEDBACK_CATEGORY_LABELS",
]


_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July",
              "August", "September", "October", "November", "December")


def _lookup(table: dict[str, dict[str, str]], key: str, lang: str) -> str:
    check_lang(lang)
    entry = table.get(key)
    return entry[lang] if entry else key


def error_label(code: str, lang: str = "vi") -> str:
    """Short label of an error code; an unknown code is returned as is."""
    return _lookup(ERROR_LABELS, code or NO_CODE, lang)


def error_phrase(code: str, lang: str = "vi") -> str:
    """Verb phrase of an error code for sentences; unknown codes fall back to the code."""
    return _lookup(ERROR_PHRASES, code or NO_CODE, lang)


def field_of(code: str) -> str:
    """The field part of a code: ``"dob:day_month_swap"`` -> ``"dob"``."""
    return code.split(":", 1)[0] if code and ":" in code else NO_CODE


def field_label(field: str, lang: str = "vi") -> str:
    """Label of a field group (``id``, ``name``, ``dob``, ``sex``)."""
    return _lookup(FIELD_LABELS, field, lang)


def status_label(status: str, lang: str = "vi") -> str:
    """Label of a match status (``verified``, ``fix``, ``review``, ...)."""
    return _lookup(STATUS_LABELS, status, lang)


def action_label(action: str, lang: str = "vi") -> str:
    """Label of a ledger action (``accept`` -> ``"Duyệt"``)."""
    return _lookup(ACTION_LABELS, action, lang)


def ui_label(key: str, lang: str = "vi") -> str:
    """Shared UI word (axis titles, headings)."""
    return _lookup(UI_LABELS, key, lang)


def month_label(period: str, lang: str = "vi") -> str:
    """``"2021-10"`` -> ``"tháng 10/2021"`` (vi) or ``"October 2021"`` (en)."""
    check_lang(lang)
    try:
        year, month = period.split("-")[:2]
        m = int(month)
        if not 1 <= m <= 12:
            raise ValueError
    except (ValueError, AttributeError):
        return str(period)
    return _i18n.t("review.month", lang, m=m, year=year, month_en=_MONTHS_EN[m - 1])


def join_phrases(parts: list[str], lang: str = "vi") -> str:
    """Join phrases as a sentence list: ``a, b và c`` / ``a, b and c``."""
    check_lang(lang)
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + _i18n.t("review.and", lang) + parts[-1]
