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
   every name is represented by the 64-bit :func:`~vaxlib.match.distributed.stable_hash`
   of its component's smallest member.  Equal hashes only ever put more in one
   bucket, never split a component.
2. **Buckets.**  Each input part is read once (only the columns signing uses)
   and its rows are appended to one spill file per bucket (``hash % B``, Arrow
   IPC) in the run's staging folder: matches by their key, registry rows by
   their person, vaccination rows by the bucket of their ``record_id``'s
   matches row, candidate rows of pending records by the candidate person.
   Rows keep their input order within a bucket, so "the first row" of a
   repeated key is the same row as in the whole table.
3. **Plan per bucket** with :func:`~vaxlib.sign.batch.plan_signing` and
   :func:`~vaxlib.sign.checks.held_by_pending` (the same code as one file), then
   **sign** every bucket's persons through one :func:`~vaxlib.sign.batch.sign_rows`
   pool, writing certificates, content index and ledger as they come.

The answers are those of the one-file path: the same persons, payloads,
held/refused rows (sorted by person, as there) and skip counts; certificates
come out bucket by bucket rather than sorted by person.  Memory: one bucket's
tables plus, for the vaccination lookup, 12 bytes per matches row (hash and bucket) and
their sort order while it is made.

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


def _objects(col) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def _hash(values: np.ndarray) -> np.ndarray:
    from vaxlib.match.distributed import stable_hash

    return stable_hash(values) if len(values) else np.zeros(0, np.uint64)


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


class _Spill:
    """One Arrow IPC file per bucket and kind; rows appended in input order."""

    def __init__(self, folder: Path, buckets: int) -> None:
        self.folder, self.buckets = folder, buckets
        folder.mkdir(parents=True, exist_ok=True)
        self._open: dict = {}

    def path(self, kind: str, b: int) -> Path:
        return self.folder / f"{kind}-{b:05d}.arrow"

    def write(self, kind: str, table, bucket: np.ndarray) -> None:
        """Append ``table``'s rows to their bucket's file (``bucket``: one per row)."""
        import pyarrow as pa

        order = np.argsort(bucket, kind="stable")
        bounds = np.searchsorted(bucket[order], np.arange(self.buckets + 1))
        taken = table.take(pa.array(order, pa.int64()))
        for b in np.flatnonzero(np.diff(bounds)):
            piece = taken.slice(int(bounds[b]), int(bounds[b + 1] - bounds[b]))
            w = self._open.get((kind, b))
            if w is None:
                sink = pa.OSFile(str(self.path(kind, b)), "wb")
                w = self._open[(kind, b)] = (sink, pa.ipc.new_stream(sink, table.schema))
            w[1].write_table(piece)

    def close(self) -> None:
        for sink, w in self._open.values():
            w.close()
            sink.close()
        self._open.clear()

    def read(self, kind: str, b: int, schema):
        """Bucket ``b``'s rows of ``kind`` (an empty table of ``schema`` when it has none)."""
        import pyarrow as pa

        p = self.path(kind, b)
        if not p.is_file():
            return schema.empty_table()
        with pa.OSFile(str(p), "rb") as src:
            return pa.ipc.open_stream(src).read_all()


# ----------------------------------------------------------------------------- bucketing

def _bucket_inputs(registry, vaccinations, matches, candidates, spill_root: Path, buckets: int | None,
                   timings: dict) -> tuple[_Spill, dict]:
    """Read every part once and spill its rows by bucket; returns the spill and the tables' schemas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from vaxlib.io import parquet_columns, parquet_rows, table_parts
    from vaxlib.match.distributed import input_files
    from vaxlib.sign import incremental as inc

    clock = time.perf_counter()
    m_parts = table_parts(matches)
    names = set(parquet_columns(matches)) if m_parts else set()
    key_col = "person_key" if "person_key" in names else "person_id"
    m_cols = ["record_id", "status", "person_id"] + (["person_key"] if key_col == "person_key" else [])
    n_rows = sum(parquet_rows(p) for p in m_parts)
    B = buckets or max(1, -(-n_rows // BUCKET_RECORDS))
    # 1. the links between two names (a record whose person differs from its key)
    la, lb = [], []
    for t in _output_parts(matches, "matches", m_cols):
        t = _text(t, inc.PLAN_INPUTS["matches"])
        k, p = t["person_key"], t["person_id"]
        link = pc.fill_null(pc.and_(pc.and_(pc.is_valid(k), pc.is_valid(p)), pc.not_equal(k, p)), False)
        if pc.any(link).as_py():
            la.append(_hash(_objects(k.filter(link))))
            lb.append(_hash(_objects(p.filter(link))))
    roots = _Roots(np.concatenate(la) if la else np.zeros(0, np.uint64),
                   np.concatenate(lb) if lb else np.zeros(0, np.uint64))
    timings["links"] = round(time.perf_counter() - clock, 3)

    def bucket_of(names_) -> np.ndarray:
        return (roots(_hash(names_)) % np.uint64(B)).astype(np.int64)

    spill = _Spill(spill_root, B)
    # 2. matches by key (a record without a key by its person; the plan ignores it); the record
    # hashes and buckets for the vaccination rows; the pending records' status for the hold
    rec_h, rec_b, pend_id, pend_st = [], [], [], []
    schemas = {}
    for t in _output_parts(matches, "matches", m_cols):
        t = _text(t, inc.PLAN_INPUTS["matches"])  # person_key: person_id when the table has none
        schemas["m"] = t.schema
        key = _objects(pc.coalesce(t["person_key"], t["person_id"]))
        b = bucket_of(key)
        spill.write("m", t, b)
        rec_h.append(_hash(_objects(t["record_id"])))
        rec_b.append(b.astype(np.int32))  # 12 bytes a record with its hash
        pending = pc.fill_null(pc.is_in(t["status"], value_set=pa.array(_PENDING, t["status"].type)), False)
        if pc.any(pending).as_py():
            pend_id.append(t["record_id"].filter(pending))
            pend_st.append(t["status"].filter(pending))
    spill.close()
    timings["bucket_matches"] = round(time.perf_counter() - clock - timings["links"], 3)
    # a record hash -> its bucket(s): sorted, a hash listed once per bucket it is in
    h = np.concatenate(rec_h) if rec_h else np.zeros(0, np.uint64)
    bb = np.concatenate(rec_b) if rec_b else np.zeros(0, np.int32)
    del rec_h, rec_b
    order = np.lexsort((bb, h))
    h = h[order]
    bb = bb[order]
    del order
    keep = np.r_[True, (h[1:] != h[:-1]) | (bb[1:] != bb[:-1])] if len(h) else np.zeros(0, bool)
    h, bb = h[keep], bb[keep]
    del keep

    # 3. vaccinations: each row to the bucket(s) of its record_id's matches row (others are never read)
    lap = time.perf_counter()
    for part in input_files(vaccinations):
        t = _contract_part(part, "vaccinations")
        schemas["v"] = t.schema
        rh = _hash(_objects(t["record_id"]))
        lo, hi = np.searchsorted(h, rh, "left"), np.searchsorted(h, rh, "right")
        n = hi - lo
        rows = np.repeat(np.arange(len(rh)), n)  # a row once per bucket holding its record (almost always one)
        at = np.repeat(lo - np.r_[0, np.cumsum(n)[:-1]], n) + np.arange(int(n.sum()))
        spill.write("v", t.take(pa.array(rows, pa.int64())), bb[at])
    spill.close()
    del h, bb
    timings["bucket_vaccinations"] = round(time.perf_counter() - lap, 3)

    # 4. registry: by the person's component
    lap = time.perf_counter()
    for part in input_files(registry):
        t = _contract_part(part, "registry")
        schemas["r"] = t.schema
        spill.write("r", t, bucket_of(_objects(pc.fill_null(t["person_id"].cast(pa.string()), ""))))
    spill.close()
    timings["bucket_registry"] = round(time.perf_counter() - lap, 3)

    # 5. candidates of pending records, with the record's status (first pending row's, as held_by_pending),
    # by the candidate person
    if candidates is not None:
        lap = time.perf_counter()
        ids = pa.chunked_array(pend_id, pa.string()) if pend_id else pa.chunked_array([], pa.string())
        sts = pa.chunked_array(pend_st, pa.string()) if pend_st else pa.chunked_array([], pa.string())
        ids, sts = ids.combine_chunks(), sts.combine_chunks()
        for t in _output_parts(candidates, "candidates", ["record_id", "person_id"]):
            t = _text(t, ["record_id", "person_id"])
            rid = t["record_id"]
            at = pc.index_in(rid, value_set=ids)  # the first pending row of that record
            hit = pc.is_valid(at)
            if not pc.any(hit).as_py():
                continue
            c = pa.table({"record_id": rid.filter(hit), "person_id": t["person_id"].filter(hit),
                          "status": sts.take(at.filter(hit))})
            schemas["c"] = c.schema
            pid = _objects(c["person_id"])
            spill.write("c", c, bucket_of(np.where(pd.isna(pid), "", pid).astype(object)))
        spill.close()
        timings["bucket_candidates"] = round(time.perf_counter() - lap, 3)
    schemas.setdefault("c", pa.schema([("record_id", pa.string()), ("person_id", pa.string()),
                                       ("status", pa.string())]))
    return spill, schemas


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


def _plans(spill: _Spill, schemas: dict, at: dt.datetime, *, hold: bool) -> Iterator[tuple[int, "SigningPlan"]]:
    """:func:`~vaxlib.sign.batch.plan_signing` of each bucket that has matches rows, in bucket order."""
    import pyarrow as pa

    from vaxlib.sign.batch import plan_signing

    empty = {"r": ["person_id", "full_name", "dob"], "v": ["record_id", "dose_number", "vaccination_date", "vaccine"]}
    for b in range(spill.buckets):
        m = spill.read("m", b, schemas["m"]).to_pandas()
        if not len(m):
            continue
        frames = {}
        for kind, cols in empty.items():
            f = spill.read(kind, b, schemas.get(kind, pa.schema([]))).to_pandas()
            frames[kind] = f if len(f.columns) else pd.DataFrame(columns=cols, dtype=object)
        c = spill.read("c", b, schemas["c"]).to_pandas() if hold else None
        yield b, plan_signing(frames["r"], frames["v"], m, at=at, held=_held(m, c))


def plan_partitioned(registry, vaccinations, matches, candidates, folder, *, at: dt.datetime,
                     buckets: int | None = None) -> "SigningPlan":
    """The whole plan made bucket by bucket (spilling into ``folder``), as one :class:`~vaxlib.sign.batch.SigningPlan`.

    Persons sorted by ``person_id`` and refused rows ordered as :func:`~vaxlib.sign.batch.plan_signing`
    orders them, so the result compares with the plan of the whole tables (tests, benchmarks).
    """
    from vaxlib.sign.batch import SigningPlan, SignStats
    from vaxlib.sign.checks import REFUSAL_COLUMNS

    spill, schemas = _bucket_inputs(registry, vaccinations, matches, candidates, Path(folder), buckets, {})
    persons, refused, skipped = [], [], Counter()
    for _, plan in _plans(spill, schemas, at, hold=candidates is not None):
        persons.append(plan.persons)
        refused.append(plan.refused)
        skipped.update(plan.stats.skipped)
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
    from vaxlib.sign.ledger import LEDGER_FILE, append_ledger
    from vaxlib.sign.previous import CONTENT_FILE, content_hashes, content_schema
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
        spill, schemas = _bucket_inputs(registry, vaccinations, matches, candidates, spill_dir, buckets, timings)
        st.settings["buckets"] = spill.buckets
        timings["bucket"] = round(time.perf_counter() - clock, 3)
        # plan each bucket; its persons (with their content hashes) go back to the spill for signing
        lap = time.perf_counter()
        refused_parts, n_persons, found = [], 0, set()
        schema = pa.schema([*((c_, pa.int64() if c_ == "dose_number" else pa.string()) for c_ in PERSON_COLUMNS),
                            *((h, pa.uint64()) for h in ("name_hash", "dob_hash", "dose_hash"))])
        for b, plan in _plans(spill, schemas, issued_at, hold=candidates is not None):
            skipped.update(plan.stats.skipped)
            if len(plan.refused):
                refused_parts.append(plan.refused)
            persons = plan.persons
            if wanted is not None:
                persons = persons[persons["person_id"].isin(wanted)].reset_index(drop=True)
                found |= set(persons["person_id"])
            if len(persons):
                hashes = content_hashes(persons, issuer)
                t = pa.table({**{c_: pa.array(persons[c_].to_numpy(dtype=object if c_ != "dose_number" else None),
                                              schema.field(c_).type) for c_ in PERSON_COLUMNS},
                              **{h: pa.array(v, pa.uint64()) for h, v in hashes.items()}}, schema=schema)
                spill.write("p", t, np.full(t.num_rows, b, np.int64))
                spill.close()
                n_persons += t.num_rows
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
            for b in range(spill.buckets):
                p = spill.path("p", b)
                if p.is_file():
                    with pa.OSFile(str(p), "rb") as src:
                        yield from pa.ipc.open_stream(src)

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
                append_ledger(st.path, [(certs.kid, u, "issued", "", "") for u in certs.uvci],
                              signer=signer_name, signed_at=signed_at)
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
