"""``vax sign`` on partitioned inputs (:mod:`vaxlib.sign.stream`) gives the one-file answers, bucket by bucket."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_sign_incremental import T0, _frames, _rows, worlds
from vaxlib.cli import main
from vaxlib.io import read_output_arrow
from vaxlib.runs import atomic_run
from vaxlib.sign import incremental as inc
from vaxlib.sign.batch import _load_contract, plan_signing, sign_tables
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys
from vaxlib.sign.ledger import read_ledger
from vaxlib.sign.stream import SPILL_DIR, is_partitioned, plan_partitioned
from vaxlib.sign.verify import Verifier

NAMES = ("registry", "vaccinations", "matches", "candidates")


def _write_one(folder: Path, frames) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in zip(NAMES, frames):
        paths[name] = folder / f"{name}.parquet"
        df.to_parquet(paths[name], index=False)
    return paths


def _write_parts(folder: Path, frames, cuts: dict) -> dict:
    """Each table as ``folder/<name>/part-*.parquet``: rows in order, cut at ``cuts[name]`` (positions)."""
    paths = {}
    for name, df in zip(NAMES, frames):
        d = folder / name
        d.mkdir(parents=True, exist_ok=True)
        bounds = [0, *sorted(c for c in cuts.get(name, ()) if 0 < c < len(df)), len(df)]
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            df.iloc[a:b].to_parquet(d / f"part-{i:05d}.parquet", index=False)
        paths[name] = d
    return paths


def _whole_plan(paths: dict, at: dt.datetime):
    """The plan ``sign_tables`` makes of one-file inputs (read as it reads them, everyone planned)."""
    reg = _load_contract(paths["registry"], "registry", None)[2]
    vac = _load_contract(paths["vaccinations"], "vaccinations", None)[2]
    mat = inc.text_table(read_output_arrow(paths["matches"], "matches"), inc.PLAN_INPUTS["matches"])
    cand = inc.text_table(read_output_arrow(paths["candidates"], "candidates"), ["record_id", "person_id"])
    held = inc.held_rows(mat, cand)
    return plan_signing(reg.to_pandas(), vac.to_pandas(), mat.to_pandas(), at=at, held=held)


def _same_plan(a, b) -> None:
    assert dict(a.stats.skipped) == dict(b.stats.skipped)
    assert _rows(a.refused) == _rows(b.refused)  # same rows, same order
    pa_ = a.persons.sort_values("person_id").reset_index(drop=True) if len(a.persons) else a.persons
    pb = b.persons.sort_values("person_id").reset_index(drop=True) if len(b.persons) else b.persons
    assert _rows(pa_) == _rows(pb)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(world=worlds(), buckets=st.integers(1, 4), data=st.data())
def test_a_plan_made_bucket_by_bucket_from_parts_equals_the_whole_plan(tmp_path_factory, world, buckets, data):
    """Keys naming two persons, persons without a key of their own, pending records holding candidates in
    other buckets, records of one person cut into different parts: the same persons, rows and counts."""
    base, _, _ = world
    frames = _frames(base)
    root = tmp_path_factory.mktemp("w")
    one = _write_one(root / "one", frames)
    cuts = {n: data.draw(st.lists(st.integers(1, max(1, len(f) - 1)), max_size=2), label=n)
            for n, f in zip(NAMES, frames)}
    parts = _write_parts(root / "parts", frames, cuts)
    whole = _whole_plan(one, T0)
    _same_plan(plan_partitioned(parts["registry"], parts["vaccinations"], parts["matches"], parts["candidates"],
                                root / "spill", at=T0, buckets=buckets), whole)
    _same_plan(plan_partitioned(one["registry"], one["vaccinations"], one["matches"], one["candidates"],
                                root / "spill1", at=T0, buckets=buckets), whole)


P1, P2, P3 = "001085000001", "001085000002", "001085000003"


def _split_person_world():
    """P1's two doses lie in different parts, the second not verified; P2's key also names P3, whose own key
    is fine (P3 is signed with the latest dose of both keys); a review record may be P2's."""
    reg = [[P1, "Nguyễn Bảo Duy", "1980"], [P2, "Trần Văn An", "1975"], [P3, "Lê Thị Mai", "1990-05"]]
    recs = [["R1", P1, "verified", P1, "1", "2021-06-01", "Pfizer"],
            ["R2", P2, "verified", "K2", "1", "2021-06-01", "Pfizer"],
            ["R3", P3, "verified", P3, "1", "2021-07-01", "Moderna"],
            ["R4", P1, "fix", P1, "2", "2021-09-01", "Pfizer"],
            ["R5", P3, "verified", "K2", "2", "2021-09-01", "Moderna"],
            ["R6", None, "review", "K6", "1", "2021-10-01", "Pfizer"]]
    return reg, recs, [["R6", P2]]


@pytest.mark.parametrize("buckets", [1, 2, 3, 7])
def test_a_person_whose_records_lie_in_two_parts_is_planned_once_with_all_of_them(tmp_path, buckets):
    frames = _frames(_split_person_world())
    parts = _write_parts(tmp_path / "parts", frames, {"matches": [2], "vaccinations": [3]})
    plan = plan_partitioned(parts["registry"], parts["vaccinations"], parts["matches"], parts["candidates"],
                            tmp_path / "spill", at=T0, buckets=buckets)
    # P1: a fix dose in the other part; K2 names P2 and P3: neither signed through it
    assert _rows(plan.persons) == [(P3, "Lê Thị Mai", "1990-05", "2", "2021-09-01", "Moderna")]
    assert dict(plan.stats.skipped) == {"not_all_verified": 2, "several_persons": 1}  # P1 and K6 (no person)
    _same_plan(plan, _whole_plan(_write_one(tmp_path / "one", frames), T0))
    assert not (tmp_path / "spill").exists()


@pytest.mark.parametrize("buckets", [1, 2, 3, 5, 7])
def test_a_record_listed_for_two_persons_gives_its_dose_to_both_whatever_their_buckets(tmp_path, buckets):
    """A hand-made matches table may list one record twice (two persons): its vaccination row is read
    in each of their buckets, as the whole table's join gives it to both."""
    p4, p5 = "001085000004", "079085000005"
    reg = [[p4, "Võ Minh", "1960"], [p5, "Đặng Thị Huệ", "1990"]]
    recs = [["R7", p4, "verified", p4, "1", "2021-06-01", "Pfizer"],
            ["R7", p5, "verified", p5, "1", "2021-06-01", "Pfizer"]]
    frames = list(_frames((reg, recs, [])))
    frames[1] = frames[1].iloc[:1]  # one vaccination row
    parts = _write_parts(tmp_path / "parts", frames, {"matches": [1]})
    plan = plan_partitioned(parts["registry"], parts["vaccinations"], parts["matches"], parts["candidates"],
                            tmp_path / "spill", at=T0, buckets=buckets)
    assert sorted(plan.persons["person_id"]) == [p4, p5]
    _same_plan(plan, _whole_plan(_write_one(tmp_path / "one", frames), T0))


# ----------------------------------------------------------------------------- whole runs

@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "thử-nghiệm")
    monkeypatch.setenv("USER", "can-bo-ky")
    init_keys(tmp_path / "K")
    return tmp_path / "K"


@pytest.fixture(scope="module")
def matched(tmp_path_factory):
    """A synthetic set of 1,500 persons with vax match's outputs: one file each, and as parts (matches and
    candidates shuffled across parts, as the dask engine's hash partitions place them)."""
    from vaxlib.match.pipeline import run_match
    from vaxlib.synth import generate

    root = tmp_path_factory.mktemp("matched")
    t = generate(1500, 5, provinces=["79", "01", "48"])
    res = run_match(t["registry"], t["vaccinations"])
    frames = [t["registry"], t["vaccinations"], res.matches, res.candidates]
    one = _write_one(root / "one", frames)
    parts = {}
    for name, df in zip(NAMES, frames):
        d = root / "parts" / name
        d.mkdir(parents=True)
        if name in ("matches", "candidates"):
            df = df.sample(frac=1.0, random_state=3)
            for i in range(4):
                df.iloc[i::4].to_parquet(d / f"part-{i:05d}.parquet", index=False)
        else:
            for i in range(3):
                df.iloc[i * len(df) // 3:(i + 1) * len(df) // 3].to_parquet(d / f"part-{i:05d}.parquet", index=False)
        parts[name] = d
    return one, parts


def _sign(paths, keys, out, **kw):
    return sign_tables(paths["registry"], paths["vaccinations"], paths["matches"], keys, out, signer_name="t",
                       candidates=paths["candidates"], processes=1, **kw)


def _content(out: Path) -> pd.DataFrame:
    c = pq.read_table(out / "certificate-content.parquet").to_pandas()
    return c[["person_id", "name_hash", "dob_hash", "dose_hash"]].sort_values("person_id").reset_index(drop=True)


def test_partitioned_inputs_sign_the_same_certificates_as_one_file(matched, keys, tmp_path):
    one, parts = matched
    assert is_partitioned(*parts.values()) and not is_partitioned(*one.values())
    a = _sign(one, keys, tmp_path / "one")
    b = _sign(parts, keys, tmp_path / "parts", stream=5, ledger_dir=tmp_path / "L")
    assert a.signed == b.signed > 100
    assert dict(a.skipped) == dict(b.skipped) and a.skipped["held_pending"] > 0
    ca = pd.read_parquet(tmp_path / "one" / "certificates.parquet")
    cb = pd.read_parquet(tmp_path / "parts" / "certificates.parquet")
    assert sorted(ca["person_id"]) == sorted(cb["person_id"])
    # what each certificate says (name, dob, dose, issuer): equal; UVCIs and signatures are random
    pd.testing.assert_frame_equal(_content(tmp_path / "one"), _content(tmp_path / "parts"))
    # the same held/refused rows (the shuffled parts list a person's pending records in another order)
    held = [sorted(_rows(pd.read_parquet(tmp_path / o / "not-signed.parquet"))) for o in ("one", "parts")]
    assert held[0] == held[1] and len(held[0]) > 10
    # the content index lists the certificates row for row, the ledger one issued event each
    content = pq.read_table(tmp_path / "parts" / "certificate-content.parquet").to_pandas()
    assert content["uvci"].tolist() == cb["uvci"].tolist()
    ledger = read_ledger(tmp_path / "parts")
    assert sorted(r["uvci"] for r in ledger) == sorted(cb["uvci"]) and {r["event"] for r in ledger} == {"issued"}
    assert {r["signer"] for r in ledger} == {"t"}
    assert read_ledger(tmp_path / "L") == ledger  # --ledger-dir: the same events appended there
    assert not any(p.name == SPILL_DIR for p in (tmp_path / "parts").rglob("*"))
    # one-file inputs signed bucket by bucket: not-signed.parquet row for row (same input order)
    c = _sign(one, keys, tmp_path / "stream", stream=3)
    assert c.signed == a.signed and dict(c.skipped) == dict(a.skipped)
    assert _rows(pd.read_parquet(tmp_path / "one" / "not-signed.parquet")) == \
        _rows(pd.read_parquet(tmp_path / "stream" / "not-signed.parquet"))
    v = Verifier(keys / "trust", at=dt.datetime.now(dt.timezone.utc))
    assert all(v.check(h, "t").valid for h in cb["hc1"].head(50))


def test_cli_signs_folders_of_parts_and_refuses_a_previous_run_in_one_line(matched, keys, tmp_path, capsys):
    _, parts = matched
    out = tmp_path / "certs"
    args = ["sign", "--registry", str(parts["registry"]), "--vaccinations", str(parts["vaccinations"]),
            "--matches", str(parts["matches"]), "--candidates", str(parts["candidates"]), "--keys", str(keys),
            "--out", str(out), "--processes", "1"]
    assert main(args) == 0
    n = len(pd.read_parquet(out / "certificates.parquet"))
    assert n > 100
    capsys.readouterr()
    for extra in ([], ["--previous", str(out)]):  # an --out holding a run is a previous run too
        before = (out / "certificates.parquet").read_bytes()
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip()
        assert "--out" in err and "Traceback" not in err and len(err.splitlines()) == 1
        assert (out / "certificates.parquet").read_bytes() == before


@pytest.mark.parametrize("fault", ["kill:sign:chunk", "kill:write:certificate-content.parquet",
                                   "enospc:sign:chunk"])
def test_a_partitioned_run_killed_or_failing_leaves_no_result_and_the_rerun_signs(matched, keys, tmp_path, fault):
    import os
    import subprocess
    import sys

    _, parts = matched
    out = tmp_path / "certs"
    cmd = [sys.executable, "-m", "vaxlib.cli", "sign", "--registry", str(parts["registry"]),
           "--vaccinations", str(parts["vaccinations"]), "--matches", str(parts["matches"]),
           "--candidates", str(parts["candidates"]), "--keys", str(keys), "--out", str(out), "--processes", "1"]
    r = subprocess.run(cmd, env={**os.environ, "VAX_FAULT": fault}, capture_output=True, text=True)
    assert r.returncode != 0
    assert not out.exists()  # no result that looks complete (its staging folder holds the spill)
    env = {k: v for k, v in os.environ.items() if k != "VAX_FAULT"}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(out / "certificates.parquet")) > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["K", "certs"]  # the killed run's staging is gone


def test_person_and_qr_on_parts_sign_that_person_only_and_refuse_an_unsignable_one(matched, keys, tmp_path):
    from vaxlib.sign.errors import NotVerified

    one, parts = matched
    whole = _whole_plan(one, dt.datetime.now(dt.timezone.utc))
    who = whole.persons["person_id"].iloc[7]
    s = _sign(parts, keys, tmp_path / "p", only=[who], qr="png")
    assert s.signed == 1 and s.requested == 1 and not s.skipped
    certs = pd.read_parquet(tmp_path / "p" / "certificates.parquet")
    assert certs["person_id"].tolist() == [who]
    content = pd.read_parquet(tmp_path / "p" / "certificate-content.parquet")
    assert (tmp_path / "p" / "qr" / content["qr_file"].iloc[0]).is_file()
    held = whole.refused["person_id"].iloc[0]
    with pytest.raises(NotVerified):
        _sign(parts, keys, tmp_path / "q", only=[held])
    assert not (tmp_path / "q").exists()


# ----------------------------------------------------------------------------- reading and planning in a pool

def test_parts_read_and_planned_in_a_pool_of_processes_give_the_plan_of_one_process(matched, tmp_path):
    """The tasks (a part read and spilled, a bucket planned) run in two processes: the plan made in one
    process, row for row, whichever process took which part; and the whole tables' plan (its held rows
    in another order: the shuffled parts list a person's pending records in another order)."""
    one, parts = matched
    whole = _whole_plan(one, T0)
    for buckets in (1, 4):
        args = (parts["registry"], parts["vaccinations"], parts["matches"], parts["candidates"])
        pooled = plan_partitioned(*args, tmp_path / f"spill{buckets}", at=T0, buckets=buckets, processes=2)
        _same_plan(pooled, plan_partitioned(*args, tmp_path / f"s{buckets}", at=T0, buckets=buckets))
        assert dict(pooled.stats.skipped) == dict(whole.stats.skipped)
        assert sorted(_rows(pooled.refused)) == sorted(_rows(whole.refused)) and len(whole.refused) > 10
        assert _rows(pooled.persons) == _rows(whole.persons) and len(whole.persons) > 100


def test_a_run_whose_parts_are_read_by_a_pool_signs_what_one_file_signs(matched, keys, tmp_path, monkeypatch):
    from vaxlib.sign import stream

    one, parts = matched
    a = _sign(one, keys, tmp_path / "one")
    monkeypatch.setattr(stream, "POOL_MIN_ROWS", 0)  # a pool however few the rows
    b = sign_tables(parts["registry"], parts["vaccinations"], parts["matches"], keys, tmp_path / "parts",
                    signer_name="t", candidates=parts["candidates"], processes=2, stream=3)
    assert a.signed == b.signed > 100 and dict(a.skipped) == dict(b.skipped)
    assert any(str(k).startswith("task-") for k in b.worker_cpu)  # the task processes' CPU is counted
    pd.testing.assert_frame_equal(_content(tmp_path / "one"), _content(tmp_path / "parts"))
    held = [sorted(_rows(pd.read_parquet(tmp_path / o / "not-signed.parquet"))) for o in ("one", "parts")]
    assert held[0] == held[1] and len(held[0]) > 10


@pytest.mark.parametrize("fault", ["kill", "enospc"])
def test_a_killed_task_process_fails_the_run_in_one_line_and_leaves_nothing(matched, keys, tmp_path, fault):
    """A reading process that dies (here: killed as it writes its spill file; the OOM killer would do
    the same) or whose disk is full ends the command with a one-line error, no result and no staging
    folder; the next run signs."""
    import os
    import subprocess
    import sys

    _, parts = matched
    out = tmp_path / "certs"
    code = ("import sys; import vaxlib.sign.stream as s; s.POOL_MIN_ROWS = 0; from vaxlib.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", code, "sign", "--registry", str(parts["registry"]),
           "--vaccinations", str(parts["vaccinations"]), "--matches", str(parts["matches"]),
           "--candidates", str(parts["candidates"]), "--keys", str(keys), "--out", str(out), "--processes", "2"]
    r = subprocess.run(cmd, env={**os.environ, "VAX_FAULT": f"{fault}:sign:spill", "VAX_LANG": "en"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    err = [line for line in r.stderr.strip().splitlines() if not line.startswith("INFO ")]
    said = "reading process ended abruptly" if fault == "kill" else "no space left on the device"
    assert "Traceback" not in r.stderr and len(err) == 1 and said in err[0], r.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["K"]
    env = {k: v for k, v in os.environ.items() if k != "VAX_FAULT"}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(out / "certificates.parquet")) > 100


@settings(max_examples=300, deadline=None)
@given(uvcis=st.lists(st.one_of(st.sampled_from(["URN:UVCI:01:VN:0123456789ABCDEF0123456789ABCDEF#K",
                                                 "URN:UVCI:01:VN:FEDCBA9876543210FEDCBA9876543210#/"]),
                                st.sampled_from(["-1", "=A1", "+x", "@s", "'q", "\tx", "\rx", "a,b", 'q"', "x\ny",
                                                 "x\r", " y", ""]),
                                st.text(max_size=12)), max_size=6),
       kid=st.sampled_from(["q7LNlWr2XZc=", "+abc/=", "=1+1", "-k"]), signer=st.text(max_size=8),
       pre=st.booleans())
def test_a_chunk_s_issued_events_are_the_ledger_rows_of_append_ledger_byte_for_byte(tmp_path_factory, uvcis, kid,
                                                                                   signer, pre):
    """append_issued writes a chunk's UVCIs between one prefix and suffix: the same bytes as append_ledger,
    whatever the UVCIs, kid and signer hold (formula starts, commas, quotes, line breaks: the general way)."""
    from vaxlib.sign.ledger import append_issued, append_ledger

    d = tmp_path_factory.mktemp("l")
    (d / "a").mkdir()
    (d / "b").mkdir()
    if pre:  # appended to a ledger that has its header
        for f in ("a", "b"):
            append_ledger(d / f, [], signer="x", signed_at="2026-01-01T00:00:00+00:00")
    at = "2026-12-08T05:00:00+00:00"
    assert append_ledger(d / "a", [(kid, u, "issued", "", "") for u in uvcis], signer=signer, signed_at=at) == \
        append_issued(d / "b", kid, uvcis, signer=signer, signed_at=at)
    assert (d / "a" / "signing-ledger.csv").read_bytes() == (d / "b" / "signing-ledger.csv").read_bytes()
