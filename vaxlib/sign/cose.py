"""COSE_Sign1 (RFC 9052, section 4.2) for the HCERT: build, parse and check signatures.

Only what the DCC uses: algorithms ES256 (-7, ECDSA P-256 with SHA-256, the
signature being the 64-byte ``r || s`` of RFC 9053 section 2.1, not DER) and
PS256 (-37, RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, RFC
8230); the key id (header label 4) is the first 8 bytes of the SHA-256 of the
signer certificate (HCERT spec v1.0.5, section 3.3.1) and is looked up in the
protected header first and only if absent there in the unprotected one.

Parsing accepts the message tagged 18 (COSE_Sign1), wrapped in a CWT tag 61
around tag 18, or untagged, as the HCERT spec allows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from vaxlib.sign.errors import BadCose, BadSignature, UnsupportedAlgorithm

__all__ = ["ES256", "PS256", "ALG_NAMES", "CoseSign1", "parse_cose", "sign1", "sign1_bytes",
           "signature_input", "verify_signature", "alg_for_key", "bstr_head"]

ES256, PS256 = -7, -37
ALG_NAMES = {ES256: "ES256", PS256: "PS256"}
HDR_ALG, HDR_KID = 1, 4
TAG_SIGN1, TAG_CWT = 18, 61

_SHA256 = hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)
_PSS_SIGN = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32)
_PSS_VERIFY = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32)


@dataclass
class CoseSign1:
    """A parsed COSE_Sign1 message (nothing verified yet)."""

    protected_bytes: bytes
    protected: dict
    unprotected: dict
    payload: bytes
    signature: bytes
    tags: tuple[int, ...] = field(default_factory=tuple)

    @property
    def kid(self) -> bytes | None:
        """Key id: protected header wins; unprotected only if the protected has none."""
        kid = self.protected.get(HDR_KID)
        if kid is None:
            kid = self.unprotected.get(HDR_KID)
        return kid if isinstance(kid, bytes) else None

    @property
    def alg(self) -> Any:
        alg = self.protected.get(HDR_ALG)
        return alg if alg is not None else self.unprotected.get(HDR_ALG)


def bstr_head(n: int) -> bytes:
    """CBOR head of a byte string of length ``n`` (RFC 8949, section 3.1, major type 2, shortest form)."""
    if n < 24:
        return bytes((0x40 + n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return b"\x59" + n.to_bytes(2, "big")
    return b"\x5a" + n.to_bytes(4, "big")


_SIG1_CONTEXT = b"\x84\x6aSignature1"  # array(4), text(10) "Signature1"


def signature_input(protected_bytes: bytes, payload: bytes) -> bytes:
    """The ``Sig_structure`` (RFC 9052, section 4.4) that is actually signed.

    ``["Signature1", protected, h'', payload]`` encoded directly; byte-identical
    to ``cbor2.dumps`` of that list (tests/test_sign_core.py checks it).
    """
    return b"".join((_SIG1_CONTEXT, bstr_head(len(protected_bytes)), protected_bytes, b"\x40",
                     bstr_head(len(payload)), payload))


def sign1_bytes(protected: bytes, payload: bytes, signature: bytes, *, tag: bool = True) -> bytes:
    """Encode ``18([protected, {}, payload, signature])`` directly (byte-identical to cbor2)."""
    return b"".join((b"\xd2\x84" if tag else b"\x84", bstr_head(len(protected)), protected, b"\xa0",
                     bstr_head(len(payload)), payload, bstr_head(len(signature)), signature))


def alg_for_key(key: Any) -> int:
    """COSE algorithm for a private or public key object."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return ES256
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return PS256
    raise UnsupportedAlgorithm(type(key).__name__)


def protected_header(kid: bytes, alg: int) -> bytes:
    """Encoded protected header ``{1: alg, 4: kid}``."""
    return cbor2.dumps({HDR_ALG: alg, HDR_KID: kid})


def sign1(payload: bytes, key: Any, kid: bytes, *, alg: int | None = None,
          protected: bytes | None = None, tag: bool = True) -> bytes:
    """Sign ``payload`` and return the encoded COSE_Sign1 (tag 18 unless ``tag=False``).

    Parameters
    ----------
    payload : bytes
        The CWT (CBOR map of claims).
    key : EllipticCurvePrivateKey or RSAPrivateKey
        The document signer's private key.
    kid : bytes
        8-byte key id, put in the protected header.
    protected : bytes, optional
        Pre-encoded protected header (reused across a batch for speed).
    """
    if alg is None:
        alg = alg_for_key(key)
    if protected is None:
        protected = protected_header(kid, alg)
    to_sign = signature_input(protected, payload)
    if alg == ES256:
        r, s = decode_dss_signature(key.sign(to_sign, _ECDSA))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == PS256:
        sig = key.sign(to_sign, _PSS_SIGN, _SHA256)
    else:
        raise UnsupportedAlgorithm(str(alg))
    return sign1_bytes(protected, payload, sig, tag=tag)


def parse_cose(data: bytes) -> CoseSign1:
    """Parse COSE_Sign1 bytes; :class:`BadCose` for anything else."""
    try:
        obj = cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types on hostile input
        raise BadCose(f"not CBOR ({type(exc).__name__})") from None
    tags: list[int] = []
    while isinstance(obj, cbor2.CBORTag):
        tags.append(obj.tag)
        if obj.tag not in (TAG_SIGN1, TAG_CWT) or len(tags) > 2:
            raise BadCose(f"unexpected CBOR tag {obj.tag}")
        obj = obj.value
    if tags and tags[-1] != TAG_SIGN1:
        raise BadCose("tag 61 must wrap tag 18")
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        raise BadCose("not a 4-element COSE_Sign1 array")
    prot_b, unprot, payload, sig = obj
    if not isinstance(prot_b, bytes) or not isinstance(unprot, Mapping) \
            or not isinstance(payload, bytes) or not isinstance(sig, bytes):
        raise BadCose("wrong element types")
    if prot_b:
        try:
            prot = cbor2.loads(prot_b)
        except Exception:
            raise BadCose("protected header is not CBOR") from None
        if not isinstance(prot, Mapping):
            raise BadCose("protected header is not a map")
        prot = dict(prot)
    else:
        prot = {}
    return CoseSign1(prot_b, prot, dict(unprot), payload, sig, tuple(tags))


def verify_signature(msg: CoseSign1, public_key: Any) -> None:
    """Check ``msg``'s signature with ``public_key``; raise :class:`BadSignature` if it does not verify."""
    alg = msg.alg
    to_check = signature_input(msg.protected_bytes, msg.payload)
    try:
        if alg == ES256:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise BadSignature("ES256 signature but the signer key is not EC")
            if len(msg.signature) != 64:
                raise BadSignature("ES256 signature is not 64 bytes")
            r = int.from_bytes(msg.signature[:32], "big")
            s = int.from_bytes(msg.signature[32:], "big")
            public_key.verify(encode_dss_signature(r, s), to_check, _ECDSA)
        elif alg == PS256:
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise BadSignature("PS256 signature but the signer key is not RSA")
            public_key.verify(msg.signature, to_check, _PSS_VERIFY, _SHA256)
        else:
            raise UnsupportedAlgorithm(repr(alg)[:20])
    except InvalidSignature:
        raise BadSignature() from None
    except (ValueError, TypeError) as exc:  # e.g. r or s out of range
        raise BadSignature(type(exc).__name__) from None
