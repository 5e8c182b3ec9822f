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
