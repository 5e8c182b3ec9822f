"""The one writer of spreadsheet-bound text: every CSV and xlsx cell vaxlib writes passes here.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is read by Excel and LibreOffice as a formula (OWASP, "CSV
Injection", https://owasp.org/www-community/attacks/CSV_Injection): a
record ID, a typed name, an analyst's reason or a ``--signer`` of
``=HYPERLINK(...)`` would run when a colleague opens the export.  Such text
gets one apostrophe in front, which a spreadsheet shows as text and
:func:`unneutralise` (used by :func:`vaxlib.io.read_table`) removes again;
text that already starts with an apostrophe gets one too, so that the
round trip is exact.  Numbers are not text and are written as they are.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

__all__ = ["FORMULA_START", "is_formula_like", "neutralise", "unneutralise", "neutralise_frame",
           "csv_row", "write_csv"]

#: first characters that make a spreadsheet read a cell as a formula, and the escape itself
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def is_formula_like(value: Any) -> bool:
    """True for text a spreadsheet could take as a formula (``= + - @``, tab, CR) or that starts with ``'``."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def neutralise(value: Any) -> Any:
    """``'`` + the text when :func:`is_formula_like`; anything else unchanged.

    >>> neutralise("=1+1"), neutralise("-7"), neutralise("Lê Hà"), neutralise(-7)
    ("'=1+1", "'-7", 'Lê Hà', -7)
    """
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def unneutralise(value: Any) -> Any:
    """Undo :func:`neutralise`: one leading apostrophe before a formula character goes."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START:
        return value[1:]
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every formula-like text cell neutralised (only text columns are looked at)."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if col.dtype != object and not pd.api.types.is_string_dtype(col.dtype):
            continue
        values = col.tolist()
        if any(isinstance(v, str) and v.startswith(FORMULA_START) for v in values):
            out[c] = pd.Series([neutralise(v) for v in values], index=col.index, dtype=object)
    return out


def csv_row(values: Iterable[Any]) -> list[Any]:
    """A row for :func:`csv.writer` with every cell neutralised."""
    return [neutralise(v) for v in values]


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], *, encoding: str = "utf-8-sig",
              **to_csv: Any) -> Path:
    """``df.to_csv`` with formula-like text neutralised; the index is not written unless asked.

    Lines end in CRLF (RFC 4180): with a bare LF the csv module leaves a field
    holding a CR unquoted, and a spreadsheet then starts a new row -- and a
    new cell, unneutralised -- in the middle of it.
    """
    to_csv.setdefault("index", False)
    neutralise_frame(df).to_csv(path, encoding=encoding, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL, **to_csv)
    return Path(path)
