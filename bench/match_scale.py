"""How `vax match` scales: wall time, CPU time and peak memory at 100k and 1M persons.

Generates (or reuses) synthetic data with ``vax synth`` and runs ``vax match``
end to end (read + match + write) in a child process per run, so that the
peak RSS is the child's own.  Prints the median of ``--repeat`` runs at 100k
(one run at 1M by default), the matcher's per-step timings, and the ratio of
per-record time at each size to the smallest size (1.0 = linear scaling).

Usage::

    .venv/bin/python bench/match_scale.py                # 100k (3 runs) and 1M (1 run)
    .venv/bin/python bench/match_scale.py --sizes 100000 --repeat 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAX = str(ROOT / ".venv" / "bin" / "vax")
SEEDS = {100_000: 8, 1_000_000: 7}


def data_dir(persons: int, base: Path) -> Path:
    """The synthetic data set for ``persons`` (generated once, then reused)."""
    d = base / f"synth-{persons}"
    if not (d / "registry.parquet").exists():
        print(f"generating {persons:,} persons in {d} …", flush=True)
        subprocess.run([VAX, "synth", "--persons", str(persons), "--seed", str(SEEDS.get(persons, 1)),
                        "--out", str(d)], check=True, stdout=subprocess.DEVNULL)
    return d


_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_kb": ru.ru_maxrss}))
"""


def run_once(d: Path, out: Path, code: str | None = None) -> dict:
    """One `vax match` in a child process: wall, CPU (user+sys) and peak RSS of that child alone.

    A small wrapper process starts `vax match` and reports its rusage, so the
    peak RSS is the match run's own (not the largest of all children so far).
    """
    vax = [VAX] if code is None else [sys.executable, "-c", "import sys; from vaxlib.cli import main; sys.exit(main())"]
    cmd = [*vax, "match", "--registry", str(d / "registry.parquet"),
           "--vaccinations", str(d / "vaccinations.parquet"), "--out", str(out), "--quiet"]
    env = None
    if code is not None:  # an older checkout of vaxlib (e.g. `git archive <commit> vaxlib parameters`)
        env = {**os.environ, "PYTHONPATH": code, "VAX_SHARED": os.environ.get("VAX_SHARED", str(ROOT.parent / "shared"))}
    res = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], check=True, capture_output=True, text=True, env=env)
    usage = json.loads(res.stdout.strip().splitlines()[-1])
    stats = json.loads((out / "match-stats.json").read_text(encoding="utf-8"))
    return {
        "wall": usage["wall"],
        "cpu": usage["cpu"],
        "rss_gb": usage["rss_kb"] / 1024 / 1024,  # ru_maxrss is in kB on Linux
        "records": stats["records"],
        "pairs": stats["pairs"],
        "timings": stats["timings"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="runs per size below 1M (median reported)")
    ap.add_argument("--data", default="/tmp/vax-bench", help="folder for generated data")
    ap.add_argument("--code", help="run the vaxlib found in this folder instead (a baseline checkout)")
    args = ap.parse_args(argv)
    base = Path(args.data)
    base.mkdir(parents=True, exist_ok=True)
    rows = []
    for persons in sorted(args.sizes):
        d = data_dir(persons, base)
        runs = []
        n = 1 if persons >= 1_000_000 else args.repeat
        for _ in range(n):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(run_once(d, Path(tmp), args.code))
        med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu", "rss_gb")}
        steps = {k: statistics.median(r["timings"][k] for r in runs) for k in runs[0]["timings"]}
        rows.append({"persons": persons, "records": runs[0]["records"], "pairs": runs[0]["pairs"],
                     "runs": n, **med, "steps": steps})
    first = rows[0]
    print(f"{'persons':>10} {'records':>10} {'pairs':>10} {'runs':>4} {'wall s':>8} {'cpu s':>8} "
          f"{'peak GB':>8} {'µs/rec':>8} {'vs first':>8}")
    for r in rows:
        per = r["wall"] / r["records"] * 1e6
        ratio = per / (first["wall"] / first["records"] * 1e6)
        print(f"{r['persons']:>10,} {r['records']:>10,} {r['pairs']:>10,} {r['runs']:>4} {r['wall']:>8.1f} "
              f"{r['cpu']:>8.1f} {r['rss_gb']:>8.2f} {per:>8.1f} {ratio:>8.2f}")
    print("\nper-step timings (s, median):")
    keys = list(first["steps"])
    print(f"{'persons':>10} " + " ".join(f"{k:>10}" for k in keys))
    for r in rows:
        print(f"{r['persons']:>10,} " + " ".join(f"{r['steps'].get(k, float('nan')):>10.1f}" for k in keys))
    target = [r for r in rows if r["persons"] == 1_000_000]
    if target:
        t = target[0]
        print(f"\n1M target: wall {t['wall']:.0f} s (≤ 90), peak {t['rss_gb']:.2f} GB (≤ 8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
