"""QR codes for HC1 strings (made only when asked).

HCERT spec v1.0.5, section 4.1: QR code, error correction level Q (25 %);
the Base45 alphabet is exactly the QR alphanumeric set, so the whole
``HC1:...`` string is encoded in alphanumeric mode.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

__all__ = ["make_qr", "qr_bytes", "qr_symbol", "qr_filename"]

#: a person_id that can be a file name on every system as it is (the contract's 12 digits are)
_SAFE_KEY = re.compile(r"[0-9A-Za-z_-]{1,64}")


def qr_filename(person_id: str, uvci: str, kind: str = "png") -> str:
    """File name of a certificate's QR image: ``<person_id>.<kind>``.

    Not the UVCI: its Luhn check character is ``/`` or ``:`` about once in 38
    certificates each, which makes a path that does not exist or names the
    same file for many people.  A person_id that is not a plain token (the
    contract's is 12 digits) falls back to ``u`` + the first 32 hex digits of
    the UVCI's SHA-256, so the name never depends on what a file system allows.
    """
    pid = str(person_id)
    key = pid if _SAFE_KEY.fullmatch(pid) else "u" + hashlib.sha256(uvci.encode("utf-8")).hexdigest()[:32]
    return f"{key}.{kind}"


def qr_symbol(hc1: str) -> "segno.QRCode":
    """The QR symbol: error correction Q (not boosted), alphanumeric mode."""
    import segno  # here: a run without --qr (every rerun of the benchmark) does not import it

    return segno.make_qr(hc1, error="q", mode="alphanumeric", boost_error=False)


_qr = qr_symbol


def qr_bytes(hc1: str, kind: str = "png", scale: int = 4) -> bytes:
    """The QR image of ``hc1`` as PNG or SVG bytes."""
    if kind not in ("png", "svg"):
        raise ValueError("kind must be 'png' or 'svg'")
    buf = io.BytesIO()
    _qr(hc1).save(buf, kind=kind, scale=scale, border=4)
    return buf.getvalue()


def make_qr(hc1: str, path: str | os.PathLike, kind: str | None = None, scale: int = 4) -> Path:
    """Write the QR image of ``hc1`` to ``path`` (kind from the suffix unless given).

    The image is written to a new file that then replaces ``path``: never into an
    existing file, which in a re-signing run may be a hard link to the previous
    run's image (:meth:`vaxlib.runs.Staging.link`), so the previous run is never changed.
    """
    path = Path(path)
    kind = kind or path.suffix.lstrip(".").lower()
    data = qr_bytes(hc1, kind, scale)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(part, "xb") as fh:  # a new inode ("x": never an existing file or link)
        fh.write(data)
    os.replace(part, path)
    return path
