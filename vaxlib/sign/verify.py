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
import functools
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping as _Map
from typing import Any, Iterable, Iterator, Mapping

import cbor2
from cryptography import x509

from vaxlib.sign import hc1 as _hc1
from vaxlib.sign.cose import ALG_NAMES, HDR_ALG, CoseSign1, parse_cose, verify_signature
from vaxlib.sign.errors import (
    AlgNotProtected, BadCwt, Expired, KeyUsageMismatch, NotYetValid, QrUnreadable, Revoked,
    SignerNotValid, TooLarge, UnknownKid, ValueSetInvalid, VerificationError,
)
from vaxlib.sign.keys import dsc_types, load_trust_list
from vaxlib.sign.payload import (
    CLAIM_EXP, CLAIM_IAT, CLAIM_ISS, HCERT_CLAIM, validate_schema, value_set_findings,
)

__all__ = ["Decoded", "VerifyResult", "Holder", "Verifier", "decode", "decode_cose", "uvci_hash",
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
    """A decoded certificate (signature not necessarily checked).

    ``findings`` are the business-rule findings of :meth:`Verifier.verify`
    (``value_set:v/0/mp`` ...): reported, not a rejection unless strict.
    """

    cose: CoseSign1
    claims: dict
    hcert: dict
    findings: list = field(default_factory=list)

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
    #: business-rule findings (``value_set:v/0/mp``); the certificate is still valid unless strict
    findings: list = field(default_factory=list)
    #: what a verifier app shows about the holder (personal: print masked unless asked)
    holder: "Holder | None" = field(default=None, repr=False)


@dataclass(frozen=True)
class Holder:
    """The certificate's content as the verifier apps show it."""

    name: str  #: family name + given names as written (Vietnamese)
    icao: str  #: ``FNT<<GNT`` (ICAO 9303 machine-readable form)
    dob: str
    vaccine: str  #: product name (or the ``mp`` code when it is not one we know)
    dose: str  #: ``n/N``
    date: str  #: vaccination date
    issuer: str
    country: str

    @classmethod
    def of(cls, hcert: Mapping) -> "Holder":
        nam = hcert.get("nam") or {}
        v = (hcert.get("v") or [{}])[0] if isinstance(hcert.get("v"), list) else {}
        v = v if isinstance(v, dict) else {}
        name = " ".join(str(x) for x in (nam.get("fn"), nam.get("gn")) if x)
        icao = f"{nam.get('fnt') or ''}<<{nam.get('gnt') or ''}".strip("<")
        dn, sd = v.get("dn"), v.get("sd")
        return cls(name=name, icao=icao, dob=str(hcert.get("dob") or ""),
                   vaccine=_product_name(v.get("mp")), dose=f"{dn}/{sd}" if dn is not None else "",
                   date=str(v.get("dt") or ""), issuer=str(v.get("is") or ""), country=str(v.get("co") or ""))

    def masked(self) -> "Holder":
        """Name and dob masked for logs: ``N***** B** D**``, ``N*****<<B**<D**``, ``1983-**-**``."""
        word = lambda w: w[:1] + "*" * (len(w) - 1)  # noqa: E731
        import re

        return Holder(name=" ".join(word(w) for w in self.name.split()),
                      icao=re.sub(r"[A-Z]+", lambda m: word(m.group()), self.icao),
                      dob=self.dob[:4] + re.sub(r"\d", "*", self.dob[4:]),
                      vaccine=self.vaccine, dose=self.dose, date=self.date, issuer=self.issuer,
                      country=self.country)

    def line(self, expires_at: str, lang: str = "vi") -> str:
        """One line like the apps' result screen."""
        from vaxlib.i18n import fmt_date

        exp = fmt_date(expires_at[:10], lang) if expires_at else ""
        if lang == "vi":
            return (f"Họ tên: {self.name} ({self.icao}) · Ngày sinh: {fmt_date(self.dob, lang)} · "
                    f"Vắc xin: {self.vaccine} · Mũi {self.dose}, ngày {fmt_date(self.date, lang)} · "
                    f"Cấp bởi: {self.issuer} ({self.country}) · Hết hạn: {exp}")
        return (f"Name: {self.name} ({self.icao}) · Born: {fmt_date(self.dob, lang)} · "
                f"Vaccine: {self.vaccine} · Dose {self.dose}, {fmt_date(self.date, lang)} · "
                f"Issuer: {self.issuer} ({self.country}) · Expires: {exp}")


def _product_name(mp: Any) -> str:
    """The product's display name from the EU value set (``Comirnaty``), as the apps show it."""
    return _product_names().get(mp, str(mp or ""))


@functools.lru_cache(maxsize=1)
def _product_names() -> dict[str, str]:
    import json

    from vaxlib.config import dcc_dir

    path = dcc_dir() / "valuesets" / "vaccine-medicinal-product.json"
    values = json.loads(path.read_text(encoding="utf-8"))["valueSetValues"]
    return {code: v.get("display", code) for code, v in values.items()}


class Verifier:
    """Verify certificates against a trust list, a clock and a revocation list.

    Parameters
    ----------
    trust : path or mapping kid -> x509.Certificate
        A trust folder (``KEYS/trust``), a gateway trust list (``trustlist-dsc.json``,
        :mod:`vaxlib.sign.gateway`) or an already-loaded trust list.
        ``revoked-uvci-sha256.txt`` inside a trust folder is read too.
    revoked : path or iterable of str, optional
        More revoked UVCI hashes (a hex file, or UVCIs), or gateway revocation
        batches (a batch ``.json`` or a folder of them).
    csca : x509.Certificate, optional
        With a gateway trust list: every DSC must be issued by this CSCA.
    at : datetime, optional
        The validation clock (default: now).
    value_sets : bool
        Also check the vaccine/country codes against the DCC value sets (business rules:
        reported in ``findings``; a rejection only when ``strict``).
    strict : bool
        Business-rule findings reject the certificate (reason ``value_set_invalid``).
    key_usage : bool
        Enforce the DSC's extended key usage against the certificate type.
    lang : {"vi", "en"}
        Language of the result messages.
    """

    def __init__(self, trust: str | os.PathLike | Mapping[bytes, x509.Certificate],
                 revoked: str | os.PathLike | Iterable[str] | None = None, *,
                 at: dt.datetime | None = None, value_sets: bool = True,
                 key_usage: bool = True, strict: bool = False, lang: str = "vi",
                 csca: x509.Certificate | None = None) -> None:
        self.revoked: set[str] = set()
        #: gateway revocation batches: hash type -> 16-byte entries
        self.batches: dict[str, set[bytes]] = {}
        if isinstance(trust, Mapping):
            self.trust = dict(trust)
        elif str(trust).lower().endswith(".json"):
            from vaxlib.sign.gateway import load_gateway_trust_list

            self.trust = load_gateway_trust_list(trust, csca)
        else:
            self.trust = load_trust_list(trust)
            if Path(trust).is_dir():
                self.revoked |= load_revocations(Path(trust) / REVOCATION_FILE)
        if isinstance(revoked, (str, os.PathLike)) and (Path(revoked).is_dir()
                                                        or str(revoked).lower().endswith(".json")):
            from vaxlib.sign.gateway import load_revocation_batches

            self.batches = load_revocation_batches(revoked, at=at)
        elif isinstance(revoked, (str, os.PathLike)):
            self.revoked |= load_revocations(revoked)
        elif revoked is not None:
            self.revoked |= {r if len(r) == 64 and ":" not in r else uvci_hash(r) for r in revoked}
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)
        self.at = at
        self.value_sets = value_sets
        self.strict = strict
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
        """The signer's certificate, once the signature verifies.

        ``alg`` must be in the protected header (HCERT spec v1.0.5, section 3.3.1, and
        RFC 9052 section 3.1: only the protected bucket is covered by the signature,
        so an ``alg`` in the unprotected one could be swapped by anyone).
        """
        if HDR_ALG not in msg.protected:
            raise AlgNotProtected("unprotected header only" if HDR_ALG in msg.unprotected else "no alg")
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
        if any(self.batches.values()):
            from vaxlib.sign.gateway import revocation_hash

            iss = decoded.issuer if isinstance(decoded.issuer, str) else ""
            sig = decoded.cose.signature
            if revocation_hash("SIGNATURE", signature=sig, alg=decoded.cose.alg) in self.batches["SIGNATURE"]:
                raise Revoked("SIGNATURE")
            for u in decoded.uvcis:
                if revocation_hash("UCI", uvci=u) in self.batches["UCI"]:
                    raise Revoked("UCI")
                if revocation_hash("COUNTRYCODEUCI", uvci=u, issuer=iss) in self.batches["COUNTRYCODEUCI"]:
                    raise Revoked("COUNTRYCODEUCI")

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
        self.check_revocation(decoded)
        decoded.findings = self.business_rules(decoded)
        if decoded.findings and self.strict:
            raise ValueSetInvalid(", ".join(f.split(":", 1)[1] for f in decoded.findings))
        return decoded

    def business_rules(self, decoded: Decoded) -> list[str]:
        """Business-rule findings (``value_set:<path>``): codes outside the EU value sets.

        Technical validity (signature, key usage, validity window, schema, revocation)
        rejects; these only report, unless the verifier is ``strict`` -- no DCC schema
        version enforces value sets, and other countries' valid certificates carry codes
        of newer value sets than ours.
        """
        if not self.value_sets:
            return []
        return [f"value_set:{p}" for p in value_set_findings(decoded.hcert)]

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
                            expires_at=exp.isoformat() if exp else "",
                            findings=list(d.findings), holder=Holder.of(d.hcert))


# --------------------------------------------------------------------------- inputs

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


#: largest image the QR reader decodes (a 48-megapixel phone photo fits; a decompression bomb does not)
MAX_QR_PIXELS = 60_000_000
#: largest image file or certificates table read as ``vax verify`` input
MAX_INPUT_BYTES = 1 << 30


def read_qr(path_or_image: Any) -> list[str]:
    """Texts of every QR code in an image (path, bytes or PIL image).

    Raises :class:`QrUnreadable` if there is none, :class:`TooLarge` for an
    image over :data:`MAX_QR_PIXELS` pixels (checked from the header, before
    the pixels are decoded) or a file over :data:`MAX_INPUT_BYTES`.
    """
    import io

    import zxingcpp
    from PIL import Image

    try:
        if isinstance(path_or_image, (bytes, bytearray)):
            _check_size(len(path_or_image))
            img = Image.open(io.BytesIO(path_or_image))
        elif isinstance(path_or_image, (str, os.PathLike)):
            _check_size(os.path.getsize(path_or_image))
            img = Image.open(path_or_image)
        else:
            img = path_or_image
        width, height = img.size
        if width * height > MAX_QR_PIXELS:
            raise TooLarge(f"image of {width}x{height} pixels; limit {MAX_QR_PIXELS:,}")
        img.load()
        found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
    except TooLarge:
        raise
    except Exception as exc:
        raise QrUnreadable(type(exc).__name__) from None
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise QrUnreadable()
    return texts


def _check_size(n: int) -> None:
    if n > MAX_INPUT_BYTES:
        raise TooLarge(f"{n:,} bytes; limit {MAX_INPUT_BYTES:,}")


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
        except (QrUnreadable, TooLarge) as exc:
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
            try:
                _check_size(p.stat().st_size)
            except TooLarge as exc:
                yield p.name, exc
                return
            table = pcsv.read_csv(p, convert_options=pcsv.ConvertOptions(include_columns=["hc1"]))
            for row, text in enumerate(table.column(0).to_pylist(), start=1):
                yield f"{p.name}:row {row}", text or ""
    else:
        limit = _hc1.MAX_HC1_CHARS
        with open(p, encoding="utf-8", errors="replace") as fh:
            n = 0
            while line := fh.readline(limit + 1):  # a file without line breaks is not read whole
                n += 1
                if len(line) > limit and not line.endswith("\n"):
                    while (rest := fh.readline(limit + 1)) and not rest.endswith("\n"):
                        pass  # skip the rest of the over-long line
                    yield f"{p.name}:{n}", TooLarge(f"line longer than {limit:,} characters")
                    continue
                line = line.strip()
                if line:
                    yield f"{p.name}:{n}", line
