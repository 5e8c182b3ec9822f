"""``vax feedback`` reads only the rows the reports can touch (one file or a folder of parts), and its
answers are those of the whole tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vaxlib.feedback import FeedbackSettings, load_inputs, track_feedback

SETTINGS = FeedbackSettings(as_of="2022-04-30")
PARTS = 4


def _write(df: pd.DataFrame, path: Path, parts: int | None) -> None:
    """One file, or ``parts`` files of consecutive rows in ``path.stem/`` (what ``vax synth --partitioned``
    and ``vax match --engine dask`` write)."""
    if parts is None:
        df.to_parquet(path, index=False)
        return
    folder = path.with_suffix("")
    folder.mkdir()
    for i, piece in enumerate(np.array_split(np.arange(len(df)), parts)):
        df.iloc[piece].to_parquet(folder / f"part-{i:05d}.parquet", index=False)


def _build(root: Path, tables: dict, parts: int | None) -> None:
    from vaxlib.runs import atomic_run

    (root / "data").mkdir(parents=True)
    for stem in ("registry", "vaccinations", "feedback"):
        _write(tables[stem], root / "data" / f"{stem}.parquet", parts)
    for name, matches, candidates in (("match", tables["matches"], None),
                                      ("match-corrected", tables["matches_current"], tables["candidates"])):
        with atomic_run(root / name, command="match") as run:
            _write(matches, run / "matches.parquet", parts)
            if candidates is not None:
                _write(candidates, run / "candidates.parquet", parts)
            if name == "match":  # the model the reports are linked with
                tables["model"].save(run / "model.json")
    with atomic_run(root / "apply", command="apply") as run:
        tables["changes"].to_parquet(run / "changes.parquet", index=False)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The same data as one file per table and as parts, rows shuffled so that a person's records,
    matches and candidates lie in different parts (as hash partitions put them)."""
    from vaxlib.match.pipeline import run_match
    from vaxlib.review.apply import apply_decisions
    from vaxlib.synth import generate

    t = generate(6000, 11, provinces=["79", "01", "48"])  # more than 5 000 persons: the register is narrowed too
    first = run_match(t["registry"], t["vaccinations"])
    applied = apply_decisions(t["vaccinations"], first.matches)
    second = run_match(t["registry"], applied.table)
    rng = np.random.default_rng(3)
    shuffled = lambda df: df.iloc[rng.permutation(len(df))].reset_index(drop=True)  # noqa: E731
    current = shuffled(second.matches)
    vaccinations = shuffled(t["vaccinations"])
    # planted: the last record (in the job's order) of every facility names another province, so a
    # facility's province is not the one of any record a report touches
    facility = current["record_id"].map(vaccinations.set_index("record_id")["facility_id"])
    last = current["record_id"][~facility.duplicated(keep="last") & facility.notna()]
    vaccinations.loc[vaccinations["record_id"].isin(set(last)), "facility_province"] = "99"
    # planted: undecided records that name a complained-about person only through candidates.parquet
    undecided = current.loc[current["status"].eq("unmatched"), "record_id"].head(12).tolist()
    persons = t["truth_feedback"]["person_id"].dropna().drop_duplicates().head(12).tolist()
    extra = pd.DataFrame([second.candidates.iloc[0]] * min(len(undecided), len(persons))).reset_index(drop=True)
    extra["record_id"], extra["person_id"] = undecided[:len(extra)], persons[:len(extra)]
    candidates = shuffled(pd.concat([second.candidates, extra], ignore_index=True).astype(second.candidates.dtypes))
    # planted: a parent writes for a child found only by the name and date of birth in the message
    # (none of the child's records carries the parent's number or phone)
    reg, fb = t["registry"], t["feedback"]
    child = reg[reg["dob"].str[:4].ge("2008")].iloc[7]
    parent = reg[reg["dob"].str[:4].lt("1990")].iloc[3]
    d = child["dob"]
    planted = pd.DataFrame([{**fb.iloc[0].to_dict(), "feedback_id": "PA9999999", "full_name": parent["full_name"],
                             "dob": parent["dob"], "id_number": parent["person_id"], "phone": "0912 000 111",
                             "message": f"Con tôi tên {child['full_name']} sinh ngày {d[8:10]}/{d[5:7]}/{d[:4]} "
                                        "bị sai tên trên sổ sức khỏe điện tử"}]).astype(fb.dtypes)
    feedback = pd.concat([fb, planted], ignore_index=True)
    tables = {"registry": shuffled(t["registry"]), "vaccinations": vaccinations,
              "feedback": feedback, "matches": shuffled(first.matches),
              "matches_current": current, "candidates": candidates, "changes": applied.changes,
              "model": first.model,
              "planted": (set(undecided[:len(extra)]), child["person_id"])}
    root = tmp_path_factory.mktemp("narrow")
    _build(root / "one", tables, None)
    _build(root / "parts", tables, PARTS)
    return root / "one", root / "parts", tables["planted"]


def _equal(a, b) -> None:
    for name in ("items", "queue", "links", "quarantine", "replies", "review_records", "overdue"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)
    assert a.stats == b.stats


@pytest.fixture(scope="module")
def whole(folders):
    """:func:`track_feedback` on the whole tables (read in full, as before narrowing)."""
    inputs = load_inputs(folders[0], SETTINGS, narrow=False)
    assert "register" not in inputs and inputs["model"] is not None
    return track_feedback(**inputs, settings=SETTINGS)


@pytest.mark.slow
@pytest.mark.parametrize("layout", [0, 1], ids=["one-file", "parts"])
def test_narrowed_inputs_give_the_whole_tables_answers(folders, whole, layout):
    inputs = load_inputs(folders[layout], SETTINGS)
    # it did narrow: most dose records and register persons never became pandas
    assert inputs["register"] is not None and inputs["register"].n == 6000
    assert len(inputs["vaccinations"]) < 0.5 * len(pd.read_parquet(folders[0] / "data" / "vaccinations.parquet"))
    assert len(inputs["registry"]) < 6000
    result = track_feedback(**inputs, settings=SETTINGS)
    _equal(result, whole)
    # the planted rows matter: a facility's province is its last record's, and undecided records
    # that name a person only as a candidate keep that person's complaints open
    assert result.items["owner_province"].eq("99").sum() > 5
    pending = {r for ids in result.items["pending_record_ids"] for r in ids.split(";") if r}
    assert pending & folders[2][0]
    child = result.items.set_index("feedback_id").loc["PA9999999"]
    assert folders[2][1] in (child["person_id"], child["candidate_person_id"]) and child["n_records"] > 0
    # the answers are not empty: reports linked to persons whose records lie in several parts
    assert result.items["person_id"].notna().sum() > 20 and len(result.links) > 50
    assert result.items["status"].eq("resolved").any() and result.items["status"].ne("resolved").any()


@pytest.mark.slow
def test_vax_feedback_on_parts_writes_the_same_tables(folders, tmp_path):
    from vaxlib.feedback import run_feedback
    from vaxlib.runs import check_run

    result = run_feedback(folders[1], tmp_path / "fb", SETTINGS)
    check_run(tmp_path / "fb", command="feedback")
    items = pd.read_parquet(tmp_path / "fb" / "feedback_status.parquet")
    assert len(items) == len(result.items) > 20
    manifest = check_run(tmp_path / "fb", command="feedback")
    assert {Path(e["path"]).name for e in manifest["inputs"]} >= {"registry", "vaccinations", "feedback"}


def test_a_report_id_in_two_parts_stops_the_job(tmp_path):
    """The importer refuses a repeated feedback_id within a file; across the parts of a folder too."""
    import subprocess
    import sys

    fb = pd.DataFrame({"feedback_id": ["PA1", "PA2", "PA3"], "submitted_at": ["2022-04-20"] * 3,
                       "full_name": ["Nguyễn Văn An"] * 3, "dob": ["1990-01-01"] * 3, "sex": ["Nam"] * 3,
                       "id_number": [""] * 3, "phone": [""] * 3, "category": ["other"] * 3, "message": ["x"] * 3})
    (tmp_path / "data" / "feedback").mkdir(parents=True)
    fb.iloc[:2].to_parquet(tmp_path / "data" / "feedback" / "part-00000.parquet", index=False)
    fb.iloc[[2, 1]].to_parquet(tmp_path / "data" / "feedback" / "part-00001.parquet", index=False)
    for lang, wording in (("vi", "feedback_id PA2 có trong nhiều phần: part-00000.parquet, part-00001.parquet"),
                          ("en", "feedback_id PA2 is in several parts: part-00000.parquet, part-00001.parquet")):
        r = subprocess.run([sys.executable, "-m", "vaxlib.cli", "--lang", lang, "feedback", "--data", str(tmp_path)],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        said = [ln for ln in r.stderr.splitlines() if not ln.startswith("INFO ")]  # the log lines aside
        assert said == [f"vax feedback: {tmp_path / 'data' / 'feedback'}: {wording}"]


def test_read_output_batches_gives_the_table_a_slice_at_a_time(tmp_path):
    import pyarrow as pa

    from vaxlib.io import OutputTableError, read_output_arrow, read_output_batches

    df = pd.DataFrame({"record_id": [f"VR{i:04d}" for i in range(23)], "n": range(23)})
    _write(df, tmp_path / "t.parquet", 3)
    slices = list(read_output_batches(tmp_path / "t.parquet", "table", columns=["record_id"], batch_rows=4))
    assert max(s.num_rows for s in slices) == 4 and len(slices) == 6  # 8 + 8 + 7 rows in 3 parts
    assert pa.concat_tables(slices).equals(read_output_arrow(tmp_path / "t.parquet", "table", columns=["record_id"]))
    df[["n"]].to_parquet(tmp_path / "t" / "part-00001.parquet", index=False)  # a part without the column
    with pytest.raises(OutputTableError, match="record_id"):
        list(read_output_batches(tmp_path / "t.parquet", "table", columns=["record_id"]))


def test_the_summary_gives_the_status_time_in_viet_nam_time_and_dd_mm_yyyy(folders, tmp_path, capsys):
    """``--as-of 2022-04-30`` is the end of that day in Viet Nam: printed 23:59 30/04/2022, not UTC ISO
    (it printed 2022-04-30T16:59:59+00:00 to a Vietnamese analyst)."""
    from vaxlib.cli import main

    for lang, said in (("vi", "tính đến 23:59 30/04/2022 (UTC+07)"), ("en", "as of 30 Apr 2022 23:59 (UTC+07)")):
        assert main(["--lang", lang, "feedback", "--data", str(folders[0]), "--out", str(tmp_path / lang),
                     "--as-of", "2022-04-30"]) == 0
        assert said in capsys.readouterr().out
