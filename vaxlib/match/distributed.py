"""`vax match --engine dask`: the matcher on hash partitions of the records and the registry.

The local engine (:func:`vaxlib.match.pipeline.run_match`) holds every record and
every registry person in one process.  Here both tables are cut into ``P``
partitions and every stage is a function of one partition's files, run as a
task on a Dask cluster (a ``LocalCluster`` on one machine; SSH, Kubernetes or an
HPC queue for more).  The answer is the local engine's, whatever ``P``:

* **Partitions by a stable hash of the ID.**  A record goes to
  ``hash(its ID digits) mod P`` (its ``record_id`` when it has no digits), a
  registry person to ``hash(person_id) mod P``, with pandas' SipHash under a fixed
  key (the same in every process and on every machine; Python's ``hash()`` is
  salted per process).  Not by province (Hồ Chí Minh City is ~29 times the smallest)
  nor by ID prefix (the birth province).  So stage 1 (exact ID) is a join inside one
  partition, a settled record's anchors stay with their registry person, and "does
  somebody own this number" is asked of the record's own partition.
* **Blocking keys are shuffled by key hash.**  Every rule's keys go to
  ``hash(key) mod P``, so all registry persons sharing a key meet in one place and
  the block caps (``max_block``) count exactly what the local engine counts.  Keys
  travel as integers (:func:`~vaxlib.match.blocking.hashed_rule_keys`, two 64-bit
  chains of the local engine's integer-key parts) and are joined by its join.
* **Each task calls the local engine's steps** on its partition: ``prepare_records``
  with its per-value tables, the integer codes of :mod:`vaxlib.match.codes` (numbered
  per partition and never stored), ``compare_pairs`` and ``history_levels`` with a
  ``FrameCache``, ``record_matches``.
* **Pairs are compared in the candidate's partition**, with the record rows sent
  there; the dose history of a candidate (its anchored records) is local.
* **Global estimates come from sums that do not depend on P**: u from the same
  random positions as the local engine (the rows are fetched), the EM tables of
  distinct comparison vectors with their counts, the history-level and namesake
  counts, ρ from every record's evidence.  They are fitted once on the client
  and handed to the tasks.
* **Records get their pairs back in the local engine's pair order** (stage, first
  rule, registry position), so ties in weight, sums and ranks come out the same.
* **person_key** components of the unlinked records are solved on the client with
  the local engine's own function, on just those records.

Every stage writes its outputs under the work folder ``W`` (``stage/…``, written
then renamed) and a ``_done.json`` when all its partitions are there.  A run killed
at any point is resumed by the same command: finished stages are read back, the
rest recomputed; a work folder of other inputs, settings, ``P`` or code is cleared
first.  The result goes through :func:`vaxlib.runs.atomic_run` like the local
engine's, as ``matches/part-*.parquet`` and ``candidates/part-*.parquet``.

Work files are pickles with exact dtypes (no conversion), text as integer codes with each column's
distinct values (:func:`encode_frame`), arrays of text as the buffers of Arrow strings
(:class:`_Pickler`).  The files that tasks of this machine read back once or a few times (the
prepared partitions, the keys, pairs, scores and evidence, the shuffles' pieces) are uncompressed,
their arrays' bytes written as they are and mapped back copy-on-write (:func:`_raw_blob`: no
compression, no copy in or out of a pickle stream); the few small files read by the client or kept
for a resumed run are LZ4-compressed.  A shuffle task's pieces for the P destinations are one file
(:func:`_save_pieces`); the model stage's per-record arrays are ``.npy`` files the tasks
memory-map.  The finish task writes each partition's candidates as the run's Parquet part and its
matches as an uncompressed Arrow file; the write task fills in the loose records' person_key and
puts both in the run (the candidates hard-linked).  Text becomes Python str only where a task
computes on it: a task that passes text on
(the rows sent to the candidates' partitions, the candidates' registry text from the score task
through evidence to links and finish, a read part's pieces, a prepared partition's subsets, the
own-history groups' names and phones) reads
and writes it as Arrow (``_load(…, text="arrow")``, :func:`arrow_tables`), and one that decodes a
few columns converts only those (:func:`decode_frame`), or only their distinct values
(:func:`distinct_tables`, the records' values of a partition factorised in Arrow).  A work folder must be as private as the data it
holds; vaxlib only reads work folders it marked as its own.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from vaxlib.errors import CommandError
from vaxlib.runs import fsync_file

__all__ = ["stable_hash", "partition_of", "WorkDir", "run_match_dask", "open_cluster", "DaskMatchResult"]

log = logging.getLogger(__name__)

_MARK = ".vaxlib-work"

#: stage names in order (folders under the work folder)
#: ("split" is no longer run: reading a part sends its rows; it stays here so an old work folder's is cleared)
STAGES = ("read", "split", "tf", "input", "prepare", "keys", "join", "pairs", "rows", "compare", "counts", "model",
          "score", "evidence", "links", "own", "finish")


# --------------------------------------------------------------------------- hashing
def stable_hash(values, key: str | None = None) -> np.ndarray:
    """64-bit hash of each value, equal in every process, run and machine (SipHash-2-4 with
    a fixed key, :func:`pandas.util.hash_array`); never Python's per-process ``hash()``."""
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        arr = arr.astype(object)
    kw = {"hash_key": key} if key else {}
    return pd.util.hash_array(arr, categorize=False, **kw)


def partition_of(values, partitions: int) -> np.ndarray:
    """The partition (0 … P-1) of each value: its :func:`stable_hash` modulo P."""
    return (stable_hash(values) % np.uint64(partitions)).astype(np.int64)


def split_by(frame, dest: np.ndarray, partitions: int) -> list:
    """``frame``'s rows cut into ``partitions`` pieces by ``dest`` (each piece in the frame's order),
    with one stable sort: a ``frame[dest == q]`` per destination reads every row P times
    (64 times per shuffle at 10M persons with P = 64)."""
    dest = np.asarray(dest)
    order = np.argsort(dest, kind="stable")
    bounds = np.searchsorted(dest[order], np.arange(partitions + 1))
    take = frame.iloc if hasattr(frame, "iloc") else frame
    return [take[order[bounds[q]:bounds[q + 1]]] for q in range(partitions)]


def record_partition_keys(vaccinations: pd.DataFrame, coded: dict | None = None) -> np.ndarray:
    """What places a record: its ID digits as the matcher reads them (:func:`vaxlib.vn.ids.parse_ids`),
    or its ``record_id`` when it has none.  ``coded``: the reader's coding of the columns
    (:func:`_reader_dicts`): the ID numbers are then parsed once per distinct value."""
    from vaxlib.match.prepare import _as_text
    from vaxlib.vn.ids import parse_ids

    if coded and "id_number" in coded and len(coded["id_number"][0]) == len(vaccinations):
        codes, values = coded["id_number"]
        parsed = _as_text(parse_ids(_as_text(pd.Series(values, dtype=object)))["digits"]).to_numpy(dtype=object)
        digits = parsed[codes]
    else:
        digits = _as_text(parse_ids(_as_text(vaccinations["id_number"]))["digits"]).to_numpy(dtype=object)
    rid = _as_text(vaccinations["record_id"]).to_numpy(dtype=object)
    return np.where(digits != "", digits, rid)


# --------------------------------------------------------------------------- work folder
#: a compressed work file (LZ4 pickle, 2-3.4 times smaller, for about 1.3 ms of CPU per MB written and
#: 0.7 per MB read): the small files the client reads and keeps (stage results, the model, tf counts)
_LZ4 = b"VXL4"


#: while > 0, :func:`_text_array` hands back text arrays as Arrow arrays (no Python str made):
#: :func:`_load` with ``text="arrow"``
_LAZY = [0]


def _arrow_text(obj: np.ndarray):
    """The Arrow string array equal to the object array ``obj`` of str and None, or None when it holds
    anything else (a number or NaN among the values, text Arrow cannot hold)."""
    import pyarrow as pa

    try:
        arr = pa.array(obj.reshape(-1), type=pa.string(), from_pandas=False)
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        return None
    if arr.null_count:  # None (a missing cell) is Arrow's null and comes back as None; nothing else may
        flat = obj.reshape(-1)
        if any(flat[i] is not None for i in np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))):
            return None
    return arr


def _text_array(length: int, null_count: int, offset: int, buffers: list, shape: tuple):
    """A text array as :class:`_Pickler` stored it (an Arrow string array's buffers): an object array of
    str (and None) of ``shape``, or with :func:`_load`'s ``text="arrow"`` a 1-d array as the Arrow
    array itself (no Python str made: :func:`_take`, :func:`_concat_text` and the pickler take it)."""
    import pyarrow as pa

    arr = pa.Array.from_buffers(pa.string(), length, buffers, null_count=null_count, offset=offset)
    if _LAZY[0] and len(shape) == 1:
        return arr
    out = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
    return out.reshape(shape) if out.shape != shape else out


def _reduce_text(arr, shape: tuple) -> tuple:
    return _text_array, (len(arr), arr.null_count, arr.offset, arr.buffers(), shape)


def _is_text(x) -> bool:
    """An Arrow string array (a text table :func:`_load` left as Arrow, or :func:`arrow_tables` made)."""
    mod = type(x).__module__
    if not mod.startswith("pyarrow"):  # the pickler asks of every object: no import for the others
        return False
    import pyarrow as pa

    return isinstance(x, pa.Array) and x.type == pa.string()


def _np(table) -> np.ndarray:
    """A text table as an object array (an Arrow one converted: one Python str per value)."""
    if isinstance(table, np.ndarray):
        return table
    return np.asarray(table.to_numpy(zero_copy_only=False), dtype=object)


def _take(table, rows: np.ndarray):
    """``table[rows]`` of an object array or an Arrow text array (taken in Arrow: no str made)."""
    if isinstance(table, np.ndarray):
        return table[rows]
    import pyarrow as pa

    return table.take(pa.array(np.asarray(rows, dtype=np.int64)))


def _concat_text(tables: list):
    """Text tables one after the other: in Arrow when all are (and fit one array), else as objects."""
    if tables and all(not isinstance(t, np.ndarray) for t in tables):
        import pyarrow as pa

        try:
            return pa.concat_arrays(tables)
        except (pa.ArrowException, OverflowError):
            pass
    return np.concatenate([_np(t) for t in tables]) if tables else np.zeros(0, dtype=object)


class _Pickler(pickle.Pickler):
    """Pickles an object array of str and None (a stored frame's distinct values, pandas' object
    blocks) as the buffers of one Arrow string array: its UTF-8 written in C, 2-4 times faster to
    write and read back than one pickled str after another.  An Arrow text array (read with
    ``text="arrow"``, or a table :func:`arrow_tables` converted once for several files) is stored
    the same way, as it is.  Anything else (a number or NaN among the
    values, text Arrow cannot hold) is pickled as usual."""

    def reducer_override(self, obj):
        if type(obj) is np.ndarray and obj.dtype == object and obj.size >= 64:
            arr = _arrow_text(obj)
            return NotImplemented if arr is None else _reduce_text(arr, obj.shape)
        if _is_text(obj):
            return _reduce_text(obj, (len(obj),))
        return NotImplemented


def _save(obj: Any, path: Path, raw: bool = False) -> int:
    """Write ``obj`` to ``path`` whole or not at all (temp file, fsync, rename); returns its bytes.
    ``raw``: uncompressed, its arrays' bytes as they are in memory (:func:`_raw_blob`), for a file of
    numbers that one task of this machine reads back soon (memory-mapped, no copy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        if raw:
            fh.write(_RAW)
            _write_blob(fh, _raw_blob(obj), 4)
        else:
            packed, n = _dumps(obj)
            fh.write(_LZ4 + n.to_bytes(8, "little"))
            fh.write(packed)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path.stat().st_size


def _dumps(obj: Any) -> tuple[bytes, int]:
    """``obj`` pickled (:class:`_Pickler`) and LZ4-compressed, with its uncompressed size."""
    import io

    import pyarrow as pa

    buf = io.BytesIO()
    _Pickler(buf, protocol=5).dump(obj)
    raw = buf.getbuffer()
    return pa.compress(raw, codec="lz4", asbytes=True), len(raw)


#: an uncompressed work file (:func:`_raw_blob`), and its alignment of every array's bytes
_RAW = b"VXR5"
_ALIGN = 64


def _raw_blob(obj: Any) -> tuple[bytes, list]:
    """``obj`` pickled (:class:`_Pickler`, protocol 5) with its arrays' and Arrow buffers' bytes left
    out of band: (the pickle, the buffers as they are in memory).  Nothing is copied or compressed;
    :func:`_read_blob` maps them back without a copy either."""
    import io

    bufs: list = []
    out = io.BytesIO()
    _Pickler(out, protocol=5, buffer_callback=bufs.append).dump(obj)
    return out.getvalue(), [b.raw() for b in bufs]


def _write_blob(fh, blob: tuple[bytes, list], at: int) -> int:
    """Write a :func:`_raw_blob` at file offset ``at`` (the file's position): buffer count, pickle
    size, each buffer's (offset from the blob's start, bytes), the pickle, then each buffer at an
    offset of the file that is a multiple of 64.  Returns the bytes written."""
    head, bufs = blob
    table = np.zeros((len(bufs), 2), dtype="<u8")
    off = 16 + table.nbytes + len(head)
    for k, b in enumerate(bufs):
        off = -(-(at + off) // _ALIGN) * _ALIGN - at
        table[k] = (off, b.nbytes)
        off += b.nbytes
    fh.write(len(bufs).to_bytes(8, "little") + len(head).to_bytes(8, "little") + table.tobytes())
    fh.write(head)
    pos = 16 + table.nbytes + len(head)
    for (o, _), b in zip(table.tolist(), bufs):
        if o > pos:
            fh.write(bytes(o - pos))
        fh.write(b)
        pos = o + b.nbytes
    return pos


def _read_blob(mem: memoryview, at: int, text: str) -> Any:
    """The object of the :func:`_raw_blob` at ``at`` of a mapped file: its arrays are views of the
    mapping (private: writeable, a write is copied, never written to the file)."""
    n = int.from_bytes(mem[at:at + 8], "little")
    k = int.from_bytes(mem[at + 8:at + 16], "little")
    table = np.frombuffer(mem[at + 16:at + 16 + 16 * n], dtype="<u8").reshape(n, 2)
    head = mem[at + 16 + 16 * n:at + 16 + 16 * n + k]
    bufs = [mem[at + o:at + o + size] for o, size in table.tolist()]
    return _loads(head, text, bufs)


def _mapped(path: Path) -> memoryview:
    """The whole file mapped copy-on-write (the mapping lives as long as a view of it)."""
    import mmap

    with open(path, "rb") as fh:
        return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY))


#: a file of pieces (:func:`_save_pieces`): LZ4 pickles, or uncompressed blobs (:func:`_raw_blob`)
_PIECES = b"VXP1"
_RAW_PIECES = b"VXP5"


def _save_pieces(pieces: list, path: Path, raw: bool = False) -> list[int]:
    """Write one task's pieces for the P destinations of a shuffle as one file, whole or not at all;
    returns each piece's bytes.  One file (and one fsync) per task instead of one per (task,
    destination): P² files per shuffle were 4,096 at P = 64, each fsynced (about 4 ms apiece here).
    ``raw``: each piece uncompressed, its arrays' bytes as they are (:func:`_raw_blob`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if raw:
        blobs = [_raw_blob(x) for x in pieces]
        table = np.zeros((len(blobs), 3), dtype="<u8")  # offset, bytes, 0
        off = 4 + 8 + table.nbytes
        for k, b in enumerate(blobs):
            off = -(-off // _ALIGN) * _ALIGN
            table[k] = (off, 0, 0)
            off += _blob_size_at(b, off)
            table[k, 1] = off - table[k, 0]
        with open(tmp, "wb") as fh:
            fh.write(_RAW_PIECES + len(blobs).to_bytes(8, "little") + table.tobytes())
            pos = 4 + 8 + table.nbytes
            for (o, size, _), b in zip(table.tolist(), blobs):
                fh.write(bytes(o - pos))
                _write_blob(fh, b, o)
                pos = o + size
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return [int(x) for x in table[:, 1]]
    blobs = [_dumps(x) for x in pieces]
    table = np.zeros((len(blobs), 3), dtype="<u8")  # offset, packed bytes, raw bytes
    off = 4 + 8 + table.nbytes
    for k, (packed, n) in enumerate(blobs):
        table[k] = (off, len(packed), n)
        off += len(packed)
    with open(tmp, "wb") as fh:
        fh.write(_PIECES + len(blobs).to_bytes(8, "little") + table.tobytes())
        for packed, _ in blobs:
            fh.write(packed)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return [len(packed) for packed, _ in blobs]


def _blob_size_at(blob: tuple[bytes, list], at: int) -> int:
    """The bytes :func:`_write_blob` writes for ``blob`` at file offset ``at`` (with its padding)."""
    head, bufs = blob
    n = 16 + 16 * len(bufs) + len(head)
    for b in bufs:
        n = -(-(at + n) // _ALIGN) * _ALIGN - at + b.nbytes
    return n


def _load_piece(path: Path, q: int, text: str = "objects") -> Any:
    """Piece ``q`` of a file of pieces (:func:`_save_pieces`): only its bytes are read, or mapped
    (``text``: as :func:`_load`)."""
    import pyarrow as pa

    with open(path, "rb") as fh:
        head = fh.read(12)
        if head[:4] not in (_PIECES, _RAW_PIECES):
            raise ValueError(f"{path}: not a vaxlib file of pieces")
        n = int.from_bytes(head[4:], "little")
        table = np.frombuffer(fh.read(24 * n), dtype="<u8").reshape(n, 3)
        off, size, raw = (int(x) for x in table[q])
        if head[:4] == _RAW_PIECES:
            data = None
        else:
            fh.seek(off)
            data = fh.read(size)
    if data is None:
        return _read_blob(_mapped(path), off, text)
    return _loads(pa.decompress(data, decompressed_size=raw, codec="lz4", asbytes=True), text)


def _loads(raw, text: str, buffers: list | None = None) -> Any:
    if text not in ("objects", "arrow"):
        raise ValueError(text)
    if text == "arrow":
        _LAZY[0] += 1
    try:
        return pickle.loads(raw, buffers=buffers)
    finally:
        if text == "arrow":
            _LAZY[0] -= 1


def _load(path: Path, text: str = "objects") -> Any:
    """The object :func:`_save` wrote.  ``text="arrow"``: the text tables of stored frames
    (:func:`encode_frame`) come back as Arrow string arrays, no Python str made, for a task that
    only passes them on (takes rows, concatenates, saves) or decodes a few columns
    (:func:`decode_frame` converts what it decodes).  An uncompressed file is mapped, not read."""
    import pyarrow as pa

    with open(path, "rb") as fh:
        head = fh.read(12)
        if head[:4] == _RAW:
            data = None
        elif head[:4] != _LZ4:
            raise ValueError(f"{path}: not a vaxlib work file")
        else:
            data = fh.read()
    if data is None:
        return _read_blob(_mapped(path), 4, text)
    raw = pa.decompress(data, decompressed_size=int.from_bytes(head[4:], "little"), codec="lz4", asbytes=True)
    return _loads(raw, text)


def encode_frame(frame: pd.DataFrame, dicts: dict, codes: bool = False) -> dict:
    """A frame as a work file holds it: every column that ``dicts`` (prepare's per-value tables,
    :func:`~vaxlib.match.prepare.prepare_records`) describes row for row as (codes, values) is kept
    as that pair, the others as they are; integer code columns (``_c_…``, numbered per partition)
    are left out.  Pickling a column's distinct values and its int32 codes costs a fraction of
    pickling one string per row, and :func:`decode_frame` gathers the rows without making strings.
    ``codes``: keep the integer code columns (a registry partition's, read back by every later task
    of that partition only)."""
    from vaxlib.match.codes import PREFIX

    columns = [c for c in frame.columns if codes or not c.startswith(PREFIX)]
    coded = {c: (np.asarray(dicts[c][0], dtype=np.int32), np.asarray(dicts[c][1], dtype=object))
             for c in columns if c in dicts and len(dicts[c][0]) == len(frame)}
    plain = frame[[c for c in columns if c not in coded]].reset_index(drop=True)
    return {"columns": columns, "coded": coded, "plain": plain}


def arrow_tables(d: dict) -> dict:
    """:func:`encode_frame`'s form with each text table as an Arrow string array where it can be one
    (converted once, :func:`_arrow_text`): rows taken from it (:func:`take_frame`), for pieces or
    subsets that are saved, are taken in Arrow and not converted again, piece by piece."""
    coded = {}
    for c, (codes, table) in d["coded"].items():
        arr = _arrow_text(table) if isinstance(table, np.ndarray) and table.dtype == object and len(table) else None
        coded[c] = (codes, table if arr is None else arr)
    return {**d, "coded": coded}


def distinct_tables(d: dict, arrow: dict | None = None) -> dict:
    """:func:`encode_frame`'s form with each Arrow text table cut to its distinct values (in order of
    first appearance, None kept as None) and the codes mapped onto them, as object arrays: the same
    frame decoded, with each value once.  Tables of objects are left as they are.  ``arrow``: filled
    with each such column's distinct values as the Arrow array (the object array's values, in order)."""
    import pyarrow.compute as pc

    coded = {}
    for c, (codes, table) in d["coded"].items():
        if isinstance(table, np.ndarray):
            coded[c] = (codes, table)
            continue
        enc = pc.dictionary_encode(table, null_encoding="encode")
        inv = enc.indices.to_numpy(zero_copy_only=False)
        coded[c] = (inv[codes].astype(np.int32) if len(codes) else np.zeros(0, dtype=np.int32), _np(enc.dictionary))
        if arrow is not None:
            arrow[c] = enc.dictionary
    return {**d, "coded": coded}


def _registry_known(stored: dict, columns: list[str]):
    """The Arrow array of a registry partition's distinct values of one code domain in code order
    (code k: ``known[k]``), from its stored frame (:func:`factor_frame` with ``codes=True``: each
    column's table indexed by the domain's code, null where the column does not use the code), or
    None when a column is not stored so or a code has no value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tables = []
    for c in columns:
        if c not in stored["coded"] or isinstance(stored["coded"][c][1], np.ndarray):
            return None
        tables.append(stored["coded"][c][1])
    if not tables:
        return None
    n = max(len(t) for t in tables)
    padded = [t if len(t) == n else pa.concat_arrays([t, pa.nulls(n - len(t), t.type)]) for t in tables]
    known = padded[0] if len(padded) == 1 else pc.coalesce(*padded)
    return None if known.null_count else known


def record_codes_arrow(columns: list[tuple[np.ndarray, object]], known) -> list[np.ndarray] | None:
    """The records' int32 codes of one domain's columns, as :func:`~vaxlib.match.codes.add_codes`
    gives them, found in Arrow: each column as (row codes, its distinct values as an Arrow string array
    without nulls), ``known`` the registry's values in code order (:func:`_registry_known`).  A value the
    registry holds takes its code; the others ``len(known)`` on, numbered by first appearance along
    the columns one after the other.  No Python str is made: each value is hashed in C once (the
    object path converts Arrow text to Python and back again).  None where a table is not such an array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not columns or any(not isinstance(t, pa.Array) or t.null_count or not pa.types.is_string(t.type)
                          for _, t in columns):
        return None
    n = len(columns[0][0])
    never = np.iinfo(np.int64).max
    value_set = known.cast(pa.string()) if known.type != pa.string() else known
    at, first, unknown = [], [], []
    for k, (codes, table) in enumerate(columns):
        codes = np.asarray(codes, dtype=np.int64)
        a = pc.index_in(table, value_set=value_set).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        f = np.full(len(table), never, dtype=np.int64)
        f[codes[::-1]] = np.arange(k * n + len(codes) - 1, k * n - 1, -1, dtype=np.int64)  # each value's first row
        at.append(a)
        first.append(f)
        unknown.append(table.filter(pa.array(a < 0)))
    # the values the registry lacks: one code per distinct text, in order of first appearance
    enc = pa.concat_arrays(unknown).dictionary_encode() if sum(len(u) for u in unknown) else None
    if enc is not None:
        d_codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        d_first = np.full(len(enc.dictionary), never, dtype=np.int64)
        np.minimum.at(d_first, d_codes, np.concatenate([f[a < 0] for f, a in zip(first, at)]))
        used = np.flatnonzero(d_first < never)
        used = used[np.argsort(d_first[used], kind="stable")]
        rank = np.full(len(d_first), -1, dtype=np.int64)
        rank[used] = np.arange(len(used))
        new = np.where(rank[d_codes] >= 0, len(known) + rank[d_codes], -1)
        off = 0
        for a in at:
            m = a < 0
            a[m] = new[off: off + int(m.sum())]
            off += int(m.sum())
    return [a.astype(np.int32)[np.asarray(codes, dtype=np.int64)] for a, (codes, _) in zip(at, columns)]


def take_frame(d: dict, rows: np.ndarray) -> dict:
    """:func:`encode_frame`'s form of the rows ``rows`` (each column's values cut to those it uses)."""
    coded = {}
    for c, (codes, table) in d["coded"].items():
        used, inv = _used_codes(codes[rows], len(table))
        coded[c] = (inv, _take(table, used))
    return {"columns": d["columns"], "coded": coded, "plain": d["plain"].iloc[rows].reset_index(drop=True)}


def _used_codes(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` of codes in 0 … n-1 (the used codes ascending, each
    row's rank among them as int32), by marking a table of n flags instead of sorting the rows (unless
    the table is much longer than the rows: a piece of a column of distinct values, record_id)."""
    if n > 4 * len(codes):
        used, inv = np.unique(codes, return_inverse=True)
        return used, inv.astype(np.int32).reshape(-1)
    mark = np.zeros(n, dtype=bool)
    mark[codes] = True
    used = np.flatnonzero(mark)
    rank = np.zeros(n, dtype=np.int32)
    rank[used] = np.arange(len(used), dtype=np.int32)
    return used, rank[codes]


def decode_frame(d: dict, columns: list[str] | None = None) -> pd.DataFrame:
    """The frame :func:`encode_frame` stored (``columns``: only these), index 0..n-1, object columns
    of shared strings."""
    data = {}
    for c in (d["columns"] if columns is None else [c for c in d["columns"] if c in columns]):
        if c in d["coded"]:
            codes, table = d["coded"][c]
            data[c] = pd.Series(_np(table)[codes], dtype=object, copy=False)
        else:
            data[c] = d["plain"][c]
    return pd.DataFrame(data, copy=False)


def _reader_dicts(codes: dict, n: int) -> dict:
    """``read_table``'s codings (``ImportResult.codes``) of the columns whose values are all text or
    None, as :func:`encode_frame` takes them (the table's column is ``values[codes]``): a missing
    cell (code -1) is coded as a None appended to the values, so ``values[codes]`` is the column,
    None where it is missing (ID numbers, phones: not factorised again, here nor in prepare)."""
    out = {}
    for c, (k, values) in codes.items():
        values = np.asarray(values, dtype=object)
        if len(k) != n or pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            continue
        if any(v is not None for v in values[pd.isna(values)]):
            continue  # a missing value other than None (NaN): left to factor_frame
        k = np.asarray(k)
        if len(k) and (k < 0).any():
            k, values = np.where(k < 0, len(values), k), np.append(values, np.array([None], dtype=object))
        out[c] = (k.astype(np.int32), values)
    return out


def factor_frame(frame: pd.DataFrame, codes: bool = False, given: dict | None = None) -> dict:
    """:func:`encode_frame` of a frame without prepare's tables: each object column of text without
    missing values is factorised here (once, where the frame is made; every later read is cheap).
    ``codes``: the frame's integer code columns are kept, and the columns they code are stored
    by them (nothing hashed again).  ``given``: columns already coded, as (codes, values)."""
    from vaxlib.match.codes import PREFIX, dictionary

    dicts = dict(given or {})
    for c in frame.columns:
        if frame[c].dtype != object or c in dicts:
            continue
        if codes and PREFIX + c in frame.columns:
            k = frame[PREFIX + c].to_numpy()
            dicts[c] = (k, dictionary([(k, frame[c].to_numpy(dtype=object))]))
            continue
        codes_, uniq = pd.factorize(frame[c].to_numpy(dtype=object))
        if len(codes_) and (codes_ < 0).any():
            continue
        uniq = np.asarray(uniq, dtype=object)
        if pd.api.types.infer_dtype(uniq, skipna=False) in ("string", "empty"):
            dicts[c] = (codes_, uniq)
    return encode_frame(frame, dicts, codes=codes)


def concat_frames(parts: list[dict]) -> dict:
    """Stored frames (:func:`encode_frame`) one after the other, still coded: each column's codes
    shifted past the tables before it (the values may then repeat: codes of equal values differ)."""
    if not parts:
        return {"columns": [], "coded": {}, "plain": pd.DataFrame()}
    if not all(p["columns"] == parts[0]["columns"] for p in parts):
        # stored from frames of other columns (an empty partition): decoded and concatenated
        return encode_frame(pd.concat([decode_frame(p) for p in parts], ignore_index=True), {})
    common = set(parts[0]["coded"]).intersection(*(p["coded"] for p in parts[1:]))
    if any(p["coded"].keys() != common for p in parts):
        # a column coded in some parts only (one with a missing value was left plain): plain in all
        parts = [{"columns": p["columns"], "coded": {c: v for c, v in p["coded"].items() if c in common},
                  "plain": p["plain"].assign(**{c: pd.Series(_np(table)[codes], dtype=object, copy=False)
                                                for c, (codes, table) in p["coded"].items() if c not in common})}
                 for p in parts]
    coded = {}
    for c in parts[0]["coded"]:
        offs = np.cumsum([0] + [len(p["coded"][c][1]) for p in parts[:-1]])
        coded[c] = (np.concatenate([p["coded"][c][0].astype(np.int64) + o for p, o in zip(parts, offs)]),
                    _concat_text([p["coded"][c][1] for p in parts]))
    return {"columns": parts[0]["columns"], "coded": coded,
            "plain": pd.concat([p["plain"] for p in parts], ignore_index=True)}


def rows_frame(d: dict, rows: np.ndarray, columns: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """The rows ``rows`` of a stored frame as a frame (``columns``: only these), with each coded
    column's (codes, values) (the per-value tables :func:`~vaxlib.match.codes.add_codes` takes as
    ``dicts``)."""
    keep = d["columns"] if columns is None else [c for c in d["columns"] if c in columns]
    dicts = {c: (codes[rows], _np(table)) for c, (codes, table) in d["coded"].items() if c in keep}
    plain = [c for c in d["plain"].columns if c in keep]
    frame = decode_frame({"columns": keep, "coded": dicts, "plain": d["plain"][plain].iloc[rows].reset_index(drop=True)})
    return frame, dicts


def select_frame(d: dict, columns) -> dict:
    """:func:`encode_frame`'s form of only these ``columns`` (in the stored order); nothing is copied."""
    keep = [c for c in d["columns"] if c in columns]
    return {"columns": keep, "coded": {c: v for c, v in d["coded"].items() if c in keep},
            "plain": d["plain"][[c for c in d["plain"].columns if c in keep]]}


def _stored_frame(obj) -> pd.DataFrame:
    return obj if isinstance(obj, pd.DataFrame) else decode_frame(obj)


def _rec(w: "WorkDir", p: int, columns: list[str] | None = None) -> pd.DataFrame:
    """Partition ``p``'s prepared records (``_pos``: the record's position in the input), the columns
    of :data:`_FINISH_COLUMNS`; ``columns`` among :data:`_LIGHT_COLUMNS`: read from the small file
    that holds only those."""
    light = columns is not None and set(columns) <= set(_LIGHT_COLUMNS)
    return decode_frame(_load(w.file("prepare", f"{'light' if light else 'rec'}-{p:05d}.pkl"), text="arrow"), columns)


def _reg(w: "WorkDir", p: int, stage: str = "prepare", columns: list[str] | None = None) -> pd.DataFrame:
    """Partition ``p``'s prepared registry rows (``_pos``: the person's position in the register),
    with its integer codes (``_c_…``, numbered for this partition) once the prepare stage kept it
    (``columns``: only these; the other columns' text is never made Python str)."""
    obj = _load(w.file(stage, f"reg-{p:05d}.pkl"), text="arrow")
    return obj if isinstance(obj, pd.DataFrame) else decode_frame(obj, columns)


def _persons(w: "WorkDir", p: int, columns: list[str] | None = None) -> pd.DataFrame:
    """Partition ``p``'s registry persons, only the columns the record partitions need (``_PERSON_COLUMNS``)."""
    return decode_frame(_load(w.file("prepare", f"persons-{p:05d}.pkl"), text="arrow"), columns)


@dataclass
class WorkDir:
    """The work folder of one partitioned run: a stage folder per stage, each with a
    ``_done.json`` once complete; ``_work.json`` names the run it belongs to."""

    root: Path

    def file(self, stage: str, name: str) -> Path:
        return self.root / stage / name

    def done(self, stage: str) -> dict | None:
        p = self.root / stage / "_done.json"
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def mark_done(self, stage: str, info: dict) -> None:
        p = self.root / stage / "_done.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name("._done.json.tmp")
        tmp.write_text(json.dumps(info, default=_jsonable), encoding="utf-8")
        os.replace(tmp, p)

    def claim(self, key: str) -> list[str]:
        """Make the folder this run's: keep finished stages of the same run (same ``key``),
        clear those of another.  Returns the stages kept.

        Raises
        ------
        CommandError
            The folder exists, is not empty and was not made by vaxlib (nothing is deleted).
        """
        root = self.root
        if root.exists() and any(root.iterdir()) and not (root / _MARK).exists():
            raise CommandError(f"{root}: exists and is not a vaxlib work folder; choose another --work-dir")
        root.mkdir(parents=True, exist_ok=True)
        (root / _MARK).touch()
        meta = root / "_work.json"
        try:
            old = json.loads(meta.read_text(encoding="utf-8")).get("key")
        except (OSError, ValueError):
            old = None
        if old != key:
            for stage in STAGES:
                shutil.rmtree(root / stage, ignore_errors=True)
            meta.write_text(json.dumps({"key": key}), encoding="utf-8")
            return []
        return [s for s in STAGES if self.done(s) is not None]

    def remove(self) -> None:
        """Delete the folder (only when vaxlib made it)."""
        if (self.root / _MARK).exists():
            shutil.rmtree(self.root, ignore_errors=True)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(type(v))


def _task_info(t0: float, **extra) -> dict:
    """Seconds and the worker process's peak RSS (bytes), for the benchmark's per-partition table."""
    return {"seconds": time.perf_counter() - t0,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "pid": os.getpid(), **extra}


# --------------------------------------------------------------------------- input read by the workers
# With files (a partitioned data set: one contract file per part), nothing of the tables passes
# through the client: each worker reads and checks its part (vaxlib.io.read_table), prepares the
# registry rows, and sends rows to the hash partitions; the client only adds up counts.


#: the second hash chain of term-frequency values (SipHash key, 16 bytes)
_TF_KEY = "vaxlib-tf-chainB"


def _value_keys(values) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of each value: the first is :func:`stable_hash` (so ``first % P`` is the
    value's :func:`partition_of`), the second another key's; together they name a value."""
    v = np.asarray(values, dtype=object)
    if not len(v):
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.uint64)
    return stable_hash(v), stable_hash(v, key=_TF_KEY)


def tf_pieces(vc: pd.Series, partitions: int) -> list[tuple]:
    """A value count (value -> persons) as numbers, cut by the values' hash partition: per
    partition (first hash, second hash, count), each value's text left behind (the input tasks of
    every partition read every term-frequency file: text there was read P times)."""
    h1, h2 = _value_keys(vc.index.to_numpy(dtype=object))
    cnt = vc.to_numpy(dtype=np.int64)
    dest = (h1 % np.uint64(partitions)).astype(np.int64)
    order = np.argsort(dest, kind="stable")
    bounds = np.searchsorted(dest[order], np.arange(partitions + 1))
    return [(h1[order[lo:hi]], h2[order[lo:hi]], cnt[order[lo:hi]]) for lo, hi in zip(bounds[:-1], bounds[1:])]


def tf_sum(pieces: list[tuple]) -> tuple:
    """The counts of equal values (equal hash pairs) added up, sorted by (first, second) hash."""
    h1 = np.concatenate([x[0] for x in pieces]) if pieces else np.zeros(0, dtype=np.uint64)
    h2 = np.concatenate([x[1] for x in pieces]) if pieces else np.zeros(0, dtype=np.uint64)
    cnt = np.concatenate([x[2] for x in pieces]) if pieces else np.zeros(0, dtype=np.int64)
    if not len(h1):
        return h1, h2, cnt
    o = np.lexsort((h2, h1))
    h1, h2, cnt = h1[o], h2[o], cnt[o]
    start = np.flatnonzero(np.r_[True, (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])])
    return h1[start], h2[start], np.add.reduceat(cnt, start)


def tf_lookup(table: tuple, values) -> np.ndarray:
    """Each value's count in a :func:`tf_sum` table (float; NaN: a missing value, or none counted)."""
    th1, th2, tc = table
    v = np.asarray(values, dtype=object)
    out = np.full(len(v), np.nan)
    ok = np.flatnonzero(~pd.isna(v)) if len(v) else np.zeros(0, dtype=np.int64)
    if not len(ok) or not len(th1):
        return out
    h1, h2 = _value_keys(v[ok])
    lo, hi = np.searchsorted(th1, h1, "left"), np.searchsorted(th1, h1, "right")
    at = np.minimum(lo, len(th1) - 1)
    hit = (hi - lo == 1) & (th2[at] == h2)
    out[ok[hit]] = tc[at[hit]]
    for k in np.flatnonzero(hi - lo > 1):  # values sharing the first hash: the second decides
        j = lo[k] + np.flatnonzero(th2[lo[k]:hi[k]] == h2[k])
        if len(j):
            out[ok[k]] = tc[j[0]]
    return out


def task_read(root: str, kind: str, i: int, path: str, partitions: int) -> dict:
    """Read and check input part ``i`` of ``kind`` and send each row to its hash partition (records
    by ID digits, registry persons by person_id), numbered within the part (``_pos``;
    :func:`_partition_from_pieces` adds the part's offset in the whole input).  A registry part is
    prepared first and its term-frequency counts are sent to ``hash(value) mod P``.  The part is
    written once, as its pieces (one file, :func:`_save_pieces`): reading and splitting in one task
    spares writing and reading the whole table again."""
    from vaxlib.io import read_table
    from vaxlib.match.model import TF_COLUMNS
    from vaxlib.match.prepare import prepare_registry
    from vaxlib.schema import columns

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    # the reader's own coding of every column (each distinct cell once): the records are stored by it
    # instead of factorising each text column of the table again
    res = read_table(path, kind, codes=tuple(columns(kind)))
    table = res.table
    key = "person_id" if kind == "registry" else "record_id"
    hashes = stable_hash(table[key].to_numpy(dtype=object))
    prepared: dict = {}  # the prepared registry's coding of its text columns (nothing factorised again)
    if kind == "registry":
        table = prepare_registry(table, coded=res.codes, dicts=prepared)
        pieces: list[dict] = [{} for _ in range(partitions)]
        for f, column in TF_COLUMNS.items():
            for q, piece in enumerate(tf_pieces(table[column].value_counts(sort=False), partitions)):
                pieces[q][f] = piece
        _save_pieces(pieces, w.file("read", f"tf-{i:05d}.pkl"), raw=True)
    _save({"rows": np.asarray(res.source_rows, dtype=np.int64)}, w.file("read", f"{kind}-{i:05d}.pkl"))
    t = table.reset_index(drop=True)
    t["_pos"] = np.arange(len(t), dtype=np.int64)
    # the reader's coding of the records' text columns; the registry's as prepare_registry left it
    given = _reader_dicts(res.codes, len(t)) if kind != "registry" else \
        {c: (np.asarray(k, dtype=np.int32), np.asarray(v, dtype=object)) for c, (k, v) in prepared.items()}
    if kind == "registry":
        part = partition_of(t["person_id"].to_numpy(dtype=object), partitions)
    else:
        part = partition_of(record_partition_keys(t, given), partitions) if len(t) else np.zeros(0, dtype=np.int64)
    # coded once here (each text column's distinct values and int32 codes), so the pieces and the
    # input partitions made of them carry no string per row
    stored = factor_frame(t, given=given)
    del t, table
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(partitions + 1))
    stored = arrow_tables(stored)  # each table converted to UTF-8 once, not once per piece
    _save_pieces([take_frame(stored, order[bounds[p]:bounds[p + 1]]) for p in range(partitions)],
                 w.file("read", f"piece-{kind}-{i:05d}.pkl"), raw=True)
    return _task_info(t0, kind=kind, part=i, rows=len(part), rows_in=res.rows_in, hashes=hashes,
                      quarantine=res.quarantine)


def task_tf(root: str, q: int, n_parts: int) -> dict:
    """The whole register's count of every name and dob value whose hash falls in ``q``."""
    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    pieces = [_load_piece(w.file("read", f"tf-{i:05d}.pkl"), q) for i in range(n_parts)]
    out = {f: tf_sum([pc[f] for pc in pieces]) for f in pieces[0]} if pieces else {}
    _save(out, w.file("tf", f"tf-{q:05d}.pkl"))
    return _task_info(t0, partition=q)


def _partition_from_pieces(w: "WorkDir", p: int, offsets: dict, partitions: int, n_registry: int
                           ) -> tuple[dict, pd.DataFrame, dict]:
    """Partition ``p``'s records (stored form, :func:`encode_frame`) and registry persons, in input
    order (``offsets``: kind -> each part's first row in the whole input), the registry with the whole
    register's term frequencies (:func:`~vaxlib.match.model.add_term_frequencies`): gathered from
    the read stage's pieces by :func:`task_prepare` itself (a separate input stage wrote both tables
    and the prepare stage read them straight back).  Third: the registry as the pieces stored it
    (its text tables Arrow arrays, values repeated between parts; without the term frequencies),
    which the registry frame decodes."""
    from vaxlib.match.model import TF_COLUMNS, add_term_frequencies

    frames = {}
    for kind, starts in offsets.items():
        got = []
        for i, start in enumerate(starts):
            piece = _load_piece(w.file("read", f"piece-{kind}-{i:05d}.pkl"), p, text="arrow")
            piece["plain"]["_pos"] += np.int64(start)
            got.append(piece)
        frames[kind] = concat_frames(got)
    reg_stored = frames.pop("registry")
    reg = decode_frame(reg_stored)
    values = {f: pd.unique(reg[c].to_numpy(dtype=object)) for f, c in TF_COLUMNS.items()}
    found = {f: np.full(len(v), np.nan) for f, v in values.items()}
    dest = {f: partition_of(v, partitions) if len(v) else np.zeros(0, dtype=np.int64) for f, v in values.items()}
    wanted = {f: split_by(np.arange(len(values[f])), dest[f], partitions) for f in TF_COLUMNS}
    for q in range(partitions):
        tf = _load(w.file("tf", f"tf-{q:05d}.pkl"))
        for f in TF_COLUMNS:
            at = wanted[f][q]
            if len(at):
                found[f][at] = tf_lookup(tf[f], values[f][at])
    add_term_frequencies(reg, counts={f: pd.Series(found[f], index=pd.Index(values[f], dtype=object))
                                      for f in TF_COLUMNS}, n=n_registry)
    rec = frames.pop("vaccinations")
    # each column's values once (the parts' tables repeat the values they share: prepare derives
    # every value's forms, the date readings of each birth date 8 times over with 8 parts); not the
    # record IDs, distinct already (a table may repeat a value: every reader of these tables allows it)
    # (in Arrow: only the distinct values become Python str, not every part's copy of them)
    for c, (codes, table) in rec["coded"].items():
        if c == "record_id":
            rec["coded"][c] = (codes, _np(table))
            continue
        inv, uniq = _factorize_text(table)
        rec["coded"][c] = (inv[codes].astype(np.int32), uniq)
    return rec, reg, reg_stored


def _arrow_table_of(table):
    """An Arrow string array without nulls equal to the text table ``table`` (an Arrow array or an
    object array of str), or None."""
    import pyarrow as pa

    arr = table if isinstance(table, pa.Array) else _arrow_text(np.asarray(table, dtype=object)) \
        if isinstance(table, np.ndarray) and table.dtype == object else None
    return arr if arr is not None and arr.type == pa.string() and not arr.null_count else None


def _factorize_coded(columns: list[tuple[np.ndarray, object]]) -> tuple[list[np.ndarray], object] | None:
    """``pd.factorize`` of the rows of several coded columns one after the other (the registry's
    columns of one code domain, :func:`~vaxlib.match.codes.domain_codes`' numbering: first
    appearance along the concatenated rows), each column given as (row codes, its table as an Arrow
    string array without nulls, whose values may repeat): (the int32 codes of each column, the
    distinct values in code order as an Arrow array).  Each table entry is hashed once, in C, on its
    UTF-8 (no Python str made); None when a table is not such an array."""
    import pyarrow as pa

    if not columns or any(_arrow_table_of(t) is None or not isinstance(t, pa.Array) for _, t in columns):
        return None
    offsets = np.cumsum([0] + [len(t) for _, t in columns[:-1]])
    enc = pa.concat_arrays([t for _, t in columns]).dictionary_encode()
    entry = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.concatenate([entry[o + np.asarray(c, dtype=np.int64)] for (c, _), o in zip(columns, offsets)])
    n = len(rows)
    first = np.full(len(enc.dictionary), n, dtype=np.int64)
    first[rows[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)  # the last write wins: each value's first row
    used = np.flatnonzero(first < n)
    used = used[np.argsort(first[used], kind="stable")]
    rank = np.full(len(enc.dictionary), -1, dtype=np.int64)
    rank[used] = np.arange(len(used))
    codes = rank[rows].astype(np.int32)
    bounds = np.cumsum([0] + [len(c) for c, _ in columns])
    return [codes[a:b] for a, b in zip(bounds[:-1], bounds[1:])], enc.dictionary.take(pa.array(used, pa.int64()))


def _registry_domain_codes(reg: pd.DataFrame, reg_stored: dict | None) -> dict:
    """Add the registry partition's ``_c_<column>`` codes of the compared domains to ``reg``, in place,
    as :func:`~vaxlib.match.codes.registry_codes` numbers them; returns domain -> the registry's
    values in code order as an Arrow array, for the domains coded from ``reg_stored`` (the pieces'
    coded Arrow tables: :func:`_factorize_coded`, no Python str hashed).  The others are coded from
    the frame's text (:func:`~vaxlib.match.codes.domain_codes`)."""
    from vaxlib.match.codes import DOMAINS, PREFIX, domain_codes

    known = {}
    for domain in _COMPARED_DOMAINS:
        cols = [c for c in DOMAINS[domain][1] if c in reg.columns]
        got = None
        if cols and isinstance(reg_stored, dict) and all(c in reg_stored["coded"] for c in cols):
            got = _factorize_coded([reg_stored["coded"][c] for c in cols])
        if got is None:
            for (_, col), codes in domain_codes(None, reg, domain).items():
                reg[PREFIX + col] = codes
            continue
        for c, codes in zip(cols, got[0]):
            reg[PREFIX + c] = codes
        known[domain] = got[1]
    return known


def _record_codes_joined(columns: list[tuple[np.ndarray, object]], known) -> list[np.ndarray] | None:
    """:func:`record_codes_arrow` of a domain's columns (of one frame: as many rows each) given to it as
    one column, their rows and tables one after the other: the same numbering (first appearance along
    the columns one after the other), the registry's values hashed once per domain, not once per column."""
    import pyarrow as pa

    if len(columns) < 2 or any(not isinstance(t, pa.Array) for _, t in columns) \
            or len({len(c) for c, _ in columns}) != 1:
        return record_codes_arrow(columns, known)
    offsets = np.cumsum([0] + [len(t) for _, t in columns[:-1]])
    rows = np.concatenate([np.asarray(c, dtype=np.int64) + o for (c, _), o in zip(columns, offsets)])
    got = record_codes_arrow([(rows, pa.concat_arrays([t for _, t in columns]))], known)
    if got is None:
        return None
    n = len(columns[0][0])
    return [got[0][k * n:(k + 1) * n] for k in range(len(columns))]


def _stored_registry(reg: pd.DataFrame, reg_stored: dict, known: dict) -> dict:
    """``arrow_tables(factor_frame(reg, codes=True))`` of the prepared registry partition ``reg``, made
    from its Arrow tables instead of its Python text: a coded domain's column by its codes with the
    domain's values (``known``, in code order; null at the codes the column does not use), the other
    text columns of ``reg_stored`` by their tables cut to distinct values in Arrow, every other column
    as it is.  Decodes to the same frame, and the compare task finds each domain's values as before
    (:func:`_registry_known`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from vaxlib.match.codes import DOMAINS, PREFIX

    by_col = {c: d for d in known for c in DOMAINS[d][1]}
    coded, plain = {}, []
    for c in reg.columns:
        if c in by_col and PREFIX + c in reg.columns:
            codes = reg[PREFIX + c].to_numpy().astype(np.int32)
            n = int(codes.max()) + 1 if len(codes) else 0
            used = np.zeros(n, dtype=bool)
            used[codes] = True
            values = known[by_col[c]].slice(0, n)
            table = values if used.all() else pc.if_else(pa.array(used), values, pa.scalar(None, pa.string()))
            coded[c] = (codes, table)
        elif c in reg_stored["coded"] and isinstance(reg_stored["coded"][c][1], pa.Array) \
                and reg_stored["coded"][c][1].type == pa.string():
            codes, table = reg_stored["coded"][c]
            enc = table.dictionary_encode(null_encoding="encode")
            inv = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
            coded[c] = (inv[np.asarray(codes, dtype=np.int64)] if len(codes) else np.zeros(0, dtype=np.int32),
                        enc.dictionary)
        else:
            plain.append(c)
    return {"columns": list(reg.columns), "coded": coded, "plain": reg[plain].reset_index(drop=True)}


def _factorize_text(table) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(table, use_na_sentinel=False)`` as (codes, values as objects) of an object array
    or an Arrow text array (encoded in Arrow: the values in order of first appearance, a missing value
    (None) one of them, as NaN like pandas gives it)."""
    if isinstance(table, np.ndarray):
        inv, uniq = pd.factorize(table, use_na_sentinel=False)  # None (a missing cell) is a value here
        return inv, np.asarray(uniq, dtype=object)
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(table, null_encoding="encode")
    uniq = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    if enc.dictionary.null_count:
        uniq[enc.dictionary.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), uniq


def input_files(path: str | os.PathLike[str]) -> list[Path]:
    """The contract files of one input: the file itself, or a folder's parts in name order."""
    from vaxlib.io import SUPPORTED_EXTENSIONS

    p = Path(path)
    if not p.is_dir():
        return [p]
    return sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith((".", "_"))
                  and f.suffix.lower() in SUPPORTED_EXTENSIONS)


# --------------------------------------------------------------------------- tasks
# Each task is a function of files under the work folder and writes its own files:
# rerunning one (a retry after a worker died) gives the same bytes.


def _fault(name: str) -> None:
    """A ``VAX_FAULT`` point of the client between stages (``kill:dask:compare`` kills the
    command right after the compare stage is complete; see :func:`vaxlib.runs.fault_point`)."""
    from vaxlib.runs import fault_point

    fault_point(f"dask:{name}")

def _value_hash(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's value, given as (codes, values): each distinct value hashed once."""
    h = stable_hash(np.asarray(table, dtype=object)) if len(table) else np.zeros(0, dtype=np.uint64)
    return h[codes]


#: the code domains (:data:`~vaxlib.match.codes.DOMAINS`) the comparisons read as codes: the family
#: and family + given forms are blocking keys only, and the blocking keys travel as hashes of the text
#: (a comparison missing a domain's codes would code its columns itself: same answer, more work)
_COMPARED_DOMAINS = ("full_name", "name_canon", "name_tone", "name_fold", "name_sorted", "given", "dob", "id", "sex")

#: record columns that no comparison, blocking rule or dose-history level reads: left out of the
#: rows sent to the candidates' partitions and of the u sample (the contract's pass-through columns
#: and the forms kept only for the output)
_NOT_COMPARED = frozenset({"record_id", "sex", "phone", "facility_id", "dose_number", "vaccination_date", "vaccine",
                           "lot_number", "facility_name", "dob_form", "id_issues"})


def task_prepare(root: str, p: int, max_block: int, u_sample: tuple[np.ndarray, np.ndarray],
                 pieces: tuple | None = None) -> dict:
    """Prepare partition ``p``'s records; stage 1 (exact ID) against the registry partition.

    ``pieces`` = (offsets, P, registry size): the partition is gathered from the read stage's
    pieces (:func:`_partition_from_pieces`); None: from the ``input`` stage's files (tables the
    client held).  The registry partition is kept with its integer codes of the compared domains
    (as :func:`~vaxlib.match.codes.registry_codes` makes them, a function of the partition alone)
    for every later task that reads it (:func:`_reg`): they are computed once, and prepare takes
    the codes of the names the registry holds from them.

    The local engine's steps: :func:`~vaxlib.match.prepare.prepare_records` with its per-value
    tables, integer codes shared with the registry partition (:func:`~vaxlib.match.codes.add_codes`,
    numbered per partition and not kept), the ID rule's join and the comparison, with one
    :class:`~vaxlib.match.levels.FrameCache`.

    ``u_sample`` holds the positions of the u sample's records and persons
    (:func:`~vaxlib.match.model.u_sample_pairs`): the partition keeps their rows, and the rows
    of the records anchored to a sampled person (anchors are co-located), for :func:`task_u`."""
    from vaxlib.match.blocking import _mix, candidate_pairs
    from vaxlib.match.codes import PREFIX, add_record_codes
    from vaxlib.match.compare import compare_pairs, record_group_ok
    from vaxlib.match.levels import FrameCache
    from vaxlib.match.pipeline import _settled
    from vaxlib.match.prepare import TEXT_COLUMNS, prepare_records

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    if pieces is None:
        stored, reg, reg_stored = _load(w.file("input", f"rec-{p:05d}.pkl")), _reg(w, p, stage="input"), None
    else:
        stored, reg, reg_stored = _partition_from_pieces(w, p, *pieces)
    # codes.registry_codes, of the domains compared here (from the pieces' Arrow tables where it can)
    known = _registry_domain_codes(reg, reg_stored)
    raw = _stored_frame(stored)
    # the typed text columns' coding, as read_table hands it to the local engine (nothing hashed again)
    coded = {c: v for c, v in stored["coded"].items() if c in TEXT_COLUMNS} if isinstance(stored, dict) else None
    dicts: dict = {}
    rec = prepare_records(raw, registry=reg, dicts=dicts, coded=coded) if len(raw) else \
        prepare_records(raw, dicts=dicts)
    # the columns prepare passes through unchanged (facility, vaccine, raw sex and phone …) keep the
    # input's coding in the stored frame (checked: the same values row for row)
    passed = {}
    for c, (codes, table) in (stored["coded"].items() if isinstance(stored, dict) else ()):
        if c not in dicts and c in rec.columns and rec[c].dtype == object and len(codes) == len(rec):
            if (_np(table)[codes] == rec[c].to_numpy(dtype=object)).all():
                passed[c] = (codes, table)
    del raw, stored, coded
    # the records' tables as Arrow, once: coded against the registry's values in Arrow (as the
    # compare task codes its records) and stored as they are
    arrow = {c: a for c, v in dicts.items() if (a := _arrow_table_of(v[1])) is not None}
    _code_records(rec, reg, dicts, arrow, known.get, absent="add_codes")
    # its text tables converted to Arrow once: written in two files, and subsets taken in Arrow
    stored_reg = _stored_registry(reg, reg_stored, known) if set(known) == set(_COMPARED_DOMAINS) else \
        arrow_tables(factor_frame(reg, codes=True))
    _save(stored_reg, w.file("prepare", f"reg-{p:05d}.pkl"), raw=True)
    # what the score and finish tasks read of their persons (not the whole coded partition)
    _save(select_frame(stored_reg, _PERSON_COLUMNS), w.file("prepare", f"persons-{p:05d}.pkl"), raw=True)
    add_record_codes(rec, dicts)
    cache = FrameCache(rec, reg)
    stage1 = candidate_pairs(rec, reg, rules=("id",), max_block=max_block, cache=cache)
    lv1 = compare_pairs(rec, reg, stage1, cache=cache)
    del cache
    settled = _settled(lv1)
    anchors = stage1.loc[settled, ["rec", "reg"]].reset_index(drop=True)
    open_mask = np.ones(len(rec), dtype=bool)
    open_mask[stage1["rec"].to_numpy()[settled]] = False  # repeats allowed: no sort needed
    keep1 = ~open_mask[stage1["rec"].to_numpy()]
    # separate files: most later tasks need only one of them
    # (text tables as Arrow, converted once: written in several files, subsets taken in Arrow)
    stored = encode_frame(rec, {**passed, **dicts})
    for c, (codes, table) in stored["coded"].items():
        if c in dicts and c in arrow and table is dicts[c][1]:
            stored["coded"][c] = (codes, arrow[c])  # converted above
    stored = arrow_tables(stored)
    del passed, arrow
    # the columns the finish task reads (not every prepared column: the others are compared elsewhere)
    _save(select_frame(stored, _FINISH_COLUMNS), w.file("prepare", f"rec-{p:05d}.pkl"), raw=True)
    _save(select_frame(stored, _LIGHT_COLUMNS), w.file("prepare", f"light-{p:05d}.pkl"), raw=True)
    # the open records alone (about 9 %): what the keys and rows tasks read, not the whole partition,
    # and not the columns no comparison reads (each open record is sent to several partitions)
    compared = select_frame(stored, [c for c in stored["columns"] if c not in _NOT_COMPARED])
    _save(take_frame(compared, np.flatnonzero(open_mask)), w.file("prepare", f"open-{p:05d}.pkl"), raw=True)
    _save({"stage1": stage1[keep1].reset_index(drop=True), "lv1": lv1[keep1].reset_index(drop=True),
           "anchors": anchors, "open": open_mask}, w.file("prepare", f"s1-{p:05d}.pkl"), raw=True)
    ok = record_group_ok(rec)
    pos = rec["_pos"].to_numpy(dtype=np.int64)
    # own-history group label: a 63-bit hash of (folded name, dob, phone) with the top bit set, or the
    # record's own position (< 2**63) when it has no key; group_dose_conflict only compares labels.
    # Each part's distinct values are hashed once (prepare's tables), then folded row by row.
    key = np.zeros(len(rec), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in ("name_fold", "dob_r0", "phone_n"):
            key = _mix(key * np.uint64(0x9E3779B97F4A7C15) + _value_hash(dicts[col][0], dicts[col][1]))
    group = np.where(ok, key | np.uint64(1 << 63), pos.astype(np.uint64))
    kind_codes, kind_values = pd.factorize(rec["id_kind"].to_numpy(dtype=object))
    thin = {"pos": pos, "kind": kind_codes.astype(np.int16), "kind_values": np.asarray(kind_values, dtype=object),
            "dn": rec["dose_n"].to_numpy(),
            "vd": rec["vdate"].to_numpy(), "group": group,
            "a_rec": pos[anchors["rec"].to_numpy()],
            "a_reg": reg["_pos"].to_numpy(dtype=np.int64)[anchors["reg"].to_numpy()]}
    _save(thin, w.file("prepare", f"thin-{p:05d}.pkl"), raw=True)
    # the folded names alone, for the namesake cells (task_same_fold): not the whole prepared frame again
    _save({"pos": pos, "name_fold": stored["coded"]["name_fold"]}, w.file("prepare", f"fold-{p:05d}.pkl"), raw=True)
    u_rec, u_reg = u_sample
    gpos = reg["_pos"].to_numpy(dtype=np.int64)
    sampled = np.isin(gpos, u_reg)
    anchored = np.isin(thin["a_reg"], gpos[sampled])
    want = np.isin(pos, u_rec) | np.isin(pos, thin["a_rec"][anchored])
    # stored coded (the integer code columns, numbered for this partition only, are left out)
    _save({"rec": take_frame(compared, np.flatnonzero(want)),
           "reg": take_frame(select_frame(stored_reg, [c for c in reg.columns if not c.startswith(PREFIX)]),
                             np.flatnonzero(sampled))},
          w.file("prepare", f"u-{p:05d}.pkl"), raw=True)
    return _task_info(t0, partition=p, records=len(rec), registry=len(reg), stage1_pairs=len(stage1),
                      kept1=int(keep1.sum()), open=int(open_mask.sum()))


def task_keys(root: str, p: int, partitions: int) -> dict:
    """Every blocking key of partition ``p``'s open records and registry persons, sent to
    ``hash(key) mod P`` (one file per destination).  Keys travel as integers: the text rules'
    two-chain hashes (:func:`~vaxlib.match.blocking.hashed_rule_keys`, equal exactly where the
    local engine's integer keys are) and the ID pair masks' own integer keys."""
    from vaxlib.match.blocking import RULES, TEXT_RULES, _mix, hashed_rule_keys, id_pair_mask_frames, record_columns

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    stored = _load(w.file("prepare", f"open-{p:05d}.pkl"), text="arrow")
    # only the columns the rules read (blocking.record_columns) are gathered
    wanted = record_columns(pd.DataFrame(columns=stored["columns"])) + ["_pos"]
    rmemo, gmemo = _rule_part_memo(stored, "rec"), {}  # each text part hashed once for all the rules that use it
    rest = decode_frame(stored, [c for c in wanted if c not in stored["coded"] or c in _ID_COLUMNS_READ])
    del stored
    # the registry partition: its coded text parts hashed from their distinct values, and only the
    # columns read row by row decoded (its other text never becomes Python str here)
    stored_reg = _load(w.file("prepare", f"reg-{p:05d}.pkl"), text="arrow")
    gmemo = _rule_part_memo(stored_reg, "reg")
    reg = decode_frame(stored_reg, ["person_id", "_pos", "year", "month", "day"]
                       + [c for c in _rule_part_columns("reg") if c not in stored_reg["coded"]])
    del stored_reg
    rpos, gpos = rest["_pos"].to_numpy(dtype=np.int64), reg["_pos"].to_numpy(dtype=np.int64)
    out: list[dict] = [{} for _ in range(partitions)]

    def pieces(ok: np.ndarray, a: np.ndarray, b: np.ndarray, pos: np.ndarray) -> list:
        a, b, pos = a[ok], b[ok], pos[ok]
        dest = (_mix(a) % np.uint64(partitions)).astype(np.int64)  # mixed: mask keys are multiples of 16 + i
        order = np.argsort(dest, kind="stable")
        bounds = np.searchsorted(dest[order], np.arange(partitions + 1))
        a, b, pos = a[order], b[order].astype(np.uint32), pos[order]  # chain B: 32 bits suffice (96 in all)
        return [(a[lo:hi], b[lo:hi], pos[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]

    def send(rule: str, sub: int, r: list, g: list) -> None:
        for q in range(partitions):
            out[q][(rule, sub)] = (r[q], g[q])

    for name in TEXT_RULES:
        send(name, 0, pieces(*hashed_rule_keys(rest, "rec", name, rmemo), rpos),
             pieces(*hashed_rule_keys(reg, "reg", name, gmemo), gpos))
    rk, gk = id_pair_mask_frames(rest, reg)
    for sub, c in enumerate(rk.columns):
        r, g = rk[c].to_numpy().astype(np.uint64), gk[c].to_numpy().astype(np.uint64)
        zr, zg = np.zeros(len(r), np.uint64), np.zeros(len(g), np.uint64)
        # the mask keys are exact integers (0: none); their mix only spreads them over the partitions
        send("id_pair_mask", sub, pieces(r != 0, r, zr, rpos), pieces(g != 0, g, zg, gpos))
    assert set(k for k, _ in out[0]) == set(RULES)
    sizes = _save_pieces(out, w.file("keys", f"piece-{p:05d}.pkl"), raw=True)
    return _task_info(t0, partition=p, shuffle_bytes=int(sum(sizes)))


#: record columns that the ID rules read row by row (blocking.id_pair_mask_frames)
_ID_COLUMNS_READ = ("id_digits", "id_number", "id_kind", "id_raw_digits")


def _rule_part_columns(side: str) -> set:
    """The text columns that the text rules' key parts read on ``side`` ("rec" or "reg")."""
    from vaxlib.match.blocking import INT_RULES, TEXT_RULES

    return {col for name in TEXT_RULES for col, cond in INT_RULES[name][0 if side == "rec" else 1]
            if col and cond not in ("year", "monthday")}


def _rule_part_memo(stored: dict, side: str) -> dict:
    """:func:`~vaxlib.match.blocking.hashed_rule_keys`' memo of a stored frame's coded text parts:
    ``_text_part_hashes`` of each column's distinct values, gathered by the rows' codes (it is a
    function of each value alone: the same arrays as of the decoded column)."""
    from vaxlib.match.blocking import INT_RULES, TEXT_RULES, _text_part_hashes

    memo: dict = {}
    for name in TEXT_RULES:
        for col, cond in INT_RULES[name][0 if side == "rec" else 1]:
            if not col or cond in ("year", "monthday") or (col, cond) in memo or col not in stored["coded"]:
                continue
            codes, table = stored["coded"][col]
            memo[(col, cond)] = tuple(x[codes] for x in _text_part_hashes(_np(table), cond))
    return memo


def _key_codes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense codes of the (a, b) key pairs: equal pairs share a code.  ``a`` alone decides unless two
    pairs share ``a`` with different ``b`` (a 64-bit collision), when the pairs are coded whole."""
    codes, uniq = pd.factorize(a)
    seen = np.empty(len(uniq), dtype=b.dtype)
    seen[codes] = b
    if (seen[codes] == b).all():
        return codes.astype(np.int64)
    return pd.MultiIndex.from_arrays([a, b]).factorize()[0].astype(np.int64)


def task_join(root: str, q: int, partitions: int, max_block: int, caps: dict) -> dict:
    """Pairs of key partition ``q``: all registry persons with a key are here, so a block's size is exact
    (:func:`~vaxlib.match.blocking._keyed_join`, the local engine's join and block cap)."""
    from vaxlib.match.blocking import RULES, _keyed_join

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    pieces = [_load_piece(w.file("keys", f"piece-{p:05d}.pkl"), q) for p in range(partitions)]
    found = []
    per_rule = {}

    def side(rule, sub, k):
        got = [pc[(rule, sub)][k] for pc in pieces]
        part = np.concatenate([np.full(len(x[0]), p, dtype=np.int32) for p, x in enumerate(got)])
        return [np.concatenate([x[i] for x in got]) for i in range(3)] + [part]

    for rule, sub in pieces[0]:
        ra, rb, rpos, rpart = side(rule, sub, 0)
        ga, gb, gpos, gpart = side(rule, sub, 1)
        if len(ra) == 0 or len(ga) == 0:
            continue
        cap = min(max_block, caps.get(rule, max_block))
        codes = _key_codes(np.concatenate([ga, ra]), np.concatenate([gb, rb]))
        m = _keyed_join(codes[len(ga):], np.arange(len(ra), dtype=np.int64), codes[:len(ga)],
                        np.arange(len(ga), dtype=np.int64), cap)
        if m.empty:
            continue
        mr, mg = m["rec"].to_numpy(), m["reg"].to_numpy()
        i = RULES.index(rule)
        found.append(pd.DataFrame({"rec_pos": rpos[mr], "reg_pos": gpos[mg], "rec_part": rpart[mr],
                                   "reg_part": gpart[mg], "first": np.int32(i * 16 + sub), "bit": np.int32(1 << i)}))
        per_rule[rule] = per_rule.get(rule, 0) + len(m)
    pairs = pd.concat(found, ignore_index=True) if found else pd.DataFrame(
        {c: np.zeros(0, t) for c, t in (("rec_pos", np.int64), ("reg_pos", np.int64), ("rec_part", np.int32),
                                        ("reg_part", np.int32), ("first", np.int32), ("bit", np.int32))})
    dest = pairs["reg_part"].to_numpy()
    sizes = _save_pieces(split_by(pairs, dest, partitions), w.file("join", f"piece-{q:05d}.pkl"), raw=True)
    return _task_info(t0, partition=q, rule_pairs=per_rule, shuffle_bytes=int(sum(sizes)))


def pair_rules(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (rec_pos, reg_pos), sorted by both, from the rule pairs of the join pieces: its
    first rule (the smallest ``first``), the sum of its distinct rule bits and its record's partition.
    The same as pandas' ``drop_duplicates(["rec_pos", "reg_pos", "bit"])`` then a sorted groupby (a
    repeated (pair, rule) counts once, its first arrival kept), on arrays: one stable lexsort."""
    r, g, b = (df[c].to_numpy() for c in ("rec_pos", "reg_pos", "bit"))
    f, part = df["first"].to_numpy(), df["rec_part"].to_numpy()
    o = np.lexsort((b, g, r))  # stable: equal (pair, rule) rows keep their arrival order
    r, g, b, f, part = r[o], g[o], b[o], f[o], part[o]
    new_pair = np.ones(len(r), dtype=bool)
    new_pair[1:] = (r[1:] != r[:-1]) | (g[1:] != g[:-1])
    first_of_rule = new_pair.copy()
    first_of_rule[1:] |= b[1:] != b[:-1]
    r, g, b, f, part, new_pair = (x[first_of_rule] for x in (r, g, b, f, part, new_pair))
    at = np.flatnonzero(new_pair)
    if not len(at):
        return pd.DataFrame({"rec_pos": r, "reg_pos": g, "first": f, "rules": b.astype(np.int32), "rec_part": part})
    return pd.DataFrame({"rec_pos": r[at], "reg_pos": g[at], "first": np.minimum.reduceat(f, at),
                         "rules": np.add.reduceat(b, at).astype(np.int32), "rec_part": part[at]})


def task_pairs(root: str, g: int, partitions: int) -> dict:
    """The stage-2 pairs of registry partition ``g``, one row per (record, person) with the
    bitmask of its rules and its first rule (the local engine's pair order)."""
    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    df = pd.concat([_load_piece(w.file("join", f"piece-{q:05d}.pkl"), g) for q in range(partitions)],
                   ignore_index=True)
    agg = pair_rules(df)
    _save(agg, w.file("pairs", f"pairs-{g:05d}.pkl"), raw=True)
    # which records each record partition sends here (task_rows reads its own list, not every pairs file)
    _save_pieces([np.unique(piece.to_numpy()) for piece in split_by(agg["rec_pos"], agg["rec_part"].to_numpy(),
                                                                    partitions)],
                 w.file("pairs", f"want-{g:05d}.pkl"), raw=True)
    return _task_info(t0, partition=g, stage2_pairs=len(agg))


def task_rows(root: str, p: int, partitions: int) -> dict:
    """Partition ``p``'s record rows that each registry partition compares with its persons
    (one piece per destination)."""
    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    # stage-2 pairs are of open records; their text is only passed on (rows taken in Arrow, no str made)
    stored = _load(w.file("prepare", f"open-{p:05d}.pkl"), text="arrow")
    pos = stored["plain"]["_pos"].to_numpy()
    sent = [take_frame(stored, np.searchsorted(pos, _load_piece(w.file("pairs", f"want-{g:05d}.pkl"), p)))
            for g in range(partitions)]
    size = sum(_save_pieces(sent, w.file("rows", f"rows-{p:05d}.pkl"), raw=True))
    return _task_info(t0, partition=p, shuffle_bytes=size)


def task_compare(root: str, g: int, partitions: int) -> dict:
    """Levels of every pair whose candidate is in partition ``g`` (stage-1 pairs of settled
    records and stage-2 pairs), with the dose-history fields from the candidates' anchors.

    The local engine's comparison: the records' integer codes shared with the registry partition
    (:func:`~vaxlib.match.codes.add_codes` from the stored per-value tables, so only distinct
    values are hashed), then :func:`~vaxlib.match.compare.compare_pairs` and
    :func:`~vaxlib.match.compare.history_levels` with one :class:`~vaxlib.match.levels.FrameCache`."""
    from vaxlib.match.codes import add_record_codes
    from vaxlib.match.compare import LEVELS, compare_pairs, history_levels
    from vaxlib.match.levels import FrameCache
    from vaxlib.match.model import pair_tf

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    st = _load(w.file("prepare", f"s1-{g:05d}.pkl"))
    own_stored = _load(w.file("prepare", f"light-{g:05d}.pkl"))
    own = own_stored["plain"]["_pos"].to_numpy()
    reg_stored = _load(w.file("prepare", f"reg-{g:05d}.pkl"), text="arrow")
    reg = _stored_frame(reg_stored)
    if "_tf_name" not in reg.columns:
        raise RuntimeError("registry partition without term frequencies")  # they must be the whole register's
    pairs2 = _load(w.file("pairs", f"pairs-{g:05d}.pkl"))
    # the stage-2 records (sent by every record partition, each record once): compared here
    # their text concatenated in Arrow and cut to distinct values there: only those become Python str
    # (each record partition's tables repeat the common values: family names, dates of birth)
    arrow: dict = {}
    sent = distinct_tables(concat_frames([_load_piece(w.file("rows", f"rows-{p:05d}.pkl"), g, text="arrow")
                                          for p in range(partitions)]), arrow)
    small, dicts = rows_frame(sent, np.argsort(sent["plain"]["_pos"].to_numpy(), kind="stable"))
    _code_records(small, reg, dicts, arrow, _stored_known(reg, reg_stored))
    del dicts, arrow, reg_stored
    sp = small["_pos"].to_numpy()
    gp = reg["_pos"].to_numpy()
    p1 = st["stage1"]
    # each pair's rows: stage 1's are the prepare task's (its records, this registry partition in
    # the same order), stage 2's found by position once (the sorted positions searched per pair)
    r1, g1 = p1["rec"].to_numpy(np.int64), p1["reg"].to_numpy(np.int64)
    r2 = np.searchsorted(sp, pairs2["rec_pos"].to_numpy())
    g2 = np.searchsorted(gp, pairs2["reg_pos"].to_numpy())
    meta1 = pd.DataFrame({"rec_pos": own[r1], "reg_pos": gp[g1],
                          "rec_part": np.int32(g), "stage": np.int8(0), "first": np.int32(0),
                          "rules": p1["rules"].to_numpy(np.int32)})
    meta2 = pairs2[["rec_pos", "reg_pos", "rec_part"]].assign(stage=np.int8(1), first=pairs2["first"],
                                                              rules=pairs2["rules"])
    meta = pd.concat([meta1, meta2], ignore_index=True)
    lv2 = compare_pairs(small, reg, pd.DataFrame({"rec": r2, "reg": g2}), cache=FrameCache(small, reg))
    del small
    levels = pd.concat([st["lv1"], lv2], ignore_index=True)
    # the dose history of every pair: the candidates' anchored records are this partition's own, so
    # the history frame holds them and the stage-2 records, with the three columns it reads
    hist_columns = ["_pos", "phone_n", "dose_n", "vdate"]
    both = concat_frames([select_frame(sent, hist_columns), select_frame(own_stored, hist_columns)])
    del own_stored, sent
    pos_all = both["plain"]["_pos"].to_numpy()
    order = np.argsort(pos_all, kind="stable")
    first = np.ones(len(order), dtype=bool)
    first[1:] = pos_all[order][1:] != pos_all[order][:-1]
    rec, dicts = rows_frame(both, order[first], columns=["_pos", "phone_n", "dose_n", "vdate"])
    del both
    add_record_codes(rec, dicts)
    rp = rec["_pos"].to_numpy()
    # the history frame's row of each own record and of each sent one (sorted positions searched
    # once per row, then gathered per pair)
    own_at, sent_at = np.searchsorted(rp, own), np.searchsorted(rp, sp)
    local = pd.DataFrame({"rec": np.concatenate([own_at[r1], sent_at[r2]]), "reg": np.concatenate([g1, g2])})
    a = st["anchors"]
    anchors = pd.DataFrame({"rec": own_at[a["rec"].to_numpy()], "reg": a["reg"].to_numpy()})
    hist = history_levels(rec, local, anchors, cache=FrameCache(rec, reg))
    levels["phone"] = hist["phone"].to_numpy()
    levels["dose"] = hist["dose"].to_numpy()
    tf = pair_tf(reg, local["reg"].to_numpy())
    other = (LEVELS["id"].index("other_consistent"), LEVELS["id"].index("different"))
    # the records with such a pair, ascending (rp is): marked by row, not sorted per pair
    hit = np.zeros(len(rp), dtype=bool)
    hit[local["rec"].to_numpy()[~np.isin(levels["id"].to_numpy(), other)]] = True
    near = rp[hit].astype(meta["rec_pos"].dtype, copy=False)
    # reg_at: each pair's row in this registry partition (its persons file has the same rows), for the score task
    _save({"meta": meta, "levels": levels, "tf": tf, "reg_at": local["reg"].to_numpy()},
          w.file("compare", f"pairs-{g:05d}.pkl"), raw=True)
    _save(near, w.file("compare", f"near-{g:05d}.pkl"), raw=True)  # read alone by task_near
    return _task_info(t0, partition=g, pairs=len(meta), stage1_kept=len(meta1), stage2_pairs=len(meta2))


def _code_records(frame: pd.DataFrame, reg: pd.DataFrame, dicts: dict, arrow: dict, known_of,
                  absent: str = "skip") -> None:
    """:func:`~vaxlib.match.codes.add_codes` of the compared domains to the records ``frame`` (rows of
    ``dicts``' codes, their distinct values also as the Arrow arrays ``arrow``) against the registry
    partition ``reg``: each domain coded in Arrow (:func:`_record_codes_joined`) where ``known_of(domain)``
    gives the registry's values in code order, else by ``add_codes``.  A domain none of whose columns
    the records hold is skipped (``absent="skip"``, the compare task) or left to ``add_codes``
    (``"add_codes"``, the prepare task, which may add the registry's codes of that domain)."""
    from vaxlib.match.codes import DOMAINS, PREFIX, add_codes

    rest = []
    for domain in _COMPARED_DOMAINS:
        rec_cols = [c for c in DOMAINS[domain][0] if c in frame.columns]
        if not rec_cols and absent == "skip":
            continue
        known = known_of(domain) if rec_cols and all(c in dicts and c in arrow for c in rec_cols) else None
        got = _record_codes_joined([(dicts[c][0], arrow[c]) for c in rec_cols], known) \
            if known is not None else None
        if got is None:
            rest.append(domain)
            continue
        for c, codes in zip(rec_cols, got):
            frame[PREFIX + c] = codes
    if rest:
        add_codes(frame, reg, domains=tuple(rest), dicts=dicts)


def _stored_known(reg: pd.DataFrame, reg_stored):
    """``known_of`` for :func:`_code_records` in the compare task: a domain's values in code order from the
    registry partition as prepare stored it (:func:`_registry_known`), or None where it is not stored so."""
    from vaxlib.match.codes import DOMAINS, PREFIX

    def known_of(domain):
        reg_cols = [c for c in DOMAINS[domain][1] if c in reg.columns]
        if not reg_cols or not isinstance(reg_stored, dict) or not all(PREFIX + c in reg.columns for c in reg_cols):
            return None
        return _registry_known(reg_stored, reg_cols)
    return known_of


def task_near(root: str, g: int) -> np.ndarray:
    """Records with a candidate whose ID is not plainly somebody else's (for :func:`outside_reference`)."""
    return _load(WorkDir(Path(root)).file("compare", f"near-{g:05d}.pkl"))


def task_u(root: str, partitions: int, up: pd.DataFrame, a_rec: np.ndarray, a_reg: np.ndarray,
           n_registry: int) -> dict:
    """u from the local engine's random (record, person) pairs (:func:`~vaxlib.match.model.u_sample_pairs`),
    with the anchors of the sampled persons for the dose-history levels; the rows were kept by
    :func:`task_prepare`."""
    from vaxlib.match.codes import add_codes, add_record_codes
    from vaxlib.match.compare import compare_pairs
    from vaxlib.match.model import u_from_levels

    t0, c0 = time.perf_counter(), time.process_time()
    w = WorkDir(Path(root))
    kept = [_load(w.file("prepare", f"u-{p:05d}.pkl")) for p in range(partitions)]
    both = concat_frames([k["rec"] for k in kept])
    sub_rec, dicts = rows_frame(both, np.argsort(both["plain"]["_pos"].to_numpy(), kind="stable"))
    sub_reg = pd.concat([decode_frame(k["reg"]) for k in kept]).sort_values("_pos").reset_index(drop=True)
    add_codes(sub_rec, sub_reg, domains=_COMPARED_DOMAINS, dicts=dicts)  # as the local engine codes its frames
    add_record_codes(sub_rec, dicts)
    rp, gp = sub_rec["_pos"].to_numpy(), sub_reg["_pos"].to_numpy()
    upairs = pd.DataFrame({"rec": np.searchsorted(rp, up["rec"].to_numpy()),
                           "reg": np.searchsorted(gp, up["reg"].to_numpy())})
    uanch = pd.DataFrame({"rec": np.searchsorted(rp, a_rec), "reg": np.searchsorted(gp, a_reg)})
    u = u_from_levels(compare_pairs(sub_rec, sub_reg, upairs, uanch), n_registry)
    # its CPU seconds apart: a cost fixed by u_pairs, which an estimate must not scale with the pairs
    return {"u": u, "cpu": time.process_time() - c0, **_task_info(t0, partition=-1)}


def task_same_fold(root: str, p: int, positions: np.ndarray, partitions: int, max_name_count: int) -> dict:
    """The namesake calibration's reference records of record partition ``p`` (these ``positions``,
    sorted) whose folded name at most ``max_name_count`` registry persons carry, and the sum of
    those counts.  The counts are the ``tf`` stage's whole-register counts, read from the file of
    each name's hash: the records' names never travel to the client (17M strings at 10M persons)."""
    w = WorkDir(Path(root))
    df = _load(w.file("prepare", f"fold-{p:05d}.pkl"))
    codes, table = df["name_fold"]
    names = table[codes[np.searchsorted(df["pos"], positions)]]
    same = np.zeros(len(names))
    dest = partition_of(names, partitions) if len(names) else np.zeros(0, dtype=np.int64)
    for q, at in enumerate(split_by(np.arange(len(names)), dest, partitions)):
        if len(at):
            counts = tf_lookup(_load(w.file("tf", f"tf-{q:05d}.pkl"))["name"], names[at])
            same[at] = np.where(np.isnan(counts), 0.0, counts)
    sel = same <= max_name_count
    return {"ref": positions[sel], "same_sum": float(same[sel].sum())}


#: the model stage's per-record and per-anchor arrays, one ``.npy`` file each under ``model/``
_CONTEXT = ("reference", "ref", "group", "dn", "vd", "a_rec", "a_reg", "by_group", "group_sorted")


def _save_context(w: "WorkDir", name: str, arr: np.ndarray) -> None:
    """One context array as ``model/ctx-NAME.npy`` (written whole or not at all; ``np.save`` streams
    the array: no pickled copy of it in the client's memory)."""
    path = w.file("model", f"ctx-{name}.npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _context(w: "WorkDir") -> dict:
    """The context arrays, memory-mapped read-only: every task of a worker shares the pages (they
    were loaded whole by each task, about 1 GB per task at 10M persons)."""
    # copy-on-write: writeable views, so the compiled kernels take them without a copy
    return {k: np.load(w.file("model", f"ctx-{k}.npy"), mmap_mode="c") for k in _CONTEXT}


def task_counts(root: str, g: int, widths: tuple[int, ...] | None = None) -> dict:
    """The own-group dose conflicts of partition ``g``'s pairs without ID evidence, then its
    EM tables, history-level counts and namesake cells (sums over partitions).  Each pair's training
    sessions (bit k: session k) and, when ``widths`` fit (:func:`order_widths`), its packed order key
    are kept beside the patch: the session tasks read them instead of deriving them again."""
    from vaxlib.match.compare import LEVELS, group_dose_conflict
    from vaxlib.match.model import fit_counts, namesake_observed, session_masks

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    d = _load(w.file("compare", f"pairs-{g:05d}.pkl"))
    ctx = _context(w)
    meta, levels, tf = d["meta"], d["levels"], d["tf"]
    rp = meta["rec_pos"].to_numpy()
    no_id = (levels["id"].to_numpy() < 0) | ctx["reference"][rp]
    sel = np.flatnonzero(no_id)
    clash = group_dose_conflict(ctx["group"], ctx["dn"], ctx["vd"], rp[sel], meta["reg_pos"].to_numpy()[sel],
                                ctx["a_rec"], ctx["a_reg"], order=(ctx["by_group"], ctx["group_sorted"]))
    levels.loc[sel[clash], "dose"] = LEVELS["dose"].index("conflict")
    # sizes only: a session's vectors over every pair (tens of millions at 10M persons, with
    # their term frequencies nearly one per pair) are gathered only when EM runs on all of them
    masks = session_masks(levels)
    counts = fit_counts(levels, tf, min_session=0, vectors=False, masks=masks)
    observed = namesake_observed(ctx["ref"], rp, levels)
    session = session_bits(masks, len(levels))
    keys = _pack(meta[list(_ORDER_FIELDS)].to_numpy(np.int64), widths) if widths else None
    # only what changed: the pairs themselves stay in the compare stage's file (_counted)
    _save({"dose": levels["dose"].to_numpy(), "no_id": no_id, "session": session, "keys": keys},
          w.file("counts", f"patch-{g:05d}.pkl"), raw=True)
    return {"counts": counts, "observed": observed, **_task_info(t0, partition=g)}


def _counted(w: "WorkDir", g: int) -> dict:
    """Partition ``g``'s pairs as :func:`task_counts` left them: the compare stage's levels with the
    own-group dose conflicts, and the pairs without ID evidence (``no_id``)."""
    d = _load(w.file("compare", f"pairs-{g:05d}.pkl"))
    patch = _load(w.file("counts", f"patch-{g:05d}.pkl"))
    d["levels"]["dose"] = patch["dose"]
    d["no_id"] = patch["no_id"]
    d["session"], d["keys"] = patch["session"], patch["keys"]
    return d


def session_bits(masks: list[np.ndarray], n: int) -> np.ndarray:
    """Each pair's training sessions as bits (bit k: in session k) of the narrowest unsigned integer
    that holds one bit per session (uint8 for up to 8 sessions, up to uint64); more than 64 sessions
    are refused rather than wrapped."""
    if len(masks) > 64:
        raise ValueError(f"{len(masks)} training sessions: at most 64 fit a pair's session bits")
    dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if len(masks) <= np.iinfo(t).bits)
    out = np.zeros(n, dtype=dtype)
    for k, m in enumerate(masks):
        out |= np.asarray(m, dtype=bool).astype(dtype) << dtype(k)
    return out


def _in_session(d: dict, session: int) -> np.ndarray:
    """The pairs of :func:`_counted`'s ``d`` in training session ``session``."""
    bits = d["session"]
    one = bits.dtype.type(1)
    return ((bits >> bits.dtype.type(session)) & one).astype(bool)


#: bits of the packed order key of a pair: stage, first rule, record position, registry position
_ORDER_FIELDS = ("stage", "first", "rec_pos", "reg_pos")


def order_widths(n_records: int, n_registry: int) -> tuple[int, ...] | None:
    """Bit widths that pack a pair's order key (stage, first rule, record and registry position)
    into one uint64 that sorts like the key; None when they do not fit in 64 bits."""
    from vaxlib.match.blocking import RULES

    widths = (1, (len(RULES) * 16).bit_length(), max(n_records - 1, 1).bit_length(),
              max(n_registry - 1, 1).bit_length())
    return widths if sum(widths) <= 64 else None


def _pack(cols: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(len(cols), dtype=np.uint64)
    for i, b in enumerate(widths):
        out = (out << np.uint64(b)) | cols[:, i].astype(np.uint64)
    return out


def task_session_keys(root: str, g: int, session: int, widths: tuple[int, ...] | None) -> np.ndarray:
    """Order keys of partition ``g``'s pairs in one training session (packed into uint64 when
    ``widths`` fit, else the four columns): a session larger than em_sample is sampled over the
    pairs in the local engine's order."""
    d = _counted(WorkDir(Path(root)), g)
    mask = _in_session(d, session)
    if widths:
        return d["keys"][mask]
    return d["meta"].loc[mask, list(_ORDER_FIELDS)].to_numpy(np.int64)


def task_session_sample(root: str, g: int, session: int, chosen: np.ndarray | None,
                        widths: tuple[int, ...] | None = None) -> tuple:
    """Distinct vectors of the sampled pairs of one training session in partition ``g``
    (``chosen``: order keys stage, first, rec_pos, reg_pos, packed into one uint64 and sorted when
    ``widths`` fit, :func:`order_widths`, else the four columns; None: every pair of the session)."""
    from vaxlib.match.model import distinct_vectors

    d = _counted(WorkDir(Path(root)), g)
    meta, levels = d["meta"], d["levels"]
    mask = _in_session(d, session)
    if chosen is None:
        idx = np.flatnonzero(mask)
    elif widths:
        # the session's pairs looked up among the chosen keys (np.isin sorted both, per task)
        sel = np.flatnonzero(mask)
        keys = d["keys"][sel]
        want = np.asarray(chosen, dtype=np.uint64)
        at = np.minimum(np.searchsorted(want, keys), max(len(want) - 1, 0))
        idx = sel[want[at] == keys] if len(want) else sel[:0]
    else:
        keys = pd.MultiIndex.from_frame(meta[list(_ORDER_FIELDS)].astype(np.int64))
        idx = np.flatnonzero(mask & keys.isin(pd.MultiIndex.from_arrays([chosen[:, i] for i in range(4)])))
    return distinct_vectors(levels.iloc[idx], {k: np.asarray(v)[idx] for k, v in d["tf"].items()})


def task_score(root: str, g: int, partitions: int, model) -> dict:
    """Bayes factors and weights of partition ``g``'s pairs, sent to their records' partitions."""
    from vaxlib.match.pipeline import score_pairs

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    d = _counted(w, g)
    # the persons' text is only passed on: taken in Arrow (no Python str made until the finish task)
    reg = _load(w.file("prepare", f"persons-{g:05d}.pkl"), text="arrow")
    meta, levels = d["meta"], d["levels"]
    bf = score_pairs(model, levels, d["tf"], d["no_id"])
    weight = bf.sum(axis=1).to_numpy()
    at = d["reg_at"]  # each pair's person: a row of the persons file (the compare task's registry rows)
    frame = pd.concat([meta.reset_index(drop=True), levels.reset_index(drop=True).add_prefix("level_"),
                       bf.reset_index(drop=True).add_prefix("bf_")], axis=1)
    frame["weight"] = weight
    frame["_at"] = at
    dest = meta["rec_part"].to_numpy()
    out = []
    for piece in split_by(frame, dest, partitions):
        # each person's registry text once per piece (the pairs name it by number), not once per pair
        used, person = np.unique(piece.pop("_at").to_numpy(), return_inverse=True)
        piece["person"] = person.reshape(-1).astype(np.int64)
        out.append({"frame": piece.reset_index(drop=True), "persons": take_frame(reg, used)})
    sizes = _save_pieces(out, w.file("score", f"piece-{g:05d}.pkl"), raw=True)
    return _task_info(t0, partition=g, shuffle_bytes=int(sum(sizes)))


#: the registry columns the record partitions need of their candidates (links, codes, corrections, output)
_PERSON_COLUMNS = ("person_id", "full_name", "dob", "sex", "old_id", "_pos")


def _sorted_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``frame.sort_values(keys, kind="stable")`` with a fresh 0..n-1 index: by one stable argsort of
    the key columns packed into a uint64 when they are non-negative integers that fit (bit widths
    from the data), else by pandas."""
    cols = frame[keys].to_numpy(np.int64) if len(frame) else None
    if cols is not None and cols.min() >= 0:
        widths = tuple(max(int(m), 1).bit_length() for m in cols.max(axis=0))
        if sum(widths) <= 64:
            return frame.take(np.argsort(_pack(cols, widths), kind="stable")).reset_index(drop=True)
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def task_evidence(root: str, r: int, partitions: int, n_registry: int) -> dict:
    """Record partition ``r``'s pairs in the local engine's order and each record's evidence for ρ."""
    from vaxlib.match.model import record_log2_evidence

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    got = [_load_piece(w.file("score", f"piece-{g:05d}.pkl"), r, text="arrow") for g in range(partitions)]
    start = np.cumsum([0] + [len(x["persons"]["plain"]) for x in got[:-1]])
    for x, o in zip(got, start):
        x["frame"]["person"] += o  # numbers into the persons of all pieces, one after the other
    frame = pd.concat([x["frame"] for x in got], ignore_index=True)
    persons = concat_frames([x["persons"] for x in got])  # stored frames, text in Arrow
    del got
    frame = _sorted_by(frame, ["rec_pos", "stage", "first", "reg_pos"])
    pos = _load(w.file("prepare", f"thin-{r:05d}.pkl"))["pos"]
    local = np.searchsorted(pos, frame["rec_pos"].to_numpy())
    log_w = record_log2_evidence(local, frame["weight"].to_numpy(), len(pos), n_registry)
    _save({"frame": frame, "persons": persons}, w.file("evidence", f"pairs-{r:05d}.pkl"), raw=True)
    # read by the client one partition at a time (24M records at 10M persons: as task results
    # they crossed to the client all at once and were pickled again into the stage's results)
    _save({"pos": pos, "log_w": log_w}, w.file("evidence", f"log-w-{r:05d}.pkl"), raw=True)
    return _task_info(t0, partition=r)


class _Captured(Exception):
    """Stops :func:`~vaxlib.match.pipeline.record_matches` once the statuses before the own-history step are known."""

    def __init__(self, arrays: dict):
        super().__init__("captured")
        self.arrays = arrays


#: the record columns :func:`~vaxlib.match.pipeline.record_matches` reads before its own-history
#: step, and those :func:`task_links` sends on (the links task decodes these alone)
_LINK_COLUMNS = ["_pos", "name_fold", "id_kind", "dob_r0", "phone_n", "id_digits"]
#: the prepared records' columns kept again in a small file (``prepare/light-…``): what the links
#: task and the dose history of the compare task read of a partition's own records
_LIGHT_COLUMNS = _LINK_COLUMNS + ["dose_n", "vdate"]
#: the prepared records' columns that the finish task reads (record_matches with its classification
#: and error codes, the person_key fields of the loose records): what ``prepare/rec-…`` keeps
_FINISH_COLUMNS = ["record_id", "full_name", "dob", "dob_r0", "id_number", "id_kind", "id_digits", "id_issues",
                   "id_raw_digits", "sex_p", "name_fold", "given", "phone_n", "_pos"]


def _arrow_series(codes: np.ndarray, table) -> pd.Series:
    """``table[codes]`` (an Arrow string array) as pandas' Arrow-backed text, no Python str made
    (:func:`~vaxlib.match.pipeline.record_matches` takes its Arrow array as it is)."""
    import pyarrow as pa
    from pandas.arrays import ArrowStringArray

    arr = table.take(pa.array(np.asarray(codes, dtype=np.int64))).cast(pa.large_string())
    return pd.Series(ArrowStringArray(pa.chunked_array([arr]), dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _decoded_records(stored: dict, columns: list[str] | None = None) -> pd.DataFrame:
    """A partition's prepared records (:func:`decode_frame`) for the finish task, with ``record_id``
    (one value per record, only passed on to the output tables) left as pandas' Arrow-backed text:
    no str is made for it and :func:`~vaxlib.match.pipeline.record_matches` takes its Arrow array
    as it is.  Given :func:`distinct_tables`' form, one Python str is made per distinct value of the
    other columns (the ID columns' tables hold one entry per typed ID: its kind is one of a handful)."""
    import pyarrow as pa

    kept = {}
    coded = dict(stored["coded"])
    if "record_id" in coded and isinstance(coded["record_id"][1], pa.Array) and (columns is None or "record_id" in columns):
        kept["record_id"] = _arrow_series(*coded.pop("record_id"))
    want = [c for c in stored["columns"] if columns is None or c in columns]
    frame = decode_frame({**stored, "coded": coded}, [c for c in want if c not in kept])
    for c, v in kept.items():
        frame[c] = v
    return frame[want]


def _finish_inputs(w: "WorkDir", r: int, model, columns: list[str] | None = None, persons: bool = True,
                   rec: pd.DataFrame | None = None):
    """``persons``: the candidates' registry text (else their ``_pos`` alone: the links task);
    ``rec``: the partition's records read already (``columns`` of them)."""
    d = _load(w.file("evidence", f"pairs-{r:05d}.pkl"), text="arrow")
    # reg: the candidates' registry text, one row per (piece, person)
    frame, reg = d["frame"], decode_frame(d["persons"], None if persons else ["_pos"])
    if rec is None:
        stored = _load(w.file("prepare", f"rec-{r:05d}.pkl"), text="arrow")
        rec = _decoded_records(stored, columns)
    local = np.searchsorted(rec["_pos"].to_numpy(), frame["rec_pos"].to_numpy())
    rho_pair = model.rho_for(rec["id_kind"].to_numpy(dtype=object))[local]
    return frame, rec, (rec, reg, *_pair_frames(frame, local), frame["weight"].to_numpy(), rho_pair)


def _pair_frames(frame: pd.DataFrame, local: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """record_matches' (pairs, levels, bf) of the evidence frame (``local``: each pair's record
    row), each column as the frame holds it: made with ``copy=False``, pandas does not stack them
    into 2-d blocks (a copy of every pair's levels and factors, read back column by column)."""
    from vaxlib.match.compare import FIELDS

    pairs = pd.DataFrame({"rec": local, "reg": frame["person"].to_numpy(np.int64),
                          "rules": frame["rules"].to_numpy(np.int32)}, copy=False)
    levels = pd.DataFrame({f: frame[f"level_{f}"].to_numpy() for f in FIELDS}, copy=False)
    bf = pd.DataFrame({c[3:]: frame[c].to_numpy() for c in frame.columns if c.startswith("bf_")}, copy=False)
    return pairs, levels, bf


#: the records' columns :func:`~vaxlib.match.pipeline.record_matches` reads of every record in the
#: finish task (its status rules, ρ, the output's record_id); the others are read from the stored
#: columns for the records that need them (:class:`~vaxlib.match.classify.StoredText`)
_FINISH_FRAME_COLUMNS = ["_pos", "record_id", "name_fold", "id_kind", "dob_r0"]


def _stored_columns(stored: dict):
    """A stored frame's columns as :class:`~vaxlib.match.classify.StoredColumns` (codes into their
    tables, the plain ones as object arrays), or None when a coded table is not text Arrow holds
    (then the frame is decoded as it was)."""
    import pyarrow as pa

    from vaxlib.match.classify import StoredColumns

    cols: dict = {}
    for c in stored["columns"]:
        if c in stored["coded"]:
            codes, table = stored["coded"][c]
            if not (isinstance(table, pa.Array) and pa.types.is_string(table.type)):
                return None
            cols[c] = (np.asarray(codes), table)
        elif stored["plain"][c].dtype == object:
            cols[c] = stored["plain"][c].to_numpy(dtype=object)
    return StoredColumns(cols)


def _finish_stored_inputs(w: "WorkDir", r: int, model, registry_ids):
    """:func:`_finish_inputs` for the finish task: the records' frame holds only
    :data:`_FINISH_FRAME_COLUMNS` (each column's distinct values made str once) and the candidates'
    only ``_pos`` and ``person_id``; the text classify reads is handed over as a
    :class:`~vaxlib.match.classify.StoredText` in place of ``registry_ids`` (no str made for the
    records it does not classify, 83 % of them at 1M).  None when a table is not Arrow text."""
    from vaxlib.match.classify import StoredText

    d = _load(w.file("evidence", f"pairs-{r:05d}.pkl"), text="arrow")
    stored = _load(w.file("prepare", f"rec-{r:05d}.pkl"), text="arrow")
    rec_cols, reg_cols = _stored_columns(stored), _stored_columns(d["persons"])
    if rec_cols is None or reg_cols is None:
        return None
    frame = d["frame"]
    reg = decode_frame(d["persons"], ["_pos"])
    reg["person_id"] = _arrow_series(*d["persons"]["coded"]["person_id"]) if "person_id" in d["persons"]["coded"] \
        else decode_frame(d["persons"], ["person_id"])["person_id"]
    # each column's distinct values made str once (id_kind: a handful in a table of one entry per typed
    # ID), record_id left in Arrow (_decoded_records)
    sel = select_frame(stored, _FINISH_FRAME_COLUMNS)
    coded = dict(sel["coded"])
    ids = coded.pop("record_id", None)
    sel = distinct_tables({**sel, "coded": coded})
    if ids is not None:
        sel["coded"]["record_id"] = ids
    rec = _decoded_records(sel, _FINISH_FRAME_COLUMNS)
    local = np.searchsorted(rec["_pos"].to_numpy(), frame["rec_pos"].to_numpy())
    rho_pair = model.rho_for(rec["id_kind"].to_numpy(dtype=object))[local]
    text = StoredText(registry_ids, rec_cols, reg_cols)
    return frame, rec, text, (rec, reg, *_pair_frames(frame, local), frame["weight"].to_numpy(), rho_pair)


#: the own-history statuses as small numbers in the links task's pieces (any other status: an error)
_STATUSES = ("verified", "fix", "review", "unmatched")


def task_links(root: str, r: int, partitions: int, model, settings, n_registry: int) -> dict:
    """Record partition ``r``'s statuses before the own-history step, with each record's best
    candidate (global registry position), sent to the partition of its own-history group key:
    the folded name and phone for the name-and-phone group (a hash of the two values' hashes),
    the passport number for the passport group (:mod:`vaxlib.match.own_history`).  A record with
    both keys goes to both, as two rows that each carry only one key.  The pieces carry numbers and
    the name-and-phone rows' text as codes into its distinct values (:func:`take_frame`, in Arrow):
    no text per row is made, joined or pickled."""
    from vaxlib.match.blocking import _mix
    from vaxlib.match.pipeline import record_matches

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    stored = _load(w.file("prepare", f"light-{r:05d}.pkl"), text="arrow")
    rec = decode_frame(stored, _LINK_COLUMNS)
    frame, rec, args = _finish_inputs(w, r, model, _LINK_COLUMNS, persons=False, rec=rec)
    reg_pos = args[1]["_pos"].to_numpy()  # each candidate person's place in the register

    def capture(rec_, status, best_reg, p_best, conflict):
        raise _Captured({"status": status.copy(), "best": np.where(best_reg >= 0, reg_pos[np.maximum(best_reg, 0)], -1),
                         "p": p_best.copy(), "conflict": conflict.copy()})

    try:
        record_matches(*args, n_registry, settings, pd.Index([]), promote=capture)
        raise RuntimeError("record_matches did not reach the own-history step")
    except _Captured as got:
        out = got.arrays
    fold, phone = rec["name_fold"].to_numpy(dtype=object), rec["phone_n"].to_numpy(dtype=object)
    kind, digits = rec["id_kind"].to_numpy(dtype=object), rec["id_digits"].to_numpy(dtype=object)
    status = np.full(len(rec), -1, dtype=np.int8)
    for k, v in enumerate(_STATUSES):
        status[out["status"] == v] = k
    if (status < 0).any():
        raise RuntimeError("a status the own-history step does not know")
    base = pd.DataFrame({"pos": rec["_pos"].to_numpy(), "status": status, "best": out["best"], "p": out["p"],
                         "conflict": out["conflict"]})
    by_name = np.flatnonzero((fold != "") & (phone != ""))
    by_passport = np.flatnonzero((kind == "passport") & (digits != ""))
    # the name-and-phone group's partition: each distinct name and phone hashed once, then mixed
    key = np.zeros(len(rec), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in ("name_fold", "phone_n"):
            if col in stored["coded"]:
                codes, table = stored["coded"][col]
                h = _value_hash(codes, _np(table))
            else:
                h = stable_hash(rec[col].to_numpy(dtype=object)) if len(rec) else np.zeros(0, dtype=np.uint64)
            key = _mix(key * np.uint64(0x9E3779B97F4A7C15) + h)
    dest_a = (key[by_name] % np.uint64(partitions)).astype(np.int64)
    dest_b = partition_of(digits[by_passport], partitions) if len(by_passport) else np.zeros(0, dtype=np.int64)
    names = select_frame(stored, ["name_fold", "phone_n"])
    if set(names["coded"]) != {"name_fold", "phone_n"}:  # not coded here: coded for the pieces
        names = factor_frame(rec[["name_fold", "phone_n"]])
    pieces = []
    for q, (at_a, at_b) in enumerate(zip(split_by(by_name, dest_a, partitions),
                                         split_by(by_passport, dest_b, partitions))):
        pieces.append({"name": base.iloc[at_a].reset_index(drop=True), "text": take_frame(names, at_a),
                       "passport": base.iloc[at_b].assign(id_digits=digits[at_b]).reset_index(drop=True)})
    size = sum(_save_pieces(pieces, w.file("links", f"piece-{r:05d}.pkl"), raw=True))
    return _task_info(t0, partition=r, shuffle_bytes=size)


def task_own(root: str, q: int, partitions: int) -> dict:
    """:func:`~vaxlib.match.own_history.own_history_links` on the records of the groups whose key
    hashes to ``q`` (every record of a group is here), results sent back to the records' partitions."""
    from vaxlib.match.own_history import own_history_links

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    got = [_load_piece(w.file("links", f"piece-{r:05d}.pkl"), q, text="arrow") for r in range(partitions)]
    # each name and phone as a code into its distinct values (equal codes, equal text) and as text
    both = concat_frames([x["text"] for x in got])
    text, code = {}, {}
    for c in ("name_fold", "phone_n"):
        if c in both["coded"]:
            codes, table = both["coded"][c]
            inv, uniq = _factorize_text(table)
            code[c] = inv[codes] if len(codes) else np.zeros(0, dtype=np.int64)
            text[c] = np.asarray(uniq, dtype=object)[code[c]]
        else:
            text[c] = both["plain"][c].to_numpy(dtype=object)
            code[c] = pd.factorize(text[c])[0]
    del both
    by_name = pd.concat([x["name"] for x in got], ignore_index=True)
    by_passport = pd.concat([x["passport"] for x in got], ignore_index=True)
    del got
    na, nb = len(by_name), len(by_passport)
    empty = lambda n: np.full(n, "", dtype=object)  # noqa: E731
    # the rows of one group key each: name-and-phone rows, then passport rows (own_history_links
    # numbers the groups by first appearance: the order of rows changes no answer)
    # with the names' and phones' codes (-1: no phone), which own_history_links groups by instead of
    # hashing the text again
    phone_code = np.where(text["phone_n"] == "", -1, code["phone_n"]).astype(np.int64)
    # the text columns as objects (own_history_links reads them so): a dict of object arrays would
    # be inferred as pandas' Arrow-backed text, every value encoded and decoded again
    obj = lambda *parts: pd.Series(np.concatenate(parts), dtype=object, copy=False)  # noqa: E731
    d = pd.DataFrame({"pos": np.concatenate([by_name["pos"].to_numpy(np.int64), by_passport["pos"].to_numpy(np.int64)]),
                      "name_fold": obj(text["name_fold"], empty(nb)),
                      "phone_n": obj(text["phone_n"], empty(nb)),
                      "id_kind": obj(empty(na), np.full(nb, "passport", dtype=object)),
                      "id_digits": obj(empty(na), by_passport["id_digits"].to_numpy(dtype=object)),
                      "_c_name_fold": np.concatenate([code["name_fold"].astype(np.int64), np.full(nb, -1, dtype=np.int64)]),
                      "_c_phone_n": np.concatenate([phone_code, np.full(nb, -1, dtype=np.int64)])}, copy=False)
    status = np.asarray(_STATUSES, dtype=object)[np.concatenate([by_name["status"].to_numpy(np.int64),
                                                                 by_passport["status"].to_numpy(np.int64)])]
    num = {c: np.concatenate([by_name[c].to_numpy(), by_passport[c].to_numpy()]) for c in ("best", "p", "conflict")}
    if len(d):
        promote, inherited = own_history_links(d, status, num["best"].astype(np.int64), num["p"].astype(float),
                                               num["conflict"].astype(bool))
    else:
        promote, inherited = np.zeros(0, dtype=bool), np.zeros(0)
    res = pd.DataFrame({"pos": d["pos"].to_numpy(np.int64), "promote": promote, "inherited": inherited})[promote]
    part = _load(w.file("own", "_parts.pkl")) if len(res) else None
    dest = part[res["pos"].to_numpy()] if len(res) else np.zeros(0, dtype=np.int64)
    _save_pieces(split_by(res, dest, partitions), w.file("own", f"piece-{q:05d}.pkl"), raw=True)
    return _task_info(t0, partition=q, records=len(d), promoted=int(promote.sum()))


def task_finish(root: str, r: int, partitions: int, model, settings, n_registry: int) -> dict:
    """Links, status, codes and top candidates of record partition ``r``
    (:func:`vaxlib.match.pipeline.record_matches`), with the own-history promotions the client
    decided; the unlinked records' person_key fields."""
    from vaxlib.match.pipeline import record_matches

    t0 = time.perf_counter()
    w = WorkDir(Path(root))
    registry_ids = pd.Index(_persons(w, r, ["person_id"])["person_id"])
    got = _finish_stored_inputs(w, r, model, registry_ids)
    if got is None:  # a table of other values than text: every column decoded
        frame, rec, args = _finish_inputs(w, r, model)
        text = None
    else:
        frame, rec, text, args = got
    pos = rec["_pos"].to_numpy()
    up = pd.concat([_load_piece(w.file("own", f"piece-{q:05d}.pkl"), r) for q in range(partitions)],
                   ignore_index=True)
    up = up.groupby("pos", sort=False)["inherited"].max()  # a record of two groups: the larger borrowed p
    at = np.searchsorted(pos, up.index.to_numpy())

    def promote(rec_, status, best_reg, p_best, conflict):
        flag, inherited = np.zeros(len(pos), dtype=bool), np.asarray(p_best, dtype=float).copy()
        flag[at] = True
        inherited[at] = np.maximum(inherited[at], up.to_numpy())
        return flag, inherited

    matches, key_linked, cands = record_matches(*args, n_registry, settings, registry_ids if text is None else text,
                                                promote=promote)
    # the final tables of the partition, written here once (the write task only fills in the loose
    # records' person_key): the candidates as the run's Parquet part, linked into the run by the write
    # task; the matches as an uncompressed Arrow file the write task maps (no pickle written and
    # read back, and each table made Arrow once)
    from vaxlib.match.pipeline import MATCH_COLUMNS

    _write_parquet(_arrow_of(cands), w.file("finish", f"candidates-{r:05d}.parquet"))
    loose_rows = np.flatnonzero(~key_linked)
    matches["person_key"] = _person_key_column(matches["person_id"], key_linked)
    _write_arrow(_arrow_of(matches[MATCH_COLUMNS]), w.file("finish", f"matches-{r:05d}.arrow"))
    _save({"rows": loose_rows, "pos": pos[loose_rows]}, w.file("finish", f"loose-{r:05d}.pkl"), raw=True)
    loose_cols = ["_pos", "record_id", "name_fold", "dob_r0", "phone_n", "id_digits", "given"]
    if text is None:
        loose = rec.loc[~key_linked, loose_cols]
    else:  # the columns the frame does not hold, read for the loose records alone
        loose = rec.loc[~key_linked, [c for c in loose_cols if c in rec.columns]]
        for c in ("phone_n", "id_digits", "given"):
            loose[c] = pd.Series(text.rec.values(c, loose_rows), index=loose.index, dtype=object)
        loose = loose[loose_cols]
    return {"loose": loose, "status": matches["status"].value_counts().to_dict(),
            **_task_info(t0, partition=r, records=len(rec), pairs=len(frame))}


def _person_key_column(person_id: pd.Series, key_linked: np.ndarray):
    """The matches' person_key before the loose records get theirs: the linked person where the
    record joins its dose history, else "" (as ``np.where(key_linked, person_id, "")`` of the
    objects, taken in Arrow when person_id is pandas' Arrow-backed text: no str per record)."""
    from pandas.arrays import ArrowStringArray

    if isinstance(person_id.array, ArrowStringArray) and person_id.dtype.na_value is not pd.NA:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(person_id.array)
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        out = pc.if_else(pa.array(np.asarray(key_linked, dtype=bool)), arr, pa.scalar("", arr.type))
        if out.null_count == 0:
            return pd.Series(ArrowStringArray(pa.chunked_array([out]), dtype=person_id.dtype))
    return np.where(key_linked, person_id.to_numpy(dtype=object), "").astype(object)


def _arrow_of(frame: pd.DataFrame):
    """``frame`` as the Arrow table that ``frame.to_parquet(index=False)`` writes (pandas'
    ``PyArrowImpl.write``: :func:`vaxlib.io.write_output`'s files, schema metadata included)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if frame.attrs:
        table = table.replace_schema_metadata({**table.schema.metadata, "PANDAS_ATTRS": json.dumps(frame.attrs)})
    return table


def _write_parquet(table, path: Path) -> None:
    """Write an Arrow table as Parquet as ``DataFrame.to_parquet`` does (snappy), whole or not at all."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="snappy")
    fsync_file(tmp)
    _fault(f"wrote-{path.parent.name}-{path.name}")
    os.replace(tmp, path)


def _write_arrow(table, path: Path) -> None:
    """Write an Arrow table as an uncompressed Arrow IPC file (read back memory-mapped), whole or not at all."""
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    fsync_file(tmp)
    _fault(f"wrote-{path.parent.name}-{path.name}")
    os.replace(tmp, path)


def _place(src: Path, dst: Path) -> None:
    """``src`` (a work file that is a final table already) put at ``dst`` in the run's staging folder:
    hard-linked (no copy; the work folder's name goes when the folder does), or copied when the two
    are on different file systems."""
    try:
        os.link(src, dst)
    except FileExistsError:
        dst.unlink()
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def task_write(root: str, r: int, keys: dict, out: str) -> dict:
    """Put record partition ``r``'s matches and candidates into the run's staging folder
    (``keys``: global record position -> person_key of its loose records): the finish task wrote
    both tables; the matches get their loose records' person_key here."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from vaxlib.runs import fault_point

    w = WorkDir(Path(root))
    loose = _load(w.file("finish", f"loose-{r:05d}.pkl"))
    with pa.memory_map(str(w.file("finish", f"matches-{r:05d}.arrow"))) as source:
        m = pa.ipc.open_file(source).read_all()
    i = m.schema.get_field_index("person_key")
    if len(loose["rows"]):
        col = m.column(i).combine_chunks()
        mask = np.zeros(len(m), dtype=bool)
        mask[loose["rows"]] = True
        fill = pa.array([keys[int(x)] for x in loose["pos"]], type=col.type)
        m = m.set_column(i, m.schema.field(i), pc.replace_with_mask(col, pa.array(mask), fill))
    mdir, cdir = Path(out) / "matches", Path(out) / "candidates"
    mdir.mkdir(exist_ok=True)
    cdir.mkdir(exist_ok=True)
    name = f"part-{r:05d}.parquet"
    fault_point(f"write:{name}")
    pq.write_table(m, mdir / name, compression="snappy")
    fault_point(f"wrote:{name}")
    cand = w.file("finish", f"candidates-{r:05d}.parquet")
    fault_point(f"write:{name}")
    _place(cand, cdir / name)
    fault_point(f"wrote:{name}")
    return {"partition": r, "matches": len(m), "candidates": pq.ParquetFile(cand).metadata.num_rows}


# --------------------------------------------------------------------------- the client
@dataclass
class DaskMatchResult:
    """What a partitioned run hands back (its tables are already written)."""

    model: Any
    stats: dict
    tasks: dict = field(default_factory=dict)  #: stage -> per-partition task info (seconds, peak RSS, bytes)
    timings: dict = field(default_factory=dict)  #: stage -> wall seconds on the client
    resumed: list = field(default_factory=list)  #: stages read back from the work folder
    quarantine: Any = None  #: with ``sources``: the input rows the workers quarantined


def open_cluster(scheduler: str | None = None, workers: int | None = None, memory_limit: str | None = "auto"):
    """A ``distributed.Client``: of the scheduler at ``scheduler``, else of a new LocalCluster with
    one single-threaded worker process per core (the matcher's steps hold the GIL)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise CommandError("--engine dask needs dask and distributed: pip install 'vaxlib[distributed]'") from exc
    if scheduler:
        try:
            return Client(scheduler, timeout="30s")
        except OSError as exc:
            raise CommandError(f"--scheduler {scheduler}: no Dask scheduler answers ({exc})") from None
    # the cluster's own INFO lines (workers starting, retiring) are not the user's business
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.core"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import dask

    n = workers or os.cpu_count() or 1
    # no statistical profiler in the workers: it samples every running task's stack every 10 ms,
    # for a dashboard that a LocalCluster of ours does not show
    # glibc's own malloc tuning in the workers: the nanny's default MALLOC_TRIM_THRESHOLD_ (64 kB) also
    # freezes glibc's mmap threshold at 128 kB, so every array above it is mapped, page-faulted and
    # unmapped anew (1M persons: about 10 % more worker CPU, the same peak RSS at 100k and 1M)
    environ = {k: v for k, v in (dask.config.get("distributed.nanny.pre-spawn-environ", None) or {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.worker.profile.enabled": False,
                          "distributed.nanny.pre-spawn-environ": environ}):
        # no dashboard; its HTTP server (health checks) on a free port, not a warning that 8787 is taken
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                               scheduler_kwargs={"dashboard": False}, memory_limit=memory_limit)
    client = Client(cluster)
    client._vax_cluster = cluster  # closed with the client (close_cluster)
    return client


def _quiet_cluster_logs(level: int = logging.CRITICAL) -> dict[str, int]:
    """Raise the ``distributed`` loggers of this process to ``level``; returns their levels before."""
    before = {}
    for name in ("distributed", "distributed.worker", "distributed.nanny", "distributed.scheduler",
                 "distributed.core", "distributed.comm", "distributed.batched"):
        logger = logging.getLogger(name)
        before[name] = logger.level
        logger.setLevel(level)
    return before


def close_cluster(client) -> None:
    """Close the client and, for a LocalCluster of ours, the cluster, without the cluster's own log lines.

    Shutting down, the workers and nannies log what is only the shutdown seen from inside (a worker's
    heartbeat that meets a closed scheduler: an ERROR with a traceback, seen in CI under load; "Worker
    process died unexpectedly"; INFO lines of closing streams) on the command's stderr, after or instead of
    the one-line answer. Quieted in the workers (``client.run``) and here before closing; restored here after.
    """
    cluster = getattr(client, "_vax_cluster", None)
    if cluster is None:  # somebody else's scheduler: its logs are its operator's
        client.close()
        return
    try:
        client.run(_quiet_cluster_logs)
    except Exception:  # noqa: BLE001 - a worker already gone: nothing of it left to quiet
        pass
    before = _quiet_cluster_logs()
    try:
        client.close()
        cluster.close()
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


class _Refused:
    """A task's :class:`~vaxlib.errors.VaxError` (a bad input part, a repeated key), handed back as
    the task's value: raised on the client as the one-line error, while the worker, which would log
    a failed task as "Compute Failed" with a traceback on the command's stderr, sees none."""

    def __init__(self, exc: Exception):
        self.exc = exc


def _run_task(fn: Callable, *args):
    """``fn(*args)`` on a worker, with Python's cyclic garbage collector paused (as the local engine
    runs, :func:`vaxlib.match.pipeline._without_cyclic_gc`): a task allocates millions of short-lived
    containers in no reference cycle, and each burst set off collections that walked every live
    container of the worker.  Reference counting frees the task's objects; the collector runs again
    after the task."""
    from vaxlib.errors import VaxError
    from vaxlib.io import _gc_paused

    try:
        with _gc_paused():
            return fn(*args)
    except VaxError as exc:
        return _Refused(exc)


def _submit(client, fn: Callable, *args, key: str | None = None):
    """``fn(*args)`` as a task whose VaxError comes back as a value (:func:`_gather` raises it)."""
    return client.submit(_run_task, fn, *args, pure=False, **({"key": key} if key else {}))


def _gather(client, futures: list) -> list:
    """The tasks' results; the first task's VaxError raised here, on the client."""
    out = client.gather(futures)
    for o in out:
        if isinstance(o, _Refused):
            raise o.exc
    return out


def _shared(client, obj):
    """``obj`` sent once to every worker (a future the tasks receive as the value), instead of once
    per task inside the task graph (names of the reference records: 150 MB at 10M persons)."""
    scatter = getattr(client, "scatter", None)
    return scatter([obj], broadcast=True, hash=False)[0] if scatter else obj


def _drop(w: WorkDir, stage: str, prefix: str = "") -> None:
    """Delete a finished stage's data files (``prefix``: only those) once every stage that reads them
    is done; its ``_done.json`` and ``_results.pkl`` stay, so a resumed run still skips it.  The
    work folder of a 10M run holds tens of GB otherwise."""
    for f in (w.root / stage).glob(f"{prefix}*.pkl"):
        if f.name != "_results.pkl":
            f.unlink()


def _resumed(w: WorkDir, name: str, kept: list[str], res: DaskMatchResult, file: str) -> Any:
    """Stage ``name``'s saved result ``file`` when the work folder kept the stage (noted in
    ``res.resumed``), else None: the stage is to be computed and handed to :func:`_finished`."""
    if name not in kept or w.done(name) is None:
        return None
    res.resumed.append(name)
    return _load(w.file(name, file))


def _finished(w: WorkDir, name: str, file: str, result: Any, info: dict | None = None) -> None:
    """Keep stage ``name``'s ``result`` as ``file`` and mark the stage done (then the
    ``VAX_FAULT`` point after it)."""
    _save(result, w.file(name, file))
    w.mark_done(name, info or {})
    _fault(name)


def _stage(client, w: WorkDir, name: str, fn: Callable, args: list[tuple], kept: list[str], res: DaskMatchResult,
           progress: Callable[[str], None]) -> list:
    """Run one stage's tasks (all partitions) unless the work folder has it; returns their results."""
    t = time.perf_counter()
    out = _resumed(w, name, kept, res, "_results.pkl")
    if out is None:
        progress(name)
        out = _gather(client, [_submit(client, fn, *a, key=f"vax-{name}-{i}-{os.urandom(4).hex()}")
                               for i, a in enumerate(args)])
        _finished(w, name, "_results.pkl", out, {"tasks": len(args)})
    res.timings[name] = time.perf_counter() - t
    res.tasks[name] = [o for o in out if isinstance(o, dict) and "seconds" in o]
    return out


def _input_from_frames(w: "WorkDir", index, vaccinations: pd.DataFrame, P: int, kept: list, res, step) -> dict:
    """The ``input`` stage from tables the client holds: hash partitions of both (positions kept)."""
    t = time.perf_counter()
    meta = _resumed(w, "input", kept, res, "_meta.pkl")
    if meta is None:
        step("partition")
        reg_all = index.reg
        n_reg, n_rec = len(reg_all), len(vaccinations)
        vac = vaccinations.reset_index(drop=True).assign(_pos=np.arange(n_rec, dtype=np.int64))
        rpart = partition_of(record_partition_keys(vac), P)
        from vaxlib.match.codes import PREFIX

        # the index's integer codes number the whole register; a partition codes its own pairs
        # (vaxlib.match.codes: codes of different calls are not comparable)
        reg = reg_all.drop(columns=[c for c in reg_all.columns if c.startswith(PREFIX)])
        reg = reg.reset_index(drop=True).assign(_pos=np.arange(n_reg, dtype=np.int64))
        gpart = partition_of(reg["person_id"].to_numpy(dtype=object), P)
        # the whole register's counts of each name and dob value, by the value's hash (as the tf stage
        # writes them from input parts; task_same_fold reads them)
        from vaxlib.match.model import TF_COLUMNS

        tf = {f: tf_pieces(reg[c].value_counts(sort=False), P) for f, c in TF_COLUMNS.items()}
        for q in range(P):
            _save({f: tf_sum([tf[f][q]]) for f in tf}, w.file("tf", f"tf-{q:05d}.pkl"))
        for p, (v, g) in enumerate(zip(split_by(vac, rpart, P), split_by(reg, gpart, P))):
            _save(factor_frame(v.reset_index(drop=True)), w.file("input", f"rec-{p:05d}.pkl"))
            _save(factor_frame(g.reset_index(drop=True)), w.file("input", f"reg-{p:05d}.pkl"))
        meta = {"n_rec": n_rec, "n_reg": n_reg, "quarantine": None}
        _finished(w, "input", "_meta.pkl", meta, {"records": n_rec, "registry": n_reg})
    res.timings["input"] = time.perf_counter() - t
    return meta


def _duplicate_key(kind: str, read: list[dict], w: "WorkDir") -> str | None:
    """``file: row N`` of the first row whose key (person_id, record_id) an earlier row of another
    part already has (read_table quarantines repeats inside one file), else None.  Keys are
    compared by 64-bit hash: two different keys would have to collide to be reported."""
    parts = [x for x in read if x["kind"] == kind]
    h = np.concatenate([x["hashes"] for x in parts])
    srt = np.sort(h)  # the usual case, no key twice: one plain sort says so (a stable argsort costs 3-4 times more)
    if not (srt[1:] == srt[:-1]).any():
        return None
    order = np.argsort(h, kind="stable")  # equal keys keep their input order
    srt = h[order]
    later = order[1:][srt[1:] == srt[:-1]]
    if len(later) == 0:
        return None
    g = int(later.min())
    ends = np.cumsum([len(x["hashes"]) for x in parts])
    i = int(np.searchsorted(ends, g, side="right"))
    j = g - (int(ends[i - 1]) if i else 0)
    rows = _load(w.file("read", f"{kind}-{parts[i]['part']:05d}.pkl"))["rows"]
    return f"{parts[i]['source']}: row {int(rows[j])}"


def _input_from_files(client, w: "WorkDir", sources: dict, P: int, kept: list, res, step) -> dict:
    """The ``read``, ``tf`` and ``input`` stages: the workers read the input parts and
    hash-partition them; the client sees row counts, key hashes and the quarantine."""
    t = time.perf_counter()
    root = str(w.root)
    meta = _resumed(w, "input", kept, res, "_meta.pkl")
    if meta is not None:
        res.timings["input"] = time.perf_counter() - t
        res.quarantine = meta["quarantine"]
        return meta
    files = {k: [str(f) for f in sources[k]] for k in ("registry", "vaccinations")}
    jobs = [(root, k, i, f, P) for k in files for i, f in enumerate(files[k])]
    read = _stage(client, w, "read", task_read, jobs, kept, res, step)
    for x, (_, _, _, f, _) in zip(read, jobs):
        x["source"] = f
    # as the local engine's run: registry rows first, a ``table`` column naming the input
    quarantine = pd.concat([x["quarantine"].assign(table=x["kind"]) for x in read], ignore_index=True)
    counts = {k: [x["rows"] for x in read if x["kind"] == k] for k in files}
    n_reg, n_rec = sum(counts["registry"]), sum(counts["vaccinations"])
    for kind, n in (("registry", n_reg), ("vaccinations", n_rec)):
        if n == 0:
            raise CommandError.say("dask_no_rows", kind=kind, path=", ".join(files[kind][:3]))
        where = _duplicate_key(kind, read, w)
        if where:
            raise CommandError.say("dask_duplicate_key", where=where, kind=kind)
    for x in read:  # 8 bytes per row, kept in the stage's results file; not held to the end of the run
        x.pop("hashes", None)
    offsets = {k: np.concatenate([[0], np.cumsum(counts[k])[:-1]]).astype(np.int64) for k in files}
    _stage(client, w, "tf", task_tf, [(root, q, len(files["registry"])) for q in range(P)], kept, res, step)
    # the prepare tasks gather their partitions from the read stage's pieces (pieces_of)
    starts = {k: [int(x) for x in offsets[k]] for k in files}
    meta = {"n_rec": n_rec, "n_reg": n_reg, "quarantine": quarantine, "pieces": (starts, P, n_reg),
            "rows_in": {k: sum(x["rows_in"] for x in read if x["kind"] == k) for k in files}}
    _finished(w, "input", "_meta.pkl", meta)
    res.quarantine = meta["quarantine"]
    res.timings["input"] = time.perf_counter() - t
    return meta


def run_match_dask(index, vaccinations: pd.DataFrame | None, settings, client, *, partitions: int,
                   work_dir: str | Path, out: str | Path, run_key: str, progress: Callable[[str], None] | None = None,
                   sources: dict[str, list] | None = None) -> DaskMatchResult:
    """Match ``vaccinations`` against a registry index on ``client``'s cluster, writing
    ``out/matches/part-*.parquet`` and ``out/candidates/part-*.parquet``.

    Parameters
    ----------
    index : vaxlib.match.index.RegistryIndex or None
        The prepared register (with the whole register's term frequencies); None with ``sources``.
    vaccinations : DataFrame or None
        The records (contract table); None with ``sources``.
    partitions : int
        P, the number of hash partitions of each table (the answer does not depend on it).
    work_dir : path
        Where the stages keep their files; a rerun with the same ``run_key`` resumes there.
    run_key : str
        Names the inputs, settings, P and code: a work folder of another key is cleared.
    sources : dict, optional
        ``{"registry": [files], "vaccinations": [files]}``: contract files the *workers* read,
        one task per file, the whole input being the files in order (:func:`input_files`).  The
        client then holds no table: out of core.  The quarantined rows come back in
        ``result.quarantine``.

    Raises
    ------
    CommandError
        With ``sources``: a key (person_id, record_id) repeated in two parts, or an input
        without usable rows.
    """
    import inspect

    from vaxlib.match.model import (FitCounts, fit_from_counts, fit_namesake_calibration, merge_vectors,
                                    namesake_from_counts, rho_from_evidence)
    from vaxlib.match.pipeline import _person_keys

    step = progress or (lambda msg: log.info(msg))
    P = int(partitions)
    if P < 1:
        raise CommandError(f"--partitions {P}: must be at least 1")
    s = replace(settings, workers=1)  # the cluster is the parallelism; no forks inside tasks
    w = WorkDir(Path(work_dir))
    kept = w.claim(run_key)
    res = DaskMatchResult(model=None, stats={})
    root = str(w.root)
    caps = dict(s.rule_max_block or {})
    if sources is not None:
        meta = _input_from_files(client, w, sources, P, kept, res, step)
    else:
        meta = _input_from_frames(w, index, vaccinations, P, kept, res, step)
    n_reg, n_rec = meta["n_reg"], meta["n_rec"]

    # -- prepare + stage 1, per partition
    from vaxlib.match.model import u_sample_pairs

    up = u_sample_pairs(n_rec, n_reg, s.u_pairs, s.seed)
    u_rec, u_reg = np.unique(up["rec"].to_numpy()), np.unique(up["reg"].to_numpy())
    u_args = _shared(client, (u_rec, u_reg))
    pieces = meta.get("pieces")
    prep = _stage(client, w, "prepare", task_prepare, [(root, p, s.max_block, u_args, pieces) for p in range(P)],
                  kept, res, step)
    _drop(w, "input", "re")  # prepared now (the prepare stage keeps the registry partitions, coded)
    _drop(w, "read")
    # per-record arrays in input order, one thin file at a time (the client never holds all
    # partitions' thin tables at once: 24M records at 10M persons)
    def thin_files():
        for p in range(P):
            yield p, _load(w.file("prepare", f"thin-{p:05d}.pkl"))

    def glob(name: str, dtype=None) -> np.ndarray:
        out = None
        for _, x in thin_files():
            if out is None:
                out = np.empty(n_rec, dtype=x[name].dtype if dtype is None else dtype)
            out[x["pos"]] = x[name]
        return out

    rec_part = np.empty(n_rec, dtype=np.int16)
    # each record's kind of typed ID as a number into kind_values (8 bytes less per record than text)
    kind_values: list = []
    kind = np.empty(n_rec, dtype=np.int16)
    for p, x in thin_files():
        rec_part[x["pos"]] = p
        local = []
        for v in x["kind_values"]:
            if v not in kind_values:
                kind_values.append(v)
            local.append(kind_values.index(v))
        kind[x["pos"]] = np.asarray(local, dtype=np.int16)[x["kind"]] if len(local) else x["kind"]
    kind_values = np.asarray(kind_values, dtype=object)

    def kinds() -> np.ndarray:
        """Each record's kind as text (object array of the few shared strings), for the estimates."""
        return kind_values[kind]

    def anchors() -> tuple[np.ndarray, np.ndarray]:
        """Every settled (record, person) link by input positions, in the local engine's anchor
        order (by record, then person): only the model stage needs them (16 bytes per anchor)."""
        a_rec = np.concatenate([x["a_rec"] for _, x in thin_files()])
        a_reg = np.concatenate([x["a_reg"] for _, x in thin_files()])
        o = np.lexsort((a_reg, a_rec))
        return a_rec[o], a_reg[o]

    # -- stage 2 blocking: keys shuffled by key hash, joined, pairs to the candidate's partition
    _stage(client, w, "keys", task_keys, [(root, p, P) for p in range(P)], kept, res, step)
    joined = _stage(client, w, "join", task_join, [(root, q, P, s.max_block, caps) for q in range(P)], kept, res,
                    step)
    _drop(w, "keys")
    _stage(client, w, "pairs", task_pairs, [(root, g, P) for g in range(P)], kept, res, step)
    _drop(w, "join")
    _stage(client, w, "rows", task_rows, [(root, p, P) for p in range(P)], kept, res, step)
    compared = _stage(client, w, "compare", task_compare, [(root, g, P) for g in range(P)], kept, res, step)
    _drop(w, "rows")
    _drop(w, "pairs")

    # -- global estimates on the client
    t = time.perf_counter()
    fitted = _resumed(w, "model", kept, res, "fitted.pkl")
    if fitted is None:
        step("model")
        # u: the local engine's random positions, their rows fetched and compared by one worker
        # while the client and the other workers gather the counts
        a_rec, a_reg = anchors()
        with_anchor = np.isin(a_reg, u_reg)
        u_future = _submit(client, task_u, root, P, up, a_rec[with_anchor], a_reg[with_anchor], n_reg)
        near = np.zeros(n_rec, dtype=bool)
        for arr in _gather(client, [_submit(client, task_near, root, g) for g in range(P)]):
            near[arr] = True
        usable = np.isin(kind_values, ["cccd", "cmnd"])[kind]
        reference = usable & ~near
        # reference records whose folded name few registry persons share (the namesake calibration's
        # cells), counted by the workers against the whole register (fit_namesake_calibration's
        # default max_name_count)
        ref_pos = np.flatnonzero(reference)
        max_name_count = inspect.signature(fit_namesake_calibration).parameters["max_name_count"].default
        same = _gather(client, [_submit(client, task_same_fold, root, p, at, P, max_name_count)
                                for p, at in enumerate(split_by(ref_pos, rec_part[ref_pos], P))])
        ref = np.zeros(n_rec, dtype=bool)
        for x in same:
            ref[x["ref"]] = True
        same_sum = float(sum(x["same_sum"] for x in same))
        # own-history groups (folded name, dob, phone) by their 64-bit hash label (task_prepare)
        for name, arr in (("reference", reference), ("ref", ref), ("dn", glob("dn")), ("vd", glob("vd")),
                          ("a_rec", a_rec), ("a_reg", a_reg)):
            _save_context(w, name, arr)
        del a_rec, a_reg, with_anchor
        group = glob("group")
        by_group = np.argsort(group, kind="stable")  # once here, not in every task (group_dose_conflict)
        _save_context(w, "by_group", by_group)
        _save_context(w, "group_sorted", group[by_group])
        del by_group
        _save_context(w, "group", group)
        del group
        from vaxlib.match.model import fit_model

        em_sample = inspect.signature(fit_model).parameters["em_sample"].default  # the local engine's
        widths = order_widths(n_rec, n_reg)
        parts = _gather(client, [_submit(client, task_counts, root, g, widths) for g in range(P)])
        merged = FitCounts.merge([x["counts"] for x in parts])
        rng = np.random.default_rng(s.seed)
        for k, (n, _) in enumerate(merged.sessions):
            if 20 <= n <= em_sample:  # EM on every pair: at most em_sample of them cross to the client
                vecs = _gather(client, [_submit(client, task_session_sample, root, g, k, None) for g in range(P)])
                merged.sessions[k] = (n, merge_vectors(vecs))
            elif n > em_sample:
                keys = np.concatenate(_gather(client, [_submit(client, task_session_keys, root, g, k, widths)
                                                       for g in range(P)]))
                if widths:  # 8 bytes per pair on the client (24M pairs at 10M persons: 192 MB)
                    keys.sort()
                    chosen = keys[np.sort(rng.choice(n, em_sample, replace=False))]  # packed, ascending
                else:
                    keys = keys[np.lexsort(keys.T[::-1])]
                    chosen = keys[np.sort(rng.choice(n, em_sample, replace=False))]
                del keys
                chosen = _shared(client, chosen)
                vecs = _gather(client, [_submit(client, task_session_sample, root, g, k, chosen, widths)
                                        for g in range(P)])
                merged.sessions[k] = (n, merge_vectors(vecs))
        observed = sum(x["observed"] for x in parts)
        u_info = _gather(client, [u_future])[0]
        u = u_info.pop("u")
        res.tasks["u"] = [u_info]  # its CPU seconds: fixed by u_pairs (bench/match_distributed.py's estimate)
        model = fit_from_counts(u, merged, n_reg, em_iterations=s.em_iterations)
        model.namesake = namesake_from_counts(observed, int(ref.sum()), same_sum, n_reg,
                                              model.u, model.m)
        fitted = {"model": model, "n_reference": int(reference.sum())}
        _finished(w, "model", "fitted.pkl", fitted)
        for f in w.root.joinpath("model").glob("ctx-*.npy"):  # read by the counts tasks only
            f.unlink()
    model = fitted["model"]
    res.timings["model"] = time.perf_counter() - t

    # -- scoring, pairs back to their records, ρ
    _stage(client, w, "score", task_score, [(root, g, P, model) for g in range(P)], kept, res, step)
    _drop(w, "counts")
    _drop(w, "compare")  # the scores' tasks were its last readers
    _stage(client, w, "evidence", task_evidence, [(root, r, P, n_reg) for r in range(P)], kept, res, step)
    _drop(w, "score")
    log_w = np.full(n_rec, -np.inf)
    for r in range(P):
        x = _load(w.file("evidence", f"log-w-{r:05d}.pkl"))
        log_w[x["pos"]] = x["log_w"]
    del x
    model.rho, model.rho_by_kind = rho_from_evidence(log_w, kinds())
    del log_w

    # -- links, codes, candidates per record partition; person_key of the loose records centrally
    # own-history promotions (a record joins its own dose history's automatic link): groups span partitions
    _stage(client, w, "links", task_links, [(root, r, P, model, s, n_reg) for r in range(P)], kept, res, step)
    if "own" not in kept:
        _save(rec_part, w.file("own", "_parts.pkl"))  # record position -> its partition, for the answers
    _stage(client, w, "own", task_own, [(root, q, P) for q in range(P)], kept, res, step)
    _drop(w, "links")
    fin = _stage(client, w, "finish", task_finish, [(root, r, P, model, s, n_reg) for r in range(P)], kept, res,
                 step)
    t = time.perf_counter()
    step("person_key")
    loose = pd.concat([x.pop("loose") for x in fin]).sort_values("_pos").reset_index(drop=True)
    keys = _person_keys(loose, np.full(len(loose), None, dtype=object), np.zeros(len(loose), dtype=bool))
    by_part: list[dict] = [{} for _ in range(P)]
    lpos = loose["_pos"].to_numpy()
    for x, k, p in zip(lpos.tolist(), keys, rec_part[lpos].tolist()):
        by_part[p][x] = k
    _fault("write")
    written = _gather(client, [_submit(client, task_write, root, r, by_part[r], str(out)) for r in range(P)])
    res.timings["write"] = time.perf_counter() - t

    status: dict[str, int] = {}
    for x in fin:
        for k, v in x["status"].items():
            status[k] = status.get(k, 0) + int(v)
    stage1_pairs = sum(x["stage1_pairs"] for x in prep)
    kept1 = sum(x["stage1_kept"] for x in compared)
    stage2 = sum(x["stage2_pairs"] for x in compared)
    res.model = model
    res.stats = {
        "records": n_rec, "registry": n_reg, "pairs": kept1 + stage2, "stage1_pairs": int(stage1_pairs),
        "stage2_records": int(sum(x["open"] for x in prep)), "stage2_pairs": int(stage2),
        "status_counts": status, "rho": model.rho, "rho_by_kind": dict(model.rho_by_kind),
        "engine": "dask", "partitions": P,
        "rows_written": {"matches": sum(x["matches"] for x in written),
                         "candidates": sum(x["candidates"] for x in written)},
    }
    res.stats["rule_pairs"] = {}
    for x in joined:
        for k, v in x.get("rule_pairs", {}).items():
            res.stats["rule_pairs"][k] = res.stats["rule_pairs"].get(k, 0) + v
    return res
