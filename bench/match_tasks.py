"""Task-level A/B of the dask engine's last stages (links, own, finish) on one kept work folder.

The whole-run bench (``bench/match_distributed.py``) moves every stage by 10-40 % between runs
on a shared machine; here only the tasks of the stages compared are re-run, on the same input
files, each code in a fresh process, alternately (code, baseline, code, …), and their process CPU
seconds (``time.process_time`` around each task, the collector paused as the workers run them) are
compared by median.  Each run's outputs (the finish task's matches and candidates tables and loose
records, the links and own tasks' piece files) are kept and compared with the first run's: the
codes must write the same tables.

``--make-work`` first makes the work folder: a partitioned run of ``--data`` on a LocalCluster of
one worker, stopped as the ``own`` stage starts (the evidence, prepare, links and model files are
then all there).

Usage::

    .venv/bin/python bench/match_tasks.py --make-work --data /tmp/d/p1m --work /tmp/w1m --partitions 8
    .venv/bin/python bench/match_tasks.py --work /tmp/w1m --baseline /tmp/base --runs 3 --stages finish
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the code measured: this checkout, or the folder a --baseline comparison runs this process for
ROOT = Path(os.environ.get("VAX_BENCH_CODE") or Path(__file__).resolve().parents[1])
sys.path.insert(0, str(ROOT))

STAGES = ("evidence", "links", "own", "finish")


class _Stop(Exception):
    pass


def _settings():
    from vaxlib.config import PARAMETERS_DIR, load_yaml
    from vaxlib.match.pipeline import MatchSettings

    s = MatchSettings.from_dict(load_yaml(PARAMETERS_DIR / "matching.yaml"))
    s.workers = 1
    return s


def make_work(data: Path, work: Path, partitions: int, stop: str = "own") -> None:
    """A partitioned run of ``data`` stopped as stage ``stop`` starts, its work folder kept at ``work``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from match_distributed import _sources

    from vaxlib.match.distributed import close_cluster, open_cluster, run_match_dask

    def progress(stage: str) -> None:
        print(f"  {time.strftime('%H:%M:%S')} {stage}", flush=True)
        if stage == stop:
            raise _Stop

    client = open_cluster(None, workers=1)
    out = Path(tempfile.mkdtemp(prefix="vax-bench-tasks-"))
    try:
        run_match_dask(None, None, _settings(), client, partitions=partitions, work_dir=work, out=out,
                       run_key="bench-tasks", progress=progress, sources=_sources(data))
        raise SystemExit(f"the run did not reach the {stop} stage")
    except _Stop:
        print(f"work folder kept at {work}")
    finally:
        close_cluster(client)
        shutil.rmtree(out, ignore_errors=True)


def _model(root: Path):
    """The fitted model with ρ from the evidence files, as the run's client sets it before the links stage."""
    import numpy as np

    from vaxlib.match.distributed import WorkDir, _load
    from vaxlib.match.model import rho_from_evidence

    w = WorkDir(root)
    model = _load(w.file("model", "fitted.pkl"))["model"]
    meta = _load(w.file("input", "_meta.pkl"))
    n_rec, n_reg = meta["n_rec"], meta["n_reg"]
    P = len(list((root / "prepare").glob("thin-*.pkl")))
    kind = np.empty(n_rec, dtype=object)
    log_w = np.full(n_rec, -np.inf)
    for p in range(P):
        x = _load(w.file("prepare", f"thin-{p:05d}.pkl"))
        kind[x["pos"]] = np.asarray(x["kind_values"], dtype=object)[x["kind"]]
        e = _load(w.file("evidence", f"log-w-{p:05d}.pkl"))
        log_w[e["pos"]] = e["log_w"]
    model.rho, model.rho_by_kind = rho_from_evidence(log_w, kind)
    return model, n_reg, P


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def child(root: Path, stages: list[str], keep: Path, out_json: Path, profile: str | None) -> None:
    """Run the stages' tasks on ``root`` in this process; CPU seconds per task to ``out_json``,
    the outputs' digests and tables under ``keep``."""
    import vaxlib
    from vaxlib.match import distributed as d

    all_stages, cpu = list(stages), {}
    s = _settings()
    w = d.WorkDir(root)
    if "evidence" in stages:  # the model's ρ is set from the evidence files: those of this code
        P = len(list((root / "prepare").glob("thin-*.pkl")))
        n_reg = d._load(w.file("input", "_meta.pkl"))["n_reg"]
        for r in range(P):
            c0 = time.process_time()
            d._run_task(d.task_evidence, str(root), r, P, n_reg)
            cpu.setdefault("evidence", []).append(time.process_time() - c0)
        stages = [st for st in stages if st != "evidence"]
    model, n_reg, P = _model(root)
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    for st in stages:
        for r in range(P):
            args = {"evidence": (d.task_evidence, str(root), r, P, n_reg),
                    "links": (d.task_links, str(root), r, P, model, s, n_reg),
                    "own": (d.task_own, str(root), r, P),
                    "finish": (d.task_finish, str(root), r, P, model, s, n_reg)}[st]
            c0 = time.process_time()
            if prof is not None and st == profile:
                prof.enable()
            got = d._run_task(*args)
            if prof is not None:
                prof.disable()
            cpu.setdefault(st, []).append(time.process_time() - c0)
            if st == "finish":
                got["loose"].reset_index(drop=True).to_pickle(keep / f"loose-{r:05d}.pkl")
    digests = {}
    for st in all_stages:
        for f in sorted((root / st).glob("*")):
            if f.name.startswith("_"):
                continue
            if f.suffix == ".arrow" or f.suffix == ".parquet":
                shutil.copyfile(f, keep / f.name)
            digests[f"{st}/{f.name}"] = _digest(f)
    if prof is not None:
        prof.dump_stats(str(keep / "profile.out"))
    out_json.write_text(json.dumps({"cpu": cpu, "digests": digests, "vaxlib": str(Path(vaxlib.__file__).parent),
                                    "load": os.getloadavg()[0]}))


def _same_tables(a: Path, b: Path) -> list[str]:
    """The names of the finish outputs that differ between two kept folders."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = []
    for f in sorted(a.glob("*")):
        g = b / f.name
        if f.name == "profile.out":
            continue
        if not g.exists():
            bad.append(f"{f.name}: missing")
        elif f.suffix == ".arrow":
            with pa.memory_map(str(f)) as x, pa.memory_map(str(g)) as y:
                ta, tb = pa.ipc.open_file(x).read_all(), pa.ipc.open_file(y).read_all()
                if not ta.equals(tb, check_metadata=True):
                    bad.append(f.name)
        elif f.suffix == ".parquet":
            if not pq.read_table(f).equals(pq.read_table(g), check_metadata=True):
                bad.append(f.name)
        elif f.suffix == ".pkl":
            x, y = pd.read_pickle(f), pd.read_pickle(g)
            if not (x.equals(y) and list(x.dtypes) == list(y.dtypes)):
                bad.append(f.name)
    return bad


def compare(args) -> int:
    codes = {"code": Path(args.code or ROOT).resolve(), "baseline": Path(args.baseline).resolve()}
    stages = [s for s in STAGES if s in args.stages.split(",")]
    got: dict = {k: [] for k in codes}
    keep_root = Path(tempfile.mkdtemp(prefix="vax-bench-tasks-keep-"))
    print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f} at start; work {args.work}; "
          f"stages {', '.join(stages)}")
    first = None
    try:
        for i in range(args.runs):
            for name, folder in codes.items():
                keep = keep_root / f"{name}-{i}"
                keep.mkdir()
                out_json = keep / "figures.json"
                env = {**os.environ, "VAX_BENCH_CODE": str(folder),
                       "PYTHONPATH": os.pathsep.join([str(folder)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
                cmd = [sys.executable, str(Path(__file__).resolve()), "--work", str(args.work), "--stages",
                       ",".join(stages), "--child", str(keep)]
                if args.profile and i == 0:
                    cmd += ["--profile", args.profile]
                load0 = os.getloadavg()[0]
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True)
                wall = time.perf_counter() - t0
                r = json.loads(out_json.read_text())
                r["load0"] = load0
                got[name].append(r)
                figs = ", ".join(f"{st} {sum(r['cpu'][st]):.2f}" for st in stages)
                print(f"  run {i + 1} {name:8s} ({r['vaxlib']}): CPU s {figs}; process {wall:.1f} s wall; "
                      f"load {load0:.1f} -> {r['load']:.1f}", flush=True)
                if first is None:
                    first = (name, keep, r["digests"])
                    continue
                bad = _same_tables(first[1], keep)
                other = [k for k, v in r["digests"].items() if first[2].get(k) != v and not k.startswith("finish/")]
                if bad or other or set(r["digests"]) != set(first[2]):
                    print(f"    DIFFERENT from run 1 {first[0]}: tables {bad}, files {other}")
                else:
                    print(f"    same outputs as run 1 {first[0]}")
        med = statistics.median
        print(f"\n  medians of {args.runs} runs each (process CPU s, all partitions)   baseline      code   code/baseline")
        for st in stages:
            b = med([sum(r["cpu"][st]) for r in got["baseline"]])
            c = med([sum(r["cpu"][st]) for r in got["code"]])
            print(f"  {st:10s} {'':47s} {b:8.2f} {c:9.2f}   {c / b:.3f}")
        if args.profile:
            print(f"  profiles of run 1: {keep_root}/*-0/profile.out")
    finally:
        if not args.profile:
            shutil.rmtree(keep_root, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, type=Path, help="the kept work folder (--make-work makes it)")
    ap.add_argument("--make-work", action="store_true", help="make the work folder from --data first")
    ap.add_argument("--data", type=Path, help="with --make-work: the input folder (vax synth --partitioned)")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--stop", default="own", choices=STAGES,
                    help="with --make-work: the stage the run stops at (default own; evidence to A/B it)")
    ap.add_argument("--stages", default="links,own,finish",
                    help="stages re-run, in order (default links,own,finish; evidence only in a folder made "
                         "with --stop evidence, whose score files the run has not dropped yet)")
    ap.add_argument("--baseline", help="a checkout of other code (e.g. main): compare the two, alternately")
    ap.add_argument("--code", help="with --baseline: the code measured (default: this checkout)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each code (default 3)")
    ap.add_argument("--profile", help="cProfile this stage's tasks in the first run of each code (files kept)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # one run: outputs and figures kept here
    args = ap.parse_args(argv)
    if args.make_work:
        if not args.data:
            ap.error("--make-work needs --data")
        make_work(args.data, args.work, args.partitions, args.stop)
        return 0
    if args.child:
        child(args.work, args.stages.split(","), args.child, args.child / "figures.json", args.profile)
        return 0
    if not args.baseline:
        ap.error("--baseline is needed (or --make-work)")
    return compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
