"""Benchmark `vax synth`: wall time and peak memory at 100k and 1M persons.

Each run is a fresh child process (generate + write Parquet into a temporary
folder), so its peak resident set size is measured alone
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after the child ends).
Prints the median of ``--runs`` runs per size.  Target (issue 2): 1,000,000
persons (about 2.3 M dose records) in at most 60 s and 6 GB on a 2-core machine.
CPU seconds (user + system of the child) are printed too: on a shared machine
they show the cost when wall time is inflated by other work.

    .venv/bin/python bench/synth.py [--sizes 100000 1000000] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from vaxlib.synth import generate, write_dataset
n, seed, out, errors = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] or None
tables = generate(n, seed, errors=errors)
t1 = time.perf_counter()
write_dataset(tables, out, "parquet")
t2 = time.perf_counter()
print(json.dumps({"generate_s": t1 - t0, "write_s": t2 - t1, "total_s": t2 - t0,
                  "records": len(tables["vaccinations"]),
                  "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime
                           + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
                  "maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""


def run_once(n: int, seed: int, errors: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n), str(seed), tmp, errors],
                              capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--errors", default="", help="error profile (default parameters/errors.yaml)")
    args = ap.parse_args()
    print(f"vax synth benchmark, {os.cpu_count()} CPUs, median of {args.runs} runs (fresh process each)")
    print(f"{'persons':>10} {'records':>10} {'generate s':>11} {'write s':>8} {'total s':>8} {'CPU s':>7} "
          f"{'peak GB':>8}")
    for n in args.sizes:
        res = [run_once(n, args.seed + i, args.errors) for i in range(args.runs)]
        med = {k: statistics.median(r[k] for r in res) for k in res[0]}
        print(f"{n:>10,} {int(med['records']):>10,} {med['generate_s']:>11.1f} {med['write_s']:>8.1f} "
              f"{med['total_s']:>8.1f} {med['cpu_s']:>7.1f} {med['maxrss_gb']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
