"""The keys of ``io.read_clean_parquet`` (the inputs ``vax sign`` parses): checked on their bytes, as
``read_table`` checks them.

``read_clean_parquet`` tests a key column's values for emptiness, white space at either end
(what ``read_table`` would trim) and, in the register, twelve digits, on the column's bytes
(numpy) rather than with regular expressions.  Keys here carry every kind of edge a
platform export has -- ASCII spaces and tabs, no-break and ideographic spaces, control
characters, DEL, accented letters, digits of other scripts -- at the start, at the end or
inside, in files of one or more row groups; the result must be ``read_table``'s or None
(``tests/test_io_clean.py`` holds the whole-file property; its pools pad keys at the start only).
"""
from __future__ import annotations

import pyarrow as pa
import pytest
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_io_clean import check, clean_row
from vaxlib.schema import columns, extra_columns

EDGES = [" ", "\t", "\r", "\x00", "\x1f", "\x7f", "\u00a0", "\u3000", "\u2003", "é", "Đ", "٣", "x", "0", "~", "!"]


@st.composite
def keyed_files(draw, kind: str):
    n = draw(st.integers(1, 12))
    rows = [clean_row(kind, i) for i in range(n)]
    key = "person_id" if kind == "registry" else "record_id"
    for _ in range(draw(st.integers(0, 3))):
        r = draw(st.integers(0, n - 1))
        edge = draw(st.sampled_from(EDGES))
        where = draw(st.sampled_from(["start", "end", "inside", "replace_last", "alone"]))
        k = rows[r][key]
        rows[r][key] = {"start": edge + k, "end": k + edge, "inside": k[:4] + edge + k[4:],
                        "replace_last": k[:-1] + edge, "alone": edge}[where]
    return rows, draw(st.sampled_from([None, 1, 3]))


def _write(path, kind, rows, group) -> None:
    names = columns(kind) + extra_columns(kind)
    pq.write_table(pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in names}), path,
                   row_group_size=group)


@pytest.mark.parametrize("kind", ["registry", "vaccinations"])  # person_id / record_id
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_keys_with_edges_give_read_tables_result_or_none(tmp_path, kind, data):
    rows, group = data.draw(keyed_files(kind))
    _write(tmp_path / f"{kind}.parquet", kind, rows, group)
    check(tmp_path / f"{kind}.parquet", kind)


def test_clean_keys_are_still_taken_on_the_fast_path(tmp_path):
    """The byte checks are not stricter than read_table: clean files of several row groups are taken."""
    for kind in ("registry", "vaccinations"):
        _write(tmp_path / f"{kind}.parquet", kind, [clean_row(kind, i) for i in range(10)], 3)
        assert check(tmp_path / f"{kind}.parquet", kind)
