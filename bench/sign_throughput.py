"""Batch signing throughput vs OpenSSL's raw ECDSA P-256 signing rate, measured in the same run.

    VAX_KEY_PASSPHRASE=... python bench/sign_throughput.py [--small 20000] [--runs 3]
        [--processes 2] [--million [--n 1000000]] [--qr png] [--incremental N [--changed 0.01]]

Each run pairs ``openssl speed -seconds 3 ecdsap256`` (one core, per CPU-second
and per wall second) with our full pipeline on P processes (payload, schema +
value-set checks, CWT, COSE ES256, zlib, Base45, streamed to Parquet); the
medians of ``--runs`` runs are printed: certificates/s (wall), CPU per
certificate (workers' chunks, workers' whole processes incl. start-up, parent)
and the ratios to OpenSSL's raw signing rate.  ``--million`` adds one streamed
run of ``--n`` certificates with peak memory.  Persons are synthetic (random
Vietnamese names from small pools); no QR images unless ``--qr`` is given.

The checks before signing (:func:`~vaxlib.sign.batch.plan_signing`: who is
signable, held, refused; and the content hashes for re-signing) run on tables
of the same persons (registry, dose records, matches, candidates) and their CPU
is added to the per-certificate cost.

``--incremental N`` measures re-signing: ``sign_tables`` (files on disk, atomic
run folder, as ``vax sign`` does) on N persons, then again with ``--changed``
of them given a new dose (the register unchanged, the dose records and matches
rewritten); prints wall and CPU seconds (this process plus the signing pool's
workers) of both, medians of ``--runs``, their ratios, and each run's stages.
``--qr png`` makes QR images in both runs (kept ones are carried by hard link).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vaxlib.sign.batch import CertificateWriter, SignStats, sign_rows  # noqa: E402
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys  # noqa: E402

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thanh", "Hữu", "Xuân"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Hà", "Hoà", "Huệ", "Khoa", "Lan", "Long", "Mai", "Nam", "Phương",
         "Quân", "Sơn", "Thảo", "Thuỷ", "Trang", "Tuấn", "Yến"]
VACCINES = ["AstraZeneca", "Pfizer", "Moderna", "Vero Cell", "Abdala", "Sputnik V"]


def persons(n: int, seed: int = 1, block: int = 2000):
    """``n`` synthetic person rows (:data:`vaxlib.sign.batch.PERSON_COLUMNS` order), made a block
    at a time with ``random.choices`` so that the parent's CPU goes to signing, not to this."""
    rnd = random.Random(seed)
    names = [f"{f} {m} {g}" for f in FAMILY for m in MIDDLE for g in GIVEN]
    days = [f"{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]
    years = [str(y) for y in range(1930, 2011)]
    vdates = [f"2022-0{m}-1{d}" for m in range(1, 4) for d in range(10)]
    doses = [1, 2, 3, 4]
    for start in range(0, n, block):
        k = min(block, n - start)
        ys, ds, full = rnd.choices(years, k=k), rnd.choices(days, k=k), rnd.choices((True, False), k=k)
        dobs = [f"{y}-{d}" if f else y for y, d, f in zip(ys, ds, full)]
        yield from zip((f"{i:012d}" for i in range(start, start + k)), rnd.choices(names, k=k), dobs,
                       rnd.choices(doses, k=k), rnd.choices(vdates, k=k), rnd.choices(VACCINES, k=k))


def with_new_doses(vac: pd.DataFrame, mat: pd.DataFrame, pids) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(vaccinations, matches) with one more verified dose (Pfizer, 2022-12-01) for each of ``pids``:
    the "changed persons" of an incremental re-signing benchmark."""
    import pandas as pd

    last = vac.merge(mat[["record_id", "person_id"]], on="record_id").groupby("person_id").tail(1)
    last = last.set_index("person_id").loc[pids]
    extra = pd.DataFrame({c: "" for c in vac.columns}, index=range(len(pids)))
    extra["record_id"] = [f"NEW{i:09d}" for i in range(len(pids))]
    extra["dose_number"] = (last["dose_number"].astype(int) + 1).astype(str).to_numpy()
    extra["vaccination_date"] = "2022-12-01"
    extra["vaccine"] = "Pfizer"
    new = pd.DataFrame({"record_id": extra["record_id"], "status": "verified", "person_id": pids,
                        "match_probability": 1.0, "error_codes": "", "corrected_full_name": None,
                        "corrected_dob": None, "corrected_sex": None, "corrected_id_number": None,
                        "person_key": pids})
    return pd.concat([vac, extra], ignore_index=True), pd.concat([mat, new], ignore_index=True)


def changed_inputs(reg: pd.DataFrame, vac: pd.DataFrame, mat: pd.DataFrame, share: float,
                   kinds: tuple[str, ...] = ("dose",), seed: int = 7):
    """(registry, vaccinations, matches, touched person_ids) with ``share`` of the people changed.

    The touched people are split in equal parts over ``kinds``: ``"dose"`` one more
    dose (:func:`with_new_doses`), ``"name"`` a corrected full name, ``"dob"`` a
    corrected dob.  The "1 % changed" inputs of both incremental benchmarks.
    """
    import numpy as np

    n = len(reg)
    touched = np.random.default_rng(seed).choice(n, size=max(len(kinds), int(n * share)), replace=False)
    part = dict(zip(kinds, np.array_split(touched, len(kinds))))
    pids = reg["person_id"].to_numpy(dtype=object)
    if "dose" in part:
        vac, mat = with_new_doses(vac, mat, pids[part["dose"]])
    if "name" in part or "dob" in part:
        reg = reg.copy()
        if "name" in part:
            reg.loc[part["name"], "full_name"] = reg.loc[part["name"], "full_name"] + " Anh"
        if "dob" in part:
            reg.loc[part["dob"], "dob"] = "1975-05-05"
    return reg, vac, mat, pids[touched]


def write_inputs(folder: Path, frames: dict) -> dict:
    """Each frame as ``folder/<name>.parquet`` (written aside and renamed: a killed bench leaves no half file)."""
    files = {}
    for name, df in frames.items():
        files[name] = folder / f"{name}.parquet"
        tmp = files[name].with_suffix(".tmp")
        df.to_parquet(tmp, index=False)
        tmp.rename(files[name])
    return files


def tables(n: int, seed: int = 1):
    """Registry, dose records, matches and candidates of the :func:`persons` (every record verified)."""
    import numpy as np
    import pandas as pd

    rows = list(persons(n, seed))
    pid = np.asarray([f"0{int(r[0]):011d}" for r in rows], dtype=object)
    reg = pd.DataFrame({"person_id": pid, "full_name": [r[1] for r in rows], "dob": [r[2] for r in rows],
                        "sex": "M", "old_id": "", "province_code": "01"})
    k = np.asarray([r[3] for r in rows])
    rep = np.repeat(np.arange(n), k)
    dose = np.arange(len(rep)) - np.repeat(np.cumsum(k) - k, k) + 1
    dates = (pd.Timestamp("2021-06-01") + pd.to_timedelta(dose * 60, unit="D")).strftime("%Y-%m-%d")
    rid = np.char.add("VR", np.char.zfill(np.arange(len(rep)).astype(str), 10)).astype(object)
    vac = pd.DataFrame({"record_id": rid, "full_name": "x", "dob": "x", "sex": "", "id_number": "", "phone": "",
                        "province_code": "", "facility_id": "F", "facility_province": "01",
                        "dose_number": dose.astype(str), "vaccination_date": np.asarray(dates, dtype=object),
                        "vaccine": np.asarray([r[5] for r in rows], dtype=object)[rep], "lot_number": ""})
    mat = pd.DataFrame({"record_id": rid, "status": "verified", "person_id": pid[rep], "match_probability": 1.0,
                        "error_codes": "", "corrected_full_name": None, "corrected_dob": None,
                        "corrected_sex": None, "corrected_id_number": None, "person_key": pid[rep]})
    cand = pd.DataFrame({"record_id": rid, "person_id": pid[rep], "rank": 1, "match_probability": 1.0})
    return reg, vac, mat, cand


def openssl_rate(multi: int = 1, elapsed: bool = False) -> float:
    """Signs/s from ``openssl speed``.  By default openssl divides by its CPU *user* time,
    which hides machine load; ``elapsed`` divides by wall-clock time like our figure."""
    cmd = (["openssl", "speed", "-seconds", "3"] + (["-elapsed"] if elapsed else [])
           + (["-multi", str(multi)] if multi > 1 else []) + ["ecdsap256"])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # one-process output: "256 bits ecdsa (nistp256)   0.0000s   0.0000s  70246.4  23919.2"
    # -multi output: "256 bits ecdsa (nistp256)   0.0000s   0.0000s 140000.0  47000.0" (summed)
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)", out)
    if not m:
        raise RuntimeError("cannot parse openssl speed output:\n" + out)
    return float(m.group(1))


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


CPU_USED: list[float] = []  # chunks in the workers + the parent
CPU_WORKERS: list[float] = []  # chunks in the workers
CPU_WORKER_PROCS: list[float] = []  # whole worker processes (key loading, encoder set-up)
CPU_PARENT: list[float] = []
WORKER_RSS: list[float] = []


CPU_CHECKS: list[float] = []  # plan_signing + content hashes in the parent


def run(keys: Path, n: int, processes: int, out_dir: Path, qr: str | None, tabs=None) -> float:
    from vaxlib.sign.batch import plan_signing
    from vaxlib.sign.payload import ISSUER
    from vaxlib.sign.previous import content_hashes

    c0 = _cpu()
    t0 = time.perf_counter()
    if tabs is not None:  # the checks before signing, on the same persons
        plan = plan_signing(*tabs)
        content_hashes(plan.persons, ISSUER["vi"])
        rows = plan.persons.itertuples(index=False, name=None)
        assert len(plan.persons) == n, (len(plan.persons), plan.stats.skipped)
    else:
        rows = persons(n)
    CPU_CHECKS.append(_cpu() - c0)
    stats = SignStats()
    with CertificateWriter(out_dir / "certificates.parquet") as w:
        for chunk in sign_rows(rows, keys, processes=processes, chunk_size=2000,
                               qr=qr, qr_dir=out_dir / "qr", stats=stats):
            w.write(chunk)
    el = time.perf_counter() - t0
    # CPU of the signing workers (measured inside them: forkserver workers are not our
    # children for getrusage) plus this process (reading rows, writing Parquet)
    parent = _cpu() - c0
    CPU_USED.append(stats.cpu_seconds + parent)
    CPU_WORKERS.append(stats.cpu_seconds)
    CPU_WORKER_PROCS.append(sum(stats.worker_cpu.values()) or stats.cpu_seconds)
    CPU_PARENT.append(parent)
    WORKER_RSS.append(stats.worker_peak_rss_mb)
    assert w.rows == n, (w.rows, n)
    return n / el


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=20_000, help="certificates per timing run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)) or 2)
    ap.add_argument("--million", action="store_true", help="also stream --n certificates once")
    ap.add_argument("--n", type=int, default=1_000_000, help="certificates in the --million run")
    ap.add_argument("--qr", choices=["png", "svg"])
    ap.add_argument("--no-checks", action="store_true", help="sign synthetic rows without plan_signing")
    ap.add_argument("--incremental", type=int, default=0, metavar="N",
                    help="only measure re-signing N persons with --changed of them changed")
    ap.add_argument("--changed", type=float, default=0.01)
    args = ap.parse_args()
    if args.incremental:
        return incremental(args)
    os.environ.setdefault(PASSPHRASE_ENV, "bench-only-passphrase")
    med = statistics.median
    P, N = args.processes, args.small
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_keys(tmp / "K")
        # interleave: openssl, ours, openssl, ours ... so both see the same machine load
        raws, walls, rates = [], [], []
        tabs = None if args.no_checks else tables(N)
        for r in range(args.runs):
            raws.append(openssl_rate(1))
            walls.append(openssl_rate(1, elapsed=True))
            d = tmp / f"run{r}"
            d.mkdir()
            rates.append(run(tmp / "K", N, P, d, args.qr, tabs))
        us = lambda xs: [x / N * 1e6 for x in xs]  # noqa: E731
        chunk_us, proc_us, parent_us = us(CPU_WORKERS), us(CPU_WORKER_PROCS), us(CPU_PARENT)
        total_us = [w + p for w, p in zip(proc_us, parent_us)]
        raw_us = [1e6 / x for x in raws]
        # CPU-normalised: P cores each doing one certificate per total_us, vs one openssl core
        cpu_ratio = [P * ru / tu for ru, tu in zip(raw_us, total_us)]
        wall_ratio = [r / w for r, w in zip(rates, walls)]
        fmt = lambda xs, f="{:.0f}": ", ".join(f.format(x) for x in xs)  # noqa: E731
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine); "
              f"medians of {args.runs} runs, N={N} certificates each, {P} processes")
        print(f"openssl speed ecdsap256, 1 core, per CPU-second:   {med(raws):8.0f} sign/s "
              f"= {med(raw_us):5.1f} us/sign   (runs {fmt(raws)})")
        print(f"openssl speed -elapsed, 1 core, per wall second:  {med(walls):8.0f} sign/s   (runs {fmt(walls)})")
        print(f"vax sign, {P} processes, wall clock:               {med(rates):8.0f} certificates/s "
              f"(runs {fmt(rates)})")
        if not args.no_checks:
            print(f"checks before signing (plan_signing + content hashes, parent): "
                  f"{med(us(CPU_CHECKS)):.1f} us CPU per person (included in 'parent' below)")
        print(f"CPU per certificate: {med(chunk_us):.1f} us signing chunks in the workers, "
              f"{med(proc_us):.1f} us whole worker processes (incl. key loading, set-up), "
              f"{med(parent_us):.1f} us parent (synthetic rows, pickling, Parquet) "
              f"-> {med(total_us):.1f} us total (runs {fmt(total_us, '{:.1f}')})")
        print(f"ratio, CPU-normalised ({P} cores vs openssl 1 core):  {med(cpu_ratio):6.1%} "
              f"(runs {fmt(cpu_ratio, '{:.1%}')})  goal >= 50%")
        print(f"ratio, wall clock vs openssl -elapsed 1 core:       {med(wall_ratio):6.1%} "
              f"(runs {fmt(wall_ratio, '{:.1%}')}; includes pool start-up and machine load)")
        if args.million:
            d = tmp / "big"
            d.mkdir()
            t0 = time.perf_counter()
            rate = run(tmp / "K", args.n, P, d, args.qr)
            el = time.perf_counter() - t0
            size = (d / "certificates.parquet").stat().st_size
            print(f"streamed N={args.n}: {el:.1f} s, {rate:.0f} certificates/s, "
                  f"{(CPU_WORKER_PROCS[-1] + CPU_PARENT[-1]) / args.n * 1e6:.1f} us CPU/certificate, "
                  f"parquet {size / 1e6:.1f} MB")
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: parent {self_rss:.0f} MB, largest signing worker {max(WORKER_RSS):.0f} MB "
              f"(measured inside the workers)")
    return 0


def incremental(args) -> int:
    """Full ``sign_tables`` run vs a rerun with ``--changed`` of the persons given a new dose."""
    from vaxlib.sign.batch import sign_tables

    os.environ.setdefault(PASSPHRASE_ENV, "bench-only-passphrase")
    n, med = args.incremental, statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_keys(tmp / "K")
        reg, vac, mat, cand = tables(n)
        _, vac2, mat2, pids = changed_inputs(reg, vac, mat, args.changed)
        files = write_inputs(tmp, {"registry": reg, "vaccinations": vac, "matches": mat, "candidates": cand,
                                   "vaccinations2": vac2, "matches2": mat2})
        fulls, incs, full_cpu, inc_cpu = [], [], [], []
        kw = dict(signer_name="bench", candidates=files["candidates"], processes=args.processes, qr=args.qr)
        for r in range(args.runs):
            out = tmp / f"OUT{r}"
            c0, t0 = _cpu(), time.perf_counter()
            s1 = sign_tables(files["registry"], files["vaccinations"], files["matches"], tmp / "K", out, **kw)
            fulls.append(time.perf_counter() - t0)
            full_cpu.append(_cpu() - c0 + sum(s1.worker_cpu.values()))  # this process + pool workers
            c0, t0 = _cpu(), time.perf_counter()
            s2 = sign_tables(files["registry"], files["vaccinations2"], files["matches2"], tmp / "K", out, **kw)
            incs.append(time.perf_counter() - t0)
            inc_cpu.append(_cpu() - c0 + sum(s2.worker_cpu.values()))
            print(f"  stages (wall s), full run:        {s1.timings}")
            print(f"  stages (wall s), incremental run: {s2.timings}")
            assert s1.signed == n and s2.signed == len(pids) and s2.counts["kept"] == n - len(pids), s2.counts
        fmt = lambda xs: ", ".join(f"{x:.1f}" for x in xs)  # noqa: E731
        print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores "
              f"(shared machine); N={n} persons, {len(pids)} changed ({args.changed:.1%}), {args.processes} "
              f"processes, qr={args.qr or 'none'}, medians of {args.runs} runs")
        print(f"full vax sign (sign_tables, files on disk, atomic run): wall {med(fulls):.1f} s (runs {fmt(fulls)}), "
              f"CPU {med(full_cpu):.1f} s (runs {fmt(full_cpu)})")
        print(f"incremental rerun (--previous = OUT):                   wall {med(incs):.1f} s (runs {fmt(incs)}), "
              f"CPU {med(inc_cpu):.1f} s (runs {fmt(inc_cpu)})")
        print(f"ratio incremental / full: wall {med(incs) / med(fulls):.1%}, CPU {med(inc_cpu) / med(full_cpu):.1%}"
              "  goal <= 10%")
        print(f"throughput of the full run: {n / med(fulls):.0f} certificates/s wall, "
              f"{med(full_cpu) / n * 1e6:.0f} us CPU per certificate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
