"""Incremental re-signing plans only what changed, and decides exactly as a full plan would."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from vaxlib.errors import ManifestError
from vaxlib.sign import incremental as inc
from vaxlib.sign.batch import REFUSED_FILE, plan_signing, read_cache, replan, sign_tables
from vaxlib.sign.keys import PASSPHRASE_ENV, init_keys
from vaxlib.sign.ledger import read_ledger

T0 = dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.timezone.utc)


def _now() -> dt.datetime:
    """Whole runs sign with a key made by the test, valid from a few minutes before it was made."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


NAMES = ["Nguyễn Bảo Duy", "Đặng Thị Huệ", "Trần Văn An", "Lê Thị Mai"]
DOBS = ["1983-10-10", "1990-05", "1975", "", "1890-01-01", "2030-01-01"]
DATES = ["2021-06-01", "2021-09-15", "2022-01-20", "2020-01-01", "2026-12-20"]  # too early; future at T0
VACCINES = ["Pfizer", "AstraZeneca", "Moderna", "Vacxin lạ"]
STATUSES = ["verified", "verified", "verified", "verified", "review", "unmatched", "fix"]


@st.composite
def worlds(draw):
    """(base, changed): lists of register rows, dose records and candidates, and the changed copy."""
    n = draw(st.integers(2, 7))
    pids = [f"0010850{i:05d}" for i in range(n)]
    reg = [[p, draw(st.sampled_from(NAMES)), draw(st.sampled_from(DOBS))] for p in pids
           if draw(st.integers(0, 9))]  # now and then a person missing from the register
    recs, cands = [], []
    for j in range(draw(st.integers(1, 12))):
        owner = draw(st.integers(-1, n - 1))  # -1: no person (unmatched)
        pid = pids[owner] if owner >= 0 else None
        key = draw(st.sampled_from([pid or f"K{j}", pid or f"K{j}", pids[draw(st.integers(0, n - 1))], "K0"]))
        status = draw(st.sampled_from(STATUSES)) if pid else draw(st.sampled_from(["unmatched", "review"]))
        recs.append([f"R{j:03d}", pid, status, key, str(draw(st.integers(1, 4))), draw(st.sampled_from(DATES)),
                     draw(st.sampled_from(VACCINES))])
        if status in ("review", "unmatched") and draw(st.booleans()):
            cands.append([f"R{j:03d}", pids[draw(st.integers(0, n - 1))]])
    reg2 = [list(r) for r in reg]
    recs2 = [list(r) for r in recs]
    cands2 = [list(c) for c in cands]
    for op in draw(st.lists(st.sampled_from(["dose", "name", "dob", "remove", "status", "cand"]), max_size=4)):
        if op == "dose":
            p = pids[draw(st.integers(0, n - 1))]
            recs2.append([f"N{len(recs2):03d}", p, "verified", p, str(draw(st.integers(1, 5))), "2022-06-01",
                          draw(st.sampled_from(VACCINES))])
        elif op in ("name", "dob") and reg2:
            r = reg2[draw(st.integers(0, len(reg2) - 1))]
            if op == "name":
                r[1] = r[1] + " Anh"
            else:
                r[2] = draw(st.sampled_from(DOBS))
        elif op == "remove" and recs2:
            del recs2[draw(st.integers(0, len(recs2) - 1))]
        elif op == "status" and recs2:
            recs2[draw(st.integers(0, len(recs2) - 1))][2] = draw(st.sampled_from(STATUSES))
        elif op == "cand" and recs2:
            cands2.append([recs2[draw(st.integers(0, len(recs2) - 1))][0], pids[draw(st.integers(0, n - 1))]])
    days = draw(st.sampled_from([0, 1, 20, 400]))  # 20 days: a future date becomes past; 400: expiry
    return (reg, recs, cands), (reg2, recs2, cands2), T0 + dt.timedelta(days=days)


def _frames(world):
    reg, recs, cands = world
    registry = pd.DataFrame(reg, columns=["person_id", "full_name", "dob"]).assign(
        sex="M", old_id="", province_code="01")
    m = pd.DataFrame(recs, columns=["record_id", "person_id", "status", "person_key", "dose_number",
                                    "vaccination_date", "vaccine"])
    vac = m[["record_id", "dose_number", "vaccination_date", "vaccine"]].assign(
        full_name="x", dob="x", sex="", id_number="", phone="", province_code="", facility_id="F1",
        facility_province="01", lot_number="")
    mat = m[["record_id", "status", "person_id", "person_key"]].assign(
        match_probability=1.0, error_codes="", corrected_full_name=None, corrected_dob=None, corrected_sex=None,
        corrected_id_number=None)
    cand = pd.DataFrame(cands, columns=["record_id", "person_id"]).assign(rank=1, match_probability=0.5)
    return registry, vac, mat, cand


def _tables(world):
    registry, vac, mat, cand = _frames(world)
    t = {k: inc.text_table(f, inc.PLAN_INPUTS[k]) for k, f in
         (("registry", registry), ("vaccinations", vac), ("matches", mat))}
    held = inc.held_rows(t["matches"], inc.text_table(cand, ["record_id", "person_id"]))
    return t, held


def _plan(t, held, at):
    return plan_signing(*(t[k].to_pandas() for k in ("registry", "vaccinations", "matches")), at=at, held=held)


def _rows(df):
    return [tuple(map(str, r)) for r in df.itertuples(index=False)]


@st.composite
def large_worlds(draw):
    """(base, changed, at) as :func:`worlds`, with enough rows that a few changes stay under
    MAX_DIRTY_SHARE (so the incremental plan is taken), among them rows dropped at the end of
    a table, a dose record moved to another person or key, and appended rows."""
    n = 30
    pids = [f"0010851{i:05d}" for i in range(n)]
    reg = [[p, NAMES[i % 4], DOBS[i % 3]] for i, p in enumerate(pids)]
    recs, cands = [], []
    for i, p in enumerate(pids):
        for d in range(1 + i % 3):
            status = draw(st.sampled_from(STATUSES[:4] * 3 + STATUSES[4:]))
            recs.append([f"R{i:02d}{d}", p, status, p if i % 7 else "K0", str(d + 1), DATES[d], VACCINES[i % 3]])
            if status in ("review", "unmatched"):
                cands.append([f"R{i:02d}{d}", pids[(i + 1) % n]])
    reg2 = [list(r) for r in reg]
    recs2 = [list(r) for r in recs]
    for op in draw(st.lists(st.sampled_from(["name", "dob", "dose", "drop_rec", "drop_reg", "move", "key",
                                             "status"]), min_size=1, max_size=3)):
        r = draw(st.integers(0, len(recs2) - 1))
        p = pids[draw(st.integers(0, n - 1))]
        if op in ("name", "dob"):
            row = reg2[draw(st.integers(0, len(reg2) - 1))]
            row[1 if op == "name" else 2] = row[1] + " Anh" if op == "name" else draw(st.sampled_from(DOBS))
        elif op == "dose":
            recs2.append([f"N{len(recs2):03d}", p, "verified", p, "4", "2022-06-01", "Pfizer"])
        elif op == "drop_rec":  # the last rows: the previous table has a tail the new one lacks
            del recs2[-draw(st.integers(1, 3)):]
        elif op == "drop_reg":
            del reg2[-1]
        elif op == "move":
            recs2[r][1] = p
        elif op == "key":
            recs2[r][3] = p
        else:
            recs2[r][2] = draw(st.sampled_from(STATUSES))
    return (reg, recs, cands), (reg2, recs2, cands), T0 + dt.timedelta(days=draw(st.sampled_from([0, 20])))


def _check_replan(world, *, incremental: bool = False):
    base, changed, at = world
    old, held_old = _tables(base)
    new, held_new = _tables(changed)
    prev = _plan(old, held_old, T0)
    marked = inc.time_marked(new["registry"], prev.refused, T0, at)
    plan, dirty = replan(old, held_old, prev.refused, dict(prev.stats.skipped), T0, new, held_new, at, marked)
    full = _plan(new, held_new, at)
    if plan is None:  # more than MAX_DIRTY_SHARE changed: the caller plans everyone
        assert dirty.share > inc.MAX_DIRTY_SHARE and not incremental
        return
    assert dict(plan.stats.skipped) == dict(full.stats.skipped)
    assert _rows(plan.refused) == _rows(full.refused)  # same rows, same order
    full_rows = {r[0]: r for r in _rows(full.persons)}
    inc_rows = {r[0]: r for r in _rows(plan.persons)}
    # the re-planned signable persons are exactly the full plan's, row for row
    assert inc_rows == {p: r for p, r in full_rows.items() if p in dirty.persons}
    # everyone else signable now was signable before with the same certificate content: kept as is
    prev_rows = {r[0]: r for r in _rows(prev.persons)}
    for p, r in full_rows.items():
        if p not in dirty.persons:
            assert prev_rows.get(p) == r


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_incremental_plan_equals_a_full_plan(world):
    _check_replan(world)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(large_worlds())
def test_incremental_plan_of_a_few_changes_among_many_rows_equals_a_full_plan(world):
    _check_replan(world, incremental=True)


def test_held_rows_from_the_pending_part_equal_held_by_pending():
    from vaxlib.sign.checks import held_by_pending

    world = ([["P1", "A", "1990"]],
             [["R1", "P1", "verified", "P1", "1", "2021-06-01", "Pfizer"],
              ["R2", None, "review", "K2", "1", "2021-06-01", "Pfizer"],
              ["R3", "P2", "unmatched", "P2", "1", "2021-06-01", "Pfizer"],
              ["R4", "P3", "review", "P3", "1", "2021-06-01", "Pfizer"]],
             [["R1", "P9"], ["R2", "P1"], ["R2", "P2"], ["R4", "P1"], ["R3", "P3"]])
    registry, vac, mat, cand = _frames(world)
    t, held = _tables(world)
    assert _rows(held) == _rows(held_by_pending(mat, cand))
    assert set(held["person_id"]) == {"P1", "P2", "P3"}  # R1 is verified: P9 is not held


# ----------------------------------------------------------------------------- whole runs

@pytest.fixture
def keys(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSPHRASE_ENV, "thử-nghiệm")
    init_keys(tmp_path / "K")  # valid from 5 minutes before now; the tests take their clock after this
    return tmp_path / "K"


def _write(folder: Path, world) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in zip(("registry", "vaccinations", "matches", "candidates"), _frames(world)):
        paths[name] = folder / f"{name}.parquet"
        df.to_parquet(paths[name], index=False)
    return paths


def _two_people_then_one_renamed(tmp_path: Path) -> tuple[dict, dict]:
    """Inputs of two verified people, then the same with the first one's name corrected."""
    base = ([["001085000001", "Nguyễn Bảo Duy", "1980"], ["001085000002", "Trần Văn An", "1975"]],
            [["R1", "001085000001", "verified", "001085000001", "1", "2021-06-01", "Pfizer"],
             ["R2", "001085000002", "verified", "001085000002", "1", "2021-06-01", "Pfizer"]], [])
    changed = ([["001085000001", "Nguyễn Bảo Huy", "1980"], list(base[0][1])], base[1], [])
    return _write(tmp_path / "in0", base), _write(tmp_path / "in1", changed)


def _sign(paths, keys, out, at, **kw):
    return sign_tables(paths["registry"], paths["vaccinations"], paths["matches"], keys, out, signer_name="t",
                       candidates=paths["candidates"], issued_at=at, **kw)


def _outcome(out: Path, stats):
    certs = pd.read_parquet(out / "certificates.parquet")
    by_uvci = dict(zip(certs["uvci"], certs["person_id"]))
    ledger = read_ledger(out)
    return {
        "certs": dict(zip(certs["person_id"], certs["uvci"])),
        "refused": _rows(pd.read_parquet(out / REFUSED_FILE)),
        "skipped": dict(stats.skipped), "counts": dict(stats.counts),
        "state": sorted(_rows(pd.read_parquet(out / inc.STATE_FILE))),
        "ledger": ledger, "by_uvci": by_uvci,
    }


# whole runs are slow to shrink (minutes): a failing example is reported as drawn
@settings(max_examples=25, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(world=worlds())
def test_incremental_rerun_re_signs_revokes_and_keeps_what_a_full_rerun_does(tmp_path_factory, keys, world,
                                                                              monkeypatch):
    from vaxlib.sign import store

    base, changed, at = world
    now = _now()
    at = now + (at - T0)
    tmp = tmp_path_factory.mktemp("w")
    p0, p1 = _write(tmp / "in0", base), _write(tmp / "in1", changed)
    _sign(p0, keys, tmp / "PREV", now, processes=1)
    results = {}
    for mode in (False, True):  # the same previous run and key folder (revocation list) for both
        k = tmp / f"K{mode}"
        shutil.copytree(keys, k)
        out = tmp / f"OUT{mode}"
        # the full plan writes a compact content index, the incremental one a delta on PREV's (vaxlib.sign.store)
        monkeypatch.setattr(store, "COMPACT_SHARE", 1.0)
        monkeypatch.setattr(store, "MAX_PARTS", 16 if mode else 0)
        s = _sign(p1, k, out, at, previous=tmp / "PREV", processes=1, incremental=mode)
        assert (out / "certificate-content.parquet").exists() == (not mode)
        results[mode] = _outcome(out, s)
    prev = _outcome(tmp / "PREV", type("S", (), {"skipped": {}, "counts": {}})())
    full, part = results[False], results[True]
    assert part["refused"] == full["refused"] and part["skipped"] == full["skipped"]
    assert part["counts"] == full["counts"] and part["state"] == full["state"]
    assert set(part["certs"]) == set(full["certs"])
    kept = {p for p, u in full["certs"].items() if prev["certs"].get(p) == u}
    assert kept == {p for p, u in part["certs"].items() if prev["certs"].get(p) == u}

    def story(r):  # this run's ledger events per person, without the random UVCIs
        new = r["ledger"][len(prev["ledger"]):]
        return sorted((r["by_uvci"].get(e["uvci"]) or prev["by_uvci"].get(e["uvci"]), e["event"], e["reason"],
                       e["supersedes"]) for e in new)
    assert story(part) == story(full)


def test_a_rerun_replans_only_the_changed_people(tmp_path, keys):
    base = ([[f"0010850{i:05d}", NAMES[i % 4], "1980"] for i in range(30)],
            [[f"R{i}", f"0010850{i:05d}", "verified", f"0010850{i:05d}", "1", "2021-06-01", "Pfizer"]
             for i in range(30)], [])
    changed = ([list(r) for r in base[0]], [list(r) for r in base[1]], [])
    changed[0][3][1] = "Phạm Văn Bình"
    changed[1].append(["R99", "001085000007", "verified", "001085000007", "2", "2021-09-01", "Pfizer"])
    p0, p1 = _write(tmp_path / "in0", base), _write(tmp_path / "in1", changed)
    now = _now()
    _sign(p0, keys, tmp_path / "OUT", now)
    s = _sign(p1, keys, tmp_path / "OUT", now + dt.timedelta(days=1))
    assert s.rerun["replanned_persons"] == 2
    assert s.counts == {"issued": 0, "reissued": 2, "kept": 28, "carried": 0, "revoked": 2}
    events = read_ledger(tmp_path / "OUT")[30:]
    assert sorted(e["reason"] for e in events if e["event"] == "reissued") == ["name", "new_dose"]


@pytest.mark.parametrize("name", ["input-cache/registry.arrow", "input-cache/matches.arrow",
                                  "input-cache/held.arrow", inc.STATE_FILE, REFUSED_FILE])
def test_a_previous_plan_file_altered_after_its_run_is_refused_not_reused(tmp_path, keys, name):
    """The previous inputs say who changed: one rewritten to match the new inputs would hide a change."""
    p0, p1 = _two_people_then_one_renamed(tmp_path)
    now = _now()
    _sign(p0, keys, tmp_path / "OUT", now)
    target = tmp_path / "OUT" / name
    arrow = target.suffix == ".arrow"  # the input cache: Arrow IPC files (read into memory, not mapped)
    table = pa.ipc.open_file(pa.OSFile(str(target))).read_all() if arrow else pq.read_table(target)
    if name == "input-cache/registry.arrow":  # the forger's aim: the corrected name looks old
        table = inc.text_table(pd.read_parquet(p1["registry"]), inc.PLAN_INPUTS["registry"])
    elif table.num_rows:
        table = table.slice(0, table.num_rows - 1)
    else:  # an empty list: a row added
        table = pa.table({c: pa.array(["001085000001"], pa.string()) for c in table.column_names})
    if arrow:
        with pa.ipc.new_file(str(target), table.schema) as w:
            w.write_table(table)
    else:
        pq.write_table(table, target)
    manifest = json.loads((tmp_path / "OUT" / "_manifest.json").read_text())
    assert manifest["files"][name]["sha256"]  # the digest the check uses is the run's own
    before = pd.read_parquet(tmp_path / "OUT" / "certificates.parquet")
    with pytest.raises(ManifestError):
        _sign(p1, keys, tmp_path / "OUT", now + dt.timedelta(days=1))
    after = pd.read_parquet(tmp_path / "OUT" / "certificates.parquet")
    pd.testing.assert_frame_equal(before, after)  # nothing signed, nothing reused


@pytest.mark.parametrize("between", ["person", "no_hold", "clock_back"])
def test_a_rerun_after_a_run_that_cannot_be_compared_plans_everyone(tmp_path, keys, between):
    """--person signs a part (the others were not planned), --no-hold and a clock set back change
    what a plan means: the next run must not take the previous plan as the base."""
    base = ([[f"0010850{i:05d}", NAMES[i % 4], "1980"] for i in range(6)],
            [[f"R{i}", f"0010850{i:05d}", "verified", f"0010850{i:05d}", "1", "2021-06-01", "Pfizer"]
             for i in range(6)], [])
    p0 = _write(tmp_path / "in0", base)
    out = tmp_path / "OUT"
    now = _now()
    if between == "person":
        _sign(p0, keys, out, now, only=["001085000001"])
    elif between == "no_hold":
        sign_tables(p0["registry"], p0["vaccinations"], p0["matches"], keys, out, signer_name="t", issued_at=now)
    else:
        _sign(p0, keys, out, now + dt.timedelta(days=2))
    s = _sign(p0, keys, out, now + dt.timedelta(days=1))
    assert "replanned_persons" not in s.rerun  # a full plan
    assert set(pd.read_parquet(out / "certificates.parquet")["person_id"]) == {r[0] for r in base[0]}
    s = _sign(p0, keys, out, now + dt.timedelta(days=3))  # now comparable: nothing changed
    assert s.rerun["replanned_persons"] == 0 and s.signed == 0


@pytest.mark.parametrize("name", ["input-cache/registry.arrow", "input-cache/matches.arrow", "input-cache/held.arrow"])
def test_a_cache_file_the_manifest_vouches_for_but_that_is_not_an_arrow_table_is_not_used(tmp_path, keys, name):
    """E.g. written by a future format: the run plans everyone from the inputs, with the same result."""
    from vaxlib.runs import file_digest

    p0, p1 = _two_people_then_one_renamed(tmp_path)
    now = _now()
    _sign(p0, keys, tmp_path / "OUT", now)
    target = tmp_path / "OUT" / name
    target.write_bytes(b"not an Arrow IPC file")
    manifest_path = tmp_path / "OUT" / "_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][name].update(size=target.stat().st_size, sha256=file_digest(target))
    manifest["files"][name].pop("stat", None)
    manifest_path.write_text(json.dumps(manifest))
    s = _sign(p1, keys, tmp_path / "OUT", now + dt.timedelta(days=1))
    assert "replanned_persons" not in s.rerun  # the previous plan was not taken as the base
    assert s.counts == {"issued": 0, "reissued": 1, "kept": 1, "carried": 0, "revoked": 1}
    assert read_cache(tmp_path / "OUT" / name) is not None  # the new run wrote it again


def _tree_digests(folder: Path) -> dict:
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_caches_of_appended_rows_link_the_previous_files_and_read_back_as_a_full_run_caches_them(
        tmp_path, keys, monkeypatch):
    """Three runs, each adding dose records after the earlier ones (the second also renames a person in
    place): the vaccinations and matches caches keep the earlier runs' files (hard links: the same inode,
    never written) plus one file of the new rows; read back, every cache is exactly what a full run over the
    same inputs caches, and every certificate says what the full run's says.  The previous runs stay byte
    for byte as they were; past MAX_CACHE_PARTS files the table is written whole again."""
    from vaxlib.sign import batch
    from vaxlib.sign.previous import CONTENT_FILE

    reg = [[f"0010850{i:05d}", NAMES[i % 4], "1980"] for i in range(30)]
    recs = [[f"R{i:03d}", f"0010850{i:05d}", "verified", f"0010850{i:05d}", "1", "2021-06-01", "Pfizer"]
            for i in range(30)]
    w0 = (reg, recs, [])
    reg1 = [list(r) for r in reg]
    reg1[3][1] = "Phạm Văn Bình"
    w1 = (reg1, recs + [["R100", "001085000007", "verified", "001085000007", "2", "2021-09-01", "Pfizer"]], [])
    w2 = (reg1, w1[1] + [["R101", "001085000011", "verified", "001085000011", "2", "2021-09-02", "Moderna"],
                         ["R102", "001085000011", "verified", "001085000011", "3", "2022-01-02", "Pfizer"]], [])
    p = [_write(tmp_path / f"in{k}", w) for k, w in enumerate((w0, w1, w2))]
    now = _now()
    _sign(p[0], keys, tmp_path / "A", now)
    a = _tree_digests(tmp_path / "A")
    _sign(p[1], keys, tmp_path / "B", now + dt.timedelta(days=1), previous=tmp_path / "A")
    b = _tree_digests(tmp_path / "B")
    s = _sign(p[2], keys, tmp_path / "C", now + dt.timedelta(days=2), previous=tmp_path / "B")
    assert s.rerun["replanned_persons"] == 1
    assert _tree_digests(tmp_path / "A") == a and _tree_digests(tmp_path / "B") == b
    full = _sign(p[2], keys, tmp_path / "F", now + dt.timedelta(days=2))
    manifest = json.loads((tmp_path / "C" / "_manifest.json").read_text())
    for kind in ("vaccinations", "matches"):
        names = batch.cache_parts(manifest, kind)
        assert names == [f"input-cache/{kind}.arrow", f"input-cache/{kind}.1.arrow", f"input-cache/{kind}.2.arrow"]
        assert (tmp_path / "C" / names[0]).stat().st_ino == (tmp_path / "A" / names[0]).stat().st_ino
        assert (tmp_path / "C" / names[1]).stat().st_ino == (tmp_path / "B" / names[1]).stat().st_ino
        assert batch.read_cache(tmp_path / "C" / names[2]).num_rows == 2  # only this run's new rows
    assert batch.cache_parts(manifest, "registry") == ["input-cache/registry.arrow"]  # changed in place in B
    ref = json.loads((tmp_path / "F" / "_manifest.json").read_text())
    for kind in (*inc.PLAN_INPUTS, inc.HELD_FILE):
        assert batch.cache_parts(ref, kind) == [f"input-cache/{kind}.arrow"]
        assert batch.read_cache_parts(tmp_path / "C", manifest, kind).equals(
            batch.read_cache(tmp_path / "F" / f"input-cache/{kind}.arrow")), kind
    # what each certificate says (the content index's hashes) is what the full run's says
    content = {}
    for out in ("C", "F"):
        parts = sorted((tmp_path / out).glob("certificate-content*/*.parquet")) or [tmp_path / out / CONTENT_FILE]
        current = pd.read_parquet(tmp_path / out / "certificates.parquet")
        c = pd.concat([pd.read_parquet(x) for x in parts if x.name != "superseded.parquet"])
        c = c[c["uvci"].isin(current["uvci"])]
        content[out] = sorted(c[["person_id", "name_hash", "dob_hash", "dose_hash"]].itertuples(index=False))
    assert content["C"] == content["F"] and full.signed == 30
    # a fourth part would pass MAX_CACHE_PARTS: the table is written whole
    monkeypatch.setattr(batch, "MAX_CACHE_PARTS", 3)
    w3 = (reg1, w2[1] + [["R103", "001085000012", "verified", "001085000012", "2", "2021-09-03", "Pfizer"]], [])
    _sign(_write(tmp_path / "in3", w3), keys, tmp_path / "D", now + dt.timedelta(days=3), previous=tmp_path / "C")
    manifest = json.loads((tmp_path / "D" / "_manifest.json").read_text())
    assert batch.cache_parts(manifest, "vaccinations") == ["input-cache/vaccinations.arrow"]
    assert batch.read_cache(tmp_path / "D" / "input-cache/vaccinations.arrow").num_rows == 34


def test_an_appended_cache_file_altered_after_its_run_is_refused(tmp_path, keys):
    """The appended rows' file is vouched for by its run's manifest like the first one: rewritten, it is refused."""
    reg = [[f"0010850{i:05d}", NAMES[i % 4], "1980"] for i in range(5)]
    recs = [[f"R{i}", f"0010850{i:05d}", "verified", f"0010850{i:05d}", "1", "2021-06-01", "Pfizer"] for i in range(5)]
    more = recs + [["R9", "001085000001", "verified", "001085000001", "2", "2021-09-01", "Pfizer"]]
    p0, p1 = _write(tmp_path / "in0", (reg, recs, [])), _write(tmp_path / "in1", (reg, more, []))
    now = _now()
    _sign(p0, keys, tmp_path / "OUT", now)
    _sign(p1, keys, tmp_path / "OUT", now + dt.timedelta(days=1))
    target = tmp_path / "OUT" / "input-cache" / "vaccinations.1.arrow"
    table = pa.ipc.open_file(pa.OSFile(str(target))).read_all()
    assert table.num_rows == 1
    forged = table.set_column(1, "dose_number", pa.array(["1"], pa.string()))  # the new dose made to look old
    with pa.ipc.new_file(str(target), forged.schema) as w:
        w.write_table(forged)
    with pytest.raises(ManifestError):
        _sign(p1, keys, tmp_path / "OUT", now + dt.timedelta(days=2))
