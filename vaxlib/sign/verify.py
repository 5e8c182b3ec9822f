"""Decode and verify EU DCC (HCERT) certificates.

The checks, in order, each failing with its own exception
(:mod:`vaxlib.sign.errors`): prefix ``HC1:`` -> Base45 -> zlib -> COSE_Sign1
(tag 18, CWT tag 61 around it, or untagged) -> kid in the trust list
(protected header first, else unprotected) -> signature (ES256 / PS256) ->
CWT claims and the HCERT claim -260 -> the DSC's extended key usage allows
the certificate type -> validity window (iat <= clock <= exp; the DSC valid
when the certificate was issued) -> DCC schema -> value sets -> revocation
(SHA-256 of the UVCI, as the DCC revocation "UCI" hash type).

:meth:`Verifier.check` never raises: garbage in gives a result with a reason.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping as _Map
from typing import Any, Iterable, Iterator, Mapping

import cbor2
from cryptography import x509

from vaxlib.sign import hc1 as _hc1
from vaxlib.sign.cose import ALG_NAMES, CoseSign1, parse_cose, verify_signature
from vaxlib.sign.errors import (
    BadCwt, Expired, KeyUsageMismatch, NotYetValid, QrUnreadable, Revoked, SignerNotValid,
    UnknownKid, VerificationError,
)
from vaxlib.sign.keys import dsc_types, load_trust_list
from vaxlib.sign.payload import (
    CLAIM_EXP, CLAIM_IAT, CLAIM_ISS, HCERT_CLAIM, validate_schema, validate_value_sets,
)

__all__ = ["Decoded", "VerifyResult", "Verifier", "decode", "decode_cose", "uvci_hash",
           "load_revocations", "read_qr", "iter_inputs", "REVOCATION_FILE"]

log = logging.getLogger(__name__)
REVOCATION_FILE = "revoked-uvci-sha256.txt"


def uvci_hash(uvci: str) -> str:
    """SHA-256 hex of a UVCI exactly as in the ``ci`` field (revocation list entry)."""
    return hashlib.sha256(uvci.encode("utf-8")).hexdigest()


def load_revocations(path: str | os.PathLike | None) -> set[str]:
    """Set of revoked UVCI hashes from a file of hex lines (``#`` comments allowed)."""
    if path is None or not Path(path).exists():
        return set()
    out = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip().lower()
        if line:
            out.add(line)
    return out


def _jsonable(obj: Any) -> Any:
    """CBOR-decoded HCERT -> JSON-like values (CBOR date/time tags become ISO strings)."""
    if isinstance(obj, _Map):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, dt.datetime):
        if obj.tzinfo is not None:
            obj = obj.astimezone(dt.timezone.utc)
            return obj.strftime("%Y-%m-%dT%H:%M:%SZ")
        return obj.isoformat()
    if isinstance(obj, dt.date):
        return obj.isoformat()
    return obj


@dataclass
class Decoded:
    """A decoded certificate (signature not necessarily checked)."""

    cose: CoseSign1
    claims: dict
    hcert: dict

    @property
    def kid(self) -> bytes | None:
        return self.cose.kid

    @property
    def issuer(self) -> Any:
        return self.claims.get(CLAIM_ISS)

    @property
    def issued_at(self) -> Any:
        return self.claims.get(CLAIM_IAT)

    @property
    def expires_at(self) -> Any:
        return self.claims.get(CLAIM_EXP)

    @property
    def group(self) -> str | None:
        found = [k for k in ("v", "t", "r") if k in self.hcert]
        return found[0] if len(found) == 1 else None

    @property
    def uvcis(self) -> list[str]:
        out = []
        for g in ("v", "t", "r"):
            for e in self.hcert.get(g) or []:
                if isinstance(e, dict) and isinstance(e.get("ci"), str):
                    out.append(e["ci"])
        return out


def _claims(cose: CoseSign1) -> tuple[dict, dict]:
    try:
        claims = cbor2.loads(cose.payload)
    except Exception as exc:
        raise BadCwt(f"payload is not CBOR ({type(exc).__name__})") from None
    if not isinstance(claims, _Map):
        raise BadCwt("claims are not a map")
    claims = dict(claims)
    hc = claims.get(HCERT_CLAIM)
    if not isinstance(hc, _Map) or not isinstance(hc.get(1), _Map):
        raise BadCwt("no HCERT claim -260 {1: ...}")
    try:
        return claims, _jsonable(hc[1])
    except RecursionError:
        raise BadCwt("HCERT nested too deeply") from None


def decode_cose(data: bytes) -> Decoded:
    """COSE bytes -> :class:`Decoded` (structure only; nothing verified)."""
    cose = parse_cose(data)
    claims, hcert = _claims(cose)
    return Decoded(cose, claims, hcert)


def decode(text: str) -> Decoded:
    """``HC1:`` string -> :class:`Decoded` (structure only; nothing verified)."""
    return decode_cose(_hc1.decode_hc1(text))


def _ts(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass
class VerifyResult:
    """Outcome of one certificate check (what ``vax verify`` prints)."""

    source: str
    valid: bool
    reason: str
    message: str
    kid: str = ""  # base64
    alg: str = ""
    uvci: str = ""
    issued_at: str = ""
    expires_at: str = ""


class Verifier:
    """Verify certificates against a trust list, a clock and a revocation list.

    Parameters
    ----------
    trust : path or mapping kid -> x509.Certificate
        A trust folder (``KEYS/trust``) or an already-loaded trust list.
        ``revoked-uvci-sha256.txt`` inside the folder is read too.
    revoked : path or iterable of str, optional
        More revoked UVCI hashes (hex), or UVCIs.
    at : datetime, optional
        The validation clock (default: now).
    value_sets : bool
        Also check the vaccine/country codes against the DCC value sets.
    key_usage : bool
        Enforce the DSC's extended key usage against the certificate type.
    lang : {"vi", "en"}
        Language of the result messages.
    """

    def __init__(self, trust: str | os.PathLike | Mapping[bytes, x509.Certificate],
                 revoked: str | os.PathLike | Iterable[str] | None = None, *,
                 at: dt.datetime | None = None, value_sets: bool = True,
                 key_usage: bool = True, lang: str = "vi") -> None:
        self.revoked: set[str] = set()
        if isinstance(trust, Mapping):
            self.trust = dict(trust)
        else:
            self.trust = load_trust_list(trust)
            if Path(trust).is_dir():
                self.revoked |= load_revocations(Path(trust) / REVOCATION_FILE)
        if isinstance(revoked, (str, os.PathLike)):
            self.revoked |= load_revocations(revoked)
        elif revoked is not None:
            self.revoked |= {r if len(r) == 64 and ":" not in r else uvci_hash(r) for r in revoked}
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)
        self.at = at
        self.value_sets = value_sets
        self.key_usage = key_usage
        self.lang = lang

    # -- the checks, usable one by one (the test vectors need them separately)
    def signer(self, msg: CoseSign1) -> x509.Certificate:
        kid = msg.kid
        if kid is None:
            raise UnknownKid("no kid in the headers")
        cert = self.trust.get(kid)
        if cert is None:
            raise UnknownKid(f"kid {base64.b64encode(kid).decode()}")
        return cert

    def check_signature(self, msg: CoseSign1) -> x509.Certificate:
        cert = self.signer(msg)
        verify_signature(msg, cert.public_key())
        return cert

    @staticmethod
    def check_key_usage(decoded: Decoded, cert: x509.Certificate) -> None:
        allowed = dsc_types(cert)
        group = decoded.group
        if allowed is not None and group not in allowed:
            raise KeyUsageMismatch(f"DSC allows {''.join(sorted(allowed))}, certificate is {group}")

    def check_validity(self, decoded: Decoded, cert: x509.Certificate | None = None) -> None:
        at = self.at or dt.datetime.now(dt.timezone.utc)
        iat, exp = _ts(decoded.issued_at), _ts(decoded.expires_at)
        if iat is None or exp is None:
            raise BadCwt("iat/exp missing or not a number")
        if at < iat:
            raise NotYetValid(f"issued {iat:%Y-%m-%dT%H:%M:%SZ}")
        if at > exp:
            raise Expired(f"expired {exp:%Y-%m-%dT%H:%M:%SZ}")
        if cert is not None and not (cert.not_valid_before_utc <= iat <= cert.not_valid_after_utc):
            raise SignerNotValid(f"DSC valid {cert.not_valid_before_utc:%Y-%m-%d}–{cert.not_valid_after_utc:%Y-%m-%d}")

    def check_revocation(self, decoded: Decoded) -> None:
        for u in decoded.uvcis:
            if uvci_hash(u) in self.revoked:
                raise Revoked()

    def verify_cose(self, data: bytes) -> Decoded:
        """Every check on COSE bytes; returns the decoded certificate or raises."""
        msg = parse_cose(data)
        cert = self.check_signature(msg)
        claims, hcert = _claims(msg)
        decoded = Decoded(msg, claims, hcert)
        if self.key_usage:
            self.check_key_usage(decoded, cert)
        self.check_validity(decoded, cert)
        validate_schema(decoded.hcert)
        if self.value_sets:
            validate_value_sets(decoded.hcert)
        self.check_revocation(decoded)
        return decoded

    def verify(self, text: str) -> Decoded:
        """Every check on an ``HC1:`` string; returns the decoded certificate or raises
        a :class:`~vaxlib.sign.errors.VerificationError` subclass."""
        return self.verify_cose(_hc1.decode_hc1(text))

    def check(self, text: str, source: str = "") -> VerifyResult:
        """Like :meth:`verify` but never raises: a :class:`VerifyResult` with the reason."""
        try:
            d = self.verify(text)
        except VerificationError as exc:
            res = VerifyResult(source, False, exc.reason, exc.message(self.lang))
            try:  # best-effort context for the report (never personal data)
                dd = decode(text)
                res.kid = base64.b64encode(dd.kid).decode() if dd.kid else ""
                res.uvci = (dd.uvcis or [""])[0]
            except Exception:
                pass
            return res
        except Exception as exc:  # a bug, not the input: report, do not crash the batch
            log.exception("unexpected error verifying %s", source or "input")
            return VerifyResult(source, False, "internal_error", type(exc).__name__)
        iat, exp = _ts(d.issued_at), _ts(d.expires_at)
        return VerifyResult(source, True, "valid", "Hợp lệ" if self.lang == "vi" else "valid",
                            kid=base64.b64encode(d.kid).decode(),
                            alg=ALG_NAMES.get(d.cose.alg, str(d.cose.alg)),
                            uvci=(d.uvcis or [""])[0],
                            issued_at=iat.isoformat() if iat else "",
                            expires_at=exp.isoformat() if exp else "")


# --------------------------------------------------------------------------- inputs

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def read_qr(path_or_image: Any) -> list[str]:
    """Texts of every QR code in an image (path, bytes or PIL image); :class:`QrUnreadable` if none."""
    import io

    import zxingcpp
    from PIL import Image

    try:
        if isinstance(path_or_image, (bytes, bytearray)):
            img = Image.open(io.BytesIO(path_or_image))
        elif isinstance(path_or_image, (str, os.PathLike)):
            img = Image.open(path_or_image)
        else:
            img = path_or_image
        img.load()
        found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    except Exception as exc:
        raise QrUnreadable(type(exc).__name__) from None
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise QrUnreadable()
    return texts


def iter_inputs(item: str) -> Iterator[tuple[str, str | VerificationError]]:
    """Expand a ``vax verify`` INPUT into (source label, HC1 text or an error).

    INPUT is an ``HC1:`` string, a QR image, a certificates table
    (``.parquet``/``.csv`` with an ``hc1`` column) or a text file of HC1
    strings, one per line.
    """
    p = Path(item)
    try:
        exists = p.is_file()
    except OSError:  # e.g. an HC1 string too long for a file name
        exists = False
    if not exists:
        yield "arg", item
        return
    ext = p.suffix.lower()
    if ext in _IMAGE_EXT:
        try:
            texts = read_qr(p)
        except QrUnreadable as exc:
            yield p.name, exc
            return
        for i, t in enumerate(texts):
            yield f"{p.name}#{i + 1}" if len(texts) > 1 else p.name, t
    elif ext in (".parquet", ".csv"):
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        if ext == ".parquet":
            pf = pq.ParquetFile(p)
            row = 0
            for batch in pf.iter_batches(columns=["hc1"], batch_size=50_000):
                for text in batch.column(0).to_pylist():
                    row += 1
                    yield f"{p.name}:row {row}", text or ""
        else:
            table = pcsv.read_csv(p, convert_options=pcsv.ConvertOptions(include_columns=["hc1"]))
            for row, text in enumerate(table.column(0).to_pylist(), start=1):
                yield f"{p.name}:row {row}", text or ""
    else:
        with open(p, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, start=1):
                line = line.strip()
                if line:
                    yield f"{p.name}:{n}", line
