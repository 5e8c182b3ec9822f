"""`vax match --engine dask`: per-partition figures, 1 → 2 worker speed-up, pair growth and a national extrapolation.

For each ``--data`` folder (``registry.parquet`` + ``vaccinations.parquet``, e.g. from
``vax synth``) and each worker count of ``--workers``, starts a LocalCluster of that many
single-threaded worker processes and runs the partitioned matcher
(:func:`vaxlib.match.distributed.run_match_dask`) with ``--partitions`` partitions.  The
registry index is built once per folder, outside the timings (``vax index`` does it once
per register).  Prints:

* a per-partition table of the last run: records, registry rows, stage-1 and stage-2
  pairs, seconds per stage, shuffle bytes written by the partition;
* pairs proposed per blocking rule;
* per stage: client wall seconds and the workers' CPU seconds, per worker count, and the
  speed-up from the first to the last worker count on the partitioned stages;
* worker peak RSS and the client's;
* pairs per open record at each size and the fitted growth ``ppo(n) = a·n^b``;
* an extrapolation to a national run with the formula and its numbers.

``--check-local`` also runs the local engine on the same data and reports whether the
answers are the same (statuses, person_ids, person_keys, codes exact; probabilities within 1e-9).

Each run also prints the 10M estimate of s11's formula: the record-bound stages' worker CPU and
all the client's CPU scaled by ``--estimate-records`` / records, the pair-bound stages' by
``--estimate-pairs`` / stage-2 pairs (defaults: the 10M seed-7 set's 24.17M records and 58.0M
stage-2 pairs), and the same with the u sample's CPU (a cost fixed by ``u_pairs``) not scaled.

``--baseline DIR`` (a checkout of other code, e.g. main) compares two codes in one command:
``--runs`` runs of each, alternately (code, baseline, code, …), each in a fresh process whose
``vaxlib`` (and its workers') is that folder's (``--code``, default this checkout); prints per
stage the medians of both, their ratio, and the totals, peaks, shuffle bytes and estimates.

Usage::

    .venv/bin/python bench/match_distributed.py --data /tmp/d100k --workers 1,2 --check-local
    .venv/bin/python bench/match_distributed.py --data /tmp/d100k --data /tmp/d1m --workers 1,2 --partitions 8
    .venv/bin/python bench/match_distributed.py --data /tmp/d1m --workers 1 --baseline /tmp/main --runs 2
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
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

#: stages that run as tasks on the workers (the partitioned part of the run)
PARTITIONED = ("read", "tf", "input", "prepare", "keys", "join", "pairs", "rows", "compare", "score",
               "evidence", "links", "own", "finish")
#: stages whose work follows the records, and those that follow the candidate pairs
RECORD_BOUND = ("read", "tf", "input", "prepare", "keys")
PAIR_BOUND = ("join", "pairs", "rows", "compare", "model", "score", "evidence", "links", "own", "finish")


#: s11's 10M figures: the records and the stage-2 pairs of the 10M seed-7 set
EST_RECORDS, EST_PAIRS = 24.17e6, 58.0e6


def estimate(stages: dict, client_cpu: float, u_cpu: float, records: int, pairs: int,
             est_records: float = EST_RECORDS, est_pairs: float = EST_PAIRS) -> tuple[float, float]:
    """s11's formula (CPU s): the record-bound stages' worker CPU and all the client's CPU times
    est_records / records, the pair-bound stages' times est_pairs / pairs; and the same with the u
    sample's CPU ``u_cpu`` (inside the model stage, fixed by u_pairs) taken once, not scaled."""
    rec = sum(stages.get(s, {}).get("cpu", 0) for s in RECORD_BOUND) + client_cpu
    pair = sum(stages.get(s, {}).get("cpu", 0) for s in PAIR_BOUND)
    fr, fp = est_records / max(records, 1), est_pairs / max(pairs, 1)
    return rec * fr + pair * fp, rec * fr + (pair - u_cpu) * fp + u_cpu


def _worker_cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _sources(folder: Path) -> dict:
    """The input files of a data folder: ``registry/`` and ``vaccinations/`` parts (``vax synth
    --partitioned``) or the single ``registry.parquet`` / ``vaccinations.parquet``."""
    from vaxlib.match.distributed import input_files

    out = {}
    for kind in ("registry", "vaccinations"):
        p = folder / kind if (folder / kind).is_dir() else folder / f"{kind}.parquet"
        out[kind] = input_files(p)
    return out


def _rows(files) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _run(sources: dict, workers: int, partitions: int, settings) -> dict:
    """One partitioned run on a fresh LocalCluster, the workers reading the input files; per-stage
    wall and worker CPU from the progress hook."""
    from vaxlib.match.distributed import close_cluster, open_cluster, run_match_dask

    client = open_cluster(None, workers=workers)
    tmp = Path(tempfile.mkdtemp(prefix="vax-bench-dask-"))
    marks: list[tuple[str, float, float, float]] = []

    def cpu() -> float:
        return sum(client.run(_worker_cpu).values())

    def progress(stage: str) -> None:
        marks.append((stage, time.perf_counter(), cpu(), time.process_time()))

    try:
        (tmp / "out").mkdir()
        t0, c0 = time.perf_counter(), time.process_time()
        progress("start")
        res = run_match_dask(None, None, settings, client, partitions=partitions, work_dir=tmp / "work",
                             out=tmp / "out", run_key="bench", progress=progress, sources=sources)
        progress("end")
        wall, client_cpu = time.perf_counter() - t0, time.process_time() - c0
        client_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # before the results are read here
        import pandas as pd

        cols = ["record_id", "status", "person_id", "person_key", "match_probability", "error_codes"]
        matches = pd.concat([pd.read_parquet(f, columns=cols) for f in sorted((tmp / "out" / "matches").glob("*.parquet"))])
        n_cands = sum(_rows([f]) for f in (tmp / "out" / "candidates").glob("*.parquet"))
    finally:
        close_cluster(client)
        shutil.rmtree(tmp, ignore_errors=True)
    # per-stage wall and worker CPU between consecutive progress marks (the hook fires as a stage starts)
    stages = {}
    for (name, t, c, k), (_, t2, c2, k2) in zip(marks[:-1], marks[1:]):
        if name != "start":
            stages[name] = {"wall": t2 - t, "cpu": c2 - c, "client_cpu": k2 - k}
    return {"res": res, "wall": wall, "client_cpu": client_cpu, "stages": stages, "matches": matches,
            "n_candidates": n_cands, "client_rss": client_rss}


def _accuracy(folder: Path, matches) -> str:
    """Precision and recall of the automatic links and person_key F1 against the synthetic truth."""
    import pandas as pd

    from vaxlib.match.evaluate import evaluate

    tdir = folder / "truth_vaccinations"
    files = sorted(tdir.glob("part-*.parquet")) if tdir.is_dir() else [folder / "truth_vaccinations.parquet"]
    truth = pd.concat([pd.read_parquet(f, columns=["record_id", "person_id", "human_id", "error_codes"]) for f in files])
    got = evaluate(matches, truth)
    keys = ("auto_precision", "auto_recall", "person_key_f1")
    return ", ".join(f"{k} {got[k]:.5f}" for k in keys if k in got) or str(got)


def _check_local(sources: dict, settings, run: dict) -> str:
    import numpy as np
    import pandas as pd

    from vaxlib.io import read_table
    from vaxlib.match.pipeline import run_match

    reg = pd.concat([read_table(f, "registry").table for f in sources["registry"]], ignore_index=True)
    vac = pd.concat([read_table(f, "vaccinations").table for f in sources["vaccinations"]], ignore_index=True)
    t0, c0 = time.perf_counter(), time.process_time()
    local = run_match(reg, vac, settings)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    a = local.matches.sort_values("record_id").reset_index(drop=True)
    b = run["matches"].sort_values("record_id").reset_index(drop=True)
    diffs = {}
    for col in a.columns:
        if col not in b.columns:
            continue
        if col == "match_probability":
            d = np.abs(a[col].to_numpy(float) - b[col].to_numpy(float)) > 1e-9
        else:
            x = a[col].astype(object).where(a[col].notna(), None).to_numpy()
            y = b[col].astype(object).where(b[col].notna(), None).to_numpy()
            d = x != y
        if d.any():
            diffs[col] = int(d.sum())
    same_cands = len(local.candidates) == run["n_candidates"]
    verdict = "same answers" if not diffs and same_cands else f"DIFFERENT: {diffs}, candidates {same_cands}"
    return (f"{verdict} ({len(a):,} records; local engine {secs:.1f} s wall, {cpu:.1f} s CPU; "
            f"load {os.getloadavg()[0]:.1f})")


def _mb(x: float) -> str:
    return f"{x / 2**20:,.0f}"


def _shuffle_bytes(tasks: dict) -> int:
    """Bytes the shuffles wrote (keys, join, rows and score pieces)."""
    return sum(t.get("shuffle_bytes", 0) for stage in ("keys", "join", "rows", "score") for t in tasks.get(stage, []))


def _summary(run: dict, folder: Path) -> dict:
    """One run's figures as plain data (what a --baseline comparison's child process hands back)."""
    import vaxlib

    res = run["res"]
    rss: dict = {}
    for ts in res.tasks.values():
        for t in ts:
            rss[t["pid"]] = max(rss.get(t["pid"], 0), t["peak_rss"])
    try:
        accuracy = _accuracy(folder, run["matches"])
    except Exception as exc:  # noqa: BLE001 - a folder without truth still gets its timings
        accuracy = f"not measured ({exc.__class__.__name__})"
    return {"wall": run["wall"], "client_cpu": run["client_cpu"], "stages": run["stages"],
            "workers_cpu": sum(v["cpu"] for v in run["stages"].values()),
            "u_cpu": sum(t.get("cpu", 0) for t in res.tasks.get("u", [])),
            "worker_peak_mb": max(rss.values(), default=0) / 2**20, "client_rss_mb": run["client_rss"] / 2**20,
            "shuffle_mb": _shuffle_bytes(res.tasks) / 2**20, "records": res.stats["records"],
            "stage2_pairs": res.stats["stage2_pairs"], "accuracy": accuracy, "vaxlib": str(Path(vaxlib.__file__).parent),
            "load": os.getloadavg()[0]}


def _compare_codes(args) -> int:
    """--baseline: ``args.runs`` runs of each code, alternately, each in a fresh process; medians side by side."""
    codes = {"code": Path(args.code or ROOT).resolve(), "baseline": Path(args.baseline).resolve()}
    got: dict = {k: [] for k in codes}
    print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f} at start; data {args.data[0]}; "
          f"{args.workers} worker(s), P = {args.partitions}")
    for i in range(args.runs):
        for name, folder in codes.items():
            with tempfile.NamedTemporaryFile(suffix=".json") as fh:
                env = {**os.environ, "VAX_BENCH_CODE": str(folder),
                       "PYTHONPATH": os.pathsep.join([str(folder)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
                cmd = [sys.executable, str(Path(__file__).resolve()), "--data", args.data[0], "--workers",
                       str(args.workers), "--partitions", str(args.partitions), "--child-json", fh.name]
                load0 = os.getloadavg()[0]
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
                r = json.loads(Path(fh.name).read_text())
            r["load0"] = load0
            got[name].append(r)
            print(f"  run {i + 1} {name:8s} ({r['vaxlib']}): {r['wall']:.1f} s wall, workers {r['workers_cpu']:.1f} + "
                  f"client {r['client_cpu']:.1f} CPU s; load {load0:.1f} -> {r['load']:.1f}", flush=True)
    med = lambda xs: statistics.median(xs) if xs else 0.0  # noqa: E731
    names = list(got["code"][0]["stages"])
    print(f"\n  medians of {args.runs} runs each     baseline      code   code/baseline")
    print("  stage        (worker CPU s; client CPU s beside)")
    for st in names:
        b = [r["stages"].get(st, {}).get("cpu", 0) for r in got["baseline"]]
        c = [r["stages"].get(st, {}).get("cpu", 0) for r in got["code"]]
        bc = med([r["stages"].get(st, {}).get("client_cpu", 0) for r in got["baseline"]])
        cc = med([r["stages"].get(st, {}).get("client_cpu", 0) for r in got["code"]])
        ratio = f"{med(c) / med(b):.3f}" if med(b) > 0.05 else "-"
        print(f"  {st:11s} {med(b):8.1f} +{bc:4.1f} {med(c):8.1f} +{cc:4.1f}   {ratio}")
    rows = [("workers CPU s", "workers_cpu"), ("client CPU s", "client_cpu"), ("wall s", "wall"),
            ("u sample CPU s", "u_cpu"), ("worker peak MB", "worker_peak_mb"), ("client peak MB", "client_rss_mb"),
            ("shuffle MB", "shuffle_mb")]
    for label, key in rows:
        b, c = med([r[key] for r in got["baseline"]]), med([r[key] for r in got["code"]])
        print(f"  {label:18s} {b:9.1f} {c:9.1f}   " + (f"{c / b:.3f}" if b else "-"))
    for name in ("baseline", "code"):
        ests = [estimate(r["stages"], r["client_cpu"], r["u_cpu"], r["records"], r["stage2_pairs"],
                         args.estimate_records, args.estimate_pairs) for r in got[name]]
        print(f"  10M estimate ({name}): {med([e[0] for e in ests]):,.0f} CPU s (s11's formula); "
              f"{med([e[1] for e in ests]):,.0f} with the u sample not scaled"
              + ("" if med([r["u_cpu"] for r in got[name]]) else " (this code does not report the u sample: "
                                                                    "equal to the formula)"))
    for name in ("baseline", "code"):
        print(f"  accuracy ({name}): " + " | ".join(sorted({r["accuracy"] for r in got[name]})))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="folder with registry/vaccinations.parquet "
                                                                   "(repeat for several sizes, smallest first)")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--check-local", action="store_true", help="also run the local engine and compare")
    ap.add_argument("--ppo-point", action="append", default=[], metavar="RECORDS:PPO",
                    help="a size measured elsewhere (e.g. a 10M `vax match --engine dask`: stage2_pairs / "
                         "stage2_records of its match_stats.json), added to the pairs-per-open-record fit")
    ap.add_argument("--national-records", type=float, default=233e6)
    ap.add_argument("--national-persons", type=float, default=100e6)
    ap.add_argument("--machines", type=int, default=8)
    ap.add_argument("--cores", type=int, default=16, help="cores per machine")
    ap.add_argument("--estimate-records", type=float, default=EST_RECORDS,
                    help="records of the size the s11 formula estimates (default: the 10M set's 24.17M)")
    ap.add_argument("--estimate-pairs", type=float, default=EST_PAIRS,
                    help="stage-2 pairs of that size (default: the 10M set's 58.0M)")
    ap.add_argument("--baseline", help="a checkout of other code (e.g. main): compare the two, alternately")
    ap.add_argument("--code", help="with --baseline: the code measured (default: this checkout)")
    ap.add_argument("--runs", type=int, default=2, help="with --baseline: runs of each code (default 2)")
    ap.add_argument("--child-json", help=argparse.SUPPRESS)  # one run, its figures written here (--baseline)
    args = ap.parse_args(argv)
    if args.baseline:
        if "," in args.workers or len(args.data) != 1:
            ap.error("--baseline compares one --data folder at one --workers count")
        return _compare_codes(args)

    from vaxlib.config import PARAMETERS_DIR, load_yaml
    from vaxlib.match.pipeline import MatchSettings

    settings = MatchSettings.from_dict(load_yaml(PARAMETERS_DIR / "matching.yaml"))
    settings.workers = 1
    counts = [int(x) for x in args.workers.split(",")]
    if args.child_json:
        folder = Path(args.data[0])
        run = _run(_sources(folder), counts[0], args.partitions, settings)
        Path(args.child_json).write_text(json.dumps(_summary(run, folder)))
        return 0
    print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} at start")
    growth = []
    last = None
    for folder in map(Path, args.data):
        sources = _sources(folder)
        n_rec, n_reg = _rows(sources["vaccinations"]), _rows(sources["registry"])
        print(f"\n== {folder}: {n_reg:,} registry persons, {n_rec:,} records in {len(sources['registry'])} + "
              f"{len(sources['vaccinations'])} files, read by the workers (timed); P = {args.partitions}")
        runs = {}
        for w in counts:
            runs[w] = _run(sources, w, args.partitions, settings)
            r = runs[w]
            print(f"  {w} worker(s): {r['wall']:.1f} s wall, client CPU {r['client_cpu']:.1f} s, workers CPU "
                  f"{sum(s['cpu'] for s in r['stages'].values()):.1f} s; load {os.getloadavg()[0]:.1f}")
        if args.check_local:
            print("  check against the local engine:", _check_local(sources, settings, runs[counts[0]]))
        try:
            print("  accuracy against the truth:", _accuracy(folder, runs[counts[-1]]["matches"]))
        except Exception as exc:  # noqa: BLE001 - a folder without truth still gets its timings
            print(f"  accuracy: not measured ({exc.__class__.__name__}: {exc})")
        res = runs[counts[-1]]["res"]
        st = res.stats
        ppo = st["stage2_pairs"] / max(st["stage2_records"], 1)
        client_s = sum(v["client_cpu"] for v in runs[counts[-1]]["stages"].values())
        growth.append((n_rec, ppo, st["stage2_records"] / n_rec, client_s))
        # -- per stage, per worker count
        print("\n  stage       " + "".join(f"{f'wall{w}':>9}{f'cpu{w}':>9}{f'client{w}':>9}" for w in counts))
        names = [s for s in runs[counts[0]]["stages"]]
        for name in names:
            print(f"  {name:11s} " + "".join(f"{runs[w]['stages'].get(name, {}).get('wall', 0):9.1f}"
                                             f"{runs[w]['stages'].get(name, {}).get('cpu', 0):9.1f}"
                                             f"{runs[w]['stages'].get(name, {}).get('client_cpu', 0):9.1f}"
                                             for w in counts))
        r0 = runs[counts[0]]
        e_all, e_u = estimate(r0["stages"], r0["client_cpu"], sum(t.get("cpu", 0) for t in r0["res"].tasks.get("u", [])),
                              n_rec, st["stage2_pairs"], args.estimate_records, args.estimate_pairs)
        print(f"  {args.estimate_records / 1e6:.2f}M-record estimate ({counts[0]} worker(s), s11's formula): "
              f"{e_all:,.0f} CPU s; {e_u:,.0f} with the u sample not scaled")
        part = {w: sum(runs[w]["stages"].get(s, {}).get("wall", 0) for s in PARTITIONED) for w in counts}
        if len(counts) > 1:
            print(f"  partitioned stages: {part[counts[0]]:.1f} s with {counts[0]} worker(s), "
                  f"{part[counts[-1]]:.1f} s with {counts[-1]}: speed-up {part[counts[0]] / part[counts[-1]]:.2f}x")
        # -- per partition
        tasks = res.tasks
        P = args.partitions
        col = lambda stage, key, p: next((t.get(key, 0) for t in tasks.get(stage, []) if t.get("partition") == p), 0)  # noqa: E731
        shuffle = [0] * P
        for stage in ("keys", "join", "score"):
            for t in tasks.get(stage, []):
                shuffle[t["partition"]] += t.get("shuffle_bytes", 0)
        for t in tasks.get("rows", []):
            shuffle[t["partition"]] += t.get("shuffle_bytes", 0)
        print("\n  part   records  registry  stage1  stage2    pairs  prep_s  keys_s  join_s  comp_s  score_s  fin_s  "
              "shuffle_MB")
        for p in range(P):
            print(f"  {p:4d} {col('prepare', 'records', p):9,} {col('prepare', 'registry', p):9,} "
                  f"{col('prepare', 'stage1_pairs', p):7,} {col('pairs', 'stage2_pairs', p):7,} "
                  f"{col('compare', 'pairs', p):8,} {col('prepare', 'seconds', p):7.1f} {col('keys', 'seconds', p):7.1f} "
                  f"{col('join', 'seconds', p):7.1f} {col('compare', 'seconds', p):7.1f} {col('score', 'seconds', p):8.1f} "
                  f"{col('finish', 'seconds', p):6.1f} {_mb(shuffle[p]):>11}")
        rss = {}
        for ts in tasks.values():
            for t in ts:
                rss[t["pid"]] = max(rss.get(t["pid"], 0), t["peak_rss"])
        print(f"  worker peak RSS (MB): {', '.join(_mb(v) for v in rss.values())}; client peak RSS "
              f"{_mb(runs[counts[-1]]['client_rss'])} MB; shuffle {_mb(sum(shuffle))} MB in all")
        print("  pairs per rule (key partitions, before deduplication): "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(st["rule_pairs"].items(), key=lambda kv: -kv[1])))
        print(f"  stage 2: {st['stage2_records']:,} open records, {st['stage2_pairs']:,} pairs, "
              f"{ppo:.2f} pairs per open record")
        last = (n_rec, runs, counts)

    # -- growth of pairs per open record
    print("\n== pairs per open record")
    for n, ppo, share, _ in growth:
        print(f"  {n:>12,} records: {ppo:6.2f} pairs per open record, {share:.3f} of records open")
    points = [(n, ppo) for n, ppo, _, _ in growth]
    for x in args.ppo_point:
        n_s, ppo_s = x.split(":")
        points.append((float(n_s), float(ppo_s)))
        print(f"  {float(n_s):>12,.0f} records: {float(ppo_s):6.2f} pairs per open record (--ppo-point)")
    points.sort()
    if len(points) >= 2:
        # least squares in log-log over every size; the largest sizes say most about the block caps
        lx = [math.log(n) for n, _ in points]
        ly = [math.log(p) for _, p in points]
        mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
        b = sum((x - mx) * (y - my) for x, y in zip(lx, ly)) / sum((x - mx) ** 2 for x in lx)
        if len(points) >= 3:
            (n1, p1), (n2, p2) = points[-2], points[-1]
            print(f"  growth between the two largest sizes: n^{math.log(p2 / p1) / math.log(n2 / n1):.3f}")
        a = math.exp(my - b * mx)
    else:
        b = 0.0
        print("  (one size: growth exponent taken as 0)")
        a = growth[-1][1]
    print(f"  fitted ppo(n) = {a:.4g} · n^{b:.3f} (least squares over {len(points)} size(s))")

    # -- extrapolation
    n, runs, counts = last
    r = runs[counts[-1]]
    cpu = {s: v["cpu"] for s, v in r["stages"].items()}
    c_rec = sum(cpu.get(s, 0) for s in RECORD_BOUND) / n
    c_pair = sum(cpu.get(s, 0) for s in PAIR_BOUND)
    # the client's part: a fixed cost (task rounds, the 100k-pair u sample, EM on distinct vectors)
    # plus a per-record one (hashing into partitions, per-record arrays, person_key), fitted on two sizes
    if len(growth) >= 2:
        (n1, _, _, t1), (n2, _, _, t2) = growth[0], growth[-1]
        beta = max((t2 - t1) / (n2 - n1), 0.0)
        alpha = max(t2 - beta * n2, 0.0)
    else:
        alpha, beta = 0.0, growth[-1][3] / growth[-1][0]
    R = args.national_records
    share = growth[-1][2]
    pairs_n = growth[-1][1] * share * n
    pairs_R = a * R ** b * share * R
    c_pair_per = c_pair / max(pairs_n, 1)
    cores = args.machines * args.cores
    eff = 1.0
    if len(counts) > 1:
        part = {w: sum(runs[w]["stages"].get(s, {}).get("wall", 0) for s in PARTITIONED) for w in counts}
        eff = min(1.0, part[counts[0]] / part[counts[-1]] / (counts[-1] / counts[0]))
    t_workers = (c_rec * R + c_pair_per * pairs_R) / (cores * eff)
    t_client = alpha + beta * R
    print(f"\n== extrapolation to {R / 1e6:.0f}M records / {args.national_persons / 1e6:.0f}M persons on "
          f"{args.machines} x {args.cores} cores")
    print("  T = (c_rec·R + c_pair·ppo(R)·s·R) / (cores·e) + (α + β·R)")
    print(f"    c_rec   = {c_rec * 1e6:.1f} µs CPU per record (read … keys at n = {n:,})")
    print(f"    c_pair  = {c_pair_per * 1e6:.1f} µs CPU per stage-2 pair (join … finish, the model's tasks)")
    print(f"    ppo(R)  = {a * R ** b:.2f} pairs per open record, s = {share:.3f} open share")
    print(f"    e       = {eff:.2f} parallel efficiency measured 1 -> {counts[-1]} workers")
    print(f"    α, β    = {alpha:.1f} s, {beta * 1e6:.2f} µs CPU per record on the client (partitioning, model fit, "
          "person_key; " + ("fitted on the smallest and largest size)" if len(growth) >= 2 else "one size: all per record)"))
    print(f"  T = {t_workers / 60:.1f} min on the workers + {t_client / 60:.1f} min on the client "
          f"= {(t_workers + t_client) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
