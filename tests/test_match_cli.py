"""`vax match` and `vax evaluate` from the command line."""
import json
import re
from pathlib import Path

import pandas as pd

from vaxlib.cli import main as vax
from vaxlib.io import read_output, write_output
from vaxlib.runs import atomic_run


def test_match_then_evaluate_prints_every_metric(tmp_path: Path, capsys):
    data, match = tmp_path / "data", tmp_path / "match"
    assert vax(["synth", "--persons", "800", "--seed", "12", "--out", str(data)]) == 0
    assert vax(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                str(data / "vaccinations.parquet"), "--out", str(match), "--quiet"]) == 0
    m = read_output(match / "matches.parquet", "matches")
    # no review row: the share of review rows with the right candidate cannot be measured
    m.loc[m["status"] == "review", "status"] = "unmatched"
    stats = (match / "match-stats.json").read_bytes()
    match = tmp_path / "match-edited"
    with atomic_run(match, command="match") as st:
        write_output(m, st / "matches.parquet", "matches")
        (st / "match-stats.json").write_bytes(stats)
    capsys.readouterr()
    assert vax(["evaluate", "--truth", str(data), "--matches", str(match), "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    # each figure worded, with evaluation.json's key beside it, in Vietnamese figures (decimal comma)
    lines = {m[1]: m[2] for m in (re.match(r"^\S.*\((\w+)\)\s+(\S.*)$", ln) for ln in out.splitlines()) if m}
    assert lines["review_top_right"] == "— (không có dòng nào để đo)"
    assert re.match(r"^Độ chính xác của liên kết tự động \(auto_precision\)\s+\d,\d{5}$",
                    next(ln for ln in out.splitlines() if "(auto_precision)" in ln))
    precision = float(lines["auto_precision"].replace(",", "."))
    assert 0.99 <= precision <= 1.0
    assert "quét ngưỡng:\nngưỡng" in out and "0,9900" in out and "threshold" not in out
    assert "(0,999; 1,0]" in out  # the calibration bins, with a separator that is not the decimal comma
    assert vax(["--lang", "en", "evaluate", "--truth", str(data), "--matches", str(match)]) == 0
    en = capsys.readouterr().out
    assert "Precision of automatic links (auto_precision)" in en and "threshold sweep:\nthreshold" in en
    assert not re.search(r"[ạ-ỹđ]", en), en


def _synth(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    assert vax(["synth", "--persons", "300", "--seed", "4", "--out", str(data)]) == 0
    return data


def test_second_match_drops_stale_quarantine_and_records_settings(tmp_path: Path, capsys):
    from vaxlib.io import read_table, write_table
    from vaxlib.runs import check_run

    data = _synth(tmp_path)
    vacc = read_table(data / "vaccinations.parquet", "vaccinations").table
    dirty = tmp_path / "dirty.csv"
    write_table(vacc, dirty, "vaccinations")
    with open(dirty, "a", encoding="utf-8") as fh:
        fh.write("only,two\r\n")  # one quarantined row
    out = tmp_path / "match"
    base = ["match", "--registry", str(data / "registry.parquet"), "--out", str(out), "--quiet"]
    assert vax(base + ["--vaccinations", str(dirty), "--auto-threshold", "0.95"]) == 0
    assert len(read_output(out / "quarantine.parquet", "quarantine")) == 1
    assert vax(base + ["--vaccinations", str(data / "vaccinations.parquet")]) == 0
    m = check_run(out, command="match")
    assert m["rows"]["quarantine"] == 0 and m["rows"]["matches"] == len(vacc)
    assert m["settings"]["auto_threshold"] == 0.99  # the file's value, not the previous run's flag
    stats = json.loads((out / "match-stats.json").read_text(encoding="utf-8"))
    assert stats["settings"] == m["settings"] and "timings" not in stats
    assert set(m["extra"]["timings"]) >= {"prepare", "total"}


def test_match_refuses_unknown_setting_and_missing_params(tmp_path: Path, capsys):
    data = _synth(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("auto_treshold: 0.9\n", encoding="utf-8")
    base = ["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
            str(data / "vaccinations.parquet"), "--out", str(tmp_path / "m"), "--quiet"]
    capsys.readouterr()
    assert vax(base + ["--params", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "auto_treshold" in err and str(bad) in err and err.count("\n") == 1
    assert vax(base + ["--params", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: không có tệp" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_the_local_engine_names_a_folder_of_parts_and_points_to_dask(tmp_path: Path, capsys, monkeypatch):
    data = _synth(tmp_path)
    parts = tmp_path / "registry"
    parts.mkdir()
    (parts / "part-00000.parquet").write_bytes((data / "registry.parquet").read_bytes())
    argv = ["match", "--registry", str(parts), "--vaccinations", str(data / "vaccinations.parquet"),
            "--out", str(tmp_path / "m"), "--quiet"]
    capsys.readouterr()
    assert vax(argv) == 2
    err = capsys.readouterr().err
    assert f"{parts}: là thư mục các phần" in err and "--engine dask" in err and err.count("\n") == 1
    monkeypatch.setenv("VAX_LANG", "en")
    assert vax(argv) == 2
    assert "is a folder of parts" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_evaluate_refuses_a_changed_match_run(tmp_path: Path, capsys):
    data = _synth(tmp_path)
    match = tmp_path / "match"
    assert vax(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                str(data / "vaccinations.parquet"), "--out", str(match), "--quiet"]) == 0
    m = read_output(match / "matches.parquet", "matches")
    m.iloc[:5].to_parquet(match / "matches.parquet")  # edited in place, behind vaxlib's back
    capsys.readouterr()
    assert vax(["evaluate", "--truth", str(data), "--matches", str(match)]) == 2
    assert "khác với _manifest.json" in capsys.readouterr().err


def test_quiet_match_prints_no_log_lines(tmp_path: Path):
    """`vax match --quiet` prints nothing on stderr: the EM sessions' English INFO lines went out
    even with --quiet (the command line set INFO logging for every command)."""
    import os
    import subprocess
    import sys

    data = tmp_path / "data"
    assert vax(["synth", "--persons", "800", "--seed", "12", "--out", str(data)]) == 0
    argv = [sys.executable, "-m", "vaxlib.cli", "match", "--registry", str(data / "registry.parquet"),
            "--vaccinations", str(data / "vaccinations.parquet")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    loud = subprocess.run(argv + ["--out", str(tmp_path / "loud")], capture_output=True, text=True, env=env)
    assert loud.returncode == 0 and "INFO vaxlib.match" in loud.stderr  # the lines exist without --quiet
    quiet = subprocess.run(argv + ["--out", str(tmp_path / "quiet"), "--quiet"], capture_output=True, text=True,
                           env=env)
    assert quiet.returncode == 0
    assert quiet.stderr == ""


def test_local_match_runs_with_the_cyclic_collector_paused(tmp_path: Path, monkeypatch):
    """`vax match` (local engine) pauses Python's cyclic collector from the index to the written
    tables (match/cli.cmd_match around _match_local) and enables it again afterwards."""
    import gc

    import vaxlib.match.cli as match_cli
    import vaxlib.match.pipeline as pipeline

    data = tmp_path / "data"
    assert vax(["synth", "--persons", "200", "--seed", "5", "--out", str(data)]) == 0
    seen = []
    real_index, real_match = match_cli._registry_index, pipeline.run_match
    monkeypatch.setattr(match_cli, "_registry_index", lambda *a, **k: (seen.append(gc.isenabled()),
                                                                       real_index(*a, **k))[1])
    monkeypatch.setattr(pipeline, "run_match", lambda *a, **k: (seen.append(gc.isenabled()), real_match(*a, **k))[1])
    assert gc.isenabled()
    assert vax(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                str(data / "vaccinations.parquet"), "--out", str(tmp_path / "m"), "--quiet"]) == 0
    assert seen == [False, False]
    assert gc.isenabled()
