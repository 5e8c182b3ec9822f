"""Reading and writing the data contract's tables.

:func:`read_table` turns a registry, vaccinations or feedback file -- Parquet,
CSV/TSV in any encoding the platform's users produced (UTF-8 with or without
BOM, UTF-16, Windows-1258, TCVN3/ABC, VNI-Windows, mojibake) or an Excel
``.xlsx`` workbook -- into the contract's table (``shared/spec/data-contract.md``):
contract columns in contract order, every value a ``str`` or ``None``.  Rows
that cannot be used go to a quarantine table naming the file, the row as a
person sees it in a spreadsheet (header = row 1), the column(s) and the
reason(s); ``rows_in == len(table) + len(quarantine)`` always holds (one
quarantine row per file row, its reasons ``;``-joined).

:func:`write_table` writes a contract table the way the national platform
exports it (Vietnamese headers, dd/mm/yyyy dates, ``Nam``/``Nữ``), or as
Parquet with the contract's own column names and forms.  For valid tables
``read_table(write_table(t, ...)).table`` equals ``t`` in all three formats.

Every failure to read a file raises a subclass of :class:`VaxImportError`
whose message names the file; no other exception escapes :func:`read_table`
for a bad file.

What is normalised and what is kept:

* typed fields (vaccinations/feedback ``full_name``, ``dob``, ``sex``,
  ``id_number``, ``phone``) stay exactly as typed; only the decoding is
  fixed: UTF-8 is decoded without normalisation (a decomposed name reaches
  the matcher as ``name:unicode_form``), legacy 8-bit text is NFC after
  decoding (Windows-1258 stores tone marks apart by design), and a column of
  mojibake or TCVN3/VNI text read as cp1252 is repaired with
  :mod:`vaxlib.vn.encodings` (``ImportResult.repaired_columns``);
* registry ``dob`` and ``vaccination_date`` (dd/mm/yyyy, mm/yyyy, yyyy in
  exports) become ``YYYY-MM-DD`` / ``YYYY-MM`` / ``YYYY``, ``submitted_at``
  ISO 8601, registry sex ``Nam``/``Nữ`` -> ``M``/``F``, ``dose_number``
  ``"1"``..``"7"``, province names -> GSO codes;
* cells that were numbers (xlsx, Parquet) come back as their digits: no
  ``.0``, no exponent; a registry ``person_id``/``old_id`` number cell gets
  back the leading zero a number cannot hold (the register's IDs are 12/9
  digits), a typed ``id_number`` keeps its digits for :mod:`vaxlib.vn.ids`;
* keys and codes are trimmed; an empty cell is ``None``; ``"NA"`` is text.

Quarantine reason codes are the keys of :data:`REASONS`.  A title line
above the header (found among the first 10 rows) is not a data row.

Hostile input (``tests/data/hostile/make_corpus.py`` holds a file for each case):

* a CSV's encoding is decided line by line when the file is not one
  encoding throughout (:func:`vaxlib.vn.encodings.decode_lines`): binary
  garbage in a UTF-8 file does not change how the other lines are read, a
  line in a legacy Vietnamese encoding is read in it
  (``ImportResult.legacy_lines``), and a line nothing reads is quarantined
  (``undecodable``); no accepted value ever holds U+FFFD;
* merged xlsx cells are filled from the range's first cell (within one
  field) or quarantined (``merged_cells``, a range over several fields);
* sizes are checked before reading: :data:`MAX_INPUT_BYTES` for the file,
  :data:`MAX_XLSX_UNCOMPRESSED`, :data:`MAX_XLSX_PART` and
  :data:`MAX_XLSX_RATIO` for what a workbook inflates to
  (:class:`TooLargeError`);
* a file with a header and no usable row raises :class:`NoUsableRowsError`
  when asked (``require_rows``); a headerless file's message shows its first
  row masked (:mod:`vaxlib.privacy`), never a person's name or number.

Messages are Vietnamese by default; ``exc.message_en`` holds the English, and
:data:`REASONS` gives both for every quarantine reason code.

Formula injection: cells of a CSV or ``.xlsx`` written here that start with
``= + - @``, a tab, a carriage return or an apostrophe get an apostrophe
prepended by :mod:`vaxlib.exports` (OWASP, "CSV Injection",
https://owasp.org/www-community/attacks/CSV_Injection); :func:`read_table`
removes exactly that one apostrophe again.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import functools
import gc
import io as _io
import logging
import math
import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd

from vaxlib.cells import is_missing
from vaxlib.errors import VaxError
from vaxlib.exports import is_formula_like, neutralise, unneutralise
from vaxlib.schema import EXTRA_COLUMNS, TABLES, columns, extra_columns
from vaxlib.vn import encodings as _encodings
from vaxlib.vn.provinces import BY_GSO, PROVINCES
from vaxlib.vn.sex import parse_sex
from vaxlib.vn.text import fold_key, nfc

__all__ = [
    "VaxImportError",
    "MissingColumnError",
    "EmptyFileError",
    "NoUsableRowsError",
    "UnsupportedFileError",
    "FileTypeMismatchError",
    "CorruptFileError",
    "DecodeError",
    "SheetNotFoundError",
    "TooLargeError",
    "MAX_INPUT_BYTES",
    "ImportResult",
    "QUARANTINE_COLUMNS",
    "REASONS",
    "SUPPORTED_EXTENSIONS",
    "read_table",
    "read_clean_parquet",
    "write_table",
    "header_key",
    "map_headers",
    "province_to_gso",
    "parse_platform_date",
    "read_output",
    "read_output_arrow",
    "read_output_batches",
    "write_output",
    "write_json",
    "read_json",
    "parquet_rows",
    "parquet_columns",
    "OutputTableError",
]

logger = logging.getLogger(__name__)

Kind = Literal["registry", "vaccinations", "feedback"]
Format = Literal["parquet", "csv", "xlsx"]

#: file extension -> reader
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
}

QUARANTINE_COLUMNS = ["file", "row", "column", "reason", "raw"]

#: quarantine reason code -> (Vietnamese, English) explanation
REASONS: dict[str, tuple[str, str]] = {
    "field_count": ("Số trường của dòng khác số cột của tiêu đề", "wrong number of fields for the header"),
    "bad_quoting": ("Dấu ngoặc kép không khớp (trường chưa đóng ngoặc)", "unbalanced or unterminated quote"),
    "merged_cells": ("Ô gộp trải qua nhiều cột hoặc cả dòng tiêu đề: không biết giá trị thuộc trường nào",
                     "merged cells span several columns (or the header): no single value per field"),
    "undecodable": ("Dòng/ô có byte không giải mã được theo bảng mã của tệp (hoặc ký tự U+FFFD)",
                    "bytes that cannot be decoded in the file's encoding (or a U+FFFD character)"),
    "empty_row": ("Dòng trống", "completely empty row"),
    "missing_key": ("Thiếu mã định danh của dòng", "empty identifying key"),
    "duplicate_key": ("Trùng mã với một dòng phía trên (giữ dòng đầu tiên)", "duplicate key (the first row is kept)"),
    "bad_person_id": ("Số định danh cá nhân không phải 12 chữ số", "person_id is not 12 digits"),
    "bad_dob": ("Ngày sinh không đọc được", "unparseable date of birth"),
    "bad_sex": ("Giới tính không đọc được", "unrecognised sex"),
    "bad_vaccination_date": ("Ngày tiêm không đọc được", "unparseable vaccination date"),
    "bad_submitted_at": ("Thời gian gửi không đọc được", "unparseable submission time"),
    "bad_dose_number": ("Mũi tiêm không phải số nguyên từ 1 đến 7", "dose number is not an integer 1-7"),
}

#: the key column of each table: must be present and unique
KEY_COLUMN = {"registry": "person_id", "vaccinations": "record_id", "feedback": "feedback_id"}


# --------------------------------------------------------------------------- errors


class VaxImportError(VaxError):
    """A file could not be imported.  ``str(exc)`` is Vietnamese, ``exc.message_en`` English.

    Attributes ``path``, ``row`` and ``column`` locate the problem where known.
    """

    def __init__(self, message_vi: str, message_en: str, path: str | os.PathLike[str] | None = None,
                 *, row: int | None = None, column: str | None = None):
        self.path = str(path) if path is not None else None
        self.row = row
        self.column = column
        where = self.path or "?"
        self.message_vi = f"{where}: {message_vi}"
        self.message_en = f"{where}: {message_en}"
        super().__init__(self.message_vi)


class MissingColumnError(VaxImportError):
    """A required contract column has no header in the file (``missing``, ``found``).

    When the row taken as the header holds a date or a long number, the file
    probably has no header at all and that row is a person's record: the
    message then says so and shows the values masked (``0790******79``, names
    as ``…``), never as typed.
    """

    def __init__(self, path, kind: str, missing: Sequence[str], found: Sequence[str]):
        from vaxlib.privacy import looks_personal, mask_values  # noqa: PLC0415

        self.kind = kind
        self.missing = tuple(missing)
        self.found = tuple(found)
        want = ", ".join(f"{m} ({_vi_header(kind, m)!r})" for m in missing)
        if any(looks_personal(f) for f in found):
            shown = ", ".join(mask_values(found))
            super().__init__(
                f"thiếu dòng tiêu đề: dòng đầu tiên là dữ liệu ({shown}), không phải tên cột; "
                f"cần các cột {want} của bảng {kind}",
                f"no header row: the first row holds data ({shown}), not column names; "
                f"table {kind} needs column(s) {want}",
                path, row=1, column=",".join(missing))
            return
        shown = ", ".join(repr(_short(f)) for f in found) or "(không có)"
        shown_en = ", ".join(repr(_short(f)) for f in found) or "(none)"
        super().__init__(
            f"thiếu cột bắt buộc {want} của bảng {kind}; các cột tìm thấy: {shown}",
            f"missing required column(s) {want} for table {kind}; columns found: {shown_en}",
            path,
            row=1,
            column=",".join(missing),
        )


class NoUsableRowsError(VaxImportError):
    """A file has a header but no row that can be used: none at all, or every one quarantined.

    ``result`` is the :class:`ImportResult` (so that a command can still write the quarantine).
    """

    def __init__(self, result: "ImportResult"):
        self.result = result
        if result.rows_in == 0:
            super().__init__("chỉ có dòng tiêu đề, không có dòng dữ liệu nào",
                             "header only: no data rows", result.source, row=2)
            return
        counts = ", ".join(f"{k} {v}" for k, v in result.reason_counts().items())
        cols = ", ".join(dict.fromkeys(c for cs in result.quarantine["column"] for c in cs.split(";") if c))
        super().__init__(
            f"không có dòng dùng được: cả {result.rows_in} dòng đều bị cách ly ({counts}"
            + (f"; cột {cols}" if cols else "") + ")",
            f"no usable rows: all {result.rows_in} rows are quarantined ({counts}"
            + (f"; column(s) {cols}" if cols else "") + ")",
            result.source, row=int(result.quarantine["row"].min()), column=cols.replace(", ", ";"))


class EmptyFileError(VaxImportError):
    """The file holds no header (no bytes, only white space, or an empty sheet)."""


class UnsupportedFileError(VaxImportError):
    """The file's extension is not one :func:`read_table` reads."""


class FileTypeMismatchError(VaxImportError):
    """The file's content is not what its extension claims (``detected`` says what it seems to be)."""

    def __init__(self, message_vi, message_en, path=None, *, detected: str = "unknown", **kw):
        self.detected = detected
        super().__init__(message_vi, message_en, path, **kw)


class CorruptFileError(VaxImportError):
    """The file has the right signature but its parser failed (truncated or damaged)."""


class DecodeError(VaxImportError):
    """The bytes cannot be decoded with the requested encoding."""


class SheetNotFoundError(VaxImportError):
    """The requested worksheet does not exist in the workbook."""


class TooLargeError(VaxImportError):
    """A file, or what it decompresses to, is beyond vaxlib's limits (:data:`MAX_INPUT_BYTES`, ...)."""


#: largest input file read (a million dose records are about 150 MB as CSV)
MAX_INPUT_BYTES = 1 << 30
#: largest total a workbook may decompress to (its zip members' declared sizes; zipfile never inflates past them)
MAX_XLSX_UNCOMPRESSED = 2 << 30
#: largest compression ratio of a workbook part over 1 MiB (real sheets: 5-20; a zip bomb: 1000)
MAX_XLSX_RATIO = 100
#: largest part of a workbook other than a worksheet or the shared strings (workbook.xml, styles, ...)
MAX_XLSX_PART = 64 << 20


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def _short(s: object, n: int = 40) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def _vi_header(kind: str, name: str) -> str:
    for c in TABLES[kind]:
        if c.name == name:
            return c.vi
    return name


# --------------------------------------------------------------------------- result


@dataclass
class ImportResult:
    """What :func:`read_table` returns.

    Attributes
    ----------
    table : DataFrame
        Contract columns in contract order; every value ``str`` or ``None``.
    quarantine : DataFrame
        One row per unusable file row: ``file``, ``row`` (1-based, header = 1),
        ``column`` and ``reason`` (``;``-joined when several), ``raw`` (the row's text).
    rows_in : int
        Data rows in the file (after the header); ``== len(table) + len(quarantine)``.
    encoding : str or None
        Text encoding detected or used (``None`` for xlsx/Parquet).
    source : str
        The path read.
    repaired_columns : tuple of str
        Contract columns whose mojibake/legacy text was repaired with ``repair_text``.
    header_map : dict
        File header -> contract column for every header that was mapped.
    source_rows : list of int
        File row number of each row of ``table``.
    legacy_lines : dict
        File line (1-based) -> legacy encoding, for lines of a CSV that were
        not in the file's encoding but read cleanly in a legacy Vietnamese one.
    codes : dict
        Column -> ``(codes, values)`` for each column asked for with
        ``read_table(..., codes=...)``: ``table[column]`` is ``values[codes]``
        row for row, ``None`` where ``codes`` is -1; ``values`` (object, str or
        ``None``) may repeat a value or hold one no row uses.  The reader's own
        coding, handed on so that a consumer (the matcher) need not hash the
        column's strings again.
    """

    table: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    encoding: str | None
    source: str
    repaired_columns: tuple[str, ...] = ()
    header_map: dict[str, str] = field(default_factory=dict)
    source_rows: list[int] = field(default_factory=list)
    legacy_lines: dict[int, str] = field(default_factory=dict)
    codes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def rows_accepted(self) -> int:
        return len(self.table)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def reason_counts(self) -> dict[str, int]:
        """Quarantine reason code -> number of rows carrying it."""
        counts: Counter[str] = Counter()
        for r in self.quarantine["reason"]:
            counts.update(r.split(";"))
        return dict(sorted(counts.items()))


# --------------------------------------------------------------------------- headers


def header_key(header: object) -> str:
    """Case-, accent-, spacing- and punctuation-insensitive key of a column header.

    >>> header_key(" Họ  và TÊN (*)") == header_key("Ho va ten")
    True
    """
    return re.sub(r"[^0-9a-z]", "", fold_key(nfc(str(header))))


@functools.lru_cache(maxsize=None)
def _alias_table(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in (*TABLES[kind], *EXTRA_COLUMNS[kind]):
        for a in (*c.header_aliases, c.en):
            if a:
                out.setdefault(header_key(a), c.name)
    return out


def map_headers(headers: Sequence[object], kind: str) -> dict[int, str]:
    """Position in ``headers`` -> contract column, first occurrence winning.

    Headers are matched to ``Column.header_aliases`` (and the English label)
    through :func:`header_key`; a header that does not match as decoded is
    tried again after ``repair_text`` (mojibake, TCVN3/VNI read as cp1252).
    """
    aliases = _alias_table(kind)
    repair = None
    out: dict[int, str] = {}
    taken: set[str] = set()
    for i, h in enumerate(headers):
        if h is None or str(h).strip() == "":
            continue
        name = aliases.get(header_key(h))
        if name is None and not str(h).isascii():
            repair = repair or _encodings.repair_text
            try:
                name = aliases.get(header_key(repair(str(h))))
            except Exception:  # noqa: BLE001 - a repair bug must not stop an import
                name = None
        if name is None:
            continue
        if name in taken:
            logger.warning("column %s appears twice; header %r at position %d ignored", name, _short(h), i + 1)
            continue
        taken.add(name)
        out[i] = name
    return out


# --------------------------------------------------------------------------- value parsers

_PROVINCE_PREFIX = re.compile(r"^(thanhpho|tinh|tp)")


def _province_lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for p in PROVINCES:
        for n in (p.name, p.name_en):
            k = header_key(n)
            table[k] = p.gso
            table[_PROVINCE_PREFIX.sub("", k)] = p.gso
    extra = {"hcm": "79", "tphcm": "79", "hochiminhcity": "79", "saigon": "79", "hue": "46",
             "thuathienhue": "46", "brvt": "77", "bariavungtau": "77", "daklak": "66", "daclac": "66",
             "hn": "01"}
    table.update(extra)
    return table


_PROVINCES_BY_KEY = _province_lookup()


def province_to_gso(value: str | None, *, numeric: bool = False) -> str | None:
    """GSO code of a province written as a name (``"TP. Hồ Chí Minh"`` -> ``"79"``).

    A value that is already a code is returned unchanged, except that a code
    read from a number cell (``numeric=True``, ``1`` -> ``"01"``) gets its
    leading zero back.  Unknown text is returned unchanged.
    """
    if value is None:
        return None
    v = value.strip()
    if v.isdigit():
        if numeric and len(v) == 1 and v.zfill(2) in BY_GSO:
            return v.zfill(2)
        return value
    if v == "":
        return value
    k = header_key(v)
    code = _PROVINCES_BY_KEY.get(k) or _PROVINCES_BY_KEY.get(_PROVINCE_PREFIX.sub("", k))
    return code if code is not None else value


_ISO_PARTIAL = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_ISO_WITH_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?")
_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?")
_MY = re.compile(r"(\d{1,2})[/.\-](\d{4})")


def parse_platform_date(value: str | None, *, partial: bool = True) -> str | None:
    """Contract ISO form of a date as the platform exports it, or ``None``.

    Accepts ``dd/mm/yyyy`` (also ``d/m/yyyy``, ``-`` or ``.`` separators and a
    trailing time), ``mm/yyyy`` and ``yyyy`` (when ``partial``), and the ISO
    forms themselves.  Returns ``YYYY-MM-DD`` / ``YYYY-MM`` / ``YYYY``; ``None``
    for anything else or an impossible date.
    """
    if value is None:
        return None
    s = value.strip()
    y = m = d = None
    if mt := _ISO_PARTIAL.fullmatch(s):
        y, m, d = mt.group(1), mt.group(2), mt.group(3)
    elif mt := _ISO_WITH_TIME.fullmatch(s):
        y, m, d = mt.group(1), mt.group(2), mt.group(3)
    elif mt := _DMY.fullmatch(s):
        d, m, y = mt.group(1).zfill(2), mt.group(2).zfill(2), mt.group(3)
    elif mt := _MY.fullmatch(s):
        m, y = mt.group(1).zfill(2), mt.group(2)
    else:
        return None
    if not 1800 <= int(y) <= 2199:
        return None
    if d is not None:
        try:
            _dt.date(int(y), int(m), int(d))
        except ValueError:
            return None
        return f"{y}-{m}-{d}"
    if not partial:
        return None
    if m is not None:
        return f"{y}-{m}" if 1 <= int(m) <= 12 else None
    return y


def _iso_days(values: np.ndarray) -> np.ndarray:
    """Per value: a ``yyyy-mm-dd`` (ASCII digits) of a real day of the years 1800 … 2199, which
    :func:`parse_platform_date` returns as it is, partial or not (found in C, not one call each)."""
    from vaxlib.vn.dates import iso_day_flags  # noqa: PLC0415

    return iso_day_flags(values, 1800, 2199)


def _parse_timestamp(value: str | None) -> str | None:
    """ISO 8601 text of a submission time (ISO kept verbatim; dd/mm/yyyy [HH:MM[:SS]] converted)."""
    if value is None:
        return None
    s = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", s):
        try:
            _dt.datetime.fromisoformat(s)
        except ValueError:
            return None
        return s
    mt = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?", s)
    if not mt:
        return None
    d, m, y, hh, mm, ss = mt.groups()
    try:
        if hh is None:
            return _dt.date(int(y), int(m), int(d)).isoformat()
        return _dt.datetime(int(y), int(m), int(d), int(hh), int(mm), int(ss or 0)).isoformat()
    except ValueError:
        return None


def _parse_dose(value: str | None) -> str | None:
    if value is None:
        return None
    mt = re.fullmatch(r"\s*0*([1-7])(?:\.0+)?\s*", value)
    return mt.group(1) if mt else None


def _registry_sex(value: str | None) -> str | None:
    return None if value is None else parse_sex(value)


# --------------------------------------------------------------------------- sniffing


_MAGIC = [
    (b"PK\x03\x04", "zip"),
    (b"PAR1", "parquet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
    (b"%PDF", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"7z\xbc\xaf", "7z"),
    (b"Rar!", "rar"),
]

_KIND_VI = {"zip": "tệp nén zip", "xlsx": "bảng tính Excel .xlsx", "parquet": "tệp Parquet",
            "xls": "bảng tính Excel cũ .xls", "pdf": "tệp PDF", "gzip": "tệp nén gzip",
            "png": "ảnh PNG", "jpeg": "ảnh JPEG", "7z": "tệp nén 7z", "rar": "tệp nén RAR",
            "html": "trang HTML", "damaged-zip": "tệp nén zip bị hỏng", "text": "tệp văn bản (CSV)", "binary": "dữ liệu nhị phân",
            "unknown": "định dạng không rõ"}


def _looks_utf16(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = data[:400]
    if len(head) >= 4:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.7 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.7 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
    return None


def _sniff(data: bytes) -> str:
    """What a file's bytes look like: a _MAGIC label, 'xlsx', 'html', 'text' or 'binary'."""
    for magic, label in _MAGIC:
        if data.startswith(magic):
            if label == "zip":
                try:
                    with zipfile.ZipFile(_io.BytesIO(data)) as zf:
                        names = set(zf.namelist())
                except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
                    return "damaged-zip"
                return "xlsx" if "xl/workbook.xml" in names else "zip"
            return label
    if _looks_utf16(data):
        return "text"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml")):
        return "html"
    head = data[:65536]
    if b"\x00" in head:
        # a few NULs in a text file are broken lines (quarantined); many, or in the header, mean binary
        first = head.split(b"\n", 1)[0]
        if b"\x00" in first or head.count(0) * 100 > len(head):
            return "binary"
    # C0 controls no text encoding we read uses for letters (TCVN3's VN1 capitals take 01-02, 04-06,
    # 11-17; tab, line ends, form feed, ^Z stay text): about 6 % of random bytes, a few per thousand in
    # a text file with some garbage lines, whose good lines are still read (the lines are quarantined)
    controls = len(head) - len(head.translate(None, _NOT_TEXT))
    if controls * 100 > 3 * len(head):
        return "binary"
    return "text"


_NOT_TEXT = bytes([0x00, 0x03, 0x07, 0x08, 0x0E, 0x0F, 0x10, 0x18, 0x19, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x7F])


def _mismatch(path, ext: str, expected: str, detected: str) -> FileTypeMismatchError:
    return FileTypeMismatchError(
        f"tệp có đuôi {ext} nhưng nội dung là {_KIND_VI.get(detected, detected)}, không phải {_KIND_VI[expected]}",
        f"file has extension {ext} but its content is {detected}, not {expected}",
        path,
        detected=detected,
    )


# --------------------------------------------------------------------------- raw sheet


@dataclass
class _Sheet:
    """A file's rows before any contract logic: header and values by file position."""

    headers: list[str]
    cols: list[_Coded]  # values by file column, each of length n_rows
    rownums: Sequence[int]  # file row number of each row
    raw_of: Callable[[int], str]  # raw text of row i (built only for quarantined rows)
    numeric: dict[int, Sequence[bool]] = field(default_factory=dict)  # file column -> cells that were numbers
    broken: list[tuple[int, str, str, str]] = field(default_factory=list)  # (row, column, reason, raw)
    encoding: str | None = None
    header_map: dict[int, str] = field(default_factory=dict)
    legacy_lines: dict[int, str] = field(default_factory=dict)  # 1-based line -> encoding

    @property
    def n_rows(self) -> int:
        return len(self.rownums)


def _columns_of(rows: list[list[str | None]], width: int) -> list[_Coded]:
    """Transpose equal-length rows into coded columns, '' becoming None."""
    if not rows:
        return [_Coded.missing(0) for _ in range(width)]
    return [_Coded.of(_objects(col)) for col in zip(*rows)]


def _best_header(records: list[list[Any]], kind: str, limit: int = 10) -> tuple[int, dict[int, str]]:
    """Index of the header record among the first ``limit`` (most contract columns matched)."""
    best_i, best_map = 0, {}
    for i, rec in enumerate(records[:limit]):
        m = map_headers(["" if v is None else str(v) for v in rec], kind)
        if len(m) > len(best_map):
            best_i, best_map = i, m
    return best_i, best_map


def _check_required(path, kind: str, headers: Sequence[object], hmap: dict[int, str]) -> None:
    present = set(hmap.values())
    missing = [c.name for c in TABLES[kind] if c.required and c.name not in present]
    if missing:
        found = [str(h) for h in headers if h is not None and str(h).strip() != ""]
        raise MissingColumnError(path, kind, missing, found)


# --------------------------------------------------------------------------- CSV


@dataclass
class _Text:
    """A CSV file's decoded text and which of its physical lines could not be decoded."""

    text: str
    encoding: str
    bad_lines: dict[int, str] = field(default_factory=dict)  # 0-based line -> why
    legacy_lines: dict[int, str] = field(default_factory=dict)  # 0-based line -> encoding it was read in


def _decode(path, data: bytes, encoding: str | None) -> _Text:
    if encoding is not None:
        label = encoding.lower().replace("_", "-")
        legacy = {"tcvn3": _encodings.decode_tcvn3, "tcvn": _encodings.decode_tcvn3, "abc": _encodings.decode_tcvn3,
                  "vni": _encodings.decode_vni, "vni-windows": _encodings.decode_vni}
        try:
            if label in legacy:
                text = legacy[label](data)
            else:
                text = data.decode(encoding)
        except LookupError:
            raise DecodeError(f"không biết bảng mã {encoding!r}", f"unknown encoding {encoding!r}", path) from None
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"không giải mã được bằng {encoding} (byte {exc.start})",
                f"cannot be decoded as {encoding} (byte {exc.start})", path) from None
        if label not in ("utf-8", "utf8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"):
            text = nfc(text)
        return _Text(text.lstrip("\ufeff"), encoding)
    # Unicode files are decoded here, strictly and without normalisation: a
    # name typed in decomposed Unicode must reach the matcher as typed
    # (name:unicode_form).  Mojibake is repaired per column afterwards.
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return _Text(data[3:].decode("utf-8"), "utf-8-sig")
        except UnicodeDecodeError:
            pass
    else:
        u16 = _looks_utf16(data)
        if u16:
            try:
                return _Text(data.decode("utf-16" if u16 == "utf-16" else u16).lstrip("\ufeff"), u16)
            except UnicodeDecodeError:
                pass
        try:
            return _Text(data.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            pass
    # Not one encoding throughout: decided line by line, so that a few broken
    # lines neither change how the rest is read nor get in with U+FFFD.
    from vaxlib.vn.encodings import decode_lines  # noqa: PLC0415

    dec = decode_lines(data)
    if dec.bad_lines:
        logger.warning("%s: %d line(s) cannot be decoded as %s and are quarantined (lines %s)",
                       Path(str(path)).name, len(dec.bad_lines), dec.encoding,
                       _line_list(dec.bad_lines))
    if dec.legacy_lines:
        logger.warning("%s: %d line(s) are not %s and were read as %s (lines %s)", Path(str(path)).name,
                       len(dec.legacy_lines), dec.encoding, ", ".join(sorted(set(dec.legacy_lines.values()))),
                       _line_list(dec.legacy_lines))
    return _Text(dec.text, dec.encoding, dict(dec.bad_lines), dict(dec.legacy_lines))


def _line_list(lines: dict[int, str], n: int = 10) -> str:
    """'3, 17, 40, …' (1-based) for a log line."""
    shown = [str(i + 1) for i in sorted(lines)[:n]]
    return ", ".join(shown) + (", …" if len(lines) > n else "")


def _has_escaped_formula(text: str) -> bool:
    """Does a field start with an apostrophe before a formula character (as vaxlib.exports writes it)?

    A walk over the apostrophes only: a regex over a million-row text took 14 s,
    and Ê Đê and Jarai names (H'Hen, Y'Moan) put apostrophes in real files.
    """
    i = text.find("'")
    while i != -1:
        if text[i + 1:i + 2] in ("=", "+", "-", "@", "\t", "\r", "'") and (i == 0 or text[i - 1] in ',;\t|"\r\n'):
            return True
        i = text.find("'", i + 1)
    return False


#: what the CSV parser sees in place of a line that could not be decoded
_BAD_LINE = "#undecodable#"
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_DELIMS = (",", ";", "\t", "|")


def _physical_lines(text: str) -> list[str]:
    """Lines with their terminators; trailing lines of nothing but spaces are not rows.

    A trailing line of tabs is kept: in a TSV it is a row of empty fields
    (quarantined as ``empty_row``), like ``,,,,`` in a CSV.
    """
    lines = _LINE_RE.findall(text)
    while lines and lines[-1].strip(" \r\n") == "":
        lines.pop()
    return lines


def _usual_width(lines: list[str], delimiter: str) -> int | None:
    """The most common field count among the first lines (a title line above the header does not count)."""
    counts: Counter[int] = Counter()
    try:
        for rec in csv.reader(lines[:200], delimiter=delimiter, quotechar='"'):
            if len(rec) > 1:
                counts[len(rec)] += 1
    except csv.Error:
        pass
    return counts.most_common(1)[0][0] if counts else None


def _parse_records(lines: list[str], delimiter: str):
    """Yield (first_line, last_line_exclusive, fields or None, reason) for every record.

    A record that the csv module cannot parse strictly (an unterminated or
    stray quote) and a record spanning several lines whose field count is not
    the header's are cut back to their first physical line, which becomes a
    broken row; parsing resumes on the next line, so no later row is swallowed.
    """
    pos = 0
    n = len(lines)

    def feed():
        nonlocal pos
        while pos < n:
            line = lines[pos]
            pos += 1
            yield line

    expected = _usual_width(lines, delimiter)
    reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    while pos < n:
        start = pos
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error:
            pos = start + 1
            reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
            yield start, start + 1, None, "bad_quoting"
            continue
        if pos - start > 1 and expected is not None and len(rec) != expected:
            pos = start + 1
            reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
            yield start, start + 1, None, "bad_quoting"
            continue
        yield start, pos, rec, ""


def _sniff_delimiter(lines: list[str], kind: str) -> str:
    sample = lines[:60]
    best, best_score = ",", (-1, -1.0, 0)
    for rank, d in enumerate(_DELIMS):
        records = []
        try:
            for rec in csv.reader(sample, delimiter=d, quotechar='"'):
                records.append(rec)
        except csv.Error:
            pass
        _, hmap = _best_header(records, kind)
        counts = Counter(len(r) for r in records if r)
        width, freq = counts.most_common(1)[0] if counts else (1, 0)
        consistency = freq / max(1, sum(counts.values())) if width > 1 else 0.0
        score = (len(hmap), consistency, -rank)
        if score > best_score:
            best, best_score = d, score
    return best


def _read_csv(path: Path, data: bytes, kind: str, encoding: str | None) -> _Sheet:
    ext = path.suffix.lower()
    detected = _sniff(data)
    if detected != "text":
        raise _mismatch(path, ext, "text", detected)
    dec = _decode(path, data, encoding)
    label = dec.encoding
    lines = _physical_lines(dec.text)
    if not lines:
        raise EmptyFileError("tệp rỗng (không có dòng tiêu đề)", "file is empty (no header row)", path)
    shown_lines = lines
    if dec.bad_lines:
        # the parser sees a bad line as one neutral field: a stray quote in binary
        # garbage must not swallow the good lines after it
        lines = [_BAD_LINE + ln[len(ln.rstrip("\r\n")):] if i in dec.bad_lines else ln
                 for i, ln in enumerate(lines)]
    delim = "\t" if ext == ".tsv" else _sniff_delimiter(lines, kind)
    records = _fast_records(lines, delim)
    if records is None:
        records = list(_parse_records(lines, delim))
    parsed = [r[2] if r[2] is not None else [] for r in records[:10]]
    hidx, hmap = _best_header(parsed, kind)
    header = records[hidx][2] or []
    _check_required(path, kind, header if hmap else (records[0][2] or []), hmap)
    ncols = len(header)

    def raw_of(a: int, b: int) -> str:
        return "".join(shown_lines[a:b]).rstrip("\r\n")

    bad = dec.bad_lines

    rows: list[list[str]] = []
    rownums: list[int] = []
    spans: list[tuple[int, int]] = []
    broken: list[tuple[int, str, str, str]] = []
    for idx in range(hidx + 1, len(records)):
        a, b, rec, reason = records[idx]
        rownum = idx + 1
        if bad and any(i in bad for i in range(a, b)):
            broken.append((rownum, "", "undecodable", raw_of(a, b)))
            continue
        if rec is None:
            broken.append((rownum, "", reason, raw_of(a, b)))
            continue
        if len(rec) != ncols:
            if len(rec) > ncols and all(v.strip() == "" for v in rec[ncols:]):
                rec = rec[:ncols]  # trailing delimiters
            elif all(v.strip() == "" for v in rec):
                rec = [""] * ncols  # blank line: an empty row, quarantined as such
            else:
                broken.append((rownum, "", "field_count", raw_of(a, b)))
                continue
        rows.append(rec)
        rownums.append(rownum)
        spans.append((a, b))
    cols = _columns_of(rows, ncols)
    if b"'" in data and _has_escaped_formula(dec.text):  # escapes written by vaxlib.exports; bytes first (memchr)
        cols = [c.map(unneutralise) for c in cols]
    return _Sheet(headers=[str(h) for h in header], cols=cols, rownums=rownums,
                  raw_of=lambda i: raw_of(*spans[i]), broken=broken, encoding=label, header_map=hmap,
                  legacy_lines={i + 1: enc for i, enc in dec.legacy_lines.items()})


def _fast_records(lines: list[str], delimiter: str):
    """All records in one pass of the csv module, or None when the file needs :func:`_parse_records`."""
    try:
        records = list(csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=True))
    except csv.Error:
        return None
    if len(records) == len(lines):  # no quoted line breaks: record i is line i
        return [(i, i + 1, rec, "") for i, rec in enumerate(records)]
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    out = []
    start = 0
    expected = _usual_width(lines, delimiter)
    try:
        for rec in reader:
            end = reader.line_num
            if end - start > 1 and len(rec) != expected:
                return None
            out.append((start, end, rec, ""))
            start = end
    except csv.Error:
        return None
    return out


# --------------------------------------------------------------------------- xlsx

_DATE_ISO_COLUMNS = {("registry", "dob"), ("vaccinations", "vaccination_date")}
_TIMESTAMP_COLUMNS = {("feedback", "submitted_at")}


def _cell_text(value: Any, kind: str, column: str | None) -> tuple[str | None, bool]:
    """Text of an openpyxl/pyarrow cell value and whether it was a number."""
    if value is None:
        return None, False
    if isinstance(value, str):
        value = unneutralise(value)
        return (value if value != "" else None), False
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None, True
        if value.is_integer():
            return str(int(value)), True
        return repr(value), True
    if isinstance(value, _dt.datetime):
        if (kind, column) in _TIMESTAMP_COLUMNS:
            return value.isoformat(), False
        if (kind, column) in _DATE_ISO_COLUMNS or value.time() == _dt.time(0):
            if column == "dob" and kind != "registry":
                return value.strftime("%d/%m/%Y"), False  # typed dob: as the platform displays it
            return value.date().isoformat(), False
        return value.isoformat(), False
    if isinstance(value, _dt.date):
        if column == "dob" and kind != "registry":
            return value.strftime("%d/%m/%Y"), False
        return value.isoformat(), False
    if isinstance(value, _dt.time):
        return value.isoformat(), False
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace"), False
    return str(value), False


_X_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_X_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


class _XlsxSheetError(Exception):
    """Raised by the fast reader for a sheet that is missing (name, available names)."""


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _xlsx_text(elem) -> str:
    """Text of a shared or inline string item: its runs, without phonetic (rPh) runs."""
    parts = []
    t = elem.find(_X_MAIN + "t")
    if t is not None and t.text:
        parts.append(t.text)
    for r in elem.findall(_X_MAIN + "r"):
        rt = r.find(_X_MAIN + "t")
        if rt is not None and rt.text:
            parts.append(rt.text)
    return "".join(parts)


def _fast_xlsx_rows(data: bytes, sheet: int | str | None) -> tuple[list[list[Any]], list[str]]:
    """Cell values of one worksheet, as openpyxl's ``values_only`` gives them, straight from the XML.

    openpyxl builds an object per cell and, for sheets without a
    ``<dimension>``, parses the sheet twice; a platform export of 100 000
    rows takes minutes that way.  This reader streams the sheet with
    ``iterparse`` and converts values the way openpyxl does (shared and inline
    strings, booleans, errors as text, numbers as int/float, numbers in a
    date style as datetimes, the 1904 epoch).
    """
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format  # noqa: PLC0415
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel  # noqa: PLC0415

    zf = zipfile.ZipFile(_io.BytesIO(data))
    names = set(zf.namelist())
    wb = ET.fromstring(zf.read("xl/workbook.xml"))
    pr = wb.find(_X_MAIN + "workbookPr")
    epoch = CALENDAR_MAC_1904 if pr is not None and pr.get("date1904") in ("1", "true") else CALENDAR_WINDOWS_1900
    sheets = [(e.get("name"), e.get(_X_REL + "id")) for e in wb.iter(_X_MAIN + "sheet")]
    if not sheets:
        raise _XlsxSheetError(None, [])
    sheet_names = [n for n, _ in sheets]
    if sheet is None:
        rid = sheets[0][1]
    elif isinstance(sheet, int):
        if not -len(sheets) <= sheet < len(sheets):
            raise _XlsxSheetError(sheet, sheet_names)
        rid = sheets[sheet][1]
    else:
        if sheet not in sheet_names:
            raise _XlsxSheetError(sheet, sheet_names)
        rid = sheets[sheet_names.index(sheet)][1]
    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    target = targets[rid]
    path = target.lstrip("/") if target.startswith("/") else "xl/" + target
    path = os.path.normpath(path).replace(os.sep, "/")

    shared: list[str] = []
    if "xl/sharedStrings.xml" in names:
        for _, e in ET.iterparse(zf.open("xl/sharedStrings.xml"), events=("end",)):
            if e.tag == _X_MAIN + "si":
                shared.append(_xlsx_text(e))
                e.clear()
    date_styles: set[int] = set()
    delta_styles: set[int] = set()
    if "xl/styles.xml" in names:
        st = ET.fromstring(zf.read("xl/styles.xml"))
        custom = {int(f.get("numFmtId")): f.get("formatCode") or ""
                  for f in st.iter(_X_MAIN + "numFmt")}
        xfs = st.find(_X_MAIN + "cellXfs")
        for i, xf in enumerate(xfs if xfs is not None else []):
            fid = int(xf.get("numFmtId", 0))
            code = custom.get(fid, BUILTIN_FORMATS.get(fid, "General"))
            if is_date_format(code):
                date_styles.add(i)
                if is_timedelta_format(code):
                    delta_styles.add(i)

    rows: list[list[Any]] = []
    merges: list[str] = []
    row: dict[int, Any] = {}
    col_counter = -1
    c_tag, row_tag, v_tag, is_tag = _X_MAIN + "c", _X_MAIN + "row", _X_MAIN + "v", _X_MAIN + "is"
    merge_tag = _X_MAIN + "mergeCell"
    for _, e in ET.iterparse(zf.open(path), events=("end",)):
        tag = e.tag
        if tag == c_tag:
            ref = e.get("r")
            m = _CELL_REF.match(ref) if ref else None
            col_counter = _col_index(m.group(1)) if m else col_counter + 1
            t = e.get("t", "n")
            if t == "inlineStr":
                child = e.find(is_tag)
                value = _xlsx_text(child) if child is not None else None
            else:
                value = e.findtext(v_tag) or None
                if value is not None:
                    if t == "n":
                        style = int(e.get("s", 0) or 0)
                        num = int(value) if re.fullmatch(r"-?\d+", value) else float(value)
                        if style in date_styles:
                            try:
                                value = from_excel(num, epoch, timedelta=style in delta_styles)
                            except (OverflowError, ValueError):
                                value = "#VALUE!"
                        else:
                            value = num
                    elif t == "s":
                        value = shared[int(value)]
                    elif t == "b":
                        value = bool(int(value))
                    elif t == "d":
                        value = _dt.datetime.fromisoformat(value.rstrip("Z"))
            if value is not None:
                row[col_counter] = value
            e.clear()
        elif tag == row_tag:
            r = e.get("r")
            if r is not None:
                while len(rows) < int(r) - 1:
                    rows.append([])
            width = max(row) + 1 if row else 0
            rows.append([row.get(j) for j in range(width)])
            row = {}
            col_counter = -1
            e.clear()
        elif tag == merge_tag:
            if e.get("ref"):
                merges.append(e.get("ref"))
            e.clear()
    return rows, merges


_MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([^"]+)"')


def _openpyxl_rows(path: Path, data: bytes, sheet: int | str | None) -> tuple[list[list[Any]], list[str]]:
    try:
        import openpyxl  # noqa: PLC0415

        wb = openpyxl.load_workbook(_io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any parser failure means a damaged workbook
        raise CorruptFileError(f"bảng tính Excel bị hỏng ({type(exc).__name__})",
                               f"damaged Excel workbook ({type(exc).__name__})", path) from None
    try:
        if sheet is None:
            if not wb.worksheets:
                raise EmptyFileError("bảng tính không có trang nào", "workbook has no sheet", path)
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            try:
                ws = wb.worksheets[sheet]
            except IndexError:
                raise SheetNotFoundError(f"không có trang số {sheet}; các trang: {wb.sheetnames}",
                                         f"no sheet number {sheet}; sheets: {wb.sheetnames}", path) from None
        else:
            if sheet not in wb.sheetnames:
                raise SheetNotFoundError(f"không có trang {sheet!r}; các trang: {wb.sheetnames}",
                                         f"no sheet {sheet!r}; sheets: {wb.sheetnames}", path)
            ws = wb[sheet]
        try:
            # rows are not padded to a stale or missing <dimension>
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()
            raw_rows = [list(r) for r in ws.iter_rows(values_only=True)]
            # read-only worksheets do not parse <mergeCells>: read them from the sheet's XML
            merges = []
            sheet_xml = getattr(ws, "_worksheet_path", None)
            if sheet_xml:
                with zipfile.ZipFile(_io.BytesIO(data)) as zf:
                    merges = [m.decode("ascii", "replace") for m in _MERGE_REF.findall(zf.read(sheet_xml))]
        except VaxImportError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CorruptFileError(f"bảng tính Excel bị hỏng ({type(exc).__name__})",
                                   f"damaged Excel workbook ({type(exc).__name__})", path) from None
    finally:
        try:
            wb.close()
        except Exception:  # noqa: BLE001
            pass

    return raw_rows, merges


def _read_xlsx(path: Path, data: bytes, kind: str, sheet: int | str | None) -> _Sheet:
    ext = path.suffix.lower()
    detected = _sniff(data)
    if detected == "damaged-zip":
        raise CorruptFileError("tệp nén của bảng tính bị hỏng hoặc bị cắt cụt",
                               "the workbook's zip container is damaged or truncated", path)
    if detected != "xlsx":
        raise _mismatch(path, ext, "xlsx", detected)
    _check_zip_sizes(path, data)
    try:
        raw_rows, merges = _fast_xlsx_rows(data, sheet)
    except _XlsxSheetError as exc:
        wanted, available = exc.args
        if wanted is None:
            raise EmptyFileError("bảng tính không có trang nào", "workbook has no sheet", path) from None
        raise SheetNotFoundError(f"không có trang {wanted!r}; các trang: {available}",
                                 f"no sheet {wanted!r}; sheets: {available}", path) from None
    except Exception:  # noqa: BLE001 - anything unusual: let openpyxl try, it knows more corner cases
        logger.debug("fast xlsx reader failed on %s; using openpyxl", path.name, exc_info=True)
        raw_rows, merges = _openpyxl_rows(path, data, sheet)

    def is_blank(r):  # no cell with any content: not a row a person sees
        return all(v is None or v == "" for v in r)

    while raw_rows and is_blank(raw_rows[-1]):
        raw_rows.pop()
    if not raw_rows:
        raise EmptyFileError("trang tính trống (không có dòng tiêu đề)", "sheet is empty (no header row)", path)
    header_texts = [[_cell_text(v, kind, None)[0] for v in r] for r in raw_rows[:10]]
    hidx, hmap = _best_header(header_texts, kind)
    header = [h if h is not None else "" for h in header_texts[hidx]]
    _check_required(path, kind, header if hmap else header_texts[0], hmap)
    width = len(header)
    merged_out = _fill_merged(path, raw_rows, merges, hidx + 1, hmap) if merges else {}
    rows: list[list[str | None]] = []
    rownums: list[int] = []
    broken: list[tuple[int, str, str, str]] = []
    numeric: dict[int, list[bool]] = {}
    for i in range(hidx + 1, len(raw_rows)):
        r = raw_rows[i]
        vals: list[str | None] = []
        nums: list[int] = []
        for j in range(width):
            v = r[j] if j < len(r) else None
            t, is_num = _cell_text(v, kind, hmap.get(j))
            vals.append(t)
            if is_num:
                nums.append(j)
        if i in merged_out:
            broken.append((i + 1, merged_out[i], "merged_cells", "\t".join("" if v is None else v for v in vals)))
            continue
        for j in nums:
            numeric.setdefault(j, [False] * (len(raw_rows) - hidx - 1))[len(rows)] = True
        rows.append(vals)
        rownums.append(i + 1)
    if broken:
        numeric = {j: flags[:len(rows)] for j, flags in numeric.items()}
    cols = _columns_of(rows, width)
    return _Sheet(headers=header, cols=cols, rownums=rownums,
                  raw_of=lambda i: "\t".join("" if (v := c.value(i)) is None else v for c in cols),
                  numeric=numeric, broken=broken, encoding=None, header_map=hmap)


def _check_zip_sizes(path: Path, data: bytes) -> None:
    """Refuse a workbook that would decompress beyond the limits, before any part is inflated.

    zipfile stops inflating a member at its declared size (and then fails its
    CRC check), so the declared sizes bound the memory any reader can use.
    """
    with zipfile.ZipFile(_io.BytesIO(data)) as zf:
        infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise TooLargeError(
            f"bảng tính giải nén ra {_mb(total)}, quá giới hạn {_mb(MAX_XLSX_UNCOMPRESSED)}; hãy chia nhỏ tệp",
            f"workbook decompresses to {_mb(total)}, beyond the limit of {_mb(MAX_XLSX_UNCOMPRESSED)}; split it",
            path)
    for i in infos:
        sheet_part = i.filename.startswith("xl/worksheets/") or i.filename == "xl/sharedStrings.xml"
        if not sheet_part and i.file_size > MAX_XLSX_PART:
            raise TooLargeError(
                f"phần {i.filename} của bảng tính giải nén ra {_mb(i.file_size)} (giới hạn {_mb(MAX_XLSX_PART)}): "
                "tệp bị hỏng hoặc là 'bom nén'",
                f"part {i.filename} decompresses to {_mb(i.file_size)} (limit {_mb(MAX_XLSX_PART)}): "
                "damaged file or a zip bomb", path)
        if i.file_size > 1 << 20 and i.file_size > MAX_XLSX_RATIO * max(1, i.compress_size):
            raise TooLargeError(
                f"phần {i.filename} của bảng tính nén {i.file_size // max(1, i.compress_size):,} lần "
                f"(giới hạn {MAX_XLSX_RATIO}): 'bom nén', không phải bảng tính thật",
                f"part {i.filename} is compressed {i.file_size // max(1, i.compress_size):,}:1 "
                f"(limit {MAX_XLSX_RATIO}:1): a zip bomb, not a real workbook", path)


def _cell_range(ref: str) -> tuple[int, int, int, int] | None:
    """``"B3:B7"`` -> 0-based (first row, first column, last row, last column); None if unreadable."""
    parts = ref.upper().split(":")
    if len(parts) == 1:
        parts = parts * 2
    out = []
    for p in parts[:2]:
        m = _CELL_REF.fullmatch(p.replace("$", ""))
        if not m:
            return None
        out.append((int(m.group(2)) - 1, _col_index(m.group(1))))
    (r1, c1), (r2, c2) = out
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def _fill_merged(path: Path, raw_rows: list[list[Any]], merges: list[str], first_data: int,
                 hmap: dict[int, str]) -> dict[int, str]:
    """Give every cell of a merged range its value, in place; return rows to quarantine.

    Excel keeps a merged range's value in its top-left cell only, so a
    facility merged over ten rows reads as one value and nine empty cells.
    A range within one contract column (its other columns unmapped) is
    filled from its top-left cell.  A range that spans several contract
    columns, or starts above the data (in the header), cannot be read as
    one value per field: its data rows are quarantined (``merged_cells``),
    row index -> the contract columns concerned.
    """
    quarantine: dict[int, str] = {}
    filled = 0
    for ref in merges:
        rng = _cell_range(ref)
        if rng is None:
            continue
        r1, c1, r2, c2 = rng
        if r2 < first_data:
            continue  # a title or header spread over several cells
        r2 = min(r2, len(raw_rows) - 1)
        contract = [hmap[j] for j in range(c1, c2 + 1) if j in hmap]
        if not contract:
            continue
        if r1 < first_data or len(contract) > 1:
            for i in range(max(r1, first_data), r2 + 1):
                prev = quarantine.get(i)
                quarantine[i] = ";".join(dict.fromkeys((prev.split(";") if prev else []) + contract))
            continue
        top = raw_rows[r1][c1] if c1 < len(raw_rows[r1]) else None
        target = next(j for j in range(c1, c2 + 1) if j in hmap)
        for i in range(r1, r2 + 1):
            row = raw_rows[i]
            if len(row) <= target:
                row.extend([None] * (target + 1 - len(row)))
            if row[target] is None or row[target] == "":
                if top is not None:
                    row[target] = top
                    filled += i != r1 or target != c1
    if filled:
        logger.info("%s: %d cell(s) of merged ranges filled from the range's first cell", path.name, filled)
    if quarantine:
        logger.warning("%s: %d row(s) in merged ranges spanning several columns are quarantined",
                       path.name, len(quarantine))
    return quarantine


# --------------------------------------------------------------------------- coded columns


def _objects(values) -> np.ndarray:
    """A 1-d object array of ``values`` (never 2-d, whatever the values are)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


class _Coded:
    """A column as its distinct values and, per row, the index of the row's value.

    ``codes[i] == -1`` is a missing cell; ``uniques`` may hold ``None`` and,
    unless ``distinct``, repeats (after a per-value function maps two values
    to one).  ``arrow``, when known, is a pyarrow string array equal to
    ``uniques`` wherever that is not ``None`` (a Parquet ``""`` is ``None``
    here, ``""`` there), used to find in C the few values a Python function
    must see.  Every normalisation and check of the contract runs once per
    distinct value and is gathered by code with numpy: a million rows of
    repeated dates, doses, sexes and provinces cost a few thousand Python
    calls instead of a million (``read_table`` of 1M register persons and
    2.4M dose records was per-row Python, #12).
    """

    __slots__ = ("codes", "uniques", "distinct", "arrow")

    def __init__(self, codes: np.ndarray, uniques: np.ndarray, *, distinct: bool = False, arrow: Any = None):
        self.codes = codes
        self.uniques = uniques
        self.distinct = distinct
        self.arrow = arrow

    @classmethod
    def of(cls, values) -> "_Coded":
        """Code a sequence of ``str``/``None``; ``""`` is missing, as an empty cell."""
        codes, uniques = pd.factorize(values if isinstance(values, np.ndarray) else _objects(values),
                                      use_na_sentinel=True)
        out = cls(codes, np.asarray(uniques, dtype=object), distinct=True)
        return out.map(lambda v: v or None) if any(u == "" for u in out.uniques) else out

    @classmethod
    def missing(cls, n: int) -> "_Coded":
        return cls(np.full(n, -1, dtype=np.intp), np.empty(0, dtype=object), distinct=True)

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, per_value: np.ndarray, missing: Any, at: np.ndarray | None = None) -> np.ndarray:
        """``per_value`` (one entry per unique) gathered to rows (``at``: only those); ``missing`` for -1."""
        ext = np.empty(len(per_value) + 1, dtype=per_value.dtype)
        ext[:-1] = per_value
        ext[-1] = missing
        return ext[self.codes if at is None else self.codes[at]]

    def values(self, at: np.ndarray | None = None) -> np.ndarray:
        """Object array of the rows' values (``None`` where missing)."""
        return self.rows(self.uniques, None, at)

    def value(self, i: int) -> str | None:
        c = self.codes[i]
        return None if c < 0 else self.uniques[c]

    def map(self, func: Callable[[str], Any], only: np.ndarray | None = None) -> "_Coded":
        """``func`` of every distinct non-null value (``only``: of those positions, the rest known unchanged).

        The result stays ``distinct`` and keeps ``arrow`` when ``func``
        returned every value itself or ``None``.
        """
        uniques = self.uniques.copy() if only is not None else _objects(self.uniques)
        kept = True  # every value is itself or None
        for k in (range(len(uniques)) if only is None else only.tolist()):
            u = uniques[k]
            if u is None:
                continue
            r = func(u)
            if r is not u:
                uniques[k] = r
                kept = kept and r is None
        return _Coded(self.codes, uniques, distinct=self.distinct and kept, arrow=self.arrow if kept else None)

    def test(self, pred: Callable[[str], bool], missing: bool = False) -> np.ndarray:
        """Per-row booleans: ``pred`` of each distinct non-null value, ``missing`` for null cells."""
        flags = np.fromiter((missing if u is None else bool(pred(u)) for u in self.uniques), dtype=bool,
                            count=len(self.uniques))
        return self.rows(flags, missing)

    def present(self) -> np.ndarray:
        """Per-value flags: the value is not ``None``."""
        # pd.isna in C, then the identity test only for what it calls missing (None, or a NaN value)
        u = self.uniques if isinstance(self.uniques, np.ndarray) else _objects(self.uniques)
        missing = pd.isna(u)
        if missing.any():
            missing[missing] = [v is None for v in u[missing]]
        return ~missing

    def arrow_flags(self, regex: str) -> np.ndarray | None:
        """Per-value flags of values matching ``regex`` (RE2, searched), from ``arrow``; None when unknown."""
        if self.arrow is None:
            return None
        import pyarrow.compute as pc  # noqa: PLC0415

        return pc.match_substring_regex(self.arrow, regex).to_numpy(zero_copy_only=False)

    def choose(self, mask: np.ndarray | None, other: "_Coded") -> "_Coded":
        """Rows where ``mask`` take ``other``'s value (same codes, e.g. ``self.map(...)``), the rest keep theirs."""
        if mask is None or not mask.any():
            return self
        codes = np.where(mask & (self.codes >= 0), self.codes + len(self.uniques), self.codes)
        return _Coded(codes, np.concatenate([self.uniques, other.uniques]))

    def canonical_codes(self) -> np.ndarray:
        """Row codes under which equal values have equal codes (-1 for ``None``)."""
        if self.distinct:
            ucodes = np.arange(len(self.uniques), dtype=np.intp)
            ucodes[~self.present()] = -1
        else:
            ucodes, _ = pd.factorize(self.uniques, use_na_sentinel=True)
        remap = np.empty(len(ucodes) + 1, dtype=np.intp)
        remap[:-1] = ucodes
        remap[-1] = -1
        return remap[self.codes]


def _arrow_coded(col, convert: Callable[[Any], str | None] | None, *, key: bool = False) -> _Coded:
    """Code a pyarrow column, dictionary-encoded in Arrow.

    String columns (``convert`` None) keep their text, ``""`` being missing;
    other types get ``convert`` once per distinct value.  ``key``: the table's
    key column, whose values usually all differ; when they do (and none is
    null) the column is its own dictionary, in row order as Arrow's encoding
    would number it, and is not hashed (0.8 CPU s for 2.4M record_ids).
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if key and convert is None and col.null_count == 0 and (pa.types.is_string(col.type)
                                                            or pa.types.is_large_string(col.type)) \
            and _all_distinct(col):
        uniques = col.to_numpy(zero_copy_only=False)  # a fresh object array of str
        empty = pc.equal(pc.binary_length(col), 0).to_numpy(zero_copy_only=False)
        if empty.any():
            uniques[empty] = None
        return _Coded(np.arange(len(col), dtype=np.int32), uniques, distinct=True, arrow=col)
    try:
        enc = col.dictionary_encode()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):  # nested, null, extension types
        return _Coded.of([convert(v) for v in col.to_pylist()])
    codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    dictionary = enc.dictionary
    if convert is None:
        uniques = dictionary.to_numpy(zero_copy_only=False)  # a fresh object array of str
        empty = pc.equal(pc.binary_length(dictionary), 0).to_numpy(zero_copy_only=False)
        if empty.any():
            uniques[empty] = None
        return _Coded(codes, uniques, distinct=True, arrow=dictionary)
    uniques = _objects([convert(v) for v in dictionary.to_pylist()])
    return _Coded(codes, uniques, distinct=pa.types.is_integer(col.type))


def _dictionary_coded(col) -> _Coded | None:
    """:func:`_arrow_coded` of a text column that Parquet handed over dictionary-encoded (its file's
    own dictionary: no value decoded per row, nothing hashed but the few distinct values), or None
    when the dictionaries do not hold distinct text (then the column is decoded and coded as usual).

    The codes are renumbered in order of first appearance, as Arrow's encoding of the decoded
    column numbers them, and unused dictionary entries are dropped: the same codes and values."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 0:
            return None
        col = col.unify_dictionaries() if col.num_chunks > 1 else col
        dictionary = col.chunk(0).dictionary
        indices = pa.chunked_array([c.indices for c in col.chunks], type=col.type.index_type).combine_chunks()
    else:
        dictionary, indices = col.dictionary, col.indices
    if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)) \
            or dictionary.null_count or len(pc.unique(dictionary)) != len(dictionary):
        return None
    n = len(indices)
    idx = indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.full(len(dictionary) + 1, n, dtype=np.int64)
    first[idx[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)  # the last write wins: each entry's first row
    first = first[:-1]  # (-1, a null, wrote to the extra slot)
    used = np.flatnonzero(first < n)
    used = used[np.argsort(first[used], kind="stable")]  # first appearance order
    rank = np.full(len(dictionary) + 1, -1, dtype=np.int32)
    rank[used] = np.arange(len(used), dtype=np.int32)
    codes = rank[idx]  # idx -1 reads the extra slot: -1
    values = dictionary.take(pa.array(used))
    uniques = values.to_numpy(zero_copy_only=False)  # a fresh object array of str
    empty = pc.equal(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)
    if empty.any():
        uniques[empty] = None
    return _Coded(codes, uniques, distinct=True, arrow=values)


#: a text column whose Parquet dictionary page takes fewer bytes than rows / this is read
#: dictionary-encoded (:func:`_dictionary_coded`): few distinct values (dates, sexes, provinces,
#: facilities, vaccines, lots), where decoding every row and hashing it again is most of the cost;
#: a column of many distinct values (names, IDs, phones) is faster decoded
_DICTIONARY_ROWS_PER_BYTE = 4


def _dictionary_columns(data: bytes, kind: str) -> list[str]:
    """The text columns of a Parquet file to read dictionary-encoded (see :data:`_DICTIONARY_ROWS_PER_BYTE`):
    every row group stores a small dictionary page for it; never the table's key (distinct values)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
        md, schema = pf.metadata, pf.schema_arrow
    except Exception:  # noqa: BLE001 - the read below reports a damaged file
        return []
    if md.num_row_groups == 0:
        return []
    key = KEY_COLUMN[kind]
    top = {schema.field(i).name for i in range(len(schema))
           if pa.types.is_string(schema.field(i).type) or pa.types.is_large_string(schema.field(i).type)}
    out = []
    for j in range(md.num_columns):
        name = md.schema.column(j).path
        if name not in top or name == key or name in out:
            continue
        small = True
        for g in range(md.num_row_groups):
            c = md.row_group(g).column(j)
            rows = md.row_group(g).num_rows
            if not c.has_dictionary_page or c.dictionary_page_offset is None or \
                    (c.data_page_offset - c.dictionary_page_offset) * _DICTIONARY_ROWS_PER_BYTE >= rows:
                small = False
                break
        if small:
            out.append(name)
    return out


# --------------------------------------------------------------------------- parquet


def _read_parquet(path: Path, data: bytes, kind: str) -> _Sheet:
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

        as_dictionary = _dictionary_columns(data, kind)
        tbl = pq.read_table(pa.BufferReader(data), read_dictionary=as_dictionary or None)
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
    cols: list[_Coded] = []
    numeric_cols: set[int] = set()
    n = tbl.num_rows
    try:
        for j in range(len(headers)):
            col = tbl.column(j)
            t = col.type
            contract = hmap.get(j)
            if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
                numeric_cols.add(j)
            coded = _dictionary_coded(col) if headers[j] in as_dictionary and pa.types.is_dictionary(t) else None
            if coded is not None:
                cols.append(coded)
            elif headers[j] in as_dictionary and pa.types.is_dictionary(t):  # not distinct text: decoded
                cols.append(_arrow_coded(col.cast(t.value_type), None, key=contract == KEY_COLUMN[kind]))
            elif pa.types.is_string(t) or pa.types.is_large_string(t):
                cols.append(_arrow_coded(col, None, key=contract == KEY_COLUMN[kind]))
            else:  # numbers, dates, times, booleans, ...: as a spreadsheet cell of that value reads
                cols.append(_arrow_coded(col, functools.partial(_parquet_cell, kind=kind, column=contract)))
    except Exception as exc:  # noqa: BLE001
        raise CorruptFileError(f"tệp Parquet bị hỏng ({type(exc).__name__})",
                               f"damaged Parquet file ({type(exc).__name__})", path) from None
    return _Sheet(headers=headers, cols=cols, rownums=np.arange(2, n + 2),
                  raw_of=lambda i: "\t".join("" if (v := c.value(i)) is None else v for c in cols),
                  numeric={j: np.ones(n, dtype=bool) for j in numeric_cols}, encoding=None, header_map=hmap)


def _parquet_cell(value: Any, kind: str, column: str | None) -> str | None:
    """Text of a non-string Parquet value (a string inside, e.g. of a dictionary column, as it is)."""
    if isinstance(value, str):
        return value or None
    return _cell_text(value, kind, column)[0]


# --------------------------------------------------------------------------- contract logic


Cols = dict[str, _Coded]
Numeric = dict[str, "np.ndarray | None"]


def _contract_columns(sheet: _Sheet, kind: str) -> tuple[Cols, Numeric]:
    """Contract column -> coded values (all missing where the file has no such column), and number-cell flags."""
    pos_of = {c: i for i, c in sheet.header_map.items()}
    data: Cols = {}
    numeric: Numeric = {}
    n = sheet.n_rows

    def flags(j: int) -> np.ndarray | None:
        f = sheet.numeric.get(j)
        return None if f is None else np.asarray(f, dtype=bool)

    for c in columns(kind):
        j = pos_of.get(c)
        data[c] = _Coded.missing(n) if j is None else sheet.cols[j]
        numeric[c] = None if j is None else flags(j)
    for c in extra_columns(kind):  # carried only when the file has them
        if (j := pos_of.get(c)) is not None:
            data[c] = sheet.cols[j]
            numeric[c] = flags(j)
    return data, numeric


def _strip(col: _Coded) -> _Coded:
    """Trimmed values; a value of only white space becomes missing.

    With ``arrow`` known, only values that start or end outside ``!``..``~``
    are looked at: every character ``str.strip`` removes is outside it.
    """
    edges = col.arrow_flags(r"^[^!-~]|[^!-~]$")
    return col.map(_stripped, only=None if edges is None else np.flatnonzero(edges))


def _stripped(v: str) -> str | None:
    return v.strip() or None


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


def _repair_columns(data: Cols) -> tuple[list[str], dict[str, np.ndarray]]:
    """Repair mojibake column by column, in place, once per distinct value.

    Returns the repaired columns and, per column, the rows whose final value
    holds U+FFFD (text broken by a decoder upstream is never accepted).  The
    distinct non-ASCII values are taken in order of first appearance, so the
    1000 that ``detect_text_encoding`` samples do not depend on string hashing.
    """
    repaired: list[str] = []
    broken: dict[str, np.ndarray] = {}
    for c, col in data.items():
        if col.arrow is not None:
            import pyarrow.compute as pc  # noqa: PLC0415

            where = np.flatnonzero(~pc.string_is_ascii(col.arrow).to_numpy(zero_copy_only=False))
        else:
            where = np.flatnonzero([u is not None and not u.isascii() for u in col.uniques])
        if not len(where):
            continue
        uniques = col.uniques[where].tolist()
        if not col.distinct:
            uniques = list(dict.fromkeys(uniques))
        mapping = _repair_uniques(uniques)
        if mapping and any(k != v for k, v in mapping.items()):
            col = data[c] = col.map(lambda v: mapping.get(v, v), only=where)
            repaired.append(c)
        flags = np.zeros(len(col.uniques), dtype=bool)  # only non-ASCII values can hold U+FFFD
        flags[where] = [u is not None and "\ufffd" in u for u in col.uniques[where]]
        if flags.any():
            broken[c] = col.rows(flags, False)
    return repaired, broken


Check = tuple[str, str, np.ndarray]  # (column, reason, rows that fail)


def _parse_column(data: Cols, column: str, func: Callable[[str], str | None], reason: str, *,
                  strip: bool = True, itself: Callable[[np.ndarray], np.ndarray] | None = None) -> Check:
    """Replace a column by its parsed form where parsing succeeds; the rows where it failed (also empty ones).

    ``itself``: per-value flags (of the values, ``None`` among them) of values ``func`` returns as they
    are, found without calling it (``func`` is called for the others only)."""
    raw = data[column]
    col = _strip(raw) if strip else raw
    parsed = col.map(func, only=None if itself is None else np.flatnonzero(~itself(col.uniques)))
    ok = parsed.present()
    data[column] = _Coded(raw.codes, np.where(ok, parsed.uniques, raw.uniques))
    return column, reason, ~raw.rows(ok, False)


def _zero_filled(col: _Coded, numeric: np.ndarray | None, width: int, lengths: range) -> _Coded:
    """Number cells whose leading zeros a number could not hold get them back (``lengths`` digits -> ``width``)."""
    if numeric is None or not numeric.any():
        return col
    return col.choose(numeric, col.map(lambda v: v.zfill(width) if v.isdigit() and len(v) in lengths else v))


def _validate(data: Cols, numeric: Numeric, kind: str) -> list[Check]:
    """Normalise ``data`` in place; return the checks, in the order their reasons are listed."""
    checks: list[Check] = []
    key = KEY_COLUMN[kind]
    if kind == "registry":
        pid = data["person_id"] = _zero_filled(_strip(data["person_id"]), numeric["person_id"], 12, range(10, 12))
        shaped = pid.arrow_flags(r"^[0-9]{12}$")  # 12 ASCII digits, as the test below
        checks.append(("person_id", "bad_person_id",
                       pid.rows(pid.present() & ~shaped, False) if shaped is not None else
                       pid.test(lambda p: not (len(p) == 12 and p.isdigit() and p.isascii()))))
        data["full_name"] = data["full_name"].map(nfc)
        checks.append(_parse_column(data, "dob", lambda v: parse_platform_date(v, partial=True), "bad_dob",
                                    itself=_iso_days))
        typed = data["sex"]
        raw_sex = _strip(typed)
        sex = raw_sex.map(_registry_sex)
        parsed = sex.present()
        checks.append(("sex", "bad_sex", raw_sex.rows(raw_sex.present() & ~parsed, False)))
        data["sex"] = _Coded(typed.codes, np.where(parsed, sex.uniques, typed.uniques))
        data["old_id"] = _zero_filled(_strip(data["old_id"]), numeric["old_id"], 9, range(8, 9))
        data["province_code"] = _provinces(_strip(data["province_code"]), numeric["province_code"])
    elif kind == "vaccinations":
        data["record_id"] = _strip(data["record_id"])
        data["facility_id"] = _strip(data["facility_id"])
        data["province_code"] = _provinces(data["province_code"], numeric["province_code"])
        data["facility_province"] = _provinces(_strip(data["facility_province"]), numeric["facility_province"])
        checks.append(_parse_column(data, "dose_number", _parse_dose, "bad_dose_number", strip=False))
        checks.append(_parse_column(data, "vaccination_date", lambda v: parse_platform_date(v, partial=False),
                                    "bad_vaccination_date", itself=_iso_days))
    else:
        data["feedback_id"] = _strip(data["feedback_id"])
        checks.append(_parse_column(data, "submitted_at", _parse_timestamp, "bad_submitted_at"))

    codes = data[key].canonical_codes()
    missing = codes < 0
    checks.append((key, "missing_key", missing))
    checks.append((key, "duplicate_key", pd.Series(codes).duplicated().to_numpy() & ~missing))
    return checks


def _provinces(col: _Coded, numeric: np.ndarray | None) -> _Coded:
    """:func:`province_to_gso` of every value, computed once per distinct (value, was a number)."""
    text = col.map(province_to_gso)
    return text.choose(numeric, col.map(functools.partial(province_to_gso, numeric=True))) \
        if numeric is not None and numeric.any() else text


def _problem_rows(checks: list[Check], n: int) -> tuple[np.ndarray, list[str], list[str]]:
    """Rows that fail any check, with their ``;``-joined columns and reasons (check order, each once).

    The strings are built once per distinct combination of failed checks.
    """
    failed = np.zeros(n, dtype=bool)
    for _, _, mask in checks:
        failed |= mask
    idx = np.flatnonzero(failed)
    if not len(idx):
        return idx, [], []
    matrix = np.column_stack([mask[idx] for _, _, mask in checks])
    patterns, inverse = np.unique(matrix, axis=0, return_inverse=True)
    cols, reasons = [], []
    for pat in patterns:
        hit = [checks[k] for k in np.flatnonzero(pat)]
        cols.append(";".join(dict.fromkeys(c for c, _, _ in hit)))
        reasons.append(";".join(dict.fromkeys(r for _, r, _ in hit)))
    inverse = np.asarray(inverse).reshape(-1)
    return idx, [cols[k] for k in inverse], [reasons[k] for k in inverse]


def _blank_rows(sheet: _Sheet, at: np.ndarray) -> np.ndarray:
    """Which of the rows ``at`` have nothing but empty or blank cells in every file column."""
    blank = np.ones(len(at), dtype=bool)
    for c in sheet.cols:
        sub = c.codes[at]
        used = np.unique(sub[sub >= 0])
        flags = np.zeros(len(c.uniques), dtype=bool)
        flags[used] = [c.uniques[k] is not None and c.uniques[k].strip() != "" for k in used]
        blank &= ~c.rows(flags, False, at)
    return blank


# --------------------------------------------------------------------------- public API


def read_table(path: str | os.PathLike[str], kind: Kind, *, encoding: str | None = None,
               sheet: int | str | None = None, require_rows: bool = False,
               codes: Sequence[str] = ()) -> ImportResult:
    """Read a registry, vaccinations or feedback file into the contract's table.

    Parameters
    ----------
    path : path-like
        ``.csv``/``.tsv``/``.txt``, ``.xlsx``/``.xlsm`` or ``.parquet``/``.pq``.
    kind : {"registry", "vaccinations", "feedback"}
        Which contract table the file holds.
    encoding : str, optional
        Force a text encoding for CSV (a Python codec, ``"tcvn3"`` or
        ``"vni-windows"``); detected when omitted.
    sheet : int or str, optional
        Worksheet of an ``.xlsx`` (index or name); the first by default.
    require_rows : bool
        Raise :class:`NoUsableRowsError` when no row is accepted (header
        only, or every row quarantined) instead of returning an empty table.
    codes : sequence of str
        Contract columns whose coding to return in ``ImportResult.codes``.

    Returns
    -------
    ImportResult

    Raises
    ------
    VaxImportError
        Or one of its subclasses: :class:`MissingColumnError`,
        :class:`EmptyFileError`, :class:`UnsupportedFileError`,
        :class:`FileTypeMismatchError`, :class:`CorruptFileError`,
        :class:`DecodeError`, :class:`SheetNotFoundError`,
        :class:`NoUsableRowsError` (only with ``require_rows``).
    """
    if kind not in TABLES:
        raise ValueError(f"kind must be one of {sorted(TABLES)}, not {kind!r}")
    p = Path(path)
    ext = p.suffix.lower()
    fmt = SUPPORTED_EXTENSIONS.get(ext)
    if fmt is None:
        raise UnsupportedFileError(
            f"không đọc được tệp đuôi {ext or '(không có)'}; hỗ trợ: {', '.join(SUPPORTED_EXTENSIONS)}"
            + ("; hãy lưu lại dưới dạng .xlsx" if ext == ".xls" else ""),
            f"unsupported extension {ext or '(none)'}; supported: {', '.join(SUPPORTED_EXTENSIONS)}"
            + ("; save it as .xlsx" if ext == ".xls" else ""),
            p)
    try:
        size = p.stat().st_size
        if size > MAX_INPUT_BYTES and p.is_file():
            raise TooLargeError(f"tệp quá lớn ({_mb(size)}; giới hạn {_mb(MAX_INPUT_BYTES)}); hãy chia nhỏ tệp",
                                f"file too large ({_mb(size)}; limit {_mb(MAX_INPUT_BYTES)}); split it", p)
        data = p.read_bytes()
    except FileNotFoundError:
        raise VaxImportError("không tìm thấy tệp", "file not found", p) from None
    except IsADirectoryError:
        raise UnsupportedFileError("là một thư mục, không phải tệp", "is a directory, not a file", p) from None
    except OSError as exc:
        raise VaxImportError(f"không mở được tệp ({exc.strerror})", f"cannot open file ({exc.strerror})", p) from None
    if not data.strip(b" \t\r\n\x00") or data in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        raise EmptyFileError("tệp rỗng", "file is empty", p)

    with _gc_paused():
        if fmt == "csv":
            sh = _read_csv(p, data, kind, encoding)
        elif fmt == "xlsx":
            sh = _read_xlsx(p, data, kind, sheet)
        else:
            sh = _read_parquet(p, data, kind)
        del data
        result = _import_result(p, fmt, kind, sh, codes)
    if require_rows and not len(result.table):
        raise NoUsableRowsError(result)
    return result


def _string_bytes(col) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, body) of a null-free Arrow string column: value ``i`` is ``body[starts[i]:ends[i]]``
    (numpy views of the Arrow buffers, no copy for one chunk), values end to end in ``body``."""
    import pyarrow as pa  # noqa: PLC0415

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    n = len(arr)
    _, offsets, data = arr.buffers()
    kind = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    off = np.frombuffer(offsets, dtype=kind)[arr.offset: arr.offset + n + 1].astype(np.int64)
    body = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return off[:-1], off[1:], body


def _all_distinct(col) -> bool:
    """Whether no value of a null-free Arrow string column repeats (exactly; the test of ``duplicate_key``).

    Exports usually come sorted by their key.  A strictly increasing run of rows
    holds no repeat, so when all but a few rows (appended or moved ones, at most
    :data:`_UNSORTED_SHARE`) form one such run, only those few are looked up: among
    themselves and in the run (a hash set of the few, probed by the run).  Any other
    column is hashed whole (``pc.unique``), which at a million keys cost several
    times more on fresh memory.
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if n < 2:
        return True
    up = pc.less(arr.slice(0, n - 1), arr.slice(1)).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(~up) + 1])  # each run [starts[k], starts[k+1]) increases
    ends = np.concatenate([starts[1:], [n]])
    k = int(np.argmax(ends - starts))
    a, b = int(starts[k]), int(ends[k])
    if n - (b - a) > _UNSORTED_SHARE * n:
        return len(pc.unique(arr)) == n
    others = pa.concat_arrays([arr.slice(0, a), arr.slice(b)])
    if len(pc.unique(others)) != len(others):
        return False
    return not pc.any(pc.is_in(arr.slice(a, b - a), value_set=others)).as_py()


#: at most this share of rows outside the longest increasing run for :func:`_all_distinct`'s fast path
_UNSORTED_SHARE = 0.05


def read_clean_parquet(path: str | os.PathLike[str], kind: Kind, columns_: Sequence[str]):
    """``read_table(path, kind).table[columns_]`` as an Arrow table of strings, for a Parquet file that
    :func:`read_table` would accept whole; None for any other file (then call :func:`read_table`).

    Why: ``vax sign`` at a million people spent most of a rerun in :func:`read_table`
    (dictionary-encoding two million unique keys, every cell of 13 columns turned
    into Python objects and back), although it uses four columns and clean
    platform exports quarantine nothing.  This path takes a file only when it can
    show, with the same per-value functions :func:`read_table` uses (applied to
    distinct values) and Arrow kernels, that no row is quarantined and no column
    repaired: every column text, keys 12 ASCII digits (registry) or present, unique
    and without white space at their ends, every dob/vaccination date and dose
    parseable, every registry sex readable or empty, no U+FFFD and no column that
    :func:`vaxlib.vn.encodings.detect_text_encoding` would repair (decided on the
    very list of values :func:`read_table` gives it), names already NFC.  Anything
    else -- a single bad row, a number column, CSV, xlsx -- gives None, so the
    caller's result is always :func:`read_table`'s (``tests/test_io_clean.py``
    compares the two on hostile random files).  Columns but the key are read
    dictionary-encoded from the file: their checks run on distinct values.
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    if kind not in ("registry", "vaccinations"):
        return None
    p = Path(path)
    if SUPPORTED_EXTENSIONS.get(p.suffix.lower()) != "parquet":
        return None
    try:
        if p.stat().st_size > MAX_INPUT_BYTES:
            return None
        data = p.read_bytes()
    except OSError:
        return None
    if not data.strip(b" \t\r\n\x00") or _sniff(data) != "parquet" or len(data) < 12 or not data.endswith(b"PAR1"):
        return None
    key = KEY_COLUMN[kind]
    try:
        schema = pq.read_schema(pa.BufferReader(data))
        headers = [str(n) for n in schema.names]
        hmap = map_headers(headers, kind)
        _check_required(p, kind, headers, hmap)
        if len(set(headers)) != len(headers):
            return None  # columns are read by name below
        text = (pa.string(), pa.large_string())
        if any(schema.field(j).type not in text for j in hmap):
            return None  # number cells have their own rules (zero-filling, cell text)
        tbl = pq.read_table(pa.BufferReader(data), use_threads=False,
                            read_dictionary=[headers[j] for j, c in hmap.items() if c != key])
    except Exception:  # noqa: BLE001 - read_table says what is wrong with the file
        return None
    del data
    n = tbl.num_rows
    if n == 0:
        return None
    pos_of = {c: i for i, c in hmap.items()}  # as _contract_columns
    cols: dict[str, Any] = {c: (tbl.column(pos_of[c]) if c in pos_of else None)
                            for c in columns(kind) + [c for c in extra_columns(kind) if c in pos_of]}

    def distinct(col) -> list[str]:
        """Every value of a column (once or more, in no particular order)."""
        if pa.types.is_dictionary(col.type):
            return [v for chunk in col.chunks for v in chunk.dictionary.to_pylist() if v is not None]
        return [v for v in pc.unique(col).to_pylist() if v is not None]

    def plain(col):
        return col.combine_chunks().cast(pa.large_string())

    def all_ascii(col) -> bool:
        """Whether every value of a column is ASCII (``str.isascii`` of each distinct value, in Arrow)."""
        arrays = [ch.dictionary for ch in col.chunks] if pa.types.is_dictionary(col.type) else [pc.unique(col)]
        return all(pc.all(pc.string_is_ascii(a)).as_py() is not False for a in arrays)

    coded: dict[str, Any] = {}  # column -> read_table's dictionary encoding of it, where computed
    for c, col in cols.items():  # as _repair_columns: the same values, in the same order
        if col is None or (c != key and all_ascii(col)) or \
                (c == key and pc.all(pc.string_is_ascii(col)).as_py() is not False):
            continue
        enc = coded[c] = plain(col).dictionary_encode()  # as _arrow_coded
        where = np.flatnonzero(~pc.string_is_ascii(enc.dictionary).to_numpy(zero_copy_only=False))
        uniques = enc.dictionary.take(pa.array(where)).to_pylist()
        if any("\ufffd" in u for u in uniques):
            return None  # undecodable
        mapping = _repair_uniques(uniques)
        if mapping and any(k != v for k, v in mapping.items()):
            return None  # a repaired column
    col = cols[key]
    if col is None or col.null_count:
        return None  # missing_key
    starts, ends, body = _string_bytes(col)
    if (starts == ends).any():
        return None  # missing_key
    # as _strip: only values whose first or last character is outside "!".."~" change when trimmed; in
    # UTF-8 a character's first byte is that character (ASCII) or a lead byte >= 0xC2, its last byte
    # that character or a continuation byte >= 0x80: outside 0x21..0x7E exactly when the character is
    first, last = body[starts], body[ends - 1]
    if ((first < 0x21) | (first > 0x7E) | (last < 0x21) | (last > 0x7E)).any():
        return None  # compared after trimming
    if kind == "registry":  # the test of _validate (^[0-9]{12}$): twelve bytes, each a digit
        if (ends - starts != 12).any():
            return None  # bad_person_id
        digits = body[starts[0]:ends[-1]]  # the values lie end to end
        if ((digits < 0x30) | (digits > 0x39)).any():
            return None  # bad_person_id
    if not _all_distinct(col):
        return None  # duplicate_key
    out: dict[str, Any] = {key: plain(col).cast(pa.string())}

    def parsed(c: str, func, strip: bool = True):
        """The column through ``func`` once per distinct value; None when a row is empty or fails."""
        col = cols[c]
        if col is None or col.null_count:
            return None
        # a Parquet dictionary per row group, holding the same values again: ``func`` once per value of them all
        parts = col.combine_chunks().dictionary_encode().chunks if not pa.types.is_dictionary(col.type) \
            else col.chunks
        uniques = pc.unique(pa.concat_arrays([ch.dictionary.cast(pa.large_string()) for ch in parts]))
        values = []
        for u in uniques.to_pylist():
            v = (_stripped(u) if strip else u) if u else None
            r = func(v) if v is not None else None
            if r is None:
                return None
            values.append(r)
        values = pa.array(values, pa.string())
        chunks = [pa.DictionaryArray.from_arrays(ch.indices, values.take(pc.index_in(ch.dictionary.cast(
            pa.large_string()), value_set=uniques))).cast(pa.string()) for ch in parts]
        return pa.chunked_array(chunks, pa.string()).combine_chunks()

    def as_text(c: str):
        """A column read as it is ("" is missing)."""
        col = cols[c]
        if col is None:
            return pa.nulls(n, pa.string())
        if pa.types.is_dictionary(col.type):  # "" made missing in each chunk's dictionary, then decoded once
            chunks = []
            for ch in col.chunks:
                d = ch.dictionary
                d = pc.if_else(pc.equal(pc.binary_length(d), 0), pa.scalar(None, d.type), d)
                chunks.append(pa.DictionaryArray.from_arrays(ch.indices, d).cast(pa.string()))
            return pa.chunked_array(chunks, pa.string()).combine_chunks()
        col = plain(col)
        return pc.if_else(pc.equal(pc.binary_length(col), 0), pa.scalar(None, pa.large_string()), col).cast(pa.string())

    if kind == "registry":
        name = coded.get("full_name")
        if name is not None and any(nfc(u) != u for u in name.dictionary.to_pylist() if not u.isascii()):
            return None  # a name read_table would normalise: its rules, not these
        out["full_name"] = as_text("full_name")
        out["dob"] = parsed("dob", lambda v: parse_platform_date(v, partial=True))
        if out["dob"] is None:
            return None
        if cols["sex"] is not None:
            for u in distinct(cols["sex"]):
                v = _stripped(u) if u else None
                if v is not None and _registry_sex(v) is None:
                    return None  # bad_sex
    else:
        out["dose_number"] = parsed("dose_number", _parse_dose, strip=False)
        out["vaccination_date"] = parsed("vaccination_date", lambda v: parse_platform_date(v, partial=False))
        if out["dose_number"] is None or out["vaccination_date"] is None:
            return None
        out["vaccine"] = as_text("vaccine")
    missing = [c for c in columns_ if c not in out]
    if missing:
        raise ValueError(f"read_clean_parquet gives {sorted(out)}, not {missing}")
    return pa.table({c: out[c] for c in columns_})


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector paused while a file is parsed and checked.

    Parsing a CSV or a workbook builds a list per row and a tuple per column,
    none of them in a reference cycle (reference counting frees them all), yet
    every burst of allocations set off collections that walked all of them
    again: half the CPU time of reading 243k dose records from CSV (4.7 -> 2.5 s).
    A collector someone else disabled stays disabled.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_result(p: Path, fmt: str, kind: str, sh: _Sheet, codes: Sequence[str] = ()) -> ImportResult:
    """The contract's table and quarantine of a parsed sheet: normalise, check, split (see :func:`read_table`)."""
    data, numeric = _contract_columns(sh, kind)
    repaired, undecodable = _repair_columns(data)
    checks = _validate(data, numeric, kind)
    checks.extend((column, "undecodable", rows) for column, rows in undecodable.items())
    bad, bad_columns, bad_reasons = _problem_rows(checks, sh.n_rows)
    rownums = np.asarray(sh.rownums, dtype=np.int64)
    if len(bad):
        key_missing = next(rows for _, reason, rows in checks if reason == "missing_key")
        candidates = bad[key_missing[bad]]
        empty_rows = set(candidates[_blank_rows(sh, candidates)].tolist())
        for k, i in enumerate(bad.tolist()):
            if i in empty_rows:
                bad_columns[k], bad_reasons[k] = "", "empty_row"

    q_rows: list[dict[str, Any]] = [{"file": str(p), "row": row, "column": col, "reason": reason, "raw": raw}
                                    for row, col, reason, raw in sh.broken]
    q_rows += [{"file": str(p), "row": r, "column": c, "reason": why, "raw": sh.raw_of(i)}
               for i, r, c, why in zip(bad.tolist(), rownums[bad].tolist(), bad_columns, bad_reasons)]
    if len(bad):
        keep = np.ones(sh.n_rows, dtype=bool)
        keep[bad] = False
        keep = np.flatnonzero(keep)
    else:
        keep = None
    # fresh arrays, one block each: not copied into one 2-d block (0.3 s per 2.4M rows x 14 columns)
    table = pd.DataFrame({c: pd.Series(col.values(keep), dtype=object, copy=False) for c, col in data.items()},
                         columns=list(data), copy=False)
    if keep is None:
        keep = np.arange(sh.n_rows)
    quarantine = pd.DataFrame(q_rows, columns=QUARANTINE_COLUMNS)
    quarantine = quarantine.sort_values("row", kind="stable").reset_index(drop=True)
    quarantine["row"] = quarantine["row"].astype("int64")
    rows_in = sh.n_rows + len(sh.broken)
    result = ImportResult(
        table=table, quarantine=quarantine, rows_in=rows_in, encoding=sh.encoding, source=str(p),
        repaired_columns=tuple(repaired), header_map={sh.headers[j]: c for j, c in sh.header_map.items()},
        source_rows=rownums[keep].tolist(), legacy_lines=sh.legacy_lines,
        codes={c: (data[c].codes if len(keep) == sh.n_rows else data[c].codes[keep], data[c].uniques)
               for c in codes if c in data},
    )
    assert result.rows_in == len(result.table) + len(result.quarantine)
    logger.info("%s (%s, %s): %d rows in, %d accepted, %d quarantined %s%s", p.name, kind, sh.encoding or fmt,
                rows_in, len(table), len(quarantine), result.reason_counts() or "",
                f"; repaired columns {repaired}" if repaired else "")
    return result


# --------------------------------------------------------------------------- writing


def _platform_date(iso: str | None) -> str | None:
    """Contract ISO (partial) date -> the platform's dd/mm/yyyy, mm/yyyy or yyyy; other text unchanged."""
    if iso is None:
        return None
    if mt := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", iso):
        return f"{mt.group(3)}/{mt.group(2)}/{mt.group(1)}"
    if mt := re.fullmatch(r"(\d{4})-(\d{2})", iso):
        return f"{mt.group(2)}/{mt.group(1)}"
    return iso


_SEX_VI = {"M": "Nam", "F": "Nữ"}


def _export_frame(df: pd.DataFrame, kind: str, platform: bool) -> pd.DataFrame:
    names = columns(kind) + [c for c in extra_columns(kind) if c in df.columns]
    missing = [c.name for c in TABLES[kind] if c.required and c.name not in df.columns]
    if missing:
        raise ValueError(f"table lacks required {kind} column(s) {missing}")
    out = pd.DataFrame(index=range(len(df)))
    for c in names:
        if c in df.columns:
            vals = [None if is_missing(v) else (v if isinstance(v, str) else _to_text(v))
                    for v in df[c].tolist()]
        else:
            vals = [None] * len(df)
        out[c] = pd.Series(vals, dtype=object)
    if platform:
        if kind == "registry":
            out["dob"] = pd.Series([_platform_date(v) for v in out["dob"]], dtype=object)
            out["sex"] = pd.Series([_SEX_VI.get(v, v) if v is not None else None for v in out["sex"]], dtype=object)
        elif kind == "vaccinations":
            out["vaccination_date"] = pd.Series([_platform_date(v) for v in out["vaccination_date"]], dtype=object)
    return out


def _to_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    return str(v)


#: columns holding codes and numbers-as-text: written with the text number format "@"
_ID_COLUMNS = frozenset({"person_id", "old_id", "id_number", "phone", "record_id", "feedback_id", "province_code",
                         "facility_province", "facility_id", "lot_number", "dose_number"})
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def write_table(df: pd.DataFrame, path: str | os.PathLike[str], kind: Kind,
                format: Format | None = None) -> Path:
    """Write a contract table as the platform exports it (CSV/xlsx) or as Parquet.

    Parameters
    ----------
    df : DataFrame
        A contract table (other columns are dropped, except :data:`vaxlib.schema.EXTRA_COLUMNS`
        such as ``facility_name``, written after the contract's; missing optional ones are written empty).
    path : path-like
        Destination; parent folders are created.
    kind : {"registry", "vaccinations", "feedback"}
    format : {"parquet", "csv", "xlsx"}, optional
        Inferred from the extension when omitted.

    Notes
    -----
    CSV is UTF-8 with a BOM (so Excel shows Vietnamese correctly), comma
    separated (tab for ``.tsv``), with the Vietnamese headers of :mod:`vaxlib.schema`; registry
    ``dob`` and ``vaccination_date`` become ``dd/mm/yyyy`` (``mm/yyyy``,
    ``yyyy`` when partial) and registry sex ``Nam``/``Nữ``; every typed field
    is written exactly as it is, except that in CSV and xlsx a value that
    could start a formula gets an apostrophe (:mod:`vaxlib.exports`; read
    back without it).  In ``.xlsx`` every cell is a text cell
    (number format ``@``), and control characters that the format cannot hold (all but
    tab, LF, CR) are dropped with a warning.  NUL characters are dropped from
    CSV.  Parquet keeps the contract's column names and forms, all strings.
    """
    if kind not in TABLES:
        raise ValueError(f"kind must be one of {sorted(TABLES)}, not {kind!r}")
    p = Path(path)
    if format is None:
        fmt = SUPPORTED_EXTENSIONS.get(p.suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot infer a format from {p.name!r}; pass format=")
    else:
        fmt = format
    if fmt not in ("parquet", "csv", "xlsx"):
        raise ValueError(f"format must be 'parquet', 'csv' or 'xlsx', not {fmt!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    from vaxlib.runs import fault_point  # noqa: PLC0415 - fault injection (tests/test_faults.py)

    fault_point(f"write:{p.name}")
    if fmt == "parquet":
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        out = _export_frame(df, kind, platform=False)
        arrays = [pa.array(out[c].tolist(), type=pa.string()) for c in out.columns]
        pq.write_table(pa.Table.from_arrays(arrays, names=list(out.columns)), p)
        return p
    out = _export_frame(df, kind, platform=True)
    vi = {c.name: c.vi for c in (*TABLES[kind], *EXTRA_COLUMNS[kind])}
    headers = [vi[c] for c in out.columns]
    if fmt == "csv":
        dropped = 0
        with open(p, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh, delimiter="\t" if p.suffix.lower() == ".tsv" else ",", quotechar='"',
                           lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
            w.writerow(headers)
            for row in out.itertuples(index=False, name=None):
                vals = []
                for v in row:
                    if v is None:
                        vals.append("")
                    elif "\x00" in v:
                        dropped += 1
                        vals.append(neutralise(v.replace("\x00", "")))
                    else:
                        vals.append(neutralise(v))
                w.writerow(vals)
        if dropped:
            logger.warning("%s: NUL characters dropped from %d cell(s)", p.name, dropped)
        return p

    import openpyxl  # noqa: PLC0415
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(title={"registry": "Dan cu", "vaccinations": "Mui tiem", "feedback": "Phan anh"}[kind])
    ws.append(headers)
    neutralised = dropped = 0
    id_positions = {i for i, c in enumerate(out.columns) if c in _ID_COLUMNS}
    for row in out.itertuples(index=False, name=None):
        cells = []
        for pos, v in enumerate(row):
            if v is None:
                cells.append(None)
                continue
            if _XLSX_ILLEGAL.search(v):
                v = _XLSX_ILLEGAL.sub("", v)
                dropped += 1
            if v == "":
                cells.append(None)
                continue
            if is_formula_like(v):
                v = neutralise(v)
                neutralised += 1
            if pos in id_positions:  # text format, so that editing in Excel keeps the digits as text
                c = WriteOnlyCell(ws, value=v)
                c.data_type = "s"
                c.number_format = "@"
                cells.append(c)
            else:  # a str is always written as a text cell; no value here can start a formula any more
                cells.append(v)
        ws.append(cells)
    wb.save(p)
    if dropped:
        logger.warning("%s: control characters dropped from %d cell(s)", p.name, dropped)
    if neutralised:
        logger.info("%s: %d cell(s) prefixed with an apostrophe against formula injection", p.name, neutralised)
    return p


# --------------------------------------------------------------------------- vaxlib's own outputs


class OutputTableError(VaxImportError):
    """A table vaxlib wrote (matches, candidates, certificates, ...) is missing, unreadable or of the wrong kind."""


def parquet_rows(path: str | os.PathLike[str]) -> int:
    """Row count of a Parquet file, from its footer (the data is not read)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    return int(pq.ParquetFile(path).metadata.num_rows)


def parquet_columns(path: str | os.PathLike[str]) -> list[str]:
    """Column names of a Parquet file (or of a partitioned table's first part), from its footer."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    parts = table_parts(path)
    return list(pq.read_schema(parts[0] if parts else path).names)


def table_parts(path: str | os.PathLike[str]) -> list[Path]:
    """The files of an output table: ``[path]`` for one file; for a partitioned table
    (``vax match --engine dask``), ``matches.parquet`` names the folder ``matches/`` and
    its ``part-*.parquet`` files, in order.  ``[]`` when neither exists."""
    p = Path(path)
    if p.is_file():
        return [p]
    folder = p.with_suffix("") if p.suffix == ".parquet" else p
    if folder.is_dir():
        return sorted(folder.glob("part-*.parquet"))
    return []


def read_output(path: str | os.PathLike[str], kind: str, *, columns: Sequence[str] | None = None,
                filters: list | None = None) -> pd.DataFrame:
    """Read a table vaxlib wrote (:data:`vaxlib.schema.OUTPUT_TABLES` kinds) from Parquet.

    Parameters
    ----------
    path
        The ``.parquet`` file.  Whether its run folder is complete is the caller's
        question (:func:`vaxlib.runs.check_run`); this checks the file itself.
    kind
        ``"matches"``, ``"candidates"``, ``"certificates"``, ``"quarantine"``, ...
    columns
        Read only these columns.
    filters
        Row filters pushed down to the Parquet reader (pyarrow's DNF form, e.g.
        ``[("record_id", "in", ids)]``): the other rows are never loaded.

    Raises
    ------
    OutputTableError
        The file is missing, not Parquet, or lacks a column of its kind (names the file and column).
    """
    from vaxlib.schema import OUTPUT_TABLES  # noqa: PLC0415

    if kind not in OUTPUT_TABLES:
        raise ValueError(f"kind must be one of {sorted(OUTPUT_TABLES)}, not {kind!r}")
    p = Path(path)
    parts = table_parts(p)
    if not parts:
        raise OutputTableError(f"không có tệp {kind}", f"no {kind} file", p)
    if len(parts) > 1 or parts[0] != p:  # a partitioned table: every part checked, then joined in order
        frames = [read_output(part, kind, columns=columns, filters=filters) for part in parts]
        return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    _check_output_file(p, kind, columns)
    return pd.read_parquet(p, columns=list(columns) if columns is not None else None, filters=filters)


def _check_output_file(p: Path, kind: str, columns: Sequence[str] | None) -> None:
    """Refuse a file of an output table that is not Parquet or lacks a column of its kind (or of ``columns``)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    from vaxlib.schema import OUTPUT_TABLES  # noqa: PLC0415

    try:
        names = pq.ParquetFile(p).schema_arrow.names
    except Exception:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise OutputTableError("không phải tệp Parquet đọc được", "not a readable Parquet file", p) from None
    missing = [c for c in OUTPUT_TABLES[kind] if c not in names]
    if missing:
        raise OutputTableError(f"không phải bảng {kind}: thiếu cột {missing[0]}",
                               f"not a {kind} table: no column {missing[0]}", p, column=missing[0])
    if columns is not None:
        absent = [c for c in columns if c not in names]
        if absent:
            raise OutputTableError(f"thiếu cột {absent[0]}", f"no column {absent[0]}", p, column=absent[0])


def read_output_arrow(path: str | os.PathLike[str], kind: str, *, columns: Sequence[str] | None = None,
                      dictionary: Sequence[str] = ()):
    """:func:`read_output` as a pyarrow Table (no pandas conversion: millions of strings stay in Arrow).

    Same checks and errors; a partitioned table's parts are joined in order.  ``dictionary``
    columns are read dictionary-encoded (a few distinct values over millions of rows: codes,
    not strings; each part may have its own dictionary).
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from vaxlib.schema import OUTPUT_TABLES  # noqa: PLC0415

    if kind not in OUTPUT_TABLES:
        raise ValueError(f"kind must be one of {sorted(OUTPUT_TABLES)}, not {kind!r}")
    parts = table_parts(path)
    if not parts:
        raise OutputTableError(f"không có tệp {kind}", f"no {kind} file", Path(path))
    tables = []
    for part in parts:
        _check_output_file(part, kind, columns)
        tables.append(pq.read_table(part, columns=list(columns) if columns is not None else None,
                                    read_dictionary=list(dictionary) or None))
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def read_output_batches(path: str | os.PathLike[str], kind: str, *, columns: Sequence[str] | None = None,
                        batch_rows: int = 262_144):
    """:func:`read_output_arrow` a slice at a time: pyarrow Tables of at most ``batch_rows`` rows,
    part after part, in the table's order (memory bounded by one slice, whatever the table's size).

    Each part is checked (:func:`read_output`'s errors) before its first slice is read.
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from vaxlib.schema import OUTPUT_TABLES  # noqa: PLC0415

    if kind not in OUTPUT_TABLES:
        raise ValueError(f"kind must be one of {sorted(OUTPUT_TABLES)}, not {kind!r}")
    parts = table_parts(path)
    if not parts:
        raise OutputTableError(f"không có tệp {kind}", f"no {kind} file", Path(path))
    for part in parts:
        _check_output_file(part, kind, columns)
        pf = pq.ParquetFile(part)
        for batch in pf.iter_batches(batch_size=batch_rows, columns=list(columns) if columns is not None else None):
            yield pa.Table.from_batches([batch])


def write_output(df: pd.DataFrame, path: str | os.PathLike[str], kind: str) -> Path:
    """Write a table vaxlib produces as Parquet (no index); checks its kind's columns first.

    Write into a run's staging folder (:func:`vaxlib.runs.atomic_run`), never over a result in place.
    """
    from vaxlib.runs import fault_point  # noqa: PLC0415
    from vaxlib.schema import OUTPUT_TABLES  # noqa: PLC0415

    if kind not in OUTPUT_TABLES:
        raise ValueError(f"kind must be one of {sorted(OUTPUT_TABLES)}, not {kind!r}")
    missing = [c for c in OUTPUT_TABLES[kind] if c not in df.columns]
    if missing:
        raise ValueError(f"{kind} table lacks column(s) {missing}")
    p = Path(path)
    fault_point(f"write:{p.name}")
    df.to_parquet(p, index=False)
    fault_point(f"wrote:{p.name}")
    return p


def write_json(data: Any, path: str | os.PathLike[str], *, sort_keys: bool = False) -> Path:
    """Write ``data`` as indented UTF-8 JSON (numpy scalars as numbers, sets as sorted lists)."""
    import json  # noqa: PLC0415

    from vaxlib.runs import fault_point  # noqa: PLC0415

    p = Path(path)
    fault_point(f"write:{p.name}")
    p.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default, sort_keys=sort_keys) + "\n",
                 encoding="utf-8")
    fault_point(f"wrote:{p.name}")
    return p


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file vaxlib wrote; a missing or broken one is an :class:`OutputTableError`."""
    import json  # noqa: PLC0415

    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputTableError("không có tệp", "no such file", p) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise OutputTableError("tệp JSON không đọc được", f"unreadable JSON ({type(exc).__name__})", p) from None
