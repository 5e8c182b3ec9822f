"""Parquet text columns read dictionary-encoded (``vaxlib.io._dictionary_coded``) give exactly the
coding, table and quarantine of the decoded read.

Oracles: ``_arrow_coded`` of the decoded column (the path every other column takes), and
``tests/io_rowwise.py`` (read_table as it was before the coded path, value by value).  The
dictionary path is forced on every text column (``_DICTIONARY_ROWS_PER_BYTE = 0``) so that small
test files take it; dictionaries are given out of first-appearance order, with unused entries,
nulls, empty strings, several row groups (unified dictionaries) and fallback to plain pages.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from io_rowwise import read_table_rowwise
from test_io_coded import POOLS, assert_same
from vaxlib import io as vio
from vaxlib.schema import TABLES, columns

#: a few values, with NFD, non-ASCII, blanks and padding among them
TEXT = st.sampled_from(["", " ", "a", "A", "b", "Nguyễn", "Nguye\u0301\u0302n", "đ", " x ", "01", "1", "\u00a0"])


def _coded_same(a, b) -> None:
    assert a.codes.dtype == b.codes.dtype
    assert a.codes.tolist() == b.codes.tolist()
    assert a.uniques.tolist() == b.uniques.tolist()
    assert [type(v) for v in a.uniques] == [type(v) for v in b.uniques]
    assert a.distinct == b.distinct
    assert a.arrow.cast(pa.large_string()).to_pylist() == b.arrow.cast(pa.large_string()).to_pylist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=30), st.lists(TEXT, max_size=5, unique=True),
       st.randoms(use_true_random=False), st.integers(1, 4), st.booleans())
def test_a_dictionary_column_codes_as_its_decoded_text(cells, unused, rnd, chunks, large):
    """Any dictionary (entries in any order, unused ones) and chunking: the codes, values, flags
    and Arrow text :func:`_arrow_coded` gives the decoded column."""
    values = list(dict.fromkeys([c for c in cells if c is not None] + unused))
    rnd.shuffle(values)
    typ = pa.large_string() if large else pa.string()
    dictionary = pa.array(values, type=typ)
    idx = [None if c is None else values.index(c) for c in cells]
    cut = sorted(rnd.sample(range(len(idx) + 1), min(chunks - 1, len(idx) + 1)))
    parts = [idx[a:b] for a, b in zip([0] + cut, cut + [len(idx)])]
    # each chunk its own dictionary (a row group's), in another order, as Parquet may hand them
    arrays = []
    for part in parts:
        order = list(range(len(values)))
        rnd.shuffle(order)
        where = {k: i for i, k in enumerate(order)}
        arrays.append(pa.DictionaryArray.from_arrays(pa.array([None if k is None else where[k] for k in part],
                                                              type=pa.int32()), dictionary.take(pa.array(order, type=pa.int64()))))
    col = pa.chunked_array(arrays, type=pa.dictionary(pa.int32(), typ))
    got = vio._dictionary_coded(col)
    assert got is not None
    _coded_same(got, vio._arrow_coded(col.cast(typ), None))


def test_a_dictionary_holding_a_value_twice_is_decoded_instead():
    d = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], type=pa.int32()), pa.array(["a", "a"]))
    assert vio._dictionary_coded(pa.chunked_array([d])) is None


@pytest.mark.parametrize("kind", list(TABLES))
@pytest.mark.parametrize("row_group_size", [7, 1000])
@pytest.mark.parametrize("dictionary_pagesize_limit", [40, None])
def test_files_read_with_dictionaries_same_answers(tmp_path, monkeypatch, kind, row_group_size,
                                                   dictionary_pagesize_limit):
    """Random cells of every column's pool (bad values, repeats, blanks) written with small row
    groups and small dictionary pages (the writer falls back to plain pages): read_table with every
    text column read dictionary-encoded equals the decoded read and the row-by-row one."""
    rng = np.random.default_rng(len(kind) + row_group_size)
    n = 300
    names = columns(kind)
    data = {c: [POOLS[kind][c][k] for k in rng.integers(0, len(POOLS[kind][c]), n)] for c in names}
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({c: pa.array(v, type=pa.string()) for c, v in data.items()}), path,
                   row_group_size=row_group_size,
                   **({"dictionary_pagesize_limit": dictionary_pagesize_limit} if dictionary_pagesize_limit else {}))
    plain = vio.read_table(path, kind, codes=names)
    monkeypatch.setattr(vio, "_DICTIONARY_ROWS_PER_BYTE", 0)
    chosen = vio._dictionary_columns(path.read_bytes(), kind)
    assert set(chosen) >= set(names) - {vio.KEY_COLUMN[kind]} - {c for c in names if not any(data[c])}
    fast = vio.read_table(path, kind, codes=names)
    assert_same(fast, plain)
    assert_same(fast, read_table_rowwise(path, kind))
    for c in names:
        a, b = fast.codes[c], plain.codes[c]
        assert a[0].tolist() == b[0].tolist() and list(a[1]) == list(b[1]), c


def test_only_columns_of_small_dictionaries_are_read_so(tmp_path):
    """The default rule: few distinct values (a dictionary page much smaller than the rows) yes;
    distinct values (names, IDs) and the key no."""
    n = 4000
    rng = np.random.default_rng(1)
    t = {c: [f"v{k}" for k in rng.integers(0, 5, n)] for c in columns("vaccinations")}
    t["full_name"] = [f"Name number {i}" for i in range(n)]
    t["record_id"] = ["R1"] * n  # a key of one value: still never read so (it is the table's key)
    path = tmp_path / "v.parquet"
    pq.write_table(pa.table({c: pa.array(v, type=pa.string()) for c, v in t.items()}), path)
    chosen = vio._dictionary_columns(path.read_bytes(), "vaccinations")
    assert "full_name" not in chosen and "record_id" not in chosen
    assert {"dob", "sex", "vaccine", "facility_id"} <= set(chosen)
