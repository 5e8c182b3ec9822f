"""Decision ledger and vax apply throughput (prints figures; no assertions).

Figures (median of several runs):
* appends/s from one process, synchronous=FULL vs NORMAL;
* appends/s from 4 processes at once (FULL);
* verify() and current_decisions() on a ledger of N events;
* apply_decisions() on N records.

Usage: python bench/review_ledger.py [N]
"""
from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from vaxlib.review.apply import apply_decisions
from vaxlib.review.ledger import Ledger


def _appends(url: str, n: int, tag: str) -> None:
    with Ledger.open(url) as led:
        for i in range(n):
            led.accept(f"{tag}-{i}", analyst=tag)


def median_time(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(n: int = 20_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for sync in ("FULL", "NORMAL"):
            k = 0

            def run() -> None:
                nonlocal k
                k += 1
                _appends(f"sqlite:///{tmp / f'single-{sync}-{k}.db'}?synchronous={sync}", 1000, "a")
            t = median_time(run)
            print(f"single process, synchronous={sync}: {1000 / t:,.0f} appends/s")

        ctx = mp.get_context("spawn")

        def run4() -> float:
            url = f"sqlite:///{tmp / f'multi-{time.monotonic_ns()}.db'}"
            Ledger.open(url).close()
            procs = [ctx.Process(target=_appends, args=(url, 1000, f"w{w}")) for w in range(4)]
            t = time.perf_counter()
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            return time.perf_counter() - t
        t = statistics.median(run4() for _ in range(3))
        print(f"4 processes x 1000 appends (incl. process start-up): {4000 / t:,.0f} appends/s")

        url = f"sqlite:///{tmp / 'big.db'}"
        with Ledger.open(url) as led:
            batch = 1000
            for b in range(n // batch):
                led.bulk_accept([f"R{b}-{i}" for i in range(batch)], analyst="bench")
            print(f"verify() on {n:,} events: {median_time(led.verify):.2f} s")
            print(f"current_decisions() on {n:,} events: {median_time(led.current_decisions):.2f} s")

        ids = [f"R{i:07d}" for i in range(n * 5)]
        v = pd.DataFrame({"record_id": ids, "full_name": "Tran Thi Binh", "dob": "03/12/1985", "sex": "Nữ",
                          "id_number": "79185000002"})
        statuses = (["verified"] * 7 + ["fix", "fix", "review"]) * (len(ids) // 10)
        m = pd.DataFrame({"record_id": ids, "status": statuses, "person_id": "079185000002",
                          "corrected_full_name": "Trần Thị Bình", "corrected_dob": "1985-12-03",
                          "corrected_sex": None, "corrected_id_number": "079185000002"})
        t = median_time(lambda: apply_decisions(v, m, None))
        print(f"apply_decisions() on {len(ids):,} records (30% fix/review): {t:.2f} s "
              f"({len(ids) / t:,.0f} records/s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
