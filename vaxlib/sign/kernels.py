"""Compiled loops (numba) for signing partitioned inputs: a hash of Arrow strings, read in place.

:mod:`vaxlib.sign.stream` puts every key, person and record of a 10M-person data
set into a bucket by a 64-bit hash of its text: ~80 million strings.  Turning
each into a Python ``str`` (``to_numpy``) and hashing those with
:func:`~vaxlib.match.distributed.stable_hash` (SipHash over objects) cost about
0.2 us a string; this loop reads the Arrow column's offsets and bytes as they
are.  The hash decides only which bucket a row goes to (every kind of input
through the same function, in every process), so it need not be SipHash:
FNV-1a over the UTF-8 bytes, then the SplitMix64 finaliser so that the low bits
(``hash % B``) are as mixed as the high ones.  Compiled once into numba's
on-disk cache (:func:`vaxlib.match.kernels._compiled`).
"""
from __future__ import annotations

import numpy as np

from vaxlib.match.kernels import _compiled

__all__ = ["string_hash"]


@_compiled
def _fnv1a_mix(offsets, data):
    n = len(offsets) - 1
    out = np.empty(n, np.uint64)
    prime = np.uint64(1099511628211)
    for i in range(n):
        h = np.uint64(14695981039346656037)
        for j in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[j])) * prime
        h = h ^ (h >> np.uint64(30))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(27))
        h = h * np.uint64(0x94D049BB133111EB)
        h = h ^ (h >> np.uint64(31))
        out[i] = h
    return out


def string_hash(col) -> np.ndarray:
    """64-bit hash (uint64) of each value of an Arrow string column (Array or ChunkedArray; a missing
    value hashes as ``""``), equal in every process and run."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if len(col) == 0:
        return np.zeros(0, np.uint64)
    arr = pc.fill_null(col.cast(pa.large_string()), "")
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(1, np.uint8)
    return _fnv1a_mix(np.ascontiguousarray(offsets), data)
