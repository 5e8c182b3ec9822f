"""vaxlib's matcher against Splink 5 (DuckDB backend) on the same generated data.

    python bench/match_vs_splink.py                    # 100k and 1M persons
    python bench/match_vs_splink.py --sizes 100000     # one size
    python bench/match_vs_splink.py --profile parameters/errors-harsh.yaml

Each engine runs in a fresh child process (so its peak memory is its own) on
the same `vax synth` data, and both are scored the same way against the
truth: an automatic link is the record's best candidate with probability at or
above the same threshold (vaxlib: `verified` + `fix`; Splink: best prediction
per record).  Splink is given the same pre-cleaning as vaxlib (folded names,
parsed dates of birth, repaired ID digits, parsed sex) and a fair, standard
configuration: blocking on ID, name + dob, name + birth year, given name + dob
and family name + dob; Jaro–Winkler name levels with term-frequency
adjustment, Levenshtein ID levels, the date-of-birth comparison; u by random
sampling and m by EM on two blocking rules.

Also timed: ``floor``, a naive exact-ID join (read both tables, join on the
typed ID, write), the least any matcher spends; ``vaxlib`` builds its
registry index inside the run (cold), ``vaxlib-warm`` reuses one.

Splink is a benchmark-only dependency: `pip install splink` (pinned in
constraints.txt, optional extra `bench`).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRESHOLD = 0.99


def _score(best: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Precision/recall/F1 of automatic links (best: record_id, person_id, auto)."""
    t = truth[["record_id", "person_id"]].rename(columns={"person_id": "true_pid"})
    m = t.merge(best, on="record_id", how="left")
    in_reg = m["true_pid"].notna()
    auto = m["auto"].fillna(False).astype(bool)
    right = auto & (m["person_id"].astype(str) == m["true_pid"].astype(str))
    precision = right.sum() / max(auto.sum(), 1)
    recall = right.sum() / max(in_reg.sum(), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    false_nonreg = (auto & ~in_reg).sum() / max((~in_reg).sum(), 1)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "nonregistry_auto_linked": float(false_nonreg)}


def _read_records(data: Path):
    """The dose records as `vax match` reads them: read_table, with the reader's codes handed to
    run_match (prepare then does not hash the typed text again)."""
    from vaxlib.io import read_table
    from vaxlib.match.prepare import TEXT_COLUMNS, ReaderCodes

    read = read_table(data / "vaccinations.parquet", "vaccinations", codes=TEXT_COLUMNS)
    return read.table, ReaderCodes(read.codes)


def run_vaxlib(data: Path) -> dict:
    from vaxlib.config import load_yaml
    from vaxlib.io import read_table
    from vaxlib.match.pipeline import MatchSettings, run_match

    # the shipped settings of `vax match` (thresholds, caps, workers: DuckDB uses both cores too)
    settings = MatchSettings.from_dict(load_yaml(ROOT / "parameters" / "matching.yaml"))
    t0 = time.perf_counter()
    reg = read_table(data / "registry.parquet", "registry").table
    vac, coded = _read_records(data)
    result = run_match(reg, vac, settings, coded=coded)  # builds the registry index inside the run (cold)
    m = result.matches
    m.to_parquet(data / "vaxlib-matches.parquet", index=False)
    wall = time.perf_counter() - t0
    best = pd.DataFrame({"record_id": m["record_id"], "person_id": m["person_id"],
                         "auto": m["status"].isin(["verified", "fix"])})
    return {"wall_s": wall, **result.stats["timings"], **_score(best, pd.read_parquet(data / "truth_vaccinations.parquet"))}


def run_vaxlib_warm(data: Path) -> dict:
    """vaxlib reusing a registry index built beforehand (built outside the timing)."""
    from vaxlib.config import load_yaml
    from vaxlib.match.index import build_index, load_index, save_index
    from vaxlib.match.pipeline import MatchSettings, run_match

    settings = MatchSettings.from_dict(load_yaml(ROOT / "parameters" / "matching.yaml"))
    folder = data / "registry-index"
    save_index(build_index(pd.read_parquet(data / "registry.parquet"), registry_sha256="bench"), folder)
    t0 = time.perf_counter()
    index = load_index(folder, "bench")
    vac, coded = _read_records(data)
    result = run_match(None, vac, settings, index=index, coded=coded)
    m = result.matches
    m.to_parquet(data / "vaxlib-matches.parquet", index=False)
    wall = time.perf_counter() - t0
    best = pd.DataFrame({"record_id": m["record_id"], "person_id": m["person_id"],
                         "auto": m["status"].isin(["verified", "fix"])})
    return {"wall_s": wall, **result.stats["timings"], **_score(best, pd.read_parquet(data / "truth_vaccinations.parquet"))}


def run_floor(data: Path) -> dict:
    """The floor: read both tables, join on the typed ID as it stands, write the links.

    No cleaning, no fuzzy comparison, no model: what any matcher must at
    least spend on I/O and one hash join.  Its accuracy is that of the raw
    IDs (records with a mistyped or missing ID stay unlinked).
    """
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    reg = pq.read_table(data / "registry.parquet", columns=["person_id"])
    vac = pq.read_table(data / "vaccinations.parquet", columns=["record_id", "id_number"])
    links = vac.join(reg, keys="id_number", right_keys="person_id", join_type="inner", use_threads=True)
    pq.write_table(links, data / "floor-links.parquet")
    wall = time.perf_counter() - t0
    best = links.to_pandas()
    best = pd.DataFrame({"record_id": best["record_id"], "person_id": best["id_number"], "auto": True})
    return {"wall_s": wall, **_score(best, pd.read_parquet(data / "truth_vaccinations.parquet"))}


def _splink_inputs(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same pre-cleaning vaxlib uses, as flat columns for Splink."""
    from vaxlib.match.prepare import prepare_records, prepare_registry

    reg = prepare_registry(pd.read_parquet(data / "registry.parquet"))
    rec = prepare_records(pd.read_parquet(data / "vaccinations.parquet"))

    def full_dob(s: pd.Series) -> pd.Series:
        return s.where(s.str.len() == 10, None)

    left = pd.DataFrame({
        "unique_id": reg["person_id"].astype(str), "name": reg["name_fold"], "given": reg["given"],
        "family": reg["family"], "dob": full_dob(reg["dob"].astype(str)), "year": reg["year"].astype(str),
        "sex": reg["sex"], "id": reg["person_id"].astype(str),
    })
    right = pd.DataFrame({
        "unique_id": rec["record_id"].astype(str), "name": rec["name_fold"], "given": rec["given"],
        "family": rec["family"], "dob": full_dob(rec["dob_r0"].astype(str)), "year": rec["year"].astype(str),
        "sex": rec["sex_p"], "id": rec["id_digits"].astype(str),
    })
    for df in (left, right):
        for c in df.columns:
            df[c] = df[c].astype(object).where(df[c].astype(str).ne(""), None)
    return left, right


def run_splink(data: Path) -> dict:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t_prep = time.perf_counter()
    left, right = _splink_inputs(data)
    prep = time.perf_counter() - t_prep
    t0 = time.perf_counter()
    db = DuckDBAPI()
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("name", [0.95, 0.88]).configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.LevenshteinAtThresholds("id", [1, 2]),
            cl.ExactMatch("sex"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id"), block_on("name", "dob"), block_on("name", "year"),
            block_on("given", "dob"), block_on("family", "dob"),
        ],
        retain_matching_columns=False,
    )
    linker = Linker([db.register(left, table_name="registry"), db.register(right, table_name="records")],
                    settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id", "name"), block_on("name", "dob")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name", "dob"))
    pred = linker.inference.predict(threshold_match_probability=0.01).as_pandas_dataframe()
    wall = time.perf_counter() - t0
    # unique_id_l / _r: which side is the record depends on the source dataset order
    rec_col = "unique_id_r" if pred["source_dataset_r"].iloc[0] == "records" else "unique_id_l"
    reg_col = "unique_id_l" if rec_col == "unique_id_r" else "unique_id_r"
    pred = pred.sort_values("match_probability", ascending=False).drop_duplicates(rec_col)
    best = pd.DataFrame({"record_id": pred[rec_col], "person_id": pred[reg_col],
                         "auto": pred["match_probability"] >= THRESHOLD})
    # wall_s counts the shared pre-cleaning too (Splink needs it for this accuracy);
    # linkage_s is Splink's own training and prediction.
    return {"wall_s": prep + wall, "linkage_s": wall, "precleaning_s": prep,
            **_score(best, pd.read_parquet(data / "truth_vaccinations.parquet"))}


def _own_peak_gb() -> float:
    """This process's own peak RSS (VmHWM of its address space).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux keeps the high-water mark of the
    address space a process had before ``exec``, i.e. the forking parent's (which holds
    the truth tables), so every engine reported the same 5.66 GB at 1M.
    """
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 ** 2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _child(engine: str, data: str) -> None:
    run = {"vaxlib": run_vaxlib, "vaxlib-warm": run_vaxlib_warm, "splink": run_splink, "floor": run_floor}[engine]
    result = run(Path(data))
    result["peak_rss_gb"] = _own_peak_gb()
    print("RESULT " + json.dumps(result))


def _spawn(engine: str, data: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", engine, "--data", str(data)],
                         capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (out.stderr or out.stdout).strip().splitlines()[-1] if (out.stderr or out.stdout) else "?"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--profile", default=str(ROOT / "parameters" / "errors.yaml"))
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--engines", default="floor,vaxlib,vaxlib-warm,splink",
                    help="floor (read, join on the typed ID, write), vaxlib (cold: index built in the run), "
                         "vaxlib-warm (index reused), splink")
    ap.add_argument("--child")
    ap.add_argument("--data")
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.data)
        return 0
    from vaxlib.synth import generate, write_dataset

    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores (figures on a busy machine are inflated)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            data = Path(tmp) / f"p{n}"
            write_dataset(generate(persons=n, seed=args.seed, errors=args.profile), data)
            for engine in args.engines.split(","):
                res = _spawn(engine, data)
                rows.append({"persons": n, "engine": engine, **res})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(index=False, float_format=lambda x: f"{x:.5f}"))
    for n, grp in table.groupby("persons"):
        g = grp.set_index("engine")
        for mine in ("vaxlib", "vaxlib-warm"):
            if {mine, "splink"} <= set(g.index) and "wall_s" in g and not g["wall_s"].isna().any():
                print(f"{n:>9,} persons: Splink/{mine} wall time {g.loc['splink', 'wall_s'] / g.loc[mine, 'wall_s']:.2f}"
                      f" (Splink's linkage alone {g.loc['splink', 'linkage_s'] / g.loc[mine, 'wall_s']:.2f});"
                      f" F1 {g.loc[mine, 'f1']:.5f} vs {g.loc['splink', 'f1']:.5f}")
            if {mine, "floor"} <= set(g.index):
                print(f"{n:>9,} persons: {mine}/floor wall time {g.loc[mine, 'wall_s'] / g.loc['floor', 'wall_s']:.2f}"
                      f" (target ≤ 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
