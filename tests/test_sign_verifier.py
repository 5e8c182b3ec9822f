"""The verifier as the HCERT spec and the national apps read it: alg protected, key usage, business rules, output."""
from __future__ import annotations

import datetime as dt

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from vaxlib.cli import main
from vaxlib.sign import hc1
from vaxlib.sign.cose import sign1
from vaxlib.sign.errors import AlgNotProtected, BadSignature, KeyUsageMismatch, ValueSetInvalid
from vaxlib.sign.keys import PASSPHRASE_ENV, dsc_types, init_keys, kid_of, load_signer
from vaxlib.sign.payload import DoseRecord, build_payload, cwt_claims, encode_claims
from vaxlib.sign.verify import Verifier

T0 = dt.datetime(2026, 4, 20, 8, 0, tzinfo=dt.timezone.utc)
AT = T0 + dt.timedelta(days=1)


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "x")
    init_keys(tmp_path / "K", now=T0 - dt.timedelta(days=1))
    return tmp_path / "K"


def _claims(**change):
    payload = build_payload("Nguyễn Bảo Duy", "1983-10-10", DoseRecord(3, "2022-01-10", "Pfizer"))
    payload["v"][0].update(change)
    return payload, encode_claims(cwt_claims(payload, T0))


def _signed(signer, protected: dict, unprotected: dict, claims: bytes) -> str:
    """A COSE_Sign1 signed over ``protected`` (ES256), with ``unprotected`` as given."""
    msg = list(cbor2.loads(sign1(claims, signer.key, signer.kid, protected=cbor2.dumps(protected))).value)
    msg[1] = unprotected
    return hc1.encode_hc1(cbor2.dumps(cbor2.CBORTag(18, msg)))


# ----------------------------------------------------------------------------- alg in the protected header

def test_alg_only_in_the_unprotected_header_is_rejected(keys):
    s = load_signer(keys)
    _, claims = _claims()
    v = Verifier(keys / "trust", at=AT)
    good = _signed(s, {1: -7, 4: s.kid}, {}, claims)
    assert v.verify(good).hcert["v"][0]["dn"] == 3
    # the same, correctly signed bytes, but alg moved where the signature does not cover it
    with pytest.raises(AlgNotProtected):
        v.verify(_signed(s, {4: s.kid}, {1: -7}, claims))
    with pytest.raises(AlgNotProtected):
        v.verify(_signed(s, {4: s.kid}, {}, claims))
    assert v.check(_signed(s, {4: s.kid}, {1: -7}, claims)).reason == "alg_unprotected"


def test_an_unprotected_alg_never_overrides_the_protected_one(keys):
    s = load_signer(keys)
    _, claims = _claims()
    v = Verifier(keys / "trust", at=AT)
    assert v.verify(_signed(s, {1: -7, 4: s.kid}, {1: -37}, claims)).cose.alg == -7
    # tamper: rewrite the protected alg (and so the signed bytes) of a good message -> the signature fails
    msg = list(cbor2.loads(hc1.decode_hc1(_signed(s, {1: -7, 4: s.kid}, {}, claims))).value)
    for alg in (-37, -35):
        msg[0] = cbor2.dumps({1: alg, 4: s.kid})
        res = v.check(hc1.encode_hc1(cbor2.dumps(cbor2.CBORTag(18, msg))))
        assert not res.valid and res.reason in ("bad_signature", "unsupported_alg")


# ----------------------------------------------------------------------------- key usage (HCERT annex)

def _dsc(eku_oids: list[str] | None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"), x509.NameAttribute(NameOID.COMMON_NAME, "DSC")])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(1).not_valid_before(T0 - dt.timedelta(days=30)).not_valid_after(T0 + dt.timedelta(days=400)))
    if eku_oids is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in eku_oids]), critical=False)
    return key, b.sign(key, hashes.SHA256())


@pytest.mark.parametrize(("oids", "allowed", "vaccination_ok"), [
    (None, None, True),                                                   # no EKU: every type
    (["2.23.136.1.1.14.2"], None, True),                                  # ICAO OID only: no DCC restriction
    (["1.3.6.1.5.5.7.3.4"], None, True),                                  # an unrelated OID only
    (["1.3.6.1.4.1.1847.2021.1.2"], {"v"}, True),
    (["1.3.6.1.4.1.1847.2021.1.2", "2.23.136.1.1.14.2"], {"v"}, True),
    (["1.3.6.1.4.1.0.1847.2021.1.2"], {"v"}, True),                       # the mistyped early OID
    (["1.3.6.1.4.1.1847.2021.1.1"], {"t"}, False),                        # test-only DSC
    (["1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.1847.2021.1.3"], {"t", "r"}, False),
])
def test_key_usage_as_the_spec_and_the_apps_read_it(oids, allowed, vaccination_ok):
    key, cert = _dsc(oids)
    assert dsc_types(cert) == allowed
    _, claims = _claims()
    text = hc1.encode_hc1(sign1(claims, key, kid_of(cert)))
    v = Verifier({kid_of(cert): cert}, at=AT)
    if vaccination_ok:
        assert v.verify(text).group == "v"
    else:
        with pytest.raises(KeyUsageMismatch):
            v.verify(text)


# ----------------------------------------------------------------------------- business rules

def test_value_set_findings_are_reported_not_rejected_unless_strict(keys, capsys):
    s = load_signer(keys)
    _, claims = _claims(mp="EU/1/99/9999", co="ZZ")  # a newer product, a code not in our value sets
    text = hc1.encode_hc1(sign1(claims, s.key, s.kid))
    d = Verifier(keys / "trust", at=AT).verify(text)
    assert d.findings == ["value_set:v/0/mp", "value_set:v/0/co"]
    with pytest.raises(ValueSetInvalid, match="v/0/mp"):
        Verifier(keys / "trust", at=AT, strict=True).verify(text)
    res = Verifier(keys / "trust", at=AT).check(text)
    assert res.valid and res.reason == "valid" and res.findings == d.findings
    base = ["verify", "--trust", str(keys / "trust"), "--at", AT.isoformat(), "--lang", "en"]
    assert main(base + [text]) == 0
    out = capsys.readouterr()
    assert "\tvalid\t" in out.out and "business rules" in out.out and "value_set:v/0/mp" in out.out
    assert "1 with business-rule findings" in out.err
    assert main(base + ["--strict", text]) == 1
    assert "\tvalue_set_invalid\t" in capsys.readouterr().out
    # tamper: editing the coded field after signing is a signature failure, not a finding
    payload, good = _claims()
    signed = hc1.encode_hc1(sign1(good, s.key, s.kid))
    msg = list(cbor2.loads(hc1.decode_hc1(signed)).value)
    msg[2] = msg[2].replace(b"EU/1/20/1528", b"EU/1/20/1529")
    with pytest.raises(BadSignature):
        Verifier(keys / "trust", at=AT).verify(hc1.encode_hc1(cbor2.dumps(cbor2.CBORTag(18, msg))))


# ----------------------------------------------------------------------------- output like the apps

def test_verify_shows_the_holder_like_the_apps_masked_by_default(keys, capsys):
    s = load_signer(keys)
    _, claims = _claims()
    text = hc1.encode_hc1(sign1(claims, s.key, s.kid))
    base = ["verify", "--trust", str(keys / "trust"), "--at", AT.isoformat()]
    assert main(base + [text]) == 0
    out = capsys.readouterr().out
    assert "Nguyễn" not in out and "NGUYEN" not in out and "1983-10-10" not in out
    assert "N***** B** D**" in out and "N*****<<B**<D**" in out and "Ngày sinh: 1983" in out
    assert "Mũi 3/3, ngày 10/01/2022" in out and "Bộ Y tế Việt Nam (VN)" in out and "Hết hạn: 20/04/2027" in out
    assert main(base + ["--show-holder", "--lang", "en", text]) == 0
    out = capsys.readouterr().out
    assert "Name: Nguyễn Bảo Duy (NGUYEN<<BAO<DUY)" in out and "Dose 3/3" in out and "Comirnaty" in out
    assert "Expires: 20 Apr 2027" in out


def test_verify_reads_a_certificates_table_batch_by_batch_never_the_whole_hc1_column(tmp_path, monkeypatch):
    """A national table (6M certificates, > 2 GiB of HC1 text) must not be gathered into one string array:
    Arrow's ``string`` holds at most 2 GiB (32-bit offsets), so a whole-column read, ``combine_chunks``,
    ``take`` or ``concat`` of the HC1 column would fail there (or copy it all).  ``vax verify`` takes the
    table in batches of rows (``iter_batches``); here every whole-table or whole-column operation is made
    to fail, the batches are small, and every row still comes out, in order, with its row number."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vaxlib.sign.verify import iter_inputs

    n = 23
    hc1s = [f"HC1:ROW{i:03d}" + "X" * i for i in range(n)]
    pq.write_table(pa.table({"person_id": [f"P{i}" for i in range(n)], "hc1": hc1s}), tmp_path / "c.parquet",
                   row_group_size=4)

    def refuse(*a, **k):
        raise AssertionError("the whole HC1 column gathered")

    for owner, name in ((pq, "read_table"), (pq.ParquetFile, "read"), (pq.ParquetFile, "read_row_group"),
                        (pq.ParquetFile, "read_row_groups"), (pa, "concat_arrays"), (pa, "concat_tables")):
        monkeypatch.setattr(owner, name, refuse)
    sizes = []
    real = pq.ParquetFile.iter_batches

    def iter_batches(self, *a, **k):
        k["batch_size"] = 5  # as 50,000 rows of a 6M-row table: many batches, each far below 2 GiB
        for batch in real(self, *a, **k):
            sizes.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", iter_batches)
    got = list(iter_inputs(str(tmp_path / "c.parquet")))
    assert got == [(f"c.parquet:row {i + 1}", t) for i, t in enumerate(hc1s)]
    assert len(sizes) > 1 and max(sizes) <= 5
