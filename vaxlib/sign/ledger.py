"""The signing ledger (who signed which UVCI with which key, when) and the revocation list.

The ledger is an append-only CSV (``signing-ledger.csv``) with columns
``signed_at, signer, kid, uvci`` — no names or ID numbers: the UVCI links to
the certificates table for whoever is entitled to see it.

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
from pathlib import Path
from typing import Iterable

from vaxlib.sign.payload import uvci_is_valid
from vaxlib.sign.verify import REVOCATION_FILE, load_revocations, uvci_hash

__all__ = ["LEDGER_FILE", "LEDGER_COLUMNS", "default_signer", "append_ledger", "read_ledger",
           "revoke", "revocation_path"]

LEDGER_FILE = "signing-ledger.csv"
LEDGER_COLUMNS = ("signed_at", "signer", "kid", "uvci")


def default_signer() -> str:
    """``$USER`` (or the login name) of whoever runs the signing."""
    return os.environ.get("USER") or getpass.getuser()


def append_ledger(folder: str | os.PathLike, rows: Iterable[tuple[str, str]], *, signer: str,
                  signed_at: str | None = None) -> int:
    """Append ``(kid_b64, uvci)`` rows to ``folder/signing-ledger.csv``; return how many."""
    path = Path(folder) / LEDGER_FILE
    new = not path.exists()
    signed_at = signed_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    n = 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(LEDGER_COLUMNS)
        for kid, uvci in rows:
            w.writerow((signed_at, signer, kid, uvci))
            n += 1
    return n


def read_ledger(folder: str | os.PathLike) -> list[dict[str, str]]:
    """All ledger rows as dicts."""
    with open(Path(folder) / LEDGER_FILE, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


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
    path = revocation_path(keys_or_trust)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    return len(added)
