"""Error codes (the contract's taxonomy) and corrections for linked records.

Given a dose record and the registry person it is linked to, name exactly
what differs (``name:*`` from :func:`vaxlib.vn.names.compare_names`, ``dob:*``
from :func:`vaxlib.vn.dates.compare_dob`, ``id:*`` and ``sex:*`` here) and the
registry values that make the record verifiable.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["id_codes", "classify_links", "unlinked_codes", "intrinsic_codes"]


def _one_edit(a: str, b: str) -> str | None:
    if len(a) != len(b) or not a:
        return None
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return "id:typo"
    if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
        return "id:transposition"
    return None


def id_codes(typed: str, kind: str, digits: str, pattern: str, issues: str,
             person_id: str, old_id: str, registry_ids: "set[str] | pd.Index", raw_digits: str = "") -> tuple[str, ...]:
    """ID error code(s) of a typed ID against the linked person's registry ID.

    ``registry_ids`` answers "does this 12-digit number belong to somebody"
    (for ``id:other_person`` versus ``id:unknown``).
    """
    if typed == person_id:
        return ()
    if kind == "missing":
        return ("id:missing",)
    if not digits and kind not in ("excel", "passport"):
        return ("id:malformed",)
    if kind == "passport":
        return ("id:passport",)
    if digits == person_id:
        if "id:excel_mangled" in issues:
            return ("id:excel_mangled",)
        if "id:lost_leading_zero" in issues:
            return ("id:lost_leading_zero",)
        return ("id:malformed",)
    if kind == "excel":
        # Excel's notation is the error whether or not the kept digits fit this person.
        return ("id:excel_mangled",)
    if old_id and digits == old_id:
        return ("id:old_cmnd",)
    edit = _one_edit(digits or raw_digits, person_id)
    if edit:
        return (edit,)
    from vaxlib.match.compare import is_truncated

    if is_truncated(raw_digits or digits, person_id):
        return ("id:malformed",)
    if digits in registry_ids:
        return ("id:other_person",)
    if kind in ("cccd", "cmnd"):
        return ("id:unknown",)
    return ("id:malformed",)


def intrinsic_codes(full_name: str, dob: str, dob_iso: str, sex_p: str) -> tuple[str, ...]:
    """Errors visible in a record without a registry person to compare with.

    Decomposed Unicode, odd case or spacing, a date of birth not in the
    register's ISO form, and an empty sex can all be seen in the record alone.
    """
    from vaxlib.vn.names import canonical_name
    from vaxlib.vn.text import nfc

    codes = []
    if full_name:
        composed = nfc(full_name)
        if composed != full_name:
            codes.append("name:unicode_form")
        spaced = " ".join(composed.split())
        # An all-capital ASCII name is how passports write foreigners' names:
        # only its spacing can be judged without the register.
        passport_style = composed.isascii() and composed.upper() == composed
        if spaced != composed or (not passport_style and canonical_name(composed) != composed):
            codes.append("name:case_spacing")
    if dob and dob_iso and dob != dob_iso:
        codes.append("dob:format")
    if not sex_p:
        codes.append("sex:missing")
    return tuple(codes)


def unlinked_codes(kind: str, digits: str, registry_ids) -> tuple[str, ...]:
    """What can be said of an unlinked record's ID without a person to compare with."""
    if kind == "missing":
        return ("id:missing",)
    if kind == "passport":
        return ("id:passport",)
    if kind == "malformed":
        return ("id:malformed",)
    if kind == "excel":
        return ("id:excel_mangled",)
    if digits and digits in registry_ids:
        return ("id:other_person",)
    if kind in ("cccd", "cmnd"):
        return ("id:unknown",)
    return ()


def classify_links(rec: pd.DataFrame, reg: pd.DataFrame, rec_idx: np.ndarray, reg_idx: np.ndarray,
                   registry_ids) -> pd.DataFrame:
    """Error codes and corrected_* values for each (record, registry person) link."""
    from vaxlib.vn.dates import compare_dob
    from vaxlib.vn.names import compare_names

    r = rec.iloc[rec_idx]
    g = reg.iloc[reg_idx]
    tn, gn = r["full_name"].to_numpy(dtype=object), g["full_name"].to_numpy(dtype=object)
    td, gd = r["dob"].to_numpy(dtype=object), g["dob"].to_numpy(dtype=object)
    name_cache: dict[tuple[str, str], tuple[str, ...]] = {}
    dob_cache: dict[tuple[str, str], tuple[str, ...]] = {}
    id_typed = r["id_number"].to_numpy(dtype=object)
    kinds = r["id_kind"].to_numpy(dtype=object)
    digits = r["id_digits"].to_numpy(dtype=object)
    patterns = r["id_pattern"].to_numpy(dtype=object)
    issues = r["id_issues"].to_numpy(dtype=object) if "id_issues" in r else np.full(len(r), "", dtype=object)
    raws = r["id_raw_digits"].to_numpy(dtype=object)
    pids = g["person_id"].to_numpy(dtype=object)
    olds = g["old_id"].to_numpy(dtype=object)
    rsex, gsex = r["sex_p"].to_numpy(dtype=object), g["sex"].to_numpy(dtype=object)

    codes_out = []
    for i in range(len(r)):
        codes: list[str] = []
        if tn[i] != gn[i]:
            key = (tn[i], gn[i])
            if key not in name_cache:
                name_cache[key] = tuple(compare_names(tn[i], gn[i])) if tn[i] else ("name:missing_part",)
            codes.extend(name_cache[key])
        if td[i] != gd[i]:
            key = (td[i], gd[i])
            if key not in dob_cache:
                dob_cache[key] = tuple(compare_dob(td[i], gd[i])) if td[i] else ("dob:other",)
            codes.extend(dob_cache[key])
        codes.extend(id_codes(id_typed[i], kinds[i], digits[i], patterns[i], issues[i], pids[i], olds[i],
                              registry_ids, raws[i]))
        if not rsex[i]:
            codes.append("sex:missing")
        elif rsex[i] != gsex[i]:
            codes.append("sex:mismatch")
        codes_out.append(";".join(sorted(dict.fromkeys(codes))))

    out = pd.DataFrame(index=r.index)
    out["error_codes"] = codes_out
    out["corrected_full_name"] = np.where(tn != gn, gn, None)
    out["corrected_dob"] = np.where(td != gd, gd, None)
    out["corrected_sex"] = np.where(rsex != gsex, gsex, None)
    out["corrected_id_number"] = np.where(id_typed != pids, pids, None)
    return out
