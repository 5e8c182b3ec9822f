"""The matcher's fast kernels (issue 12 item 4) agree with their plain definitions.

Each kernel is checked against a reference written the obvious way (Python loops, text keys,
per-pair formulas), on tables of cases and on Hypothesis-generated inputs.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.match.compare import _key_ranges, _token_table, _token_table_py

# ------------------------------------------------------------------ token tables
#: tokens with the whitespace str.split() knows (tab, newline, \x1c-\x1f, NBSP, ideographic space)
PIECES = ["nguyen", "van", "thi", "hung", "đỗ", "lê", "a", " ", "  ", "\t", "\n", "\x1c", "\x1f", "\xa0",
          "\u3000", "x|y"]
raw_names = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)


def _same_table(got, want) -> bool:
    """Equal counts, equal padding, and token ids equal exactly where the reference's are."""
    (t1, c1), (t2, c2) = got, want
    if not (c1 == c2).all() or not ((t1 < 0) == (t2 < 0)).all():
        return False
    a, b = t1[t1 >= 0], t2[t2 >= 0]
    return (pd.factorize(a)[0] == pd.factorize(b)[0]).all()


@pytest.mark.parametrize("names", [
    ["nguyen van a", "a van nguyen", ""],
    [" a  b ", "a b"],                        # runs of spaces
    ["x\ty z", "x y\tz"],                      # tab splits too
    ["a\x1cb", "a b"],                         # str.split() splits on \x1c
    ["đỗ\xa0thị", "đỗ thị"],                   # non-ASCII whitespace
    ["a b c d e f g h i", "a b c d e f g h"],  # more than 8 tokens: count only
])
def test_token_table_examples(names):
    values = np.array(names, dtype=object)
    assert _same_table(_token_table(values), _token_table_py(values))


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_names, min_size=1, max_size=25, unique=True))
def test_token_table_equals_str_split(names):
    values = np.array(names, dtype=object)
    assert _same_table(_token_table(values), _token_table_py(values))


def test_token_table_detects_a_wrong_split():
    # the comparison helper itself can fail: splitting on " " only is not str.split()
    values = np.array(["a\tb"], dtype=object)
    wrong = (np.array([[0, -1, -1, -1, -1, -1, -1, -1]], dtype=np.int32), np.array([1], dtype=np.int32))
    assert not _same_table(wrong, _token_table_py(values))


# ------------------------------------------------------------------ ranges
def _key_ranges_reference(sorted_keys, query):
    first, count = [], []
    for k in query:
        at = [j for j, v in enumerate(sorted_keys) if v == k]
        first.append(at[0] if at else None)
        count.append(len(at))
    return first, count


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=40), st.lists(st.integers(-3, 40), max_size=30),
       st.sampled_from([0, 10**6, 10**12]))
def test_key_ranges_equal_the_nested_loop(keys, query, offset):
    # offset 10**12: keys far from dense (the binary-search path)
    sorted_keys = np.sort(np.array(keys, dtype=np.int64)) + offset
    q = np.array(query, dtype=np.int64) + offset
    lo, cnt = _key_ranges(sorted_keys, q)
    first, count = _key_ranges_reference(sorted_keys, q)
    assert cnt.tolist() == count
    assert [int(a) if c else None for a, c in zip(lo, cnt)] == first


# ------------------------------------------------------------------ own-history groups
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "an", "an|1990-01-01", "binh"]),
                          st.sampled_from(["", "1990-01-01", "1991-02-03"]),
                          st.sampled_from(["", "0901", "0902"])), min_size=1, max_size=30), st.booleans())
def test_record_groups_are_the_groups_of_the_text_key(rows, coded):
    from vaxlib.match.codes import add_codes
    from vaxlib.match.compare import record_groups

    rec = pd.DataFrame(rows, columns=["name_fold", "dob_r0", "phone_n"], dtype=object)
    if coded:  # the pipeline's frames carry integer codes of name and dob
        reg = pd.DataFrame({"name_fold": ["binh", "an"], "dob": ["1991-02-03", ""]}, dtype=object)
        add_codes(rec, reg, domains=["name_fold", "dob"])
    got = record_groups(rec)
    text = (rec["name_fold"] + "|" + rec["dob_r0"] + "|" + rec["phone_n"]).to_numpy(dtype=object)
    ok = (rec["name_fold"] != "") & (rec["dob_r0"] != "") & (rec["phone_n"] != "")
    n = len(rec)
    for i in range(n):
        for j in range(n):
            same = bool(ok[i] and ok[j] and text[i] == text[j]) or i == j
            assert (got[i] == got[j]) == same
    assert (got[~ok.to_numpy()] == np.arange(n)[~ok.to_numpy()] + n).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "an", "an van", "binh", "bình"]),
                          st.sampled_from(["", "1990-01-01", "1990-01-10", "1991-02-03"]),
                          st.sampled_from(["", "0901", "0902", "0903"])), min_size=1, max_size=30),
       st.booleans(), st.booleans())
def test_record_groups_are_numbered_in_order_of_first_appearance(rows, coded, one_key):
    """Each (name, dob, phone) triple's group code is its rank of first appearance among the records
    that have all three (what factorising the key part by part gives), whether the three codes are
    combined into one integer or factorised part by part (where one integer could overflow)."""
    import vaxlib.match.compare as compare
    from vaxlib.match.codes import add_codes, add_record_codes

    rec = pd.DataFrame(rows, columns=["name_fold", "dob_r0", "phone_n"], dtype=object)
    if coded:
        reg = pd.DataFrame({"name_fold": ["binh", "an"], "dob": ["1991-02-03", ""]}, dtype=object)
        add_codes(rec, reg, domains=["name_fold", "dob"])
        add_record_codes(rec)
    limit = compare._ONE_KEY_LIMIT
    compare._ONE_KEY_LIMIT = limit if one_key else 0.0
    try:
        got = compare.record_groups(rec)
    finally:
        compare._ONE_KEY_LIMIT = limit
    first: dict = {}
    for i, (a, b, c) in enumerate(rows):
        want = first.setdefault((a, b, c), len(first)) if a and b and c else len(rows) + i
        assert got[i] == want, (i, rows[i])


# ------------------------------------------------------------------ Bayes factors
def _log2_bf_reference(model, levels, tf_u):
    """The per-pair definition: log2(m) - log2(u) of each pair's level (0 when null)."""
    from vaxlib.match.model import TF_LEVELS

    out = {}
    for f in levels.columns:
        col = []
        for k, lv in enumerate(levels[f].to_numpy()):
            if lv < 0:
                col.append(0.0)
                continue
            u = model.u[f][lv]
            if f in model.u_idless and levels["id"].iloc[k] < 0:
                u = model.u_idless[f][lv]
            if f in tf_u and f in TF_LEVELS and lv in TF_LEVELS[f]:
                u = max(tf_u[f][k], 1.0 / model.n_registry)
            col.append(float(np.log2(model.m[f][lv]) - np.log2(u)))
        out[f] = col
    return pd.DataFrame(out)


def test_log2_bf_equals_the_per_pair_definition():
    from vaxlib.match.compare import FIELDS, LEVELS
    from vaxlib.match.model import FSModel

    rng = np.random.default_rng(3)
    n = 400

    def probs(f):
        p = rng.random(len(LEVELS[f])) + 0.01
        return p / p.sum()
    model = FSModel(m={f: probs(f) for f in FIELDS}, u={f: probs(f) for f in FIELDS}, n_registry=5000,
                    u_idless={"phone": probs("phone"), "dose": probs("dose")})
    levels = pd.DataFrame({f: rng.integers(-1, len(LEVELS[f]), n).astype(np.int8) for f in FIELDS})
    tf = {"name": rng.random(n) * 0.001, "dob": rng.random(n) * 0.01}
    got = model.log2_bf(levels, tf)
    want = _log2_bf_reference(model, levels, tf)
    assert list(got.columns) == list(FIELDS)
    assert (got.to_numpy() == want.to_numpy()).all()


# ------------------------------------------------------------------ one cache for the batches of a run
def test_a_frame_cache_shared_by_batches_gives_the_levels_of_separate_batches():
    from vaxlib.match.codes import add_codes
    from vaxlib.match.compare import compare_pairs
    from vaxlib.match.levels import FrameCache
    from vaxlib.match.prepare import prepare_records, prepare_registry
    from vaxlib.synth import generate

    data = generate(300, seed=11)
    reg = prepare_registry(data["registry"])
    rec = prepare_records(data["vaccinations"])
    add_codes(rec, reg)
    rng = np.random.default_rng(0)
    batches = [pd.DataFrame({"rec": rng.integers(0, len(rec), 500), "reg": rng.integers(0, len(reg), 500)})
               for _ in range(3)]
    cache = FrameCache(rec, reg)
    for b in batches:
        assert compare_pairs(rec, reg, b, cache=cache).equals(compare_pairs(rec, reg, b))
    assert cache.values  # the batches did share it
    # a cache of other frames is not used
    other = FrameCache(rec.copy(), reg)
    assert compare_pairs(rec, reg, batches[0], cache=other).equals(compare_pairs(rec, reg, batches[0]))
    assert not other.values


# ------------------------------------------------------------------ ID kernels
digit_text = st.text(alphabet="0123456789", min_size=0, max_size=20)
odd_digits = st.text(alphabet="0123456789٠١٢?x\x00", min_size=0, max_size=14)


@pytest.mark.parametrize("typed, full, expected", [
    ("07912345678", "079123456789", True),    # last digit dropped
    ("07923456789", "079123456789", True),    # a middle digit dropped
    ("79123456789", "079123456789", True),    # the first digit dropped
    ("0791234567890", "079123456789", True),  # a digit added
    ("07912345670", "079123456789", False),   # dropped and changed
    ("", "1", False),
])
def test_one_digit_dropped_examples(typed, full, expected):
    from vaxlib.match.compare import _one_digit_dropped, is_truncated

    got = _one_digit_dropped(np.array([typed], dtype=object), np.array([full], dtype=object))[0]
    assert got == expected == is_truncated(typed, full)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(odd_digits, odd_digits), min_size=1, max_size=20))
def test_one_digit_dropped_equals_is_truncated(pairs):
    from vaxlib.match.compare import _one_digit_dropped, is_truncated

    pairs = [(a, b) for a, b in pairs if abs(len(a) - len(b)) == 1] or [("0791", "079")]
    typed = np.array([a for a, _ in pairs], dtype=object)
    full = np.array([b for _, b in pairs], dtype=object)
    assert list(_one_digit_dropped(typed, full)) == [is_truncated(a, b) for a, b in pairs]


def _near(pattern_digits: str, lost: int) -> st.SearchStrategy:
    return st.just(pattern_digits[: len(pattern_digits) - lost] + "?" * lost)


patterns = st.one_of(
    st.tuples(digit_text, st.integers(0, 8)).flatmap(lambda t: _near(t[0], min(t[1], len(t[0])))),
    st.text(alphabet="0123456789?٠x", max_size=14),
)


@pytest.mark.parametrize("pattern, digits, expected", [
    ("0791234?????", "079123449999", True),
    ("0800000?????", "079999999999", True),
    ("0791234?????", "079123550000", False),
    ("079123456789", "079123456789", True),
    ("07912?34????", "079120340000", False),   # '?' inside
    ("0791234?????", "07912344999", False),    # lengths differ
    ("0" * 20 + "??", "0" * 21 + "1", True),   # longer than int64: plain definition
])
def test_pattern_fits_examples(pattern, digits, expected):
    from vaxlib.match.compare import _pattern_fits

    assert _pattern_fits(np.array([pattern], dtype=object), np.array([digits], dtype=object))[0] == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(patterns, st.one_of(digit_text, st.text(alphabet="0123456789٠", max_size=14))),
                min_size=1, max_size=20))
def test_pattern_fits_equals_pattern_matches(pairs):
    from vaxlib.match.compare import _pattern_fits, _pattern_fits_py

    pattern = np.array([p for p, _ in pairs], dtype=object)
    target = np.array([t for _, t in pairs], dtype=object)
    assert (_pattern_fits(pattern, target) == _pattern_fits_py(pattern, target)).all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="0123456789", min_size=11, max_size=13),
                          st.text(alphabet="0123456789٠١x ", min_size=12, max_size=12)), min_size=1, max_size=20))
def test_id12_numbers_equal_the_pandas_definition(ids):
    from vaxlib.match.blocking import _id12_numbers, _id12_numbers_pandas

    s = pd.Series(ids, dtype=object)
    valid, num = _id12_numbers(s)
    want_valid, want_num = _id12_numbers_pandas(s)
    assert (valid == want_valid.to_numpy(dtype=bool)).all()
    assert (num == want_num).all()


def test_registry_value_counts_on_codes_equal_value_counts():
    from vaxlib.match.codes import add_codes
    from vaxlib.match.model import _registry_value_counts

    reg = pd.DataFrame({"name_fold": ["an", "an", "binh", "", "chi"]}, dtype=object)
    rec = pd.DataFrame({"name_fold": ["an", "dung", "", "binh", "an"]}, dtype=object)
    want = [2.0, 0.0, 1.0, 1.0, 2.0]
    assert list(_registry_value_counts(rec, reg, "name_fold")) == want  # text
    add_codes(rec, reg, domains=["name_fold"])
    assert list(_registry_value_counts(rec, reg, "name_fold")) == want  # codes


def test_blocking_reads_only_its_record_columns():
    from vaxlib.match.blocking import candidate_pairs, record_columns
    from vaxlib.match.codes import add_codes
    from vaxlib.match.prepare import prepare_records, prepare_registry
    from vaxlib.synth import generate

    data = generate(300, seed=5)
    reg = prepare_registry(data["registry"])
    rec = prepare_records(data["vaccinations"])
    add_codes(rec, reg)
    cols = record_columns(rec)
    assert "phone_n" not in cols and "_c_name_fold" in cols
    some = rec.iloc[::2]
    want = candidate_pairs(some, reg)
    assert len(want) > 100
    assert candidate_pairs(some[cols], reg).equals(want)


@pytest.mark.parametrize("kinds", [
    ["cccd", "missing", "cccd", "excel", "cmnd", "cccd"],
    ["cccd", None, "missing", float("nan"), "cccd"],  # missing kinds keep the plain definition
])
def test_rho_per_kind_equals_the_per_kind_masks(kinds):
    from vaxlib.match.model import FSModel, rho_from_evidence

    kinds = np.array(kinds, dtype=object)
    log_w = np.linspace(-8, 12, len(kinds))
    rho, by_kind = rho_from_evidence(log_w, kinds)
    model = FSModel(m={}, u={}, n_registry=10, rho=rho, rho_by_kind={"cccd": 0.97, "missing": 0.2})
    want = np.full(len(kinds), rho)
    for kind, value in model.rho_by_kind.items():
        want[kinds == kind] = value
    assert (model.rho_for(kinds) == want).all()
    assert list(by_kind) == [str(k) for k in pd.unique(kinds)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 8), max_size=40), st.lists(st.integers(0, 8), max_size=40), st.integers(1, 4))
def test_keyed_join_equals_a_merge_either_side_hashed(rec_keys, reg_keys, max_block):
    from vaxlib.match.blocking import _keyed_join

    rk, gk = np.array(rec_keys, dtype=np.int64), np.array(reg_keys, dtype=np.int64)
    r_pos, g_pos = np.arange(len(rk), dtype=np.int64) * 3, np.arange(len(gk), dtype=np.int64) * 5
    sizes = pd.Series(gk).value_counts()
    want = [(int(r_pos[i]), int(g_pos[j])) for i in range(len(rk)) for j in range(len(gk))
            if rk[i] == gk[j] and sizes[gk[j]] <= max_block]
    got = _keyed_join(rk, r_pos, gk, g_pos, max_block)
    assert list(zip(got["rec"].tolist(), got["reg"].tolist())) == want


# ------------------------------------------------------------------ record-only codes (phone)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["", "0901234567", "0901234568", "84901234567"]), min_size=1, max_size=8),
       st.lists(st.integers(0, 7), max_size=30))
def test_record_phone_codes_from_the_per_value_table_equal_the_values(table, picks):
    from vaxlib.match.codes import PREFIX, add_record_codes

    table = np.array(table, dtype=object)  # per typed value (two typed forms may normalise alike)
    codes = np.array([p % len(table) for p in picks], dtype=np.int64)
    values = table[codes]
    via_table = pd.DataFrame({"phone_n": pd.Series(values, dtype=object)})
    add_record_codes(via_table, {"phone_n": (codes, table)})
    via_column = pd.DataFrame({"phone_n": pd.Series(values, dtype=object)})
    add_record_codes(via_column)
    for frame in (via_table, via_column):
        got = frame[PREFIX + "phone_n"].to_numpy()
        assert ((got < 0) == (values == "")).all()
        same_code = got[:, None] == got[None, :]
        same_value = values[:, None] == values[None, :]
        assert (same_code == same_value).all()
