"""The HC1 transport chain: CBOR/COSE bytes <-> zlib <-> Base45 <-> ``HC1:`` text.

Spec: eHealth Network, *Electronic Health Certificates (HCERT) specification*,
v1.0.5, section 3 (transport encoding): the COSE message is compressed with
zlib (RFC 1950), encoded with Base45 (RFC 9285) and prefixed with the context
identifier ``HC1:``.  Decoders are defensive: every failure is one of the
specific :mod:`vaxlib.sign.errors` classes, and decompression is capped so a
hostile QR code cannot expand into gigabytes.
"""
from __future__ import annotations

import array
import functools
import sys
import zlib

import base45

from vaxlib.sign.errors import BadBase45, BadCompression, BadPrefix, TooLarge

__all__ = ["PREFIX", "MAX_COSE_BYTES", "MAX_HC1_CHARS", "COMPRESS_LEVEL", "b45encode", "b45encode_many", "b45decode",
           "compress", "decompress", "unprefix", "encode_hc1", "decode_hc1"]

PREFIX = "HC1:"
#: a QR code carries at most ~4.3 kB; decompressed COSE above this is not a DCC
MAX_COSE_BYTES = 64 * 1024
#: a QR code holds at most 4,296 alphanumeric characters; longer text is refused before Base45 decoding
MAX_HC1_CHARS = 100_000

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
# every 16-bit big-endian pair -> its three Base45 characters (RFC 9285, section 4)
_PAIR = [_B45[x % 45] + _B45[(x // 45) % 45] + _B45[x // 2025] for x in range(65536)]
_BYTE = [_B45[x % 45] + _B45[x // 45] for x in range(256)]


@functools.lru_cache(maxsize=1)
def _pair_table():
    """numpy (65536, 3) uint8: the three Base45 characters of every 16-bit pair (built on first use)."""
    import numpy as np

    return np.frombuffer("".join(_PAIR).encode("ascii"), np.uint8).reshape(65536, 3)


def b45encode(data: bytes) -> str:
    """Base45-encode ``data`` (RFC 9285).

    Output is identical to :func:`base45.b45encode`; this version looks each
    byte pair up in a 65,536-entry table, about 6x faster, which matters when
    signing millions of certificates.
    """
    n = len(data) & ~1
    pairs = array.array("H", data[:n])
    if sys.byteorder == "little":
        pairs.byteswap()
    out = "".join(map(_PAIR.__getitem__, pairs))
    if len(data) & 1:
        out += _BYTE[data[-1]]
    return out


def b45encode_many(blobs: list[bytes]) -> list[str]:
    """Base45-encode many byte strings at once (one numpy pass per batch, same output as :func:`b45encode`).

    The even-length prefixes of all inputs are concatenated and encoded as one
    stream of big-endian 16-bit pairs (each pair -> 3 characters, RFC 9285
    section 4), then cut back per input; an odd last byte adds its 2 characters.
    """
    import numpy as np

    if not blobs:
        return []
    evens = b"".join([b[:-1] if len(b) & 1 else b for b in blobs])
    text = _pair_table()[np.frombuffer(evens, ">u2")].tobytes().decode("ascii")
    out, pos = [], 0
    for b in blobs:
        end = pos + 3 * (len(b) >> 1)
        out.append(text[pos:end] + _BYTE[b[-1]] if len(b) & 1 else text[pos:end])
        pos = end
    return out


def b45decode(text: str) -> bytes:
    """Decode Base45 text; raise :class:`BadBase45` on any invalid input."""
    try:
        return base45.b45decode(text)
    except Exception as exc:  # the package raises ValueError, TypeError, ...
        raise BadBase45(type(exc).__name__) from None


#: zlib level used for HC1.  0 = "stored" deflate blocks.  Measured on our certificates
#: (bench/sign_throughput.py persons, ~352-byte COSE): level 9 gives 362.6 bytes on average,
#: level 6 the same, level 0 363 bytes -- the COSE is mostly high-entropy (64-byte
#: signature, 128-bit random UVCI), so deflate saves nothing and costs ~15-25 us per
#: certificate (mostly deflateInit).  The HCERT spec (v1.0.5, section 3) requires a zlib
#: (RFC 1950) stream, which a stored block is; every inflater reads it.
COMPRESS_LEVEL = 0


def compress(cose: bytes, level: int = COMPRESS_LEVEL) -> bytes:
    """zlib-compress (RFC 1950); level 0 is built directly, byte-identical to ``zlib.compress(cose, 0)``."""
    n = len(cose)
    if level == 0 and n <= 0x7FFF:  # one final stored block (RFC 1951, section 3.2.4)
        return (b"\x78\x01\x01" + n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little")
                + cose + zlib.adler32(cose).to_bytes(4, "big"))
    return zlib.compress(cose, level)


def decompress(data: bytes, limit: int = MAX_COSE_BYTES) -> bytes:
    """zlib-decompress, refusing anything that is not complete zlib data or expands past ``limit``."""
    try:
        dec = zlib.decompressobj()
        out = dec.decompress(data, limit)
        if dec.unconsumed_tail:
            raise BadCompression(f"expands beyond {limit} bytes")
        out += dec.flush()
        if not dec.eof:
            raise BadCompression("truncated zlib stream")
        return out
    except zlib.error as exc:
        raise BadCompression(str(exc)) from None


def unprefix(text: str) -> str:
    """Strip the ``HC1:`` context identifier; :class:`BadPrefix` if it is absent or another one."""
    if not isinstance(text, str):
        raise BadPrefix("not text")
    text = text.strip()
    if not text.startswith(PREFIX):
        head = text.split(":", 1)[0][:8] if ":" in text[:8] else "none"
        raise BadPrefix(f"found {head!r}")
    return text[len(PREFIX):]


def encode_hc1(cose: bytes) -> str:
    """COSE bytes -> ``HC1:`` string."""
    return PREFIX + b45encode(compress(cose))


def decode_hc1(text: str) -> bytes:
    """``HC1:`` string -> COSE bytes (prefix, length, Base45 and zlib checked)."""
    if isinstance(text, str) and len(text) > MAX_HC1_CHARS:
        raise TooLarge(f"{len(text):,} characters; limit {MAX_HC1_CHARS:,}")
    return decompress(b45decode(unprefix(text)))
