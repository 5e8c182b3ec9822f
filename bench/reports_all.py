"""Render all 63 province reports and the national summary from an N-person synthetic dataset.

    .venv/bin/python bench/reports_all.py 1000000            # goal: <= 2 minutes on 2 cores
    .venv/bin/python bench/reports_all.py 20000 --data /tmp/x

The dataset (``vax synth`` → ``vax match`` → ``vax apply`` → ``vax match`` on the
corrected table) is prepared once under ``--data`` and reused; only the report
rendering (aggregates + feedback tracking + 64 papermill/nbconvert runs on a
process pool) is timed.  Prints the total time, the aggregate time and the size
of each report.  Signing is left out of the preparation (certificates are
optional input of the reports); pass ``--sign`` to include it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from vaxlib.cli import main as vax
from vaxlib.config import OUTPUTS_DIR


def prepare(d: Path, persons: int, seed: int, sign: bool, rematch: bool = True) -> None:
    data = d / "data"
    steps = []
    if not (data / "vaccinations.parquet").exists():
        steps.append(["synth", "--persons", str(persons), "--seed", str(seed), "--out", str(data)])
    if not (d / "match" / "matches.parquet").exists():
        steps.append(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                      str(data / "vaccinations.parquet"), "--out", str(d / "match"), "--quiet"])
    if not (d / "apply" / "changes.parquet").exists():
        steps.append(["apply", "--vaccinations", str(data / "vaccinations.parquet"), "--matches",
                      str(d / "match" / "matches.parquet"), "--out", str(d / "apply")])
    if rematch and not (d / "match-corrected" / "matches.parquet").exists():
        steps.append(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                      str(d / "apply" / "vaccinations_corrected.parquet"), "--out", str(d / "match-corrected"),
                      "--quiet"])
    if sign and not (d / "certificates" / "certificates.parquet").exists():
        os.environ.setdefault("VAX_KEY_PASSPHRASE", "bench-keys-only-not-a-secret")
        steps.append(["keys", "init", "--out", str(d / "keys")])
        steps.append(["sign", "--registry", str(data / "registry.parquet"), "--vaccinations",
                      str(d / "apply" / "vaccinations_corrected.parquet"), "--matches",
                      str(d / "match-corrected" / "matches.parquet"), "--keys", str(d / "keys"),
                      "--out", str(d / "certificates")])
    for argv in steps:
        t = time.perf_counter()
        code = vax(argv)
        print(f"prepare: vax {argv[0]} ({time.perf_counter() - t:.1f} s)", flush=True)
        if code:
            sys.exit(f"vax {argv[0]} failed ({code})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("persons", type=int, nargs="?", default=1_000_000)
    ap.add_argument("--data", default=None, help="dataset folder (default outputs/bench-reports-N)")
    ap.add_argument("--seed", type=int, default=2022)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--sign", action="store_true", help="also sign certificates when preparing")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--no-rematch", dest="rematch", action="store_false",
                    help="do not match the corrected table again (the reports then show fixes as pending)")
    args = ap.parse_args()
    d = Path(args.data or OUTPUTS_DIR / f"bench-reports-{args.persons}")
    prepare(d, args.persons, args.seed, args.sign, args.rematch)
    if args.prepare_only:
        return
    from vaxlib.report import CACHE_DIR_NAME, load_aggregates, render_reports
    from vaxlib.vn.provinces import PROVINCES

    shutil.rmtree(d / CACHE_DIR_NAME, ignore_errors=True)
    shutil.rmtree(d / "feedback", ignore_errors=True)
    out = d / "reports"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    load_aggregates(d, "2022-04-30", 48)
    t_agg = time.perf_counter() - t0
    paths = render_reports(d, [p.gso for p in PROVINCES], out, workers=args.workers)
    total = time.perf_counter() - t0
    sizes = {k: p.stat().st_size for k, p in paths.items()}
    print(f"\n{args.persons:,} persons: {len(paths)} reports in {total:.1f} s "
          f"(aggregates + feedback {t_agg:.1f} s, rendering {total - t_agg:.1f} s) on {os.cpu_count()} cores")
    for k in sorted(sizes):
        print(f"  {paths[k].name:40s} {sizes[k] / 1024:8.0f} KiB")
    print(f"  total {sum(sizes.values()) / 2**20:.1f} MiB, median {sorted(sizes.values())[len(sizes) // 2] / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
