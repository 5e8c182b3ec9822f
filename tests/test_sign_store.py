"""A rerun writes certificates.parquet whole and its own bookkeeping (content index, ledger) as a delta."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from vaxlib.errors import ManifestError
from vaxlib.runs import recover
from vaxlib.sign.batch import sign_tables
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys
from vaxlib.sign.ledger import read_ledger
from vaxlib.sign.verify import decode

N = 40
NAMES = ["Nguyễn Bảo Duy", "Đặng Thị Huệ", "Trần Văn An", "Lê Thị Mai"]


@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "thử-nghiệm")
    init_keys(tmp_path / "K")
    return tmp_path / "K"


def _world(renamed=(), new_dose=(), new_dob=(), *, n=N, names=NAMES, dob=lambda i: "1980-01-02"):
    """(registry, vaccinations, matches) of ``n`` verified persons, one dose each; ``renamed`` persons carry one
    more name word, ``new_dob`` persons another dob (1981-03-04), ``new_dose`` persons a second dose."""
    pids = [f"0010850{i:05d}" for i in range(n)]
    reg = pd.DataFrame({"person_id": pids,
                        "full_name": [names[i % len(names)] + (" Anh" if i in renamed else "") for i in range(n)],
                        "dob": ["1981-03-04" if i in new_dob else dob(i) for i in range(n)],
                        "sex": "M", "old_id": "", "province_code": "01"})
    recs = [[f"R{i}", p, "1", "2021-06-01", "Pfizer"] for i, p in enumerate(pids)]
    recs += [[f"N{i}", pids[i], "2", "2021-09-01", "Moderna"] for i in sorted(new_dose)]
    m = pd.DataFrame(recs, columns=["record_id", "person_id", "dose_number", "vaccination_date", "vaccine"])
    vac = m[["record_id", "dose_number", "vaccination_date", "vaccine"]].assign(
        full_name="x", dob="x", sex="", id_number="", phone="", province_code="", facility_id="F1",
        facility_province="01", lot_number="")
    mat = m[["record_id", "person_id"]].assign(status="verified", person_key=m["person_id"],
                                               match_probability=1.0, error_codes="", corrected_full_name=None,
                                               corrected_dob=None, corrected_sex=None, corrected_id_number=None)
    return reg, vac, mat


def _write(folder: Path, world) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in zip(("registry", "vaccinations", "matches"), world):
        paths[name] = folder / f"{name}.parquet"
        df.to_parquet(paths[name], index=False)
    return paths


def _sign(paths, keys, out, **kw):
    return sign_tables(paths["registry"], paths["vaccinations"], paths["matches"], keys, out, signer_name="t",
                       processes=1, **kw)


def _certs(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / "certificates.parquet")


def _content(folder: Path) -> dict:
    """person_id -> what the certificate says, without its UVCI and times (they differ by design)."""
    out = {}
    for pid, hc1 in _certs(folder)[["person_id", "hc1"]].itertuples(index=False):
        hcert = json.loads(json.dumps(decode(hc1).hcert, default=str))
        for group in ("v", "t", "r"):
            for entry in hcert.get(group, []):
                entry.pop("ci", None)
        out[pid] = hcert
    return out


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_rerun_writes_the_whole_table_and_a_delta_index_equal_to_a_full_re_sign(tmp_path, keys):
    from vaxlib.sign.previous import PreviousRun

    _sign(_write(tmp_path / "in0", _world()), keys, tmp_path / "OUT")
    first = _certs(tmp_path / "OUT").set_index("person_id")
    p1 = _write(tmp_path / "in1", _world(renamed={3}, new_dose={7}))
    s = _sign(p1, keys, tmp_path / "OUT")
    assert s.counts["reissued"] == 2
    out = tmp_path / "OUT"
    assert sorted(p.name for p in (out / "certificate-content").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "superseded.parquet"]
    assert not (out / "certificate-content.parquet").exists()
    rows = json.loads((out / "_manifest.json").read_text(encoding="utf-8"))["rows"]
    assert rows["certificate-content"] == rows["certificates"] == N  # not the parts' N + 2 (superseded)
    assert os.stat(out / "certificate-content" / "part-00000.parquet").st_nlink == 1  # the old folder's link is gone
    sup = pq.read_table(out / "certificate-content" / "superseded.parquet").to_pandas()
    assert sorted(sup["uvci"]) == sorted(first.loc[["001085000003", "001085000007"], "uvci"])
    # the ledger only appended: the previous one linked as part 0, this run's four events in part 1
    assert sorted(p.name for p in (out / "signing-ledger").iterdir()) == ["part-00000.csv", "part-00001.csv"]
    assert not (out / "signing-ledger.csv").exists()
    ledger = read_ledger(out)
    assert len(ledger) == N + 4 and [e["event"] for e in ledger[:N]] == ["issued"] * N
    assert sorted(e["event"] for e in ledger[N:]) == ["reissued", "reissued", "revoked", "revoked"]
    assert len((out / "signing-ledger" / "part-00001.csv").read_text(encoding="utf-8").splitlines()) == 1 + 4
    # the contract's table: every current certificate, one row per person
    now = _certs(out).set_index("person_id")
    assert len(now) == N and now.index.is_unique and now["uvci"].is_unique
    changed = {"001085000003", "001085000007"}
    assert {p for p in now.index if now.at[p, "uvci"] != first.at[p, "uvci"]} == changed
    same = now.drop(index=list(changed))
    pd.testing.assert_frame_equal(same, first.loc[same.index])
    # the same content as signing everyone afresh from the new inputs
    _sign(p1, keys, tmp_path / "FRESH")
    assert _content(out) == _content(tmp_path / "FRESH")
    # the index parts without the superseded rows describe the table row for row
    prev = PreviousRun.load(out)
    assert prev.aligned and list(prev.content["uvci"].to_pylist()) == list(_certs(out)["uvci"])
    # and the next --previous reads it: nothing changed, nothing signed, same certificates
    parts = {n: _tree(out)[n] for n in ("certificate-content/part-00000.parquet",
                                        "certificate-content/part-00001.parquet", "signing-ledger/part-00001.csv")}
    s = _sign(p1, keys, out)
    assert s.signed == 0 and s.counts["kept"] == N
    assert {n: _tree(out).get(n) for n in parts} == parts  # linked as they were
    assert not (out / "certificate-content" / "part-00002.parquet").exists()  # no empty part for a no-op rerun
    assert not (out / "signing-ledger" / "part-00002.csv").exists()
    pd.testing.assert_frame_equal(_certs(out).set_index("person_id").sort_index(), now.sort_index())


def test_vax_verify_reads_the_table_of_a_delta_run(tmp_path, keys):
    from vaxlib.cli import main

    _sign(_write(tmp_path / "in0", _world()), keys, tmp_path / "OUT")
    _sign(_write(tmp_path / "in1", _world(renamed={1})), keys, tmp_path / "OUT")
    assert (tmp_path / "OUT" / "certificate-content" / "superseded.parquet").is_file()
    assert main(["verify", "--quiet", "--trust", str(keys / "trust"),
                 str(tmp_path / "OUT" / "certificates.parquet")]) == 0


def test_reruns_compact_when_the_superseded_rows_pass_the_threshold(tmp_path, keys):
    out = tmp_path / "OUT"
    _sign(_write(tmp_path / "in0", _world()), keys, out)
    layouts = []
    for k in range(1, 7):  # one more person renamed each run
        p = _write(tmp_path / f"in{k}", _world(renamed=set(range(k))))
        _sign(p, keys, out)
        layouts.append("compact" if (out / "certificate-content.parquet").exists() else
                       len(list((out / "certificate-content").glob("part-*.parquet"))))
        assert len(_certs(out)) == N
        assert _content(out) == _content(_sign(p, keys, tmp_path / f"F{k}") and tmp_path / f"F{k}")
    # run k re-issues one person: k superseded of 40 + k rows; run 5 would pass 10 % (5 > 4.5): compact
    assert layouts == [2, 3, 4, 5, "compact", 2]
    assert len(read_ledger(out)) == N + 2 * 6  # each run: one reissued, one revoked


def test_a_superseded_list_altered_after_its_run_is_refused(tmp_path, keys):
    out = tmp_path / "OUT"
    _sign(_write(tmp_path / "in0", _world()), keys, out)
    p1 = _write(tmp_path / "in1", _world(renamed={2}))
    _sign(p1, keys, out)
    sup = out / "certificate-content" / "superseded.parquet"
    pq.write_table(pq.read_table(sup).slice(0, 0), sup)  # the old certificate's content made current again
    before = _tree(out)
    with pytest.raises(ManifestError):
        _sign(p1, keys, out)
    assert _tree(out) == before  # refused, nothing written


@pytest.mark.parametrize("fault", ["kill:write:certificates.parquet", "kill:write:part-00002.parquet",
                                   "kill:write:superseded.parquet",
                                   "kill:sign:chunk", "kill:sign:manifest", "kill:sign:swap",
                                   "enospc:sign:staged"])
def test_a_killed_delta_rerun_leaves_the_previous_run_intact(tmp_path, keys, fault):
    out = tmp_path / "OUT"
    _sign(_write(tmp_path / "in0", _world()), keys, out)
    _sign(_write(tmp_path / "in1", _world(renamed={1})), keys, out)  # already a delta: its parts get linked
    files = _tree(out)
    before = _certs(out)
    p2 = _write(tmp_path / "in2", _world(renamed={1, 5}))
    cmd = [sys.executable, "-m", "vaxlib.cli", "sign", "--registry", str(p2["registry"]), "--vaccinations",
           str(p2["vaccinations"]), "--matches", str(p2["matches"]), "--keys", str(keys), "--out", str(out),
           "--processes", "1", "--no-hold"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run(cmd, env={**env, "VAX_FAULT": fault}, capture_output=True, text=True)
    if fault.startswith("kill"):
        assert r.returncode == -9, r.stderr  # killed where asked, not stopped by something else
    else:
        assert r.returncode == 2 and "(sign:staged)" in r.stderr, r.stderr  # the disk-full line, at that point
    recover(out)  # what every reader does first (check_run): a run killed mid-swap is put back
    assert _tree(out) == files  # the previous run, byte for byte (its linked parts were never written through)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = _certs(out).set_index("person_id")
    changed = after["uvci"] != before.set_index("person_id").loc[after.index, "uvci"]
    assert list(after.index[changed]) == ["001085000005"]


def test_revocations_of_a_delta_run_killed_right_after_its_commit_are_finished_by_the_next_run(tmp_path, keys):
    from vaxlib.sign.verify import uvci_hash

    out = tmp_path / "OUT"
    _sign(_write(tmp_path / "in0", _world()), keys, out)
    _sign(_write(tmp_path / "in1", _world(renamed={1})), keys, out)
    revoked = keys / "trust" / "revoked-uvci-sha256.txt"
    first = revoked.read_text().split()
    old = _certs(out).set_index("person_id").at["001085000004", "uvci"]
    p2 = _write(tmp_path / "in2", _world(renamed={1, 4}))
    cmd = [sys.executable, "-m", "vaxlib.cli", "sign", "--registry", str(p2["registry"]), "--vaccinations",
           str(p2["vaccinations"]), "--matches", str(p2["matches"]), "--keys", str(keys), "--out", str(out),
           "--processes", "1", "--no-hold"]
    r = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
                                 "VAX_FAULT": "kill:sign:swapped"}, capture_output=True, text=True)
    assert r.returncode == -9, r.stderr
    assert (out / "signing-ledger" / "part-00002.csv").is_file()  # committed, as a delta
    assert revoked.read_text().split() == first  # ... but died before the revocation
    s = _sign(p2, keys, out)
    assert s.signed == 0  # nothing signed twice; the missing revocation, from the run's own part, is added
    assert revoked.read_text().split() == [*first, uvci_hash(old)]


def test_kept_rows_read_row_group_by_row_group_are_the_rows_asked_for(tmp_path):
    import numpy as np
    import pyarrow as pa

    from vaxlib.sign.previous import PreviousRun

    n = 1000
    table = pa.table({c: pa.array([f"{c}{i}" for i in range(n)], pa.string())
                      for c in ("person_id", "uvci", "hc1", "kid", "issued_at", "expires_at")})
    pq.write_table(table, tmp_path / "certificates.parquet", row_group_size=128)  # 8 row groups
    prev = PreviousRun(tmp_path, None, None)
    rng = np.random.default_rng(3)
    for rows in (np.arange(n), np.zeros(0, np.int64), np.array([0, 127, 128, 129, 999]),
                 np.sort(rng.choice(n, 400, replace=False))):
        got = pa.concat_tables([table.slice(0, 0), *prev.iter_rows(rows)])
        assert got.equals(table.take(pa.array(rows, pa.int64())))
