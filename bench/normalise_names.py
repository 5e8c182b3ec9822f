"""Benchmark: canonicalise 1,000,000 typed names and classify how each differs
from its register name (taxonomy codes).

Run: ``.venv/bin/python bench/normalise_names.py [--rows N] [--people P] [--runs R]``.

The data imitate the platform: P register people (default 20,000 distinct
names drawn from real family / middle / given names), each with several dose
records; each record's name typed exactly (most) or with a realistic error
(no diacritics, capitals, NFD, the other tone convention, spacing, a typo,
keystroke residue, order, a dropped middle name, a wrong mark).  A person's
doses are mostly typed the same way, so there are far fewer distinct
(typed, register) pairs than rows.

Every run starts with cold caches.  Prints the median wall time of R runs
(target ≤ 5 s for 1M rows) and, as a baseline, the per-row cost without
de-duplication measured on a sample and scaled.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import unicodedata

import numpy as np
import pandas as pd

from vaxlib.vn import names as vn_names
from vaxlib.vn.names import canonical_name, canonical_names, compare_names, compare_names_many
from vaxlib.vn.text import fold_diacritics, set_tone_style

FAMILIES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
            "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Lâm", "Mai", "Trịnh", "Đoàn",
            "Lương", "Tạ", "Cao", "Quách", "Châu", "Hà", "Tô", "Kiều"]
FAMILY_W = [38, 11, 9.5, 7, 5, 4.5, 4.5, 3.9, 3, 2.1, 2, 1.4, 1.3, 1.3, 1, 0.5] + [0.4] * 14
MIDDLES = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Xuân", "Thu", "Bảo",
           "Khánh", "Hoài", "Thuỳ", "Quỳnh", "Hoàng", "Công", "Đình", "Kim", "Mỹ", "Phương", "Gia"]
GIVENS = ["An", "Anh", "Bình", "Châu", "Chi", "Cường", "Dũng", "Duy", "Giang", "Hà", "Hải", "Hằng",
          "Hạnh", "Hiếu", "Hòa", "Hoà", "Hồng", "Huệ", "Hùng", "Hương", "Huy", "Khoa", "Khoẻ", "Lan",
          "Linh", "Loan", "Long", "Mai", "Minh", "Nam", "Nga", "Ngân", "Nhung", "Oanh", "Phúc",
          "Phương", "Quân", "Quý", "Sơn", "Tâm", "Thắng", "Thảo", "Thủy", "Thuỷ", "Trang", "Trinh",
          "Tuấn", "Tùng", "Tuyết", "Uyên", "Việt", "Vy", "Xuân", "Yến", "Thoả", "Loan", "Đạt"]

KINDS = ["exact", "no_diacritics", "upper", "nfd", "tone", "spacing", "typo", "telex", "order",
         "missing", "diacritic", "lower"]
WEIGHTS = [0.72, 0.08, 0.04, 0.03, 0.02, 0.03, 0.02, 0.01, 0.01, 0.015, 0.015, 0.02]
_TELEX = {"ễ": "eex", "ị": "ij", "à": "af", "ồ": "oof", "ầ": "aaf", "ư": "uw", "ă": "aw", "ế": "ees"}


def register_names(n_names: int, rng: np.random.Generator) -> list[str]:
    """``n_names`` distinct register names (family name weights follow the
    usual shares: Nguyễn ~38 %, Trần ~11 %, Lê ~9.5 %, …)."""
    fw = np.array(FAMILY_W) / sum(FAMILY_W)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n_names:
        fam = FAMILIES[rng.choice(len(FAMILIES), p=fw)]
        k = rng.choice([1, 1, 1, 2, 2, 0])
        mid = [MIDDLES[i] for i in rng.integers(0, len(MIDDLES), k)]
        name = " ".join([fam, *mid, GIVENS[rng.integers(0, len(GIVENS))]])
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def variant(name: str, kind: str, rng: np.random.Generator) -> str:
    words = name.split()
    if kind == "exact":
        return name
    if kind == "no_diacritics":
        return fold_diacritics(name)
    if kind == "upper":
        return name.upper()
    if kind == "lower":
        return name.lower()
    if kind == "nfd":
        return unicodedata.normalize("NFD", name)
    if kind == "tone":
        new = set_tone_style(name, "new")
        return new if new != name else set_tone_style(name, "old")
    if kind == "spacing":
        return " " + "  ".join(words) + " "
    if kind == "typo":
        w = words[-1]
        i = int(rng.integers(0, len(w)))
        return " ".join(words[:-1] + [w[:i] + w[i + 1:] if len(w) > 2 else w + "h"])
    if kind == "telex":
        out = "".join(_TELEX.get(ch, ch) for ch in unicodedata.normalize("NFC", name))
        return out
    if kind == "order":
        return " ".join(words[-1:] + words[:-1])
    if kind == "missing":
        return " ".join([words[0], words[-1]]) if len(words) > 2 else name
    if kind == "diacritic":
        return " ".join([fold_diacritics(words[0])] + words[1:])
    raise ValueError(kind)


def make_data(rows: int, n_people: int, seed: int = 7) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    people = register_names(n_people, rng)
    # Names repeat with a long tail: weight ~ 1 / rank^0.8.
    w = 1.0 / np.arange(1, n_people + 1) ** 0.8
    who = rng.choice(n_people, rows, p=w / w.sum())
    kind_of = rng.choice(len(KINDS), rows, p=np.array(WEIGHTS) / sum(WEIGHTS))
    memo: dict[tuple[int, int], str] = {}
    typed = []
    for p, k in zip(who.tolist(), kind_of.tolist()):
        key = (p, k)
        t = memo.get(key)
        if t is None:
            t = memo[key] = variant(people[p], KINDS[k], rng)
        typed.append(t)
    reg = [people[p] for p in who.tolist()]
    return pd.Series(typed), pd.Series(reg)  # pandas 3 default str dtype, as vaxlib.io reads


def clear_caches() -> None:
    for f in (canonical_name, compare_names, vn_names._analyse, vn_names._word, vn_names._title_word):
        f.cache_clear()


def run_once(typed: pd.Series, reg: pd.Series) -> tuple[float, float, pd.Series]:
    clear_caches()
    c0, t0 = time.process_time(), time.perf_counter()
    canon = canonical_names(typed)
    codes = compare_names_many(typed, reg)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(canon) == len(typed)
    return elapsed, cpu, codes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=20_000, help="distinct register names")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    typed, reg = make_data(args.rows, args.people)
    print(f"generated {len(typed):,} typed names over {args.people:,} distinct register names in "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"distinct typed names: {typed.nunique():,}; distinct register names: {reg.nunique():,}; "
          f"distinct (typed, register) pairs: {len(pd.MultiIndex.from_arrays([typed, reg]).unique()):,}")

    times, cpus = [], []
    codes = None
    for _ in range(args.runs):
        elapsed, cpu, codes = run_once(typed, reg)
        times.append(elapsed)
        cpus.append(cpu)
    med = statistics.median(times)
    print(f"canonical_names + compare_names_many, {len(typed):,} rows: median {med:.2f} s wall "
          f"over {args.runs} cold runs ({', '.join(f'{t:.2f}' for t in times)}); "
          f"CPU time median {statistics.median(cpus):.2f} s; "
          f"{len(typed) / med / 1e6:.2f} M rows/s; target <= 5 s: {'met' if med <= 5 else 'NOT met'}")
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print(f"note: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while measuring; "
              "wall time is inflated, CPU time is the uncontended estimate")

    # Baseline: no de-duplication (one scalar call per row, caches off), on a sample.
    sample = min(20_000, len(typed))
    clear_caches()
    raw_canon = canonical_name.__wrapped__
    raw_compare = compare_names.__wrapped__
    t0 = time.perf_counter()
    for t, r in zip(typed.iloc[:sample].tolist(), reg.iloc[:sample].tolist()):
        raw_canon(t)
        raw_compare(t, r)
        vn_names._analyse.cache_clear()
    per_row = (time.perf_counter() - t0) / sample
    base = per_row * len(typed)
    print(f"baseline without de-duplication (scaled from {sample:,} rows): {base:.1f} s "
          f"-> speed-up x{base / med:.1f}")

    dist = codes.value_counts().head(12)
    print("code distribution (top 12):")
    for k, v in dist.items():
        print(f"  {k or '(identical)':45s} {v:>9,}")


if __name__ == "__main__":
    main()
