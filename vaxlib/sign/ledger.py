"""The signing ledger (who signed, re-issued or revoked which UVCI with which key, when) and the revocation list.

The ledger is a CSV (``signing-ledger.csv``) with columns ``signed_at,
signer, kid, uvci, event, supersedes, reason`` -- no names or ID numbers: the
UVCI links to the certificates table for whoever is entitled to see it.
``event`` is ``issued`` (a person's first certificate), ``reissued`` (a new
certificate for a person whose content changed; ``supersedes`` names the
previous UVCI and ``reason`` what changed: ``new_dose``, ``name``, ``dob``,
``expired``, ``revoked``, ``signer_revoked``) or ``revoked`` (the superseded
UVCI; ``reason`` ``superseded``).  Following ``supersedes`` from a person's
current UVCI back gives their whole story (:func:`story`).  Files written by
earlier versions (the first four columns) are read as ``issued`` events.

The ledger of a run lives in the run folder and is committed with the
certificates it describes.  A run whose certificates are written whole
(:mod:`vaxlib.sign.store`, compact) copies the previous run's ledger into
``signing-ledger.csv`` and appends to it; a rerun stored as a delta only
appends: it hard-links the previous run's ledger files as
``signing-ledger/part-NNNNN.csv`` and writes its own events into one new part
(copying 108 MB of ledger per million people was most of what a rerun wrote
after its certificates).  :func:`ledger_files` lists them in order; every
reader here reads them all.

Revocation follows the DCC revocation design (eHN, *DCC Revocation*, 2022),
which lists hashes of the UVCI rather than the UVCI itself: one SHA-256 hex
digest per line in ``KEYS/trust/revoked-uvci-sha256.txt``, so the list can
travel with the trust list to every verifier.
"""
from __future__ import annotations

import csv
import datetime as dt
import getpass
import os
import re
import shutil
from pathlib import Path
from typing import Iterable

from vaxlib.exports import csv_row, unneutralise
from vaxlib.sign.payload import uvci_is_valid
from vaxlib.sign.verify import REVOCATION_FILE, load_revocations, uvci_hash

__all__ = ["LEDGER_FILE", "LEDGER_PARTS", "LEDGER_COLUMNS", "default_signer", "append_ledger", "append_issued", "read_ledger",
           "carry_ledger", "link_ledger", "ledger_files", "story", "revoked_uvcis", "revoke", "revocation_path"]

LEDGER_FILE = "signing-ledger.csv"
LEDGER_PARTS = "signing-ledger"  #: folder of a delta run's ledger parts (``part-NNNNN.csv``, each with its header)
LEDGER_COLUMNS = ("signed_at", "signer", "kid", "uvci", "event", "supersedes", "reason")


def default_signer() -> str:
    """``$USER`` (or the login name) of whoever runs the signing."""
    return os.environ.get("USER") or getpass.getuser()


def ledger_files(folder: str | os.PathLike) -> list[Path]:
    """The ledger files of ``folder`` in order: ``signing-ledger.csv``, or the parts of a delta run."""
    folder = Path(folder)
    if (folder / LEDGER_FILE).is_file() or not (folder / LEDGER_PARTS).is_dir():
        return [folder / LEDGER_FILE]
    return sorted(p for p in (folder / LEDGER_PARTS).glob("part-*.csv") if p.is_file())


def append_ledger(folder: str | os.PathLike, rows: Iterable[tuple], *, signer: str,
                  signed_at: str | None = None, event: str = "issued", name: str = LEDGER_FILE) -> int:
    """Append rows to ``folder/signing-ledger.csv`` (or ``folder/name``); return how many.

    A row is ``(kid_b64, uvci)`` (an ``event`` certificate) or
    ``(kid_b64, uvci, event, supersedes, reason)``.
    """
    path = Path(folder) / name
    new = not path.exists()
    signed_at = signed_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    head = csv_row((signed_at, signer))  # --signer and reasons are typed: every cell neutralised
    out = [head + csv_row((*row, event, "", "") if len(row) == 2 else row) for row in rows]
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(LEDGER_COLUMNS)
        w.writerows(out)
    n = len(out)
    if new:
        os.chmod(path, 0o644)  # whatever the umask: readable, writable by its owner only
    return n


#: a UVCI written as it is between a fixed prefix and suffix: no character csv quotes, no formula start
_PLAIN_UVCIS = re.compile(r'[,"\r]|(?:^|\n)[=+\-@\t\']')


def append_issued(folder: str | os.PathLike, kid: str, uvcis: list[str], *, signer: str, signed_at: str,
                  name: str = LEDGER_FILE) -> int:
    """:func:`append_ledger` of one signed chunk's ``issued`` events (one kid), byte for byte the same.

    Why: ``vax sign`` at 10M persons wrote 6M ledger rows through :func:`csv_row`, seven
    :func:`~vaxlib.exports.neutralise` calls and a csv row each: ~10 us a certificate in the process
    that also feeds the signing workers.  Every row of a chunk is the same text around its UVCI, so the
    text around it is made once (by :mod:`csv`, neutralised) and the UVCIs are written between,
    when none of them would be quoted or neutralised (checked on the chunk in one regular-expression
    pass); otherwise the rows go through :func:`append_ledger`.
    """
    text = "\n".join(uvcis)
    if not uvcis or _PLAIN_UVCIS.search(text) or text.count("\n") != len(uvcis) - 1:
        return append_ledger(folder, [(kid, u) for u in uvcis], signer=signer, signed_at=signed_at, name=name)
    import io

    mark = "UVCI0MARK"
    buf = io.StringIO(newline="")
    csv.writer(buf).writerow(csv_row((signed_at, signer, kid, mark, "issued", "", "")))
    line = buf.getvalue()
    if line.count(mark) != 1:  # a signer or kid holding the mark: the general way
        return append_ledger(folder, [(kid, u) for u in uvcis], signer=signer, signed_at=signed_at, name=name)
    prefix, suffix = line.split(mark)
    path = Path(folder) / name
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        if new:
            csv.writer(fh).writerow(LEDGER_COLUMNS)
        fh.write(prefix + (suffix + prefix).join(uvcis) + suffix)
    if new:
        os.chmod(path, 0o644)
    return len(uvcis)


def carry_ledger(previous: str | os.PathLike | None, folder: str | os.PathLike) -> int:
    """Copy a previous run's ledger (all its parts) into ``folder/signing-ledger.csv`` before appending; its rows.

    A ledger of the first four columns (older versions) is rewritten with the
    full header, its rows as ``issued`` events.
    """
    dest = Path(folder) / LEDGER_FILE
    srcs = ledger_files(previous) if previous is not None else []
    if not srcs or not srcs[0].is_file():
        return 0
    with open(srcs[0], newline="", encoding="utf-8") as fh:
        header = next(csv.reader([fh.readline()]), [])
    if tuple(header) == LEDGER_COLUMNS:
        with open(dest, "wb") as out:
            for i, src in enumerate(srcs):
                with open(src, "rb") as fh:
                    if i:
                        fh.readline()  # every part has its header; the copy keeps the first
                    shutil.copyfileobj(fh, out, 1 << 20)
        with open(dest, "rb") as fh:
            return sum(1 for _ in fh) - 1
    rows = read_ledger(previous)
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(LEDGER_COLUMNS)
        for r in rows:
            w.writerow(csv_row(r[c] for c in LEDGER_COLUMNS))
    return len(rows)


def link_ledger(st, previous: Path, manifest: dict) -> str | None:
    """Hard-link a previous run's ledger files into the staging folder ``st`` as parts; the new part's name.

    None when they cannot all be linked (another file system) or the previous
    ledger is of the older four columns: then nothing linked is left, and the
    caller copies it whole (:func:`carry_ledger`).
    """
    files = ledger_files(previous)
    if not files[0].is_file():
        return f"{LEDGER_PARTS}/part-00000.csv"
    with open(files[0], newline="", encoding="utf-8") as fh:
        if tuple(next(csv.reader([fh.readline()]), [])) != LEDGER_COLUMNS:
            return None
    entries = manifest.get("files", {})
    done = []
    for k, src in enumerate(files):
        dest = f"{LEDGER_PARTS}/part-{k:05d}.csv"
        if not st.link(src, dest, entries.get(src.relative_to(previous).as_posix())):
            for name in done:
                (st / name).unlink()
                st.linked.pop(name, None)
            return None
        done.append(dest)
    return f"{LEDGER_PARTS}/part-{len(files):05d}.csv"


def read_ledger(folder: str | os.PathLike) -> list[dict[str, str]]:
    """All ledger rows as dicts, every part in order (rows of older four-column ledgers as ``issued`` events)."""
    rows = []
    for path in ledger_files(folder):
        with open(path, newline="", encoding="utf-8") as fh:
            rows += [{k: unneutralise(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    for r in rows:
        r["event"] = r.get("event") or "issued"
        r.setdefault("supersedes", "")
        r.setdefault("reason", "")
    return rows


def revoked_uvcis(folder: str | os.PathLike, offset: int = 0, *, name: str | None = None) -> list[str]:
    """UVCIs of the ``revoked`` events in ``folder``'s ledger (columnar read: 1M rows in ~1 s).

    ``offset``: only the rows of ``signing-ledger.csv`` from this byte on (a run's
    own events start where the ledger it carried over ended; ``vax sign`` records
    that offset); ``name``: only the file ``folder/name`` (a delta run's own part).
    """
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    if name is None and offset == 0 and len(files := ledger_files(folder)) > 1:
        return [u for f in files for u in revoked_uvcis(f.parent, name=f.name)]
    path = Path(folder) / (name or LEDGER_FILE)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader([fh.readline()]), [])
        if "event" not in header:  # an older four-column ledger has no revocations
            return []
        if offset > 0:
            fh.seek(offset)
            rows = csv.DictReader(fh, fieldnames=header)
            return [unneutralise(r["uvci"]) for r in rows if r.get("event") == "revoked"]
    table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
        include_columns=["event", "uvci"], column_types={"event": "string", "uvci": "string"}))
    return table.filter(pc.equal(table["event"], "revoked"))["uvci"].to_pylist()


def story(rows: list[dict[str, str]], uvci: str) -> list[dict[str, str]]:
    """The ledger events of one person, oldest first, from their current (or any) UVCI.

    Follows ``supersedes`` back to the first certificate and collects each
    certificate's issue and revocation events.
    """
    by_uvci: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_uvci.setdefault(r["uvci"], []).append(r)
    issued_by = {r["uvci"]: r for r in rows if r["event"] in ("issued", "reissued")}
    chain, seen, u = [], set(), uvci
    while u and u not in seen and u in issued_by:
        seen.add(u)
        chain.append(u)
        u = issued_by[u]["supersedes"]
    events = [e for u in reversed(chain) for e in by_uvci[u]]
    return sorted(events, key=lambda e: (e["signed_at"], e["event"] == "revoked"))


def revocation_path(keys_or_trust: str | os.PathLike) -> Path:
    """``KEYS/trust/revoked-uvci-sha256.txt`` (accepts the key folder or its trust folder)."""
    p = Path(keys_or_trust)
    trust = p if p.name == "trust" else p / "trust"
    return trust / REVOCATION_FILE


def revoke(keys_or_trust: str | os.PathLike, uvcis: Iterable[str]) -> int:
    """Add UVCIs to the revocation list; return how many were new.

    Raises
    ------
    ValueError
        A UVCI whose Luhn mod N check character is wrong (a typo would revoke nothing).
    """
    from vaxlib.sign.keys import PUBLIC_FILE, _public_dir  # noqa: PLC0415 - keys imports verify, as this module does

    path = revocation_path(keys_or_trust)
    _public_dir(path.parent)
    known = load_revocations(path)
    added = []
    for u in uvcis:
        u = u.strip()
        if not uvci_is_valid(u):
            raise ValueError("UVCI: check character does not match (typo?)")
        h = uvci_hash(u)
        if h not in known:
            known.add(h)
            added.append(h)
    if added:
        with open(path, "a", encoding="utf-8") as fh:
            fh.writelines(h + "\n" for h in added)
    if path.exists():
        os.chmod(path, PUBLIC_FILE)
    return len(added)
