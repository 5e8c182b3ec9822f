"""How `vax match` scales: wall time, CPU time and peak memory at 100k and 1M persons.

Generates (or reuses) synthetic data with ``vax synth`` and runs ``vax match``
end to end (read + match + write) in a child process per run, so that the
peak RSS is the child's own.  Each size is run *cold* (the registry index
beside the register removed first, so the run builds it) and *warm* (the
index reused); ``--code`` runs an older checkout (which has no index: both
modes are then the same run).  Prints the median of ``--repeat`` runs at 100k
(one run at 1M by default), the matcher's per-step timings, and the ratio of
per-record time at each size to the smallest size (1.0 = linear scaling).

Usage::

    .venv/bin/python bench/match_scale.py                # 100k (3 runs) and 1M (1 run)
    .venv/bin/python bench/match_scale.py --sizes 100000 --repeat 5
    .venv/bin/python bench/match_scale.py --sizes 1000000 --repeat 3 --modes warm
    .venv/bin/python bench/match_scale.py --sizes 1000000 --baseline /tmp/base   # side by side

``--baseline DIR`` runs a baseline checkout (e.g. ``git worktree add /tmp/base <commit>``)
and this one alternately, each with its own index folder, and prints both with
the ratio this / baseline per size and mode.
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
#: `vax` run by this interpreter with the vaxlib of a given folder first on the path
VAX = [sys.executable, "-c", "import sys; from vaxlib.cli import main; sys.exit(main())"]
#: prints where `vaxlib` is imported from (python -c puts the working folder first on the path,
#: ahead of PYTHONPATH: run from a checkout, a child would import that checkout whatever --code says)
WHERE = [sys.executable, "-c", "import vaxlib, pathlib; print(pathlib.Path(vaxlib.__file__).resolve().parents[1])"]


def _env(code: str | None) -> dict:
    """Environment that imports vaxlib from ``code`` (default: this checkout)."""
    shared = os.environ.get("VAX_SHARED", str(ROOT.parent / "shared"))
    return {**os.environ, "PYTHONPATH": code or str(ROOT), "VAX_SHARED": shared}
SEEDS = {100_000: 8, 1_000_000: 7}


def data_dir(persons: int, base: Path) -> Path:
    """The synthetic data set for ``persons`` (generated once, then reused)."""
    d = base / f"synth-{persons}"
    if not (d / "registry.parquet").exists():
        print(f"generating {persons:,} persons in {d} …", flush=True)
        subprocess.run([*VAX, "synth", "--persons", str(persons), "--seed", str(SEEDS.get(persons, 1)),
                        "--out", str(d)], check=True, stdout=subprocess.DEVNULL, env=_env(None))
    return d


_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_kb": ru.ru_maxrss}))
"""


def drop_index(d: Path, folder: Path | None = None) -> None:
    """Remove the registry index `vax match` keeps beside the register, or ``folder``
    (only a folder it made)."""
    import shutil

    folder = folder or d / ".registry.parquet.vaxindex"
    if (folder / "index.json").exists():
        shutil.rmtree(folder)


def run_once(d: Path, out: Path, code: str | None = None, index: Path | None = None) -> dict:
    """One `vax match` in a child process: wall, CPU (user+sys) and peak RSS of that child alone.

    A small wrapper process starts `vax match` and reports its rusage, so the
    peak RSS is the match run's own (not the largest of all children so far).
    """
    cmd = [*VAX, "match", "--registry", str(d / "registry.parquet"),
           "--vaccinations", str(d / "vaccinations.parquet"), "--out", str(out), "--quiet"]
    if index is not None:  # an index folder per checkout: each would find the other's stale
        cmd += ["--index", str(index)]
    # code: an older checkout of vaxlib (e.g. `git archive <commit> vaxlib parameters`)
    res = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], check=True, capture_output=True, text=True,
                         env=_env(code), cwd=out.parent)  # outside any checkout (see WHERE)
    usage = json.loads(res.stdout.strip().splitlines()[-1])
    stats = json.loads((out / "match-stats.json").read_text(encoding="utf-8"))
    return {
        "wall": usage["wall"],
        "cpu": usage["cpu"],
        "rss_gb": usage["rss_kb"] / 1024 / 1024,  # ru_maxrss is in kB on Linux
        "records": stats["records"],
        "pairs": stats["pairs"],
        # the per-step timings live in the run's manifest (older checkouts: in match-stats.json)
        "timings": stats.get("timings") or json.loads((out / "_manifest.json").read_text(encoding="utf-8"))["extra"]["timings"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=0, help="runs per size and mode (default 3, 1 at 1M; median reported)")
    ap.add_argument("--modes", nargs="+", default=["cold", "warm"], choices=["cold", "warm"],
                    help="cold: the run builds the registry index; warm: it reuses it")
    ap.add_argument("--data", default="/tmp/vax-bench", help="folder for generated data")
    ap.add_argument("--code", help="run the vaxlib found in this folder instead (a baseline checkout)")
    ap.add_argument("--baseline", help="also run the vaxlib in this folder, alternately, and print ratios")
    args = ap.parse_args(argv)
    base = Path(args.data).resolve()
    base.mkdir(parents=True, exist_ok=True)
    labels = [("baseline", args.baseline), ("this", args.code)] if args.baseline else [("this", args.code)]
    for label, code in labels:  # the code each label really runs, checked from outside any checkout
        got = subprocess.run(WHERE, capture_output=True, text=True, check=True, env=_env(code),
                             cwd=tempfile.gettempdir()).stdout.strip()
        want = str(Path(code or ROOT).resolve())
        print(f"{label}: vaxlib from {got}")
        if got != want:
            raise SystemExit(f"{label} would import vaxlib from {got}, not {want}")
    rows = []
    for persons in sorted(args.sizes):
        d = data_dir(persons, base)
        n = args.repeat if args.repeat else (1 if persons >= 1_000_000 else 3)
        for mode in args.modes:
            runs: dict[str, list] = {label: [] for label, _ in labels}
            for _ in range(n):
                for label, code in labels:  # alternately: both see the same noise
                    index = base / f"index-{persons}-{label}" if args.baseline else None
                    if mode == "cold":
                        drop_index(d, index)
                    elif not ((index or d / ".registry.parquet.vaxindex") / "index.json").exists():
                        with tempfile.TemporaryDirectory() as tmp:  # build the index outside the timing
                            run_once(d, Path(tmp), code, index)
                    with tempfile.TemporaryDirectory() as tmp:
                        runs[label].append(run_once(d, Path(tmp), code, index))
            for label, _ in labels:
                got = runs[label]
                med = {k: statistics.median(r[k] for r in got) for k in ("wall", "cpu", "rss_gb")}
                steps = {k: statistics.median(r["timings"].get(k, 0.0) for r in got)
                         for k in dict.fromkeys(k for r in got for k in r["timings"])}
                rows.append({"persons": persons, "mode": mode, "label": label, "records": got[0]["records"],
                             "pairs": got[0]["pairs"], "runs": n, **med, "steps": steps,
                             "walls": [round(r["wall"], 1) for r in got]})
    first = rows[0]
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    print(f"{'persons':>10} {'mode':>5} {'code':>8} {'records':>10} {'pairs':>10} {'runs':>4} {'wall s':>8} "
          f"{'cpu s':>8} {'peak GB':>8} {'µs/rec':>8} {'vs first':>8}  walls")
    for r in rows:
        per = r["wall"] / r["records"] * 1e6
        ratio = per / (first["wall"] / first["records"] * 1e6)
        print(f"{r['persons']:>10,} {r['mode']:>5} {r['label']:>8} {r['records']:>10,} {r['pairs']:>10,} "
              f"{r['runs']:>4} {r['wall']:>8.1f} {r['cpu']:>8.1f} {r['rss_gb']:>8.2f} {per:>8.1f} {ratio:>8.2f}  "
              f"{r['walls']}")
    if args.baseline:
        print("\nthis / baseline (median wall, CPU, peak):")
        by = {(r["persons"], r["mode"], r["label"]): r for r in rows}
        for (persons, mode, label), r in by.items():
            if label == "this" and (persons, mode, "baseline") in by:
                b = by[(persons, mode, "baseline")]
                print(f"{persons:>10,} {mode:>5}  wall {r['wall'] / b['wall']:.2f}  cpu {r['cpu'] / b['cpu']:.2f}  "
                      f"peak {r['rss_gb'] / b['rss_gb']:.2f}")
    print("\nper-step timings (s, median):")
    keys = list(dict.fromkeys(k for r in rows for k in r["steps"]))
    print(f"{'persons':>10} {'mode':>5} {'code':>8} " + " ".join(f"{k:>10}" for k in keys))
    for r in rows:
        print(f"{r['persons']:>10,} {r['mode']:>5} {r['label']:>8} "
              + " ".join(f"{r['steps'].get(k, float('nan')):>10.1f}" for k in keys))
    for r in rows:
        if r["persons"] == 1_000_000 and r["label"] == "this":
            goal = 20 if r["mode"] == "cold" else 10
            print(f"1M {r['mode']}: wall {r['wall']:.1f} s (target ≤ {goal}), peak {r['rss_gb']:.2f} GB (≤ 4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
