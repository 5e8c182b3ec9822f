"""A rerun's certificates table is a full run's: same persons, the changed ones re-issued with the same
content as signing everyone afresh, every unchanged one's row kept byte for byte (UVCI, HC1, kid, times).

The table is written in row groups of :data:`vaxlib.sign.batch.GROUP_ROWS` rows; here that is set to a
few rows, so the kept certificates are copied across many row groups of the previous table and of the
new one (their boundaries are where a copy would lose, repeat or shift a row).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from vaxlib.io import read_output_batches
from vaxlib.sign import batch
from vaxlib.sign.batch import sign_tables
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys
from vaxlib.sign.previous import PreviousRun
from vaxlib.sign.verify import decode

from test_sign_store import _sign, _write
from test_sign_store import _world as sign_world

N = 300
NAMES = ["Nguyễn Bảo Duy", "Đặng Thị Huệ", "Trần Văn An", "Lê Thị Mai", "Phạm Ngọc Ánh"]


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "thử-nghiệm")
    init_keys(tmp_path / "K")
    return tmp_path / "K"


def _world(renamed=frozenset(), new_dob=frozenset(), new_dose=frozenset()):
    return sign_world(renamed, new_dose, new_dob, n=N, names=NAMES, dob=lambda i: f"19{50 + i % 40}-01-02")


def _table(folder: Path) -> pd.DataFrame:
    """The certificates table as every reader sees it: pandas on the file, and vaxlib's batch reader."""
    whole = pd.read_parquet(folder / "certificates.parquet")
    batches = pa.concat_tables(list(read_output_batches(folder / "certificates.parquet", "certificates",
                                                        batch_rows=7))).to_pandas()
    pd.testing.assert_frame_equal(whole, batches)
    return whole.set_index("person_id")


def _says(hc1: str) -> dict:
    """What a certificate says, without its UVCI (a re-issue has a new one by design)."""
    hcert = json.loads(json.dumps(decode(hc1).hcert, default=str))
    for group in ("v", "t", "r"):
        for entry in hcert.get(group, []):
            entry.pop("ci", None)
    return hcert


@pytest.mark.parametrize("group_rows", [1, 7, 64, 32_768])
def test_a_rerun_keeps_unchanged_rows_byte_for_byte_and_re_signs_the_changed_as_a_full_run(
        tmp_path, keys, monkeypatch, group_rows):
    monkeypatch.setattr(batch, "GROUP_ROWS", group_rows)
    rnd = random.Random(group_rows)
    _sign(_write(tmp_path / "in0", _world()), keys, tmp_path / "OUT")
    first = _table(tmp_path / "OUT")
    # changes anywhere, the first and last persons among them (the table's and row groups' edges)
    picked = rnd.sample(range(1, N - 1), 12) + [0, N - 1]
    renamed, new_dob, new_dose = set(picked[0::3]), set(picked[1::3]), set(picked[2::3])
    new = _write(tmp_path / "in1", _world(renamed, new_dob, new_dose))
    s = _sign(new, keys, tmp_path / "OUT")
    changed = {f"0010850{i:05d}" for i in renamed | new_dob | new_dose}
    assert s.counts["reissued"] == len(changed) and s.counts["kept"] == N - len(changed)
    now = _table(tmp_path / "OUT")
    _sign(new, keys, tmp_path / "FRESH")  # everyone signed afresh from the new inputs
    fresh = _table(tmp_path / "FRESH")
    assert sorted(now.index) == sorted(fresh.index) == sorted(first.index)
    assert now.index.is_unique and now["uvci"].is_unique
    # unchanged persons: their previous row, every column byte for byte
    same = sorted(set(now.index) - changed)
    pd.testing.assert_frame_equal(now.loc[same], first.loc[same])
    # changed persons: a new UVCI, and what a full run says for them
    for pid in sorted(changed):
        assert now.at[pid, "uvci"] != first.at[pid, "uvci"]
        assert _says(now.at[pid, "hc1"]) == _says(fresh.at[pid, "hc1"])
    # the next rerun reads it (the content index row for row) and keeps everything
    assert PreviousRun.load(tmp_path / "OUT").aligned
    s = _sign(new, keys, tmp_path / "OUT")
    assert s.signed == 0 and s.counts["kept"] == N
    pd.testing.assert_frame_equal(_table(tmp_path / "OUT").sort_index(), now.sort_index())


def test_re_signing_with_another_message_language_keeps_every_certificate(tmp_path, keys, capsys):
    """``--lang`` words the messages; it chose the issuer text too, so a rerun in the other language
    re-issued and revoked every certificate.  The previous run's issuer now stays."""
    from vaxlib.cli import main
    from vaxlib.sign.ledger import revocation_path

    p = _write(tmp_path / "in", _world())

    def args(out):
        return ["sign", "--registry", str(p["registry"]), "--vaccinations", str(p["vaccinations"]),
                "--matches", str(p["matches"]), "--keys", str(keys), "--out", str(out), "--processes", "1",
                "--no-hold"]

    assert main(["--lang", "vi", *args(tmp_path / "OUT")]) == 0
    first = _table(tmp_path / "OUT")
    assert _says(first.iloc[0]["hc1"])["v"][0]["is"] == "Bộ Y tế Việt Nam"
    assert main(["--lang", "en", *args(tmp_path / "OUT")]) == 0
    pd.testing.assert_frame_equal(_table(tmp_path / "OUT"), first)  # nothing re-issued
    rev = revocation_path(keys)
    assert not rev.is_file() or not rev.read_text().split()  # nothing revoked
    # a first run in English says the English issuer, as before
    assert main(["--lang", "en", *args(tmp_path / "EN")]) == 0
    assert _says(_table(tmp_path / "EN").iloc[0]["hc1"])["v"][0]["is"] == "Ministry of Health of Viet Nam"


def test_the_issuer_comes_from_previous_alone_when_it_is_given(tmp_path, keys):
    """``--previous`` given: only that run counts, readable or not; without it, ``--out``'s run."""
    from argparse import Namespace

    from vaxlib.sign.cli import _issuer
    from vaxlib.sign.payload import ISSUER

    _sign(_write(tmp_path / "in", _world()), keys, tmp_path / "VI", issuer=ISSUER["vi"])
    _sign(_write(tmp_path / "in", _world()), keys, tmp_path / "EN", issuer=ISSUER["en"])
    (tmp_path / "NOTARUN").mkdir()
    cases = [  # (previous, out, lang) -> the issuer, worked out by hand
        (None, "VI", "en", ISSUER["vi"]),  # --out's run
        (None, "EN", "vi", ISSUER["en"]),
        (None, "NOTARUN", "en", ISSUER["en"]),  # no run: --lang's
        ("VI", "EN", "en", ISSUER["vi"]),  # --previous wins over --out
        ("EN", "VI", "vi", ISSUER["en"]),
        ("NOTARUN", "VI", "en", ISSUER["en"]),  # a --previous that is no run: --lang's, never --out's
        ("MISSING", "EN", "vi", ISSUER["vi"]),
    ]
    for previous, out, lang, want in cases:
        args = Namespace(previous=str(tmp_path / previous) if previous else None, out=str(tmp_path / out), lang=lang)
        assert _issuer(args, ISSUER) == want, (previous, out, lang)
