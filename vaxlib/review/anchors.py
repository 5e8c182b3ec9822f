"""Witnessed heads: the ledger's anchor outside its own database.

A hash chain proves that stored events were not changed *relative to each
other*; whoever can write the database can still rewrite every event and
recompute every hash (a *full rewrite*), or drop the newest events together
with the stored head.  To catch that, every process that appends to, applies
or verifies a ledger writes the head it saw — ``(ledger uid, event id, event
hash)`` — into an *anchor file* that lives outside the database, in the
user's own state folder:

``$VAX_LEDGER_ANCHORS`` or ``$XDG_STATE_HOME/vaxlib/ledger-anchors``
(default ``~/.local/state/vaxlib/ledger-anchors``), one JSON-lines file per
ledger location, folder 0700 and files 0600.

:meth:`vaxlib.review.ledger.Ledger.verify` then checks every witnessed head
of the ledger it reads: the event with that id must still exist and still
have that hash.  Because each hash covers the previous one, one matching
witnessed head fixes every event before it.  A ledger replaced by another
database (a new ``uid``) at the same location is reported as replaced.

Appends are rare enough (one line per decision, < 200 bytes, ``O_APPEND``
so lines of concurrent processes never interleave) that witnessing each one
costs nothing measurable next to the database commit.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Anchor", "anchor_dir", "record_anchor", "read_anchors"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Anchor:
    """One witnessed head."""

    uid: str
    head_id: int
    head_hash: str
    time: str
    by: str  #: what witnessed it: ``append``, ``apply``, ``verify``, ``create``


def anchor_dir() -> Path:
    """The folder of anchor files (not created here)."""
    env = os.environ.get("VAX_LEDGER_ANCHORS")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "vaxlib" / "ledger-anchors"


def _file(location: str) -> Path:
    return anchor_dir() / (hashlib.sha256(location.encode("utf-8")).hexdigest()[:32] + ".jsonl")


def record_anchor(location: str, anchor: Anchor) -> None:
    """Append ``anchor`` to the anchor file of ``location``.

    Never raises: a ledger stays usable when the state folder is not
    writable (the anchor is then missing, which ``verify`` cannot notice);
    the failure is logged.
    """
    line = json.dumps({"location": location, "uid": anchor.uid, "head_id": anchor.head_id,
                       "head_hash": anchor.head_hash, "time": anchor.time, "by": anchor.by},
                      ensure_ascii=False, sort_keys=True) + "\n"
    path = _file(location)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))  # one write: concurrent lines never interleave
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("ledger anchor not recorded in %s: %s", path.parent, type(exc).__name__)


def read_anchors(location: str) -> list[Anchor]:
    """Every anchor recorded for ``location``, oldest first (unreadable lines skipped, logged)."""
    path = _file(location)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out: list[Anchor] = []
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            d = json.loads(line)
            if d.get("location") != location:
                continue
            out.append(Anchor(str(d["uid"]), int(d["head_id"]), str(d["head_hash"]), str(d["time"]),
                              str(d.get("by", ""))))
        except (ValueError, KeyError, TypeError):
            log.warning("anchor file %s line %d unreadable; skipped", path, n)
    return out
