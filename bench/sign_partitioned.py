"""``vax sign`` on partitioned inputs (a dask match result), two code versions alternated in one command.

    VAX_KEY_PASSPHRASE=... python bench/sign_partitioned.py --registry REG/ --vaccinations VAC/ \
        --matches M/matches --candidates M/candidates --keys KEYS --work /tmp/NAME/bench \
        [--baseline /tmp/NAME/base] [--code .] [--runs 2] [--processes 2]

Each run is one ``sign_tables`` call (what ``vax sign`` runs) in a fresh ``python``
process with ``PYTHONPATH`` set to one code folder (``--baseline``, then ``--code``,
alternately, so both see the same load), under ``/usr/bin/time -v``: wall seconds,
peak RSS of the command (its largest process), and CPU seconds: the process's own
(imports included) plus its signing workers' (measured inside them,
``SignStats.worker_cpu``: the pool's workers are the fork server's children, which
``time`` does not see).  The stage timings (``SignStats.timings``, wall s) are
printed per run.  The last lines are the
medians and the ratios after / baseline, with ``uptime`` before and after.  Each
run writes into a fresh folder under ``--work`` (removed afterwards unless
``--keep``).  Run it under ``flock /tmp/big.lock`` at 1M and above.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_TIME = {"wall": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", "user": r"User time \(seconds\): (\S+)",
         "sys": r"System time \(seconds\): (\S+)", "rss_mb": r"Maximum resident set size \(kbytes\): (\d+)"}


def uptime() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _seconds(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


#: the timed process: one sign_tables call; its CPU, its workers' CPU and its stages as JSON on the last line
RUNNER = r"""
import json, sys, time
from vaxlib.sign.batch import sign_tables
reg, vac, mat, cand, keys, out, procs = sys.argv[1:8]
s = sign_tables(reg, vac, mat, keys, out, signer_name="bench", candidates=cand or None,
                processes=int(procs) if procs else None)
print(json.dumps({"cpu_self": time.process_time(), "cpu_workers": sum(s.worker_cpu.values()), "signed": s.signed,
                  "skipped": dict(s.skipped), "timings": s.timings,
                  "worker_rss_mb": s.worker_peak_rss_mb}))
"""


def run(code: Path, args, out: Path) -> dict:
    """One ``sign_tables`` of ``code`` into ``out``: wall, CPU (self + workers), user/sys, peak RSS (MB), stages."""
    import json

    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", RUNNER, args.registry, args.vaccinations, args.matches,
           args.candidates or "", args.keys, str(out), str(args.processes or "")]
    env = {**os.environ, "PYTHONPATH": str(code)}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=out.parent)
    if p.returncode:
        raise RuntimeError(f"sign failed ({code}):\n{p.stderr[-3000:]}")
    res = {k: float(re.search(rx, p.stderr).group(1)) if k != "wall" else _seconds(re.search(rx, p.stderr).group(1))
           for k, rx in _TIME.items()}
    res["rss_mb"] /= 1024
    res.update(json.loads(p.stdout.strip().splitlines()[-1]))
    res["cpu"] = res["cpu_self"] + res["cpu_workers"]
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    for name in ("registry", "vaccinations", "matches", "keys"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--candidates")
    ap.add_argument("--baseline", help="code folder of the baseline (a checkout; PYTHONPATH)")
    ap.add_argument("--code", default=str(ROOT), help="code folder measured (default: this checkout)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--processes", type=int)
    ap.add_argument("--work", required=True, help="folder for the outputs (under /tmp)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    if not str(work).startswith("/tmp/"):
        ap.error("--work must be under /tmp")
    work.mkdir(parents=True, exist_ok=True)
    versions = {}
    if args.baseline:
        versions["baseline"] = Path(args.baseline).resolve()
    versions["after"] = Path(args.code).resolve()
    results: dict = {k: [] for k in versions}
    print(f"load at start: {uptime()} on {os.cpu_count()} cores", flush=True)
    for r in range(args.runs):
        for label, code in versions.items():
            folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=work))
            try:
                load0 = uptime()
                res = run(code, args, folder / "OUT")
                results[label].append(res)
                print(f"run {r + 1} {label}: wall {res['wall']:.1f} s, CPU {res['cpu']:.1f} s (self "
                      f"{res['cpu_self']:.1f}, workers {res['cpu_workers']:.1f}; time -v user {res['user']:.1f} "
                      f"sys {res['sys']:.1f}), peak RSS {res['rss_mb']:.0f} MB (a worker {res['worker_rss_mb']:.0f}), "
                      f"{res['signed']:,} signed; load {load0} -> {uptime()}", flush=True)
                print(f"    skipped: {res['skipped']}", flush=True)
                print(f"    stages (wall s): {res['timings']}", flush=True)
            finally:
                if not args.keep:
                    shutil.rmtree(folder, ignore_errors=True)
    med = statistics.median
    print()
    print("| code | wall s | CPU s (self + workers) | self | workers | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    meds = {}
    for label, rs in results.items():
        meds[label] = {k: med(x[k] for x in rs) for k in ("wall", "cpu", "cpu_self", "cpu_workers", "rss_mb")}
        m = meds[label]
        print(f"| {label} | {m['wall']:.1f} | {m['cpu']:.1f} | {m['cpu_self']:.1f} | {m['cpu_workers']:.1f} "
              f"| {m['rss_mb']:.0f} |")
    if "baseline" in meds:
        b, a = meds["baseline"], meds["after"]
        print(f"after / baseline: wall {a['wall'] / b['wall']:.2f}, CPU {a['cpu'] / b['cpu']:.2f}, "
              f"peak RSS {a['rss_mb'] / b['rss_mb']:.2f}")
    print(f"load at end: {uptime()}; medians of {args.runs} runs each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
