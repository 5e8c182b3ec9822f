"""Signing keys and certificates: the CSCA, document signers (DSC) and the trust list.

Certificate profiles follow the eHealth Network *Technical Specifications for
EU DCC, Volume 1*, section 5 / *Certificate Governance* (v1.4):

* CSCA: self-signed CA, ``basicConstraints`` CA with path length 0,
  ``keyUsage`` keyCertSign + cRLSign (critical), subject key identifier.
* DSC: ``keyUsage`` digitalSignature (critical), authority key identifier =
  the CSCA's subject key identifier, optional extended key usage limiting
  the certificate types (1.3.6.1.4.1.1847.2021.1.1 test, .2 vaccination,
  .3 recovery).  ECDSA P-256 (ES256) preferred, RSA-PSS 2048 (PS256)
  supported.
* kid = first 8 bytes of SHA-256 over the DSC's DER encoding (HCERT spec
  v1.0.5, section 3.3.1).

Private keys are stored as encrypted PKCS#8 PEM with the passphrase from
``VAX_KEY_PASSPHRASE``; the passphrase and keys are never logged.  File
modes are set explicitly, whatever the umask (under ``umask 000`` the
defaults would be world-writable): private keys and ``keystore.json`` 0600,
the key folder and ``dsc/`` 0700, certificates, the trust list and the
revocation list 0644 in a 0755 ``trust/`` (verifiers elsewhere read them).  Layout of a key folder::

    KEYS/csca.key.pem  csca.crt.pem
    KEYS/dsc/<kid-hex>.key.pem  <kid-hex>.crt.pem
    KEYS/keystore.json           active kid, history
    KEYS/trust/<kid-hex>.pem     trust list for verifiers (all DSCs, old ones too)
    KEYS/trust/revoked-uvci-sha256.txt   revocation list (see ledger.py)
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from vaxlib.sign.cose import ES256, PS256, ALG_NAMES
from vaxlib.sign.errors import KeyStoreError, PassphraseMissing

__all__ = [
    "PASSPHRASE_ENV", "EKU_TEST", "EKU_VACCINATION", "EKU_RECOVERY", "EKU_BY_TYPE",
    "passphrase", "kid_of", "Signer", "KeyInfo", "init_keys", "rotate", "list_keys",
    "load_signer", "load_trust_list", "dsc_types", "revoke_signer", "revoked_signers",
]

log = logging.getLogger(__name__)

PASSPHRASE_ENV = "VAX_KEY_PASSPHRASE"
EKU_TEST = ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.1")
EKU_VACCINATION = ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.2")
EKU_RECOVERY = ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.3")
#: HCERT group -> accepted EKU OIDs (incl. the mistyped .0.1847 variant some early DSCs carry)
EKU_BY_TYPE = {
    "t": {EKU_TEST.dotted_string, "1.3.6.1.4.1.0.1847.2021.1.1"},
    "v": {EKU_VACCINATION.dotted_string, "1.3.6.1.4.1.0.1847.2021.1.2"},
    "r": {EKU_RECOVERY.dotted_string, "1.3.6.1.4.1.0.1847.2021.1.3"},
}
_EKU_LETTER = {"t": EKU_TEST, "v": EKU_VACCINATION, "r": EKU_RECOVERY}

CSCA_DAYS = 4 * 365
DSC_DAYS = 2 * 365  # covers certificates issued during its first year and valid 12 months


def passphrase() -> bytes:
    """The key passphrase from ``VAX_KEY_PASSPHRASE``.

    Raises
    ------
    PassphraseMissing
        If the variable is unset or empty.
    """
    value = os.environ.get(PASSPHRASE_ENV)
    if not value:
        raise PassphraseMissing.say("sign_passphrase", name=PASSPHRASE_ENV)
    return value.encode("utf-8")


def kid_of(cert: x509.Certificate) -> bytes:
    """First 8 bytes of SHA-256 of the certificate's DER (the COSE kid)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()[:8]


def _new_key(alg: str):
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "PS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise KeyStoreError.say("keys_alg", alg=alg)


def _sign_cert(builder: x509.CertificateBuilder, key) -> x509.Certificate:
    if isinstance(key, rsa.RSAPrivateKey):
        return builder.sign(key, hashes.SHA256(),
                            rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=32))
    return builder.sign(key, hashes.SHA256())


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bộ Y tế"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


#: file and folder modes (module docstring)
PRIVATE_FILE, PRIVATE_DIR, PUBLIC_FILE, PUBLIC_DIR = 0o600, 0o700, 0o644, 0o755


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR)
    return path


def _public_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PUBLIC_DIR)
    return path


def _write_private(path: Path, key, secret: bytes) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(secret))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # before the key is written: an existing file may have had another mode
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _read_private(path: Path, secret: bytes):
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyStoreError.say("keys_unreadable", path=path, reason=exc.strerror) from None
    try:
        return serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError):
        raise KeyStoreError.say("keys_decrypt", path=path, name=PASSPHRASE_ENV) from None


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, PUBLIC_FILE)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _make_csca(key, now: dt.datetime) -> x509.Certificate:
    pub = key.public_key()
    b = (x509.CertificateBuilder()
         .subject_name(_name("Viet Nam DCC CSCA (vaxlib)"))
         .issuer_name(_name("Viet Nam DCC CSCA (vaxlib)"))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(now + dt.timedelta(days=CSCA_DAYS))
         .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                      key_encipherment=False, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=True, crl_sign=True,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False))
    return _sign_cert(b, key)


def _make_dsc(key, csca_cert: x509.Certificate, csca_key, now: dt.datetime,
              eku: Iterable[str], days: int = DSC_DAYS) -> x509.Certificate:
    pub = key.public_key()
    ski = csca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    not_after = min(now + dt.timedelta(days=days), csca_cert.not_valid_after_utc)
    b = (x509.CertificateBuilder()
         .subject_name(_name(f"Viet Nam DSC {now:%Y-%m-%d %H%M%S} (vaxlib)"))
         .issuer_name(csca_cert.subject)
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(not_after)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=False, data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False, crl_sign=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                        critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False))
    letters = sorted(set(eku))
    if letters:
        try:
            oids = [_EKU_LETTER[x] for x in letters]
        except KeyError:
            raise KeyStoreError.say("keys_eku", letters=letters) from None
        b = b.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    return _sign_cert(b, csca_key)


@dataclass
class KeyInfo:
    """One document signer as :func:`list_keys` reports it (no secret)."""

    kid_hex: str
    kid_b64: str
    alg: str
    not_before: str
    not_after: str
    eku: str
    active: bool


@dataclass
class Signer:
    """An opened document signer: private key, certificate and kid."""

    key: Any
    cert: x509.Certificate
    kid: bytes
    alg: int

    @property
    def kid_b64(self) -> str:
        return base64.b64encode(self.kid).decode("ascii")


def _store_path(keys: Path) -> Path:
    return keys / "keystore.json"


def _read_store(keys: Path) -> dict:
    path = _store_path(keys)
    try:
        store = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyStoreError.say("keys_no_store", keys=keys) from None
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        raise KeyStoreError.say("keys_damaged", path=path, what=type(exc).__name__) from None
    if not isinstance(store, dict) or not isinstance(store.get("active"), str) \
            or not re.fullmatch(r"[0-9a-f]{16}", store["active"]) or not isinstance(store.get("history"), list):
        raise KeyStoreError.say("keys_damaged_history", path=path)
    return store


def _read_cert(path: Path) -> x509.Certificate:
    """One PEM certificate of the key store; :class:`KeyStoreError` when missing or damaged."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise KeyStoreError.say("keys_missing_file", path=path) from None
    except (OSError, ValueError) as exc:
        raise KeyStoreError.say("keys_damaged_cert", path=path, what=type(exc).__name__) from None


def _write_store(keys: Path, store: dict) -> None:
    _store_path(keys).write_text(json.dumps(store, indent=2) + "\n", encoding="utf-8")
    os.chmod(_store_path(keys), PRIVATE_FILE)


def _add_dsc(keys: Path, csca_cert, csca_key, alg: str, eku: Iterable[str], secret: bytes,
             now: dt.datetime) -> bytes:
    key = _new_key(alg)
    cert = _make_dsc(key, csca_cert, csca_key, now, eku)
    kid = kid_of(cert)
    _private_dir(keys / "dsc")
    _public_dir(keys / "trust")
    _write_private(keys / "dsc" / f"{kid.hex()}.key.pem", key, secret)
    _write_cert(keys / "dsc" / f"{kid.hex()}.crt.pem", cert)
    _write_cert(keys / "trust" / f"{kid.hex()}.pem", cert)
    return kid


def init_keys(out: str | os.PathLike, *, alg: str = "ES256", eku: Iterable[str] = ("v",),
              now: dt.datetime | None = None, force: bool = False) -> bytes:
    """Create a CSCA and a first DSC in ``out``; return the DSC's kid.

    Parameters
    ----------
    alg : {"ES256", "PS256"}
        Algorithm of both keys.
    eku : iterable of {"t", "v", "r"}
        Certificate types the DSC may sign (empty: no EKU extension, i.e. all).
    force : bool
        Overwrite an existing key folder.

    Raises
    ------
    PassphraseMissing, KeyStoreError
    """
    secret = passphrase()
    keys = Path(out)
    if _store_path(keys).exists() and not force:
        raise KeyStoreError.say("keys_exists", keys=keys)
    _private_dir(keys)
    now = now or _now()
    csca_key = _new_key(alg)
    csca = _make_csca(csca_key, now)
    _write_private(keys / "csca.key.pem", csca_key, secret)
    _write_cert(keys / "csca.crt.pem", csca)
    kid = _add_dsc(keys, csca, csca_key, alg, eku, secret, now)
    _write_store(keys, {"version": 1, "active": kid.hex(),
                        "history": [{"kid": kid.hex(), "alg": alg, "created": now.isoformat()}]})
    log.info("key store created with DSC kid %s", kid.hex())
    return kid


def rotate(keys_dir: str | os.PathLike, *, alg: str | None = None, eku: Iterable[str] = ("v",),
           now: dt.datetime | None = None) -> bytes:
    """Issue a new DSC under the CSCA and make it the active signer; return its kid.

    The previous DSCs stay in ``trust/`` so certificates they signed keep verifying.
    """
    secret = passphrase()
    keys = Path(keys_dir)
    store = _read_store(keys)
    csca_key = _read_private(keys / "csca.key.pem", secret)
    csca = _read_cert(keys / "csca.crt.pem")
    if alg is None:
        alg = next(h["alg"] for h in store["history"] if h["kid"] == store["active"])
    now = now or _now()
    kid = _add_dsc(keys, csca, csca_key, alg, eku, secret, now)
    store["active"] = kid.hex()
    store["history"].append({"kid": kid.hex(), "alg": alg, "created": now.isoformat()})
    _write_store(keys, store)
    log.info("rotated: active DSC is now kid %s", kid.hex())
    return kid


def revoked_signers(keys_dir: str | os.PathLike) -> set[str]:
    """kid hex of every DSC revoked in ``keystore.json`` (never to sign again)."""
    return set(_read_store(Path(keys_dir)).get("revoked", []))


def revoke_signer(keys_dir: str | os.PathLike, kid_hex: str) -> bool:
    """Mark a DSC revoked (a lost or compromised key): ``vax sign`` refuses it; True if new.

    Its certificate stays in ``trust/``: certificates it signed earlier keep
    verifying until they are revoked by UVCI (``vax keys revoke``).
    """
    keys = Path(keys_dir)
    store = _read_store(keys)
    if kid_hex not in {h["kid"] for h in store["history"]}:
        raise KeyStoreError.say("keys_no_dsc", keys=keys, kid=kid_hex)
    revoked = store.setdefault("revoked", [])
    if kid_hex in revoked:
        return False
    revoked.append(kid_hex)
    _write_store(keys, store)
    return True


def dsc_types(cert: x509.Certificate) -> set[str] | None:
    """HCERT groups (``t``/``v``/``r``) a DSC may sign; ``None`` when unrestricted.

    eHN *Technical Specifications for EU DCC, Volume 1*, section 5 (DSC profile):
    a DSC MAY carry an extended key usage with zero or more of the three DCC
    OIDs; the values are non-critical and unknown OIDs must be handled
    gracefully.  So only the DCC OIDs restrict: no extended key usage, an empty
    one, or one with none of the DCC OIDs (e.g. only the ICAO document-signer
    OID 2.23.136.1.1.14.2) allows every type -- what the national verifier apps
    do (Corona-Warn-App ``DscSignatureValidator.checkOidsIntersect``: "if the
    intersection with the DCC OIDs is empty: OK").  The test vectors that expect
    otherwise are listed as vector defects in ``tests/test_sign_vectors.py``.
    """
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # an empty EKU SEQUENCE (CO15) is rejected by the strict parser
        return None
    oids = {o.dotted_string for o in ext}
    allowed = {t for t, accepted in EKU_BY_TYPE.items() if oids & accepted}
    return allowed or None


def list_keys(keys_dir: str | os.PathLike) -> list[KeyInfo]:
    """Every DSC in the key folder, oldest first (no passphrase needed)."""
    keys = Path(keys_dir)
    store = _read_store(keys)
    rows = []
    for h in store["history"]:
        cert = _read_cert(keys / "dsc" / f"{h['kid']}.crt.pem")
        types = dsc_types(cert)
        kid = bytes.fromhex(h["kid"])
        rows.append(KeyInfo(kid_hex=h["kid"], kid_b64=base64.b64encode(kid).decode(), alg=h["alg"],
                            not_before=cert.not_valid_before_utc.isoformat(),
                            not_after=cert.not_valid_after_utc.isoformat(),
                            eku="".join(sorted(types)) if types else "all",
                            active=h["kid"] == store["active"]))
    return rows


def load_signer(keys_dir: str | os.PathLike, kid_hex: str | None = None) -> Signer:
    """Open the active (or the given) DSC for signing.

    Raises
    ------
    PassphraseMissing
        ``VAX_KEY_PASSPHRASE`` not set.
    KeyStoreError
        Missing files or a wrong passphrase.
    """
    secret = passphrase()
    keys = Path(keys_dir)
    kid_hex = kid_hex or _read_store(keys)["active"]
    key = _read_private(keys / "dsc" / f"{kid_hex}.key.pem", secret)
    cert = _read_cert(keys / "dsc" / f"{kid_hex}.crt.pem")
    kid = kid_of(cert)
    if kid.hex() != kid_hex:
        raise KeyStoreError.say("keys_kid_mismatch", path=f"{keys}/dsc/{kid_hex}.crt.pem")
    alg = ES256 if isinstance(key, ec.EllipticCurvePrivateKey) else PS256
    return Signer(key=key, cert=cert, kid=kid, alg=alg)


def load_trust_list(path: str | os.PathLike) -> dict[bytes, x509.Certificate]:
    """kid -> DSC from a trust folder of PEM files (or one PEM bundle file).

    The kid is recomputed from each certificate; file names are not trusted.
    """
    p = Path(path)
    files = sorted(p.glob("*.pem")) if p.is_dir() else [p]
    if not p.exists():
        raise KeyStoreError.say("keys_no_trust_list", path=p)
    trust: dict[bytes, x509.Certificate] = {}
    for f in files:
        try:
            certs = x509.load_pem_x509_certificates(f.read_bytes())
        except ValueError:
            raise KeyStoreError.say("verify_not_pem", path=f) from None
        for cert in certs:
            trust[kid_of(cert)] = cert
    return trust


__all__ += ["ALG_NAMES"]
