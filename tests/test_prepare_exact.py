"""prepare_records' fast paths (reader's codes handed over, per-value tables, Arrow regex
flags) against the row-by-row definition in ``tests/prepare_rowwise.py``."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from prepare_rowwise import prepare_records_rowwise  # noqa: E402


def _harsh(seed: int, persons: int = 400) -> dict:
    from vaxlib import config
    from vaxlib.synth import generate

    return generate(persons=persons, seed=seed, errors=config.PARAMETERS_DIR / "errors-harsh.yaml")


@pytest.mark.parametrize("seed", [3, 22])
def test_prepare_equals_the_row_by_row_definition_on_harsh_data(seed):
    from vaxlib.match.codes import registry_codes
    from vaxlib.match.prepare import prepare_records, prepare_registry

    t = _harsh(seed)
    vac = t["vaccinations"]
    want = prepare_records_rowwise(vac)
    pd.testing.assert_frame_equal(prepare_records(vac), want)
    reg = prepare_registry(t["registry"])
    registry_codes(reg)
    pd.testing.assert_frame_equal(prepare_records(vac, registry=reg), want)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("seed", [3, 22])
def test_reader_codes_handed_to_prepare_give_the_row_by_row_frame(tmp_path, fmt, seed):
    """read_table's coding (with quarantined rows dropped from it) gives the frame prepare
    computes from the table's text, and that frame is the row-by-row one."""
    from vaxlib.io import read_table, write_table
    from vaxlib.match.codes import add_codes, registry_codes
    from vaxlib.match.prepare import TEXT_COLUMNS, prepare_records, prepare_registry

    t = _harsh(seed)
    vac = t["vaccinations"].copy()
    vac.loc[vac.index[::37], "record_id"] = ""  # missing key: quarantined, so the codes are subset
    path = write_table(vac, tmp_path / f"v.{fmt}", "vaccinations", format=fmt)
    res = read_table(path, "vaccinations", codes=TEXT_COLUMNS)
    assert len(res.quarantine) > 0
    assert set(res.codes) == set(TEXT_COLUMNS)
    for c, (codes, values) in res.codes.items():  # the documented relation to the table
        ext = np.append(values, None)
        assert ext[np.where(codes < 0, len(values), codes)].tolist() == res.table[c].tolist(), c
    reg = prepare_registry(t["registry"])
    registry_codes(reg)
    d_fast: dict = {}
    fast = prepare_records(res.table, registry=reg, dicts=d_fast, coded=res.codes)
    pd.testing.assert_frame_equal(fast, prepare_records_rowwise(res.table))
    d_plain: dict = {}
    plain = prepare_records(res.table, registry=reg, dicts=d_plain)
    add_codes(fast, reg, dicts=d_fast)
    add_codes(plain, reg, dicts=d_plain)
    pd.testing.assert_frame_equal(fast, plain)


def test_read_table_returns_no_codes_unless_asked(tmp_path):
    from vaxlib.io import read_table, write_table

    vac = _harsh(3, persons=30)["vaccinations"]
    path = write_table(vac, tmp_path / "v.parquet", "vaccinations", format="parquet")
    assert read_table(path, "vaccinations").codes == {}
    assert set(read_table(path, "vaccinations", codes=["dob"]).codes) == {"dob"}


cells = st.one_of(st.none(), st.sampled_from(["", " ", "079190000001", "79190000001", "0901234567", "84901234567",
                                              "15/03/1990", "1990", "03/15/1990", "Nam", "nữ", "1", "2",
                                              "Nguyễn Văn Hùng", "NGUYEN  van hung", "Lê Thị Hoà", "Lê Thị Hòa",
                                              "7.91234E+10", "079 190 000 001", "B1234567", "không có",
                                              "2022-01-10", "2022-13-40", "x", "０７９１９０００００１"]),
                  st.text(max_size=14))


doses = st.sampled_from([None, "1", "2", "3", "12"])  # read_table's dose_number: digits
days = st.sampled_from([None, "2022-01-10", "2021-12-31", "2024-02-29", "2023-02-29", "10/01/2022"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cells, cells, cells, cells, cells, doses, days), min_size=1, max_size=25), st.data())
def test_prepare_with_any_coding_equals_the_row_by_row_definition(rows, data):
    """Codes with repeated and unused values, and None for missing, as read_table may hand them over."""
    from vaxlib.match.prepare import TEXT_COLUMNS, prepare_records

    cols = ["full_name", "dob", "sex", "id_number", "phone", "dose_number", "vaccination_date"]
    assert tuple(cols) == TEXT_COLUMNS
    vac = pd.DataFrame({c: pd.Series([r[k] for r in rows], dtype=object) for k, c in enumerate(cols)})
    vac.insert(0, "record_id", [f"R{k}" for k in range(len(vac))])
    coded = {}
    for c in cols:
        present = sorted({v for v in vac[c] if v is not None})
        table = present + data.draw(st.lists(st.sampled_from(["zz", "1", None]), max_size=2))
        table = table + table[: data.draw(st.integers(0, len(table)))]  # repeats
        where = {v: [i for i, t in enumerate(table) if t == v] for v in present}
        codes = np.array([-1 if v is None else data.draw(st.sampled_from(where[v])) for v in vac[c]], dtype=np.intp)
        coded[c] = (codes, np.array(table, dtype=object))
    got = prepare_records(vac, coded=coded)
    pd.testing.assert_frame_equal(got, prepare_records_rowwise(vac))


text_like = st.one_of(st.none(), st.text(alphabet=st.sampled_from("0123456789 \n.+-Ee'\u00a0٣０xX"), max_size=14),
                      st.from_regex(r"0[0-9]{11}", fullmatch=True), st.from_regex(r"0[35789][0-9]{8}", fullmatch=True),
                      st.from_regex(r"[0-9]{1,13}", fullmatch=True), st.from_regex(r"(0|7|79|1)[0-3][0-9]{8,9}", fullmatch=True),
                      st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(st.lists(text_like, max_size=20), st.sampled_from([r"0[0-9]{11}", r"[0-9]*",
                                                          r"0(?:3[2-9]|5[25689]|7[06-9]|8[1-9]|9[0-46-9])[0-9]{7}"]))
def test_fullmatch_flags_equal_python_re(values, pattern):
    """Arrow's RE2 flags equal Python's re.fullmatch, also for a trailing newline, non-ASCII digits,
    lone surrogates (the re path) and missing values."""
    from vaxlib.vn.text import fullmatch_flags

    arr = np.array(values + ["\ud800"] * (len(values) % 3 == 0), dtype=object)
    want = [isinstance(v, str) and re.fullmatch(pattern, v) is not None for v in arr]
    assert fullmatch_flags(arr, pattern).tolist() == want


@settings(max_examples=200, deadline=None)
@given(st.lists(text_like, max_size=20))
def test_parse_ids_and_phone_values_equal_the_scalar_parsers(values):
    from vaxlib.vn.ids import parse_id, parse_ids
    from vaxlib.vn.phones import normalise_phone, normalise_phone_values

    got = parse_ids(pd.Series(values, dtype=object))
    for k, v in enumerate(values):
        p = parse_id(v)
        assert (got["kind"][k], got["digits"][k], got["pattern"][k], got["issues"][k]) == \
            (p.kind, p.digits, p.pattern, ";".join(p.issues)), v
    assert normalise_phone_values(np.array(values, dtype=object)).tolist() == [normalise_phone(v) for v in values]


dob_texts = st.one_of(st.from_regex(r"(19|20|18|00|99)[0-9]{2}-[01][0-9]-[0-3][0-9]", fullmatch=True),
                      st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
                      st.sampled_from(["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2022-12-31",
                                       "2023-01-01", "1899-12-31", "1990-13-05", "1990-00-10", "1990-04-31",
                                       " 1990-03-15", "1990-03-15\n", "1990-03-15 10:00", "１９９０-03-15",
                                       "15/03/1990", "", None]),
                      st.from_regex(r"[0-3][0-9][/.-][01][0-9][/.-](18|19|20|21|00|99)[0-9]{2}", fullmatch=True),
                      st.from_regex(r"[0-9]{2}[/.-][0-9]{2}[/.-][0-9]{4}", fullmatch=True),
                      st.sampled_from(["12/03/1985", "03/12/1985", "12/12/1985", "13/03/1985", "03/13/1985",
                                       "13/13/1985", "00/03/1985", "12/00/1985", "31/04/1985", "04/31/1985",
                                       "29/02/2000", "29/02/1900", "02/29/2024", "12/03/1899", "12/03/2022",
                                       "12/03/2023", "12-03-1985", "12.03.1985", "12/03-1985", "12/03/1985 ",
                                       "1/03/1985", "12/3/1985", "02/01/0000", "13/01/0000"]),
                      st.text(alphabet="0123456789-/. ", max_size=11))


@settings(max_examples=300, deadline=None)
@given(st.lists(dob_texts, max_size=20), st.sampled_from([2021, 2022, 1995]))
def test_parse_dobs_equals_parse_typed_dob(values, ref_year):
    """The vectorised plain-ISO path and the per-value parser agree on every field."""
    from vaxlib.vn.dates import parse_dobs, parse_typed_dob

    got = parse_dobs(pd.Series(values, dtype=object), ref_year)
    for k, v in enumerate(values):
        p = parse_typed_dob(v, ref_year)
        want = (p.readings[0] if p.readings else None, p.readings[1] if len(p.readings) > 1 else None,
                p.precision, p.form, p.error)
        assert tuple(got.iloc[k]) == want, v


@pytest.mark.parametrize("typed, canon", [("\x00", ""), (" \x00", ""), ("\x00 ", ""), ("Lê\x00", "lê"),
                                          ("Lê\x00Văn", "lê văn"), ("\x00\x00An", "an")])
def test_a_nul_in_a_name_is_a_space_whichever_way_the_text_arrives(typed, canon):
    """read_table hands over Parquet text with NULs; a numpy str array drops trailing ones.

    Hypothesis found ' \\x00' giving name_canon '' row by row but ' ' from read_table's codes.
    """
    from vaxlib.match.prepare import TEXT_COLUMNS, prepare_records

    vac = pd.DataFrame({c: pd.Series([typed if c == "full_name" else None], dtype=object) for c in TEXT_COLUMNS})
    vac.insert(0, "record_id", ["R0"])
    coded = {c: (np.array([0 if c == "full_name" else -1], dtype=np.intp), np.array([typed], dtype=object))
             for c in TEXT_COLUMNS}
    got = prepare_records(vac, coded=coded)
    assert got["name_canon"].tolist() == [canon]
    pd.testing.assert_frame_equal(got, prepare_records_rowwise(vac))


def test_run_match_takes_a_reader_codes_holder_and_leaves_a_dict_alone(tmp_path, monkeypatch):
    """The reader's codes reach prepare through run_match: a ReaderCodes holder is emptied
    (the run does not keep them), a plain dict is only read, and both match as without codes."""
    from vaxlib.io import read_table, write_table
    from vaxlib.match import pipeline
    from vaxlib.match.pipeline import run_match
    from vaxlib.match.prepare import TEXT_COLUMNS, ReaderCodes

    handed = []
    real = pipeline.prepare_records

    def spy(*args, coded=None, **kw):
        handed.append(sorted(coded or {}))
        return real(*args, coded=coded, **kw)

    monkeypatch.setattr(pipeline, "prepare_records", spy)
    t = _harsh(3, persons=300)
    path = write_table(t["vaccinations"], tmp_path / "v.parquet", "vaccinations", format="parquet")
    res = read_table(path, "vaccinations", codes=TEXT_COLUMNS)
    plain = run_match(t["registry"], res.table).matches
    holder = ReaderCodes(res.codes)
    assert len(holder) == len(TEXT_COLUMNS)
    via_holder = run_match(t["registry"], res.table, coded=holder).matches
    assert len(holder) == 0 and holder.take() == {}
    codes = dict(res.codes)
    via_dict = run_match(t["registry"], res.table, coded=codes).matches
    assert set(codes) == set(TEXT_COLUMNS)
    assert handed == [[], sorted(TEXT_COLUMNS), sorted(TEXT_COLUMNS)]
    pd.testing.assert_frame_equal(via_holder, plain)
    pd.testing.assert_frame_equal(via_dict, plain)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("seed", [3, 22])
def test_reader_codes_handed_to_prepare_registry_give_the_same_frame(tmp_path, fmt, seed):
    """prepare_registry with read_table's coding (quarantined rows dropped from it; missing
    old IDs and sexes among the rows) gives the frame it computes from the table's
    text, and each coding it hands back is its column, row for row, as str."""
    from vaxlib.io import read_table, write_table
    from vaxlib.match.prepare import REGISTRY_TEXT, prepare_registry
    from vaxlib.schema import columns

    reg = _harsh(seed)["registry"].copy()
    reg.loc[reg.index[::41], "person_id"] = ""  # missing key: quarantined, so the codes are subset
    reg.loc[reg.index[1::7], "old_id"] = ""
    reg.loc[reg.index[2::9], "sex"] = ""
    reg.loc[reg.index[3::11], "dob"] = ""  # quarantined (bad_dob)
    reg.loc[reg.index[4::13], "full_name"] = ""
    path = write_table(reg, tmp_path / f"r.{fmt}", "registry", format=fmt)
    res = read_table(path, "registry", codes=tuple(columns("registry")))
    assert len(res.quarantine) > 0
    assert res.table["old_id"].isna().any() and res.table["sex"].isna().any()
    want = prepare_registry(res.table)
    dicts: dict = {}
    got = prepare_registry(res.table, coded=res.codes, dicts=dicts)
    pd.testing.assert_frame_equal(got, want)
    assert set(dicts) >= set(REGISTRY_TEXT) | {"name_canon", "name_fold", "name_sorted", "given", "family"}
    for c, (codes, values) in dicts.items():
        col = np.asarray(values, dtype=object)[codes]
        assert col.tolist() == want[c].tolist(), c
        assert all(type(v) is str for v in col), c
