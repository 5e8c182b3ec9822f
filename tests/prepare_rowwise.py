"""The row-by-row definition of :func:`vaxlib.match.prepare.prepare_records`, kept only here as an oracle.

Every derived column is the scalar parser of :mod:`vaxlib.vn` applied to one
row's text (missing read as ``""``), with no factorising, no per-distinct
tables and no Arrow: what the fast path must reproduce column for column.
Only the name columns come from :func:`vaxlib.match.prepare.name_columns`
over the whole column (their own definition, tested separately).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

TEXT = ("full_name", "dob", "sex", "id_number", "phone")


def _text(v) -> str:
    """A cell as the matcher reads it: "" when missing, else its str."""
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return ""
    return str(v)


def _int_or_zero(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        return 0


def prepare_records_rowwise(vaccinations: pd.DataFrame) -> pd.DataFrame:
    """The prepared records frame, one Python call per row and column."""
    from datetime import date

    from vaxlib.match.prepare import NAME_COLS, name_columns
    from vaxlib.vn.dates import parse_typed_dob
    from vaxlib.vn.ids import parse_id
    from vaxlib.vn.phones import normalise_phone
    from vaxlib.vn.sex import parse_sex

    src = vaccinations.reset_index(drop=True)
    n = len(src)
    text = {c: [_text(v) for v in src[c]] if c in src.columns else [""] * n for c in TEXT}
    cols = {c: src[c] for c in src.columns}
    for c in TEXT:
        cols[c] = pd.Series(text[c], dtype=object)
    cols["record_id"] = pd.Series([_text(v) for v in src["record_id"]] if "record_id" in src.columns
                                  else [""] * n, dtype=object)
    names = name_columns(pd.Series(text["full_name"], dtype=object))
    order = list(src.columns) + [c for c in ("record_id",) + TEXT if c not in src.columns]
    out = {c: cols[c] for c in order}
    for c in NAME_COLS:
        out[c] = pd.Series(names[c].tolist(), dtype=object)
    dobs = [parse_typed_dob(v) for v in text["dob"]]
    r0 = [d.readings[0] if d.readings else "" for d in dobs]
    out["dob_r0"] = pd.Series(r0, dtype=object)
    out["dob_r1"] = pd.Series([d.readings[1] if len(d.readings) > 1 else "" for d in dobs], dtype=object)
    out["dob_form"] = pd.Series([d.form or "" for d in dobs], dtype=object)
    out["year"] = np.array([_int_or_zero(v[0:4]) for v in r0], dtype=np.int32)
    out["month"] = np.array([_int_or_zero(v[5:7]) for v in r0], dtype=np.int8)
    out["day"] = np.array([_int_or_zero(v[8:10]) for v in r0], dtype=np.int8)
    ids = [parse_id(v) for v in text["id_number"]]
    out["id_kind"] = pd.Series([p.kind or "" for p in ids], dtype=object)
    out["id_digits"] = pd.Series([p.digits or "" for p in ids], dtype=object)
    out["id_pattern"] = pd.Series([p.pattern or "" for p in ids], dtype=object)
    out["id_issues"] = pd.Series([";".join(p.issues) for p in ids], dtype=object)
    out["id_raw_digits"] = pd.Series([re.sub(r"[^0-9]", "", v) for v in text["id_number"]], dtype=object)
    out["sex_p"] = pd.Series([parse_sex(v) or "" for v in text["sex"]], dtype=object)
    dose = [_text(v) for v in src["dose_number"]] if "dose_number" in src.columns else [""] * n
    out["dose_n"] = np.array([_int_or_zero(v) for v in dose], dtype=np.int16)
    epoch = date(1970, 1, 1)

    def day_number(v: str) -> int:
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", v)
        try:
            return (date(*map(int, m.groups())) - epoch).days if m else -1
        except ValueError:
            return -1

    vd = [_text(v) for v in src["vaccination_date"]] if "vaccination_date" in src.columns else [""] * n
    out["vdate"] = np.array([day_number(v) for v in vd], dtype=np.int32)
    out["phone_n"] = pd.Series([normalise_phone(v) or "" for v in text["phone"]], dtype=object)
    return pd.DataFrame(out)
