"""Batch signing throughput vs OpenSSL's raw ECDSA P-256 signing rate, measured in the same run.

    VAX_KEY_PASSPHRASE=... python bench/sign_throughput.py [--n 1000000] [--processes 2] [--qr png]

Prints: OpenSSL ``speed -seconds 3 ecdsap256`` sign/s (one core, and with
``-multi P``), our certificates/s on P processes (full pipeline: payload,
schema + value-set validation, CWT, COSE ES256, zlib, Base45, streamed to
Parquet), the ratios, and the peak RSS of the parent and of the workers.
Several runs of a smaller N give a median; the large N run is streamed once.
Persons are synthetic (random Vietnamese names from small pools); no QR
images unless ``--qr`` is given.
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


def persons(n: int, seed: int = 1):
    rnd = random.Random(seed)
    for i in range(n):
        name = f"{rnd.choice(FAMILY)} {rnd.choice(MIDDLE)} {rnd.choice(GIVEN)}"
        y = rnd.randint(1930, 2010)
        dob = rnd.choice([f"{y}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}", f"{y}"])
        yield (f"{i:012d}", name, dob, rnd.randint(1, 4), f"2022-0{rnd.randint(1, 3)}-1{rnd.randint(0, 9)}",
               rnd.choice(VACCINES))


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


CPU_USED: list[float] = []
CPU_WORKERS: list[float] = []
WORKER_RSS: list[float] = []


def run(keys: Path, n: int, processes: int, out_dir: Path, qr: str | None) -> float:
    c0 = _cpu()
    t0 = time.perf_counter()
    stats = SignStats()
    with CertificateWriter(out_dir / "certificates.parquet") as w:
        for chunk in sign_rows(persons(n), keys, processes=processes, chunk_size=2000,
                               qr=qr, qr_dir=out_dir / "qr", stats=stats):
            w.write(chunk)
    el = time.perf_counter() - t0
    # CPU of the signing workers (measured inside them: forkserver workers are not our
    # children for getrusage) plus this process (reading rows, writing Parquet)
    CPU_USED.append(stats.cpu_seconds + (_cpu() - c0))
    CPU_WORKERS.append(stats.cpu_seconds)
    WORKER_RSS.append(stats.worker_peak_rss_mb)
    assert w.rows == n, (w.rows, n)
    return n / el


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000, help="certificates in the big streamed run")
    ap.add_argument("--small", type=int, default=20_000, help="certificates per timing run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--qr", choices=["png", "svg"])
    args = ap.parse_args()
    os.environ.setdefault(PASSPHRASE_ENV, "bench-only-passphrase")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_keys(tmp / "K")
        # interleave: openssl, ours, openssl, ours ... so both see the same machine load
        raws, walls, rates, ratios, cpu_rates = [], [], [], [], []
        for r in range(args.runs):
            raws.append(openssl_rate(1))
            walls.append(openssl_rate(1, elapsed=True))
            d = tmp / f"run{r}"
            d.mkdir()
            rates.append(run(tmp / "K", args.small, args.processes, d, args.qr))
            cpu_rates.append(args.small / CPU_USED[-1])  # certificates per CPU-second
            ratios.append(rates[-1] / walls[-1])
        raw1, wall1, med = statistics.median(raws), statistics.median(walls), statistics.median(rates)
        cpu1 = statistics.median(cpu_rates)
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine)")
        print(f"openssl speed -seconds 3 ecdsap256, 1 core, per CPU-second: {raw1:9.0f} sign/s "
              f"(runs {', '.join(f'{x:.0f}' for x in raws)})")
        print(f"openssl speed -elapsed ..., 1 core, per wall second:       {wall1:9.0f} sign/s "
              f"(runs {', '.join(f'{x:.0f}' for x in walls)})")
        print(f"vax sign, {args.processes} processes, N={args.small} x{args.runs}, wall clock:    {med:9.0f} certificates/s "
              f"(runs {', '.join(f'{x:.0f}' for x in rates)})")
        print(f"vax sign per CPU-second (parent + workers):              {cpu1:9.0f} certificates/s "
              f"-> x{args.processes} cores = {cpu1 * args.processes:.0f}/s on an idle machine")
        wcpu = statistics.median(CPU_WORKERS[-args.runs:]) / args.small * 1e6
        pcpu = statistics.median(CPU_USED[-args.runs:]) / args.small * 1e6 - wcpu
        print(f"CPU per certificate: {wcpu:.0f} us in the signing workers + {pcpu:.0f} us in the parent "
              f"(synthetic rows, pickling, Parquet); openssl: {1e6 / raw1:.0f} us per raw signature")
        print(f"ratio, wall clock, paired with openssl -elapsed (median): {statistics.median(ratios):6.1%}  (goal >= 50%)")
        print(f"ratio, CPU-normalised ({args.processes} cores vs openssl 1 core):   {cpu1 * args.processes / raw1:6.1%}")
        if args.n:
            d = tmp / "big"
            d.mkdir()
            t0 = time.perf_counter()
            rate = run(tmp / "K", args.n, args.processes, d, args.qr)
            el = time.perf_counter() - t0
            size = (d / "certificates.parquet").stat().st_size
            print(f"streamed N={args.n}: {el:.1f} s, {rate:.0f} certificates/s, parquet {size / 1e6:.1f} MB")
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: parent {self_rss:.0f} MB, largest signing worker {max(WORKER_RSS):.0f} MB "
              f"(measured inside the workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
