"""The dask prepare task codes its registry partition from the read stage's Arrow pieces
(``distributed._factorize_coded``, ``_registry_domain_codes``, ``_stored_registry``) instead of
factorising its decoded Python text: the same codes as :func:`vaxlib.match.codes.domain_codes`
(first appearance along the domain's columns one after the other) and a stored frame that decodes
to what ``arrow_tables(factor_frame(reg, codes=True))`` stored, with the same values per domain
code for the compare task (``_registry_known``), whatever repeats across the pieces."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import vaxlib.match.distributed as D
from vaxlib.match.codes import DOMAINS, PREFIX, domain_codes

#: odd text too: NUL, combining marks, empty, a space, long, decomposed and composed forms of one name
_POOL = ["079123456789", "", " ", "Nguyễn Văn An", "Nguye\u0302\u0303n Va\u0306n An", "nguyen van an", "1980-03-05",
         "x\x00y", "Đặng Ứng", "ờ" * 40, "M", "F"]
_VALUE = st.one_of(st.sampled_from(_POOL), st.text(alphabet="0179aăđễ \x00-/\u0301", max_size=5))


@st.composite
def _coded_columns(draw):
    """1-3 columns as (row codes, Arrow table): tables with repeated and unused entries."""
    cols = []
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.lists(_VALUE, min_size=1, max_size=12))
        codes = draw(st.lists(st.integers(0, len(table) - 1), max_size=25))
        cols.append((np.asarray(codes, dtype=np.int32), pa.array(table, type=pa.string())))
    return cols


@settings(max_examples=200, deadline=None)
@given(_coded_columns())
def test_factorize_coded_is_pandas_factorize_of_the_rows(cols):
    got = D._factorize_coded(cols)
    rows = np.concatenate([np.asarray(t.to_pylist(), dtype=object)[c] if len(c) else np.zeros(0, dtype=object)
                           for c, t in cols])
    want_codes, want_uniq = pd.factorize(rows)
    assert got is not None
    codes, known = got
    assert [len(c) for c in codes] == [len(c) for c, _ in cols]
    assert all(c.dtype == np.int32 for c in codes)
    assert np.concatenate(codes).tolist() == want_codes.tolist()
    assert known.type == pa.string() and known.to_pylist() == list(want_uniq)


def test_factorize_coded_refuses_tables_it_cannot_hash_in_arrow():
    codes = np.zeros(2, dtype=np.int32)
    assert D._factorize_coded([(codes, np.array(["a"], dtype=object))]) is None  # objects: the caller's path
    assert D._factorize_coded([(codes, pa.array(["a", None]))]) is None  # a missing value
    assert D._factorize_coded([]) is None


_REG = ("person_id", "old_id", "full_name", "name_canon", "name_tone", "name_fold", "name_sorted", "given",
        "family", "fam_given", "dob", "sex", "province_code")


@st.composite
def _registry_parts(draw):
    """Registry pieces as the read stage stores them (coded, Arrow tables), 1-3 of them."""
    parts, start = [], 0
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 15))
        frame = pd.DataFrame({c: pd.Series(draw(st.lists(_VALUE, min_size=n, max_size=n)), dtype=object)
                              for c in _REG})
        if draw(st.booleans()):  # a column with a missing value stays plain
            frame.loc[draw(st.integers(0, n - 1)), "province_code"] = None
        frame["_pos"] = np.arange(start, start + n, dtype=np.int64)
        start += n
        parts.append(D.arrow_tables(D.factor_frame(frame)))
    return parts


@settings(max_examples=100, deadline=None)
@given(_registry_parts())
def test_registry_coded_from_pieces_is_the_frame_coded_from_its_text(parts):
    stored = D.concat_frames(parts)
    reg = D.decode_frame(stored)
    reg["_tf_name"] = np.linspace(0, 1, len(reg))  # a numeric column added after decoding, as prepare adds tf
    old = reg.copy()
    for domain in D._COMPARED_DOMAINS:  # the task's former path: codes.registry_codes of the compared domains
        for (_, col), codes in domain_codes(None, old, domain).items():
            old[PREFIX + col] = codes
    known = D._registry_domain_codes(reg, stored)
    assert set(known) == set(D._COMPARED_DOMAINS)
    pd.testing.assert_frame_equal(reg, old)
    new_stored = D._stored_registry(reg, stored, known)
    old_stored = D.arrow_tables(D.factor_frame(old, codes=True))
    pd.testing.assert_frame_equal(D.decode_frame(new_stored), D.decode_frame(old_stored))
    for domain in D._COMPARED_DOMAINS:
        cols = [c for c in DOMAINS[domain][1] if c in reg.columns]
        want = D._registry_known(old_stored, cols)
        got = D._registry_known(new_stored, cols)
        assert want is not None and got is not None and got.equals(want), domain


@st.composite
def _domain_case(draw):
    """A domain's record columns (as many rows each, tables with repeats) and the registry's values."""
    known = list(dict.fromkeys(draw(st.lists(_VALUE, max_size=10))))
    n = draw(st.integers(0, 20))
    cols = []
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.lists(_VALUE, min_size=1, max_size=10))
        codes = draw(st.lists(st.integers(0, len(table) - 1), min_size=n, max_size=n))
        cols.append((np.asarray(codes, dtype=np.int64), pa.array(table, type=pa.string())))
    return cols, pa.array(known, type=pa.string())


@settings(max_examples=200, deadline=None)
@given(_domain_case())
def test_record_codes_joined_are_record_codes_arrow_column_by_column(case):
    cols, known = case
    want = D.record_codes_arrow(cols, known)
    got = D._record_codes_joined(cols, known)
    assert [g.tolist() for g in got] == [w.tolist() for w in want]
