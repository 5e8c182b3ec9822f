"""Tests of vaxlib.io on files made like the real ones.

Every input file is built here at test time (openpyxl, Python codecs, the
legacy encoders of vaxlib.vn.encodings), and every expected value is written
by hand.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
import zipfile

import openpyxl
import pandas as pd
import pytest

from vaxlib import io as vio
from vaxlib.io import (
    CorruptFileError,
    EmptyFileError,
    FileTypeMismatchError,
    MissingColumnError,
    UnsupportedFileError,
    VaxImportError,
    read_table,
    write_table,
)
from vaxlib.schema import TABLES, columns
from legacy_bytes import encode_cp1258, sloppy_cp1252

VAX_VI = [c.vi for c in TABLES["vaccinations"]]
REG_VI = [c.vi for c in TABLES["registry"]]
FB_VI = [c.vi for c in TABLES["feedback"]]


def csv_text(rows, delimiter=","):
    """Join rows by hand (no csv module), so broken rows stay broken."""
    return "\r\n".join(delimiter.join(r) for r in rows) + "\r\n"


def vax_row(rid, name="Nguyễn Văn An", dob="12/03/1985", sex="Nam", idn="079085001234", phone="0912345678",
            prov="79", fac="FAC-79-001", facprov="79", dose="1", vdate="15/08/2021", vaccine="AstraZeneca",
            lot="NJ0342"):
    return [rid, name, dob, sex, idn, phone, prov, fac, facprov, dose, vdate, vaccine, lot]


def reconcile(res):
    assert res.rows_in == len(res.table) + len(res.quarantine)
    assert res.quarantine["row"].is_unique
    assert list(res.table.columns) == list(res.table.columns)


def q_reasons(res) -> dict[int, str]:
    return dict(zip(res.quarantine["row"], res.quarantine["reason"]))


# --------------------------------------------------------------------------- xlsx


def test_xlsx_vietnamese_headers_numbers_and_dates(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["DANH SÁCH NGƯỜI ĐÃ TIÊM VẮC XIN COVID-19"])  # title row above the header
    ws.append(["Mã bản ghi", "HỌ VÀ TÊN", "Ngày sinh", "Giới tính", "Số CMND/CCCD/HC", "SĐT",
               "Tỉnh/Thành phố", "Cơ sở tiêm", "Mũi tiêm", "Ngày tiêm", "Loại vắc xin", "Số lô", "Ghi chú"])
    ws.append([1001, "Nguyễn Thị Hoà", dt.datetime(1990, 5, 1), "Nữ", 79190001234, 912345678,
               1, "FAC-01", 1, dt.datetime(2021, 8, 15), "AstraZeneca", 4120, "x"])
    ws.append(["1002", "Trần Văn Bình", "1975", "Nam", 7.9123456789e10, "0987654321",
               "TP. Hồ Chí Minh", "FAC-79", 2.0, "16/09/2021", "Pfizer", "FF2593", None])
    ws.append(["1003", "Lê Văn Cường", "03/04/1980", "1", "036080001122", None,
               "79", "FAC-79", 3, "2021-12-01", "Moderna", None, None])
    p = tmp_path / "tiem.xlsx"
    wb.save(p)

    res = read_table(p, "vaccinations")
    reconcile(res)
    assert res.rows_in == 3 and len(res.quarantine) == 0
    t = res.table
    assert list(t.columns) == columns("vaccinations")
    assert t["record_id"].tolist() == ["1001", "1002", "1003"]
    # IDs stored as numbers come back as their digits, never '…​.0' or 7.9E+10
    assert t["id_number"].tolist() == ["79190001234", "79123456789", "036080001122"]
    assert t["phone"].tolist() == ["912345678", "0987654321", None]
    assert t["dose_number"].tolist() == ["1", "2", "3"]
    assert t["vaccination_date"].tolist() == ["2021-08-15", "2021-09-16", "2021-12-01"]
    assert t["dob"].tolist() == ["01/05/1990", "1975", "03/04/1980"]  # typed dob stays as typed
    assert t["sex"].tolist() == ["Nữ", "Nam", "1"]
    assert t["province_code"].tolist() == ["01", "79", "79"]
    assert t["lot_number"].tolist() == ["4120", "FF2593", None]
    assert t["facility_province"].tolist() == [None, None, None]
    assert res.source_rows == [3, 4, 5]
    assert all(isinstance(v, str) or v is None for v in t.to_numpy().ravel())


def test_xlsx_registry_numbers_get_their_zeros_back(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(REG_VI)
    ws.append([1085001234, "Phạm Thị Thuỷ", dt.datetime(1985, 1, 31), "Nữ", 12345678, "Hà Nội"])
    ws.append([79190001234, "Ngô Văn Đức", "05/1990", "Nam", None, 79])
    ws.append(["079190001235", "Hồ Thị Lan", "1942", "Nữ", "023456789", "Tỉnh Khánh Hòa"])
    ws.append(["79190001236", "Đặng Văn Em", "02/02/1990", "Nam", None, None])  # text, 11 digits: bad
    p = tmp_path / "dan_cu.xlsx"
    wb.save(p)
    res = read_table(p, "registry")
    reconcile(res)
    t = res.table
    assert t["person_id"].tolist() == ["001085001234", "079190001234", "079190001235"]
    assert t["dob"].tolist() == ["1985-01-31", "1990-05", "1942"]
    assert t["sex"].tolist() == ["F", "M", "F"]
    assert t["old_id"].tolist() == ["012345678", None, "023456789"]
    assert t["province_code"].tolist() == ["01", "79", "56"]
    assert q_reasons(res) == {5: "bad_person_id"}


def test_xlsx_sheet_option(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Ghi chú"
    wb.active.append(["Tệp xuất từ nền tảng"])
    ws = wb.create_sheet("Dữ liệu")
    ws.append(FB_VI)
    ws.append(["PA1", dt.datetime(2022, 3, 1, 9, 30), "Vũ Thị Mai", "1/1/1990", "Nữ", "001190000001",
               "0912000111", "missing_dose", "Thiếu mũi 2"])
    p = tmp_path / "pa.xlsx"
    wb.save(p)
    with pytest.raises(MissingColumnError):
        read_table(p, "feedback")
    for sheet in ("Dữ liệu", 1):
        res = read_table(p, "feedback", sheet=sheet)
        assert res.table["submitted_at"].tolist() == ["2022-03-01T09:30:00"]
        assert res.table["dob"].tolist() == ["1/1/1990"]
    with pytest.raises(vio.SheetNotFoundError, match="Sheet9|không có trang"):
        read_table(p, "feedback", sheet="Sheet9")


def test_xlsx_formula_injection_is_neutralised_and_round_trips(tmp_path):
    df = pd.DataFrame([vax_row("R1", name="=HYPERLINK(\"http://x\",\"y\")", vdate="2021-08-15", phone="+84912345678",
                               lot="-1+2", vaccine="@SUM(A1)")], columns=columns("vaccinations"))
    p = write_table(df, tmp_path / "v.xlsx", "vaccinations")
    ws = openpyxl.load_workbook(p).active
    cells = [c.value for c in ws[2]]
    assert cells[1] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert cells[5] == "'+84912345678"
    assert cells[11] == "'@SUM(A1)" and cells[12] == "'-1+2"
    assert all(c.data_type == "s" for c in ws[2] if c.value is not None)
    back = read_table(p, "vaccinations").table
    assert back.loc[0, "full_name"] == "=HYPERLINK(\"http://x\",\"y\")"
    assert back.loc[0, "phone"] == "+84912345678"
    assert back.loc[0, "lot_number"] == "-1+2"


def test_xlsx_ids_written_as_text(tmp_path):
    df = pd.DataFrame({"person_id": ["001085001234"], "full_name": ["Phạm Thị Thuỷ"], "dob": ["1985-01"],
                       "sex": ["F"], "old_id": ["012345678"], "province_code": ["01"]})
    p = write_table(df, tmp_path / "r.xlsx", "registry")
    row = list(openpyxl.load_workbook(p).active.iter_rows(min_row=2, values_only=True))[0]
    assert row == ("001085001234", "Phạm Thị Thuỷ", "01/1985", "Nữ", "012345678", "01")


# --------------------------------------------------------------------------- CSV encodings


NAMES = ["Nguyễn Văn Đức", "Trần Thị Thuỷ", "Lê Hoàng Yến", "Phạm Quốc Việt"]


def _vax_rows():
    return [vax_row(f"R{i}", name=n, vaccine="Vero Cell") for i, n in enumerate(NAMES, start=1)]


def _check_names(res):
    reconcile(res)
    assert res.rows_in == 4 and len(res.quarantine) == 0
    assert res.table["full_name"].tolist() == NAMES
    assert all(unicodedata.is_normalized("NFC", n) for n in res.table["full_name"])


def test_cp1258_csv(tmp_path):
    p = tmp_path / "cp1258.csv"
    p.write_bytes(encode_cp1258(csv_text([VAX_VI, *_vax_rows()])))
    _check_names(read_table(p, "vaccinations"))
    _check_names(read_table(p, "vaccinations", encoding="cp1258"))


@pytest.mark.parametrize("label", ["tcvn3", "vni"])
def test_legacy_8bit_csv(tmp_path, label):
    enc = pytest.importorskip("vaxlib.vn.encodings")
    encode = enc.encode_tcvn3 if label == "tcvn3" else enc.encode_vni
    p = tmp_path / f"{label}.csv"
    p.write_bytes(encode(csv_text([VAX_VI, *_vax_rows()], delimiter=";")))
    res = read_table(p, "vaccinations")
    _check_names(res)
    assert label in res.encoding.lower()
    assert res.table["vaccination_date"].tolist() == ["2021-08-15"] * 4


def test_whole_file_mojibake_csv(tmp_path):
    p = tmp_path / "mojibake.csv"
    p.write_text(sloppy_cp1252(csv_text([VAX_VI, *_vax_rows()])), encoding="utf-8")
    _check_names(read_table(p, "vaccinations"))


def test_mojibake_column_is_repaired_and_reported(tmp_path):
    rows = [vax_row(f"R{i}", name=sloppy_cp1252(n), vaccine="Vắc xin Sputnik V") for i, n in enumerate(NAMES, 1)]
    p = tmp_path / "mixed.csv"
    p.write_text(csv_text([VAX_VI, *rows]), encoding="utf-8")
    res = read_table(p, "vaccinations")
    _check_names(res)
    assert res.repaired_columns == ("full_name",)
    assert res.table["vaccine"].tolist() == ["Vắc xin Sputnik V"] * 4


@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b"")])
def test_unicode_csv_with_and_without_bom(tmp_path, encoding, bom):
    p = tmp_path / "u.csv"
    p.write_bytes(bom + csv_text([VAX_VI, *_vax_rows()]).encode(encoding))
    _check_names(read_table(p, "vaccinations"))


def test_decomposed_unicode_in_utf8_is_kept_as_typed(tmp_path):
    nfd = unicodedata.normalize("NFD", "Nguyễn Văn Đức")
    p = tmp_path / "nfd.csv"
    p.write_text(csv_text([VAX_VI, vax_row("R1", name=nfd)]), encoding="utf-8")
    assert read_table(p, "vaccinations").table.loc[0, "full_name"] == nfd


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    rows = [vax_row("R1", name="Nguyễn, Văn An" if delimiter != "," else "Nguyễn Văn An")]
    p = tmp_path / "d.txt"
    p.write_text(csv_text([VAX_VI, *rows], delimiter=delimiter), encoding="utf-8")
    res = read_table(p, "vaccinations")
    assert res.table.loc[0, "full_name"] == rows[0][1]
    assert res.table.loc[0, "lot_number"] == "NJ0342"


def test_na_and_numbers_stay_text(tmp_path):
    p = tmp_path / "na.csv"
    p.write_text(csv_text([VAX_VI, vax_row("0001", name="NA", idn="7.9123E+10", phone="NULL", lot="1e5")]),
                 encoding="utf-8")
    t = read_table(p, "vaccinations").table
    assert t.loc[0, "record_id"] == "0001"
    assert t.loc[0, "full_name"] == "NA" and t.loc[0, "phone"] == "NULL"
    assert t.loc[0, "id_number"] == "7.9123E+10" and t.loc[0, "lot_number"] == "1e5"


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize("header", [
    "Họ và tên", "HỌ VÀ TÊN", "ho va ten", " Họ  và   tên ", "Họ và tên (*)", "Họ tên",
    unicodedata.normalize("NFD", "Họ và tên"), sloppy_cp1252("Họ và tên"), "full_name", "Full name",
])
def test_header_aliases(header):
    assert vio.map_headers([header], "vaccinations") == {0: "full_name"}


def test_header_tcvn3_read_as_cp1252():
    enc = pytest.importorskip("vaxlib.vn.encodings")
    garbled = enc.encode_tcvn3("Họ và tên").decode("cp1252", errors="replace")
    assert vio.map_headers([garbled], "vaccinations") == {0: "full_name"}


def test_header_alias_keys_are_unambiguous():
    for kind, cols in TABLES.items():
        owner = {}
        for c in cols:
            for a in (*c.header_aliases, c.en):
                owner.setdefault(vio.header_key(a), set()).add(c.name)
        assert all(len(v) == 1 for v in owner.values()), kind


# --------------------------------------------------------------------------- broken rows and quarantine


def test_broken_vaccination_rows_are_quarantined_with_reasons(tmp_path):
    good = vax_row
    lines = [
        ",".join(VAX_VI),                                                      # row 1 header
        ",".join(good("R1")),                                                  # 2 ok
        ",".join(good("R2") + ["thừa"]),                                        # 3 too many fields
        ",".join(good("R3")[:-2]),                                             # 4 too few fields
        "",                                                                    # 5 blank line
        ",,,,,,,,,,,,",                                                        # 6 only delimiters
        ",".join(good("R6", name='"Nguyễn Văn Sáu')),                          # 7 unterminated quote
        ",".join(good("R7", name='"Trần, Thị Bảy"')),                           # 8 ok, quoted delimiter
        ",".join(good("R1", name="Bản ghi trùng")),                            # 9 duplicate record_id
        ",".join(good("", dose="9")),                                          # 10 no key + bad dose
        ",".join(good("R10", vdate="31/02/2021")),                             # 11 impossible date
        ",".join(good("R11", name='"Lê\nMười Một"')),                          # 12 ok, quoted newline
        ",".join(good("R12", dose="Mũi 2")),                                   # 13 dose not a number
        ",".join(good("R13", vdate="")),                                       # 14 no vaccination date
        ",".join(good("R14", dose="3.0", vdate="2021-10-01") + [""]),         # 15 ok, trailing delimiter
    ]
    p = tmp_path / "broken.csv"
    p.write_text("\r\n".join(lines) + "\r\n\r\n", encoding="utf-8")
    res = read_table(p, "vaccinations")
    reconcile(res)
    assert res.rows_in == 14
    assert res.table["record_id"].tolist() == ["R1", "R7", "R11", "R14"]
    assert res.source_rows == [2, 8, 12, 15]
    assert res.table["full_name"].tolist() == ["Nguyễn Văn An", "Trần, Thị Bảy", "Lê\nMười Một", "Nguyễn Văn An"]
    assert res.table.loc[3, "dose_number"] == "3" and res.table.loc[3, "vaccination_date"] == "2021-10-01"
    assert q_reasons(res) == {
        3: "field_count", 4: "field_count", 5: "empty_row", 6: "empty_row", 7: "bad_quoting",
        9: "duplicate_key", 10: "bad_dose_number;missing_key", 11: "bad_vaccination_date",
        13: "bad_dose_number", 14: "bad_vaccination_date",
    }
    q = res.quarantine.set_index("row")
    assert q.loc[10, "column"] == "dose_number;record_id"
    assert q.loc[9, "column"] == "record_id"
    assert q.loc[3, "raw"].startswith("R2,Nguyễn Văn An") and q.loc[3, "raw"].endswith(",thừa")
    assert set(q["file"]) == {str(p)}
    assert res.reason_counts()["field_count"] == 2


def test_unterminated_quote_at_end_does_not_swallow_rows(tmp_path):
    lines = [",".join(VAX_VI), ",".join(vax_row("R1", name='"Nguyễn')), ",".join(vax_row("R2")),
             ",".join(vax_row("R3", name='"Lê Văn Ba"'))]
    p = tmp_path / "q.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = read_table(p, "vaccinations")
    reconcile(res)
    assert res.rows_in == 3
    assert res.table["record_id"].tolist() == ["R2", "R3"]
    assert q_reasons(res) == {2: "bad_quoting"}


def test_registry_rows(tmp_path):
    rows = [
        REG_VI,
        ["001085001234", "Phạm Thị Thuỷ", "31/01/1985", "Nữ", "012345678", "01"],        # 2 ok
        ["079190001234", "Ngô Văn Đức", "05/1990", "Nam", "", "Hồ Chí Minh"],           # 3 ok partial
        ["07919000123", "Hồ Thị Lan", "1942", "Nữ", "", "79"],                          # 4 11 digits
        ["079190001235", "Hồ Thị Lan", "30/02/1942", "Nữ", "", "79"],                   # 5 bad dob
        ["001085001234", "Phạm Thị Thủy", "31/01/1985", "Nữ", "", "01"],               # 6 duplicate
        ["", "Không Số", "1950", "Nam", "", "01"],                                       # 7 no key
        ["036080001122", "Vũ Văn Tám", "", "Nam", "", "36"],                             # 8 no dob
        ["036080001123", "Vũ Văn Chín", "1980", "không rõ", "", "Tỉnh Nam Định"],         # 9 bad sex
        ["036080001124", "Vũ Thị Mười", "1980", "", "", "Nam Định"],                     # 10 ok, sex unknown
        ["0360800011x5", "Vũ Văn Y", "1/13/1980", "Nam", "", "36"],                      # 11 two reasons
    ]
    p = tmp_path / "reg.csv"
    p.write_text(csv_text(rows), encoding="utf-8-sig")
    res = read_table(p, "registry")
    reconcile(res)
    assert res.rows_in == 10
    t = res.table
    assert t["person_id"].tolist() == ["001085001234", "079190001234", "036080001124"]
    assert t["dob"].tolist() == ["1985-01-31", "1990-05", "1980"]
    assert t["sex"].tolist() == ["F", "M", None]
    assert t["province_code"].tolist() == ["01", "79", "36"]
    assert q_reasons(res) == {4: "bad_person_id", 5: "bad_dob", 6: "duplicate_key", 7: "missing_key",
                              8: "bad_dob", 9: "bad_sex", 11: "bad_person_id;bad_dob"}


def test_feedback_timestamps(tmp_path):
    rows = [FB_VI,
            ["PA1", "2022-03-01T09:30:00+07:00", "A", "", "", "", "", "other", "Tin nhắn"],
            ["PA2", "01/03/2022 09:30", "B", "", "", "", "", "other", "Dòng 1\nDòng 2"],
            ["PA3", "hôm qua", "C", "", "", "", "", "other", ""]]
    p = tmp_path / "fb.csv"
    p.write_text(csv_text([[f'"{v}"' if "\n" in v else v for v in r] for r in rows]), encoding="utf-8")
    res = read_table(p, "feedback")
    reconcile(res)
    assert res.table["submitted_at"].tolist() == ["2022-03-01T09:30:00+07:00", "2022-03-01T09:30:00"]
    assert res.table["message"].tolist() == ["Tin nhắn", "Dòng 1\nDòng 2"]
    assert q_reasons(res) == {4: "bad_submitted_at"}


def test_header_only_file_gives_empty_table(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text(",".join(VAX_VI) + "\n", encoding="utf-8")
    res = read_table(p, "vaccinations")
    assert res.rows_in == 0 and res.table.empty and list(res.table.columns) == columns("vaccinations")


# --------------------------------------------------------------------------- errors


def test_missing_column_names_it_and_lists_found(tmp_path):
    p = tmp_path / "m.csv"
    headers = [h for h in VAX_VI if h not in ("Mũi tiêm", "Ngày tiêm")]
    p.write_text(csv_text([headers, ["x"] * len(headers)]), encoding="utf-8")
    with pytest.raises(MissingColumnError) as ei:
        read_table(p, "vaccinations")
    e = ei.value
    assert e.missing == ("dose_number", "vaccination_date")
    assert "Họ và tên" in e.found and "Mũi tiêm" not in e.found
    assert "m.csv" in str(e) and "dose_number" in str(e) and "Họ và tên" in str(e)
    assert "missing required column" in e.message_en


def _xlsx_bytes(rows) -> bytes:
    import io

    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _parquet_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    pd.DataFrame({"a": ["1"]}).to_parquet(buf)
    return buf.getvalue()


@pytest.mark.parametrize("name,content,error,detected", [
    ("a.csv", b"", EmptyFileError, None),
    ("a.csv", b"\xef\xbb\xbf\r\n  \n", EmptyFileError, None),
    ("a.xlsx", b"", EmptyFileError, None),
    ("a.parquet", b"", EmptyFileError, None),
    ("a.xlsx", "Mã bản ghi,Họ và tên\nR1,An\n".encode(), FileTypeMismatchError, "text"),
    ("a.xlsx", b"<html><body><table><tr><td>x</td></tr></table></body></html>", FileTypeMismatchError, "html"),
    ("a.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, FileTypeMismatchError, "xls"),
    ("a.csv", "XLSX", FileTypeMismatchError, "xlsx"),
    ("a.csv", "PARQUET", FileTypeMismatchError, "parquet"),
    ("a.parquet", "Mã bản ghi,Họ và tên\n".encode(), FileTypeMismatchError, "text"),
    ("a.parquet", "XLSX", FileTypeMismatchError, "xlsx"),
    ("a.xlsx", "PARQUET", FileTypeMismatchError, "parquet"),
    ("a.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), FileTypeMismatchError, "png"),
    ("a.xlsx", "ZIP", FileTypeMismatchError, "zip"),
    ("a.xlsx", b"PK\x03\x04" + b"\x00" * 50, CorruptFileError, None),
    ("a.parquet", b"PAR1" + b"\x00" * 50, CorruptFileError, None),
    ("a.json", b"{}", UnsupportedFileError, None),
    ("a.xls", b"\xd0\xcf\x11\xe0", UnsupportedFileError, None),
    ("noext", b"a,b", UnsupportedFileError, None),
])
def test_file_errors(tmp_path, name, content, error, detected):
    if content == "XLSX":
        content = _xlsx_bytes([VAX_VI])
    elif content == "PARQUET":
        content = _parquet_bytes()
    elif content == "ZIP":
        import io

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("word/document.xml", "<w/>")
        content = buf.getvalue()
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(error) as ei:
        read_table(p, "vaccinations")
    assert isinstance(ei.value, VaxImportError)
    assert name in str(ei.value) and name in ei.value.message_en
    if detected is not None:
        assert ei.value.detected == detected
    # a Dask worker hands its error to the client by pickle: same class, words and attributes
    import pickle

    back = pickle.loads(pickle.dumps(ei.value))
    assert type(back) is error and str(back) == str(ei.value) and back.message("en") == ei.value.message("en")
    assert vars(back) == vars(ei.value)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(VaxImportError, match="nope.csv"):
        read_table(tmp_path / "nope.csv", "vaccinations")
    p = tmp_path / "u.csv"
    p.write_text(csv_text([VAX_VI, vax_row("R1")]), encoding="utf-8")
    with pytest.raises(vio.DecodeError):
        read_table(p, "vaccinations", encoding="ascii")
    with pytest.raises(vio.DecodeError):
        read_table(p, "vaccinations", encoding="no-such-codec")


def test_empty_sheet_is_empty_file(tmp_path):
    p = tmp_path / "e.xlsx"
    openpyxl.Workbook().save(p)
    with pytest.raises(EmptyFileError):
        read_table(p, "vaccinations")


# --------------------------------------------------------------------------- writing


def test_csv_export_is_platform_shaped(tmp_path):
    df = pd.DataFrame({"person_id": ["001085001234", "079190001234"], "full_name": ["Phạm Thị Thuỷ", "Ngô Văn Đức"],
                       "dob": ["1985-01-31", "1990"], "sex": ["F", "M"], "old_id": [None, "012345678"],
                       "province_code": ["01", "79"]})
    p = write_table(df, tmp_path / "r.csv", "registry")
    raw = p.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines() == [
        "Số định danh cá nhân,Họ và tên,Ngày sinh,Giới tính,Số CMND cũ,Mã tỉnh thường trú",
        "001085001234,Phạm Thị Thuỷ,31/01/1985,Nữ,,01",
        "079190001234,Ngô Văn Đức,1990,Nam,012345678,79",
    ]


def test_write_rejects_table_without_required_columns(tmp_path):
    with pytest.raises(ValueError, match="record_id"):
        write_table(pd.DataFrame({"full_name": ["A"]}), tmp_path / "x.csv", "vaccinations")


@pytest.mark.parametrize("value,expected", [
    ("31/01/1985", "1985-01-31"), ("1/2/1985", "1985-02-01"), ("01-02-1985", "1985-02-01"),
    ("05/1990", "1990-05"), ("1990", "1990"), ("1985-01-31", "1985-01-31"), ("1990-05", "1990-05"),
    ("29/02/2000", "2000-02-29"), ("29/02/1900", None), ("13/13/1990", None), ("00/1990", None),
    ("1990-13", None), ("", None), ("abc", None), ("31/01/85", None),
])
def test_parse_platform_date(value, expected):
    assert vio.parse_platform_date(value) == expected


@pytest.mark.parametrize("value,expected", [
    ("Hà Nội", "01"), ("TP. Hồ Chí Minh", "79"), ("Thành phố Hồ Chí Minh", "79"), ("tp hcm", "79"),
    ("Tỉnh Thừa Thiên Huế", "46"), ("Bà Rịa - Vũng Tàu", "77"), ("Ha Noi", "01"), ("KHÁNH HOÀ", "56"),
    ("79", "79"), ("7", "7"), ("Atlantis", "Atlantis"), (None, None),
])
def test_province_to_gso(value, expected):
    assert vio.province_to_gso(value) == expected


def test_fast_xlsx_reader_agrees_with_openpyxl(tmp_path):
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Mã", "Ngày", "Số", "Đúng", "Chữ"])
    ws.append(["R1", dt.datetime(2021, 8, 15), 79123456789, True,
               CellRichText("Nguyễn ", TextBlock(InlineFont(b=True), "Văn An"))])
    ws.append([None, dt.date(1990, 1, 1), 1.5, False, "=1+1"])
    ws["B3"].number_format = "dd/mm/yyyy"
    ws.cell(row=6, column=3, value=-7)  # rows 4-5 missing, a gap in the middle
    ws.cell(row=6, column=7, value="xa")  # beyond the header
    wb.create_sheet("Hai").append(["chỉ", "một", "dòng"])
    wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    p = tmp_path / "w.xlsx"
    wb.save(p)
    data = p.read_bytes()
    for sheet in (None, 0, "Hai", -1):
        fast, fast_merges = vio._fast_xlsx_rows(data, sheet)
        slow, slow_merges = vio._openpyxl_rows(p, data, sheet)
        assert fast_merges == slow_merges == []
        norm = lambda rows: [[v for v in r] + [None] * (8 - len(r)) for r in rows]  # noqa: E731
        assert norm(fast) == norm(slow), sheet
    assert vio._fast_xlsx_rows(data, None)[0][1][:4] == ["R1", dt.datetime(2021, 8, 15), 79123456789, True]
    assert vio._fast_xlsx_rows(data, None)[0][1][4] == "Nguyễn Văn An"


def _sloppy_decode_cp1252(data: bytes) -> str:
    out = []
    for b in data:
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))
    return "".join(out)


@pytest.mark.parametrize("label", ["tcvn3", "vni"])
def test_legacy_text_read_as_cp1252_and_saved_as_utf8(tmp_path, label):
    """A TCVN3/VNI file opened as Windows-1252 and saved again as UTF-8: headers and names garbled."""
    enc = pytest.importorskip("vaxlib.vn.encodings")
    encode = enc.encode_tcvn3 if label == "tcvn3" else enc.encode_vni
    text = _sloppy_decode_cp1252(encode(csv_text([VAX_VI, *_vax_rows()])))
    assert "Nguyễn" not in text
    p = tmp_path / "garbled.csv"
    p.write_text(text, encoding="utf-8")
    res = read_table(p, "vaccinations")
    _check_names(res)
    assert "full_name" in res.repaired_columns


def test_xlsx_with_bad_rows_and_a_blank_row_in_the_middle(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(VAX_VI)
    ws.append(vax_row("R1", vdate=dt.datetime(2021, 8, 15)))
    ws.append([None] * 13)  # row 3: blank
    ws.append(vax_row("R1", name="Trùng mã"))  # row 4: duplicate
    ws.append(vax_row("R4", dose=8))  # row 5: dose 8
    ws.append(vax_row("R5", vdate="2021-02-30"))  # row 6: impossible date
    ws.append(vax_row("R6", dose=2.0))  # row 7: fine
    p = tmp_path / "bad.xlsx"
    wb.save(p)
    res = read_table(p, "vaccinations")
    reconcile(res)
    assert res.rows_in == 6
    assert res.table["record_id"].tolist() == ["R1", "R6"]
    assert res.table["dose_number"].tolist() == ["1", "2"]
    assert q_reasons(res) == {3: "empty_row", 4: "duplicate_key", 5: "bad_dose_number", 6: "bad_vaccination_date"}


def test_log_summary_has_counts_but_no_personal_data(tmp_path, caplog):
    lines = [VAX_VI, vax_row("R1", name="Nguyễn Văn Riêng", idn="079085009999", phone="0912000999"),
             vax_row("R1", name="Trần Thị Kín", idn="079085008888")]
    p = tmp_path / "log.csv"
    p.write_text(csv_text(lines), encoding="utf-8")
    with caplog.at_level("DEBUG", logger="vaxlib.io"):
        read_table(p, "vaccinations")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "2 rows in, 1 accepted, 1 quarantined" in text and "duplicate_key" in text
    for secret in ("Riêng", "Kín", "079085009999", "079085008888", "0912000999"):
        assert secret not in text


def test_csv_title_line_above_header_and_quoted_newlines(tmp_path):
    rows = [["DANH SÁCH PHẢN ÁNH"], FB_VI,
            ["PA1", "01/03/2022", "Vũ Thị Mai", "", "", "", "", "other", '"Dòng 1\nDòng 2, vẫn một ô"'],
            ["PA2", "02/03/2022", "Vũ Văn Nam", "", "", "", "", "other", "Một dòng"]]
    p = tmp_path / "title.csv"
    p.write_text(csv_text(rows), encoding="utf-8")
    res = read_table(p, "feedback")
    reconcile(res)
    assert res.rows_in == 2 and res.source_rows == [3, 4]
    assert res.table["message"].tolist() == ["Dòng 1\nDòng 2, vẫn một ô", "Một dòng"]


def test_trailing_row_of_empty_fields_is_a_row_in_tsv_and_csv(tmp_path):
    for name, sep in (("t.tsv", "\t"), ("t.csv", ",")):
        p = tmp_path / name
        p.write_text(csv_text([REG_VI, ["001085001234", "A", "1985", "Nam", "", "01"], [""] * 6], sep) + "  \r\n",
                     encoding="utf-8")
        res = read_table(p, "registry")
        assert res.rows_in == 2 and q_reasons(res) == {3: "empty_row"}, name


# --------------------------------------------------------------------------- columns carried beyond the contract
@pytest.mark.parametrize("fmt", ["parquet", "csv", "xlsx"])
def test_facility_name_is_carried_through_read_and_write(tmp_path, fmt):
    """facility_name is no contract column, but a file that has it keeps it (after the contract's columns)."""
    from vaxlib.schema import extra_columns

    assert "facility_name" in extra_columns("vaccinations") and "facility_name" not in columns("vaccinations")
    t = pd.DataFrame([dict(zip(columns("vaccinations"), vax_row(f"R{i}"))) for i in range(3)])
    t["facility_name"] = ["Trạm Y tế phường Bến Nghé", "Trung tâm Y tế huyện Củ Chi", None]
    p = write_table(t, tmp_path / f"v.{fmt}", "vaccinations")
    res = read_table(p, "vaccinations")
    assert list(res.table.columns) == columns("vaccinations") + ["facility_name"]
    assert res.table["facility_name"].tolist() == ["Trạm Y tế phường Bến Nghé", "Trung tâm Y tế huyện Củ Chi", None]
    if fmt == "csv":  # the platform's Vietnamese header
        assert p.read_text(encoding="utf-8-sig").splitlines()[0].endswith(",Tên cơ sở tiêm")
    # without it, a file gives exactly the contract's columns
    q = write_table(t.drop(columns="facility_name"), tmp_path / f"w.{fmt}", "vaccinations")
    assert list(read_table(q, "vaccinations").table.columns) == columns("vaccinations")


def test_facility_name_header_as_platforms_write_it(tmp_path):
    rows = [["Mã bản ghi", "Họ và tên", "Ngày sinh", "Cơ sở tiêm", "Tên cơ sở tiêm chủng", "Mũi tiêm", "Ngày tiêm",
             "Loại vắc xin"],
            ["1", "Lê Thị Hoa", "01/02/1990", "CS-79-0001", "Trạm Y tế xã Tân Phú", "1", "2021-08-01", "Pfizer"]]
    p = tmp_path / "v.csv"
    p.write_text(csv_text(rows), encoding="utf-8")
    res = read_table(p, "vaccinations")
    assert res.table["facility_id"].tolist() == ["CS-79-0001"]
    assert res.table["facility_name"].tolist() == ["Trạm Y tế xã Tân Phú"]


def test_parquet_integer_columns_read_as_their_decimal_text(tmp_path):
    """Integer Parquet columns (a dose number typed as a number) give str(int) per value, nulls missing,
    and count as numbers (the registry's person_id then gets its lost zeros back)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = [1, 2, None, -3, 2, 10**15, 0]
    n = len(values)
    pq.write_table(pa.table({"record_id": [f"R{i}" for i in range(n)], "full_name": ["A"] * n, "dob": ["1990"] * n,
                             "facility_id": ["F"] * n, "vaccination_date": ["2021-08-01"] * n, "vaccine": ["X"] * n,
                             "dose_number": pa.array(values, type=pa.int64())}), tmp_path / "v.parquet")
    sheet = vio._read_parquet(tmp_path / "v.parquet", (tmp_path / "v.parquet").read_bytes(), "vaccinations")
    assert sheet.cols[6].values().tolist() == [None if v is None else str(v) for v in values]
    assert list(sheet.numeric) == [6]
    pq.write_table(pa.table({"person_id": pa.array([79180001234, 1180001234], type=pa.int64()),
                             "full_name": ["A", "B"], "dob": ["1980-01-01", "1980-01-02"], "sex": ["M", "F"]}),
                   tmp_path / "r.parquet")
    reg = read_table(tmp_path / "r.parquet", "registry").table
    assert reg["person_id"].tolist() == ["079180001234", "001180001234"]
