"""Personal data in what vaxlib shows: masking for messages, logs and views.

An error message, a log line or a widget may name a file, a row and a
column, never a person: ID and phone numbers are shown with their middle
masked (``079190004279`` -> ``0791******79``, as the ministry's own screens
do), dates of birth as ``**/**/****``, and names not at all.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from vaxlib.cells import cell_text

__all__ = ["mask_id", "mask_value", "looks_personal", "mask_values"]

_DIGIT_RUN = re.compile(r"\d(?:[\d .\-]*\d)?")
_DATE = re.compile(r"\d{1,4}[/.\-]\d{1,2}(?:[/.\-]\d{1,4})?")


def mask_id(value: str | None, *, keep_start: int = 4, keep_end: int = 2) -> str:
    """Mask the middle of an ID number: ``079190012389`` -> ``0791******89``.

    Short values keep only their last ``keep_end`` characters; empty stays empty.
    """
    text = cell_text(value)
    n = len(text)
    if n == 0:
        return ""
    if n <= keep_start + keep_end + 1:
        keep_start = 0
        keep_end = min(keep_end, max(n - 2, 0))
    return text[:keep_start] + "*" * (n - keep_start - keep_end) + text[n - keep_end:] if keep_end else \
        text[:keep_start] + "*" * (n - keep_start)


def looks_personal(value: Any) -> bool:
    """Could this cell be a person's data rather than a column header?

    True for text holding a date or a run of six or more digits (an ID or a
    phone number); a header such as ``Mũi 2`` or ``Số CCCD`` is not.
    """
    text = cell_text(value)
    if _DATE.search(text):
        return True
    return any(sum(ch.isdigit() for ch in m.group(0)) >= 6 for m in _DIGIT_RUN.finditer(text))


def mask_value(value: Any) -> str:
    """A cell as it may appear in a message: digits of IDs/phones and dates masked, other text hidden.

    >>> mask_value("079190004279"), mask_value("12/03/1985"), mask_value("Hoàng Thị Mỹ Duyên")
    ('0791******79', '**/**/****', '…')
    """
    text = cell_text(value).strip()
    if not text:
        return ""
    if _DATE.fullmatch(text):
        return re.sub(r"\d", "*", text)
    if text.isdigit() or (text.startswith("+") and text[1:].isdigit()):
        return mask_id(text)
    return "…"


def mask_values(values: Iterable[Any]) -> list[str]:
    """:func:`mask_value` of each value."""
    return [mask_value(v) for v in values]
