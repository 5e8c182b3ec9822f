"""Helpers of the threshold-tuning notebook: the review-threshold sweep and the record-level priors."""
import numpy as np
import pandas as pd
import pytest

from vaxlib.match.tuning import record_priors, review_sweep


def _tables():
    # r1 fix (ignored); r2 review right; r3 review wrong; r4 unmatched, its candidate right;
    # r5 unmatched outsider with a look-alike candidate; r6 unmatched without candidate
    matches = pd.DataFrame({
        "record_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
        "status": ["fix", "review", "review", "unmatched", "unmatched", "unmatched"],
        "person_id": ["A", "B", "C", None, None, None],
        "match_probability": [0.999, 0.9, 0.6, 0.3, 0.2, 0.0],
    })
    truth = pd.DataFrame({"record_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
                          "person_id": ["A", "B", "X", "D", None, None]})
    candidates = pd.DataFrame({"record_id": ["r1", "r2", "r3", "r4", "r5", "r4"],
                               "person_id": ["A", "B", "C", "D", "E", "F"], "rank": [1, 1, 1, 1, 1, 2]})
    return matches, truth, candidates


@pytest.mark.parametrize("threshold, rows, right, outside", [
    (0.1, 4, 2 / 4, 1),   # r2 r3 r4 r5
    (0.25, 3, 2 / 3, 0),  # r2 r3 r4
    (0.5, 2, 1 / 2, 0),   # r2 r3
    (0.7, 1, 1.0, 0),     # r2
])
def test_review_sweep_counts_what_the_queue_would_hold(threshold, rows, right, outside):
    matches, truth, candidates = _tables()
    got = review_sweep(matches, truth, candidates, thresholds=(threshold,)).iloc[0]
    assert got["review_rows"] == rows
    assert got["review_rate"] == pytest.approx(rows / 6)
    assert got["top_candidate_right"] == pytest.approx(right)
    assert got["outside_register"] == outside


def test_review_sweep_without_candidates_sees_only_review_rows():
    matches, truth, _ = _tables()
    got = review_sweep(matches, truth, thresholds=(0.1, 0.95))
    assert got["review_rows"].tolist() == [2, 0]
    assert np.isnan(got["top_candidate_right"].iloc[1])


def test_record_priors_read_the_model_file():
    model = {"n_registry": 1000, "rho_by_kind": {"missing": 0.7, "cccd": 0.995},
             "namesake_pi": {"exact|one_digit": 0.04, "exact|same_year": 0.6},
             "u": {"dob": {"one_digit": 0.001, "same_year": 0.015}}}
    rho, pi = record_priors(model)
    assert rho.set_index("id_kind")["rho"].to_dict() == {"cccd": 0.995, "missing": 0.7}
    assert pi["dob"].tolist() == ["same_year", "one_digit"]  # largest excess first
    assert pi.set_index("dob").loc["one_digit", "log2_discount_unique_name"] == pytest.approx(np.log2(1 + 0.04 / 0.001))
    empty_rho, empty_pi = record_priors({"u": {"dob": {}}})
    assert empty_rho.empty and empty_pi.empty


# --------------------------------------------------------------------------- the notebook's other helpers

MATCHING = """# Thresholds of `vax match`.
# a second comment line
auto_threshold: 0.99      # applied automatically at or above
review_threshold: 0.50    # below: unmatched
max_block: 100            # blocking keys shared by more persons are skipped
rule_max_block:           # lower caps
  famgiven_year: 20       # look-alikes
"""


def test_save_thresholds_with_the_files_own_values_changes_no_byte(tmp_path):
    from vaxlib.match.tuning import save_thresholds

    path = tmp_path / "matching.yaml"
    path.write_text(MATCHING, encoding="utf-8")
    save_thresholds(path, 0.99, 0.5)
    assert path.read_text(encoding="utf-8") == MATCHING


def test_save_thresholds_keeps_every_comment_and_key(tmp_path):
    import yaml

    from vaxlib.match.tuning import save_thresholds

    path = tmp_path / "matching.yaml"
    path.write_text(MATCHING, encoding="utf-8")
    save_thresholds(path, 0.995, 0.3)
    text = path.read_text(encoding="utf-8")
    for line in MATCHING.splitlines():
        if not line.startswith(("auto_threshold", "review_threshold")):
            assert line in text, line
    assert "auto_threshold: 0.995" in text and "# applied automatically at or above" in text
    assert "review_threshold: 0.3" in text and "# below: unmatched" in text
    assert yaml.safe_load(text) == {"auto_threshold": 0.995, "review_threshold": 0.3, "max_block": 100,
                                    "rule_max_block": {"famgiven_year": 20}}
    assert [p.name for p in tmp_path.iterdir()] == ["matching.yaml"]  # no temporary file left


def test_notebook_thresholds_default_to_the_file(tmp_path):
    from vaxlib.match.tuning import thresholds_from

    path = tmp_path / "matching.yaml"
    path.write_text(MATCHING, encoding="utf-8")
    assert thresholds_from(path) == (0.99, 0.5)
    assert thresholds_from(path, 0.995, None) == (0.995, 0.5)


def test_review_load_is_a_table_in_words_and_vietnamese_numbers():
    from vaxlib.match.tuning import review_load

    matches, _, _ = _tables()
    got = review_load(matches, auto=0.95, review=0.5)
    assert got["label"].tolist() == ["Đã khớp", "Sửa tự động", "Cần xem xét", "Không tìm thấy"]
    assert got["records"].tolist() == ["0", "1", "2", "3"]
    assert got["share"].tolist() == ["0,0%", "16,7%", "33,3%", "50,0%"]
    assert got["share_value"].sum() == pytest.approx(1.0)


def test_hardest_pairs_mask_person_ids():
    from vaxlib.match.tuning import MatchRun, hardest_pairs

    candidates = pd.DataFrame({"record_id": ["r1", "r2"], "person_id": ["079190000123", "001075004321"],
                               "rank": [1, 1], "match_probability": [0.6, 0.99]})
    truth = pd.DataFrame({"record_id": ["r1", "r2"], "person_id": ["079190000999", "001075004321"]})
    run = MatchRun(matches=pd.DataFrame(), candidates=candidates, model={}, truth=truth, registry=None,
                   vaccinations=None)
    hard = hardest_pairs(run)
    assert hard["record_id"].tolist() == ["r1", "r2"] and hard["wrong"].tolist() == [True, False]
    assert hard["person_id"].tolist() == ["0791******23", "0010******21"]
    assert hard["true_person_id"].tolist()[0] == "0791******99"
    text = hard.to_string()
    assert "079190000123" not in text and "079190000999" not in text


def test_empty_namesake_table_says_why():
    _, pi = record_priors({"u": {"dob": {}}})
    assert pi.empty and "namesake" in pi.attrs["note"]


def test_precision_recall_axes_run_from_0_to_1():
    from vaxlib.match.evaluate import pr_figure

    sweep = pd.DataFrame({"threshold": [0.5, 0.9, 0.99], "recall": [1.0, 0.99, 0.97],
                          "precision": [0.98, 0.999, 1.0]})
    fig = pr_figure(sweep)
    assert tuple(fig.layout.yaxis.range) == (0, 1.02) and tuple(fig.layout.xaxis.range) == (0, 1.02)


def test_threshold_slider_shows_precision_recall_and_review_load_as_it_moves():
    from vaxlib.widgets import threshold_explorer

    matches, truth, candidates = _tables()
    te = threshold_explorer(matches, truth, candidates, auto=0.95, review=0.5)
    v = te.values()
    # at 0.95 only r1 (right) is automatic: precision 1, recall 1/4 of the 4 registered people
    assert (v["precision"], v["recall"]) == (1.0, 0.25)
    assert (v["fix"], v["review_share"], v["review_rows"]) == (pytest.approx(1 / 6), pytest.approx(2 / 6), 2)
    assert "Độ chính xác (precision)" in te.summary.value and "100,00%" in te.summary.value
    assert list(te.figure.data[1].x) == [0.25]
    te.auto.value = 0.55  # r2 (right) and r3 (wrong) become automatic
    v = te.values()
    assert v["precision"] == pytest.approx(2 / 3) and v["recall"] == pytest.approx(0.5)
    assert "66,67%" in te.summary.value and list(te.figure.data[1].x) == [0.5]
    te.review.value = 0.9  # above the auto threshold: pulled back to it
    assert te.review.value == 0.55


def test_compare_pair_shows_both_sides_levels_and_weights_masked():
    from vaxlib.match.compare import FIELDS
    from vaxlib.match.tuning import MatchRun, compare_pair

    cand = {"record_id": "r1", "person_id": "079190000123", "rank": 1, "match_probability": 0.9}
    cand.update({f"level_{f}": "null" for f in FIELDS} | {f"bf_{f}": 0.0 for f in FIELDS})
    cand.update(level_name="folded", bf_name=3.25, level_dob="day_month_swap", bf_dob=1.5, level_id="exact", bf_id=9.0)
    vacc = pd.DataFrame([{"record_id": "r1", "full_name": "Nguyen Thi Hoa", "dob": "03/05/1990", "sex": "Nữ",
                          "id_number": "079190000123", "phone": "0912345678", "dose_number": "2",
                          "vaccination_date": "2021-10-04"}])
    reg = pd.DataFrame([{"person_id": "079190000123", "full_name": "Nguyễn Thị Hoà", "dob": "1990-03-05", "sex": "F"}])
    run = MatchRun(matches=pd.DataFrame(), candidates=pd.DataFrame([cand]), model={}, truth=None, registry=reg,
                   vaccinations=vacc)
    t = compare_pair(run, "r1").set_index("Trường")
    assert t.loc["Họ và tên"].tolist() == ["Nguyen Thi Hoa", "Nguyễn Thị Hoà", "giống khi bỏ dấu", "3,25"]
    assert t.loc["Ngày sinh"].tolist() == ["03/05/1990", "05/03/1990", "đảo ngày và tháng", "1,50"]
    assert t.loc["Số CMND/CCCD", "CSDL dân cư"] == "0791******23"
    assert "079190000123" not in t.to_string() and "0912345678" not in t.to_string()
    assert t.loc["Lịch sử mũi tiêm", "Bản ghi (như đã nhập)"] == "2 · 04/10/2021"
    with pytest.raises(KeyError):
        compare_pair(run, "r1", rank=2)
