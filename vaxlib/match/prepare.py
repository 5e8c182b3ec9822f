"""Normalise the registry and the dose records into the columns the matcher needs.

Every derived column is computed once per distinct typed value (names, dates and
ID numbers repeat a lot) with the parsers of :mod:`vaxlib.vn`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from vaxlib.vn.text import fold_key, map_unique, tone_key

__all__ = ["prepare_registry", "prepare_records", "name_columns"]


def _as_text(s: pd.Series) -> pd.Series:
    """Object Series of str with "" for missing values."""
    return s.astype(object).where(s.notna(), "").astype(str)


def _name_derivations(name: str) -> tuple[str, str, str, str, str, str, str]:
    from vaxlib.vn.names import canonical_name

    canon = canonical_name(name)
    tone = tone_key(name)
    fold = fold_key(name)
    tokens = fold.split()
    sorted_tokens = " ".join(sorted(tokens))
    family = tokens[0] if tokens else ""
    given = tokens[-1] if tokens else ""
    fam_given = f"{family} {given}" if len(tokens) > 1 else family
    return canon, tone, fold, sorted_tokens, family, given, fam_given


NAME_COLS = ["name_canon", "name_tone", "name_fold", "name_sorted", "family", "given", "fam_given"]


def name_columns(names: pd.Series) -> pd.DataFrame:
    """Canonical, tone-insensitive, folded and token keys of every name (once per unique)."""
    text = _as_text(names)
    uniques = pd.unique(text)
    derived = [_name_derivations(u) for u in uniques]
    table = pd.DataFrame(derived, columns=NAME_COLS)
    codes = pd.Index(uniques).get_indexer(text)
    out = table.iloc[codes].reset_index(drop=True)
    out.index = names.index
    return out


def _dob_parts(iso: pd.Series) -> pd.DataFrame:
    """Year, month, day integers (0 where unknown) of ISO partial dates."""
    text = _as_text(iso)
    year = pd.to_numeric(text.str.slice(0, 4), errors="coerce").fillna(0).astype(np.int32)
    month = pd.to_numeric(text.str.slice(5, 7), errors="coerce").fillna(0).astype(np.int8)
    day = pd.to_numeric(text.str.slice(8, 10), errors="coerce").fillna(0).astype(np.int8)
    return pd.DataFrame({"year": year, "month": month, "day": day}, index=iso.index)


def prepare_registry(registry: pd.DataFrame) -> pd.DataFrame:
    """Registry with derived matching columns; index is 0..N-1 (the registry position)."""
    reg = registry.reset_index(drop=True).copy()
    for col in ("person_id", "full_name", "dob", "sex", "old_id", "province_code"):
        if col not in reg.columns:
            reg[col] = ""
        reg[col] = _as_text(reg[col])
    reg = pd.concat([reg, name_columns(reg["full_name"])], axis=1)
    parts = _dob_parts(reg["dob"])
    reg["year"], reg["month"], reg["day"] = parts["year"], parts["month"], parts["day"]
    reg["dob_precision"] = np.select(
        [reg["day"] > 0, reg["month"] > 0, reg["year"] > 0], ["day", "month", "year"], default="none"
    )
    return reg


def prepare_records(vaccinations: pd.DataFrame) -> pd.DataFrame:
    """Dose records with parsed name, dob readings, ID, sex and phone; index 0..M-1."""
    from vaxlib.vn.dates import parse_dobs
    from vaxlib.vn.ids import parse_ids
    from vaxlib.vn.phones import normalise_phones
    from vaxlib.vn.sex import parse_sexes

    rec = vaccinations.reset_index(drop=True).copy()
    for col in ("record_id", "full_name", "dob", "sex", "id_number", "phone"):
        if col not in rec.columns:
            rec[col] = ""
        rec[col] = _as_text(rec[col])
    rec = pd.concat([rec, name_columns(rec["full_name"])], axis=1)

    dobs = parse_dobs(rec["dob"])
    rec["dob_r0"] = _as_text(dobs["dob"])  # the dd/mm reading
    rec["dob_r1"] = _as_text(dobs["dob_alt"])  # the mm/dd reading of an ambiguous date
    rec["dob_form"] = _as_text(dobs["form"])
    parts = _dob_parts(rec["dob_r0"])
    rec["year"], rec["month"], rec["day"] = parts["year"], parts["month"], parts["day"]

    ids = parse_ids(rec["id_number"])
    rec["id_kind"] = _as_text(ids["kind"])
    rec["id_digits"] = _as_text(ids["digits"])
    rec["id_pattern"] = _as_text(ids["pattern"])
    rec["id_issues"] = _as_text(ids["issues"])
    # Every digit typed, in order: what is left of a truncated or malformed number.
    rec["id_raw_digits"] = map_unique(rec["id_number"], lambda s: "".join(c for c in s if c.isdigit()))

    rec["sex_p"] = _as_text(parse_sexes(rec["sex"]))
    dose = rec["dose_number"] if "dose_number" in rec else pd.Series(0, index=rec.index)
    rec["dose_n"] = pd.to_numeric(dose, errors="coerce").fillna(0).astype(np.int16)
    vdate = rec["vaccination_date"] if "vaccination_date" in rec else pd.Series("", index=rec.index)
    days = pd.to_datetime(vdate, format="%Y-%m-%d", errors="coerce")
    rec["vdate"] = ((days - pd.Timestamp("1970-01-01")).dt.days).fillna(-1).astype(np.int32)
    rec["phone_n"] = _as_text(normalise_phones(rec["phone"]))
    return rec
