"""Decision ledger throughput: decisions per second and p99 latency, SQLite and PostgreSQL.

N analysts (1, 4, 16 processes) append decisions at once, as fast as they can,
each through its own connection (on PostgreSQL its own login role, scoped to
its own province by row-level security).  Printed per run: decisions/s over
the wall time, median and p99 latency of one decision, lost and duplicated
events, and whether the hash chain verifies.

PostgreSQL is a throwaway server started here (:mod:`vaxlib.review.pgserver`)
on this machine's disk, with fsync and synchronous_commit on.  Run::

    python bench/review_ledger.py                # all
    python bench/review_ledger.py --per 200 --analysts 16 --backends postgres

Target (issue 14): >= 500 decisions/s and p99 <= 50 ms with 16 analysts on
PostgreSQL, 0 lost or duplicated, the chain verifies.

Also printed: CPU milliseconds per decision spent in the analysts' processes
(client: Python, hashing, psycopg) and in the PostgreSQL server (all its
processes, from /proc), and the throughput those would allow if CPU were the
only limit (cores x 1000 / (client + server)): with fsync on, a rate far below
that ceiling is the disk or the lock; a rate at it is CPU.

``--reads N`` adds the read side: ``verify()`` and ``current_decisions()`` on
a ledger of N events (each backend) and ``apply_decisions()`` on 5N records.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vaxlib.review.ledger import Ledger  # noqa: E402


def _proc_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of one process, with its reaped children's when ``children``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu(postmaster: int | None) -> float:
    """CPU seconds used so far by a PostgreSQL server: the postmaster, its live backends and the exited ones."""
    if postmaster is None:
        return 0.0
    total = _proc_cpu(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == postmaster:
            total += _proc_cpu(int(stat.parent.name))
    return total


def _analyst(url: str, worker: int, n: int, barrier, out) -> None:
    with Ledger.open(url) as led:
        led.record_provinces = lambda rid: f"{worker % 63 + 1:02d}"
        barrier.wait()
        cpu0 = time.process_time()
        lat = []
        for i in range(n):
            t = time.perf_counter()
            if i % 10 == 9:
                led.reject(f"W{worker}-R{i}", reason_code="wrong_person", analyst=f"a{worker}", reason="sai người")
            else:
                led.accept(f"W{worker}-R{i}", analyst=f"a{worker}", idempotency_key=f"w{worker}-{i}")
            lat.append(time.perf_counter() - t)
        out.put((worker, time.perf_counter(), lat, time.process_time() - cpu0))


def run(urls: list[str], per: int, owner_url: str, postmaster: int | None = None) -> dict:
    ctx = mp.get_context("fork")
    n = len(urls)
    barrier = ctx.Barrier(n + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=_analyst, args=(urls[w], w, per, barrier, out)) for w in range(n)]
    for p in procs:
        p.start()
    server0 = server_cpu(postmaster)
    barrier.wait()
    t0 = time.perf_counter()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    wall = max(r[1] for r in results) - t0
    time.sleep(0.3)  # let the postmaster reap the analysts' backends (their CPU moves to its children's)
    server = server_cpu(postmaster) - server0
    client = sum(r[3] for r in results)
    lat = sorted(x for r in results for x in r[2])
    with Ledger.open(owner_url, readonly=True) as led:
        events = led.events()
        check = led.verify()
    expected = {f"W{w}-R{i}" for w in range(n) for i in range(per)}
    got = list(events["record_id"])
    return {
        "decisions": len(lat), "per_s": len(lat) / wall, "median_ms": statistics.median(lat) * 1e3,
        "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1e3, "lost": len(expected - set(got)),
        "duplicated": len(got) - len(set(got)), "verifies": check.ok,
        "exit": [p.exitcode for p in procs],
        "client_ms": client / len(lat) * 1e3, "server_ms": server / len(lat) * 1e3,
    }


def median_time(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def reads(owner_url: str, label: str, n: int) -> None:
    with Ledger.open(owner_url, create=True) as led:
        for b in range(n // 1000):
            led.bulk_accept([f"R{b}-{i}" for i in range(1000)], analyst="bench")
        print(f"{label}: verify() on {n:,} events {median_time(led.verify):.2f} s, "
              f"current_decisions() {median_time(led.current_decisions):.2f} s")


def apply_speed(n: int) -> None:
    import pandas as pd

    from vaxlib.review.apply import apply_decisions

    ids = [f"R{i:07d}" for i in range(n * 5)]
    v = pd.DataFrame({"record_id": ids, "full_name": "Tran Thi Binh", "dob": "03/12/1985", "sex": "Nữ",
                      "id_number": "79185000002"})
    statuses = (["verified"] * 7 + ["fix", "fix", "review"]) * (len(ids) // 10)
    m = pd.DataFrame({"record_id": ids, "status": statuses, "person_id": "079185000002",
                      "corrected_full_name": "Trần Thị Bình", "corrected_dob": "1985-12-03",
                      "corrected_sex": None, "corrected_id_number": "079185000002"})
    t = median_time(lambda: apply_decisions(v, m, None))
    print(f"apply_decisions() on {len(ids):,} records (30% fix/review): {t:.2f} s ({len(ids) / t:,.0f} records/s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--analysts", default="1,4,16")
    ap.add_argument("--per", type=int, default=100, help="decisions per analyst (default 100)")
    ap.add_argument("--backends", default="sqlite,postgres,postgres-serial")
    ap.add_argument("--reads", type=int, default=0, metavar="N", help="also time reads on N events")
    ap.add_argument("--pg-fsync-off", action="store_true",
                    help="diagnosis only: PostgreSQL with fsync=off (what the serialised path sustains when "
                         "the disk is not the limit); never a durability figure")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.analysts.split(",")]
    backends = args.backends.split(",")
    print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores); {args.per} decisions per analyst")
    print(f"{'backend':16} {'analysts':>8} {'decisions/s':>12} {'median ms':>10} {'p99 ms':>8} "
          f"{'lost':>5} {'dup':>4}  chain     CPU ms/decision: client server (CPU-bound ceiling/s)")
    ok = True
    srv = None
    tmp = Path(tempfile.mkdtemp(prefix="vax-bench-ledger-"))
    os.environ.setdefault("VAX_LEDGER_ANCHORS", str(tmp / "anchors"))
    try:
        if any(b.startswith("postgres") for b in backends):
            import psycopg

            from vaxlib.review.pg import add_user
            from vaxlib.review.pgserver import ThrowawayPostgres

            srv = ThrowawayPostgres(settings={"fsync": "off"} if args.pg_fsync_off else None).start()
            if args.pg_fsync_off:
                print("PostgreSQL with fsync=off: NOT durable, diagnosis only")
        for backend in backends:
            for n in counts:
                if backend == "sqlite":
                    owner = f"sqlite:///{tmp / f'ledger-{n}.db'}"
                    Ledger.open(owner, create=True).close()
                    urls = [owner] * n
                else:
                    db = f"bench_{backend.replace('-', '_')}_{n}"
                    owner = srv.create_database(db)
                    Ledger.open(owner, create=True).close()
                    mode = "serial" if backend.endswith("serial") else "grouped"
                    with psycopg.connect(owner, autocommit=True) as conn:
                        for w in range(n):
                            add_user(conn, f"a{w}", "analyst", [f"{w % 63 + 1:02d}"], password=f"pw{w}")
                    urls = [srv.url(f"a{w}", f"pw{w}", db) + f"&vax_commit={mode}" for w in range(n)]
                r = run(urls, args.per, owner, None if backend == "sqlite" else srv.proc.pid)
                good = r["lost"] == 0 and r["duplicated"] == 0 and r["verifies"] and r["exit"] == [0] * n
                ok &= good
                print(f"{backend:16} {n:8d} {r['per_s']:12.0f} {r['median_ms']:10.1f} {r['p99_ms']:8.1f} "
                      f"{r['lost']:5d} {r['duplicated']:4d}  {'verifies' if r['verifies'] else 'BROKEN':8}  "
                      f"{r['client_ms']:6.2f} {r['server_ms']:6.2f} "
                      f"({os.cpu_count() * 1e3 / (r['client_ms'] + r['server_ms']):.0f})",
                      flush=True)
        if args.reads:
            reads(f"sqlite:///{tmp / 'reads.db'}", "sqlite", args.reads)
            if srv is not None:
                reads(srv.create_database("bench_reads"), "postgres", args.reads)
            apply_speed(args.reads)
    finally:
        if srv is not None:
            srv.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
