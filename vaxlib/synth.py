"""Realistic synthetic population register, vaccination records and feedback.

``generate(persons, seed)`` builds, deterministically for a seed:

``registry``
    the population register extract (contract columns), 12-digit IDs with the
    real structure (Nghị định 137/2015/NĐ-CP Điều 13; Thông tư 07/2016/TT-BCA
    Điều 7: province-of-birth code, century/sex digit, two birth-year digits,
    six random digits, no check digit), former 9-digit CMND numbers, names at
    their real shares (:mod:`vaxlib.vn.namedata`), residence weighted by the
    2019 census with migration towards Hà Nội, Hồ Chí Minh, Bình Dương and
    Đồng Nai;
``vaccinations``
    dose records as typed at facilities, with the errors of
    ``parameters/errors.yaml`` injected (every code of
    :data:`vaxlib.schema.ERROR_CODES`), facility habits that make clusters;
``feedback``
    citizens' reports caused by real problems in the generated records;
``truth_vaccinations`` / ``truth_feedback`` / ``truth_persons``
    the ground truth (true person, injected codes, correct values).

Everything is vectorised with numpy; Python runs per distinct value or per
corrupted record only.  ``write_dataset`` writes the tables as Parquet, or as
the platform exports them (CSV/xlsx with Vietnamese headers, dd/mm/yyyy).

Campaign facts used: vaccination from 08/03/2021 (first AstraZeneca doses) to
the end of the cleaning period 30/04/2022; 12–17-year-olds from late October
2021 (Pfizer); booster (mũi nhắc lại) at least 3 months after the primary
series and an additional dose (mũi bổ sung) for Vero Cell recipients
(Bộ Y tế, Quyết định 43/QĐ-BYT, 7/1/2022, on dose slots); heterologous
schedules such as AstraZeneca then Pfizer/Moderna (WHO SAGE, interim
recommendations for heterologous COVID-19 vaccine schedules, 16/12/2021).
Mobile prefixes and the 11-to-10-digit conversion of 2018: Quyết định
798/QĐ-BTTTT (2018) of the Ministry of Information and Communications.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from vaxlib import config
from vaxlib.errors import SettingsError
from vaxlib.schema import (
    ERROR_CODES,
    FEEDBACK_CATEGORIES,
    TRUTH_FEEDBACK,
    TRUTH_VACCINATIONS,
    columns,
)
from vaxlib.vaccines import BY_CODE
from vaxlib.vn import namedata as nd
from vaxlib.vn.facilities import facility_names
from vaxlib.vn.provinces import BY_GSO, PROVINCES
from vaxlib.vn.sex import TYPED_SEX_SPELLINGS
from vaxlib.vn.text import VOWEL_MARK_DROP, fold_diacritics, nfc, set_tone_style

__all__ = [
    "generate",
    "generate_partitioned",
    "write_dataset",
    "load_error_profile",
    "TRUTH_PERSONS",
    "TABLE_NAMES",
    "register",
]

log = logging.getLogger(__name__)

TRUTH_PERSONS = [
    "human_id", "person_id", "full_name", "dob", "sex", "id_number", "old_id",
    "in_registry", "is_foreigner", "birth_province", "province_code", "phone",
    "twin_of", "namesake_of", "namesake_kind", "parent_human_id",
]
#: extra truth columns after :data:`vaxlib.schema.TRUTH_VACCINATIONS`
TRUTH_VACCINATIONS_EXTRA = ["true_vaccine", "duplicate_of"]
TABLE_NAMES = ("registry", "vaccinations", "feedback", "truth_vaccinations", "truth_feedback", "truth_persons")

REF_YEAR = 2021
CAMPAIGN_START = np.datetime64("2021-03-08")
CAMPAIGN_END = np.datetime64("2022-04-30")
MINORS_START = np.datetime64("2021-10-27")
EXCEL_EPOCH = np.datetime64("1899-12-30")
BIG_CITIES = ("01", "79", "74", "75")  # Hà Nội, Hồ Chí Minh, Bình Dương, Đồng Nai
FIELDS = ("id", "name", "dob", "sex")

# Mobile prefixes (10-digit numbers since 2018) and the market share of their
# operators (approximate), with the 11-digit prefix each replaced
# (Quyết định 798/QĐ-BTTTT, 2018).
_PHONE_PREFIXES: tuple[tuple[str, float, str | None], ...] = (
    ("086", 3, None), ("096", 6, None), ("097", 7, None), ("098", 7, None),
    ("032", 3, "0162"), ("033", 3, "0163"), ("034", 3, "0164"), ("035", 3, "0165"),
    ("036", 3, "0166"), ("037", 3, "0167"), ("038", 3, "0168"), ("039", 3, "0169"),
    ("088", 2, None), ("091", 5, None), ("094", 5, None), ("083", 2, "0123"),
    ("084", 2, "0124"), ("085", 2, "0125"), ("081", 2, "0127"), ("082", 2, "0129"),
    ("089", 2, None), ("090", 5, None), ("093", 4, None), ("070", 2, "0120"),
    ("079", 2, "0121"), ("077", 2, "0122"), ("076", 2, "0126"), ("078", 2, "0128"),
    ("092", 1, None), ("056", 1, "0186"), ("058", 1, "0188"), ("099", 0.5, None), ("059", 0.5, "0199"),
)

# How facilities type the product (all map back through vaxlib.vaccines.normalise_vaccine).
_VACCINE_SPELLINGS = {
    "AZ": ("AstraZeneca", "Astra Zeneca", "AZ", "Vaxzevria"),
    "PF": ("Pfizer", "Pfizer-BioNTech", "Comirnaty", "Pfizer BioNTech"),
    "MO": ("Moderna", "Spikevax", "Moderna", "Moderna"),
    "VC": ("Vero Cell", "Sinopharm", "Verocell", "Vero cell"),
    "SV": ("Sputnik V", "Sputnik", "Sputnik V", "Sputnik-V"),
    "AB": ("Abdala", "Abdala", "Abdala", "ABDALA"),
    "HV": ("Hayat-Vax", "Hayat Vax", "Hayat-Vax", "Hayat-vax"),
}
_PRODUCTS = ("AZ", "PF", "MO", "VC", "SV", "AB", "HV")
_LOT_STYLE = {  # lot-number look per product (letters, digits)
    "AZ": ("ABV", 4), "PF": ("FF", 4), "MO": ("0", 5), "VC": ("2021", 6),
    "SV": ("I", 5), "AB": ("A", 4), "HV": ("HV", 5),
}


# --------------------------------------------------------------------------- profile
@dataclass
class ErrorProfile:
    """Parsed ``parameters/errors*.yaml``."""

    rates: dict[str, float]
    messy_share: float
    messy_multiplier: float
    habits: list[dict[str, Any]]
    population: dict[str, float]
    feedback: dict[str, Any]
    per_person: dict[str, float]


_POPULATION_DEFAULTS = {
    "not_in_register_record_share": 0.01,
    "foreigner_share_of_not_in_register": 0.25,
    "namesake_share_of_not_in_register": 0.7,
    "unknown_id_share_of_not_in_register": 0.6,
    "twin_share": 0.01,
    "namesake_same_year_share": 0.01,
    "namesake_same_dob_share": 0.002,
    "unvaccinated_share": 0.05,
    "old_cmnd_share": 0.7,
    "duplicate_record_rate": 0.002,
    "wrong_vaccine_rate": 0.001,
}
_FEEDBACK_DEFAULTS = {  # see vaxlib.complaints.generate.generate_complaints
    "complaints_per_person": 0.01,
    "kind_weights": {},
    "category_as_problem": 0.85,
    "blank_id": 0.15,
    "no_diacritics": 0.12,
    "texting": 0.08,
    "resubmission": 0.04,
    "timestamp_forms": {"iso_zone": 0.9, "iso_utc": 0.05, "date_only": 0.05},
}


def load_error_profile(errors: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> ErrorProfile:
    """Read an error profile (a YAML path, an already-loaded dict, or the default file).

    Raises
    ------
    ValueError
        When a rate is missing for a taxonomy code, names an unknown code, or is
        outside [0, 1].
    """
    if errors is None:
        errors = config.PARAMETERS_DIR / "errors.yaml"
    source = str(errors) if not isinstance(errors, Mapping) else "<dict>"
    data = dict(errors) if isinstance(errors, Mapping) else config.load_yaml(errors)
    rates = {str(k): float(v) for k, v in (data.get("rates") or {}).items()}
    unknown = sorted(set(rates) - set(ERROR_CODES))
    if unknown:
        raise SettingsError.say("profile_unknown_codes", source=source, section="rates", codes=", ".join(unknown))
    missing = [c for c in ERROR_CODES if c not in rates]
    if missing:
        raise SettingsError.say("profile_no_rate", source=source, codes=", ".join(missing))
    bad = [c for c, r in rates.items() if not 0.0 <= r <= 1.0]
    if bad:
        raise SettingsError.say("profile_bad_rate", source=source, codes=", ".join(bad))
    het = data.get("record_heterogeneity") or {}
    habits = list(data.get("facility_habits") or [])
    per_person = {str(k): float(v) for k, v in (data.get("per_person") or {}).items()}
    bad_pp = sorted(set(per_person) - set(ERROR_CODES))
    if bad_pp:
        raise SettingsError.say("profile_unknown_codes", source=source, section="per_person", codes=", ".join(bad_pp))
    for h in habits:
        codes = h["codes"] if isinstance(h.get("codes"), Mapping) else {h.get("code"): h.get("rate", 0.5)}
        for code in codes:
            if code not in ERROR_CODES:
                raise SettingsError.say("profile_unknown_codes", source=source, section="facility_habits", codes=repr(code))
    population = {**_POPULATION_DEFAULTS, **{k: float(v) for k, v in (data.get("population") or {}).items()}}
    fb = {**_FEEDBACK_DEFAULTS, **(data.get("feedback") or {})}
    return ErrorProfile(
        rates=rates,
        messy_share=float(het.get("messy_share", 0.0)),
        messy_multiplier=float(het.get("messy_multiplier", 1.0)),
        habits=habits,
        population=population,
        feedback=fb,
        per_person=per_person,
    )


# --------------------------------------------------------------------------- helpers
def _choice(rng: np.random.Generator, n: int, weights: Iterable[float]) -> np.ndarray:
    w = np.asarray(list(weights), dtype=float)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int64)


def _zfill(values: np.ndarray, width: int) -> np.ndarray:
    if np.size(values) == 0:
        return np.array([], dtype=f"<U{width}")
    return np.strings.zfill(np.asarray(values, dtype=np.int64).astype(np.str_), width)


class _Components:
    """Every name part (family, middle, given, foreign) in one table.

    Index 0 is the empty part.  ``text[style, i]`` is the part in the old
    (style 0) or new (style 1) tone convention; names are assembled from
    indices, so per-person work stays vectorised.
    """

    def __init__(self) -> None:
        parts: list[str] = [""]
        self.index: dict[str, int] = {"": 0}

        def add(name: str) -> int:
            if name not in self.index:
                self.index[name] = len(parts)
                parts.append(name)
            return self.index[name]

        fam = [n for n, _ in nd.FAMILY_NAMES]
        self.family_ids = np.array([add(n) for n in fam])
        self.family_shares = np.array([s for _, s in nd.FAMILY_NAMES])
        factor = np.array([nd.REGION_FAMILY_FACTOR.get(n, (1.0, 1.0, 1.0)) for n in fam])
        self.family_shares_by_region = [self.family_shares * factor[:, r] for r in range(len(nd.REGIONS))]
        self.south_variant = {add(k): (add(v[0]), v[1]) for k, v in nd.SOUTH_SPELLING_SHARE.items()}
        self.middle = {s: (np.array([add(n) for n, _ in v]), np.array([w for _, w in v]))
                       for s, v in nd.MIDDLE_NAMES.items()}
        self.middle2 = {s: (np.array([add(n) for n, _ in v]), np.array([w for _, w in v]))
                        for s, v in nd.SECOND_MIDDLE_NAMES.items()}
        self.given = {s: (np.array([add(n) for n, _ in v]), np.array([w for _, w in v]))
                      for s, v in nd.GIVEN_NAMES.items()}
        self.foreign_family = np.array([add(n) for n in nd.FOREIGN_FAMILY])
        self.foreign_given = np.array([add(n) for n in nd.FOREIGN_GIVEN])
        old = [nfc(p) for p in parts]
        new = [set_tone_style(p, "new") for p in parts]
        self.text = np.array([old, new], dtype=object)
        self.spaced = np.array([[p + " " if p else "" for p in old], [p + " " if p else "" for p in new]],
                               dtype=object)
        self.tone_flippable = np.array([o != n for o, n in zip(old, new)])
        self.non_ascii = np.array([not p.isascii() for p in old])
        self.words = np.array([len(p.split()) for p in old])

    def full_names(self, fam, m1, m2, giv, style) -> np.ndarray:
        sp, tx = self.spaced, self.text
        return sp[style, fam] + sp[style, m1] + sp[style, m2] + tx[style, giv]


_COMPONENTS: _Components | None = None


def _components() -> _Components:
    global _COMPONENTS
    if _COMPONENTS is None:
        _COMPONENTS = _Components()
    return _COMPONENTS


def _age_weights() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ages 12–95 in 2021, their weights and the share of women at each age, from the
    five-year groups of the 2019 census (:data:`vaxlib.vn.namedata.AGE_GROUPS`): people
    65 and over about 9.5 % of those 15 and over, 61 % of them women."""
    ages = np.arange(12, 96)
    lows = np.array([g[0] for g in nd.AGE_GROUPS])
    group = np.searchsorted(lows, ages, side="right") - 1
    width = np.where(lows[group] >= 85, 11, 5)  # 85 stands for 85–95
    share = np.array([g[1] for g in nd.AGE_GROUPS])[group] / width
    female = np.array([g[2] for g in nd.AGE_GROUPS])[group]
    return ages, share, female


# --------------------------------------------------------------------------- people
def _vietnamese(rng: np.random.Generator, n: int, provinces: list[str], pop: dict[str, float]) -> dict[str, np.ndarray]:
    """Draw ``n`` Vietnamese people (arrays); names, dob, sex, provinces."""
    C = _components()
    codes = np.array([p.gso for p in PROVINCES])
    all_w = np.array([p.population_k for p in PROVINCES], dtype=float)
    res_codes = np.array(provinces)
    res_w = np.array([BY_GSO[g].population_k for g in provinces], dtype=float)
    residence = res_codes[_choice(rng, n, res_w)]
    big = np.isin(residence, BIG_CITIES)
    migrant = rng.random(n) < np.where(big, 0.25, 0.04)
    birth = residence.copy()
    drawn = codes[_choice(rng, n, all_w)]
    same = drawn == residence
    drawn[same] = codes[(np.searchsorted(codes, drawn[same]) + 1) % len(codes)]
    birth = np.where(migrant, drawn, birth)

    ages, aw, female_at = _age_weights()
    age_i = _choice(rng, n, aw)
    age = ages[age_i]
    year = REF_YEAR - age
    start = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    length = np.where((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)), 366, 365)
    dob = start + (rng.random(n) * length).astype(np.int64)
    female = rng.random(n) < female_at[age_i]
    sex = np.where(female, "F", "M")

    south = np.array([g >= "48" for g in birth])
    region = np.searchsorted(np.array(["38", "70"]), birth, side="right")  # nd.region_of, vectorised
    fam = np.zeros(n, dtype=np.int64)
    for r in range(len(nd.REGIONS)):
        idx = np.flatnonzero(region == r)
        fam[idx] = C.family_ids[_choice(rng, len(idx), C.family_shares_by_region[r])]
    for north_id, (south_id, shares) in C.south_variant.items():
        hit = fam == north_id
        p = np.where(south, shares["south"], shares["north"])
        fam = np.where(hit & (rng.random(n) < p), south_id, fam)

    cohort = np.where(year < 1965, 0, np.where(year < 1990, 1, 2))
    m1 = np.zeros(n, dtype=np.int64)
    m2 = np.zeros(n, dtype=np.int64)
    giv = np.zeros(n, dtype=np.int64)
    for s in ("M", "F"):
        for c in range(3):
            idx = np.flatnonzero((sex == s) & (cohort == c))
            k = len(idx)
            if not k:
                continue
            ids, w = C.middle[s]
            m1[idx] = ids[_choice(rng, k, w[:, c])]
            ids, w = C.middle2[s]
            p2 = (0.25 if s == "F" else 0.10) + 0.05 * c
            second = (rng.random(k) < p2) & (m1[idx] > 0)
            m2[idx] = np.where(second, ids[_choice(rng, k, w[:, c])], 0)
            ids, w = C.given[s]
            giv[idx] = ids[_choice(rng, k, w[:, c])]
            # "Nguyễn Văn Văn" / "Thị Thu Thu": redraw the given name once, then drop duplicates.
            clash = np.flatnonzero((giv[idx] == m1[idx]) | (giv[idx] == m2[idx]))
            giv[idx[clash]] = ids[_choice(rng, len(clash), w[:, c])]
    m2 = np.where((m2 == m1) | (m2 == giv), 0, m2)
    m1 = np.where(m1 == giv, 0, m1)
    style = (rng.random(n) < 0.25).astype(np.int64)

    # Register dob precision: some elderly are known only by year or year+month.
    u = rng.random(n)
    prec = np.full(n, 2, dtype=np.int8)  # 2 day, 1 month, 0 year
    old = year < 1950
    mid = (year >= 1950) & (year < 1960)
    prec[old & (u < 0.12)] = 0
    prec[old & (u >= 0.12) & (u < 0.17)] = 1
    prec[mid & (u < 0.03)] = 0
    prec[mid & (u >= 0.03) & (u < 0.05)] = 1
    return dict(fam=fam, m1=m1, m2=m2, giv=giv, style=style, sex=sex, dob=dob, prec=prec,
                birth=birth, residence=residence, year=year)


def _id_numbers(rng: np.random.Generator, birth: np.ndarray, sex: np.ndarray, year: np.ndarray) -> np.ndarray:
    """Unique 12-digit IDs as int64 (TT 07/2016/TT-BCA Điều 7 structure)."""
    n = len(birth)
    prov = birth.astype(np.int64)
    century = np.where(year >= 2000, 2, 0) + (sex == "F")
    base = prov * 10**9 + century * 10**8 + (year % 100) * 10**6
    ids = base + rng.integers(0, 10**6, n)
    while True:
        _, first, counts = np.unique(ids, return_index=True, return_counts=True)
        keep = np.zeros(n, dtype=bool)
        keep[first] = True
        dup = ~keep
        if not dup.any():
            return ids
        ids[dup] = base[dup] + rng.integers(0, 10**6, int(dup.sum()))


def _unique_numbers(rng: np.random.Generator, n: int, low: int, high: int, avoid: np.ndarray) -> np.ndarray:
    out = rng.integers(low, high, n)
    while True:
        bad = _member(out, np.sort(avoid))
        _, first = np.unique(out, return_index=True)
        keep = np.zeros(n, dtype=bool)
        keep[first] = True
        bad |= ~keep
        if not bad.any():
            return out
        out[bad] = rng.integers(low, high, int(bad.sum()))


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin`` for int64 against an already sorted array (much faster for large sets)."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[idx] == values


def _build_humans(rng: np.random.Generator, n_reg: int, provinces: list[str], prof: ErrorProfile) -> pd.DataFrame:
    """Register persons then people absent from the register (as one table of arrays)."""
    pop = prof.population
    C = _components()
    share = pop["not_in_register_record_share"]
    n_out = int(round(n_reg * share / max(1e-9, 1 - share) * (1 - pop["unvaccinated_share"]) * 0.97))
    n_for = int(round(n_out * pop["foreigner_share_of_not_in_register"]))
    n_vn_out = n_out - n_for
    n_vn = n_reg + n_vn_out
    h = _vietnamese(rng, n_vn, provinces, pop)
    year = h["year"]
    reg = np.arange(n_vn) < n_reg

    twin_of = np.full(n_vn, -1)
    namesake_of = np.full(n_vn, -1)
    namesake_kind = np.full(n_vn, "", dtype=object)
    parent = np.full(n_vn, -1)

    # Minors get a parent among register adults 20–45 years older, same residence.
    adults = np.flatnonzero(reg & (year <= REF_YEAR - 25))
    minors = np.flatnonzero(reg & (year >= REF_YEAR - 17))
    if len(adults) and len(minors):
        order = adults[np.argsort(year[adults], kind="stable")]
        ay = year[order]
        lo = np.searchsorted(ay, year[minors] - 45, side="left")
        hi = np.searchsorted(ay, year[minors] - 20, side="right")
        ok = hi > lo
        pick = lo + (rng.random(len(minors)) * np.maximum(hi - lo, 1)).astype(np.int64)
        pm = minors[ok]
        pp = order[np.minimum(pick[ok], len(order) - 1)]
        parent[pm] = pp
        father = h["sex"][pp] == "M"
        h["fam"][pm] = np.where(father | (rng.random(len(pm)) < 0.3), h["fam"][pp], h["fam"][pm])
        h["residence"][pm] = h["residence"][pp]

    # Twins, same-year namesakes and same-dob namesakes among register adults.
    pool = np.flatnonzero(reg & (year <= REF_YEAR - 18))
    k_t = int(n_reg * pop["twin_share"] / 2)
    k_y = int(n_reg * pop["namesake_same_year_share"] / 2)
    k_d = int(n_reg * pop["namesake_same_dob_share"] / 2)
    perm = rng.permutation(pool)
    k_t = min(k_t, len(perm) // 2)
    a, b = perm[:k_t], perm[k_t: 2 * k_t]
    rest = perm[2 * k_t:]
    for key in ("fam", "dob", "prec", "birth", "residence", "year", "style"):
        h[key][b] = h[key][a]
    # twins of the same sex often share the middle name(s); Văn/Thị never cross sexes
    same_sex = h["sex"][b] == h["sex"][a]
    h["m1"][b] = np.where(same_sex, h["m1"][a], h["m1"][b])
    h["m2"][b] = np.where(same_sex & (rng.random(k_t) < 0.5), h["m2"][a], h["m2"][b])
    h["m2"][b] = np.where((h["m2"][b] == h["giv"][b]) | (h["m2"][b] == h["m1"][b]), 0, h["m2"][b])
    same_given = h["giv"][b] == h["giv"][a]
    for s in ("M", "F"):
        sel = np.flatnonzero(same_given & (h["sex"][b] == s))
        ids, w = C.given[s]
        pos = np.searchsorted(np.sort(ids), h["giv"][b[sel]])
        h["giv"][b[sel]] = np.sort(ids)[(pos + 1) % len(ids)]
    twin_of[b] = a
    k_y = min(k_y, len(rest) // 2)
    a, b = rest[:k_y], rest[k_y: 2 * k_y]
    rest = rest[2 * k_y:]
    for key in ("fam", "m1", "m2", "giv", "sex", "year", "style"):
        h[key][b] = h[key][a]
    start = (h["year"][b] - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    newdob = start + rng.integers(0, 365, k_y)
    newdob = np.where(newdob == h["dob"][a], newdob + 1, newdob)
    newdob = np.where((newdob - start).astype(np.int64) >= 365, start + 100, newdob)
    h["dob"][b] = newdob
    h["prec"][b] = 2
    h["prec"][a] = 2
    namesake_of[b] = a
    namesake_kind[b] = "same_year"
    k_d = min(k_d, len(rest) // 2)
    a, b = rest[:k_d], rest[k_d: 2 * k_d]
    for key in ("fam", "m1", "m2", "giv", "sex", "year", "dob", "prec", "style"):
        h[key][b] = h[key][a]
    namesake_of[b] = a
    namesake_kind[b] = "same_dob"

    # Never-registered Vietnamese, most sharing name and birth year with someone registered.
    out_idx = np.flatnonzero(~reg)
    ns = out_idx[rng.random(len(out_idx)) < pop["namesake_share_of_not_in_register"]]
    if len(ns):
        src = rng.choice(np.flatnonzero(reg & (year <= REF_YEAR - 18)), len(ns))
        for key in ("fam", "m1", "m2", "giv", "sex", "year", "style"):
            h[key][ns] = h[key][src]
        start = (h["year"][ns] - 1970).astype("datetime64[Y]").astype("datetime64[D]")
        h["dob"][ns] = start + rng.integers(0, 365, len(ns))
        h["prec"][ns] = 2
        namesake_of[ns] = src
        namesake_kind[ns] = "not_in_register"

    year = h["year"]
    ids = _id_numbers(rng, h["birth"], h["sex"], year)
    adult = year <= 2000
    has_old = adult & (rng.random(n_vn) < pop["old_cmnd_share"])
    # CMND: 9 digits, a 2-digit issuing-province prefix then 7 digits (prefix drawn at random here).
    old_ids = _unique_numbers(rng, n_vn, 10**7, 38 * 10**7, np.empty(0, dtype=np.int64))
    old_str = np.where(has_old, _zfill(old_ids, 9).astype(object), None)

    full = C.full_names(h["fam"], h["m1"], h["m2"], h["giv"], h["style"])
    tone = C.tone_flippable[h["fam"]] | C.tone_flippable[h["m1"]] | C.tone_flippable[h["m2"]] | C.tone_flippable[h["giv"]]
    nonascii = C.non_ascii[h["fam"]] | C.non_ascii[h["m1"]] | C.non_ascii[h["m2"]] | C.non_ascii[h["giv"]]
    words = C.words[h["fam"]] + C.words[h["m1"]] + C.words[h["m2"]] + C.words[h["giv"]]
    dob_iso = np.datetime_as_string(h["dob"]).astype(object)
    dob_text = np.where(h["prec"] == 2, dob_iso, np.where(h["prec"] == 1, _slice(dob_iso, 7), _slice(dob_iso, 4)))
    vn = _columns(n_vn, {
        "full_name": full, "dob": h["dob"], "dob_text": dob_text, "prec": h["prec"], "sex": h["sex"],
        "id_int": ids, "id": _zfill(ids, 12).astype(object), "old_id": old_str,
        "in_registry": reg, "is_foreigner": False, "birth": h["birth"], "residence": h["residence"],
        "tone": tone, "nonascii": nonascii, "words": words, "year": year,
        "twin_of": twin_of, "namesake_of": namesake_of, "namesake_kind": namesake_kind, "parent": parent,
    })
    # Foreign residents: passport numbers, upper-case ASCII names, adults 20–65.
    if n_for:
        fam = C.foreign_family[rng.integers(0, len(C.foreign_family), n_for)]
        giv = C.foreign_given[rng.integers(0, len(C.foreign_given), n_for)]
        zero = np.zeros(n_for, dtype=np.int64)
        full = C.full_names(fam, zero, zero, giv, zero)
        fy = REF_YEAR - rng.integers(20, 66, n_for)
        fdob = (fy - 1970).astype("datetime64[Y]").astype("datetime64[D]") + rng.integers(0, 365, n_for)
        letters = np.array(list("ABCDEFGHJKLMNPRSTMX"))
        passport = letters[rng.integers(0, len(letters), n_for)].astype(object) + _zfill(
            rng.integers(0, 10**8, n_for), 8).astype(object)
        fres_choices = [g for g in provinces if g in BIG_CITIES] or provinces
        fres = np.array(fres_choices)[rng.integers(0, len(fres_choices), n_for)]
        fdf = _columns(n_for, {
            "full_name": full, "dob": fdob, "dob_text": np.datetime_as_string(fdob).astype(object),
            "prec": np.full(n_for, 2, dtype=np.int8), "sex": np.where(rng.random(n_for) < 0.4, "F", "M"),
            "id_int": -1, "id": passport, "old_id": None, "in_registry": False, "is_foreigner": True,
            "birth": "", "residence": fres, "tone": False, "nonascii": False,
            "words": C.words[fam] + C.words[giv], "year": fy, "twin_of": -1, "namesake_of": -1,
            "namesake_kind": "", "parent": -1,
        })
        vn = {c: np.concatenate([vn[c], fdf[c]]) for c in vn}
    # Phones: a primary and a spare mobile; minors mostly use a parent's.
    n = len(vn["id"])
    pref = np.array([p for p, _, _ in _PHONE_PREFIXES], dtype=object)
    oldp = np.array([o for _, _, o in _PHONE_PREFIXES], dtype=object)
    pi = _choice(rng, n, [w for _, w, _ in _PHONE_PREFIXES])
    tail = _zfill(rng.integers(0, 10**7, n), 7).astype(object)
    vn["phone"] = pref[pi] + tail
    vn["phone_old"] = np.where(oldp[pi] != None, oldp[pi].astype(str) + tail, vn["phone"])  # noqa: E711
    pi2 = _choice(rng, n, [w for _, w, _ in _PHONE_PREFIXES])
    vn["phone2"] = pref[pi2] + _zfill(rng.integers(0, 10**7, n), 7).astype(object)
    par = vn["parent"]
    kid = (par >= 0) & (rng.random(n) < 0.7)
    for col in ("phone", "phone_old"):
        v = vn[col].copy()
        v[kid] = v[par[kid]]
        vn[col] = v
    return vn


def _columns(n: int, cols: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Columns as numpy arrays of length ``n`` (scalars broadcast; strings kept as objects)."""
    out = {}
    for k, v in cols.items():
        if np.ndim(v) == 0:
            v = np.full(n, v, dtype=object if v is None or isinstance(v, str) else None)
        v = np.asarray(v)
        if v.dtype.kind == "U":
            v = v.astype(object)
        out[k] = v
    return out


def _slice(arr: np.ndarray, k: int) -> np.ndarray:
    return np.array([s[:k] for s in arr], dtype=object) if len(arr) < 1000 else \
        pd.Series(arr, dtype=object).str.slice(0, k).to_numpy(dtype=object)


# --------------------------------------------------------------------------- doses
def _facilities(provinces: Iterable[str], residents: Mapping[str, int]) -> dict[str, int]:
    """Number of vaccination facilities per province: about one per 25,000 people in
    reality, but never fewer than ~300 generated residents each, so that a small
    sample still has facilities with enough records to show their habits."""
    return {g: max(2, min(round(BY_GSO[g].population_k / 25), round(residents.get(g, 0) / 300)))
            for g in provinces}


def _doses(rng: np.random.Generator, hum: pd.DataFrame, prof: ErrorProfile) -> pd.DataFrame:
    n = len(hum["id"])
    year = hum["year"]
    minor = year >= REF_YEAR - 17
    reg = hum["in_registry"]
    unvacc = prof.population["unvaccinated_share"]
    # Desired doses (later ones dropped if they fall after the campaign end).
    adult_w = [unvacc, 0.05, 0.30, 0.48, 0.17 - unvacc + 0.05]
    want = _choice(rng, n, adult_w)
    want_minor = _choice(rng, n, [0.08, 0.08, 0.80, 0.04, 0.0])
    want = np.where(minor, want_minor, want)
    want = np.where(~reg & (want == 0), 2, want)
    # First dose date.
    span_adult = (np.datetime64("2022-01-31") - CAMPAIGN_START).astype(np.int64)
    d1 = CAMPAIGN_START + (rng.beta(2.6, 3.2, n) * span_adult).astype(np.int64)
    span_minor = (np.datetime64("2022-02-28") - MINORS_START).astype(np.int64)
    d1 = np.where(minor, MINORS_START + (rng.beta(1.5, 3.5, n) * span_minor).astype(np.int64), d1)
    # Products by period for dose 1.
    early = d1 < np.datetime64("2021-07-01")
    late = d1 >= np.datetime64("2022-01-01")
    prod_idx = {p: i for i, p in enumerate(_PRODUCTS)}
    p1 = _choice(rng, n, [0.38, 0.22, 0.12, 0.20, 0.02, 0.04, 0.02])
    # Before July 2021 almost only AstraZeneca (COVAX, from 8/3/2021), some Vero Cell
    # (from June) and Sputnik V; Pfizer and Moderna arrived in July 2021.
    p1 = np.where(early, _choice(rng, n, [0.92, 0.0, 0.0, 0.06, 0.02, 0.0, 0.0]), p1)
    p1 = np.where(late, _choice(rng, n, [0.3, 0.5, 0.2, 0, 0, 0, 0]), p1)
    p1 = np.where(minor, np.where(rng.random(n) < 0.95, prod_idx["PF"], prod_idx["MO"]), p1)
    series = np.array([BY_CODE[p].series_doses for p in _PRODUCTS])[p1]
    lo = np.array([BY_CODE[p].interval_days[0] for p in _PRODUCTS])[p1]
    hi = np.array([BY_CODE[p].interval_days[1] for p in _PRODUCTS])[p1]
    dates = np.empty((n, 4), dtype="datetime64[D]")
    prods = np.empty((n, 4), dtype=np.int64)
    dates[:, 0] = d1
    prods[:, 0] = p1
    # dose 2: same product, AZ sometimes followed by Pfizer/Moderna (heterologous).
    mix = (p1 == prod_idx["AZ"]) & (rng.random(n) < 0.12)
    prods[:, 1] = np.where(mix, np.where(rng.random(n) < 0.7, prod_idx["PF"], prod_idx["MO"]), p1)
    delay = np.where(rng.random(n) < 0.1, rng.integers(0, 40, n), 0)
    dates[:, 1] = d1 + lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64) + delay
    # dose 3: third primary dose (Abdala), an additional dose (Vero Cell), or a booster >= 3 months.
    booster_p = _choice(rng, n, [0.3, 0.45, 0.25])  # AZ, PF, MO
    booster = np.array([prod_idx["AZ"], prod_idx["PF"], prod_idx["MO"]])[booster_p]
    third_primary = series >= 3
    additional = (p1 == prod_idx["VC"]) & (want == 4)
    gap3 = np.where(third_primary, lo + rng.integers(0, 15, n),
                    np.where(additional, rng.integers(28, 60, n), rng.integers(90, 180, n)))
    dates[:, 2] = dates[:, 1] + gap3
    prods[:, 2] = np.where(third_primary, p1, np.where(additional & (rng.random(n) < 0.5), p1, booster))
    booster2 = np.array([prod_idx["AZ"], prod_idx["PF"], prod_idx["MO"]])[_choice(rng, n, [0.2, 0.5, 0.3])]
    dates[:, 3] = dates[:, 2] + rng.integers(90, 150, n)
    prods[:, 3] = booster2
    k = np.arange(4)[None, :]
    keep = (k < want[:, None]) & (dates <= CAMPAIGN_END)
    keep &= np.cumprod(keep, axis=1).astype(bool)  # no gaps
    hi_idx, dose_idx = np.nonzero(keep)
    rec = pd.DataFrame({
        "h": hi_idx, "dose_number": dose_idx + 1,
        "date": dates[hi_idx, dose_idx], "product": prods[hi_idx, dose_idx],
    })
    return rec


def _lot_table(rng: np.random.Generator) -> dict[tuple[int, int], np.ndarray]:
    """Lot numbers per (product, month): a few lots per product each month."""
    lots: dict[tuple[int, int], np.ndarray] = {}
    for pi, p in enumerate(_PRODUCTS):
        prefix, width = _LOT_STYLE[p]
        for month in range(14):
            vals = rng.integers(0, 10**width, 6)
            lots[(pi, month)] = np.array([f"{prefix}{v:0{width}d}" for v in vals], dtype=object)
    return lots


# --------------------------------------------------------------------------- errors
def _solve_probability(weights: np.ndarray, target: float) -> np.ndarray:
    """Per-record probabilities min(1, p*w) whose sum is ``target``."""
    if target <= 0 or len(weights) == 0:
        return np.zeros(len(weights))
    if target >= len(weights):
        return np.ones(len(weights))
    p = target / weights.sum()
    if p * weights.max() <= 1.0:
        return p * weights
    for _ in range(8):
        prob = np.minimum(1.0, p * weights)
        clipped = prob >= 1.0
        free = weights[~clipped].sum()
        if free <= 0:
            break
        p = max(0.0, target - clipped.sum()) / free
    return np.minimum(1.0, p * weights)


def _assign_per_person(rng, target: float, elig: np.ndarray, h: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Eligible records of whole persons, drawn by weight until ``target`` records are reached."""
    people, first, counts = np.unique(h[elig], return_index=True, return_counts=True)
    w = np.maximum(weights[elig[first]], 1e-9)
    key = -np.log(rng.random(len(people))) / w  # weighted random order (Efraimidis–Spirakis)
    order = np.argsort(key, kind="stable")
    total = np.cumsum(counts[order])
    take = people[order[: int(np.searchsorted(total, target, side="right"))]]
    return elig[_member(h[elig], np.sort(take))]


def _assign_codes(rng, T: int, codes: list[str], rates: Mapping[str, float], eligible: Mapping[str, np.ndarray],
                  weights: Mapping[str, np.ndarray], assigned: np.ndarray, code_ids: Mapping[str, int],
                  h: np.ndarray | None = None, per_person: Mapping[str, float] | None = None) -> None:
    """Assign at most one code per record for one field, in the order of ``codes``.

    For a code in ``per_person`` that share of its quota goes to whole persons
    (every eligible dose record of the person), the habits that follow a person
    from dose to dose: a minor using a parent's ID, someone giving an old CMND.
    """
    for code in codes:
        already = int((assigned == code_ids[code]).sum())
        target = rates[code] * T - already
        if target <= 0:
            continue
        share = (per_person or {}).get(code, 0.0)
        if share > 0 and h is not None:
            elig = np.flatnonzero(eligible[code] & (assigned == 0))
            if len(elig):
                hit = _assign_per_person(rng, share * target, elig, h, weights[code])
                assigned[hit] = code_ids[code]
                target -= len(hit)
            if target <= 0:
                continue
        elig = np.flatnonzero(eligible[code] & (assigned == 0))
        if not len(elig):
            if target >= 1:
                log.warning("no record can carry %s", code)
            continue
        prob = _solve_probability(weights[code][elig], target)
        if prob.sum() + 1e-9 < target and target >= 1:
            log.warning("%s: only %.0f of %.0f records possible", code, prob.sum(), target)
        hit = elig[rng.random(len(elig)) < prob]
        assigned[hit] = code_ids[code]


_KEYBOARD = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "g": "fh", "h": "gj", "i": "uo", "k": "jl",
    "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et", "s": "ad", "t": "ry",
    "u": "yi", "v": "cb", "x": "zc", "y": "tu",
}
_TONES = ("\u0300", "\u0301", "\u0309", "\u0303", "\u0323")


def _name_typo(name: str, u: float, v: float) -> str:
    """One keyboard slip on an unaccented letter of one word (the skeleton changes)."""
    positions = [i for i, ch in enumerate(name) if ch.isascii() and ch.isalpha()]
    if not positions:
        return name + "h"
    i = positions[int(u * len(positions))]
    ch = name[i]
    low = ch.lower()
    kind = int(v * 3)
    if kind == 0 and low in _KEYBOARD:  # adjacent key
        rep = _KEYBOARD[low][int(v * 97) % len(_KEYBOARD[low])]
        rep = rep.upper() if ch.isupper() else rep
        return name[:i] + rep + name[i + 1:]
    if kind == 1 and i + 1 < len(name) and name[i + 1] != " " and not (i == 0 or name[i - 1] == " "):
        return name[:i] + name[i + 1:]  # dropped letter (never a word's first)
    return name[:i] + ch + name[i:]  # doubled letter


def _diacritic_error(name: str, u: float, v: float) -> str | None:
    """Change one syllable's tone or vowel mark so only diacritics differ."""
    import unicodedata

    words = name.split(" ")
    cands = [i for i, w in enumerate(words) if not w.isascii()]
    if not cands:
        return None
    folded = fold_diacritics(name)
    start = int(u * len(cands))
    for j in range(len(cands)):
        i = cands[(start + j) % len(cands)]
        w = words[i]
        d = unicodedata.normalize("NFD", w)
        tone = next((c for c in d if c in _TONES), "")
        options = []
        if tone:
            for t in _TONES:
                if t != tone:
                    options.append(nfc(d.replace(tone, t)))
            options.append(nfc(d.replace(tone, "")))
        marked = nfc(w).translate(VOWEL_MARK_DROP)
        if marked != nfc(w):
            options.append(marked)
        if not tone:
            base = d
            vowel_pos = [k for k, c in enumerate(base) if c.lower() in "aeiouy"]
            if vowel_pos:
                k = vowel_pos[-1] + 1
                options.append(nfc(base[:k] + _TONES[int(v * 5)] + base[k:]))
        same = {w, set_tone_style(w, "new"), set_tone_style(w, "old")}
        options = [o for o in options if o not in same]
        if options:
            words[i] = options[int(v * len(options)) % len(options)]
            out = " ".join(words)
            if out != folded:
                return out
    return None


def _apply_name(code: str, name: str, u: float, v: float, other_given: str) -> str | None:
    import unicodedata

    if code == "name:unicode_form":
        return unicodedata.normalize("NFD", name)
    if code == "name:case_spacing":
        k = int(u * 4)
        if k == 0:
            return name.upper()
        if k == 1:
            return name.lower()
        if k == 2:
            return "  ".join(name.split(" "))
        # family name in capitals, as on some forms; no leading/trailing blanks,
        # which importers strip
        first, _, rest = name.partition(" ")
        return first.upper() + (" " + rest if rest else "")
    if code == "name:no_diacritics":
        return fold_diacritics(name)
    if code == "name:tone_placement":
        new = set_tone_style(name, "new")
        return new if new != name else set_tone_style(name, "old")
    if code == "name:diacritic_error":
        return _diacritic_error(name, u, v)
    if code == "name:typo":
        return _name_typo(name, u, v)
    if code == "name:order":
        words = name.split(" ")
        return " ".join([words[-1]] + words[:-1])
    if code == "name:missing_part":
        words = name.split(" ")
        if len(words) < 3:
            return None
        k = 1 + int(u * (len(words) - 2))  # drop a middle word
        return " ".join(words[:k] + words[k + 1:])
    if code == "name:other":
        words = name.split(" ")
        if fold_diacritics(other_given).lower() == fold_diacritics(words[-1]).lower():
            return None
        return " ".join(words[:-1] + [other_given])
    raise ValueError(code)


def _excel_scientific(digits: str) -> str:
    """How Excel's General format shows an 11-digit number in a narrow column: 7.91235E+10."""
    d = Decimal(int(digits))
    exp = d.adjusted()
    mant = (d.scaleb(-exp)).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)
    if mant >= 10:
        mant, exp = mant / 10, exp + 1
    text = f"{mant:.5f}".rstrip("0").rstrip(".")
    return f"{text}E+{exp:02d}"


def _date_text(y: int, m: int, d: int, form: int, serial: int) -> str:
    forms = (
        lambda: f"{d:02d}/{m:02d}/{y:04d}",
        lambda: f"{d}/{m}/{y:04d}" if (d < 10 or m < 10) else f"{d:02d}/{m:02d}/{y:04d}",
        lambda: f"{d:02d}-{m:02d}-{y % 100:02d}",
        lambda: f"{d:02d}.{m:02d}.{y:04d}",
        lambda: str(serial),
        lambda: f"{d:02d}-{m:02d}-{y:04d}",
    )
    return forms[form]()


_DATE_FORM_WEIGHTS = (0.5, 0.15, 0.1, 0.07, 0.1, 0.08)


def _valid(y: int, m: int, d: int) -> bool:
    try:
        np.datetime64(f"{y:04d}-{m:02d}-{d:02d}")
    except ValueError:
        return False
    return 1 <= m <= 12 and 1 <= d <= 31


def _dob_typo(iso: str, u: float, v: float) -> str | None:
    """One digit of the date changed; still a valid date, not a swap or default."""
    digits = [i for i, c in enumerate(iso) if c.isdigit()]
    for t in range(len(digits)):
        i = digits[(int(u * len(digits)) + t) % len(digits)]
        if i < 2:
            continue  # century digits are never mistyped this way
        cur = int(iso[i])
        for s in range(1, 10):
            new = (cur + s + int(v * 9)) % 10
            if new == cur:
                continue
            cand = iso[:i] + str(new) + iso[i + 1:]
            parts = cand.split("-")
            y, m = int(parts[0]), int(parts[1]) if len(parts) > 1 else 1
            dd = int(parts[2]) if len(parts) > 2 else 1
            if not _valid(y, m, dd) or y > REF_YEAR - 12 or y < 1900:
                continue
            if len(parts) == 3:
                oy, om, od = (int(x) for x in iso.split("-"))
                if (y, m, dd) == (oy, od, om) or (m == 1 and dd == 1):
                    continue
            return cand
    return None


def _id_digit_change(digits: str, u: float, v: float, transpose: bool) -> str | None:
    n = len(digits)
    if transpose:
        pairs = [i for i in range(n - 1) if digits[i] != digits[i + 1]]
        if not pairs:
            return None
        i = pairs[int(u * len(pairs))]
        return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
    i = 1 + int(u * (n - 1))
    new = (int(digits[i]) + 1 + int(v * 9)) % 10
    return digits[:i] + str(new) + digits[i + 1:]


# Truth labels beyond the one code per field the assignment draws (contract, "How codes
# combine": codes are additive).  A bit set adds or replaces a code in the record's label.
_EXTRA_DOB_FORMAT = 1  # + dob:format: the semantic dob error typed as dd/mm/yyyy
_EXTRA_ID_MALFORMED = 2  # + id:malformed: separators around a wrong number
_EXTRA_ID_TYPO = 4  # + id:typo: a digit is lost too (a letter where it was)
_EXTRA_ID_ONLY_TYPO = 8  # id:typo instead of id:malformed: one digit inserted or deleted


def _malformed(digits: str, u: float, v: float) -> tuple[str, int]:
    """A mangled ID text and the label bits (``_EXTRA_*``) its truth needs."""
    k = int(u * 5)
    i = 2 + int(v * (len(digits) - 2))
    if k == 0:  # letter for a digit: O for 0, l for 1 stay readable; another letter loses the digit
        ch = digits[i]
        rep = {"0": "O", "1": "l"}.get(ch, "ACEFGHK"[int(v * 7)])
        return digits[:i] + rep + digits[i + 1:], (0 if ch in "01" else _EXTRA_ID_TYPO)
    if k == 1:  # a digit dropped inside: one deletion, a typo
        out = digits[:i] + digits[i + 1:]
        if out == digits[1:]:
            return digits[:-1] + "x", _EXTRA_ID_TYPO
        return out, _EXTRA_ID_ONLY_TYPO
    if k == 2:  # a digit too many: one insertion, a typo
        return digits[:i] + digits[i] + digits[i:], _EXTRA_ID_ONLY_TYPO
    if k == 3:  # cut short (never 9 digits, which would read as a CMND)
        return digits[: (8, 10)[int(v * 2) % 2]], 0
    sep = " .-"[int(v * 3)]  # grouped by three, as typed from the card
    return sep.join(digits[j:j + 3] for j in range(0, len(digits), 3)), 0


# --------------------------------------------------------------------------- main
def generate(persons: int, seed: int, provinces: Iterable[str] | None = None,
             errors: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Generate a synthetic register, dose records, feedback and their truth.

    Parameters
    ----------
    persons : int
        Number of register persons.
    seed : int
        Random seed; the same arguments give identical tables.
    provinces : iterable of str, optional
        GSO codes of the provinces of residence (default: all 63).
    errors : path or dict, optional
        Error profile (default ``parameters/errors.yaml``).

    Returns
    -------
    dict of str to DataFrame
        ``registry``, ``vaccinations``, ``feedback``, ``truth_vaccinations``,
        ``truth_feedback``, ``truth_persons``.
    """
    if persons < 1:
        raise SettingsError.say("synth_persons")
    provs = sorted(BY_GSO) if provinces is None else [str(p).strip().zfill(2) for p in provinces]
    unknown = [p for p in provs if p not in BY_GSO]
    if unknown:
        raise SettingsError.say("synth_unknown_provinces", codes=", ".join(unknown))
    provs = sorted(dict.fromkeys(provs))
    prof = errors if isinstance(errors, ErrorProfile) else load_error_profile(errors)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]

    clock = _StageClock()
    hum = _build_humans(streams[0], persons, provs, prof)
    clock("people")
    H = len(hum["id"])
    hum["human_id"] = "H" + _zfill(np.arange(1, H + 1), 8).astype(object)
    reg_mask = hum["in_registry"]

    rng = streams[1]
    rec = _doses(rng, hum, prof)
    # Facilities: people mostly return to one facility in their province.
    prov_labels = np.array(sorted(BY_GSO), dtype=object)
    res_i = np.searchsorted(prov_labels, hum["residence"].astype("U2"))
    birth_u = hum["birth"].astype("U2")
    birth_i = np.where(birth_u == "", -1, np.searchsorted(prov_labels, birth_u))
    counts = np.bincount(res_i, minlength=len(prov_labels))
    born = np.bincount(birth_i[birth_i >= 0], minlength=len(prov_labels)) > 0
    fac_n = _facilities(sorted(set(provs) | set(prov_labels[born].tolist())),
                        {g: int(c) for g, c in zip(prov_labels.tolist(), counts) if c})
    fac_prov = np.array(sorted(fac_n))
    fac_count = np.array([fac_n[p] for p in fac_prov])
    fac_offset = np.concatenate([[0], np.cumsum(fac_count)[:-1]])
    fac_ids = np.concatenate([[f"CS-{p}-{k:04d}" for k in range(1, fac_n[p] + 1)] for p in fac_prov]).astype(object)
    fac_province = np.repeat(fac_prov, fac_count).astype(object)
    fac_names = np.concatenate([facility_names(p, fac_n[p]) for p in fac_prov]).astype(object)
    h = rec["h"].to_numpy()
    res = hum["residence"][h]
    birth = hum["birth"][h]
    R = len(rec)
    where = np.where((rng.random(R) < 0.04) & (birth != ""), birth, res)
    pidx = np.searchsorted(fac_prov, where)
    home = (streams[2].random(H) * 10**6).astype(np.int64)
    fac_local = np.where(rng.random(R) < 0.7, home[h], rng.integers(0, 10**6, R)) % fac_count[pidx]
    fac = fac_offset[pidx] + fac_local

    # Duplicate records (entered twice) and wrong products typed.
    pop = prof.population
    dup_src = np.flatnonzero(rng.random(R) < pop["duplicate_record_rate"])
    rec["dup_of"] = -1
    dup = rec.iloc[dup_src].copy()
    dup["dup_of"] = dup_src
    rec = pd.concat([rec, dup], ignore_index=True)
    fac = np.concatenate([fac, fac[dup_src]])
    R = len(rec)
    # Order as the platform would list them: by date and facility, ties at random.
    order = np.lexsort((rng.random(R), fac, rec["date"].to_numpy()))
    rec = rec.iloc[order].reset_index(drop=True)
    fac = fac[order]
    new_pos = np.empty(R, dtype=np.int64)
    new_pos[order] = np.arange(R)
    d_of = rec["dup_of"].to_numpy()
    rec["dup_of"] = np.where(d_of >= 0, new_pos[np.maximum(d_of, 0)], -1)
    record_id = ("VR" + pd.Series(_zfill(np.arange(1, R + 1), 9), dtype=object)).to_numpy(dtype=object)
    h = rec["h"].to_numpy()
    prod = rec["product"].to_numpy()
    wrong_vax = rng.random(R) < pop["wrong_vaccine_rate"]
    typed_prod = np.where(wrong_vax, (prod + rng.integers(1, len(_PRODUCTS), R)) % len(_PRODUCTS), prod)

    clock("doses")
    # ------------------------------------------------------------ errors
    rng = streams[3]
    codes_by_field = {f: [c for c in ERROR_CODES if c.startswith(f + ":")] for f in FIELDS}
    code_ids = {c: i + 1 for f in FIELDS for i, c in enumerate(codes_by_field[f])}
    in_reg = reg_mask[h]
    foreign = hum["is_foreigner"][h]
    nonreg_vn = ~in_reg & ~foreign
    prec = hum["prec"][h]
    dob = hum["dob"].astype("datetime64[D]")[h]
    dob_y = dob.astype("datetime64[Y]").astype(np.int64) + 1970
    dob_m = dob.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dob_d = (dob - dob.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    has_old = pd.notna(hum["old_id"])[h]
    parent = hum["parent"][h]
    words = hum["words"][h]
    tone = hum["tone"][h]
    nonascii = hum["nonascii"][h]

    messy = rng.random(R) < prof.messy_share
    rest_mult = (1 - prof.messy_share * prof.messy_multiplier) / max(1e-9, 1 - prof.messy_share)
    base_w = np.where(messy, prof.messy_multiplier, max(0.05, rest_mult))
    weights = {c: base_w for c in ERROR_CODES}
    habits_out = []
    n_fac = len(fac_ids)
    for hb in prof.habits:
        # one code (``code``, ``rate``), or several at the same facilities (``codes: {code: rate}``):
        # a facility on an old paper form leaves the ID empty *and* writes only the birth year
        codes = hb["codes"] if isinstance(hb.get("codes"), Mapping) else {hb["code"]: hb.get("rate", 0.5)}
        k = min(int(hb.get("facilities", 1)), n_fac)
        # habits belong to busy facilities: draw records, take their facilities
        chosen = np.unique(fac[rng.integers(0, len(fac), 50 * k)])
        chosen = rng.permutation(chosen)[:k] if len(chosen) >= k else chosen
        at = np.isin(fac, chosen)
        for code, habit_rate in codes.items():
            mult = float(habit_rate) / max(prof.rates[code], 1e-6)
            weights[code] = np.where(at, base_w * mult, weights[code])
            habits_out.append((code, sorted(fac_ids[chosen].tolist())))
    weights["id:other_person"] = np.where(parent >= 0, 30.0, 1.0) * base_w

    full_dob = prec == 2
    T = R
    eligible = {
        "id:missing": in_reg, "id:malformed": in_reg, "id:passport": in_reg, "id:old_cmnd": in_reg & has_old,
        "id:lost_leading_zero": in_reg, "id:excel_mangled": in_reg, "id:typo": in_reg,
        "id:transposition": in_reg, "id:other_person": in_reg, "id:unknown": in_reg,
        "name:unicode_form": nonascii, "name:case_spacing": np.ones(R, bool), "name:no_diacritics": nonascii,
        "name:tone_placement": tone, "name:diacritic_error": nonascii, "name:typo": np.ones(R, bool),
        "name:order": words >= 2, "name:missing_part": words >= 3, "name:other": ~foreign,
        "dob:format": prec >= 1, "dob:day_month_swap": full_dob & (dob_d <= 12) & (dob_d != dob_m),
        "dob:year_only_default": full_dob & ~((dob_d == 1) & (dob_m == 1)), "dob:partial": full_dob,
        "dob:typo": np.ones(R, bool), "dob:other": np.ones(R, bool),
        "sex:mismatch": np.ones(R, bool), "sex:missing": np.ones(R, bool),
    }
    assigned = {f: np.zeros(R, dtype=np.int64) for f in FIELDS}
    # Forced: foreigners type passports; never-registered Vietnamese their own (unknown) number or nothing.
    assigned["id"][foreign] = code_ids["id:passport"]
    typed_own = rng.random(R) < pop["unknown_id_share_of_not_in_register"]
    assigned["id"][nonreg_vn & typed_own] = code_ids["id:unknown"]
    assigned["id"][nonreg_vn & ~typed_own] = code_ids["id:missing"]
    order_by_field = {
        "id": ["id:old_cmnd", "id:other_person", "id:passport", "id:excel_mangled", "id:lost_leading_zero",
               "id:transposition", "id:typo", "id:unknown", "id:malformed", "id:missing"],
        "name": ["name:tone_placement", "name:missing_part", "name:unicode_form", "name:diacritic_error",
                 "name:no_diacritics", "name:order", "name:other", "name:typo", "name:case_spacing"],
        "dob": ["dob:day_month_swap", "dob:year_only_default", "dob:partial", "dob:format", "dob:typo",
                "dob:other"],
        "sex": ["sex:mismatch", "sex:missing"],
    }
    for f in FIELDS:
        _assign_codes(rng, T, order_by_field[f], prof.rates, eligible, weights, assigned[f], code_ids,
                      h=h, per_person=prof.per_person)

    clock("error assignment")
    # ---------------------------------------------------------------- typed values
    rng = streams[4]
    u = rng.random((R, 2))
    true_name = hum["full_name"][h]
    true_id = hum["id"][h]
    true_dob = hum["dob_text"][h]
    true_sex = hum["sex"][h]
    id_codes = {v: k for k, v in code_ids.items() if k.startswith("id:")}

    # id
    typed_id = true_id.copy()
    a = assigned["id"]
    register_ids = np.sort(hum["id_int"][reg_mask])
    sel = np.flatnonzero(a == code_ids["id:missing"])
    typed_id[sel] = None
    sel = np.flatnonzero(a == code_ids["id:lost_leading_zero"])
    typed_id[sel] = np.array([s[1:] for s in true_id[sel]], dtype=object)
    sel = np.flatnonzero(a == code_ids["id:old_cmnd"])
    typed_id[sel] = hum["old_id"][h[sel]]
    sel = np.flatnonzero(a == code_ids["id:excel_mangled"])
    typed_id[sel] = np.array([_excel_scientific(s) for s in true_id[sel]], dtype=object)
    sel = np.flatnonzero((a == code_ids["id:passport"]) & in_reg)
    # one passport per person: every record of a person gives the number drawn for its first
    drawn = pd.Series(rng.integers(0, 10**7, len(sel))).groupby(h[sel]).transform("first").to_numpy()
    typed_id[sel] = "C" + pd.Series(_zfill(drawn, 7), dtype=object).to_numpy(dtype=object)
    extra = np.zeros(R, dtype=np.int64)  # _EXTRA_* label bits
    sel = np.flatnonzero(a == code_ids["id:malformed"])
    mal = [_malformed(s, x, y) for s, (x, y) in zip(true_id[sel], u[sel])]
    typed_id[sel] = np.array([m for m, _ in mal], dtype=object)
    extra[sel] |= np.array([b for _, b in mal], dtype=np.int64)
    for code, transpose in (("id:typo", False), ("id:transposition", True)):
        sel = np.flatnonzero(a == code_ids[code])
        vals = [_id_digit_change(s, x, y, transpose) for s, (x, y) in zip(true_id[sel], u[sel])]
        def clashes(vals: list) -> list[int]:
            num = np.array([-1 if v is None else int(v) for v in vals], dtype=np.int64)
            return np.flatnonzero((num < 0) | _member(num, register_ids)).tolist()

        for j in range(5):  # a change that lands on another register person is re-drawn
            clash = clashes(vals)
            if not clash:
                break
            alt = rng.random((len(clash), 2))
            for i, (x, y) in zip(clash, alt):
                vals[i] = _id_digit_change(true_id[sel[i]], x, y, transpose)
        bad = clashes(vals)
        # Some are typed grouped by three as well: id:malformed joins the code.
        spaced = ((u[sel, 1] * 7919) % 1.0) < 0.1
        vals = [" ".join(v[j:j + 3] for j in range(0, 12, 3)) if sp and v is not None else v
                for v, sp in zip(vals, spaced)]
        extra[sel[spaced]] |= _EXTRA_ID_MALFORMED
        typed_id[sel] = np.array(vals, dtype=object)
        if bad:  # give up: leave the value clean and drop the code
            typed_id[sel[bad]] = true_id[sel[bad]]
            a[sel[bad]] = 0
            extra[sel[bad]] = 0
    # other person: a parent's ID for minors, else someone in the same province.
    sel = np.flatnonzero(a == code_ids["id:other_person"])
    reg_idx = np.flatnonzero(reg_mask)
    reg_res = res_i[reg_idx]
    by_prov = reg_idx[np.argsort(reg_res, kind="stable")]
    sorted_res = np.sort(reg_res)
    p_res = res_i[h[sel]]
    lo = np.searchsorted(sorted_res, p_res, "left")
    hi = np.searchsorted(sorted_res, p_res, "right")
    other = by_prov[np.minimum(lo + (u[sel, 0] * (hi - lo)).astype(np.int64), len(by_prov) - 1)]
    alt = np.where(by_prov[lo] != h[sel], by_prov[lo], by_prov[np.minimum(lo + 1, len(by_prov) - 1)])
    other = np.where(other == h[sel], alt, other)
    other = np.where(parent[sel] >= 0, parent[sel], other)
    ok = other != h[sel]
    typed_id[sel[ok]] = hum["id"][other[ok]]
    a[sel[~ok]] = 0
    other_full = np.full(R, -1)
    other_full[sel[ok]] = other[ok]
    # unknown: a well-formed CCCD not in the register (for never-registered people: their own).
    sel = np.flatnonzero((a == code_ids["id:unknown"]) & in_reg)
    if len(sel):
        base = (hum["id_int"][h[sel]] // 10**6) * 10**6
        cand = base + rng.integers(0, 10**6, len(sel))
        all_ids = np.sort(hum["id_int"][hum["id_int"] >= 0])
        for _ in range(10):
            bad = _member(cand, all_ids)
            if not bad.any():
                break
            cand[bad] = base[bad] + rng.integers(0, 10**6, int(bad.sum()))
        typed_id[sel] = _zfill(cand, 12).astype(object)

    # name
    typed_name = true_name.copy()
    a = assigned["name"]
    C = _components()
    gi = rng.integers(0, 10**6, R)
    for code in codes_by_field["name"]:
        sel = np.flatnonzero(a == code_ids[code])
        if not len(sel):
            continue
        sexes = true_sex[sel]
        other_given = np.where(
            sexes == "F",
            C.text[0][C.given["F"][0][gi[sel] % len(C.given["F"][0])]],
            C.text[0][C.given["M"][0][gi[sel] % len(C.given["M"][0])]],
        )
        vals = [_apply_name(code, s, x, y, g) for s, (x, y), g in zip(true_name[sel], u[sel], other_given)]
        fail = np.array([v is None or v == s for v, s in zip(vals, true_name[sel])])
        typed_name[sel] = np.array([s if v is None else v for v, s in zip(vals, true_name[sel])], dtype=object)
        a[sel[fail]] = 0

    # dob
    typed_dob = true_dob.copy()
    a = assigned["dob"]
    serial = (dob - EXCEL_EPOCH).astype(np.int64)
    form = _choice(rng, R, _DATE_FORM_WEIGHTS)
    sel = np.flatnonzero(a == code_ids["dob:format"])
    typed_dob[sel] = np.array([
        _date_text(y, m, d, f, s) if p == 2 else (f"{m:02d}/{y}" if f % 2 == 0 or m >= 10 else f"{m}/{y}")
        for y, m, d, f, s, p in zip(dob_y[sel], dob_m[sel], dob_d[sel], form[sel], serial[sel], prec[sel])
    ], dtype=object)
    # A semantic dob error typed in another layout than the register's also carries dob:format.
    sel = np.flatnonzero(a == code_ids["dob:day_month_swap"])
    typed_dob[sel] = np.array([
        f"{y:04d}-{d:02d}-{m:02d}" if f % 2 else f"{m:02d}/{d:02d}/{y:04d}"
        for y, m, d, f in zip(dob_y[sel], dob_m[sel], dob_d[sel], form[sel])], dtype=object)
    extra[sel[form[sel] % 2 == 0]] |= _EXTRA_DOB_FORMAT
    sel = np.flatnonzero(a == code_ids["dob:year_only_default"])
    typed_dob[sel] = np.array([f"01/01/{y:04d}" for y in dob_y[sel]], dtype=object)
    extra[sel] |= _EXTRA_DOB_FORMAT
    sel = np.flatnonzero(a == code_ids["dob:partial"])
    typed_dob[sel] = np.array([str(y) if f % 3 else f"{m:02d}/{y:04d}"
                               for y, m, f in zip(dob_y[sel], dob_m[sel], form[sel])], dtype=object)
    sel = np.flatnonzero(a == code_ids["dob:typo"])
    vals = [_dob_typo(s, x, y) for s, (x, y) in zip(true_dob[sel], u[sel])]
    fail = np.array([v is None for v in vals], dtype=bool)
    # half of the full-date typos are typed as dd/mm/yyyy (dob:format joins)
    slash = ~fail & (prec[sel] == 2) & (form[sel] % 2 == 0)
    vals = [f"{v[8:10]}/{v[5:7]}/{v[:4]}" if sl else v for v, sl in zip(vals, slash)]
    extra[sel[slash]] |= _EXTRA_DOB_FORMAT
    typed_dob[sel] = np.array([s if v is None else v for v, s in zip(vals, true_dob[sel])], dtype=object)
    a[sel[fail]] = 0
    sel = np.flatnonzero(a == code_ids["dob:other"])
    shift = rng.integers(2, 9, len(sel)) * np.where(rng.random(len(sel)) < 0.5, -1, 1)
    new_y = np.clip(dob_y[sel] + shift, 1926, REF_YEAR - 12)
    new_y = np.where(np.abs(new_y - dob_y[sel]) < 2, dob_y[sel] - shift, new_y)
    typed_dob[sel] = np.array([
        f"{y:04d}-{(m % 12) + 1:02d}-{min(28, (d + 9) % 28 + 1):02d}" if p == 2 else
        (f"{y:04d}-{m:02d}" if p == 1 else f"{y:04d}")
        for y, m, d, p in zip(new_y, dob_m[sel], dob_d[sel], prec[sel])], dtype=object)

    # sex: facility's spelling (Nam/Nữ, M/F, 1/0 are the same value).
    fac_style = (streams[5].random(n_fac) * 10).astype(np.int64)  # 0-5 Nam/Nữ, 6-7 M/F, 8-9 1/0
    st = fac_style[fac]
    a = assigned["sex"]
    value_f = ((true_sex == "F") ^ (a == code_ids["sex:mismatch"])).astype(np.int64)
    sex_idx = np.where(st <= 5, 0, np.where(st <= 7, 2, 4)) + value_f
    sex_idx[a == code_ids["sex:missing"]] = -1
    sex_labels = _arrow(TYPED_SEX_SPELLINGS)

    # phone / province / vaccine / lot
    clock("corruptions")
    rng = streams[5]
    up = rng.random(R)
    phone_base = _arrow(np.concatenate([hum["phone"], hum["phone2"], hum["phone_old"]]))
    phone_idx = np.where(up < 0.88, h, np.where(up < 0.92, H + h, np.where(up < 0.94, 2 * H + h, -1)))
    uprov = rng.random(R)
    fac_pi = np.searchsorted(prov_labels, fac_province.astype(str))
    prov_idx = np.where(uprov < 0.93, res_i[h], np.where(uprov < 0.98, -1, fac_pi[fac]))
    spell = [x for p in _PRODUCTS for x in _VACCINE_SPELLINGS[p]]
    sp_idx = np.where(rng.random(R) < 0.8, 0, rng.integers(1, 4, R))
    vaccine_idx = typed_prod * 4 + sp_idx
    lots = _lot_table(streams[6])
    days = (rec["date"].to_numpy().astype("datetime64[D]") - CAMPAIGN_START).astype(np.int64)
    month = (CAMPAIGN_START + days).astype("datetime64[M]") - np.datetime64("2021-03", "M")
    lot_key = prod * 14 + np.clip(month.astype(np.int64), 0, 13)
    lot_flat = [x for p in range(len(_PRODUCTS)) for m in range(14) for x in lots[(p, m)]]
    lot_idx = lot_key * 6 + rng.integers(0, 6, R)
    date_labels = _arrow(np.datetime_as_string(CAMPAIGN_START + np.arange(days.max() + 1)))

    name_base = _arrow(hum["full_name"])
    id_base = _arrow(hum["id"])
    dob_base = _arrow(hum["dob_text"])
    hid_base = _arrow(hum["human_id"])
    rid_base = _arrow(record_id)
    vaccinations = _frame({
        "record_id": _take(rid_base, None),
        "full_name": _patched(name_base, h, assigned["name"], typed_name),
        "dob": _patched(dob_base, h, assigned["dob"], typed_dob),
        "sex": _take(sex_labels, sex_idx),
        "id_number": _patched(id_base, h, assigned["id"], typed_id),
        "phone": _take(phone_base, phone_idx),
        "province_code": _take(_arrow(prov_labels), prov_idx),
        "facility_id": _take(_arrow(fac_ids), fac),
        "facility_province": _take(_arrow(fac_province), fac),
        "dose_number": rec["dose_number"].to_numpy().astype(np.int64),
        "vaccination_date": _take(date_labels, days),
        "vaccine": _take(_arrow(spell), vaccine_idx),
        "lot_number": _take(_arrow(lot_flat), lot_idx),
        "facility_name": _take(_arrow(fac_names), fac),
    })

    # error codes per record (one string per distinct combination)
    key = (((assigned["id"] * 16 + assigned["name"]) * 16 + assigned["dob"]) * 4 + assigned["sex"]) * 16 + extra
    present = np.bincount(key) > 0
    uniq = np.flatnonzero(present)
    lookup = np.cumsum(present) - 1
    inv = lookup[key]
    labels = []
    for k in uniq:
        bits, k = k % 16, k // 16
        cs = []
        for f, v in (("id", k // 1024), ("name", (k // 64) % 16), ("dob", (k // 4) % 16), ("sex", k % 4)):
            if v:
                cs.append(codes_by_field[f][v - 1])
        if bits & _EXTRA_ID_ONLY_TYPO:
            cs = [c for c in cs if c != "id:malformed"] + ["id:typo"]
        cs += [c for b, c in ((_EXTRA_DOB_FORMAT, "dob:format"), (_EXTRA_ID_MALFORMED, "id:malformed"),
                              (_EXTRA_ID_TYPO, "id:typo")) if bits & b]
        labels.append(";".join(sorted(dict.fromkeys(cs), key=ERROR_CODES.index)))
    dup_of = rec["dup_of"].to_numpy()
    truth_v = _frame({
        "record_id": _take(rid_base, None), "human_id": _take(hid_base, h),
        "person_id": _take(id_base, np.where(in_reg, h, -1)), "error_codes": _take(_arrow(labels), inv),
        "true_full_name": _take(name_base, h), "true_dob": _take(dob_base, h),
        "true_sex": _take(_arrow(["F", "M"]), (true_sex == "M").astype(np.int64)),
        "true_id_number": _take(id_base, h),
        "true_vaccine": _take(_arrow([BY_CODE[p].display for p in _PRODUCTS]), prod),
        "duplicate_of": _take(rid_base, dup_of),
    })

    # registry (sorted by person_id, as an extract would be)
    ro = np.flatnonzero(reg_mask)
    ro = ro[np.argsort(hum["id_int"][ro], kind="stable")]
    old_base = _arrow(hum["old_id"])
    sexh = _take(_arrow(["F", "M"]), (hum["sex"] == "M").astype(np.int64))
    registry = _frame({
        "person_id": _take(id_base, ro), "full_name": _take(name_base, ro), "dob": _take(dob_base, ro),
        "sex": sexh[ro], "old_id": _take(old_base, ro), "province_code": _take(_arrow(prov_labels), res_i[ro]),
    })
    kinds = np.array(["", "same_year", "same_dob", "not_in_register"], dtype=object)
    truth_p = _frame({
        "human_id": _take(hid_base, None), "person_id": _take(id_base, np.where(reg_mask, np.arange(H), -1)),
        "full_name": _take(name_base, None), "dob": _take(dob_base, None), "sex": sexh,
        "id_number": _take(id_base, None), "old_id": _take(old_base, None), "in_registry": reg_mask.astype(bool),
        "is_foreigner": hum["is_foreigner"].astype(bool),
        "birth_province": _take(_arrow(prov_labels), birth_i),
        "province_code": _take(_arrow(prov_labels), res_i), "phone": _take(phone_base, np.arange(H)),
        "twin_of": _take(hid_base, hum["twin_of"]), "namesake_of": _take(hid_base, hum["namesake_of"]),
        "namesake_kind": _take(_arrow(kinds[1:]), _kind_index(hum["namesake_kind"], kinds)),
        "parent_human_id": _take(hid_base, hum["parent"]),
    })

    recs = {"record_id": rid_base, "dose": rec["dose_number"].to_numpy(), "date": date_labels, "days": days,
            "facility_id": _arrow(fac_ids), "fac": fac, "vaccine": _arrow(spell), "vaccine_idx": vaccine_idx,
            "true_vaccine": [BY_CODE[p].display for p in _PRODUCTS]}
    clock("tables")
    tables = {
        "registry": registry[columns("registry")],
        # facility_name is not a contract column: an extra column after them (io tolerates it)
        "vaccinations": vaccinations[columns("vaccinations") + ["facility_name"]],
        "truth_vaccinations": truth_v[TRUTH_VACCINATIONS + TRUTH_VACCINATIONS_EXTRA],
        "truth_persons": truth_p[TRUTH_PERSONS],
    }
    feedback, truth_f = _feedback(streams[7], prof, tables)
    log.info("synth: %d register persons, %d people outside it, %d dose records, %d feedback items",
             int(reg_mask.sum()), int((~reg_mask).sum()), R, len(feedback))
    clock("feedback")
    tables = {**tables, "feedback": feedback[columns("feedback")], "truth_feedback": truth_f[TRUTH_FEEDBACK]}
    tables = {k: tables[k] for k in TABLE_NAMES}
    tables["truth_vaccinations"].attrs["facility_habits"] = habits_out
    return tables


class _StageClock:
    """Logs wall and CPU seconds per generation stage at DEBUG level."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.stages: dict[str, tuple[float, float]] = {}

    def __call__(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.stages[stage] = (wall - self.wall, cpu - self.cpu)
        log.debug("synth stage %s: %.2f s wall, %.2f s CPU", stage, wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu


def _arrow(values: Iterable[Any]) -> pa.Array:
    """Strings (None = null) as an Arrow large_string array."""
    return pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)


def _take(base: pa.Array, idx: np.ndarray | None):
    """``base[idx]`` as a pandas ``str`` array; a negative index gives null; None = all of base."""
    if idx is None:
        return pd.array(base, dtype="str")
    idx = np.asarray(idx, dtype=np.int64)
    neg = idx < 0
    ind = pa.array(np.where(neg, 0, idx), mask=neg if neg.any() else None)
    return pd.array(base.take(ind), dtype="str")


def _patched(base: pa.Array, h: np.ndarray, codes: np.ndarray, typed: np.ndarray):
    """Per-record ``base[h]`` with the typed values where a code was injected."""
    pos = np.flatnonzero(codes > 0)
    full = pa.concat_arrays([base, _arrow(typed[pos])])
    idx = h.astype(np.int64).copy()
    idx[pos] = len(base) + np.arange(len(pos))
    return pd.array(full.take(pa.array(idx)), dtype="str")


def _kind_index(values: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    out = np.full(len(values), -1, dtype=np.int64)
    for i, k in enumerate(kinds[1:]):
        out[values == k] = i
    return out


def _frame(cols: Mapping[str, Any]) -> pd.DataFrame:
    """DataFrame whose object/str columns are pandas ``str`` (built through Arrow, fast)."""
    out = {}
    for k, v in cols.items():
        if isinstance(v, pd.api.extensions.ExtensionArray):
            out[k] = v
            continue
        v = np.asarray(v)
        if v.dtype.kind in "OU":
            v = pd.array(pa.array(v.astype(object), type=pa.large_string(), from_pandas=True), dtype="str")
        out[k] = v
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- feedback
def _feedback(rng: np.random.Generator, prof: ErrorProfile,
              tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Citizens' complaints about the generated records (seventeen kinds, :mod:`vaxlib.complaints.generate`)."""
    from vaxlib.complaints.generate import generate_complaints

    feedback, truth = generate_complaints(tables, rng, prof.feedback)
    return _frame({c: feedback[c].to_numpy(dtype=object) for c in feedback.columns}), \
        _frame({c: truth[c].to_numpy(dtype=object) for c in truth.columns})


# --------------------------------------------------------------------------- writing
_FIXED_XLSX_TIME = "2022-04-30T00:00:00Z"


def _pin_xlsx_timestamps(path: Path) -> None:
    """Make an .xlsx byte-for-byte reproducible: fixed document and zip-entry times.

    openpyxl stamps the creation/modification time into ``docProps/core.xml``
    and every zip entry; the same arguments must give the same bytes.
    """
    import re
    import zipfile

    with zipfile.ZipFile(path) as zin:
        entries = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    tmp = path.with_suffix(".xlsx.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":
                text = data.decode("utf-8")
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                              lambda m: m.group(1) + _FIXED_XLSX_TIME + m.group(3), text)
                data = text.encode("utf-8")
            info = zipfile.ZipInfo(name, date_time=(2022, 4, 30, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            zout.writestr(info, data)
    os.replace(tmp, path)


def write_dataset(tables: Mapping[str, pd.DataFrame], out: str | os.PathLike[str], format: str = "parquet") -> list[Path]:
    """Write the tables of :func:`generate` into ``out``.

    Contract tables go in ``format`` (``parquet``, ``csv`` or ``xlsx``; CSV and
    xlsx as the platform exports them).  Truth tables are Parquet, or CSV when
    ``format`` is ``csv``.  Returns the written paths.
    """
    if format not in ("parquet", "csv", "xlsx"):
        raise SettingsError.say("synth_format", format=repr(format))
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    from vaxlib.exports import write_csv
    from vaxlib.io import write_table
    written = []
    for name in TABLE_NAMES:
        if name not in tables:
            continue
        df = tables[name]
        if name.startswith("truth_"):
            fmt = "csv" if format == "csv" else "parquet"
            path = outdir / f"{name}.{fmt}"
            if fmt == "csv":
                write_csv(df, path, encoding="utf-8")
            else:
                df.to_parquet(path, index=False)
        else:
            path = outdir / f"{name}.{format}"
            if format == "parquet":
                df.to_parquet(path, index=False)
            else:
                write_table(df, path, name, format)
            if format == "xlsx":
                _pin_xlsx_timestamps(path)
        written.append(path)
    return written


#: rows of one streamed chunk (persons); about 1.6 GB of peak memory at 250,000
STREAM_CHUNK = 250_000


def _renumber(values, prefix: str, offset: int, width: int):
    """``prefix`` + number + ``offset`` for every ``prefix``-numbered value (None/"" stay);
    a Series keeps its index and dtype, a list gives an object array."""
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object), dtype=object)
    ok = (s.notna() & (s != "")).to_numpy()
    out = s.to_numpy(dtype=object).copy()
    if ok.any():
        n = s[ok].str.slice(len(prefix)).astype(np.int64).to_numpy() + offset
        out[ok] = np.char.add(prefix, _zfill(n, width)).astype(object)
    if not isinstance(values, pd.Series):
        return out
    return pd.Series(out, index=s.index, dtype=s.dtype if s.dtype != object else object)


def _chunk_seed(seed: int, k: int) -> int:
    """Chunk ``k``'s seed: chunk 0 is ``generate(n, seed)`` itself, later chunks independent streams."""
    return seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1, dtype=np.uint64)[0] >> 1)


def generate_partitioned(persons: int, seed: int, out: str | os.PathLike[str], *, chunk: int = STREAM_CHUNK,
                         provinces: Iterable[str] | None = None,
                         errors: str | os.PathLike[str] | Mapping[str, Any] | None = None,
                         progress=None) -> dict[str, int]:
    """Stream a synthetic data set of ``persons`` register persons to partitioned Parquet, in bounded memory.

    Writes ``out/<table>/part-NNNNN.parquet`` for every table of :func:`generate`, one part per
    chunk of ``chunk`` persons; only one chunk's tables (and 16 bytes per person of ID hashes)
    are held at a time.

    Differences from ``generate(persons, seed)`` (stated; chunk 0 *is* ``generate(chunk, seed)``,
    so a set of at most ``chunk`` persons is the unstreamed one, byte for byte):

    * chunk ``k > 0`` is ``generate(n_k, seed_k)`` with its own seed, its ``human_id``,
      ``record_id`` and ``feedback_id`` numbered after the previous chunks';
    * a person of a later chunk whose ID number or old ID an earlier chunk already gave out
      is left out with everything of theirs (records, feedback): IDs stay unique;
    * twins, parents and namesake links stay inside a chunk (common names still recur across
      chunks, as the name tables are the same), and facilities of one ID may differ in name.

    Returns
    -------
    dict
        Rows written per table, and ``records_with_errors``.
    """
    if persons < 1:
        raise SettingsError.say("synth_persons")
    out = Path(out)
    chunk = max(int(chunk), 1)
    n_chunks = -(-persons // chunk)
    hw, rw, fw = (max(w, len(str(int(persons * f)))) for w, f in ((8, 1.2), (9, 4.0), (7, 0.1)))
    seen = np.empty(0, dtype=np.uint64)  # hashes of every ID number and old ID given out so far
    rows = {name: 0 for name in TABLE_NAMES}
    h_off = r_off = f_off = errs = 0
    from vaxlib.match.distributed import stable_hash

    for k in range(n_chunks):
        n_k = min(chunk, persons - k * chunk)
        t = generate(n_k, _chunk_seed(seed, k), provinces=provinces, errors=errors)
        tp, tv, tf = t["truth_persons"], t["truth_vaccinations"], t["truth_feedback"]
        n_h, n_r, n_f = len(tp), len(tv), len(t["feedback"])
        ids = tp["id_number"].to_numpy(dtype=object)
        old = tp["old_id"].to_numpy(dtype=object)
        has_old = pd.notna(old) & (old != "")
        h_id, h_old = stable_hash(ids), np.where(has_old, stable_hash(np.where(has_old, old, "")), 0)
        clash = np.isin(h_id, seen) | (has_old & np.isin(h_old, seen))
        if clash.any():
            gone_h = set(tp["human_id"].to_numpy(dtype=object)[clash])
            gone_p = set(tp["person_id"].to_numpy(dtype=object)[clash & tp["in_registry"].to_numpy(bool)])
            keep_v = ~tv["human_id"].isin(gone_h).to_numpy()
            gone_r = set(tv["record_id"].to_numpy(dtype=object)[~keep_v])
            refs = tf["record_ids"].fillna("").astype(str).str.split(";")
            keep_f = ~(tf["human_id"].isin(gone_h).to_numpy()
                       | refs.map(lambda xs: any(x in gone_r for x in xs)).to_numpy(bool))
            tp = tp[~clash]
            for c in ("twin_of", "namesake_of", "parent_human_id"):
                tp[c] = tp[c].where(~tp[c].isin(gone_h), None)
            t["registry"] = t["registry"][~t["registry"]["person_id"].isin(gone_p).to_numpy()]
            t["vaccinations"], tv = t["vaccinations"][keep_v], tv[keep_v]
            t["feedback"], tf = t["feedback"][keep_f], tf[keep_f]
        seen = np.union1d(seen, np.concatenate([h_id[~clash], h_old[~clash & has_old]]))
        # numbering after the previous chunks' (gaps where persons were left out)
        tp = tp.assign(**{c: _renumber(tp[c], "H", h_off, hw) for c in ("human_id", "twin_of", "namesake_of",
                                                                            "parent_human_id")})
        tv = tv.assign(human_id=_renumber(tv["human_id"], "H", h_off, hw),
                       record_id=_renumber(tv["record_id"], "VR", r_off, rw),
                       duplicate_of=_renumber(tv["duplicate_of"], "VR", r_off, rw))
        vac = t["vaccinations"].assign(record_id=_renumber(t["vaccinations"]["record_id"], "VR", r_off, rw))
        fb = t["feedback"].assign(feedback_id=_renumber(t["feedback"]["feedback_id"], "PA", f_off, fw))
        rec_ids = [";".join(_renumber(x.split(";"), "VR", r_off, rw)) if isinstance(x, str) and x else x
                   for x in tf["record_ids"].tolist()]
        tf = tf.assign(feedback_id=_renumber(tf["feedback_id"], "PA", f_off, fw),
                       human_id=_renumber(tf["human_id"], "H", h_off, hw),
                       resubmission_of=_renumber(tf["resubmission_of"], "PA", f_off, fw),
                       record_ids=pd.Series(rec_ids, index=tf.index, dtype=tf["record_ids"].dtype))
        tables = {"registry": t["registry"], "vaccinations": vac, "feedback": fb, "truth_vaccinations": tv,
                  "truth_feedback": tf, "truth_persons": tp}
        for name in TABLE_NAMES:
            folder = out / name
            folder.mkdir(parents=True, exist_ok=True)
            tables[name].reset_index(drop=True).to_parquet(folder / f"part-{k:05d}.parquet", index=False)
            rows[name] += len(tables[name])
        errs += int((tv["error_codes"].fillna("") != "").sum())
        h_off, r_off, f_off = h_off + n_h, r_off + n_r, f_off + n_f
        del t, tables, tp, tv, tf, vac, fb
        from vaxlib.runs import fault_point

        fault_point("synth:chunk")  # a crash between parts (tests): the run folder must not look complete
        if progress is not None:
            progress(k + 1, n_chunks)
    return {**rows, "records_with_errors": errs}


# --------------------------------------------------------------------------- CLI
def register(subparsers) -> None:
    """Add ``vax synth`` to the CLI."""
    p = subparsers.add_parser(
        "synth", help="generate a synthetic register, vaccination records and feedback",
        description="Generate a realistic synthetic register, dose records with injected errors, "
                    "citizens' feedback and the ground truth.")
    p.add_argument("--persons", type=int, required=True, help="number of register persons")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--provinces", default=None, help="comma-separated GSO codes of residence, e.g. 79,01")
    p.add_argument("--errors", default=None, help="error profile YAML (default parameters/errors.yaml)")
    p.add_argument("--format", default="parquet", choices=("parquet", "csv", "xlsx"))
    p.add_argument("--partitioned", action="store_true",
                   help="stream in chunks to <table>/part-*.parquet with bounded memory (large sets; "
                        "`vax match --engine dask` reads the folders)")
    p.add_argument("--chunk", type=int, default=STREAM_CHUNK, help="(--partitioned) persons per part")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from vaxlib.cli import CommandError

    provinces = [x for x in args.provinces.split(",") if x.strip()] if args.provinces else None
    if args.persons < 1:
        raise CommandError.say("synth_persons")
    from vaxlib.runs import atomic_run

    if args.partitioned and args.format != "parquet":
        raise CommandError.say("synth_partitioned_format", format=args.format)
    try:
        with atomic_run(args.out, command="synth", args={k: v for k, v in vars(args).items() if k != "func"},
                        inputs=[args.errors] if args.errors else []) as staging:
            if args.partitioned:
                rows = generate_partitioned(args.persons, args.seed, staging.path, chunk=args.chunk,
                                            provinces=provinces, errors=args.errors)
                staged = [staging.path / name for name in TABLE_NAMES]
            else:
                tables = generate(args.persons, args.seed, provinces=provinces, errors=args.errors)
                staged = write_dataset(tables, staging.path, args.format)
                v = tables["truth_vaccinations"]
                rows = {name: len(tables[name]) for name in TABLE_NAMES}
                rows["records_with_errors"] = int((v["error_codes"].fillna("") != "").sum())
        paths = [Path(args.out) / p.name for p in staged]
    except FileNotFoundError as exc:
        raise CommandError.say("no_such_file", path=exc.filename) from exc
    n_rec = rows["truth_vaccinations"]
    with_err = rows["records_with_errors"] / n_rec if n_rec else 0.0
    from vaxlib import i18n
    from vaxlib.cli import cli_lang

    L = cli_lang(args)
    print(i18n.t("cli.synth_summary", L, persons=i18n.fmt_int(rows["registry"], L),
                 records=i18n.fmt_int(n_rec, L), errors=i18n.fmt_pct(with_err, L),
                 feedback=i18n.fmt_int(rows["feedback"], L)))
    for path in paths:
        print(f"  {path}")
    return 0
