"""Build the hostile-input corpus: files a careless or malicious sender could give vaxlib.

Run ``python tests/data/hostile/make_corpus.py [DIR]`` to write every file
(to ``tests/data/hostile/files`` by default, which git ignores); the tests
(``tests/test_hostile.py``) build it in a temporary folder.  Each :class:`Case`
says what the file is, which table it is read as and what must happen: either
an exact quarantine (rows in, accepted, quarantined, the reasons) or a
one-line error (the fragment the message must contain).  Nothing here is
computed by the code under test: every expected figure is written by hand
from how the file is built.
"""
from __future__ import annotations

import random
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for the independent encoders
from legacy_bytes import encode_cp1258  # noqa: E402

# The Vietnamese headers of the vaccinations table, as the national platform exports them
# (kept here as literals, so that a change in the schema shows up as a failing case).
VAX_HEADER = ["Mã bản ghi", "Họ và tên", "Ngày sinh", "Giới tính", "Số CMND/CCCD", "Số điện thoại",
              "Tỉnh/Thành phố", "Cơ sở tiêm", "Tỉnh của cơ sở tiêm", "Mũi tiêm", "Ngày tiêm", "Loại vắc xin",
              "Số lô"]
REG_HEADER = ["Số định danh cá nhân", "Họ và tên", "Ngày sinh", "Giới tính", "Số CMND cũ", "Mã tỉnh thường trú"]
NAMES = ["Nguyễn Thị Hồng", "Trần Văn Đức", "Lê Thị Ánh", "Phạm Quốc Bảo", "Đặng Thị Thuỷ"]
#: a person's data that must never appear in an error message
SECRET_NAME, SECRET_ID, SECRET_PHONE = "Hoàng Thị Mỹ Duyên", "079190004279", "0903123479"


def vax_row(i: int, name: str | None = None, facility: str | None = "FAC-79-001") -> list[str | None]:
    return [f"R{i:05d}", name or NAMES[i % len(NAMES)], "12/03/1985", "Nam", f"0790850{i:05d}",
            f"09123{i:05d}", "79", facility, "79", "1", "15/08/2021", "AstraZeneca", "NJ0342"]


def csv_bytes(rows: list[list[str | None]], encoding: str = "utf-8") -> bytes:
    """Rows joined by hand (no csv module: broken rows stay broken)."""
    return ("\r\n".join(",".join("" if v is None else v for v in r) for r in rows) + "\r\n").encode(encoding)


@dataclass
class Case:
    """One hostile file and what vaxlib must do with it.

    ``expect`` is ``"quarantine"`` (``read_table`` returns; the counts and
    reasons are exact), ``"error"`` (``read_table`` raises, or the ``vax``
    command in ``argv`` exits 2 with one line containing ``fragment``) or
    ``"verify"`` (``vax verify`` rejects the input with reason ``fragment``, exit 1).
    """

    name: str
    build: Callable[[Path], None] | None  # None: the file must not exist
    what: str
    kind: str = "vaccinations"
    expect: str = "quarantine"
    rows_in: int = 0
    accepted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    fragment: str = ""
    argv: list[str] | None = None  # "{file}", "{out}", "{dir}" and "{<case name>}" are filled in


# --------------------------------------------------------------------------- builders


def _utf8_with_garbage(path: Path) -> None:
    """200 UTF-8 rows and 12 lines of binary garbage (with a stray quote and a NUL) among them."""
    rnd = random.Random(11)
    lines = csv_bytes([VAX_HEADER] + [vax_row(i) for i in range(200)]).split(b"\r\n")[:-1]
    for k in range(12):
        junk = bytes(rnd.randrange(0x80, 0x100) for _ in range(40)) + b'"\x00' + bytes(
            rnd.randrange(0x80, 0x100) for _ in range(20))
        lines.insert(20 + 16 * k, junk)
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")


def _bom_with_cp1258_rows(path: Path) -> None:
    """A UTF-8-BOM file in which three rows were pasted from a Windows-1258 file."""
    rows = [VAX_HEADER] + [vax_row(i) for i in range(60)]
    lines = [csv_bytes([r]).rstrip(b"\r\n") for r in rows]
    for i in (5, 30, 55):
        lines[i] = encode_cp1258(",".join(rows[i]))
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")


def _bom_with_garbage_rows(path: Path) -> None:
    """A UTF-8-BOM file with three lines that no encoding reads (bytes 0x80-0x9f and 0xff)."""
    rows = [VAX_HEADER] + [vax_row(i) for i in range(30)]
    lines = [csv_bytes([r]).rstrip(b"\r\n") for r in rows]
    for i in (3, 4, 29):
        lines[i] = lines[i][:12] + b"\x81\x8d\x8f\x90\x9d\xff\xfe" + lines[i][12:]
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")


def _replacement_chars(path: Path) -> None:
    """UTF-8 text already broken upstream: two names hold U+FFFD."""
    rows = [VAX_HEADER] + [vax_row(i) for i in range(10)]
    rows[2][1] = "Nguy\ufffd\ufffdn Th\ufffd H\ufffdng"
    rows[7][1] = "Tr\ufffdn V\ufffdn \ufffd\ufffdc"
    path.write_bytes(csv_bytes(rows))


def _merged_xlsx(path: Path) -> None:
    """Facility merged over blocks of five rows; one range spanning date and vaccine; a merged title."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Danh sách tiêm chủng"])
    ws.merge_cells("A1:M1")
    ws.append(VAX_HEADER)
    for i in range(20):
        ws.append(vax_row(i, facility="FAC-79-00%d" % (i // 5) if i % 5 == 0 else None))
    for start in (3, 8, 13, 18):
        ws.merge_cells(f"H{start}:H{start + 4}")
    ws.merge_cells("K10:L11")
    wb.save(path)


def _registry(path: Path) -> None:
    """A small valid register (the other input of ``vax match``)."""
    rows = [REG_HEADER] + [[f"0790850{i:05d}", NAMES[i % len(NAMES)], "12/03/1985", "Nam", "", "79"]
                           for i in range(20)]
    path.write_bytes(csv_bytes(rows))


def _header_only(path: Path) -> None:
    path.write_bytes(csv_bytes([VAX_HEADER]))


def _registry_header_only(path: Path) -> None:
    path.write_bytes(csv_bytes([REG_HEADER]))


def _all_quarantined(path: Path) -> None:
    """Every row's vaccination date is unreadable."""
    rows = [VAX_HEADER] + [vax_row(i) for i in range(7)]
    for r in rows[1:]:
        r[10] = "không rõ"
    path.write_bytes(csv_bytes(rows))


def _headerless(path: Path) -> None:
    """The export lost its header: the first line is a person's record."""
    first = vax_row(0, name=SECRET_NAME)
    first[4], first[5] = SECRET_ID, SECRET_PHONE
    path.write_bytes(csv_bytes([first] + [vax_row(i) for i in range(1, 5)]))


def _empty(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf\r\n  \r\n")


def _plain_file(path: Path) -> None:
    path.write_text("not a folder\n", encoding="utf-8")


def _workbook_bomb(path: Path, part: str = "xl/workbook.xml", mb: int = 70) -> None:
    """A real workbook whose ``part`` is padded with ``mb`` MB of spaces (about 1000:1 compressed)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(VAX_HEADER)
    ws.append(vax_row(1))
    tmp = path.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename != part:
                zout.writestr(info, data)
                continue
            with zout.open(info.filename, "w", force_zip64=True) as fh:
                cut = data.rindex(b"</")  # white space before the root element's end tag: still valid XML
                fh.write(data[:cut])
                for _ in range(mb):
                    fh.write(b" " * (1 << 20))
                fh.write(data[cut:])
    tmp.unlink()


def _sheet_bomb(path: Path) -> None:
    _workbook_bomb(path, part="xl/worksheets/sheet1.xml", mb=20)


def _huge_image(path: Path) -> None:
    """A PNG that declares 12000 x 12000 pixels (144 megapixels) but holds no pixel data.

    A reader that decoded the pixels would fail as unreadable; the limit must
    refuse it as too large from the header alone.
    """
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 12000, 12000, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def _long_line(path: Path) -> None:
    """A 'text file of HC1 strings' that is one line of 300 000 characters."""
    path.write_text("HC1:" + "A" * 300_000, encoding="ascii")


def _zlib_bomb(path: Path) -> None:
    """An HC1 string whose zlib stream inflates to 10 MB (a DCC is at most a few kB)."""
    import zlib

    from vaxlib.sign.hc1 import PREFIX, b45encode

    path.write_text(PREFIX + b45encode(zlib.compress(b"\x00" * (10 << 20), 9)) + "\n", encoding="ascii")


def _cbor_nesting(path: Path) -> None:
    """An HC1 string whose CBOR is 60 000 nested arrays (a recursion bomb for a naive decoder)."""
    from vaxlib.sign.hc1 import PREFIX, b45encode, compress

    path.write_text(PREFIX + b45encode(compress(b"\x81" * 60_000 + b"\x00")) + "\n", encoding="ascii")


def _table_without_hc1(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"uvci": ["URN:UVCI:01:VN:X"]}), path)


#: passphrase of the corpus's key stores (test data, not a secret)
KEY_PASSPHRASE = "hostile-corpus"


def _key_store(path: Path) -> None:
    import os

    from vaxlib.sign.keys import init_keys

    old = os.environ.get("VAX_KEY_PASSPHRASE")
    os.environ["VAX_KEY_PASSPHRASE"] = KEY_PASSPHRASE
    try:
        init_keys(path)
    finally:
        if old is None:
            del os.environ["VAX_KEY_PASSPHRASE"]
        else:
            os.environ["VAX_KEY_PASSPHRASE"] = old


def _store_not_json(path: Path) -> None:
    _key_store(path)
    (path / "keystore.json").write_text("{garbage", encoding="utf-8")


def _store_kid_escapes(path: Path) -> None:
    """keystore.json whose active kid is a path out of the key folder."""
    _key_store(path)
    (path / "keystore.json").write_text('{"active": "../../../etc/passwd", "history": []}', encoding="utf-8")


def _csca_cert_damaged(path: Path) -> None:
    _key_store(path)
    (path / "csca.crt.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n", encoding="utf-8")


CASES: list[Case] = [
    Case("utf8-with-binary-garbage.csv", _utf8_with_garbage,
         "UTF-8 with a dozen binary-garbage lines: the rest stays UTF-8, the garbage is quarantined",
         rows_in=212, accepted=200, reasons={"undecodable": 12}),
    Case("bom-with-cp1258-rows.csv", _bom_with_cp1258_rows,
         "UTF-8-BOM with three Windows-1258 rows: those rows are read as Windows-1258",
         rows_in=60, accepted=60),
    Case("bom-with-garbage-rows.csv", _bom_with_garbage_rows,
         "UTF-8-BOM with three lines no encoding reads: quarantined, never U+FFFD",
         rows_in=30, accepted=27, reasons={"undecodable": 3}),
    Case("replacement-chars.csv", _replacement_chars,
         "names holding U+FFFD from an earlier broken decode: quarantined",
         rows_in=10, accepted=8, reasons={"undecodable": 2}),
    Case("merged-facility.xlsx", _merged_xlsx,
         "merged facility cells are filled down; a merge over two fields is quarantined",
         rows_in=20, accepted=18, reasons={"merged_cells": 2}),
    Case("registry-ok.csv", _registry, "a valid register, the other input of the vax match cases",
         kind="registry", rows_in=20, accepted=20),
    Case("header-only.csv", _header_only, "header and no data: one line, exit 2 (was ValueError: high <= 0)",
         expect="error", fragment="chỉ có dòng tiêu đề",
         argv=["match", "--registry", "{registry-ok.csv}", "--vaccinations", "{file}", "--out", "{out}"]),
    Case("registry-header-only.csv", _registry_header_only, "a register with a header and no person: one line, exit 2",
         kind="registry", expect="error", fragment="chỉ có dòng tiêu đề",
         argv=["match", "--registry", "{file}", "--vaccinations", "{utf8-with-binary-garbage.csv}", "--out", "{out}"]),
    Case("all-quarantined.csv", _all_quarantined,
         "every row quarantined: one line, exit 2, and the quarantine is written (was ValueError: high <= 0)",
         expect="error", fragment="cả 7 dòng đều bị cách ly (bad_vaccination_date 7; cột vaccination_date)",
         rows_in=7, reasons={"bad_vaccination_date": 7},
         argv=["match", "--registry", "{registry-ok.csv}", "--vaccinations", "{file}", "--out", "{out}"]),
    Case("headerless.csv", _headerless, "no header row: one line, the first record's values masked, names hidden",
         expect="error", fragment="thiếu dòng tiêu đề: dòng đầu tiên là dữ liệu",
         argv=["match", "--registry", "{registry-ok.csv}", "--vaccinations", "{file}", "--out", "{out}"]),
    Case("empty.csv", _empty, "only a BOM and white space", expect="error", fragment="tệp rỗng",
         argv=["match", "--registry", "{registry-ok.csv}", "--vaccinations", "{file}", "--out", "{out}"]),
    Case("missing.csv", None, "a file that does not exist", expect="error", fragment="không tìm thấy tệp",
         argv=["match", "--registry", "{registry-ok.csv}", "--vaccinations", "{file}", "--out", "{out}"]),
    Case("out-is-a-file.txt", _plain_file, "--out names a file: refused before any work",
         expect="error", fragment="là một tệp, không phải thư mục",
         argv=["match", "--registry", "{registry-ok.csv}", "--vaccinations", "{registry-ok.csv}", "--out", "{file}"]),
    Case("apply-out-is-a-file.txt", _plain_file, "vax apply --out names a file: refused before any work",
         expect="error", fragment="là một tệp, không phải thư mục",
         argv=["apply", "--vaccinations", "{registry-ok.csv}", "--matches", "{registry-ok.csv}", "--out", "{file}"]),
    Case("sign-out-is-a-file.txt", _plain_file, "vax sign --out names a file: refused before any work",
         expect="error", fragment="là một tệp, không phải thư mục",
         argv=["sign", "--registry", "{registry-ok.csv}", "--vaccinations", "{registry-ok.csv}", "--matches",
               "{registry-ok.csv}", "--keys", "{dir}", "--out", "{file}"]),
    Case("workbook-bomb.xlsx", _workbook_bomb,
         "workbook.xml inflating to 70 MB (the 800 MB one took 2.4 GB): refused from the zip directory",
         expect="error", fragment="xl/workbook.xml"),
    Case("sheet-bomb.xlsx", _sheet_bomb, "a worksheet compressed about 1000:1: refused as a zip bomb",
         expect="error", fragment="bom nén"),
    Case("qr-144-megapixels.png", _huge_image, "vax verify on a 144-megapixel image: too_large, pixels never decoded",
         expect="verify", fragment="too_large", argv=["verify", "--trust", "{dir}", "{file}"]),
    Case("hc1-one-long-line.txt", _long_line, "vax verify on a 300 000-character line: too_large",
         expect="verify", fragment="too_large", argv=["verify", "--trust", "{dir}", "{file}"]),
    Case("hc1-zlib-bomb.txt", _zlib_bomb, "vax verify on an HC1 whose zlib inflates to 10 MB: stopped at 64 KiB",
         expect="verify", fragment="bad_compression", argv=["verify", "--trust", "{dir}", "{file}"]),
    Case("hc1-cbor-nesting.txt", _cbor_nesting, "vax verify on 60 000 nested CBOR arrays: rejected, no crash",
         expect="verify", fragment="bad_cose", argv=["verify", "--trust", "{dir}", "{file}"]),
    Case("certificates-without-hc1.parquet", _table_without_hc1, "vax verify on a table with no hc1 column",
         expect="error", fragment="không đọc được bảng chứng nhận",
         argv=["verify", "--trust", "{dir}", "{file}"]),
    Case("keys-store-not-json", _store_not_json, "keystore.json is not JSON (was a JSONDecodeError traceback)",
         expect="error", fragment="kho khoá bị hỏng", argv=["keys", "list", "--keys", "{file}"]),
    Case("keys-kid-escapes", _store_kid_escapes, "keystore.json's active kid is a path: refused, nothing opened",
         expect="error", fragment="kho khoá bị hỏng", argv=["keys", "rotate", "--keys", "{file}"]),
    Case("keys-csca-damaged", _csca_cert_damaged, "csca.crt.pem damaged (was a ValueError traceback)",
         expect="error", fragment="chứng thư bị hỏng", argv=["keys", "rotate", "--keys", "{file}"]),
    Case("evaluate-missing-matches", None, "vax evaluate with a missing path (was a 30-line pyarrow traceback)",
         expect="error", fragment="không tìm thấy tệp",
         argv=["evaluate", "--truth", "{dir}", "--matches", "{file}"]),
    Case("evaluate-wrong-table.csv", _registry, "vax evaluate given the register as matches",
         expect="error", fragment="không phải bảng matches",
         argv=["evaluate", "--truth", "{dir}", "--matches", "{file}"]),
]


def build(folder: Path) -> dict[str, Path]:
    """Write every case's file into ``folder``; name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for case in CASES:
        p = folder / case.name
        if case.build is not None:
            case.build(p)
        out[case.name] = p
    return out


if __name__ == "__main__":  # pragma: no cover
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "files"
    for name, p in build(target).items():
        size = f"{p.stat().st_size:,} bytes" if p.is_file() else "folder" if p.is_dir() else "absent on purpose"
        print(f"{p}  ({size})")
