"""Property and fuzz tests of vaxlib.io.

* Round trip: a valid contract table written in any of the three formats
  reads back equal.
* Random bytes, damaged files and random tables thrown at read_table with
  every extension: only VaxImportError subclasses escape, and the rows
  always reconcile (rows_in == accepted + quarantined); for tables written by
  write_table no row is ever lost.
"""
from __future__ import annotations

import csv
import io
import re
import string
import unicodedata

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaxlib.io import VaxImportError, read_table, write_table
from vaxlib.schema import TABLES, columns
from vaxlib.vn.provinces import BY_GSO

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
FORMATS = ("csv", "xlsx", "parquet")
EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".parquet", ".pq", ".xls", ".json", "")

SYLLABLES = ("Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Văn Thị Hữu Đức Minh "
             "Anh Hoà Hòa Thuỷ Thủy Khoẻ Quý Tuấn Hương Lan Mai Ngọc Yến Việt Hà Nội Sài Gòn Vắc xin mũi tiêm "
             "Nguyen Tran Thi Van").split()


def _token():
    return st.one_of(
        st.sampled_from(SYLLABLES),
        st.sampled_from(SYLLABLES).map(lambda s: unicodedata.normalize("NFD", s)),
        st.text(alphabet=string.ascii_letters + string.digits + "=+-@'\"/.,;|()", min_size=1, max_size=8),
    )


def typed_text():
    """Text as typed at a facility: Vietnamese syllables, ASCII noise, separators, leading formula signs."""
    seps = st.sampled_from([" ", "  ", ", ", "\n", "\t", ";", ""])
    return st.builds(
        lambda lead, toks, sep, trail: lead + sep.join(toks) + trail,
        st.sampled_from(["", " ", "=", "+", "-", "@", "'", "'="]),
        st.lists(_token(), min_size=1, max_size=3),
        seps,
        st.sampled_from(["", " "]),
    )


def maybe(strategy):
    return st.one_of(st.none(), strategy)


def nfc_text():
    return st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=4).map(" ".join)


iso_day = st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2022-12-31").date())
iso_partial = st.one_of(iso_day.map(lambda d: d.isoformat()), iso_day.map(lambda d: d.isoformat()[:7]),
                        iso_day.map(lambda d: d.isoformat()[:4]))
gso = st.sampled_from(sorted(BY_GSO))
digits = lambda n: st.text(alphabet=string.digits, min_size=n, max_size=n)  # noqa: E731
key_text = st.text(alphabet=string.ascii_letters + string.digits + "-_./", min_size=1, max_size=12)


def registry_row(pid):
    return st.fixed_dictionaries({
        "person_id": st.just(pid), "full_name": nfc_text(), "dob": iso_partial,
        "sex": maybe(st.sampled_from(["M", "F"])), "old_id": maybe(digits(9)), "province_code": maybe(gso),
    })


def vaccination_row(rid):
    return st.fixed_dictionaries({
        "record_id": st.just(rid), "full_name": maybe(typed_text()), "dob": maybe(typed_text()),
        "sex": maybe(typed_text()), "id_number": maybe(typed_text()), "phone": maybe(typed_text()),
        "province_code": maybe(st.one_of(gso, digits(1))), "facility_id": key_text,
        "facility_province": maybe(gso), "dose_number": st.sampled_from("1234567"),
        "vaccination_date": st.dates(min_value=pd.Timestamp("2021-01-01").date(),
                                     max_value=pd.Timestamp("2023-12-31").date()).map(lambda d: d.isoformat()),
        "vaccine": typed_text(), "lot_number": maybe(typed_text()),
    })


def feedback_row(fid):
    ts = st.datetimes(min_value=pd.Timestamp("2021-06-01").to_pydatetime(),
                      max_value=pd.Timestamp("2023-01-01").to_pydatetime())
    return st.fixed_dictionaries({
        "feedback_id": st.just(fid), "submitted_at": st.one_of(ts.map(lambda t: t.isoformat(timespec="seconds")),
                                                               ts.map(lambda t: t.isoformat() + "+07:00")),
        "full_name": typed_text(), "dob": maybe(typed_text()), "sex": maybe(typed_text()),
        "id_number": maybe(typed_text()), "phone": maybe(typed_text()),
        "category": st.sampled_from(["missing_dose", "wrong_personal_info", "wrong_vaccine", "other"]),
        "message": maybe(typed_text()),
    })


ROW = {"registry": registry_row, "vaccinations": vaccination_row, "feedback": feedback_row}


@st.composite
def valid_tables(draw, kind):
    if kind == "registry":
        keys = draw(st.lists(digits(12), unique=True, max_size=6))
    else:
        keys = draw(st.lists(key_text, unique=True, max_size=6))
    rows = [draw(ROW[kind](k)) for k in keys]
    return pd.DataFrame(rows, columns=columns(kind), dtype=object)


def as_records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def reconciles(res) -> None:
    assert res.rows_in == len(res.table) + len(res.quarantine)
    assert res.quarantine["row"].is_unique
    assert list(res.table.columns) == columns(res.table.columns.name or _kind_of(res))
    for v in res.table.to_numpy().ravel():
        assert v is None or isinstance(v, str)


def _kind_of(res) -> str:
    cols = list(res.table.columns)
    return next(k for k in TABLES if columns(k) == cols)


# --------------------------------------------------------------------------- round trip


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(TABLES))
def test_round_trip(tmp_path_factory, kind):
    @settings(FAST, max_examples=20)
    @given(df=valid_tables(kind))
    def check(df):
        d = tmp_path_factory.mktemp("rt")
        for fmt in FORMATS:
            path = write_table(df, d / f"t.{fmt}", kind, fmt)
            res = read_table(path, kind)
            reconciles(res)
            assert res.quarantine.empty, (fmt, res.quarantine.to_dict("records"))
            assert as_records(res.table) == as_records(df), fmt

    check()


# --------------------------------------------------------------------------- random bytes


@FAST
@given(data=st.binary(max_size=3000), ext=st.sampled_from(EXTENSIONS), kind=st.sampled_from(list(TABLES)))
def test_random_bytes_raise_only_import_errors(tmp_path_factory, data, ext, kind):
    path = tmp_path_factory.mktemp("fz") / f"f{ext}"
    path.write_bytes(data)
    try:
        res = read_table(path, kind)
    except VaxImportError as exc:
        assert path.name in str(exc)
        return
    reconciles(res)


@FAST
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1000, 8000), ext=st.sampled_from([".parquet", ".xlsx"]))
def test_random_bytes_are_called_binary_not_csv(tmp_path_factory, seed, size, ext):
    """Random bytes named .parquet/.xlsx: the refusal says binary data (it said "CSV text file" when the
    first line happened to hold no NUL, about one random file in three)."""
    import random

    data = random.Random(seed).randbytes(size)
    if data.startswith((b"PK", b"PAR1", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\xd0\xcf", b"%PDF", b"\x1f\x8b",
                        b"\x89PNG", b"\xff\xd8", b"7z", b"Rar!")):
        return
    path = tmp_path_factory.mktemp("fz") / f"f{ext}"
    path.write_bytes(data)
    with pytest.raises(VaxImportError) as err:
        read_table(path, "vaccinations")
    assert "dữ liệu nhị phân" in str(err.value) and "văn bản" not in str(err.value)


@pytest.mark.parametrize("text, kind", [
    # TCVN3 (VN1 variant) capitals with tones live in C0 (01-02, 04-06, 11-17): still a text file
    (b"ho_ten,ngay_sinh\r\n" + b"\x11\x12\x13\x01\x02\x04\x05\x06 V\xa8n,01/02/1990\r\n" * 40, "text"),
    # tabs, form feeds and a DOS end-of-file mark
    (b"ho_ten\tngay_sinh\r\n" + b"Nguy\xc3\xaan\t01/02/1990\x0c\r\n" * 40 + b"\x1a", "text"),
    # a UTF-8 file with two short garbage lines among 40 good ones
    (b"ho_ten,ngay_sinh\n" + b"An,01/02/1990\n" * 20 + b"\x03\x07\x1c\x1d\x1e\n" * 2 + b"An,01/02/1990\n" * 20,
     "text"),
    # escape and bell bytes every few characters: no text file looks like this
    (b"ab\x1b\x07cd\x10\x18" * 200, "binary"),
])
def test_sniff_tells_text_from_binary(text, kind):
    from vaxlib.io import _sniff

    assert _sniff(text) == kind


MAGICS = [b"PK\x03\x04", b"PAR1", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xef\xbb\xbf", b"\xff\xfe", b"<html>",
          ",".join(c.vi for c in TABLES["vaccinations"]).encode() + b"\n"]


@FAST
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=2000), ext=st.sampled_from(EXTENSIONS[:7]),
       end=st.sampled_from([b"", b"PAR1"]))
def test_random_bytes_behind_real_signatures(tmp_path_factory, magic, tail, ext, end):
    path = tmp_path_factory.mktemp("fz") / f"f{ext}"
    path.write_bytes(magic + tail + end)
    try:
        reconciles(read_table(path, "vaccinations"))
    except VaxImportError:
        pass


def _valid_file_bytes(fmt: str) -> bytes:
    df = pd.DataFrame([{"record_id": f"R{i}", "full_name": "Nguyễn Văn An", "dob": "1/2/1990", "sex": "Nam",
                        "id_number": "079090001234", "phone": "0912345678", "province_code": "79",
                        "facility_id": "F1", "facility_province": "79", "dose_number": "1",
                        "vaccination_date": "2021-08-15", "vaccine": "Pfizer", "lot_number": "A1"}
                       for i in range(5)])
    buf = io.BytesIO()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = write_table(df, Path(d) / f"x.{fmt}", "vaccinations")
        buf.write(p.read_bytes())
    return buf.getvalue()


VALID = {fmt: _valid_file_bytes(fmt) for fmt in FORMATS}


@FAST
@given(fmt=st.sampled_from(FORMATS), st_data=st.data())
def test_damaged_real_files(tmp_path_factory, fmt, st_data):
    data = bytearray(VALID[fmt])
    how = st_data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    if how == "truncate":
        data = data[: st_data.draw(st.integers(0, len(data)))]
    elif how == "flip":
        for _ in range(st_data.draw(st.integers(1, 8))):
            i = st_data.draw(st.integers(0, len(data) - 1))
            data[i] = st_data.draw(st.integers(0, 255))
    else:
        i = st_data.draw(st.integers(0, len(data)))
        data[i:i] = st_data.draw(st.binary(min_size=1, max_size=50))
    path = tmp_path_factory.mktemp("fz") / f"f.{fmt}"
    path.write_bytes(bytes(data))
    try:
        reconciles(read_table(path, "vaccinations"))
    except VaxImportError:
        pass


# --------------------------------------------------------------------------- random tables


any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@st.composite
def arbitrary_tables(draw, kind):
    n = draw(st.integers(0, 8))
    rows = [{c: draw(maybe(any_text)) for c in columns(kind)} for _ in range(n)]
    return pd.DataFrame(rows, columns=columns(kind), dtype=object)


_XLSX_DROPPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _blank_in_xlsx(row) -> bool:
    return all(v is None or _XLSX_DROPPED.sub("", v) == "" for v in row)


SUPPORTED = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx",
             ".parquet": "parquet", ".pq": "parquet"}


@FAST
@given(kind=st.sampled_from(list(TABLES)), ext=st.sampled_from(sorted(SUPPORTED)), st_data=st.data())
def test_random_tables_lose_no_row(tmp_path_factory, kind, ext, st_data):
    df = st_data.draw(arbitrary_tables(kind))
    fmt = SUPPORTED[ext]
    path = tmp_path_factory.mktemp("fz") / f"t{ext}"
    write_table(df, path, kind)
    res = read_table(path, kind)
    reconciles(res)
    expected = len(df)
    if fmt == "xlsx":  # trailing rows without a visible character are not rows of a sheet
        rows = list(df.itertuples(index=False, name=None))
        while rows and _blank_in_xlsx(rows[-1]):
            rows.pop()
            expected -= 1
    assert res.rows_in == expected


@FAST
@given(kind=st.sampled_from(list(TABLES)), st_data=st.data(),
       wrong=st.sampled_from([("csv", ".xlsx"), ("csv", ".parquet"), ("xlsx", ".csv"), ("xlsx", ".parquet"),
                              ("parquet", ".csv"), ("parquet", ".xlsx")]))
def test_tables_with_the_wrong_extension(tmp_path_factory, kind, st_data, wrong):
    from vaxlib.io import FileTypeMismatchError

    df = st_data.draw(arbitrary_tables(kind))
    fmt, ext = wrong
    d = tmp_path_factory.mktemp("fz")
    real = write_table(df, d / f"t.{fmt}", kind, fmt)
    fake = d / f"t{ext}"
    fake.write_bytes(real.read_bytes())
    with pytest.raises(FileTypeMismatchError):
        read_table(fake, kind)


# --------------------------------------------------------------------------- broken CSV lines

junk_line = st.text(alphabet='abc,;"\t| ', min_size=1, max_size=30).filter(lambda s: s.strip() != "")


@FAST
@given(df=valid_tables("vaccinations"), junk=st.lists(st.tuples(st.integers(0, 10), junk_line), max_size=4),
       delimiter=st.sampled_from([",", ";", "\t", "|"]))
def test_broken_csv_lines_are_counted(tmp_path_factory, df, junk, delimiter):
    """Every physical line of a CSV (without quoted newlines) is one row, broken or not."""
    df = pd.DataFrame([[v.replace("\n", " ").replace("\r", " ") if isinstance(v, str) else None for v in r]
                       for r in df.itertuples(index=False, name=None)], columns=df.columns, dtype=object)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow([c.vi for c in TABLES["vaccinations"]])
    lines = []
    for r in df.itertuples(index=False, name=None):
        line = io.StringIO()
        csv.writer(line, delimiter=delimiter, lineterminator="\n").writerow(["" if v is None else v for v in r])
        lines.append(line.getvalue())
    for pos, text in junk:
        lines.insert(min(pos, len(lines)), text + "\n")
    path = tmp_path_factory.mktemp("fz") / "b.csv"
    path.write_text(buf.getvalue() + "".join(lines), encoding="utf-8")
    res = read_table(path, "vaccinations")
    reconciles(res)
    assert res.rows_in == len(df) + len(junk)
    if not junk:  # a clean file is read back exactly, but for the spreadsheet escape: "'=x" is read as "=x"
        unescaped = df.map(lambda v: v[1:] if isinstance(v, str) and v[:1] == "'" and v[1:2] and v[1] in "=+-@\t\r'"
                           else v)
        assert as_records(res.table) == as_records(unescaped)
    else:  # every junk line is its own row: the valid rows after it are still read
        assert set(res.table["record_id"]) <= set(df["record_id"])


@settings(max_examples=200, deadline=None)
@given(value=iso_partial)
def test_platform_dates_round_trip(value):
    from vaxlib.io import _platform_date, parse_platform_date

    shown = _platform_date(value)
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}|\d{2}/\d{4}|\d{4}", shown)
    assert parse_platform_date(shown) == value


@pytest.mark.parametrize("name", [b"record_id", b"lot_number"])
def test_parquet_with_a_column_name_that_is_not_utf8(tmp_path, name):
    data = bytearray(VALID["parquet"])
    for at in [m.start() for m in re.finditer(re.escape(name), bytes(data))]:
        data[at] = 0x80  # every copy of the name in the footer
    p = tmp_path / "bad.parquet"
    p.write_bytes(bytes(data))
    with pytest.raises(VaxImportError):
        read_table(p, "vaccinations")
