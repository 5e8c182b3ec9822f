"""Trust list and revocation list in the formats of the EU DCC Gateway, for verifier apps.

Sources: eu-digital-green-certificates/dgc-gateway (``TrustList`` model,
``RevocationBatchDto``; docs/software-design-dgc-gateway.md) and the DCC
revocation design as national apps implement it (Corona-Warn-App
``calculateRevocationEntryForType``).

Trust list (``trustlist-dsc.json``)
    What ``GET /trustList/DSC`` returns: a JSON array, one object per document
    signer: ``kid`` (base64 of the 8-byte kid), ``timestamp``, ``country``
    (``VN``), ``certificateType`` (``DSC``), ``thumbprint`` (SHA-256 hex of the
    DER), ``signature`` (base64 CMS signature over the DER by the upload
    certificate, as the gateway stores a signed upload) and ``rawData``
    (base64 DER).  Revoked DSCs (``vax keys`` keystore ``revoked``) are left
    out.

Revocation batches (``revocation/batch-NNNN-<TYPE>.json`` + ``.cms``)
    ``RevocationBatchDto``: ``country``, ``expires`` (when every certificate in
    the batch has expired: the batch may then be deleted), ``kid`` (the DSC that
    signed the revoked certificates), ``hashType`` and at most 1000 ``entries``
    of ``{"hash": base64 of the first 128 bits of a SHA-256}``.  Hash types:
    ``UCI`` = SHA-256(UVCI), ``COUNTRYCODEUCI`` = SHA-256(CWT issuer + UVCI),
    ``SIGNATURE`` = SHA-256(r of an ES256 signature / the whole PS256 signature).
    vaxlib writes ``UCI`` and ``COUNTRYCODEUCI`` batches (a superseded
    certificate's signature is not kept once it is re-issued).  The ``.cms``
    beside each batch is the upload body the gateway expects: a CMS SignedData
    holding the batch JSON, signed by the upload certificate.

The upload certificate (``KEYS/upload.crt.pem``, the gateway's NB_UP) is a
self-signed ECDSA P-256 certificate with digitalSignature, made on first
export; the CSCA is not used (its key usage is certificate signing only).

:class:`~vaxlib.sign.verify.Verifier` reads both: ``trust`` may be a
``trustlist-dsc.json`` (each entry's thumbprint and kid are recomputed; with
``csca`` every DSC must be issued by it) and ``revoked`` a batch file or a
folder of them.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from vaxlib.sign.errors import KeyStoreError
from vaxlib.sign.keys import (
    PUBLIC_FILE, _public_dir, _read_private, _write_cert, _write_private, kid_of, load_trust_list, passphrase,
    revoked_signers,
)
from vaxlib.sign.payload import COUNTRY, add_months

__all__ = ["TRUST_LIST_FILE", "REVOCATION_DIR", "HASH_TYPES", "BATCH_SIZE", "revocation_hash",
           "export_trust_list", "load_gateway_trust_list", "export_revocation_batches",
           "load_revocation_batches", "export_lists"]

TRUST_LIST_FILE = "trustlist-dsc.json"
REVOCATION_DIR = "revocation"
HASH_TYPES = ("SIGNATURE", "UCI", "COUNTRYCODEUCI")
BATCH_SIZE = 1000  # the gateway's maximum entries per batch


def revocation_hash(hash_type: str, *, uvci: str = "", issuer: str = COUNTRY, signature: bytes = b"",
                    alg: int = -7) -> bytes:
    """The 16-byte revocation entry of a certificate for ``hash_type`` (see the module docstring)."""
    if hash_type == "UCI":
        data = uvci.encode("utf-8")
    elif hash_type == "COUNTRYCODEUCI":
        data = (issuer + uvci).encode("utf-8")
    elif hash_type == "SIGNATURE":
        data = signature[: len(signature) // 2] if alg == -7 else signature
    else:
        raise ValueError(f"hash type {hash_type!r}: one of {HASH_TYPES}")
    return hashlib.sha256(data).digest()[:16]


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _upload_signer(keys: Path):
    """The upload key and certificate (NB_UP), made on first use."""
    secret = passphrase()
    key_path, crt_path = keys / "upload.key.pem", keys / "upload.crt.pem"
    if key_path.exists() and crt_path.exists():
        return _read_private(key_path, secret), x509.load_pem_x509_certificate(crt_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, COUNTRY),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bộ Y tế"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Viet Nam DCC upload (vaxlib)")])
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2 * 365))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, key, secret)
    _write_cert(crt_path, cert)
    return key, cert


def _cms(data: bytes, key, cert, *, detached: bool) -> bytes:
    opts = [pkcs7.PKCS7Options.Binary] + ([pkcs7.PKCS7Options.DetachedSignature] if detached else [])
    return (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, opts))


def export_trust_list(keys_dir: str | os.PathLike, out: str | os.PathLike, *,
                      now: dt.datetime | None = None) -> Path:
    """Write the DSC trust list (gateway JSON) of ``keys_dir`` to ``out``; return its path."""
    keys = Path(keys_dir)
    key, up = _upload_signer(keys)
    revoked = revoked_signers(keys)
    stamp = _iso(now or dt.datetime.now(dt.timezone.utc))
    entries = []
    for kid, cert in sorted(load_trust_list(keys / "trust").items()):
        if kid.hex() in revoked:
            continue
        der = cert.public_bytes(serialization.Encoding.DER)
        entries.append({"kid": base64.b64encode(kid).decode(), "timestamp": stamp, "country": COUNTRY,
                        "certificateType": "DSC", "thumbprint": hashlib.sha256(der).hexdigest(),
                        "signature": base64.b64encode(_cms(der, key, up, detached=True)).decode(),
                        "rawData": base64.b64encode(der).decode()})
    out = Path(out)
    out.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    os.chmod(out, PUBLIC_FILE)  # a trust list is published: 0644 whatever the umask
    return out


def load_gateway_trust_list(path: str | os.PathLike, csca: x509.Certificate | None = None,
                            ) -> dict[bytes, x509.Certificate]:
    """kid -> DSC from a gateway trust list JSON; entries are checked, never trusted as written.

    Raises
    ------
    KeyStoreError
        Not a trust list, or an entry whose thumbprint or kid does not match its
        certificate, or (with ``csca``) a DSC that the CSCA did not issue.
    """
    p = Path(path)
    try:
        entries = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KeyStoreError.say("gw_not_trust_list", path=p, what=type(exc).__name__) from None
    if not isinstance(entries, list):
        raise KeyStoreError.say("gw_not_array", path=p)
    out: dict[bytes, x509.Certificate] = {}
    for i, e in enumerate(entries, start=1):
        try:
            if e.get("certificateType", "DSC") != "DSC":
                continue
            der = base64.b64decode(e["rawData"], validate=True)
            cert = x509.load_der_x509_certificate(der)
        except Exception:
            raise KeyStoreError.say("gw_raw_not_cert", path=p, entry=i) from None
        if e.get("thumbprint", "").lower() != hashlib.sha256(der).hexdigest():
            raise KeyStoreError.say("gw_thumbprint", path=p, entry=i)
        kid = kid_of(cert)
        if e.get("kid") != base64.b64encode(kid).decode():
            raise KeyStoreError.say("gw_kid", path=p, entry=i)
        if csca is not None:
            try:
                cert.verify_directly_issued_by(csca)
            except Exception:
                raise KeyStoreError.say("gw_not_issued", path=p, entry=i) from None
        out[kid] = cert
    return out


def _ledger_revocations(ledger_rows: Iterable[dict]) -> list[tuple[str, str, dt.datetime]]:
    """(kid, uvci, expires) of every revoked UVCI in a signing ledger."""
    issued = {r["uvci"]: r for r in ledger_rows if r["event"] in ("issued", "reissued")}
    out = []
    for r in ledger_rows:
        if r["event"] != "revoked":
            continue
        first = issued.get(r["uvci"], r)
        signed = dt.datetime.fromisoformat(first["signed_at"])
        out.append((first.get("kid") or r.get("kid") or "UNKNOWN_KID", r["uvci"], add_months(signed, 12)))
    return out


def export_revocation_batches(ledger_rows: list[dict], out_dir: str | os.PathLike, keys_dir: str | os.PathLike,
                              *, uci_digests: Iterable[bytes] = (), issuer: str = COUNTRY) -> list[Path]:
    """Write ``UCI`` and ``COUNTRYCODEUCI`` batches (JSON + signed CMS) for the revoked UVCIs.

    ``ledger_rows`` come from :func:`vaxlib.sign.ledger.read_ledger` (their
    ``revoked`` events: UVCI, kid, issue time).  ``uci_digests`` are SHA-256
    digests of UVCIs revoked by hand (``vax keys revoke`` keeps only the
    digest): a ``UCI`` batch under ``UNKNOWN_KID`` expiring 12 months from now.
    """
    keys = Path(keys_dir)
    key, up = _upload_signer(keys)
    out = _public_dir(Path(out_dir))
    now = dt.datetime.now(dt.timezone.utc)
    groups: dict[tuple[str, str], list[tuple[bytes, dt.datetime]]] = {}
    for kid, uvci, exp in _ledger_revocations(ledger_rows):
        for hash_type in ("UCI", "COUNTRYCODEUCI"):
            groups.setdefault((kid, hash_type), []).append((revocation_hash(hash_type, uvci=uvci, issuer=issuer), exp))
    known = {h for h, _ in groups.get(("UNKNOWN_KID", "UCI"), [])} | {
        h for (k, t), rows in groups.items() if t == "UCI" for h, _ in rows}
    for digest in uci_digests:
        if digest[:16] not in known:
            groups.setdefault(("UNKNOWN_KID", "UCI"), []).append((digest[:16], add_months(now, 12)))
    paths, n = [], 0
    for (kid, hash_type) in sorted(groups):
        rows = groups[(kid, hash_type)]
        for start in range(0, len(rows), BATCH_SIZE):
            chunk = rows[start:start + BATCH_SIZE]
            n += 1
            batch = {"country": issuer, "expires": _iso(max(e for _, e in chunk)), "kid": kid,
                     "hashType": hash_type, "entries": [{"hash": base64.b64encode(h).decode()} for h, _ in chunk]}
            data = json.dumps(batch, indent=2).encode("utf-8")
            path = out / f"batch-{n:04d}-{hash_type}.json"
            path.write_bytes(data)
            path.with_suffix(".cms").write_text(
                base64.b64encode(_cms(data, key, up, detached=False)).decode() + "\n", encoding="ascii")
            for p in (path, path.with_suffix(".cms")):
                os.chmod(p, PUBLIC_FILE)  # revocation lists are published: 0644 whatever the umask
            paths.append(path)
    return paths


def load_revocation_batches(path: str | os.PathLike, *, at: dt.datetime | None = None) -> dict[str, set[bytes]]:
    """hash type -> revoked 16-byte entries, from a batch JSON file or a folder of them.

    Batches past their ``expires`` are ignored (every certificate in them has expired).

    Raises
    ------
    KeyStoreError
        A file that is not a revocation batch.
    """
    p = Path(path)
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    at = at or dt.datetime.now(dt.timezone.utc)
    out: dict[str, set[bytes]] = {t: set() for t in HASH_TYPES}
    for f in files:
        try:
            batch = json.loads(f.read_text(encoding="utf-8"))
            hash_type = batch["hashType"]
            expires = dt.datetime.fromisoformat(batch["expires"].replace("Z", "+00:00"))
            hashes_ = [base64.b64decode(e["hash"], validate=True) for e in batch["entries"]]
        except Exception:
            raise KeyStoreError.say("gw_not_batch", path=f) from None
        if hash_type not in out or any(len(h) != 16 for h in hashes_):
            raise KeyStoreError.say("gw_hash_type", path=f)
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.timezone.utc)
        if expires < at:
            continue
        out[hash_type].update(hashes_)
    return out


def export_lists(keys_dir: str | os.PathLike, out: str | os.PathLike, *,
                 ledgers: Iterable[str | os.PathLike] = ()) -> tuple[Path, list[Path]]:
    """``vax keys export``: the trust list and the revocation batches into ``out``.

    Revoked UVCIs come from the signing ledgers given (their ``revoked``
    events, with kid and expiry: ``UCI`` and ``COUNTRYCODEUCI`` batches) and
    from ``KEYS/trust/revoked-uvci-sha256.txt`` (digests only: ``UCI`` batches
    under ``UNKNOWN_KID``).
    """
    from vaxlib.sign.ledger import read_ledger

    out = _public_dir(Path(out))
    trust = export_trust_list(keys_dir, out / TRUST_LIST_FILE)
    from vaxlib.sign.ledger import revocation_path
    from vaxlib.sign.verify import load_revocations

    rows: list[dict] = []
    for folder in ledgers:
        rows += read_ledger(folder)
    by_hand = [bytes.fromhex(h) for h in load_revocations(revocation_path(keys_dir))]
    batches = export_revocation_batches(rows, out / REVOCATION_DIR, keys_dir, uci_digests=by_hand)
    return trust, batches
