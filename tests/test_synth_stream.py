"""`vax synth --partitioned`: a data set streamed in chunks to <table>/part-*.parquet (issue 13, item 3)."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from vaxlib import synth
from vaxlib.synth import TABLE_NAMES, generate, generate_partitioned

ROOT = Path(__file__).resolve().parents[1]


def _parts(folder: Path) -> pd.DataFrame:
    files = sorted(folder.glob("part-*.parquet"))
    assert files, folder
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _roundtrip(df: pd.DataFrame) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(df.reset_index(drop=True).to_parquet(index=False)))


def test_one_chunk_is_the_unstreamed_generator_byte_for_byte(tmp_path):
    rows = generate_partitioned(250, 11, tmp_path, chunk=400)
    want = generate(250, 11)
    for name in TABLE_NAMES:
        assert [p.name for p in (tmp_path / name).iterdir()] == ["part-00000.parquet"]
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / name / "part-00000.parquet"),
                                      _roundtrip(want[name]), check_exact=True)
        assert rows[name] == len(want[name])


def test_chunks_number_on_and_keep_ids_unique_and_references_whole(tmp_path):
    rows = generate_partitioned(900, 5, tmp_path, chunk=300)
    t = {name: _parts(tmp_path / name) for name in TABLE_NAMES}
    assert len(list((tmp_path / "registry").iterdir())) == 3
    assert {name: len(t[name]) for name in TABLE_NAMES} == {name: rows[name] for name in TABLE_NAMES}
    assert len(t["registry"]) == 900  # no ID clashed at this size: every person is there
    for table, col in (("registry", "person_id"), ("vaccinations", "record_id"), ("truth_persons", "human_id"),
                       ("truth_persons", "id_number"), ("feedback", "feedback_id")):
        assert t[table][col].is_unique, (table, col)
    # chunk 1's first record follows chunk 0's last
    first1 = pd.read_parquet(tmp_path / "vaccinations" / "part-00001.parquet")["record_id"].iloc[0]
    last0 = pd.read_parquet(tmp_path / "vaccinations" / "part-00000.parquet")["record_id"].iloc[-1]
    assert int(first1[2:]) == int(last0[2:]) + 1
    humans = set(t["truth_persons"]["human_id"])
    tv = t["truth_vaccinations"]
    assert set(tv["human_id"]) <= humans
    assert list(tv["record_id"]) == list(t["vaccinations"]["record_id"])
    assert set(tv["duplicate_of"].dropna()) <= set(tv["record_id"])
    for c in ("twin_of", "namesake_of", "parent_human_id"):
        assert set(t["truth_persons"][c].dropna()) <= humans, c
    assert set(t["registry"]["person_id"]) <= set(t["truth_persons"]["person_id"].dropna())
    assert rows["records_with_errors"] == int((tv["error_codes"].fillna("") != "").sum())


def test_a_person_whose_id_an_earlier_chunk_gave_out_is_left_out_with_all_theirs(tmp_path, monkeypatch):
    # every chunk drawn with the same seed: chunk 1 repeats chunk 0's IDs, so all its persons clash
    monkeypatch.setattr(synth, "_chunk_seed", lambda seed, k: seed)
    rows = generate_partitioned(400, 4, tmp_path, chunk=200)
    one = generate(200, 4)
    for name in ("registry", "vaccinations", "truth_persons", "truth_vaccinations"):
        assert rows[name] == len(one[name]), name
        assert pd.read_parquet(tmp_path / name / "part-00001.parquet").empty, name
    assert _parts(tmp_path / "truth_persons")["id_number"].is_unique


def _vax(argv, fault=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("VAX_FAULT", None)
    if fault:
        env["VAX_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "vaxlib.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL: Linux")
def test_a_killed_streaming_synth_leaves_nothing_that_looks_complete(tmp_path):
    from vaxlib.runs import check_run

    out = tmp_path / "big"
    argv = ["synth", "--persons", "300", "--seed", "2", "--out", str(out), "--partitioned", "--chunk", "100"]
    killed = _vax(argv, fault="kill:synth:chunk")  # killed once the first part is written
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    done = _vax(argv)
    assert done.returncode == 0, done.stderr[-2000:]
    data = check_run(out, command="synth")
    assert len(list((out / "registry").glob("part-*.parquet"))) == 3
    assert data["files"]["registry/part-00002.parquet"]["rows"] == 100
    assert len(_parts(out / "registry")) == 300
    bad = _vax(["synth", "--persons", "10", "--out", str(tmp_path / "x"), "--partitioned", "--format", "csv"])
    assert bad.returncode == 2 and "--partitioned" in bad.stderr and "Traceback" not in bad.stderr
