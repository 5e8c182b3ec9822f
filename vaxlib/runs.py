"""Run folders: where every command writes, atomically, with a manifest.

Two things live here.

:class:`RunFolder` owns the layout of a working folder (what ``vax demo``
builds, and what ``vax report``/``vax feedback``/the notebooks read)::

    DIR/data/              registry, vaccinations, feedback (+ truth)    vax synth
    DIR/match/             matches, candidates, model, stats, quarantine vax match
    DIR/evaluation/        evaluation.json, tables, figure               vax evaluate
    DIR/apply/             corrected table, changes, re-import xlsx,     vax apply
                           quarantine, apply_summary.json
    DIR/match-corrected/   as match/, on the corrected table             vax match
    DIR/keys/              signing keys (not a run: never replaced)       vax keys init
    DIR/certificates/      certificates.parquet (+ QR images)            vax sign
    DIR/feedback/          feedback_status, queue, links, summary         vax feedback
    DIR/reports/           province reports                              vax report
    DIR/ledger.db          the analysts' decisions (never touched by a run)

Nothing else in vaxlib spells these names: ask a :class:`RunFolder`.

:func:`atomic_run` writes one *run* (one command's output folder)::

    with atomic_run(out_dir, command="match", args=vars(args),
                    inputs=[registry, vaccinations], settings=asdict(settings)) as staging:
        write_output(result.matches, staging / MATCHES, "matches")
        ...

The body writes into a staging folder beside ``out_dir``.  Only when it
returns does vaxlib fsync every file, write ``_manifest.json`` (command,
arguments, input content hashes, rows per table, code version, settings
actually used, size and SHA-256 of every file) and swap the staging folder
into place with renames.  So:

* a failed or killed run leaves the previous result exactly as it was
  (the new files never were in ``out_dir``);
* no file of the previous run survives into the new one (the new folder is
  built from empty; a ``quarantine.parquet`` the new run does not write is gone);
* nothing vaxlib did not create is deleted: entries of ``out_dir`` that the
  previous manifest does not list (an analyst's ``ledger.db``, notes) are moved
  into the new folder;
* a reader calls :func:`check_run` and refuses a folder whose manifest is
  missing or does not match its files.

Crash safety of the swap.  With ``X`` the output folder, the steps are:
write ``.X.vaxtmp-<pid>-<token>/`` (fsync'd, manifest last); rename ``X`` to
``.X.vaxold-<pid>-<token>``; rename the staging folder to ``X`` (the commit
point); move foreign entries from the old folder into ``X``; delete the old
folder's vaxlib files.  :func:`recover` (run under a lock on the parent folder
before every write and before every check) finishes or undoes what a killed
process left: no ``X`` but an old folder -> the old folder goes back (the run
did not commit); ``X`` and an old folder -> the foreign entries move into
``X`` and the rest of the old folder is removed; staging folders of dead
processes are removed.  Leftovers are recognised by their names *and* by the
marker file inside them, so nothing a user named alike is touched.

File modes.  A run's files hold personal data (names, ID numbers): every
run but ``report`` (aggregates only) leaves its folder and files with no
permission for "other" users (``0750``/``0640`` under the usual umask 022,
stricter under a stricter umask), so only the operator account, and a group
the operator chooses, can read them.  Analysts in team mode read the review
queue from the database instead (``vax ledger publish``).

Fault injection (tests and ``bench/faults.py``): ``VAX_FAULT`` holds
comma-separated ``ACTION:POINT`` items, ``ACTION`` ``kill`` (SIGKILL this
process) or ``enospc`` (raise ``OSError(ENOSPC)``); :func:`fault_point`
is called at ``write:<file name>`` by :mod:`vaxlib.io`'s writers and at
``<command>:staged`` / ``<command>:manifest`` / ``<command>:swap`` /
``<command>:swapped`` here.  Unset, it costs one dictionary lookup.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import functools
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import signal
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from vaxlib.errors import ManifestError, RunError

__all__ = [
    "RunFolder",
    "Staging",
    "atomic_run",
    "read_manifest",
    "check_run",
    "check_input",
    "is_current",
    "run_file",
    "is_run",
    "recover",
    "fault_point",
    "die_with_parent",
    "file_digest",
    "unchanged_since",
    "STAT_TRUST_BYTES",
    "code_version",
    "MANIFEST",
    "MATCHES", "CANDIDATES", "MODEL", "MATCH_STATS", "QUARANTINE", "lists_table",
    "CORRECTED", "CHANGES", "CHANGES_CSV", "REIMPORT_XLSX", "APPLY_SUMMARY",
    "CERTIFICATES", "FEEDBACK_STATUS", "FEEDBACK_QUEUE", "FEEDBACK_LINKS", "FEEDBACK_SUMMARY",
]

log = logging.getLogger(__name__)

#: the manifest's file name inside every run folder
MANIFEST = "_manifest.json"
#: manifest format version
MANIFEST_FORMAT = 1
_MARKER = ".vaxlib-staging"  # inside staging and old folders: "vaxlib made this"
_TMP = ".vaxtmp-"
_OLD = ".vaxold-"

# file names inside the runs (one place; RunFolder joins them to its folders)
MATCHES = "matches.parquet"
CANDIDATES = "candidates.parquet"
MODEL = "model.json"
MATCH_STATS = "match-stats.json"
QUARANTINE = "quarantine.parquet"
CORRECTED = "vaccinations_corrected.parquet"
CHANGES = "changes.parquet"
CHANGES_CSV = "changes.csv"
REIMPORT_XLSX = "vaccinations_reimport.xlsx"
APPLY_SUMMARY = "apply_summary.json"
CERTIFICATES = "certificates.parquet"
FEEDBACK_STATUS = "feedback_status.parquet"
FEEDBACK_QUEUE = "queue.parquet"
FEEDBACK_LINKS = "feedback_links.parquet"
FEEDBACK_SUMMARY = "feedback_summary.json"

_TABLE_SUFFIXES = (".parquet", ".csv", ".xlsx")
#: runs whose files may be readable by every user of the machine (aggregates only)
PUBLIC_RUNS = frozenset({"report"})
#: permission bits a private run's files and folders never have ("other" users)
_OTHER = stat.S_IRWXO


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class RunFolder:
    """The layout of a working folder (see the module docstring).

    Attributes are paths; nothing is created or read by constructing one.

    Examples
    --------
    >>> rf = RunFolder("outputs/demo")
    >>> rf.matches.name, rf.match.name
    ('matches.parquet', 'match')
    """

    root: Path

    def __init__(self, root: str | os.PathLike[str]):
        object.__setattr__(self, "root", Path(root))

    # stage folders (each one a run written by atomic_run, except keys/)
    @property
    def data(self) -> Path:
        """``vax synth`` output: the contract's input tables (and the synthetic truth)."""
        return self.root / "data"

    @property
    def match(self) -> Path:
        """``vax match`` on the original records."""
        return self.root / "match"

    @property
    def match_corrected(self) -> Path:
        """``vax match`` on ``vax apply``'s corrected table."""
        return self.root / "match-corrected"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def apply(self) -> Path:
        return self.root / "apply"

    @property
    def keys(self) -> Path:
        """Signing keys (``vax keys init``); a key store, never replaced by a run."""
        return self.root / "keys"

    @property
    def certificates_dir(self) -> Path:
        return self.root / "certificates"

    @property
    def feedback_dir(self) -> Path:
        return self.root / "feedback"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def report_cache(self) -> Path:
        return self.root / "report-cache"

    @property
    def ledger(self) -> Path:
        """The analysts' decision ledger (SQLite); no run ever removes it."""
        return self.root / "ledger.db"

    # files
    def table(self, stem: str) -> Path | None:
        """``data/<stem>`` as Parquet, CSV or xlsx (first that exists), or the folder itself; None if absent."""
        for folder in (self.data, self.root):
            for suffix in _TABLE_SUFFIXES:
                p = folder / f"{stem}{suffix}"
                if p.is_file():
                    return p
        return None

    def table_files(self, stem: str) -> list[Path]:
        """The files of input table ``stem``: ``[data/<stem>.parquet|.csv|.xlsx]`` for one file, or
        ``data/<stem>/part-*.parquet`` in order (``vax synth --partitioned``); ``[]`` when neither exists.

        ``registry``/``vaccinations``/``feedback`` name ``data/<stem>.parquet`` also for parts (the name
        :func:`vaxlib.io.table_parts` resolves), so ``.exists()`` on them is False for a folder of parts:
        ask this instead."""
        from vaxlib.io import table_parts

        one = self.table(stem)
        if one is not None:
            return [one]
        for folder in (self.data, self.root):
            parts = table_parts(folder / f"{stem}.parquet")
            if parts:
                return parts
        return []

    @property
    def registry(self) -> Path:
        return self.table("registry") or self.data / "registry.parquet"

    @property
    def vaccinations(self) -> Path:
        return self.table("vaccinations") or self.data / "vaccinations.parquet"

    @property
    def feedback(self) -> Path:
        return self.table("feedback") or self.data / "feedback.parquet"

    @property
    def truth_vaccinations(self) -> Path:
        return self.data / "truth_vaccinations.parquet"

    @property
    def matches(self) -> Path:
        return self.match / MATCHES

    @property
    def candidates(self) -> Path:
        return self.match / CANDIDATES

    @property
    def model(self) -> Path:
        return self.match / MODEL

    @property
    def match_stats(self) -> Path:
        return self.match / MATCH_STATS

    @property
    def matches_current(self) -> Path:
        """Matches of the corrected table (``match-corrected/matches.parquet``)."""
        return self.match_corrected / MATCHES

    @property
    def corrected(self) -> Path:
        return self.apply / CORRECTED

    @property
    def changes(self) -> Path:
        return self.apply / CHANGES

    @property
    def apply_summary(self) -> Path:
        return self.apply / APPLY_SUMMARY

    @property
    def apply_quarantine(self) -> Path:
        return self.apply / QUARANTINE

    @property
    def certificates(self) -> Path:
        return self.certificates_dir / CERTIFICATES

    @property
    def feedback_status(self) -> Path:
        return self.feedback_dir / FEEDBACK_STATUS

    @property
    def feedback_queue(self) -> Path:
        return self.feedback_dir / FEEDBACK_QUEUE

    @property
    def feedback_links(self) -> Path:
        return self.feedback_dir / FEEDBACK_LINKS

    @property
    def feedback_summary(self) -> Path:
        return self.feedback_dir / FEEDBACK_SUMMARY

    def has(self, stage: str) -> bool:
        """Whether the stage folder ``stage`` (e.g. ``"apply"``) holds a run with a manifest."""
        return is_run(getattr(self, stage))


# --------------------------------------------------------------------------- fault injection


def fault_point(name: str) -> None:
    """Simulate a crash at ``name`` when ``VAX_FAULT`` asks for it (see the module docstring)."""
    spec = os.environ.get("VAX_FAULT")
    if not spec:
        return
    for item in spec.split(","):
        action, _, point = item.strip().partition(":")
        if point != name:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)


# --------------------------------------------------------------------------- process hygiene


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Make this (worker) process receive ``signum`` (SIGKILL) when its parent dies, however the parent dies.

    Used as the initializer of every process pool (``vax report``'s render workers,
    the matcher's and the signer's partitions), so that a killed command leaves no
    worker behind.  Jupyter kernels started by a worker exit by themselves when the
    worker is gone (ipykernel polls its parent, ``JPY_PARENT_PID``).  Linux only
    (``prctl(PR_SET_PDEATHSIG)``); elsewhere it does nothing.
    """
    parent = os.getppid()
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signum), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------- hashing and versions


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: files at least this large get their device, inode and change time in the manifest (:func:`unchanged_since`)
STAT_TRUST_BYTES = 1 << 20


def unchanged_since(path: str | os.PathLike[str], entry: Mapping[str, Any] | None) -> bool:
    """Whether ``path`` is, without reading it, the very file its manifest ``entry`` describes.

    True only when the entry records the file's device, inode and *change time*
    (``stat``, written by :func:`atomic_run` for files of at least
    :data:`STAT_TRUST_BYTES`) and they, the size and the mtime all still match.
    The kernel sets a file's change time (ctime) to the current time on every
    write, truncation, ``chmod``, link or ``utime``, and no system call sets it
    back: a file edited after its run -- even to the same size, with its mtime put
    back -- has another ctime (``tests/test_runs.py`` checks it), and a copy is
    another inode.  So a reader may take the recorded SHA-256 for it instead of
    reading 600 MB again.  Anything else (an older manifest, a file linked or
    touched since, another machine) is False: hash it.

    What this does not cover, as the SHA-256 check does not either: whoever can
    rewrite a run's files can rewrite its ``_manifest.json`` too.  One more
    limit: the kernel's file times tick in clock ticks (a few ms), so a same-size
    write within one tick of the run's own commit would keep the ctime; only the
    run's own process writes there then.
    """
    if not entry or not isinstance(entry.get("stat"), list) or len(entry["stat"]) != 3:
        return False
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (stat.S_ISREG(info.st_mode) and [info.st_dev, info.st_ino, info.st_ctime_ns] == entry["stat"]
            and info.st_size == entry.get("size") and info.st_mtime_ns == entry.get("mtime_ns"))


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, str]:
    """vaxlib's version and a SHA-256 over its source files (what the run's code really was)."""
    import vaxlib  # noqa: PLC0415

    pkg = Path(vaxlib.__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(pkg.rglob("*.py")):
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
    return {"vaxlib": getattr(vaxlib, "__version__", "?"), "source_sha256": h.hexdigest()}


def _input_entry(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.exists() and p.suffix == ".parquet" and p.with_suffix("").is_dir():
        # ``matches.parquet`` naming vax match --engine dask's ``matches/part-*.parquet``
        # (:func:`vaxlib.io.table_parts`): the parts are what was read, so they are what is pinned
        h = hashlib.sha256()
        for f in sorted(p.with_suffix("").glob("part-*.parquet")):
            h.update(f.name.encode() + b"\0" + file_digest(f).encode())
        return {"path": str(path), "kind": "parts", "sha256": h.hexdigest()}
    if p.is_dir():
        m = p / MANIFEST
        if m.is_file():  # a run: its manifest pins every file
            return {"path": str(path), "kind": "run", "sha256": file_digest(m)}
        h = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(f.relative_to(p).as_posix().encode() + b"\0" + file_digest(f).encode())
        return {"path": str(path), "kind": "folder", "sha256": h.hexdigest()}
    if p.is_file():
        return {"path": str(path), "kind": "file", "size": p.stat().st_size, "sha256": file_digest(p)}
    return {"path": str(path), "kind": "absent"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return str(value)


def _rows_of(path: Path) -> int | None:
    if path.suffix == ".parquet":
        from vaxlib.io import parquet_rows  # noqa: PLC0415 - io imports this module's fault_point

        return parquet_rows(path)
    return None


# --------------------------------------------------------------------------- fsync helpers


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _files_under(root: Path) -> list[Path]:
    """Files below ``root`` (symbolic links to folders not followed), sorted; the marker left out.

    ``os.scandir`` reads each entry's type from the directory itself: a run with a
    million QR images is listed without a million ``stat`` calls (``rglob`` made them).
    """
    out: list[Path] = []
    stack = [os.fspath(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.name != _MARKER and e.is_file():
                    out.append(Path(e.path))
    return sorted(out)


def _write_json_durably(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------- manifest


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``_manifest.json`` of ``run_dir``.

    Raises
    ------
    ManifestError
        No folder, no manifest, or a manifest that is not vaxlib's JSON.
    """
    d = Path(run_dir)
    m = d / MANIFEST
    if not d.is_dir():
        raise ManifestError.say("run_no_folder", path=d)
    if not m.is_file():
        raise ManifestError.say("run_no_manifest", path=d, manifest=MANIFEST)
    try:
        data = json.loads(m.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError.say("run_manifest_unreadable", path=m, error=type(exc).__name__) from None
    if not isinstance(data, dict) or data.get("vaxlib_run") != MANIFEST_FORMAT or not isinstance(
            data.get("files"), dict):
        raise ManifestError.say("run_not_manifest", path=m)
    return data


def is_run(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` has a vaxlib manifest (not checked against its files)."""
    try:
        read_manifest(run_dir)
    except ManifestError:
        return False
    return True


def check_run(run_dir: str | os.PathLike[str], *, command: str | Iterable[str] | None = None,
              full: bool = True) -> dict[str, Any]:
    """Check a run folder against its manifest and return the manifest.

    Leftovers of a killed run next to it are recovered first (:func:`recover`).

    Parameters
    ----------
    run_dir
        The run folder.
    command
        The command (or commands) that must have written it, e.g. ``"match"``.
    full
        Compare SHA-256 as well as sizes (default); sizes alone when False.

    Raises
    ------
    ManifestError
        Missing or foreign manifest, wrong command, or a listed file missing or changed.
    """
    d = Path(run_dir)
    with contextlib.suppress(OSError, RunError):
        recover(d)
    data = read_manifest(d)
    if command is not None:
        wanted = {command} if isinstance(command, str) else set(command)
        if data.get("command") not in wanted:
            raise ManifestError.say("run_other_command", path=d, command=data.get("command"),
                                        wanted=" / vax ".join(sorted(wanted)))
    for rel, meta in data["files"].items():
        p = d / rel
        if not p.is_file():
            raise ManifestError.say("run_file_missing", path=p, manifest=MANIFEST)
        if p.stat().st_size != meta.get("size"):
            raise ManifestError.say("run_size_differs", path=p, manifest=MANIFEST)
        if full and file_digest(p) != meta.get("sha256"):
            raise ManifestError.say("run_content_differs", path=p, manifest=MANIFEST)
    return data


def run_file(run_dir: str | os.PathLike[str], name: str, *, command: str | Iterable[str] | None = None,
             full: bool = True) -> Path:
    """``run_dir/name`` after :func:`check_run`; a path that is a file is taken as ``its folder/name``.

    Raises
    ------
    ManifestError
        The run does not check, or does not list ``name``.
    """
    d = Path(run_dir)
    if d.is_file() or d.suffix in (".parquet", ".json", ".csv", ".xlsx"):
        d, name = d.parent, d.name
    data = check_run(d, command=command, full=full)
    if not lists_table(data["files"], name):
        raise ManifestError.say("run_wrote_no", path=d, command=data.get("command"), name=name)
    return d / name


def lists_table(files: Mapping[str, Any], name: str) -> bool:
    """Whether a manifest's ``files`` hold the table ``name`` (``matches.parquet``): as that
    file, or partitioned as ``matches/part-*.parquet`` (``vax match --engine dask``)."""
    if name in files:
        return True
    stem = name[: -len(".parquet")] if name.endswith(".parquet") else name
    return any(f.startswith(f"{stem}/part-") and f.endswith(".parquet") for f in files)


def check_input(path: str | os.PathLike[str]) -> None:
    """Refuse an input file that lies in an incomplete or changed run folder.

    A file whose folder has a ``_manifest.json`` must be listed there and match it
    (:func:`check_run`); a file anywhere else (the platform's exports) is not checked here.

    Raises
    ------
    ManifestError
        The folder's manifest does not list the file or does not match.
    """
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    if not (folder / MANIFEST).is_file() and not (_leftovers(folder, _OLD) or _leftovers(folder, _TMP)):
        return
    data = check_run(folder)
    if p.is_file() and p.relative_to(folder).as_posix() not in data["files"]:
        raise ManifestError.say("run_not_its_file", path=p, folder=folder, manifest=MANIFEST)
    if not p.exists() and p.parent == folder and not lists_table(data["files"], p.name) \
            and p.with_suffix("").is_dir():
        raise ManifestError.say("run_not_its_table", path=p.with_suffix(""), folder=folder, manifest=MANIFEST)


def is_current(run_dir: str | os.PathLike[str], *, command: str, args: Mapping[str, Any]) -> bool:
    """Whether ``run_dir`` holds a complete run that running ``command`` with ``args`` again would reproduce.

    True when the run checks against its manifest, was written by ``command`` with
    the same arguments and the same vaxlib source, and every input it recorded still
    has the same content.  ``vax demo`` uses it to reuse steps.
    """
    try:
        data = check_run(run_dir, command=command)
    except ManifestError:
        return False
    if data.get("args") != _jsonable(dict(args)) or data.get("code") != code_version():
        return False
    for entry in data.get("inputs", []):
        if _input_entry(entry["path"]) != entry:
            return False
    return True


# --------------------------------------------------------------------------- recovery


def _marker_of(folder: Path) -> dict[str, Any] | None:
    m = folder / _MARKER
    try:
        data = json.loads(m.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("vaxlib") == "staging" else None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _named_like(target: Path, infix: str) -> list[Path]:
    """Folders (not links) beside ``target`` named ``.<target name><infix>…``, sorted by name."""
    prefix = f".{target.name}{infix}"
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return [p for p in (target.parent / n for n in sorted(names) if n.startswith(prefix))
            if p.is_dir() and not p.is_symlink()]


def _leftovers(target: Path, infix: str) -> list[Path]:
    return [p for p in _named_like(target, infix) if _marker_of(p) is not None]


def _unmarked_starts(target: Path) -> list[Path]:
    """Staging folders of runs killed before their marker was whole: named like one (of a process
    that is gone) and holding nothing, or only the marker's ``.part``.

    A run makes its staging folder and writes its marker under the parent lock, so one seen
    without a whole marker under that lock was left by a dead process; it holds nothing but
    vaxlib's half-written marker (a SIGKILL between ``mkdir`` and the marker's rename).
    """
    out = []
    for p in _named_like(target, _TMP):
        pid = p.name[len(f".{target.name}{_TMP}"):].split("-", 1)[0]
        if not pid.isdigit() or _marker_of(p) is not None or _pid_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if {e.name for e in p.iterdir()} <= {_MARKER + ".part"}:
                out.append(p)
    return out


def _owned_top(manifest: Mapping[str, Any] | None) -> set[str]:
    """Top-level entry names a run created (its files' first path parts and the manifest)."""
    if not manifest:
        return set()
    return {Path(rel).parts[0] for rel in manifest.get("files", {})} | {MANIFEST}


def _manifest_or_none(folder: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(folder)
    except ManifestError:
        return None


def _remove_owned(folder: Path) -> None:
    """Delete what vaxlib created in ``folder`` (manifest-listed files, marker); keep anything else."""
    manifest = _manifest_or_none(folder)
    for rel in (manifest or {}).get("files", {}):
        with contextlib.suppress(FileNotFoundError):
            (folder / rel).unlink()
    for name in (MANIFEST, _MARKER, MANIFEST + ".part"):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    # now-empty folders, deepest first
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    try:
        folder.rmdir()
    except OSError:
        left = sorted(p.name for p in folder.iterdir())
        log.warning("%s: kept (holds %d entr%s vaxlib did not write: %s)", folder, len(left),
                    "y" if len(left) == 1 else "ies", ", ".join(left[:5]))


def _move_foreign(old: Path, target: Path) -> None:
    """Move the entries of ``old`` that its manifest does not list into ``target``."""
    owned = _owned_top(_manifest_or_none(old)) | {_MARKER, MANIFEST + ".part"}
    for entry in sorted(old.iterdir()):
        if entry.name in owned:
            continue
        dest = target / entry.name
        if dest.exists() or dest.is_symlink():
            log.warning("%s: not moved into %s (a run file has that name); it stays in %s",
                        entry.name, target, old)
            continue
        os.rename(entry, dest)


@contextlib.contextmanager
def _parent_lock(target: Path) -> Iterator[None]:
    """Exclusive lock on ``target``'s parent folder (held for recovery and commit only)."""
    fd = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _recover_locked(target: Path) -> list[str]:
    done: list[str] = []
    # old folders are only ever made under this lock, so any seen here belong to a dead process
    olds = _leftovers(target, _OLD)
    if olds and not target.exists():
        # killed between "X -> old" and "staging -> X": the run never committed; put X back
        os.rename(olds[-1], target)
        with contextlib.suppress(FileNotFoundError):
            (target / _MARKER).unlink()
        done.append(f"restored {target.name} from {olds[-1].name}")
        olds = olds[:-1]
    for old in olds:  # committed; the previous run's remains: keep foreign entries, drop vaxlib's
        if target.is_dir():
            _move_foreign(old, target)
        _remove_owned(old)
        done.append(f"removed {old.name}")
    for tmp in _leftovers(target, _TMP):
        if _pid_alive(int(_marker_of(tmp).get("pid", 0))):
            continue
        shutil.rmtree(tmp, ignore_errors=True)  # a staging folder holds vaxlib's files only
        done.append(f"removed {tmp.name}")
    for tmp in _unmarked_starts(target):
        with contextlib.suppress(FileNotFoundError):
            (tmp / (_MARKER + ".part")).unlink()
        with contextlib.suppress(OSError):
            tmp.rmdir()
            done.append(f"removed {tmp.name}")
    if target.is_dir() and (target / _MARKER).is_file():  # killed right before "X -> old"
        (target / _MARKER).unlink()
        done.append(f"removed the marker left in {target.name}")
    if done:
        _fsync_dir(target.parent)
        log.info("%s: recovered an interrupted run (%s)", target, "; ".join(done))
    return done


def recover(out_dir: str | os.PathLike[str]) -> list[str]:
    """Finish or undo what a killed run left beside ``out_dir``; returns what was done.

    Only folders named ``.<name>.vaxtmp-*``/``.<name>.vaxold-*`` that carry
    vaxlib's marker and whose process is gone are touched, and staging folders of
    a dead process that hold nothing but a half-written marker (:func:`_unmarked_starts`).
    """
    target = Path(out_dir)
    if not target.parent.is_dir():
        return []
    if not (_leftovers(target, _OLD) or _leftovers(target, _TMP) or _unmarked_starts(target)):
        return []
    with _parent_lock(target):
        return _recover_locked(target)


# --------------------------------------------------------------------------- writing


@dataclass
class Staging:
    """The folder a run writes into (``staging / "matches.parquet"`` is a path in it).

    ``settings`` and ``extra`` go into the manifest; :meth:`rows` records the
    row count of a non-Parquet table (Parquet files are counted from their footer).
    """

    path: Path
    target: Path
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    #: table -> the rows it holds, for a table whose files hold more (e.g. a delta index's superseded
    #: rows); the manifest's ``rows`` says this rather than the files' sum
    table_rows: dict[str, int] = field(default_factory=dict)
    #: files brought in by :meth:`link`: name -> (inode, size, mtime_ns, SHA-256 from the source's manifest)
    linked: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)
    #: files written through :meth:`open`: name -> (inode, size, mtime_ns, SHA-256 of the bytes written)
    hashed: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def link(self, src: str | os.PathLike[str], name: str, entry: Mapping[str, Any] | None = None) -> bool:
        """Bring the file ``src`` of a committed run into this run as ``name``, by a hard link.

        The file is not copied and, when ``entry`` (``src``'s entry in its run's
        manifest) still matches it by size and modification time, not read again:
        its SHA-256 is taken from ``entry`` and it is not fsync'd again (the
        previous run did both).  A file changed since, or an entry without
        ``mtime_ns`` (older runs), is hashed as a new file.  Nothing ever writes
        through the link: vaxlib's writers make new files (new inodes) in the
        staging folder, so the previous run stays byte for byte as it was.

        Returns
        -------
        bool
            False when ``src`` is not a regular file or cannot be linked (another
            file system, no link support, ``name`` taken): write the file instead.
        """
        src = os.fspath(src)
        try:
            if not stat.S_ISREG(os.lstat(src).st_mode):  # never a symbolic link's target
                return False
        except OSError:
            return False
        dest = self.path / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest, follow_symlinks=False)
            st = os.stat(dest, follow_symlinks=False)
        except OSError:
            return False
        if (entry and isinstance(entry.get("sha256"), str) and entry.get("size") == st.st_size
                and entry.get("mtime_ns") == st.st_mtime_ns):
            self.linked[Path(name).as_posix()] = (st.st_ino, st.st_size, st.st_mtime_ns, entry["sha256"])
        return True

    def open(self, name: str) -> "_DigestingFile":
        """A new file ``name`` of this run, open for writing (binary), hashed as it is written.

        Its SHA-256 is recorded when it is closed, so the manifest does not read
        it again (a million certificates are 235 MB); it is still fsync'd.
        """
        dest = self.path / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        return _DigestingFile(dest, Path(name).as_posix(), self.hashed)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def rows(self, name: str, n: int) -> None:
        """Record that the file ``name`` holds ``n`` rows (for the manifest)."""
        self.row_counts[name] = int(n)


class _DigestingFile(io.RawIOBase):
    """A file opened by :meth:`Staging.open`: writes go to disk and into a SHA-256."""

    def __init__(self, path: Path, name: str, record: dict) -> None:
        super().__init__()
        self._fh = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._sha = hashlib.sha256()
        self._pos = 0
        self._name, self._record = name, record

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        self._sha.update(view)
        n = self._fh.write(view)
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        if not self._fh.closed:
            self._fh.flush()

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        self._fh.close()
        info = os.stat(self._fh.name)
        self._record[self._name] = (info.st_ino, info.st_size, info.st_mtime_ns, self._sha.hexdigest())


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise RunError.say("out_is_file", path=target)
    if target.is_symlink():
        raise RunError.say("out_symlink", path=target)
    cwd = Path.cwd().resolve()
    real = target.resolve()
    if real == cwd or real in cwd.parents:
        raise RunError.say("out_is_cwd", path=target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError.say("out_cannot_create", path=parent, error=exc.strerror or exc) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunError.say("out_not_writable", path=parent)


def _table_of(rel: str) -> str:
    """The table a written file holds: ``matches`` for ``matches.parquet`` and for every
    ``matches/part-*.parquet`` of a partitioned table (the manifest's ``rows`` sums the parts)."""
    path = Path(rel)
    if path.name.startswith("part-") and path.parent != Path("."):
        return path.parent.as_posix()
    return path.stem


@contextlib.contextmanager
def atomic_run(out_dir: str | os.PathLike[str], *, command: str, args: Mapping[str, Any] | None = None,
               inputs: Iterable[str | os.PathLike[str]] = (), settings: Mapping[str, Any] | None = None,
               ) -> Iterator[Staging]:
    """Write one run into ``out_dir`` atomically (see the module docstring).

    Parameters
    ----------
    out_dir
        The run folder; created, or replaced as a whole when the body succeeds.
    command
        The ``vax`` sub-command (``"match"``, ``"apply"``, ...); recorded and used for fault points.
    args
        The command's arguments as given (recorded).
    inputs
        Files or folders read by the run; their SHA-256 are recorded.
    settings
        Settings actually used (may also be filled in later through ``staging.settings``).

    Yields
    ------
    Staging
        Where to write.  Files must be closed when the body returns.

    Raises
    ------
    RunError
        ``out_dir`` is a file, the current folder, or its parent is not writable (checked on entry,
        before any work), or a file vaxlib did not write has the name of one of the run's files.
    """
    target = Path(out_dir)
    _check_target(target)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    with _parent_lock(target):
        _recover_locked(target)
        staging = target.parent / f".{target.name}{_TMP}{token}"
        try:
            staging.mkdir()
        except OSError as exc:
            raise RunError.say("out_cannot_write", path=target.parent, error=exc.strerror or exc) from None
        fault_point(f"{command}:mkdir")  # a kill here leaves an unmarked staging folder (_unmarked_starts)
        _write_json_durably(staging / _MARKER, {"vaxlib": "staging", "pid": os.getpid(), "target": target.name,
                                                "command": command})
    input_entries = [_input_entry(p) for p in inputs]  # hashed before the work: what the run really read
    st = Staging(path=staging, target=target, settings=dict(settings or {}))
    ok = False
    try:
        yield st
        fault_point(f"{command}:staged")
        files: dict[str, dict[str, Any]] = {}
        rows: dict[str, int] = {}
        written = _files_under(staging)
        private = command not in PUBLIC_RUNS  # personal data: nobody but the operator (and their group) reads it
        for p in written:
            rel = p.relative_to(staging).as_posix()
            if rel in (MANIFEST, MANIFEST + ".part"):
                continue
            info = os.stat(p)
            if private and info.st_mode & _OTHER:
                os.chmod(p, stat.S_IMODE(info.st_mode) & ~_OTHER)  # mtime unchanged: the digest reuse holds
                if info.st_size >= STAT_TRUST_BYTES:
                    info = os.stat(p)  # the change time the chmod set
            same = st.linked.get(rel)
            if same is not None and same[:3] == (info.st_ino, info.st_size, info.st_mtime_ns):
                digest = same[3]  # a previous run's file, unchanged: hashed and fsync'd by that run
            else:
                fsync_file(p)
                known = st.hashed.get(rel)  # hashed while written (Staging.open), and not touched since
                same_file = known is not None and known[:3] == (info.st_ino, info.st_size, info.st_mtime_ns)
                digest = known[3] if same_file else file_digest(p)
            # mtime_ns lets the next run reuse this digest for a file it links (Staging.link)
            entry: dict[str, Any] = {"size": info.st_size, "sha256": digest, "mtime_ns": info.st_mtime_ns}
            if info.st_size >= STAT_TRUST_BYTES:  # lets a reader skip re-hashing it while untouched (unchanged_since)
                entry["stat"] = [info.st_dev, info.st_ino, info.st_ctime_ns]
            n = st.row_counts.get(rel)
            if n is None:
                n = _rows_of(p)
            if n is not None:
                entry["rows"] = int(n)
                table = _table_of(rel)
                rows[table] = rows.get(table, 0) + int(n)
            files[rel] = entry
        folders = sorted({p.parent for p in written} | {staging}, key=lambda p: -len(p.parts))
        if private:
            for sub in folders:
                mode = stat.S_IMODE(os.stat(sub).st_mode)
                if mode & _OTHER:
                    os.chmod(sub, mode & ~_OTHER)
        for sub in folders:
            _fsync_dir(sub)
        rows.update({t: int(n) for t, n in st.table_rows.items()})
        manifest = {
            "vaxlib_run": MANIFEST_FORMAT,
            "command": command,
            "args": _jsonable(dict(args or {})),
            "inputs": input_entries,
            "settings": _jsonable(st.settings),
            "code": code_version(),
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "rows": rows,
            "files": files,
            **({"extra": _jsonable(st.extra)} if st.extra else {}),
        }
        _write_json_durably(staging / MANIFEST, manifest)
        if private:
            os.chmod(staging / MANIFEST, stat.S_IMODE(os.stat(staging / MANIFEST).st_mode) & ~_OTHER)
        _fsync_dir(staging)
        fault_point(f"{command}:manifest")
        _commit(staging, target, token, command, set(files) | {MANIFEST})
        ok = True
    finally:
        if not ok:
            shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, target: Path, token: str, command: str, new_files: set[str]) -> None:
    new_top = {Path(rel).parts[0] for rel in new_files}
    with _parent_lock(target):
        _recover_locked(target)
        if not target.exists():
            os.rename(staging, target)  # the commit point
            _fsync_dir(target.parent)
            with contextlib.suppress(FileNotFoundError):
                (target / _MARKER).unlink()
            return
        previous = _manifest_or_none(target)
        owned = _owned_top(previous)
        clash = sorted(n for n in os.listdir(target) if n not in owned and n in new_top)
        if clash:
            raise RunError.say("out_foreign_file", path=target / clash[0], manifest=MANIFEST)
        old = target.parent / f".{target.name}{_OLD}{token}"
        # the marker goes in before the rename, so that the old folder is recognisable from its first instant
        _write_json_durably(target / _MARKER, {"vaxlib": "staging", "pid": os.getpid(), "target": target.name,
                                               "command": command})
        os.rename(target, old)
        _fsync_dir(target.parent)
        fault_point(f"{command}:swap")
        os.rename(staging, target)  # the commit point
        _fsync_dir(target.parent)
        fault_point(f"{command}:swapped")
        with contextlib.suppress(FileNotFoundError):
            (target / _MARKER).unlink()
        _move_foreign(old, target)
        _remove_owned(old)
        _fsync_dir(target.parent)
