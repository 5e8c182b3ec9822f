"""Tests for the synthetic data generator (vaxlib.synth).

The checks are independent re-derivations of what each label promises: they
parse and compare the generated values with their own small rules, never by
calling the generator's helpers.
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vaxlib import config
from vaxlib.schema import ERROR_CODES, FEEDBACK_CATEGORIES, TRUTH_FEEDBACK, TRUTH_VACCINATIONS, columns, vi_headers
from vaxlib.synth import TRUTH_PERSONS, generate, load_error_profile, write_dataset
from vaxlib.vaccines import normalise_vaccine
from vaxlib.vn.provinces import BY_CCCD, BY_GSO
from vaxlib.vn.text import fold_diacritics, set_tone_style

N = 15_000
SEED = 7


@pytest.fixture(scope="module")
def data() -> dict[str, pd.DataFrame]:
    return generate(N, SEED)


@pytest.fixture(scope="module")
def harsh() -> dict[str, pd.DataFrame]:
    return generate(N, SEED, errors=config.PARAMETERS_DIR / "errors-harsh.yaml")


@pytest.fixture(scope="module")
def joined(data) -> pd.DataFrame:
    v = data["vaccinations"]
    t = data["truth_vaccinations"]
    assert (v["record_id"] == t["record_id"]).all()
    return pd.concat([v, t.drop(columns=["record_id"])], axis=1)


def _codes(s) -> list[str]:
    return [] if s is None or (isinstance(s, float) and math.isnan(s)) or s == "" else s.split(";")


def _v(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


# ---------------------------------------------------------------- tables
def test_contract_columns_exactly(data):
    assert list(data["registry"].columns) == columns("registry")
    # the contract's columns, then facility_name (an extra column io tolerates)
    assert list(data["vaccinations"].columns) == columns("vaccinations") + ["facility_name"]
    assert list(data["feedback"].columns) == columns("feedback")
    assert list(data["truth_vaccinations"].columns)[: len(TRUTH_VACCINATIONS)] == TRUTH_VACCINATIONS
    assert list(data["truth_feedback"].columns) == TRUTH_FEEDBACK
    assert list(data["truth_persons"].columns) == TRUTH_PERSONS
    assert len(data["registry"]) == N
    assert data["vaccinations"]["record_id"].is_unique
    assert data["feedback"]["feedback_id"].is_unique


def test_registry_values(data):
    r = data["registry"]
    assert r["person_id"].is_unique
    assert r["person_id"].str.fullmatch(r"\d{12}").all()
    assert r["sex"].isin(["M", "F"]).all()
    assert r["dob"].str.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?").all()
    assert r["province_code"].isin(list(BY_GSO)).all()
    old = r["old_id"].dropna()
    assert old.str.fullmatch(r"\d{9}").all() and old.is_unique
    assert 0.4 < len(old) / len(r) < 0.8
    assert all(unicodedata.is_normalized("NFC", s) for s in r["full_name"])
    # some elderly known only by year or year and month, nobody else
    partial = r[r["dob"].str.len() < 10]
    assert len(partial) > 0
    assert (partial["dob"].str.slice(0, 4).astype(int) < 1960).all()


def test_id_structure_every_person(data):
    """Nghị định 137/2015 Điều 13, TT 07/2016 Điều 7: province, century/sex, year, serial."""
    p = data["truth_persons"]
    vn = p[~p["is_foreigner"]]
    ids = vn["id_number"]
    assert ids.str.fullmatch(r"\d{12}").all()
    assert ids.is_unique
    year = vn["dob"].str.slice(0, 4).astype(int)
    century = np.where(year >= 2000, 2, 0) + (vn["sex"] == "F").to_numpy()
    assert (ids.str.slice(3, 4).astype(int).to_numpy() == century).all()
    assert (ids.str.slice(4, 6).astype(int).to_numpy() == (year % 100).to_numpy()).all()
    assert ids.str.slice(0, 3).isin(list(BY_CCCD)).all()
    assert (ids.str.slice(0, 3) == "0" + vn["birth_province"]).all()
    ages = 2021 - year
    assert ages.between(12, 95).all()


def test_family_name_shares(data):
    # Targets from real samples (issue #16): Nguyễn 30–32 %, then Trần, Lê, Phạm ...
    fam = data["registry"]["full_name"].str.split(" ").str[0]
    share = fam.value_counts(normalize=True)
    expected = {"Nguyễn": 0.31, "Trần": 0.105, "Lê": 0.095, "Phạm": 0.066, "Phan": 0.045,
                "Đặng": 0.021, "Bùi": 0.020}
    for name, e in expected.items():
        sd = math.sqrt(e * (1 - e) / len(fam))
        assert abs(share.get(name, 0) - e) < 5 * sd + 0.005, name
    assert abs(share.get("Hoàng", 0) + share.get("Huỳnh", 0) - 0.056) < 0.012
    assert abs(share.get("Vũ", 0) + share.get("Võ", 0) - 0.040) < 0.01


@pytest.fixture(scope="module")
def people():
    """A large draw of Vietnamese people (the generator's own sampler, no records)."""
    from vaxlib.synth import _components, _vietnamese

    rng = np.random.default_rng(11)
    h = _vietnamese(rng, 120_000, sorted(BY_GSO), {})
    C = _components()
    return pd.DataFrame({
        "family": C.text[0][h["fam"]], "given": C.text[0][h["giv"]], "sex": h["sex"],
        "year": h["year"], "birth": h["birth"],
    })


def test_name_variety_as_in_real_samples(people):
    # Real samples of 8.7k people born 1988–2000: ~720 distinct given names, ~190 family names.
    cohort = people[people["year"].between(1988, 2000)].head(8700)
    assert len(cohort) == 8700
    assert 640 <= cohort["given"].nunique() <= 800
    assert 160 <= people["family"].head(8700).nunique() <= 220
    for name in ("Danh", "Đại", "Kiệt", "Nhựt", "Trị", "Giàu"):
        assert (people["given"] == name).sum() >= 5, name


def test_sex_by_given_name_is_a_probability(people):
    by_name = people.groupby("given")["sex"].agg(lambda s: (s == "F").mean())
    assert 0.7 < by_name["Xuyên"] < 1.0  # mostly women, not only
    for mixed in ("Hải", "Hà", "Anh", "Ngọc"):
        assert 0.05 < by_name[mixed] < 0.95, mixed
    assert by_name["Hùng"] < 0.1 and by_name["Lan"] > 0.9


def test_regional_family_names(people):
    region = np.where(people["birth"] < "38", "north", np.where(people["birth"] < "70", "centre", "south"))
    southern = people["birth"] >= "48"
    fam = people["family"]

    def spelling_share(mask, north, south):
        pair = fam[mask].isin([north, south])
        return (fam[mask] == south).sum() / pair.sum()

    # Huỳnh / Võ among southerners 53–59 % in real samples; rare in the north
    assert 0.50 < spelling_share(southern, "Hoàng", "Huỳnh") < 0.62
    assert 0.50 < spelling_share(southern, "Vũ", "Võ") < 0.63
    assert spelling_share(~southern, "Hoàng", "Huỳnh") < 0.08
    share = fam.groupby(region).value_counts(normalize=True)
    assert share["centre"]["Phan"] > 2 * share["north"]["Phan"]
    assert share["north"]["Trần"] > 1.15 * share["south"]["Trần"]
    assert 0.29 < (fam == "Nguyễn").mean() < 0.33


def test_age_and_sex_as_in_the_2019_census(people):
    age = 2021 - people["year"]
    adults = age >= 15
    old = age >= 65
    # GSO 2019: 65+ about 8–10 % of those aged 15+, about 61 % of them women
    assert 0.08 <= old.sum() / adults.sum() <= 0.105
    assert 0.58 <= (people["sex"][old] == "F").mean() <= 0.64
    assert 0.47 <= (people["sex"][age.between(15, 59)] == "F").mean() <= 0.52


def test_facility_names(data):
    v = data["vaccinations"]
    names = v.groupby("facility_id")["facility_name"].nunique()
    assert (names == 1).all()  # one name per facility
    fac = v.drop_duplicates("facility_id")
    assert fac["facility_name"].str.match(r"^(Trạm Y tế (phường|xã)|Trung tâm Y tế (quận|huyện)|Bệnh viện (quận|huyện)) ").all()
    assert not fac.duplicated(["facility_province", "facility_name"]).any()  # unique in a province
    from vaxlib.vn.facilities import facility_names as _facility_names

    for province, count in (("79", 360), ("02", 40)):  # Hồ Chí Minh city's count at full scale, Hà Giang
        names = pd.Series(_facility_names(province, count))
        assert names.is_unique
        assert names.str.startswith("Trạm Y tế").mean() > 0.75  # most are ward / commune stations
        urban = province == "79"
        assert names.str.contains(" phường " if urban else " xã ").mean() > 0.75
    assert all(unicodedata.is_normalized("NFC", n) for n in fac["facility_name"])


def test_names_structure(data):
    p = data["truth_persons"]
    vn = p[~p["is_foreigner"]]
    words = vn["full_name"].str.split(" ").str.len()
    women = vn["sex"] == "F"
    assert (words[women] >= 3).mean() > 0.97  # women almost always have a middle name
    assert (words >= 4).mean() > 0.1  # many have two
    # same-name collisions at realistic rates
    dup = vn["full_name"].duplicated(keep=False).mean()
    assert 0.2 < dup < 0.9
    tone = vn["full_name"].map(lambda s: set_tone_style(s, "new") != s or set_tone_style(s, "old") != s)
    assert tone.mean() > 0.03


def test_twins_and_namesakes(data):
    p = data["truth_persons"].set_index("human_id")
    twins = p[p["twin_of"].notna()]
    assert len(twins) >= int(0.01 * N / 2) - 1
    other = p.loc[twins["twin_of"]]
    assert (twins["dob"].to_numpy() == other["dob"].to_numpy()).all()
    assert (twins["birth_province"].to_numpy() == other["birth_province"].to_numpy()).all()
    assert (twins["full_name"].str.split(" ").str[0].to_numpy() == other["full_name"].str.split(" ").str[0].to_numpy()).all()
    assert (twins["full_name"].to_numpy() != other["full_name"].to_numpy()).all()
    ns = p[p["namesake_kind"] == "same_year"]
    other = p.loc[ns["namesake_of"]]
    assert len(ns) > 0
    assert (ns["full_name"].to_numpy() == other["full_name"].to_numpy()).all()
    assert (ns["dob"].str.slice(0, 4).to_numpy() == other["dob"].str.slice(0, 4).to_numpy()).all()
    assert (ns["dob"].to_numpy() != other["dob"].to_numpy()).all()
    sd = p[p["namesake_kind"] == "same_dob"]
    other = p.loc[sd["namesake_of"]]
    assert len(sd) > 0
    assert (sd["full_name"].to_numpy() == other["full_name"].to_numpy()).all()
    assert (sd["dob"].to_numpy() == other["dob"].to_numpy()).all()
    assert (sd["id_number"].to_numpy() != other["id_number"].to_numpy()).all()


def test_people_outside_register(data):
    p = data["truth_persons"]
    out = p[~p["in_registry"]]
    assert out["person_id"].isna().all()
    assert not out["id_number"].isin(data["registry"]["person_id"]).any()
    foreign = out[out["is_foreigner"]]
    assert len(foreign) > 0 and foreign["id_number"].str.fullmatch(r"[A-Z]\d{8}").all()
    vn = out[~out["is_foreigner"]]
    reg = data["registry"]
    keys = set(zip(reg["full_name"], reg["dob"].str.slice(0, 4)))
    share = np.mean([(n, d[:4]) in keys for n, d in zip(vn["full_name"], vn["dob"])])
    assert share > 0.55
    t = data["truth_vaccinations"]
    rec_share = t["person_id"].isna().mean()
    assert abs(rec_share - 0.01) < 0.004


# ---------------------------------------------------------------- doses
def test_dose_schedules(joined, data):
    v = joined
    d = pd.to_datetime(v["vaccination_date"], format="%Y-%m-%d")
    assert d.min() >= pd.Timestamp("2021-03-08") and d.max() <= pd.Timestamp("2022-04-30")
    assert v["vaccine"].map(normalise_vaccine).notna().all()
    assert v["facility_id"].str.fullmatch(r"CS-\d{2}-\d{4}").all()
    assert (v["facility_id"].str.slice(3, 5) == v["facility_province"]).all()
    originals = v[v["duplicate_of"].isna()]
    per = originals.groupby("human_id").size()
    assert 2.0 < len(v) / N < 2.7  # about 2.3 dose records per person
    assert per.max() <= 4
    dups = v[v["duplicate_of"].notna()].merge(v, left_on="duplicate_of", right_on="record_id", suffixes=("", "_o"))
    assert len(dups) > 0
    assert (dups["human_id"] == dups["human_id_o"]).all()
    assert (dups["vaccination_date"] == dups["vaccination_date_o"]).all()
    assert (dups["dose_number"] == dups["dose_number_o"]).all()
    # dose numbers consecutive, dates increasing (ignore duplicated entries)
    clean = v[v["duplicate_of"].isna()].copy()
    clean["d"] = pd.to_datetime(clean["vaccination_date"])
    clean = clean.sort_values(["human_id", "dose_number"])
    g = clean.groupby("human_id")
    first = g["dose_number"].transform("min")
    assert (first == 1).all()
    gap = g["d"].diff().dt.days.dropna()
    assert (gap >= 14).all()
    boost = clean[clean["dose_number"] == 3]
    prev = clean[clean["dose_number"] == 2].set_index("human_id")["d"]
    b_gap = (boost.set_index("human_id")["d"] - prev).dropna().dt.days
    assert (b_gap >= 14).all() and (b_gap >= 90).mean() > 0.8
    # mixed schedules exist: AZ then Pfizer/Moderna
    prod = clean.assign(p=clean["vaccine"].map(normalise_vaccine)).pivot(index="human_id", columns="dose_number", values="p")
    assert ((prod[1] == "AZ") & prod[2].isin(["PF", "MO"])).sum() > 0


def test_phones(joined):
    ph = joined["phone"].dropna()
    assert ph.str.fullmatch(r"0\d{9}|01\d{9}").all()
    assert ph.str.fullmatch(r"01\d{9}").sum() > 0  # some in the old 11-digit form
    per = joined.dropna(subset=["phone"]).groupby("human_id")["phone"].nunique()
    assert (per == 1).mean() > 0.8  # a person mostly keeps one number


def test_minors_carry_parent_ids(joined, data):
    p = data["truth_persons"].set_index("human_id")
    op = joined[joined["error_codes"].fillna("").str.contains("id:other_person")]
    minors = op[op["true_dob"].str.slice(0, 4).astype(int) >= 2004]
    assert len(minors) > 0
    parents = p.loc[minors["human_id"], "parent_human_id"]
    assert parents.notna().all()
    assert (p.loc[parents, "person_id"].to_numpy() == minors["id_number"].to_numpy()).all()


def test_person_habits_persist_across_doses(joined):
    """per_person codes follow the person: most people with one such record have it on every dose."""
    multi = joined[joined["human_id"].map(joined["human_id"].value_counts()) >= 2]
    def persistent_share(code: str) -> float:
        """Share of the code's records whose person has it on every dose."""
        has = multi["error_codes"].fillna("").str.contains(code, regex=False)
        every = has.groupby(multi["human_id"]).transform("all")
        return float(every[has].mean())

    assert persistent_share("id:other_person") > 0.65  # per_person share 0.8
    assert persistent_share("id:old_cmnd") > 0.45  # per_person share 0.6
    assert persistent_share("name:no_diacritics") < 0.1  # record by record


def test_a_registered_person_gives_one_passport_number(harsh):
    """A person who gives a passport gives the same document each time (one number per person)."""
    v, t = harsh["vaccinations"], harsh["truth_vaccinations"]
    sel = t["error_codes"].fillna("").str.contains("id:passport", regex=False) & t["person_id"].notna()
    numbers = v.loc[sel.to_numpy(), "id_number"].groupby(t.loc[sel, "human_id"].to_numpy()).nunique()
    assert (numbers > 1).sum() == 0 and (v.loc[sel.to_numpy()].groupby(
        t.loc[sel, "human_id"].to_numpy()).size() > 1).sum() > 10


# ---------------------------------------------------------------- errors
def _rate_check(t: pd.DataFrame, profile_path: Path | None) -> None:
    prof = load_error_profile(profile_path)
    codes = t["error_codes"].fillna("").str.split(";").explode()
    counts = codes[codes != ""].value_counts()
    n = len(t)
    rates = prof.rates
    # Codes are additive (contract): the label also names what the drawn error shows besides
    # its own code, so these carry more than their drawn rate (a swapped date typed as
    # dd/mm/yyyy is also dob:format; a digit dropped is id:typo, not id:malformed).
    additive = {
        "dob:format": (rates["dob:format"],
                       rates["dob:format"] + rates["dob:day_month_swap"] + rates["dob:year_only_default"]
                       + rates["dob:typo"]),
        "id:malformed": (0.4 * rates["id:malformed"],
                         rates["id:malformed"] + 0.15 * (rates["id:typo"] + rates["id:transposition"])),
        "id:typo": (rates["id:typo"], rates["id:typo"] + rates["id:malformed"]),
    }
    for code in ERROR_CODES:
        r = rates[code]
        got = counts.get(code, 0) / n
        sd = math.sqrt(r * (1 - r) / n)
        tol = 5 * sd + 0.1 * r + 0.0003
        if code in additive:
            low, high = additive[code]
            assert low - tol <= got <= high + tol, (code, low, high, got)
        else:
            assert abs(got - r) <= tol, (code, r, got)


def test_every_code_at_its_rate(data):
    _rate_check(data["truth_vaccinations"], None)
    t = data["truth_vaccinations"]
    any_error = (t["error_codes"].fillna("") != "").mean()
    assert 0.14 < any_error < 0.21


def test_harsh_profile_rates(harsh):
    t = harsh["truth_vaccinations"]
    _rate_check(t, config.PARAMETERS_DIR / "errors-harsh.yaml")
    codes = t["error_codes"].fillna("")
    no_id = codes.str.contains("id:missing|id:malformed|id:passport")
    assert 0.10 < no_id.mean() < 0.15
    assert 0.025 < codes.str.contains("id:other_person").mean() < 0.035
    with_err = codes != ""
    assert 0.36 < with_err.mean() < 0.46
    n_codes = codes.str.count(";") + with_err
    assert (n_codes >= 3).mean() > 0.04
    assert 0.04 < t["person_id"].isna().mean() < 0.06
    p = harsh["truth_persons"]
    pairs = p[p["namesake_kind"] == "same_dob"]
    assert 0.015 < 2 * len(pairs) / N < 0.025


def test_facility_habits_make_clusters(joined):
    codes = joined["error_codes"].fillna("")
    for code in ("dob:day_month_swap", "name:no_diacritics", "id:lost_leading_zero"):
        has = codes.str.contains(code, regex=False)
        rate = has.groupby(joined["facility_id"]).agg(["mean", "size"])
        top = rate[rate["size"] >= 20]["mean"].max()
        assert top > 10 * has.mean(), code



def test_a_habit_of_several_codes_sits_at_the_same_facilities():
    """``codes: {code: rate}`` gives every code of the habit to the same facilities (an old paper form)."""
    prof = config.load_yaml(config.PARAMETERS_DIR / "errors.yaml")
    habit = {"id:missing": 0.5, "name:no_diacritics": 0.5, "dob:partial": 0.3}
    prof["facility_habits"] = [{"codes": habit, "facilities": 2}]
    tables = generate(3000, 11, provinces=["79", "01"], errors=prof)
    t = tables["truth_vaccinations"]
    out = t.attrs["facility_habits"]
    assert [c for c, _ in out] == list(habit) and len({tuple(f) for _, f in out}) == 1 and len(out[0][1]) == 2
    at = tables["vaccinations"]["facility_id"].isin(out[0][1])
    codes = t["error_codes"].fillna("")
    for code in habit:  # the profile's overall rate caps the quota: the habit concentrates it
        has = codes.str.contains(code, regex=False)
        assert has[at].mean() > 10 * has[~at].mean(), code
    with pytest.raises(ValueError, match="facility_habits: 'id:nope'"):
        load_error_profile({**prof, "facility_habits": [{"codes": {"id:nope": 0.1}}]})


def _parse_date(s: str) -> tuple[int, int, int] | None:
    """dd/mm/yyyy, d/m/yyyy, dd-mm-yy, dd.mm.yyyy, dd-mm-yyyy, Excel serial, ISO."""
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", s):
        return int(m[1]), int(m[2]), int(m[3])
    if m := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", s):
        return int(m[3]), int(m[2]), int(m[1])
    if m := re.fullmatch(r"(\d{2})-(\d{2})-(\d{2})", s):
        yy = int(m[3])
        return (2000 + yy if yy <= 21 else 1900 + yy), int(m[2]), int(m[1])
    if re.fullmatch(r"\d{4,5}", s):
        d = date(1899, 12, 30) + timedelta(days=int(s))
        return d.year, d.month, d.day
    return None


def _levenshtein1(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    if len(a) > len(b):
        a, b = b, a
    return any(b[:i] + b[i + 1:] == a for i in range(len(b)))


def _sex_value(s):
    return {"Nam": "M", "M": "M", "1": "M", "Nữ": "F", "F": "F", "0": "F"}.get(s)


def test_each_label_is_what_it_says(joined, data):
    reg_ids = set(data["registry"]["person_id"])
    persons = data["truth_persons"].set_index("human_id")
    old_of = persons["old_id"]
    seen: dict[str, int] = {}
    for row in joined.itertuples(index=False):
        codes = _codes(row.error_codes)
        for c in codes:
            seen[c] = seen.get(c, 0) + 1
        # Codes are additive (contract): id:malformed (separators, a stray letter) and
        # dob:format (not the ISO layout) join the code of what is wrong with the value.
        id_form = "id:malformed" in codes and len([c for c in codes if c.startswith("id:")]) > 1
        dob_form = "dob:format" in codes and len([c for c in codes if c.startswith("dob:")]) > 1
        field = {c.split(":")[0]: c for c in codes
                 if not (id_form and c == "id:malformed") and not (dob_form and c == "dob:format")}
        typed_id, true_id = _v(row.id_number), row.true_id_number
        code = field.get("id")
        if id_form:
            assert not re.fullmatch(r"\d+", typed_id)
            typed_id = re.sub(r"[ .\-]", "", typed_id)
            if code == "id:typo" and not typed_id.isdigit():  # a letter where a digit was
                assert len(typed_id) == 12 and sum(not c.isdigit() for c in typed_id) == 1
                typed_id = None
        dob, true_dob = row.dob, row.true_dob
        if dob_form:
            assert not re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob)
            d, m, y = dob.split("/")
            dob = f"{y}-{m}-{d}"
        if code is None:
            assert typed_id == true_id
        elif code == "id:missing":
            assert typed_id is None
        elif code == "id:lost_leading_zero":
            assert typed_id == true_id[1:] and len(typed_id) == 11
        elif code == "id:old_cmnd":
            assert typed_id == old_of[row.human_id] and len(typed_id) == 9
        elif code == "id:excel_mangled":
            m = re.fullmatch(r"\d\.\d{1,5}E\+(09|10)", typed_id)
            assert m  # 001… loses two zeros' worth of magnitude: 1.30308E+09
            assert len(str(int(true_id))) == int(m[1]) + 1
            assert abs(float(typed_id) - int(true_id)) <= 0.5 * 10 ** (int(m[1]) - 5)  # 6 significant digits
        elif code == "id:typo" and typed_id is not None:
            # one digit substituted, inserted or deleted
            assert _levenshtein1(typed_id, true_id), (typed_id, true_id)
            assert typed_id not in reg_ids
        elif code == "id:transposition":
            diff = [i for i in range(12) if typed_id[i] != true_id[i]]
            assert len(diff) == 2 and diff[1] == diff[0] + 1
            assert typed_id[diff[0]] == true_id[diff[1]] and typed_id[diff[1]] == true_id[diff[0]]
        elif code == "id:other_person":
            assert typed_id in reg_ids and typed_id != true_id
        elif code == "id:unknown":
            assert re.fullmatch(r"\d{12}", typed_id) and typed_id not in reg_ids
            assert typed_id[:3] in BY_CCCD
        elif code == "id:passport":
            assert re.fullmatch(r"[A-Z]\d{7,8}", typed_id)
        elif code == "id:malformed":
            assert not re.fullmatch(r"\d{12}|\d{9}", typed_id) and typed_id != true_id[1:]
        name, true_name = _v(row.full_name), row.true_full_name
        code = field.get("name")
        if code is None:
            assert name == true_name
        elif code == "name:no_diacritics":
            assert name == fold_diacritics(true_name) != true_name
        elif code == "name:unicode_form":
            assert name != true_name and unicodedata.normalize("NFC", name) == true_name
        elif code == "name:case_spacing":
            assert name != true_name and " ".join(name.split()).lower() == true_name.lower()
        elif code == "name:tone_placement":
            assert name != true_name and set_tone_style(name, "old") == set_tone_style(true_name, "old")
        elif code == "name:diacritic_error":
            assert fold_diacritics(name) == fold_diacritics(true_name)
            assert name not in (true_name, fold_diacritics(true_name))
            assert set_tone_style(name, "old") != set_tone_style(true_name, "old")
        elif code == "name:typo":
            assert _levenshtein1(fold_diacritics(name).lower(), fold_diacritics(true_name).lower())
        elif code == "name:order":
            assert name != true_name and sorted(name.split()) == sorted(true_name.split())
        elif code == "name:missing_part":
            w, t = name.split(), true_name.split()
            assert len(w) == len(t) - 1 and w[0] == t[0] and w[-1] == t[-1]
        elif code == "name:other":
            assert fold_diacritics(name).lower().split()[-1] != fold_diacritics(true_name).lower().split()[-1]
            assert name.split()[:-1] == true_name.split()[:-1]
        code = field.get("dob")
        if code is None:
            assert dob == true_dob
        elif code == "dob:format":
            assert dob != true_dob
            if len(true_dob) == 10:
                assert _parse_date(dob) == tuple(int(x) for x in true_dob.split("-"))
            else:
                assert re.fullmatch(r"\d{1,2}/\d{4}", dob)
                assert (int(dob.split("/")[1]), int(dob.split("/")[0])) == tuple(int(x) for x in true_dob.split("-"))
        elif code == "dob:day_month_swap":
            y, m, d = (int(x) for x in true_dob.split("-"))
            assert d <= 12 and d != m
            assert _parse_date(dob) == (y, d, m) or (dob_form and dob == f"{y:04d}-{d:02d}-{m:02d}")
        elif code == "dob:year_only_default":
            assert dob_form and dob == true_dob[:4] + "-01-01" and true_dob[5:] != "01-01"
        elif code == "dob:partial":
            assert len(true_dob) == 10
            assert dob in (true_dob[:4], f"{true_dob[5:7]}/{true_dob[:4]}")
        elif code == "dob:typo":
            assert len(dob) == len(true_dob) and sum(a != b for a, b in zip(dob, true_dob)) == 1
        elif code == "dob:other":
            assert abs(int(dob[:4]) - int(true_dob[:4])) >= 2
        sex = _v(row.sex)
        code = field.get("sex")
        if code is None:
            assert _sex_value(sex) == row.true_sex
        elif code == "sex:missing":
            assert sex is None
        elif code == "sex:mismatch":
            assert _sex_value(sex) not in (None, row.true_sex)
    assert set(seen) == set(ERROR_CODES)


def test_tone_placement_only_on_open_syllables(joined):
    rows = joined[joined["error_codes"].fillna("").str.contains("name:tone_placement")]
    assert len(rows) > 0
    pattern = re.compile(r"(?i)(oa|oe|uy)\b")
    for typed, true in zip(rows["full_name"], rows["true_full_name"]):
        assert pattern.search(fold_diacritics(true))


# ---------------------------------------------------------------- feedback
def test_feedback(data, joined):
    from vaxlib.complaints.generate import KINDS
    from vaxlib.feedback import parse_timestamps

    f = data["feedback"]
    t = data["truth_feedback"]
    assert len(f) > 0 and (f["feedback_id"] == t["feedback_id"]).all()
    assert f["category"].isin(FEEDBACK_CATEGORIES).all()
    assert t["problem"].isin(FEEDBACK_CATEGORIES).all()
    assert t["kind"].isin(list(KINDS)).all()
    assert (t["problem"] == t["kind"].map(lambda k: KINDS[k][0])).all()
    assert 0.7 < (f["category"] == t["problem"]).mean() < 0.97  # citizens sometimes pick another category
    ts = parse_timestamps(f["submitted_at"])  # every form the importer accepts (date-only included)
    assert ts.notna().all()
    assert (ts >= pd.Timestamp("2022-03-01", tz="+07:00")).all()
    assert (ts <= pd.Timestamp("2022-05-01", tz="+07:00")).all()
    assert all(unicodedata.is_normalized("NFC", m) for m in f["message"])
    with_marks = f["message"].str.contains("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]")
    assert 0.6 < with_marks.mean() < 0.97  # some citizens type without diacritics
    byrec = joined.set_index("record_id")
    for kind, hid, rids in zip(t["kind"], t["human_id"], t["record_ids"]):
        if not isinstance(rids, str):
            assert kind in ("missing_dose_not_uploaded", "booster_not_uploaded", "vague", "question", "account")
            continue
        rid = rids.split(";")[0]
        rec = byrec.loc[rid]
        codes = _codes(rec["error_codes"])
        if kind in ("missing_dose_mistyped", "wrong_name", "wrong_dob", "no_certificate", "child_by_parent"):
            assert codes and rec["human_id"] == hid
        elif kind == "not_my_dose":
            assert "id:other_person" in codes and rec["human_id"] != hid
        elif kind == "wrong_vaccine":
            assert normalise_vaccine(rec["vaccine"]) != normalise_vaccine(rec["true_vaccine"])
        elif kind == "duplicate_dose":
            assert len(rids.split(";")) == 2
            other = byrec.loc[rids.split(";")[1]]
            assert other["human_id"] == rec["human_id"] and other["vaccination_date"] == rec["vaccination_date"]
        elif kind in ("outsider", "outsider_namesake"):
            assert pd.isna(rec["person_id"])
    assert set(t["problem"]) >= {"missing_dose", "wrong_personal_info", "other"}


# ---------------------------------------------------------------- determinism / files
def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_deterministic_bytes(tmp_path):
    a = generate(3000, 11, provinces=["79", "01"])
    b = generate(3000, 11, provinces=["79", "01"])
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k])
    write_dataset(a, tmp_path / "a")
    write_dataset(b, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    small = generate(300, 11, provinces=["79"])
    for fmt in ("csv", "xlsx"):
        write_dataset(small, tmp_path / f"{fmt}1", fmt)
        write_dataset(small, tmp_path / f"{fmt}2", fmt)
        assert _digest(tmp_path / f"{fmt}1") == _digest(tmp_path / f"{fmt}2")
    c = generate(3000, 12, provinces=["79", "01"])
    assert not a["registry"].equals(c["registry"])
    assert set(a["registry"]["province_code"]) == {"79", "01"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_platform_export_round_trip(tmp_path, fmt):
    from vaxlib.io import read_table

    t = generate(800, 3, provinces=["01", "02"])
    paths = write_dataset(t, tmp_path, fmt)
    assert (tmp_path / f"registry.{fmt}") in paths
    raw = pd.read_csv(tmp_path / "registry.csv", dtype=str, encoding="utf-8-sig") if fmt == "csv" else \
        pd.read_excel(tmp_path / "registry.xlsx", dtype=str)
    assert list(raw.columns) == list(vi_headers("registry").values())
    assert raw["Ngày sinh"].str.fullmatch(r"\d{2}/\d{2}/\d{4}|\d{2}/\d{4}|\d{4}").all()
    assert raw["Giới tính"].isin(["Nam", "Nữ"]).all()
    reg = read_table(tmp_path / f"registry.{fmt}", "registry").table
    assert list(reg["person_id"]) == list(t["registry"]["person_id"])
    assert reg["person_id"].str.startswith("0").all()
    assert list(reg["dob"]) == list(t["registry"]["dob"])
    vac = read_table(tmp_path / f"vaccinations.{fmt}", "vaccinations")
    got = vac.table.set_index("record_id")
    exp = t["vaccinations"].set_index("record_id")
    both = got.index.intersection(exp.index)
    assert len(both) >= 0.99 * len(exp)
    ids_exp = exp.loc[both, "id_number"].fillna("")
    ids_got = got.loc[both, "id_number"].fillna("")
    assert (ids_exp == ids_got).mean() > 0.99
    zero = ids_exp.str.startswith("0")
    assert (ids_got[zero].str.startswith("0")).all()
    assert (exp.loc[both, "vaccination_date"] == got.loc[both, "vaccination_date"]).all()
    if fmt == "csv":
        truth = pd.read_csv(tmp_path / "truth_vaccinations.csv", dtype=str)
        assert truth["true_id_number"].str.fullmatch(r"\d{12}|[A-Z]\d{8}").all()


def test_cli(tmp_path):
    from vaxlib.cli import main

    out = tmp_path / "o"
    assert main(["synth", "--persons", "300", "--seed", "5", "--out", str(out), "--provinces", "79"]) == 0
    reg = pd.read_parquet(out / "registry.parquet")
    assert len(reg) == 300 and set(reg["province_code"]) == {"79"}
    for name in ("vaccinations", "feedback", "truth_vaccinations", "truth_feedback", "truth_persons"):
        assert (out / f"{name}.parquet").exists()
    assert main(["synth", "--persons", "10", "--out", str(out), "--provinces", "99"]) == 2


def test_profile_validation(tmp_path):
    bad = tmp_path / "e.yaml"
    bad.write_text("rates:\n  id:missing: 0.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="thiếu tỷ lệ cho"):
        load_error_profile(bad)
    prof = config.load_yaml(config.PARAMETERS_DIR / "errors.yaml")
    prof["rates"]["id:bogus"] = 0.1
    with pytest.raises(ValueError, match="mã lỗi không có trong danh mục"):
        load_error_profile(prof)
