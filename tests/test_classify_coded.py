"""classify_links on the frames' integer codes (the path ``run_match`` takes) against the per-link
rules it stands for: compare_names / compare_dob per link, id_codes per link, the sex rule, and the
corrected_* values (the registry's where the record's text differs, NaN elsewhere).  Also against
the text path (frames without comparable codes), column for column, types included.

Records are drawn from pools of the errors the taxonomy names: Vietnamese names with and without
tone marks, tone placement, case, decomposed Unicode, reordered or missing words; dates with day
and month swapped, another format, a year only, 01/01, one digit off; IDs with transposed digits,
one digit off, a lost leading zero, separators, an old CMND, another person's number.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.match import classify
from vaxlib.match.classify import RegistryNumbers, classify_links, id_codes
from vaxlib.match.codes import add_codes
from vaxlib.vn.dates import compare_dob
from vaxlib.vn.ids import parse_id
from vaxlib.vn.names import compare_names

#: registry persons: (person_id, full_name, dob, sex, old_id)
PERSONS = [
    ("079180001234", "Nguyễn Văn An", "1980-03-05", "M", "123456789"),
    ("001195004321", "Trần Thị Thủy", "1995-12-01", "F", ""),
    ("048201000077", "Lê Hoàng Minh Châu", "2001-01-01", "F", ""),
    ("079190005555", "Phạm Quốc Bảo", "1990-07-14", "M", "987654321"),
    ("036185002468", "Đỗ Thị Hòa", "1985-04-23", "F", ""),
]
NAMES = ["Nguyễn Văn An", "Nguyen Van An", "NGUYỄN VĂN AN", "nguyễn  văn an", "Văn An Nguyễn", "Nguyễn An",
         "Nguyễn Văn Ấn", unicodedata.normalize("NFD", "Nguyễn Văn An"), "Trần Thị Thủy", "Trần Thị Thuỷ",
         "Tran Thi Thuy", "Trần Thuỷ", "Lê Hoàng Minh Châu", "Le Hoang Minh Chau", "Lê Minh Châu", "Phạm Quốc Bảo",
         "Pham Quoc Bao", "Phạm Quốc Bão", "Đỗ Thị Hòa", "Đỗ Thị Hoà", "Do Thi Hoa", "Dỗ Thị Hòa", "", "An"]
DOBS = ["1980-03-05", "05/03/1980", "03/05/1980", "1980-05-03", "1980", "03/1980", "1980-01-01", "1908-03-05",
        "1995-12-01", "01/12/1995", "12/01/1995", "1995-21-01", "2001-01-01", "1990-07-14", "14/07/90",
        "1985-04-23", "23.04.1985", "", "abc"]
IDS = ["079180001234", "079180001243", "079180001235", "79180001234", "079 180 001 234", "123456789",
       "001195004321", "001195004312", "1195004321", "048201000077", "07918000123", "0791800012345",
       "079190005555", "036185002468", "O79180001234", "7.9180001234E+10", "", "999999999999", "12345"]
SEXES = ["M", "F", "", "m"]


def _frames(rows: list[tuple[str, str, str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    reg = pd.DataFrame(PERSONS, columns=["person_id", "full_name", "dob", "sex", "old_id"]).astype(object)
    parsed = [parse_id(t) for _, _, t, _ in rows]
    rec = pd.DataFrame({
        "full_name": [r[0] for r in rows], "dob": [r[1] for r in rows], "id_number": [r[2] for r in rows],
        "sex_p": [r[3].upper() for r in rows],
        "id_kind": [p.kind or "" for p in parsed], "id_digits": [p.digits or "" for p in parsed],
        "id_issues": [";".join(p.issues) for p in parsed],
        "id_raw_digits": [re.sub(r"[^0-9]", "", r[2]) for r in rows]}).astype(object)
    add_codes(rec, reg, domains=["full_name", "dob", "sex", "id"])
    return rec, reg


def _per_link(rec: pd.DataFrame, reg: pd.DataFrame, i: int, g: int) -> dict:
    """The rules of one link, from its text alone."""
    r, p = rec.iloc[i], reg.iloc[g]
    codes: set[str] = set()
    if r["full_name"] != p["full_name"]:
        codes |= set(compare_names(r["full_name"], p["full_name"]) if r["full_name"] else ("name:missing_part",))
    if r["dob"] != p["dob"]:
        codes |= set(compare_dob(r["dob"], p["dob"]) if r["dob"] else ("dob:other",))
    codes |= set(id_codes(r["id_number"], r["id_kind"], r["id_digits"], "", r["id_issues"], p["person_id"],
                          p["old_id"], set(reg["person_id"]), r["id_raw_digits"]))
    if not r["sex_p"]:
        codes.add("sex:missing")
    elif r["sex_p"] != p["sex"]:
        codes.add("sex:mismatch")
    out = {"error_codes": ";".join(sorted(c for c in codes if c))}
    for c, a, b in (("corrected_full_name", "full_name", "full_name"), ("corrected_dob", "dob", "dob"),
                    ("corrected_sex", "sex_p", "sex"), ("corrected_id_number", "id_number", "person_id")):
        out[c] = p[b] if r[a] != p[b] else None
    return out


def _same(u, v) -> bool:
    missing = lambda x: x is None or (isinstance(x, float) and np.isnan(x))  # noqa: E731
    return (missing(u) and missing(v)) or (not missing(u) and not missing(v) and u == v)


_ROW = st.tuples(st.sampled_from(NAMES), st.sampled_from(DOBS), st.sampled_from(IDS), st.sampled_from(SEXES))


@settings(max_examples=150, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=30), st.data())
def test_coded_classification_equals_the_per_link_rules(rows, data):
    rec, reg = _frames(rows)
    n_links = data.draw(st.integers(1, 2 * len(rows)))
    rec_idx = np.array(data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=n_links, max_size=n_links)))
    reg_idx = np.array(data.draw(st.lists(st.integers(0, len(PERSONS) - 1), min_size=n_links, max_size=n_links)))
    numbers = RegistryNumbers(reg, rec)
    assert numbers.coded_with(rec, reg)
    got = classify._classify_links_coded(rec, reg, rec_idx, reg_idx, numbers)
    assert got is not None  # the codes path was taken
    pd.testing.assert_frame_equal(got, classify_links(rec, reg, rec_idx, reg_idx, numbers))
    for k, (i, g) in enumerate(zip(rec_idx, reg_idx)):
        want = _per_link(rec, reg, int(i), int(g))
        for c, v in want.items():
            assert _same(got[c].iloc[k], v), (c, rec.iloc[i].to_dict(), reg.iloc[g].to_dict(), got[c].iloc[k], v)
    # the text path (frames it cannot trust the codes of) gives the very same table, types included
    text = classify._classify_links_text(rec, reg, rec_idx, reg_idx, numbers)
    pd.testing.assert_frame_equal(got, text)
    for c in got.columns:
        assert [type(v) for v in got[c]] == [type(v) for v in text[c]], c


def test_frames_coded_apart_take_the_text_path():
    """Codes of frames not coded together are not comparable: the text path decides."""
    rec, reg = _frames([("Nguyễn Văn An", "05/03/1980", "079180001243", "M"), ("Trần Thị Thuỷ", "1995-12-01", "", "")])
    other = rec.copy()
    numbers = RegistryNumbers(reg, rec)
    assert not numbers.coded_with(other, reg)
    rec_idx, reg_idx = np.array([0, 1]), np.array([0, 1])
    got = classify_links(other, reg, rec_idx, reg_idx, numbers)
    assert got["error_codes"].tolist() == ["dob:format;id:transposition", "id:missing;name:tone_placement;sex:missing"]
    pd.testing.assert_frame_equal(got, classify_links(rec, reg, rec_idx, reg_idx, numbers))


@pytest.mark.parametrize("typed, registry, code", [
    (("Nguyen Van An", "1980-03-05", "079180001234", "M"), 0, "name:no_diacritics"),
    (("Nguyễn Văn An", "1980-05-03", "079180001234", "M"), 0, "dob:day_month_swap"),
    (("Nguyễn Văn An", "03/05/1980", "079180001234", "M"), 0, "dob:day_month_swap;dob:format"),
    (("Nguyễn Văn An", "1980-03-05", "079180001243", "M"), 0, "id:transposition"),
    (("Nguyễn Văn An", "1980-03-05", "123456789", "M"), 0, "id:old_cmnd"),
    (("Trần Thị Thuỷ", "1995-12-01", "001195004321", "F"), 1, "name:tone_placement"),
])
def test_a_table_of_single_errors(typed, registry, code):
    rec, reg = _frames([typed])
    got = classify_links(rec, reg, np.array([0]), np.array([registry]), RegistryNumbers(reg, rec))
    assert got["error_codes"].iloc[0] == code


# ------------------------------------------------------------------ the stored text (dask finish task)
def _stored(frame: pd.DataFrame, data) -> classify.StoredColumns:
    """``frame``'s columns as a work file keeps them: codes into an Arrow table of values in a drawn
    order, each value there once or twice (pieces concatenated), a row taking either copy; or the
    column itself (plain)."""
    import pyarrow as pa

    cols = {}
    for c in frame.columns:
        values = frame[c].to_numpy(dtype=object)
        if data.draw(st.booleans(), label=f"{c} plain"):
            cols[c] = values
            continue
        uniq = list(dict.fromkeys(values))
        table = uniq + [v for v in uniq if data.draw(st.booleans(), label=f"{c} twice")]
        order = data.draw(st.permutations(range(len(table))), label=f"{c} order")
        table = [table[k] for k in order]
        at = {v: [k for k, u in enumerate(table) if u == v] for v in uniq}
        codes = np.array([data.draw(st.sampled_from(at[v])) for v in values], dtype=np.int32)
        cols[c] = (codes, pa.array(table, type=pa.string()))
    return classify.StoredColumns(cols)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=30), st.data())
def test_stored_text_classification_equals_the_text_path_and_the_per_link_rules(rows, data):
    """classify_links with the records' and persons' text handed over as work files store it (codes
    into Arrow tables holding values twice, in any order) gives the text path's table, types
    included, and each link's rules."""
    rec, reg = _frames(rows)
    # a sex not typed at all (None: Arrow's null; the text path does not take None names or dates)
    for i in data.draw(st.sets(st.integers(0, len(rows) - 1), max_size=2), label="sex None"):
        rec.loc[i, "sex_p"] = None
    n_links = data.draw(st.integers(1, 2 * len(rows)))
    rec_idx = np.array(data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=n_links, max_size=n_links)))
    reg_idx = np.array(data.draw(st.lists(st.integers(0, len(PERSONS) - 1), min_size=n_links, max_size=n_links)))
    ids = pd.Index(reg["person_id"])
    text = classify._classify_links_text(rec, reg, rec_idx, reg_idx, ids)
    stored = classify.StoredText(ids, _stored(rec.drop(columns=[c for c in rec if c.startswith("_c_")]), data),
                                 _stored(reg.drop(columns=[c for c in reg if c.startswith("_c_")]), data))
    # the frames hold no text: only the stored columns can be read
    got = classify_links(rec[[]], reg[[]], rec_idx, reg_idx, stored)
    pd.testing.assert_frame_equal(got, text)
    for c in got.columns:
        assert [type(v) for v in got[c]] == [type(v) for v in text[c]], c
    for k, (i, g) in enumerate(zip(rec_idx, reg_idx)):
        for c, v in _per_link(rec, reg, int(i), int(g)).items():
            assert _same(got[c].iloc[k], v), (c, rec.iloc[i].to_dict(), reg.iloc[g].to_dict(), got[c].iloc[k], v)


@pytest.mark.parametrize("typed, registry, code", [
    # Vietnamese names in both tone conventions, swapped day and month, one-edit IDs, a missing sex
    (("Trần Thị Thuỷ", "1995-12-01", "001195004321", "F"), 1, "name:tone_placement"),
    (("Đỗ Thị Hoà", "1985-04-23", "036185002468", "F"), 4, "name:tone_placement"),
    (("Do Thi Hoa", "23/04/1985", "036185002468", "F"), 4, "dob:format;name:no_diacritics"),
    (("Nguyễn Văn An", "1980-05-03", "079180001234", "M"), 0, "dob:day_month_swap"),
    (("Nguyễn Văn An", "1980-03-05", "079180001235", "M"), 0, "id:typo"),
    (("Nguyễn Văn An", "1980-03-05", "079180001243", ""), 0, "id:transposition;sex:missing"),
    (("Nguyễn Văn An", "1980-03-05", "001195004321", "F"), 0, "id:other_person;sex:mismatch"),
    (("", "", "", "M"), 0, "dob:other;id:missing;name:missing_part"),
])
def test_a_table_of_single_errors_from_stored_text(typed, registry, code):
    import pyarrow as pa

    rec, reg = _frames([typed, ("Phạm Quốc Bảo", "1990-07-14", "079190005555", "M")])

    def arrow(frame):  # each column's distinct values, the rows coded into them (as the work files keep them)
        out = {}
        for c in frame.columns:
            if c.startswith("_c_"):
                continue
            k, u = pd.factorize(frame[c].to_numpy(dtype=object))
            out[c] = (k.astype(np.int32), pa.array(list(u), type=pa.string()))
        return classify.StoredColumns(out)

    stored = classify.StoredText(pd.Index(reg["person_id"]), arrow(rec), arrow(reg))
    got = classify_links(rec[[]], reg[[]], np.array([0, 1]), np.array([registry, 3]), stored)
    assert got["error_codes"].tolist() == [code, ""]
    assert got["corrected_full_name"].iloc[1] is None or pd.isna(got["corrected_full_name"].iloc[1])
