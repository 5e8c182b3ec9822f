"""The matcher gives the same answers as the reference code on two small sets.

The expected outputs in ``tests/golden`` were written by the code *before*
the engine rewrite (``tests/golden/make_match_golden.py`` run on commit
c7c4056), not by the code under test: statuses, person_ids, person_keys,
error codes and corrections must stay identical, row for row.
"""
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
import make_match_golden as mg  # noqa: E402

META = json.loads((GOLDEN / "match-golden.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(mg.SETS))
def test_same_answers_as_the_reference_code(name):
    tables = mg.inputs(name)
    assert mg.fingerprint(tables) == META[name]["inputs_sha256"], (
        "vax synth now generates other data: regenerate the golden files with the reference code "
        "(see tests/golden/make_match_golden.py), not with the code under test")
    expected = pd.read_csv(GOLDEN / f"match-{name}.csv.gz", dtype=str, keep_default_na=False)
    got = mg.run(tables).fillna("").astype(str).reset_index(drop=True)
    assert len(got) == META[name]["rows"] == len(expected)
    for col in mg.PINNED:
        diff = (got[col] != expected[col]).to_numpy()
        assert not diff.any(), (col, got.loc[diff, ["record_id", col]].head(5).to_dict("records"),
                                expected.loc[diff, ["record_id", col]].head(5).to_dict("records"))
