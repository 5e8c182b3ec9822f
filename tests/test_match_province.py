"""Province of residence as comparison evidence, and a record joining its own dose history's link
(issue 16 item 6)."""
import numpy as np
import pandas as pd
import pytest

from vaxlib.match.compare import LEVELS, compare_pairs
from vaxlib.match.levels import PairFrame
from vaxlib.match.own_history import own_history_links
from vaxlib.match.province import PROVINCE, province_codes


@pytest.mark.parametrize("typed, code", [
    ("79", "79"), (" 79 ", "79"), ("7", "07"), ("01", "01"), (79, "79"), ("", ""), (None, ""), (np.nan, ""),
    ("079", ""), ("HCM", ""), ("7a", ""),
])
def test_typed_province_codes_are_made_comparable(typed, code):
    assert province_codes([typed])[0] == code


# (record's typed province, facility's province, register's province) -> level
CASES = [
    ("79", "79", "79", "same"),
    ("79", "01", "79", "same"),      # vaccinated away from home, residence typed right
    ("7", "48", "07", "same"),       # a lone digit is the zero-padded code
    ("", "79", "79", "facility"),    # residence not typed; the facility is in the register's province
    ("01", "79", "79", "facility"),  # residence typed otherwise, facility in the register's province
    ("01", "01", "79", "different"),
    ("", "01", "79", "different"),
    ("", "", "79", "null"),          # the record says nothing
    ("79", "79", "", "null"),        # the register knows no province
]


@pytest.mark.parametrize("typed, facility, register, level", CASES)
def test_province_levels(typed, facility, register, level):
    rec = pd.DataFrame({"province_code": [typed], "facility_province": [facility]})
    reg = pd.DataFrame({"province_code": [register]})
    got = PROVINCE.evaluate(PairFrame(rec, reg, np.array([0]), np.array([0])))[0]
    assert (LEVELS["province"][got] if got >= 0 else "null") == level


def test_records_without_province_columns_compare_as_null():
    from vaxlib.match.prepare import prepare_records, prepare_registry

    rec = prepare_records(pd.DataFrame({"record_id": ["r"], "full_name": ["An"], "dob": ["2000-01-01"]}))
    reg = prepare_registry(pd.DataFrame({"person_id": ["079200000001"], "full_name": ["An"],
                                         "dob": ["2000-01-01"], "sex": ["M"], "province_code": ["79"]}))
    levels = compare_pairs(rec, reg, pd.DataFrame({"rec": [0], "reg": [0]}))
    assert levels["province"].tolist() == [-1]


# --------------------------------------------------------------------------- own dose history
def _records(names, phones, kinds=None, digits=None):
    n = len(names)
    return pd.DataFrame({"name_fold": names, "phone_n": phones,
                         "id_kind": kinds or [""] * n, "id_digits": digits or [""] * n})


def test_a_review_record_joins_the_link_of_its_own_dose_history():
    rec = _records(["nguyen an", "nguyen an", "nguyen an", "le binh"], ["0901", "0901", "0902", "0901"])
    status = np.array(["fix", "review", "review", "review"], dtype=object)
    best = np.array([5, 5, 5, 5])
    p = np.array([0.999, 0.95, 0.95, 0.95])
    promote, inherited = own_history_links(rec, status, best, p, np.zeros(4, bool))
    # same name and phone: joins; another phone or another name: not the same person's history
    assert promote.tolist() == [False, True, False, False]
    assert inherited[1] == pytest.approx(0.999) and inherited[2] == pytest.approx(0.95)


@pytest.mark.parametrize("case, status, best, conflict, joins", [
    ("group links to the same person", ["verified", "fix", "review"], [5, 5, 5], [0, 0, 0], True),
    ("group links to two persons", ["fix", "fix", "review"], [5, 6, 5], [0, 0, 0], False),
    ("record's best is another person", ["fix", "fix", "review"], [5, 5, 7], [0, 0, 0], False),
    ("dose slot taken on another date", ["fix", "fix", "review"], [5, 5, 5], [0, 0, 1], False),
    ("nothing linked automatically", ["review", "review", "review"], [5, 5, 5], [0, 0, 0], False),
    ("unmatched records stay unmatched", ["fix", "fix", "unmatched"], [5, 5, 5], [0, 0, 0], False),
])
def test_own_history_rules(case, status, best, conflict, joins):
    rec = _records(["tran c"] * 3, ["0903"] * 3)
    promote, _ = own_history_links(rec, np.array(status, dtype=object), np.array(best), np.full(3, 0.999),
                                   np.array(conflict, bool))
    assert promote[2] == joins, case


def test_records_giving_one_passport_number_are_one_persons():
    rec = _records(["mary kim", "kim mary", "mary kim", "nguyen d"], ["", "", "", ""],
                   kinds=["passport"] * 4, digits=["C1234567", "C1234567", "C1234567", "C7654321"])
    status = np.array(["fix", "review", "unmatched", "review"], dtype=object)
    promote, inherited = own_history_links(rec, status, np.array([3, 3, 3, 3]), np.array([0.995, 0.9, 0.3, 0.9]),
                                           np.zeros(4, bool))
    # one document: even the record the model left unmatched joins (its best candidate is the group's person)
    assert promote.tolist() == [False, True, True, False]
    assert inherited[2] == pytest.approx(0.995)


def test_a_shared_phone_does_not_lend_a_link_to_an_unmatched_record():
    rec = _records(["tran c", "tran c"], ["0903", "0903"])
    promote, _ = own_history_links(rec, np.array(["fix", "unmatched"], dtype=object), np.array([5, 5]),
                                   np.array([0.999, 0.3]), np.zeros(2, bool))
    assert not promote[1]
