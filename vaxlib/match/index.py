"""A registry index: the registry side of matching, prepared once and reused.

Analysts re-run `vax match` after every batch of fixes against the same
register, so everything that depends on the register alone is computed once
and stored as Parquet: the prepared name, dob and ID forms
(:func:`~vaxlib.match.prepare.prepare_registry`), the term frequencies
(:func:`~vaxlib.match.model.add_term_frequencies`), the integer codes of its
compared text fields (:func:`~vaxlib.match.codes.registry_codes`) and its
integer keys of every text blocking rule
(:func:`~vaxlib.match.blocking.registry_key_codes`).
Text columns are stored dictionary-encoded and read back as integer codes
into one table of distinct values, so equal values share one Python string.

An index is keyed by the register file's content hash and by a hash of the
code that prepares it: a register that changed, or a newer vaxlib, makes the
index stale, and a stale index is rebuilt, never used.  Building is a
function of the register alone (a register partition gives that partition's
index), and the folder is written whole or not at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vaxlib.errors import VaxError
from vaxlib.runs import file_digest

__all__ = ["RegistryIndex", "build_index", "save_index", "load_index", "registry_digest", "default_index_path",
           "RegistryIndexError", "INDEX_FORMAT"]

#: bump when the stored layout changes
INDEX_FORMAT = 2
_DATA = "registry-index.parquet"
_QUARANTINE = "registry-quarantine.parquet"
_MANIFEST = "index.json"
#: modules whose code decides the index's content
_CODE = ("vaxlib/match/prepare.py", "vaxlib/match/blocking.py", "vaxlib/match/index.py", "vaxlib/match/codes.py",
         "vaxlib/vn/text.py")


class RegistryIndexError(VaxError):
    """A registry index that cannot be used (missing, stale, other format); the message says which."""


@dataclass
class RegistryIndex:
    """The prepared registry (positions 0..N-1) with its derived columns, and the
    registry rows quarantined when it was read."""

    reg: pd.DataFrame
    #: text rule -> the registry's int64 blocking keys, -1 = none (:func:`~vaxlib.match.blocking.registry_key_codes`)
    keys: dict
    quarantine: pd.DataFrame
    registry_sha256: str = ""


def registry_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a register file's bytes (what an index is keyed by)."""
    return file_digest(path)


def code_digest() -> str:
    """SHA-256 of the code that prepares an index (a newer vaxlib makes old indexes stale)."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256(str(INDEX_FORMAT).encode())
    for rel in _CODE:
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def default_index_path(registry: str | os.PathLike[str]) -> Path:
    """Where `vax match` keeps the index of a register file: a hidden folder beside it."""
    p = Path(registry)
    return p.with_name(f".{p.name}.vaxindex")


def build_index(registry: pd.DataFrame, quarantine: pd.DataFrame | None = None,
                registry_sha256: str = "") -> RegistryIndex:
    """Prepare a register (contract table) into an index."""
    from vaxlib.match.blocking import registry_key_codes
    from vaxlib.match.codes import registry_codes
    from vaxlib.match.model import add_term_frequencies
    from vaxlib.match.prepare import prepare_registry

    reg = add_term_frequencies(prepare_registry(registry))
    registry_codes(reg)
    q = quarantine if quarantine is not None else pd.DataFrame()
    return RegistryIndex(reg=reg, keys=registry_key_codes(reg), quarantine=q, registry_sha256=registry_sha256)


def save_index(index: RegistryIndex, folder: str | os.PathLike[str]) -> Path:
    """Write an index folder atomically: a complete new folder replaces the old one, or nothing changes.

    An existing ``folder`` is replaced only when it is a registry index
    (it holds ``index.json``): vaxlib never deletes what it did not create.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    if folder.exists() and not (folder / _MANIFEST).exists():
        raise RegistryIndexError(f"{folder}: exists and is not a registry index; choose another --index folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; an index is as readable as its register
    try:
        table = pa.Table.from_pandas(index.reg, preserve_index=False)
        for name, keys in index.keys.items():
            table = table.append_column(f"_key_{name}", pa.array(keys))
        pq.write_table(table, tmp / _DATA, use_dictionary=True)
        index.quarantine.to_parquet(tmp / _QUARANTINE, index=False)
        manifest = {"format": INDEX_FORMAT, "registry_sha256": index.registry_sha256, "code_sha256": code_digest(),
                    "rows": len(index.reg), "columns": list(index.reg.columns), "key_rules": list(index.keys)}
        with open(tmp / _MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        old = None
        if folder.exists():
            old = folder.with_name(f"{tmp.name}-old")
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _object_column(col) -> np.ndarray:
    """A dictionary-encoded Arrow column as an object array of shared str ("" for null)."""
    import pyarrow as pa

    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        values = np.append(arr.dictionary.to_numpy(zero_copy_only=False), "")
        idx = arr.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)
        return values[idx]
    return np.asarray(arr.fill_null("").to_numpy(zero_copy_only=False), dtype=object)


def load_index(folder: str | os.PathLike[str], registry_sha256: str) -> RegistryIndex:
    """Read an index folder, checking it belongs to this register file and this code.

    Raises
    ------
    RegistryIndexError
        When the folder holds no index, or a stale one (register changed,
        other vaxlib code or format).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    try:
        manifest = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistryIndexError(f"{folder}: no registry index ({exc.__class__.__name__})") from exc
    if manifest.get("format") != INDEX_FORMAT or manifest.get("code_sha256") != code_digest():
        raise RegistryIndexError(f"{folder}: index written by other vaxlib code; it is rebuilt")
    if manifest.get("registry_sha256") != registry_sha256:
        raise RegistryIndexError(f"{folder}: the register changed since the index was built; it is rebuilt")
    schema = pq.read_schema(folder / _DATA)
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    table = pq.read_table(folder / _DATA, read_dictionary=text)
    cols, keys = {}, {}
    for name in table.column_names:
        col = table.column(name)
        if name.startswith("_key_"):
            keys[name[len("_key_"):]] = col.to_numpy()
        else:
            cols[name] = _object_column(col) if name in text else col.to_numpy()
    # object columns of shared str, as prepare_registry makes them: pandas would otherwise infer its
    # Arrow-backed str dtype, and every comparison would convert them back to new Python strings
    # copy=False: one block per column, as read (a consolidated 2-d block would copy every column again)
    reg = pd.DataFrame({k: pd.Series(v, dtype=object, copy=False) if k in text else v for k, v in cols.items()},
                       copy=False)
    if len(reg) != manifest.get("rows"):
        raise RegistryIndexError(f"{folder}: index holds {len(reg)} rows, its manifest {manifest.get('rows')}")
    quarantine = pd.read_parquet(folder / _QUARANTINE)
    return RegistryIndex(reg=reg, keys=keys, quarantine=quarantine, registry_sha256=registry_sha256)
