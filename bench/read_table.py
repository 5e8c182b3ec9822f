"""CPU and wall seconds of `vaxlib.io.read_table` on the register and the dose records, new vs. a baseline.

Generates (or reuses) synthetic data with ``vax synth`` (outside the
repository: ``--data``, default ``/tmp/vax-bench-read``) and reads each table
in a fresh child process per run (register, then dose records, in one
process, as ``vax match`` holds the register while it reads the records),
once with this checkout's vaxlib and once with the baseline's, alternating,
so both see the same machine load.  The
baseline is a commit (default ``c2ae1cd``: main before the coded read path)
exported with ``git archive`` into a temporary folder, or a folder holding a
``vaxlib`` package.  Prints the median of ``--repeat`` runs (CPU = user +
system of the reading process, import excluded), rows accepted/quarantined
(which must agree), and ``uptime`` before and after.

Usage::

    .venv/bin/python bench/read_table.py                              # 100k and 1M, 3 runs each
    .venv/bin/python bench/read_table.py --sizes 100000 --repeat 5
    .venv/bin/python bench/read_table.py --baseline /path/to/old/checkout --formats parquet,csv
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = {100_000: 5, 1_000_000: 7}
VAX = [sys.executable, "-c", "import sys; from vaxlib.cli import main; sys.exit(main())"]

_CHILD = """
import json, resource, sys, time
import vaxlib
from vaxlib.io import read_table
out = {"vaxlib": vaxlib.__file__, "tables": []}
kept = []  # as in `vax match`: the register stays in memory while the dose records are read
for arg in sys.argv[1:]:
    path, kind = arg.rsplit(":", 1)
    t, c = time.perf_counter(), time.process_time()
    res = read_table(path, kind)
    cpu, wall = time.process_time() - c, time.perf_counter() - t
    kept.append(res)
    out["tables"].append({"cpu": cpu, "wall": wall, "accepted": len(res.table), "quarantined": len(res.quarantine),
                          "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
print(json.dumps(out))
"""


def _env(code: Path) -> dict:
    shared = os.environ.get("VAX_SHARED", str(ROOT.parent / "shared"))
    return {**os.environ, "PYTHONPATH": str(code), "VAX_SHARED": shared}


def data_dir(persons: int, fmt: str, base: Path) -> Path:
    """The synthetic data set for ``persons`` in ``fmt`` (generated once, then reused)."""
    d = base / f"synth-{persons}-{fmt}"
    if not (d / f"registry.{fmt}").exists():
        print(f"generating {persons:,} persons ({fmt}) in {d} …", flush=True)
        subprocess.run([*VAX, "synth", "--persons", str(persons), "--seed", str(SEEDS.get(persons, 1)),
                        "--format", fmt, "--out", str(d)], check=True, stdout=subprocess.DEVNULL, env=_env(ROOT))
    return d


def baseline_code(spec: str, tmp: Path) -> Path:
    """A folder whose ``vaxlib`` is the baseline: ``spec`` itself, or commit ``spec`` exported into ``tmp``."""
    if Path(spec).is_dir():
        return Path(spec)
    out = tmp / "baseline"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", spec, "vaxlib", "parameters"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def read_once(code: Path, files: list[tuple[Path, str]], cwd: Path) -> list[dict]:
    """Read ``files`` in order in one child process importing vaxlib from ``code``; one dict per file.

    The child runs in ``cwd`` (not the repository): ``python -c`` puts the
    working folder first on ``sys.path``, which would shadow ``code``.
    """
    res = subprocess.run([sys.executable, "-c", _CHILD, *(f"{p}:{k}" for p, k in files)], check=True,
                         capture_output=True, text=True, env=_env(code), cwd=cwd)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if not Path(out["vaxlib"]).resolve().is_relative_to(code.resolve()):
        raise SystemExit(f"child imported {out['vaxlib']}, not the vaxlib of {code}")
    return out["tables"]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "(no uptime)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="register sizes (persons), comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "vax-bench-read")
    ap.add_argument("--baseline", default="c2ae1cd", help="commit or folder of the code to compare with")
    ap.add_argument("--formats", default="parquet", help="parquet,csv,xlsx (as `vax synth --format` writes)")
    ap.add_argument("--tables", default="registry,vaccinations")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    tables = args.tables.split(",")
    formats = args.formats.split(",")
    print("load before:", uptime(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        codes = {"new": ROOT, "baseline": baseline_code(args.baseline, Path(tmp))}
        for persons in sizes:
            for fmt in formats:
                d = data_dir(persons, fmt, args.data)
                files = [(d / f"{kind}.{fmt}", kind) for kind in tables]
                runs: dict[str, list[list[dict]]] = {name: [] for name in codes}
                for _ in range(args.repeat):
                    for name, code in codes.items():  # alternating: both under the same load
                        runs[name].append(read_once(code, files, Path(tmp)))
                for t, kind in enumerate(tables):
                    per = {name: [r[t] for r in rs] for name, rs in runs.items()}
                    counts = {name: (r[0]["accepted"], r[0]["quarantined"]) for name, r in per.items()}
                    if len(set(counts.values())) != 1:
                        print(f"!! {kind} {persons}: accepted/quarantined differ: {counts}")
                    med = {name: {k: statistics.median(x[k] for x in r) for k in ("cpu", "wall", "rss_mb")}
                           for name, r in per.items()}
                    b, n = med["baseline"], med["new"]
                    print(f"{persons:>9,} {fmt:7s} {kind:12s} rows {counts['new'][0]:>9,}+{counts['new'][1]:<6,} "
                          f"baseline {b['cpu']:6.2f} CPU s {b['wall']:6.2f} s | "
                          f"new {n['cpu']:6.2f} CPU s {n['wall']:6.2f} s | CPU x{b['cpu'] / max(n['cpu'], 1e-9):.1f}"
                          f" | peak RSS so far {b['rss_mb']:,.0f} -> {n['rss_mb']:,.0f} MB", flush=True)
    print("load after: ", uptime())
    print(f"(median of {args.repeat}; CPU = user+sys of the reading process, imports excluded; "
          f"baseline {args.baseline})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
