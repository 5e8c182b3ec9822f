"""`vax demo`: deletes nothing, refuses a foreign folder, keeps the analysts' ledger and reuses what it can."""
from __future__ import annotations

import json

import pytest

from vaxlib.cli import main as vax
from vaxlib.runs import RunFolder, check_run

DEMO = ["--persons", "400", "--provinces", "79", "--seed", "7"]  # a seed with a feedback item


def test_demo_refuses_a_folder_that_is_not_a_demo_run(tmp_path, capsys):
    (tmp_path / "ledger.db").write_bytes(b"analysts' work")
    (tmp_path / "notes.txt").write_text("keep me")
    assert vax(["demo", "--out", str(tmp_path), *DEMO]) == 2
    err = capsys.readouterr().err
    assert "không trống và không phải lần chạy vax demo trước" in err and err.count("\n") == 1
    assert (tmp_path / "ledger.db").read_bytes() == b"analysts' work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db", "notes.txt"]


@pytest.mark.slow
def test_demo_twice_keeps_the_ledger_and_says_what_it_reused(tmp_path, capsys, monkeypatch):
    from vaxlib.io import read_output
    from vaxlib.review.ledger import Ledger

    monkeypatch.setenv("VAX_KEY_PASSPHRASE", "test-only")
    out = tmp_path / "demo"
    assert vax(["demo", "--out", str(out), *DEMO]) == 0
    first = capsys.readouterr().out
    assert "dùng lại" not in first.split("vax demo: xong")[0]
    # one language throughout: no English step title, summary or closing line
    for english in ("Generate the synthetic", "What to open next", "vax demo: done", "rows in ", "persons to sign"):
        assert english not in first, english
    rf = RunFolder(out)
    m = read_output(rf.matches, "matches")
    fix = m[m["status"] == "fix"].iloc[0]
    with Ledger.open(str(rf.ledger), create=True) as led:  # an analyst vetoes one automatic fix
        led.reject(fix["record_id"], analyst="lan", reason_code="other", reason="giấy tờ gốc khác")
    (out / "notes.txt").write_text("analyst's notes")
    ledger_bytes = rf.ledger.read_bytes()
    assert vax(["demo", "--out", str(out), *DEMO]) == 0
    second = capsys.readouterr().out
    assert f"dùng lại {rf.data}" in second and f"dùng lại {rf.match} " in second and f"dùng lại {rf.keys}" in second
    assert "vax demo: dùng lại" in second and f"giữ nguyên sổ quyết định của chuyên viên {rf.ledger}" in second
    assert rf.ledger.read_bytes() == ledger_bytes and (out / "notes.txt").read_text() == "analyst's notes"
    summary = json.loads(rf.apply_summary.read_text(encoding="utf-8"))
    assert summary["ledger"]["head_id"] == 1 and summary["decisions"]["decisions_rejected"] == 1
    for stage in ("data", "match", "apply", "match_corrected", "certificates_dir", "feedback_dir", "reports"):
        check_run(getattr(rf, stage))
