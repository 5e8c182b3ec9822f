"""Table-driven tests of the comparison levels (one case per level and field)."""
import numpy as np
import pandas as pd
import pytest

from vaxlib.match.compare import LEVELS, compare_pairs, level_name
from vaxlib.match.prepare import prepare_records, prepare_registry

REG = {"person_id": "079180001234", "full_name": "Nguyễn Thị Thủy", "dob": "1980-03-05", "sex": "F",
       "old_id": "023456789", "province_code": "79"}
TYPED = {"record_id": "R1", "full_name": "Nguyễn Thị Thủy", "dob": "1980-03-05", "sex": "Nữ",
         "id_number": "079180001234", "phone": ""}


def _levels(typed: dict, reg: dict | None = None) -> dict[str, str]:
    rec = prepare_records(pd.DataFrame([{**TYPED, **typed}]))
    g = prepare_registry(pd.DataFrame([{**REG, **(reg or {})}]))
    lv = compare_pairs(rec, g, pd.DataFrame({"rec": [0], "reg": [0]}))
    return {f: level_name(f, int(lv[f].iloc[0])) for f in LEVELS}


@pytest.mark.parametrize("typed_name, register_name, expected", [
    ("Nguyễn Thị Thủy", None, "exact"),
    ("nguyễn  thị THỦY", None, "canonical"),
    ("Nguyễn Thị Thuỷ", None, "tone_placement"),
    ("Nguyen Thi Thuy", None, "folded"),
    ("Nguyễn Thị Thúy", None, "folded"),  # wrong tone mark: same skeleton
    ("Thủy Nguyễn Thị", None, "reordered"),
    ("Nguyễn Thị Ngọc Thủy", None, "missing_part"),
    ("Nguyễn Thj Thủy", None, "typo"),
    ("Nguyễn Thị Thủyyyy", None, "similar"),
    ("Trần Văn Bình", None, "different"),
    ("", None, "null"),
    ("Nguyễn Thủy", None, "missing_part"),
    ("Nguyễn Thị Hòa", "Nguyễn Thị Hoà", "tone_placement"),
])
def test_name_levels(typed_name, register_name, expected):
    reg = {"full_name": register_name} if register_name else None
    assert _levels({"full_name": typed_name}, reg)["name"] == expected


@pytest.mark.parametrize("typed, register, expected", [
    ("1980-03-05", "1980-03-05", "exact"),
    ("05/03/1980", "1980-03-05", "same_date"),
    ("5-3-1980", "1980-03-05", "same_date"),
    ("03/05/1980", "1980-03-05", "same_date"),  # ambiguous: the mm/dd reading agrees
    ("1980-05-03", "1980-03-05", "day_month_swap"),
    ("1980", "1980-03-05", "partial"),
    ("05/03/1980", "1980-03", "partial"),
    ("01/01/1980", "1980-03-05", "default_0101"),
    ("1980-03-15", "1980-03-05", "one_digit"),
    ("1908-03-05", "1980-03-05", "one_digit"),
    ("1980-11-25", "1980-03-05", "same_year"),
    ("1975-11-25", "1980-03-05", "different"),
    ("", "1980-03-05", "null"),
    ("không rõ", "1980-03-05", "null"),
])
def test_dob_levels(typed, register, expected):
    assert _levels({"dob": typed}, {"dob": register})["dob"] == expected


@pytest.mark.parametrize("typed, expected", [
    ("079180001234", "exact"),
    ("079 180 001 234", "same_digits"),
    ("79180001234", "same_digits"),  # lost leading zero
    ("023456789", "old_id"),
    ("7.91800E+10", "excel_compatible"),
    ("079180001235", "one_edit"),
    ("079180002134", "transposition"),
    ("7.91800E+10", "excel_compatible"),
    ("07918000", "truncated"),
    ("07918001234", "truncated"),  # one digit dropped (not the leading zero)
    ("001180005678", "other_consistent"),  # a real-looking CCCD of a woman born 1980: someone else's
    ("001190005678", "different"),  # born 1990 per its digits: does not fit this record
    ("", "null"),
    ("B1234567", "null"),  # a passport cannot be compared with a CCCD
])
def test_id_levels(typed, expected):
    assert _levels({"id_number": typed})["id"] == expected


def test_cmnd_without_known_old_id_is_not_evidence():
    assert _levels({"id_number": "023456789"}, {"old_id": ""})["id"] == "null"


@pytest.mark.parametrize("typed, expected", [
    ("Nữ", "same"), ("F", "same"), ("0", "same"), ("nu", "same"),
    ("Nam", "different"), ("1", "different"), ("", "null"),
])
def test_sex_levels(typed, expected):
    assert _levels({"sex": typed})["sex"] == expected


# ------------------------------------------------- the record's own dose history
def _history_world():
    """Registry person 0 (Lê Văn Tám) has doses 1 and 2 anchored through his ID.
    Records 2-4 are an ID-less namesake's doses 1, 2, 3 with his own phone;
    record 5 is Tám's own ID-less dose 3 with Tám's phone."""
    reg = prepare_registry(pd.DataFrame([
        dict(person_id="001080000001", full_name="Lê Văn Tám", dob="1980-01-01", sex="M", old_id="",
             province_code="01")]))
    rows = [
        ("R0", "001080000001", "0912000001", 1, "2021-07-01"),
        ("R1", "001080000001", "0912000001", 2, "2021-09-01"),
        ("N1", "", "0988000002", 1, "2021-08-01"),
        ("N2", "", "0988000002", 2, "2021-10-01"),
        ("N3", "", "0988000002", 3, "2022-02-01"),
        ("T3", "", "0912000001", 3, "2022-01-15"),
    ]
    rec = prepare_records(pd.DataFrame([
        dict(record_id=r, full_name="Lê Văn Tám", dob="1980-01-01", sex="Nam", id_number=i, phone=ph,
             dose_number=d, vaccination_date=vd) for r, i, ph, d, vd in rows]))
    anchors = pd.DataFrame({"rec": [0, 1], "reg": [0, 0]})
    pairs = pd.DataFrame({"rec": [2, 3, 4, 5], "reg": [0, 0, 0, 0]})
    return rec, pairs, anchors


@pytest.mark.parametrize("pair, own_conflict, group_conflict", [
    (0, True, True),    # namesake's dose 1: clashes with Tám's dose 1 on its own
    (1, True, True),    # dose 2 likewise
    (2, False, True),   # dose 3 fits Tám's gap alone, not with the rest of its history
    (3, False, False),  # Tám's own dose 3: no clash
])
def test_dose_conflict_of_the_records_own_history(pair, own_conflict, group_conflict):
    from vaxlib.match.compare import history_levels, own_group_dose_conflict
    rec, pairs, anchors = _history_world()
    own = history_levels(rec, pairs, anchors)["dose"].to_numpy() == LEVELS["dose"].index("conflict")
    group = own_group_dose_conflict(rec, pairs, anchors, np.ones(len(pairs), dtype=bool))
    assert bool(own[pair]) is own_conflict
    assert bool(group[pair] or own[pair]) is group_conflict


def test_own_history_is_skipped_when_a_group_member_is_anchored_to_the_candidate():
    from vaxlib.match.compare import own_group_dose_conflict
    rec, pairs, anchors = _history_world()
    # a duplicate entry of Tám's dose 1 two months later, with his phone: the group holds R0 itself
    anchors2 = pd.concat([anchors, pd.DataFrame({"rec": [5], "reg": [0]})], ignore_index=True)
    got = own_group_dose_conflict(rec, pairs.iloc[[3]].reset_index(drop=True), anchors2, np.array([True]))
    assert not got[0]


def test_only_selected_pairs_get_the_group_history():
    from vaxlib.match.compare import own_group_dose_conflict
    rec, pairs, anchors = _history_world()
    got = own_group_dose_conflict(rec, pairs, anchors, np.array([False, False, False, False]))
    assert not got.any()


def test_comparison_levels_are_whole_objects():
    """Each level carries its name, kernel, words in both languages and taxonomy codes in one object."""
    import unicodedata

    from vaxlib.match.compare import COMPARISONS, LEVELS
    from vaxlib.match.explain import LEVEL_LABELS
    from vaxlib.schema import ERROR_CODES

    for c in COMPARISONS:
        assert LEVELS[c.field] == c.names
        for k, lvl in enumerate(c.levels):
            assert set(lvl.codes) <= set(ERROR_CODES), (c.field, lvl.name)
            assert lvl.vi and lvl.en and unicodedata.is_normalized("NFC", lvl.vi)
            assert LEVEL_LABELS["vi"][c.field][lvl.name] == lvl.vi
            assert LEVEL_LABELS["en"][c.field][lvl.name] == lvl.en
            if c.null is not None:  # a pairwise cascade: every level but the last has a kernel
                assert (lvl.condition is None) == (k == len(c.levels) - 1), (c.field, lvl.name)
    assert [c.field for c in COMPARISONS if c.null is None] == ["phone", "dose"]


def test_a_comparison_cascade_takes_the_first_level_that_holds():
    from vaxlib.match.levels import Comparison, ComparisonLevel, PairFrame

    rec = pd.DataFrame({"x": ["a", "b", "", "c"]})
    reg = pd.DataFrame({"x": ["a", "B", "z", "c"]})
    calls = []

    def lower(p, i):
        calls.append(list(i))
        return np.char.lower(p.col("rec", "x")[i].astype(str)) == np.char.lower(p.col("reg", "x")[i].astype(str))

    c = Comparison("x", "x", "x", null=lambda p: p.empty("rec", "x"), levels=(
        ComparisonLevel("exact", "giống", "same", lambda p, i: p.col("rec", "x")[i] == p.col("reg", "x")[i]),
        ComparisonLevel("case", "hoa thường", "case", lower),
        ComparisonLevel("different", "khác", "different"),
    ))
    p = PairFrame(rec, reg, np.array([0, 1, 2, 3, 1]), np.array([0, 1, 2, 2, 0]))
    assert c.evaluate(p).tolist() == [0, 1, -1, 2, 2]
    assert calls == [[1, 3, 4]]  # the second kernel sees only what the first left
