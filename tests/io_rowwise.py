"""The row-by-row contract logic of ``vaxlib.io`` as it was before the coded path (main at c2ae1cd).

Kept only here, as an independent oracle: :func:`read_table_rowwise` reads a
file the old way (Parquet through ``to_pylist``, every check and
normalisation a Python loop over rows) so that tests can compare every field
of :class:`vaxlib.io.ImportResult` with the vectorised :func:`vaxlib.io.read_table`.
CSV and xlsx share vaxlib.io's readers (their parsing did not change); their
coded columns are turned back into lists before the old logic runs.
Copied verbatim except for that conversion; do not "fix" it: it is the reference.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from vaxlib import io as vio
from vaxlib.io import (KEY_COLUMN, QUARANTINE_COLUMNS, SUPPORTED_EXTENSIONS, CorruptFileError, ImportResult,
                       NoUsableRowsError, _cell_text, _check_required, _mismatch, _registry_sex,
                       _sniff, map_headers, parse_platform_date, province_to_gso)
from vaxlib.io import _parse_dose, _parse_timestamp  # noqa: F401
from vaxlib.schema import columns, extra_columns
from vaxlib.vn import encodings as _encodings
from vaxlib.vn.text import nfc

logger = logging.getLogger(__name__)

Cols = dict[str, list]


def _string_column(col) -> list:
    """Python list of a pyarrow string column ("" and null -> None).

    Decoded once per distinct value (dictionary encoding), so equal values
    share one Python string: a million rows of repeated names, dates and
    provinces then cost a pointer each instead of a string each.
    """
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    enc = col.dictionary_encode()
    uniques = [v if v != "" else None for v in enc.dictionary.to_pylist()]
    uniques.append(None)  # null entries
    idx = enc.indices.fill_null(len(uniques) - 1).to_numpy(zero_copy_only=False)
    import numpy as np  # noqa: PLC0415

    return np.asarray(uniques, dtype=object)[idx].tolist()


def _read_parquet(path: Path, data: bytes, kind: str):
    ext = path.suffix.lower()
    detected = _sniff(data)
    if detected != "parquet":
        raise _mismatch(path, ext, "parquet", detected)
    if len(data) < 12 or not data.endswith(b"PAR1"):
        raise CorruptFileError("tệp Parquet bị cắt cụt (thiếu phần cuối PAR1)",
                               "truncated Parquet file (no PAR1 footer)", path)
    try:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        tbl = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # noqa: BLE001 - any parser failure means a damaged file
        raise CorruptFileError(f"tệp Parquet bị hỏng ({type(exc).__name__})",
                               f"damaged Parquet file ({type(exc).__name__})", path) from None
    try:
        headers = [str(n) for n in tbl.column_names]
    except Exception as exc:  # noqa: BLE001 - e.g. a column name that is not UTF-8
        raise CorruptFileError(f"tệp Parquet bị hỏng ({type(exc).__name__})",
                               f"damaged Parquet file ({type(exc).__name__})", path) from None
    hmap = map_headers(headers, kind)
    _check_required(path, kind, headers, hmap)
    cols: list[list[str | None]] = []
    numeric_cols: set[int] = set()
    try:
        for j, name in enumerate(headers):
            col = tbl.column(j)
            t = col.type
            contract = hmap.get(j)
            if (pa.types.is_string(t) or pa.types.is_large_string(t)) and contract == KEY_COLUMN[kind]:
                vals = [v if v != "" else None for v in col.to_pylist()]  # unique keys: nothing to share
            elif pa.types.is_string(t) or pa.types.is_large_string(t):
                vals = _string_column(col)
            elif pa.types.is_integer(t):
                # str(int) of every value, as _cell_text gives it, decoded once per distinct number
                numeric_cols.add(j)
                vals = _string_column(col.cast(pa.large_string()))
            else:
                if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
                    numeric_cols.add(j)
                vals = [(v or None) if isinstance(v, str) else _cell_text(v, kind, contract)[0]
                        for v in col.to_pylist()]
            cols.append(vals)
    except Exception as exc:  # noqa: BLE001
        raise CorruptFileError(f"tệp Parquet bị hỏng ({type(exc).__name__})",
                               f"damaged Parquet file ({type(exc).__name__})", path) from None
    n = tbl.num_rows
    return vio._Sheet(headers=headers, cols=cols, rownums=list(range(2, n + 2)),
                  raw_of=lambda i: "\t".join("" if c[i] is None else c[i] for c in cols),
                  numeric={j: [True] * n for j in numeric_cols}, encoding=None, header_map=hmap)


# --------------------------------------------------------------------------- contract logic


Cols = dict[str, list]


def _contract_columns(sheet, kind: str) -> tuple[Cols, dict[str, list[bool]]]:
    """Contract column -> list of values (``None`` where the file has no such column)."""
    pos_of = {c: i for i, c in sheet.header_map.items()}
    data: Cols = {}
    numeric: dict[str, list[bool]] = {}
    n = sheet.n_rows
    for c in columns(kind):
        j = pos_of.get(c)
        data[c] = [None] * n if j is None else sheet.cols[j]
        numeric[c] = sheet.numeric.get(j) or [False] * n if j is not None else [False] * n
    for c in extra_columns(kind):  # carried only when the file has them
        if (j := pos_of.get(c)) is not None:
            data[c] = sheet.cols[j]
            numeric[c] = sheet.numeric.get(j) or [False] * n
    return data, numeric


def _map_once(values: list, func: Callable[[str], Any]) -> list:
    """``func`` applied once per distinct non-null value; ``None`` stays ``None``."""
    cache: dict[str, Any] = {}
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        r = cache.get(v, cache)
        if r is cache:
            r = cache[v] = func(v)
        out.append(r)
    return out


def _strip_list(values: list) -> list:
    return [None if v is None else (v.strip() or None) for v in values]


def _repair_uniques(uniques: list[str]) -> dict[str, str] | None:
    """value -> repaired value for one column's distinct non-ASCII values; None when the column is fine.

    A column comes from one source in one encoding, so the garbling is
    detected once for the column (``detect_text_encoding``) and undone on
    every value (``repair_texts(assume=label)``).
    """
    try:
        label = _encodings.detect_text_encoding(uniques, sample=1000)
        if label in ("unicode", "ascii", None, ""):
            return None
        fixed = _encodings.repair_texts(pd.Series(uniques, dtype=object), assume=label).tolist()
    except Exception:  # noqa: BLE001 - a repair bug must not stop an import
        logger.exception("column repair failed; column left as decoded")
        return None
    return {u: f for u, f in zip(uniques, fixed) if isinstance(f, str)}


def _repair_columns(data: Cols, broken_text: dict[str, set[str]] | None = None) -> list[str]:
    """Repair mojibake column by column, in place; return the repaired columns.

    ``broken_text``, when given, receives column -> the distinct final values
    holding U+FFFD (found on the same distinct non-ASCII values, at no extra pass).
    """
    repaired = []
    for c, values in data.items():
        uniques = [v for v in set(values) if v is not None and not v.isascii()]
        if not uniques:
            continue
        mapping = _repair_uniques(uniques)
        if mapping and any(k != v for k, v in mapping.items()):
            data[c] = [v if v is None else mapping.get(v, v) for v in values]
            repaired.append(c)
            finals = [mapping.get(u, u) for u in uniques]
        else:
            finals = uniques
        if broken_text is not None:
            bad = {v for v in finals if "\ufffd" in v}
            if bad:
                broken_text[c] = bad
    return repaired


def _validate(data: Cols, numeric: dict[str, list[bool]], kind: str) -> dict[int, list[tuple[str, str]]]:
    """Normalise ``data`` in place; return row index -> problems (column, reason) for rows that have any."""
    problems: dict[int, list[tuple[str, str]]] = defaultdict(list)
    key = KEY_COLUMN[kind]

    def parse(column: str, func: Callable[[str], str | None], reason: str, *, strip: bool = True) -> None:
        """Replace a column by its parsed form; flag rows where parsing failed (also empty ones)."""
        raw = data[column]
        parsed = _map_once(_strip_list(raw) if strip else raw, func)
        for i, v in enumerate(parsed):
            if v is None:
                problems[i].append((column, reason))
        data[column] = [p if p is not None else r for p, r in zip(parsed, raw)]

    if kind == "registry":
        num = numeric["person_id"]
        pid = [p.zfill(12) if p is not None and num[i] and p.isdigit() and 10 <= len(p) <= 11 else p
               for i, p in enumerate(_strip_list(data["person_id"]))]
        data["person_id"] = pid
        for i, p in enumerate(pid):
            if p is not None and not (len(p) == 12 and p.isdigit() and p.isascii()):
                problems[i].append(("person_id", "bad_person_id"))
        data["full_name"] = _map_once(data["full_name"], nfc)
        parse("dob", lambda v: parse_platform_date(v, partial=True), "bad_dob")
        raw_sex = _strip_list(data["sex"])
        sex = _map_once(raw_sex, _registry_sex)
        for i, (o, s_) in enumerate(zip(raw_sex, sex)):
            if o is not None and s_ is None:
                problems[i].append(("sex", "bad_sex"))
        data["sex"] = [s_ if s_ is not None else o for s_, o in zip(sex, data["sex"])]
        num = numeric["old_id"]
        data["old_id"] = [o.zfill(9) if o is not None and num[i] and o.isdigit() and len(o) == 8 else o
                          for i, o in enumerate(_strip_list(data["old_id"]))]
        data["province_code"] = _provinces(_strip_list(data["province_code"]), numeric["province_code"])
    elif kind == "vaccinations":
        data["record_id"] = _strip_list(data["record_id"])
        data["facility_id"] = _strip_list(data["facility_id"])
        data["province_code"] = _provinces(data["province_code"], numeric["province_code"])
        data["facility_province"] = _provinces(_strip_list(data["facility_province"]), numeric["facility_province"])
        parse("dose_number", _parse_dose, "bad_dose_number", strip=False)
        parse("vaccination_date", lambda v: parse_platform_date(v, partial=False), "bad_vaccination_date")
    else:
        data["feedback_id"] = _strip_list(data["feedback_id"])
        parse("submitted_at", _parse_timestamp, "bad_submitted_at")

    seen: set[str] = set()
    for i, k in enumerate(data[key]):
        if k is None:
            problems[i].append((key, "missing_key"))
        elif k in seen:
            problems[i].append((key, "duplicate_key"))
        else:
            seen.add(k)
    return problems


def _replacement_char_rows(data: Cols, broken_text: dict[str, set[str]]) -> list[tuple[int, str]]:
    """(row index, column) of every value holding U+FFFD: text broken by a decoder upstream is never accepted."""
    return [(i, column) for column, bad in broken_text.items()
            for i, v in enumerate(data[column]) if v in bad]


def _provinces(values: list, numeric: list[bool]) -> list:
    """:func:`province_to_gso` of every value, computed once per distinct (value, numeric)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    num = np.fromiter((bool(x) for x in numeric), dtype=bool, count=len(values))
    out = np.full(len(values), None, dtype=object)
    for flag in (False, True):
        sel = num == flag
        if not sel.any():
            continue
        codes, uniques = pd.factorize(arr[sel], use_na_sentinel=True)
        mapped = np.empty(len(uniques) + 1, dtype=object)  # the last slot: missing stays None
        mapped[:-1] = [province_to_gso(u, numeric=flag) for u in uniques]
        out[sel] = mapped[codes]
    return out.tolist()




def read_table_rowwise(path: str | os.PathLike[str], kind: str, *, encoding: str | None = None,
                       sheet: int | str | None = None, require_rows: bool = False) -> ImportResult:
    """:func:`vaxlib.io.read_table` as it was: the old Parquet reader and the row-by-row contract logic."""
    p = Path(path)
    fmt = SUPPORTED_EXTENSIONS[p.suffix.lower()]
    data = p.read_bytes()
    if fmt == "csv":
        sh = vio._read_csv(p, data, kind, encoding)
    elif fmt == "xlsx":
        sh = vio._read_xlsx(p, data, kind, sheet)
    else:
        sh = _read_parquet(p, data, kind)
    sh.cols = [c if isinstance(c, list) else c.values().tolist() for c in sh.cols]
    sh.rownums = [int(r) for r in sh.rownums]
    sh.numeric = {j: [bool(x) for x in v] for j, v in sh.numeric.items()}

    data, numeric = _contract_columns(sh, kind)
    broken_text: dict[str, set[str]] = {}
    repaired = _repair_columns(data, broken_text)
    undecodable = _replacement_char_rows(data, broken_text)
    problems = _validate(data, numeric, kind)
    for i, column in undecodable:
        problems[i].append((column, "undecodable"))

    key_values = data[KEY_COLUMN[kind]]
    q_rows: list[dict[str, Any]] = []
    for row, col, reason, raw in sh.broken:
        q_rows.append({"file": str(p), "row": row, "column": col, "reason": reason, "raw": raw})
    keep = [i for i in range(sh.n_rows) if i not in problems]
    for i in sorted(problems):
        probs = problems[i]
        if key_values[i] is None and all(c[i] is None or c[i].strip() == "" for c in sh.cols):
            probs = [("", "empty_row")]
        raw = sh.raw_of(i)
        q_rows.append({
            "file": str(p), "row": sh.rownums[i],
            "column": ";".join(dict.fromkeys(c for c, _ in probs)),
            "reason": ";".join(dict.fromkeys(r for _, r in probs)),
            "raw": raw,
        })
    if len(keep) == sh.n_rows:
        table = pd.DataFrame({c: pd.Series(vals, dtype=object) for c, vals in data.items()}, columns=list(data))
    else:
        table = pd.DataFrame({c: pd.Series([vals[i] for i in keep], dtype=object) for c, vals in data.items()},
                             columns=list(data))
    quarantine = pd.DataFrame(q_rows, columns=QUARANTINE_COLUMNS)
    quarantine = quarantine.sort_values("row", kind="stable").reset_index(drop=True)
    quarantine["row"] = quarantine["row"].astype("int64")
    rows_in = sh.n_rows + len(sh.broken)
    result = ImportResult(
        table=table, quarantine=quarantine, rows_in=rows_in, encoding=sh.encoding, source=str(p),
        repaired_columns=tuple(repaired), header_map={sh.headers[j]: c for j, c in sh.header_map.items()},
        source_rows=[sh.rownums[i] for i in keep], legacy_lines=sh.legacy_lines,
    )
    assert result.rows_in == len(result.table) + len(result.quarantine)
    if require_rows and not len(table):
        raise NoUsableRowsError(result)
    return result
