"""The vectorised helpers of the matcher agree with their plain-Python definitions."""
import pandas as pd
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


# --------------------------------------------------------------------------- partitions
def _small_frames():
    import pandas as pd

    from vaxlib.match.prepare import prepare_records, prepare_registry

    registry = pd.DataFrame({
        "person_id": ["079190000001", "079190000002", "001185000003", "001185000004"],
        "full_name": ["Nguyễn Văn Hùng", "Nguyễn Thị Lan", "Trần Văn Hùng", "Lê Thị Hoà"],
        "dob": ["1990-03-15", "1990-03-15", "1985-07-01", "1985-07-01"],
        "sex": ["M", "F", "M", "F"],
        "old_id": ["", "", "", ""],
        "province_code": ["79", "79", "01", "01"],
    })
    vacc = pd.DataFrame({
        "record_id": [f"R{k}" for k in range(8)],
        "full_name": ["Nguyen Van Hung", "Nguyễn Thị Lan", "Trần Hùng", "Lê Thị Hòa", "Nguyễn Văn Hưng",
                      "Tran Van Hung", "Le Thi Hoa", "Nguyễn Thị Lan"],
        "dob": ["15/03/1990", "15/03/1990", "01/07/1985", "1985", "15/03/1990", "07/01/1985", "01/07/1985",
                "03/15/1990"],
        "sex": ["Nam", "Nữ", "Nam", "Nữ", "", "Nam", "Nữ", "Nữ"],
        "id_number": ["079190000001", "", "001185000003", "001185000040", "079190000010", "", "", "079190000002"],
        "phone": ["0901234567"] * 8,
        "dose_number": ["1"] * 8,
        "vaccination_date": ["2022-01-10"] * 8,
    })
    return prepare_records(vacc), prepare_registry(registry)


@pytest.mark.parametrize("workers", [2, 3])
def test_partitioned_comparison_equals_single_process(workers):
    from vaxlib.match.blocking import candidate_pairs
    from vaxlib.match.compare import compare_pairs
    from vaxlib.match.pipeline import candidates_partitioned, compare_partitioned

    rec, reg = _small_frames()
    pairs = candidate_pairs(rec, reg)
    assert len(pairs) > 4
    split = candidates_partitioned(rec, reg, workers=workers)
    assert split.equals(pairs)
    one = compare_pairs(rec, reg, pairs)
    many = compare_partitioned(rec, reg, pairs, workers=workers, min_pairs=0)
    assert many.equals(one)
    # with a run's FrameCache (filled before the workers fork), and the rules sharing it
    from vaxlib.match.levels import FrameCache

    cache = FrameCache(rec, reg)
    assert candidates_partitioned(rec, reg, workers=workers, cache=cache).equals(pairs)
    assert compare_partitioned(rec, reg, pairs, workers=workers, min_pairs=0, cache=cache).equals(one)
    assert cache.values


@pytest.mark.parametrize("workers", [2, 3])
def test_partitioned_classification_equals_single_process(workers):
    from vaxlib.match.classify import classify_links
    from vaxlib.match.pipeline import classify_partitioned
    from vaxlib.match.prepare import prepare_records, prepare_registry
    from vaxlib.synth import generate

    tables = generate(persons=500, seed=8)
    truth = tables["truth_vaccinations"]
    rec, reg = prepare_records(tables["vaccinations"]), prepare_registry(tables["registry"])
    reg_pos = pd.Series(np.arange(len(reg)), index=reg["person_id"])
    linked = truth["person_id"].notna().to_numpy()
    rec_idx = np.flatnonzero(linked)
    reg_idx = reg_pos.loc[truth["person_id"][linked]].to_numpy()
    ids = pd.Index(reg["person_id"])
    one = classify_links(rec, reg, rec_idx, reg_idx, ids)
    many = classify_partitioned(rec, reg, rec_idx, reg_idx, ids, workers=workers, min_links=0)
    assert (one["error_codes"] != "").sum() > 50  # the sample has errors to classify
    pd.testing.assert_frame_equal(many, one)


def test_rank_within_equals_stable_pandas_sort():
    import pandas as pd

    from vaxlib.match.pipeline import _rank_within

    rng = np.random.default_rng(4)
    rec = rng.integers(0, 50, 2000)
    weight = rng.integers(-5, 5, 2000).astype(float)  # many ties
    df = pd.DataFrame({"rec": rec, "w": weight}).sort_values(["rec", "w"], ascending=[True, False], kind="stable")
    expected_rank = (df.groupby("rec").cumcount() + 1).to_numpy()
    order, rank = _rank_within(rec, weight)
    assert (order == df.index.to_numpy()).all()
    assert (rank == expected_rank).all()


def _history_reference(rec, pairs, anchors):
    """The plain pandas-join definition of the dose-history levels."""
    import pandas as pd

    n = len(pairs)
    phone = np.full(n, -1, dtype=np.int8)
    dose = np.full(n, -1, dtype=np.int8)
    ph = rec["phone_n"].to_numpy(dtype=object)
    dn, vd = rec["dose_n"].to_numpy(), rec["vdate"].to_numpy()
    a = pd.DataFrame({"reg": anchors["reg"].to_numpy(), "arec": anchors["rec"].to_numpy()})
    p = pd.DataFrame({"pair": np.arange(n), "rec": pairs["rec"].to_numpy(), "reg": pairs["reg"].to_numpy()})
    m = p.merge(a, on="reg", how="inner")
    m = m[m["rec"].to_numpy() != m["arec"].to_numpy()]
    for _, row in m.groupby("pair"):
        k = int(row["pair"].iloc[0])
        rr, aa = row["rec"].to_numpy(), row["arec"].to_numpy()
        okp = (ph[rr] != "") & (ph[aa] != "")
        if okp.any():
            phone[k] = 0 if (ph[rr][okp] == ph[aa][okp]).any() else 1
        okd = (dn[rr] > 0) & (dn[aa] > 0) & (vd[rr] >= 0) & (vd[aa] >= 0)
        if okd.any():
            clash = (dn[rr][okd] == dn[aa][okd]) & (np.abs(vd[rr][okd] - vd[aa][okd]) > 14)
            dose[k] = 1 if clash.any() else 0
    return phone, dose


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_history_levels_equal_the_join_definition(seed):
    import pandas as pd

    from vaxlib.match.compare import history_levels

    rng = np.random.default_rng(seed)
    n_rec, n_reg = 40, 12
    rec = pd.DataFrame({
        "phone_n": pd.Series(rng.choice(["", "0901", "0902", "0903"], n_rec), dtype=object),
        "dose_n": rng.integers(0, 3, n_rec).astype(np.int16),
        "vdate": rng.choice([-1, 19000, 19010, 19040, 19100], n_rec).astype(np.int32),
    })
    pairs = pd.DataFrame({"rec": rng.integers(0, n_rec, 60), "reg": rng.integers(0, n_reg, 60)})
    anchors = pd.DataFrame({"rec": rng.choice(n_rec, 25, replace=False), "reg": rng.integers(0, n_reg, 25)})
    got = history_levels(rec, pairs, anchors)
    phone, dose = _history_reference(rec, pairs, anchors)
    assert (got["phone"].to_numpy() == phone).all()
    assert (got["dose"].to_numpy() == dose).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=15), min_size=1, max_size=5))
def test_combine_pairs_equals_dedupe_and_group(rule_lists):
    import pandas as pd

    from vaxlib.match.blocking import combine_pairs

    found = [pd.DataFrame({"rec": np.array([a for a, _ in pl], dtype=np.int64),
                           "reg": np.array([b for _, b in pl], dtype=np.int64),
                           "rule_bit": np.int32(1 << k)}) for k, pl in enumerate(rule_lists)]
    allpairs = pd.concat(found, ignore_index=True).drop_duplicates(["rec", "reg", "rule_bit"])
    expected = allpairs.groupby(["rec", "reg"], sort=False)["rule_bit"].sum().reset_index()
    got = combine_pairs(found)
    assert got["rec"].tolist() == expected["rec"].tolist()
    assert got["reg"].tolist() == expected["reg"].tolist()
    assert got["rules"].tolist() == expected["rule_bit"].tolist()


@pytest.mark.parametrize("keys, expected", [
    (["", "a|1990", "0"], [False, True, True]),        # text keys: only "" is empty
    ([0, 17, 3], [False, True, True]),                 # integer keys: 0 is empty
])
def test_nonempty_keys(keys, expected):
    import pandas as pd

    from vaxlib.match.blocking import nonempty_keys as _nonempty

    s = pd.Series(keys, dtype=object if isinstance(keys[0], str) else np.int64)
    assert _nonempty(s).tolist() == expected
    if isinstance(keys[0], str):
        assert _nonempty(s.astype("str")).tolist() == expected


def test_name_columns_computed_once_for_both_tables_equal_the_separate_ones():
    from vaxlib.match.prepare import prepare_both, prepare_records, prepare_registry
    from vaxlib.synth import generate

    tables = generate(persons=600, seed=4)
    reg, rec = prepare_both(tables["registry"], tables["vaccinations"])
    pd.testing.assert_frame_equal(reg, prepare_registry(tables["registry"]))
    pd.testing.assert_frame_equal(rec, prepare_records(tables["vaccinations"]))


def _components_reference(n, groups):
    """Plain union-find: each item's component as its smallest member."""
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for codes in groups:
        first = {}
        for i, c in enumerate(codes):
            if c < 0:
                continue
            if c in first:
                a, b = find(i), find(first[c])
                parent[max(a, b)] = min(a, b)
            else:
                first[c] = i
    return [find(i) for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.lists(st.integers(-1, 8), min_size=n, max_size=n), min_size=1, max_size=3))))
def test_person_key_components_match_union_find(case):
    from vaxlib.match.pipeline import _components

    n, groups = case
    got = _components(n, [np.array(g, dtype=np.int64) for g in groups])
    assert got.tolist() == _components_reference(n, groups)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="0123456789", min_size=10, max_size=13) | st.sampled_from(
           ["079190001234", "001305012345", "07918000123x", "٠٧٩١٩٠٠٠١٢٣٤", ""]),
       st.integers(-1, 2300) | st.sampled_from([1990, 2005, 1899, 1930]),
       st.sampled_from(["M", "F", "", "X"])), min_size=1, max_size=20))
def test_id_fits_record_array_equals_the_plain_definition(rows):
    from vaxlib.match.compare import id_fits_record, id_fits_record_array

    digits = np.array([d for d, _, _ in rows], dtype=object)
    year = np.array([y for _, y, _ in rows])
    sex = np.array([x for _, _, x in rows], dtype=object)
    expected = [id_fits_record(d, y, x) for d, y, x in rows]
    assert id_fits_record_array(digits, year, sex).tolist() == expected


@pytest.mark.parametrize("seed", [3, 12])
def test_integer_blocking_keys_give_the_pairs_of_the_text_keys(seed):
    """Every rule's integer keys (shared codes, vaxlib.match.codes) propose exactly the pairs its
    text keys ``part|part`` propose, in the same order, on records full of typing errors; also
    with the registry's keys taken from an index and with the frames' own code columns."""
    from vaxlib import config
    from vaxlib.match.blocking import TEXT_RULES, _join, _rules, registry_key_codes, rule_pairs
    from vaxlib.match.codes import add_codes, registry_codes
    from vaxlib.match.prepare import prepare_records, prepare_registry
    from vaxlib.synth import generate

    t = generate(persons=300, seed=seed, errors=config.PARAMETERS_DIR / "errors-harsh.yaml")
    rec, reg = prepare_records(t["vaccinations"]), prepare_registry(t["registry"])
    rest = rec.iloc[::2]  # a subset of the records keeps its positions
    coded_rec, coded_reg = rec.copy(), reg.copy()
    registry_codes(coded_reg)
    keys = registry_key_codes(coded_reg)
    add_codes(coded_rec, coded_reg)
    for name in TEXT_RULES:
        rk, gk = _rules()[name]
        want = _join(rk(rest), gk(reg), max_block=5)
        assert len(want) > 0 or name in ("old_id", "name_dob_r1"), name
        for got in (rule_pairs(rest, reg, name, max_block=5),
                    rule_pairs(coded_rec.iloc[::2], coded_reg, name, max_block=5, keys=keys)):
            assert got[["rec", "reg"]].reset_index(drop=True).equals(want.reset_index(drop=True)), name


@pytest.mark.parametrize("seed", [3, 12])
def test_hashed_blocking_keys_give_the_pairs_of_the_integer_keys_on_any_cut_of_the_frames(seed):
    """The dask engine's keys (blocking.hashed_rule_keys, computed in each partition on its own)
    propose exactly the pairs of the local engine's integer keys, block caps included, on records
    full of typing errors; a registry cut in two gives the same keys as the whole."""
    from vaxlib import config
    from vaxlib.match.blocking import TEXT_RULES, _keyed_join, hashed_rule_keys, rule_pairs
    from vaxlib.match.distributed import _key_codes
    from vaxlib.match.prepare import prepare_records, prepare_registry
    from vaxlib.synth import generate

    t = generate(persons=300, seed=seed, errors=config.PARAMETERS_DIR / "errors-harsh.yaml")
    rec, reg = prepare_records(t["vaccinations"]), prepare_registry(t["registry"])
    rest = rec.iloc[::2]
    rmemo, gmemo = {}, {}  # the engine hashes each text part once for all the rules of a frame
    for name in TEXT_RULES:
        want = rule_pairs(rest, reg, name, max_block=5)[["rec", "reg"]]
        r_ok, ra, rb = hashed_rule_keys(rest, "rec", name)
        g_ok, ga, gb = hashed_rule_keys(reg, "reg", name)
        for got, plain in ((hashed_rule_keys(rest, "rec", name, rmemo), (r_ok, ra, rb)),
                           (hashed_rule_keys(reg, "reg", name, gmemo), (g_ok, ga, gb))):
            assert all(np.array_equal(a, b) for a, b in zip(got, plain)), name
        halves = [hashed_rule_keys(reg.iloc[:150], "reg", name), hashed_rule_keys(reg.iloc[150:], "reg", name)]
        for k, whole in enumerate((g_ok, ga, gb)):
            assert np.array_equal(np.concatenate([h[k] for h in halves]), whole), name
        rb, gb = rb.astype(np.uint32), gb.astype(np.uint32)  # as the engine sends them
        codes = _key_codes(np.concatenate([ga[g_ok], ra[r_ok]]), np.concatenate([gb[g_ok], rb[r_ok]]))
        n_g = int(g_ok.sum())
        got = _keyed_join(codes[n_g:], rest.index.to_numpy()[r_ok], codes[:n_g], np.flatnonzero(g_ok), 5)
        key = lambda df: sorted(zip(df["rec"].tolist(), df["reg"].tolist()))  # noqa: E731
        assert len(want) > 0 or name in ("old_id", "name_dob_r1"), name
        assert key(got) == key(want), name


def test_key_codes_tell_apart_keys_that_share_their_first_64_bits():
    """Two keys with the same first chain and different second chains (a 64-bit collision) get
    different codes; equal keys share one."""
    from vaxlib.match.distributed import _key_codes

    a = np.array([7, 7, 9, 7], dtype=np.uint64)
    b = np.array([1, 2, 5, 1], dtype=np.uint32)
    codes = _key_codes(a, b)
    assert codes[0] == codes[3] and len({codes[0], codes[1], codes[2]}) == 3
    assert len(set(_key_codes(a, np.ones(4, dtype=np.uint32)).tolist())) == 2


texts = st.lists(st.sampled_from(["", "a", "b", "Nguyễn", "nguyen", "Nguyê\u0303n", "079180001234", "\ud800"]),
                 max_size=12)


@settings(max_examples=150, deadline=None)
@given(texts, texts, texts)
def test_shared_codes_are_equal_exactly_when_the_texts_are(registry, typed, other):
    """Record and registry values get one code exactly when the strings are equal, on the Arrow
    path and on the fallback for text Arrow cannot hold (a lone surrogate)."""
    from vaxlib.match.codes import domain_codes

    n = max(len(registry), 1)
    reg = pd.DataFrame({"dob": pd.Series((registry + [""] * n)[:n], dtype=object)})
    m = max(len(typed), len(other), 1)
    rec = pd.DataFrame({"dob": pd.Series((typed + [""] * m)[:m], dtype=object),
                        "dob_r0": pd.Series((other + [""] * m)[:m], dtype=object)})
    codes = domain_codes(rec, reg, "dob")
    values = [(side, c, v) for (side, c), arr in codes.items() for v in zip(arr, (rec if side == "rec" else reg)[c])]
    for _, _, (ca, va) in values:
        for _, _, (cb, vb) in values:
            assert (ca == cb) == (va == vb)
    assert (codes[("reg", "dob")] < len(set(reg["dob"]))).all()


def _as_dict_column(values: list[str], data) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as (codes, per-code values) with repeated and unused entries, as prepare makes them."""
    table = sorted(set(values)) + data.draw(st.lists(st.sampled_from(["a", "zz", "Nguyễn", ""]), max_size=3))
    table = table + table[: data.draw(st.integers(0, len(table)))]  # a value may appear twice
    where = {v: [i for i, t in enumerate(table) if t == v] for v in set(values)}
    codes = np.array([data.draw(st.sampled_from(where[v])) for v in values], dtype=np.int64)
    return codes, np.array(table, dtype=object)


@settings(max_examples=150, deadline=None)
@given(texts, texts, texts, st.data())
def test_codes_from_per_value_tables_equal_the_codes_from_rows(registry, typed, other, data):
    """add_codes given (codes, values) tables numbers exactly as it does from the rows: the same
    code for every row, registry values by the registry's number, the others in order of first
    appearance along the concatenated columns (blocking keys and tie-breaks depend on it)."""
    from vaxlib.match.codes import domain_codes

    n = max(len(registry), 1)
    reg = pd.DataFrame({"dob": pd.Series((registry + [""] * n)[:n], dtype=object)})
    m = max(len(typed), len(other), 1)
    cols = {"dob": (typed + [""] * m)[:m], "dob_r0": (other + [""] * m)[:m]}
    rec = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in cols.items()})
    dicts = {c: _as_dict_column(v, data) for c, v in cols.items()}
    for c, (codes, table) in dicts.items():
        assert table[codes].tolist() == cols[c]
    # the registry code of some values handed over (as prepare does for names the index holds)
    reg_code = {v: i for i, v in enumerate(pd.unique(reg["dob"].to_numpy(dtype=object)))}
    for c, (codes, table) in list(dicts.items()):
        if data.draw(st.booleans()):
            hint = [reg_code[v] if v in reg_code and data.draw(st.booleans()) else -1 for v in table]
            dicts[c] = (codes, table, np.array(hint, dtype=np.int64))
    from_rows = domain_codes(rec, reg, "dob")
    from_tables = domain_codes(rec, reg, "dob", dicts)
    assert from_rows.keys() == from_tables.keys()
    for key in from_rows:
        assert from_rows[key].tolist() == from_tables[key].tolist(), key


@pytest.mark.parametrize("seed", [3, 22])
def test_prepare_with_a_registry_and_tables_equals_the_row_by_row_definition(seed):
    """prepare_records computing each column once per distinct value (names reused from the
    registry, codes from the tables) gives the frame of the row-by-row path, codes included."""
    from vaxlib import config
    from vaxlib.match.codes import add_codes, registry_codes
    from vaxlib.match.prepare import name_columns, prepare_records, prepare_registry
    from vaxlib.synth import generate

    t = generate(persons=400, seed=seed, errors=config.PARAMETERS_DIR / "errors-harsh.yaml")
    reg = prepare_registry(t["registry"])
    registry_codes(reg)
    vac = t["vaccinations"]
    rows = prepare_records(vac, names=name_columns(vac["full_name"].fillna("").astype(str)))
    add_codes(rows, reg)
    dicts: dict = {}
    fast = prepare_records(vac, registry=reg, dicts=dicts)
    add_codes(fast, reg, dicts=dicts)
    assert {"full_name", "name_fold", "dob_r1", "id_digits", "sex_p"} <= dicts.keys()
    assert len(dicts["name_fold"]) == 3  # the registry codes of the names it holds are handed on
    pd.testing.assert_frame_equal(fast, rows)
    # and both are the row-by-row definition (tests/prepare_rowwise.py), code columns aside
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from prepare_rowwise import prepare_records_rowwise

    pd.testing.assert_frame_equal(fast[[c for c in fast.columns if not c.startswith("_c_")]],
                                  prepare_records_rowwise(vac))


def _dictionary_reference(columns):
    """codes.dictionary as it was written first: every row's value assigned at its code."""
    n = max((int(c.max()) + 1 for c, _ in columns if len(c)), default=0)
    out = np.empty(n, dtype=object)
    for codes, values in columns:
        out[codes] = values
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(0, 12), max_size=30), max_size=3))
def test_dictionary_equals_assigning_every_row(code_lists):
    """The value of every code (None for a code no column uses), as assigning every row's value."""
    from vaxlib.match.codes import dictionary

    table = np.array([f"v{i}" for i in range(13)], dtype=object)
    columns = [(np.array(c, dtype=np.int64), table[np.array(c, dtype=np.int64)]) for c in code_lists]
    assert dictionary(columns).tolist() == _dictionary_reference(columns).tolist()


@settings(max_examples=200, deadline=None)
@given(texts, texts, st.data())
def test_codes_of_columns_sharing_row_codes_equal_the_codes_from_rows(registry, typed, data):
    """Columns derived from one typed column share its row codes (dob_r0 and dob_r1 beside dob,
    as id_digits beside id_number): entries holding the same text as the earlier column's are
    coded from it, and every row still gets the code of the row path."""
    from vaxlib.match.codes import domain_codes

    n = max(len(registry), 1)
    reg = pd.DataFrame({"dob": pd.Series((registry + [""] * n)[:n], dtype=object)})
    m = max(len(typed), 1)
    codes, table = _as_dict_column((typed + [""] * m)[:m], data)
    pool = st.sampled_from(["", "a", "b", "zz", "Nguyễn", "079180001234", "\ud800"])
    tables = [table] + [np.array([v if data.draw(st.booleans()) else data.draw(pool) for v in table], dtype=object)
                        for _ in range(2)]
    reg_code = {v: i for i, v in enumerate(pd.unique(reg["dob"].to_numpy(dtype=object)))}
    dicts = {}
    for c, t in zip(("dob", "dob_r0", "dob_r1"), tables):
        if data.draw(st.booleans()):
            hint = np.array([reg_code[v] if v in reg_code and data.draw(st.booleans()) else -1 for v in t],
                            dtype=np.int64)
            dicts[c] = (codes, t, hint)
        else:
            dicts[c] = (codes, t)
    rec = pd.DataFrame({c: pd.Series(dicts[c][1][codes], dtype=object) for c in dicts})
    from_rows = domain_codes(rec, reg, "dob")
    from_tables = domain_codes(rec, reg, "dob", dicts)
    for key in from_rows:
        assert from_rows[key].tolist() == from_tables[key].tolist(), key
