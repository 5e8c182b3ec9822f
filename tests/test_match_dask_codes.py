"""The compare task's records coded in Arrow (``distributed._code_records``, ``record_codes_arrow``)
give exactly the codes :func:`vaxlib.match.codes.add_codes` gives from the same per-value tables:
registry values take the registry partition's code, the others are numbered from the registry's
size on by first appearance along the domain's columns (the ID domain's three record columns
against person_id and old_id; names; dates of birth), whatever repeats across the sent parts."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import vaxlib.match.distributed as D
from vaxlib.match.codes import DOMAINS, PREFIX, add_codes, domain_codes
from vaxlib.match.distributed import (_code_records, _stored_known, arrow_tables, concat_frames, distinct_tables, factor_frame,
                                      record_codes_arrow, rows_frame, take_frame)

#: values shared by both sides (so that most records hold a registry value), odd text included
_POOL = ["079123456789", "079123456780", "", "Nguyễn Văn An", "NGUYEN VAN AN", "nguyen van an", "1980-03-05",
         "1980", "x\x00y", "Đặng Ứng", "ờ" * 40, "05/03/1980", " "]
_VALUE = st.one_of(st.sampled_from(_POOL), st.text(alphabet="0179aăđễ \x00-/", max_size=6))
_REC_COLS = ("id_number", "id_digits", "id_raw_digits", "name_fold", "dob", "dob_r0", "dob_r1", "sex_p")
_REG_COLS = ("person_id", "old_id", "name_fold", "dob", "sex")


def _column(draw, n):
    return draw(st.lists(_VALUE, min_size=n, max_size=n))


@st.composite
def _case(draw):
    n_reg = draw(st.integers(1, 40))
    reg = pd.DataFrame({c: pd.Series(_column(draw, n_reg), dtype=object) for c in _REG_COLS})
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 30))  # a task's pieces are Arrow tables even when empty; built here they are not
        part = pd.DataFrame({c: pd.Series(_column(draw, n), dtype=object) for c in _REC_COLS})
        part["_pos"] = np.arange(n, dtype=np.int64) * 7 + len(parts)
        parts.append(part)
    return reg, parts, draw(st.randoms(use_true_random=False))


def _registry(reg: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The registry partition as the prepare task keeps it: its codes, and stored with Arrow tables."""
    reg = reg.copy()
    for domain in DOMAINS:
        for (_, col), codes in domain_codes(None, reg, domain).items():
            reg[PREFIX + col] = codes
    return reg, arrow_tables(factor_frame(reg, codes=True))


@settings(max_examples=60, deadline=None)
@given(_case())
def test_records_coded_in_arrow_are_add_codes(case):
    reg, parts, rnd = case
    reg, stored = _registry(reg)
    # each part as a rows task sends it (Arrow tables), some rows sent twice: concatenated, cut to
    # distinct values, rows put in an order of their own (the compare task sorts by position)
    sent_parts = []
    for part in parts:
        a = arrow_tables(factor_frame(part))
        rows = np.array([rnd.randrange(len(part)) for _ in range(len(part) // 2)], dtype=np.int64)
        sent_parts += [a, take_frame(a, rows)] if len(part) else [a]
    arrow: dict = {}
    sent = distinct_tables(concat_frames(sent_parts), arrow)
    order = np.arange(len(sent["plain"]))
    rnd.shuffle(order)
    small, dicts = rows_frame(sent, order)
    want = small.copy()
    add_codes(want, reg.copy(), domains=("id", "name_fold", "dob", "sex"), dicts=dicts)
    got = small.copy()
    ran = []

    def spy(*args):
        out = real(*args)
        ran.append(out is not None)
        return out
    real, D.record_codes_arrow = D.record_codes_arrow, spy
    try:
        _code_records(got, reg, dicts, arrow, _stored_known(reg, stored))
    finally:
        D.record_codes_arrow = real
    assert ran == [True] * 4  # the four domains coded in Arrow, none left to add_codes
    for c in _REC_COLS:
        assert got[PREFIX + c].dtype == np.int32
        np.testing.assert_array_equal(got[PREFIX + c].to_numpy(), want[PREFIX + c].to_numpy(), err_msg=c)


# (registry person_id, registry old_id, one record column of the ID domain, expected codes): the
# registry's values numbered person_id first then old_id, the records' other values after them
_TABLE = [
    (["A", "B"], ["", "C"], ["C", "B", "Z", "A", "Z", "Y"], [3, 1, 4, 0, 4, 5]),  # "" is code 2
    (["A"], ["A"], ["Q", "A", "P", "Q"], [1, 0, 2, 1]),
    (["A", "A"], ["B", "B"], ["B", "B", ""], [1, 1, 2]),
    (["x\x00y"], [""], ["x", "x\x00y", "x\x00", ""], [2, 0, 3, 1]),  # NUL kept inside the text
]


def test_codes_table():
    import pyarrow as pa

    from vaxlib.match.distributed import _registry_known

    for pid, old, values, want in _TABLE:
        frame = pd.DataFrame({"person_id": pid, "old_id": old, "name_fold": "n", "dob": "d", "sex": "M"}, dtype=object)
        reg, stored = _registry(frame)
        known = _registry_known(stored, ["person_id", "old_id"])
        codes, uniq = pd.factorize(np.array(values, dtype=object))
        got = record_codes_arrow([(codes, pa.array(list(uniq), type=pa.string()))], known)
        assert got[0].tolist() == want, (pid, old, values)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_VALUE, _VALUE), min_size=0, max_size=40), st.randoms(use_true_random=False))
def test_finish_records_keep_record_id_in_arrow_and_decode_to_the_same_frame(rows, rnd):
    """The finish task's records (``_decoded_records``): the frame :func:`decode_frame` gives, with
    record_id as Arrow-backed text whose Arrow array ``record_matches`` takes as the object path
    converts it (same values, same order, large_string)."""
    import pyarrow as pa

    from vaxlib.match.distributed import _decoded_records, decode_frame
    from vaxlib.match.pipeline import _ARROW_TEXT, _arrow_ids, _arrow_text

    ids = [f"R{k:04d}" for k in range(len(rows))]
    rnd.shuffle(ids)
    frame = pd.DataFrame({"record_id": pd.Series(ids, dtype=object),
                          "full_name": pd.Series([a for a, _ in rows], dtype=object),
                          "_pos": np.arange(len(rows), dtype=np.int64),
                          "id_number": pd.Series([b for _, b in rows], dtype=object)})
    stored = arrow_tables(factor_frame(frame))
    assert isinstance(stored["coded"]["record_id"][1], pa.Array) or not len(frame)
    want = decode_frame(stored)
    got = _decoded_records(stored)
    assert list(got.columns) == list(want.columns)
    for c in want.columns:
        assert got[c].tolist() == want[c].tolist(), c
    if _ARROW_TEXT:
        assert _arrow_ids(got["record_id"]).equals(_arrow_text(want["record_id"].to_numpy(dtype=object)))
    only = _decoded_records(stored, ["_pos", "full_name"])
    assert list(only.columns) == ["full_name", "_pos"] and only["full_name"].tolist() == want["full_name"].tolist()
