"""The kept certificates' copy that runs in a thread beside the plan and the signing (``batch._KeptCopy``).

It starts on a guess (every previous certificate of a person outside the dirty units) and is used only when
the rows the run keeps are exactly those; a guess that missed is dropped and the copy made again.  Killed or
out of disk in the middle of it, a rerun leaves the previous run as it was, and the next rerun completes.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from vaxlib.runs import recover
from vaxlib.sign import batch
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys

from test_sign_store import _certs, _sign, _tree, _world, _write

PID = "0010850{:05d}".format


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "thử-nghiệm")
    init_keys(tmp_path / "K")
    return tmp_path / "K"


def _lower_vaccine(world, persons):
    """The dose records of ``persons`` with the vaccine typed in lower case: the same product, the same
    certificate, but their rows differ, so the persons are dirty (re-planned) and then kept."""
    reg, vac, mat = world
    vac = vac.copy()
    rows = vac["record_id"].isin([f"R{i}" for i in persons])
    vac.loc[rows, "vaccine"] = vac.loc[rows, "vaccine"].str.lower()
    return reg, vac, mat


@pytest.mark.parametrize("group_rows", [3, 32_768])
def test_a_guess_that_missed_is_dropped_and_the_kept_rows_are_copied_again(tmp_path, keys, monkeypatch,
                                                                           group_rows):
    monkeypatch.setattr(batch, "GROUP_ROWS", group_rows)
    out = tmp_path / "OUT"
    _sign(_write(tmp_path / "in0", _world()), keys, out)
    first = _certs(out).set_index("person_id")
    # person 7: a new dose (re-issued); persons 3 and 20: dirty, but their certificate says the same (kept)
    s = _sign(_write(tmp_path / "in1", _lower_vaccine(_world(new_dose={7}), {3, 20})), keys, out)
    assert s.rerun["replanned_persons"] >= 3  # 3, 7, 20 were re-planned: the copy left them out
    assert s.counts["reissued"] == 1 and s.counts["kept"] == 39
    now = _certs(out).set_index("person_id")
    assert len(now) == 40 and now.index.is_unique
    same = [p for p in first.index if p != PID(7)]
    pd.testing.assert_frame_equal(now.loc[same], first.loc[same])  # 3 and 20 included, byte for byte
    assert now.at[PID(7), "uvci"] != first.at[PID(7), "uvci"]
    assert not list(out.parent.glob(".OUT*"))  # nothing of the dropped copy left beside the run
    assert s.rerun["kept_copy"] == "dropped"


def test_a_guess_that_holds_is_used(tmp_path, keys):
    out = tmp_path / "OUT"
    _sign(_write(tmp_path / "in0", _world()), keys, out)
    first = _certs(out).set_index("person_id")
    s = _sign(_write(tmp_path / "in1", _world(renamed={0, 39}, new_dose={5})), keys, out)
    assert s.rerun["kept_copy"] == "beside"
    now = _certs(out)
    assert list(now["person_id"][:37]) == [p for p in first.index if p not in {PID(0), PID(5), PID(39)}]
    same = now["person_id"][:37]
    pd.testing.assert_frame_equal(now.set_index("person_id").loc[same], first.loc[same])


@pytest.mark.parametrize("fault", ["kill:sign:kept_copy", "enospc:sign:kept_copy"])
def test_a_rerun_killed_or_out_of_disk_during_the_copy_leaves_the_previous_run_and_the_next_completes(
        tmp_path, keys, fault):
    out = tmp_path / "OUT"
    _sign(_write(tmp_path / "in0", _world()), keys, out)
    _sign(_write(tmp_path / "in1", _world(renamed={1})), keys, out)  # a delta run: its parts get linked
    files = _tree(out)
    before = _certs(out).set_index("person_id")
    p2 = _write(tmp_path / "in2", _world(renamed={1, 5}))
    cmd = [sys.executable, "-m", "vaxlib.cli", "sign", "--registry", str(p2["registry"]), "--vaccinations",
           str(p2["vaccinations"]), "--matches", str(p2["matches"]), "--keys", str(keys), "--out", str(out),
           "--processes", "1", "--no-hold"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(cmd, env={**env, "VAX_FAULT": fault}, capture_output=True, text=True)
    if fault.startswith("kill"):
        assert r.returncode == -9, r.stderr  # killed in the copying thread, where asked
    else:  # the thread's error reaches the command: the disk-full line, at that point, exit 2
        assert r.returncode == 2 and "(sign:kept_copy)" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "(sign:kept_copy)" in r.stderr.strip().splitlines()[-1], r.stderr
    recover(out)  # what every reader does first (check_run)
    assert _tree(out) == files  # the previous run, byte for byte
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".OUT")) == []  # no staging left
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = _certs(out).set_index("person_id")
    assert sorted(after.index) == sorted(before.index)
    changed = after["uvci"] != before.loc[after.index, "uvci"]
    assert list(after.index[changed]) == [PID(5)]
    pd.testing.assert_frame_equal(after.drop(index=PID(5)), before.loc[after.index].drop(index=PID(5)))
