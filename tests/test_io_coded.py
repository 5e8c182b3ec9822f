"""The coded read path of vaxlib.io gives exactly the answers of the row-by-row one.

Two oracles, neither written by the code under test:

* ``tests/io_rowwise.py`` holds ``read_table`` as it was before the coded path
  (main at c2ae1cd: Parquet read value by value, every check and
  normalisation a Python loop over rows).  Every field of the
  :class:`~vaxlib.io.ImportResult` must be equal: the accepted table (values,
  order, dtypes, NFC or not), the quarantine (file, row, column, reason, raw,
  order), ``rows_in``, ``source_rows``, repaired columns, header map.
* The same cells written as Parquet and as CSV must give the same result
  (CSV is parsed by the csv module, Parquet by Arrow): only ``raw`` (the CSV
  line vs. the cells joined by tabs) and ``file`` differ.

The cells are random mixtures of good and bad values of every kind the
contract checks (keys blank, padded, repeated; dates in every platform form
and impossible ones; doses, sexes, provinces, numbers as text, NFD and
mojibake names, U+FFFD, empty rows), plus arbitrary text.
"""
from __future__ import annotations

import csv
import datetime as dt
import string
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from io_rowwise import read_table_rowwise
from vaxlib.io import FileTypeMismatchError, NoUsableRowsError, read_table, write_table
from legacy_bytes import sloppy_cp1252
from vaxlib.schema import TABLES, columns, extra_columns

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Duyên", "Phạm Thị Thuỷ", "Y'Moan Niê", "Đặng Văn Em"]
TEXT = NAMES + [nfd(n) for n in NAMES] + [sloppy_cp1252(n) for n in NAMES] + [
    "Lê \ufffdn", "", " ", "  \t", "=1+2", "NA", "-", "Hồ  Chí Minh ", " Nguyen Van A"]
KEYS = ["R1", "R2", "R3", " R1", "R2 ", "", "  ", "r1", "R\u00a04", "\u2003R5"]
PERSON_IDS = ["079085001234", "079085001235", "79085001234", " 079085001236 ", "", "   ", "07908500123X",
              "٠٧٩٠٨٥٠٠١٢٣٤", "0790850012345", "001180001234", "1180001234", "079085001234"]
DATES = ["1985-03-12", "12/03/1985", "3/12/1985", "12-03-1985", "12.03.1985", "03/1985", "1985", "1985-03",
         "31/02/1985", "1985-13", "abc", " 12/03/1985 ", "", "1799", "12/03/1985 10:30", "2021-08-15T10:00",
         "15/08/2021", "2021-08-15", "00/00/0000", "١٢/٠٣/١٩٨٥", "2024-02-29", "2023-02-29", "1900-02-29",
         "2000-02-29", "1800-01-01", "1799-12-31", "2199-12-31", "2200-01-01", "1985-00-12", "1985-04-31",
         "١٩٨٥-03-12", "1985-03-12 "]
TIMES = ["2021-08-15T10:00:00", "2021-08-15 10:00", "2021-08-15T10:00:00+07:00", "15/08/2021 10:30",
         "15/08/2021", "15/08/2021 25:00", "2021-02-30T10:00", "yesterday", "", " 2021-08-15T10:00 "]
SEXES = ["Nam", "Nữ", nfd("Nữ"), "M", "F", " nam ", "NỮ", "1", "0", "2", "?", "", "   ", "male"]
OLD_IDS = ["023456789", "23456789", " 12345678 ", "", "abc", "1234567"]
PROVINCES = ["79", "1", "01", " 79 ", "TP. Hồ Chí Minh", "Hà Nội", "hcm", "Tỉnh Khánh Hòa", "xyz", "", "999",
             nfd("Đà Nẵng"), sloppy_cp1252("Hà Nội")]
DOSES = ["1", "2", "7", "8", "0", "01", "2.0", "3.00", " 3 ", "x", "", "1.5", "٣"]
CATEGORIES = ["missing_dose", "wrong_personal_info", "other", ""]

POOLS: dict[str, dict[str, list[str]]] = {
    "registry": {"person_id": PERSON_IDS, "full_name": TEXT, "dob": DATES, "sex": SEXES, "old_id": OLD_IDS,
                 "province_code": PROVINCES},
    "vaccinations": {"record_id": KEYS, "full_name": TEXT, "dob": DATES + TEXT, "sex": SEXES,
                     "id_number": PERSON_IDS + OLD_IDS, "phone": ["0912345678", "912345678", "", "+84 912"],
                     "province_code": PROVINCES, "facility_id": KEYS, "facility_province": PROVINCES,
                     "dose_number": DOSES, "vaccination_date": DATES, "vaccine": ["Pfizer", "AstraZeneca", ""] + TEXT,
                     "lot_number": ["NJ0342", "FF2593", ""], "facility_name": TEXT},
    "feedback": {"feedback_id": KEYS, "submitted_at": TIMES, "full_name": TEXT, "dob": DATES, "sex": SEXES,
                 "id_number": PERSON_IDS, "phone": ["0912345678", ""], "category": CATEGORIES, "message": TEXT},
}

# arbitrary text, but none that CSV and Parquet carry differently: no line breaks or NULs (CSV lines),
# no apostrophe before a formula sign (the CSV reader removes the spreadsheet escape)
free_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00'\x0b\x0c\x1c\x1d\x1e"
                                  "\x85\u2028\u2029"), max_size=10)


def cell(kind: str, column: str):
    return st.one_of(st.sampled_from(POOLS[kind][column]), free_text)


@st.composite
def tables(draw, kind: str):
    """Rows of cells, some rows empty; the file's columns are the contract's (and the extra ones) in some order."""
    names = columns(kind) + extra_columns(kind)
    optional = [c.name for c in TABLES[kind] if not c.required] + extra_columns(kind)
    dropped = draw(st.sets(st.sampled_from(optional))) if optional else set()
    names = draw(st.permutations([c for c in names if c not in dropped]))
    n = draw(st.integers(0, 25))
    rows = []
    for _ in range(n):
        if draw(st.integers(0, 9)) == 0:
            rows.append({c: draw(st.sampled_from(["", " "])) for c in names})
        else:
            rows.append({c: draw(cell(kind, c)) for c in names})
    return names, rows


#: the C0 controls (and DEL) no text encoding vaxlib reads uses for letters: more than 3 % of a CSV's bytes
#: and the file is binary (tab, line ends, form feed, ^Z and TCVN3's capitals are not among them)
BINARY_CONTROLS = bytes([0x00, 0x03, 0x07, 0x08, 0x0E, 0x0F, 0x10, 0x18, 0x19, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x7F])


def write_parquet(path, names, rows) -> None:
    pq.write_table(pa.table({c: pa.array([r[c] for r in rows], type=pa.string()) for c in names}), path)


def write_csv(path, names, rows) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(names)
        for r in rows:
            w.writerow([r[c] for c in names])


def assert_same(new, old, *, raw: bool = True, file: bool = True) -> None:
    """Every field of two ImportResults equal, values compared as Python objects (None is not NaN)."""
    assert list(new.table.columns) == list(old.table.columns)
    assert new.table.index.equals(old.table.index)
    assert list(new.table.dtypes) == list(old.table.dtypes)
    for c in new.table.columns:
        a, b = new.table[c].tolist(), old.table[c].tolist()
        assert a == b, c
        assert [type(v) for v in a] == [type(v) for v in b], c
    qn, qo = new.quarantine.copy(), old.quarantine.copy()
    if not raw:
        qn, qo = qn.drop(columns="raw"), qo.drop(columns="raw")
    if not file:
        qn, qo = qn.drop(columns="file"), qo.drop(columns="file")
    pd.testing.assert_frame_equal(qn, qo)
    assert qn.to_dict("list") == qo.to_dict("list")
    assert new.rows_in == old.rows_in == len(new.table) + len(new.quarantine)
    assert new.source_rows == old.source_rows
    assert all(type(r) is int for r in new.source_rows)
    assert new.repaired_columns == old.repaired_columns
    assert new.header_map == old.header_map
    if file:
        assert new.source == old.source and new.encoding == old.encoding
        assert new.legacy_lines == old.legacy_lines


def both(path, kind, **kw):
    return read_table(path, kind, **kw), read_table_rowwise(path, kind, **kw)


@pytest.mark.parametrize("kind", list(TABLES))
def test_random_cells_same_answers_as_rowwise_and_across_formats(tmp_path_factory, kind):
    @SETTINGS
    @given(t=tables(kind))
    def check(t):
        names, rows = t
        d = tmp_path_factory.mktemp("coded")
        write_parquet(d / "t.parquet", names, rows)
        write_csv(d / "t.csv", names, rows)
        new_pq, old_pq = both(d / "t.parquet", kind)
        assert_same(new_pq, old_pq)
        try:
            new_csv = read_table(d / "t.csv", kind)
        except FileTypeMismatchError as exc:
            # a small file whose bytes are more than 3 % C0 controls is taken for binary, by design
            # (vaxlib.io's sniffer); only then, and the row-wise path must refuse it the same way
            data = (d / "t.csv").read_bytes()
            assert sum(b in BINARY_CONTROLS for b in data) * 100 > 3 * len(data)
            with pytest.raises(type(exc)):
                read_table_rowwise(d / "t.csv", kind)
            return
        assert_same(new_csv, read_table_rowwise(d / "t.csv", kind))
        assert_same(new_pq, new_csv, raw=False, file=False)

    check()


def test_a_tiny_csv_mostly_controls_is_refused_as_binary_by_both_paths(tmp_path):
    """Hypothesis found it (CI, 2026-12-07): one register row whose dob is two C0 controls is 4 % controls."""
    names = ["person_id", "full_name", "dob", "sex"]
    write_csv(tmp_path / "t.csv", names, [{"person_id": "079085001234", "full_name": "Lê \ufffdn",
                                          "dob": "\x1f\x10", "sex": "Nam"}])
    with pytest.raises(FileTypeMismatchError):
        read_table(tmp_path / "t.csv", "registry")
    with pytest.raises(FileTypeMismatchError):
        read_table_rowwise(tmp_path / "t.csv", "registry")


def test_the_pools_reach_every_reason(tmp_path):
    """The cells above do produce every reason the contract logic gives (else the property above proves little)."""
    seen = set()
    for kind, pool in POOLS.items():
        names = list(pool)
        rows = [{c: pool[c][i % len(pool[c])] for c in names} for i in range(40)] + [{c: "" for c in names}]
        write_parquet(tmp_path / f"{kind}.parquet", names, rows)
        new, old = both(tmp_path / f"{kind}.parquet", kind)
        assert_same(new, old)
        seen |= set(new.reason_counts())
        assert new.repaired_columns == ()  # mixed columns: most values are fine
    assert seen == {"empty_row", "missing_key", "duplicate_key", "bad_person_id", "bad_dob", "bad_sex",
                    "bad_vaccination_date", "bad_submitted_at", "bad_dose_number", "undecodable"}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_keys_and_codes_lose_any_unicode_white_space_at_their_ends(tmp_path, fmt):
    names = columns("vaccinations")
    keys = ["\u2003R5", "R6\u00a0", "\u3000R7\u3000", "R\u00a08", " R9\t", "\u2003", "R10"]
    rows = [{c: "" for c in names} | {"record_id": k, "facility_id": f"\u2002F{i}\u00a0", "dose_number": "1",
                                      "vaccination_date": "15/08/2021", "vaccine": "Pfizer", "dob": "1990",
                                      "full_name": "A", "facility_province": "\u00a079"}
            for i, k in enumerate(keys)]
    path = tmp_path / f"k.{fmt}"
    (write_parquet if fmt == "parquet" else write_csv)(path, names, rows)
    new, old = both(path, "vaccinations")
    assert_same(new, old)
    assert new.table["record_id"].tolist() == ["R5", "R6", "R7", "R\u00a08", "R9", "R10"]
    assert new.table["facility_id"].tolist() == ["F0", "F1", "F2", "F3", "F4", "F6"]
    assert new.table["facility_province"].tolist() == ["79"] * 6
    assert new.quarantine[["row", "reason"]].values.tolist() == [[7, "missing_key"]]


def test_a_mojibake_column_is_repaired_the_same_way(tmp_path):
    names = columns("vaccinations")
    rows = [{c: "" for c in names} | {"record_id": f"R{i}", "full_name": sloppy_cp1252(NAMES[i % 6]),
                                      "dose_number": "1", "vaccination_date": "15/08/2021", "facility_id": "F",
                                      "vaccine": "Pfizer", "dob": "1990"} for i in range(12)]
    rows[3]["full_name"] = "Lê \ufffdn"
    write_parquet(tmp_path / "m.parquet", names, rows)
    new, old = both(tmp_path / "m.parquet", "vaccinations")
    assert_same(new, old)
    assert new.repaired_columns == ("full_name",)
    assert new.table["full_name"].tolist()[:2] == ["Nguyễn Văn An", "Trần Thị Bình"]
    assert new.quarantine["reason"].tolist() == ["undecodable"]


# --------------------------------------------------------------------------- typed Parquet columns

ARROW_VALUES = {
    "int64": (pa.int64(), st.integers(-10**15, 10**15)),
    "int32 small": (pa.int32(), st.integers(0, 80)),
    "float": (pa.float64(), st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 10).map(float),
                                      st.just(-0.0))),
    "bool": (pa.bool_(), st.booleans()),
    "date": (pa.date32(), st.dates(dt.date(1900, 1, 1), dt.date(2030, 1, 1))),
    "timestamp": (pa.timestamp("s"), st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2030, 1, 1))),
    "timestamp tz": (pa.timestamp("us", tz="Asia/Ho_Chi_Minh"),
                     st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2030, 1, 1), timezones=st.just(dt.timezone.utc))),
    "large string": (pa.large_string(), st.sampled_from(DATES + PROVINCES + KEYS)),
    "dictionary": (pa.dictionary(pa.int8(), pa.string()), st.sampled_from(DOSES + SEXES)),
    "binary": (pa.binary(), st.binary(max_size=4)),
    "decimal": (pa.decimal128(10, 2), st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)),
}


@st.composite
def typed_parquet(draw, kind: str):
    names = columns(kind)
    n = draw(st.integers(1, 15))
    arrays = {}
    for c in names:
        how = draw(st.sampled_from(["text", *ARROW_VALUES, "null"]))
        if how == "text":
            arrays[c] = pa.array([draw(st.one_of(st.none(), cell(kind, c))) for _ in range(n)], type=pa.string())
        elif how == "null":
            arrays[c] = pa.nulls(n)
        else:
            typ, values = ARROW_VALUES[how]
            vals = [draw(st.one_of(st.none(), values)) for _ in range(n)]
            if how == "dictionary":
                arrays[c] = pa.array(vals, type=pa.string()).dictionary_encode()
            else:
                arrays[c] = pa.array(vals, type=typ)
    chunks = draw(st.integers(1, 3))  # row groups: chunked columns
    return pa.table(arrays), max(1, n // chunks)


@pytest.mark.parametrize("kind", list(TABLES))
def test_typed_parquet_columns_same_answers_as_rowwise(tmp_path_factory, kind):
    @SETTINGS
    @given(t=typed_parquet(kind))
    def check(t):
        table, group = t
        p = tmp_path_factory.mktemp("typed") / "t.parquet"
        pq.write_table(table, p, row_group_size=group)
        assert_same(*both(p, kind))

    check()


# --------------------------------------------------------------------------- files as the platform writes them


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from vaxlib.synth import generate

    from pathlib import Path

    return generate(600, seed=3, errors=Path(__file__).parents[1] / "parameters/errors-harsh.yaml")


@pytest.mark.parametrize("fmt", ["parquet", "csv", "xlsx"])
@pytest.mark.parametrize("kind", ["registry", "vaccinations", "feedback"])
def test_synthetic_harsh_files_same_answers(tmp_path, synthetic, kind, fmt):
    path = write_table(synthetic[kind], tmp_path / f"{kind}.{fmt}", kind)
    assert_same(*both(path, kind))


def test_hostile_corpus_same_answers(tmp_path):
    import importlib.util
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("hostile_corpus_coded",
                                                  Path(__file__).parent / "data/hostile/make_corpus.py")
    corpus = sys.modules["hostile_corpus_coded"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    files = corpus.build(tmp_path)
    compared = 0
    for name, path in files.items():
        if path.suffix not in (".csv", ".xlsx", ".parquet") or not path.exists():
            continue
        for kind in ("vaccinations", "registry"):
            try:
                new = read_table(path, kind)
            except NoUsableRowsError:
                continue
            except Exception as exc:  # noqa: BLE001 - the old path must fail the same way
                with pytest.raises(type(exc)):
                    read_table_rowwise(path, kind)
                continue
            assert_same(new, read_table_rowwise(path, kind))
            compared += 1
    assert compared >= 6


def test_numbers_read_from_xlsx_cells_same_answers(tmp_path):
    """Number cells per cell (xlsx): zeros given back to person_id/old_id, provinces 1 -> 01, only where numbers."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([c.vi for c in TABLES["registry"]])
    ws.append([1085001234, "Phạm Thị Thuỷ", dt.datetime(1985, 1, 31), "Nữ", 12345678, 1])
    ws.append(["1085001235", "Ngô Văn Đức", "05/1990", "Nam", "12345678", "1"])
    ws.append([79190001234, "Hồ Thị Lan", "1942", "Nữ", 123456789, 79])
    ws.append([1085001234, "Phạm Thị Thuỷ", "1985", "Nữ", None, 48])  # duplicate once zero-filled
    ws.append(["001085001234", "Phạm Thị Thuỷ", "1985", "Nữ", None, "Đà Nẵng"])
    wb.save(tmp_path / "r.xlsx")
    new, old = both(tmp_path / "r.xlsx", "registry")
    assert_same(new, old)
    assert new.table["person_id"].tolist() == ["001085001234", "079190001234"]
    assert new.table["old_id"].tolist() == ["012345678", "123456789"]
    assert new.table["province_code"].tolist() == ["01", "79"]
    assert dict(zip(new.quarantine["row"], new.quarantine["reason"])) == {
        3: "bad_person_id", 5: "duplicate_key", 6: "duplicate_key"}


def test_large_file_with_few_distinct_values_same_answers(tmp_path):
    """Many rows over few distinct values (the case the coded path is for), with bad rows spread through."""
    rng = np.random.default_rng(5)
    n = 20_000
    names = columns("vaccinations")
    pools = POOLS["vaccinations"]
    data = {c: [pools[c][k] for k in rng.integers(0, len(pools[c]), n)] for c in names}
    data["record_id"] = [f"R{i}" if rng.random() > 0.01 else f"R{i - 7}" for i in range(n)]
    pq.write_table(pa.table({c: pa.array(v, type=pa.string()) for c, v in data.items()}), tmp_path / "v.parquet",
                   row_group_size=3000)
    assert_same(*both(tmp_path / "v.parquet", "vaccinations"))


# --------------------------------------------------------------------------- the collector pause


def test_garbage_collector_is_as_it_was_after_reading(tmp_path):
    """read_table pauses the cyclic collector while parsing; afterwards it is as it was, also after an error."""
    import gc

    from vaxlib.io import VaxImportError

    names = columns("registry")
    good = tmp_path / "r.csv"
    write_csv(good, names, [{c: "" for c in names} | {"person_id": "079085001234", "full_name": "A", "dob": "1990"}])
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,here\n1,2\n", encoding="utf-8")
    was = gc.isenabled()
    try:
        gc.enable()
        assert len(read_table(good, "registry").table) == 1
        assert gc.isenabled()
        with pytest.raises(VaxImportError):
            read_table(bad, "registry")
        assert gc.isenabled()
        gc.disable()
        read_table(good, "registry")
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.just(float("nan")), st.just(""), st.text(max_size=3)), max_size=20))
def test_present_flags_exactly_the_values_that_are_not_none(values):
    """_Coded.present (pd.isna in C, then an identity test) equals ``u is not None`` per value:
    NaN and "" are present, only None is not."""
    from vaxlib.io import _Coded, _objects

    uniques = _objects(values)
    got = _Coded(np.zeros(0, dtype=np.intp), uniques).present()
    assert got.tolist() == [v is not None for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=4), max_size=25), st.booleans(), st.booleans(), st.booleans())
def test_key_column_coded_as_its_own_dictionary_equals_the_encoded_one(values, unique, large, nulls):
    """A key column whose values all differ is coded without hashing: the same codes, values,
    flags and Arrow text as Arrow's dictionary encoding gives (repeats and nulls take that path)."""
    from vaxlib.io import _arrow_coded

    if unique:
        values = list(dict.fromkeys(values))
    cells = [None if nulls and i % 3 == 0 else v for i, v in enumerate(values)]
    col = pa.chunked_array([pa.array(cells[:3], type=pa.large_string() if large else pa.string()),
                            pa.array(cells[3:], type=pa.large_string() if large else pa.string())])
    fast, plain = _arrow_coded(col, None, key=True), _arrow_coded(col, None)
    assert fast.codes.tolist() == plain.codes.tolist()
    assert fast.codes.dtype == plain.codes.dtype
    assert fast.uniques.tolist() == plain.uniques.tolist()
    assert fast.distinct == plain.distinct
    assert fast.arrow.to_pylist() == plain.arrow.to_pylist()
