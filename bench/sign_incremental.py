"""Full ``vax sign`` vs a rerun with 1 % of the people changed, for two code versions side by side.

    VAX_KEY_PASSPHRASE=... python bench/sign_incremental.py [--sizes 20000,100000,1000000]
        [--runs 3] [--runs-1m 1] [--before main] [--after .] [--also LABEL=FOLDER] [--changed 0.01]
        [--data /tmp/vax-sign-bench]

For each size N the script makes (once, under ``--data``, which must be in /tmp)
the four inputs of ``vax sign`` for N synthetic people
(:func:`bench.sign_throughput.tables`: register, dose records, matches,
candidates; every record verified) and a "changed" version of them where
``--changed`` of the people were touched, in equal thirds:

* a new dose record (a new ``verified`` matches row),
* a corrected full name in the register,
* a corrected dob in the register.

Then, for each code version (``--before``: a git ref, exported with ``git
archive`` into the data folder; ``--after``: a source folder, default this
checkout), interleaved run by run so both see the same machine load: a full
``vax sign`` into a fresh folder, then the rerun on the changed inputs into the
same folder (so the first run is the previous run).  Each is a separate
``python`` process (imports included), timed from outside for wall seconds;
CPU seconds are the process's own (``time.process_time`` at its end, imports
included) plus its signing pool workers' (measured inside them).  Medians of
``--runs`` runs (``--runs-1m`` at a million) with ``uptime`` load before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VAX_SHARED") or ROOT.parent / "shared").resolve()
sys.path.insert(0, str(ROOT))

#: what each timed process runs: one sign_tables call, its CPU and timings as JSON on the last line
RUNNER = r"""
import json, sys, time
t_imp = time.process_time()
from vaxlib.sign.batch import sign_tables
import vaxlib.sign.batch as _batch


class _CpuClock:  # sign_tables' stage laps (time.perf_counter) read this process's CPU clock instead
    perf_counter = staticmethod(time.process_time)

    def __getattr__(self, name):
        return getattr(time, name)


_batch.time = _CpuClock()  # the same for any code version: its "timings" are CPU seconds per stage
STAGES = ("previous", "read_inputs", "plan", "compare_previous", "sign_and_commit", "revoke")
reg, vac, mat, cand, keys, out = sys.argv[1:7]
s = sign_tables(reg, vac, mat, keys, out, signer_name="bench", candidates=cand)
cpu = time.process_time()
# CPU seconds per stage: SignStats.cpu_timings where the code has it; older code's wall laps read the CPU clock
stages = getattr(s, "cpu_timings", None) or {k: v for k, v in s.timings.items() if k in STAGES}
print(json.dumps({"cpu_self": cpu, "cpu_workers": sum(s.worker_cpu.values()), "signed": s.signed,
                  "counts": s.counts, "timings": stages}))
"""


#: sign_tables' stages (its "timings" laps); the rest of a process's CPU is imports and start-up
STAGES = ("previous", "read_inputs", "plan", "compare_previous", "sign_and_commit", "revoke")


def uptime() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def make_data(folder: Path, n: int, changed: float) -> dict[str, Path]:
    """The inputs (written once; reused when present)."""
    from bench.sign_throughput import changed_inputs, tables, write_inputs

    files = {k: folder / f"{k}.parquet" for k in ("registry", "vaccinations", "matches", "candidates",
                                                   "registry2", "vaccinations2", "matches2")}
    if all(p.is_file() for p in files.values()):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    reg, vac, mat, cand = tables(n)
    reg2, vac2, mat2, _ = changed_inputs(reg, vac, mat, changed, kinds=("dose", "name", "dob"))
    return write_inputs(folder, {"registry": reg, "vaccinations": vac, "matches": mat, "candidates": cand,
                                 "registry2": reg2, "vaccinations2": vac2, "matches2": mat2})


def export_ref(ref: str, dest: Path) -> Path:
    """Source of git ``ref`` (``vaxlib`` and ``bench``) in ``dest`` (reused when present)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True,
                         text=True, check=True).stdout.strip()
    target = dest / f"src-{sha}"
    if not (target / "vaxlib").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        arch = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "vaxlib", "bench", "pyproject.toml"],
                              capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=arch, check=True)
    return target


def timed(src: Path, args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "VAX_SHARED": str(SHARED)}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", RUNNER, *args], env=env, capture_output=True, text=True, cwd=src)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise RuntimeError(f"run failed ({src}):\n{p.stderr[-3000:]}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall"] = wall
    res["cpu"] = res["cpu_self"] + res["cpu_workers"]
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--runs-1m", type=int, default=1, help="runs at sizes >= 1,000,000")
    ap.add_argument("--before", default="main", help="git ref of the 'before' code ('' to skip)")
    ap.add_argument("--after", default=str(ROOT), help="source folder of the 'after' code")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=FOLDER",
                    help="another source folder to time (repeatable), e.g. this branch with another's vaxlib/io.py")
    ap.add_argument("--changed", type=float, default=0.01)
    ap.add_argument("--data", default="/tmp/vax-sign-bench")
    ap.add_argument("--keep", action="store_true", help="keep the output folders")
    args = ap.parse_args()
    data = Path(args.data).resolve()
    if not str(data).startswith("/tmp/"):
        ap.error("--data must be under /tmp (synthetic personal-looking data stays out of the repository)")
    os.environ.setdefault("VAX_KEY_PASSPHRASE", "bench-only-passphrase")
    from vaxlib.sign.keys import init_keys

    versions = {}
    if args.before:
        versions["before " + args.before] = export_ref(args.before, data)
    versions["after"] = Path(args.after).resolve()
    for item in args.also:
        label, _, folder = item.partition("=")
        versions[label] = Path(folder).resolve()
    med = statistics.median
    results: dict = {}
    print(f"load at start: {uptime()} on {os.cpu_count()} cores")
    for n in [int(x) for x in args.sizes.split(",")]:
        files = make_data(data / f"n{n}", n, args.changed)
        runs = args.runs_1m if n >= 1_000_000 else args.runs
        for r in range(runs):
            for label, src in versions.items():
                work = Path(tempfile.mkdtemp(prefix=f"run-{n}-", dir=data))
                try:
                    init_keys(work / "K")
                    out = work / "OUT"
                    load0 = uptime()
                    full = timed(src, [str(files["registry"]), str(files["vaccinations"]), str(files["matches"]),
                                       str(files["candidates"]), str(work / "K"), str(out)])
                    inc = timed(src, [str(files["registry2"]), str(files["vaccinations2"]), str(files["matches2"]),
                                      str(files["candidates"]), str(work / "K"), str(out)])
                    res = results.setdefault((n, label), {"full": [], "inc": []})
                    res["full"].append(full)
                    res["inc"].append(inc)
                    print(f"N={n} run {r + 1} {label}: full wall {full['wall']:.1f} s CPU {full['cpu']:.1f} s; "
                          f"rerun wall {inc['wall']:.1f} s CPU {inc['cpu']:.1f} s; {inc['counts']}; "
                          f"load {load0} -> {uptime()}", flush=True)
                    print(f"    rerun stages (CPU s of the process): {inc['timings']}", flush=True)
                finally:
                    if not args.keep:
                        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"| N | code | full wall / CPU s | 1 % rerun wall / CPU s | rerun / full, wall | CPU |")
    print("|---|---|---|---|---|---|")
    for (n, label), res in results.items():
        fw, fc = med(x["wall"] for x in res["full"]), med(x["cpu"] for x in res["full"])
        iw, ic = med(x["wall"] for x in res["inc"]), med(x["cpu"] for x in res["inc"])
        print(f"| {n:,} | {label} | {fw:.1f} / {fc:.1f} | {iw:.1f} / {ic:.1f} | {iw / fw:.1%} | {ic / fc:.1%} |")
    print()
    print("rerun CPU seconds by stage (medians; the process's own; the signing workers' in 'workers'):")
    for (n, label), res in results.items():
        stages = {}
        for x in res["inc"]:
            for k, v in x["timings"].items():  # stage -> CPU seconds (numbers only)
                stages.setdefault(k, []).append(v)
        stages["imports+start"] = [x["cpu_self"] - sum(v for k, v in x["timings"].items() if k in STAGES)
                             for x in res["inc"]]
        stages["workers"] = [x["cpu_workers"] for x in res["inc"]]
        print(f"  N={n:,} {label}: " + ", ".join(f"{k} {med(v):.2f}" for k, v in stages.items()))
    print(f"load at end: {uptime()}; medians of {args.runs} runs ({args.runs_1m} at 1M); goal rerun <= 10 % of full")
    return 0


if __name__ == "__main__":
    sys.exit(main())
