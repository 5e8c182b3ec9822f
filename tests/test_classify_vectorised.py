"""The vectorised classify stage against its per-record definitions: error codes of unlinked
records (unlinked_codes + intrinsic_codes, record by record) and person_key components
(records sharing (folded name, dob), (folded name, phone) or (ID, given name) are one)."""
from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vaxlib.match.classify import StoredColumns, StoredText, intrinsic_codes, unlinked_codes, unlinked_error_codes
from vaxlib.match.pipeline import _person_keys

KINDS = ["missing", "passport", "malformed", "excel", "cccd", "cmnd", "", "other"]
NAMES = ["Nguyễn Văn An", "NGUYỄN VĂN AN", "nguyễn  văn an", unicodedata.normalize("NFD", "Trần Thị Thuỷ"),
         "JOHN SMITH", "John  Smith", "", "Lê Thị Hoà", " Lê Thị Hoà"]
DOBS = [("05/03/1980", "1980-03-05"), ("1980-03-05", "1980-03-05"), ("", ""), ("1980", "1980"), ("x", "")]
SEXES = ["M", "F", "", None, np.nan]
OWNED = ["012345678901", "098765432109"]


@st.composite
def _records(draw):
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        dob, iso = draw(st.sampled_from(DOBS))
        rows.append({"id_kind": draw(st.sampled_from(KINDS)),
                     "id_digits": draw(st.sampled_from(OWNED + ["111111111111", "", "0790"])),
                     "full_name": draw(st.sampled_from(NAMES)), "dob": dob, "dob_r0": iso,
                     "sex_p": draw(st.sampled_from(SEXES))})
    return pd.DataFrame(rows)


@settings(max_examples=200, deadline=None)
@given(_records(), st.data())
def test_unlinked_error_codes_equal_the_record_by_record_codes(rec, data):
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, len(rec) - 1), min_size=1))))
    reg_ids = pd.Index(OWNED)
    got = unlinked_error_codes(rec, rows, reg_ids)
    r = rec.iloc[rows]
    expected = [";".join(sorted(unlinked_codes(k, d, reg_ids) + intrinsic_codes(nm, db, iso, sx)))
                for k, d, nm, db, iso, sx in zip(r["id_kind"], r["id_digits"], r["full_name"], r["dob"], r["dob_r0"],
                                                 r["sex_p"])]
    assert list(got) == expected
    # the records' text handed over as a work file stores it (codes into Arrow tables of their values,
    # a column holding NaN as it is): the frame holds none of it
    stored = StoredText(reg_ids, _stored_columns(rec), StoredColumns({}))
    assert list(unlinked_error_codes(rec[[]], rows, stored)) == expected


def _stored_columns(frame: pd.DataFrame) -> StoredColumns:
    import pyarrow as pa

    cols = {}
    for c in frame.columns:
        values = frame[c].to_numpy(dtype=object)
        if any(isinstance(v, float) for v in values):
            cols[c] = values
            continue
        u = list(dict.fromkeys(values))  # None stays None (pd.factorize would make it NaN)
        k = np.array([u.index(v) for v in values], dtype=np.int32)
        cols[c] = (k, pa.array(u, type=pa.string()))
    return StoredColumns(cols)


def _keys_by_definition(rec: pd.DataFrame) -> list[str]:
    """Union-find over the three keys, the key of a group the first record's id."""
    parent = list(range(len(rec)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in (("name_fold", "dob_r0"), ("name_fold", "phone_n"), ("id_digits", "given")):
        first: dict = {}
        for i, (x, y) in enumerate(zip(rec[a], rec[b])):
            if x and y:
                j = first.setdefault((x, y), i)
                ri, rj = find(i), find(j)
                parent[max(ri, rj)] = min(ri, rj)
    return ["U-" + rec["record_id"].iloc[find(i)] for i in range(len(rec))]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["an", "binh", ""]), st.sampled_from(["1980", "1981", ""]),
                          st.sampled_from(["0901", "0902", ""]), st.sampled_from(["11", "22", ""]),
                          st.sampled_from(["An", "Binh", ""])), min_size=1, max_size=30))
# two keys whose codes would collide if a pair of codes were combined with the wrong width
@example(rows=[("an", "1980", "0901", "11", "An"), ("an", "", "0901", "11", "An"), ("an", "1981", "0901", "11", "An"),
               ("binh", "1980", "0901", "11", "Binh")])
def test_person_keys_of_unlinked_records_are_the_connected_groups(rows):
    rec = pd.DataFrame(rows, columns=["name_fold", "dob_r0", "phone_n", "id_digits", "given"])
    rec["record_id"] = [f"R{i:03d}" for i in range(len(rec))]
    keys = _person_keys(rec, np.full(len(rec), None, dtype=object), np.zeros(len(rec), dtype=bool))
    assert list(keys) == _keys_by_definition(rec)
    # linked records keep their registry person's id
    linked = np.arange(len(rec)) % 2 == 0
    pid = np.array([f"P{i}" for i in range(len(rec))], dtype=object)
    keys = _person_keys(rec, pid, linked)
    assert all(k == p for k, p, ok in zip(keys, pid, linked) if ok)
    assert all(k.startswith("U-") for k, ok in zip(keys, linked) if not ok)


# ------------------------------------------------------------------ "does somebody own this number"
_NUMBERS = st.sampled_from(["", "079123456789", "079123456788", "001234567890", "123456789", "0791234567891"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_NUMBERS, min_size=1, max_size=8), st.lists(_NUMBERS, max_size=12), st.lists(_NUMBERS, max_size=8))
def test_registry_numbers_by_codes_equal_set_membership(person_ids, digits, old_ids):
    from vaxlib.match.classify import RegistryNumbers
    from vaxlib.match.codes import add_codes

    reg = pd.DataFrame({"person_id": pd.Series(person_ids, dtype=object),
                        "old_id": pd.Series((old_ids + [""] * len(person_ids))[:len(person_ids)], dtype=object)})
    rec = pd.DataFrame({"id_number": pd.Series(digits, dtype=object), "id_digits": pd.Series(digits, dtype=object),
                        "id_raw_digits": pd.Series(digits, dtype=object)})
    add_codes(rec, reg, domains=["id"])
    rows = np.arange(len(rec))[::-1]
    want = np.array([bool(d) and d in set(person_ids) for d in rec["id_digits"].to_numpy(dtype=object)[rows]], dtype=bool)
    numbers = RegistryNumbers(reg, rec)
    assert numbers._is_number is not None  # the codes path
    assert (numbers.owned(rec, rows, rec["id_digits"].to_numpy(dtype=object)[rows]) == want).all()
    # frames it was not built for: the text path, same answers
    other = rec.copy()
    assert (numbers.owned(other, rows, other["id_digits"].to_numpy(dtype=object)[rows]) == want).all()
    assert all((d in numbers) == (d in set(person_ids)) for d in digits)


def test_object_text_path_gives_the_same_tables(monkeypatch):
    """The outputs built without pandas' Arrow-backed text (pandas < 3, or its string inference off)
    hold the same values, row for row, as the Arrow path this pandas takes."""
    import vaxlib.match.pipeline as pipeline
    from vaxlib.synth import generate

    tables = generate(persons=400, seed=4)
    assert pipeline._ARROW_TEXT  # the path taken by default here
    arrow = pipeline.run_match(tables["registry"], tables["vaccinations"])
    monkeypatch.setattr(pipeline, "_ARROW_TEXT", False)
    plain = pipeline.run_match(tables["registry"], tables["vaccinations"])
    for a, b in ((arrow.matches, plain.matches), (arrow.candidates, plain.candidates)):
        assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
        for c in a.columns:
            x, y = a[c].to_numpy(dtype=object), b[c].to_numpy(dtype=object)
            same = [(u == v) or (pd.isna(u) and pd.isna(v)) if not isinstance(u, (list, np.ndarray)) else
                    list(u) == list(v) for u, v in zip(x, y)]
            assert all(same), c
    assert plain.matches["status"].isin(["verified", "fix"]).sum() > 100
