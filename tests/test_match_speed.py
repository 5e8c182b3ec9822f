"""The vectorised helpers of the matcher agree with their plain-Python definitions."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.match.compare import (
    _maybe_truncated, _one_edit_matrix, _char_matrix, _token_subset, _token_subset_py, is_truncated,
)

TOKENS = ["nguyen", "van", "thi", "hung", "lan", "anh", "tran", "le"]
names = st.lists(st.sampled_from(TOKENS), min_size=0, max_size=10).map(" ".join)


@pytest.mark.parametrize("a, b, expected", [
    ("nguyen van hung", "nguyen hung", True),       # middle name dropped
    ("nguyen hung", "nguyen van hung", True),       # middle name added
    ("nguyen van hung", "hung van nguyen", False),  # same length: reordered, not a missing part
    ("nguyen thi lan", "nguyen van hung", False),
    ("", "nguyen hung", False),
    ("le le anh", "le anh", False),                 # equal token sets
    ("a b c d e f g h i", "a b c d e f g h", True),  # more than 8 tokens: fallback path
])
def test_token_subset_examples(a, b, expected):
    assert _token_subset(np.array([a], dtype=object), np.array([b], dtype=object))[0] == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(names, names), min_size=1, max_size=30))
def test_token_subset_matches_reference(pairs):
    a = np.array([x for x, _ in pairs], dtype=object)
    b = np.array([y for _, y in pairs], dtype=object)
    assert (_token_subset(a, b) == _token_subset_py(a, b)).all()


digits = st.text(alphabet="0123456789", min_size=0, max_size=14)


@settings(max_examples=300, deadline=None)
@given(digits, digits)
def test_truncation_prefilter_never_drops_a_truncation(typed, full):
    lt, lf = np.array([len(typed)]), np.array([len(full)])
    if is_truncated(typed, full):
        assert _maybe_truncated(lt, lf)[0]


@pytest.mark.parametrize("a, b, sub, trans", [
    ("079123456789", "079123456788", True, False),
    ("079123456789", "079123456798", False, True),
    ("079123456789", "079123456789", False, False),
    ("07912345678", "079123456789", False, False),
    ("1990-03-15", "1990-03-16", True, False),
])
def test_one_edit_matrix(a, b, sub, trans):
    width = 12
    A, la = _char_matrix(np.array([a], dtype=object), width)
    B, lb = _char_matrix(np.array([b], dtype=object), width)
    s, t = _one_edit_matrix(A, la, B, lb, width)
    assert (s[0], t[0]) == (sub, trans)
