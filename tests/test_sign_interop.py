"""vaxlib's certificates verified by an independent EU DCC verifier: dcc-utils (Italy's Ministero della Salute, npm).

dcc-utils decodes HC1 (its own Base45, zlib and CBOR) and checks the COSE
signature with cose-js against the DSC certificate; it shares no code with
vaxlib.  ``.ci/run`` installs it into ``.ci/node`` (pinned); the test is
skipped only when node or the package is not installed.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import cbor2
import pytest

from vaxlib.sign import hc1
from vaxlib.sign.batch import sign_rows
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys, rotate
from vaxlib.sign.verify import Verifier

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "interop" / "dcc_utils_verify.js"
MODULES = Path(os.environ.get("DCC_UTILS_MODULES") or ROOT / ".ci" / "node" / "node_modules")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (MODULES / "dcc-utils").is_dir(),
    reason="node or dcc-utils not installed (.ci/run installs them into .ci/node)")

ROWS = [
    ("001085012345", "Nguyễn Bảo Duy", "1983-10-10", 3, "2022-01-10", "Pfizer"),
    ("079190000002", "Đặng Thị Huệ", "1990-05", 1, "2021-10-01", "Vero Cell"),
    ("001200000003", "Trần Văn An", "1975", 2, "2021-11-02", "Moderna"),
    ("001200000004", "Lê Thị Hoà", "2001-01-01", 1, "2021-11-01", "AstraZeneca"),
]


def _dcc_utils(certificates: list[str], texts: list[str]) -> list[dict]:
    r = subprocess.run(["node", str(SCRIPT)], input=json.dumps({"certificates": certificates, "hc1": texts}),
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "DCC_UTILS_MODULES": str(MODULES)})
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_dcc_utils_verifies_our_certificates_and_rejects_a_tampered_one(tmp_path, monkeypatch, alg):
    monkeypatch.setenv(PASSPHRASE_ENV, "x")
    keys = tmp_path / "K"
    init_keys(keys)
    if alg == "PS256":
        rotate(keys, alg="PS256")
    certs = [c for chunk in sign_rows(ROWS, keys, processes=1) for c in chunk]
    texts = [c[2] for c in certs]
    # tamper: one byte of the payload changed after signing (still decodes, must not verify)
    msg = list(cbor2.loads(hc1.decode_hc1(texts[0])).value)
    msg[2] = msg[2].replace("Bảo".encode(), "Báo".encode())
    tampered = hc1.encode_hc1(cbor2.dumps(cbor2.CBORTag(18, msg)))
    pems = [p.read_text() for p in sorted((keys / "trust").glob("*.pem"))]
    results = _dcc_utils(pems, texts + [tampered])
    ours = Verifier(keys / "trust", at=dt.datetime.now(dt.timezone.utc))
    for text, res in zip(texts, results):
        assert res["ok"], res["error"]
        assert res["payload"] == ours.verify(text).hcert  # the same certificate content, read independently
    assert results[-1]["ok"] is False
