"""The error taxonomy: every code documented, and codes combined as the contract says.

``shared/spec/data-contract.md`` ("How codes combine"): codes are additive;
``id:malformed`` only for separators, padding or stray characters; a one-digit
change is ``id:typo`` even when it breaks the CCCD structure;
``id:transposition`` is kept when separators are present too; ``dob:format``
joins the semantic dob codes.
"""
from __future__ import annotations

import importlib

import pytest
from hypothesis import given, strategies as st

from vaxlib.match.classify import id_codes
from vaxlib.schema import ERROR_CODE_INFO, ERROR_CODES
from vaxlib.vn.ids import parse_id

PID = "079185012345"  # Hồ Chí Minh, male born 1985
OLD = "023456789"
OTHER = "001190054321"  # somebody else in the register
REGISTRY = {PID, OTHER}


def codes_for(typed, person_id=PID, old_id=OLD):
    p = parse_id(typed)
    raw = "".join(ch for ch in str(typed) if ch.isdigit()) if typed is not None else ""
    return id_codes(typed, p.kind, p.digits or "", p.pattern or "", ";".join(p.issues), person_id, old_id,
                    REGISTRY, raw)


ID_CASES = [
    # as registered
    ("079185012345", ()),
    # form only: separators, padding, the Excel apostrophe, look-alike letters
    ("079 185 012 345", ("id:malformed",)),
    ("079.185.012.345", ("id:malformed",)),
    ("079-185-012-345", ("id:malformed",)),
    ("'079185012345", ("id:malformed",)),
    ("O79185O12345", ("id:malformed",)),  # capital O for zero
    ("079185Ol2345", ("id:malformed",)),  # O and l for 0 and 1
    # one digit substituted, inserted or deleted: a typo, even when the CCCD structure breaks
    ("079185012346", ("id:typo",)),
    ("179185012345", ("id:typo",)),  # no CCCD starts with 1
    ("079985012345", ("id:typo",)),  # century digit 9 does not exist
    ("0791850123455", ("id:typo",)),  # a digit too many
    ("07918501345", ("id:typo",)),  # a digit dropped
    # two adjacent digits swapped, also at the start
    ("079185012354", ("id:transposition",)),
    ("709185012345", ("id:transposition",)),
    # additive: form and digits both wrong
    ("079 185 012 354", ("id:malformed", "id:transposition")),
    ("079.185.012.346", ("id:malformed", "id:typo")),
    ("0791850A2345", ("id:malformed", "id:typo")),  # a letter where a digit was
    ("023 456 789", ("id:malformed", "id:old_cmnd")),
    ("001 190 054 321", ("id:malformed", "id:other_person")),
    ("079 185 999 999", ("id:malformed", "id:unknown")),
    # digits wrong only
    ("023456789", ("id:old_cmnd",)),
    ("001190054321", ("id:other_person",)),
    ("079185999999", ("id:unknown",)),
    ("79185012345", ("id:lost_leading_zero",)),
    ("7.91850E+10", ("id:excel_mangled",)),
    ("C1234567", ("id:passport",)),
    ("", ("id:missing",)),
    ("không có", ("id:missing",)),
    # cut short by several digits: no code but malformed says it
    ("0791850123", ("id:malformed",)),
]


@pytest.mark.parametrize("typed, codes", ID_CASES)
def test_id_codes_combine_as_the_contract_says(typed, codes):
    assert codes_for(typed) == codes


def test_a_dropped_zero_is_a_typo_not_a_lost_zero_and_a_swap():
    # 04184223524 reads as 004184223524 (Cao Bằng, a lost leading zero) two digits off
    # 040184223524 (Nghệ An); as typed it is that number with one 0 dropped
    assert codes_for("04184223524", person_id="040184223524") == ("id:typo",)


@given(st.integers(0, 11), st.integers(1, 9))
def test_any_one_digit_substitution_is_a_typo(pos, shift):
    d = PID[:pos] + str((int(PID[pos]) + shift) % 10) + PID[pos + 1:]
    assert codes_for(d) == ("id:typo",)
    spaced = " ".join(d[i:i + 3] for i in range(0, 12, 3))
    assert codes_for(spaced) == ("id:malformed", "id:typo")


@given(st.integers(0, 10))
def test_any_adjacent_swap_is_a_transposition_with_or_without_separators(pos):
    d = PID[:pos] + PID[pos + 1] + PID[pos] + PID[pos + 2:]
    if d == PID:
        return
    assert codes_for(d) == ("id:transposition",)
    assert codes_for(".".join(d[i:i + 3] for i in range(0, 12, 3))) == ("id:malformed", "id:transposition")


def test_every_code_has_a_meaning_and_an_emitter_that_exists():
    assert tuple(ERROR_CODE_INFO) == ERROR_CODES
    for code, (meaning, emitter) in ERROR_CODE_INFO.items():
        assert meaning and "\n" not in meaning and len(meaning) < 200, code
        module, _, name = emitter.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), emitter
