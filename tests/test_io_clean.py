"""``read_clean_parquet`` gives exactly ``read_table``'s accepted rows, or nothing.

The reference is :func:`vaxlib.io.read_table` itself (whose own exactness against the
row-by-row reader is ``tests/test_io_coded.py``).  For every file,
``read_clean_parquet`` must either return None (the caller then reads the file with
``read_table``) or return the very columns ``read_table`` accepts -- and only for a
file ``read_table`` reads whole: no quarantined row, no repaired column.  Files are
clean platform exports with hostile cells mixed in (the pools of ``test_io_coded``:
keys padded, blank or repeated, dates and doses of every form, impossible sexes, NFD
and mojibake names, U+FFFD, arbitrary text), in any column, read or not by signing.
"""
from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from legacy_bytes import sloppy_cp1252
from test_io_coded import POOLS, free_text
from vaxlib.io import VaxImportError, read_clean_parquet, read_table
from vaxlib.schema import TABLES, columns, extra_columns

SIGNING = {"registry": ["person_id", "full_name", "dob"],
           "vaccinations": ["record_id", "dose_number", "vaccination_date", "vaccine"]}
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Duyên", "Phạm Thị Thuỷ", "Y'Moan Niê", "Đặng Văn Em", "Lo Van A"]


def clean_row(kind: str, i: int) -> dict[str, str]:
    """Row ``i`` of a clean file (unique keys, values read_table accepts as they are or parses)."""
    if kind == "registry":
        return {"person_id": f"{79_000_000_000 + i:012d}", "full_name": NAMES[i % len(NAMES)],
                "dob": ["1985-03-12", "12/03/1985", "1990", "1990-07", ""][i % 4], "sex": ["M", "F", "Nam", ""][i % 4],
                "old_id": ["", "023456789"][i % 2], "province_code": ["79", "01", ""][i % 3]}
    return {"record_id": f"VR{i:08d}", "full_name": NAMES[i % len(NAMES)], "dob": "12/03/1985", "sex": "Nữ",
            "id_number": "079085001234", "phone": "", "province_code": "79", "facility_id": "F1",
            "facility_province": "79", "dose_number": ["1", "2", "03", "2.0"][i % 4],
            "vaccination_date": ["2021-08-15", "15/08/2021", "2022-01-02"][i % 3],
            "vaccine": ["Pfizer", "AstraZeneca", "", "Vero Cell"][i % 4], "lot_number": "NJ0342",
            "facility_name": "Trạm Y tế"}


def write(path, names, rows) -> None:
    pq.write_table(pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in names}), path)


def check(path, kind: str) -> bool:
    """The property; returns whether the clean path took the file."""
    fast = read_clean_parquet(path, kind, SIGNING[kind])
    try:
        ref = read_table(path, kind)
    except VaxImportError:
        assert fast is None
        return False
    if fast is None:
        return False
    assert len(ref.quarantine) == 0 and ref.repaired_columns == ()
    assert fast.column_names == SIGNING[kind]
    assert all(t == pa.string() for t in fast.schema.types)
    for c in SIGNING[kind]:
        assert fast[c].to_pylist() == ref.table[c].tolist(), c
    return True


@st.composite
def mostly_clean(draw, kind: str):
    """A clean file of 1-30 rows, some cells replaced by hostile ones, its columns in some order."""
    names = columns(kind) + extra_columns(kind)
    optional = [c.name for c in TABLES[kind] if not c.required] + extra_columns(kind)
    dropped = draw(st.sets(st.sampled_from(optional)))
    names = draw(st.permutations([c for c in names if c not in dropped]))
    n = draw(st.integers(1, 30))
    rows = [clean_row(kind, i) for i in range(n)]
    for _ in range(draw(st.integers(0, 3))):
        r, c = draw(st.integers(0, n - 1)), draw(st.sampled_from(names))
        rows[r][c] = draw(st.one_of(st.sampled_from(POOLS[kind].get(c, [""])), free_text,
                                    st.sampled_from([rows[0][c], " " + rows[r][c], unicodedata.normalize("NFD", rows[r][c]),
                                                     sloppy_cp1252(rows[r][c]), rows[r][c] + "\ufffd"])))
    return names, rows


@pytest.mark.parametrize("kind", ["registry", "vaccinations"])
def test_hostile_cells_clean_path_equals_read_table_or_steps_aside(tmp_path_factory, kind):
    taken = []

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(t=mostly_clean(kind))
    def prop(t):
        names, rows = t
        path = tmp_path_factory.mktemp("clean") / "t.parquet"
        write(path, names, rows)
        taken.append(check(path, kind))

    prop()
    assert any(taken) and not all(taken)  # both branches were reached


@pytest.mark.parametrize("kind", ["registry", "vaccinations"])
def test_a_clean_file_takes_the_clean_path(tmp_path, kind):
    rows = [clean_row(kind, i) for i in range(200)]
    names = list(rows[0])
    write(tmp_path / "t.parquet", names, rows)
    assert check(tmp_path / "t.parquet", kind)


#: one cell of an otherwise clean file, and whether read_table then takes every row as it is
CASES = [
    ("registry", "person_id", " 079000000001", "key with a space"),
    ("registry", "person_id", "79000000001", "11 digits"),
    ("registry", "person_id", "", "missing key"),
    ("registry", "person_id", "079000000000", "duplicate key (row 0's)"),
    ("registry", "person_id", "٠٧٩٠٠٠٠٠٠٠٠١", "Arabic-Indic digits"),
    ("registry", "full_name", "Lê \ufffdn", "U+FFFD in a name"),
    ("registry", "dob", "31/02/1985", "impossible dob"),
    ("registry", "dob", "", "no dob"),
    ("registry", "sex", "X", "unreadable sex"),
    ("registry", "old_id", "ab\ufffd", "U+FFFD in a column signing does not read"),
    ("registry", "province_code", sloppy_cp1252("Hà Nội"), "mojibake in a column signing does not read"),
    ("vaccinations", "record_id", "VR00000000", "duplicate record"),
    ("vaccinations", "record_id", "  ", "blank record id"),
    ("vaccinations", "dose_number", "8", "dose 8"),
    ("vaccinations", "dose_number", "", "no dose"),
    ("vaccinations", "vaccination_date", "2021-02-30", "impossible date"),
    ("vaccinations", "vaccination_date", "2021", "year only"),
    ("vaccinations", "phone", "09\ufffd", "U+FFFD in the phone"),
    ("vaccinations", "facility_name", "Tr\ufffdm", "U+FFFD in an extra column"),
]


@pytest.mark.parametrize("kind,column,value,why", CASES, ids=[c[3] for c in CASES])
def test_one_bad_cell_sends_the_file_to_read_table(tmp_path, kind, column, value, why):
    rows = [clean_row(kind, i) for i in range(50)]
    rows[7][column] = value
    write(tmp_path / "t.parquet", list(rows[0]), rows)
    ref = read_table(tmp_path / "t.parquet", kind)
    assert len(ref.quarantine) or ref.repaired_columns  # the case is one read_table does not take whole
    assert read_clean_parquet(tmp_path / "t.parquet", kind, SIGNING[kind]) is None


def test_a_name_read_table_would_normalise_is_left_to_it(tmp_path):
    rows = [clean_row("registry", i) for i in range(50)]
    rows[7]["full_name"] = unicodedata.normalize("NFD", "Nguyễn Văn An")
    write(tmp_path / "t.parquet", list(rows[0]), rows)
    assert read_table(tmp_path / "t.parquet", "registry").table["full_name"][7] == "Nguyễn Văn An"  # NFC
    assert read_clean_parquet(tmp_path / "t.parquet", "registry", SIGNING["registry"]) is None


def test_other_files_are_left_to_read_table(tmp_path):
    rows = [clean_row("registry", i) for i in range(20)]
    names = list(rows[0])
    write(tmp_path / "t.parquet", names, rows)
    (tmp_path / "t.csv").write_text(",".join(names) + "\n" + "\n".join(",".join(r.values()) for r in rows) + "\n",
                                    encoding="utf-8")
    assert read_clean_parquet(tmp_path / "t.csv", "registry", SIGNING["registry"]) is None
    numbers = pa.table({**{c: pa.array([r[c] for r in rows], pa.string()) for c in names},
                        "old_id": pa.array([23456789] * 20, pa.int64())})
    pq.write_table(numbers, tmp_path / "n.parquet")
    assert read_clean_parquet(tmp_path / "n.parquet", "registry", SIGNING["registry"]) is None
    (tmp_path / "bad.parquet").write_bytes(b"PAR1" + bytes(100))
    assert read_clean_parquet(tmp_path / "bad.parquet", "registry", SIGNING["registry"]) is None
    assert read_clean_parquet(tmp_path / "t.parquet", "feedback", ["feedback_id"]) is None


@pytest.mark.parametrize("kind", ["registry", "vaccinations"])
def test_a_mojibake_name_column_is_left_to_read_table(tmp_path, kind):
    rows = [clean_row(kind, i) for i in range(60)]
    for r in rows:
        r["full_name"] = sloppy_cp1252(r["full_name"])
    write(tmp_path / "t.parquet", list(rows[0]), rows)
    assert read_table(tmp_path / "t.parquet", kind).repaired_columns == ("full_name",)
    assert read_clean_parquet(tmp_path / "t.parquet", kind, SIGNING[kind]) is None


@settings(max_examples=400, deadline=None)
@given(st.sets(st.integers(0, 99), min_size=25, max_size=80), st.lists(st.integers(0, 99), max_size=3),
       st.integers(0, 80), st.booleans(), st.randoms(use_true_random=False))
def test_the_duplicate_key_test_is_exact_whether_the_keys_come_sorted_or_not(base, extra, at, shuffle, rnd):
    """``_all_distinct`` takes a sorted column's short cut (a few rows outside one increasing run) or
    hashes it whole; either way it says what a set of the keys says."""
    from vaxlib.io import _all_distinct

    keys = [f"K{v:03d}" for v in sorted(base)]
    if shuffle:
        rnd.shuffle(keys)
    keys = keys[:at] + [f"K{v:03d}" for v in extra] + keys[at:]  # a few keys moved into, or appended to, the run
    col = pa.chunked_array([pa.array(keys[:5], pa.large_string()), pa.array(keys[5:], pa.large_string())])
    assert _all_distinct(col) == (len(set(keys)) == len(keys))
