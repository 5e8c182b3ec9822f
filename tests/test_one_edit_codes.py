"""One edit between two values read by their integer codes (PairFrame.one_edit, the id and dob
one-digit levels): each distinct value's characters once, the pairs compared by code.  Checked
against the plain rule written here, pair by pair, over values of every length around the width."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.match.levels import PairFrame

#: digits and a few other characters (no NUL: numpy's text arrays drop trailing NULs)
_TEXT = st.text(alphabet="0123456789-?Xáđ", min_size=0, max_size=14)


def _rule(a: str, b: str, width: int) -> tuple[bool, bool]:
    """(one substitution, one adjacent transposition) of two values, as the levels define them."""
    if len(a) != len(b) or not a or len(a) > width:
        return False, False
    diff = [j for j in range(len(a)) if a[j] != b[j]]
    if len(diff) == 1:
        return True, False
    swap = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    return False, swap


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=12), st.lists(_TEXT, min_size=1, max_size=12), st.data(),
       st.sampled_from([10, 12]))
def test_one_edit_by_codes_is_the_rule_pair_by_pair(typed, registered, data, width):
    # near values too: typed values with one character changed or two adjacent ones swapped
    for t in list(typed):
        if t:
            j = data.draw(st.integers(0, len(t) - 1))
            registered.append(t[:j] + data.draw(st.sampled_from("0123456789á")) + t[j + 1:])
            if j + 1 < len(t):
                registered.append(t[:j] + t[j + 1] + t[j] + t[j + 2:])
    rec = pd.DataFrame({"id_digits": typed})
    reg = pd.DataFrame({"person_id": registered})
    n = data.draw(st.integers(1, 40))
    r = np.array(data.draw(st.lists(st.integers(0, len(typed) - 1), min_size=n, max_size=n)))
    g = np.array(data.draw(st.lists(st.integers(0, len(registered) - 1), min_size=n, max_size=n)))
    p = PairFrame(rec, reg, r, g)
    i = np.arange(n)
    sub, trans = p.one_edit("id", p.pair_codes("rec", "id_digits", i), p.pair_codes("reg", "person_id", i), width)
    for k in range(n):
        assert (bool(sub[k]), bool(trans[k])) == _rule(typed[r[k]], registered[g[k]], width), \
            (typed[r[k]], registered[g[k]], width)


def test_a_table_of_pairs():
    rows = [("079180001234", "079180001234", (False, False)),  # the same: no edit
            ("079180001235", "079180001234", (True, False)),
            ("079180001243", "079180001234", (False, True)),
            ("079180002143", "079180001234", (False, False)),  # two swaps
            ("07918000123", "079180001234", (False, False)),   # a digit missing: not one edit
            ("", "", (False, False)),
            ("0791800012345", "0791800012346", (False, False)),  # longer than the width
            ("1980-03-05", "1980-03-06", (True, False))]
    rec = pd.DataFrame({"id_digits": [a for a, _, _ in rows]})
    reg = pd.DataFrame({"person_id": [b for _, b, _ in rows]})
    i = np.arange(len(rows))
    p = PairFrame(rec, reg, i, i)
    sub, trans = p.one_edit("id", p.pair_codes("rec", "id_digits", i), p.pair_codes("reg", "person_id", i), 12)
    assert [(bool(s), bool(t)) for s, t in zip(sub, trans)] == [want for _, _, want in rows]
