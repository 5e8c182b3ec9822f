"""Load a dataset folder for the notebooks: the tables of one ``vax demo``/``vax match`` run.

A folder laid out like ``vax demo``'s output::

    DIR/data/registry.parquet        (or .csv / .xlsx)
    DIR/data/vaccinations.parquet
    DIR/match/matches.parquet        (``vax match --out DIR/match``)
    DIR/match/candidates.parquet

is read into a :class:`Workspace`.  The tables may also sit directly in
``DIR``.  Files go through :func:`vaxlib.io.read_table`, so every contract
format (Parquet, CSV in any encoding, Excel) works; quarantined rows are
counted in the log, never printed.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["Workspace", "WorkspaceError", "load_workspace", "find_table"]

log = logging.getLogger(__name__)

_SUFFIXES = (".parquet", ".csv", ".xlsx")


class WorkspaceError(FileNotFoundError):
    """A table the notebook needs is not in the dataset folder."""


@dataclass
class Workspace:
    """The tables of one dataset folder.

    ``registry`` and ``candidates`` are ``None`` when the folder has none.
    """

    root: Path
    vaccinations: pd.DataFrame
    matches: pd.DataFrame
    candidates: pd.DataFrame | None
    registry: pd.DataFrame | None

    def describe(self) -> str:
        """One line: how many rows each table has (no personal data)."""
        parts = [f"vaccinations {len(self.vaccinations):,}", f"matches {len(self.matches):,}"]
        if self.candidates is not None:
            parts.append(f"candidates {len(self.candidates):,}")
        if self.registry is not None:
            parts.append(f"registry {len(self.registry):,}")
        return f"{self.root}: " + ", ".join(parts)


def find_table(root: str | os.PathLike[str], name: str, subdirs: tuple[str, ...] = ("", "data", "match")) -> Path | None:
    """First ``root/<subdir>/<name>.<parquet|csv|xlsx>`` that exists, else None."""
    root = Path(root)
    for sub in subdirs:
        for suffix in _SUFFIXES:
            p = root / sub / f"{name}{suffix}"
            if p.is_file():
                return p
    return None


def _read_contract(path: Path, kind: str) -> pd.DataFrame:
    from vaxlib.io import read_table

    result = read_table(path, kind)
    if len(result.quarantine):
        log.warning("%s: %d row(s) quarantined on import", path.name, result.quarantine["row"].nunique())
    return result.table


def _read_plain(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_excel(path, dtype=str)


def load_workspace(data_dir: str | os.PathLike[str], *, match_dir: str | os.PathLike[str] | None = None) -> Workspace:
    """Read the vaccinations, matches, candidates and (optional) registry of a dataset folder.

    Parameters
    ----------
    data_dir
        Folder with ``data/`` and ``match/`` (``vax demo`` layout) or with the files themselves.
    match_dir
        Folder of ``vax match`` output when it is elsewhere.

    Raises
    ------
    WorkspaceError
        The vaccinations or matches table is missing (names the folder searched).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise WorkspaceError(f"dataset folder {root} does not exist")
    mroot = Path(match_dir) if match_dir is not None else root
    vpath = find_table(root, "vaccinations")
    mpath = find_table(mroot, "matches")
    if vpath is None:
        raise WorkspaceError(f"no vaccinations.parquet/.csv/.xlsx under {root} (or {root}/data)")
    if mpath is None:
        raise WorkspaceError(f"no matches.parquet under {mroot} (or {mroot}/match): run `vax match` first")
    cpath = find_table(mroot, "candidates")
    rpath = find_table(root, "registry")
    ws = Workspace(
        root=root,
        vaccinations=_read_contract(vpath, "vaccinations"),
        matches=_read_plain(mpath),
        candidates=_read_plain(cpath) if cpath is not None else None,
        registry=_read_contract(rpath, "registry") if rpath is not None else None,
    )
    log.info("loaded %s", ws.describe())
    return ws
