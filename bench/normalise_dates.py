"""Benchmark: parse 1,000,000 typed dates of birth and compare them with the
register's dobs; parse 1,000,000 typed ID numbers.

Run: ``.venv/bin/python bench/normalise_dates.py [--rows N] [--runs R]``.
Prints the median of R runs (target for dates: ≤ 5 s for 1M rows) and the
baseline of a plain ``parse_typed_dob`` per row (no de-duplication) on a
sample, scaled.
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from vaxlib.vn.dates import compare_dobs, date_to_excel_serial, parse_dobs, parse_typed_dob
from vaxlib.vn.ids import check_cccd_structures, parse_ids
from vaxlib.vn.provinces import BY_CCCD


def typed_dates(n: int, n_people: int, rng: np.random.Generator) -> tuple[pd.Series, pd.Series]:
    """Register dobs of ``n_people`` people and ``n`` dose records typed in a realistic mix of forms."""
    start = date(1925, 1, 1).toordinal()
    span = date(2010, 12, 31).toordinal() - start
    dobs = [date.fromordinal(start + int(x)) for x in rng.integers(0, span, n_people)]
    # 4 % of the register knows only the year
    reg = [d.isoformat() if rng.random() > 0.04 else str(d.year) for d in dobs]
    forms = np.array(["dd/mm/yyyy", "d/m/yyyy", "yyyy-mm-dd", "dd-mm-yyyy", "yyyy", "serial", "dd/mm/yy",
                      "ddmmyyyy", "swap", "jan1", "typo", "empty", "datetime"])
    weights = np.array([0.45, 0.12, 0.12, 0.05, 0.05, 0.04, 0.03, 0.02, 0.03, 0.03, 0.02, 0.02, 0.02])
    who = rng.integers(0, n_people, n)
    form_of = rng.choice(len(forms), n, p=weights / weights.sum())
    # the same person's doses are mostly typed the same way: memoise per (person, form)
    memo: dict[tuple[int, int], str] = {}
    out = []
    for p, f in zip(who.tolist(), form_of.tolist()):
        key = (p, f)
        t = memo.get(key)
        if t is None:
            d = dobs[p]
            kind = forms[f]
            if kind == "dd/mm/yyyy":
                t = f"{d.day:02d}/{d.month:02d}/{d.year}"
            elif kind == "d/m/yyyy":
                t = f"{d.day}/{d.month}/{d.year}"
            elif kind == "yyyy-mm-dd":
                t = d.isoformat()
            elif kind == "dd-mm-yyyy":
                t = f"{d.day:02d}-{d.month:02d}-{d.year}"
            elif kind == "yyyy":
                t = str(d.year)
            elif kind == "serial":
                t = str(date_to_excel_serial(d))
            elif kind == "dd/mm/yy":
                t = f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}"
            elif kind == "ddmmyyyy":
                t = f"{d.day:02d}{d.month:02d}{d.year}"
            elif kind == "swap":
                t = f"{d.month:02d}/{d.day:02d}/{d.year}"
            elif kind == "jan1":
                t = f"01/01/{d.year}"
            elif kind == "typo":
                t = f"{d.day:02d}/{d.month:02d}/{d.year + 1}"
            elif kind == "empty":
                t = ""
            else:
                t = f"{d.isoformat()} 00:00:00"
            memo[key] = t
        out.append(t)
    typed = pd.Series(out, dtype="str")
    register = pd.Series(np.array(reg, dtype=object)[who], dtype="str")
    return typed, register


def typed_ids(n: int, rng: np.random.Generator) -> pd.Series:
    provinces = np.array(sorted(BY_CCCD))
    prov = provinces[rng.integers(0, len(provinces), n)]
    cs = rng.integers(0, 4, n)
    yy = rng.integers(0, 100, n)
    serial = rng.integers(0, 1_000_000, n)
    ids = [f"{p}{c}{y:02d}{s:06d}" for p, c, y, s in zip(prov.tolist(), cs.tolist(), yy.tolist(), serial.tolist())]
    kind = rng.random(n)
    out = []
    for i, x in enumerate(ids):
        k = kind[i]
        if k < 0.80:
            out.append(x)
        elif k < 0.87:
            out.append(x.lstrip("0"))  # lost leading zero(s)
        elif k < 0.90:
            out.append(f"{x[:3]} {x[3:6]} {x[6:]}")
        elif k < 0.92:
            out.append(f"{int(x):.5E}")
        elif k < 0.97:
            out.append(x[3:])  # a 9-digit CMND-like number
        elif k < 0.99:
            out.append("")
        else:
            out.append("C" + x[5:])
    return pd.Series(out, dtype="str")


def median_time(func, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=3_500, help="distinct register dobs (about 30k distinct typed)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(20211)

    typed, register = typed_dates(args.rows, args.people, rng)
    n_typed = typed.nunique()
    n_pairs = len(pd.DataFrame({"t": typed, "r": register}).drop_duplicates())
    print(f"dates: {args.rows:,} rows, {n_typed:,} distinct typed, {n_pairs:,} distinct (typed, register) pairs")

    t_parse = median_time(lambda: parse_dobs(typed), args.runs)
    t_cmp = median_time(lambda: compare_dobs(typed, register), args.runs)
    t_both = median_time(lambda: (parse_dobs(typed), compare_dobs(typed, register)), args.runs)
    print(f"  parse_dobs           median {t_parse:6.2f} s")
    print(f"  compare_dobs         median {t_cmp:6.2f} s")
    print(f"  parse + compare      median {t_both:6.2f} s   (target ≤ 5 s)")

    sample = typed.iloc[:50_000].tolist()
    t0 = time.perf_counter()
    for v in sample:
        parse_typed_dob(v)
    per_row = (time.perf_counter() - t0) / len(sample)
    print(f"  baseline: parse_typed_dob per row, no de-duplication: {per_row * 1e6:.1f} µs/row "
          f"-> {per_row * args.rows:.1f} s for {args.rows:,} rows; de-dup speed-up x{per_row * args.rows / t_parse:.1f}")
    codes = compare_dobs(typed, register)
    print("  code mix:", codes.value_counts().head(8).to_dict())

    ids = typed_ids(args.rows, rng)
    print(f"ids: {args.rows:,} rows, {ids.nunique():,} distinct")
    t_ids = median_time(lambda: parse_ids(ids), args.runs)
    print(f"  parse_ids            median {t_ids:6.2f} s")
    parsed = parse_ids(ids)
    print("  kind mix:", parsed["kind"].value_counts().to_dict())
    sexes = pd.Series(np.where(rng.random(args.rows) < 0.5, "M", "F"), dtype="str")
    dobs = register.iloc[: args.rows].reset_index(drop=True)
    t_struct = median_time(lambda: check_cccd_structures(parsed["digits"], sexes, dobs), args.runs)
    print(f"  check_cccd_structures median {t_struct:5.2f} s (random sex/dob, so most rows disagree)")


if __name__ == "__main__":
    main()
