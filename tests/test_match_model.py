"""The record-level parts of the Fellegi–Sunter model: ρ per kind of ID, and the
namesake calibration for people outside the register."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.match.compare import LEVELS
from vaxlib.match.model import (
    FSModel,
    estimate_rho,
    fit_namesake_calibration,
    namesake_penalty,
    outside_reference,
)

NAME = {v: i for i, v in enumerate(LEVELS["name"])}
DOB = {v: i for i, v in enumerate(LEVELS["dob"])}
ID = {v: i for i, v in enumerate(LEVELS["id"])}


# ----------------------------------------------------------------------- ρ
def _mixture(n_in: int, n_out: int, n_registry: int, rng, strong: float = 45.0):
    """Records in the register have one candidate with a decisive weight; records
    outside have none or a look-alike whose weight is far below log2 N."""
    pair_rec, weight = [], []
    for r in range(n_in):
        pair_rec.append(r)
        weight.append(strong + rng.normal())
    for r in range(n_in, n_in + n_out):
        if r % 2:  # every other outside record has a weak look-alike candidate
            pair_rec.append(r)
            weight.append(np.log2(n_registry) - 25 + rng.normal())
    return np.array(pair_rec), np.array(weight)


@settings(max_examples=25, deadline=None)
@given(share_in=st.floats(0.05, 0.95), n=st.integers(300, 2000), seed=st.integers(0, 10_000))
def test_rho_recovers_the_share_of_records_in_the_register(share_in, n, seed):
    rng = np.random.default_rng(seed)
    n_in = int(round(share_in * n))
    pair_rec, weight = _mixture(n_in, n - n_in, 100_000, rng)
    rho, by_kind = estimate_rho(pair_rec, weight, np.array(["cccd"] * n, dtype=object), 100_000)
    assert rho == pytest.approx(max(n_in / n, 0.001), abs=0.002)
    assert by_kind["cccd"] == pytest.approx(rho, abs=1e-5)  # one kind: shrinking to itself


def test_rho_is_estimated_per_kind_of_id():
    rng = np.random.default_rng(1)
    # 2000 CCCD records, 1980 in the register; 1000 ID-less records, 600 in the register
    pr1, w1 = _mixture(1980, 20, 50_000, rng)
    pr2, w2 = _mixture(600, 400, 50_000, rng)
    pair_rec = np.concatenate([pr1, pr2 + 2000])
    weight = np.concatenate([w1, w2])
    kinds = np.array(["cccd"] * 2000 + ["missing"] * 1000 + ["passport"] * 50, dtype=object)
    rho, by_kind = estimate_rho(pair_rec, weight, kinds, 50_000, prior_records=50)
    assert rho == pytest.approx(2580 / 3050, abs=0.003)
    # each kind's share, shrunk towards the overall one by 50 pseudo-records
    assert by_kind["cccd"] == pytest.approx((1980 + 50 * rho) / 2050, abs=0.003)
    assert by_kind["missing"] == pytest.approx((600 + 50 * rho) / 1050, abs=0.003)
    assert by_kind["passport"] == pytest.approx((0 + 50 * rho) / 100, abs=0.003)  # 50 outsiders
    model = FSModel(m={}, u={}, n_registry=50_000, rho=rho, rho_by_kind=by_kind)
    got = model.rho_for(np.array(["cccd", "missing", "passport", "excel"], dtype=object))
    assert got.tolist() == pytest.approx([by_kind["cccd"], by_kind["missing"], by_kind["passport"], rho])


def test_rho_stays_within_bounds_without_any_candidate():
    kinds = np.array(["missing"] * 500, dtype=object)
    rho, by_kind = estimate_rho(np.array([], dtype=int), np.array([]), kinds, 1000, bounds=(0.01, 0.99))
    assert rho == pytest.approx(0.01)
    assert by_kind["missing"] == pytest.approx(0.01)


# ------------------------------------------------------------ namesakes
def _m_u():
    m = {"name": np.full(len(LEVELS["name"]), 0.01), "dob": np.full(len(LEVELS["dob"]), 0.005)}
    m["name"][NAME["exact"]] = 1 - 0.01 * (len(LEVELS["name"]) - 1)
    m["dob"][DOB["exact"]] = 1 - 0.005 * (len(LEVELS["dob"]) - 1)
    u = {"name": np.full(len(LEVELS["name"]), 1e-4), "dob": np.full(len(LEVELS["dob"]), 1e-3)}
    u["name"][NAME["different"]] = 1 - 1e-4 * (len(LEVELS["name"]) - 1)
    u["dob"][DOB["different"]] = 1 - 1e-3 * (len(LEVELS["dob"]) - 1)
    return {k: v / v.sum() for k, v in m.items()}, {k: v / v.sum() for k, v in u.items()}


def _reference_world(n_out=1000, n_namesake=300, n_twin_id=50, n_near=200, n_reg=5000):
    """Registry of unique names; ``n_out`` records carry an unowned CCCD: ``n_namesake``
    of them have a same-name registry person whose dob is one digit off, ``n_twin_id``
    agree exactly on name and dob (registry persons typed with a wrong number);
    ``n_near`` records have a candidate sharing their number (not reference)."""
    reg = pd.DataFrame({"name_fold": [f"name {i}" for i in range(n_reg)]})
    n = n_out + n_near
    rec = pd.DataFrame({"name_fold": [f"name {i}" for i in range(n)],
                        "id_kind": ["cccd"] * n})
    rows = []
    for r in range(n_namesake):
        rows.append((r, r, NAME["exact"], DOB["one_digit"], ID["other_consistent"]))
    for r in range(n_namesake, n_namesake + n_twin_id):
        rows.append((r, r, NAME["exact"], DOB["exact"], ID["different"]))
    for r in range(n_out, n):
        rows.append((r, r, NAME["exact"], DOB["one_digit"], ID["one_edit"]))
    p = pd.DataFrame(rows, columns=["rec", "reg", "name", "dob", "id"])
    pairs = p[["rec", "reg"]]
    levels = p[["name", "dob", "id"]].astype(np.int8)
    return rec, reg, pairs, levels


def test_outside_reference_keeps_unowned_numbers_only():
    rec, reg, pairs, levels = _reference_world()
    rec.loc[5, "id_kind"] = "missing"
    ref = outside_reference(rec, pairs, levels)
    assert ref[:1000].sum() == 999 and not ref[5]
    assert not ref[1000:].any()  # a candidate shares (nearly) their number


def test_namesake_excess_is_observed_minus_independence_minus_typed_errors():
    m, u = _m_u()
    rec, reg, pairs, levels = _reference_world()
    cal = fit_namesake_calibration(rec, reg, pairs, levels, u, m, min_reference=100)
    # by hand: every name is unique, so each reference record expects 1 × u_dob namesakes per cell
    n_ref = 1000
    m_same = m["name"][[0, 1, 2, 3]].sum()
    c_in = 50 / (m_same * (m["dob"][DOB["exact"]] + m["dob"][DOB["same_date"]]))
    want = (300 - n_ref * u["dob"][DOB["one_digit"]] - c_in * m_same * m["dob"][DOB["one_digit"]]) / (n_ref - c_in)
    assert cal[(0, DOB["one_digit"])] == pytest.approx(want)
    # exact-date cells are never discounted; cells with no excess are absent
    assert (0, DOB["exact"]) not in cal and (0, DOB["same_date"]) not in cal
    assert (0, DOB["partial"]) not in cal


def test_no_calibration_without_enough_reference_records():
    m, u = _m_u()
    rec, reg, pairs, levels = _reference_world(n_out=150, n_namesake=100, n_twin_id=0)
    assert fit_namesake_calibration(rec, reg, pairs, levels, u, m, min_reference=200) == {}


def test_penalty_hits_a_rare_name_harder_than_a_common_one_and_spares_id_evidence():
    m, u = _m_u()
    model = FSModel(m=m, u=u, n_registry=100_000, namesake={(0, DOB["one_digit"]): 0.3})
    levels = pd.DataFrame({"name": [0, 0, 0, 0, 5], "dob": [5, 5, 5, 0, 5], "id": [-1, -1, -1, -1, -1]},
                          dtype=np.int8)
    levels.loc[:, "dob"] = DOB["one_digit"]
    levels.loc[3, "dob"] = DOB["exact"]
    levels.loc[4, "name"] = NAME["typo"]
    rare_u, common_u = 1 / 100_000, 500 / 100_000  # term frequencies of the registry names
    u_dob = u["dob"][DOB["one_digit"]]
    bf = pd.DataFrame({
        "name": np.log2(m["name"][levels["name"]]) - np.log2([rare_u, common_u, rare_u, rare_u, u["name"][NAME["typo"]]]),
        "dob": np.log2(m["dob"][levels["dob"]]) - np.log2([u_dob, u_dob, u_dob, 5e-5, u_dob]),
    })
    no_id = np.array([True, True, False, True, True])
    pen = namesake_penalty(levels, bf, model, no_id)
    assert pen[0] == pytest.approx(np.log2(1 + 0.3 / (100_000 * rare_u * u_dob)))
    assert pen[1] == pytest.approx(np.log2(1 + 0.3 / (100_000 * common_u * u_dob)))
    assert pen[0] > pen[1] > 0
    assert pen[2] == 0  # the pair has ID evidence
    assert pen[3] == 0  # exact dob: no calibrated excess
    assert pen[4] == 0  # typo name: no calibrated excess for that cell


# ------------------------------------------- phone and dose u for ID-less pairs
def test_idless_pairs_price_a_shared_phone_by_namesakes_not_by_relatives():
    from vaxlib.match.model import _blocked_u, _namesake_u

    ph = {v: i for i, v in enumerate(LEVELS["phone"])}
    rows = []
    # 400 candidates found through a relative's ID: name and dob differ, half share the household phone
    rows += [(NAME["different"], DOB["different"], ID["exact"], ph["same"] if i % 2 else ph["different"])
             for i in range(400)]
    # 1000 namesakes born in another year, no ID agreement: 2 share the phone
    rows += [(NAME["exact"], DOB["same_year"], -1, ph["same"] if i < 2 else ph["different"]) for i in range(1000)]
    levels = pd.DataFrame(rows, columns=["name", "dob", "id", "phone"]).astype(np.int8)
    levels["dose"] = np.int8(-1)
    u = {"phone": np.array([0.01, 0.99]), "dose": np.array([0.5, 0.5])}
    _blocked_u(u, levels)
    idless = _namesake_u(levels)
    assert u["phone"][ph["same"]] == pytest.approx((200 + 0.5) / 401)
    assert idless["phone"][ph["same"]] == pytest.approx((2 + 0.5) / 1001)
    assert "dose" not in idless  # no dose levels: fewer than 200 pairs, the general u applies

    m, _ = _m_u()
    m.update({"phone": np.array([0.94, 0.06]), "id": np.full(len(LEVELS["id"]), 1 / len(LEVELS["id"])),
              "sex": np.array([0.99, 0.01]), "dose": np.array([0.99, 0.01]),
              "province": np.array([0.9, 0.05, 0.05])})
    uu = {f: np.full(len(LEVELS[f]), 1 / len(LEVELS[f])) for f in m}
    uu["phone"] = u["phone"]
    model = FSModel(m=m, u=uu, n_registry=1000, u_idless=idless)
    pairs = pd.DataFrame({"name": [0, 0], "dob": [0, 0], "id": [0, -1], "sex": [0, 0], "province": [-1, -1],
                          "phone": [0, 0], "dose": [0, 0]}, dtype=np.int8)
    bf = model.log2_bf(pairs)
    assert bf.loc[0, "phone"] == pytest.approx(np.log2(0.94 / u["phone"][0]))  # ID evidence: general u
    assert bf.loc[1, "phone"] == pytest.approx(np.log2(0.94 / idless["phone"][0]))
    assert bf.loc[1, "phone"] > bf.loc[0, "phone"] + 5
