"""One table cell as a Python value: the single reading of "missing" shared by every module.

A cell read from Parquet, CSV or a widget may be ``None``, ``float('nan')``,
``pd.NA`` or ``pd.NaT``; all of them mean "no value".  ``pd.isna`` raises on
lists and answers elementwise on arrays, so it is wrapped once here.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["is_missing", "cell_text"]


def is_missing(value: Any) -> bool:
    """True for None, NaN, ``pd.NA`` and ``pd.NaT``; False for anything else (also lists)."""
    if value is None:
        return True
    if not pd.api.types.is_scalar(value):  # a list or array in a cell is a value, never "missing"
        return False
    return bool(pd.isna(value))


def cell_text(value: Any) -> str:
    """A cell as text; a missing value as ``""``."""
    return "" if is_missing(value) else str(value)
