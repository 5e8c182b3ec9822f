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


@pytest.mark.slow
def test_the_demo_gives_analysts_a_review_queue_of_tens_in_several_clusters(tmp_path, capsys):
    """The demo's own settings (4000 persons, seed 2022) must leave tens of records for a person to judge,
    grouped in facility clusters worth investigating, without costing automatic precision (issue #15)."""
    import pandas as pd

    from vaxlib.demo import DEMO_ERRORS, DEMO_PERSONS, DEMO_PROVINCES
    from vaxlib.review.clusters import find_clusters

    data, match, ev = tmp_path / "data", tmp_path / "match", tmp_path / "eval"
    assert vax(["synth", "--persons", str(DEMO_PERSONS), "--seed", "2022", "--out", str(data), "--provinces",
                DEMO_PROVINCES, "--errors", str(DEMO_ERRORS)]) == 0
    vacc = str(data / "vaccinations.parquet")
    assert vax(["match", "--registry", str(data / "registry.parquet"), "--vaccinations", vacc, "--out", str(match),
                "--quiet"]) == 0
    assert vax(["evaluate", "--truth", str(data), "--matches", str(match), "--vaccinations", vacc,
                "--out", str(ev)]) == 0
    capsys.readouterr()
    m = pd.read_parquet(match / "matches.parquet")
    v = pd.read_parquet(data / "vaccinations.parquet")
    counts = m["status"].value_counts()
    assert 30 <= counts["review"] <= 80, counts.to_dict()
    # the rest stays as plausible as the Ministry's 2022 figures (18 % + 1.5 % of records wrong)
    assert 0.17 <= 1 - counts["verified"] / len(m) <= 0.30, counts.to_dict()
    assert counts["unmatched"] / len(m) <= 0.03, counts.to_dict()
    review_clusters = find_clusters(v, m, statuses=("review",), dims=("facility",), kinds=("code",))
    big = review_clusters[review_clusters["n_records"] >= 3]
    assert big["facility_id"].nunique() >= 3 and len(big) >= 6, big[["pattern", "facility_id", "n_records"]]
    figures = json.loads((ev / "evaluation.json").read_text(encoding="utf-8"))
    assert figures["auto_precision"] >= 0.999 and figures["auto_recall"] >= 0.98, figures


@pytest.mark.slow
def test_the_demo_prints_its_steps_without_the_librarys_info_lines(tmp_path):
    """A newcomer's terminal shows the worded steps, not English INFO lines between them (they also broke
    the report step's progress bar); warnings still show, and ``vax -v demo`` shows everything."""
    import os
    import subprocess
    import sys

    from vaxlib.config import PROJECT_ROOT

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "VAX_KEY_PASSPHRASE": "test-only"}
    env.pop("VAX_LANG", None)
    run = subprocess.run([sys.executable, "-m", "vaxlib.cli", "demo", "--out", str(tmp_path / "d"), *DEMO,
                          ], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "INFO " not in run.stderr, run.stderr[:2000]
    assert "== 1. Tạo dân số mẫu tổng hợp" in run.stdout and "vax demo: xong" in run.stdout
