"""``vax sign`` on partitioned inputs, in memory bounded by a bucket of persons.

``vax synth --partitioned`` writes ``registry/`` and ``vaccinations/`` as folders
of parts, and ``vax match --engine dask`` writes ``matches/part-*.parquet`` and
``candidates/part-*.parquet``.  Reading them whole (as :func:`~vaxlib.sign.batch.sign_tables`
does for one file) would take 15-24 GB at 10M persons.  Instead:

1. **Components.**  :func:`~vaxlib.sign.batch.plan_signing` decides per
   ``person_key`` group *and* per register person (one non-verified record of a
   person anywhere blocks them; a key naming two persons signs neither).  So
   the unit that must be planned together is a connected component of keys and
   person IDs.  The matches' records whose ``person_id`` differs from their
   ``person_key`` are the only links between two names (in ``vax match``'s
   output a linked record's key *is* its person ID, so there are none); their
   components are solved once (:func:`vaxlib.match.pipeline._components`), and
   every name is represented by the 64-bit :func:`~vaxlib.sign.kernels.string_hash`
   of its component's smallest member.  Equal hashes only ever put more in one
   bucket, never split a component.
2. **Buckets.**  Each input part is read once (only the columns signing uses)
   and its rows are written, sorted by bucket (``hash % B``), to one Arrow IPC
   file in the run's staging folder whose metadata says where each bucket's
   rows start: matches by their key, registry rows by their person, vaccination
   rows by the bucket of their ``record_id``'s matches row, candidate rows of
   pending records by the candidate person.  The sort is stable and a bucket
   reads its slice of every part in part order, so rows keep their input order
   within a bucket and "the first row" of a repeated key is the same row as in
   the whole table.
3. **Plan per bucket** with :func:`~vaxlib.sign.batch.plan_signing` and
   :func:`~vaxlib.sign.checks.held_by_pending` (the same code as one file), then
   **sign** every bucket's persons through one :func:`~vaxlib.sign.batch.sign_rows`
   pool, writing certificates, content index and ledger as they come.

Reading a part and planning a bucket are tasks that depend on nothing but
their files, so they run in a pool of processes (:class:`_Tasks`, as many as
signing uses; in this process below :data:`POOL_MIN_ROWS` matches rows or with
``processes=1``): at 10M persons, reading and planning in this process alone
were ~7 minutes of one core before the first signature while the other core
idled.  Stages: the links (each matches part), then matches and registry
parts side by side, then (once the record -> bucket lookup is built here)
vaccinations and candidates parts, then the buckets' plans; the tasks of a
stage are independent, and their results are taken in order.  A task process
that dies fails the run with a one-line error (nothing is signed before every
bucket is planned).

The answers are those of the one-file path: the same persons, payloads,
held/refused rows (sorted by person, as there) and skip counts; certificates
come out bucket by bucket rather than sorted by person.  Memory: per task
process, one part or one bucket's tables; here, for the vaccination lookup, 12
bytes per matches row (hash and bucket) and their sort order while it is made
(the task processes then map the sorted lookup from the spill folder).

A re-sign against a previous run (``--previous``, or an ``--out`` that holds a
run) is refused on this path: the incremental plan (:mod:`vaxlib.sign.incremental`)
reads whole tables.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

__all__ = ["is_partitioned", "sign_partitioned", "plan_partitioned", "BUCKET_RECORDS", "SPILL_DIR"]

log = logging.getLogger(__name__)

#: matches rows per bucket: a bucket's plan at 250k records takes a few hundred MB
BUCKET_RECORDS = 250_000
#: the spill folder inside the run's staging folder (removed before the commit)
SPILL_DIR = ".sign-spill"
#: person rows per signing chunk (sign_rows' default)
CHUNK = 2000
#: content-index rows per Parquet row group
CONTENT_ROWS = 100_000

_PENDING = ("review", "unmatched")


def is_partitioned(*paths) -> bool:
    """Whether any of ``paths`` is a folder of parts (``vax synth --partitioned``, ``vax match --engine dask``)."""
    from vaxlib.io import table_parts

    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            return True
        parts = table_parts(p)
        if parts and parts != [p]:
            return True
    return False


# ----------------------------------------------------------------------------- reading parts

def _contract_part(path: Path, kind: str):
    """A contract part's columns signing uses, as an Arrow table (as :func:`~vaxlib.sign.batch._load_contract` reads a file)."""
    import pyarrow as pa

    from vaxlib.io import read_clean_parquet
    from vaxlib.sign import incremental as inc
    from vaxlib.sign.batch import _CACHED_COLUMNS, _load

    cols = _CACHED_COLUMNS[kind]
    table = read_clean_parquet(path, kind, cols)
    if table is not None:
        return table
    frame = _load(path, kind)
    table = inc.text_table(frame, cols)
    if table is None:  # values that are not text: keep them as pandas would give them to the plan
        table = pa.Table.from_pandas(frame[cols].astype(object), preserve_index=False)
    return table


def _output_parts(path, kind: str, columns: list[str]) -> Iterator:
    """A vax match output table (one file or ``part-*.parquet``), only ``columns``, as Arrow tables in order
    (:func:`vaxlib.io.read_output_batches`: each part checked before it is read)."""
    from vaxlib.io import read_output_batches

    return read_output_batches(path, kind, columns=columns)


def _text(table, columns: list[str]):
    """``columns`` as Arrow strings (:func:`vaxlib.sign.incremental.text_table`); values that are not text
    (a hand-made table) cast to text."""
    import pyarrow as pa

    from vaxlib.sign import incremental as inc

    out = inc.text_table(table, columns)
    if out is None:
        out = pa.table({c: table[c if c in table.column_names else "person_id"].cast(pa.string()) for c in columns})
    return out


def _hash(col) -> np.ndarray:
    """The 64-bit hash that places a name (an Arrow string column; a missing value as ``""``) in its bucket
    (:func:`vaxlib.sign.kernels.string_hash`: in place, no Python string made)."""
    from vaxlib.sign.kernels import string_hash

    return string_hash(col)


class _Roots:
    """Each name's component representative (a 64-bit hash), from the links between two names."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        from vaxlib.match.pipeline import _components

        if len(a) == 0:
            self.nodes = self.rep = np.zeros(0, np.uint64)
            return
        ends = np.concatenate([a, b])  # each link's two names
        codes, nodes = pd.factorize(ends)
        n = len(a)
        link = np.concatenate([np.arange(n), np.arange(n)])
        # names sharing a hash are one, and a link's two names are one
        label = _components(2 * n, [codes.astype(np.int64), link])
        low = np.full(2 * n, np.iinfo(np.uint64).max, np.uint64)
        np.minimum.at(low, label, ends)  # the component's smallest hash represents it
        rep = np.empty(len(nodes), np.uint64)
        rep[codes] = low[label]
        order = np.argsort(nodes)
        self.nodes, self.rep = np.asarray(nodes, np.uint64)[order], rep[order]

    def __call__(self, h: np.ndarray) -> np.ndarray:
        if len(self.nodes) == 0:
            return h
        at = np.minimum(np.searchsorted(self.nodes, h), len(self.nodes) - 1)
        return np.where(self.nodes[at] == h, self.rep[at], h)


def _load_roots(folder: Path) -> _Roots:
    """The roots :func:`_save_roots` wrote (a task process reads them from the spill folder)."""
    r = _Roots.__new__(_Roots)
    r.nodes, r.rep = np.load(folder / "roots-nodes.npy"), np.load(folder / "roots-rep.npy")
    return r


def _save_roots(folder: Path, roots: _Roots) -> None:
    np.save(folder / "roots-nodes.npy", roots.nodes)
    np.save(folder / "roots-rep.npy", roots.rep)


def _bucket_of(roots: _Roots, names: np.ndarray, buckets: int) -> np.ndarray:
    return (roots(_hash(names)) % np.uint64(buckets)).astype(np.int64)


# ----------------------------------------------------------------------------- spill files

def _part_file(folder: Path, kind: str, i: int) -> Path:
    return folder / f"{kind}-{i:05d}.arrow"


def _write_part(path: Path, table, bucket: np.ndarray, buckets: int) -> None:
    """``table``'s rows sorted by ``bucket`` (stable: input order within a bucket) as one Arrow IPC file;
    its schema's metadata holds where each bucket's rows start (``bounds``, B + 1 int64)."""
    import pyarrow as pa

    from vaxlib.runs import fault_point

    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1)).astype(np.int64)
    taken = table.take(pa.array(order, pa.int64()))
    schema = taken.schema.with_metadata({b"bounds": bounds.tobytes()})
    fault_point("sign:spill")  # in a task process
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
        w.write_table(taken.replace_schema_metadata(schema.metadata))


def _read_bucket(folder: Path, kind: str, parts: int, b: int, schema):
    """Bucket ``b``'s rows of ``kind``: its slice of each part's spill file, parts in order (memory-mapped)."""
    import pyarrow as pa

    pieces = []
    for i in range(parts):
        path = _part_file(folder, kind, i)
        if not path.is_file():
            continue
        with pa.memory_map(str(path)) as src:
            reader = pa.ipc.open_file(src)
            bounds = np.frombuffer(reader.schema.metadata[b"bounds"], np.int64)
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            if hi > lo:
                pieces.append(reader.read_all().slice(lo, hi - lo).replace_schema_metadata(None))
    if not pieces:
        return schema.empty_table()
    return pa.concat_tables(pieces, promote_options="permissive") if len(pieces) > 1 else pieces[0]


# ----------------------------------------------------------------------------- tasks
# Each task reads one input part (or plans one bucket) and writes its own files in the spill folder; the
# tasks of a stage run in a pool of processes (:class:`_Tasks`) or one after the other in this process.

def _task(args):
    """Run one task; returns ``(ok, result or exception, pid, (CPU s, peak RSS MB) of this process so far)``:
    an exception goes back as a value (raised again by :meth:`_Tasks.map`), checked to survive pickling."""
    name, *rest = args
    if not _IN_TASK_PROCESS:
        return True, _TASKS[name](*rest), os.getpid(), _usage()
    try:
        return True, _TASKS[name](*rest), os.getpid(), _usage()
    except Exception as exc:  # noqa: BLE001 - raised again in the parent
        import pickle

        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - an exception that cannot cross processes: its type and text
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        return False, exc, os.getpid(), _usage()


def _usage() -> tuple[float, float]:
    import resource

    return time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _t_links(part, m_cols: list[str]):
    """The links between two names in one matches part (hashes of key and person)."""
    import pyarrow.compute as pc

    from vaxlib.sign import incremental as inc

    la, lb = [], []
    for t in _output_parts(part, "matches", m_cols):
        t = _text(t, inc.PLAN_INPUTS["matches"])
        k, p = t["person_key"], t["person_id"]
        link = pc.fill_null(pc.and_(pc.and_(pc.is_valid(k), pc.is_valid(p)), pc.not_equal(k, p)), False)
        if pc.any(link).as_py():
            la.append(_hash(k.filter(link)))
            lb.append(_hash(p.filter(link)))
    z = np.zeros(0, np.uint64)
    return (np.concatenate(la) if la else z), (np.concatenate(lb) if lb else z)


def _t_matches(i: int, part, m_cols: list[str], folder: Path, buckets: int):
    """One matches part by key (a record without a key by its person; the plan ignores it); its record
    hashes and buckets (``rec-<i>.npy``, for the vaccination rows) and its pending records' status
    (``pending-<i>.arrow``).  Returns the schema."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from vaxlib.sign import incremental as inc

    roots = _load_roots(folder)
    tables = [_text(t, inc.PLAN_INPUTS["matches"]) for t in _output_parts(part, "matches", m_cols)]
    if not tables:  # a part without rows
        np.save(folder / f"rec-h-{i:05d}.npy", np.zeros(0, np.uint64))
        np.save(folder / f"rec-b-{i:05d}.npy", np.zeros(0, np.int32))
        return None
    t = pa.concat_tables(tables) if len(tables) > 1 else tables[0]  # person_key: person_id when none
    b = _bucket_of(roots, pc.coalesce(t["person_key"], t["person_id"]), buckets)
    _write_part(_part_file(folder, "m", i), t, b, buckets)
    np.save(folder / f"rec-h-{i:05d}.npy", _hash(t["record_id"]))
    np.save(folder / f"rec-b-{i:05d}.npy", b.astype(np.int32))  # 12 bytes a record with its hash
    pending = pc.fill_null(pc.is_in(t["status"], value_set=pa.array(_PENDING, t["status"].type)), False)
    if pc.any(pending).as_py():
        pend = pa.table({"record_id": t["record_id"].filter(pending), "status": t["status"].filter(pending)})
        with pa.OSFile(str(_part_file(folder, "pending", i)), "wb") as sink, \
                pa.ipc.new_file(sink, pend.schema) as w:
            w.write_table(pend)
    return t.schema


def _t_registry(i: int, part, folder: Path, buckets: int):
    """One registry part by its person's component; returns the schema."""
    import pyarrow as pa

    roots = _load_roots(folder)
    t = _contract_part(part, "registry")
    _write_part(_part_file(folder, "r", i), t,
                _bucket_of(roots, t["person_id"].cast(pa.string()), buckets), buckets)
    return t.schema


def _t_vaccinations(i: int, part, folder: Path, buckets: int):
    """One vaccinations part: each row to the bucket(s) of its record_id's matches row (others are never
    read); returns the schema."""
    import pyarrow as pa

    h = np.load(folder / "lookup-h.npy", mmap_mode="r")
    bb = np.load(folder / "lookup-b.npy", mmap_mode="r")
    t = _contract_part(part, "vaccinations")
    rh = _hash(t["record_id"].cast(pa.string()))
    # looked up in hash order: each search starts where the one before ended (in the part's order, every
    # search was a cold walk through the whole lookup: ~1 s per million rows)
    by_hash = np.argsort(rh)
    lo, hi = np.empty(len(rh), np.int64), np.empty(len(rh), np.int64)
    lo[by_hash] = np.searchsorted(h, rh[by_hash], "left")
    hi[by_hash] = np.searchsorted(h, rh[by_hash], "right")
    n = hi - lo
    rows = np.repeat(np.arange(len(rh)), n)  # a row once per bucket holding its record (almost always one)
    at = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(int(n.sum()))
    _write_part(_part_file(folder, "v", i), t.take(pa.array(rows, pa.int64())), np.asarray(bb[at], np.int64),
                buckets)
    return t.schema


def _t_candidates(i: int, part, folder: Path, buckets: int):
    """One candidates part: the rows of pending records, with the record's status (its first pending
    row's, as held_by_pending), by the candidate person; returns the schema (None: no such row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    with pa.memory_map(str(folder / "pending.arrow")) as src:
        pend = pa.ipc.open_file(src).read_all()
    if not pend.num_rows:
        return None
    ids, sts = pend["record_id"].combine_chunks(), pend["status"].combine_chunks()
    roots = _load_roots(folder)
    pieces = []
    for t in _output_parts(part, "candidates", ["record_id", "person_id"]):
        t = _text(t, ["record_id", "person_id"])
        rid = t["record_id"]
        at = pc.index_in(rid, value_set=ids)  # the first pending row of that record
        hit = pc.is_valid(at)
        if not pc.any(hit).as_py():
            continue
        pieces.append(pa.table({"record_id": rid.filter(hit), "person_id": t["person_id"].filter(hit),
                                "status": sts.take(at.filter(hit))}))
    if not pieces:
        return None
    c = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
    _write_part(_part_file(folder, "c", i), c, _bucket_of(roots, c["person_id"], buckets), buckets)
    return c.schema


def _t_plan(b: int, folder: Path, parts: dict, schemas: dict, at: dt.datetime, hold: bool, issuer: str,
            wanted: list | None):
    """:func:`~vaxlib.sign.batch.plan_signing` of bucket ``b``; its persons (with their content hashes) go
    to ``persons-<b>.arrow``.  Returns ``(refused, skipped, persons, found)`` (``found``: the ``wanted``
    persons among them) or None when the bucket has no matches row."""
    import pyarrow as pa

    from vaxlib.sign.batch import PERSON_COLUMNS, plan_signing
    from vaxlib.sign.previous import content_hashes

    m = _objects_frame(_read_bucket(folder, "m", parts["m"], b, schemas["m"]))
    if not len(m):
        return None
    empty = {"r": ["person_id", "full_name", "dob"], "v": ["record_id", "dose_number", "vaccination_date", "vaccine"]}
    frames = {}
    for kind, cols in empty.items():
        f = _objects_frame(_read_bucket(folder, kind, parts[kind], b, schemas.get(kind, pa.schema([]))))
        frames[kind] = f if len(f.columns) else pd.DataFrame(columns=cols, dtype=object)
    c = _objects_frame(_read_bucket(folder, "c", parts["c"], b, schemas["c"])) if hold else None
    plan = plan_signing(frames["r"], frames["v"], m, at=at, held=_held(m, c))
    persons, found = plan.persons, []
    if wanted is not None:
        persons = persons[persons["person_id"].isin(set(wanted))].reset_index(drop=True)
        found = persons["person_id"].tolist()
    if len(persons):
        schema = _persons_schema()
        hashes = content_hashes(persons, issuer)
        t = pa.table({**{c_: pa.array(persons[c_].to_numpy(dtype=object if c_ != "dose_number" else None),
                                      schema.field(c_).type) for c_ in PERSON_COLUMNS},
                      **{h: pa.array(v, pa.uint64()) for h, v in hashes.items()}}, schema=schema)
        with pa.OSFile(str(_part_file(folder, "persons", b)), "wb") as sink, pa.ipc.new_file(sink, t.schema) as w:
            w.write_table(t)
    return plan.refused, plan.stats.skipped, len(persons), found


def _objects_frame(table) -> pd.DataFrame:
    """An Arrow table as the frame of object columns the plan reads (text as Python strings, missing as
    None), each converted once: ``to_pandas`` gives Arrow-backed text that the plan converted to
    objects again in every function it passed through (~20 % of a bucket's plan)."""
    from vaxlib.sign.batch import _frame

    return _frame({c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names})


_TASKS = {"links": _t_links, "m": _t_matches, "r": _t_registry, "v": _t_vaccinations, "c": _t_candidates,
          "plan": _t_plan}


def _persons_schema():
    import pyarrow as pa

    from vaxlib.sign.batch import PERSON_COLUMNS

    return pa.schema([*((c_, pa.int64() if c_ == "dose_number" else pa.string()) for c_ in PERSON_COLUMNS),
                      *((h, pa.uint64()) for h in ("name_hash", "dob_hash", "dose_hash"))])


_IN_TASK_PROCESS = False


def _init_task() -> None:
    global _IN_TASK_PROCESS
    from vaxlib.runs import die_with_parent

    die_with_parent()  # a killed vax sign leaves no task process behind
    _IN_TASK_PROCESS = True


class _Tasks:
    """Runs the reading and planning tasks: in a pool of ``processes`` processes (started by the signing
    pool's fork server), or one after the other in this process (``processes`` 1).  Records each task
    process's CPU seconds in ``cpu`` and their largest peak RSS in ``peak_rss_mb``.

    A :class:`concurrent.futures.ProcessPoolExecutor`, not a :class:`multiprocessing.Pool`: a task
    process that dies (killed, out of memory) fails the run (``BrokenProcessPool``) instead of leaving
    this process waiting for its answer.
    """

    def __init__(self, processes: int) -> None:
        self.cpu: dict = {}
        self.peak_rss_mb = 0.0  #: the largest peak RSS of a task process
        self.pool = None
        if processes > 1:
            import concurrent.futures as cf
            import multiprocessing as mp

            ctx = mp.get_context("forkserver" if os.name == "posix" else "spawn")
            if os.name == "posix":  # imported once in the fork server (the signing pool's too)
                ctx.set_forkserver_preload(["vaxlib.sign.batch", "vaxlib.sign.stream"])
            self.pool = cf.ProcessPoolExecutor(processes, mp_context=ctx, initializer=_init_task)

    def map(self, tasks: list) -> Iterator:
        """Each task's result, in the order of ``tasks`` (all submitted at once)."""
        from concurrent.futures.process import BrokenProcessPool

        from vaxlib.sign.errors import SignError

        it = map(_task, tasks) if self.pool is None else self.pool.map(_task, tasks)
        while True:
            try:
                ok, out, pid, (cpu, rss) = next(it)
            except StopIteration:
                return
            except BrokenProcessPool:
                raise SignError.say("sign_task_died") from None
            if self.pool is not None:
                self.cpu[f"task-{pid}"] = cpu
                self.peak_rss_mb = max(self.peak_rss_mb, rss)
            if not ok:
                raise out
            yield out

    def close(self, failed: bool = False) -> None:
        """Let the processes end; ``failed``: stop them at once (nothing they do is used)."""
        if self.pool is None:
            return
        pool, self.pool = self.pool, None
        if not failed:
            pool.shutdown(wait=True)
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join()

    def __enter__(self) -> "_Tasks":
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.close(failed=exc_type is not None)


# ----------------------------------------------------------------------------- bucketing

#: from this many matches rows on, the parts are read and the buckets planned by a pool of processes
#: (starting one costs ~1 s; below, this process does it)
POOL_MIN_ROWS = 300_000


def _bucket_inputs(registry, vaccinations, matches, candidates, spill_root: Path, buckets: int | None,
                   timings: dict, tasks: "_Tasks") -> tuple[int, dict, dict]:
    """Read every part once and spill its rows by bucket (one file per part, its rows sorted by bucket).

    Returns ``(B, parts, schemas)``: the number of buckets, the number of part files per kind and the
    tables' schemas.
    """
    import pyarrow as pa

    from vaxlib.io import parquet_columns, parquet_rows, table_parts
    from vaxlib.match.distributed import input_files

    clock = time.perf_counter()
    spill_root.mkdir(parents=True, exist_ok=True)
    m_parts = table_parts(matches)
    names = set(parquet_columns(matches)) if m_parts else set()
    key_col = "person_key" if "person_key" in names else "person_id"
    m_cols = ["record_id", "status", "person_id"] + (["person_key"] if key_col == "person_key" else [])
    n_rows = sum(parquet_rows(p) for p in m_parts)
    B = buckets or max(1, -(-n_rows // BUCKET_RECORDS))
    # 1. the links between two names (a record whose person differs from its key)
    links = list(tasks.map([("links", p, m_cols) for p in m_parts]))
    z = np.zeros(0, np.uint64)
    _save_roots(spill_root, _Roots(np.concatenate([a for a, _ in links]) if links else z,
                                   np.concatenate([b for _, b in links]) if links else z))
    del links
    timings["links"] = round(time.perf_counter() - clock, 3)

    # 2. matches by key and the registry by person, side by side
    lap = time.perf_counter()
    r_parts = input_files(registry)
    got = list(tasks.map([("m", i, p, m_cols, spill_root, B) for i, p in enumerate(m_parts)]
                         + [("r", i, p, spill_root, B) for i, p in enumerate(r_parts)]))
    schemas = {}
    for kind, s in zip(["m"] * len(m_parts) + ["r"] * len(r_parts), got):
        if s is not None:
            schemas[kind] = s
    # a record hash -> its bucket(s): sorted, a hash listed once per bucket it is in
    h = np.concatenate([np.load(spill_root / f"rec-h-{i:05d}.npy") for i in range(len(m_parts))]
                       or [np.zeros(0, np.uint64)])
    bb = np.concatenate([np.load(spill_root / f"rec-b-{i:05d}.npy") for i in range(len(m_parts))]
                        or [np.zeros(0, np.int32)])
    for i in range(len(m_parts)):
        (spill_root / f"rec-h-{i:05d}.npy").unlink()
        (spill_root / f"rec-b-{i:05d}.npy").unlink()
    order = np.lexsort((bb, h))
    h = h[order]
    bb = bb[order]
    del order
    keep = np.r_[True, (h[1:] != h[:-1]) | (bb[1:] != bb[:-1])] if len(h) else np.zeros(0, bool)
    np.save(spill_root / "lookup-h.npy", h[keep])
    np.save(spill_root / "lookup-b.npy", bb[keep])
    del h, bb, keep
    # the pending records (record_id, status) in the matches' order, for the candidates
    pend = []
    for i in range(len(m_parts)):
        path = _part_file(spill_root, "pending", i)
        if path.is_file():
            with pa.memory_map(str(path)) as src:
                pend.append(pa.ipc.open_file(src).read_all())
    pend = (pa.concat_tables(pend) if pend else
            pa.schema([("record_id", pa.string()), ("status", pa.string())]).empty_table())
    with pa.OSFile(str(spill_root / "pending.arrow"), "wb") as sink, pa.ipc.new_file(sink, pend.schema) as w:
        w.write_table(pend)
    del pend
    timings["bucket_matches_registry"] = round(time.perf_counter() - lap, 3)

    # 3. vaccinations (by their record's bucket) and the candidates of pending records (by their person)
    lap = time.perf_counter()
    v_parts = input_files(vaccinations)
    c_parts = table_parts(candidates) if candidates is not None else []
    if candidates is not None and not c_parts:
        list(_output_parts(candidates, "candidates", ["record_id", "person_id"]))  # its error: no such table
    got = list(tasks.map([("v", i, p, spill_root, B) for i, p in enumerate(v_parts)]
                         + [("c", i, p, spill_root, B) for i, p in enumerate(c_parts)]))
    for kind, s in zip(["v"] * len(v_parts) + ["c"] * len(c_parts), got):
        if s is not None:
            schemas[kind] = s
    schemas.setdefault("c", pa.schema([("record_id", pa.string()), ("person_id", pa.string()),
                                       ("status", pa.string())]))
    timings["bucket_vaccinations_candidates"] = round(time.perf_counter() - lap, 3)
    parts = {"m": len(m_parts), "r": len(r_parts), "v": len(v_parts), "c": len(c_parts)}
    return B, parts, schemas


def _held(m: pd.DataFrame, c: pd.DataFrame | None) -> pd.DataFrame:
    """:func:`~vaxlib.sign.checks.held_by_pending` of a bucket: its pending records' own links and the
    candidate rows naming its persons (whatever bucket their record is in)."""
    from vaxlib.sign.checks import held_by_pending

    own = m.loc[m["status"].astype(str).isin(_PENDING), ["record_id", "person_id", "status"]]
    if c is None:
        return held_by_pending(own, None)
    # the candidates' records first, without a person of their own (dropped from the own links), so
    # each record's status is the one its first pending row has in the whole table
    theirs = pd.DataFrame({"record_id": c["record_id"].to_numpy(dtype=object),
                           "person_id": np.full(len(c), None, dtype=object),
                           "status": c["status"].to_numpy(dtype=object)})
    return held_by_pending(pd.concat([theirs, own], ignore_index=True), c[["record_id", "person_id"]])


def _plan_tasks(B: int, folder: Path, parts: dict, schemas: dict, at: dt.datetime, *, hold: bool, issuer: str,
                wanted: list | None = None) -> list:
    return [("plan", b, folder, parts, schemas, at, hold, issuer, wanted) for b in range(B)]


def plan_partitioned(registry, vaccinations, matches, candidates, folder, *, at: dt.datetime,
                     buckets: int | None = None, processes: int = 1) -> "SigningPlan":
    """The whole plan made bucket by bucket (spilling into ``folder``), as one :class:`~vaxlib.sign.batch.SigningPlan`.

    Persons sorted by ``person_id`` and refused rows ordered as :func:`~vaxlib.sign.batch.plan_signing`
    orders them, so the result compares with the plan of the whole tables (tests, benchmarks).
    ``processes``: read and plan in a pool of that many processes (1: in this process).
    """
    import pyarrow as pa

    from vaxlib.sign.batch import ISSUER, PERSON_COLUMNS, SigningPlan, SignStats, _frame
    from vaxlib.sign.checks import REFUSAL_COLUMNS

    folder = Path(folder)
    with _Tasks(processes) as tasks:
        B, parts, schemas = _bucket_inputs(registry, vaccinations, matches, candidates, folder, buckets, {}, tasks)
        persons, refused, skipped = [], [], Counter()
        for b, got in enumerate(tasks.map(_plan_tasks(B, folder, parts, schemas, at, hold=candidates is not None,
                                                      issuer=ISSUER["vi"]))):
            if got is None:
                continue
            r, s, n, _ = got
            refused.append(r)
            skipped.update(s)
            if n:
                with pa.memory_map(str(_part_file(folder, "persons", b))) as src:
                    t = pa.ipc.open_file(src).read_all()
                    persons.append(_frame({c_: t[c_].to_numpy(zero_copy_only=False) for c_ in PERSON_COLUMNS}))
    shutil.rmtree(folder)
    p = pd.concat(persons, ignore_index=True) if persons else pd.DataFrame()
    if len(p):
        p = p.sort_values("person_id", kind="stable").reset_index(drop=True)
    r = pd.concat(refused, ignore_index=True) if refused else pd.DataFrame(columns=REFUSAL_COLUMNS)
    r = r.iloc[np.argsort(r["person_id"].to_numpy(dtype=object).astype(str), kind="stable")].reset_index(drop=True)
    return SigningPlan(p, r, SignStats(skipped=Counter({k: v for k, v in skipped.items() if v})))


# ----------------------------------------------------------------------------- the command

def sign_partitioned(registry, vaccinations, matches, keys_dir, out, *, signer_name: str,
                     ledger_dir=None, candidates=None, previous=None, qr: str | None = None,
                     processes: int | None = None, issued_at: dt.datetime | None = None,
                     issuer: str | None = None, only: Iterable[str] | None = None, args: dict | None = None,
                     buckets: int | None = None):
    """:func:`~vaxlib.sign.batch.sign_tables` for partitioned inputs (or any, with ``buckets``), bucket by bucket.

    Same parameters; ``buckets``: how many (default: one per :data:`BUCKET_RECORDS` matches rows).

    Raises
    ------
    SignError
        ``previous`` is given, or ``out`` holds a signing run (a re-sign reads whole tables).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vaxlib.io import write_output
    from vaxlib.runs import CERTIFICATES, atomic_run, fault_point, is_run
    from vaxlib.sign.batch import (
        PERSON_COLUMNS, REFUSED_FILE, SMALL_BATCH, CertificateWriter, SignStats, _start, not_signable, sign_rows,
    )
    from vaxlib.sign.checks import REFUSAL_COLUMNS
    from vaxlib.sign.errors import SignError
    from vaxlib.sign.ledger import LEDGER_FILE, append_issued, append_ledger
    from vaxlib.sign.previous import CONTENT_FILE, content_schema
    from vaxlib.sign.qr import qr_filename
    from vaxlib.sign.verify import uvci_hash

    out = Path(out)
    if previous or (is_run(out) and (out / CERTIFICATES).is_file()):
        raise SignError.say("sign_stream_previous", path=previous or out)
    start = _start(registry, vaccinations, matches, candidates, keys_dir, issued_at=issued_at, issuer=issuer,
                   qr=qr, previous=None, check_inputs=True)
    issued_at, signer, inputs, settings = start.issued_at, start.signer, start.inputs, start.settings
    issuer = settings["issuer"]
    timings: dict = {}
    clock = time.perf_counter()
    stats = SignStats()
    skipped: Counter = Counter()
    signed_at = issued_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    wanted = set(only) if only is not None else None
    with atomic_run(out, command="sign", args=args or {}, inputs=inputs, settings=settings) as st:
        spill_dir = st / SPILL_DIR
        timings["inputs_hashed"] = round(time.perf_counter() - clock, 3)  # atomic_run pins the inputs' SHA-256
        from vaxlib.io import parquet_rows, table_parts

        n_rows = sum(parquet_rows(p_) for p_ in table_parts(matches))
        tasks = _Tasks(1 if processes == 1 or n_rows < POOL_MIN_ROWS else (processes or os.cpu_count() or 1))
        with tasks:
            B, parts, schemas = _bucket_inputs(registry, vaccinations, matches, candidates, spill_dir, buckets,
                                               timings, tasks)
            st.settings["buckets"] = B
            timings["bucket"] = round(time.perf_counter() - clock, 3)
            # plan each bucket; its persons (with their content hashes) go to the spill for signing
            lap = time.perf_counter()
            refused_parts, n_persons, found, planned = [], 0, set(), []
            for b, got in enumerate(tasks.map(_plan_tasks(B, spill_dir, parts, schemas, issued_at,
                                                          hold=candidates is not None, issuer=issuer,
                                                          wanted=sorted(wanted) if wanted is not None else None))):
                if got is None:
                    continue
                r_, s_, n_, f_ = got
                skipped.update(s_)
                if len(r_):
                    refused_parts.append(r_)
                found |= set(f_)
                n_persons += n_
                if n_:
                    planned.append(b)
        stats.worker_cpu.update(tasks.cpu)
        stats.worker_peak_rss_mb = tasks.peak_rss_mb  # the signing workers' are added as they sign
        timings["plan"] = round(time.perf_counter() - lap, 3)
        refused = (pd.concat(refused_parts, ignore_index=True) if refused_parts
                   else pd.DataFrame(columns=REFUSAL_COLUMNS))
        del refused_parts
        refused = refused.iloc[np.argsort(refused["person_id"].to_numpy(dtype=object).astype(str), kind="stable")]
        refused = refused.reset_index(drop=True)[REFUSAL_COLUMNS]
        if wanted is not None:
            missing = wanted - found
            if missing:
                raise not_signable(missing, refused["person_id"])
            stats.requested = len(wanted)
        else:
            stats.skipped = Counter({k: int(v) for k, v in skipped.items() if v})
        write_output(refused, st / REFUSED_FILE, "table")
        st.settings["ledger_offset"] = 0
        append_ledger(st.path, [], signer=signer_name, signed_at=signed_at)  # the header, even if none is signed

        def persons_of() -> Iterator:
            for b in planned:
                with pa.memory_map(str(_part_file(spill_dir, "persons", b))) as src:
                    yield from pa.ipc.open_file(src).read_all().to_batches()

        def rows() -> Iterator[tuple]:
            for batch in persons_of():
                cols = [batch.column(c_).to_pylist() for c_ in PERSON_COLUMNS]
                yield from zip(*cols)

        def chunks() -> Iterator:  # the same CHUNK-row slices sign_rows signs, with their hashes
            buf, n = [], 0
            for batch in persons_of():
                while batch.num_rows:
                    take = batch.slice(0, CHUNK - n)
                    buf.append(take)
                    n += take.num_rows
                    batch = batch.slice(take.num_rows)
                    if n == CHUNK:
                        yield pa.Table.from_batches(buf)
                        buf, n = [], 0
            if n:
                yield pa.Table.from_batches(buf)

        lap = time.perf_counter()
        qr_dir = st / "qr"
        fault_point(f"write:{CONTENT_FILE}")
        with CertificateWriter(st / CERTIFICATES, st) as writer, \
                pq.ParquetWriter(st / CONTENT_FILE, content_schema(), compression="zstd") as content:
            few = n_persons < SMALL_BATCH
            signed = sign_rows(rows(), keys_dir, processes=1 if few else processes, issued_at=issued_at,
                               issuer=issuer, qr=qr, qr_dir=qr_dir, stats=stats, chunk_size=CHUNK)
            pending = []  # content rows written in groups of CONTENT_ROWS (a group per chunk: 86 bytes a row)
            for certs, chunk in zip(signed, chunks()):
                writer.write(certs)
                fault_point("sign:chunk")
                at = pd.Index(chunk["person_id"].to_pylist()).get_indexer(certs.person_id)
                idx = pa.array(at, pa.int64())
                pending.append(pa.table({
                    "person_id": pa.array(certs.person_id, pa.string()), "uvci": pa.array(certs.uvci, pa.string()),
                    "uvci_sha256": pa.array([uvci_hash(u) for u in certs.uvci], pa.string()),
                    "qr_file": pa.array([qr_filename(p_, u, qr) if qr else "" for p_, u in
                                         zip(certs.person_id, certs.uvci)], pa.string()),
                    **{h: chunk[h].combine_chunks().take(idx) for h in ("name_hash", "dob_hash", "dose_hash")}},
                    schema=content_schema()))
                if sum(t_.num_rows for t_ in pending) >= CONTENT_ROWS:
                    content.write_table(pa.concat_tables(pending).combine_chunks())
                    pending = []
                append_issued(st.path, certs.kid, certs.uvci, signer=signer_name, signed_at=signed_at)
            if pending:
                content.write_table(pa.concat_tables(pending).combine_chunks())
        shutil.rmtree(spill_dir)
        st.settings["revoked"] = 0
        timings["sign_and_commit"] = round(time.perf_counter() - lap, 3)
    if ledger_dir is not None and Path(ledger_dir).resolve() != out.resolve():
        _copy_ledger(out / LEDGER_FILE, Path(ledger_dir))
    stats.counts = {"issued": stats.signed, "reissued": 0, "kept": 0, "carried": 0, "revoked": 0}
    stats.refused = refused if wanted is None else refused[refused["person_id"].isin(wanted)]
    stats.timings = timings
    log.info("vax sign (partitioned) timings (s): %s", ", ".join(f"{k} {v}" for k, v in timings.items()))
    return stats


def _copy_ledger(src: Path, folder: Path) -> None:
    """Append this run's ledger rows (all of ``src``'s: a first run) to ``folder/signing-ledger.csv``,
    line by line (a 10M-row ledger is never held in memory)."""
    from vaxlib.sign.ledger import LEDGER_FILE

    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / LEDGER_FILE
    new = not dest.exists()
    with open(src, "rb") as fh, open(dest, "ab") as outf:
        header = fh.readline()
        if new:
            outf.write(header)
        shutil.copyfileobj(fh, outf, 1 << 20)
    if new:
        os.chmod(dest, 0o644)
