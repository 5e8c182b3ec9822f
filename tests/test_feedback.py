"""Citizens' feedback: linking, system category, automatic resolution and SLA, checked against
the truth written by ``vax synth`` (truth_feedback) and against hand-made tables."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vaxlib.feedback import (
    FeedbackSettings,
    _next_run,
    parse_timestamps,
    run_feedback,
    sla_state,
    track_feedback,
)


def build_dataset(root: Path, persons: int = 2500, seed: int = 7) -> dict[str, pd.DataFrame]:
    """A ``vax demo``-style folder: synth → match → apply → match again."""
    from vaxlib.match.pipeline import run_match
    from vaxlib.review.apply import apply_decisions
    from vaxlib.runs import atomic_run
    from vaxlib.synth import generate, write_dataset

    t = generate(persons, seed, provinces=["79", "01", "48"])
    write_dataset(t, root / "data")
    first = run_match(t["registry"], t["vaccinations"])
    with atomic_run(root / "match", command="match") as run:
        first.matches.to_parquet(run / "matches.parquet", index=False)
        first.model.save(run / "model.json")
    applied = apply_decisions(t["vaccinations"], first.matches)
    with atomic_run(root / "apply", command="apply") as run:
        applied.changes.to_parquet(run / "changes.parquet", index=False)
        applied.table.to_parquet(run / "vaccinations_corrected.parquet", index=False)
    second = run_match(t["registry"], applied.table)
    with atomic_run(root / "match-corrected", command="match") as run:
        second.matches.to_parquet(run / "matches.parquet", index=False)
    return {**t, "matches": first.matches, "matches_current": second.matches, "changes": applied.changes}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("fbdemo")
    tables = build_dataset(root)
    result = run_feedback(root, settings=FeedbackSettings(as_of="2022-04-30"))
    truth = tables["truth_feedback"]
    items = result.items.merge(truth, on="feedback_id", suffixes=("", "_true"))
    return root, tables, result, items


# --------------------------------------------------------------------------- against the synth truth

@pytest.mark.slow
def test_every_report_is_tracked_once(demo):
    _, tables, result, items = demo
    assert len(result.items) == len(tables["feedback"]) > 20
    assert result.items["feedback_id"].is_unique
    assert len(items) == len(result.items)


@pytest.mark.slow
def test_reports_link_to_the_true_person(demo):
    _, _, _, items = demo
    in_reg = items[items["person_id_true"].notna()]
    linked = in_reg[in_reg["link_status"].isin(["verified", "fix"])]
    # precision: a confident link is the right person
    assert (linked["person_id"] == linked["person_id_true"]).mean() >= 0.99
    # recall: nearly every report of a register person is linked to them
    assert (in_reg["person_id"] == in_reg["person_id_true"]).mean() >= 0.9


@pytest.mark.slow
def test_reports_link_to_the_records_concerned(demo):
    _, _, _, items = demo
    concerned = items[items["record_ids_true"].notna() & items["problem"].ne("missing_dose")]
    covered = [set(t.split(";")) <= set(r.split(";")) for t, r in zip(concerned["record_ids_true"],
                                                                         concerned["record_ids"])]
    assert len(covered) >= 10
    assert sum(covered) / len(covered) >= 0.9


@pytest.mark.slow
def test_duplicates_and_wrong_vaccines_are_found_and_never_closed_automatically(demo):
    _, _, _, items = demo
    dup = items[items["problem"] == "duplicate_record"]
    vac = items[items["problem"] == "wrong_vaccine"]
    assert len(dup) + len(vac) > 0
    if len(dup):
        assert (dup["category_system"] == "duplicate_record").mean() >= 0.8
    # a wrong vaccine or a duplicate needs the facility: it goes to the review queue
    assert not items.loc[items["problem"].isin(["duplicate_record", "wrong_vaccine"]), "status"].eq("resolved").any()


@pytest.mark.slow
def test_automatic_resolution_only_when_the_data_answers_it(demo):
    _, tables, result, items = demo
    resolved = items[items["status"] == "resolved"]
    assert len(resolved) > 0
    assert resolved["resolution"].isin(["applied_fix", "consolidated_history", "already_recorded"]).all()
    # independent check: every record the report concerns is verified after the fixes
    cur = tables["matches_current"].set_index("record_id")["status"]
    concerned = resolved[resolved["record_ids_true"].notna()]
    ok = [all(cur.get(r) == "verified" for r in t.split(";")) for t in concerned["record_ids_true"]]
    assert sum(ok) / len(ok) >= 0.95
    # "other" questions (passport, OTP, ...) are not problems in the data; one is closed only when
    # the citizen filed it under a data category and that person's records were indeed fixed
    assert resolved["problem"].eq("other").mean() <= 0.1


@pytest.mark.slow
def test_queue_file_holds_the_open_items_with_reasons(demo):
    root, _, result, _ = demo
    q = pd.read_parquet(root / "feedback" / "queue.parquet")
    open_items = result.items[result.items["status"] != "resolved"]
    assert sorted(q["feedback_id"]) == sorted(open_items["feedback_id"])
    assert q["reason"].notna().all() and q["reason_vi"].str.len().gt(0).all()
    assert q["submitted_at"].is_monotonic_increasing
    # the queue is for analysts: no typed name, phone or date of birth in it
    assert not {"full_name", "phone", "dob", "message"} & set(q.columns)


@pytest.mark.slow
def test_candidate_prefilter_links_the_same_persons(demo):
    from vaxlib.feedback import candidate_registry, link_feedback

    _, tables, _, items = demo
    fb, reg = tables["feedback"], tables["registry"]
    cands = candidate_registry(fb, reg)
    assert len(cands) < len(reg) / 2
    # every register person who wrote in is among the candidates
    # (a child is found from the message, not from the parent's details the report carries)
    writers = items[items["subject"].eq("self")]
    assert set(writers["person_id_true"].dropna()) <= set(cands["person_id"])
    # with the register's own model (as vax feedback links): every answer of the whole register
    # (the fast path prices names and dates by the whole register's frequencies: counted among the
    # candidates, a rare given name typed without diacritics fell to p 0.45)
    from vaxlib.feedback import read_model

    model = read_model(demo[0] / "match" / "model.json")
    fast = link_feedback(fb, reg, model=model, prefilter=True)
    full = link_feedback(fb, reg, model=model, prefilter=False)
    pd.testing.assert_frame_equal(fast, full, check_exact=True)


# --------------------------------------------------------------------------- hand-made cases

def _one_person_tables():
    """Two register persons (among 400 others, so that the model has a population to learn from)."""
    from vaxlib.synth import generate

    registry = pd.DataFrame({"person_id": ["079090001234", "001085004321"],
                             "full_name": ["Nguyễn Thị Thuỷ", "Trần Văn Hùng"],
                             "dob": ["1990-05-17", "1985-11-02"], "sex": ["F", "M"],
                             "old_id": [None, None], "province_code": ["79", "01"]})
    registry = pd.concat([registry, generate(400, 3, provinces=["48"])["registry"]], ignore_index=True)
    vacc = pd.DataFrame({
        "record_id": ["R1", "R2", "R3"], "full_name": ["Nguyễn Thị Thuỷ", "Nguyen Thi Thuy", "Trần Văn Hùng"],
        "dob": ["17/05/1990", "17/05/1990", "02/11/1985"], "sex": ["Nữ", "Nữ", "Nam"],
        "id_number": ["079090001234", "79090001234", "001085004321"], "phone": ["0912345678"] * 2 + [None],
        "province_code": ["79", "79", "01"], "facility_id": ["CS-79-0001"] * 2 + ["CS-01-0001"],
        "facility_province": ["79", "79", "01"], "dose_number": ["1", "2", "1"],
        "vaccination_date": ["2021-08-01", "2021-09-01", "2021-10-01"],
        "vaccine": ["AstraZeneca", "AstraZeneca", "Pfizer"], "lot_number": ["A1", "A2", "P1"]})
    matches = pd.DataFrame({
        "record_id": ["R1", "R2", "R3"], "status": ["verified", "fix", "verified"],
        "person_id": ["079090001234", "079090001234", "001085004321"], "match_probability": [1.0, 0.999, 1.0],
        "error_codes": ["", "id:lost_leading_zero;name:no_diacritics", ""],
        "corrected_full_name": [None, "Nguyễn Thị Thuỷ", None], "corrected_dob": [None] * 3,
        "corrected_sex": [None] * 3, "corrected_id_number": [None, "079090001234", None],
        "person_key": ["079090001234", "079090001234", "001085004321"]})
    feedback = pd.DataFrame({
        "feedback_id": ["PA1", "PA2"], "submitted_at": ["2022-04-20T09:00:00+07:00", "2022-04-29T10:00:00"],
        "full_name": ["Nguyễn Thị Thuỷ", "Tran Van Hung"], "dob": ["17/05/1990", "02/11/1985"],
        "sex": ["Nữ", "Nam"], "id_number": ["079090001234", "001085004321"], "phone": [None, None],
        "category": ["missing_dose", "wrong_vaccine"],
        "message": ["Tôi đã tiêm mũi 2 nhưng chưa thấy trên PC-Covid.",
                    "Mũi 1 tôi tiêm vắc xin Moderna nhưng hệ thống ghi là Pfizer."]})
    return registry, vacc, matches, feedback


def test_missing_dose_answered_by_the_consolidated_history():
    registry, vacc, matches, feedback = _one_person_tables()
    current = matches.assign(status="verified")  # after vax apply and the second match
    r = track_feedback(feedback, registry, vacc, matches, matches_current=current,
                       settings=FeedbackSettings(as_of="2022-04-30"))
    pa1 = r.items.set_index("feedback_id").loc["PA1"]
    assert pa1["person_id"] == "079090001234"
    assert pa1["record_ids"] == "R1;R2"
    assert pa1["status"] == "resolved" and pa1["resolution"] == "consolidated_history"
    assert pa1["category_citizen"] == "missing_dose"
    assert pa1["category_system"] == "missing_dose"  # what the citizen says (the dose was typed wrongly)
    assert pa1["intent"] == "missing_dose" and pa1["unanswered"] == ""
    assert pa1["province"] == "79"
    # resolved at the next midnight run (21/4 00:00 VN time), within 48 h
    assert pa1["resolved_at"] == pd.Timestamp("2022-04-20T17:00:00Z")
    assert pa1["sla_state"] == "on_time"
    pa2 = r.items.set_index("feedback_id").loc["PA2"]
    assert pa2["category_system"] == "wrong_vaccine" and pa2["reason"] == "wrong_vaccine"
    assert pa2["status"] == "in_review" and pa2["sla_state"] == "open"  # 37 h old at the end of 30/4
    assert list(r.queue["feedback_id"]) == ["PA2"]


def test_unapplied_fix_keeps_the_item_open_and_it_ages_past_the_sla():
    registry, vacc, matches, feedback = _one_person_tables()
    feedback = feedback.assign(category="wrong_personal_info", message="Sai họ tên")
    r = track_feedback(feedback.iloc[:1], registry, vacc, matches, settings=FeedbackSettings(as_of="2022-04-30"))
    item = r.items.iloc[0]
    assert item["status"] == "in_review" and item["reason"] == "records_not_verified"
    assert item["sla_state"] == "overdue"
    assert item["age_hours"] == pytest.approx((10 * 24 + 14) + 59 / 60 + 59 / 3600, abs=0.1)


def test_reports_after_the_status_date_are_not_counted():
    registry, vacc, matches, feedback = _one_person_tables()
    r = track_feedback(feedback, registry, vacc, matches, settings=FeedbackSettings(as_of="2022-04-25"))
    assert list(r.items["feedback_id"]) == ["PA1"]


@pytest.mark.parametrize("status,resolved,due,expected", [
    ("resolved", "2022-04-21T00:00Z", "2022-04-22T02:00Z", "on_time"),
    ("resolved", "2022-04-23T00:00Z", "2022-04-22T02:00Z", "late"),
    ("in_review", None, "2022-04-30T10:00Z", "overdue"),
    ("in_review", None, "2022-05-01T10:00Z", "open"),
])
def test_sla_state(status, resolved, due, expected):
    as_of = pd.Timestamp("2022-04-30T16:59:59Z")
    out = sla_state(pd.Series([status]), pd.to_datetime(pd.Series([resolved]), utc=True),
                    pd.to_datetime(pd.Series([due]), utc=True), as_of)
    assert out.iloc[0] == expected


@pytest.mark.parametrize("text,utc", [
    ("2022-04-20T09:00:00+07:00", "2022-04-20T02:00:00Z"),
    ("2022-04-20T09:00:00", "2022-04-20T02:00:00Z"),  # no zone: Viet Nam time
    ("2022-04-20T02:00:00Z", "2022-04-20T02:00:00Z"),
    ("2022-04-20 23:30:00", "2022-04-20T16:30:00Z"),
])
def test_parse_timestamps(text, utc):
    assert parse_timestamps(pd.Series([text])).iloc[0] == pd.Timestamp(utc)


@pytest.mark.parametrize("submitted,run", [
    ("2022-04-20T09:00:00+07:00", "2022-04-21T00:00:00+07:00"),
    ("2022-04-20T23:59:00+07:00", "2022-04-21T00:00:00+07:00"),
    ("2022-04-21T00:00:00+07:00", "2022-04-22T00:00:00+07:00"),
])
def test_next_daily_run(submitted, run):
    out = _next_run(pd.to_datetime(pd.Series([submitted]), utc=True), 24.0)
    assert out.iloc[0] == pd.Timestamp(run)


def test_no_complaints_gives_empty_tables_not_a_crash():
    # a province with no complaint yet (e.g. 300 persons, seed 3) used to fail in the SLA arithmetic
    registry, vacc, matches, feedback = _one_person_tables()
    r = track_feedback(feedback.iloc[:0], registry, vacc, matches, settings=FeedbackSettings(as_of="2022-04-30"))
    assert len(r.items) == 0 and len(r.queue) == 0
    assert str(r.items["submitted_at"].dtype).startswith("datetime64")


def test_prefiltered_candidates_carry_the_whole_registers_frequencies():
    from vaxlib.feedback import _with_register_frequencies

    reg = pd.DataFrame({"person_id": [f"0790900000{i:02d}" for i in range(10)],
                        "full_name": ["Phạm Thanh Quang Dực"] + ["Nguyễn Văn Hùng"] * 8 + [""],
                        "dob": ["1990-01-01"] * 4 + ["1991-02-02"] * 6})
    cands = reg.iloc[[0, 1, 9]]  # among the candidates the rare name would be 1 in 3
    out = _with_register_frequencies(cands, reg)
    assert out["_tf_name"].tolist() == [0.1, 0.8, 1.0]  # an empty name carries no frequency evidence
    assert out["_tf_dob"].tolist() == [0.4, 0.4, 0.6]
    assert out.index.equals(cands.index) and list(out.columns[:3]) == ["person_id", "full_name", "dob"]


@pytest.mark.parametrize("lang, wording", [("vi", "không có feedback.parquet"), ("en", "no feedback.parquet")])
def test_a_data_folder_without_feedback_is_one_line_in_the_users_language(tmp_path, capsys, lang, wording):
    """No feedback table: exit 2 and one line in the chosen language (it was English in both)."""
    from vaxlib.cli import main

    (tmp_path / "data").mkdir()
    assert main(["--lang", lang, "feedback", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and wording in err[0] and "Traceback" not in err[0]
