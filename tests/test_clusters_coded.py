"""Mismatch clusters and error codes counted on integer codes (vaxlib.review.clusters' coded records),
against a plain-Python oracle written from the definitions."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.review.clusters import (
    MISMATCH_STATUSES,
    explode_error_codes,
    find_clusters,
    group_codes,
    split_codes,
)

CODES = ["dob:format", "name:typo", "id:missing", "sex:missing", "dob:day_month_swap"]
STATUSES = ["fix", "review", "unmatched", "verified", "invalid", None]
#: error_codes cells: one code, several (any order, repeated, spaced), empty, missing
CELLS = st.one_of(
    st.none(), st.just(""), st.just(" ; "),
    st.lists(st.sampled_from(CODES), max_size=3).map(";".join),
    st.lists(st.sampled_from(CODES), min_size=1, max_size=3).map(lambda c: " ; ".join(c + c[:1]) + ";"),
)
DATES = st.sampled_from(["2021-10-05", "2021-11-30", "2022-01-02", "05/10/2021", "", None, "2021-1"])


@st.composite
def tables(draw):
    n = draw(st.integers(0, 30))
    rows = []
    for i in range(n):
        rows.append(dict(record_id=f"R{i}", status=draw(st.sampled_from(STATUSES)), error_codes=draw(CELLS),
                         person_id="P", match_probability=0.5))
    m = pd.DataFrame(rows, columns=["record_id", "status", "error_codes", "person_id", "match_probability"])
    # vaccinations: some records missing, others in another order, facilities with or without a code
    kept = [r for r in range(n) if draw(st.booleans()) or r % 3]
    kept = draw(st.permutations(kept))
    v = pd.DataFrame({
        "record_id": [f"R{i}" for i in kept],
        "facility_id": [draw(st.sampled_from(["CS-79-0001", "CS-01-0002", "", None])) for _ in kept],
        "facility_province": [draw(st.sampled_from(["79", "01", "", None])) for _ in kept],
        "vaccination_date": [draw(DATES) for _ in kept],
    }, dtype=object)
    return v, m


def _oracle(v: pd.DataFrame, m: pd.DataFrame, dims: tuple[str, ...], min_size: int):
    """Code clusters by their definition: each mismatch record counts once under each of its codes
    ("none" without one), keyed by the dimensions kept; largest first, ties by text."""
    text = lambda x: "" if x is None or (isinstance(x, float) and x != x) else str(x)  # noqa: E731
    vac = {r["record_id"]: r for r in v.to_dict("records")}
    counts: dict[tuple, Counter] = {}
    exploded = []
    for r in m.to_dict("records"):
        if r["status"] not in MISMATCH_STATUSES:
            continue
        w = vac.get(r["record_id"], {})
        date = text(w.get("vaccination_date"))
        period = date[:7] if len(date) >= 7 and date[:4].isdigit() and date[4] == "-" and date[5:7].isdigit() \
            else ""
        place = {"facility_id": text(w.get("facility_id")), "facility_province": text(w.get("facility_province")),
                 "period": period}
        for code in split_codes(r["error_codes"]) or ("none",):
            exploded.append((r["record_id"], r["status"], code, *place.values()))
            key = (code, place["facility_province"] if "province" in dims else "*",
                   place["facility_id"] if "facility" in dims else "*", place["period"] if "period" in dims else "*")
            counts.setdefault(key, Counter())[r["status"]] += 1
    rows = [(k, c) for k, c in counts.items() if sum(c.values()) >= min_size]
    rows.sort(key=lambda kc: (-sum(kc[1].values()), *kc[0]))
    return [(*k, c["fix"], c["review"], c["unmatched"], sum(c.values()), i + 1) for i, (k, c) in enumerate(rows)], \
        exploded


@settings(max_examples=150, deadline=None)
@given(tm=tables(), dims=st.sampled_from([(), ("facility",), ("province", "period"),
                                          ("facility", "province", "period")]),
       min_size=st.integers(1, 3))
def test_code_clusters_and_exploded_codes_by_their_definition(tm, dims, min_size):
    v, m = tm
    want, exploded = _oracle(v, m, dims, min_size)
    got = find_clusters(v, m, kinds=("code",), dims=dims, min_size=min_size)
    cols = ["pattern", "facility_province", "facility_id", "period", "n_fix", "n_review", "n_unmatched",
            "n_records", "rank"]
    assert [tuple(r) for r in got[cols].itertuples(index=False)] == want
    assert (got["kind"] == "code").all()
    ex = explode_error_codes(v, m)
    assert [tuple(r) for r in ex[["record_id", "status", "code", "facility_id", "facility_province",
                                  "period"]].itertuples(index=False)] == exploded
    assert list(ex["field"]) == [c.split(":")[0] if ":" in c else "none" for c in ex["code"]]


@pytest.mark.parametrize("radix", [3, 2**21, 2**40])
def test_group_codes_numbers_groups_in_key_order(radix):
    """Distinct key combinations in lexicographic order, by a counting table (small key space) or a sort
    (large): the same groups either way."""
    rng = np.random.default_rng(radix % 97)
    a = rng.integers(0, 3, 500)
    b = rng.integers(0, 3, 500) * (radix // 3)
    group, (ga, gb) = group_codes([(a, 3), (b, radix)])
    pairs = sorted(set(zip(a.tolist(), b.tolist())))
    assert list(zip(ga.tolist(), gb.tolist())) == pairs
    assert [pairs[g] for g in group] == list(zip(a.tolist(), b.tolist()))


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "", "dd"])), max_size=20),
       value_set=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "", "e"])), max_size=20),
       chunk=st.integers(1, 5))
def test_lookups_by_chunks_of_the_value_set_are_one_lookup(values, value_set, chunk):
    """index_in/is_in hash the value set a few values at a time: the same answer as one whole lookup
    (first position of a repeated value; missing text as "")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from vaxlib.review.clusters import index_in, is_in

    text = lambda xs: pa.array(["" if x is None else x for x in xs], pa.large_string())  # noqa: E731
    whole = pc.index_in(text(values), value_set=text(value_set)).fill_null(-1).to_numpy(zero_copy_only=False)
    got = index_in(pa.array(values, pa.string()), pa.array(value_set, pa.string()), chunk=chunk)
    assert got.tolist() == whole.tolist()
    assert is_in(pa.array(values, pa.string()), pa.array(value_set, pa.string()), chunk=chunk).tolist() == \
        (whole >= 0).tolist()
