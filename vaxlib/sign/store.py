"""How a ``vax sign`` run stores its content index: one table, or the previous run's parts plus a delta.

``certificates.parquet`` is the data contract's table: every run writes it
whole, one row per signed person.  The content index beside it
(:mod:`vaxlib.sign.previous`: what each certificate says, as hashes) is
vaxlib's own bookkeeping, read only by the next rerun; rewriting its 58 MB per
million people on every rerun was pure cost.  So a rerun against a previous run
writes it as a *delta*:

* the previous run's index parts come in by hard links (:meth:`vaxlib.runs.Staging.link`:
  vaxlib's own files, whose manifest digests are carried over; nothing ever
  writes through a link, so the previous run stays as it was);
* one new part lists this run's new certificates;
* ``certificate-content/superseded.parquet`` lists every row of the parts that
  is no longer current (``row``: position in the parts read one after the
  other; ``uvci``: that row's UVCI, for whoever reads the file by hand).

Layouts (the manifest's file list says which; nothing else records it):

* *compact*: ``certificate-content.parquet``, row i describing row i of
  ``certificates.parquet``: what a first run and every compaction write;
* *delta*: ``certificate-content/part-NNNNN.parquet`` and ``certificate-content/superseded.parquet``;
  the parts without the superseded rows describe ``certificates.parquet`` row
  for row (a delta run writes its kept certificates first, in their previous
  order, then its new ones).

A run is compacted (written whole) when its superseded rows would exceed
:data:`COMPACT_SHARE` of the rows of its parts or it would have more than
:data:`MAX_PARTS` parts.  The signing ledger is appended the same way
(:mod:`vaxlib.sign.ledger`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CONTENT_PARTS_DIR", "SUPERSEDED", "COMPACT_SHARE", "MAX_PARTS", "Layout", "layout_of",
           "part_name", "rows_at", "current_rows", "read_parts"]

CONTENT_PARTS_DIR = "certificate-content"
SUPERSEDED = f"{CONTENT_PARTS_DIR}/superseded.parquet"
#: compact when more than this share of the parts' rows would be superseded (reading the index then
#: costs at most ~11 % more than a compact one; a rerun with 1 % changed compacts every ~10 runs)
COMPACT_SHARE = 0.10
#: compact when a run would have more parts than this (each part is one more file to open)
MAX_PARTS = 16


def part_name(folder: str, k: int) -> str:
    """``folder/part-NNNNN.parquet``."""
    return f"{folder}/part-{k:05d}.parquet"


@dataclass
class Layout:
    """Where a sign run's content index is (names relative to the run folder, from its manifest)."""

    parts: list[str]  #: index tables, in order (``[certificate-content.parquet]`` when compact; may be empty)
    superseded: str | None  #: the superseded-rows table (None when compact)

    @property
    def compact(self) -> bool:
        return self.superseded is None


def layout_of(manifest: dict) -> Layout:
    """The content-index layout a sign run's manifest lists (no parts: no index)."""
    from vaxlib.sign.previous import CONTENT_FILE

    files = manifest.get("files", {})
    if CONTENT_FILE in files or SUPERSEDED not in files:
        return Layout([CONTENT_FILE] if CONTENT_FILE in files else [], None)
    parts = sorted(n for n in files if n.startswith(CONTENT_PARTS_DIR + "/part-") and n.endswith(".parquet"))
    return Layout(parts, SUPERSEDED)


def current_rows(folder: Path, layout: Layout, manifest: dict) -> tuple[np.ndarray, int]:
    """Positions (in the parts read one after the other) of the current rows, and the parts' row count.

    Raises
    ------
    ManifestError
        The superseded list changed after its run.
    OutputTableError
        It names a row that is not in the parts.
    """
    import pyarrow.parquet as pq

    from vaxlib.io import OutputTableError
    from vaxlib.sign.previous import check_file

    n = sum(pq.ParquetFile(folder / p).metadata.num_rows for p in layout.parts)
    if layout.compact:
        return np.arange(n), n
    check_file(folder, layout.superseded, manifest)
    sup = pq.read_table(folder / layout.superseded, columns=["row"])["row"].to_numpy()
    if len(sup) and (sup.min() < 0 or sup.max() >= n):
        raise OutputTableError("danh sách hàng bị thay thế trỏ ra ngoài bảng", "superseded row out of range",
                               folder / layout.superseded, column="row")
    mask = np.ones(n, bool)
    mask[sup] = False
    return np.flatnonzero(mask), n


def read_parts(folder: Path, names: list[str], columns: list[str] | None = None):
    """The tables ``names`` read one after the other (one thread: as fast on a busy 2-core machine)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(folder / n, columns=columns, use_threads=False) for n in names]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def rows_at(table, rows: np.ndarray):
    """``table.take(rows)`` for sorted, unique ``rows``, as zero-copy slices of its runs of consecutive rows.

    A rerun keeps 99 % of a million certificates: ``take``/``filter`` copied
    every HC1 string (1.3 CPU s at 1M), slices copy nothing.
    """
    import pyarrow as pa

    if not len(rows):
        return table.slice(0, 0)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(rows)]])
    return pa.concat_tables([table.slice(int(rows[a]), int(b - a)) for a, b in zip(starts, ends)])
