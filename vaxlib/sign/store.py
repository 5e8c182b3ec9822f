"""How a ``vax sign`` run stores its certificates: one table, or the previous run's parts plus a delta.

Why: a rerun with 1 % of a million people changed used to read and rewrite
the 990,000 certificates it keeps (235 MB of HC1 text, then its SHA-256 and
fsync) and their content index: more CPU than everything else the rerun did.
So a rerun against a previous run (``--previous``, or the folder it replaces)
writes a *delta* instead:

* the previous run's parts come in by hard links (:meth:`vaxlib.runs.Staging.link`:
  vaxlib's own files, whose manifest digests are carried over; nothing ever
  writes through a link, so the previous run stays as it was);
* one new part holds this run's new certificates, with its content-index part;
* ``certificates/superseded.parquet`` lists every row of the parts that is no
  longer current (``row``: position in the parts read one after the other;
  ``uvci``: that row's UVCI, for whoever reads the file by hand).

Layouts (the manifest's file list says which; nothing else records it):

* *compact*: ``certificates.parquet`` (the data contract's table, one row per
  signed person) and ``certificate-content.parquet``: what a first run and
  every compaction write;
* *delta*: ``certificates/part-NNNNN.parquet``, ``certificate-content/part-NNNNN.parquet``
  (part k of the index lists part k's certificates row for row) and
  ``certificates/superseded.parquet``.

A run is compacted (written whole) when its superseded rows would exceed
:data:`COMPACT_SHARE` of the rows of its parts or it would have more than
:data:`MAX_PARTS` parts, so reading one costs at most a little more than a
compact table.  Every vaxlib reader goes through :func:`read_certificates`
(``vax verify``, ``vax report``, the next ``--previous``); a delta run has no
``certificates.parquet``, so a reader that does not know the layout fails
loudly instead of reading superseded certificates.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PARTS_DIR", "CONTENT_PARTS_DIR", "SUPERSEDED", "COMPACT_SHARE", "MAX_PARTS", "Layout",
           "layout_of", "read_certificates", "is_sign_run", "part_name", "rows_at", "current_rows", "read_parts"]

PARTS_DIR = "certificates"
CONTENT_PARTS_DIR = "certificate-content"
SUPERSEDED = f"{PARTS_DIR}/superseded.parquet"
#: compact when more than this share of the parts' rows would be superseded (a reader then reads
#: at most ~11 % more rows than a compact table; a rerun with 1 % changed compacts every ~10 runs)
COMPACT_SHARE = 0.10
#: compact when a run would have more parts than this (each part is one more file to open)
MAX_PARTS = 16
_PART = re.compile(r"part-(\d{5})\.parquet")


def part_name(folder: str, k: int) -> str:
    """``folder/part-NNNNN.parquet``."""
    return f"{folder}/part-{k:05d}.parquet"


@dataclass
class Layout:
    """Where a sign run's certificates are (names relative to the run folder, from its manifest)."""

    parts: list[str]  #: certificate tables, in order (``[certificates.parquet]`` when compact)
    content: list[str]  #: content-index tables, part for part (may be empty: no index)
    superseded: str | None  #: the superseded-rows table (None when compact)

    @property
    def compact(self) -> bool:
        return self.superseded is None


def layout_of(manifest: dict) -> Layout | None:
    """The layout a sign run's manifest lists; None when it lists no certificates."""
    from vaxlib.runs import CERTIFICATES
    from vaxlib.sign.previous import CONTENT_FILE

    files = manifest.get("files", {})
    if CERTIFICATES in files:
        return Layout([CERTIFICATES], [CONTENT_FILE] if CONTENT_FILE in files else [], None)
    parts = sorted(n for n in files if n.startswith(PARTS_DIR + "/") and _PART.fullmatch(n[len(PARTS_DIR) + 1:]))
    if not parts or SUPERSEDED not in files:
        return None
    content = [CONTENT_PARTS_DIR + p[len(PARTS_DIR):] for p in parts]
    return Layout(parts, content if all(c in files for c in content) else [], SUPERSEDED)


def is_sign_run(folder: str | os.PathLike) -> bool:
    """A committed ``vax sign`` run with certificates (either layout)."""
    from vaxlib.runs import is_run, read_manifest

    folder = Path(folder)
    if not is_run(folder):
        return False
    try:
        m = read_manifest(folder)
    except Exception:  # noqa: BLE001 - not readable: not a run a reader can use
        return False
    return m.get("command") == "sign" and layout_of(m) is not None


def current_rows(folder: Path, layout: Layout, manifest: dict) -> tuple[np.ndarray, int]:
    """Positions (in the parts read one after the other) of the current rows, and the parts' row count.

    Raises
    ------
    OutputTableError
        The superseded list names a row that is not in the parts or another UVCI there.
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
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="none")


def read_certificates(folder: str | os.PathLike, columns: list[str] | None = None, *,
                      manifest: dict | None = None):
    """The current certificates of a sign run (Arrow table), whatever its layout.

    Parameters
    ----------
    folder
        The run folder (``vax sign --out``).
    columns
        Columns to read (default: the data contract's).
    manifest
        The run's manifest when already checked; otherwise the run is checked
        (:func:`vaxlib.runs.check_run`, sizes) and the superseded list by SHA-256.

    Raises
    ------
    ManifestError, OutputTableError
        Not a complete sign run, or a file changed since it was written.
    """
    from vaxlib.errors import ManifestError
    from vaxlib.runs import check_run
    from vaxlib.schema import OUTPUT_TABLES
    folder = Path(folder)
    if manifest is None:
        manifest = check_run(folder, command="sign", full=False)
    layout = layout_of(manifest)
    if layout is None:
        raise ManifestError(f"{folder}: a sign run without certificates")
    cols = list(columns or OUTPUT_TABLES["certificates"])
    table = read_parts(folder, layout.parts, cols)
    if layout.compact:
        return table
    rows, _ = current_rows(folder, layout, manifest)
    return rows_at(table, rows)


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
