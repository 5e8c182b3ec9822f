"""``vax feedback``'s candidate pool: the register persons a report could be linked to.

A person is a candidate when they share a blocking key of the matcher with a
report (or own a typed number, or, for a report without a usable number, have
its folded name and birth year +-1).  The pool does not grow with the register
for a fixed set of reports, it is the same read whole or in parts, and the
link's answers are those of the whole register (issue #13: at 10M the old rule
"same date of birth as any report" kept 96.6 % of the register).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaxlib.feedback import candidate_keys, candidate_mask, candidate_reasons, link_feedback

#: the register of the table-driven cases (person_id, full name, dob, former CMND)
PEOPLE = [
    ("079090001234", "Nguyễn Thị Thuỷ", "1990-05-17", "025123456"),
    ("001085004321", "Trần Văn Hùng", "1985-11-02", None),
    ("079210005678", "Lê Minh Khang", "2010-09-02", None),       # a child
    ("048088001111", "Phạm Quốc Bảo", "1988-03-07", None),
    ("031075002222", "Võ Thị Lan", "1975-12-25", None),
    ("079090009999", "Đặng Văn Tú", "1990-05-17", None),         # born the same day as Thuỷ, another name
    ("001060003333", "Hoàng Minh Đức", "1960-01-01", None),
]
REGISTER = pd.DataFrame(PEOPLE, columns=["person_id", "full_name", "dob", "old_id"]).assign(
    sex="", province_code="79")


def _report(name="", dob="", number=None):
    return pd.DataFrame({"feedback_id": ["PA1"], "full_name": [name], "dob": [dob], "id_number": [number]})


def _kept(report: pd.DataFrame, register: pd.DataFrame = REGISTER) -> dict[str, set[str]]:
    """person_id -> the reasons it is kept, for the kept persons only."""
    r = candidate_reasons(report, register)
    return {pid: {c for c in r.columns if r.at[i, c]} for i, pid in zip(r.index, register["person_id"])
            if r.loc[i].any()}


# (case, report, {person kept: the reasons it is kept for (a subset of them)}); nobody else is kept
CASES = [
    ("exact number", _report("Nguyễn Thị Thuỷ", "17/05/1990", "079090001234"),
     {"079090001234": {"id", "number", "name_dob"}}),
    ("former CMND typed", _report("Nguyen Thi Thuy", "17/05/1990", "025123456"),
     {"079090001234": {"old_id", "number", "name_dob"}}),
    ("one digit of the CCCD wrong, name misspelt beyond blocking", _report("Ngyen Thuy", "", "079090001235"),
     {"079090001234": {"id_pair_mask"}}),
    ("no number: name without diacritics and dob", _report("Tran Van Hung", "02/11/1985"),
     {"001085004321": {"name_dob", "name_year", "name_year_nearby"}}),
    ("day and month swapped", _report("Phạm Quốc Bảo", "03/07/1988", "000000000000"),
     {"048088001111": {"name_dob_swap", "name_year"}}),
    ("a day off: name and year", _report("Võ Thị Lan", "24/12/1975", "0"),
     {"031075002222": {"name_year", "name_year_nearby"}}),
    ("year a digit off: name, month and day", _report("Hoàng Minh Đức", "01/01/1961", "123456789"),
     {"001060003333": {"name_monthday", "name_year_nearby"}}),
    ("names in another order", _report("Thị Lan Võ", "01/06/1975", "079175002299"),
     {"031075002222": {"sorted_year"}}),
    ("given name misspelt: family name and dob", _report("Phạm Quốc Bả", "07/03/1988", "048088001119"),
     {"048088001111": {"family_dob"}}),
    # the old rule kept Đặng Văn Tú (born the same day as the report's dob); he shares no key with it
    ("same dob, another person", _report("Nguyễn Thị Thuỷ", "17/05/1990", "079090001234"),
     {"079090001234": {"id"}}),
    ("a name nobody has, a dob many have", _report("Bùi Xuân Phái", "17/05/1990", "079090005555"), {}),
    ("a parent writing with their own details", _report("Trần Văn Hùng", "02/11/1985", "001085004321"),
     {"001085004321": {"id"}}),
]


@pytest.mark.parametrize("case,report,expected", CASES, ids=[c[0] for c in CASES])
def test_who_is_kept_and_why(case, report, expected):
    kept = _kept(report)
    assert set(kept) == set(expected), case
    for pid, reasons in expected.items():
        assert reasons <= kept[pid], (case, pid, kept[pid])


def test_a_parent_writing_for_a_child_reaches_the_child_through_the_named_child():
    """The report carries the parent's details; the child's name and dob (read from the message) are
    looked up as one more report (what :func:`vaxlib.feedback._narrowed_inputs` adds)."""
    parent = _report("Trần Văn Hùng", "02/11/1985", "001085004321")
    assert "079210005678" not in _kept(parent)
    child = pd.DataFrame({"full_name": ["Lê Minh Khang"], "dob": ["02/09/2010"], "id_number": [None]})
    both = pd.concat([parent[["full_name", "dob", "id_number"]], child], ignore_index=True)
    kept = _kept(both)
    assert {"name_dob", "name_year_nearby"} <= kept["079210005678"] and "001085004321" in kept


def _namesakes(n: int) -> pd.DataFrame:
    """``n`` persons named Nguyễn Văn An, born in 1990 on different days (one name + year block)."""
    days = pd.date_range("1990-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    return pd.DataFrame({"person_id": [f"0790999{i:05d}" for i in range(n)], "full_name": "Nguyễn Văn An",
                         "dob": days, "old_id": None, "sex": "M", "province_code": "79"})


@pytest.mark.parametrize("n,kept_of_block", [(100, 100), (101, 101), (160, 101)])
def test_a_block_under_the_cap_is_kept_whole_and_one_over_it_stays_over_it(n, kept_of_block):
    """``n`` namesakes share the report's name + year key.  Up to the matcher's cap (100) the block is
    kept whole; above it the matcher skips the block, and the pool keeps the first 101 of its rows, so
    the matcher skips it there too (with one row fewer it would pair the report with all 100)."""
    from vaxlib.match.blocking import candidate_pairs
    from vaxlib.match.prepare import prepare_records, prepare_registry

    register = pd.concat([REGISTER, _namesakes(n)], ignore_index=True)
    report = _report("Nguyen Van An", "15/08/1990", "079088888888")  # a day none of them was born
    kept = _kept(report, register)
    block = [p for p in register["person_id"] if p.startswith("0790999")]
    assert [p for p in block if p in kept] == block[:kept_of_block]  # the first ones, in register order
    assert all({"name_year", "sorted_year"} <= kept[p] for p in block[:kept_of_block])
    # family + given name + year is capped at 20 (rule_max_block): its first 21 rows carry that reason
    assert [p for p in block if "famgiven_year" in kept.get(p, ())] == block[:21]
    rec = prepare_records(report.rename(columns={"feedback_id": "record_id"}))

    def pairs(reg: pd.DataFrame) -> int:
        return len(candidate_pairs(rec, prepare_registry(reg), rules=("name_year",), max_block=100))
    pool = register[candidate_mask(report, register).to_numpy()]
    assert pairs(pool) == pairs(register) == (n if n <= 100 else 0)
    if n > 100:
        assert pairs(pool.iloc[1:]) == 100  # why cap + 1 rows are kept


@pytest.mark.parametrize("crowd", [6000, 24000])
def test_the_pool_does_not_grow_with_the_register(crowd):
    """The same reports against a register with ``crowd`` more persons, every one born on a day a report
    names (the old rule "same date of birth as any report" kept them all): the persons kept for a
    blocking key are at most (keys the reports hold) x (cap + 1), whatever the register's size."""
    from vaxlib.match.blocking import TEXT_RULES
    from vaxlib.match.pipeline import MatchSettings
    from vaxlib.synth import generate

    t = generate(1500, 4, provinces=["79"])
    reg, fb = t["registry"], t["feedback"]
    more = generate(crowd, 5, provinces=["01"])["registry"]
    iso = pd.to_datetime(fb["dob"].dropna().astype(str), format="%d/%m/%Y", errors="coerce").dropna()
    more = more.assign(dob=np.resize(iso.dt.strftime("%Y-%m-%d").to_numpy(dtype=object), len(more)))
    big = pd.concat([reg, more[~more["person_id"].isin(reg["person_id"])]], ignore_index=True)
    s = MatchSettings(max_block=5, rule_max_block={})
    keys = candidate_keys(fb, s)
    why = candidate_reasons(fb, big, keys)
    by_rule = why[list(TEXT_RULES)].any(axis=1)
    bound = sum(len(keys["rules"][r][0]) * keys["limit"][r] for r in TEXT_RULES)
    assert 0 < by_rule.sum() <= bound < 0.2 * crowd
    old_rule = big["dob"].isin(set(iso.dt.strftime("%Y-%m-%d")))
    assert old_rule.sum() >= crowd and why.any(axis=1).sum() < 0.2 * old_rule.sum()


def kids_named_in(fb: pd.DataFrame) -> pd.DataFrame:
    """The children named in reports written for a child or relative, as reports of their own."""
    from vaxlib.complaints.understand import child_named, read_message

    kids = []
    for m in fb["message"]:
        named = child_named(m) if read_message(str(m) if isinstance(m, str) else "").subject in (
            "child", "relative") else None
        if named:
            kids.append({"feedback_id": f"K{len(kids)}", "full_name": named[0], "dob": named[1] or None,
                         "id_number": None, "sex": None, "phone": None})
    return pd.DataFrame(kids)


@pytest.fixture(scope="module")
def synthetic():
    from vaxlib.match.pipeline import run_match
    from vaxlib.synth import generate

    t = generate(6000, 11, provinces=["79", "01", "48"])
    model = run_match(t["registry"], t["vaccinations"]).model  # the register's own match
    fb = t["feedback"]
    return t, model, fb, kids_named_in(fb)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=6), seed=st.integers(0, 2**16),
       cap=st.sampled_from([1, 2, 100]))
def test_the_mask_on_parts_is_the_mask_on_the_whole(synthetic, cuts, seed, cap):
    """Parts cut anywhere, tested in order with one keys object, keep the rows the whole register keeps
    (``cap`` 1 and 2: many blocks over the cap, whose first rows are counted across the parts)."""
    from vaxlib.match.pipeline import MatchSettings

    t, _, fb, _ = synthetic
    rng = np.random.default_rng(seed)
    # 1 400 register persons and 100 namesakes of one more report, in a random order: blocks over the
    # cap (famgiven_year's 20 for every cap) whose rows lie in several parts
    reg = pd.concat([t["registry"].iloc[rng.permutation(len(t["registry"]))[:1400]], _namesakes(100)])
    reg = reg.iloc[rng.permutation(len(reg))].reset_index(drop=True)
    fb = pd.concat([fb, _report("Nguyen Van An", "15/08/1990", "079088888888")], ignore_index=True)
    s = MatchSettings(max_block=cap)
    whole = candidate_mask(fb, reg, candidate_keys(fb, s))
    keys = candidate_keys(fb, s)
    bounds = sorted({0, len(reg), *[c % (len(reg) + 1) for c in cuts]})
    parts = pd.concat([candidate_mask(fb, reg.iloc[a:b], keys) for a, b in zip(bounds, bounds[1:])])
    pd.testing.assert_series_equal(parts, whole)
    assert whole.any() and not whole.all()


@pytest.mark.slow
def test_the_link_gives_the_whole_registers_answers(synthetic):
    """With the register's own model, linking against the pool gives every report (and every named child)
    the answer the whole register gives: status, person, probability, error codes."""
    t, model, fb, kids = synthetic
    reg = t["registry"]
    for reports in (fb, kids):
        pool = link_feedback(reports, reg, model=model, prefilter=True)
        whole = link_feedback(reports, reg, model=model, prefilter=False)
        pd.testing.assert_frame_equal(pool, whole, check_exact=True)
    assert candidate_mask(fb, reg).mean() < 0.2
    linked = link_feedback(fb, reg, model=model, prefilter=True)
    assert linked["person_id"].notna().sum() > 0.5 * len(fb) and linked["link_status"].eq("review").any()


def test_the_match_model_is_read_back_as_it_was_fitted(synthetic, tmp_path):
    """``match/model.json`` -> the same model (every float, the namesake cells, rho per kind)."""
    from vaxlib.feedback import read_model

    import dataclasses

    _, fitted, _, _ = synthetic
    model = dataclasses.replace(fitted, namesake={(1, 0): 0.25, (0, 2): 0.5})  # cells of a larger register
    model.save(tmp_path / "model.json")
    back = read_model(tmp_path / "model.json")
    assert back.to_dict() == model.to_dict() and back.namesake == model.namesake
    assert read_model(tmp_path / "none.json") is None
