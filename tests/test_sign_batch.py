"""``vax sign`` / ``vax verify`` / ``vax keys`` end to end on a small table."""
from __future__ import annotations

import base64
import datetime as dt
import re

import pandas as pd
import pytest

from vaxlib.cli import main
from vaxlib.sign.batch import CERT_COLUMNS, select_signable, sign_tables
from vaxlib.sign.errors import NotVerified
from vaxlib.sign.keys import PASSPHRASE_ENV
from vaxlib.sign.ledger import read_ledger
from vaxlib.sign.verify import Verifier

P1, P2, P3, P4, P5 = "001085012345", "079190000002", "001200000003", "001200000004", "001200000005"

REG = pd.DataFrame({
    "person_id": [P1, P2, P3, P4, P5],
    "full_name": ["Nguyễn Bảo Duy", "Đặng Thị Huệ", "Trần Văn An", "Lê Thị Hoà", "Võ Minh"],
    "dob": ["1983-10-10", "1990-05", "1975", "2001-01-01", "1960-03-03"],
    "sex": ["M", "F", "M", "F", "M"], "old_id": [""] * 5, "province_code": ["01", "79", "01", "01", "48"],
})
# (record_id, person_id, person_key, status, dose, date, vaccine)
RECS = [
    ("r1", P1, "k1", "verified", "1", "2021-08-01", "AstraZeneca"),
    ("r2", P1, "k1", "verified", "2", "2021-10-20", "AstraZeneca"),
    ("r3", P1, "k1", "verified", "3", "2022-01-10", "Pfizer"),
    ("r4", P2, "k2", "verified", "1", "2021-10-01", "Vero Cell"),
    ("r5", P3, "k3", "verified", "1", "2021-10-02", "Moderna"),
    ("r6", P3, "k3", "fix", "2", "2021-11-02", "Moderna"),        # one non-verified dose: refuse P3
    ("r7", P4, "k4", "verified", "1", "2021-11-01", "Abdala"),
    ("r8", None, "k4", "unmatched", "2", "2021-12-01", "Abdala"),  # same person, unmatched dose: refuse P4
    ("r9", P5, "k5", "review", "1", "2021-12-01", "Pfizer"),       # review only: refuse P5
]


def _tables(tmp_path):
    vac = pd.DataFrame({
        "record_id": [r[0] for r in RECS], "full_name": ["x"] * len(RECS), "dob": ["x"] * len(RECS),
        "sex": [""] * len(RECS), "id_number": [""] * len(RECS), "phone": [""] * len(RECS),
        "province_code": [""] * len(RECS), "facility_id": ["F1"] * len(RECS),
        "facility_province": ["01"] * len(RECS), "dose_number": [r[4] for r in RECS],
        "vaccination_date": [r[5] for r in RECS], "vaccine": [r[6] for r in RECS],
        "lot_number": [""] * len(RECS),
    })
    mat = pd.DataFrame({
        "record_id": [r[0] for r in RECS], "status": [r[3] for r in RECS],
        "person_id": [r[1] for r in RECS], "match_probability": [1.0] * len(RECS),
        "error_codes": [""] * len(RECS), "person_key": [r[2] for r in RECS],
        **{c: [None] * len(RECS) for c in ("corrected_full_name", "corrected_dob", "corrected_sex",
                                            "corrected_id_number")},
    })
    paths = {k: tmp_path / f"{k}.parquet" for k in ("reg", "vac", "mat")}
    REG.to_parquet(paths["reg"])
    vac.to_parquet(paths["vac"])
    mat.to_parquet(paths["mat"])
    # vax match's candidates beside the matches: the pending records' candidates are the
    # persons they already block (no extra hold in these tests)
    pd.DataFrame({"record_id": ["r8", "r9"], "person_id": [P4, P5], "rank": [1, 1],
                  "match_probability": [0.2, 0.4]}).to_parquet(tmp_path / "candidates.parquet")
    return REG, vac, mat, paths


def test_select_only_all_verified(tmp_path):
    reg, vac, mat, _ = _tables(tmp_path)
    persons, stats = select_signable(reg, vac, mat)
    assert sorted(persons["person_id"]) == [P1, P2]
    assert stats.skipped["not_all_verified"] == 3  # P3, P4, P5
    latest = persons.set_index("person_id").loc[P1]
    assert (latest["dose_number"], latest["vaccination_date"], latest["vaccine"]) == (3, "2022-01-10", "Pfizer")


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "thử-nghiệm")
    monkeypatch.setenv("USER", "can-bo-ky")
    assert main(["keys", "init", "--out", str(tmp_path / "K")]) == 0
    return tmp_path / "K"


def test_key_linking_two_persons_is_not_signed(tmp_path):
    reg, vac, mat, _ = _tables(tmp_path)
    mat.loc[mat["record_id"] == "r4", "person_key"] = "k1"  # k1 now holds P1's and P2's doses
    persons, stats = select_signable(reg, vac, mat)
    assert persons.empty or set(persons["person_id"]).isdisjoint({P1, P2})
    assert stats.skipped["several_persons"] == 1


@pytest.mark.slow  # starts a 2-process pool
def test_cli_sign_verify_revoke(tmp_path, keys, capsys):
    _, _, _, p = _tables(tmp_path)
    out = tmp_path / "OUT"
    rc = main(["sign", "--registry", str(p["reg"]), "--vaccinations", str(p["vac"]),
               "--matches", str(p["mat"]), "--keys", str(keys), "--out", str(out), "--qr", "svg",
               "--processes", "2"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Đã ký 2" in printed and "bỏ qua 3" in printed
    assert "Nguyễn" not in printed and P1 not in printed  # counts only
    certs = pd.read_parquet(out / "certificates.parquet")
    assert list(certs.columns) == CERT_COLUMNS
    assert sorted(certs["person_id"]) == [P1, P2] and certs["uvci"].is_unique
    assert all(len(base64.b64decode(k)) == 8 for k in certs["kid"])
    assert len(list((out / "qr").glob("*.svg"))) == 2
    ledger = read_ledger(out)
    assert [r["uvci"] for r in ledger] == list(certs["uvci"]) and {r["signer"] for r in ledger} == {"can-bo-ky"}
    v = Verifier(keys / "trust")
    d = v.verify(certs.set_index("person_id").loc[P1, "hc1"])
    assert d.hcert["v"][0]["dn"] == 3 and d.hcert["v"][0]["sd"] == 3 and d.hcert["nam"]["gnt"] == "BAO<DUY"
    assert main(["verify", "--trust", str(keys / "trust"), str(out / "certificates.parquet")]) == 0
    # revoke one: verify now fails (exit 1) with the reason
    uvci = certs["uvci"].iloc[0]
    assert main(["keys", "revoke", "--keys", str(keys), uvci]) == 0
    capsys.readouterr()
    assert main(["verify", "--trust", str(keys / "trust"), "--lang", "en",
                 str(out / "certificates.parquet")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert sum("\trevoked\t" in ln for ln in lines) == 1 and sum("\tvalid\t" in ln for ln in lines) == 1


def test_verify_text_file_and_clock(tmp_path, keys, capsys):
    _, _, _, p = _tables(tmp_path)
    sign_tables(p["reg"], p["vac"], p["mat"], keys, tmp_path / "O", signer_name="t", processes=1)
    certs = pd.read_parquet(tmp_path / "O" / "certificates.parquet")
    f = tmp_path / "codes.txt"
    f.write_text("\n".join(certs["hc1"]) + "\nHC1:garbage\n")
    assert main(["verify", "--trust", str(keys / "trust"), str(f)]) == 1
    out = capsys.readouterr().out
    assert out.count("\tvalid\t") == 2 and "bad_base45" in out
    assert main(["verify", "--trust", str(keys / "trust"), "--at", "2099-01-01", certs["hc1"].iloc[0]]) == 1
    assert "\texpired\t" in capsys.readouterr().out
    # a certificates table as CSV, and a QR image, all valid -> exit 0
    from vaxlib.sign.qr import make_qr

    certs.to_csv(tmp_path / "certs.csv", index=False)
    png = make_qr(certs["hc1"].iloc[1], tmp_path / "one.png")
    assert main(["verify", "--trust", str(keys / "trust"), str(tmp_path / "certs.csv"), str(png)]) == 0
    assert capsys.readouterr().out.count("\tvalid\t") == 3


def test_sign_refuses_requested_unverified_person(tmp_path, keys):
    _, _, _, p = _tables(tmp_path)
    with pytest.raises(NotVerified):
        sign_tables(p["reg"], p["vac"], p["mat"], keys, tmp_path / "O", signer_name="t",
                    processes=1, only=[P3])
    assert main(["sign", "--registry", str(p["reg"]), "--vaccinations", str(p["vac"]),
                 "--matches", str(p["mat"]), "--keys", str(keys), "--out", str(tmp_path / "O2"),
                 "--person", P4]) == 2


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_sign_not_signable_person_is_said_in_the_chosen_language(tmp_path, keys, capsys, monkeypatch, lang):
    """``--person`` of a held person: one line, Vietnamese by default, English with ``--lang en``."""
    monkeypatch.delenv("VAX_LANG", raising=False)
    _, _, _, p = _tables(tmp_path)
    argv = ["sign", "--registry", str(p["reg"]), "--vaccinations", str(p["vac"]), "--matches", str(p["mat"]),
            "--keys", str(keys), "--out", str(tmp_path / "O"), "--person", P4, "--person", P3]
    assert main((["--lang", "en"] if lang == "en" else []) + argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    if lang == "vi":
        assert "không ký được: 2 người được yêu cầu không ký được (0 bị giữ lại hoặc bị từ chối" in err, err
        assert "requested" not in err, err
    else:
        assert "cannot sign: 2 requested person(s) are not signable (0 held or refused" in err, err
    assert not (tmp_path / "O").exists()


def test_sign_one_person_reports_that_person_only(tmp_path, keys, capsys):
    """--person P1: one certificate for one person asked for; the set's 3 unverified persons are not this run's."""
    _, _, _, p = _tables(tmp_path)
    base = ["sign", "--registry", str(p["reg"]), "--vaccinations", str(p["vac"]), "--matches", str(p["mat"]),
            "--keys", str(keys), "--no-hold", "--processes", "1"]
    assert main(base + ["--out", str(tmp_path / "O")]) == 0
    whole = capsys.readouterr().out
    assert "Đã ký 2 chứng nhận; bỏ qua 3 người" in whole and "chưa được xác minh" in whole
    assert main(base + ["--out", str(tmp_path / "P"), "--person", P1]) == 0
    one = capsys.readouterr().out
    assert one.splitlines()[0] == "Đã ký 1 chứng nhận cho 1 người được chỉ định (--person); bỏ qua 0", one
    assert "chưa được xác minh" not in one and "bị giữ lại" not in one
    # again into the whole set's run: P1 unchanged (kept); P2's certificate is kept and said apart
    assert main(base + ["--out", str(tmp_path / "O"), "--person", P1]) == 0
    again = capsys.readouterr().out
    assert again.splitlines()[0] == "Đã ký 0 chứng nhận cho 1 người được chỉ định (--person); bỏ qua 0", again
    assert "giữ nguyên 1;" in again and "của 1 người khác trong lần ký trước" in again, again
    assert main(base + ["--out", str(tmp_path / "E"), "--person", P1, "--lang", "en"]) == 0
    en = capsys.readouterr().out
    assert en.splitlines()[0] == "signed 1 certificates for the 1 persons asked for (--person); skipped 0", en
    assert not re.search(r"[ạ-ỹđ]", en)  # no Vietnamese word in the English output


def test_sign_without_passphrase_is_a_clear_cli_error(tmp_path, keys, monkeypatch, capsys):
    _, _, _, p = _tables(tmp_path)
    monkeypatch.delenv(PASSPHRASE_ENV)
    rc = main(["sign", "--registry", str(p["reg"]), "--vaccinations", str(p["vac"]),
               "--matches", str(p["mat"]), "--keys", str(keys), "--out", str(tmp_path / "O")])
    assert rc == 2 and PASSPHRASE_ENV in capsys.readouterr().err


def test_keys_rotate_and_list(keys, capsys):
    assert main(["keys", "rotate", "--keys", str(keys), "--alg", "PS256"]) == 0
    assert main(["keys", "list", "--keys", str(keys)]) == 0
    out = capsys.readouterr().out
    assert "ES256" in out and "PS256" in out and len(list((keys / "trust").glob("*.pem"))) == 2
    assert "PRIVATE" not in out


# ----------------------------------------------------------------------------- fast batch path

_ROWS = [
    ("p1", "Nguyễn Bảo Duy", "1983-10-10", 3, "2022-01-10", "Pfizer"),
    ("p2", "Đặng Thị Huệ", "1990-05", 1, "2021-10-01", "Vero Cell"),
    ("p3", "Trần Văn An", "1975", 2, "2021-11-02", "Covaxin"),          # unknown product
    ("p4", "Lê Thị Hoà", "1983-13-45", 1, "2021-11-01", "Moderna"),     # bad dob
    ("p5", "Nguyễn" + "n" * 80 + " An", "1960", 1, "2021-12-01", "AstraZeneca"),  # fn > 80: schema
    ("p6", "Võ Minh", "", 2, "2022-02-30", "Moderna"),                  # impossible date
    ("p7", "Võ Minh", "", 2, "2022-02-28", "Moderna"),
]


def test_fast_batch_signs_the_same_people_as_the_reference(keys):
    from vaxlib.sign.batch import SignStats, sign_rows
    from vaxlib.sign.payload import validate_payload

    stats = SignStats()
    chunks = list(sign_rows(_ROWS, keys, processes=1, chunk_size=3, stats=stats))
    certs = [c for chunk in chunks for c in chunk]
    assert [c[0] for c in certs] == ["p1", "p2", "p7"]
    assert stats.skipped == {"unknown_vaccine": 1, "payload_invalid": 3}
    assert len({c[1] for c in certs}) == 3 and {c[3] for c in certs} == {chunks[0].kid}
    v = Verifier(keys / "trust")
    for (pid, name, dob, dn, vdate, _), cert in zip([_ROWS[0], _ROWS[1], _ROWS[6]], certs):
        d = v.verify(cert[2])
        validate_payload(d.hcert)  # full jsonschema + value sets
        assert d.hcert["v"][0]["ci"] == cert[1] and d.hcert["dob"] == dob
        assert d.hcert["v"][0]["dn"] == dn and d.hcert["v"][0]["dt"] == vdate
        assert d.hcert["nam"]["fn"] == name.split()[0]
        iso = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()  # noqa: E731
        assert iso(d.issued_at) == cert[4] and iso(d.expires_at) == cert[5]


def _raise_schema_invalid(*_a, **_k):
    from vaxlib.sign.errors import SchemaInvalid

    raise SchemaInvalid("nam/fnt")


@pytest.mark.parametrize(("fake", "message"), [
    (lambda real: lambda self, row, uvci, **kw: real(self, row, uvci, **kw) + b"\x00", "disagrees"),
    (lambda real: _raise_schema_invalid, "reference refuses"),
])
def test_fast_batch_refuses_to_sign_when_the_sample_disagrees(keys, monkeypatch, fake, message):
    from vaxlib.sign import fastpath
    from vaxlib.sign.batch import sign_rows

    monkeypatch.setattr(fastpath.FastEncoder, "reference", fake(fastpath.FastEncoder.reference))
    with pytest.raises(RuntimeError, match=message):
        list(sign_rows(_ROWS[:2], keys, processes=1))


def test_fast_batch_ps256_after_rotation(keys):
    from vaxlib.sign.batch import sign_rows
    from vaxlib.sign.cose import PS256
    from vaxlib.sign.keys import rotate

    rotate(keys, alg="PS256")
    certs = [c for chunk in sign_rows(_ROWS[:2], keys, processes=1) for c in chunk]
    d = Verifier(keys / "trust").verify(certs[0][2])
    assert d.cose.alg == PS256 and len(d.cose.signature) == 256 and d.hcert["v"][0]["ci"] == certs[0][1]
