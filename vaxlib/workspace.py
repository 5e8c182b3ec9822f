"""Load a dataset folder for the notebooks: the tables of one ``vax demo``/``vax match`` run.

A folder laid out like ``vax demo``'s output (:class:`vaxlib.runs.RunFolder`:
``DIR/data/`` with the registry and vaccinations, ``DIR/match/`` a complete
``vax match`` run) is read into a :class:`Workspace`.  The input tables may
also sit directly in ``DIR``.  Files go through :func:`vaxlib.io.read_table`, so every contract
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


def find_table(root: str | os.PathLike[str], name: str, subdirs: tuple[str, ...] = ("", "data")) -> Path | None:
    """First ``root/<subdir>/<name>.<parquet|csv|xlsx>`` that exists, else None (input tables only)."""
    root = Path(root)
    for sub in subdirs:
        for suffix in _SUFFIXES:
            p = root / sub / f"{name}{suffix}"
            if p.is_file():
                return p
    return None


def _read_contract(path: Path, kind: str) -> pd.DataFrame:
    from vaxlib.io import read_table
    from vaxlib.runs import check_input

    check_input(path)
    result = read_table(path, kind)
    if len(result.quarantine):
        log.warning("%s: %d row(s) quarantined on import", path.name, result.quarantine["row"].nunique())
    return result.table


def load_workspace(data_dir: str | os.PathLike[str], *, match_dir: str | os.PathLike[str] | None = None) -> Workspace:
    """Read the vaccinations, matches, candidates and (optional) registry of a dataset folder.

    Parameters
    ----------
    data_dir
        Folder laid out as :class:`vaxlib.runs.RunFolder` (``data/``, ``match/``) or with the input
        tables themselves.
    match_dir
        Folder of a ``vax match`` run when it is not ``data_dir/match``.

    Raises
    ------
    WorkspaceError
        The vaccinations table or the match run is missing (names the folder searched).
    vaxlib.errors.ManifestError
        The match folder is not a complete ``vax match`` run (killed, or changed since).
    """
    from vaxlib.io import read_output
    from vaxlib.runs import CANDIDATES, MATCHES, RunFolder, check_run

    root = Path(data_dir)
    if not root.is_dir():
        raise WorkspaceError(f"dataset folder {root} does not exist")
    rf = RunFolder(root)
    mdir = Path(match_dir) if match_dir is not None else rf.match
    vpath = rf.table("vaccinations")
    if vpath is None:
        raise WorkspaceError(f"no vaccinations.parquet/.csv/.xlsx under {root} (or {rf.data})")
    if not mdir.is_dir():
        raise WorkspaceError(f"no match run in {mdir}: run `vax match --out {mdir}` first")
    files = check_run(mdir, command="match")["files"]
    rpath = rf.table("registry")
    ws = Workspace(
        root=root,
        vaccinations=_read_contract(vpath, "vaccinations"),
        matches=read_output(mdir / MATCHES, "matches"),
        candidates=read_output(mdir / CANDIDATES, "candidates") if CANDIDATES in files else None,
        registry=_read_contract(rpath, "registry") if rpath is not None else None,
    )
    log.info("loaded %s", ws.describe())
    return ws
