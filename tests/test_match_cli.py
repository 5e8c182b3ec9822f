"""`vax match` and `vax evaluate` from the command line."""
from pathlib import Path

import pandas as pd

from vaxlib.cli import main as vax


def test_match_then_evaluate_prints_every_metric(tmp_path: Path, capsys):
    data, match = tmp_path / "data", tmp_path / "match"
    assert vax(["synth", "--persons", "800", "--seed", "12", "--out", str(data)]) == 0
    assert vax(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                str(data / "vaccinations.parquet"), "--out", str(match), "--quiet"]) == 0
    m = pd.read_parquet(match / "matches.parquet")
    # no review row: the share of review rows with the right candidate cannot be measured
    m.loc[m["status"] == "review", "status"] = "unmatched"
    m.to_parquet(match / "matches.parquet")
    capsys.readouterr()
    assert vax(["evaluate", "--truth", str(data), "--matches", str(match), "--out", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip() and not ln.startswith(" ")}
    assert "n/a (no rows to measure)" in lines["review_top_right"]
    assert "nan" not in lines["review_top_right"]
    precision = float(lines["auto_precision"].split()[1])
    assert 0.99 <= precision <= 1.0
