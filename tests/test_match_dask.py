"""`vax match --engine dask` gives the local engine's answers, whatever the number of partitions (issue 13).

The runs use a LocalCluster of 2 worker processes with 1 thread each (as CI can afford),
on small synthetic sets: the demo's generator (seed 2022) and the harsh error profile
with seed 3.  The expected outputs are the local engine's (`run_match`), itself pinned
to the pre-rewrite code by tests/test_match_golden.py.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed")

from vaxlib import config  # noqa: E402
from vaxlib.match.index import build_index  # noqa: E402
from vaxlib.errors import CommandError  # noqa: E402
from vaxlib.match.pipeline import MatchSettings, run_match  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: name -> (persons, seed, error profile)
SETS = {"demo": (300, 2022, None), "harsh-s3": (400, 3, "errors-harsh.yaml")}
EXACT = ["status", "person_id", "person_key", "error_codes", "corrected_full_name", "corrected_dob",
         "corrected_sex", "corrected_id_number"]


def _settings() -> MatchSettings:
    s = MatchSettings.from_dict(config.load_yaml(config.PARAMETERS_DIR / "matching.yaml"))
    s.workers = 1
    return s


@pytest.fixture(scope="module")
def client():
    from vaxlib.match.distributed import close_cluster, open_cluster

    c = open_cluster(None, workers=2)
    yield c
    close_cluster(c)


@pytest.fixture(scope="module")
def data():
    from vaxlib.synth import generate

    out = {}
    for name, (persons, seed, errors) in SETS.items():
        t = generate(persons, seed, errors=config.PARAMETERS_DIR / errors if errors else None)
        local = run_match(t["registry"], t["vaccinations"], _settings())
        out[name] = (t, local)
    return out


def _read_parts(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in sorted(folder.glob("part-*.parquet"))], ignore_index=True)


def _assert_same(local: pd.DataFrame, got: pd.DataFrame, key: list[str], floats: list[str]) -> None:
    assert len(got) == len(local)
    a = local.sort_values(key).reset_index(drop=True)
    b = got.sort_values(key).reset_index(drop=True)
    for col in a.columns:
        if col in floats:
            np.testing.assert_allclose(b[col].to_numpy(float), a[col].to_numpy(float), rtol=0, atol=1e-9,
                                       err_msg=col)
        else:
            same = (a[col].astype(object).where(a[col].notna(), None).to_numpy()
                    == b[col].astype(object).where(b[col].notna(), None).to_numpy())
            assert same.all(), (col, a.loc[~same, key + [col]].head(3).to_dict("records"),
                                b.loc[~same, key + [col]].head(3).to_dict("records"))


@pytest.mark.parametrize("name,partitions", [("harsh-s3", 1), ("harsh-s3", 4), ("harsh-s3", 7), ("demo", 4)])
def test_same_answers_as_the_local_engine(client, data, tmp_path, name, partitions):
    from vaxlib.match.distributed import run_match_dask

    tables, local = data[name]
    out = tmp_path / "out"
    out.mkdir()
    res = run_match_dask(build_index(tables["registry"]), tables["vaccinations"], _settings(), client,
                         partitions=partitions, work_dir=tmp_path / "work", out=out, run_key="t")
    matches = _read_parts(out / "matches")
    assert len(list((out / "matches").glob("part-*.parquet"))) == partitions
    assert set(local.matches["status"]) >= {"verified", "fix"}  # the comparison is not vacuous
    _assert_same(local.matches, matches, ["record_id"], ["match_probability"])
    cand_floats = [c for c in local.candidates.columns if local.candidates[c].dtype.kind == "f"]
    _assert_same(local.candidates, _read_parts(out / "candidates"), ["record_id", "rank", "person_id"], cand_floats)
    want, got = local.model.to_dict(), res.model.to_dict()
    assert got["namesake_pi"].keys() == want["namesake_pi"].keys()
    for part in ("m", "u", "u_idless"):
        for f, levels in want[part].items():
            np.testing.assert_allclose(list(got[part][f].values()), list(levels.values()), rtol=0, atol=1e-12)
    assert abs(got["rho"] - want["rho"]) < 1e-12
    assert res.stats["pairs"] == local.stats["pairs"]
    assert res.stats["stage2_pairs"] == local.stats["stage2_pairs"]
    assert res.stats["status_counts"] == local.stats["status_counts"]


def test_sessions_larger_than_the_em_sample_are_sampled_like_the_local_engine(client, data, tmp_path, monkeypatch):
    """A training session over em_sample pairs is sampled over the pairs in the local engine's order
    (packed 64-bit order keys on the client); a small em_sample makes the harsh set exercise it."""
    from vaxlib.match import model as model_mod
    from vaxlib.match.distributed import run_match_dask

    monkeypatch.setitem(model_mod.fit_model.__kwdefaults__, "em_sample", 150)
    tables, unsampled = data["harsh-s3"]
    local = run_match(tables["registry"], tables["vaccinations"], _settings())
    # the sample matters: m differs from the run on every pair
    assert any(not np.allclose(list(local.model.to_dict()["m"][f].values()), list(v.values()), rtol=0, atol=1e-12)
               for f, v in unsampled.model.to_dict()["m"].items())
    (tmp_path / "out").mkdir()
    res = run_match_dask(build_index(tables["registry"]), tables["vaccinations"], _settings(), client, partitions=3,
                         work_dir=tmp_path / "work", out=tmp_path / "out", run_key="e")
    _assert_same(local.matches, _read_parts(tmp_path / "out" / "matches"), ["record_id"], ["match_probability"])
    want, got = local.model.to_dict(), res.model.to_dict()
    for f, levels in want["m"].items():
        np.testing.assert_allclose(list(got["m"][f].values()), list(levels.values()), rtol=0, atol=1e-12)


def test_the_client_gets_the_sessions_sizes_then_only_the_vectors_em_runs_on(client, data, tmp_path, monkeypatch):
    """The counts tasks send each training session's size, not its distinct vectors over every pair:
    with the term frequencies those are nearly one per pair, and at 10M persons (2 x 23M pairs) the
    client held 3.3 GB of them only to sample 500,000.  The vectors EM runs on come afterwards.
    Likewise the evidence tasks leave each record's evidence in the work folder, read one partition
    at a time, instead of sending it all (and pickling it again into the stage's results: 2.2 GB)."""
    from vaxlib.match import distributed
    from vaxlib.match import model as model_mod
    from vaxlib.match.distributed import run_match_dask

    finished = {}
    real_finished = distributed._finished

    def keep(w, name, file, result, info=None):
        # what the stage's results hold now (the client may pop from them afterwards)
        finished[name] = [sorted(k for k, v in x.items() if isinstance(v, np.ndarray)) for x in result
                          if isinstance(x, dict)]
        return real_finished(w, name, file, result, info)

    monkeypatch.setattr(distributed, "_finished", keep)

    merged = []
    merge = model_mod.FitCounts.merge.__func__

    def spy(cls, parts):
        merged.append(list(parts))
        return merge(cls, parts)

    monkeypatch.setattr(model_mod.FitCounts, "merge", classmethod(spy))
    tables, local = data["harsh-s3"]
    (tmp_path / "out").mkdir()
    res = run_match_dask(build_index(tables["registry"]), tables["vaccinations"], _settings(), client, partitions=3,
                         work_dir=tmp_path / "work", out=tmp_path / "out", run_key="v")
    (parts,) = merged
    assert len(parts) == 3
    sizes = [sum(p.sessions[k][0] for p in parts) for k in range(len(model_mod.TRAINING_SESSIONS))]
    assert min(sizes) >= 20  # EM ran in every session, on vectors gathered after the sizes
    assert all(vec is None for p in parts for _, vec in p.sessions)
    assert len(finished["evidence"]) == 3
    assert finished["evidence"] == [[], [], []]  # no per-record array crossed to the client
    want, got = local.model.to_dict(), res.model.to_dict()
    for f, levels in want["m"].items():
        np.testing.assert_allclose(list(got["m"][f].values()), list(levels.values()), rtol=0, atol=1e-12)


def _write_parts(df: pd.DataFrame, folder: Path, cuts: list[int]) -> list[Path]:
    folder.mkdir(parents=True)
    bounds = [0, *cuts, len(df)]
    out = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        out.append(folder / f"part-{i:05d}.parquet")
        df.iloc[a:b].to_parquet(out[-1], index=False)
    return out


@pytest.mark.parametrize("partitions", [1, 4])
def test_workers_read_the_parts_and_give_the_local_engines_answers(client, data, tmp_path, partitions):
    """Out of core: the tables go to the workers as files (3 registry parts, 2 record parts, one of
    them empty); the client holds neither, and the answer is the local engine's on the whole tables."""
    from vaxlib.match.distributed import run_match_dask

    tables, local = data["harsh-s3"]
    reg, vac = tables["registry"], tables["vaccinations"]
    sources = {"registry": _write_parts(reg, tmp_path / "registry", [100, 100, 250]),
               "vaccinations": _write_parts(vac, tmp_path / "vaccinations", [len(vac) // 3])}
    out = tmp_path / "out"
    out.mkdir()
    res = run_match_dask(None, None, _settings(), client, partitions=partitions, work_dir=tmp_path / "work", out=out,
                         run_key="f", sources=sources)
    _assert_same(local.matches, _read_parts(out / "matches"), ["record_id"], ["match_probability"])
    cand_floats = [c for c in local.candidates.columns if local.candidates[c].dtype.kind == "f"]
    _assert_same(local.candidates, _read_parts(out / "candidates"), ["record_id", "rank", "person_id"], cand_floats)
    assert res.stats["status_counts"] == local.stats["status_counts"]
    assert len(res.quarantine) == 0 and res.stats["records"] == len(vac)
    assert not list((tmp_path / "work" / "read").glob("registry-*.pkl"))  # read parts dropped once partitioned


def test_a_key_repeated_across_parts_is_refused_naming_file_and_row(client, data, tmp_path):
    from vaxlib.match.distributed import run_match_dask

    tables, _ = data["demo"]
    reg = tables["registry"]
    twice = pd.concat([reg.iloc[:50], reg.iloc[50:60], reg.iloc[[7]], reg.iloc[60:]], ignore_index=True)
    sources = {"registry": _write_parts(twice, tmp_path / "registry", [50]),
               "vaccinations": _write_parts(tables["vaccinations"], tmp_path / "vaccinations", [])}
    (tmp_path / "out").mkdir()
    with pytest.raises(CommandError) as err:
        run_match_dask(None, None, _settings(), client, partitions=2, work_dir=tmp_path / "work",
                       out=tmp_path / "out", run_key="d", sources=sources)
    assert f"{tmp_path / 'registry' / 'part-00001.parquet'}: row 12" in str(err.value)  # header = row 1


def test_a_changed_answer_is_seen(data):
    """The comparison above fails on a result that differs in one probability or one key."""
    _, local = data["harsh-s3"]
    m = local.matches.copy()
    m.loc[5, "match_probability"] += 1e-6
    with pytest.raises(AssertionError):
        _assert_same(local.matches, m, ["record_id"], ["match_probability"])
    m = local.matches.copy()
    m.loc[7, "person_key"] = "U-other"
    with pytest.raises(AssertionError):
        _assert_same(local.matches, m, ["record_id"], ["match_probability"])


def test_partitions_come_from_a_hash_that_every_process_shares():
    """Python's hash() of a str differs per process (PYTHONHASHSEED); the partitioning hash must not."""
    from vaxlib.match.distributed import partition_of

    ids = ["079203001234", "001099004567", "R-000017", ""]
    here = partition_of(np.array(ids, dtype=object), 7).tolist()
    code = ("import numpy as np; from vaxlib.match.distributed import partition_of; "
            f"print(partition_of(np.array({ids!r}, dtype=object), 7).tolist())")
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert got.stdout.strip() == str(here)
    assert all(0 <= p < 7 for p in here)


def test_a_partitioned_table_reads_like_one_file(tmp_path):
    from vaxlib.io import read_output, table_parts
    from vaxlib.runs import lists_table

    cols = ["record_id", "status", "person_id", "match_probability", "error_codes", "corrected_full_name",
            "corrected_dob", "corrected_sex", "corrected_id_number", "person_key"]
    df = pd.DataFrame({c: [f"{c}{i}" for i in range(5)] for c in cols}).assign(match_probability=np.linspace(0, 1, 5))
    (tmp_path / "matches").mkdir()
    df.iloc[:2].to_parquet(tmp_path / "matches" / "part-00000.parquet", index=False)
    df.iloc[2:].to_parquet(tmp_path / "matches" / "part-00001.parquet", index=False)
    assert [p.name for p in table_parts(tmp_path / "matches.parquet")] == ["part-00000.parquet", "part-00001.parquet"]
    pd.testing.assert_frame_equal(read_output(tmp_path / "matches.parquet", "matches"), df)
    assert lists_table({"matches/part-00000.parquet": {}}, "matches.parquet")
    assert not lists_table({"candidates/part-00000.parquet": {}}, "matches.parquet")


def test_a_work_folder_vaxlib_did_not_make_is_left_alone(tmp_path):
    from vaxlib.errors import CommandError
    from vaxlib.match.distributed import WorkDir

    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not a vaxlib work folder"):
        WorkDir(tmp_path / "w").claim("k")
    assert (tmp_path / "w" / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- killed runs (CLI)

def _vax(argv: list[str], tag: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VAX_TEST_TAG": tag}
    env.pop("VAX_FAULT", None)
    if fault:
        env["VAX_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "vaxlib.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=900)


def _tagged(tag: str) -> list[int]:
    """Processes that carry ``VAX_TEST_TAG=tag`` (the command and anything it started)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if f"VAX_TEST_TAG={tag}".encode() in (d / "environ").read_bytes():
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _tables(run: Path) -> dict[str, pd.DataFrame]:
    return {t: _read_parts(run / t) for t in ("matches", "candidates")}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL and /proc: Linux")
def test_a_killed_run_leaves_nothing_that_looks_complete_and_resumes(tmp_path):
    from vaxlib.runs import check_run

    tag = uuid.uuid4().hex
    data = tmp_path / "data"
    assert _vax(["synth", "--persons", "300", "--seed", "3", "--errors",
                 str(config.PARAMETERS_DIR / "errors-harsh.yaml"), "--out", str(data)], tag).returncode == 0
    base = ["match", "--registry", str(data / "registry.parquet"), "--vaccinations", str(data / "vaccinations.parquet"),
            "--engine", "dask", "--partitions", "3", "--dask-workers", "2", "--quiet"]
    # the uninterrupted run
    ok = _vax(base + ["--out", str(tmp_path / "want"), "--work-dir", str(tmp_path / "w0")], tag)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "vaxlib.match.distributed" not in ok.stderr  # --quiet: no English stage log lines
    want = _tables(tmp_path / "want")
    assert not (tmp_path / "w0").exists()  # a complete run's work folder is removed

    # killed right after the compare stage: no result, no process left, the work folder keeps 7 stages
    out, work = tmp_path / "got", tmp_path / "w1"
    killed = _vax(base + ["--out", str(out), "--work-dir", str(work)], tag, fault="kill:dask:compare")
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists()
    assert (work / "compare" / "_done.json").exists() and not (work / "score").exists()
    import time

    deadline = time.monotonic() + 20
    while _tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _tagged(tag) == [], "a Dask worker outlived the killed command"
    resumed = _vax(base + ["--out", str(out), "--work-dir", str(work)], tag)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "tiếp tục từ" in resumed.stdout and "compare" in resumed.stdout
    check_run(out, command="match")
    got = _tables(out)
    for t in want:
        pd.testing.assert_frame_equal(got[t], want[t], check_exact=True)

    # killed while writing over a previous result: the previous result stays whole
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    again = _vax(base + ["--out", str(out), "--work-dir", str(tmp_path / "w2"), "--max-block", "50"], tag,
                 fault="kill:dask:write")
    assert again.returncode == -signal.SIGKILL
    check_run(out, command="match")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL and /proc: Linux")
def test_a_run_killed_while_the_workers_split_the_parts_resumes_to_the_same_answer(tmp_path):
    """Folders of parts (`vax synth --partitioned`): killed once the parts are read and split (one
    task per part does both), the rerun keeps that stage and gives the local engine's answer on the
    whole tables."""
    tag = uuid.uuid4().hex
    data = tmp_path / "data"
    made = _vax(["synth", "--persons", "300", "--seed", "3", "--errors", str(config.PARAMETERS_DIR / "errors-harsh.yaml"),
                 "--out", str(data), "--partitioned", "--chunk", "120"], tag)
    assert made.returncode == 0, made.stderr[-2000:]
    out, work = tmp_path / "got", tmp_path / "w"
    argv = ["match", "--registry", str(data / "registry"), "--vaccinations", str(data / "vaccinations"),
            "--engine", "dask", "--partitions", "3", "--dask-workers", "2", "--out", str(out), "--work-dir", str(work)]
    killed = _vax(argv, tag, fault="kill:dask:read")
    assert killed.returncode == -signal.SIGKILL
    assert not out.exists() and (work / "read" / "_done.json").exists() and not (work / "input").exists()
    assert list((work / "read").glob("piece-vaccinations-*.pkl"))  # the parts' rows, split already
    resumed = _vax(argv, tag)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "giữ lại read" in resumed.stdout
    reg = _read_parts(data / "registry")
    vac = _read_parts(data / "vaccinations")
    local = run_match(reg, vac, _settings())
    _assert_same(local.matches, _read_parts(out / "matches"), ["record_id"], ["match_probability"])
    assert len(pd.read_parquet(out / "quarantine.parquet")) == 0

    # a part that is not Parquet: refused by the worker that reads it, and the command's stderr is
    # the one-line error alone (no "Compute Failed" and traceback logged by the worker first)
    (data / "vaccinations" / "part-00009.parquet").write_bytes(b"not a parquet file, just text\n")
    bad = _vax(argv[:-4] + ["--out", str(tmp_path / "bad"), "--work-dir", str(tmp_path / "wb"), "--quiet"], tag)
    assert bad.returncode == 2, bad.stderr[-2000:]
    lines = bad.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vax match: ") and "part-00009.parquet" in lines[0], bad.stderr
    assert not (tmp_path / "bad").exists()


def test_term_frequencies_travel_as_hash_pairs_and_are_looked_up_exactly():
    """The tf stage's tables hold numbers only: counts of equal values are added up, a value is
    found by both of its hashes (an entry sharing only the first hash is another value's), and a
    missing or uncounted value has no count."""
    from vaxlib.match.distributed import _value_keys, tf_lookup, tf_pieces, tf_sum

    a = pd.Series({"NGUYEN VAN AN": 2, "TRAN THI BE": 1, "": 5})
    b = pd.Series({"NGUYEN VAN AN": 3, "LE VAN C": 1})
    parts = [tf_pieces(a, 3), tf_pieces(b, 3)]
    tables = [tf_sum([p[q] for p in parts]) for q in range(3)]
    names = np.array(["NGUYEN VAN AN", "TRAN THI BE", "LE VAN C", "", "NOBODY", None], dtype=object)
    h1, h2 = _value_keys(names[:5])
    dest = (h1 % np.uint64(3)).astype(int)
    got = np.array([tf_lookup(tables[dest[k]], names[k:k + 1])[0] for k in range(5)] + [tf_lookup(tables[0], names[5:])[0]])
    np.testing.assert_array_equal(got, [5.0, 1.0, 1.0, 5.0, np.nan, np.nan])
    # an entry with the first hash of "LE VAN C" and another second hash (a 64-bit collision) does not answer for it
    k1, k2 = _value_keys(["LE VAN C"])
    table = tf_sum([(np.r_[k1, k1], np.r_[k2 + np.uint64(1), k2], np.array([99, 7]))])
    assert tf_lookup(table, np.array(["LE VAN C"], dtype=object))[0] == 7.0
    table = tf_sum([(k1, k2 + np.uint64(1), np.array([99]))])
    assert np.isnan(tf_lookup(table, np.array(["LE VAN C"], dtype=object))[0])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(0, n - 1), max_size=400))))
def test_a_pieces_codes_are_numpys_unique_with_inverse(case):
    """take_frame's used codes and each row's rank among them (by marking a table of flags, or by
    np.unique when the table is much longer than the rows) are np.unique(return_inverse=True)'s."""
    from vaxlib.match.distributed import _used_codes

    n, rows = case
    codes = np.array(rows, dtype=np.int32)
    used, inv = _used_codes(codes, n)
    want_used, want_inv = np.unique(codes, return_inverse=True)
    assert used.tolist() == want_used.tolist()
    assert inv.dtype == np.int32 and inv.tolist() == want_inv.reshape(-1).tolist()


def test_stored_frames_concatenate_to_the_frames_concatenated():
    """Coded work frames (text as codes into each column's distinct values) put one after the other
    and cut to rows give the plain frames' concatenation and rows, also when a column is coded in
    one part and left plain in another (it had a missing value there)."""
    from vaxlib.match.distributed import concat_frames, decode_frame, factor_frame, rows_frame, take_frame

    obj = lambda *v: pd.Series(list(v), dtype=object)  # noqa: E731 - text columns as read_table gives them
    a = pd.DataFrame({"name": obj("An", "Bé", "An"), "lot": obj("L1", "L2", "L1"), "n": [1, 2, 3]})
    b = pd.DataFrame({"name": obj("Cường", "An"), "lot": obj("L3", None), "n": [4, 5]})
    sa, sb = factor_frame(a), factor_frame(b)
    assert "lot" in sa["coded"] and "lot" not in sb["coded"]
    whole = pd.concat([a, b], ignore_index=True)
    both = concat_frames([sa, sb])
    assert "name" in both["coded"] and "lot" not in both["coded"]  # what every part codes stays coded
    pd.testing.assert_frame_equal(decode_frame(both), whole, check_dtype=False)
    rows = np.array([4, 0, 2])
    got, dicts = rows_frame(both, rows)
    pd.testing.assert_frame_equal(got, whole.iloc[rows].reset_index(drop=True), check_dtype=False)
    assert [dicts["name"][1][k] for k in dicts["name"][0]] == ["An", "An", "An"]
    pd.testing.assert_frame_equal(decode_frame(take_frame(sa, np.array([2, 1]))), a.iloc[[2, 1]].reset_index(drop=True),
                                  check_dtype=False)


def test_work_files_keep_text_arrays_exactly_whatever_they_hold(tmp_path):
    """Object arrays of str (and None: a missing cell) go into work files as Arrow text (distinct values,
    pandas' object blocks) and come back equal, object-typed and writeable, None as None; arrays
    holding a number, NaN, pd.NA or text Arrow cannot hold (a lone surrogate) are pickled as they are
    and come back the same."""
    from vaxlib.match.distributed import _Pickler, _load, _save, _text_array

    words = np.array(["Nguyễn Văn An", "", "Trần Thị Bé", "x\x00y"] * 40, dtype=object)
    frame = pd.DataFrame({"a": pd.Series(words, dtype=object), "n": np.arange(len(words)),
                          "b": pd.Series(words[::-1].copy(), dtype=object)}).copy()  # one 2-d object block
    assert any(b.values.ndim == 2 and b.values.shape[0] == 2 for b in frame._mgr.blocks)
    with_none = np.array(["a", None, "b"] * 40, dtype=object)
    mixed = {"number": np.array(["a", 1] * 40, dtype=object), "nan": np.array(["a", np.nan] * 40, dtype=object),
             "na": np.array(["a", pd.NA] * 40, dtype=object), "none_nan": np.array(["a", None, np.nan] * 40, dtype=object),
             "surrogate": np.array(["a", "\udc80"] * 40, dtype=object)}
    _save({"words": words, "frame": frame, "with_none": with_none, **mixed}, tmp_path / "x.pkl")
    got = _load(tmp_path / "x.pkl")
    assert got["with_none"].dtype == object and [type(x) for x in got["with_none"]] == [type(x) for x in with_none]
    assert got["with_none"].tolist() == with_none.tolist()
    assert got["words"].dtype == object and got["words"].flags.writeable
    assert got["words"].tolist() == words.tolist()
    pd.testing.assert_frame_equal(got["frame"], frame)
    for k, v in mixed.items():
        assert got[k].dtype == object and [type(x) for x in got[k]] == [type(x) for x in v], k
        assert [repr(x) for x in got[k]] == [repr(x) for x in v], k
    # the text arrays take the Arrow path, the others pickle's own
    for arr in (words, with_none):
        red = _Pickler.reducer_override(_Pickler(__import__("io").BytesIO()), arr)
        assert red is not NotImplemented and red[0] is _text_array
    assert all(_Pickler.reducer_override(_Pickler(__import__("io").BytesIO()), v) is NotImplemented
               for v in mixed.values())


def test_records_are_stored_by_the_readers_codes_only_when_they_describe_the_column():
    """read_table's codings become the stored frame's codes for columns whose values are all text or
    None, a missing cell (code -1) coded as a None appended to the values; the others (numbers, NaN)
    are left to factor_frame; decoded, the frame is the table (missing cells None)."""
    from vaxlib.match.distributed import _reader_dicts, decode_frame, factor_frame

    table = pd.DataFrame({"name": pd.Series(["An", "Bé", "An"], dtype=object),
                          "lot": pd.Series(["L1", None, "L1"], dtype=object),
                          "dose": pd.Series(["1", "2", "1"], dtype=object)})
    codes = {"name": (np.array([0, 1, 0]), np.array(["An", "Bé", "unused"], dtype=object)),
             "lot": (np.array([0, -1, 0]), np.array(["L1"], dtype=object)),
             "dose": (np.array([0, 1, 0]), np.array([1, 2], dtype=object)),  # not text: not taken
             "nan": (np.array([0, 1, 0]), np.array(["x", np.nan], dtype=object))}  # NaN is not a missing cell
    table["nan"] = pd.Series(["x", np.nan, "x"], dtype=object)
    given = _reader_dicts(codes, 3)
    assert set(given) == {"name", "lot"}
    assert given["lot"][0].tolist() == [0, 1, 0] and given["lot"][1].tolist() == ["L1", None]
    stored = factor_frame(table, given=given)
    assert stored["coded"]["name"][1].tolist() == ["An", "Bé", "unused"]
    assert stored["coded"]["dose"][1].tolist() == ["1", "2"] and "nan" not in stored["coded"]
    got = decode_frame(stored)
    pd.testing.assert_frame_equal(got, table)
    assert got["lot"][1] is None


def _numbers_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    text = pd.Series(rng.choice(np.array(["An", "Bé", "Cường", None], dtype=object), n), dtype=object)
    return pd.DataFrame({"i8": rng.integers(-9, 9, n).astype(np.int8), "i16": rng.integers(0, 999, n).astype(np.int16),
                         "i32": rng.integers(0, 1 << 30, n).astype(np.int32), "i64": rng.integers(0, 1 << 62, n),
                         "u64": rng.integers(0, 1 << 63, n).astype(np.uint64), "f32": rng.random(n).astype(np.float32),
                         "f64": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)), "b": rng.random(n) < 0.5,
                         "t": text, "c": pd.Categorical(text), "d": pd.to_datetime(rng.integers(0, 10**9, n), unit="s")})


@pytest.mark.parametrize("raw", [False, True])
def test_uncompressed_work_files_map_back_exactly_aligned_and_never_written_through(tmp_path, raw):
    """Work files of numbers written uncompressed (``raw``: the arrays' bytes as they are) or LZ4-compressed
    read back equal: every dtype, NaN, None among text, categoricals, dates, empty frames, 2-d and strided
    arrays, Arrow text arrays sliced and with nulls, pieces of a file one by one.  Read back mapped, the
    arrays are aligned and writeable, and writing into them changes neither the file nor the next read."""
    import hashlib

    import pyarrow as pa

    from vaxlib.match import distributed as D

    frame = _numbers_frame(301)
    mat = np.arange(60, dtype=np.int64).reshape(6, 10)
    text = pa.array(["Nguyễn", None, "Văn", "", "An"] * 30).slice(3, 100)
    obj = {"frame": frame, "empty": frame.iloc[:0], "mat": mat, "strided": mat[:, ::3], "u": np.arange(7, dtype=np.uint64),
           "text": text, "none": None}
    path = tmp_path / "x.pkl"
    D._save(obj, path, raw=raw)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for _ in range(2):
        got = D._load(path, text="arrow")
        pd.testing.assert_frame_equal(got["frame"], frame)
        pd.testing.assert_frame_equal(got["empty"], frame.iloc[:0])
        for k in ("mat", "strided", "u"):
            assert got[k].dtype == obj[k].dtype and np.array_equal(got[k], obj[k]), k
        assert got["text"].equals(text) and got["none"] is None
        blocks = [b.values for b in got["frame"]._mgr.blocks if isinstance(b.values, np.ndarray)]
        for arr in blocks + [got["mat"], got["u"]]:
            assert arr.flags.aligned and arr.flags.writeable
            if arr.dtype.kind in "iuf" and arr.size:
                arr[...] = 0  # a task changing what it read: its own copy only
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    pieces = [frame.iloc[:0], frame, {"a": np.arange(3, dtype=np.int32), "t": text}, frame.iloc[5:9]]
    D._save_pieces(pieces, tmp_path / "p.pkl", raw=raw)
    for q in (3, 0, 2, 1):
        got = D._load_piece(tmp_path / "p.pkl", q, text="arrow")
        if isinstance(pieces[q], pd.DataFrame):
            pd.testing.assert_frame_equal(got, pieces[q])
        else:
            assert np.array_equal(got["a"], pieces[q]["a"]) and got["t"].equals(text)
    assert (tmp_path / "p.pkl").read_bytes()[:4] == (b"VXP5" if raw else b"VXP1")


class _InProcess:
    """A client that runs each task at once in this process: a fault point of a task fires here."""

    def submit(self, fn, *args, pure=False, key=None):
        return fn(*args)

    def gather(self, futures):
        return list(futures)


@pytest.mark.parametrize("point", ["dask:wrote-finish-matches-00001.arrow", "dask:wrote-finish-candidates-00001.parquet",
                                   "write:part-00001.parquet"])
def test_a_finish_or_write_task_that_fails_leaves_no_part_that_looks_written_and_the_rerun_answers_the_same(
        data, tmp_path, monkeypatch, point):
    """The finish task writes the final parts (the matches as an Arrow file, the candidates as the run's
    Parquet part) and the write task fills in person_key and puts them in the run: a disk that fills up
    as either writes leaves no part under its final name (finish not marked done) or no part in the
    run, and the same command then answers as the local engine (the finish stage kept or redone)."""
    import errno

    from vaxlib.match.distributed import run_match_dask

    tables, local = data["harsh-s3"]
    index = build_index(tables["registry"])
    work = tmp_path / "work"
    monkeypatch.setenv("VAX_FAULT", f"enospc:{point}")
    (tmp_path / "o1").mkdir()
    with pytest.raises(OSError) as err:
        run_match_dask(index, tables["vaccinations"], _settings(), _InProcess(), partitions=3, work_dir=work,
                       out=tmp_path / "o1", run_key="k")
    assert err.value.errno == errno.ENOSPC
    if point.startswith("dask:wrote-finish"):
        name = point.split("finish-", 1)[1]
        assert not (work / "finish" / "_done.json").exists() and not (work / "finish" / name).exists()
        assert list((work / "finish").glob(f".{name}.*.tmp"))  # written, not yet under its name
    else:
        assert (work / "finish" / "_done.json").exists()
        assert not (tmp_path / "o1" / "matches" / "part-00001.parquet").exists()
    monkeypatch.delenv("VAX_FAULT")
    (tmp_path / "o2").mkdir()
    res = run_match_dask(index, tables["vaccinations"], _settings(), _InProcess(), partitions=3, work_dir=work,
                         out=tmp_path / "o2", run_key="k")
    assert ("finish" in res.resumed) == point.startswith("write:")
    _assert_same(local.matches, _read_parts(tmp_path / "o2" / "matches"), ["record_id"], ["match_probability"])
    cand_floats = [c for c in local.candidates.columns if local.candidates[c].dtype.kind == "f"]
    _assert_same(local.candidates, _read_parts(tmp_path / "o2" / "candidates"), ["record_id", "rank", "person_id"],
                 cand_floats)


def test_the_own_history_groups_meet_whole_with_each_records_text_and_status(data, tmp_path, monkeypatch):
    """The links task sends each record with a name and phone, and each passport record, to one own-history
    partition (as codes and numbers, not text): every record arrives once per key with the prepared
    text the local engine reads and its status before the own-history step, all records of a group
    meet in one task, and the tasks' answers are those of one call on all of them."""
    from vaxlib.match import own_history
    from vaxlib.match.distributed import run_match_dask
    from vaxlib.match.prepare import prepare_records

    tables, local = data["harsh-s3"]
    real = own_history.own_history_links
    calls = []

    def spy(rec, status, best, p, conflict, *a, **k):
        got = real(rec, status, best, p, conflict, *a, **k)
        calls.append((rec.assign(status=status, best=best, p=p, conflict=conflict), got))
        return got

    monkeypatch.setattr(own_history, "own_history_links", spy)
    (tmp_path / "out").mkdir()
    run_match_dask(build_index(tables["registry"]), tables["vaccinations"], _settings(), _InProcess(), partitions=3,
                   work_dir=tmp_path / "work", out=tmp_path / "out", run_key="o")
    assert len(calls) == 3
    rows = pd.concat([c.assign(task=i) for i, (c, _) in enumerate(calls)], ignore_index=True)
    named = rows[rows["id_kind"] == ""]
    passport = rows[rows["id_kind"] == "passport"]
    assert len(named) + len(passport) == len(rows)
    prep = prepare_records(tables["vaccinations"])
    fold, phone = prep["name_fold"].to_numpy(dtype=object), prep["phone_n"].to_numpy(dtype=object)
    kind, digits = prep["id_kind"].to_numpy(dtype=object), prep["id_digits"].to_numpy(dtype=object)
    want_named = np.flatnonzero((fold != "") & (phone != ""))
    want_passport = np.flatnonzero((kind == "passport") & (digits != ""))
    assert len(want_named) > 100 and len(want_passport) > 3
    for got, want, cols in ((named, want_named, {"name_fold": fold, "phone_n": phone}),
                            (passport, want_passport, {"id_digits": digits})):
        got = got.sort_values("pos")
        assert got["pos"].tolist() == want.tolist()  # each record once per key
        for c, values in cols.items():
            assert got[c].tolist() == values[want].tolist(), c
    # codes the tasks hand own_history_links with the text: equal codes exactly where the text is equal
    for rec, _ in calls:
        keyed = rec[rec["id_kind"] == ""]
        for c in ("name_fold", "phone_n"):
            if f"_c_{c}" in keyed:
                pairs = keyed[[c, f"_c_{c}"]].drop_duplicates()
                assert pairs[c].is_unique and pairs[f"_c_{c}"].is_unique, c
    # a group's records in one task
    assert (named.groupby(["name_fold", "phone_n"])["task"].nunique() == 1).all()
    assert (passport.groupby("id_digits")["task"].nunique() == 1).all()
    # the status before the own-history step: the final one unless promoted (to fix) or invalid
    final = local.matches["status"].to_numpy(dtype=object)[rows["pos"].to_numpy()]
    settled = ~np.isin(final, ["fix", "invalid"])
    assert (rows["status"].to_numpy(dtype=object)[settled] == final[settled]).all()
    assert set(rows["status"]) >= {"verified", "review"}
    # the tasks' answers are one call's on all the rows, by their text (the tasks group by codes of their own)
    rows = rows.drop(columns=[c for c in rows.columns if c.startswith("_c_")])
    promote, inherited = real(rows, rows["status"].to_numpy(dtype=object), rows["best"].to_numpy(np.int64),
                              rows["p"].to_numpy(float), rows["conflict"].to_numpy(bool))
    assert promote.tolist() == np.concatenate([g[0] for _, g in calls]).tolist()
    np.testing.assert_array_equal(inherited, np.concatenate([g[1] for _, g in calls]))


def test_records_are_placed_by_their_id_parsed_once_per_distinct_value(data, tmp_path):
    """The read task places records by ID digits parsed once per distinct ID number (the reader's
    coding): the same partition keys as parsing every row, missing and unusable numbers included."""
    from vaxlib.io import read_table
    from vaxlib.match.distributed import _reader_dicts, record_partition_keys
    from vaxlib.schema import columns

    tables, _ = data["harsh-s3"]
    vac = tables["vaccinations"].copy()
    vac.loc[vac.index[:5], "id_number"] = ["", "  ", "0" * 12, "abc", None]
    vac.to_parquet(tmp_path / "v.parquet", index=False)
    res = read_table(tmp_path / "v.parquet", "vaccinations", codes=tuple(columns("vaccinations")))
    table = res.table.reset_index(drop=True)
    coded = _reader_dicts(res.codes, len(table))
    assert "id_number" in coded and table["id_number"].isna().sum() > 0
    assert len(coded["id_number"][1]) < len(table)  # numbers repeat: the parse is per value
    want = record_partition_keys(table)
    got = record_partition_keys(table, coded)
    assert got.tolist() == want.tolist()
    assert (want == table["record_id"].to_numpy(dtype=object)).sum() >= 5  # placed by record_id


def test_a_tasks_pieces_share_one_file_read_piece_by_piece_and_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A shuffle task's pieces (one per destination) are one file; each destination reads back its own
    piece alone, equal to what was written, empty pieces included.  A write that fails before its
    rename leaves the earlier file as it was."""
    from vaxlib.match import distributed as D

    path = tmp_path / "keys" / "piece-00003.pkl"
    pieces = [pd.DataFrame({"a": np.arange(k), "t": pd.Series(["x"] * k, dtype=object)}) for k in (0, 70, 3)]
    sizes = D._save_pieces(pieces, path)
    assert len(sizes) == 3 and all(s > 0 for s in sizes)
    for q, want in enumerate(pieces):
        pd.testing.assert_frame_equal(D._load_piece(path, q), want)
    before = path.read_bytes()

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(D.os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        D._save_pieces([np.arange(5)] * 3, path)
    assert path.read_bytes() == before
    pd.testing.assert_frame_equal(D._load_piece(path, 1), pieces[1])


@pytest.mark.parametrize("n", [0, 1, 57, 4000])
def test_pairs_are_put_in_the_local_engines_order_like_a_stable_sort(n):
    """The evidence task's packed-key sort gives pandas' stable sort on (record, stage, first rule,
    person), ties in their arrival order included; keys too wide to pack take pandas' sort."""
    from vaxlib.match.distributed import _sorted_by

    rng = np.random.default_rng(n)
    keys = ["rec_pos", "stage", "first", "reg_pos"]
    f = pd.DataFrame({"rec_pos": rng.integers(0, 30, n), "stage": rng.integers(0, 2, n).astype(np.int8),
                      "first": rng.integers(0, 200, n).astype(np.int32), "reg_pos": rng.integers(0, 10, n),
                      "arrival": np.arange(n)})
    pd.testing.assert_frame_equal(_sorted_by(f, keys), f.sort_values(keys, kind="stable").reset_index(drop=True))
    wide = f.assign(rec_pos=f["rec_pos"] * (1 << 40), reg_pos=f["reg_pos"] * (1 << 30))
    pd.testing.assert_frame_equal(_sorted_by(wide, keys), wide.sort_values(keys, kind="stable").reset_index(drop=True))


@pytest.mark.parametrize("n", [0, 1, 12, 3000])
def test_pairs_get_their_rules_as_pandas_drop_duplicates_then_groupby_gives_them(n):
    """pair_rules (one lexsort) equals the pandas definition it replaced: a repeated (pair, rule) counts
    once with its first arrival kept, then per pair the smallest first rule, the sum of the rule bits
    and the record's partition, sorted by pair; dtypes included."""
    from vaxlib.match.distributed import pair_rules

    rng = np.random.default_rng(n)
    rp = rng.integers(0, 40, n)
    df = pd.DataFrame({"rec_pos": rp.astype(np.int64), "reg_pos": rng.integers(0, 20, n).astype(np.int64),
                       "rec_part": (rp % 3).astype(np.int32), "reg_part": np.int32(1),
                       "first": rng.integers(0, 190, n).astype(np.int32),
                       "bit": (1 << rng.integers(0, 12, n)).astype(np.int32)})
    want = df.drop_duplicates(["rec_pos", "reg_pos", "bit"]).groupby(["rec_pos", "reg_pos"], sort=True).agg(
        first=("first", "min"), rules=("bit", "sum"), rec_part=("rec_part", "first")).reset_index()
    want["rules"] = want["rules"].astype(np.int32)
    pd.testing.assert_frame_equal(pair_rules(df), want)


#: text as the stages hold it: Vietnamese with and without tone marks, empty, NUL, long
_TEXT = st.one_of(st.sampled_from(["Nguyễn Văn An", "NGUYEN VAN AN", "Trần Thị Bé", "", "x\x00y", "Đặng Ứng",
                                   "ờ" * 40, "079123456789"]),
                  st.text(alphabet="aăâđeêioôơuưyÀÁẠẢÃàáạảãỳýỵỷỹ ƯĐ0\x00", max_size=12))


@st.composite
def _frames(draw):
    """A frame of the columns work files hold: text (with or without None), text with NaN, integers
    of several widths, floats with NaN, booleans, a categorical; 0 to 150 rows."""
    n = draw(st.integers(0, 150))
    text = draw(st.lists(_TEXT, min_size=n, max_size=n))
    some_none = draw(st.lists(st.one_of(st.none(), _TEXT), min_size=n, max_size=n))
    some_nan = draw(st.lists(st.one_of(st.just(np.nan), _TEXT), min_size=n, max_size=n))
    return pd.DataFrame({
        "name": pd.Series(text, dtype=object),
        "lot": pd.Series(some_none, dtype=object),
        "odd": pd.Series(some_nan, dtype=object),
        "_pos": np.arange(n, dtype=np.int64) * 3,
        "dose_n": np.array(draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)), dtype=np.int16),
        "p": np.array(draw(st.lists(st.one_of(st.just(np.nan), st.floats(-1e6, 1e6)), min_size=n, max_size=n)),
                      dtype=np.float64),
        "ok": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool),
        "level": pd.Categorical(draw(st.lists(st.sampled_from(["exact", "fuzzy", "different"]), min_size=n,
                                              max_size=n)), categories=["exact", "fuzzy", "different"]),
    })


def _same_objects(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal frames, dtypes included, and a missing text cell the same object (None stays None, NaN NaN)."""
    pd.testing.assert_frame_equal(got, want)
    for c in want.columns:
        if want[c].dtype == object:
            assert [type(x) for x in got[c]] == [type(x) for x in want[c]], c


@settings(max_examples=150, deadline=None)
@given(_frames(), st.data())
def test_stored_frames_come_back_exactly_whether_text_is_read_as_objects_or_left_in_arrow(tmp_path_factory, frame,
                                                                                         data):
    """A stored frame (text coded, or plain where a column has a missing value) written to a work file
    and read back, its text as Python objects or left as Arrow (``text="arrow"``), decodes to the frame:
    same values, dtypes, None and NaN; rows taken from it and frames concatenated (Arrow and objects
    mixed) decode to pandas' iloc and concat; a frame of Arrow tables written again reads back the same."""
    from vaxlib.match.distributed import (_is_text, _load, _load_piece, _reader_dicts, _save, _save_pieces,
                                          arrow_tables, concat_frames, decode_frame, distinct_tables, factor_frame,
                                          take_frame)

    tmp = tmp_path_factory.mktemp("wf")
    # "lot" coded as read_table codes a column with missing cells (None among its values)
    stored = factor_frame(frame, given=_reader_dicts({"lot": pd.factorize(frame["lot"].to_numpy(dtype=object))},
                                                     len(frame)))
    assert "lot" in stored["coded"] or not len(frame)
    _save(stored, tmp / "f.pkl")
    objects, arrow = _load(tmp / "f.pkl"), _load(tmp / "f.pkl", text="arrow")
    _same_objects(decode_frame(objects), frame)
    _same_objects(decode_frame(arrow), frame)
    for c in ("name", "lot"):
        if c in stored["coded"] and len(stored["coded"][c][1]) >= 64:  # smaller ones are pickled as objects
            assert _is_text(arrow["coded"][c][1]) and not _is_text(objects["coded"][c][1])
    rows = np.array(data.draw(st.lists(st.integers(0, max(len(frame) - 1, 0)), max_size=60 if len(frame) else 0)),
                    dtype=np.int64)
    want_rows = frame.iloc[rows].reset_index(drop=True)
    for d in (objects, arrow, arrow_tables(stored)):
        _same_objects(decode_frame(take_frame(d, rows)), want_rows)
    _same_objects(decode_frame(concat_frames([arrow, objects, take_frame(arrow, rows)])),
                  pd.concat([frame, frame, want_rows], ignore_index=True))
    # cut to distinct values (the compare task's records): the same frame, each table's values once
    twice = distinct_tables(concat_frames([arrow, take_frame(arrow, rows)]))
    _same_objects(decode_frame(twice), pd.concat([frame, want_rows], ignore_index=True))
    for c, (codes, table) in twice["coded"].items():
        if c in arrow["coded"] and not isinstance(arrow["coded"][c][1], np.ndarray):
            assert len(set(map(repr, table))) == len(table) and codes.dtype == np.int32, c
    # Arrow tables (taken, concatenated) written again, as a piece among others, read back either way
    again = concat_frames([take_frame(arrow, rows), arrow])
    _save_pieces([again, take_frame(arrow_tables(stored), rows)], tmp / "p.pkl")
    want = pd.concat([want_rows, frame], ignore_index=True)
    _same_objects(decode_frame(_load_piece(tmp / "p.pkl", 0)), want)
    _same_objects(decode_frame(_load_piece(tmp / "p.pkl", 0, text="arrow")), want)
    _same_objects(decode_frame(_load_piece(tmp / "p.pkl", 1)), want_rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), _TEXT), max_size=80))
def test_text_factorised_in_arrow_is_pandas_factorize(values):
    """A partition's record values factorised in Arrow (the read pieces' tables left as Arrow) give
    ``pd.factorize(use_na_sentinel=False)``'s codes and values exactly: first-appearance order, a
    missing value one of the values, as NaN."""
    import pyarrow as pa

    from vaxlib.match.distributed import _factorize_text

    obj = np.array(values, dtype=object)
    want_codes, want_uniq = pd.factorize(obj, use_na_sentinel=False)
    for table in (obj, pa.array(values, type=pa.string())):
        codes, uniq = _factorize_text(table)
        assert codes.tolist() == want_codes.tolist()
        assert uniq.dtype == object and [repr(x) for x in uniq] == [repr(x) for x in want_uniq]
