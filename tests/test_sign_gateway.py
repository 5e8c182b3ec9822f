"""Trust list and revocation batches in the EU DCC Gateway formats, exported and consumed."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess

import pandas as pd
import pytest
from cryptography import x509

from vaxlib.cli import main
from vaxlib.sign.errors import KeyStoreError, Revoked
from vaxlib.sign.gateway import (
    REVOCATION_DIR, TRUST_LIST_FILE, export_lists, load_gateway_trust_list, load_revocation_batches,
    revocation_hash,
)
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys, kid_of, load_signer, revoke_signer, rotate
from vaxlib.sign.verify import Verifier

from test_sign_lifecycle import BASE, _tables, _write  # the same small tables


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "x")
    init_keys(tmp_path / "K")
    return tmp_path / "K"


def _signed_and_reissued(tmp_path, keys):
    """A run, then a rerun that re-issues P1 (new dose): one revoked UVCI in the ledger."""
    from vaxlib.sign.batch import sign_tables

    reg, vac, mat = _tables(BASE)
    p = _write(tmp_path, reg, vac, mat)
    out = tmp_path / "OUT"
    sign_tables(p["reg"], p["vac"], p["mat"], keys, out, signer_name="t", processes=1, candidates=p["cand"])
    before = pd.read_parquet(out / "certificates.parquet").set_index("person_id")
    reg, vac, mat = _tables(BASE + [("r4", BASE[0][1], "verified", 2, "2021-10-20", "AstraZeneca")])
    p = _write(tmp_path, reg, vac, mat)
    sign_tables(p["reg"], p["vac"], p["mat"], keys, out, signer_name="t", processes=1, candidates=p["cand"])
    after = pd.read_parquet(out / "certificates.parquet").set_index("person_id")
    return out, before, after


def test_revocation_hash_types():
    u = "URN:UVCI:01:VN:ABC#X"
    assert revocation_hash("UCI", uvci=u) == hashlib.sha256(u.encode()).digest()[:16]
    assert revocation_hash("COUNTRYCODEUCI", uvci=u, issuer="VN") == hashlib.sha256(b"VN" + u.encode()).digest()[:16]
    sig = bytes(range(64))
    assert revocation_hash("SIGNATURE", signature=sig, alg=-7) == hashlib.sha256(sig[:32]).digest()[:16]
    assert revocation_hash("SIGNATURE", signature=sig, alg=-37) == hashlib.sha256(sig).digest()[:16]


def test_trust_list_export_is_the_gateway_format_and_verifies(tmp_path, keys):
    out, _, after = _signed_and_reissued(tmp_path, keys)
    rotate(keys)
    old = load_signer(keys, None)  # the new active one
    first_kid = sorted(p.stem for p in (keys / "trust").glob("*.pem") if p.stem != old.kid.hex())[0]
    revoke_signer(keys, first_kid)
    trust, batches = export_lists(keys, tmp_path / "EXPORT", ledgers=[out])
    entries = json.loads(trust.read_text())
    assert [set(e) for e in entries] == [{"kid", "timestamp", "country", "certificateType", "thumbprint",
                                          "signature", "rawData"}]
    e = entries[0]  # the revoked DSC is left out
    der = base64.b64decode(e["rawData"])
    cert = x509.load_der_x509_certificate(der)
    assert e["kid"] == base64.b64encode(kid_of(cert)).decode() == old.kid_b64
    assert e["thumbprint"] == hashlib.sha256(der).hexdigest() and e["country"] == "VN"
    assert e["certificateType"] == "DSC" and e["timestamp"].endswith("Z")
    csca = x509.load_pem_x509_certificate((keys / "csca.crt.pem").read_bytes())
    assert set(load_gateway_trust_list(trust, csca)) == {old.kid}
    if shutil.which("openssl"):  # the signature field is a detached CMS over the DER, by the upload cert
        (tmp_path / "dsc.der").write_bytes(der)
        (tmp_path / "sig.der").write_bytes(base64.b64decode(e["signature"]))
        r = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
                            "-content", str(tmp_path / "dsc.der"), "-CAfile", str(keys / "upload.crt.pem"),
                            "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("field", ["thumbprint", "kid", "rawData"])
def test_tampered_trust_list_entries_are_refused(tmp_path, keys, field):
    trust, _ = export_lists(keys, tmp_path / "EXPORT")
    entries = json.loads(trust.read_text())
    if field == "rawData":  # another valid certificate in place of ours
        other = tmp_path / "O"
        init_keys(other)
        from cryptography.hazmat.primitives.serialization import Encoding

        theirs = x509.load_pem_x509_certificate(next((other / "trust").glob("*.pem")).read_bytes())
        entries[0]["rawData"] = base64.b64encode(theirs.public_bytes(Encoding.DER)).decode()
    elif field == "kid":
        entries[0]["kid"] = base64.b64encode(b"\x00" * 8).decode()
    else:
        entries[0]["thumbprint"] = "0" * 64
    trust.write_text(json.dumps(entries))
    with pytest.raises(KeyStoreError, match="không khớp với rawData") as err:
        Verifier(trust)
    assert err.value.message("en").endswith(f"entry 1: {field if field != 'rawData' else 'thumbprint'} does not "
                                            "match rawData")


def test_trust_list_dsc_of_another_csca_is_refused(tmp_path, keys):
    trust, _ = export_lists(keys, tmp_path / "EXPORT")
    other = tmp_path / "O"
    init_keys(other)
    foreign = x509.load_pem_x509_certificate((other / "csca.crt.pem").read_bytes())
    with pytest.raises(KeyStoreError, match="DSC không do CSCA đã cho cấp"):
        load_gateway_trust_list(trust, foreign)


def test_revocation_batches_exported_signed_and_consumed_by_verify(tmp_path, keys, capsys):
    out, before, after = _signed_and_reissued(tmp_path, keys)
    p1 = BASE[0][1]
    superseded = before.loc[p1, "uvci"]
    export = tmp_path / "EXPORT"
    _, batches = export_lists(keys, export, ledgers=[out])
    kinds = sorted(json.loads(b.read_text())["hashType"] for b in batches)
    assert kinds == ["COUNTRYCODEUCI", "UCI"]
    for b in batches:
        batch = json.loads(b.read_text())
        assert set(batch) == {"country", "expires", "kid", "hashType", "entries"}
        assert batch["kid"] == before.loc[p1, "kid"] and len(batch["entries"]) == 1
        assert len(base64.b64decode(batch["entries"][0]["hash"])) == 16
        if shutil.which("openssl"):  # the .cms is a SignedData carrying exactly this JSON
            (tmp_path / "b.der").write_bytes(base64.b64decode(b.with_suffix(".cms").read_text()))
            r = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "b.der"),
                                "-CAfile", str(keys / "upload.crt.pem"), "-purpose", "any"], capture_output=True)
            assert r.returncode == 0 and r.stdout == b.read_bytes(), r.stderr
    # a verifier with only the gateway lists (no KEYS/trust revocation file) rejects the superseded one
    v = Verifier(export / TRUST_LIST_FILE, export / REVOCATION_DIR)
    assert not (export / "trust").exists()
    with pytest.raises(Revoked):
        v.verify(before.loc[p1, "hc1"])
    for pid in after.index:
        v.verify(after.loc[pid, "hc1"])
    # each hash type alone is enough
    for kind in ("UCI", "COUNTRYCODEUCI"):
        only = [b for b in batches if json.loads(b.read_text())["hashType"] == kind][0]
        with pytest.raises(Revoked, match=kind):
            Verifier(export / TRUST_LIST_FILE, only).verify(before.loc[p1, "hc1"])
    assert superseded not in json.dumps([json.loads(b.read_text()) for b in batches])  # hashes only
    # the command line: vax keys export + vax verify with both lists
    assert main(["keys", "export", "--keys", str(keys), "--out", str(tmp_path / "E2"), "--ledger", str(out)]) == 0
    capsys.readouterr()
    rc = main(["verify", "--trust", str(tmp_path / "E2" / TRUST_LIST_FILE), "--csca", str(keys / "csca.crt.pem"),
               "--revoked", str(tmp_path / "E2" / REVOCATION_DIR), "--lang", "en", before.loc[p1, "hc1"]])
    assert rc == 1 and "\trevoked\t" in capsys.readouterr().out


def test_expired_batches_are_ignored_and_garbage_is_refused(tmp_path):
    import datetime as dt

    d = tmp_path / "rev"
    d.mkdir()
    h = base64.b64encode(b"\x01" * 16).decode()
    (d / "a.json").write_text(json.dumps({"country": "VN", "expires": "2020-01-01T00:00:00Z", "kid": "x",
                                          "hashType": "UCI", "entries": [{"hash": h}]}))
    assert load_revocation_batches(d, at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))["UCI"] == set()
    assert load_revocation_batches(d, at=dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc))["UCI"] == {b"\x01" * 16}
    (d / "b.json").write_text(json.dumps({"hashType": "MD5", "entries": [], "expires": "2030-01-01T00:00:00Z"}))
    with pytest.raises(KeyStoreError):
        load_revocation_batches(d)
