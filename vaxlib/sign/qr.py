"""QR codes for HC1 strings (made only when asked).

HCERT spec v1.0.5, section 4.1: QR code, error correction level Q (25 %);
the Base45 alphabet is exactly the QR alphanumeric set, so the whole
``HC1:...`` string is encoded in alphanumeric mode.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import segno

__all__ = ["make_qr", "qr_bytes", "qr_symbol"]


def qr_symbol(hc1: str) -> segno.QRCode:
    """The QR symbol: error correction Q (not boosted), alphanumeric mode."""
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
    """Write the QR image of ``hc1`` to ``path`` (kind from the suffix unless given)."""
    path = Path(path)
    kind = kind or path.suffix.lstrip(".").lower()
    path.write_bytes(qr_bytes(hc1, kind, scale))
    return path
