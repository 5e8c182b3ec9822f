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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["Workspace", "WorkspaceError", "load_workspace", "load_feedback", "find_table", "scoped_registry",
           "scoped_feedback"]

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
    #: provinces the tables were restricted to (None: every province)
    scope: tuple[str, ...] | None = None
    #: where the tables came from when not ``root``: the team database's published version
    source: str | None = None

    def describe(self, lang: str = "en") -> str:
        """One line: how many rows each table has (no personal data), in ``lang`` (English for logs)."""
        from vaxlib import i18n

        parts = [i18n.t(f"review.ws_{name}", lang, n=i18n.fmt_int(len(table), lang))
                 for name, table in (("vaccinations", self.vaccinations), ("matches", self.matches),
                                     ("candidates", self.candidates), ("registry", self.registry))
                 if table is not None]
        if self.scope is not None:
            parts.append(i18n.t("review.ws_provinces", lang,
                                provinces=", ".join(self.scope) or i18n.t("review.ws_none", lang)))
        return f"{self.source or self.root}: " + ", ".join(parts)


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


def scoped_registry(registry: pd.DataFrame, scope: set[str], persons: set[str]) -> pd.DataFrame:
    """Register rows an analyst of ``scope`` may see: residents of those provinces and the persons
    suggested for or competing for their records (people are vaccinated away from home)."""
    resident = registry["province_code"].astype("string").str.strip().isin(scope) \
        if "province_code" in registry else pd.Series(False, index=registry.index)
    return registry[resident.fillna(False).to_numpy() | registry["person_id"].astype(str).isin(persons).to_numpy()]


def load_workspace(data_dir: str | os.PathLike[str], *, match_dir: str | os.PathLike[str] | None = None,
                   scope: Sequence[str] | None = None, ledger: object = None) -> Workspace:
    """Read the vaccinations, matches, candidates and (optional) registry of a dataset folder.

    Parameters
    ----------
    data_dir
        Folder laid out as :class:`vaxlib.runs.RunFolder` (``data/``, ``match/``) or with the input
        tables themselves.
    match_dir
        Folder of a ``vax match`` run when it is not ``data_dir/match``.
    scope
        Provinces (GSO codes) the reader may see, as the ledger reports them
        (:meth:`vaxlib.review.ledger.Ledger.scope`); None for every province.
        Only records those provinces answer for are kept (the facility's
        province, else the residence's: :func:`~vaxlib.review.ledger.answering_province`);
        matches and candidates are read for those records only (filters
        pushed down to Parquet), and the register keeps the provinces'
        residents plus the persons suggested for their records.  A queue
        opened by hand then holds no other province's personal data; the
        ledger's row-level security guards the decisions themselves.
    ledger
        An open :class:`~vaxlib.review.ledger.Ledger`.  On a team (PostgreSQL)
        ledger the tables are read from the database, as that connection's
        role, from what the operator published (``vax ledger publish``):
        ``data_dir``, ``match_dir`` and ``scope`` are then not used, no file
        is read, and row-level security decides which provinces come back
        (:mod:`vaxlib.review.published`).  Otherwise (SQLite, None) the files.

    Raises
    ------
    WorkspaceError
        The vaccinations table or the match run is missing (names the folder searched), or nothing
        is published in the team database.
    vaxlib.errors.ManifestError
        The match folder is not a complete ``vax match`` run (killed, or changed since).
    """
    from vaxlib.io import read_output
    from vaxlib.runs import CANDIDATES, MATCHES, RunFolder, check_run, lists_table

    if ledger is not None:
        from vaxlib.review.published import WORKSPACE_TABLES, is_team_ledger, load_published

        if is_team_ledger(ledger):
            ws = load_published(ledger, WORKSPACE_TABLES).workspace(data_dir)
            log.info("loaded %s", ws.describe())
            return ws
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
    vaccinations = _read_contract(vpath, "vaccinations")
    rows = None
    if scope is not None:
        from vaxlib.review.ledger import answering_province

        allowed = {str(p) for p in scope}
        vaccinations = vaccinations[answering_province(vaccinations).isin(allowed).to_numpy()].reset_index(drop=True)
        ids = sorted(vaccinations["record_id"].astype(str).unique())
        rows = [("record_id", "in", ids)] if ids else [("record_id", "==", "\x00no record\x00")]
    matches = read_output(mdir / MATCHES, "matches", filters=rows)
    candidates = read_output(mdir / CANDIDATES, "candidates", filters=rows) if lists_table(files, CANDIDATES) else None
    registry = _read_contract(rpath, "registry") if rpath is not None else None
    if scope is not None and registry is not None:
        persons = set(matches["person_id"].dropna().astype(str))
        if candidates is not None:
            persons |= set(candidates["person_id"].dropna().astype(str))
        registry = scoped_registry(registry, allowed, persons).reset_index(drop=True)
    ws = Workspace(root=root, vaccinations=vaccinations, matches=matches, candidates=candidates,
                   registry=registry, scope=None if scope is None else tuple(sorted(allowed)))
    log.info("loaded %s", ws.describe())
    return ws


def scoped_feedback(queue: pd.DataFrame, scope: Sequence[str], record_ids: "set[str] | None" = None) -> pd.DataFrame:
    """Feedback items of the ``scope`` provinces, or linked to one of ``record_ids`` (that scope's records)."""
    allowed = {str(p) for p in scope}
    mine = queue["province"].astype("string").isin(allowed).fillna(False) if "province" in queue \
        else pd.Series(False, index=queue.index)
    if record_ids and "record_ids" in queue:
        linked = queue["record_ids"].fillna("").astype(str).map(
            lambda s: any(r in record_ids for r in s.split(";") if r))
        mine |= linked
    return queue[mine.to_numpy()].reset_index(drop=True)


def load_feedback(data_dir: str | os.PathLike[str], *, scope: Sequence[str] | None = None,
                  record_ids: "set[str] | None" = None,
                  ledger: object = None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The open feedback queue of ``vax feedback`` and the citizens' messages, or ``(None, None)``.

    With ``scope`` (GSO codes) only items of those provinces, or linked to one of
    ``record_ids`` (the scoped workspace's records), are kept, and only their messages read.
    On a team ``ledger`` both come from the database as that role may read them
    (see :func:`load_workspace`); the folder is not read.
    """
    if ledger is not None:
        from vaxlib.review.published import FEEDBACK_TABLES, is_team_ledger, load_published

        if is_team_ledger(ledger):
            return load_published(ledger, FEEDBACK_TABLES).feedback()
    queue_path = find_table(data_dir, "queue", subdirs=("feedback",))
    if queue_path is None:
        return None, None
    queue = pd.read_parquet(queue_path)
    if scope is not None:
        queue = scoped_feedback(queue, scope, record_ids)
    messages_path = find_table(data_dir, "feedback", subdirs=("data",))
    messages = None
    if messages_path is not None:
        ids = queue["feedback_id"].astype(str).tolist()
        messages = pd.read_parquet(messages_path, columns=["feedback_id", "message"],
                                   filters=[("feedback_id", "in", ids)] if scope is not None and ids else None)
        if scope is not None:
            messages = messages[messages["feedback_id"].astype(str).isin(ids)].reset_index(drop=True)
    return queue, messages
